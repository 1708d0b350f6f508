"""The baseline for benches/bench_service.py: what a user would write to serve a model without aiaas —
a plain FastAPI app with one PyTorch model and a predict route. Never imported by the package.

    python benches/serve_torch_baseline.py MODEL.zip --port 8100

MODEL.zip is a model version downloaded from the service (GET /v1/model-versions/{id}/download). Its
weights are copied into an equivalent torch.nn model (Dense, Conv2D, MaxPooling2D, Flatten, Reshape,
Dropout, Activation; NHWC kept at the boundaries so Flatten orders features as Keras does); the saved
input scaling is applied with numpy. At start it checks that torch reproduces aiaas_core's outputs.
POST /predict {"instances": [...]} -> {"predictions": [{"label", "probabilities"}]} like /v1.
"""

from __future__ import annotations

import argparse
import sys

import numpy as np
import torch
import uvicorn
from fastapi import FastAPI
from pydantic import BaseModel


class PredictRequest(BaseModel):
    instances: list


class _NHWCFlatten(torch.nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:  # NCHW -> flatten in Keras' (h, w, c) order
        return x.permute(0, 2, 3, 1).flatten(1) if x.dim() == 4 else x.flatten(1)


class _ToNCHW(torch.nn.Module):
    def __init__(self, shape: tuple[int, ...]) -> None:
        super().__init__()
        self.shape = shape

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.reshape(-1, *self.shape).permute(0, 3, 1, 2)


def _activation(name: str) -> torch.nn.Module | None:
    table = {"relu": torch.nn.ReLU(), "tanh": torch.nn.Tanh(), "sigmoid": torch.nn.Sigmoid(),
             "softmax": torch.nn.Softmax(dim=-1), "linear": None}
    if name not in table:
        raise ValueError(f"activation {name!r} has no baseline equivalent")
    return table[name]


def to_torch(model) -> torch.nn.Sequential:
    """An equivalent torch model (inference only) for aiaas_core's Sequential models of the catalog."""
    mods: list[torch.nn.Module] = []
    for layer in model.layers:
        kind = type(layer).__name__
        if kind == "Dense":
            k = layer.kernel.value
            lin = torch.nn.Linear(k.shape[0], k.shape[1], bias=layer.bias is not None)
            lin.weight.data = torch.from_numpy(k.T.copy())
            if layer.bias is not None:
                lin.bias.data = torch.from_numpy(layer.bias.value.copy())
            mods += [lin] + [a for a in [_activation(layer.activation)] if a is not None]
        elif kind == "Conv2D":
            k = layer.kernel.value  # (kh, kw, cin, cout)
            if tuple(layer.strides) != (1, 1):
                raise ValueError("baseline converts stride-1 convolutions only")
            conv = torch.nn.Conv2d(k.shape[2], k.shape[3], k.shape[:2], padding=layer.padding,
                                   bias=layer.bias is not None)
            conv.weight.data = torch.from_numpy(k.transpose(3, 2, 0, 1).copy())
            if layer.bias is not None:
                conv.bias.data = torch.from_numpy(layer.bias.value.copy())
            mods += [conv] + [a for a in [_activation(layer.activation)] if a is not None]
        elif kind == "MaxPooling2D":
            if layer.padding != "valid":
                raise ValueError("baseline converts 'valid' pooling only")
            mods.append(torch.nn.MaxPool2d(layer.pool_size, layer.strides))
        elif kind == "Reshape":
            mods.append(_ToNCHW(tuple(layer.target_shape)) if len(layer.target_shape) == 3 else torch.nn.Identity())
        elif kind == "Flatten":
            mods.append(_NHWCFlatten())
        elif kind == "Activation":
            mods += [a for a in [_activation(layer.activation)] if a is not None]
        elif kind in ("Dropout", "InputLayer"):
            continue
        else:
            raise ValueError(f"layer {kind} has no baseline equivalent")
    return torch.nn.Sequential(*mods).eval()


def build_app(path: str) -> FastAPI:
    import aiaas_core  # only to read the downloaded file (weights + fitted scaling)

    model = aiaas_core.load_model(path)
    net = to_torch(model)
    pre = model.preprocessing

    def prepare(x: np.ndarray) -> np.ndarray:
        flat = x.reshape(len(x), -1)
        if pre is not None:
            flat = pre.transform(flat)
        return np.ascontiguousarray(flat.reshape(x.shape), dtype=np.float32)

    def forward(x: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            return net(torch.from_numpy(prepare(x))).numpy()

    # check once that the copy is faithful (on random inputs shaped like the model's)
    shape = tuple(model.input_shape[1:])
    probe = np.random.default_rng(0).uniform(0, 1, size=(4, *shape)).astype(np.float32)
    diff = float(np.abs(forward(probe) - model.predict(prepare(probe), verbose=0)).max())
    if diff > 1e-4:
        raise SystemExit(f"torch copy differs from aiaas_core by {diff}")
    print(f"baseline ready: input {list(shape)}, max |torch - aiaas_core| = {diff:.2e}", flush=True)

    app = FastAPI()

    @app.post("/predict")
    def predict(body: PredictRequest) -> dict:
        x = np.asarray(body.instances, dtype=np.float32)
        out = forward(x)
        labels = out.argmax(axis=1)
        return {"predictions": [{"label": int(k), "probabilities": {str(i): float(p) for i, p in enumerate(row)}}
                                for k, row in zip(labels, out)]}

    return app


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("model_zip")
    ap.add_argument("--port", type=int, default=8100)
    args = ap.parse_args(argv)
    uvicorn.run(build_app(args.model_zip), host="127.0.0.1", port=args.port, log_level="warning")
    return 0


if __name__ == "__main__":
    sys.exit(main())
