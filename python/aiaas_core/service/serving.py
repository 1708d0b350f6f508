"""Prediction: a cache of loaded model versions and an atomic endpoint -> version pointer.

Switching an endpoint loads the new version first, then replaces one dict entry (atomic in CPython);
requests already holding the old model finish with it, so a promote/rollback fails no request.
"""

from __future__ import annotations

import math
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .compute_cost import check_compute, flops_per_row
from .compute_pool import FairPool
from .errors import ApiError
from .json_input import loads_json, may_hold_booleans, numeric_array, reject_booleans
from .modelio import load_model
from .models import ModelVersion
from .preparation import apply_features
from .repository import TenantRepo


@dataclass
class LoadedModel:
    version_id: str
    model: Any
    signature: dict[str, Any]
    nbytes: int = 0  # weights held in memory, counted against the cache's byte bound
    lock: threading.Lock = field(default_factory=threading.Lock)  # one forward pass at a time per model
    tenant_id: str = ""  # the owner: compute is shared fairly between tenants (compute_pool.py)
    flops_per_row: float = 1.0  # estimated forward cost of one instance (compute_cost.py)


class Serving:
    def __init__(self, state, capacity: int = 32) -> None:
        self.state = state
        self.capacity = capacity  # model versions
        self.max_bytes = state.settings.model_cache_bytes  # and the bytes of their weights
        self._cache: OrderedDict[str, LoadedModel] = OrderedDict()
        self._cache_lock = threading.Lock()
        self._load_locks: dict[str, threading.Lock] = {}
        self._routes: dict[tuple[str, str], str] = {}  # (tenant_id, endpoint name) -> version id
        settings = state.settings
        self.pool = FairPool(settings.predict_threads, settings.predict_tenant_threads)  # every forward pass runs here

    # -- model cache -------------------------------------------------------------------------------
    def get_model(self, version: ModelVersion) -> LoadedModel:
        with self._cache_lock:
            hit = self._cache.get(version.id)
            if hit is not None:
                self._cache.move_to_end(version.id)
                return hit
            load_lock = self._load_locks.setdefault(version.id, threading.Lock())
        with load_lock:  # one load per version even when many requests miss together
            with self._cache_lock:
                hit = self._cache.get(version.id)
            if hit is not None:
                return hit
            model = load_model(self.state.storage, "models", version.id)
            nbytes = sum(w.nbytes for w in model.get_weights())
            signature = dict(version.signature)
            loaded = LoadedModel(version.id, model, signature, nbytes, tenant_id=version.tenant_id,
                                 flops_per_row=flops_per_row(model, tuple(signature["input_shape"])))
            with self._cache_lock:
                self._cache[version.id] = loaded
                self._evict_over_bounds()
            return loaded

    def _evict_over_bounds(self) -> None:
        """Drop least recently used versions while over either bound; the newest always stays.
        Requests still holding an evicted model finish with it; the next one reloads it."""
        total = sum(m.nbytes for m in self._cache.values())
        while len(self._cache) > 1 and (len(self._cache) > self.capacity or total > self.max_bytes):
            total -= self._cache.popitem(last=False)[1].nbytes

    def cached_bytes(self) -> int:
        with self._cache_lock:
            return sum(m.nbytes for m in self._cache.values())

    # -- endpoints ---------------------------------------------------------------------------------
    def point(self, tenant_id: str, name: str, version: ModelVersion) -> None:
        """Load `version`, then switch the endpoint to it in one step."""
        self.get_model(version)
        self._routes[(tenant_id, name)] = version.id

    def forget(self, tenant_id: str, name: str) -> None:
        """Undeploy: the endpoint stops routing, and its version leaves memory unless another
        endpoint still routes to it."""
        version_id = self._routes.pop((tenant_id, name), None)
        if version_id is not None and version_id not in self._routes.values():
            with self._cache_lock:
                self._cache.pop(version_id, None)

    def forget_tenant(self, tenant_id: str, version_ids: set[str]) -> None:
        """A deleted tenant: all its endpoints stop routing and its versions leave memory."""
        for key in [k for k in self._routes if k[0] == tenant_id]:
            self.forget(*key)
        with self._cache_lock:
            for version_id in version_ids:
                self._cache.pop(version_id, None)

    def resolve(self, tenant_id: str, name: str) -> LoadedModel:
        version_id = self._routes.get((tenant_id, name))
        with self.state.sessions() as session:
            repo = TenantRepo(session, tenant_id)
            if version_id is None:
                version_id = repo.endpoint_by_name(name).model_version_id
                self._routes[(tenant_id, name)] = version_id
            version = repo.get(ModelVersion, version_id)
        return self.get_model(version)

    # -- prediction --------------------------------------------------------------------------------
    def predict(self, loaded: LoadedModel, instances: list[Any]) -> list[Any]:
        x = self.prepare_instances(loaded, instances)
        out = np.asarray(self.forward(loaded, x), dtype=np.float64)
        return format_outputs(out, loaded.signature)

    def prepare_instances(self, loaded: LoadedModel, instances: list[Any]) -> np.ndarray:
        """JSON instances -> checked, preprocessed float32 model inputs [n, ...]; 422/413 otherwise."""
        x = validate_instances(instances, loaded.signature, self.state.settings.max_predict_values)
        self.check_compute(loaded, len(x))
        pre = loaded.signature.get("preprocessor")
        if pre is not None:
            try:
                x = apply_features(x, pre)
            except ValueError as exc:
                raise ApiError(422, f"instances rejected by the model's preprocessing: {exc}") from exc
        return x

    def check_compute(self, loaded: LoadedModel, rows: int) -> None:
        """413 when `rows` instances through this model cost more than the per-request FLOP limit."""
        check_compute(loaded.flops_per_row, rows, self.state.settings.max_predict_flops)

    def forward(self, loaded: LoadedModel, x: np.ndarray) -> np.ndarray:
        """The model on prepared float32 inputs [n, ...], on the compute pool in the tenant's turn (from a
        thread that may wait; deployments.py overrides it to batch requests)."""
        return self.pool.run(loaded.tenant_id, _locked_predict, loaded, x)


def _locked_predict(loaded: LoadedModel, x: np.ndarray) -> np.ndarray:
    with loaded.lock:
        return loaded.model.predict(x, verbose=0)


def validate_instances(instances: list[Any], signature: dict[str, Any], max_values: int) -> np.ndarray:
    """JSON instances -> float32 [n, *input_shape], or 422/413 naming the expected shape and dtype."""
    shape = tuple(signature["input_shape"])
    want = f"expected instances shaped [n, {', '.join(map(str, shape))}] of numbers (float32)"
    per = math.prod(shape)
    if len(instances) * per > max_values:
        raise ApiError(413, f"{len(instances)} instances of {per} values exceed the limit of {max_values} values per request")
    # Booleans were refused with the JSON body (parse_predict_body), where finding them costs nothing.
    arr = numeric_array(instances, "instances", want, check_booleans=False)
    if arr.shape != (len(instances), *shape):
        raise ApiError(422, f"instances have shape {list(arr.shape)}; {want}")
    x = arr.astype(np.float32)
    if np.isinf(x).any():  # after the cast: 1e300 is finite in float64, not in float32
        raise ApiError(422, f"instances contain infinite values or values beyond float32 (|x| > 3.4e38); {want}")
    return x


def check_finite_outputs(out: np.ndarray) -> np.ndarray:
    """`out` when every value is finite, else 422: a model fed values far beyond its training data can
    overflow to inf / NaN, which are no prediction and which JSON cannot carry (json.dumps refuses them)."""
    finite = np.isfinite(out.reshape(len(out), -1)).all(axis=1) if out.size else np.ones(len(out), bool)
    if not finite.all():
        rows = np.flatnonzero(~finite)
        listed = ", ".join(map(str, rows[:10].tolist())) + (", ..." if len(rows) > 10 else "")
        raise ApiError(422, f"the model's output overflowed to infinity or NaN for {len(rows)} instance(s) "
                            f"(index {listed}); their values lie far outside the data the model was trained on")
    return out


def format_outputs(out: np.ndarray, signature: dict[str, Any]) -> list[Any]:
    """Class label + probabilities for classifiers, numbers otherwise (422 for outputs that overflowed)."""
    check_finite_outputs(out)
    if signature.get("task") == "classification":
        classes = signature["classes"]
        numeric = (signature.get("label_dtype") or "").startswith(("int", "uint"))
        labels = [classes[k] for k in np.argmax(out, axis=1).tolist()]
        # .tolist() turns the whole array into Python floats at once (no per-element numpy scalars)
        return [{"label": int(label) if numeric else label, "probabilities": dict(zip(classes, row))}
                for label, row in zip(labels, np.asarray(out, dtype=np.float64).tolist())]
    if signature.get("task") == "regression" and out.ndim == 2 and out.shape[1] == 1:
        return out[:, 0].astype(np.float64).tolist()
    return out.tolist()


def parse_predict_body(body: bytes) -> list[Any]:
    """The raw body of POST .../predict -> its `instances` list, parsed once with json.loads (no pydantic
    model of a list of lists). 422 naming what was wrong: not JSON, not an object, unknown or missing
    fields, `instances` not a non-empty list. Shapes and numbers are checked by validate_instances."""
    doc = loads_json(body, '{"instances": [[...], ...]}')
    if not isinstance(doc, dict):
        raise ApiError(422, f'invalid request: expected a JSON object {{"instances": [...]}}, got {type(doc).__name__}')
    extra = sorted(set(doc) - {"instances"})
    if extra:
        raise ApiError(422, f"invalid request: {', '.join(extra)}: Extra inputs are not permitted "
                            "(the body holds only 'instances')")
    instances = doc.get("instances")
    if "instances" not in doc:
        raise ApiError(422, "invalid request: instances: Field required")
    if not isinstance(instances, list) or not instances:
        raise ApiError(422, "invalid request: instances must be a non-empty list of instances")
    if may_hold_booleans(body):
        reject_booleans(instances, "instances", "expected numbers (null for a missing value)")
    return instances
