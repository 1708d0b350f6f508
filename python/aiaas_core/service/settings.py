"""Service configuration: one frozen object built from CLI flags and AIAAS_* environment variables."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path


def _env_int(name: str, default: int | None) -> int | None:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise ValueError(f"environment variable {name} must be an integer, got {raw!r}") from exc


@dataclass(frozen=True)
class TenantLimits:
    """Default per-tenant quotas; a tenant row may override each one."""

    max_concurrent_jobs: int = 2
    max_epochs: int = 200
    max_dataset_bytes: int = 50 * 1024 * 1024


@dataclass(frozen=True)
class Settings:
    """Everything the service needs to run; `database_url` defaults to SQLite inside `data_dir`."""

    data_dir: Path = Path("./aiaas-data")
    database_url: str | None = None
    # The master key's file, outside the data folder in production (so a copy of the folder or of a
    # backup does not carry the key that decrypts it). None: AIAAS_MASTER_KEY, else <data_dir>/master.key.
    master_key_file: Path | None = None
    host: str = "127.0.0.1"
    port: int = 8000
    workers: int = 1
    # Threads of each training worker's kernel pool. None: the machine's cores but one (kept for
    # the API process's predictions), shared among the workers; at least 1.
    worker_threads: int | None = None
    max_upload_bytes: int = 100 * 1024 * 1024
    max_predict_values: int = 1_000_000  # floats per prediction request (tensor size limit)
    # Estimated FLOPs per prediction request (compute_cost.py): 1e11 is a few seconds on a small machine.
    max_predict_flops: int = 100_000_000_000
    # Threads that run forward passes (compute_pool.py; never the event loop), and how many of them one
    # tenant may hold at once. None: 2..4 by the machine's cores; half of them per tenant (at least 1).
    predict_threads: int | None = None
    predict_tenant_threads: int | None = None
    rate_limit_per_minute: int = 600  # default per key; a key may carry its own
    failed_auth_per_minute: int = 60  # per client address; beyond it, 429 without a lookup
    model_cache_bytes: int = 2 * 1024**3  # weights of loaded model versions kept for serving
    min_free_bytes: int = 256 * 1024**2  # free space in the data folder below which /readyz answers 503
    poll_interval_s: float = 0.5  # how often idle workers look for queued jobs
    limits: TenantLimits = field(default_factory=TenantLimits)

    def __post_init__(self) -> None:
        object.__setattr__(self, "data_dir", Path(self.data_dir).resolve())
        if self.master_key_file is not None:
            object.__setattr__(self, "master_key_file", Path(self.master_key_file).expanduser().resolve())
        for name in ("port", "workers", "max_upload_bytes", "max_predict_values", "max_predict_flops",
                     "rate_limit_per_minute", "failed_auth_per_minute", "model_cache_bytes", "min_free_bytes"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < (0 if name == "port" else 1):
                raise ValueError(f"setting {name} must be a positive integer, got {value!r}")
        threads = self.worker_threads
        if threads is None:
            threads = max(1, ((os.cpu_count() or 1) - 1) // self.workers)
        elif isinstance(threads, bool) or not isinstance(threads, int) or not 1 <= threads <= 1024:
            raise ValueError(f"setting worker_threads must be an integer in [1, 1024], got {threads!r}")
        object.__setattr__(self, "worker_threads", threads)
        predict = self.predict_threads if self.predict_threads is not None else min(4, max(2, os.cpu_count() or 1))
        per_tenant = self.predict_tenant_threads if self.predict_tenant_threads is not None else max(1, predict // 2)
        for name, value in (("predict_threads", predict), ("predict_tenant_threads", per_tenant)):
            if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 256:
                raise ValueError(f"setting {name} must be an integer in [1, 256], got {value!r}")
        object.__setattr__(self, "predict_threads", predict)
        object.__setattr__(self, "predict_tenant_threads", min(per_tenant, predict))

    @property
    def db_url(self) -> str:
        """The SQLAlchemy URL: the given one, or SQLite in the data dir."""
        return self.database_url or f"sqlite:///{self.data_dir / 'aiaas.db'}"

    @classmethod
    def from_env(cls, **overrides) -> "Settings":
        """Defaults, then AIAAS_* environment variables, then explicit (non-None) overrides."""
        limits = TenantLimits(
            max_concurrent_jobs=_env_int("AIAAS_MAX_CONCURRENT_JOBS", TenantLimits.max_concurrent_jobs),
            max_epochs=_env_int("AIAAS_MAX_EPOCHS", TenantLimits.max_epochs),
            max_dataset_bytes=_env_int("AIAAS_MAX_DATASET_BYTES", TenantLimits.max_dataset_bytes),
        )
        values = dict(
            data_dir=Path(os.environ.get("AIAAS_SERVICE_DATA_DIR", "./aiaas-data")),
            database_url=os.environ.get("AIAAS_DATABASE_URL") or None,
            master_key_file=os.environ.get("AIAAS_MASTER_KEY_FILE") or None,
            max_upload_bytes=_env_int("AIAAS_MAX_UPLOAD_BYTES", cls.max_upload_bytes),
            max_predict_values=_env_int("AIAAS_MAX_PREDICT_VALUES", cls.max_predict_values),
            max_predict_flops=_env_int("AIAAS_MAX_PREDICT_FLOPS", cls.max_predict_flops),
            predict_threads=_env_int("AIAAS_PREDICT_THREADS", None),
            predict_tenant_threads=_env_int("AIAAS_PREDICT_TENANT_THREADS", None),
            rate_limit_per_minute=_env_int("AIAAS_RATE_LIMIT_PER_MINUTE", cls.rate_limit_per_minute),
            failed_auth_per_minute=_env_int("AIAAS_FAILED_AUTH_PER_MINUTE", cls.failed_auth_per_minute),
            model_cache_bytes=_env_int("AIAAS_MODEL_CACHE_BYTES", cls.model_cache_bytes),
            min_free_bytes=_env_int("AIAAS_MIN_FREE_BYTES", cls.min_free_bytes),
            worker_threads=_env_int("AIAAS_WORKER_THREADS", None),
            limits=limits,
        )
        # One construction with everything, so derived defaults (worker_threads) see the final values.
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)
