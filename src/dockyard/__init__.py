"""Dockyard: from a trained scikit-learn model to a container that runs the same anywhere."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from dockyard.__about__ import __version__

if TYPE_CHECKING:
    from dockyard.bundle import Bundle, BundleMetadata, bundle_digest, load_bundle, read_metadata
    from dockyard.errors import DockyardError
    from dockyard.training import save_bundle, train_example

# Resolved on first use: `dockyard serve` and `dockyard --version` should not pay for
# importing scikit-learn's training and metrics modules.
_LAZY = {
    "Bundle": "dockyard.bundle",
    "BundleMetadata": "dockyard.bundle",
    "bundle_digest": "dockyard.bundle",
    "load_bundle": "dockyard.bundle",
    "read_metadata": "dockyard.bundle",
    "DockyardError": "dockyard.errors",
    "save_bundle": "dockyard.training",
    "train_example": "dockyard.training",
}

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


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'dockyard' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)
