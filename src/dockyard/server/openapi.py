"""The OpenAPI 3.1 document, generated from the served bundles' schemas: each model's
request carries its real feature names, types, training ranges and an example.

What is the same for every server (the error and tensor schemas, the operational routes,
the error statuses' descriptions) is data, in ``openapi.json`` beside this module; the
code below generates the per-model parts and fills in the enums other modules define."""

from __future__ import annotations

import functools
import json
import re
from pathlib import Path
from typing import Any, get_args

from dockyard.__about__ import __version__
from dockyard.bundle.metadata import Task
from dockyard.predictor import Predictor
from dockyard.predictor.repository import ModelRepository
from dockyard.server.feedback import MAX_ITEMS, MAX_REQUEST_ID, MAX_ROW
from dockyard.server.input_schemas import csv_pattern, feature_schema, v2_request_schema
from dockyard.server.tensors import NUMPY_TYPES
from dockyard.server.v2 import FEATURE_TYPES, label_datatype
from dockyard.settings import Settings


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _key(predictor: Predictor) -> str:
    return re.sub(r"[^A-Za-z0-9]", "_", predictor.name)


def _model_schemas(predictor: Predictor, settings: Settings) -> dict[str, Any]:
    key = _key(predictor)
    meta = predictor.metadata
    record = {
        "type": "object",
        "title": f"{meta.name} record",
        "description": f"One input row for {meta.name} {meta.version}.",
        "properties": {f.name: feature_schema(f) for f in meta.features},
        # A nullable feature left out counts as missing.
        "required": [f.name for f in meta.features if not f.nullable],
        "additionalProperties": False,
        "example": meta.input_example[0],
    }
    batch = {
        "type": "array",
        "items": _ref(f"{key}_record"),
        "minItems": 1,
        "maxItems": settings.max_batch_rows,
    }
    prediction: dict[str, Any]
    if predictor.unsupervised is not None:
        prediction = predictor.unsupervised.json_schema(predictor.classes)
    elif meta.task == "regression":
        prediction = {
            "type": "object",
            "properties": {"value": {"type": "number"}},
            "required": ["value"],
        }
    else:
        prediction = {
            "type": "object",
            "properties": {"label": {"enum": list(predictor.classes)}},
            "required": ["label"],
        }
        if predictor.has_probabilities:
            prediction["properties"]["probabilities"] = {
                "type": "object",
                "properties": {
                    k: {"type": "number", "minimum": 0, "maximum": 1} for k in predictor.class_keys
                },
                "required": list(predictor.class_keys),
            }
            prediction["required"].append("probabilities")
    return {
        f"{key}_record": record,
        f"{key}_request": {
            "oneOf": [
                _ref(f"{key}_record"),
                batch,
                {
                    "type": "object",
                    "properties": {"instances": batch},
                    "required": ["instances"],
                    "additionalProperties": False,
                },
            ]
        },
        f"{key}_v2_request": v2_request_schema(predictor),
        f"{key}_response": {
            "type": "object",
            "properties": {
                "model": {"const": meta.name},
                "version": {"const": meta.version},
                "predictions": {"type": "array", "items": prediction},
            },
            "required": ["model", "version", "predictions"],
        },
    }


def _model_paths(predictor: Predictor, fixed: dict[str, Any]) -> dict[str, Any]:
    errors = functools.partial(_errors, fixed["errors"])
    key, name, meta = _key(predictor), predictor.name, predictor.metadata
    tag = [name]
    example = meta.input_example[0]
    json_200 = {
        "description": "Predictions",
        "content": {"application/json": {"schema": _ref(f"{key}_response")}},
    }
    csv_body = {
        "type": "string",
        "pattern": csv_pattern(list(meta.features)),
        "description": "CSV with a header row. Feature columns may come in any order; "
        "other columns pass through to the output.",
        "example": ",".join(predictor.feature_names)
        + "\n"
        + ",".join(str(example[n]) for n in predictor.feature_names)
        + "\n",
    }
    csv_200 = {
        "description": "The input CSV with prediction columns appended: "
        + ", ".join(predictor.output_columns),
        "content": {"text/csv": {"schema": {"type": "string"}}},
    }
    query = [
        {
            "name": f.name,
            "in": "query",
            "required": not f.nullable,
            "schema": feature_schema(f),
            "example": example[f.name],
        }
        for f in meta.features
    ]
    base = f"/v1/models/{name}"
    v2 = f"/v2/models/{name}"
    return {
        base: {
            "get": {
                "tags": tag,
                "summary": f"Describe {name}: schema, metrics, versions",
                "operationId": f"{key}_describe",
                "responses": {
                    "200": {
                        "description": "Model card",
                        "content": {"application/json": {"schema": _ref("ModelDetail")}},
                    }
                },
            }
        },
        f"{base}/predict": {
            "post": {
                "tags": tag,
                "summary": f"Predict with {name}",
                "description": 'One record, an array of records, or {"instances": [...]}.',
                "operationId": f"{key}_predict",
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {"schema": _ref(f"{key}_request"), "example": example}
                    },
                },
                "responses": {"200": json_200, **errors("400", "413", "415", "422")},
            },
            "get": {
                "tags": tag,
                "summary": f"Predict one record with {name} from the query string",
                "operationId": f"{key}_predict_query",
                "parameters": query,
                "responses": {"200": json_200, **errors("422")},
            },
        },
        f"{base}/predict/csv": {
            "post": {
                "tags": tag,
                "summary": f"Score a CSV file with {name}",
                "description": "Header row required; feature columns in any order; other columns pass through.",
                "operationId": f"{key}_predict_csv",
                "requestBody": {
                    "required": True,
                    "content": {
                        **_csv_content(csv_body),
                    },
                },
                "responses": {"200": csv_200, **errors("400", "413", "415", "422")},
            }
        },
        **_feedback_path(predictor, errors),
        v2: {
            "get": {
                "tags": ["Open Inference Protocol"],
                "summary": f"V2 metadata of {name}",
                "operationId": f"{key}_v2_metadata",
                "responses": {
                    "200": {
                        "description": "Model metadata",
                        "content": {"application/json": {"schema": _ref("V2ModelMetadata")}},
                    }
                },
            }
        },
        f"{v2}/ready": {
            "get": {
                "tags": ["Open Inference Protocol"],
                "summary": f"V2 readiness of {name}",
                "operationId": f"{key}_v2_ready",
                "responses": {"200": _plain_json("Ready"), "503": fixed["not_ready"]},
            }
        },
        f"{v2}/infer": {
            "post": {
                "tags": ["Open Inference Protocol"],
                "summary": f"V2 inference with {name}",
                "operationId": f"{key}_v2_infer",
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {
                            "schema": _ref(f"{key}_v2_request"),
                            "example": {
                                "inputs": [
                                    {
                                        "name": f.name,
                                        "shape": [1],
                                        "datatype": FEATURE_TYPES[f.type],
                                        "data": [example[f.name]],
                                    }
                                    for f in meta.features
                                ]
                            },
                        }
                    },
                },
                "responses": {
                    "200": {
                        "description": f"Outputs: predict ({label_datatype(predictor)})"
                        + "".join(f", {o} (FP64)" for o in filter(None, [predictor.scores_output])),
                        "content": {"application/json": {"schema": _ref("V2InferenceResponse")}},
                    },
                    **errors("400", "413", "415", "422"),
                },
            }
        },
    }


def _feedback_path(predictor: Predictor, errors: Any) -> dict[str, Any]:
    """``POST /v1/models/{name}/feedback``, for models that have a true answer to learn."""
    if predictor.unsupervised is not None:
        return {}
    key, name = _key(predictor), predictor.name
    regression = predictor.task == "regression"
    truth_key = "value" if regression else "label"
    truth: dict[str, Any] = (
        {"type": "number"}
        if regression
        else {"enum": list(predictor.classes), "description": "One of the model's classes."}
    )
    item = {
        "type": "object",
        "properties": {
            "request_id": {
                "type": "string",
                "minLength": 1,
                "maxLength": MAX_REQUEST_ID,
                "description": "The X-Request-ID of the answer.",
            },
            "row": {"type": "integer", "minimum": 0, "maximum": MAX_ROW, "default": 0},
            truth_key: truth,
        },
        "required": ["request_id", truth_key],
        "additionalProperties": False,
    }
    csv_body = {
        "type": "string",
        "description": f"CSV with a header naming request_id and {truth_key} (row optional).",
    }
    return {
        f"/v1/models/{name}/feedback": {
            "post": {
                "tags": [name],
                "summary": f"Send {name} the true {truth_key}s of logged predictions",
                "description": "Paired with the prediction log's rows by request id (and row).",
                "operationId": f"{key}_feedback",
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {
                            "schema": {"type": "array", "items": item, "maxItems": MAX_ITEMS}
                        },
                        **_csv_content(csv_body),
                    },
                },
                "responses": {
                    "200": {
                        "description": "How many items were received, and how many matched a logged prediction",
                        "content": {
                            "application/json": {
                                "schema": {
                                    "type": "object",
                                    "properties": {
                                        "received": {"type": "integer"},
                                        "matched": {"type": "integer"},
                                    },
                                    "required": ["received", "matched"],
                                }
                            }
                        },
                    },
                    **errors("400", "409", "413", "415", "422"),
                },
            }
        }
    }


def _csv_content(csv_body: dict[str, Any]) -> dict[str, Any]:
    """A CSV request body: raw ``text/csv``, or a file uploaded from a form."""
    return {
        "text/csv": {"schema": csv_body},
        "multipart/form-data": {
            "schema": {
                "type": "object",
                "properties": {"file": csv_body},
                "required": ["file"],
                "additionalProperties": False,
            },
            "encoding": {"file": {"contentType": "text/csv"}},
        },
    }


def _plain_json(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"type": "object"}}},
    }


def build_openapi(repository: ModelRepository, settings: Settings) -> dict[str, Any]:
    """The document for ``repository``: the fixed parts from ``openapi.json``, then each
    model's schemas and paths."""
    fixed = _fixed()
    schemas: dict[str, Any] = fixed["schemas"]
    # Generated from the code that defines them, so a new task or data type appears here.
    schemas["ModelSummary"]["properties"]["task"]["enum"] = list(get_args(Task))
    schemas["V2Tensor"]["properties"]["datatype"]["enum"] = [*NUMPY_TYPES, "BYTES"]
    paths: dict[str, Any] = fixed["models_path"]
    for predictor in repository:
        schemas.update(_model_schemas(predictor, settings))
        paths.update(_model_paths(predictor, fixed))
    paths.update(fixed["operations"])
    return {
        "openapi": fixed["openapi"],
        "info": {
            "title": fixed["title"],
            "version": __version__,
            "description": "Models served: "
            + ", ".join(f"{p.name} {p.version} ({p.task})" for p in repository),
        },
        "paths": paths,
        "components": {"schemas": schemas},
    }


@functools.cache
def _fixed_text() -> str:
    return (Path(__file__).resolve().parent / "openapi.json").read_text(encoding="utf-8")


def _fixed() -> dict[str, Any]:
    """A fresh copy of the document's fixed parts: the caller fills it in."""
    fixed: dict[str, Any] = json.loads(_fixed_text())
    return fixed


def _errors(statuses: dict[str, str], *codes: str) -> dict[str, Any]:
    return {
        code: {
            "description": statuses[code],
            "content": {"application/json": {"schema": _ref("Error")}},
        }
        for code in codes
    }
