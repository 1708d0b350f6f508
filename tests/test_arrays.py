"""The input check every public function shares (`_arrays.as_float32`), seen through public entry
points outside the Keras fit/evaluate/predict path."""

from __future__ import annotations

import numpy as np
import pytest

import aiaas_core
from aiaas_core import data, keras


def test_ragged_nested_lists_are_named_not_numpy_errors():
    with pytest.raises(ValueError, match=r"^x is not a rectangular array: its nested lists/tuples do not all have"):
        data.StandardScaler().fit([[1.0, 2.0], [3.0]])
    with pytest.raises(ValueError, match=r"^y_pred is not a rectangular array"):
        keras.losses.MeanSquaredError()([[0.0, 1.0]], [[0.0, 1.0], [2.0]])


def test_finite_checks_name_values_float32_cannot_hold():
    with pytest.raises(ValueError, match=r"y_pred holds 1 value\(s\) beyond float32's range"):
        keras.losses.MeanSquaredError()(np.zeros((2, 1)), np.array([[1e300], [0.0]]))
    model = keras.Sequential([keras.layers.Dense(1, input_shape=(2,))])
    with pytest.raises(ValueError, match=r"beyond float32's range"):
        model.set_weights([np.full((2, 1), -1e50), np.zeros(1)])
    # where finiteness is not asked for, numpy's cast rules stand: inf, with numpy's warning
    with pytest.warns(RuntimeWarning, match="overflow"):
        assert np.isinf(aiaas_core.keras.activations.relu(np.array([1e300]))).all()
