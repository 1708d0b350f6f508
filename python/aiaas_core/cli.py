"""The `aiaas` command: run the server, manage keys, and drive datasets, jobs and endpoints over HTTP.

    aiaas serve [--host 127.0.0.1 --port 8000 --data-dir ./aiaas-data --database-url URL --workers N
                 --worker-threads T --forwarded-allow-ips PROXY,...]
    aiaas admin create-key [--tenant NAME] [--role admin|member|predict] [--data-dir DIR]
    aiaas admin backup DEST [--data-dir DIR] [--include-master-key]
    aiaas admin restore SRC --data-dir NEW [--database-url URL]
    aiaas datasets upload FILE --name NAME [--label-column COL] [--labels FILE] [--scaling ...]
    aiaas jobs create --dataset ID --architecture NAME|config.json [--epochs N ...] [--watch]
    aiaas jobs watch ID | aiaas jobs cancel ID
    aiaas deploy NAME --version ID
    aiaas predict NAME --instances '[[...]]' | --file instances.json

Client verbs read AIAAS_URL (default http://127.0.0.1:8000) and AIAAS_API_KEY, or --url/--api-key.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any, Sequence


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    from .service.app import create_app
    from .service.settings import Settings
    from .service.state import open_state

    overrides = {"host": args.host, "port": args.port, "workers": args.workers, "database_url": args.database_url,
                 "worker_threads": args.worker_threads, "master_key_file": args.master_key_file}
    if args.data_dir:
        overrides["data_dir"] = Path(args.data_dir)
    settings = Settings.from_env(**overrides)
    import logging

    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    from .service.datadir_lock import lock_data_dir

    try:  # before anything touches the folder: a second server would take over the first one's jobs
        lock_data_dir(settings.data_dir)
    except RuntimeError as exc:
        raise SystemExit(f"aiaas: {exc}") from None
    state = open_state(settings)
    if state.bootstrap_key:
        # Printed once, on the first start only: the key is stored hashed and cannot be shown again.
        print(f"aiaas: created the first admin API key (shown once, store it now): {state.bootstrap_key}", flush=True)
    print(f"aiaas: serving on http://{settings.host}:{settings.port} (data in {settings.data_dir}, "
          f"{settings.workers} training worker(s) of {settings.worker_threads} thread(s))", flush=True)
    # Proxy headers (X-Forwarded-For) decide the client address the failed-auth throttle counts; uvicorn
    # believes them from 127.0.0.1 by default, so a local client rotating the header was a new address
    # every time. Only the proxies named by --forwarded-allow-ips are believed.
    proxies = {"proxy_headers": True, "forwarded_allow_ips": args.forwarded_allow_ips} if args.forwarded_allow_ips \
        else {"proxy_headers": False}
    uvicorn.run(create_app(settings, state), host=settings.host, port=settings.port,
                log_level=args.log_level, access_log=args.access_log, **proxies, **_fast_server_options())
    return 0


def _fast_server_options() -> dict[str, str]:
    """uvloop + httptools when installed (`pip install aiaas_core[server]` brings them with uvicorn[standard]),
    else the pure-Python asyncio loop and h11; named explicitly so the choice does not depend on uvicorn's guess."""
    import importlib.util

    return {"loop": "uvloop" if importlib.util.find_spec("uvloop") else "asyncio",
            "http": "httptools" if importlib.util.find_spec("httptools") else "h11"}


def _admin_create_key(args: argparse.Namespace) -> int:
    """Create a key straight in the database (works offline, e.g. when the admin key was lost)."""
    from sqlalchemy import select

    from .service.models import Tenant
    from .service.security import create_key
    from .service.settings import Settings
    from .service.state import open_state

    if args.role == "admin" and args.tenant != "system":
        raise SystemExit("aiaas: admin keys belong to the 'system' tenant; use --role member or predict for a customer tenant")
    overrides: dict[str, Any] = {"database_url": args.database_url, "master_key_file": args.master_key_file}
    if args.data_dir:
        overrides["data_dir"] = Path(args.data_dir)
    state = open_state(Settings.from_env(**overrides))
    with state.sessions() as session:
        tenant = session.scalar(select(Tenant).where(Tenant.name == args.tenant))
        if tenant is None:
            if args.tenant == "system":
                raise SystemExit("internal error: the system tenant is missing")
            tenant = Tenant(name=args.tenant)
            session.add(tenant)
            session.flush()
        row, key = create_key(session, tenant.id, args.role)
        print(json.dumps({"id": row.id, "key": key, "role": row.role, "tenant_id": tenant.id}))
    return 0


def _admin_settings(args: argparse.Namespace):
    from .service.settings import Settings

    overrides: dict[str, Any] = {"database_url": args.database_url,
                                 "master_key_file": getattr(args, "master_key_file", None)}
    if args.data_dir:
        overrides["data_dir"] = Path(args.data_dir)
    return Settings.from_env(**overrides)


def _admin_backup(args: argparse.Namespace) -> int:
    """A consistent snapshot of a (running) server's database and artifacts; reads only."""
    from .service.backup import BackupError, backup

    settings = _admin_settings(args)
    try:
        manifest = backup(settings, Path(args.dest), include_master_key=args.include_master_key,
                          say=lambda m: print(f"aiaas: backup {m}", file=sys.stderr))
    except BackupError as exc:
        raise SystemExit(f"aiaas: backup failed: {exc}") from None
    for rel in manifest["missing"]:
        print(f"aiaas: warning: {rel} was deleted while the backup ran; its row is in the backup, its file is not",
              file=sys.stderr)
    print(json.dumps({"backup": str(Path(args.dest).resolve()), "database": manifest["database"]["kind"],
                      "files": len(manifest["files"]), "key_fingerprint": manifest["key_fingerprint"],
                      "master_key_included": manifest["master_key_included"]}))
    if not manifest["master_key_included"]:
        print("aiaas: the master key is not in the backup (keep it apart, e.g. in your secrets store); a restore "
              "needs the key with this fingerprint", file=sys.stderr)
    return 0


def _admin_restore(args: argparse.Namespace) -> int:
    """A new data folder (and database) from a backup; start a server on it with the same master key."""
    from .service.backup import BackupError, restore

    try:
        manifest = restore(Path(args.src), Path(args.data_dir), database_url=args.database_url,
                           say=lambda m: print(f"aiaas: restore {m}", file=sys.stderr))
    except BackupError as exc:
        raise SystemExit(f"aiaas: restore failed: {exc}") from None
    data_dir = Path(args.data_dir).resolve()
    db = f" --database-url {args.database_url}" if args.database_url else ""
    key = "" if manifest["master_key_included"] else " --master-key-file PATH_OF_THE_KEY"
    print(json.dumps({"data_dir": str(data_dir), "files": len(manifest["files"]),
                      "key_fingerprint": manifest["key_fingerprint"]}))
    print(f"aiaas: restored; start it with: aiaas serve --data-dir {data_dir}{db}{key}", file=sys.stderr)
    if manifest["master_key_included"]:
        print(f"aiaas: the backup's master key is now {data_dir / 'master.key'}; in production move it out of "
              "the data folder and pass --master-key-file", file=sys.stderr)
    return 0


def _client(args: argparse.Namespace):
    from .client import Client

    key = args.api_key or os.environ.get("AIAAS_API_KEY")
    if not key:
        raise SystemExit("aiaas: no API key; pass --api-key or set AIAAS_API_KEY")
    return Client(args.url or os.environ.get("AIAAS_URL", "http://127.0.0.1:8000"), key)


def _print(obj: Any) -> None:
    print(json.dumps(obj, indent=2, default=str))


def _datasets_upload(args: argparse.Namespace) -> int:
    with _client(args) as c:
        _print(c.upload_dataset(args.file, name=args.name, label_column=args.label_column, labels=args.labels,
                                scaling=args.scaling, missing=args.missing, task=args.task))
    return 0


def _datasets_list(args: argparse.Namespace) -> int:
    with _client(args) as c:
        _print(c.list_datasets())
    return 0


def _hyperparameters(args: argparse.Namespace) -> dict[str, Any]:
    hp: dict[str, Any] = json.loads(args.hyperparameters) if args.hyperparameters else {}
    if not isinstance(hp, dict):
        raise SystemExit("aiaas: --hyperparameters must be a JSON object")
    for name in ("epochs", "batch_size", "learning_rate", "optimizer", "validation_split", "seed"):
        value = getattr(args, name)
        if value is not None:
            hp[name] = value
    return hp


def _jobs_create(args: argparse.Namespace) -> int:
    arch: Any = args.architecture
    if arch.endswith(".json"):
        arch = json.loads(Path(arch).read_text())
    with _client(args) as c:
        job = c.create_job(args.dataset, arch, _hyperparameters(args))
        _print(job)
        if args.watch:
            return _watch(c, job["id"])
    return 0


def _watch(c, job_id: str) -> int:
    from tqdm import tqdm

    job = c.get_job(job_id)
    with tqdm(total=job["epochs"], desc=f"job {job_id[:8]}", unit="epoch", file=sys.stderr) as bar:
        bar.update(job["epoch"])
        for event in c.job_events(job_id):
            data = event["data"]
            if event["event"] == "epoch":
                bar.update(max(0, data["epoch"] - bar.n))
                bar.set_postfix({k: f"{v:.4g}" for k, v in data.get("metrics", {}).items() if isinstance(v, float)})
            elif event["event"] == "state":
                bar.set_description(f"job {job_id[:8]} {data.get('state')}")
    job = c.get_job(job_id)
    _print(job)
    return 0 if job["state"] == "succeeded" else 1


def _jobs_watch(args: argparse.Namespace) -> int:
    with _client(args) as c:
        return _watch(c, args.job_id)


def _jobs_cancel(args: argparse.Namespace) -> int:
    with _client(args) as c:
        _print(c.cancel_job(args.job_id))
    return 0


def _deploy(args: argparse.Namespace) -> int:
    with _client(args) as c:
        _print(c.deploy(args.name, args.version))
    return 0


def _predict(args: argparse.Namespace) -> int:
    raw = Path(args.file).read_text() if args.file else args.instances
    if raw is None:
        raise SystemExit("aiaas: give --instances JSON or --file instances.json")
    instances = json.loads(raw)
    if isinstance(instances, dict):
        instances = instances.get("instances")
    with _client(args) as c:
        _print(c.predict(args.name, instances))
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="aiaas", description="AI models as a service")
    sub = p.add_subparsers(dest="command", required=True)

    s = sub.add_parser("serve", help="run the HTTP service")
    s.add_argument("--host", default="127.0.0.1")
    s.add_argument("--port", type=int, default=8000)
    s.add_argument("--data-dir", default=None, help="artifacts and SQLite database (default ./aiaas-data)")
    s.add_argument("--database-url", default=None, help="SQLAlchemy URL, e.g. postgresql+psycopg://...")
    s.add_argument("--workers", type=int, default=1, help="training worker processes")
    s.add_argument("--master-key-file", default=None,
                   help="file holding the master key (64 hex digits), outside the data folder in production "
                        "(default $AIAAS_MASTER_KEY_FILE, else $AIAAS_MASTER_KEY, else DATA_DIR/master.key)")
    s.add_argument("--worker-threads", type=int, default=None,
                   help="kernel threads per training worker (default: the cores but one, shared by the workers)")
    s.add_argument("--forwarded-allow-ips", default=None,
                   help="comma-separated addresses of reverse proxies whose X-Forwarded-For/-Proto headers are "
                        "believed (default: none; the client address is the connection's)")
    s.add_argument("--log-level", default="info")
    s.add_argument("--access-log", action="store_true", help="log every request (off by default: it costs throughput)")
    s.set_defaults(func=_serve)

    admin = sub.add_parser("admin", help="administration on the local database").add_subparsers(dest="admin", required=True)
    k = admin.add_parser("create-key", help="create an API key (prints it once)")
    k.add_argument("--tenant", default="system", help="tenant name (created if missing)")
    k.add_argument("--role", default="admin", choices=["admin", "member", "predict"])
    k.add_argument("--data-dir", default=None)
    k.add_argument("--database-url", default=None)
    k.add_argument("--master-key-file", default=None, help="the server's master key file (default $AIAAS_MASTER_KEY_FILE)")
    k.set_defaults(func=_admin_create_key)
    b = admin.add_parser("backup", help="a consistent snapshot of a (running) server into a new folder DEST")
    b.add_argument("dest", help="a new folder (or an empty one) for the backup")
    b.add_argument("--data-dir", default=None, help="the server's data folder (default $AIAAS_SERVICE_DATA_DIR or ./aiaas-data)")
    b.add_argument("--database-url", default=None, help="the server's database URL, if not SQLite in the data folder")
    b.add_argument("--include-master-key", action="store_true",
                   help="also copy the master key into the backup (then the backup decrypts itself: keep it as safe as the key)")
    b.add_argument("--master-key-file", default=None, help="the server's master key file (only with --include-master-key)")
    b.set_defaults(func=_admin_backup)
    r = admin.add_parser("restore", help="make a new data folder from a backup")
    r.add_argument("src", help="the folder `aiaas admin backup` wrote")
    r.add_argument("--data-dir", required=True, help="the new data folder (must not exist, or be empty)")
    r.add_argument("--database-url", default=None,
                   help="an empty PostgreSQL database to restore a PostgreSQL backup into (SQLite backups go into --data-dir)")
    r.set_defaults(func=_admin_restore)

    def client_args(q: argparse.ArgumentParser) -> None:
        q.add_argument("--url", default=None, help="service URL (default $AIAAS_URL or http://127.0.0.1:8000)")
        q.add_argument("--api-key", default=None, help="API key (default $AIAAS_API_KEY)")

    ds = sub.add_parser("datasets", help="datasets").add_subparsers(dest="datasets", required=True)
    u = ds.add_parser("upload", help="upload a CSV, NPZ or IDX file")
    u.add_argument("file")
    u.add_argument("--name", required=True)
    u.add_argument("--label-column", default=None)
    u.add_argument("--labels", default=None, help="IDX labels file")
    u.add_argument("--scaling", default=None, choices=["standard", "minmax", "global_minmax", "none"])
    u.add_argument("--missing", default=None, choices=["drop", "mean", "median", "zero"])
    u.add_argument("--task", default=None, choices=["auto", "classification", "regression"])
    client_args(u)
    u.set_defaults(func=_datasets_upload)
    ls = ds.add_parser("list")
    client_args(ls)
    ls.set_defaults(func=_datasets_list)

    jobs = sub.add_parser("jobs", help="training jobs").add_subparsers(dest="jobs", required=True)
    c = jobs.add_parser("create", help="queue a training job")
    c.add_argument("--dataset", required=True)
    c.add_argument("--architecture", required=True, help="catalog name or a model config .json file")
    c.add_argument("--hyperparameters", default=None, help="JSON object (units, layers, ...)")
    c.add_argument("--epochs", type=int)
    c.add_argument("--batch-size", dest="batch_size", type=int)
    c.add_argument("--learning-rate", dest="learning_rate", type=float)
    c.add_argument("--optimizer", choices=["adam", "sgd", "rmsprop"])
    c.add_argument("--validation-split", dest="validation_split", type=float)
    c.add_argument("--seed", type=int)
    c.add_argument("--watch", action="store_true", help="show a progress bar until the job ends")
    client_args(c)
    c.set_defaults(func=_jobs_create)
    for verb, func in (("watch", _jobs_watch), ("cancel", _jobs_cancel)):
        q = jobs.add_parser(verb)
        q.add_argument("job_id")
        client_args(q)
        q.set_defaults(func=func)

    d = sub.add_parser("deploy", help="create or repoint an endpoint")
    d.add_argument("name")
    d.add_argument("--version", required=True, help="model version id")
    client_args(d)
    d.set_defaults(func=_deploy)

    pr = sub.add_parser("predict", help="predict with an endpoint")
    pr.add_argument("name")
    pr.add_argument("--instances", default=None, help="JSON list of instances")
    pr.add_argument("--file", default=None, help="JSON file with a list (or {instances: [...]})")
    client_args(pr)
    pr.set_defaults(func=_predict)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `aiaas` console script."""
    args = build_parser().parse_args(argv)
    import httpx

    from .client import ApiError

    try:
        return int(args.func(args) or 0)
    except ApiError as exc:
        print(f"aiaas: error {exc.status}: {exc.detail}", file=sys.stderr)
        return 2
    except (OSError, ValueError) as exc:  # a missing file, bad JSON, an empty id, ...
        print(f"aiaas: {exc}", file=sys.stderr)
        return 2
    except httpx.HTTPError as exc:  # no server at the URL, a timeout, a dropped connection
        url = getattr(args, "url", None) or os.environ.get("AIAAS_URL", "http://127.0.0.1:8000")
        print(f"aiaas: cannot reach the service at {url}: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
