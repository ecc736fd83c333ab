"""A tiny YAML writer for compose files and Kubernetes manifests.

Dockyard's runtime does not depend on PyYAML; what it writes is plain nested mappings and
lists of strings, numbers and booleans, and every string is emitted double-quoted (JSON
string syntax, which YAML 1.1 and 1.2 parsers read alike), so nothing is mis-typed.
Kept rather than PyYAML: it is an optional extra (``dockyard[mlflow]``, to read MLmodel files),
and writing this subset is forty lines that tests check by loading the output with PyYAML.
"""

from __future__ import annotations

import json
from typing import Any


def _scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return json.dumps(value)
    return json.dumps(str(value))


def _lines(value: Any, indent: int) -> list[str]:
    pad = " " * indent
    out: list[str] = []
    if isinstance(value, dict):
        for key, item in value.items():
            if isinstance(item, dict | list) and item:
                out.append(f"{pad}{key}:")
                out += _lines(item, indent + 2)
            else:
                empty = "{}" if isinstance(item, dict) else "[]" if isinstance(item, list) else None
                out.append(f"{pad}{key}: {empty or _scalar(item)}")
    elif isinstance(value, list):
        for item in value:
            if isinstance(item, dict | list) and item:
                nested = _lines(item, indent + 2)
                out.append(f"{pad}- {nested[0].lstrip()}")
                out += nested[1:]
            else:
                out.append(f"{pad}- {_scalar(item)}")
    else:
        out.append(pad + _scalar(value))
    return out


def dump(document: dict[str, Any]) -> str:
    return "\n".join(_lines(document, 0)) + "\n"
