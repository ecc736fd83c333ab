"""Write and read bundle directories: the model file, ``bundle.json`` and checksums.

Loading is where trust is decided. Every file is checked against its recorded sha256,
the recorded scikit-learn/numpy versions are compared with the running ones, and the
skops loader may construct only types from a reviewed list (plus ones the caller names).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dockyard import files
from dockyard.bundle import environment
from dockyard.bundle.metadata import METADATA_FILE, BundleMetadata, parse_metadata
from dockyard.errors import (
    BundleIntegrityError,
    BundleNotFound,
    BundleSchemaError,
    EnvironmentMismatch,
    UntrustedTypes,
)

logger = logging.getLogger("dockyard.bundle")

MODEL_FILE = "model.skops"

# What skops needs to construct each supported gradient-boosting library's scikit-learn
# estimators, reviewed library by library: the estimator classes (plain attribute holders)
# and the Booster, whose state is the library's own model buffer (XGBoost's binary
# format, LightGBM's model string), parsed by its native loader, never by pickle.
# LightGBM keeps its best scores and parameters in OrderedDicts. Nothing else from these
# libraries is trusted, whatever the file says.
LIBRARY_TRUSTED_TYPES: dict[str, tuple[str, ...]] = {
    "xgboost": (
        "xgboost.core.Booster",
        "xgboost.sklearn.XGBClassifier",
        "xgboost.sklearn.XGBRegressor",
    ),
    "lightgbm": (
        "collections.OrderedDict",
        "lightgbm.basic.Booster",
        "lightgbm.sklearn.LGBMClassifier",
        "lightgbm.sklearn.LGBMRegressor",
    ),
}

# Types skops does not trust by default that Dockyard has reviewed: plain data holders
# that scikit-learn's own estimators persist (tree arrays, KD-trees, optimiser state).
# None of them executes code from the file when constructed.
REVIEWED_TRUSTED_TYPES: tuple[str, ...] = (
    "numpy.dtype",  # SimpleImputer and others record the dtype they were fitted on
    "sklearn.tree._tree.Tree",
    "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
    "sklearn.neighbors._kd_tree.KDTree",
    "sklearn.neighbors._ball_tree.BallTree",
    "sklearn.metrics._dist_metrics.EuclideanDistance64",
    "sklearn.metrics._dist_metrics.ManhattanDistance64",
    "sklearn.metrics._dist_metrics.MinkowskiDistance64",
    "sklearn.metrics._dist_metrics.ChebyshevDistance64",
    "sklearn.neural_network._stochastic_optimizers.AdamOptimizer",
    "sklearn.neural_network._stochastic_optimizers.SGDOptimizer",
    *(name for names in LIBRARY_TRUSTED_TYPES.values() for name in names),
)

_CHUNK = 1 << 20


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(_CHUNK):
            digest.update(block)
    return digest.hexdigest()


def bundle_digest(path: str | os.PathLike[str]) -> str:
    """sha256 of ``bundle.json``, which itself holds the sha256 of every other file:
    one value that changes when any byte of the bundle does."""
    return sha256_file(Path(path) / METADATA_FILE)


def checksum_files(directory: Path) -> dict[str, str]:
    """sha256 of every file below ``directory`` except ``bundle.json``, by relative path."""
    out: dict[str, str] = {}
    for file in sorted(directory.rglob("*")):
        if file.is_file() and file.name != METADATA_FILE:
            out[file.relative_to(directory).as_posix()] = sha256_file(file)
    return out


def write_metadata(directory: Path, metadata: BundleMetadata) -> None:
    """Write ``bundle.json`` atomically, so a crash never leaves half a file."""
    text = json.dumps(metadata.model_dump(mode="json"), indent=2, sort_keys=False) + "\n"
    files.write_text(directory / METADATA_FILE, text)


def untrusted_types(model_path: Path) -> list[str]:
    import skops.io as sio

    return sorted(sio.get_untrusted_types(file=model_path))


def read_metadata(path: str | os.PathLike[str], *, verify: bool = True) -> BundleMetadata:
    """Parse ``bundle.json`` and (by default) check every file's sha256."""
    directory = Path(path)
    meta_path = directory / METADATA_FILE
    if not directory.is_dir():
        raise BundleNotFound(
            f"No bundle at {directory}: not a directory.",
            hint="Train one with 'dockyard train iris --out DIR' or save one with dockyard.save_bundle().",
        )
    if not meta_path.is_file():
        raise BundleNotFound(f"{directory} is not a Dockyard bundle: it has no {METADATA_FILE}.")
    try:
        doc = json.loads(meta_path.read_bytes())
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BundleSchemaError(f"{meta_path} is not valid JSON ({exc}).") from None
    metadata = parse_metadata(doc, source=str(meta_path))
    if verify:
        verify_files(directory, metadata)
    return metadata


def verify_files(directory: Path, metadata: BundleMetadata) -> None:
    if metadata.model.path not in metadata.files:
        raise BundleIntegrityError(
            f"{directory / METADATA_FILE} records no checksum for the model file."
        )
    for rel, expected in metadata.files.items():
        file = (directory / rel).resolve()
        if directory.resolve() not in file.parents:
            raise BundleIntegrityError(f"{METADATA_FILE} names a file outside the bundle: {rel}.")
        if not file.is_file():
            raise BundleIntegrityError(
                f"Bundle {directory} is incomplete: {rel} is missing.",
                hint="Copy the whole bundle directory again, or retrain.",
            )
        actual = sha256_file(file)
        if actual != expected:
            raise BundleIntegrityError(
                f"Bundle {directory} failed its integrity check: {rel} has sha256 {actual[:12]}…, "
                f"expected {expected[:12]}… (modified or truncated).",
                hint="Do not edit bundles by hand; copy the original again or retrain.",
            )


def check_environment(
    metadata: BundleMetadata, *, allow_mismatch: bool, runtime: str = "sklearn"
) -> list[str]:
    """Refuse (or, with ``allow_mismatch``, warn about) a training/serving version mismatch.

    With the scikit-learn runtime every recorded package must be installed, scikit-learn
    and numpy at exactly the recorded versions. With the ONNX runtime, only numpy and the
    onnxruntime that verified the export are required (exactly); the rest may be absent
    (the slim image), but where installed, scikit-learn still has to match.
    """
    recorded = dict(metadata.environment.packages)
    strict: tuple[str, ...] = environment.STRICT_PACKAGES
    may_be_absent: set[str] = set()
    if runtime == "onnx":
        onnxruntime = metadata.runtime.versions.get("onnxruntime")
        if onnxruntime:
            recorded["onnxruntime"] = onnxruntime
            strict = (*strict, "onnxruntime")
        may_be_absent = set(recorded) - {"numpy", "onnxruntime"}
    refusals, warnings = environment.compare(recorded, strict=strict, may_be_absent=may_be_absent)
    if not environment.same_python(metadata.environment.python, environment.python_version()):
        warnings.append(
            f"Python {metadata.environment.python} recorded, {environment.python_version()} running"
        )
    if refusals and not allow_mismatch:
        wanted = " ".join(f"{n}=={v}" for n, v in recorded.items() if n in strict)
        raise EnvironmentMismatch(
            f"Bundle '{metadata.name}' was trained with a different environment: {'; '.join(refusals)}.",
            hint=(
                f"Install the recorded versions (pip install {wanted}), or serve it from the "
                "image 'dockyard build' makes."
            ),
        )
    notes = warnings + (refusals if allow_mismatch else [])
    for note in notes:
        logger.warning("bundle %s: %s", metadata.name, note)
    return notes


@dataclass(frozen=True, slots=True)
class Bundle:
    """A loaded, verified bundle."""

    path: Path
    metadata: BundleMetadata
    model: Any
    environment_notes: tuple[str, ...] = ()

    @property
    def digest(self) -> str:
        return bundle_digest(self.path)


def load_bundle(
    path: str | os.PathLike[str],
    *,
    allow_version_mismatch: bool = False,
    trusted_types: list[str] | tuple[str, ...] = (),
) -> Bundle:
    """Verify and load a bundle directory. Never runs code from the bundle that was not trusted."""
    directory = Path(path)
    return load_verified(
        directory,
        read_metadata(directory),
        allow_version_mismatch=allow_version_mismatch,
        trusted_types=trusted_types,
    )


def load_verified(
    directory: Path,
    metadata: BundleMetadata,
    *,
    allow_version_mismatch: bool = False,
    trusted_types: list[str] | tuple[str, ...] = (),
) -> Bundle:
    """Load the scikit-learn model of a bundle whose files ``read_metadata`` already checked."""
    notes = check_environment(metadata, allow_mismatch=allow_version_mismatch)
    model_path = directory / metadata.model.path
    if metadata.model.format != "skops":
        raise UntrustedTypes(
            f"Bundle '{metadata.name}' holds a {metadata.model.format} model, which can run arbitrary code.",
            hint="Re-save it with dockyard.save_bundle(), which writes skops.",
        )
    import skops.io as sio

    trusted = set(REVIEWED_TRUSTED_TYPES) | set(trusted_types)
    try:
        needed = set(untrusted_types(model_path))
    except Exception as exc:  # skops raises several types for a corrupt archive
        raise BundleIntegrityError(f"{model_path} is not a readable skops file ({exc}).") from None
    unknown = sorted(needed - trusted)
    if unknown:
        raise UntrustedTypes(
            f"Bundle '{metadata.name}' needs types Dockyard has not reviewed: {', '.join(unknown)}.",
            hint="If you trust where this bundle came from, name them as trusted types.",
            types=unknown,
        )
    try:
        model = sio.load(model_path, trusted=sorted(needed))
    except Exception as exc:
        raise BundleIntegrityError(f"Could not load {model_path}: {exc}") from None
    return Bundle(path=directory, metadata=metadata, model=model, environment_notes=tuple(notes))
