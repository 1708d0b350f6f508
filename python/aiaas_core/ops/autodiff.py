"""Reverse-mode autodiff: a graph of op nodes built while a GradientTape records.

Every differentiable op that sees a *tracked* input (a trainable Variable, a watched Tensor, or a
Tensor that is itself the output of a recorded op) while a tape records attaches a `Node` to its
output: the inputs (parents) and a function mapping the output's gradient to one gradient per
parent. `gradient()` walks the graph from the target in reverse topological order.

Gradient rules are written with the ops themselves, so when an outer tape records while an inner
tape differentiates, the backward pass is recorded too (second derivatives). A built-in layer is a
single node whose backward is its fused Rust kernel (layers/base.py): fast, but not twice
differentiable. Outside any tape nothing is recorded and ops cost only their numpy/Rust call.
"""

from __future__ import annotations

import threading
import warnings
from typing import Callable, Iterable

import numpy as np


class _State(threading.local):
    recording: int = 0          # active, non-paused tapes on this thread
    auto_watching: int = 0      # of those, the ones that watch trainable variables on their own
    tapes: list | None = None   # the active tapes, innermost last
    unrequested: list = []      # leaves the last gradient() reached but was not asked for


def unrequested_leaves() -> list:
    """The variables / watched tensors the last `gradient` call reached but was not asked about
    (e.g. the weights of a layer a model calls without tracking it)."""
    return list(_state.unrequested)


_state = _State()


class Node:
    """How a recorded output was made: `backward(g)` gives one gradient (or None) per parent.

    `layer`/`ctx` are set when a built-in layer made the output (lets a cross-entropy loss fuse
    with the layer's softmax/sigmoid and differentiate from its logits)."""

    __slots__ = ("parents", "backward", "op", "layer", "ctx")

    def __init__(self, parents: tuple, backward: Callable, op: str, layer=None, ctx=None):
        self.parents = parents
        self.backward = backward
        self.op = op
        self.layer = layer
        self.ctx = ctx


def recording() -> bool:
    return _state.recording > 0


def is_tracked(x) -> bool:
    """Whether an op on `x` is worth recording now: a recorded op's output, a watched tensor, or a
    trainable variable while a tape with watch_accessed_variables=True records."""
    node = getattr(x, "_node", None)
    if node is not None:
        return True
    if getattr(x, "_watched", False):
        return True
    return _state.auto_watching > 0 and bool(getattr(x, "_auto_watch", False))


def _reachable(x) -> bool:
    """Whether the reverse pass should carry a gradient to `x` (the graph is already built: no
    question of which tape is recording now)."""
    return getattr(x, "_node", None) is not None or bool(getattr(x, "_watched", False)) \
        or bool(getattr(x, "_auto_watch", False))


def any_tracked(inputs: Iterable) -> bool:
    if not _state.recording:
        return False
    for x in inputs:
        if is_tracked(x):
            return True
    return False


def attach(out, parents: tuple, backward: Callable, op: str, layer=None, ctx=None):
    """Record `out` (a Tensor) as made from `parents` by `op`; `backward(g)` -> grads per parent."""
    out._node = Node(parents, backward, op, layer, ctx)
    if layer is not None and _state.tapes:
        for tape in _state.tapes:
            if tape._recording:
                tape._layers.append(layer)  # lets a training step name a layer the loss does not reach
    return out


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
            from .tensor import zeros_like_value
            grads = [zeros_like_value(s) if g is None else g for g, s in zip(grads, flat_sources)]
        return _unflatten(sources, grads)

    def jacobian(self, target, sources, unconnected_gradients="none"):
        """d target[i...] / d source for every element of `target`: shape target.shape + source.shape
        per source. One reverse pass per element of `target`, each seeded with a one-hot gradient
        (works after the `with` block too: nothing new has to be recorded)."""
        from . import array_ops
        from .tensor import as_tensor_value, wrap
        if self._used and not self.persistent:
            raise RuntimeError("A non-persistent GradientTape can only be used to compute one set of gradients "
                               "(or jacobians); use GradientTape(persistent=True) for several")
        if unconnected_gradients not in ("none", "zero"):
            raise ValueError(f"unconnected_gradients must be 'none' or 'zero', got {unconnected_gradients!r}")
        tshape = tuple(np.shape(as_tensor_value(target)))
        tvalue = as_tensor_value(target)
        dtype = tvalue.dtype if tvalue.dtype.kind == "f" else np.float32
        flat_sources = _flatten(sources)
        n = int(np.prod(tshape))
        was_used, persistent = self._used, self.persistent
        self.persistent = True
        try:
            rows = []
            for i in range(n):
                seed = np.zeros(n, dtype)
                seed[i] = 1
                rows.append(self.gradient(target, flat_sources, output_gradients=wrap(seed.reshape(tshape)),
                                          unconnected_gradients="zero"))
        finally:
            self.persistent, self._used = persistent, True
        del was_used
        out = []
        for k, s in enumerate(flat_sources):
            sshape = tuple(np.shape(as_tensor_value(s)))
            if rows and all(r[k] is None for r in rows):
                out.append(None)
                continue
            if n == 0:
                from .tensor import zeros_like_value
                out.append(array_ops.reshape(zeros_like_value(np.zeros(tshape + sshape)), tshape + sshape))
                continue
            out.append(array_ops.reshape(array_ops.stack([r[k] for r in rows]), tshape + sshape))
        if unconnected_gradients == "zero":
            from .tensor import zeros_like_value
            out = [zeros_like_value(np.zeros(tshape + np.shape(as_tensor_value(s)))) if o is None else o
                   for o, s in zip(out, flat_sources)]
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
    from .math_ops import add
    from .tensor import ones_like_value

    grads: dict[int, object] = {}
    keep: dict[int, object] = {}  # id -> object, so ids stay valid while we walk

    def accumulate(obj, g):
        key = id(obj)
        prev = grads.get(key)
        grads[key] = g if prev is None else add(prev, g)
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
    from .math_ops import sum as reduce_sum
    from .array_ops import reshape

    lead = len(gshape) - len(shape)
    axes = tuple(range(lead)) + tuple(
        lead + i for i, d in enumerate(shape) if d == 1 and gshape[lead + i] != 1
    )
    if axes:
        g = reduce_sum(g, axis=axes, keepdims=False)
    return reshape(g, shape)


class no_recording:
    """Context manager: nothing inside is recorded on any tape (shape probes, inference)."""

    def __enter__(self):
        self._saved = _state.recording
        _state.recording = 0
        return self

    def __exit__(self, *exc):
        _state.recording = self._saved
