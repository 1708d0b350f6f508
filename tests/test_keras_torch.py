"""Cross-check one Conv2D and one LSTM layer (forward and gradients) against PyTorch, if installed."""

from __future__ import annotations

import numpy as np
import pytest

from aiaas_core.keras import layers

torch = pytest.importorskip("torch")


def test_conv2d_matches_torch():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 7, 8, 3)).astype(np.float32)
    layer = layers.Conv2D(4, (3, 2), strides=(2, 1), activation="relu")
    layer(x)  # build
    y, ctx = layer.forward(x, True)
    dy = rng.standard_normal(y.shape).astype(np.float32)
    dx, (dw, db) = layer.backward(ctx, dy)

    tx = torch.tensor(x.transpose(0, 3, 1, 2), requires_grad=True)           # NHWC -> NCHW
    tw = torch.tensor(layer.kernel.numpy().transpose(3, 2, 0, 1), requires_grad=True)  # HWIO -> OIHW
    tb = torch.tensor(layer.bias.numpy(), requires_grad=True)
    ty = torch.relu(torch.nn.functional.conv2d(tx, tw, tb, stride=(2, 1)))
    ty.backward(torch.tensor(dy.transpose(0, 3, 1, 2)))
    np.testing.assert_allclose(y, ty.detach().numpy().transpose(0, 2, 3, 1), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(dx, tx.grad.numpy().transpose(0, 2, 3, 1), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(dw, tw.grad.numpy().transpose(2, 3, 1, 0), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(db, tb.grad.numpy(), rtol=1e-4, atol=1e-5)


def test_lstm_matches_torch():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((3, 5, 2)).astype(np.float32)
    layer = layers.LSTM(4, return_sequences=True)
    layer(x)
    y, ctx = layer.forward(x, True)
    dy = rng.standard_normal(y.shape).astype(np.float32)
    dx, (dk, dr, db) = layer.backward(ctx, dy)

    lstm = torch.nn.LSTM(2, 4, batch_first=True)  # gate order i, f, g, o as Keras
    k, r, b = layer.get_weights()
    with torch.no_grad():
        lstm.weight_ih_l0.copy_(torch.tensor(k.T))
        lstm.weight_hh_l0.copy_(torch.tensor(r.T))
        lstm.bias_ih_l0.copy_(torch.tensor(b))
        lstm.bias_hh_l0.zero_()
    tx = torch.tensor(x, requires_grad=True)
    ty, _ = lstm(tx)
    ty.backward(torch.tensor(dy))
    np.testing.assert_allclose(y, ty.detach().numpy(), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(dx, tx.grad.numpy(), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(dk, lstm.weight_ih_l0.grad.numpy().T, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(dr, lstm.weight_hh_l0.grad.numpy().T, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(db, lstm.bias_ih_l0.grad.numpy(), rtol=1e-4, atol=1e-5)
