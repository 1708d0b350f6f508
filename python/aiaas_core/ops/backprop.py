"""The reverse pass: `GradientTape` and `gradients()` over the graph autodiff.py records.

`gradient(target, sources)` orders every recorded tensor reachable from the target parents-first,
then walks that order backwards, calling each node's gradient rule and summing what reaches each
input (broadcast axes summed away). The rules are ops, so the pass is itself recorded when an outer
tape records (second derivatives)."""

from __future__ import annotations

import warnings

import numpy as np

from . import array_ops, math_ops
from .autodiff import _reachable, _state
from .tensor import as_tensor_value, ones_like_value, wrap, zeros_like_value


class GradientTape:
    """`tf.GradientTape`: records the ops run inside `with` for `gradient(target, sources)`.

    Trainable variables are watched automatically (watch_accessed_variables=True); other tensors
    need `tape.watch(x)`. A non-persistent tape answers one `gradient` call; `persistent=True`
    allows many. Nested tapes give higher derivatives: call the inner tape's `gradient` inside the
    outer tape's `with`."""

    def __init__(self, persistent: bool = False, watch_accessed_variables: bool = True):
        self.persistent = bool(persistent)
        self.watch_accessed_variables = bool(watch_accessed_variables)
        self._recording = False
        self._used = False
        self._watched: list = []
        self._layers: list = []  # built-in layers recorded while this tape was active

    def __enter__(self) -> "GradientTape":
        if _state.tapes is None:
            _state.tapes = []
        _state.tapes.append(self)
        self._start()
        return self

    def _start(self) -> None:
        self._recording = True
        _state.recording += 1
        _state.auto_watching += self.watch_accessed_variables

    def _pause(self) -> None:
        self._recording = False
        _state.recording -= 1
        _state.auto_watching -= self.watch_accessed_variables

    def __exit__(self, *exc) -> None:
        if self._recording:
            self._pause()
        if self in (_state.tapes or []):
            _state.tapes.remove(self)

    def watch(self, x) -> None:
        """Track `x` (a Tensor or Variable, or a list/tuple/dict of them) for gradients."""
        for t in _flatten(x):
            if not hasattr(t, "_node"):
                raise TypeError(
                    f"GradientTape.watch takes tensors or variables (tf.constant(...), tf.Variable(...)), got "
                    f"{type(t).__name__}: a plain numpy array cannot be tracked; wrap it with tf.constant first"
                )
            if getattr(t, "dtype", None) is not None and np.dtype(t.dtype).kind not in "fc":
                warnings.warn(f"GradientTape.watch: only floating tensors have gradients, got {np.dtype(t.dtype)}; "
                              "its gradient will be None (cast it with tf.cast(x, tf.float32) first)", stacklevel=2)
                continue
            t._watched = True
            self._watched.append(t)

    def watched_variables(self) -> list:
        return [t for t in self._watched if type(t).__name__ == "Variable"]

    def reset(self) -> None:
        """Forget what was recorded so far (the graph lives on the tensors: drop them too)."""
        for t in self._watched:
            t._watched = False
        self._watched.clear()

    def stop_recording(self):
        """Context manager: ops inside it are not recorded on this tape."""
        tape = self

        class _Pause:
            def __enter__(self_inner):
                self_inner.resume = tape._recording
                if tape._recording:
                    tape._pause()

            def __exit__(self_inner, *exc):
                if self_inner.resume:
                    tape._start()

        return _Pause()

    def gradient(self, target, sources, output_gradients=None, unconnected_gradients="none"):
        """d target / d sources, with the nesting of `sources` (a tensor, variable, list, tuple or
        dict). `target` may be a list (gradients are summed). A source `target` does not reach gets
        None, or zeros with unconnected_gradients='zero'."""
        if self._used and not self.persistent:
            raise RuntimeError(
                "A non-persistent GradientTape can only be used to compute one set of gradients "
                "(or jacobians); use GradientTape(persistent=True) for several"
            )
        unconnected_gradients = getattr(unconnected_gradients, "value", unconnected_gradients)  # tf.UnconnectedGradients
        if unconnected_gradients not in ("none", "zero"):
            raise ValueError(f"unconnected_gradients must be 'none' or 'zero', got {unconnected_gradients!r}")
        self._used = True
        targets = _flatten(target)
        seeds = _flatten(output_gradients) if output_gradients is not None else [None] * len(targets)
        if len(seeds) != len(targets):
            raise ValueError(f"output_gradients has {len(seeds)} entries for {len(targets)} targets")
        flat_sources = _flatten(sources)
        for s in flat_sources:
            if not hasattr(s, "_node"):
                raise TypeError(
                    f"gradient sources must be tensors or variables, got {type(s).__name__}"
                    + (" (None: a layer's weights exist only once it is built)" if s is None else "")
                )
        grads = gradients(targets, flat_sources, seeds)
        if not self.watch_accessed_variables:
            # a variable this tape neither watched nor was told to watch has no gradient from it
            # (another, auto-watching tape may have recorded the ops)
            watched = {id(t) for t in self._watched}
            grads = [None if hasattr(s, "_auto_watch") and id(s) not in watched else g
                     for g, s in zip(grads, flat_sources)]
        if unconnected_gradients == "zero":
            grads = [zeros_like_value(s) if g is None else g for g, s in zip(grads, flat_sources)]
        return _unflatten(sources, grads)

    def batch_jacobian(self, target, source, unconnected_gradients="none", parallel_iterations=None,
                       experimental_use_pfor=True):
        """d target[b, ...] / d source[b, ...] for each example b: shape [B, *target[1:], *source[1:]]
        (TF's batch_jacobian: examples are assumed independent; the cross-example blocks are dropped)."""
        tshape, sshape = np.shape(as_tensor_value(target)), np.shape(as_tensor_value(source))
        if not tshape or not sshape or tshape[0] != sshape[0]:
            raise ValueError(f"batch_jacobian: target {tshape} and source {sshape} need the same first (batch) axis")
        full = self.jacobian(target, source, unconnected_gradients)
        if full is None:
            return None
        b = tshape[0]
        t_rest, s_rest = int(np.prod(tshape[1:])), int(np.prod(sshape[1:]))
        flat = array_ops.reshape(full, (b, t_rest, b, s_rest))
        idx = np.arange(b)
        picked = array_ops.getitem(flat, (idx, slice(None), idx))  # [B, T, S]: the diagonal blocks
        return array_ops.reshape(picked, (b,) + tuple(tshape[1:]) + tuple(sshape[1:]))

    def jacobian(self, target, sources, unconnected_gradients="none", parallel_iterations=None,
                 experimental_use_pfor=True):
        """d target[i...] / d source for every element of `target`: shape target.shape + source.shape
        per source. One reverse pass per element of `target`, each seeded with a one-hot gradient
        (works after the `with` block too: nothing new has to be recorded)."""
        if self._used and not self.persistent:
            raise RuntimeError("A non-persistent GradientTape can only be used to compute one set of gradients "
                               "(or jacobians); use GradientTape(persistent=True) for several")
        unconnected_gradients = getattr(unconnected_gradients, "value", unconnected_gradients)  # tf.UnconnectedGradients
        if unconnected_gradients not in ("none", "zero"):
            raise ValueError(f"unconnected_gradients must be 'none' or 'zero', got {unconnected_gradients!r}")
        tvalue = as_tensor_value(target)
        tshape = tuple(tvalue.shape)
        dtype = tvalue.dtype if tvalue.dtype.kind == "f" else np.float32
        flat_sources = _flatten(sources)
        n = int(np.prod(tshape))
        persistent, self.persistent = self.persistent, True
        try:
            rows = []
            for i in range(n):
                seed = np.zeros(n, dtype)
                seed[i] = 1
                rows.append(self.gradient(target, flat_sources, output_gradients=wrap(seed.reshape(tshape))))
        finally:
            self.persistent, self._used = persistent, True
        out = []
        for k, s in enumerate(flat_sources):
            full_shape = tshape + tuple(np.shape(as_tensor_value(s)))
            if all(r[k] is None for r in rows):  # target does not depend on s (or target is empty)
                empty_or_zero = n == 0 or unconnected_gradients == "zero"
                out.append(zeros_like_value(np.zeros(full_shape)) if empty_or_zero else None)
                continue
            parts = [zeros_like_value(s) if r[k] is None else r[k] for r in rows]
            out.append(array_ops.reshape(array_ops.stack(parts), full_shape))
        return _unflatten(sources, out)


def _flatten(x) -> list:
    if isinstance(x, (list, tuple)):
        out = []
        for item in x:
            out.extend(_flatten(item))
        return out
    if isinstance(x, dict):
        out = []
        for key in x:
            out.extend(_flatten(x[key]))
        return out
    return [x]


def _unflatten(structure, flat: list):
    it = iter(flat)

    def build(s):
        if isinstance(s, (list, tuple)):
            items = [build(v) for v in s]
            return type(s)(items) if isinstance(s, tuple) and type(s) is tuple else items
        if isinstance(s, dict):
            return {k: build(v) for k, v in s.items()}
        return next(it)

    return build(structure)


def _topological(targets: list) -> list:
    """Every recorded tensor reachable from `targets`, parents before children."""
    order, seen = [], set()
    stack = [(t, False) for t in targets if getattr(t, "_node", None) is not None]
    while stack:
        t, done = stack.pop()
        if done:
            order.append(t)
            continue
        if id(t) in seen:
            continue
        seen.add(id(t))
        stack.append((t, True))
        for p in t._node.parents:
            if getattr(p, "_node", None) is not None and id(p) not in seen:
                stack.append((p, False))
    return order


def gradients(targets: list, sources: list, seeds: list) -> list:
    """Reverse pass: the gradient of sum(targets) with respect to each source (None if unreached)."""

    grads: dict[int, object] = {}
    keep: dict[int, object] = {}  # id -> object, so ids stay valid while we walk

    def accumulate(obj, g):
        key = id(obj)
        prev = grads.get(key)
        grads[key] = g if prev is None else math_ops.add(prev, g)
        keep[key] = obj

    for t, seed in zip(targets, seeds):
        if getattr(t, "_node", None) is None and not _reachable(t):
            continue
        accumulate(t, ones_like_value(t) if seed is None else seed)
    source_ids = {id(s) for s in sources}
    results: dict[int, object] = {}
    _state.unrequested = []
    for t in reversed(_topological(targets)):
        key = id(t)
        g = grads.get(key)
        if key in source_ids:
            results[key] = g
        if g is None:
            continue
        if key not in source_ids:
            del grads[key]
        node = t._node
        parent_grads = node.backward(g)
        for p, pg in zip(node.parents, parent_grads):
            if pg is not None and _reachable(p):
                if getattr(p, "_node", None) is None and id(p) not in source_ids and id(p) not in grads:
                    _state.unrequested.append(p)  # a watched leaf the caller did not ask about
                accumulate(p, _unbroadcast(pg, np.shape(p)))
    out = []
    for s in sources:
        g = results.get(id(s), grads.get(id(s)))
        out.append(g)
    return out


def _unbroadcast(g, shape: tuple):
    """Sum `g` over the axes numpy broadcasting added or stretched to reach it from `shape`."""
    gshape = np.shape(g)
    if gshape == tuple(shape):
        return g

    lead = len(gshape) - len(shape)
    axes = tuple(range(lead)) + tuple(
        lead + i for i, d in enumerate(shape) if d == 1 and gshape[lead + i] != 1
    )
    if axes:
        g = math_ops.sum(g, axis=axes, keepdims=False)
    return array_ops.reshape(g, shape)


