"""SIGKILL the server mid-job, restart it on the same data dir: the running job resumes from its last
epoch checkpoint and a queued job still runs."""

from __future__ import annotations

import json
import time

from service_support import ADMIN_KEY, Server, upload, wait_job


def test_sigkill_mid_job_then_restart_resumes(tmp_path, data_files):
    srv = Server(tmp_path / "data", workers=1).start()
    try:
        with srv.client(ADMIN_KEY) as admin:
            tid = admin.post("/v1/tenants", json={"name": "durable", "max_concurrent_jobs": 5}).json()["id"]
            key = admin.post(f"/v1/tenants/{tid}/keys", json={"role": "member"}).json()["key"]
        m = srv.client(key)
        ds = upload(m, data_files["digits_npz"], "digits").json()
        hp = {"epochs": 40, "units": [64, 64], "batch_size": 8}
        running = m.post("/v1/jobs", json={"dataset_id": ds["id"], "architecture": "mlp", "hyperparameters": hp}).json()
        queued = m.post("/v1/jobs", json={"dataset_id": ds["id"], "architecture": "logistic",
                                          "hyperparameters": {"epochs": 2}}).json()
        deadline = time.monotonic() + 60
        while (job := m.get(f"/v1/jobs/{running['id']}").json())["epoch"] < 2:
            assert time.monotonic() < deadline, job
            time.sleep(0.05)
        srv.kill()
        m.close()
        killed_at = job["epoch"]
        assert job["state"] == "running" and killed_at < 40

        srv = Server(srv.data_dir, workers=1)  # same data dir, new port, new process
        srv.start()
        m = srv.client(key)
        done = wait_job(m, running["id"], timeout=180)
        assert done["state"] == "succeeded", (done, m.get(f"/v1/jobs/{running['id']}/logs").json())
        assert done["epoch"] == 40 and done["model_version_id"]
        assert wait_job(m, queued["id"], timeout=60)["state"] == "succeeded"

        lines = m.get(f"/v1/jobs/{running['id']}/logs").json()["lines"]
        text = "\n".join(lines)
        assert "re-queued after a server restart" in text
        resumed = [json.loads(l.split(" ", 2)[2])["message"] for l in lines if "resuming from the checkpoint" in l]
        assert len(resumed) == 1
        resumed_from = int(resumed[0].rsplit(" ", 1)[1])
        assert resumed_from >= killed_at
        epochs = [json.loads(l.split(" ", 2)[2])["epoch"] for l in lines if l.split(" ")[1] == "epoch"]
        # every epoch once before the kill, then the resume continues after the checkpoint (no restart at 1)
        first_after = epochs.index(resumed_from + 1, resumed_from) if resumed_from + 1 in epochs[resumed_from:] else None
        assert epochs[:resumed_from] == list(range(1, resumed_from + 1))
        assert first_after is not None and epochs[first_after:] == list(range(resumed_from + 1, 41))
        assert not (srv.data_dir / "artifacts" / "checkpoints" / f"{running['id']}.enc").exists()
        m.close()
    finally:
        srv.stop()


def _worker_pids(server_pid: int) -> list[int]:
    from pathlib import Path

    # /proc lists children per creating thread; the watcher thread starts replacement workers
    children = [c for task in Path(f"/proc/{server_pid}/task").iterdir()
                for c in (task / "children").read_text().split()]
    return [int(c) for c in children if b"spawn_main" in Path(f"/proc/{c}/cmdline").read_bytes()]


def test_a_dead_worker_is_replaced_and_its_job_resumes(server, make_tenant, data_files):
    import os
    import signal

    _, c = make_tenant("crash")
    m = c["member"]
    ds = upload(m, data_files["digits_npz"], "digits").json()
    job = m.post("/v1/jobs", json={"dataset_id": ds["id"], "architecture": "mlp",
                                   "hyperparameters": {"epochs": 30, "units": [64, 64], "batch_size": 8}}).json()
    deadline = time.monotonic() + 60
    while m.get(f"/v1/jobs/{job['id']}").json()["epoch"] < 2:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    (worker,) = _worker_pids(server.proc.pid)
    os.kill(worker, signal.SIGKILL)
    done = wait_job(m, job["id"], timeout=180)
    assert done["state"] == "succeeded" and done["epoch"] == 30
    text = "\n".join(m.get(f"/v1/jobs/{job['id']}/logs").json()["lines"])
    assert "died; resumes after epoch" in text and "resuming from the checkpoint" in text
    (replacement,) = _worker_pids(server.proc.pid)
    assert replacement != worker


def test_server_restarts_do_not_count_against_a_jobs_retries(tmp_path, data_files):
    """Three graceful restarts and one SIGKILL of the server interrupt a long job four times; none of
    them is the job's failure, so it still runs (each restart used to count as a worker death: the
    third one failed it with 'the worker running this job died 3 times')."""
    srv = Server(tmp_path / "data", workers=1).start()
    try:
        with srv.client(ADMIN_KEY) as admin:
            tid = admin.post("/v1/tenants", json={"name": "restarts"}).json()["id"]
            key = admin.post(f"/v1/tenants/{tid}/keys", json={"role": "member"}).json()["key"]
        m = srv.client(key)
        ds = upload(m, data_files["digits_npz"], "digits").json()
        hp = {"epochs": 200, "units": [64, 64], "batch_size": 4}
        job = m.post("/v1/jobs", json={"dataset_id": ds["id"], "architecture": "mlp", "hyperparameters": hp}).json()
        m.close()
        for how in ("term", "term", "term", "kill"):
            m = srv.client(key)
            deadline = time.monotonic() + 90
            start_epoch = m.get(f"/v1/jobs/{job['id']}").json()["epoch"]
            while (now := m.get(f"/v1/jobs/{job['id']}").json())["epoch"] <= start_epoch or now["state"] != "running":
                assert now["state"] in ("queued", "running"), (how, now)
                assert time.monotonic() < deadline, now
                time.sleep(0.1)
            m.close()
            srv.kill() if how == "kill" else srv.stop()
            srv = Server(srv.data_dir, workers=1).start()
        m = srv.client(key)
        deadline = time.monotonic() + 60
        while (now := m.get(f"/v1/jobs/{job['id']}").json())["state"] != "running":
            assert now["state"] == "queued" and time.monotonic() < deadline, now
            time.sleep(0.1)
        assert now["epoch"] < 200 and now["error"] is None, now
        assert m.post(f"/v1/jobs/{job['id']}/cancel").status_code == 200
        m.close()
    finally:
        srv.stop()
