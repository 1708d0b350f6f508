"""Validation of fit/evaluate/predict arguments, done once per call (never per batch)."""

from __future__ import annotations

import math

import numpy as np

from ..._arrays import as_float32, as_numeric


def check_int(value, what: str, low: int = 0) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
        raise ValueError(f"{what} must be an int >= {low}, got {value!r}")
    return int(value)


def verbosity(verbose) -> int:
    if verbose == "auto":
        return 1
    if verbose not in (0, 1, 2) or isinstance(verbose, bool):
        raise ValueError(f"verbose must be 'auto', 0, 1 or 2, got {verbose!r}")
    return int(verbose)


def as_array(value, what: str) -> np.ndarray:
    """`value` as an array, refusing first what fit/evaluate/predict do not take (a generator or a
    dict would become an object array); ragged lists are named by `as_numeric`."""
    if isinstance(value, dict) or (hasattr(value, "__next__") and not hasattr(value, "__array__")):
        kind = "a dict (named inputs)" if isinstance(value, dict) else "a generator or iterator"
        raise TypeError(
            f"{what} is {kind}, but this model takes arrays here (numpy arrays or nested lists) whose first "
            "axis counts samples; a dict needs a functional model with named inputs or a subclassed model that "
            "reads it, and a generator or dataset is given as x alone (yielding (x, y) batches)"
        )
    return as_numeric(value, what)


def as_inputs(model, x, what: str = "x") -> np.ndarray:
    """x as C-contiguous float32 (integer ids stay integers for a model whose input is an integer
    keras.Input) with a batch axis, finite; its sample shape checked where the model fixed it."""
    if x is None:
        raise ValueError(f"{what} is required (an array whose first axis counts samples)")
    raw = as_array(x, what)
    int_input = getattr(model, "_int_input", False) and raw.dtype.kind in "iub"
    arr = np.ascontiguousarray(raw) if int_input else as_float32(raw, what, finite=True)
    want = model._build_input_shape
    if want is not None and (not isinstance(want, tuple) or not all(d is None or isinstance(d, int) for d in want)):
        want = None  # several inputs: each is checked by the model itself
    if want is not None and not _matches(arr.shape[1:], tuple(want[1:])):
        # as Keras 3: a missing (or extra) trailing axis of size 1 is added (or dropped)
        if arr.ndim == len(want) - 1 and want[-1] == 1 and _matches(arr.shape[1:] + (1,), tuple(want[1:])):
            arr = arr[..., None]
        elif arr.ndim == len(want) + 1 and arr.shape[-1] == 1 and _matches(arr.shape[1:-1], tuple(want[1:])):
            arr = arr[..., 0]
    # One sample without its batch axis (Keras refuses it too): say how to make it a batch of one.
    one_sample = (f" (one sample: pass {what}[None], shape {(1,) + arr.shape})"
                  if want is not None and _matches(arr.shape, tuple(want[1:])) else "")
    if arr.ndim < 2 and not (arr.ndim == 1 and _takes_vectors(model, want)):
        hint = f"; the model expects {tuple(want)}" if want is not None else ""
        raise ValueError(
            f"{what} must have a batch axis first (shape (samples, ...)), got shape {arr.shape}{hint}{one_sample}"
        )
    if len(arr) == 0:
        raise ValueError(f"{what} is empty (0 samples)")
    if want is not None and not _matches(arr.shape[1:], tuple(want[1:])):
        raise ValueError(f"model {model.name!r} expects {what} of shape {tuple(want)}, got {arr.shape}{one_sample}")
    return arr


def _takes_vectors(model, want) -> bool:
    """A subclassed model built on (or not yet called on) one value per sample: x may be a vector."""
    return not model._needs_batch_axis and (want is None or tuple(want) == (None,)) and \
        not model.__dict__.get("_input_struct")


def _matches(shape: tuple, want: tuple) -> bool:
    """`shape` fits `want`, where None in `want` (a keras.Input dimension of any size) fits anything."""
    return len(shape) == len(want) and all(w is None or w == d for d, w in zip(shape, want))


def as_targets(model, y, n: int, output_shape: tuple, what: str = "y") -> np.ndarray:
    """Targets as float32 shaped like the model's output (class ids for the sparse loss), checked."""
    if y is None:
        raise ValueError(f"{what} is required for training and evaluation")
    raw = as_array(y, what)
    if raw.dtype.kind not in "biuf":
        raise TypeError(f"{what} must be numeric, got dtype {raw.dtype}")
    if raw.ndim == 0 or len(raw) != n:
        got = "a scalar" if raw.ndim == 0 else f"{len(raw)} samples"
        raise ValueError(f"x and {what} must have the same number of samples: x has {n}, {what} has {got}")
    arr = as_float32(raw, what, finite=True)
    kind = model.loss.kind
    out = tuple(output_shape[1:])
    if None in out:  # a dimension of any size (variable-length sequences): the targets fix it
        sparse = kind == "sparse_categorical_crossentropy"
        want = out[:-1] if sparse else out
        got = arr.shape[1:-1] if sparse and arr.ndim == len(out) + 1 and arr.shape[-1] == 1 else arr.shape[1:]
        if not _matches(tuple(got), want):
            raise ValueError(f"{what} has shape {raw.shape} but the model outputs {(None,) + out} per batch; "
                             f"expected {what} of shape {(None,) + want}")
        return arr.reshape((n,) + tuple(got))
    if kind == "sparse_categorical_crossentropy":
        classes = out[-1]
        ids_shape = (n,) + out[:-1]
        if arr.size != math.prod(ids_shape):
            raise ValueError(
                f"sparse_categorical_crossentropy takes one class id per output row: {what} has shape {raw.shape}, "
                f"expected {ids_shape} (model output {(None,) + out}); one-hot labels need categorical_crossentropy"
            )
        if raw.dtype.kind == "f" and (raw != np.round(raw)).any():
            raise ValueError(f"{what} must hold integer class ids for sparse_categorical_crossentropy, found non-integers")
        lo, hi = float(arr.min()), float(arr.max())
        if lo < 0 or hi >= classes:
            raise ValueError(
                f"{what} class ids must be in [0, {classes}) for a model with {classes} outputs, got range [{lo:g}, {hi:g}]"
            )
        return arr.reshape(ids_shape)
    want = (n,) + out
    if arr.shape != want:
        if arr.size != math.prod(want):
            hint = ""
            if kind == "categorical_crossentropy" and arr.size * out[-1] == math.prod(want):
                hint = ("; these look like class ids: use loss='sparse_categorical_crossentropy', "
                        "or one-hot encode them (keras.utils.to_categorical)")
            raise ValueError(
                f"{what} has shape {raw.shape} but the model outputs {(None,) + out} per batch; "
                f"expected {what} of shape {want}{hint}"
            )
        arr = arr.reshape(want)
    if kind == "categorical_crossentropy" and out[-1] == 1:
        raise ValueError("categorical_crossentropy needs at least 2 output classes; use binary_crossentropy")
    return arr
