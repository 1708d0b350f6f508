"""A model chosen for one request (RoutedModel) shares the cached model's lock, so "one forward pass at a
time per model" holds whichever endpoint, canary draw or protocol picked it."""

from __future__ import annotations

import threading
from types import SimpleNamespace

from aiaas_core.service.deployments import DeployedServing, DeploymentConfig
from aiaas_core.service.serving import LoadedModel
from aiaas_core.service.settings import Settings


def test_routed_models_share_the_cached_models_lock_and_size(tmp_path):
    state = SimpleNamespace(settings=Settings(data_dir=tmp_path))
    serving = DeployedServing(state)
    cached = LoadedModel("v1", object(), {"input_shape": [4]}, nbytes=1234, tenant_id="t1")
    serving._cache["v1"] = cached
    serving._routes[("t1", "ep")] = "v1"
    serving._configs[("t1", "ep")] = DeploymentConfig()
    routed = serving.resolve_cached("t1", "ep")
    assert routed is not None
    assert routed.lock is cached.lock and isinstance(routed.lock, type(threading.Lock()))
    assert routed.nbytes == 1234 and routed.tenant_id == "t1"
    assert routed.endpoint == ("t1", "ep")
    # two draws for the same endpoint hold one lock: the second cannot run while the first does
    again = serving.resolve_cached("t1", "ep")
    with routed.lock:
        assert not again.lock.acquire(blocking=False)
