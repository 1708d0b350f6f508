"""Type stub for the native module `aiaas_core._core` (Rust, PyO3).

Conventions for every function here:
- Array arguments are C-contiguous numpy float32 arrays unless stated (integer ids: int64).
  The Python layers convert before calling; a non-contiguous or wrong-dtype array is a TypeError
  or ValueError, never a crash.
- Shapes are checked in Rust: a mismatch raises ValueError naming the expected and actual shapes.
- Results are new arrays; optimizer updates write into the arrays given (in place).
- The GIL is released while a kernel runs; kernels run in the one pool `set_num_threads` sizes.
- Activation names: "linear", "relu", "sigmoid", "tanh", "softmax", "leaky_relu", "elu", "gelu";
  `alpha` is leaky_relu's slope / elu's scale.
"""

from typing import Optional

import numpy as np
from numpy.typing import NDArray

F32 = NDArray[np.float32]
I64 = NDArray[np.int64]

__version__: str

# ---- threads and CPU -------------------------------------------------------------------------
def set_num_threads(n: int) -> None: ...
def get_num_threads() -> int: ...
def cpu_features() -> dict[str, bool]: ...

# ---- gemm ------------------------------------------------------------------------------------
# a [M,K] | [B,M,K] (or [K,M] when transpose_a), b [K,N] | [B,K,N] -> [M,N] | [B,M,N];
# a 2-D operand or a batch of 1 broadcasts over the other's batch.
def matmul(a: F32, b: F32, transpose_a: bool = False, transpose_b: bool = False) -> F32: ...

# ---- activations (elementwise; softmax over the last axis) -----------------------------------
# y = f(x), any shape
def activation_forward(x: F32, name: str, alpha: float = 0.0) -> F32: ...
# dx = dy * f'(x), given x and y = f(x); any shape (softmax: full Jacobian-vector product per row)
def activation_backward(x: F32, y: F32, dy: F32, name: str, alpha: float = 0.0) -> F32: ...

# ---- dense -----------------------------------------------------------------------------------
# y[N,U] = act(x[N,D] @ w[D,U] + b[U]); b may be None. Fused activation must be one whose
# derivative comes from y: linear, relu, sigmoid, tanh, softmax, leaky_relu, elu (not gelu).
# With N <= 4 and at least half of x's columns exactly zero in every row (ReLU -> Flatten), only the
# rows of w with a nonzero input are read (a zero input then adds exactly 0, even against inf/NaN).
def dense_forward(x: F32, w: F32, b: Optional[F32], activation: str = "linear", alpha: float = 0.0) -> F32: ...
# given x[N,D], w[D,U], y[N,U] (forward output), dy[N,U] -> (dx[N,D] | None, dw[D,U], db[U])
def dense_backward(
    x: F32, w: F32, y: F32, dy: F32, activation: str = "linear", alpha: float = 0.0, need_dx: bool = True
) -> tuple[Optional[F32], F32, F32]: ...

# ---- conv2d (NHWC input, HWIO kernel, Keras layout) ------------------------------------------
# x[N,H,W,C], w[KH,KW,C,F], b[F] | None, padding "valid" | "same" (Keras/TF "same" padding rule)
# -> y[N,OH,OW,F] = activation(conv + b), fused: linear, relu, sigmoid, tanh, softmax (over F),
# leaky_relu, elu (alpha for these two); gelu is refused (apply it with activation_forward)
def conv2d_forward(
    x: F32, w: F32, b: Optional[F32], stride: tuple[int, int] = (1, 1), padding: str = "valid",
    activation: str = "linear", alpha: float = 0.0,
) -> F32: ...
# dy[N,OH,OW,F] -> (dx[N,H,W,C] | None, dw[KH,KW,C,F], db[F]); with an activation, y is the fused
# forward's output and the gradients are taken through dz = dy * activation'(y) (y required then)
def conv2d_backward(
    x: F32, w: F32, dy: F32, stride: tuple[int, int] = (1, 1), padding: str = "valid", need_dx: bool = True,
    y: Optional[F32] = None, activation: str = "linear", alpha: float = 0.0,
) -> tuple[Optional[F32], F32, F32]: ...

# ---- pooling (NHWC) --------------------------------------------------------------------------
# x[N,H,W,C] -> (y[N,OH,OW,C], argmax[N,OH,OW,C] int64 flat index into x)
def maxpool2d_forward(
    x: F32, pool_size: tuple[int, int], strides: tuple[int, int], padding: str = "valid"
) -> tuple[F32, I64]: ...
# dy[N,OH,OW,C], argmax from forward, x_shape -> dx[x_shape]
def maxpool2d_backward(dy: F32, argmax: I64, x_shape: tuple[int, int, int, int]) -> F32: ...
# x[N,H,W,C] -> y[N,OH,OW,C] (with "same", padded cells are excluded from the average, as Keras)
def avgpool2d_forward(
    x: F32, pool_size: tuple[int, int], strides: tuple[int, int], padding: str = "valid"
) -> F32: ...
def avgpool2d_backward(
    dy: F32, x_shape: tuple[int, int, int, int], pool_size: tuple[int, int], strides: tuple[int, int],
    padding: str = "valid",
) -> F32: ...

# ---- batch normalization (over all axes but the last) ---------------------------------------
# x[..., C] -> (y, batch_mean[C], batch_var[C] (biased)); the caller updates moving statistics
def batchnorm_forward_train(x: F32, gamma: F32, beta: F32, epsilon: float = 1e-3) -> tuple[F32, F32, F32]: ...
def batchnorm_forward_infer(
    x: F32, gamma: F32, beta: F32, moving_mean: F32, moving_var: F32, epsilon: float = 1e-3
) -> F32: ...
# -> (dx, dgamma[C], dbeta[C]), using the batch statistics from the training forward
def batchnorm_backward(
    x: F32, dy: F32, gamma: F32, batch_mean: F32, batch_var: F32, epsilon: float = 1e-3
) -> tuple[F32, F32, F32]: ...

# ---- embedding -------------------------------------------------------------------------------
# ids[...] int64 in [0, V), table[V,E] -> y[..., E]; an id out of range is a ValueError naming it
def embedding_forward(ids: I64, table: F32) -> F32: ...
# -> dtable[V,E] (scatter-add of dy[..., E] at ids)
def embedding_backward(ids: I64, dy: F32, vocab_size: int) -> F32: ...

# ---- dropout (inverted: kept units scaled by 1/(1-rate)) --------------------------------------
# -> (y, mask) with mask values in {0, 1/(1-rate)}; same seed -> same mask
def dropout_forward(x: F32, rate: float, seed: int) -> tuple[F32, F32]: ...
# dx = dy * mask
def dropout_backward(dy: F32, mask: F32) -> F32: ...

# ---- losses: (mean loss over the batch, d loss / d y_pred) -----------------------------------
# Keras reduction: per-sample loss averaged over the last axis (mse/mae/bce) or summed over
# classes (cce), then the mean over all samples. y_true has y_pred's shape except for the sparse
# loss, where it holds class ids (float32 or int, shape y_pred.shape[:-1] or [..., 1]).
# name: "mse" | "mae" | "binary_crossentropy" | "categorical_crossentropy"
#       | "sparse_categorical_crossentropy"
# from_logits=True means y_pred are logits (sigmoid/softmax fused into the loss: stable, and the
# gradient is the simple p - y form); otherwise probabilities, clipped to [1e-7, 1 - 1e-7] as Keras.
def loss_forward_backward(name: str, y_pred: F32, y_true: F32, from_logits: bool = False) -> tuple[float, F32]: ...
# the same loss, without the gradient (evaluation)
def loss_forward(name: str, y_pred: F32, y_true: F32, from_logits: bool = False) -> float: ...

# ---- optimizers: update every (param, grad, state...) in the lists, in place, in one call -----
# Keras 3 formulas. `step` is the 1-based iteration count (Adam bias correction).
def sgd_update(
    params: list[F32], grads: list[F32], velocities: list[F32], learning_rate: float,
    momentum: float = 0.0, nesterov: bool = False, weight_decay: float = 0.0,
) -> None: ...
# Adam (epsilon 1e-7, Keras form: lr_t = lr * sqrt(1-b2^t) / (1-b1^t); p -= lr_t m / (sqrt(v) + eps));
# weight_decay > 0 gives AdamW (decoupled: p -= lr * wd * p before the Adam step)
def adam_update(
    params: list[F32], grads: list[F32], ms: list[F32], vs: list[F32], learning_rate: float, step: int,
    beta_1: float = 0.9, beta_2: float = 0.999, epsilon: float = 1e-7, weight_decay: float = 0.0,
) -> None: ...
# RMSprop (Keras: rho 0.9, epsilon 1e-7, momentum 0, centered False); mgs used only when centered,
# moms only when momentum > 0 (pass the lists anyway, same shapes as params)
def rmsprop_update(
    params: list[F32], grads: list[F32], ms: list[F32], mgs: list[F32], moms: list[F32], learning_rate: float,
    rho: float = 0.9, momentum: float = 0.0, epsilon: float = 1e-7, centered: bool = False,
) -> None: ...
# scale grads in place so their global L2 norm is <= max_norm; returns the norm before clipping
def clip_by_global_norm(grads: list[F32], max_norm: float) -> float: ...
def clip_by_value(grads: list[F32], clip_value: float) -> None: ...

# ---- recurrent layers (batch-first; Keras weight layouts) -----------------------------------
# LSTM: x[N,T,D], kernel[D,4H], recurrent_kernel[H,4H], bias[4H] | None; gates i, f, c, o.
# -> (hs[N,T,H] all hidden states, cache) ; cache is opaque (a tuple of arrays) for lstm_backward.
# The layer takes hs[:, -1] when return_sequences=False. Initial states are zero.
def lstm_forward(
    x: F32, kernel: F32, recurrent_kernel: F32, bias: Optional[F32],
    activation: str = "tanh", recurrent_activation: str = "sigmoid",
) -> tuple[F32, tuple]: ...
# dhs[N,T,H] (zeros except the last step when return_sequences=False)
# -> (dx[N,T,D] | None, dkernel, drecurrent_kernel, dbias[4H])
def lstm_backward(
    x: F32, kernel: F32, recurrent_kernel: F32, hs: F32, cache: tuple, dhs: F32,
    activation: str = "tanh", recurrent_activation: str = "sigmoid", need_dx: bool = True,
) -> tuple[Optional[F32], F32, F32, F32]: ...
# GRU (Keras default reset_after=True): kernel[D,3H], recurrent_kernel[H,3H], bias[2,3H] | None
# (row 0 input bias, row 1 recurrent bias); gates z, r, h.
def gru_forward(
    x: F32, kernel: F32, recurrent_kernel: F32, bias: Optional[F32],
    activation: str = "tanh", recurrent_activation: str = "sigmoid",
) -> tuple[F32, tuple]: ...
def gru_backward(
    x: F32, kernel: F32, recurrent_kernel: F32, hs: F32, cache: tuple, dhs: F32,
    activation: str = "tanh", recurrent_activation: str = "sigmoid", need_dx: bool = True,
) -> tuple[Optional[F32], F32, F32, F32]: ...
# SimpleRNN: h_t = act(x_t W + h_{t-1} U + b); kernel[D,H], recurrent_kernel[H,H], bias[H] | None
def simple_rnn_forward(
    x: F32, kernel: F32, recurrent_kernel: F32, bias: Optional[F32], activation: str = "tanh"
) -> tuple[F32, tuple]: ...
def simple_rnn_backward(
    x: F32, kernel: F32, recurrent_kernel: F32, hs: F32, cache: tuple, dhs: F32,
    activation: str = "tanh", need_dx: bool = True,
) -> tuple[Optional[F32], F32, F32, F32]: ...
