"""One training job, run inside a worker process: load, preprocess, build, fit with an encrypted
checkpoint and a progress row per epoch, then register an immutable model version.

Resuming: a job re-queued after a crash finds `job.epoch > 0` and its checkpoint, loads it and
continues with `initial_epoch=job.epoch`.
"""

from __future__ import annotations

import logging
import math
import time
import traceback
from datetime import datetime, timezone
from typing import Any

import numpy as np
from sqlalchemy import select

from .catalog import Signature, build_model
from .dataset_files import load_arrays
from .errors import failure_reason
from .db import session_scope
from .modelio import load_model, save_model
from .models import Dataset, Job, JobEvent, ModelVersion, new_id
from .preparation import encode_targets, fit_features
from .repository import TenantRepo
from .storage import Storage

log = logging.getLogger("aiaas.training")
CANCEL_POLL_S = 1.0


class _Canceled(Exception):
    pass


def _event(session, job_id: str, kind: str, **data: Any) -> None:
    session.add(JobEvent(job_id=job_id, kind=kind, data=data))


def _clean_metrics(logs: dict | None) -> dict[str, float]:
    out = {}
    for k, v in (logs or {}).items():
        try:
            f = float(v)
        except (TypeError, ValueError):
            continue
        out[str(k)] = f if math.isfinite(f) else None
    return out


def _task_for(architecture, hp: dict, dataset_task: str) -> str:
    if isinstance(architecture, str):
        if architecture == "autoencoder":
            return "reconstruction"
        return dataset_task
    return hp.get("task") or dataset_task


def _compile(model, task: str, hp: dict, one_hot: bool) -> None:
    from aiaas_core import keras

    opt_name = hp.get("optimizer", "adam")
    lr = float(hp.get("learning_rate", 0.001))
    optimizer = {"adam": keras.optimizers.Adam, "sgd": keras.optimizers.SGD,
                 "rmsprop": keras.optimizers.RMSprop}[opt_name](learning_rate=lr)
    if task == "classification":
        loss = "categorical_crossentropy" if one_hot else "sparse_categorical_crossentropy"
        metrics = ["accuracy"]
    else:
        loss, metrics = "mse", ["mae"]
    model.compile(optimizer=optimizer, loss=hp.get("loss", loss), metrics=metrics)


def prepare(storage: Storage, dataset: Dataset, task: str):
    """(x, targets, signature dict) for training on `dataset`."""
    x, y = load_arrays(storage, dataset.id)
    prep = dataset.preprocessing
    if task != "reconstruction" and y is None:
        raise ValueError(f"dataset {dataset.id} has no labels; only the 'autoencoder' architecture trains without labels")
    x, y, pre_config, report = fit_features(x, y if task != "reconstruction" else None, prep, dataset.summary.get("columns"))
    classes = dataset.summary.get("classes") if task == "classification" else None
    if task == "classification" and not classes:
        raise ValueError("this dataset's labels are not categorical; choose a regression architecture or upload with task=classification")
    if task == "reconstruction":
        targets = x
        n_out = int(np.prod(x.shape[1:]))
    else:
        targets = encode_targets(y, task, classes, prep.get("one_hot", False))
        n_out = len(classes) if task == "classification" else int(targets.shape[1])
    signature = {"input_shape": list(x.shape[1:]), "task": task, "n_outputs": n_out, "classes": classes,
                 "label_dtype": dataset.summary.get("y_dtype"), "preprocessor": pre_config,
                 "one_hot": bool(prep.get("one_hot", False)),
                 "missing_report": report}
    return x, targets, signature


def run_job(factory, storage: Storage, job_id: str, worker_id: str) -> None:
    """Run (or resume) one claimed job to a final state; never raises."""
    try:
        _run(factory, storage, job_id, worker_id)
    except _Canceled:
        _finish(factory, job_id, "canceled", None)
        storage.delete("checkpoints", job_id)  # a final state resumes nothing: no weights left behind
    except Exception as exc:
        log.error("job %s failed: %s", job_id, traceback.format_exc())
        _finish(factory, job_id, "failed", failure_reason(exc, storage.root.parent))
        storage.delete("checkpoints", job_id)


def _finish(factory, job_id: str, state: str, error: str | None, version_id: str | None = None) -> None:
    with session_scope(factory) as session:
        job = session.get(Job, job_id)
        job.state, job.error, job.finished_at = state, error, datetime.now(timezone.utc)
        job.model_version_id = version_id
        _event(session, job_id, "state", state=state, error=error, model_version_id=version_id)


def _run(factory, storage: Storage, job_id: str, worker_id: str) -> None:
    from aiaas_core import keras

    with session_scope(factory) as session:
        job = session.get(Job, job_id)
        dataset = TenantRepo(session, job.tenant_id).get(Dataset, job.dataset_id)
        hp, architecture, start_epoch, epochs = dict(job.hyperparameters), job.architecture, job.epoch, job.epochs
        task = _task_for(architecture, hp, dataset.summary.get("task", "none"))
        tenant_id, dataset_id = job.tenant_id, dataset.id
        _event(session, job_id, "log", message=f"loading dataset {dataset.name} ({dataset.rows} rows)")
    x, targets, signature = prepare(storage, dataset, task)
    rng = np.random.default_rng(hp.get("seed", 0))
    order = rng.permutation(x.shape[0])  # so validation_split (the last rows) is a fair sample
    x, targets = x[order], targets[order]

    if start_epoch > 0 and storage.exists("checkpoints", job_id):
        model = load_model(storage, "checkpoints", job_id)
        with session_scope(factory) as session:
            _event(session, job_id, "log", message=f"resuming from the checkpoint after epoch {start_epoch}")
    else:
        start_epoch = 0
        if hasattr(keras, "utils") and hasattr(keras.utils, "set_random_seed"):
            keras.utils.set_random_seed(int(hp.get("seed", 0)))
        sig = Signature(tuple(signature["input_shape"]), task, signature["n_outputs"])
        model = build_model(architecture, hp, sig)
        _compile(model, task, hp, dataset.preprocessing.get("one_hot", False))
    from aiaas_core.data import preprocessor_from_config

    # Saved inside every checkpoint and model file, so the artifact alone knows how to prepare inputs.
    model.preprocessing = preprocessor_from_config(signature["preprocessor"])

    canceled = {"seen": False, "checked_at": time.monotonic()}

    def cancel_requested() -> bool:
        with session_scope(factory) as session:
            return bool(session.scalar(select(Job.cancel_requested).where(Job.id == job_id)))

    def on_batch_end(_batch: int, _logs: dict | None) -> None:
        # A cancel should not wait for a long epoch: look (at most once a second) between batches.
        now = time.monotonic()
        if now - canceled["checked_at"] >= CANCEL_POLL_S:
            canceled["checked_at"] = now
            if cancel_requested():
                canceled["seen"] = True
                model.stop_training = True

    def on_epoch_end(epoch: int, logs: dict | None) -> None:
        if canceled["seen"]:
            return  # a partial epoch: no checkpoint, no progress row
        save_model(storage, "checkpoints", job_id, model)  # checkpoint first, then announce the epoch
        metrics = _clean_metrics(logs)
        with session_scope(factory) as session:
            job = session.get(Job, job_id)
            job.epoch, job.metrics = epoch + 1, metrics
            _event(session, job_id, "epoch", epoch=epoch + 1, epochs=epochs, metrics=metrics)
            if job.cancel_requested:
                model.stop_training = True
        if metrics.get("loss", 0.0) is None:
            raise FloatingPointError(f"the training loss became NaN or infinite at epoch {epoch + 1}; "
                                     "lower the learning rate or scale the data")

    model.fit(x, targets, epochs=epochs, initial_epoch=start_epoch, batch_size=int(hp.get("batch_size", 32)),
              validation_split=float(hp.get("validation_split", 0.0)), verbose=0,
              callbacks=[keras.callbacks.LambdaCallback(on_epoch_end=on_epoch_end, on_train_batch_end=on_batch_end)])

    with session_scope(factory) as session:
        job = session.get(Job, job_id)
        if job.cancel_requested:
            raise _Canceled()
        metrics = dict(job.metrics)
    if model.stop_training:  # not our cancel: fit stopped itself (a non-finite loss)
        raise FloatingPointError(f"training stopped early after epoch {metrics and job.epoch}: the loss became "
                                 "NaN or infinite; lower the learning rate or scale the data")
    version_id = new_id()
    save_model(storage, "models", version_id, model)
    with session_scope(factory) as session:
        session.add(ModelVersion(id=version_id, tenant_id=tenant_id, job_id=job_id, dataset_id=dataset_id,
                                 architecture=architecture, hyperparameters=hp, metrics=metrics,
                                 signature={k: v for k, v in signature.items() if k != "missing_report"}))
        job = session.get(Job, job_id)
        job.state, job.model_version_id, job.finished_at = "succeeded", version_id, datetime.now(timezone.utc)
        _event(session, job_id, "state", state="succeeded", model_version_id=version_id, metrics=metrics)
    storage.delete("checkpoints", job_id)
