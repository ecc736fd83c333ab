"""``bundle.json``: the versioned description of a bundle.

Schema history (``schema_version``):

1. Dockyard 0.1 development format: flat feature-name list, dtypes in a separate map,
   versions as top-level keys, no input example. Upgraded on load by :func:`_upgrade_v1`.
2. Current: typed features with observed ranges or categories, an ``environment`` block,
   ``evaluation`` with held-out metrics, an input example; optionally ``runtime`` (which
   runtime serves it; bundles saved before it existed default to scikit-learn). Clustering
   and outlier-detection bundles add ``target.scores`` and ``evaluation.counts``; readers
   that predate those tasks refuse them as invalid.

A file with a newer schema than this Dockyard knows is refused with a message to upgrade.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from dockyard.errors import BundleSchemaError

SCHEMA_VERSION: Final = 2
METADATA_FILE = "bundle.json"

Scalar = str | int | float | bool
FeatureType = Literal["number", "integer", "boolean", "category"]
Task = Literal["classification", "regression", "clustering", "outlier_detection"]
UNSUPERVISED_TASKS: Final = ("clustering", "outlier_detection")
"""Tasks saved with ``y=None``: evaluated on the rows given, their target is the model's own."""

_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,62}$")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Feature(_Model):
    """One input column, in model order."""

    name: str = Field(min_length=1)
    type: FeatureType
    minimum: float | None = None
    maximum: float | None = None
    categories: list[str] | None = None
    """Allowed values of a ``category`` feature; ``None`` means free text."""
    nullable: bool = False
    """Whether the training data had missing values here (then null is accepted)."""


class Target(_Model):
    name: str
    classes: list[Scalar] | None = None
    # Written only when set: classification and regression bundles stay readable by
    # Dockyard versions that predate these fields (the schema forbids unknown keys).
    scores: Literal["distances", "probabilities", "score"] | None = Field(
        default=None, exclude_if=lambda value: value is None
    )
    """What a clustering or outlier bundle answers beside the cluster or inlier/outlier label:
    distances to each cluster centre, cluster membership probabilities, or an outlier score."""


class Evaluation(_Model):
    method: Literal["holdout", "cross_validation", "training_data"]
    rows: int
    metrics: dict[str, float]
    counts: dict[str, int] = Field(default_factory=dict, exclude_if=lambda value: not value)
    """Clustering and outlier bundles: evaluated rows per cluster, or per inlier/outlier."""


class DataFingerprint(_Model):
    sha256: str
    rows: int
    columns: int


class Environment(_Model):
    python: str
    platform: str
    packages: dict[str, str]
    """Exact version of every distribution the model needs, by distribution name."""


class ModelFile(_Model):
    path: str
    format: Literal["skops", "pickle"]
    estimator: str
    """Dotted class of the saved object, e.g. ``sklearn.pipeline.Pipeline``."""
    input: Literal["array", "frame"]
    """Whether the model was fitted on a plain array or on a DataFrame with named columns."""
    trusted_types: list[str] = Field(default_factory=list)
    """Types beyond Dockyard's reviewed list that the saver explicitly trusted."""


class Runtime(_Model):
    """Which runtime serves the bundle, decided and verified when it was saved."""

    kind: Literal["sklearn", "onnx"] = "sklearn"
    path: str | None = None
    """The ONNX export, relative to the bundle, when ``kind`` is ``onnx``."""
    reason: str = ""
    """Why scikit-learn serves it: the ONNX conversion failed or disagreed."""
    checked_rows: int = 0
    """Training rows on which ONNX Runtime was compared with scikit-learn."""
    max_difference: float | None = None
    """Largest probability difference (regressors: relative value difference) seen."""
    tolerance: float | None = None
    """The largest difference that was accepted."""
    versions: dict[str, str] = Field(default_factory=dict)
    """skl2onnx, onnx and onnxruntime versions used for the export and the check."""


class BundleMetadata(_Model):
    """Everything a server, an image or a person needs to know about one model."""

    schema_version: Literal[2] = SCHEMA_VERSION
    name: str
    version: str = Field(min_length=1, max_length=64)
    description: str = ""
    created_at: datetime
    dockyard_version: str
    task: Task
    model: ModelFile
    features: list[Feature] = Field(min_length=1)
    target: Target
    evaluation: Evaluation
    data: DataFingerprint
    environment: Environment
    input_example: list[dict[str, Scalar]] = Field(min_length=1)
    files: dict[str, str]
    """sha256 of every other file in the bundle, by path relative to the bundle."""
    runtime: Runtime = Field(default_factory=Runtime)

    @field_validator("name")
    @classmethod
    def _check_name(cls, value: str) -> str:
        if not _NAME.match(value):
            raise ValueError(
                "must be lowercase letters, digits, '.', '_' or '-', starting with a letter "
                "or digit, at most 63 characters (it becomes a URL path and an image name)"
            )
        return value

    @property
    def feature_names(self) -> list[str]:
        return [f.name for f in self.features]

    @property
    def classes(self) -> list[Scalar]:
        return list(self.target.classes or [])

    def headline_metric(self) -> tuple[str, float]:
        keys = _HEADLINES[self.task]
        key = next((k for k in keys if k in self.evaluation.metrics), keys[-1])
        return key, self.evaluation.metrics[key]


# The first metric a bundle of the task has (a single cluster has no silhouette).
_HEADLINES: dict[str, tuple[str, ...]] = {
    "classification": ("accuracy",),
    "regression": ("r2",),
    "clustering": ("silhouette", "clusters"),
    "outlier_detection": ("outlier_share",),
}


def _upgrade_v1(doc: dict[str, Any]) -> dict[str, Any]:
    """Dockyard 0.1 development bundles → schema 2."""
    dtypes: dict[str, str] = doc.get("dtypes", {})
    type_map = {"float": "number", "int": "integer", "bool": "boolean", "str": "category"}
    features = [
        {"name": n, "type": type_map.get(dtypes.get(n, "float"), "number")} for n in doc["features"]
    ]
    example = {f["name"]: (0.0 if f["type"] == "number" else 0) for f in features}
    packages = {"scikit-learn": doc["sklearn_version"], "numpy": doc["numpy_version"]}
    return {
        "schema_version": 2,
        "name": doc["name"],
        "version": str(doc.get("version", "1")),
        "description": doc.get("description", ""),
        "created_at": doc.get("created", datetime.now(UTC).isoformat()),
        "dockyard_version": doc.get("dockyard_version", "0.1.0.dev0"),
        "task": doc["task"],
        "model": {
            "path": doc["model_file"],
            "format": "skops",
            "estimator": doc.get("estimator", "unknown"),
            "input": "array",
        },
        "features": features,
        "target": {"name": doc.get("target", "target"), "classes": doc.get("classes")},
        "evaluation": {
            "method": "holdout",
            "rows": doc.get("test_rows", 0),
            "metrics": doc["metrics"],
        },
        "data": {"sha256": doc.get("data_sha256", ""), "rows": 0, "columns": len(features)},
        "environment": {
            "python": doc["python_version"],
            "platform": "unknown",
            "packages": packages,
        },
        "input_example": [example] if all(f["type"] != "category" for f in features) else [],
        "files": doc["checksums"],
    }


_UPGRADES: dict[int, Callable[[dict[str, Any]], dict[str, Any]]] = {1: _upgrade_v1}


def parse_metadata(doc: Any, *, source: str = METADATA_FILE) -> BundleMetadata:
    """Validate a decoded ``bundle.json``, upgrading older schema versions."""
    if not isinstance(doc, dict):
        raise BundleSchemaError(f"{source} is not a JSON object.")
    version = doc.get("schema_version")
    if not isinstance(version, int) or isinstance(version, bool):
        raise BundleSchemaError(
            f"{source} has no integer 'schema_version'; it is not a Dockyard bundle."
        )
    if version > SCHEMA_VERSION:
        from dockyard import __version__

        raise BundleSchemaError(
            f"{source} uses bundle schema {version}, but Dockyard {__version__} reads at most "
            f"schema {SCHEMA_VERSION}.",
            hint="Upgrade Dockyard (pip install -U dockyard) to load this bundle.",
        )
    current: int = version
    while current < SCHEMA_VERSION:
        upgrade = _UPGRADES.get(current)
        if upgrade is None:
            raise BundleSchemaError(f"{source}: bundle schema {current} is no longer supported.")
        doc = upgrade(doc)
        current = doc["schema_version"]
    try:
        return BundleMetadata.model_validate(doc)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or '(root)'}: {e['msg']}"
            for e in exc.errors()[:5]
        )
        raise BundleSchemaError(f"{source} is not valid: {problems}") from None
