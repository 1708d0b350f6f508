"""Applying a dataset's preprocessing: fitted at training time, then replayed unchanged at prediction time.

Features of any per-sample shape are flattened to [n, f] for the aiaas_core.data Preprocessor and
reshaped back, so images and sequences share the path of tabular data.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .errors import ApiError


def fit_features(x: np.ndarray, y: np.ndarray | None, prep: dict[str, Any], columns: list[str] | None):
    """(x, y, preprocessor_config, report): missing values handled and scaling fitted on x."""
    from aiaas_core.data import Preprocessor

    shape = x.shape[1:]
    flat = x.reshape(x.shape[0], -1)
    scaling = prep.get("scaling", "none")
    scaler = None if scaling in ("none", "global_minmax") else scaling
    pre = Preprocessor(missing=prep.get("missing", "drop"), scaler=scaler,
                       columns=columns if columns and len(columns) == flat.shape[1] else None)
    flat, y, report = pre.fit_clean(flat, y)
    if scaling == "global_minmax":
        # One range for every feature (images: the seeds' x / 255). A per-pixel range would blow up
        # pixels that happen to be constant in the training images.
        pre.scaler = _global_minmax(flat)
        flat = pre.scaler.transform(flat)
    return flat.reshape((flat.shape[0], *shape)).astype(np.float32), y, pre.get_config(), report


def _global_minmax(flat: np.ndarray):
    from aiaas_core.data import MinMaxScaler

    lo, hi = float(flat.min()), float(flat.max())
    f = flat.shape[1]
    return MinMaxScaler.from_config({"feature_range": [0.0, 1.0], "data_min": [lo] * f, "data_max": [hi] * f})


# id(config) -> (config, fitted preprocessor): a deployed model's signature dict lives as long as the model
# is loaded, so its preprocessor is rebuilt once, not on every prediction. The entry holds the config
# itself, so the id cannot be reused by another dict while cached.
_FITTED: dict[int, tuple[dict[str, Any], Any]] = {}
_FITTED_MAX = 256


def _fitted(config: dict[str, Any]):
    from aiaas_core.data import preprocessor_from_config

    hit = _FITTED.get(id(config))
    if hit is not None and hit[0] is config:
        return hit[1]
    pre = preprocessor_from_config(config)
    if len(_FITTED) >= _FITTED_MAX:
        _FITTED.clear()
    _FITTED[id(config)] = (config, pre)
    return pre


def apply_features(x: np.ndarray, config: dict[str, Any]) -> np.ndarray:
    """Replay a fitted preprocessor on x [n, *input_shape]; ValueError names what was wrong."""
    pre = _fitted(config)
    shape = x.shape[1:]
    with np.errstate(over="ignore", invalid="ignore"):  # overflow is checked below, by feature
        flat = pre.transform(x.reshape(x.shape[0], -1)).astype(np.float32)
    _check_finite(flat, x.reshape(x.shape[0], -1), getattr(pre, "columns", None))
    return flat.reshape((flat.shape[0], *shape))


def _check_finite(flat: np.ndarray, raw: np.ndarray, columns: list[str] | None) -> None:
    """ValueError naming the first feature a finite input left float32's range in (3.4e38 scaled by 1 / a
    small std): infinity or NaN there would reach the model and fail it, or answer null."""
    bad = ~np.isfinite(flat)
    if not bad.any():
        return
    row, col = (int(i) for i in np.argwhere(bad)[0])
    name = columns[col] if columns is not None and col < len(columns) else str(col)
    if np.isnan(raw[row, col]):
        raise ValueError(f"feature {name!r} (column {col}) of instance {row} is missing (null) and the model's "
                         "preprocessing has no value to fill it with; send a number")
    raise ValueError(f"feature {name!r} (column {col}) of instance {row} is {float(raw[row, col]):.4g}, which the "
                     f"scaling fitted on the training data takes beyond float32's range (|x| > 3.4e38); send "
                     f"values of the magnitude the model was trained on")


def encode_targets(y: np.ndarray, task: str, classes: list[str] | None, one_hot: bool):
    """Labels as the loss wants them: class ids (or one-hot rows) for classification, float32 [n, k] otherwise."""
    from aiaas_core.data import one_hot as to_one_hot

    if task == "classification":
        index = {c: i for i, c in enumerate(classes or [])}
        try:
            ids = np.asarray([index[str(v)] for v in y.tolist()], dtype=np.int64)
        except KeyError as exc:
            raise ApiError(422, f"label {exc.args[0]!r} is not one of the model's classes {classes}") from None
        return to_one_hot(ids, len(index)) if one_hot else ids
    arr = np.asarray(y, dtype=np.float32)
    return arr.reshape(arr.shape[0], -1)
