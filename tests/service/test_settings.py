"""Service settings (derived defaults, environment variables, bad values) and the stored job-error text."""

from __future__ import annotations

import pytest

from aiaas_core.service import settings as settings_module
from aiaas_core.service.executor import LocalProcessExecutor
from aiaas_core.service.settings import Settings


@pytest.mark.parametrize("cores, workers, threads", [(8, 1, 7), (8, 3, 2), (2, 1, 1), (1, 1, 1), (4, 8, 1)])
def test_worker_threads_default_leaves_a_core_for_serving(monkeypatch, tmp_path, cores, workers, threads):
    monkeypatch.setattr(settings_module.os, "cpu_count", lambda: cores)
    s = Settings(data_dir=tmp_path, workers=workers)
    assert s.worker_threads == threads
    assert LocalProcessExecutor(s).threads == threads


def test_worker_threads_from_environment_and_overrides(monkeypatch, tmp_path):
    monkeypatch.setattr(settings_module.os, "cpu_count", lambda: 8)
    monkeypatch.setenv("AIAAS_SERVICE_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("AIAAS_WORKER_THREADS", raising=False)
    # the default is derived from the final worker count, overrides included
    assert Settings.from_env(workers=2).worker_threads == 3
    monkeypatch.setenv("AIAAS_WORKER_THREADS", "5")
    assert Settings.from_env(workers=2).worker_threads == 5
    assert Settings.from_env(workers=2, worker_threads=4).worker_threads == 4
    monkeypatch.setenv("AIAAS_WORKER_THREADS", "many")
    with pytest.raises(ValueError, match="AIAAS_WORKER_THREADS must be an integer, got 'many'"):
        Settings.from_env()


@pytest.mark.parametrize("bad", [0, -1, 1025, True, 2.0])
def test_worker_threads_out_of_range_is_refused(tmp_path, bad):
    with pytest.raises(ValueError, match=r"worker_threads must be an integer in \[1, 1024\]"):
        Settings(data_dir=tmp_path, worker_threads=bad)


def test_failure_reason_hides_server_folders(tmp_path):
    import tempfile

    from aiaas_core.service.errors import failure_reason

    data = tmp_path / "srv-data"
    exc = FileNotFoundError(f"[Errno 2] No such file: '{data}/artifacts/datasets/ds1.npz' "
                            f"(staged in {tempfile.gettempdir()}/upload-1)")
    assert failure_reason(exc, data) == ("FileNotFoundError: [Errno 2] No such file: '<data>/artifacts/datasets/ds1.npz' "
                                         "(staged in <tmp>/upload-1)")
    assert len(failure_reason(ValueError("x" * 5000), data)) == 2003
