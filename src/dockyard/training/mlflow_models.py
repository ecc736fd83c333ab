"""Read an MLflow model directory (``MLmodel`` with the ``sklearn`` flavor) without MLflow.

What decides trust is never taken from the directory: a skops model is loaded with
Dockyard's reviewed types plus those the user names, whatever ``skops_trusted_types`` the
``MLmodel`` file lists (a crafted list could make skops construct, and so run, anything:
MLflow advisory GHSA-w582-9x45-8mpx); a pickled one only when the user vouches for the
file by its sha256.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dockyard.bundle import environment
from dockyard.bundle.metadata import FeatureType
from dockyard.errors import EnvironmentMismatch, TrainingError, UsageError

if TYPE_CHECKING:
    import pandas as pd

MLMODEL_FILE = "MLmodel"
FORMATS = ("skops", "pickle", "cloudpickle")

# MLflow's column types → Dockyard's. Strings are left to inference, which tells a
# category from free text by what the model does with the column.
_TYPES: dict[str, FeatureType | None] = {
    "double": "number",
    "float": "number",
    "long": "integer",
    "integer": "integer",
    "boolean": "boolean",
    "string": None,
}

_PIN = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*==\s*([^\s;#]+)")


@dataclass(frozen=True, slots=True)
class MlflowModel:
    """What Dockyard takes from an MLflow model directory."""

    directory: Path
    model_file: Path
    serialization: str
    columns: list[str] | None
    """Column names, in order, from the signature (or the input example); ``None`` when
    the model takes an unnamed tensor."""
    feature_types: dict[str, FeatureType]
    requirements: dict[str, str]
    python: str | None
    example: list[list[Any]] | None
    """The input example's rows (in ``columns`` order), when the directory has one."""


def is_mlflow_model(path: Path) -> bool:
    return path.is_dir() and (path / MLMODEL_FILE).is_file()


def _yaml(path: Path) -> Any:
    try:
        import yaml
    except ImportError:
        raise UsageError(
            f"Reading {path.name} needs PyYAML.", hint="pip install 'dockyard[mlflow]'"
        ) from None
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise TrainingError(f"{path} is not valid YAML ({exc}).") from None


def read_mlflow_model(directory: Path) -> MlflowModel:
    doc = _yaml(directory / MLMODEL_FILE)
    flavors = doc.get("flavors") if isinstance(doc, Mapping) else None
    if not isinstance(flavors, Mapping) or not isinstance(flavors.get("sklearn"), Mapping):
        found = ", ".join(map(str, flavors)) if isinstance(flavors, Mapping) else "none"
        raise TrainingError(
            f"{directory} is not a scikit-learn MLflow model: its {MLMODEL_FILE} has no "
            f"sklearn flavor (flavors: {found}).",
            hint="Save it with mlflow.sklearn.save_model() or mlflow.sklearn.log_model().",
        )
    flavor = flavors["sklearn"]
    serialization = str(flavor.get("serialization_format", "cloudpickle"))
    if serialization not in FORMATS:
        raise TrainingError(
            f"{directory} holds a model in the '{serialization}' format; Dockyard imports "
            f"{', '.join(FORMATS)}."
        )
    model_file = (directory / str(flavor.get("pickled_model", ""))).resolve()
    if directory.resolve() not in model_file.parents or not model_file.is_file():
        raise TrainingError(
            f"{directory / MLMODEL_FILE} names the model file "
            f"'{flavor.get('pickled_model')}', which is not a file inside {directory}."
        )
    columns, types = _signature(doc.get("signature"), directory / MLMODEL_FILE)
    example_columns, example = _example(directory, doc.get("saved_input_example_info"))
    if columns is None:
        columns = example_columns
    if example is not None and example_columns is not None and columns is not None:
        if set(columns) <= set(example_columns):  # in the signature's order
            order = [example_columns.index(c) for c in columns]
            example = [[row[i] for i in order] for row in example]
        else:
            example = None  # it lacks a signature column: no schema from it
    requirements = _requirements(directory / "requirements.txt")
    if "scikit-learn" not in requirements and flavor.get("sklearn_version"):
        requirements["scikit-learn"] = str(flavor["sklearn_version"])
    python = None
    if (directory / "python_env.yaml").is_file():
        env = _yaml(directory / "python_env.yaml")
        python = str(env["python"]) if isinstance(env, Mapping) and "python" in env else None
    return MlflowModel(
        directory, model_file, serialization, columns, types, requirements, python, example
    )


def _signature(signature: Any, source: Path) -> tuple[list[str] | None, dict[str, FeatureType]]:
    if not isinstance(signature, Mapping) or not signature.get("inputs"):
        return None, {}
    try:
        inputs = json.loads(signature["inputs"])
    except (TypeError, json.JSONDecodeError) as exc:
        raise TrainingError(f"{source}: the signature's inputs are not JSON ({exc}).") from None
    if not isinstance(inputs, list) or any("name" not in spec for spec in inputs):
        return None, {}  # a tensor signature: the columns come from the data
    columns: list[str] = []
    types: dict[str, FeatureType] = {}
    for spec in inputs:
        name, kind = str(spec["name"]), str(spec.get("type"))
        if kind not in _TYPES:
            raise TrainingError(
                f"{source}: input '{name}' has MLflow type '{kind}'; Dockyard serves "
                f"{', '.join(_TYPES)} columns."
            )
        columns.append(name)
        declared = _TYPES[kind]
        if declared is not None:
            types[name] = declared
    return columns, types


def _example(directory: Path, info: Any) -> tuple[list[str] | None, list[list[Any]] | None]:
    """The input example's columns and rows (MLflow writes a DataFrame as ``split``:
    ``{"columns": [...], "data": [[...], ...]}``); rows are ``None`` if they do not fit."""
    if not isinstance(info, Mapping) or info.get("type") != "dataframe":
        return None, None
    path = directory / str(info.get("artifact_path", ""))
    try:
        example = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return None, None
    columns = example.get("columns") if isinstance(example, Mapping) else None
    if not isinstance(columns, list):
        return None, None
    names = [str(c) for c in columns]
    rows = example.get("data")
    fits = isinstance(rows, list) and rows and all(isinstance(r, list) for r in rows)
    if not fits or any(len(r) != len(names) for r in rows):
        return names, None
    return names, rows


def example_frame(model: MlflowModel) -> pd.DataFrame:
    """The input example as the model's input, with the signature's column types: the
    schema of a model imported without its training data."""
    import pandas as pd

    if model.columns is None or not model.example:
        raise UsageError(
            f"{model.directory} has no input example with named columns, so without "
            "training data there is nothing to take the feature schema from.",
            hint="Pass --data CSV (and --target) to dockyard import, or save the model "
            "with input_example=.",
        )
    frame = pd.DataFrame(model.example, columns=model.columns)
    dtypes = {"number": "float64", "integer": "int64", "boolean": "bool"}
    try:
        return frame.astype({c: dtypes[t] for c, t in model.feature_types.items()})
    except (TypeError, ValueError) as exc:
        raise TrainingError(
            f"{model.directory}: the input example does not fit its signature ({exc})."
        ) from None


def _requirements(path: Path) -> dict[str, str]:
    if not path.is_file():
        return {}
    pins: dict[str, str] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if match := _PIN.match(line):
            pins[re.sub(r"[-_.]+", "-", match.group(1)).lower()] = match.group(2)
    return pins


def check_recorded_versions(model: MlflowModel) -> list[str]:
    """Refuse to load a model saved with another version of a package that changes what
    it computes (scikit-learn, numpy, the boosting libraries); return notes for the rest."""
    strict = [n for n in model.requirements if n in environment.STRICT_PACKAGES]
    recorded = {n: model.requirements[n] for n in strict}
    refusals, _ = environment.compare(recorded, strict=strict)
    if refusals:
        wanted = " ".join(f"{n}=={v}" for n, v in recorded.items())
        raise EnvironmentMismatch(
            f"The MLflow model in {model.directory} was saved with other versions: "
            f"{'; '.join(refusals)}.",
            hint=f"Install the recorded versions (pip install {wanted}) and import it again.",
        )
    notes = []
    running = environment.python_version()
    if model.python and not environment.same_python(model.python, running):
        notes.append(f"Python {model.python} recorded, {running} running")
    return notes


def load_skops(model: MlflowModel, trusted_types: Sequence[str]) -> Any:
    """Load a skops model with Dockyard's reviewed types and ``trusted_types`` only."""
    import skops.io as sio

    from dockyard.bundle.store import REVIEWED_TRUSTED_TYPES, untrusted_types
    from dockyard.errors import UntrustedTypes

    try:
        needed = set(untrusted_types(model.model_file))
    except Exception as exc:  # skops raises several types for a corrupt archive
        raise TrainingError(f"{model.model_file} is not a readable skops file ({exc}).") from None
    unknown = sorted(needed - set(REVIEWED_TRUSTED_TYPES) - set(trusted_types))
    if unknown:
        raise UntrustedTypes(
            f"{model.model_file} needs types Dockyard has not reviewed: {', '.join(unknown)} "
            f"(the {MLMODEL_FILE} file's skops_trusted_types are not used).",
            hint="If you trust where this model came from, name them as trusted types.",
            types=unknown,
        )
    return sio.load(model.model_file, trusted=sorted(needed))
