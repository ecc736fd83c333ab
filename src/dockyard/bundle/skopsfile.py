"""Write skops files byte for byte reproducibly.

``skops.io.dump`` names each array after the Python object id of the array (``140125334483824.npy``),
records those ids in ``schema.json`` (``"__id__"``, to share objects referenced twice), names
``bytes`` members after a random UUID, and stamps every zip entry with the current time. The
same model saved twice therefore gives two different files, with the same weights.

:func:`dump` saves with skops, then rewrites the archive: ids are renumbered 1, 2, 3… in the
order they first appear in the schema (an injective renaming, so objects that were shared stay
shared and no others become so), member files are renamed the same way, entries are written in
a fixed order with a fixed timestamp (``SOURCE_DATE_EPOCH`` when set, else 1980-01-01, the
earliest a zip can hold) and fixed permissions. skops reads the result as it reads its own.
"""

from __future__ import annotations

import io
import json
import os
import time
import zipfile
from pathlib import Path
from typing import Any

from dockyard.errors import TrainingError

SCHEMA = "schema.json"
_EPOCH_1980 = 315532800  # 1980-01-01T00:00:00Z: a zip's timestamps cannot be earlier
_MODE = 0o100644 << 16  # a regular file, rw-r--r--


def zip_timestamp() -> tuple[int, int, int, int, int, int]:
    """The timestamp every entry gets: ``SOURCE_DATE_EPOCH`` (clamped to 1980) or 1980-01-01."""
    raw = os.environ.get("SOURCE_DATE_EPOCH", "").strip()
    seconds = _EPOCH_1980
    if raw:
        try:
            seconds = max(_EPOCH_1980, int(raw))
        except ValueError:
            raise TrainingError(
                f"SOURCE_DATE_EPOCH={raw[:40]!r} is not a whole number of seconds since 1970.",
                hint="Set it to an integer, e.g. $(git log -1 --format=%ct), or unset it.",
            ) from None
    stamp = time.gmtime(seconds)
    return (stamp.tm_year, stamp.tm_mon, stamp.tm_mday, stamp.tm_hour, stamp.tm_min, stamp.tm_sec)


class _Renamer:
    def __init__(self) -> None:
        self.ids: dict[Any, int] = {}
        self.files: dict[str, str] = {}

    def walk(self, node: Any) -> Any:
        if isinstance(node, list):
            return [self.walk(item) for item in node]
        if not isinstance(node, dict):
            return node
        out: dict[str, Any] = {}
        for key, value in node.items():
            if key == "__id__" and isinstance(value, int):
                out[key] = self.ids.setdefault(value, len(self.ids) + 1)
            elif key == "file" and isinstance(value, str) and "__loader__" in node:
                suffix = Path(value).suffix
                out[key] = self.files.setdefault(value, f"{len(self.files) + 1}{suffix}")
            else:
                out[key] = self.walk(value)
        return out


def normalise(data: bytes) -> bytes:
    """The skops archive ``data`` rewritten with stable names, order and timestamps."""
    with zipfile.ZipFile(io.BytesIO(data)) as source:
        schema = json.loads(source.read(SCHEMA))
        renamer = _Renamer()
        renamed = renamer.walk(schema)
        members = {new: source.read(old) for old, new in renamer.files.items()}
        unexplained = set(source.namelist()) - {SCHEMA, *renamer.files}
    if unexplained:
        # A member the schema does not name: this skops writes something new; keep it honest.
        raise TrainingError(
            f"The skops file has members its schema does not reference ({sorted(unexplained)[:3]}); "
            "Dockyard cannot make it reproducible.",
            hint="Report this with your skops version.",
        )
    stamp = zip_timestamp()
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_STORED) as target:
        for name in sorted(members, key=lambda n: (len(n), n)):
            target.writestr(_entry(name, stamp), members[name])
        target.writestr(_entry(SCHEMA, stamp), json.dumps(renamed, indent=2))
    return buffer.getvalue()


def _entry(name: str, stamp: tuple[int, int, int, int, int, int]) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name, date_time=stamp)
    info.compress_type = zipfile.ZIP_STORED
    info.create_system = 3  # Unix, whichever system writes it
    info.external_attr = _MODE
    return info


def dump(model: Any, path: Path) -> None:
    """Save ``model`` with skops to ``path``, reproducibly (see the module docstring)."""
    import skops.io as sio

    path.write_bytes(normalise(sio.dumps(model)))
