"""Explanations by integrated gradients (Sundararajan et al. 2017), with the layers' own Rust backward passes.

attribution_i = (x_i - x'_i) * integral_0^1 d f_t(x' + a (x - x')) / d x_i da, computed with the trapezoid
rule over `steps` intervals: all steps + 1 path points go through one forward and one backward call.
Completeness: sum_i attribution_i = f_t(x) - f_t(x') up to the quadrature error (reported as
`convergence_delta`). The service's preprocessing is an element-wise affine map, so integrating in the
model's input space gives exactly the attributions of the raw features (the straight path maps to the
straight path and (x - x') * df/dx is unchanged).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .._arrays import as_float32


def _layers(model) -> list:
    chain = model.kernel_chain() if hasattr(model, "kernel_chain") else None
    if chain is None:
        raise ValueError("explanations need a Sequential model whose layers all have a backward pass; "
                         f"model {getattr(model, 'name', type(model).__name__)!r} is not one")
    return chain


def _inference_backward(layer, ctx, dy: np.ndarray) -> np.ndarray:
    """d input for one layer called in inference mode."""
    from ..keras.layers.normalization import BatchNormalization

    if isinstance(layer, BatchNormalization):  # inference BN is affine per channel with the moving statistics
        gamma = layer.gamma.value if layer.gamma is not None else 1.0
        return (dy * (gamma / np.sqrt(layer.moving_variance.value + layer.epsilon))).astype(np.float32)
    try:
        dx, _ = layer.backward(ctx, np.ascontiguousarray(dy, dtype=np.float32), True)
    except (NotImplementedError, TypeError) as exc:
        raise ValueError(f"layer {layer.name!r} ({type(layer).__name__}) cannot be explained: {exc}") from None
    if dx is None:
        raise ValueError(f"layer {layer.name!r} ({type(layer).__name__}) gives no input gradient "
                         "(integer inputs such as Embedding ids cannot be attributed)")
    return dx


def output_and_input_gradient(model, x: np.ndarray, target: int) -> tuple[np.ndarray, np.ndarray]:
    """(outputs [n, k], d outputs[:, target] / d x [n, ...]) in inference mode (no dropout, moving BN stats)."""
    layers = _layers(model)
    x = as_float32(x, "x")
    ctxs, h = [], x
    for layer in layers:
        h, ctx = layer.forward(h, False)
        ctxs.append(ctx)
    out = np.asarray(h, dtype=np.float32)
    if out.ndim != 2 or not 0 <= target < out.shape[1]:
        raise ValueError(f"target must be an output index in [0, {out.shape[-1]}) of outputs shaped {list(out.shape)}, got {target}")
    g = np.zeros_like(out)
    g[:, target] = 1.0
    for layer, ctx in zip(reversed(layers), reversed(ctxs)):
        g = _inference_backward(layer, ctx, g)
    return out, np.asarray(g, dtype=np.float32).reshape(x.shape)


def integrated_gradients(model, x: np.ndarray, baseline: np.ndarray, target: int | None = None,
                         steps: int = 64) -> dict[str, Any]:
    """Attributions of one input x [*input_shape] against baseline [same shape] for output `target`
    (default: the largest output at x). Returns attributions (float64, shaped like x), target,
    prediction f_t(x), baseline_prediction f_t(x') and convergence_delta."""
    if not isinstance(steps, int) or isinstance(steps, bool) or not 1 <= steps <= 4096:
        raise ValueError(f"steps must be an integer in [1, 4096], got {steps!r}")
    x = as_float32(x, "instance")
    baseline = as_float32(baseline, "baseline")
    if x.shape != baseline.shape:
        raise ValueError(f"baseline has shape {list(baseline.shape)}; expected the instance's shape {list(x.shape)}")
    if target is None:
        out, _ = output_and_input_gradient(model, x[None], 0)
        target = int(np.argmax(out[0]))
    alphas = np.linspace(0.0, 1.0, steps + 1, dtype=np.float64)
    diff = x.astype(np.float64) - baseline.astype(np.float64)
    path = (baseline.astype(np.float64)[None] + alphas.reshape((-1,) + (1,) * x.ndim) * diff[None]).astype(np.float32)
    out, grads = output_and_input_gradient(model, path, target)  # [steps+1, k], [steps+1, *shape]
    weights = np.full(steps + 1, 1.0 / steps)
    weights[0] = weights[-1] = 0.5 / steps  # trapezoid rule
    avg_grad = np.tensordot(weights, grads.astype(np.float64), axes=1)
    attributions = diff * avg_grad
    f_x, f_base = float(out[-1, target]), float(out[0, target])
    return {"attributions": attributions, "target": target, "prediction": f_x, "baseline_prediction": f_base,
            "convergence_delta": float(attributions.sum() - (f_x - f_base))}
