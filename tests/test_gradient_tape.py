"""tf.GradientTape as TensorFlow programs use it: watch, gradients of scalars and lists w.r.t.
variables, tensors and nested structures, persistent tapes, nested tapes (second derivatives),
stop_recording, unconnected gradients, jacobians, Variables; and the same small programs under
torch.autograd where torch is installed."""

from __future__ import annotations

import numpy as np
import pytest

from aiaas_core import ops
from aiaas_core.keras.variables import Variable
from aiaas_core.ops import GradientTape, Tensor, nn_ops


def const(x, dtype=np.float64):
    return ops.convert_to_tensor(np.asarray(x, dtype=dtype))


def test_watch_and_gradient_of_a_scalar():
    x = const(3.0)
    with GradientTape() as tape:
        tape.watch(x)
        y = x * x
    g = tape.gradient(y, x)
    assert isinstance(g, Tensor) and float(g) == 6.0


def test_constants_are_not_watched_without_watch():
    x = const([1.0, 2.0])
    with GradientTape() as tape:
        y = ops.sum(x * x)
    assert tape.gradient(y, x) is None


def test_gradient_of_a_list_of_targets_is_summed():
    x = const([1.0, 2.0])
    with GradientTape() as tape:
        tape.watch(x)
        a = ops.sum(x * x)
        b = ops.sum(3.0 * x)
    np.testing.assert_allclose(np.asarray(tape.gradient([a, b], x)), 2 * np.array([1.0, 2.0]) + 3)


def test_output_gradients_weight_the_targets():
    x = const([1.0, 2.0])
    with GradientTape() as tape:
        tape.watch(x)
        y = x * x
    np.testing.assert_allclose(np.asarray(tape.gradient(y, x, output_gradients=const([10.0, 1.0]))), [20.0, 4.0])


def test_sources_as_variables_tensors_nested_lists_and_dicts():
    w = Variable(np.array([[1.0, 2.0], [3.0, 4.0]], np.float32), name="w")
    b = Variable(np.array([0.5, -0.5], np.float32), name="b")
    x = const([[1.0, -1.0]], np.float32)
    with GradientTape() as tape:
        tape.watch(x)
        y = ops.sum(ops.square(x @ w + b))
    grads = tape.gradient(y, {"params": [w, (b,)], "input": x})
    assert set(grads) == {"params", "input"}
    gw, (gb,) = grads["params"]
    z = np.array([[1.0, -1.0]]) @ np.array([[1.0, 2.0], [3.0, 4.0]]) + np.array([0.5, -0.5])
    np.testing.assert_allclose(np.asarray(gb), (2 * z).sum(0), rtol=1e-6)
    np.testing.assert_allclose(np.asarray(gw), np.array([[1.0], [-1.0]]) @ (2 * z), rtol=1e-6)
    np.testing.assert_allclose(np.asarray(grads["input"]), (2 * z) @ np.array([[1.0, 2.0], [3.0, 4.0]]).T, rtol=1e-6)
    assert gw.dtype == np.float32


def test_persistent_tape_answers_many_calls_and_a_plain_one_only_one():
    x = const(2.0)
    with GradientTape(persistent=True) as tape:
        tape.watch(x)
        y = x * x
        z = y * y
    assert float(tape.gradient(y, x)) == 4.0
    assert float(tape.gradient(z, x)) == 32.0
    with GradientTape() as tape:
        tape.watch(x)
        y = x * x
    tape.gradient(y, x)
    with pytest.raises(RuntimeError, match="non-persistent"):
        tape.gradient(y, x)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("name,fn,d1,d2", [
    ("cube", lambda x: x ** 3, lambda x: 3 * x ** 2, lambda x: 6 * x),
    ("cube_mul", lambda x: x * x * x, lambda x: 3 * x ** 2, lambda x: 6 * x),
    ("tanh", ops.tanh, lambda x: 1 - np.tanh(x) ** 2, lambda x: -2 * np.tanh(x) * (1 - np.tanh(x) ** 2)),
    ("sigmoid", ops.sigmoid, lambda x: (s := 1 / (1 + np.exp(-x))) * (1 - s),
     lambda x: (s := 1 / (1 + np.exp(-x))) * (1 - s) * (1 - 2 * s)),
    ("exp", ops.exp, np.exp, np.exp),
    ("log", ops.log, lambda x: 1 / x, lambda x: -1 / x ** 2),
    ("sqrt", ops.sqrt, lambda x: 0.5 / np.sqrt(x), lambda x: -0.25 * x ** -1.5),
    ("sin", ops.sin, np.cos, lambda x: -np.sin(x)),
    ("softplus", ops.softplus, lambda x: 1 / (1 + np.exp(-x)), lambda x: (s := 1 / (1 + np.exp(-x))) * (1 - s)),
    ("gelu_exact", lambda x: ops.gelu(x, approximate=False), None, None),
    ("elu", ops.elu, None, None),
])
def test_nested_tapes_give_second_derivatives(name, fn, d1, d2, dtype):
    xv = np.array([0.3, 0.9, 1.7, 2.5]) if name in ("log", "sqrt") else np.array([-1.3, -0.4, 0.6, 1.1])
    x = const(xv, dtype)
    with GradientTape() as outer:
        outer.watch(x)
        with GradientTape() as inner:
            inner.watch(x)
            y = fn(x)
        dy = inner.gradient(y, x)
    d2y = outer.gradient(dy, x)
    if d1 is None:  # compare with finite differences of the first derivative, in float64
        def first(v):
            t = const(v)
            with GradientTape() as tape:
                tape.watch(t)
                out = fn(t)
            return np.asarray(tape.gradient(out, t))
        eps = 1e-6
        expect = (first(xv + eps) - first(xv - eps)) / (2 * eps)
    else:
        np.testing.assert_allclose(np.asarray(dy), d1(xv), rtol=1e-4 if dtype == np.float32 else 1e-10)
        expect = d2(xv)
    assert d2y is not None, f"no second derivative through {name}"
    np.testing.assert_allclose(np.asarray(d2y), expect, rtol=1e-3 if dtype == np.float32 else 1e-6, atol=1e-6)


@pytest.mark.parametrize("name", ["softmax", "log_softmax", "softmax_axis0", "logsumexp"])
def test_second_derivatives_of_softmax_family(name):
    """A Hessian-vector product through nested tapes against finite differences of the gradient."""
    fn = {"softmax": ops.softmax, "log_softmax": ops.log_softmax, "softmax_axis0": lambda t: ops.softmax(t, axis=0),
          "logsumexp": lambda t: ops.logsumexp(t, axis=-1, keepdims=True)}[name]
    xv = np.array([[0.2, -1.0, 0.5], [1.5, 0.1, -0.3]])
    c = np.array([[1.0, 2.0, 3.0], [-1.0, 0.5, 2.0]])
    v = np.array([[0.3, -0.2, 0.1], [0.0, 1.0, -1.0]])

    def grad_at(xx):
        x = const(xx)
        with GradientTape() as tape:
            tape.watch(x)
            y = ops.sum(fn(x) * c)
        return np.asarray(tape.gradient(y, x))

    x = const(xv)
    with GradientTape() as outer:
        outer.watch(x)
        with GradientTape() as inner:
            inner.watch(x)
            y = ops.sum(fn(x) * c)
        g = inner.gradient(y, x)
        gv = ops.sum(g * v)
    hv = outer.gradient(gv, x)
    eps = 1e-6
    expect = (grad_at(xv + eps * v) - grad_at(xv - eps * v)) / (2 * eps)
    np.testing.assert_allclose(np.asarray(hv), expect, rtol=1e-5, atol=1e-7)
    # and in float32 (the Rust softmax kernel forward, its backward recorded with ops)
    x32 = const(xv, np.float32)
    with GradientTape() as outer:
        outer.watch(x32)
        with GradientTape() as inner:
            inner.watch(x32)
            y = ops.sum(fn(x32) * c.astype(np.float32))
        g = inner.gradient(y, x32)
        gv = ops.sum(g * v.astype(np.float32))
    np.testing.assert_allclose(np.asarray(outer.gradient(gv, x32)), expect, rtol=1e-3, atol=1e-4)


def test_stop_recording_pauses_the_tape():
    x = const(2.0)
    with GradientTape() as tape:
        tape.watch(x)
        y = x * x
        with tape.stop_recording():
            z = y * 10.0
        w = y + 1.0
    assert tape.gradient(w, x) is not None
    with GradientTape(persistent=True) as tape:
        tape.watch(x)
        with tape.stop_recording():
            z = x * 10.0
    assert tape.gradient(z, x) is None


def test_stop_gradient_blocks_the_gradient():
    x = const([1.0, 2.0])
    with GradientTape() as tape:
        tape.watch(x)
        y = ops.sum(x * ops.stop_gradient(x))
    np.testing.assert_allclose(np.asarray(tape.gradient(y, x)), [1.0, 2.0])


def test_unconnected_gradients():
    x, u = const([1.0, 2.0]), const([[3.0]])
    with GradientTape(persistent=True) as tape:
        tape.watch([x, u])
        y = ops.sum(x * 2.0)
    gx, gu = tape.gradient(y, [x, u])
    assert gu is None
    gx, gu = tape.gradient(y, [x, u], unconnected_gradients="zero")
    np.testing.assert_array_equal(np.asarray(gu), [[0.0]])
    with pytest.raises(ValueError, match="unconnected_gradients"):
        tape.gradient(y, x, unconnected_gradients="nan")


def test_jacobian_after_the_with_block():
    x = const([1.0, 2.0, 3.0])
    with GradientTape() as tape:
        tape.watch(x)
        y = x * x
    j = tape.jacobian(y, x)
    np.testing.assert_allclose(np.asarray(j), np.diag([2.0, 4.0, 6.0]))
    a = const([[1.0, 2.0], [3.0, 4.0]])
    w = Variable(np.array([1.0, -1.0], np.float32))
    with GradientTape(persistent=True) as tape:
        tape.watch(a)
        z = ops.matmul(a, ops.cast(w, "float64"))
    ja, jw = tape.jacobian(z, [a, w])
    assert ja.shape == (2, 2, 2) and jw.shape == (2, 2)
    np.testing.assert_allclose(np.asarray(jw), [[1.0, 2.0], [3.0, 4.0]])
    np.testing.assert_allclose(np.asarray(ja)[0], [[1.0, -1.0], [0.0, 0.0]])


def test_watch_accessed_variables_false_watches_only_what_is_asked():
    v = Variable(np.float32(3.0))
    u = Variable(np.float32(4.0))
    with GradientTape(watch_accessed_variables=False) as tape:
        tape.watch(u)
        y = v * v + u * u
    gv, gu = tape.gradient(y, [v, u])
    assert gv is None and float(gu) == 8.0
    assert tape.watched_variables() == [u]


def test_variables_assign_operators_and_trainable():
    v = Variable([1.0, 2.0])
    assert v.dtype == np.float32 and v.shape == (2,)
    v.assign([3.0, 4.0])
    v.assign_add([1.0, 1.0])
    v.assign_sub([0.5, 0.5])
    np.testing.assert_allclose(v.numpy(), [3.5, 4.5])
    with pytest.raises(ValueError, match="shape"):
        v.assign([1.0, 2.0, 3.0])
    frozen = Variable([1.0, 1.0], trainable=False)
    with GradientTape() as tape:
        y = ops.sum(v * v + 2 * v - v / 2.0 + (-v) ** 2 + v @ frozen + frozen * v)
    gv, gf = tape.gradient(y, [v, frozen])
    x = np.array([3.5, 4.5])
    # v @ frozen is a scalar broadcast over both entries of the sum: it counts twice
    np.testing.assert_allclose(np.asarray(gv), 2 * x + 2 - 0.5 + 2 * x + 2 + 1, rtol=1e-6)
    assert gf is None
    # numpy arithmetic on a variable reads its value
    np.testing.assert_allclose(np.asarray(np.add(v, 1.0)), x + 1)
    with GradientTape() as tape:
        y = ops.sum(np.exp(v))
    np.testing.assert_allclose(np.asarray(tape.gradient(y, v)), np.exp(x), rtol=1e-5)


def test_assignment_inside_a_tape_is_not_differentiated_and_values_are_current():
    v = Variable(np.float32(2.0))
    with GradientTape() as tape:
        v.assign_add(1.0)
        y = v * v
    assert float(tape.gradient(y, v)) == 6.0


def test_in_place_operators_make_a_new_tensor_without_touching_the_original():
    m = np.array([1.0, 1.0])
    base = np.array([5.0, 6.0])
    t = ops.convert_to_tensor(base)
    original = t
    with GradientTape() as tape:
        tape.watch(t)
        t -= m
        t *= 3.0
        total = ops.sum(t)
    np.testing.assert_array_equal(base, [5.0, 6.0])
    np.testing.assert_array_equal(np.asarray(original), [5.0, 6.0])
    np.testing.assert_array_equal(np.asarray(t), [12.0, 15.0])
    np.testing.assert_array_equal(np.asarray(tape.gradient(total, original)), [3.0, 3.0])


@pytest.mark.parametrize("key", [
    (1,), (slice(None, None, -1),), (slice(None), None), (Ellipsis, 1), (np.array([0, 0, 2]),), (np.array([True, False, True]),),
    (slice(2, 0, -1), -1),
])
def test_indexing_gradients_scatter_back(key):
    xv = np.arange(12.0).reshape(3, 4) / 7
    x = const(xv)
    with GradientTape() as tape:
        tape.watch(x)
        y = ops.sum(x[key] * x[key])
    expect = np.zeros_like(xv)
    np.add.at(expect, key, 2 * xv[key])
    np.testing.assert_allclose(np.asarray(tape.gradient(y, x)), expect)


def test_watch_rejects_what_cannot_be_tracked_and_gradient_checks_sources():
    with GradientTape() as tape:
        with pytest.raises(TypeError, match="tf.constant"):
            tape.watch(np.ones(3))
        y = const(1.0)
    with pytest.raises(TypeError, match="sources"):
        tape.gradient(y, [None])


# ---- torch parity ----------------------------------------------------------------------------
def _mlp_params(seed=0):
    rng = np.random.default_rng(seed)
    return {"w1": rng.normal(0, 0.5, (5, 8)), "b1": rng.normal(0, 0.1, (8,)), "w2": rng.normal(0, 0.5, (8, 3)),
            "b2": rng.normal(0, 0.1, (3,))}


def _data(seed=1):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(6, 5)), rng.integers(0, 3, 6)


def test_parity_with_torch_autograd():
    torch = pytest.importorskip("torch")
    params = _mlp_params()
    x, y = _data()

    # 1. an MLP's cross-entropy loss, gradients w.r.t. every weight (float64 both sides)
    ours = {k: Variable(v, dtype="float64", name=k) for k, v in params.items()}
    with GradientTape() as tape:
        h = ops.relu(ops.matmul(x, ours["w1"]) + ours["b1"])
        logits = ops.matmul(h, ours["w2"]) + ours["b2"]
        loss = ops.mean(nn_ops.sparse_softmax_cross_entropy_with_logits(labels=y, logits=logits))
    g_ours = tape.gradient(loss, ours)
    theirs = {k: torch.tensor(v, requires_grad=True) for k, v in params.items()}
    th = torch.relu(torch.tensor(x) @ theirs["w1"] + theirs["b1"])
    tl = th @ theirs["w2"] + theirs["b2"]
    tloss = torch.nn.functional.cross_entropy(tl, torch.tensor(y))
    tloss.backward()
    assert abs(float(loss) - tloss.item()) < 1e-12
    for k in params:
        np.testing.assert_allclose(np.asarray(g_ours[k]), theirs[k].grad.numpy(), rtol=1e-10, atol=1e-12)

    # 2. a custom layer of tensor ops: layer norm + gated residual + a concat and a reduction
    def layer(t, w, mod):
        mu = mod.mean(t, -1, keepdims=True) if mod is torch else ops.mean(t, axis=-1, keepdims=True)
        if mod is torch:
            var = ((t - mu) ** 2).mean(-1, keepdim=True)
            n = (t - mu) / torch.sqrt(var + 1e-5)
            gate = torch.sigmoid(n @ w)
            z = torch.cat([n * gate, torch.tanh(n)], dim=-1)
            return (torch.logsumexp(z, dim=-1) + torch.max(z, dim=-1).values).sum()
        var = ops.mean(ops.square(t - mu), axis=-1, keepdims=True)
        n = (t - mu) / ops.sqrt(var + 1e-5)
        gate = ops.sigmoid(n @ w)
        z = ops.concat([n * gate, ops.tanh(n)], axis=-1)
        return ops.sum(ops.logsumexp(z, axis=-1) + ops.max(z, axis=-1))

    wv = np.random.default_rng(3).normal(size=(5, 5))
    xt, wt = const(x), const(wv)
    with GradientTape() as tape:
        tape.watch([xt, wt])
        out = layer(xt, wt, ops)
    gx, gw = tape.gradient(out, [xt, wt])
    tx, tw = torch.tensor(x, requires_grad=True), torch.tensor(wv, requires_grad=True)
    tout = layer(tx, tw, torch)
    tout.backward()
    np.testing.assert_allclose(float(out), tout.item(), rtol=1e-12)
    np.testing.assert_allclose(np.asarray(gx), tx.grad.numpy(), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(np.asarray(gw), tw.grad.numpy(), rtol=1e-9, atol=1e-12)

    # 3. second derivatives: d2/dx2 of sum(tanh(x)^3 * exp(-x^2)) and a Hessian-vector product of softmax CE
    xv = np.linspace(-1.5, 1.5, 7)
    t = const(xv)
    with GradientTape() as outer:
        outer.watch(t)
        with GradientTape() as inner:
            inner.watch(t)
            f = ops.sum(ops.tanh(t) ** 3 * ops.exp(-t * t))
        df = inner.gradient(f, t)
    d2 = outer.gradient(df, t)
    tt = torch.tensor(xv, requires_grad=True)
    tf_ = (torch.tanh(tt) ** 3 * torch.exp(-tt * tt)).sum()
    (tdf,) = torch.autograd.grad(tf_, tt, create_graph=True)
    (td2,) = torch.autograd.grad(tdf.sum(), tt)
    np.testing.assert_allclose(np.asarray(df), tdf.detach().numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(np.asarray(d2), td2.numpy(), rtol=1e-9, atol=1e-12)

    logits_v = np.random.default_rng(4).normal(size=(4, 3))
    vec = np.random.default_rng(5).normal(size=(4, 3))
    lt = const(logits_v)
    with GradientTape() as outer:
        outer.watch(lt)
        with GradientTape() as inner:
            inner.watch(lt)
            ce = ops.sum(nn_ops.sparse_softmax_cross_entropy_with_logits(labels=y[:4], logits=lt))
        g = inner.gradient(ce, lt)
        gv = ops.sum(g * vec)
    hv = outer.gradient(gv, lt)
    tlt = torch.tensor(logits_v, requires_grad=True)
    tce = torch.nn.functional.cross_entropy(tlt, torch.tensor(y[:4]), reduction="sum")
    (tg,) = torch.autograd.grad(tce, tlt, create_graph=True)
    (thv,) = torch.autograd.grad((tg * torch.tensor(vec)).sum(), tlt)
    np.testing.assert_allclose(np.asarray(hv), thv.numpy(), rtol=1e-9, atol=1e-12)


def _hvp_check(fn, xv, v, rtol=1e-5, atol=1e-7):
    """Hessian-vector product by nested tapes against central differences of the gradient."""
    def grad_at(xx):
        x = const(xx)
        with GradientTape() as tape:
            tape.watch(x)
            y = fn(x)
        g = tape.gradient(y, x)
        return np.zeros_like(xx) if g is None else np.asarray(g)

    x = const(xv)
    with GradientTape() as outer:
        outer.watch(x)
        with GradientTape() as inner:
            inner.watch(x)
            y = fn(x)
        g = inner.gradient(y, x)
        gv = ops.sum(g * v)
    hv = outer.gradient(gv, x, unconnected_gradients="zero")
    eps = 1e-5
    expect = (grad_at(xv + eps * v) - grad_at(xv - eps * v)) / (2 * eps)
    np.testing.assert_allclose(np.asarray(hv), expect, rtol=rtol, atol=atol)


W = np.random.default_rng(9).normal(size=(3, 4))
SECOND_ORDER = {
    "indexing": lambda x: ops.sum(x[np.array([0, 0, 1]), 1:] ** 3),
    "slices_negative_stride": lambda x: ops.sum(ops.exp(x[::-1, ::2])),
    "boolean_mask": lambda x: ops.sum(ops.sin(x[np.array([[True, False, True], [False, True, True]])])),
    "gather": lambda x: ops.sum(ops.square(ops.gather(x, [2, 0, 2], axis=1)) * x[0, 0]),
    "matmul": lambda x: ops.sum(ops.tanh(ops.matmul(x, W)) ** 2),
    "concat_split": lambda x: ops.sum(ops.concat([x * x, ops.exp(x)], axis=0)[1:] ** 2),
    "where_maximum": lambda x: ops.sum(ops.where(x > 0, x ** 3, ops.maximum(x, -0.5) ** 2)),
    "mean_var_broadcast": lambda x: ops.sum((x - ops.mean(x, axis=0)) ** 2 / (ops.var(x, axis=1, keepdims=True) + 1.0)),
    "divide_power": lambda x: ops.sum(x[0] / (x[1] ** 2 + 1.0) + ops.power(ops.abs(x[1]) + 1.0, x[0])),
    "logsumexp_softmax": lambda x: ops.sum(ops.logsumexp(x, axis=1)) + ops.sum(ops.softmax(x, axis=0)[0] * x[1]),
    "prod_norm": lambda x: ops.prod(x + 3.0) + ops.norm(x),
    "sigmoid_softplus_f64": lambda x: ops.sum(ops.sigmoid(x) * ops.softplus(x) + ops.elu(x) ** 2),
    "reshape_transpose_tile": lambda x: ops.sum(ops.tile(ops.transpose(ops.reshape(x, (3, 2))), [2, 1]) ** 3),
    "cumsum_sort": lambda x: ops.sum(ops.cumsum(x, axis=1) ** 2 + ops.sort(x, axis=1) * x),
    "pad_reflect": lambda x: ops.sum(ops.pad(x, [[1, 1], [1, 1]], mode="REFLECT") ** 3),
    "einsum": lambda x: ops.einsum("ij,kj->", x, x * x),
    "gelu_silu_cross_entropy": lambda x: ops.sum(ops.gelu(x) * ops.silu(x))
    + ops.sum(nn_ops.sparse_softmax_cross_entropy_with_logits(labels=[1, 2], logits=x)),
}


@pytest.mark.parametrize("name", sorted(SECOND_ORDER))
def test_second_derivatives_through_ops(name):
    xv = np.array([[0.7, -1.1, 0.4], [1.3, 0.25, -0.6]])
    v = np.array([[0.2, -0.5, 1.0], [0.3, 0.9, -0.4]])
    _hvp_check(SECOND_ORDER[name], xv, v)


def test_second_derivative_through_float32_kernel_activations():
    """float32 relu/sigmoid/tanh/softmax/elu/leaky_relu run the Rust kernels; their backward, when
    recorded, is written with ops, so a Hessian-vector product is right."""
    xv = np.array([[0.7, -1.1, 0.4], [1.3, 0.25, -0.6]])
    v = np.array([[0.2, -0.5, 1.0], [0.3, 0.9, -0.4]])
    fn = lambda x: ops.sum(ops.sigmoid(x) * ops.tanh(x) + ops.softmax(x) * x + ops.elu(x) * ops.relu(x)  # noqa: E731
                           + ops.leaky_relu(x) ** 2 + ops.gelu(x, approximate=False) * x)
    x = const(xv, np.float32)
    with GradientTape() as outer:
        outer.watch(x)
        with GradientTape() as inner:
            inner.watch(x)
            y = fn(x)
        gv = ops.sum(inner.gradient(y, x) * v.astype(np.float32))
    hv32 = np.asarray(outer.gradient(gv, x))
    x = const(xv)
    with GradientTape() as outer:
        outer.watch(x)
        with GradientTape() as inner:
            inner.watch(x)
            y = fn(x)
        gv = ops.sum(inner.gradient(y, x) * v)
    np.testing.assert_allclose(hv32, np.asarray(outer.gradient(gv, x)), rtol=1e-3, atol=1e-4)


def test_parity_with_torch_autograd_float32_mlp():
    """The same MLP in float32: our matmuls run the Rust gemm and relu/softmax the Rust kernels."""
    torch = pytest.importorskip("torch")
    params = {k: v.astype(np.float32) for k, v in _mlp_params(2).items()}
    x, y = _data(3)
    x = x.astype(np.float32)
    ours = {k: Variable(v, name=k) for k, v in params.items()}
    with GradientTape() as tape:
        h = ops.relu(ops.matmul(x, ours["w1"]) + ours["b1"])
        logits = ops.matmul(h, ours["w2"]) + ours["b2"]
        loss = ops.mean(nn_ops.sparse_softmax_cross_entropy_with_logits(labels=y, logits=logits))
    g_ours = tape.gradient(loss, ours)
    theirs = {k: torch.tensor(v, requires_grad=True) for k, v in params.items()}
    th = torch.relu(torch.tensor(x) @ theirs["w1"] + theirs["b1"])
    tloss = torch.nn.functional.cross_entropy(th @ theirs["w2"] + theirs["b2"], torch.tensor(y))
    tloss.backward()
    assert loss.dtype == np.float32
    np.testing.assert_allclose(float(loss), tloss.item(), rtol=1e-5)
    for k in params:
        assert g_ours[k].dtype == np.float32
        np.testing.assert_allclose(np.asarray(g_ours[k]), theirs[k].grad.numpy(), rtol=1e-4, atol=1e-6)


def test_batch_jacobian():
    xv = np.array([[1.0, 2.0], [3.0, -1.0], [0.5, 0.0]])
    w = np.array([[1.0, 2.0, 0.0], [0.0, 1.0, 3.0]])
    x = const(xv)
    with GradientTape(persistent=True) as tape:
        tape.watch(x)
        y = ops.matmul(x, w) ** 2
    jb = tape.batch_jacobian(y, x)
    assert jb.shape == (3, 3, 2)
    for b in range(3):
        z = xv[b] @ w
        np.testing.assert_allclose(np.asarray(jb)[b], (2 * z)[:, None] * w.T)
    with pytest.raises(ValueError, match="batch"):
        tape.batch_jacobian(y, const(np.ones((2, 2))))


def test_jacobian_of_unconnected_sources_and_empty_targets():
    x, u = const([1.0, 2.0]), const([5.0])
    with GradientTape(persistent=True) as tape:
        tape.watch([x, u])
        y = x * 3.0
        e = x[:0]
    jx, ju = tape.jacobian(y, [x, u])
    np.testing.assert_allclose(np.asarray(jx), 3 * np.eye(2))
    assert ju is None
    assert tape.jacobian(y, u, unconnected_gradients="zero").shape == (2, 1)
    assert tape.jacobian(e, x).shape == (0, 2)
