"""POST /v1/endpoints/{name}/explain: per-feature attributions of one prediction (integrated gradients)."""

from __future__ import annotations

from typing import Any

import numpy as np
from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, ConfigDict, Field

from ..activation_memory import check_explanation_memory
from ..compute_cost import check_explanation_compute
from ..errors import ApiError, brief
from ..explain import integrated_gradients
from ..json_input import numeric_array
from ..json_types import Int
from ..security import Principal, require

router = APIRouter(prefix="/v1/endpoints", tags=["endpoints"])


class ExplainRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    instance: list[Any] = Field(min_length=1, description="one input, shaped like the model's input_shape")
    baseline: list[Any] | None = Field(default=None, description="the reference input (default: all zeros)")
    steps: Int = Field(default=64, ge=1, le=1024, description="trapezoid intervals along the path")
    target: Int | str | None = Field(default=None, description="output index or class name (default: the predicted one)")


def _as_input(value: list[Any], what: str, shape: tuple[int, ...]) -> np.ndarray:
    arr = numeric_array(value, what, f"expected shape {list(shape)}", allow_null=False)
    if arr.shape != shape:
        raise ApiError(422, f"{what} has shape {list(arr.shape)}; expected {list(shape)}")
    if not np.isfinite(arr).all():
        raise ApiError(422, f"{what} contains NaN or infinite values")
    return arr


def _target_index(target: int | str | None, signature: dict[str, Any]) -> int | None:
    classes = signature.get("classes") or []
    if isinstance(target, str):
        if target not in [str(c) for c in classes]:
            raise ApiError(422, f"target {brief(target)} is not one of the model's classes {classes}")
        return [str(c) for c in classes].index(target)
    return target


def _locked_gradients(loaded, prepared: np.ndarray, target: int | None, steps: int) -> dict[str, Any]:
    with loaded.lock:
        return integrated_gradients(loaded.model, prepared[0], prepared[1], target, steps)


@router.post("/{name}/explain")
def explain(name: str, body: ExplainRequest, request: Request,
            principal: Principal = Depends(require("predict"))) -> dict[str, Any]:
    """Integrated-gradients attributions shaped like the instance (an attribution map for images);
    their sum equals prediction - baseline_prediction up to `convergence_delta`."""
    svc = request.app.state.svc
    serving = svc.serving
    loaded = serving.resolve(principal.tenant_id, name)
    shape = tuple(loaded.signature["input_shape"])
    if (body.steps + 1) * int(np.prod(shape)) > svc.settings.max_predict_values:
        raise ApiError(413, f"{body.steps + 1} path points of {int(np.prod(shape))} values exceed the limit of "
                            f"{svc.settings.max_predict_values} values; lower steps")
    check_explanation_memory(loaded.model, shape, body.steps + 1)
    check_explanation_compute(loaded.flops_per_row, body.steps, svc.settings.max_predict_flops)
    x = _as_input(body.instance, "instance", shape)
    base = np.zeros(shape) if body.baseline is None else _as_input(body.baseline, "baseline", shape)
    prepared = serving.prepare_array(loaded, np.stack([x, base]))  # the saved preprocessing, as for predict
    target = _target_index(body.target, loaded.signature)
    try:  # on the compute pool in the tenant's turn, like every forward pass (compute_pool.py)
        result = serving.pool.run(loaded.tenant_id, _locked_gradients, loaded, prepared, target, body.steps)
    except ValueError as exc:
        raise ApiError(422, str(exc)) from None
    classes = loaded.signature.get("classes")
    label = classes[result["target"]] if classes and result["target"] < len(classes) else None
    return {
        "method": "integrated_gradients",
        "attributions": result["attributions"].tolist(),
        "target": result["target"],
        "target_label": label,
        "prediction": result["prediction"],
        "baseline_prediction": result["baseline_prediction"],
        "convergence_delta": result["convergence_delta"],
        "steps": body.steps,
        "model_version_id": loaded.version_id,
    }
