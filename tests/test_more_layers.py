"""The layers real Keras programs need beyond the first set (issue 13, first items): values against
float64 numpy references written here as direct loops, gradients against central finite
differences, symbolic (functional) and Sequential use, config save/load, and two MNIST models in the
style of keras-io's convolutional autoencoder and VAE decoder.

Kernel layers (forward/backward pairs, float32) are checked with float32 tolerances against finite
differences of the float64 reference; op-based layers (merges, LayerNormalization,
UnitNormalization) run their ops in float64 under a GradientTape and are checked tightly."""

import math
import time

import numpy as np
import pytest

from aiaas_core import keras, ops
from aiaas_core.keras import layers
from aiaas_core.keras.engine.saving import model_from_config
from aiaas_core.ops import GradientTape, math_ops
from aiaas_core.ops.tensor import wrap

RNG = np.random.default_rng(1234)


# ---- helpers -----------------------------------------------------------------------------------
def _numgrad(f, v: np.ndarray, h: float) -> np.ndarray:
    out = np.zeros_like(v)
    for idx in np.ndindex(v.shape):
        keep = v[idx]
        v[idx] = keep + h
        lp = f()
        v[idx] = keep - h
        lm = f()
        v[idx] = keep
        out[idx] = (lp - lm) / (2 * h)
    return out


def check_kernel_layer(layer, x, ref, *, fwd_tol=1e-4, grad_tol=2e-3, h=1e-5):
    """A forward/backward layer (float32) against `ref(x, *weights)` in float64: forward values, and
    the gradients of L = sum(y * r) w.r.t. x and every weight against finite differences of ref."""
    x32 = np.ascontiguousarray(x, np.float32)
    if not layer.built:
        layer(x32)
    y, ctx = layer.forward(x32, True)
    x64 = x32.astype(np.float64)
    weights = [w.astype(np.float64) for w in layer.get_weights()]
    want = ref(x64, *weights)
    assert y.shape == want.shape, (y.shape, want.shape)
    assert y.dtype == np.float32 and y.flags.c_contiguous
    np.testing.assert_allclose(y, want, rtol=fwd_tol, atol=fwd_tol)
    r = RNG.standard_normal(y.shape)
    dx, grads = layer.backward(ctx, r.astype(np.float32), True)
    assert len(grads) == len(layer.trainable_weights)

    def loss():
        return float((ref(x64, *weights) * r).sum())

    for i, g in enumerate(grads):
        num = _numgrad(loss, weights[i], h)
        scale = max(1.0, np.abs(num).max())
        np.testing.assert_allclose(g, num, atol=grad_tol * scale, rtol=0, err_msg=f"weight {i} gradient")
    num = _numgrad(loss, x64, h)
    assert dx.shape == x32.shape
    np.testing.assert_allclose(dx, num, atol=grad_tol * max(1.0, np.abs(num).max()), rtol=0, err_msg="input gradient")
    return y


def check_op_layer(layer, inputs, ref, *, h=1e-6, tol=1e-7):
    """An op-based layer run in float64 (its ops follow the inputs' dtype) under a GradientTape:
    values against ref(inputs, *weights) and gradients (inputs and trainable weights) against
    central finite differences of ref."""
    many = isinstance(inputs, list)
    xs64 = [np.asarray(v, np.float64) for v in (inputs if many else [inputs])]
    if not layer.built:
        layer([v.astype(np.float32) for v in xs64] if many else xs64[0].astype(np.float32))
    layer.set_weights([RNG.uniform(0.5, 1.5, w.shape).astype(np.float32) for w in layer.get_weights()])
    weights = [w.astype(np.float64) for w in layer.get_weights()]
    ts = [wrap(v.copy()) for v in xs64]
    with GradientTape() as tape:
        tape.watch(ts)
        y = layer.call(ts if many else ts[0])
        r = RNG.standard_normal(np.shape(y))
        loss = math_ops.sum(math_ops.multiply(y, r))
    grads = tape.gradient(loss, ts + list(layer.trainable_weights))
    assert np.asarray(y).dtype == np.float64, "the layer's ops should follow the float64 inputs"
    want = ref(xs64 if many else xs64[0], *weights)
    np.testing.assert_allclose(np.asarray(y), want, rtol=1e-12, atol=1e-12)

    def total():
        return float((ref(xs64 if many else xs64[0], *weights) * r).sum())

    for i, v in enumerate(xs64):
        np.testing.assert_allclose(np.asarray(grads[i]), _numgrad(total, v, h), atol=tol, rtol=tol,
                                   err_msg=f"input {i} gradient")
    for j, w in enumerate(weights):
        np.testing.assert_allclose(np.asarray(grads[len(xs64) + j]), _numgrad(total, w, h), atol=tol, rtol=tol,
                                   err_msg=f"weight {j} gradient")
    return y


def _same_pads(size, k, s):
    """TensorFlow's 'same' rule: (output length, padding before)."""
    out = -(-size // s)
    total = max((out - 1) * s + k - size, 0)
    return out, total // 2


def rand(*shape):
    return RNG.uniform(-1, 1, size=shape)


# ---- Conv2DTranspose -------------------------------------------------------------------------------
def conv_transpose_ref(x, w, b, strides, padding, output_padding=None):
    """Direct loop: every input pixel spreads x[n,i,j,:] @ w[a,b].T onto output (i*s + a, j*s + b),
    shifted by the 'same' padding; output sizes as Keras 3."""
    n, h, wd, c = x.shape
    kh, kw, f, _ = w.shape
    sizes, befores = [], []
    for size, k, s, op in zip((h, wd), (kh, kw), strides, output_padding or (None, None)):
        if padding == "valid":
            out = (size - 1) * s + (max(k, s) if op is None else k + op)
            before = 0
        else:
            out = size * s if op is None else (size - 1) * s + k % 2 + op
            before = max((size - 1) * s + k - out, 0) // 2
        sizes.append(out)
        befores.append(before)
    full = np.zeros((n, (h - 1) * strides[0] + kh + 8, (wd - 1) * strides[1] + kw + 8, f))
    for i in range(h):
        for j in range(wd):
            for a in range(kh):
                for bb in range(kw):
                    full[:, i * strides[0] + a, j * strides[1] + bb, :] += x[:, i, j, :] @ w[a, bb].T
    y = full[:, befores[0]:befores[0] + sizes[0], befores[1]:befores[1] + sizes[1], :]
    return y + (0 if b is None else b)


@pytest.mark.parametrize("strides", [1, 2, (2, 1)])
@pytest.mark.parametrize("padding", ["valid", "same"])
@pytest.mark.parametrize("size,k", [((3, 4), 3), ((4, 3), 2)])
def test_conv2d_transpose_values_and_gradients(strides, padding, size, k):
    s = strides if isinstance(strides, tuple) else (strides, strides)
    layer = layers.Conv2DTranspose(3, k, strides=strides, padding=padding)
    x = rand(2, *size, 2)
    layer(x.astype(np.float32))
    layer.set_weights([rand(*w.shape) for w in layer.get_weights()])
    y = check_kernel_layer(layer, x, lambda xv, w, b: conv_transpose_ref(xv, w, b, s, padding))
    h, w = size
    if padding == "same":
        assert y.shape == (2, h * s[0], w * s[1], 3)
    else:
        assert y.shape == (2, (h - 1) * s[0] + max(k, s[0]), (w - 1) * s[1] + max(k, s[1]), 3)
    assert layer.compute_output_shape((None, h, w, 2)) == (None,) + y.shape[1:]


@pytest.mark.parametrize("padding,output_padding", [("valid", (1, 0)), ("same", (1, 1)), ("same", (0, 1))])
def test_conv2d_transpose_output_padding(padding, output_padding):
    layer = layers.Conv2DTranspose(2, 3, strides=2, padding=padding, output_padding=output_padding,
                                   activation="relu")
    x = rand(2, 3, 3, 2)
    layer(x.astype(np.float32))
    layer.set_weights([rand(*w.shape) for w in layer.get_weights()])
    y = check_kernel_layer(
        layer, x, lambda xv, w, b: np.maximum(conv_transpose_ref(xv, w, b, (2, 2), padding, output_padding), 0))
    assert layer.compute_output_shape((None, 3, 3, 2)) == (None,) + y.shape[1:]


def test_conv2d_transpose_keras_shapes_params_and_errors():
    layer = layers.Conv2DTranspose(16, (3, 3), strides=2, padding="same")
    out = layer(keras.Input((7, 7, 8)))
    assert tuple(out.shape) == (None, 14, 14, 16)
    assert layer.kernel.shape == (3, 3, 16, 8)  # Keras layout (kh, kw, filters, in_channels)
    assert layer.count_params() == 3 * 3 * 8 * 16 + 16
    assert layers.Conv2DTranspose(4, 5, strides=3).compute_output_shape((None, 4, 4, 1)) == (None, 14, 14, 4)
    assert layers.Conv2DTranspose(4, 2, strides=3).compute_output_shape((None, 4, 4, 1)) == (None, 12, 12, 4)
    with pytest.raises(ValueError, match="output_padding must be smaller than strides"):
        layers.Conv2DTranspose(4, 3, strides=2, output_padding=2)
    with pytest.raises(ValueError, match="filters"):
        layers.Conv2DTranspose(0, 3)
    with pytest.raises(ValueError, match="padding"):
        layers.Conv2DTranspose(4, 3, padding="full")
    with pytest.raises(ValueError, match="4-D inputs"):
        layers.Conv2DTranspose(4, 3)(np.zeros((2, 5, 5), np.float32))
    with pytest.raises(ValueError, match="does not map back"):  # 'same', even kernel, output_padding 0
        layers.Conv2DTranspose(4, 2, strides=2, padding="same", output_padding=0)(np.zeros((1, 3, 3, 1), np.float32))


def conv1d_transpose_ref(x, w, b, stride, padding, output_padding=None):
    """Direct loop over (steps, taps), as conv_transpose_ref in one dimension; w (k, filters, C)."""
    n, steps, c = x.shape
    k, f, _ = w.shape
    if padding == "valid":
        out = (steps - 1) * stride + (max(k, stride) if output_padding is None else k + output_padding)
        before = 0
    else:
        out = steps * stride if output_padding is None else (steps - 1) * stride + k % 2 + output_padding
        before = max((steps - 1) * stride + k - out, 0) // 2
    full = np.zeros((n, (steps - 1) * stride + k + 8, f))
    for t in range(steps):
        for a in range(k):
            full[:, t * stride + a] += x[:, t] @ w[a].T
    return full[:, before:before + out] + b


@pytest.mark.parametrize("stride", [1, 2, 3])
@pytest.mark.parametrize("padding", ["valid", "same"])
@pytest.mark.parametrize("k,output_padding", [(3, None), (2, None), (3, 0)])
def test_conv1d_transpose_values_and_gradients(stride, padding, k, output_padding):
    layer = layers.Conv1DTranspose(3, k, strides=stride, padding=padding, output_padding=output_padding,
                                   activation="sigmoid")
    x = rand(2, 5, 2)
    layer(x.astype(np.float32))
    layer.set_weights([rand(*w.shape) for w in layer.get_weights()])
    assert layer.kernel.shape == (k, 3, 2)
    sig = lambda v: 1 / (1 + np.exp(-v))  # noqa: E731
    y = check_kernel_layer(layer, x, lambda xv, w, b: sig(conv1d_transpose_ref(xv, w, b, stride, padding, output_padding)))
    assert layer.compute_output_shape((None, 5, 2)) == (None,) + y.shape[1:]


# ---- Conv1D ------------------------------------------------------------------------------------------
def conv1d_ref(x, w, b, stride, padding):
    n, steps, c = x.shape
    k, _, f = w.shape
    if padding == "valid":
        out, before = (steps - k) // stride + 1, 0
    elif padding == "same":
        out, before = _same_pads(steps, k, stride)
    else:  # causal
        out, before = (steps - 1) // stride + 1, k - 1
    xp = np.zeros((n, steps + 2 * k, c))
    xp[:, before:before + steps] = x
    y = np.zeros((n, out, f))
    for t in range(out):
        for a in range(k):
            y[:, t] += xp[:, t * stride + a] @ w[a]
    return y + b


@pytest.mark.parametrize("padding", ["valid", "same", "causal"])
@pytest.mark.parametrize("stride,steps", [(1, 7), (2, 8), (2, 7)])
def test_conv1d_values_and_gradients(padding, stride, steps):
    layer = layers.Conv1D(3, 3, strides=stride, padding=padding, activation="tanh")
    x = rand(2, steps, 2)
    layer(x.astype(np.float32))
    layer.set_weights([rand(*w.shape) for w in layer.get_weights()])
    assert layer.kernel.shape == (3, 2, 3)
    y = check_kernel_layer(layer, x, lambda xv, w, b: np.tanh(conv1d_ref(xv, w, b, stride, padding)))
    assert layer.compute_output_shape((None, steps, 2)) == (None,) + y.shape[1:]


def test_conv1d_causal_output_ignores_the_future():
    layer = layers.Conv1D(2, 4, padding="causal")
    x = RNG.standard_normal((1, 10, 3)).astype(np.float32)
    y1 = np.asarray(layer(x))
    x2 = x.copy()
    x2[:, 6:] += 5.0
    y2 = np.asarray(layer(x2))
    np.testing.assert_array_equal(y1[:, :6], y2[:, :6])
    assert not np.allclose(y1[:, 6:], y2[:, 6:])


# ---- pooling -------------------------------------------------------------------------------------------
def pool1d_ref(x, p, s, padding, kind):
    n, steps, c = x.shape
    if padding == "valid":
        out, before = (steps - p) // s + 1, 0
    else:
        out, before = _same_pads(steps, p, s)
    y = np.zeros((n, out, c))
    for t in range(out):
        lo = t * s - before
        window = x[:, max(lo, 0):min(lo + p, steps)]  # padded cells are excluded (avg) / never win (max)
        y[:, t] = window.max(axis=1) if kind == "max" else window.mean(axis=1)
    return y


@pytest.mark.parametrize("kind,cls", [("max", layers.MaxPooling1D), ("avg", layers.AveragePooling1D)])
@pytest.mark.parametrize("p,s,padding", [(2, None, "valid"), (3, 2, "same"), (3, 1, "valid"), (2, 2, "same")])
def test_pooling1d(kind, cls, p, s, padding):
    layer = cls(pool_size=p, strides=s, padding=padding)
    x = RNG.permutation(2 * 9 * 3).reshape(2, 9, 3) / 10.0  # distinct values: a unique max per window
    y = check_kernel_layer(layer, x, lambda xv: pool1d_ref(xv, p, s or p, padding, kind))
    assert layer.compute_output_shape((None, 9, 3)) == (None,) + y.shape[1:]


@pytest.mark.parametrize("cls,kind,rank", [
    (layers.GlobalAveragePooling2D, "avg", 4), (layers.GlobalMaxPooling2D, "max", 4),
    (layers.GlobalAveragePooling1D, "avg", 3), (layers.GlobalMaxPooling1D, "max", 3)])
@pytest.mark.parametrize("keepdims", [False, True])
def test_global_pooling(cls, kind, rank, keepdims):
    shape = (2, 3, 4, 3)[:rank - 1] + (3,)
    x = RNG.permutation(math.prod(shape)).reshape(shape) / 7.0
    axes = tuple(range(1, rank - 1))

    def ref(xv):
        return xv.max(axis=axes, keepdims=keepdims) if kind == "max" else xv.mean(axis=axes, keepdims=keepdims)
    layer = cls(keepdims=keepdims)
    y = check_kernel_layer(layer, x, ref)
    assert layer.compute_output_shape((None,) + shape[1:]) == (None,) + y.shape[1:]
    with pytest.raises(ValueError, match=f"{rank}-D inputs"):
        cls()(np.zeros((2, 3), np.float32))


# ---- reshaping layers ----------------------------------------------------------------------------------
def bilinear_ref(x, sh, sw):
    """TensorFlow's resize 'bilinear' with half-pixel centres, one output pixel at a time."""
    n, h, w, c = x.shape

    def taps(i, size, scale):
        src = (i + 0.5) / scale - 0.5
        lo = max(math.floor(src), 0)
        hi = min(math.ceil(src), size - 1)
        frac = src - math.floor(src)
        return lo, hi, frac
    y = np.zeros((n, h * sh, w * sw, c))
    for i in range(h * sh):
        y0, y1, fy = taps(i, h, sh)
        for j in range(w * sw):
            x0, x1, fx = taps(j, w, sw)
            top = x[:, y0, x0] * (1 - fx) + x[:, y0, x1] * fx
            bottom = x[:, y1, x0] * (1 - fx) + x[:, y1, x1] * fx
            y[:, i, j] = top * (1 - fy) + bottom * fy
    return y


@pytest.mark.parametrize("size", [2, (2, 3), (1, 2)])
def test_upsampling2d_nearest_and_bilinear(size):
    sh, sw = (size, size) if isinstance(size, int) else size
    x = rand(2, 3, 4, 2)
    y = check_kernel_layer(layers.UpSampling2D(size), x,
                           lambda xv: xv.repeat(sh, axis=1).repeat(sw, axis=2))
    assert y.shape == (2, 3 * sh, 4 * sw, 2)
    check_kernel_layer(layers.UpSampling2D(size, interpolation="bilinear"), x, lambda xv: bilinear_ref(xv, sh, sw))
    with pytest.raises(ValueError, match="interpolation"):
        layers.UpSampling2D(interpolation="bicubic")


@pytest.mark.parametrize("arg,pads", [(1, ((1, 1), (1, 1))), ((2, 0), ((2, 2), (0, 0))),
                                      (((0, 1), (2, 3)), ((0, 1), (2, 3)))])
def test_zero_padding_and_cropping2d(arg, pads):
    x = rand(2, 5, 6, 2)
    y = check_kernel_layer(layers.ZeroPadding2D(arg), x, lambda xv: np.pad(xv, ((0, 0),) + pads + ((0, 0),)))
    (t, b), (l, r) = pads
    crop = layers.Cropping2D(arg)
    c = check_kernel_layer(crop, x, lambda xv: xv[:, t:xv.shape[1] - b, l:xv.shape[2] - r])
    assert crop.compute_output_shape((None, 5, 6, 2)) == (None,) + c.shape[1:]
    assert layers.ZeroPadding2D(arg).compute_output_shape((None, 5, 6, 2)) == (None,) + y.shape[1:]
    with pytest.raises(ValueError, match="at least one must remain"):
        layers.Cropping2D(3)(np.zeros((1, 5, 9, 1), np.float32))
    with pytest.raises(ValueError, match="padding"):
        layers.ZeroPadding2D((1, -1))


@pytest.mark.parametrize("arg,pads", [(1, (1, 1)), ((0, 2), (0, 2)), (3, (3, 3))])
def test_one_d_upsampling_padding_cropping(arg, pads):
    x = rand(2, 7, 3)
    check_kernel_layer(layers.ZeroPadding1D(arg), x, lambda xv: np.pad(xv, ((0, 0), pads, (0, 0))))
    a, b = pads
    crop = layers.Cropping1D(arg)
    y = check_kernel_layer(crop, x, lambda xv: xv[:, a:xv.shape[1] - b])
    assert crop.compute_output_shape((None, 7, 3)) == (None,) + y.shape[1:]
    up = layers.UpSampling1D(a + 1)
    y = check_kernel_layer(up, x, lambda xv: xv.repeat(a + 1, axis=1))
    assert up.compute_output_shape((None, 7, 3)) == (None,) + y.shape[1:]
    with pytest.raises(ValueError, match="at least one must remain"):
        layers.Cropping1D((4, 3))(np.zeros((1, 7, 1), np.float32))
    with pytest.raises(ValueError, match="3-D inputs"):
        layers.UpSampling1D()(np.zeros((1, 7), np.float32))


def test_permute_repeat_vector_identity_rescaling():
    x = rand(2, 3, 4, 5)
    check_kernel_layer(layers.Permute((3, 1, 2)), x, lambda xv: xv.transpose(0, 3, 1, 2))
    assert layers.Permute((2, 1)).compute_output_shape((None, 3, 7)) == (None, 7, 3)
    with pytest.raises(ValueError, match="permutation"):
        layers.Permute((0, 1))
    v = rand(3, 4)
    y = check_kernel_layer(layers.RepeatVector(3), v, lambda xv: np.stack([xv] * 3, axis=1))
    assert y.shape == (3, 3, 4)
    check_kernel_layer(layers.Identity(), x, lambda xv: xv)
    check_kernel_layer(layers.Rescaling(1 / 255.0, offset=-0.5), x, lambda xv: xv * (1 / 255.0) - 0.5)
    check_kernel_layer(layers.Rescaling([1.0, 2.0, 3.0, 4.0, 5.0]), x, lambda xv: xv * np.arange(1.0, 6.0))
    with pytest.raises(ValueError, match="does not broadcast"):
        layers.Rescaling([1.0, 2.0])(np.zeros((2, 3), np.float32))
    with pytest.raises(TypeError, match="scale"):
        layers.Rescaling("big")


def test_gaussian_noise_training_only():
    layer = layers.GaussianNoise(0.5, seed=3)
    x = np.ones((200, 50), np.float32)
    np.testing.assert_array_equal(np.asarray(layer(x, training=False)), x)
    noisy = np.asarray(layer(x, training=True))
    assert abs(float((noisy - 1).std()) - 0.5) < 0.02 and abs(float((noisy - 1).mean())) < 0.02
    dx, grads = layer.backward(None, x, True)
    np.testing.assert_array_equal(dx, x)
    with pytest.raises(ValueError, match="stddev"):
        layers.GaussianNoise(-1.0)


# ---- op-based layers, float64 --------------------------------------------------------------------------
def test_layer_normalization_values_and_gradients():
    def ref(xv, gamma, beta, axes=(-1,)):
        m = xv.mean(axis=axes, keepdims=True)
        v = ((xv - m) ** 2).mean(axis=axes, keepdims=True)
        return (xv - m) / np.sqrt(v + 1e-3) * gamma + beta
    layer = layers.LayerNormalization()
    check_op_layer(layer, rand(3, 4, 5) * 3, ref)
    assert [w.name for w in layer.weights] == ["gamma", "beta"]
    layer2 = layers.LayerNormalization(axis=[1, 2], epsilon=1e-5)
    check_op_layer(layer2, rand(2, 3, 4), lambda xv, g, b: (
        (xv - xv.mean(axis=(1, 2), keepdims=True)) / np.sqrt(xv.var(axis=(1, 2), keepdims=True) + 1e-5) * g + b))
    assert layer2.gamma.shape == (3, 4)
    no_center = layers.LayerNormalization(center=False, scale=False)
    check_op_layer(no_center, rand(4, 6), lambda xv: (xv - xv.mean(-1, keepdims=True)) / np.sqrt(xv.var(-1, keepdims=True) + 1e-3))
    assert no_center.weights == []
    with pytest.raises(ValueError, match="rms_scaling"):
        layers.LayerNormalization(rms_scaling=True)
    with pytest.raises(ValueError, match="batch axis"):
        layers.LayerNormalization(axis=0)(np.zeros((2, 3), np.float32))


def test_unit_normalization():
    layer = layers.UnitNormalization()
    x = rand(4, 5)
    x[0] = 0.0  # the epsilon keeps an all-zero row finite
    y = check_op_layer(layer, x, lambda xv: xv / np.sqrt(np.maximum((xv ** 2).sum(-1, keepdims=True), 1e-12)))
    np.testing.assert_allclose(np.linalg.norm(np.asarray(y)[1:], axis=-1), 1.0)
    check_op_layer(layers.UnitNormalization(axis=[1, 2]), rand(2, 3, 4),
                   lambda xv: xv / np.sqrt((xv ** 2).sum(axis=(1, 2), keepdims=True)))


@pytest.mark.parametrize("cls,ref", [
    (layers.Add, lambda xs: xs[0] + xs[1] + xs[2]),
    (layers.Multiply, lambda xs: xs[0] * xs[1] * xs[2]),
    (layers.Average, lambda xs: (xs[0] + xs[1] + xs[2]) / 3),
    (layers.Maximum, lambda xs: np.maximum(np.maximum(xs[0], xs[1]), xs[2])),
    (layers.Minimum, lambda xs: np.minimum(np.minimum(xs[0], xs[1]), xs[2])),
    (layers.Concatenate, lambda xs: np.concatenate(xs, axis=-1)),
])
def test_merge_layers_values_and_gradients(cls, ref):
    xs = [rand(3, 2, 4) for _ in range(3)]
    check_op_layer(cls(), xs, ref)


def test_subtract_concatenate_axis_and_broadcasting():
    check_op_layer(layers.Subtract(), [rand(3, 4), rand(3, 4)], lambda xs: xs[0] - xs[1])
    check_op_layer(layers.Concatenate(axis=1), [rand(2, 3, 4), rand(2, 1, 4)], lambda xs: np.concatenate(xs, axis=1))
    # Keras: a lower-rank input gets new axes after the batch axis, then size-1 axes broadcast.
    check_op_layer(layers.Add(), [rand(2, 3, 4), rand(2, 4)], lambda xs: xs[0] + xs[1][:, None, :])
    check_op_layer(layers.Multiply(), [rand(2, 3, 4), rand(2, 3, 1)], lambda xs: xs[0] * xs[1])


@pytest.mark.parametrize("axes,shapes,ref", [
    (1, [(3, 4), (3, 4)], lambda a, b: (a * b).sum(-1, keepdims=True)),
    (-1, [(2, 3, 4), (2, 5, 4)], lambda a, b: np.einsum("nik,njk->nij", a, b)),
    ((1, 2), [(2, 4, 3), (2, 5, 4)], lambda a, b: np.einsum("nki,njk->nij", a, b)),
    ((2, 1), [(2, 3, 4), (2, 4, 2, 5)], lambda a, b: np.einsum("nik,nkjl->nijl", a, b)),
])
def test_dot(axes, shapes, ref):
    layer = layers.Dot(axes)
    y = check_op_layer(layer, [rand(*s) for s in shapes], lambda xs: ref(*xs))
    assert layer.compute_output_shape([(None,) + s[1:] for s in shapes]) == (None,) + np.shape(y)[1:]


def test_dot_normalize_is_cosine_similarity():
    def ref(xs):
        a, b = xs
        return ((a / np.linalg.norm(a, axis=1, keepdims=True)) * (b / np.linalg.norm(b, axis=1, keepdims=True))
                ).sum(1, keepdims=True)
    check_op_layer(layers.Dot(axes=1, normalize=True), [rand(4, 3), rand(4, 3)], ref)


def test_merge_shape_errors_at_graph_definition():
    a, b, c = keras.Input((4,)), keras.Input((5,)), keras.Input((3, 4))
    with pytest.raises(ValueError, match="incompatible shapes"):
        layers.Add()([a, b])
    with pytest.raises(ValueError, match="list of tensors"):
        layers.Add()(a)
    with pytest.raises(ValueError, match="exactly 2 inputs"):
        layers.Subtract()([a, a, a])
    with pytest.raises(ValueError, match="one rank"):
        layers.Concatenate()([a, c])
    with pytest.raises(ValueError, match="matching shapes except for the concatenation axis"):
        layers.Concatenate(axis=1)([keras.Input((3, 4)), keras.Input((3, 5))])
    with pytest.raises(ValueError, match="size 4 .* != 5"):
        layers.Dot(axes=1)([a, b])
    with pytest.raises(ValueError, match="batch axis"):
        layers.Dot(axes=0)([a, a])
    with pytest.raises(TypeError, match="axes"):
        layers.Dot(axes="last")


# ---- symbolic, functional and Sequential use --------------------------------------------------------
@pytest.mark.parametrize("make,shape", [
    (lambda: layers.Conv2DTranspose(4, 3, strides=2, padding="same"), (7, 7, 2)),
    (lambda: layers.Conv2DTranspose(4, 3, strides=2), (7, 7, 2)),
    (lambda: layers.Conv1D(4, 3, padding="causal", strides=2), (9, 2)),
    (lambda: layers.Conv1DTranspose(4, 3, padding="same", strides=2), (9, 2)),
    (lambda: layers.MaxPooling1D(3, padding="same"), (10, 2)),
    (lambda: layers.AveragePooling1D(), (10, 2)),
    (lambda: layers.GlobalAveragePooling2D(keepdims=True), (5, 6, 2)),
    (lambda: layers.GlobalMaxPooling1D(), (5, 2)),
    (lambda: layers.UpSampling2D((2, 3), interpolation="bilinear"), (5, 6, 2)),
    (lambda: layers.ZeroPadding2D(((1, 2), (3, 4))), (5, 6, 2)),
    (lambda: layers.Cropping2D(((1, 2), (0, 1))), (5, 6, 2)),
    (lambda: layers.Permute((2, 1)), (5, 2)),
    (lambda: layers.UpSampling1D(3), (5, 2)),
    (lambda: layers.ZeroPadding1D((0, 2)), (5, 2)),
    (lambda: layers.Cropping1D((1, 2)), (5, 2)),
    (lambda: layers.RepeatVector(4), (3,)),
    (lambda: layers.LayerNormalization(), (5, 3)),
    (lambda: layers.UnitNormalization(), (5, 3)),
    (lambda: layers.Rescaling(0.5, 1.0), (5, 3)),
    (lambda: layers.GaussianNoise(0.1), (5, 3)),
    (lambda: layers.Identity(), (5, 3)),
    (lambda: layers.Lambda(lambda t: ops.square(t)[:, :2]), (5, 3)),
])
def test_symbolic_shapes_match_compute_output_shape_and_real_calls(make, shape):
    layer = make()
    out = layer(keras.Input(shape))
    assert tuple(out.shape) == layer.compute_output_shape((None,) + shape)
    real = np.asarray(layer(RNG.standard_normal((2,) + shape).astype(np.float32)))
    assert real.shape == (2,) + tuple(out.shape)[1:]


def test_functional_two_branch_model_with_every_merge_trains():
    a_in, b_in = keras.Input((6,), name="a"), keras.Input((6,), name="b")
    a = layers.Dense(8, activation="tanh")(a_in)
    b = layers.Dense(8, activation="tanh")(b_in)
    merged = [layers.add([a, b]), layers.subtract([a, b]), layers.multiply([a, b]), layers.average([a, b]),
              layers.maximum([a, b]), layers.minimum([a, b]), layers.dot([a, b], axes=1),
              layers.Dot(axes=1, normalize=True)([a, b])]
    h = layers.concatenate(merged)
    assert tuple(h.shape) == (None, 6 * 8 + 2)
    h = layers.LayerNormalization()(h)
    out = layers.Dense(1)(h)
    model = keras.Model([a_in, b_in], out)
    xa, xb = RNG.standard_normal((256, 6)).astype(np.float32), RNG.standard_normal((256, 6)).astype(np.float32)
    y = (xa[:, :1] * xb[:, 1:2] + xa[:, 2:3]).astype(np.float32)
    model.compile(optimizer=keras.optimizers.Adam(0.01), loss="mse")
    before = model.evaluate([xa, xb], y, verbose=0)
    model.fit([xa, xb], y, epochs=15, batch_size=32, verbose=0)
    after = model.evaluate([xa, xb], y, verbose=0)
    assert after < 0.5 * before, (before, after)
    assert all(np.abs(w).sum() > 0 for w in model.get_weights())


def test_lambda_in_models_and_refused_in_configs(tmp_path):
    inp = keras.Input((4,))
    out = layers.Lambda(lambda t, k: t * k, arguments={"k": 3.0})(layers.Dense(2)(inp))
    model = keras.Model(inp, out)
    x = RNG.standard_normal((3, 4)).astype(np.float32)
    dense = model.layers[1]
    np.testing.assert_allclose(np.asarray(model(x)), 3.0 * (x @ dense.kernel.numpy() + dense.bias.numpy()), rtol=1e-6)
    seq = keras.Sequential([keras.Input((4,)), layers.Dense(2), layers.Lambda(lambda t: t + 1.0, output_shape=(2,))])
    assert seq.output_shape == (None, 2)
    seq.compile(optimizer="adam", loss="mse")
    seq.fit(x, np.zeros((3, 2), np.float32), epochs=1, verbose=0)
    with pytest.raises(NotImplementedError, match="Lambda layer .* holds a Python function"):
        seq.save(str(tmp_path / "m.keras"))
    config = {"class_name": "Sequential", "config": {"layers": [
        {"class_name": "InputLayer", "config": {"batch_shape": [None, 4]}},
        {"class_name": "Lambda", "config": {"function": "x ** 2"}}]}}
    with pytest.raises(ValueError, match="Lambda layer holds a Python function"):
        model_from_config(config)


def _saveable_models():
    image = keras.Sequential([
        keras.Input((10, 10, 1)),
        layers.Rescaling(1 / 255.0, offset=-0.5),
        layers.ZeroPadding2D(1),
        layers.Conv2D(4, 3, activation="relu"),
        layers.Cropping2D(((1, 0), (0, 1))),
        layers.UpSampling2D(2, interpolation="bilinear"),
        layers.MaxPooling2D(2),
        layers.Conv2DTranspose(3, 3, strides=2, padding="same", activation="relu"),
        layers.UpSampling2D((1, 2)),
        layers.GlobalAveragePooling2D(),
        layers.Dense(3, activation="softmax"),
    ])
    seq = keras.Sequential([
        keras.Input((12, 3)),
        layers.Conv1D(4, 3, padding="causal", activation="relu"),
        layers.ZeroPadding1D((1, 2)),
        layers.Conv1DTranspose(3, 3, strides=2, padding="same"),
        layers.Cropping1D((2, 1)),
        layers.UpSampling1D(2),
        layers.MaxPooling1D(2),
        layers.AveragePooling1D(2, padding="same"),
        layers.LayerNormalization(),
        layers.GaussianNoise(0.1),
        layers.Permute((2, 1)),
        layers.UnitNormalization(),
        layers.GlobalMaxPooling1D(),
        layers.RepeatVector(2),
        layers.Identity(),
        layers.Flatten(),
        layers.Dense(3, activation="softmax"),
    ])
    return [(image, (10, 10, 1), 255.0), (seq, (12, 3), 1.0)]


def test_sequential_save_load_round_trip_is_bit_identical(tmp_path):
    for i, (model, shape, scale) in enumerate(_saveable_models()):
        x = (RNG.uniform(0, 1, (64,) + shape) * scale).astype(np.float32)
        y = RNG.integers(0, 3, 64)
        model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
        model.fit(x, y, epochs=1, batch_size=16, verbose=0)
        path = str(tmp_path / f"m{i}.keras")
        model.save(path)
        loaded = keras.models.load_model(path)
        assert [type(l).__name__ for l in loaded.layers] == [type(l).__name__ for l in model.layers]
        assert [l.get_config() for l in loaded.layers] == [l.get_config() for l in model.layers]
        np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
        assert loaded.count_params() == model.count_params()


def test_functional_save_load_round_trip_with_merges_and_new_layers(tmp_path):
    img = keras.Input((8, 8, 1), name="img")
    seq = keras.Input((6, 2), name="seq")
    a = layers.Conv2D(4, 3, padding="same", activation="relu")(layers.Rescaling(0.5)(img))
    b = layers.Conv2DTranspose(4, 3, strides=2, padding="same")(layers.MaxPooling2D(2)(a))
    a = layers.concatenate([a, b, layers.UpSampling2D(1)(b)], axis=-1)
    a = layers.GlobalAveragePooling2D()(layers.Cropping2D(1)(layers.ZeroPadding2D(1)(a)))
    s = layers.Conv1D(4, 3, padding="causal")(seq)
    s = layers.GlobalMaxPooling1D()(layers.LayerNormalization()(s))
    s = layers.Dense(12)(s)
    merged = [layers.add([a, s]), layers.subtract([a, s]), layers.multiply([a, s]), layers.average([a, s]),
              layers.maximum([a, s]), layers.minimum([a, s]), layers.Dot(axes=1, normalize=True)([a, s])]
    out = layers.Dense(2)(layers.UnitNormalization()(layers.Concatenate()(merged)))
    model = keras.Model([img, seq], out)
    x = [RNG.standard_normal((5, 8, 8, 1)).astype(np.float32), RNG.standard_normal((5, 6, 2)).astype(np.float32)]
    path = str(tmp_path / "f.keras")
    model.save(path)
    loaded = keras.models.load_model(path)
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
    assert loaded.count_params() == model.count_params()
    lam = keras.Model(img, layers.Lambda(lambda t: t * 2.0)(img))
    with pytest.raises(NotImplementedError, match="Lambda layer .* holds a Python function"):
        lam.save(str(tmp_path / "lambda.keras"))


def test_sequential_of_kernel_layers_keeps_the_fused_step_and_matches_the_tape():
    """A Sequential of forward/backward layers takes the fused training step; its gradients equal
    those of the op tape through the same layers."""
    model = _saveable_models()[0][0]
    assert model.kernel_chain() is not None
    x = RNG.uniform(0, 255, (8, 10, 10, 1)).astype(np.float32)
    y = np.eye(3, dtype=np.float32)[RNG.integers(0, 3, 8)]
    with GradientTape() as tape:
        loss = ops.mean(keras.losses.categorical_crossentropy(y, model(x, training=True)))
    tape_grads = tape.gradient(loss, model.trainable_weights)
    h, entries = x, []
    for layer in model.layers:
        out, ctx = layer.forward(h, True)
        entries.append((layer, ctx))
        h = out
    g = ((h - y) / len(x)).astype(np.float32)  # d mean CE / d softmax-logits, folded through the last layer
    grads = {}
    for i in range(len(entries) - 1, -1, -1):
        layer, ctx = entries[i]
        g, wg = layer.backward(ctx, g, i > 0, wrt_logits=True) if i == len(entries) - 1 else layer.backward(ctx, g, i > 0)
        grads[id(layer)] = wg
    chain = [w for layer in model.layers for w in grads[id(layer)]]
    assert len(chain) == len(tape_grads)
    for a, b in zip(chain, tape_grads):
        np.testing.assert_allclose(a, np.asarray(b), rtol=2e-3, atol=2e-6)


def test_configs_round_trip_and_name_bad_fields():
    made = [layers.Conv2DTranspose(4, 3, strides=2, padding="same", output_padding=1), layers.Conv1D(2, 5, padding="causal"),
            layers.Conv1DTranspose(3, 4, strides=2, output_padding=1),
            layers.MaxPooling1D(3, 2, "same"), layers.GlobalMaxPooling2D(keepdims=True), layers.UpSampling2D(3),
            layers.ZeroPadding2D(((1, 2), (3, 4))), layers.Cropping2D(2), layers.Permute((2, 1, 3)),
            layers.RepeatVector(5), layers.Concatenate(axis=1), layers.UpSampling1D(3), layers.ZeroPadding1D((1, 2)),
            layers.Cropping1D(2), layers.Dot((1, 2), normalize=True),
            layers.LayerNormalization(axis=[1, 2], epsilon=1e-6, center=False), layers.UnitNormalization(axis=[1]),
            layers.Rescaling([1.0, 2.0], offset=0.5), layers.GaussianNoise(0.2, seed=1), layers.Identity(),
            layers.Add(), layers.Subtract(), layers.Average(), layers.Maximum(), layers.Minimum(), layers.Multiply()]
    for layer in made:
        cfg = layer.get_config()
        cls = layers.LAYER_CLASSES[type(layer).__name__]
        assert cls.from_config(cfg).get_config() == cfg, type(layer).__name__
    with pytest.raises(ValueError, match="unknown field 'kernal_size'"):
        layers.Conv1D.from_config({"filters": 2, "kernal_size": 3})
    for name in ("Conv2DTranspose", "Conv1D", "UpSampling2D", "ZeroPadding2D", "Cropping2D", "GlobalAveragePooling1D",
                 "GlobalMaxPooling1D", "MaxPooling1D", "AveragePooling1D", "Concatenate", "Add", "Subtract", "Multiply",
                 "Average", "Maximum", "Minimum", "Dot", "Lambda", "Rescaling", "LayerNormalization", "Permute",
                 "RepeatVector", "Identity", "GaussianNoise", "UnitNormalization", "concatenate", "add", "subtract",
                 "multiply", "average", "maximum", "minimum", "dot", "GlobalAvgPool2D", "MaxPool1D", "UpSampling1D",
                 "ZeroPadding1D", "Cropping1D", "Conv1DTranspose"):
        assert hasattr(keras.layers, name) and name in keras.layers.__all__, name


# ---- MNIST: keras-io's convolutional autoencoder and a VAE-style Conv2DTranspose decoder -------------------
@pytest.fixture(scope="module")
def mnist_slice():
    try:
        (x_train, _), _ = keras.datasets.mnist.load_data()
    except FileNotFoundError as exc:
        pytest.skip(f"MNIST not available locally: {exc}")
    x = (x_train[:512].astype(np.float32) / 255.0)[..., None]
    return x


def test_conv_autoencoder_upsampling_trains_on_mnist(mnist_slice):
    """The classic Keras convolutional autoencoder: Conv2D 'same' + MaxPooling2D 'same' down,
    Conv2D + UpSampling2D up, a sigmoid Conv2D out, binary cross-entropy."""
    inp = keras.Input((28, 28, 1))
    x = layers.Conv2D(16, (3, 3), activation="relu", padding="same")(inp)
    x = layers.MaxPooling2D((2, 2), padding="same")(x)
    x = layers.Conv2D(8, (3, 3), activation="relu", padding="same")(x)
    encoded = layers.MaxPooling2D((2, 2), padding="same")(x)
    x = layers.Conv2D(8, (3, 3), activation="relu", padding="same")(encoded)
    x = layers.UpSampling2D((2, 2))(x)
    x = layers.Conv2D(16, (3, 3), activation="relu", padding="same")(x)
    x = layers.UpSampling2D((2, 2))(x)
    decoded = layers.Conv2D(1, (3, 3), activation="sigmoid", padding="same")(x)
    autoencoder = keras.Model(inp, decoded)
    autoencoder.compile(optimizer="adam", loss="binary_crossentropy")
    start = time.perf_counter()
    before = autoencoder.evaluate(mnist_slice, mnist_slice, verbose=0)
    hist = autoencoder.fit(mnist_slice, mnist_slice, epochs=2, batch_size=32, shuffle=True, verbose=0)
    after = autoencoder.evaluate(mnist_slice, mnist_slice, verbose=0)
    assert hist.history["loss"][1] < hist.history["loss"][0]
    assert after < before - 0.1, (before, after)
    assert time.perf_counter() - start < 30


def test_vae_decoder_with_conv2d_transpose_trains_on_mnist(mnist_slice):
    """keras-io's VAE decoder (Dense -> Reshape -> Conv2DTranspose(64, 32, strides 2, 'same') ->
    sigmoid Conv2DTranspose) behind a small convolutional encoder, trained as an autoencoder with
    binary cross-entropy; and keras-io's vision/autoencoder.py decoder (Conv2DTranspose with relu)."""
    latent_dim = 8
    enc_in = keras.Input((28, 28, 1))
    x = layers.Conv2D(16, 3, activation="relu", strides=2, padding="same")(enc_in)
    x = layers.Conv2D(32, 3, activation="relu", strides=2, padding="same")(x)
    x = layers.Flatten()(x)
    z = layers.Dense(latent_dim)(x)
    x = layers.Dense(7 * 7 * 32, activation="relu")(z)
    x = layers.Reshape((7, 7, 32))(x)
    x = layers.Conv2DTranspose(32, 3, activation="relu", strides=2, padding="same")(x)
    x = layers.Conv2DTranspose(16, 3, activation="relu", strides=2, padding="same")(x)
    out = layers.Conv2DTranspose(1, 3, activation="sigmoid", padding="same")(x)
    assert tuple(out.shape) == (None, 28, 28, 1)
    model = keras.Model(enc_in, out)
    model.compile(optimizer="adam", loss="binary_crossentropy")
    before = model.evaluate(mnist_slice, mnist_slice, verbose=0)
    hist = model.fit(mnist_slice, mnist_slice, epochs=2, batch_size=32, verbose=0)
    after = model.evaluate(mnist_slice, mnist_slice, verbose=0)
    assert hist.history["loss"][1] < hist.history["loss"][0]
    assert after < before - 0.1, (before, after)


def test_keras_io_vae_program_trains_on_mnist(mnist_slice):
    """keras-io's examples/generative/vae.py as written (its Sampling layer, encoder and decoder
    models, VAE subclass with a GradientTape train_step), on 512 images for 2 epochs."""
    from aiaas_core.keras import ops

    class Sampling(layers.Layer):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.seed_generator = keras.random.SeedGenerator(1337)

        def call(self, inputs):
            z_mean, z_log_var = inputs
            batch, dim = ops.shape(z_mean)[0], ops.shape(z_mean)[1]
            epsilon = keras.random.normal(shape=(batch, dim), seed=self.seed_generator)
            return z_mean + ops.exp(0.5 * z_log_var) * epsilon

    latent_dim = 2
    encoder_inputs = keras.Input(shape=(28, 28, 1))
    x = layers.Conv2D(32, 3, activation="relu", strides=2, padding="same")(encoder_inputs)
    x = layers.Conv2D(64, 3, activation="relu", strides=2, padding="same")(x)
    x = layers.Flatten()(x)
    x = layers.Dense(16, activation="relu")(x)
    z_mean = layers.Dense(latent_dim, name="z_mean")(x)
    z_log_var = layers.Dense(latent_dim, name="z_log_var")(x)
    z = Sampling()([z_mean, z_log_var])
    encoder = keras.Model(encoder_inputs, [z_mean, z_log_var, z], name="encoder")
    latent_inputs = keras.Input(shape=(latent_dim,))
    x = layers.Dense(7 * 7 * 64, activation="relu")(latent_inputs)
    x = layers.Reshape((7, 7, 64))(x)
    x = layers.Conv2DTranspose(64, 3, activation="relu", strides=2, padding="same")(x)
    x = layers.Conv2DTranspose(32, 3, activation="relu", strides=2, padding="same")(x)
    decoder_outputs = layers.Conv2DTranspose(1, 3, activation="sigmoid", padding="same")(x)
    decoder = keras.Model(latent_inputs, decoder_outputs, name="decoder")
    assert decoder.count_params() == 65_089  # keras-io's decoder summary

    class VAE(keras.Model):
        def __init__(self, encoder, decoder, **kwargs):
            super().__init__(**kwargs)
            self.encoder, self.decoder = encoder, decoder
            self.total_loss_tracker = keras.metrics.Mean(name="total_loss")

        @property
        def metrics(self):
            return [self.total_loss_tracker]

        def train_step(self, data):
            with GradientTape() as tape:
                z_mean, z_log_var, z = self.encoder(data)
                reconstruction = self.decoder(z)
                reconstruction_loss = ops.mean(
                    ops.sum(keras.losses.binary_crossentropy(data, reconstruction), axis=(1, 2)))
                kl_loss = -0.5 * (1 + z_log_var - ops.square(z_mean) - ops.exp(z_log_var))
                total_loss = reconstruction_loss + ops.mean(ops.sum(kl_loss, axis=1))
            grads = tape.gradient(total_loss, self.trainable_weights)
            self.optimizer.apply_gradients(zip(grads, self.trainable_weights))
            self.total_loss_tracker.update_state(total_loss)
            return {"loss": self.total_loss_tracker.result()}

    vae = VAE(encoder, decoder)
    vae.compile(optimizer=keras.optimizers.Adam())
    hist = vae.fit(mnist_slice, epochs=2, batch_size=32, verbose=0)  # keras-io: 128 (16 steps here)
    assert hist.history["loss"][1] < 0.9 * hist.history["loss"][0], hist.history
