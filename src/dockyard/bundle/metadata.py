"""``bundle.json``: the versioned description of a bundle.

Schema history (``schema_version``):

1. Dockyard 0.1 development format: flat feature-name list, dtypes in a separate map,
   versions as top-level keys, no input example. Upgraded on load by :func:`_upgrade_v1`.
2. Typed features with observed ranges or categories, an ``environment`` block,
   ``evaluation`` with held-out metrics, an input example; optionally ``runtime`` (which
   runtime serves it; bundles saved before it existed default to scikit-learn). A
   ``category`` feature without ``categories`` meant free text. Upgraded by
   :func:`_upgrade_v2`.
3. Free text is its own feature type, ``text``; a ``category`` always lists its
   categories and may accept unseen ones (``accepts_unknown``, when the model's encoder
   ignores them); a model may take one one-dimensional column (``model.input: column``).
   Clustering and outlier-detection bundles (tasks ``clustering`` and
   ``outlier_detection``) add ``target.scores`` and ``evaluation.counts``. Upgraded by
   :func:`_upgrade_v3`.
4. Current: ``reference``, the training distribution of each feature and of the
   predictions (see :mod:`dockyard.bundle.reference`), against which ``dockyard monitor``
   measures drift. An upgraded older bundle has ``reference: null``: it serves as before,
   and measuring its drift needs it saved again from its training data.

A file with a newer schema than this Dockyard knows is refused with a message to upgrade.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated, Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from dockyard.__about__ import __version__
from dockyard.errors import BundleSchemaError

SCHEMA_VERSION: Final = 4
METADATA_FILE = "bundle.json"

Scalar = str | int | float | bool
FeatureType = Literal["number", "integer", "boolean", "category", "text"]
FEATURE_TYPES: Final[tuple[FeatureType, ...]] = ("number", "integer", "boolean", "category", "text")
Task = Literal["classification", "regression", "clustering", "outlier_detection"]
UNSUPERVISED_TASKS: Final = ("clustering", "outlier_detection")
"""Tasks saved with ``y=None``: evaluated on the rows given, their target is the model's own."""
_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,62}$")
NAME_RULE: Final = (
    "must be lowercase letters, digits, '.', '_' or '-', starting with a letter "
    "or digit, at most 63 characters (it becomes a URL path and an image name)"
)


def valid_name(name: str) -> bool:
    """Whether ``name`` may name a bundle (see :data:`NAME_RULE`)."""
    return _NAME.fullmatch(name) is not None


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Feature(_Model):
    """One input column, in model order."""

    name: str = Field(min_length=1)
    type: FeatureType
    minimum: float | None = None
    maximum: float | None = None
    categories: list[str] | None = None
    """The values a ``category`` feature had in training (only a ``category`` has them)."""
    accepts_unknown: bool = False
    """Whether a ``category`` feature accepts values outside ``categories``: the model's
    encoder ignores unseen categories (e.g. ``OneHotEncoder(handle_unknown="ignore")``)."""
    nullable: bool = False
    """Whether the training data had missing values here (then null is accepted)."""

    @model_validator(mode="after")
    def _check_categories(self) -> Feature:
        if self.type == "category" and self.categories is None:
            raise ValueError(f"category feature {self.name!r} lists no categories")
        if self.type != "category" and (self.categories is not None or self.accepts_unknown):
            raise ValueError(f"only a category feature has categories ({self.name!r})")
        return self


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
    method: Literal["holdout", "cross_validation", "training_data", "not_evaluated"]
    """``not_evaluated``: saved without data to measure it on (``dockyard import`` of an
    MLflow model without ``--data``); ``metrics`` is then empty: unknown, not zero."""
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
    input: Literal["array", "frame", "column"]
    """What the model was fitted on: a plain 2-D array, a DataFrame with named columns, or
    one one-dimensional column (e.g. a list of texts for ``make_pipeline(TfidfVectorizer(),
    ...)``)."""
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
    precision: Literal["float32", "float64"] | None = None
    """What the ONNX export computes in: float64 wherever the converters support the model."""
    precision_reason: str = ""
    """Why the export is float32: the float64 export failed or disagreed with scikit-learn."""
    pad_rows: int = Field(default=1, ge=1)
    """Batches are padded to a multiple of this many rows before ONNX Runtime sees them, so
    that no row falls into a kernel's remainder loop (see ``dockyard.runtime.export``)."""
    batch_difference: float | None = None
    """Largest difference seen between a row scored alone or in small batches and the same
    row in one batch with all checked rows; 0 means a row's output is independent of its batch."""


class Training(_Model):
    """Where the model was trained, when ``dockyard train --in-container`` trained it."""

    image: str
    """The training image's id (``sha256:…``)."""
    lock: str
    """The hash-locked requirements the image was built from, relative to the bundle."""
    lock_sha256: str


class BinnedReference(_Model):
    """A number (or a text's length, in characters) in training: how many values fell in
    each bin. Bin ``i`` holds values from ``edges[i]`` up to, not including, ``edges[i + 1]``;
    the first and last bins are open-ended (they also hold values beyond the training range)."""

    kind: Literal["number", "text"]
    edges: list[float] = Field(min_length=2)
    counts: list[int]

    @model_validator(mode="after")
    def _check_bins(self) -> BinnedReference:
        if len(self.counts) != len(self.edges) - 1:
            raise ValueError(f"{len(self.edges)} bin edges need {len(self.edges) - 1} counts")
        if any(b < a for a, b in zip(self.edges, self.edges[1:], strict=False)):
            raise ValueError("bin edges must be in ascending order")
        if any(n < 0 for n in self.counts):
            raise ValueError("bin counts cannot be negative")
        return self


class CategoryReference(_Model):
    """A category, boolean or class label in training: how often each value occurred (values
    spelled as JSON writes them; the rarest beyond a cap are folded into ``(other)``)."""

    kind: Literal["category"]
    counts: dict[str, int]


DistributionReference = Annotated[BinnedReference | CategoryReference, Field(discriminator="kind")]


class Reference(_Model):
    """The training data's distribution, recorded when the bundle was saved."""

    rows: int
    features: dict[str, DistributionReference]
    prediction: DistributionReference
    """The model's predictions on its training rows: labels, clusters or inlier/outlier as
    a category, regression values as a number."""


class BundleMetadata(_Model):
    """Everything a server, an image or a person needs to know about one model."""

    schema_version: Literal[4] = SCHEMA_VERSION
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
    # Written only when set, as Target.scores: bundles trained outside a container stay
    # readable by Dockyard versions that predate it.
    training: Training | None = Field(default=None, exclude_if=lambda value: value is None)
    reference: Reference | None = None
    """The training distribution drift is measured against; ``None`` in a bundle saved
    before schema 4."""

    @field_validator("name")
    @classmethod
    def _check_name(cls, value: str) -> str:
        if not valid_name(value):
            raise ValueError(NAME_RULE)
        return value

    @property
    def feature_names(self) -> list[str]:
        return [f.name for f in self.features]

    @property
    def classes(self) -> list[Scalar]:
        return list(self.target.classes or [])

    def headline_metric(self) -> tuple[str, float | None]:
        """The task's first metric and its value; ``None`` when it was never measured."""
        keys = _HEADLINES[self.task]
        key = next((k for k in keys if k in self.evaluation.metrics), keys[-1])
        return key, self.evaluation.metrics.get(key)


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
    placeholders: dict[str, Scalar] = {"number": 0.0, "category": ""}
    example = {f["name"]: placeholders.get(f["type"], 0) for f in features}
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
        # Schema 1 strings were free text (schema 2 says so: a category without categories).
        "input_example": [example],
        "files": doc["checksums"],
    }


def _upgrade_v2(doc: dict[str, Any]) -> dict[str, Any]:
    """Schema 2 → 3: a category without categories was free text; it is now ``text``."""
    features = doc.get("features")
    if isinstance(features, list):
        doc = {
            **doc,
            "features": [
                {**f, "type": "text"}
                if isinstance(f, dict)
                and f.get("type") == "category"
                and f.get("categories") is None
                else f
                for f in features
            ],
        }
    return {**doc, "schema_version": 3}


def _upgrade_v3(doc: dict[str, Any]) -> dict[str, Any]:
    """Schema 3 → 4: no training reference was recorded (drift needs the bundle saved again)."""
    return {**doc, "schema_version": 4, "reference": None}


_UPGRADES: dict[int, Callable[[dict[str, Any]], dict[str, Any]]] = {
    1: _upgrade_v1,
    2: _upgrade_v2,
    3: _upgrade_v3,
}


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
