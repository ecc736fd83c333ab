"""Open Inference Protocol (KServe V2) REST endpoints.

Two input layouts are accepted: one tensor per feature (named after it, shape ``[N]`` or
``[N, 1]``), or a single ``[N, F]`` tensor with the features in model order. Tensor data
may be JSON (flat or nested) or use the binary tensor data extension, as Triton's and
KServe's clients send by default. Outputs: ``predict`` (labels or values) and, for
classifiers, ``predict_proba`` (``[N, classes]``).
"""

from __future__ import annotations

import math
import struct
from collections.abc import Iterator
from typing import Any

import numpy as np
from starlette.requests import Request
from starlette.responses import Response

from dockyard.__about__ import __version__
from dockyard.errors import BadRequest, FieldError, InvalidInput, NotReady, PayloadTooLarge
from dockyard.predictor import Prediction, Predictor
from dockyard.server.bodies import decode_json, media_type, read_body, require_json
from dockyard.server.endpoints import Endpoints
from dockyard.server.responses import JSONResponse

NUMPY_TYPES = {
    "BOOL": "?",
    "UINT8": "<u1",
    "UINT16": "<u2",
    "UINT32": "<u4",
    "UINT64": "<u8",
    "INT8": "<i1",
    "INT16": "<i2",
    "INT32": "<i4",
    "INT64": "<i8",
    "FP16": "<f2",
    "FP32": "<f4",
    "FP64": "<f8",
}
FEATURE_TYPES = {
    "number": "FP64",
    "integer": "INT64",
    "boolean": "BOOL",
    "category": "BYTES",
    "text": "BYTES",
}
HEADER_LENGTH = "inference-header-content-length"


def label_datatype(predictor: Predictor) -> str:
    if predictor.task == "regression":
        return "FP64"
    classes = predictor.classes
    if all(isinstance(c, bool) for c in classes):
        return "BOOL"
    if all(isinstance(c, int) and not isinstance(c, bool) for c in classes):
        return "INT64"
    if all(isinstance(c, int | float) and not isinstance(c, bool) for c in classes):
        return "FP64"
    return "BYTES"


def model_metadata(predictor: Predictor) -> dict[str, Any]:
    outputs: list[dict[str, Any]] = [
        {"name": "predict", "datatype": label_datatype(predictor), "shape": [-1]}
    ]
    if predictor.scores_output is not None:
        outputs.append(
            {
                "name": predictor.scores_output,
                "datatype": "FP64",
                "shape": predictor.scores_shape(-1),
            }
        )
    return {
        "name": predictor.name,
        "versions": [predictor.version],
        "platform": "sklearn",
        "inputs": [
            {"name": f.name, "datatype": FEATURE_TYPES[f.type], "shape": [-1]}
            for f in predictor.metadata.features
        ],
        "outputs": outputs,
        "parameters": {"task": predictor.task, "classes": predictor.class_keys},
    }


def _flatten(data: Any) -> Iterator[Any]:
    if isinstance(data, list):
        for item in data:
            yield from _flatten(item)
    else:
        yield data


def _decode_binary(datatype: str, raw: bytes, count: int, name: str) -> list[Any]:
    if datatype == "BYTES":
        values: list[Any] = []
        offset = 0
        while offset < len(raw):
            if offset + 4 > len(raw):
                raise BadRequest(f"Input '{name}': truncated BYTES element.")
            (size,) = struct.unpack_from("<I", raw, offset)
            offset += 4
            chunk = raw[offset : offset + size]
            if len(chunk) != size:
                raise BadRequest(f"Input '{name}': truncated BYTES element.")
            offset += size
            try:
                values.append(chunk.decode("utf-8"))
            except UnicodeDecodeError:
                raise BadRequest(f"Input '{name}': a BYTES element is not UTF-8.") from None
        return values
    dtype = np.dtype(NUMPY_TYPES[datatype])
    if len(raw) != count * dtype.itemsize:
        raise BadRequest(
            f"Input '{name}': {len(raw)} bytes of binary data for {count} {datatype} elements "
            f"({count * dtype.itemsize} expected)."
        )
    result: list[Any] = np.frombuffer(raw, dtype=dtype).tolist()
    return result


class V2Endpoints:
    def __init__(self, base: Endpoints) -> None:
        self.base = base
        self.repository = base.repository
        self.settings = base.settings
        # Fixed for a model's lifetime: worked out once, not on every request.
        self._metadata = {p.name: model_metadata(p) for p in self.repository}
        self._label_type = {p.name: label_datatype(p) for p in self.repository}

    async def server_metadata(self, request: Request) -> Response:
        return JSONResponse(
            {"name": "dockyard", "version": __version__, "extensions": ["binary_tensor_data"]}
        )

    async def live(self, request: Request) -> Response:
        return JSONResponse({"live": True})

    async def ready(self, request: Request) -> Response:
        if not self.base.state.ready:
            raise NotReady("Not ready.")
        return JSONResponse({"ready": True})

    def _predictor(self, request: Request) -> Predictor:
        return self.repository.get(request.path_params["name"], request.path_params.get("version"))

    async def model_metadata(self, request: Request) -> Response:
        return JSONResponse(self._metadata[self._predictor(request).name])

    async def model_ready(self, request: Request) -> Response:
        predictor = self._predictor(request)
        if not self.base.state.ready:
            raise NotReady(f"Model '{predictor.name}' is not ready.")
        return JSONResponse({"name": predictor.name, "ready": True})

    async def infer(self, request: Request) -> Response:
        predictor = self._predictor(request)
        body = await read_body(request, self.settings.max_body_bytes)
        header_length = request.headers.get(HEADER_LENGTH)
        if header_length is not None:
            if not header_length.isdigit() or int(header_length) > len(body):
                raise BadRequest(f"Invalid {HEADER_LENGTH} header: {header_length[:20]!r}.")
            split = int(header_length)
            document, binary = decode_json(body[:split]), body[split:]
        else:
            if media_type(request) != "application/octet-stream":
                require_json(request)
            document, binary = decode_json(body), b""
        if not isinstance(document, dict):
            raise BadRequest("An inference request must be a JSON object with 'inputs'.")
        tensors = self._tensors(document, binary)
        columns, rows = self._columns(predictor, tensors)
        if rows == 0:
            raise InvalidInput([FieldError("inputs", "no rows to predict")])
        if rows > self.settings.max_batch_rows:
            raise PayloadTooLarge(
                f"{rows} rows in one request; the limit is {self.settings.max_batch_rows}."
            )
        validated = predictor.validator.json_columns(columns)
        prediction = await self.base.predict(predictor, validated, rows)
        self.base._count(predictor, prediction)
        return JSONResponse(self._response(predictor, prediction, document))

    def _tensors(
        self, document: dict[str, Any], binary: bytes
    ) -> dict[str, tuple[list[int], list[Any]]]:
        inputs = document.get("inputs")
        if not isinstance(inputs, list) or not inputs:
            raise InvalidInput(
                [FieldError("inputs", "expected a non-empty array of input tensors")]
            )
        tensors: dict[str, tuple[list[int], list[Any]]] = {}
        offset = 0
        for index, tensor in enumerate(inputs):
            name, shape, values, used = self._tensor(index, tensor, binary, offset)
            if name in tensors:
                raise InvalidInput([FieldError(name, "input given more than once")])
            tensors[name] = (shape, values)
            offset += used
        return tensors

    def _tensor(
        self, index: int, tensor: Any, binary: bytes, offset: int
    ) -> tuple[str, list[int], list[Any], int]:
        """One input tensor -> (name, shape, flat values, binary bytes consumed)."""
        where = f"inputs[{index}]"
        if not isinstance(tensor, dict):
            raise InvalidInput([FieldError(where, "expected a tensor object")])
        name, shape, datatype = tensor.get("name"), tensor.get("shape"), tensor.get("datatype")
        if not isinstance(name, str) or not name:
            raise InvalidInput([FieldError(f"{where}.name", "expected a non-empty string")])
        name = name[:100]
        if (
            not isinstance(shape, list)
            or not shape
            or not all(type(d) is int and 0 <= d < 2**31 for d in shape)
        ):
            raise InvalidInput(
                [FieldError(f"{where}.shape", "expected an array of non-negative integers")]
            )
        if datatype not in NUMPY_TYPES and datatype != "BYTES":
            raise InvalidInput(
                [FieldError(f"{where}.datatype", f"unsupported datatype {str(datatype)[:20]!r}")]
            )
        count = math.prod(shape)
        if count > self.settings.max_batch_rows * 1024:
            raise PayloadTooLarge(f"Input '{name}' has {count} elements; too many.")
        parameters = tensor.get("parameters") or {}
        size = parameters.get("binary_data_size") if isinstance(parameters, dict) else None
        used = 0
        if size is not None:
            if type(size) is not int or size < 0 or offset + size > len(binary):
                raise BadRequest(f"Input '{name}': binary_data_size does not match the body.")
            values = _decode_binary(datatype, binary[offset : offset + size], count, name)
            used = size
        elif "data" in tensor:
            values = list(_flatten(tensor["data"]))
        else:
            raise InvalidInput([FieldError(f"{where}.data", "missing")])
        if len(values) != count:
            raise InvalidInput(
                [FieldError(name, f"shape {shape} needs {count} elements, got {len(values)}")]
            )
        return name, shape, values, used

    def _columns(
        self, predictor: Predictor, tensors: dict[str, tuple[list[int], list[Any]]]
    ) -> tuple[dict[str, list[Any]], int]:
        names = predictor.feature_names
        if len(tensors) == 1:
            ((tensor_name, (shape, values)),) = tensors.items()
            if tensor_name not in names:
                if len(shape) != 2 or shape[1] != len(names):
                    raise InvalidInput(
                        [
                            FieldError(
                                tensor_name[:100],
                                f"a single input tensor must have shape [N, {len(names)}] "
                                f"(features in order: {', '.join(names)}); got {shape}",
                            )
                        ]
                    )
                width = len(names)
                return {n: values[j::width] for j, n in enumerate(names)}, shape[0]
        rows: int | None = None
        columns: dict[str, list[Any]] = {}
        for name, (shape, values) in tensors.items():
            if len(shape) > 2 or (len(shape) == 2 and shape[1] != 1):
                raise InvalidInput(
                    [FieldError(name[:100], f"expected shape [N] or [N, 1], got {shape}")]
                )
            if rows is not None and shape[0] != rows:
                raise InvalidInput(
                    [FieldError(name[:100], f"has {shape[0]} rows, other inputs have {rows}")]
                )
            rows = shape[0]
            columns[name] = values
        return columns, rows or 0

    def _response(
        self, predictor: Predictor, prediction: Prediction, document: dict[str, Any]
    ) -> dict[str, Any]:
        rows = len(prediction)
        available: dict[str, dict[str, Any]] = {
            "predict": {
                "name": "predict",
                "datatype": self._label_type[predictor.name],
                "shape": [rows],
                "data": prediction.outputs,
            }
        }
        scores = predictor.scores_output
        if prediction.probabilities is not None and scores is not None:
            available[scores] = {
                "name": scores,
                "datatype": "FP64",
                "shape": predictor.scores_shape(rows),
                "data": prediction.probabilities.ravel().tolist(),
            }
        requested = document.get("outputs")
        if isinstance(requested, list) and requested:
            wanted = [o.get("name") if isinstance(o, dict) else None for o in requested]
            unknown = [str(w)[:100] for w in wanted if w not in available]
            if unknown:
                raise InvalidInput(
                    [
                        FieldError(w, f"unknown output; available: {', '.join(available)}")
                        for w in unknown
                    ]
                )
            outputs = [available[w] for w in wanted if w is not None]
        else:
            outputs = list(available.values())
        response: dict[str, Any] = {
            "model_name": predictor.name,
            "model_version": predictor.version,
            "outputs": outputs,
            "parameters": {"runtime": predictor.runtime},
        }
        if isinstance(document.get("id"), str):
            response["id"] = document["id"]
        return response
