"""What `aiaas serve` refuses at start, with a clear message instead of running in a dangerous state:
an admin key anyone could guess, and a data folder another server is already using."""

from __future__ import annotations

import pytest

from service_support import Server


@pytest.mark.parametrize("weak", ["x", "a" * 40, "password-password-password-password", "aiaas_short"])
def test_a_guessable_admin_key_is_refused_at_start(tmp_path, weak):
    srv = Server(tmp_path / "data", workers=1, extra_env={"AIAAS_ADMIN_KEY": weak})
    with pytest.raises(RuntimeError) as failure:
        srv.start()
    log = str(failure.value)
    assert "AIAAS_ADMIN_KEY" in log and "at least 32 characters" in log and "token_urlsafe" in log, log
    assert weak not in log.replace("AIAAS_ADMIN_KEY", "") or weak == "x"  # the value is not echoed
    assert "Traceback" not in log
