"""Reverse-mode autodiff: a graph of op nodes built while a GradientTape records.

Every differentiable op that sees a *tracked* input (a trainable Variable, a watched Tensor, or a
Tensor that is itself the output of a recorded op) while a tape records attaches a `Node` to its
output: the inputs (parents) and a function mapping the output's gradient to one gradient per
parent. `gradient()` walks the graph from the target in reverse topological order.

Gradient rules are written with the ops themselves, so when an outer tape records while an inner
tape differentiates, the backward pass is recorded too (second derivatives). A built-in layer is a
single node whose backward is its fused Rust kernel (layers/base.py): fast, but not twice
differentiable. Outside any tape nothing is recorded and ops cost only their numpy/Rust call.

This module is the recording state only (below every op); the tape and the reverse pass are in
backprop.py, which uses the ops.
"""

from __future__ import annotations

import threading
from typing import Callable, Iterable



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


class no_recording:
    """Context manager: nothing inside is recorded on any tape (shape probes, inference)."""

    def __enter__(self):
        self._saved = _state.recording
        _state.recording = 0
        return self

    def __exit__(self, *exc):
        _state.recording = self._saved
