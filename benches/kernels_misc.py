"""The remaining training kernels: average pooling, batch normalization, embedding, dropout, SGD and
RMSprop updates, global-norm clipping and the losses; ours vs numpy vs PyTorch CPU, same threads.

    python benches/bench_kernels.py [--interleaved] misc

Shapes are the seed models' (the MNIST ConvNet's activations in NHWC, a Dense layer's batch of 32 x
128, an Embedding of 10,000 x 64 read by a batch of 32 x 100 ids, an optimizer over 5M float32
parameters in a 4M and a 1M tensor). Each case does the same work on every side, all float32:
- avgpool 2x2/2: torch runs F.avg_pool2d on an NCHW copy of x made once, outside the timed call.
  "fwd+bwd" is the forward then dx (torch: autograd).
- batchnorm: "train fwd" is the normalization with the batch statistics (torch also updates its
  running statistics, C floats), "infer fwd" with moving statistics, "bwd" is dx, dgamma, dbeta from
  the batch statistics (torch: aten.native_batch_norm_backward, the op autograd calls).
- embedding: "fwd" gathers rows, "bwd" is the dense [V, E] gradient (ours returns a dense array, and
  so does torch's default, sparse=False: aten.embedding_dense_backward).
- dropout at rate 0.5 (inverted): "fwd" draws the mask and scales, "bwd" is dy * mask. The random
  streams differ (a seed each call for ours, torch's generator, numpy's PCG64), so only times compare.
- sgd / rmsprop: one in-place update of every parameter; torch.optim.SGD / RMSprop `.step()` with
  foreach=True, their .grad set once outside the timed call. The formulas differ by a sign
  convention only (Keras keeps v = m v - lr g, torch v = m v + g) and move the same bytes; RMSprop's
  epsilon sits inside the sqrt in Keras 3 (ours, numpy) and outside in torch: the same operations.
- clip_by_global_norm: the global L2 norm of the 5M gradients, then scale them. max_norm shrinks by
  0.1% every call on every side, so every call scales (torch's clip_grad_norm_ always multiplies).
- losses: mean loss and its gradient d loss / d y_pred, at batch 32 and 1024 over 10 outputs (mse
  also over 784, the autoencoder's). From probabilities the Keras formulas clip (and, for the
  cross-entropies, normalize rows by their sum); torch and numpy run the same composition, torch
  differentiating it by autograd. From logits torch runs its fused ops (BCE-with-logits,
  cross_entropy with ids or with class probabilities).
`report` prints GB/s for the memory-bound optimizer cases after the timing table.
"""

from __future__ import annotations

import itertools

import numpy as np

from _harness import Case, print_bandwidth

import aiaas_core
from aiaas_core import _core

OPT_SIZES = (4_000_000, 1_000_000)
EPS = 1e-7  # Keras's probability clip and optimizer epsilon

# case name -> bytes moved per call (for GB/s)
BYTES: dict[str, float] = {}


def _nchw(a: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(a.transpose(0, 3, 1, 2))


# ---- average pooling ---------------------------------------------------------------------------

def avgpool_cases(torch, shape: tuple[int, int, int, int]) -> list[Case]:
    n, h, w, c = shape
    rng = np.random.default_rng(10)
    x = rng.standard_normal(shape, dtype=np.float32)
    dy = rng.standard_normal((n, h // 2, w // 2, c), dtype=np.float32)
    pool = (2, 2)

    def ours_fwd():
        return _core.avgpool2d_forward(x, pool, pool)

    def ours_step():
        _core.avgpool2d_forward(x, pool, pool)
        return _core.avgpool2d_backward(dy, x.shape, pool, pool)

    def np_fwd():
        return x.reshape(n, h // 2, 2, w // 2, 2, c).mean(axis=(2, 4))

    def np_step():
        np_fwd()
        dx = np.empty_like(x).reshape(n, h // 2, 2, w // 2, 2, c)
        dx[...] = (dy * np.float32(0.25))[:, :, None, :, None, :]
        return dx.reshape(shape)

    t_fwd = t_step = None
    if torch is not None:
        F = torch.nn.functional
        tx = torch.from_numpy(_nchw(x)).requires_grad_(True)
        tdy = torch.from_numpy(_nchw(dy))

        def t_fwd():
            with torch.no_grad():
                return F.avg_pool2d(tx, 2, 2)

        def t_step():
            tx.grad = None
            F.avg_pool2d(tx, 2, 2).backward(tdy)
            return tx.grad

    tag = f"avgpool 2x2 {h}x{w}x{c} b{n}"
    return [Case(f"{tag} fwd", ours_fwd, torch=t_fwd, numpy=np_fwd),
            Case(f"{tag} fwd+bwd", ours_step, torch=t_step, numpy=np_step)]


# ---- batch normalization -----------------------------------------------------------------------

def batchnorm_cases(torch, shape: tuple[int, ...]) -> list[Case]:
    """Over all axes but the last (Keras); torch's channel axis is 1, so 4-D inputs go NCHW."""
    rng = np.random.default_rng(11)
    x = rng.standard_normal(shape, dtype=np.float32) * 2 + 0.5
    dy = rng.standard_normal(shape, dtype=np.float32)
    c = shape[-1]
    gamma = rng.uniform(0.5, 1.5, c).astype(np.float32)
    beta = rng.standard_normal(c, dtype=np.float32)
    eps = 1e-3
    _, mean, var = _core.batchnorm_forward_train(x, gamma, beta, eps)
    moving_mean, moving_var = mean.copy(), var.copy()
    x2, dy2 = x.reshape(-1, c), dy.reshape(-1, c)  # views: numpy reduces over axis 0

    def np_train():
        m = x2.mean(axis=0)
        v = x2.var(axis=0)
        scale = gamma / np.sqrt(v + np.float32(eps))
        return (x2 * scale + (beta - m * scale)).reshape(shape), m, v

    def np_infer():
        scale = gamma / np.sqrt(moving_var + np.float32(eps))
        return (x2 * scale + (beta - moving_mean * scale)).reshape(shape)

    def np_bwd():
        inv = 1.0 / np.sqrt(var + np.float32(eps))
        xhat = (x2 - mean) * inv
        dbeta = dy2.sum(axis=0)
        dgamma = (dy2 * xhat).sum(axis=0)
        k = gamma * inv / np.float32(x2.shape[0])
        dx = (dy2 * np.float32(x2.shape[0]) - dbeta - xhat * dgamma) * k
        return dx.reshape(shape), dgamma, dbeta

    t_train = t_infer = t_bwd = t_step = None
    if torch is not None:
        F = torch.nn.functional
        to_t = (lambda a: torch.from_numpy(_nchw(a))) if len(shape) == 4 else (lambda a: torch.from_numpy(a.copy()))
        tx, tdy = to_t(x).requires_grad_(True), to_t(dy)
        tg = torch.from_numpy(gamma.copy()).requires_grad_(True)
        tb = torch.from_numpy(beta.copy()).requires_grad_(True)
        run_mean, run_var = torch.zeros(c), torch.ones(c)
        tmm, tmv = torch.from_numpy(moving_mean), torch.from_numpy(moving_var)
        _, save_mean, save_invstd = torch.ops.aten.native_batch_norm(tx.detach(), tg.detach(), tb.detach(),
                                                                     None, None, True, 0.01, eps)

        def t_train():
            with torch.no_grad():
                return F.batch_norm(tx, run_mean, run_var, tg, tb, training=True, momentum=0.01, eps=eps)

        def t_infer():
            with torch.no_grad():
                return F.batch_norm(tx, tmm, tmv, tg, tb, training=False, eps=eps)

        def t_bwd():
            return torch.ops.aten.native_batch_norm_backward(tdy, tx.detach(), tg.detach(), None, None, save_mean,
                                                             save_invstd, True, eps, [True, True, True])

        def t_step():
            tx.grad = tg.grad = tb.grad = None
            F.batch_norm(tx, run_mean, run_var, tg, tb, training=True, momentum=0.01, eps=eps).backward(tdy)
            return tx.grad, tg.grad, tb.grad

    def ours_step():
        _, m, v = _core.batchnorm_forward_train(x, gamma, beta, eps)
        return _core.batchnorm_backward(x, dy, gamma, m, v, eps)

    def np_step():
        np_train()
        return np_bwd()

    tag = "batchnorm " + "x".join(map(str, shape))
    return [
        Case(f"{tag} train fwd", lambda: _core.batchnorm_forward_train(x, gamma, beta, eps), torch=t_train,
             numpy=np_train),
        Case(f"{tag} infer fwd", lambda: _core.batchnorm_forward_infer(x, gamma, beta, moving_mean, moving_var, eps),
             torch=t_infer, numpy=np_infer),
        Case(f"{tag} bwd", lambda: _core.batchnorm_backward(x, dy, gamma, mean, var, eps), torch=t_bwd,
             numpy=np_bwd),
        Case(f"{tag} train fwd+bwd", ours_step, torch=t_step, numpy=np_step),
    ]


# ---- embedding ---------------------------------------------------------------------------------

def embedding_cases(torch, vocab: int = 10_000, dim: int = 64, batch: int = 32, length: int = 100) -> list[Case]:
    rng = np.random.default_rng(12)
    table = rng.standard_normal((vocab, dim), dtype=np.float32)
    ids = rng.integers(0, vocab, (batch, length)).astype(np.int64)
    dy = rng.standard_normal((batch, length, dim), dtype=np.float32)
    flat_ids, flat_dy = ids.reshape(-1), dy.reshape(-1, dim)

    def np_bwd():
        dt = np.zeros((vocab, dim), np.float32)
        np.add.at(dt, flat_ids, flat_dy)
        return dt

    def ours_step():
        _core.embedding_forward(ids, table)
        return _core.embedding_backward(ids, dy, vocab)

    def np_step():
        table[ids]
        return np_bwd()

    t_fwd = t_bwd = t_step = None
    if torch is not None:
        F = torch.nn.functional
        tt = torch.from_numpy(table.copy()).requires_grad_(True)
        tids, tdy = torch.from_numpy(ids), torch.from_numpy(dy)

        def t_fwd():
            with torch.no_grad():
                return F.embedding(tids, tt)

        def t_bwd():
            return torch.ops.aten.embedding_dense_backward(tdy, tids, vocab, -1, False)

        def t_step():
            tt.grad = None
            F.embedding(tids, tt).backward(tdy)
            return tt.grad

    tag = f"embedding {vocab}x{dim} ids {batch}x{length}"
    return [
        Case(f"{tag} fwd", lambda: _core.embedding_forward(ids, table), torch=t_fwd, numpy=lambda: table[ids]),
        Case(f"{tag} bwd (dense)", lambda: _core.embedding_backward(ids, dy, vocab), torch=t_bwd, numpy=np_bwd),
        Case(f"{tag} fwd+bwd", ours_step, torch=t_step, numpy=np_step),
    ]


# ---- dropout -----------------------------------------------------------------------------------

def dropout_cases(torch, shape: tuple[int, ...], rate: float = 0.5) -> list[Case]:
    rng = np.random.default_rng(13)
    x = rng.standard_normal(shape, dtype=np.float32)
    dy = rng.standard_normal(shape, dtype=np.float32)
    _, mask = _core.dropout_forward(x, rate, 0)
    seeds = itertools.count(1)
    np_rng = np.random.default_rng(14)
    keep_scale = np.float32(1.0 / (1.0 - rate))

    def np_fwd():
        m = (np_rng.random(shape, dtype=np.float32) >= rate) * keep_scale
        return x * m, m

    t_fwd = t_bwd = None
    if torch is not None:
        tx, tdy = torch.from_numpy(x), torch.from_numpy(dy)
        _, tmask = torch.ops.aten.native_dropout(tx, rate, True)  # bool mask, as autograd keeps it

        def t_fwd():
            return torch.ops.aten.native_dropout(tx, rate, True)  # what F.dropout(training=True) runs

        def t_bwd():
            return torch.ops.aten.native_dropout_backward(tdy, tmask, float(keep_scale))

    tag = f"dropout {rate} " + "x".join(map(str, shape))
    return [
        Case(f"{tag} fwd", lambda: _core.dropout_forward(x, rate, next(seeds)), torch=t_fwd, numpy=np_fwd),
        Case(f"{tag} bwd", lambda: _core.dropout_backward(dy, mask), torch=t_bwd, numpy=lambda: dy * mask),
    ]


# ---- optimizers and clipping -------------------------------------------------------------------

def _opt_tensors(seed: int):
    rng = np.random.default_rng(seed)
    params = [rng.standard_normal(s, dtype=np.float32) for s in OPT_SIZES]
    grads = [(rng.standard_normal(s, dtype=np.float32) * 0.01).astype(np.float32) for s in OPT_SIZES]
    return params, grads


def _torch_params(torch, params, grads):
    tps = [torch.from_numpy(p.copy()).requires_grad_(True) for p in params]
    for tp, g in zip(tps, grads):
        tp.grad = torch.from_numpy(g)
    return tps


def sgd_cases(torch) -> list[Case]:
    lr, mom = 0.01, 0.9
    total = sum(OPT_SIZES)
    out = []
    for label, momentum, nesterov in (("plain", 0.0, False), ("momentum", mom, False), ("nesterov", mom, True)):
        params, grads = _opt_tensors(20)
        vels = [np.zeros_like(p) for p in params]

        def ours(params=params, grads=grads, vels=vels, momentum=momentum, nesterov=nesterov):
            _core.sgd_update(params, grads, vels, lr, momentum, nesterov)

        # numpy: the Keras formula with in-place ufuncs (one temporary per tensor)
        np_params = [p.copy() for p in params]
        np_vels = [np.zeros_like(p) for p in params]

        def numpy_step(np_params=np_params, np_vels=np_vels, grads=grads, momentum=momentum, nesterov=nesterov):
            for p, g, v in zip(np_params, grads, np_vels):
                tmp = g * np.float32(lr)
                if momentum == 0.0:
                    p -= tmp
                    continue
                v *= np.float32(momentum)
                v -= tmp
                if nesterov:
                    tmp *= -1.0
                    tmp += v * np.float32(momentum)
                    p += tmp
                else:
                    p += v

        t_step = None
        if torch is not None:
            opt = torch.optim.SGD(_torch_params(torch, params, grads), lr=lr, momentum=momentum, nesterov=nesterov,
                                  foreach=True)
            t_step = opt.step

        name = f"SGD {label} {total / 1e6:.0f}M params"
        BYTES[name] = (12.0 if momentum == 0.0 else 20.0) * total  # read p, g (, v); write p (, v)
        out.append(Case(name, ours, torch=t_step, numpy=numpy_step))
    return out


def rmsprop_cases(torch) -> list[Case]:
    lr, rho = 1e-3, 0.9
    params, grads = _opt_tensors(21)
    ms = [np.zeros_like(p) for p in params]
    mgs = [np.zeros_like(p) for p in params]
    moms = [np.zeros_like(p) for p in params]

    def ours():
        _core.rmsprop_update(params, grads, ms, mgs, moms, lr, rho, 0.0, EPS, False)

    np_params = [p.copy() for p in params]
    np_ms = [np.zeros_like(p) for p in params]

    def numpy_step():
        for p, g, v in zip(np_params, grads, np_ms):
            v *= np.float32(rho)
            tmp = g * g
            tmp *= np.float32(1 - rho)
            v += tmp
            np.add(v, np.float32(EPS), out=tmp)  # Keras 3: epsilon inside the sqrt
            np.sqrt(tmp, out=tmp)
            np.divide(g, tmp, out=tmp)
            tmp *= np.float32(lr)
            p -= tmp

    t_step = None
    if torch is not None:
        opt = torch.optim.RMSprop(_torch_params(torch, params, grads), lr=lr, alpha=rho, eps=EPS, foreach=True)
        t_step = opt.step

    total = sum(OPT_SIZES)
    name = f"RMSprop {total / 1e6:.0f}M params"
    BYTES[name] = 20.0 * total  # read p, g, v; write p, v
    return [Case(name, ours, torch=t_step, numpy=numpy_step)]


def clip_cases(torch) -> list[Case]:
    _, grads = _opt_tensors(22)
    norm0 = float(np.sqrt(sum(np.dot(g, g) for g in grads)))

    def shrinking_max_norm():
        # 0.1% smaller every call: every call scales, and 1,000 calls only reach 0.37 of the start
        state = {"max": norm0}

        def next_max() -> float:
            state["max"] *= 0.999
            return state["max"]
        return next_max

    ours_grads = [g.copy() for g in grads]
    ours_max = shrinking_max_norm()
    np_grads = [g.copy() for g in grads]
    np_max = shrinking_max_norm()

    def numpy_step():
        norm = float(np.sqrt(sum(float(np.dot(g, g)) for g in np_grads)))
        scale = np.float32(min(1.0, np_max() / (norm + 1e-6)))
        for g in np_grads:
            g *= scale
        return norm

    t_step = None
    if torch is not None:
        tps = _torch_params(torch, grads, [g.copy() for g in grads])  # only the .grad are read
        t_max = shrinking_max_norm()

        def t_step():
            return float(torch.nn.utils.clip_grad_norm_(tps, t_max(), foreach=True))

    total = sum(OPT_SIZES)
    name = f"clip_by_global_norm {total / 1e6:.0f}M"
    BYTES[name] = 12.0 * total  # read g for the norm, then read and write it scaled
    return [Case(name, lambda: _core.clip_by_global_norm(ours_grads, ours_max()), torch=t_step, numpy=numpy_step)]


# ---- losses ------------------------------------------------------------------------------------

def _np_loss(name: str, from_logits: bool, p: np.ndarray, t: np.ndarray):
    """Keras's mean loss and d loss / d p in numpy, a few lines each."""
    rows, c = p.shape
    if name in ("mse", "mae"):
        d = p - t
        if name == "mse":
            return float(np.mean(d * d)), d * np.float32(2.0 / d.size)
        return float(np.mean(np.abs(d))), np.sign(d) * np.float32(1.0 / d.size)
    if name == "binary_crossentropy":
        if from_logits:
            loss = np.maximum(p, 0) - p * t + np.log1p(np.exp(-np.abs(p)))
            return float(loss.mean()), (1.0 / (1.0 + np.exp(-p)) - t) * np.float32(1.0 / p.size)
        q = np.clip(p, EPS, 1 - EPS)
        loss = -(t * np.log(q) + (1 - t) * np.log(1 - q))
        inside = (p > EPS) & (p < 1 - EPS)
        return float(loss.mean()), (q - t) / (q * (1 - q)) * inside * np.float32(1.0 / p.size)
    onehot = t
    if name == "sparse_categorical_crossentropy":
        onehot = np.zeros_like(p)
        onehot[np.arange(rows), t] = 1.0
    if from_logits:
        m = p.max(axis=1, keepdims=True)
        e = np.exp(p - m)
        s = e.sum(axis=1, keepdims=True)
        loss = np.log(s[:, 0]) + m[:, 0] - (onehot * p).sum(axis=1)
        return float(loss.mean()), (e / s - onehot) * np.float32(1.0 / rows)
    s = p.sum(axis=1, keepdims=True)
    q = p / s
    qc = np.clip(q, EPS, 1 - EPS)
    loss = -(onehot * np.log(qc)).sum(axis=1)
    dq = -onehot / qc * ((q > EPS) & (q < 1 - EPS))
    return float(loss.mean()), (dq - (dq * q).sum(axis=1, keepdims=True)) / s * np.float32(1.0 / rows)


def _torch_loss(torch, name: str, from_logits: bool, tp, tt):
    F = torch.nn.functional
    if name == "mse":
        return F.mse_loss(tp, tt)
    if name == "mae":
        return F.l1_loss(tp, tt)
    if name == "binary_crossentropy":
        if from_logits:
            return F.binary_cross_entropy_with_logits(tp, tt)
        q = tp.clamp(EPS, 1 - EPS)
        return -(tt * q.log() + (1 - tt) * (1 - q).log()).mean()
    if from_logits:
        return F.cross_entropy(tp, tt)  # ids (sparse) or class probabilities (categorical)
    q = (tp / tp.sum(dim=1, keepdim=True)).clamp(EPS, 1 - EPS)
    if name == "sparse_categorical_crossentropy":
        return F.nll_loss(q.log(), tt)
    return -(tt * q.log()).sum(dim=1).mean()


LOSSES = [  # name, from_logits, output width
    ("mse", False, 10), ("mse", False, 784), ("mae", False, 10),
    ("binary_crossentropy", True, 10), ("binary_crossentropy", False, 10),
    ("categorical_crossentropy", True, 10), ("categorical_crossentropy", False, 10),
    ("sparse_categorical_crossentropy", True, 10), ("sparse_categorical_crossentropy", False, 10),
]


def loss_cases(torch, batch: int) -> list[Case]:
    out = []
    for name, from_logits, width in LOSSES:
        rng = np.random.default_rng(30)
        z = rng.standard_normal((batch, width), dtype=np.float32)
        if name in ("mse", "mae") or from_logits:
            pred = z
        elif name == "binary_crossentropy":
            pred = (1.0 / (1.0 + np.exp(-z))).astype(np.float32)
        else:
            e = np.exp(z)
            pred = (e / e.sum(axis=1, keepdims=True)).astype(np.float32)
        ids = rng.integers(0, width, batch).astype(np.int64)
        if name == "sparse_categorical_crossentropy":
            true = ids
        elif name == "categorical_crossentropy":
            true = np.eye(width, dtype=np.float32)[ids]
        elif name == "binary_crossentropy":
            true = (rng.random((batch, width)) < 0.5).astype(np.float32)
        else:
            true = rng.standard_normal((batch, width), dtype=np.float32)

        def ours(name=name, pred=pred, true=true, from_logits=from_logits):
            return _core.loss_forward_backward(name, pred, true, from_logits)

        t_step = None
        if torch is not None:
            tp = torch.from_numpy(pred.copy()).requires_grad_(True)
            tt = torch.from_numpy(true)

            def t_step(name=name, from_logits=from_logits, tp=tp, tt=tt):
                tp.grad = None
                loss = _torch_loss(torch, name, from_logits, tp, tt)
                loss.backward()
                return loss.item(), tp.grad

        short = {"binary_crossentropy": "BCE", "categorical_crossentropy": "CCE",
                 "sparse_categorical_crossentropy": "sparse CCE"}.get(name, name)
        kind = "" if name in ("mse", "mae") else (" logits" if from_logits else " probs")
        out.append(Case(f"{short}{kind} b{batch}x{width} fwd+bwd", ours, torch=t_step,
                        numpy=(lambda n=name, f=from_logits, p=pred, t=true: _np_loss(n, f, p, t))))
    return out


def cases(torch, threads: int) -> list[Case]:
    aiaas_core.set_num_threads(threads)
    BYTES.clear()
    out: list[Case] = []
    for shape in ((32, 26, 26, 32), (32, 24, 24, 64)):
        out += avgpool_cases(torch, shape)
    for shape in ((32, 24, 24, 64), (32, 128)):
        out += batchnorm_cases(torch, shape)
    out += embedding_cases(torch)
    for shape in ((32, 128), (32, 24, 24, 64)):
        out += dropout_cases(torch, shape)
    out += sgd_cases(torch) + rmsprop_cases(torch) + clip_cases(torch)
    for batch in (32, 1024):
        out += loss_cases(torch, batch)
    return out


def report(rows: list[dict]) -> None:
    """GB/s (bytes moved / time) for the memory-bound optimizer cases."""
    print_bandwidth(rows, BYTES)
