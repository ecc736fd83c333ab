"""Run inside an image by ``dockyard verify``: do the bundles match the image's labels?

Standard library only. The host sends this file's source with ``python -I -c`` rather than
running a copy from the image, so a tampered image cannot swap in its own verification; it
runs with no network and a read-only root. Argument: JSON ``{name: {"sha256": ..., "version":
...}}`` from the labels. Prints one JSON line per model; exits 1 when any model fails.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys

MODELS_DIR = "/models"
METADATA_FILE = "bundle.json"


def _sha256(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def check(directory: str, sha256: str, version: str) -> dict[str, object]:
    """The problems found in one bundle directory against what the labels promise."""
    problems: list[str] = []
    meta_path = os.path.join(directory, METADATA_FILE)
    if not os.path.isfile(meta_path):
        return {"ok": False, "files": 0, "problems": [f"{meta_path} is missing"]}
    actual = _sha256(meta_path)
    if actual != sha256:
        problems.append(f"{METADATA_FILE} has sha256 {actual}, the labels say {sha256}")
    try:
        with open(meta_path, "rb") as fh:
            meta = json.load(fh)
        files = dict(meta["files"])
        recorded_version = str(meta.get("version"))
    except (ValueError, KeyError, TypeError) as exc:
        return {"ok": False, "files": 0, "problems": [*problems, f"unreadable metadata: {exc}"]}
    if recorded_version != version:
        problems.append(
            f"{METADATA_FILE} says version {recorded_version}, the labels say {version}"
        )
    root = os.path.realpath(directory)
    for rel, expected in sorted(files.items()):
        path = os.path.realpath(os.path.join(root, rel))
        if not path.startswith(root + os.sep):
            problems.append(f"{rel} lies outside the bundle")
        elif not os.path.isfile(path):
            problems.append(f"{rel} is missing")
        elif (got := _sha256(path)) != expected:
            problems.append(f"{rel} has sha256 {got}, {METADATA_FILE} says {expected}")
    # An image gets only the files the metadata vouches for; anything else was added later.
    for parent, _dirs, names in os.walk(root):
        for name in names:
            rel = os.path.relpath(os.path.join(parent, name), root).replace(os.sep, "/")
            if rel != METADATA_FILE and rel not in files:
                problems.append(f"{rel} is not part of the bundle")
    return {"ok": not problems, "files": len(files), "problems": problems}


def main(argv: list[str]) -> int:
    expected = json.loads(argv[0])
    failed = False
    for name, promise in sorted(expected.items()):
        result = check(os.path.join(MODELS_DIR, name), promise["sha256"], promise["version"])
        failed = failed or not result["ok"]
        print(json.dumps({"model": name, **result}), flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
