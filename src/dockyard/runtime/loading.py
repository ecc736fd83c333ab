"""Open a bundle with the runtime that should serve it.

``auto`` (the default) serves the verified ONNX export when the bundle has one and ONNX
Runtime can open it, and scikit-learn otherwise, logging why. ``onnx`` insists on ONNX
(an error if the bundle has none); ``sklearn`` always loads the scikit-learn model.
The ONNX path never imports scikit-learn, scipy, pandas or skops.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Final, Literal, cast

from dockyard.bundle.store import (
    Bundle,
    check_environment,
    load_verified,
    read_metadata,
)
from dockyard.errors import BundleError, UsageError
from dockyard.runtime.onnx import OnnxModel, OnnxUnavailable

logger = logging.getLogger("dockyard.runtime")

RuntimeChoice = Literal["auto", "onnx", "sklearn"]
CHOICES: Final = ("auto", "onnx", "sklearn")
ENV_VAR: Final = "DOCKYARD_RUNTIME"


def runtime_from_env() -> RuntimeChoice:
    value = os.environ.get(ENV_VAR, "auto").strip().lower() or "auto"
    if value not in CHOICES:
        raise UsageError(f"{ENV_VAR}={value!r} is not a runtime; choose auto, onnx or sklearn.")
    return cast(RuntimeChoice, value)


def load_for_serving(
    path: Path,
    *,
    runtime: RuntimeChoice,
    allow_version_mismatch: bool = False,
    trusted_types: Sequence[str] = (),
) -> Bundle:
    # Read (and checksum) the bundle once, whichever runtime ends up serving it.
    metadata = read_metadata(path)
    if runtime != "sklearn":
        recorded = metadata.runtime
        if recorded.kind == "onnx" and recorded.path:
            # The same training/serving check as the scikit-learn path, for this runtime.
            notes = check_environment(
                metadata, allow_mismatch=allow_version_mismatch, runtime="onnx"
            )
            try:
                return Bundle(
                    path=path,
                    metadata=metadata,
                    model=OnnxModel(path / recorded.path, pad_rows=recorded.pad_rows),
                    environment_notes=tuple(notes),
                )
            except OnnxUnavailable as exc:
                if runtime == "onnx":
                    raise BundleError(f"Bundle '{metadata.name}': {exc}.") from None
                logger.warning("bundle %s: serving with scikit-learn: %s", metadata.name, exc)
        elif runtime == "onnx":
            why = recorded.reason or "it was saved without an ONNX export"
            raise BundleError(
                f"Bundle '{metadata.name}' cannot be served with ONNX Runtime: {why}.",
                hint="Serve it with the scikit-learn runtime (DOCKYARD_RUNTIME=sklearn).",
            )
        elif recorded.reason:
            logger.info("bundle %s: serving with scikit-learn: %s", metadata.name, recorded.reason)
    return load_verified(
        path,
        metadata,
        allow_version_mismatch=allow_version_mismatch,
        trusted_types=tuple(trusted_types),
    )
