"""Open Inference Protocol v2 (KServe / Triton REST) beside /v1, so standard clients (tritonclient.http,
KServe's InferenceRESTClient, curl) can call our endpoints.

`{name}` is the caller tenant's endpoint name, `{v}` a model version id deployed on it (primary or canary).
One input tensor "input" [-1, *input_shape] and one output tensor "output" [-1, *output_shape] (FP32:
probabilities for classifiers, values for regressors). JSON tensors (flat or nested `data`) and the binary
tensor extension (`Inference-Header-Content-Length`) are both understood. Errors are `{"error": "..."}`.
Authentication is the same API key as /v1: `Authorization: Bearer <key>` (tritonclient: `headers=`).
"""

from __future__ import annotations

import json
import math
from typing import Any, Callable

import numpy as np
from fastapi import APIRouter, Depends, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.routing import APIRoute
from sqlalchemy import text
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from ..deployments import RoutedModel
from ..errors import ApiError, brief
from ..json_input import loads_json, may_hold_booleans, numeric_array, reject_non_booleans
from ..security import Principal, require

PLATFORM = "aiaas_core"
INPUT_NAME, OUTPUT_NAME = "input", "output"
HEADER_LENGTH = "Inference-Header-Content-Length"

# OIP datatype -> numpy dtype (little-endian, as the binary extension sends it). BYTES is not a numeric tensor.
DATATYPES: dict[str, np.dtype] = {
    "BOOL": np.dtype("bool"), "UINT8": np.dtype("<u1"), "UINT16": np.dtype("<u2"), "UINT32": np.dtype("<u4"),
    "UINT64": np.dtype("<u8"), "INT8": np.dtype("<i1"), "INT16": np.dtype("<i2"), "INT32": np.dtype("<i4"),
    "INT64": np.dtype("<i8"), "FP16": np.dtype("<f2"), "FP32": np.dtype("<f4"), "FP64": np.dtype("<f8"),
}


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    if status == 422:  # OIP has no 422: a malformed request is 400
        status = 400
    return JSONResponse({"error": message}, status_code=status, headers=headers)


class OIPRoute(APIRoute):
    """Every failure of a /v2 route (auth, validation, ours) answers in the OIP shape `{"error": "..."}`."""

    def get_route_handler(self) -> Callable:
        handler = super().get_route_handler()

        async def oip_handler(request: Request) -> Response:
            try:
                return await handler(request)
            except ApiError as exc:
                return _error(exc.status, exc.detail, exc.headers)
            except RequestValidationError as exc:
                return _error(400, "invalid request: " + "; ".join(str(e.get("msg")) for e in exc.errors()))
            except StarletteHTTPException as exc:
                return _error(exc.status_code, str(exc.detail), getattr(exc, "headers", None))

        return oip_handler


router = APIRouter(prefix="/v2", tags=["open inference protocol v2"], route_class=OIPRoute)
predictor = require("predict")


@router.get("")
def server_metadata() -> dict[str, Any]:
    """Server metadata: name, version, supported extensions."""
    return {"name": "aiaas", "version": "1", "extensions": ["binary_tensor_data"]}


@router.get("/health/live")
def live() -> dict[str, bool]:
    return {"live": True}


@router.get("/health/ready")
def ready(request: Request) -> dict[str, bool]:
    """Ready when the database answers (serving does not need the training workers)."""
    try:
        with request.app.state.svc.sessions() as session:
            session.execute(text("SELECT 1"))
    except Exception as exc:
        raise ApiError(503, f"database not reachable: {type(exc).__name__}") from exc
    return {"ready": True}


def _model(request: Request, principal: Principal, name: str, version: str | None) -> RoutedModel:
    serving = request.app.state.svc.serving
    if version is None:
        return serving.resolve(principal.tenant_id, name)
    return serving.version_of(principal.tenant_id, name, version)


def _output_shape(loaded: RoutedModel) -> list[int]:
    shape = getattr(loaded.model, "output_shape", None)
    if isinstance(shape, tuple) and len(shape) >= 2 and all(isinstance(d, int) for d in shape[1:]):
        return [-1, *shape[1:]]
    return [-1, int(loaded.signature.get("n_outputs") or -1)]


def _metadata(request: Request, principal: Principal, name: str, version: str | None) -> dict[str, Any]:
    serving = request.app.state.svc.serving
    loaded = _model(request, principal, name, version)
    if version is None:  # every version taking traffic: the primary, then the canary if any
        cfg = serving.config(principal.tenant_id, name)
        versions = [v for v in (serving.primary_id(principal.tenant_id, name), cfg.canary_version_id) if v]
    else:
        versions = [version]
    return {
        "name": name,
        "versions": versions,
        "platform": PLATFORM,
        "inputs": [{"name": INPUT_NAME, "datatype": "FP32", "shape": [-1, *loaded.signature["input_shape"]]}],
        "outputs": [{"name": OUTPUT_NAME, "datatype": "FP32", "shape": _output_shape(loaded)}],
        # OIP parameter values are scalars: the class names travel as a JSON string
        "parameters": {"task": str(loaded.signature.get("task")), "classes": json.dumps(loaded.signature.get("classes"))},
    }


@router.get("/models/{name}")
def model_metadata(name: str, request: Request, principal: Principal = Depends(predictor)) -> dict[str, Any]:
    return _metadata(request, principal, name, None)


@router.get("/models/{name}/versions/{version}")
def model_version_metadata(name: str, version: str, request: Request,
                           principal: Principal = Depends(predictor)) -> dict[str, Any]:
    return _metadata(request, principal, name, version)


@router.get("/models/{name}/ready")
def model_ready(name: str, request: Request, principal: Principal = Depends(predictor)) -> dict[str, Any]:
    """200 when the endpoint's model is loaded and can answer (loading it now if it was evicted)."""
    _model(request, principal, name, None)
    return {"name": name, "ready": True}


@router.get("/models/{name}/versions/{version}/ready")
def model_version_ready(name: str, version: str, request: Request,
                        principal: Principal = Depends(predictor)) -> dict[str, Any]:
    _model(request, principal, name, version)
    return {"name": name, "version": version, "ready": True}


# ---- inference ------------------------------------------------------------------------------------

def _split_body(body: bytes, header_length: str | None) -> tuple[dict[str, Any], bytes]:
    """(JSON header, binary tail). The binary extension puts the JSON first and says how long it is."""
    if header_length is not None:
        try:
            n = int(header_length)
        except ValueError:
            raise ApiError(400, f"{HEADER_LENGTH} must be an integer, got {brief(header_length)}") from None
        if not 0 < n <= len(body):
            raise ApiError(400, f"{HEADER_LENGTH} {n} is outside the body of {len(body)} bytes")
        head, tail = body[:n], body[n:]
    else:
        head, tail = body, b""
    doc = loads_json(head, "a JSON object with an 'inputs' list")
    if not isinstance(doc, dict):
        raise ApiError(400, "request body must be a JSON object with an 'inputs' list")
    return doc, tail


def _parameters(obj: dict[str, Any], what: str) -> dict[str, Any]:
    """The optional `parameters` of a request, input or output: an object (OIP), else 400."""
    params = obj.get("parameters")
    if params is None:
        return {}
    if not isinstance(params, dict):
        raise ApiError(400, f"{what} 'parameters' must be an object, got {type(params).__name__}")
    return params


def _input_tensor(doc: dict[str, Any], tail: bytes, expected: list[int], max_values: int,
                  check_booleans: bool = True) -> np.ndarray:
    inputs = doc.get("inputs")
    if not isinstance(inputs, list) or len(inputs) != 1 or not isinstance(inputs[0], dict):
        raise ApiError(400, f"'inputs' must be a list of one tensor named {INPUT_NAME!r} shaped {expected}")
    t = inputs[0]
    if t.get("name") != INPUT_NAME:
        raise ApiError(400, f"unknown input {brief(t.get('name'))}; this model has one input named {INPUT_NAME!r}")
    datatype = t.get("datatype")
    if datatype not in DATATYPES:
        raise ApiError(400, f"input datatype {brief(datatype)} is not supported; use one of {sorted(DATATYPES)}")
    shape = t.get("shape")
    if not (isinstance(shape, list) and shape and all(isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape)):
        raise ApiError(400, f"input 'shape' must be a list of non-negative integers, got {brief(shape)}")
    if shape[1:] != expected[1:] or shape[0] < 1:
        raise ApiError(400, f"input shape {brief(shape)} does not match the model's input shape {expected} (-1: any batch >= 1)")
    count = math.prod(shape)
    if count > max_values:
        raise ApiError(413, f"{count} input values exceed the limit of {max_values} values per request")
    dtype = DATATYPES[datatype]
    params = _parameters(t, "input")
    if "binary_data_size" in params:
        size = params["binary_data_size"]
        if not isinstance(size, int) or size != count * dtype.itemsize or size > len(tail):
            raise ApiError(400, f"binary_data_size {brief(size)} does not match shape {shape} of {datatype} "
                                f"({count * dtype.itemsize} bytes) or the {len(tail)} bytes sent")
        arr = np.frombuffer(tail[:size], dtype=dtype)
    else:
        if "data" not in t:
            raise ApiError(400, "input has neither 'data' nor parameters.binary_data_size")
        if datatype == "BOOL":
            reject_non_booleans(t["data"], "input 'data'", f"expected {count} BOOL values (true or false)")
        else:  # strings, booleans and out-of-range integers are no numbers
            numeric_array(t["data"], "input 'data'", f"expected {count} {datatype} values", check_booleans=check_booleans)
        try:
            arr = np.asarray(t["data"], dtype=dtype)
        except (ValueError, TypeError, OverflowError):
            raise ApiError(400, f"input 'data' is not a rectangular array of {datatype} values") from None
        if arr.size != count:
            raise ApiError(400, f"input 'data' holds {arr.size} values but shape {shape} needs {count}")
    return arr.reshape(shape).astype(np.float32)


def _wants_binary(doc: dict[str, Any]) -> bool:
    """Binary output when the request asks: per output `binary_data` or request-level `binary_data_output`."""
    outputs = doc.get("outputs")
    if outputs is not None:
        if not isinstance(outputs, list) or not all(isinstance(o, dict) for o in outputs):
            raise ApiError(400, "'outputs' must be a list of objects with a 'name'")
        names = [o.get("name") for o in outputs]
        unknown = [n for n in names if n != OUTPUT_NAME]
        if unknown:
            raise ApiError(400, f"unknown output(s) {brief(unknown)}; this model has one output named {OUTPUT_NAME!r}")
        for o in outputs:
            flag = _parameters(o, "output").get("binary_data")
            if flag is not None:
                return bool(flag)
    return bool(_parameters(doc, "request").get("binary_data_output", False))


def _infer(request: Request, principal: Principal, name: str, version: str | None, body: bytes,
           header_length: str | None) -> Response:
    doc, tail = _split_body(body, header_length)
    request_id = doc.get("id")
    if request_id is not None and not isinstance(request_id, str):
        raise ApiError(400, "'id' must be a string")
    binary = _wants_binary(doc)
    serving = request.app.state.svc.serving
    loaded = _model(request, principal, name, version)
    expected = [-1, *loaded.signature["input_shape"]]
    x = _input_tensor(doc, tail, expected, request.app.state.svc.settings.max_predict_values,
                      check_booleans=may_hold_booleans(body if header_length is None else body[:len(body) - len(tail)]))
    serving.check_compute(loaded, len(x))
    out = np.ascontiguousarray(serving.predict_array(loaded, x), dtype=np.float32)  # [n, ...]
    tensor: dict[str, Any] = {"name": OUTPUT_NAME, "datatype": "FP32", "shape": list(out.shape)}
    result: dict[str, Any] = {"model_name": name, "model_version": loaded.version_id}
    if request_id is not None:
        result["id"] = request_id
    result["outputs"] = [tensor]
    if not binary:
        tensor["data"] = out.ravel().tolist()
        return JSONResponse(result)
    raw = out.astype("<f4").tobytes()
    tensor["parameters"] = {"binary_data_size": len(raw)}
    head = json.dumps(result).encode()
    return Response(head + raw, media_type="application/octet-stream", headers={HEADER_LENGTH: str(len(head))})


@router.post("/models/{name}/infer")
async def infer(name: str, request: Request, principal: Principal = Depends(predictor)) -> Response:
    """Inference with OIP tensors: `{id?, inputs: [{name, shape, datatype, data}], outputs?}`."""
    body = await request.body()
    return await run_in_threadpool(_infer, request, principal, name, None, body, request.headers.get(HEADER_LENGTH))


@router.post("/models/{name}/versions/{version}/infer")
async def infer_version(name: str, version: str, request: Request,
                        principal: Principal = Depends(predictor)) -> Response:
    body = await request.body()
    return await run_in_threadpool(_infer, request, principal, name, version, body, request.headers.get(HEADER_LENGTH))
