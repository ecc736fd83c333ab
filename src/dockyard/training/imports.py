"""Bring a user's pickled (or joblib) model, or an MLflow model directory, into a bundle.

Unpickling runs code from the file, so it happens only for the exact file the user
vouches for by its sha256. The bundle then stores the model as skops, and nothing
downstream (serving, images) ever unpickles anything.
"""

from __future__ import annotations

import hmac
import logging
import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dockyard.bundle.metadata import BundleMetadata, FeatureType
from dockyard.bundle.store import sha256_file
from dockyard.errors import TrainingError, UntrustedTypes, UsageError
from dockyard.training.columns import encoder_categories
from dockyard.training.mlflow_models import (
    check_recorded_versions,
    example_frame,
    is_mlflow_model,
    load_skops,
    read_mlflow_model,
)

if TYPE_CHECKING:
    import pandas as pd

logger = logging.getLogger("dockyard.training")

_HEX64 = re.compile(r"^[0-9a-f]{64}$")


def load_pickled_model(path: str | os.PathLike[str], *, sha256: str) -> Any:
    """Unpickle ``path`` only if its sha256 equals ``sha256``."""
    file = Path(path)
    if not file.is_file():
        raise UsageError(f"Model file {file} does not exist.")
    expected = sha256.strip().lower()
    if not _HEX64.match(expected):
        raise UsageError(
            "--sha256 must be the 64 hex digits of the model file's sha256 (sha256sum FILE)."
        )
    actual = sha256_file(file)
    if not hmac.compare_digest(actual, expected):
        raise UntrustedTypes(
            f"{file} has sha256 {actual}, not the {expected} you gave; refusing to unpickle it.",
            hint="Unpickling runs code from the file: check where it came from before trusting it.",
        )
    import joblib

    return joblib.load(file)


def import_model(
    model_path: str | os.PathLike[str],
    *,
    sha256: str | None,
    data: str | os.PathLike[str] | None,
    target: str | None,
    name: str,
    out: str | os.PathLike[str],
    version: str = "1.0.0",
    overwrite: bool = False,
    trusted_types: Sequence[str] = (),
) -> BundleMetadata:
    """Verify and load a pickled model, or an MLflow model directory, then save it with
    its training data as a bundle (an MLflow model may come without: see
    :func:`import_mlflow_model`)."""
    if is_mlflow_model(Path(model_path)):
        return import_mlflow_model(
            model_path,
            sha256=sha256,
            data=data,
            target=target,
            name=name,
            out=out,
            version=version,
            overwrite=overwrite,
            trusted_types=trusted_types,
        )
    if sha256 is None:
        raise UsageError(
            f"{model_path} is a pickle: give its sha256 (--sha256) to have it unpickled."
        )
    if data is None:
        raise UsageError(
            f"{model_path} is a pickle, which holds no feature schema: give its training "
            "data (--data, and --target)."
        )
    model = load_pickled_model(model_path, sha256=sha256)
    return _save(model, data, target, name, out, version, overwrite)


def import_mlflow_model(
    directory: str | os.PathLike[str],
    *,
    sha256: str | None,
    data: str | os.PathLike[str] | None,
    target: str | None,
    name: str,
    out: str | os.PathLike[str],
    version: str = "1.0.0",
    overwrite: bool = False,
    trusted_types: Sequence[str] = (),
) -> BundleMetadata:
    """Import an MLflow scikit-learn model directory: its columns and their types from
    the signature (or the input example), refused if it was saved with other versions of
    scikit-learn, numpy or a boosting library than the ones installed.

    Without ``data`` the schema comes from the signature and the input example alone (a
    string column an encoder reads lists the encoder's categories, not only the
    example's), and the metrics are recorded as unknown."""
    found = read_mlflow_model(Path(directory))
    for note in check_recorded_versions(found):
        logger.warning("MLflow model %s: %s", directory, note)
    if found.serialization == "skops":
        model = load_skops(found, trusted_types)
    elif sha256 is None:
        raise UsageError(
            f"{found.model_file} is a {found.serialization} file, and unpickling runs code "
            "from it: give its sha256 (--sha256) to have it loaded.",
            hint=f"sha256sum {found.model_file}, after checking where it came from.",
        )
    else:
        model = load_pickled_model(found.model_file, sha256=sha256)
    if data is None:
        from dockyard.training.save import save_bundle

        return save_bundle(
            model,
            _schema_rows(model, example_frame(found)),
            None,
            name=name,
            path=out,
            version=version,
            overwrite=overwrite,
            feature_types=found.feature_types,
            target_name=target,
            trusted_types=trusted_types,
            evaluate=False,
        )
    return _save(
        model,
        data,
        target,
        name,
        out,
        version,
        overwrite,
        columns=found.columns,
        feature_types=found.feature_types,
        trusted_types=trusted_types,
    )


def _schema_rows(model: Any, example: pd.DataFrame) -> pd.DataFrame:
    """The input example, then one row per category an encoder learned beyond it (the
    first example row with that category put in): what the schema, the ONNX check and the
    round trip see of a model saved without its data. No row is counted as training data."""
    import pandas as pd

    extra = []
    for column, categories in encoder_categories(model, list(example.columns)).items():
        if pd.api.types.is_numeric_dtype(example[column]):
            continue  # numbers one-hot encoded: their kind comes from the signature
        shown = set(example[column].astype(str))
        for category in categories:
            if category not in shown:
                extra.append(example.iloc[[0]].assign(**{column: category}))
    return pd.concat([example, *extra], ignore_index=True) if extra else example


def _save(
    model: Any,
    data: str | os.PathLike[str],
    target: str | None,
    name: str,
    out: str | os.PathLike[str],
    version: str,
    overwrite: bool,
    *,
    columns: Sequence[str] | None = None,
    feature_types: Mapping[str, FeatureType] | None = None,
    trusted_types: Sequence[str] = (),
) -> BundleMetadata:
    import pandas as pd

    from dockyard.training.save import save_bundle

    frame = pd.read_csv(data)
    if target is not None and target not in frame.columns:
        raise UsageError(
            f"{data} has no column '{target}'; columns: {', '.join(map(str, frame.columns))}."
        )
    # Without a target (clusterers, outlier detectors) every column is a feature.
    X, y = (frame, None) if target is None else (frame.drop(columns=[target]), frame[target])
    fitted = getattr(model, "feature_names_in_", None)
    wanted = list(columns) if columns is not None else fitted
    if wanted is not None:
        missing = [c for c in wanted if c not in X.columns]
        if missing:
            raise TrainingError(
                f"{data} lacks the column(s) the model was fitted on: {', '.join(missing)}."
            )
        X = X[list(wanted)]
    return save_bundle(
        model,
        X,
        y,
        name=name,
        path=out,
        version=version,
        overwrite=overwrite,
        feature_types=feature_types,
        trusted_types=trusted_types,
    )
