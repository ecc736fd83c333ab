"""Bring a user's pickled (or joblib) model into a bundle.

Unpickling runs code from the file, so it happens only for the exact file the user
vouches for by its sha256. The bundle then stores the model as skops, and nothing
downstream (serving, images) ever unpickles anything.
"""

from __future__ import annotations

import hmac
import os
import re
from pathlib import Path
from typing import Any

from dockyard.bundle.metadata import BundleMetadata
from dockyard.bundle.store import sha256_file
from dockyard.errors import TrainingError, UntrustedTypes, UsageError

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
    sha256: str,
    data: str | os.PathLike[str],
    target: str | None,
    name: str,
    out: str | os.PathLike[str],
    version: str = "1.0.0",
    overwrite: bool = False,
) -> BundleMetadata:
    """Verify and load a pickled model, then save it with its training data as a bundle."""
    import pandas as pd

    from dockyard.training.save import save_bundle

    model = load_pickled_model(model_path, sha256=sha256)
    frame = pd.read_csv(data)
    if target is not None and target not in frame.columns:
        raise UsageError(
            f"{data} has no column '{target}'; columns: {', '.join(map(str, frame.columns))}."
        )
    # Without a target (clusterers, outlier detectors) every column is a feature.
    X, y = (frame, None) if target is None else (frame.drop(columns=[target]), frame[target])
    fitted = getattr(model, "feature_names_in_", None)
    if fitted is not None:
        missing = [c for c in fitted if c not in X.columns]
        if missing:
            raise TrainingError(
                f"{data} lacks the column(s) the model was fitted on: {', '.join(missing)}."
            )
        X = X[list(fitted)]
    return save_bundle(model, X, y, name=name, path=out, version=version, overwrite=overwrite)
