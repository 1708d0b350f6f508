"""Embedding: integer ids [...] -> vectors [..., output_dim] from a table [input_dim, output_dim]."""

from __future__ import annotations

import numpy as np

from ... import _core
from .. import initializers
from .base import Layer, check_positive_int


def _ids(x, name: str, vocab: int) -> np.ndarray:
    arr = np.asarray(x)
    if arr.dtype == np.int64 and arr.flags.c_contiguous:
        return arr
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"{name}: ids must be integers, got dtype {arr.dtype}")
    if arr.dtype.kind == "f":
        if arr.size and (not np.isfinite(arr).all() or (arr != np.round(arr)).any()):
            raise ValueError(f"{name}: ids must be whole numbers in [0, {vocab})")
    return np.ascontiguousarray(arr, dtype=np.int64)


class Embedding(Layer):
    """Looks up rows of `embeddings` [input_dim, output_dim] (initialized uniform(-0.05, 0.05))."""

    def __init__(self, input_dim, output_dim, embeddings_initializer="uniform", mask_zero=False,
                 input_length=None, **kwargs):
        if input_length is not None and "input_shape" not in kwargs and "batch_input_shape" not in kwargs:
            kwargs["input_shape"] = (check_positive_int(input_length, "Embedding input_length"),)
        super().__init__(**kwargs)
        self.input_dim = check_positive_int(input_dim, "Embedding input_dim")
        self.output_dim = check_positive_int(output_dim, "Embedding output_dim")
        if mask_zero:
            raise ValueError("Embedding: mask_zero=True is not supported")
        if embeddings_initializer == "uniform":
            embeddings_initializer = initializers.RandomUniform(-0.05, 0.05)
        self.embeddings_initializer = initializers.get(embeddings_initializer)

    def _prepare_input(self, x):
        return _ids(x, self.name, self.input_dim)

    def build(self, input_shape):
        self.embeddings = self.add_weight("embeddings", (self.input_dim, self.output_dim), self.embeddings_initializer)

    def forward(self, x, training):
        ids = _ids(x, self.name, self.input_dim)
        return _core.embedding_forward(ids, self.embeddings.value), ids

    def backward(self, ctx, dy, need_dx=True):
        return None, [_core.embedding_backward(ctx, np.ascontiguousarray(dy), self.input_dim)]

    def params_for(self, input_shape):
        return self.input_dim * self.output_dim

    def compute_output_shape(self, input_shape):
        return tuple(input_shape) + (self.output_dim,)

    def get_config(self):
        config = super().get_config()
        config.update(input_dim=self.input_dim, output_dim=self.output_dim,
                      embeddings_initializer=initializers.serialize(self.embeddings_initializer))
        return config
