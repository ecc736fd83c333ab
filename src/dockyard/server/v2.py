"""Open Inference Protocol (KServe V2) REST endpoints, a thin adapter over the data plane.

Two input layouts are accepted: one tensor per feature (named after it, shape ``[N]`` or
``[N, 1]``), or a single ``[N, F]`` tensor with the features in model order. Tensor data
may be JSON (flat or nested) or use the binary tensor data extension, as Triton's and
KServe's clients send by default. Outputs: ``predict`` (labels or values) and, for
classifiers, ``predict_proba`` (``[N, classes]``).
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from dockyard.__about__ import __version__
from dockyard.errors import NotReady
from dockyard.predictor import Prediction, Predictor
from dockyard.server.bodies import media_type, read_body, require_json
from dockyard.server.dataplane import DataPlane
from dockyard.server.responses import JSONResponse
from dockyard.server.tensors import HEADER_LENGTH, check_request, decode_inputs, split_body
from dockyard.server.v1 import call_of

FEATURE_TYPES = {
    "number": "FP64",
    "integer": "INT64",
    "boolean": "BOOL",
    "category": "BYTES",
    "text": "BYTES",
}


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


class V2Endpoints:
    def __init__(self, plane: DataPlane, max_body_bytes: int) -> None:
        self.plane = plane
        self.max_body_bytes = max_body_bytes
        # Fixed for a model's lifetime: worked out once, not on every request.
        self._metadata = {p.name: model_metadata(p) for p in plane.repository}
        self._label_type = {p.name: label_datatype(p) for p in plane.repository}
        self._outputs = {
            name: tuple(o["name"] for o in meta["outputs"]) for name, meta in self._metadata.items()
        }

    async def server_metadata(self, request: Request) -> Response:
        return JSONResponse(
            {"name": "dockyard", "version": __version__, "extensions": ["binary_tensor_data"]}
        )

    async def live(self, request: Request) -> Response:
        return JSONResponse({"live": True})

    async def ready(self, request: Request) -> Response:
        if not self.plane.ready:
            raise NotReady("Not ready.")
        return JSONResponse({"ready": True})

    def _predictor(self, request: Request) -> Predictor:
        return self.plane.model(request.path_params["name"], request.path_params.get("version"))

    async def model_metadata(self, request: Request) -> Response:
        return JSONResponse(self._metadata[self._predictor(request).name])

    async def model_ready(self, request: Request) -> Response:
        predictor = self._predictor(request)
        if not self.plane.ready:
            raise NotReady(f"Model '{predictor.name}' is not ready.")
        return JSONResponse({"name": predictor.name, "ready": True})

    async def infer(self, request: Request) -> Response:
        predictor = self._predictor(request)
        call = call_of(request.scope, "v2")
        body = await read_body(request, self.max_body_bytes)
        header_length = request.headers.get(HEADER_LENGTH)
        if header_length is None and media_type(request) != "application/octet-stream":
            require_json(request)
        document, binary = split_body(body, header_length)
        check_request(document, self._outputs[predictor.name])
        columns, rows = decode_inputs(
            document, binary, predictor.feature_names, self.plane.max_rows
        )
        prediction = await self.plane.predict_columns(predictor, columns, rows, call)
        return JSONResponse(self._response(predictor, prediction, document))

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
            # check_request has refused any name this model does not answer.
            outputs = [available[w] for w in dict.fromkeys(o["name"] for o in requested)]
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
