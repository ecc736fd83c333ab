"""The bundle: a directory holding a model in a safe format and its versioned metadata."""

from __future__ import annotations

from dockyard.bundle.metadata import SCHEMA_VERSION, BundleMetadata, Feature, parse_metadata
from dockyard.bundle.store import Bundle, bundle_digest, load_bundle, read_metadata

__all__ = [
    "SCHEMA_VERSION",
    "Bundle",
    "BundleMetadata",
    "Feature",
    "bundle_digest",
    "load_bundle",
    "parse_metadata",
    "read_metadata",
]
