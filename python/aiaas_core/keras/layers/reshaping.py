"""Layers that move values without weights: UpSampling1D/2D, ZeroPadding1D/2D, Cropping1D/2D,
Permute, RepeatVector. Each is a forward/backward pair of numpy copies (no arithmetic worth a kernel), so a
Sequential holding them keeps the fused training step."""

from __future__ import annotations

import numpy as np

from .base import Layer, check_positive_int, pair
from .conv import _channels_last


def _check_4d(layer: Layer, shape) -> None:
    if len(shape) != 4:
        raise ValueError(f"{layer.name}: {type(layer).__name__} expects 4-D inputs (batch, height, width, channels), "
                         f"got shape {tuple(shape)}")


def _two_pairs(value, what: str) -> tuple[tuple[int, int], tuple[int, int]]:
    """Keras's forms: an int (all four sides), (h, w) (symmetric), or ((top, bottom), (left, right))."""
    def nonneg(v):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 0:
            raise ValueError(f"{what} must hold non-negative ints: an int, a pair (height, width) or "
                             f"((top, bottom), (left, right)); got {value!r}")
        return int(v)
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        v = nonneg(value)
        return (v, v), (v, v)
    if not isinstance(value, (tuple, list)) or len(value) != 2:
        raise ValueError(f"{what} must be an int, a pair (height, width) or ((top, bottom), (left, right)); "
                         f"got {value!r}")
    out = []
    for item in value:
        if isinstance(item, (tuple, list)):
            if len(item) != 2:
                raise ValueError(f"{what}: each side pair must have 2 entries, got {value!r}")
            out.append((nonneg(item[0]), nonneg(item[1])))
        else:
            v = nonneg(item)
            out.append((v, v))
    return out[0], out[1]


def _interp_matrix(n_in: int, n_out: int) -> np.ndarray:
    """[n_out, n_in] weights of linear interpolation with half-pixel centres (TensorFlow's
    resize 'bilinear', which Keras 3's UpSampling2D uses): source = (i + 0.5) * n_in / n_out - 0.5,
    clamped at the edges."""
    m = np.zeros((n_out, n_in), np.float64)
    src = (np.arange(n_out) + 0.5) * (n_in / n_out) - 0.5
    lo_f = np.floor(src)
    frac = src - lo_f
    lo = np.clip(lo_f.astype(np.int64), 0, n_in - 1)
    hi = np.clip(lo_f.astype(np.int64) + 1, 0, n_in - 1)
    rows = np.arange(n_out)
    np.add.at(m, (rows, lo), 1.0 - frac)
    np.add.at(m, (rows, hi), frac)
    return m.astype(np.float32)


class UpSampling2D(Layer):
    """Repeat rows and columns: (N, H, W, C) -> (N, H*sh, W*sw, C). interpolation 'nearest'
    (copies) or 'bilinear' (half-pixel centres, as Keras 3)."""

    def __init__(self, size=(2, 2), data_format=None, interpolation="nearest", **kwargs):
        super().__init__(**kwargs)
        _channels_last(data_format, "UpSampling2D")
        self.size = pair(size, "UpSampling2D size")
        if interpolation not in ("nearest", "bilinear"):
            raise ValueError(f"UpSampling2D interpolation must be 'nearest' or 'bilinear', got {interpolation!r}")
        self.interpolation = interpolation
        self._matrices: dict = {}

    def _check_input_rank(self, shape):
        _check_4d(self, shape)

    def _mats(self, h, w):
        key = (h, w)
        if key not in self._matrices:
            self._matrices[key] = (_interp_matrix(h, h * self.size[0]), _interp_matrix(w, w * self.size[1]))
        return self._matrices[key]

    def forward(self, x, training):
        _check_4d(self, x.shape)
        n, h, w, c = x.shape
        sh, sw = self.size
        if self.interpolation == "nearest":
            # One broadcast copy: y[n, i*sh + a, j*sw + b, c] = x[n, i, j, c].
            y = np.broadcast_to(x[:, :, None, :, None, :], (n, h, sh, w, sw, c)).reshape(n, h * sh, w * sw, c)
            return np.ascontiguousarray(y), x.shape
        mh, mw = self._mats(h, w)
        y = np.einsum("ih,nhwc->niwc", mh, x, optimize=True)
        y = np.einsum("jw,niwc->nijc", mw, y, optimize=True)
        return np.ascontiguousarray(y, np.float32), x.shape

    def backward(self, ctx, dy, need_dx=True):
        n, h, w, c = ctx
        sh, sw = self.size
        dy = np.asarray(dy, np.float32)
        if self.interpolation == "nearest":
            return dy.reshape(n, h, sh, w, sw, c).sum(axis=(2, 4)), []
        mh, mw = self._mats(h, w)
        g = np.einsum("jw,nijc->niwc", mw, dy, optimize=True)
        g = np.einsum("ih,niwc->nhwc", mh, g, optimize=True)
        return np.ascontiguousarray(g, np.float32), []

    def compute_output_shape(self, input_shape):
        n, h, w, c = input_shape
        return (n, None if h is None else h * self.size[0], None if w is None else w * self.size[1], c)

    def get_config(self):
        config = super().get_config()
        config.update(size=list(self.size), data_format="channels_last", interpolation=self.interpolation)
        return config


class ZeroPadding2D(Layer):
    """Zeros around the image: padding an int, (h, w) or ((top, bottom), (left, right))."""

    def __init__(self, padding=(1, 1), data_format=None, **kwargs):
        super().__init__(**kwargs)
        _channels_last(data_format, "ZeroPadding2D")
        self.padding = _two_pairs(padding, "ZeroPadding2D padding")

    def _check_input_rank(self, shape):
        _check_4d(self, shape)

    def forward(self, x, training):
        _check_4d(self, x.shape)
        (t, b), (l, r) = self.padding
        n, h, w, c = x.shape
        y = np.zeros((n, h + t + b, w + l + r, c), np.float32)
        y[:, t:t + h, l:l + w, :] = x
        return y, x.shape

    def backward(self, ctx, dy, need_dx=True):
        n, h, w, c = ctx
        (t, _), (l, _) = self.padding
        return np.ascontiguousarray(np.asarray(dy, np.float32)[:, t:t + h, l:l + w, :]), []

    def compute_output_shape(self, input_shape):
        n, h, w, c = input_shape
        (t, b), (l, r) = self.padding
        return (n, None if h is None else h + t + b, None if w is None else w + l + r, c)

    def get_config(self):
        config = super().get_config()
        config.update(padding=[list(p) for p in self.padding], data_format="channels_last")
        return config


class Cropping2D(Layer):
    """Remove rows and columns at the edges: cropping an int, (h, w) or ((top, bottom), (left, right))."""

    def __init__(self, cropping=((0, 0), (0, 0)), data_format=None, **kwargs):
        super().__init__(**kwargs)
        _channels_last(data_format, "Cropping2D")
        self.cropping = _two_pairs(cropping, "Cropping2D cropping")

    def _check_input_rank(self, shape):
        _check_4d(self, shape)
        (t, b), (l, r) = self.cropping
        for axis, size, cut in (("height", shape[1], t + b), ("width", shape[2], l + r)):
            if size is not None and cut >= size:
                raise ValueError(f"{self.name}: cropping {self.cropping} removes {cut} of the input's {size} "
                                 f"{axis} rows/columns; at least one must remain")

    def forward(self, x, training):
        self._check_input_rank(x.shape)
        (t, b), (l, r) = self.cropping
        n, h, w, c = x.shape
        return np.ascontiguousarray(x[:, t:h - b, l:w - r, :]), x.shape

    def backward(self, ctx, dy, need_dx=True):
        n, h, w, c = ctx
        (t, b), (l, r) = self.cropping
        dx = np.zeros(ctx, np.float32)
        dx[:, t:h - b, l:w - r, :] = dy
        return dx, []

    def compute_output_shape(self, input_shape):
        n, h, w, c = input_shape
        (t, b), (l, r) = self.cropping
        return (n, None if h is None else h - t - b, None if w is None else w - l - r, c)

    def get_config(self):
        config = super().get_config()
        config.update(cropping=[list(p) for p in self.cropping], data_format="channels_last")
        return config


class Permute(Layer):
    """Permute the non-batch axes: dims is a permutation of 1..rank-1 (Keras's 1-based numbering;
    the batch axis stays first)."""

    def __init__(self, dims, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(dims, (tuple, list)) or sorted(dims) != list(range(1, len(dims) + 1)) \
                or any(isinstance(d, bool) for d in dims):
            raise ValueError(f"Permute dims must be a permutation of 1..{len(dims) if isinstance(dims, (tuple, list)) else 'n'} "
                             f"(the batch axis 0 is not included), got {dims!r}")
        self.dims = tuple(int(d) for d in dims)
        inverse = [0] * len(self.dims)
        for i, d in enumerate(self.dims):
            inverse[d - 1] = i + 1
        self._inverse = (0,) + tuple(inverse)

    def _check_input_rank(self, shape):
        if len(shape) != len(self.dims) + 1:
            raise ValueError(f"{self.name}: Permute dims {self.dims} needs inputs of rank {len(self.dims) + 1} "
                             f"(batch included), got shape {tuple(shape)}")

    def forward(self, x, training):
        self._check_input_rank(x.shape)
        return np.ascontiguousarray(x.transpose((0,) + self.dims)), None

    def backward(self, ctx, dy, need_dx=True):
        return np.ascontiguousarray(np.asarray(dy, np.float32).transpose(self._inverse)), []

    def compute_output_shape(self, input_shape):
        return (input_shape[0],) + tuple(input_shape[d] for d in self.dims)

    def get_config(self):
        config = super().get_config()
        config["dims"] = list(self.dims)
        return config


class RepeatVector(Layer):
    """(N, F) -> (N, n, F): the input repeated n times along a new axis 1."""

    def __init__(self, n, **kwargs):
        super().__init__(**kwargs)
        self.n = check_positive_int(n, "RepeatVector n")

    def _check_input_rank(self, shape):
        if len(shape) != 2:
            raise ValueError(f"{self.name}: RepeatVector expects 2-D inputs (batch, features), got shape {tuple(shape)}")

    def forward(self, x, training):
        self._check_input_rank(x.shape)
        return np.ascontiguousarray(np.broadcast_to(x[:, None, :], (x.shape[0], self.n, x.shape[1]))), None

    def backward(self, ctx, dy, need_dx=True):
        return np.asarray(dy, np.float32).sum(axis=1), []

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.n, input_shape[1])

    def get_config(self):
        config = super().get_config()
        config["n"] = self.n
        return config


def _check_3d(layer: Layer, shape) -> None:
    if len(shape) != 3:
        raise ValueError(f"{layer.name}: {type(layer).__name__} expects 3-D inputs (batch, steps, channels), "
                         f"got shape {tuple(shape)}")


def _side_pair(value, what: str) -> tuple[int, int]:
    """An int (both ends) or (before, after), non-negative."""
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        value = (value, value)
    if (not isinstance(value, (tuple, list)) or len(value) != 2
            or any(isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 0 for v in value)):
        raise ValueError(f"{what} must be a non-negative int or a pair (before, after) of them, got {value!r}")
    return int(value[0]), int(value[1])


class UpSampling1D(Layer):
    """Repeat each step `size` times: (N, T, C) -> (N, T*size, C)."""

    def __init__(self, size=2, **kwargs):
        super().__init__(**kwargs)
        self.size = check_positive_int(size, "UpSampling1D size")

    def _check_input_rank(self, shape):
        _check_3d(self, shape)

    def forward(self, x, training):
        _check_3d(self, x.shape)
        return np.ascontiguousarray(np.repeat(x, self.size, axis=1)), x.shape

    def backward(self, ctx, dy, need_dx=True):
        n, t, c = ctx
        return np.asarray(dy, np.float32).reshape(n, t, self.size, c).sum(axis=2), []

    def compute_output_shape(self, input_shape):
        n, t, c = input_shape
        return (n, None if t is None else t * self.size, c)

    def get_config(self):
        config = super().get_config()
        config["size"] = self.size
        return config


class ZeroPadding1D(Layer):
    """Zeros before and after the steps: padding an int or (before, after)."""

    def __init__(self, padding=1, data_format=None, **kwargs):
        super().__init__(**kwargs)
        _channels_last(data_format, "ZeroPadding1D")
        self.padding = _side_pair(padding, "ZeroPadding1D padding")

    def _check_input_rank(self, shape):
        _check_3d(self, shape)

    def forward(self, x, training):
        _check_3d(self, x.shape)
        a, b = self.padding
        y = np.zeros((x.shape[0], x.shape[1] + a + b, x.shape[2]), np.float32)
        y[:, a:a + x.shape[1]] = x
        return y, x.shape[1]

    def backward(self, ctx, dy, need_dx=True):
        a = self.padding[0]
        return np.ascontiguousarray(np.asarray(dy, np.float32)[:, a:a + ctx]), []

    def compute_output_shape(self, input_shape):
        n, t, c = input_shape
        return (n, None if t is None else t + sum(self.padding), c)

    def get_config(self):
        config = super().get_config()
        config.update(padding=list(self.padding), data_format="channels_last")
        return config


class Cropping1D(Layer):
    """Remove steps at both ends: cropping an int or (before, after); Keras's default (1, 1)."""

    def __init__(self, cropping=(1, 1), **kwargs):
        super().__init__(**kwargs)
        self.cropping = _side_pair(cropping, "Cropping1D cropping")

    def _check_input_rank(self, shape):
        _check_3d(self, shape)
        if shape[1] is not None and sum(self.cropping) >= shape[1]:
            raise ValueError(f"{self.name}: cropping {self.cropping} removes {sum(self.cropping)} of the input's "
                             f"{shape[1]} steps; at least one must remain")

    def forward(self, x, training):
        self._check_input_rank(x.shape)
        a, b = self.cropping
        return np.ascontiguousarray(x[:, a:x.shape[1] - b]), x.shape

    def backward(self, ctx, dy, need_dx=True):
        a, b = self.cropping
        dx = np.zeros(ctx, np.float32)
        dx[:, a:ctx[1] - b] = dy
        return dx, []

    def compute_output_shape(self, input_shape):
        n, t, c = input_shape
        return (n, None if t is None else t - sum(self.cropping), c)

    def get_config(self):
        config = super().get_config()
        config["cropping"] = list(self.cropping)
        return config
