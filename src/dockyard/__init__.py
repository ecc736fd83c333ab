"""Dockyard: from a trained scikit-learn model to a container that runs the same anywhere."""

from __future__ import annotations

from dockyard.__about__ import __version__
from dockyard.bundle import Bundle, BundleMetadata, bundle_digest, load_bundle, read_metadata
from dockyard.errors import DockyardError
from dockyard.training import save_bundle, train_example

__all__ = [
    "Bundle",
    "BundleMetadata",
    "DockyardError",
    "__version__",
    "bundle_digest",
    "load_bundle",
    "read_metadata",
    "save_bundle",
    "train_example",
]
