"""What `aiaas serve` refuses at start, with a clear message instead of running in a dangerous state:
an admin key anyone could guess, and a data folder another server is already using."""

from __future__ import annotations

import pytest

from service_support import ADMIN_KEY, Server


@pytest.mark.parametrize("weak", ["x", "a" * 40, "password-password-password-password", "aiaas_short"])
def test_a_guessable_admin_key_is_refused_at_start(tmp_path, weak):
    srv = Server(tmp_path / "data", workers=1, extra_env={"AIAAS_ADMIN_KEY": weak})
    with pytest.raises(RuntimeError) as failure:
        srv.start()
    log = str(failure.value)
    assert "AIAAS_ADMIN_KEY" in log and "at least 32 characters" in log and "token_urlsafe" in log, log
    assert weak not in log.replace("AIAAS_ADMIN_KEY", "") or weak == "x"  # the value is not echoed
    assert "Traceback" not in log


def test_a_second_server_on_the_same_data_folder_refuses_to_start(tmp_path):
    first = Server(tmp_path / "data", workers=1).start()
    try:
        second = Server(tmp_path / "data", workers=1)
        with pytest.raises(RuntimeError) as failure:
            second.start()
        log = str(failure.value)
        assert "another aiaas server" in log and f"pid {first.proc.pid}" in log and "--data-dir" in log, log
        assert "Traceback" not in log
        with first.client(ADMIN_KEY) as admin:  # the first one is untouched
            assert admin.get("/v1/tenants").status_code == 200
        first.kill()  # SIGKILL: no clean-up ran, the lock file stays behind
        assert (tmp_path / "data" / "server.lock").exists()
        third = Server(tmp_path / "data", workers=1).start()  # the kernel released the dead server's lock
        try:
            with third.client(ADMIN_KEY) as admin:
                assert admin.get("/v1/tenants").status_code == 200
        finally:
            third.stop()
    finally:
        first.stop()


def test_readyz_says_so_when_the_data_folder_is_nearly_full(tmp_path):
    """A full disk failed uploads and key creation while /readyz answered 200. Here the threshold is set
    above the disk's free space (filling a real disk in a test is no option): /readyz is 503 naming the
    free space and the setting, /healthz (alive) stays 200."""
    import shutil
    import subprocess
    import sys
    import time

    import httpx

    free = shutil.disk_usage(tmp_path).free
    srv = Server(tmp_path / "data", workers=1, extra_env={"AIAAS_MIN_FREE_BYTES": str(free + (1 << 40))})
    # Started here rather than by Server.start(), which waits for /readyz to answer 200.
    log = open(srv.log_path, "ab")
    srv.proc = subprocess.Popen([sys.executable, "-m", "aiaas_core.cli", "serve", "--port", str(srv.port),
                                 "--data-dir", str(srv.data_dir), "--log-level", "warning"],
                                env=srv.env, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{srv.url}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline and srv.proc.poll() is None, srv.log()
            time.sleep(0.2)
        r = httpx.get(f"{srv.url}/readyz", timeout=10)
        assert r.status_code == 503, r.text
        assert "MiB free in the data folder" in r.json()["detail"] and "AIAAS_MIN_FREE_BYTES" in r.json()["detail"]
    finally:
        srv.stop()
