"""The OpenAPI 3.1 document, generated from the served bundles' schemas: each model's
request carries its real feature names, types, training ranges and an example."""

from __future__ import annotations

import re
from typing import Any, get_args

from dockyard.__about__ import __version__
from dockyard.bundle.metadata import Feature, Task
from dockyard.predictor import Predictor
from dockyard.predictor.repository import ModelRepository
from dockyard.predictor.validation import MAX_MAGNITUDE
from dockyard.server.tensors import NUMPY_TYPES
from dockyard.server.v2 import FEATURE_TYPES, label_datatype
from dockyard.settings import Settings

_ERROR_STATUSES = {
    "400": "Malformed request (not JSON, not CSV, bad encoding).",
    "404": "No such model.",
    "413": "Body or batch over the configured limit.",
    "415": "Wrong Content-Type.",
    "422": "Input does not match the model's schema; `details` names each field and why.",
}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


_NOT_READY = {
    "description": "Not ready",
    "content": {"application/json": {"schema": _ref("Error")}},
}


def _errors(*codes: str) -> dict[str, Any]:
    return {
        code: {
            "description": _ERROR_STATUSES[code],
            "content": {"application/json": {"schema": _ref("Error")}},
        }
        for code in codes
    }


def _key(predictor: Predictor) -> str:
    return re.sub(r"[^A-Za-z0-9]", "_", predictor.name)


def feature_schema(feature: Feature) -> dict[str, Any]:
    schema: dict[str, Any]
    if feature.type in ("category", "text"):
        schema = {"type": "string"}
        if feature.categories is not None and not feature.accepts_unknown:
            schema["enum"] = list(feature.categories)
        elif feature.categories is not None:
            schema["examples"] = list(feature.categories[:20])
    elif feature.type == "boolean":
        schema = {"type": "boolean"}
    elif feature.type == "integer":
        schema = {"type": "integer", "minimum": -int(MAX_MAGNITUDE), "maximum": int(MAX_MAGNITUDE)}
    else:
        schema = {"type": "number", "minimum": -MAX_MAGNITUDE, "maximum": MAX_MAGNITUDE}
    if feature.minimum is not None and feature.maximum is not None:
        schema["description"] = f"Observed in training: {feature.minimum:g} to {feature.maximum:g}."
        schema["x-training-range"] = [feature.minimum, feature.maximum]
    if feature.nullable:
        schema["type"] = [schema["type"], "null"]
    return schema


_UNSAFE_CSV = re.compile(r'[,"\r\n]')
_CELL = {
    "number": r"-?[0-9]{1,6}(\.[0-9]{1,6})?",
    "integer": r"-?[0-9]{1,9}",
    "boolean": r"(true|false)",
}


def csv_pattern(features: list[Feature], max_rows: int = 20) -> str:
    """A regular expression for the canonical CSV body: the header in model order, then
    typed rows. The server accepts more (any column order, extra columns, quoting)."""
    cells = []
    for f in features:
        if f.type not in ("category", "text"):
            cell = _CELL[f.type]
        elif f.categories is None:
            cell = r"[A-Za-z0-9 _-]{0,20}"
        else:
            safe = [re.escape(c) for c in f.categories if c and not _UNSAFE_CSV.search(c)]
            cell = "(" + "|".join(safe) + ")"
        cells.append(f"({cell})?" if f.nullable else cell)
    header = ",".join(re.escape(f.name) for f in features)
    return f"^{header}\n({','.join(cells)}\n){{0,{max_rows}}}$"


def v2_request_schema(predictor: Predictor) -> dict[str, Any]:
    """The canonical single-row V2 request for one model: one tensor per feature in model
    order, or (all-numeric models) one ``[1, F]`` tensor. Batches (``[N]``) work too."""
    features = list(predictor.metadata.features)
    per_feature = {
        "type": "array",
        "prefixItems": [
            {
                "type": "object",
                "properties": {
                    "name": {"const": f.name},
                    "shape": {
                        "type": "array",
                        "prefixItems": [{"const": 1}],
                        "minItems": 1,
                        "maxItems": 1,
                    },
                    "datatype": {"const": FEATURE_TYPES[f.type]},
                    "data": {
                        "type": "array",
                        "items": feature_schema(f),
                        "minItems": 1,
                        "maxItems": 1,
                    },
                    "parameters": {"type": "object"},
                },
                "required": ["name", "shape", "datatype", "data"],
            }
            for f in features
        ],
        "minItems": len(features),
        "maxItems": len(features),
    }
    layouts: list[dict[str, Any]] = [per_feature]
    if all(f.type in ("number", "integer") and not f.nullable for f in features):
        row = {
            "type": "array",
            "prefixItems": [feature_schema(f) for f in features],
            "minItems": len(features),
            "maxItems": len(features),
        }
        layouts.append(
            {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        "name": {
                            "type": "string",
                            "minLength": 1,
                            "not": {"enum": [f.name for f in features]},
                        },
                        "shape": {
                            "type": "array",
                            "prefixItems": [{"const": 1}, {"const": len(features)}],
                            "minItems": 2,
                            "maxItems": 2,
                        },
                        "datatype": {"const": "FP64"},
                        "data": {"type": "array", "items": row, "minItems": 1, "maxItems": 1},
                        "parameters": {"type": "object"},
                    },
                    "required": ["name", "shape", "datatype", "data"],
                },
                "minItems": 1,
                "maxItems": 1,
            }
        )
    outputs = ["predict", *filter(None, [predictor.scores_output])]
    return {
        "type": "object",
        "properties": {
            "id": {"type": "string"},
            "parameters": {"type": "object"},
            "inputs": {"oneOf": layouts} if len(layouts) > 1 else per_feature,
            "outputs": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {"name": {"enum": outputs}, "parameters": {"type": "object"}},
                    "required": ["name"],
                },
            },
        },
        "required": ["inputs"],
    }


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


def _model_paths(predictor: Predictor) -> dict[str, Any]:
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
                "responses": {"200": json_200, **_errors("400", "413", "415", "422")},
            },
            "get": {
                "tags": tag,
                "summary": f"Predict one record with {name} from the query string",
                "operationId": f"{key}_predict_query",
                "parameters": query,
                "responses": {"200": json_200, **_errors("422")},
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
                    },
                },
                "responses": {"200": csv_200, **_errors("400", "413", "415", "422")},
            }
        },
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
                "responses": {"200": _plain_json("Ready"), "503": _NOT_READY},
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
                    **_errors("400", "413", "415", "422"),
                },
            }
        },
    }


def _plain_json(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"type": "object"}}},
    }


def _common_schemas() -> dict[str, Any]:
    tensor_types = [*NUMPY_TYPES, "BYTES"]
    return {
        "Error": {
            "type": "object",
            "properties": {
                "error": {"type": "string"},
                "code": {"type": "string"},
                "details": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "properties": {
                            "field": {"type": ["string", "null"]},
                            "reason": {"type": "string"},
                            "row": {"type": "integer"},
                            "line": {"type": "integer"},
                        },
                        "required": ["field", "reason"],
                    },
                },
            },
            "required": ["error", "code"],
        },
        "ModelSummary": {
            "type": "object",
            "properties": {
                "name": {"type": "string"},
                "version": {"type": "string"},
                "task": {"enum": list(get_args(Task))},
                "description": {"type": "string"},
                "metric": {"type": "object"},
                "links": {"type": "object"},
            },
            "required": ["name", "version", "task"],
        },
        "ModelList": {
            "type": "object",
            "properties": {"models": {"type": "array", "items": _ref("ModelSummary")}},
            "required": ["models"],
        },
        "ModelDetail": {
            "allOf": [_ref("ModelSummary")],
            "properties": {"bundle_sha256": {"type": "string"}, "metadata": {"type": "object"}},
            "required": ["bundle_sha256", "metadata"],
        },
        "V2Tensor": {
            "type": "object",
            "properties": {
                "name": {"type": "string"},
                "shape": {"type": "array", "items": {"type": "integer", "minimum": 0}},
                "datatype": {"enum": tensor_types},
                "data": {"type": "array"},
                "parameters": {"type": "object"},
            },
            "required": ["name", "shape", "datatype"],
        },
        "V2InferenceRequest": {
            "type": "object",
            "properties": {
                "id": {"type": "string"},
                "parameters": {"type": "object"},
                "inputs": {"type": "array", "items": _ref("V2Tensor"), "minItems": 1},
                "outputs": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "properties": {
                            "name": {"type": "string"},
                            "parameters": {"type": "object"},
                        },
                        "required": ["name"],
                    },
                },
            },
            "required": ["inputs"],
        },
        "V2InferenceResponse": {
            "type": "object",
            "properties": {
                "model_name": {"type": "string"},
                "model_version": {"type": "string"},
                "id": {"type": "string"},
                "outputs": {"type": "array", "items": _ref("V2Tensor")},
            },
            "required": ["model_name", "outputs"],
        },
        "V2ModelMetadata": {
            "type": "object",
            "properties": {
                "name": {"type": "string"},
                "versions": {"type": "array", "items": {"type": "string"}},
                "platform": {"type": "string"},
                "inputs": {"type": "array"},
                "outputs": {"type": "array"},
            },
            "required": ["name", "platform", "inputs", "outputs"],
        },
    }


def build_openapi(repository: ModelRepository, settings: Settings) -> dict[str, Any]:
    schemas = _common_schemas()
    paths: dict[str, Any] = {
        "/v1/models": {
            "get": {
                "tags": ["models"],
                "summary": "List served models",
                "operationId": "list_models",
                "responses": {
                    "200": {
                        "description": "Models",
                        "content": {"application/json": {"schema": _ref("ModelList")}},
                    }
                },
            }
        }
    }
    for predictor in repository:
        schemas.update(_model_schemas(predictor, settings))
        paths.update(_model_paths(predictor))
    ops = {
        "/healthz": ("Liveness: the process answers", {"200": _plain_json("Alive")}),
        "/readyz": (
            "Readiness: every model loaded, not shutting down",
            {"200": _plain_json("Ready"), "503": _NOT_READY},
        ),
        "/metrics": (
            "Prometheus metrics",
            {
                "200": {
                    "description": "Prometheus text format",
                    "content": {"text/plain": {"schema": {"type": "string"}}},
                }
            },
        ),
        "/v2": ("V2 server metadata", {"200": _plain_json("Server metadata")}),
        "/v2/health/live": ("V2 liveness", {"200": _plain_json("Live")}),
        "/v2/health/ready": ("V2 readiness", {"200": _plain_json("Ready"), "503": _NOT_READY}),
    }
    for path, (summary, responses) in ops.items():
        tag = "Open Inference Protocol" if path.startswith("/v2") else "operations"
        operation_id = path.strip("/").replace("/", "_") or "root"
        paths[path] = {
            "get": {
                "tags": [tag],
                "summary": summary,
                "operationId": operation_id,
                "responses": responses,
            }
        }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Dockyard model server",
            "version": __version__,
            "description": "Models served: "
            + ", ".join(f"{p.name} {p.version} ({p.task})" for p in repository),
        },
        "paths": paths,
        "components": {"schemas": schemas},
    }
