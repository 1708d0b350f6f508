"""Every op of aiaas_core.ops: its value against numpy (float64) and its gradient against central
finite differences (float64, so the tolerances can be tight), over hypothesis shapes that include
broadcasting and size-0 / size-1 axes; a float32 run of each (the Rust kernels' path); and the
errors a wrong shape or dtype gives.

The gradient check differentiates sum(op(x) * w) for a fixed random weight w, not sum(op(x)):
with w = 1 a wrong gradient that only gets the sum over an axis right would pass.
"""

from __future__ import annotations

import inspect
import math
import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from aiaas_core import ops
from aiaas_core.ops import GradientTape, Tensor, array_ops, math_ops, nn_ops

# A handful of examples per op keeps the whole file well under a minute on two cores.
FEW = settings(max_examples=6, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)

shapes = hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=3)
nonempty_shapes = hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=3)
pairs = hnp.mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=3, min_side=0, max_side=3)
seeds = st.integers(0, 2**16)


def rand(shape, seed, low=-2.0, high=2.0, away_from=(), gap=0.05):
    """Uniform float64 values; `away_from` keeps them off kinks (|x - k| >= gap) so finite
    differences never straddle one."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(low, high, shape)
    for k in away_from:
        near = np.abs(x - k) < gap
        x = np.where(near, k + np.where(x >= k, gap, -gap) * 2, x)
    return x


def _flat_outputs(out):
    return list(out) if isinstance(out, (list, tuple)) else [out]


def _weights(outs, seed=7):
    rng = np.random.default_rng(seed)
    return [rng.uniform(0.5, 1.5, np.shape(o)) for o in outs]


def _weighted_sum(outs, ws):
    total = 0.0
    for o, w in zip(outs, ws):
        total = math_ops.add(total, math_ops.sum(math_ops.multiply(o, w))) if np.size(o) else total
    return total


def numeric_grad(fn, args, i, ws, eps=1e-6):
    base = [np.array(a, dtype=np.float64, order="C") for a in args]
    g = np.zeros_like(base[i])
    flat = g.reshape(-1)
    for j in range(base[i].size):
        vals = []
        for sign in (1, -1):
            xs = [b.copy() for b in base]
            xs[i].reshape(-1)[j] += sign * eps
            outs = _flat_outputs(fn(*[ops.convert_to_tensor(x) for x in xs]))
            vals.append(sum(float(np.sum(np.asarray(o, np.float64) * w)) for o, w in zip(outs, ws)))
        flat[j] = (vals[0] - vals[1]) / (2 * eps)
    return g


def check_grad(fn, *args, wrt=None, rtol=1e-5, atol=1e-6, eps=1e-6):
    """The tape's gradient of sum(fn(*args) * w) against central differences, per argument in `wrt`."""
    wrt = list(range(len(args))) if wrt is None else list(wrt)
    xs = [ops.convert_to_tensor(np.array(a, dtype=np.float64)) for a in args]
    with GradientTape() as tape:
        tape.watch([xs[i] for i in wrt])
        outs = _flat_outputs(fn(*xs))
        ws = _weights(outs)
        loss = _weighted_sum(outs, ws)
    grads = tape.gradient(loss, [xs[i] for i in wrt], unconnected_gradients="zero")
    for i, g in zip(wrt, grads):
        expect = numeric_grad(fn, args, i, ws, eps)
        assert g is not None
        assert isinstance(g, Tensor)
        assert g.shape == np.shape(args[i]), f"gradient of argument {i}: shape {g.shape}, expected {np.shape(args[i])}"
        assert g.dtype == np.float64, f"gradient of a float64 input came back as {g.dtype}"
        np.testing.assert_allclose(np.asarray(g), expect, rtol=rtol, atol=atol, err_msg=f"gradient of argument {i}")
    return outs


def check_value(got, expect, rtol=1e-10, atol=1e-12, dtype=None):
    assert isinstance(got, Tensor), f"expected a Tensor, got {type(got).__name__}"
    expect = np.asarray(expect)
    assert got.shape == expect.shape, f"shape {got.shape}, expected {expect.shape}"
    if dtype is not None:
        assert got.dtype == np.dtype(dtype), f"dtype {got.dtype}, expected {dtype}"
    np.testing.assert_allclose(np.asarray(got), expect, rtol=rtol, atol=atol)


# ---- unary elementwise -----------------------------------------------------------------------
def _np_gelu_tanh(x):
    return 0.5 * x * (1 + np.tanh(np.sqrt(2 / np.pi) * (x + 0.044715 * x ** 3)))


_erf = np.vectorize(math.erf, otypes=[np.float64])


def _np_softplus(x):
    return np.logaddexp(0, x)


def _np_sigmoid(x):
    return 1 / (1 + np.exp(-x))


def _np_elu(x, a=1.0):
    return np.where(x > 0, x, a * np.expm1(np.minimum(x, 0)))


# name, op, numpy reference, (low, high), kinks to keep away from
UNARY = [
    ("negative", ops.negative, np.negative, (-2, 2), ()),
    ("exp", ops.exp, np.exp, (-2, 2), ()),
    ("expm1", ops.expm1, np.expm1, (-2, 2), ()),
    ("log", ops.log, np.log, (0.2, 3), ()),
    ("log1p", ops.log1p, np.log1p, (-0.5, 2), ()),
    ("sqrt", ops.sqrt, np.sqrt, (0.2, 3), ()),
    ("rsqrt", ops.rsqrt, lambda x: 1 / np.sqrt(x), (0.2, 3), ()),
    ("square", ops.square, np.square, (-2, 2), ()),
    ("abs", ops.abs, np.abs, (-2, 2), (0,)),
    ("absolute", ops.absolute, np.abs, (-2, 2), (0,)),
    ("reciprocal", ops.reciprocal, lambda x: 1 / x, (0.3, 2), ()),
    ("sin", ops.sin, np.sin, (-3, 3), ()),
    ("cos", ops.cos, np.cos, (-3, 3), ()),
    ("tan", ops.tan, np.tan, (-1.2, 1.2), ()),
    ("erf", ops.erf, _erf, (-2, 2), ()),
    ("relu", ops.relu, lambda x: np.maximum(x, 0), (-2, 2), (0,)),
    ("relu6", ops.relu6, lambda x: np.clip(x, 0, 6), (-2, 8), (0, 6)),
    ("sigmoid", ops.sigmoid, _np_sigmoid, (-4, 4), ()),
    ("tanh", ops.tanh, np.tanh, (-3, 3), ()),
    ("leaky_relu", ops.leaky_relu, lambda x: np.where(x > 0, x, 0.2 * x), (-2, 2), (0,)),
    ("elu", ops.elu, _np_elu, (-2, 2), (0,)),
    ("selu", ops.selu, lambda x: 1.0507009873554805 * _np_elu(x, 1.6732632423543772), (-2, 2), (0,)),
    ("gelu", ops.gelu, _np_gelu_tanh, (-3, 3), ()),  # keras.ops.gelu: approximate=True by default
    ("gelu_exact", lambda x: ops.gelu(x, approximate=False), lambda x: 0.5 * x * (1 + _erf(x / np.sqrt(2))), (-3, 3), ()),
    ("softplus", ops.softplus, _np_softplus, (-4, 4), ()),
    ("softsign", ops.softsign, lambda x: x / (1 + np.abs(x)), (-2, 2), (0,)),
    ("silu", ops.silu, lambda x: x * _np_sigmoid(x), (-3, 3), ()),
    ("swish", ops.swish, lambda x: x * _np_sigmoid(x), (-3, 3), ()),
    ("hard_sigmoid", ops.hard_sigmoid, lambda x: np.clip(x / 6 + 0.5, 0, 1), (-5, 5), (-3, 3)),
    ("sinh", ops.sinh, np.sinh, (-2, 2), ()),
    ("cosh", ops.cosh, np.cosh, (-2, 2), ()),
    ("arctan", ops.arctan, np.arctan, (-3, 3), ()),
    ("log_sigmoid", ops.log_sigmoid, lambda x: -np.logaddexp(0, -x), (-4, 4), ()),
    ("ravel", ops.ravel, np.ravel, (-2, 2), ()),
    ("identity", ops.identity, lambda x: x, (-2, 2), ()),
    ("cast_f64", lambda x: ops.cast(x, "float64"), lambda x: x, (-2, 2), ()),
    ("clip_by_value", lambda x: ops.clip_by_value(x, -0.5, 1.0), lambda x: np.clip(x, -0.5, 1.0), (-2, 2), (-0.5, 1.0)),
    ("clip", lambda x: ops.clip(x, -0.5, 1.0), lambda x: np.clip(x, -0.5, 1.0), (-2, 2), (-0.5, 1.0)),
    ("power_scalar", lambda x: ops.power(x, 3), lambda x: x ** 3, (-2, 2), ()),
    ("rpower_scalar", lambda x: ops.power(2.0, x), lambda x: 2.0 ** x, (-2, 2), ()),
    ("square_operator", lambda x: x ** 2 - 3 * x + 1 / (x * x + 1), lambda x: x ** 2 - 3 * x + 1 / (x * x + 1), (-2, 2), ()),
]


@pytest.mark.parametrize("name,op,ref,domain,kinks", UNARY, ids=[u[0] for u in UNARY])
@FEW
@given(shape=shapes, seed=seeds)
def test_unary_value_and_gradient(name, op, ref, domain, kinks, shape, seed):
    x = rand(shape, seed, *domain, away_from=kinks)
    out = op(ops.convert_to_tensor(x))
    check_value(out, ref(x), rtol=1e-9, atol=1e-12, dtype=np.float64)
    check_grad(op, x, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("name,op,ref,domain,kinks", UNARY, ids=[u[0] for u in UNARY])
def test_unary_float32(name, op, ref, domain, kinks):
    """float32 in, float32 out (the Rust activation kernels run here), close to the float64 answer;
    the gradient is close to the float64 gradient."""
    x64 = rand((3, 5), 11, *domain, away_from=kinks, gap=0.1)
    x32 = ops.convert_to_tensor(x64.astype(np.float32))
    if name == "cast_f64":
        pytest.skip("casts to float64 by definition")
    with GradientTape() as tape:
        tape.watch(x32)
        y = op(x32)
        loss = ops.sum(y * np.linspace(0.5, 1.5, y.size).reshape(y.shape).astype(np.float32))
    assert y.dtype == np.float32, f"{name} turned float32 into {y.dtype}"
    np.testing.assert_allclose(np.asarray(y), ref(x64.astype(np.float32).astype(np.float64)), rtol=2e-4, atol=2e-5)
    g32 = tape.gradient(loss, x32)
    assert g32.dtype == np.float32
    x = ops.convert_to_tensor(x64.astype(np.float32).astype(np.float64))
    with GradientTape() as tape:
        tape.watch(x)
        y = op(x)
        loss = ops.sum(y * np.linspace(0.5, 1.5, y.size).reshape(y.shape))
    np.testing.assert_allclose(np.asarray(g32), np.asarray(tape.gradient(loss, x)), rtol=1e-3, atol=1e-4)


@pytest.mark.parametrize("name,op,ref", [
    ("sign", ops.sign, np.sign), ("floor", ops.floor, np.floor), ("ceil", ops.ceil, np.ceil),
    ("round", ops.round, np.round), ("stop_gradient", ops.stop_gradient, lambda x: x),
    ("zeros_like", ops.zeros_like, np.zeros_like), ("ones_like", ops.ones_like, np.ones_like),
])
@FEW
@given(shape=shapes, seed=seeds)
def test_piecewise_constant_ops_have_no_gradient(name, op, ref, shape, seed):
    x = ops.convert_to_tensor(rand(shape, seed, -3, 3))
    with GradientTape() as tape:
        tape.watch(x)
        y = op(x)
        loss = ops.sum(y)
    check_value(y, ref(np.asarray(x)), dtype=np.float64)
    g = tape.gradient(loss, x)
    assert g is None
    g = GradientTape
    with g() as tape:
        tape.watch(x)
        loss = ops.sum(op(x))
    np.testing.assert_array_equal(np.asarray(tape.gradient(loss, x, unconnected_gradients="zero")), np.zeros(shape))


@pytest.mark.parametrize("name,op,ref", [
    ("is_nan", ops.is_nan, np.isnan), ("isnan", ops.isnan, np.isnan), ("is_inf", ops.is_inf, np.isinf),
    ("isinf", ops.isinf, np.isinf), ("is_finite", ops.is_finite, np.isfinite), ("isfinite", ops.isfinite, np.isfinite),
    ("logical_not", lambda x: ops.logical_not(ops.greater(x, 0)), lambda x: ~(x > 0)),
])
def test_predicates(name, op, ref):
    x = np.array([[0.5, np.nan, -np.inf], [np.inf, -1.0, 0.0]])
    with np.errstate(invalid="ignore"):
        check_value(op(x), ref(x), dtype=np.bool_)


# ---- binary elementwise (broadcasting) ---------------------------------------------------------
BINARY = [
    ("add", ops.add, np.add, (-2, 2), (-2, 2)),
    ("subtract", ops.subtract, np.subtract, (-2, 2), (-2, 2)),
    ("multiply", ops.multiply, np.multiply, (-2, 2), (-2, 2)),
    ("divide", ops.divide, np.divide, (-2, 2), (0.5, 2)),
    ("true_divide", ops.true_divide, np.divide, (-2, 2), (0.5, 2)),
    ("power", ops.power, np.power, (0.5, 2), (-2, 2)),
    ("maximum", ops.maximum, np.maximum, (-2, 2), (-2, 2)),
    ("minimum", ops.minimum, np.minimum, (-2, 2), (-2, 2)),
    ("squared_difference", ops.squared_difference, lambda a, b: (a - b) ** 2, (-2, 2), (-2, 2)),
    ("mod", ops.mod, np.mod, (0.1, 5), (1.0, 1.0)),
    ("logaddexp", ops.logaddexp, np.logaddexp, (-3, 3), (-3, 3)),
    ("operators", lambda a, b: (a + b) * a - b / (b * b + 1) + (-a) ** 2, lambda a, b: (a + b) * a - b / (b * b + 1) + a ** 2,
     (-2, 2), (-2, 2)),
]


@pytest.mark.parametrize("name,op,ref,da,db", BINARY, ids=[b[0] for b in BINARY])
@FEW
@given(shapes2=pairs, seed=seeds)
def test_binary_value_and_gradient(name, op, ref, da, db, shapes2, seed):
    sa, sb = shapes2.input_shapes
    a = rand(sa, seed, *da)
    b = rand(sb, seed + 1, *db)
    if name == "mod":
        b = np.full(sb, 1.3)
        a = np.where(np.abs(np.mod(a, 1.3)) < 0.05, a + 0.1, a)
        a = np.where(np.abs(np.mod(a, 1.3) - 1.3) < 0.05, a - 0.1, a)
    out = op(ops.convert_to_tensor(a), ops.convert_to_tensor(b))
    with np.errstate(all="ignore"):
        check_value(out, ref(a, b), dtype=np.float64, rtol=1e-9)
    if name in ("maximum", "minimum") and np.size(out):  # near-ties: the gradient at a tie is a convention
        diff = np.abs(np.broadcast_to(a, out.shape) - np.broadcast_to(b, out.shape))
        if diff.min() < 1e-3:
            return
    check_grad(op, a, b)


@pytest.mark.parametrize("name,op,ref,da,db", BINARY, ids=[b[0] for b in BINARY])
def test_binary_float32(name, op, ref, da, db):
    """float32 with float32 (and with Python numbers) stays float32 and is close to float64."""
    a = rand((3, 4), 1, *da)
    b = rand((4,), 2, *db) if name != "mod" else np.full((4,), 1.3)
    a32, b32 = a.astype(np.float32), b.astype(np.float32)
    out = op(ops.convert_to_tensor(a32), ops.convert_to_tensor(b32))
    assert out.dtype == np.float32
    np.testing.assert_allclose(np.asarray(out), ref(a32.astype(np.float64), b32.astype(np.float64)), rtol=1e-5, atol=1e-5)
    assert op(ops.convert_to_tensor(a32), 2.0).dtype == np.float32
    assert op(1.5, ops.convert_to_tensor(b32)).dtype == np.float32


@pytest.mark.parametrize("name,op,ref", [
    ("equal", ops.equal, np.equal), ("not_equal", ops.not_equal, np.not_equal), ("greater", ops.greater, np.greater),
    ("greater_equal", ops.greater_equal, np.greater_equal), ("less", ops.less, np.less),
    ("less_equal", ops.less_equal, np.less_equal),
    ("logical_and", lambda a, b: ops.logical_and(ops.greater(a, 0), ops.greater(b, 0)), lambda a, b: (a > 0) & (b > 0)),
    ("logical_or", lambda a, b: ops.logical_or(ops.greater(a, 0), ops.greater(b, 0)), lambda a, b: (a > 0) | (b > 0)),
    ("logical_xor", lambda a, b: ops.logical_xor(ops.greater(a, 0), ops.greater(b, 0)), lambda a, b: (a > 0) ^ (b > 0)),
])
@FEW
@given(shapes2=pairs, seed=seeds)
def test_comparisons(name, op, ref, shapes2, seed):
    sa, sb = shapes2.input_shapes
    a = np.round(rand(sa, seed))
    b = np.round(rand(sb, seed + 1))
    check_value(op(a, b), ref(a, b), dtype=np.bool_)


@FEW
@given(shapes2=pairs, seed=seeds)
def test_floor_divide(shapes2, seed):
    sa, sb = shapes2.input_shapes
    a, b = rand(sa, seed), rand(sb, seed + 1, 0.5, 2)
    check_value(ops.floor_divide(a, b), np.floor_divide(a, b))


@FEW
@given(shapes3=hnp.mutually_broadcastable_shapes(num_shapes=3, min_dims=0, max_dims=3, min_side=0, max_side=3), seed=seeds)
def test_where_three_way_broadcast(shapes3, seed):
    sc, sa, sb = shapes3.input_shapes
    c = np.random.default_rng(seed).random(sc) > 0.5
    a, b = rand(sa, seed), rand(sb, seed + 1)
    check_value(ops.where(c, a, b), np.where(c, a, b))
    check_grad(lambda x, y: ops.where(c, x, y), a, b)


def test_where_one_argument_gives_indices():
    c = np.array([[True, False], [False, True]])
    check_value(ops.where(c), np.argwhere(c))


def test_weak_python_scalars_keep_the_tensor_dtype():
    x = ops.convert_to_tensor(np.ones(3, np.float32))
    for y in (x + 1, 2 * x, x / 3, x - 1.5, x ** 2, ops.maximum(x, 0.0), ops.add(1, x)):
        assert y.dtype == np.float32
    i = ops.convert_to_tensor(np.arange(3, dtype=np.int32))
    assert (i + 1).dtype == np.int32


# ---- matmul ----------------------------------------------------------------------------------
MATMUL_SHAPES = [
    ((2, 3), (3, 4)), ((3,), (3, 2)), ((2, 3), (3,)), ((3,), (3,)), ((2, 2, 3), (3, 4)), ((2, 3), (2, 3, 4)),
    ((2, 1, 2, 3), (3, 3, 2)), ((0, 3), (3, 2)), ((2, 0), (0, 3)), ((1, 1), (1, 1)), ((2, 2, 3), (1, 3, 2)),
]


@pytest.mark.parametrize("sa,sb", MATMUL_SHAPES)
def test_matmul_value_and_gradient(sa, sb):
    a, b = rand(sa, 1), rand(sb, 2)
    check_value(ops.matmul(a, b), np.matmul(a, b), dtype=np.float64)
    check_value(ops.dot(a, b), np.matmul(a, b))
    check_value(ops.convert_to_tensor(a) @ b, np.matmul(a, b))
    check_grad(ops.matmul, a, b)


@pytest.mark.parametrize("ta,tb", [(False, True), (True, False), (True, True)])
def test_matmul_transpose_flags(ta, tb):
    a = rand((4, 3) if ta else (3, 4), 3)
    b = rand((5, 4) if tb else (4, 5), 4)
    ref = np.matmul(a.T if ta else a, b.T if tb else b)
    check_value(math_ops.matmul(a, b, transpose_a=ta, transpose_b=tb), ref)
    check_grad(lambda x, y: math_ops.matmul(x, y, transpose_a=ta, transpose_b=tb), a, b)
    # batched
    a3, b3 = np.stack([a, a + 1]), np.stack([b, b - 1])
    ref3 = np.matmul(np.swapaxes(a3, -1, -2) if ta else a3, np.swapaxes(b3, -1, -2) if tb else b3)
    check_value(math_ops.matmul(a3, b3, transpose_a=ta, transpose_b=tb), ref3)
    check_grad(lambda x, y: math_ops.matmul(x, y, transpose_a=ta, transpose_b=tb), a3, b3)


@pytest.mark.parametrize("sa,sb", [((5, 7), (7, 3)), ((2, 5, 7), (7, 3)), ((2, 5, 7), (2, 7, 3)), ((2, 5, 7), (1, 7, 3)),
                                   ((64, 33), (33, 17))])
def test_matmul_float32_runs_the_rust_gemm_and_matches_numpy(sa, sb):
    a, b = rand(sa, 5).astype(np.float32), rand(sb, 6).astype(np.float32)
    out = ops.matmul(a, b)
    assert out.dtype == np.float32
    np.testing.assert_allclose(np.asarray(out), np.matmul(a.astype(np.float64), b.astype(np.float64)), rtol=1e-4, atol=1e-4)
    # transposed views go to the kernel as flags, not copies: same answer
    np.testing.assert_allclose(np.asarray(ops.matmul(a.T.T, np.asfortranarray(b))), np.asarray(out), rtol=1e-5, atol=1e-5)
    at, bt = ops.convert_to_tensor(a), ops.convert_to_tensor(b)
    with GradientTape() as tape:
        tape.watch([at, bt])
        loss = ops.sum(ops.matmul(at, bt) * 0.5)
    ga, gb = tape.gradient(loss, [at, bt])
    assert ga.dtype == np.float32 and ga.shape == a.shape and gb.shape == b.shape
    g = np.full(np.broadcast_shapes(sa[:-2], sb[:-2]) + (sa[-2], sb[-1]), 0.5)
    expect_a = np.matmul(g, np.swapaxes(b.astype(np.float64), -1, -2))
    np.testing.assert_allclose(np.asarray(ga), expect_a.reshape((-1,) + sa)[: 1].reshape(sa) if expect_a.shape == sa
                               else expect_a.sum(axis=tuple(range(expect_a.ndim - len(sa)))), rtol=1e-4, atol=1e-4)


def test_einsum_forms():
    a, b, c = rand((2, 3), 1), rand((3, 4), 2), rand((2, 3), 3)
    bat, bbt = rand((2, 3, 4), 4), rand((2, 4, 5), 5)
    cases = [
        ("ij,jk->ik", a, b), ("ij->ji", a), ("ij->", a), ("ij->j", a), ("ij,ij->i", a, c), ("ij,ij->ij", a, c),
        ("bij,bjk->bik", bat, bbt), ("i,j->ij", a[0], b[0]), ("bij->bj", bat), ("ij,jk,kl->il", a, b, b.T),
    ]
    for eq, *operands in cases:
        check_value(ops.einsum(eq, *operands), np.einsum(eq, *operands), rtol=1e-9)
        check_grad(lambda *xs, eq=eq: ops.einsum(eq, *xs), *operands)


# ---- reductions ------------------------------------------------------------------------------
@st.composite
def shape_and_axis(draw, min_dims=0):
    shape = draw(hnp.array_shapes(min_dims=min_dims, max_dims=3, min_side=0, max_side=3))
    nd = len(shape)
    kind = draw(st.sampled_from(["none", "int", "tuple"])) if nd else "none"
    if kind == "none":
        axis = None
    elif kind == "int":
        axis = draw(st.integers(-nd, nd - 1))
    else:
        axis = tuple(draw(st.lists(st.integers(0, nd - 1), min_size=1, max_size=nd, unique=True)))
    return shape, axis, draw(st.booleans())


def _reduced_size(shape, axis):
    if axis is None:
        return int(np.prod(shape))
    axes = (axis,) if isinstance(axis, int) else axis
    return int(np.prod([shape[a] for a in axes]))


REDUCTIONS = [
    ("sum", ops.sum, np.sum), ("mean", ops.mean, np.mean), ("max", ops.max, np.max), ("min", ops.min, np.min),
    ("amax", ops.amax, np.max), ("amin", ops.amin, np.min), ("prod", ops.prod, np.prod),
    ("logsumexp", ops.logsumexp, lambda x, axis=None, keepdims=False: np.log(np.sum(np.exp(x), axis=axis, keepdims=keepdims))),
    ("var", ops.var, np.var), ("std", ops.std, np.std),
    ("norm", ops.norm, lambda x, axis=None, keepdims=False: np.sqrt(np.sum(x * x, axis=axis, keepdims=keepdims))),
]


@pytest.mark.parametrize("name,op,ref", REDUCTIONS, ids=[r[0] for r in REDUCTIONS])
@FEW
@given(case=shape_and_axis(), seed=seeds)
def test_reduction_value_and_gradient(name, op, ref, case, seed):
    shape, axis, keepdims = case
    x = rand(shape, seed, 0.3, 2) if name in ("prod", "norm") else rand(shape, seed)
    n = _reduced_size(shape, axis)
    if name in ("max", "min", "amax", "amin") and n == 0:
        with pytest.raises(ValueError, match="empty"):
            op(x, axis=axis, keepdims=keepdims)
        return
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # numpy's own "mean of empty slice" on the reference
        expect = ref(x, axis=axis, keepdims=keepdims)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the op itself warns about nothing (NaN for empty means, as TF)
        got = op(x, axis=axis, keepdims=keepdims)
    check_value(got, expect, rtol=1e-9, dtype=np.float64)
    if name == "std" and n < 2 or name == "norm" and n == 0:
        return  # sqrt at 0: no finite derivative
    if name in ("mean", "var", "std") and n == 0:
        return  # NaN value
    check_grad(lambda t: op(t, axis=axis, keepdims=keepdims), x, rtol=1e-5, atol=1e-6)


def test_prod_gradient_with_zeros_is_exact():
    x = np.array([[0.0, 2.0, 3.0], [0.0, 0.0, 4.0], [1.0, 2.0, 3.0]])
    check_grad(lambda t: ops.prod(t, axis=1), x)
    check_grad(lambda t: ops.prod(t), np.array([2.0, 0.0, 3.0]))


def test_max_ties_share_the_gradient():
    x = ops.convert_to_tensor(np.array([1.0, 3.0, 3.0, 2.0]))
    with GradientTape() as tape:
        tape.watch(x)
        y = ops.max(x)
    np.testing.assert_allclose(np.asarray(tape.gradient(y, x)), [0, 0.5, 0.5, 0])


@pytest.mark.parametrize("name,op,ref", [("argmax", ops.argmax, np.argmax), ("argmin", ops.argmin, np.argmin)])
@FEW
@given(shape=nonempty_shapes, seed=seeds, data=st.data())
def test_arg_reductions(name, op, ref, shape, seed, data):
    x = rand(shape, seed)
    axis = data.draw(st.one_of(st.none(), st.integers(-len(shape), len(shape) - 1)))
    check_value(op(x, axis=axis), ref(x, axis=axis))


@pytest.mark.parametrize("name,op,ref", [("all", ops.all, np.all), ("any", ops.any, np.any),
                                         ("reduce_all", ops.reduce_all, np.all), ("reduce_any", ops.reduce_any, np.any)])
@FEW
@given(case=shape_and_axis(), seed=seeds)
def test_boolean_reductions(name, op, ref, case, seed):
    shape, axis, keepdims = case
    x = rand(shape, seed) > 0
    check_value(op(x, axis=axis, keepdims=keepdims), ref(x, axis=axis, keepdims=keepdims))


@FEW
@given(shape=nonempty_shapes, seed=seeds, data=st.data())
def test_cumsum(shape, seed, data):
    x = rand(shape, seed)
    axis = data.draw(st.one_of(st.none(), st.integers(-len(shape), len(shape) - 1)))
    check_value(ops.cumsum(x, axis=axis), np.cumsum(x, axis=axis))
    check_grad(lambda t: ops.cumsum(t, axis=axis), x)


@FEW
@given(case=shape_and_axis(min_dims=1), seed=seeds)
def test_moments(case, seed):
    shape, axis, keepdims = case
    if _reduced_size(shape, axis) == 0:
        return
    axes = list(range(len(shape))) if axis is None else axis
    x = rand(shape, seed)
    m, v = ops.moments(x, axes, keepdims=keepdims)
    ax = tuple(axes) if isinstance(axes, (list, tuple)) else axes
    check_value(m, np.mean(x, axis=ax, keepdims=keepdims))
    check_value(v, np.var(x, axis=ax, keepdims=keepdims))
    check_grad(lambda t: ops.moments(t, axes, keepdims=keepdims), x)


# ---- softmax family --------------------------------------------------------------------------
def _np_softmax(x, axis=-1):
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


@pytest.mark.parametrize("name,op,ref", [
    ("softmax", ops.softmax, _np_softmax),
    ("log_softmax", ops.log_softmax, lambda x, axis=-1: np.log(_np_softmax(x, axis))),
    ("l2_normalize", ops.l2_normalize, lambda x, axis=-1: x / np.sqrt(np.maximum(np.sum(x * x, axis=axis, keepdims=True), 1e-12))),
])
@FEW
@given(shape=nonempty_shapes, seed=seeds, data=st.data())
def test_normalisations(name, op, ref, shape, seed, data):
    axis = data.draw(st.integers(-len(shape), len(shape) - 1))
    x = rand(shape, seed)
    check_value(op(x, axis=axis), ref(x, axis=axis), rtol=1e-9)
    check_grad(lambda t: op(t, axis=axis), x)
    x32 = x.astype(np.float32)
    out32 = op(x32, axis=axis)
    assert out32.dtype == np.float32
    np.testing.assert_allclose(np.asarray(out32), ref(x32.astype(np.float64), axis=axis), rtol=1e-4, atol=1e-5)


def test_cross_entropies_from_logits():
    logits = rand((4, 5), 1, -3, 3)
    labels_sparse = np.array([0, 4, 2, 2])
    labels = np.eye(5)[labels_sparse]
    logp = np.log(_np_softmax(logits))
    check_value(nn_ops.softmax_cross_entropy_with_logits(labels=labels, logits=logits), -(labels * logp).sum(-1))
    check_value(nn_ops.sparse_softmax_cross_entropy_with_logits(labels=labels_sparse, logits=logits),
                -logp[np.arange(4), labels_sparse])
    z, y = rand((3, 4), 2, -4, 4), np.random.default_rng(0).random((3, 4))
    check_value(nn_ops.sigmoid_cross_entropy_with_logits(labels=y, logits=z),
                -(y * np.log(_np_sigmoid(z)) + (1 - y) * np.log(1 - _np_sigmoid(z))), rtol=1e-9)
    check_grad(lambda t: nn_ops.softmax_cross_entropy_with_logits(labels=labels, logits=t), logits)
    check_grad(lambda t: nn_ops.sparse_softmax_cross_entropy_with_logits(labels=labels_sparse, logits=t), logits)
    check_grad(lambda t: nn_ops.sigmoid_cross_entropy_with_logits(labels=y, logits=t), z)


# ---- shape ops -------------------------------------------------------------------------------
@FEW
@given(shape=shapes, seed=seeds, data=st.data())
def test_reshape(shape, seed, data):
    x = rand(shape, seed)
    target = data.draw(st.sampled_from([(-1,), tuple(reversed(shape)), (1,) + tuple(shape), (x.size, 1)]))
    check_value(ops.reshape(x, target), np.reshape(x, target))
    check_grad(lambda t: ops.reshape(t, target), x)
    check_grad(lambda t: t.reshape(target), x)


@FEW
@given(shape=shapes, seed=seeds, data=st.data())
def test_transpose(shape, seed, data):
    x = rand(shape, seed)
    perm = data.draw(st.permutations(range(len(shape))))
    check_value(ops.transpose(x, perm), np.transpose(x, perm))
    check_value(ops.transpose(x), np.transpose(x))
    check_grad(lambda t: ops.transpose(t, perm), x)
    check_grad(lambda t: t.T, x)
    if len(shape) >= 2:
        check_value(ops.swapaxes(x, 0, -1), np.swapaxes(x, 0, -1))
        check_grad(lambda t: ops.swapaxes(t, 0, -1), x)
        check_value(ops.moveaxis(x, 0, -1), np.moveaxis(x, 0, -1))
        check_grad(lambda t: ops.moveaxis(t, 0, -1), x)


@FEW
@given(shape=shapes, seed=seeds, data=st.data())
def test_expand_dims_and_squeeze(shape, seed, data):
    x = rand(shape, seed)
    axis = data.draw(st.integers(-len(shape) - 1, len(shape)))
    check_value(ops.expand_dims(x, axis), np.expand_dims(x, axis))
    check_grad(lambda t: ops.expand_dims(t, axis), x)
    y = np.expand_dims(x, axis)
    check_value(ops.squeeze(y, axis), np.squeeze(y, axis))
    check_grad(lambda t: ops.squeeze(t, axis), y)
    check_value(ops.squeeze(y), np.squeeze(y))
    check_grad(lambda t: ops.squeeze(t), y)


@FEW
@given(shapes2=pairs, seed=seeds)
def test_broadcast_to(shapes2, seed):
    sa, _ = shapes2.input_shapes
    x = rand(sa, seed)
    target = shapes2.result_shape
    check_value(ops.broadcast_to(x, target), np.broadcast_to(x, target))
    check_grad(lambda t: ops.broadcast_to(t, target), x)


@FEW
@given(shape=nonempty_shapes, seed=seeds, data=st.data())
def test_concat_stack_split_unstack(shape, seed, data):
    axis = data.draw(st.integers(-len(shape), len(shape) - 1))
    k = data.draw(st.integers(1, 3))
    parts = []
    for i in range(k):
        s = list(shape)
        s[axis] = data.draw(st.integers(0, 3))
        parts.append(rand(tuple(s), seed + i))
    check_value(ops.concat(parts, axis=axis), np.concatenate(parts, axis=axis))
    check_value(ops.concatenate(parts, axis=axis), np.concatenate(parts, axis=axis))
    check_grad(lambda *ts: ops.concat(list(ts), axis=axis), *parts)
    same = [rand(shape, seed + i) for i in range(k)]
    sax = data.draw(st.integers(-len(shape) - 1, len(shape)))
    check_value(ops.stack(same, axis=sax), np.stack(same, axis=sax))
    check_grad(lambda *ts: ops.stack(list(ts), axis=sax), *same)
    x = np.concatenate(parts, axis=axis)
    sizes = [p.shape[axis] for p in parts]
    pieces = ops.split(x, sizes, axis=axis)
    for got, expect in zip(pieces, parts):
        check_value(got, expect)
    check_grad(lambda t: ops.split(t, sizes, axis=axis), x)
    if k > 1:
        with_minus = list(sizes)
        with_minus[0] = -1
        for got, expect in zip(ops.split(x, with_minus, axis=axis), parts):
            check_value(got, expect)
    n = x.shape[axis]
    if n:
        check_value(ops.split(x, 1, axis=axis)[0], x)
    un = ops.unstack(x, axis=axis)
    assert len(un) == n
    for i, piece in enumerate(un):
        check_value(piece, np.take(x, i, axis=axis))
    if n:
        check_grad(lambda t: ops.unstack(t, axis=axis), x)


INDEXES = [
    (1,), (-1,), (slice(None),), (slice(1, 3),), (slice(None, None, -1),), (slice(3, 0, -2),), (slice(5, 9),),
    (Ellipsis, 0), (None,), (slice(None), None, 1), (Ellipsis, None), (0, Ellipsis, slice(None, None, -1)),
    (np.array([0, 2, 2, 0]),), ([1, 1, 3],), (slice(None), np.array([[0, 1], [1, 4]])),
    (np.array([0, 3]), slice(None), np.array([1, 1])), (1, -2, 0), (slice(None), 2, slice(1, None)),
]


@pytest.mark.parametrize("key", INDEXES, ids=[repr(k) for k in INDEXES])
def test_indexing_value_and_gradient(key):
    x = rand((4, 5, 3), 3)
    t = ops.convert_to_tensor(x)
    check_value(t[key], x[key])
    check_value(ops.getitem(x, key), x[key])
    check_grad(lambda a: a[key], x)


def test_boolean_mask_indexing():
    x = rand((4, 3), 4)
    mask = x > 0
    check_value(ops.convert_to_tensor(x)[mask], x[mask])
    check_grad(lambda a: a[mask], x)
    rows = np.array([True, False, True, True])
    check_value(ops.convert_to_tensor(x)[rows], x[rows])
    check_grad(lambda a: a[rows], x)
    check_grad(lambda a: a[ops.convert_to_tensor(rows), 1:], x)


def test_indexing_with_tensor_keys_and_variables():
    from aiaas_core.keras.variables import Variable
    x = rand((4, 3), 5)
    idx = ops.convert_to_tensor(np.array([3, 0, 3]))
    check_value(ops.convert_to_tensor(x)[idx], x[[3, 0, 3]])
    v = Variable(x.astype(np.float32))
    with GradientTape() as tape:
        y = ops.sum(v[idx, 1:] * 2.0)
    g = tape.gradient(y, v)
    expect = np.zeros((4, 3))
    np.add.at(expect, (np.array([3, 0, 3]), slice(1, None)), 2.0)
    np.testing.assert_allclose(np.asarray(g), expect)


@FEW
@given(shape=nonempty_shapes, seed=seeds, data=st.data())
def test_gather_take_take_along_axis(shape, seed, data):
    x = rand(shape, seed)
    axis = data.draw(st.integers(-len(shape), len(shape) - 1))
    n = shape[axis]
    idx = np.asarray(data.draw(st.lists(st.integers(0, n - 1), min_size=0, max_size=4)), dtype=np.int64)
    check_value(ops.gather(x, idx, axis=axis), np.take(x, idx, axis=axis))
    check_value(ops.take(x, idx, axis=axis), np.take(x, idx, axis=axis))
    check_grad(lambda t: ops.gather(t, idx, axis=axis), x)
    idx2 = np.random.default_rng(seed).integers(0, n, (2, 2))
    check_value(ops.gather(x, idx2, axis=axis), np.take(x, idx2, axis=axis))
    check_grad(lambda t: ops.gather(t, idx2, axis=axis), x)
    along = np.random.default_rng(seed).integers(0, n, shape)
    check_value(ops.take_along_axis(x, along, axis=axis), np.take_along_axis(x, along, axis=axis))
    check_grad(lambda t: ops.take_along_axis(t, along, axis=axis), x)


def test_gather_nd():
    x = rand((3, 4, 2), 6)
    idx = np.array([[0, 1], [2, 3], [0, 1]])
    check_value(ops.gather_nd(x, idx), x[idx[:, 0], idx[:, 1]])
    check_grad(lambda t: ops.gather_nd(t, idx), x)
    full = np.array([[[0, 0, 1], [2, 3, 0]]])
    check_value(ops.gather_nd(x, full), x[full[..., 0], full[..., 1], full[..., 2]])
    check_grad(lambda t: ops.gather_nd(t, full), x)


@FEW
@given(shape=shapes, seed=seeds, data=st.data())
def test_tile_repeat_reverse(shape, seed, data):
    x = rand(shape, seed)
    reps = data.draw(st.lists(st.integers(0, 3), min_size=len(shape), max_size=len(shape)))
    check_value(ops.tile(x, reps), np.tile(x, reps))
    check_grad(lambda t: ops.tile(t, reps), x)
    r = data.draw(st.integers(0, 3))
    check_value(ops.repeat(x, r), np.repeat(x, r))
    check_grad(lambda t: ops.repeat(t, r), x)
    if shape:
        axis = data.draw(st.integers(-len(shape), len(shape) - 1))
        check_value(ops.repeat(x, r, axis=axis), np.repeat(x, r, axis=axis))
        check_grad(lambda t: ops.repeat(t, r, axis=axis), x)
        check_value(ops.reverse(x, [axis]), np.flip(x, axis))
        check_value(ops.flip(x, axis), np.flip(x, axis))
        check_grad(lambda t: ops.reverse(t, [axis]), x)


@pytest.mark.parametrize("mode", ["CONSTANT", "REFLECT", "SYMMETRIC"])
@FEW
@given(shape=nonempty_shapes, seed=seeds, data=st.data())
def test_pad(mode, shape, seed, data):
    x = rand(shape, seed)
    limit = {"CONSTANT": 3, "REFLECT": None, "SYMMETRIC": None}[mode]
    pads = []
    for d in shape:
        hi = limit if limit is not None else (d - 1 if mode == "REFLECT" else d)
        pads.append([data.draw(st.integers(0, hi)), data.draw(st.integers(0, hi))])
    kwargs = {"constant_values": 1.5} if mode == "CONSTANT" else {}
    expect = np.pad(x, pads, mode=mode.lower(), **kwargs)
    check_value(ops.pad(x, pads, mode=mode, **kwargs), expect)
    check_grad(lambda t: ops.pad(t, pads, mode=mode, **kwargs), x)


@FEW
@given(shape=nonempty_shapes, seed=seeds, data=st.data())
def test_sort_argsort_top_k(shape, seed, data):
    x = rand(shape, seed)
    axis = data.draw(st.integers(-len(shape), len(shape) - 1))
    check_value(ops.sort(x, axis=axis), np.sort(x, axis=axis))
    check_grad(lambda t: ops.sort(t, axis=axis), x)
    check_value(ops.argsort(x, axis=axis), np.argsort(x, axis=axis, kind="stable"))
    k = data.draw(st.integers(0, shape[-1]))
    values, indices = ops.top_k(x, k)
    order = np.argsort(-x, axis=-1, kind="stable")[..., :k]
    check_value(values, np.take_along_axis(x, order, axis=-1))
    check_value(indices, order)
    check_grad(lambda t: ops.top_k(t, k)[0], x)


def test_one_hot():
    idx = np.array([[0, 2], [3, -1]])
    expect = (idx[..., None] == np.arange(3)).astype(np.float32)
    check_value(ops.one_hot(idx, 3), expect, dtype=np.float32)
    check_value(ops.one_hot(idx, 3, axis=0), np.moveaxis(expect, -1, 0))
    check_value(ops.one_hot(np.array([1]), 2, on_value=5.0, off_value=-1.0), [[-1.0, 5.0]])


def test_add_n_identity_and_creation_ops():
    a, b, c = rand((2, 3), 1), rand((2, 3), 2), rand((2, 3), 3)
    check_value(ops.add_n([a, b, c]), a + b + c)
    check_grad(lambda *xs: ops.add_n(list(xs)), a, b, c)
    check_value(ops.zeros((2, 3)), np.zeros((2, 3)), dtype=np.float32)
    check_value(ops.ones([2]), np.ones(2), dtype=np.float32)
    check_value(ops.full((2, 2), 3.0), np.full((2, 2), 3.0))
    check_value(ops.full_like(a, 7), np.full((2, 3), 7))
    check_value(ops.eye(3, 2), np.eye(3, 2), dtype=np.float32)
    check_value(ops.arange(5), np.arange(5), dtype=np.int32)
    check_value(ops.arange(1.0, 2.0, 0.25), np.arange(1.0, 2.0, 0.25), dtype=np.float32)
    check_value(ops.linspace(0.0, 1.0, 5), np.linspace(0, 1, 5), rtol=1e-6)
    check_value(ops.zeros_like(a), np.zeros((2, 3)), dtype=np.float64)
    assert ops.shape(a) == (2, 3) and ops.ndim(a) == 2 and int(ops.size(a)) == 6
    assert ops.dtype(a) == "float64"
    np.testing.assert_array_equal(ops.convert_to_numpy(ops.convert_to_tensor(a)), a)
    assert ops.is_tensor(ops.convert_to_tensor(a)) and not ops.is_tensor(a)


def test_vectorized_map_and_cond():
    x = rand((3, 2), 1)
    check_value(ops.vectorized_map(lambda r: r * 2.0, x), x * 2)
    check_grad(lambda t: ops.vectorized_map(lambda r: ops.sum(r * r), t), x)
    assert float(ops.cond(ops.greater(1, 0), lambda: 1.0, lambda: 2.0)) == 1.0


def test_var_std_with_tuple_axes_and_norm_matches_numpy():
    x = rand((2, 3, 4), 9)
    check_value(ops.var(x, axis=(0, 2)), np.var(x, axis=(0, 2)))
    check_value(ops.norm(x, axis=-1), np.linalg.norm(x, axis=-1))


# ---- random ----------------------------------------------------------------------------------
def test_random_ops_shapes_dtypes_and_seeds():
    from aiaas_core.ops import random_ops as r
    a = r.normal((3, 4), seed=1)
    assert a.shape == (3, 4) and a.dtype == np.float32
    np.testing.assert_array_equal(np.asarray(a), np.asarray(r.normal((3, 4), seed=1)))
    u = r.uniform((1000,), 2.0, 3.0, seed=2)
    assert 2.0 <= float(ops.min(u)) and float(ops.max(u)) < 3.0
    assert r.uniform((5,), 0, 10, dtype="int32", seed=3).dtype == np.int32
    t = r.truncated_normal((2000,), stddev=2.0, seed=4)
    assert float(ops.max(ops.abs(t))) <= 4.0
    gen = r.SeedGenerator(5)
    assert not np.array_equal(np.asarray(r.normal((4,), seed=gen)), np.asarray(r.normal((4,), seed=gen)))
    s = r.shuffle(np.arange(10), seed=6)
    assert sorted(np.asarray(s).tolist()) == list(range(10))
    c = r.categorical(np.log([[0.0001, 0.9999]]), 50, seed=7)
    assert c.shape == (1, 50) and int(ops.sum(c)) >= 45
    d = nn_ops.dropout(np.ones((100, 100), np.float32), 0.5, seed=8)
    kept = np.asarray(d) > 0
    assert 0.4 < kept.mean() < 0.6 and np.allclose(np.asarray(d)[kept], 2.0)


# ---- errors ----------------------------------------------------------------------------------
ERRORS = [
    ("add shapes", lambda: ops.add(np.ones((2, 3)), np.ones((4,))), ValueError, r"add.*\(2, 3\).*\(4,\)"),
    ("multiply shapes", lambda: ops.multiply(np.ones((2, 3)), np.ones((2,))), ValueError, r"multiply.*\(2, 3\)"),
    ("where shapes", lambda: ops.where(np.ones(3) > 0, np.ones(2), 0.0), ValueError, r"where"),
    ("equal shapes", lambda: ops.equal(np.ones(3), np.ones(2)), ValueError, r"equal"),
    ("string input", lambda: ops.exp("abc"), TypeError, r"exp.*numeric"),
    ("object input", lambda: ops.sum([object()]), TypeError, r"sum.*numeric"),
    ("matmul inner", lambda: ops.matmul(np.ones((2, 3)), np.ones((4, 5))), ValueError, r"matmul.*inner"),
    ("matmul scalar", lambda: ops.matmul(np.ones(()), np.ones((2,))), TypeError, r"matmul.*scalar"),
    ("matmul batch", lambda: ops.matmul(np.ones((2, 2, 3)), np.ones((3, 3, 2))), ValueError, r"matmul"),
    ("reshape", lambda: ops.reshape(np.ones(6), (4, 2)), ValueError, r"reshape.*\(6,\).*\(4, 2\)"),
    ("reshape two -1", lambda: ops.reshape(np.ones(6), (-1, -1)), ValueError, r"reshape"),
    ("transpose perm", lambda: ops.transpose(np.ones((2, 3)), [0, 0]), ValueError, r"perm"),
    ("expand_dims axis", lambda: ops.expand_dims(np.ones((2, 3)), 5), ValueError, r"expand_dims.*axis 5"),
    ("squeeze", lambda: ops.squeeze(np.ones((2, 3)), 0), ValueError, r"squeeze.*size 2"),
    ("sum axis", lambda: ops.sum(np.ones((2, 3)), axis=2), ValueError, r"axis 2.*rank 2"),
    ("mean axis", lambda: ops.mean(np.ones((2, 3)), axis=-3), ValueError, r"axis -3"),
    ("scalar axis", lambda: ops.sum(np.ones(()), axis=1), ValueError, r"axis 1.*rank 0"),
    ("cumsum axis", lambda: ops.cumsum(np.ones((2,)), axis=3), ValueError, r"axis 3"),
    ("concat empty", lambda: ops.concat([]), ValueError, r"concat"),
    ("concat shapes", lambda: ops.concat([np.ones((2, 3)), np.ones((3, 2))], axis=0), ValueError, r"concat.*\(2, 3\)"),
    ("concat axis", lambda: ops.concat([np.ones((2, 3)), np.ones((2, 3))], axis=2), ValueError, r"concat.*axis 2"),
    ("concat scalars", lambda: ops.concat([np.ones(()), np.ones(())]), ValueError, r"concat"),
    ("stack shapes", lambda: ops.stack([np.ones(2), np.ones(3)]), ValueError, r"stack.*same shape"),
    ("stack axis", lambda: ops.stack([np.ones(2), np.ones(2)], axis=3), ValueError, r"stack.*axis 3"),
    ("split parts", lambda: ops.split(np.ones(5), 2), ValueError, r"split.*5.*2"),
    ("split sizes", lambda: ops.split(np.ones(5), [2, 2]), ValueError, r"split.*sizes"),
    ("split axis", lambda: ops.split(np.ones(5), 1, axis=1), ValueError, r"split.*axis 1"),
    ("unstack scalar", lambda: ops.unstack(np.ones(())), ValueError, r"unstack"),
    ("index out of range", lambda: ops.convert_to_tensor(np.ones((2, 3)))[5], IndexError, r"index 5.*size 2"),
    ("index out of range (ValueError)", lambda: ops.convert_to_tensor(np.ones((2, 3)))[0, 7], ValueError, r"index 7.*size 3"),
    ("too many indices", lambda: ops.convert_to_tensor(np.ones((2, 3)))[0, 0, 0], ValueError, r"too many indices"),
    ("float index", lambda: ops.convert_to_tensor(np.ones((2, 3)))[0.5], TypeError, r"index"),
    ("mask shape", lambda: ops.convert_to_tensor(np.ones((2, 3)))[np.array([True, False, True])], ValueError, r"mask"),
    ("gather range", lambda: ops.gather(np.ones((2, 3)), [0, 5], axis=1), ValueError, r"gather.*\[0, 3\)"),
    ("gather float", lambda: ops.gather(np.ones((2, 3)), [0.5]), TypeError, r"gather.*integers"),
    ("gather axis", lambda: ops.gather(np.ones((2, 3)), [0], axis=2), ValueError, r"gather.*axis 2"),
    ("gather_nd depth", lambda: ops.gather_nd(np.ones((2, 3)), [[0, 1, 2]]), ValueError, r"gather_nd.*3"),
    ("gather_nd range", lambda: ops.gather_nd(np.ones((2, 3)), [[0, 3]]), ValueError, r"gather_nd.*range"),
    ("gather_nd float", lambda: ops.gather_nd(np.ones((2, 3)), [[0.0, 1.0]]), TypeError, r"gather_nd.*integers"),
    ("take_along_axis", lambda: ops.take_along_axis(np.ones((2, 3)), np.zeros((2, 3, 1), np.int64), axis=1), ValueError,
     r"take_along_axis"),
    ("take_along_axis range", lambda: ops.take_along_axis(np.ones((2, 3)), np.full((2, 1), 3), axis=1), ValueError,
     r"take_along_axis.*\[0, 3\)"),
    ("tile", lambda: ops.tile(np.ones((2, 3)), [2]), ValueError, r"tile.*multiples"),
    ("tile negative", lambda: ops.tile(np.ones((2, 3)), [2, -1]), ValueError, r"tile"),
    ("pad", lambda: ops.pad(np.ones((2, 3)), [[1, 1]]), ValueError, r"pad.*paddings"),
    ("pad reflect too wide", lambda: ops.pad(np.ones((2, 3)), [[2, 0], [0, 0]], mode="REFLECT"), ValueError, r"pad.*REFLECT"),
    ("pad mode", lambda: ops.pad(np.ones((2, 3)), [[1, 1], [0, 0]], mode="wrap"), ValueError, r"mode"),
    ("one_hot float", lambda: ops.one_hot(np.array([0.5]), 3), TypeError, r"one_hot.*integers"),
    ("one_hot depth", lambda: ops.one_hot(np.array([0]), -1), ValueError, r"one_hot.*depth"),
    ("broadcast_to", lambda: ops.broadcast_to(np.ones((2, 3)), (4, 3)), ValueError, r"broadcast.*\(2, 3\).*\(4, 3\)"),
    ("einsum operands", lambda: ops.einsum("ij,jk->ik", np.ones((2, 3))), ValueError, r"einsum.*2 operands"),
    ("einsum shapes", lambda: ops.einsum("ij,jk->ik", np.ones((2, 3)), np.ones((4, 5))), ValueError, r"einsum"),
    ("einsum repeated", lambda: ops.einsum("ii->i", np.ones((2, 2))), ValueError, r"einsum.*repeat"),
    ("einsum rank", lambda: ops.einsum("ijk->i", np.ones((2, 2))), ValueError, r"einsum.*ijk"),
    ("top_k", lambda: ops.top_k(np.ones((2, 3)), 4), ValueError, r"top_k.*4.*3"),
    ("top_k scalar", lambda: ops.top_k(np.ones(()), 1), ValueError, r"top_k"),
    ("sort axis", lambda: ops.sort(np.ones((2, 3)), axis=2), ValueError, r"sort.*axis 2"),
    ("argmax axis", lambda: ops.argmax(np.ones((2, 3)), axis=2), ValueError, r"argmax.*axis 2"),
    ("argmax empty", lambda: ops.argmax(np.ones((0, 3)), axis=0), ValueError, r"argmax.*empty"),
    ("clip bounds", lambda: ops.clip_by_value(np.ones(3), 2.0, 1.0), ValueError, r"clip"),
    ("cast dtype", lambda: ops.cast(np.ones(3), "string"), TypeError, r"dtype"),
    ("add_n empty", lambda: ops.add_n([]), ValueError, r"add_n"),
    ("add_n shapes", lambda: ops.add_n([np.ones(2), np.ones(3)]), ValueError, r"add_n.*shape"),
    ("zeros negative", lambda: ops.zeros((2, -1)), ValueError, r"shape.*non-negative"),
    ("zeros float shape", lambda: ops.zeros((2.5, 1)), TypeError, r"shape.*int"),
    ("arange zero step", lambda: ops.arange(0, 5, 0), ValueError, r"delta"),
    ("repeat negative", lambda: ops.repeat(np.ones(3), -1), ValueError, r"repeat"),
    ("moments axes", lambda: ops.moments(np.ones((2, 3)), [2]), ValueError, r"axis 2"),
    ("softmax axis", lambda: ops.softmax(np.ones((2, 3)), axis=4), ValueError, r"axis 4"),
    ("log_softmax int", lambda: ops.log_softmax(np.array(["a"])), TypeError, r"log_softmax"),
    ("swapaxes", lambda: ops.swapaxes(np.ones((2, 3)), 0, 2), ValueError, r"swapaxes.*axis 2"),
    ("moveaxis", lambda: ops.moveaxis(np.ones((2, 3)), 0, 5), ValueError, r"moveaxis.*axis 5"),
    ("reverse axis", lambda: ops.reverse(np.ones((2, 3)), [3]), ValueError, r"axis 3"),
    ("linspace num", lambda: ops.linspace(0.0, 1.0, -2), ValueError, r"linspace.*num"),
    ("eye", lambda: ops.eye(-1), ValueError, r"eye"),
    ("dropout rate", lambda: nn_ops.dropout(np.ones(3), 1.5), ValueError, r"dropout.*rate"),
    ("sparse labels", lambda: nn_ops.sparse_softmax_cross_entropy_with_logits(labels=np.array([3]), logits=np.ones((1, 3))),
     ValueError, r"labels.*\[0, 3\)"),
    ("sparse labels shape", lambda: nn_ops.sparse_softmax_cross_entropy_with_logits(labels=np.array([0, 1]), logits=np.ones((1, 3))),
     ValueError, r"labels.*shape"),
    ("softmax ce shapes", lambda: nn_ops.softmax_cross_entropy_with_logits(labels=np.ones((2, 4)), logits=np.ones((2, 3))),
     ValueError, r"labels.*logits"),
    ("sigmoid ce missing", lambda: nn_ops.sigmoid_cross_entropy_with_logits(logits=np.ones(3)), ValueError, r"labels"),
    ("random shape", lambda: __import__("aiaas_core.ops.random_ops", fromlist=["x"]).normal((2, -3)), ValueError, r"shape"),
    ("random NaN", lambda: __import__("aiaas_core.ops.random_ops", fromlist=["x"]).normal((2,), stddev=float("nan")),
     ValueError, r"stddev"),
    ("uniform bounds", lambda: __import__("aiaas_core.ops.random_ops", fromlist=["x"]).uniform((2,), 3.0, 1.0), ValueError,
     r"minval"),
    ("categorical", lambda: __import__("aiaas_core.ops.random_ops", fromlist=["x"]).categorical(np.ones(3), 2), ValueError,
     r"categorical.*\[batch, classes\]"),
]


@pytest.mark.parametrize("name,call,exc,pattern", ERRORS, ids=[e[0] for e in ERRORS])
def test_errors_name_the_problem(name, call, exc, pattern):
    with pytest.raises(exc, match=pattern) as info:
        call()
    # never numpy's own wording without the op's context
    assert "numpy" not in type(info.value).__module__


def test_tensor_is_immutable_and_in_place_operators_make_new_tensors():
    base = np.arange(4.0)
    t = ops.convert_to_tensor(base)
    assert np.shares_memory(np.asarray(t), base)  # zero-copy in
    original = t
    t -= 1.0
    t *= 2.0
    t += np.ones(4)
    t /= 2.0
    t **= 2
    np.testing.assert_array_equal(base, np.arange(4.0))
    np.testing.assert_array_equal(np.asarray(original), np.arange(4.0))
    np.testing.assert_allclose(np.asarray(t), ((np.arange(4.0) - 1) * 2 + 1) ** 2 / 4)
    with pytest.raises(TypeError, match="immutable"):
        original[0] = 5.0
    n = t.numpy()
    n[0] = 100.0
    assert float(t[0]) != 100.0


# every public op, given something that is not a numeric tensor, says which op and what was wrong
_NOT_OPS = {"GradientTape", "Tensor", "TensorShape", "cond", "vectorized_map", "is_tensor", "dtype", "shape", "ndim",
            "convert_to_numpy"}
PUBLIC_OPS = [n for n in ops.__all__ if callable(getattr(ops, n)) and n not in _NOT_OPS]


def _bad_call_args(name, bad):
    special = {"concat": ([bad, bad],), "concatenate": ([bad, bad],), "stack": ([bad],), "add_n": ([bad],),
               "einsum": ("ij->i", bad), "reshape": (bad, (2,)), "broadcast_to": (bad, (2,)), "split": (bad, 2),
               "one_hot": (bad, 3), "full": ((2,), bad), "cast": (bad, "float32")}
    if name in special:
        return special[name]
    fn = getattr(ops, name)
    params = inspect.signature(getattr(fn, "__wrapped__", fn)).parameters.values()
    required = sum(1 for p in params if p.default is p.empty and p.kind == p.POSITIONAL_OR_KEYWORD)
    return (bad,) + (np.ones(2),) * max(required - 1, 0)


@pytest.mark.parametrize("name", PUBLIC_OPS)
def test_every_public_op_rejects_non_numeric_input_clearly(name):
    for bad in ("abc", object(), [[1, 2], [3]], None):
        with pytest.raises((TypeError, ValueError)) as info:
            getattr(ops, name)(*_bad_call_args(name, bad))
        assert not type(info.value).__module__.startswith("numpy"), f"{name}: numpy's own {type(info.value).__name__}"
        message = str(info.value)
        assert name in message or "shape" in message or "dtype" in message, f"{name}({bad!r}): {message}"


def test_numpy_style_methods_and_functions_on_tensors_are_recorded():
    xv = np.array([[0.5, -1.0, 2.0], [3.0, 0.1, -0.2]])
    for fn in (lambda t: t.sum(axis=0), lambda t: t.mean(), lambda t: t.max(axis=1), lambda t: t.min(),
               lambda t: np.sum(t, axis=1), lambda t: np.max(t), lambda t: np.exp(t) * 2 - t ** 2,
               lambda t: t.reshape(3, 2), lambda t: t.T, lambda t: np.tanh(t), lambda t: t.astype(np.float64),
               lambda t: np.sqrt(np.abs(t) + 1.0)):
        check_grad(fn, xv)
    assert ops.convert_to_tensor(xv).astype(np.float32).dtype == np.float32


@pytest.mark.parametrize("k", [-1, 0, 2])
def test_tril_triu_diagonal_trace(k):
    x = rand((3, 4), 1)
    check_value(ops.tril(x, k), np.tril(x, k))
    check_grad(lambda t: ops.tril(t, k), x)
    check_value(ops.triu(x, k), np.triu(x, k))
    check_grad(lambda t: ops.triu(t, k), x)
    check_value(ops.diagonal(x, k), np.diagonal(x, k))
    check_grad(lambda t: ops.diagonal(t, k), x)
    check_value(ops.trace(x, k), np.trace(x, k))
    check_grad(lambda t: ops.trace(t, k), x)
    b = rand((2, 3, 3), 2)
    check_value(ops.diagonal(b, 0, 1, 2), np.diagonal(b, 0, 1, 2))
    check_value(ops.tril(b), np.tril(b))


def test_outer_tensordot_average_count_nonzero():
    a, b = rand((3,), 1), rand((2, 2), 2)
    check_value(ops.outer(a, b), np.outer(a, b))
    check_grad(ops.outer, a, b)
    x, y = rand((2, 3, 4), 3), rand((4, 3, 5), 4)
    for axes in (1, ([1, 2], [1, 0]), 0):
        yy = y if axes != 1 else rand((4, 5), 5)
        check_value(ops.tensordot(x, yy, axes), np.tensordot(x, yy, axes), rtol=1e-9)
        check_grad(lambda s, t, axes=axes: ops.tensordot(s, t, axes), x, yy)
    w = np.array([1.0, 2.0, 3.0])
    check_value(ops.average(x, axis=1, weights=w), np.average(x, axis=1, weights=w))
    check_grad(lambda t: ops.average(t, axis=1, weights=w), x)
    check_value(ops.average(x), np.average(x))
    z = np.array([[0.0, 1.0, 0.0], [2.0, 0.0, 3.0]])
    check_value(ops.count_nonzero(z), np.count_nonzero(z))
    check_value(ops.count_nonzero(z, axis=1), np.count_nonzero(z, axis=1))


def test_keras_crossentropies():
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(4, 3))
    probs = _np_softmax(logits)
    onehot = np.eye(3)[[0, 2, 1, 1]]
    ids = np.array([0, 2, 1, 1])
    ce = -(onehot * np.log(probs)).sum(-1)
    check_value(ops.categorical_crossentropy(onehot, probs), ce, rtol=1e-6)
    check_value(ops.categorical_crossentropy(onehot, logits, from_logits=True), ce, rtol=1e-9)
    check_value(ops.sparse_categorical_crossentropy(ids, probs), ce, rtol=1e-6)
    check_value(ops.sparse_categorical_crossentropy(ids, logits, from_logits=True), ce, rtol=1e-9)
    check_grad(lambda t: ops.categorical_crossentropy(onehot, t, from_logits=True), logits)
    check_grad(lambda t: ops.sparse_categorical_crossentropy(ids, ops.softmax(t)), logits)
    check_grad(lambda t: ops.categorical_crossentropy(onehot, ops.softmax(t)), logits)
    y, z = rng.random((3, 2)), rng.normal(size=(3, 2))
    bce = -(y * np.log(_np_sigmoid(z)) + (1 - y) * np.log(1 - _np_sigmoid(z)))
    check_value(ops.binary_crossentropy(y, _np_sigmoid(z)), bce, rtol=1e-6)
    check_value(ops.binary_crossentropy(y, z, from_logits=True), bce, rtol=1e-9)
    check_grad(lambda t: ops.binary_crossentropy(y, ops.sigmoid(t)), z)
    check_grad(lambda t: ops.binary_crossentropy(y, t, from_logits=True), z)
    with pytest.raises(ValueError, match="categorical_crossentropy.*shape"):
        ops.categorical_crossentropy(ids, probs)


@FEW
@given(batch=hnp.mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=2, min_side=0, max_side=2),
       m=st.integers(0, 3), k=st.integers(0, 3), n=st.integers(0, 3), vec=st.sampled_from(["", "a", "b", "ab"]),
       seed=seeds)
def test_matmul_hypothesis_shapes(batch, m, k, n, vec, seed):
    """Batched matmul with broadcast batch axes and size-0/1 dimensions; 1-D operands as numpy."""
    ba, bb = batch.input_shapes
    sa = (k,) if "a" in vec else ba + (m, k)
    sb = (k,) if "b" in vec else bb + (k, n)
    a, b = rand(sa, seed), rand(sb, seed + 1)
    check_value(ops.matmul(a, b), np.matmul(a, b), rtol=1e-9)
    check_grad(ops.matmul, a, b)
    a32, b32 = a.astype(np.float32), b.astype(np.float32)
    np.testing.assert_allclose(np.asarray(ops.matmul(a32, b32)), np.matmul(a, b), rtol=1e-4, atol=1e-4)


@FEW
@given(i=st.integers(0, 3), j=st.integers(0, 3), k=st.integers(1, 3), seed=seeds,
       eq=st.sampled_from(["ij,jk->ik", "ij,jk->ki", "ij,ik->jk", "ij,jk->", "ij,jk->j"]))
def test_einsum_hypothesis_sizes(i, j, k, seed, eq):
    left, right = eq.split("->")[0].split(",")
    sizes = {"i": i, "j": j, "k": k}
    a = rand(tuple(sizes[c] for c in left), seed)
    b = rand(tuple(sizes[c] for c in right), seed + 1)
    check_value(ops.einsum(eq, a, b), np.einsum(eq, a, b), rtol=1e-9)
    check_grad(lambda x, y: ops.einsum(eq, x, y), a, b)
