"""Compare two bundles of the same training: every file byte for byte, ``bundle.json`` apart
from ``created_at`` (the one value that says when, not what, was trained)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from dockyard.bundle.metadata import METADATA_FILE
from dockyard.bundle.store import read_metadata, sha256_file

VARIES = ("created_at",)
"""The fields of ``bundle.json`` that may differ between two runs of the same training."""


def _stable(doc: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in doc.items() if k not in VARIES}


def compare(first: Path, second: Path) -> list[str]:
    """What differs between the bundles ``first`` and ``second`` (empty: nothing but
    :data:`VARIES`). Every file is hashed afresh, not taken from ``bundle.json``."""
    a, b = read_metadata(first), read_metadata(second)
    differences: list[str] = []
    for rel in sorted(set(a.files) | set(b.files)):
        if rel not in a.files or rel not in b.files:
            differences.append(f"{rel} is in only one bundle")
        elif sha256_file(first / rel) != sha256_file(second / rel):
            differences.append(f"{rel} differs")
    doc_a = _stable(json.loads((first / METADATA_FILE).read_bytes()))
    doc_b = _stable(json.loads((second / METADATA_FILE).read_bytes()))
    fields = sorted(k for k in set(doc_a) | set(doc_b) if doc_a.get(k) != doc_b.get(k))
    differences += [f"bundle.json's {k} differs" for k in fields if k != "files"]
    return differences
