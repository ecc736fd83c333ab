"""A CycloneDX 1.5 SBOM of an image's Python packages, made from the lock the build used.

The lock already names every distribution the image installs, its exact version and the
sha256 of the wheel file pip verified while installing it, so the SBOM needs no scanner and
no extra dependency. The document is deterministic (no timestamp, a serial number derived
from its content): the same lock gives the same file.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from packaging.utils import canonicalize_name

from dockyard import files
from dockyard.__about__ import __version__
from dockyard.packaging.lock import Lock, Pin

if TYPE_CHECKING:
    from dockyard.packaging.context import Context

SPEC_VERSION = "1.5"
SUFFIX = ".cdx.json"


def purl(pin: Pin) -> str:
    """The package URL of a PyPI distribution: ``pkg:pypi/name@version``, name normalised."""
    return f"pkg:pypi/{canonicalize_name(pin.name)}@{quote(pin.version, safe='.-_~!')}"


def _component(pin: Pin) -> dict[str, Any]:
    ref = purl(pin)
    return {
        "type": "library",
        "bom-ref": ref,
        "name": canonicalize_name(pin.name),
        "version": pin.version,
        "purl": ref,
        # The sha256 of the wheel file, which pip checked (--require-hashes) before installing
        # it, or of the source archive a slim image compiles numpy from, which the compile
        # stage checks (sha256sum) before compiling it.
        "hashes": [{"alg": "SHA-256", "content": pin.sha256}],
        "properties": [{"name": f"dockyard:{_kind(pin)}", "value": pin.filename}],
    }


def _kind(pin: Pin) -> str:
    return "wheel" if pin.filename.endswith(".whl") else "source"


def document(
    locks: list[Lock],
    *,
    image: str,
    image_id: str | None = None,
    models: dict[str, str] | None = None,
) -> dict[str, Any]:
    """The SBOM of ``image`` installing every pin of ``locks``; ``models``: name → bundle sha256."""
    pins = sorted({p.name: p for lock in locks for p in lock.pins}.values(), key=lambda p: p.name)
    components = [_component(p) for p in pins]
    target = locks[0].target if locks else None
    subject: dict[str, Any] = {"type": "container", "bom-ref": f"image:{image}", "name": image}
    properties = [
        {"name": "dockyard:bundle-sha256:" + n, "value": d} for n, d in (models or {}).items()
    ]
    if target is not None:
        properties += [
            {"name": "dockyard:python", "value": target.python},
            {"name": "dockyard:machine", "value": target.machine},
        ]
    if image_id:
        # An image ID is the sha256 of the image's configuration: it pins this SBOM to one image.
        subject["hashes"] = [{"alg": "SHA-256", "content": image_id.removeprefix("sha256:")}]
    if properties:
        subject["properties"] = properties
    body = {
        "metadata": {
            "tools": {
                "components": [{"type": "application", "name": "dockyard", "version": __version__}]
            },
            "component": subject,
        },
        "components": components,
        "dependencies": [
            {"ref": subject["bom-ref"], "dependsOn": [c["bom-ref"] for c in components]},
            *({"ref": c["bom-ref"]} for c in components),
        ],
    }
    serial = uuid.uuid5(uuid.NAMESPACE_URL, json.dumps(body, sort_keys=True))
    return {
        "bomFormat": "CycloneDX",
        "specVersion": SPEC_VERSION,
        "serialNumber": f"urn:uuid:{serial}",
        "version": 1,
        **body,
    }


def default_path(image: str, directory: Path | None = None) -> Path:
    """``DIR/NAME_TAG.cdx.json`` for an image reference (``/`` and ``:`` become ``_``)."""
    safe = image.replace("/", "_").replace(":", "_").replace("@", "_")
    return (directory or Path.cwd()) / f"{safe}{SUFFIX}"


def write(
    path: Path,
    locks: list[Lock],
    *,
    image: str,
    image_id: str | None = None,
    models: dict[str, str] | None = None,
) -> Path:
    """Write the SBOM to ``path`` (atomically) and return it."""
    text = json.dumps(document(locks, image=image, image_id=image_id, models=models), indent=2)
    path.parent.mkdir(parents=True, exist_ok=True)
    files.write_text(path, text + "\n")
    return path


def write_for(context: Context, path: Path, *, image: str, image_id: str | None = None) -> Path:
    """Write the SBOM of the image built (or to be built) from ``context``."""
    return write(
        path,
        [
            context.lock,
            *([context.sources.source] if context.sources else []),
            context.dockyard_lock,
        ],
        image=image,
        image_id=image_id,
        models={m.name: m.digest for m in context.spec.models},
    )
