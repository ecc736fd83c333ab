"""JSON Schemas of one model's inputs, for the OpenAPI document: a record's features with
their types and training ranges, the canonical CSV body, the canonical V2 request."""

from __future__ import annotations

import re
from typing import Any

from dockyard.bundle.metadata import Feature
from dockyard.predictor import Predictor
from dockyard.predictor.validation import MAX_MAGNITUDE
from dockyard.server.v2 import FEATURE_TYPES


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
