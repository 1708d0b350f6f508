"""The serving cache is bounded by the bytes of the weights it holds, and undeploying frees a model."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
from sklearn.datasets import load_digits

from aiaas_core.service.serving import LoadedModel, Serving
from aiaas_core.service.settings import Settings
from helpers import deploy, local_model, metric_samples, train


def test_undeploy_frees_the_model_unless_another_endpoint_routes_to_it(admin, make_tenant, data_files, tmp_path):
    _, c = make_tenant("cache")
    m = c["member"]
    _, job = train(m, data_files["digits_npz"], "mlp", {"epochs": 1, "units": [8]})
    version = job["model_version_id"]
    weights_bytes = sum(w.nbytes for w in local_model(m, version, tmp_path).get_weights())
    x = load_digits().data[:2].tolist()

    def held() -> float:
        return metric_samples(admin)["aiaas_models_loaded_bytes"]

    deploy(m, "cache-a", version)
    assert m.post("/v1/endpoints/cache-a/predict", json={"instances": x}).status_code == 200
    loaded = held()
    deploy(m, "cache-b", version)
    assert m.post("/v1/endpoints/cache-b/predict", json={"instances": x}).status_code == 200
    assert held() == loaded  # one copy serves both endpoints

    assert m.delete("/v1/endpoints/cache-a").status_code in (200, 204)
    assert held() == loaded  # cache-b still routes to it
    assert m.post("/v1/endpoints/cache-b/predict", json={"instances": x}).status_code == 200
    assert m.delete("/v1/endpoints/cache-b").status_code in (200, 204)
    assert held() == loaded - weights_bytes  # the last undeploy frees exactly its weights

def test_cache_evicts_least_recently_used_past_its_byte_bound(tmp_path):
    serving = Serving(SimpleNamespace(settings=Settings(data_dir=tmp_path, model_cache_bytes=1000)))
    for vid, nbytes in (("a", 400), ("b", 400), ("c", 400)):
        serving._cache[vid] = LoadedModel(vid, model=None, signature={}, nbytes=nbytes)
        serving._evict_over_bounds()
    assert list(serving._cache) == ["b", "c"] and serving.cached_bytes() == 800
    serving._cache["huge"] = LoadedModel("huge", model=None, signature={}, nbytes=5000)
    serving._evict_over_bounds()
    assert list(serving._cache) == ["huge"]  # the newest stays even when it alone is over the bound
    assert np.isclose(serving.cached_bytes(), 5000)
