"""The shape of the source tree: no import cycles, no private names across modules, small modules.

Read from the source (``ast``), not by importing it, so a test names every offender at once.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
MAX_LINES = 400


@dataclass
class Module:
    name: str
    path: Path
    tree: ast.Module
    is_package: bool
    imports: set[str] = field(default_factory=set)
    """Dockyard modules this one imports at run time (its own parent packages excluded)."""


def _module_name(path: Path, root: Path) -> tuple[str, bool]:
    parts = list(path.relative_to(root).with_suffix("").parts)
    is_package = parts[-1] == "__init__"
    if is_package:
        parts = parts[:-1]
    return ".".join(parts), is_package


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def runtime_nodes(tree: ast.AST) -> Iterator[ast.AST]:
    """Every node, except what sits under ``if TYPE_CHECKING:`` (never run)."""
    for child in ast.iter_child_nodes(tree):
        if isinstance(child, ast.If) and _is_type_checking(child.test):
            for node in child.orelse:
                yield node
                yield from runtime_nodes(node)
            continue
        yield child
        yield from runtime_nodes(child)


def _absolute(module: Module, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    package = module.name if module.is_package else module.name.rpartition(".")[0]
    base = package.split(".")[: len(package.split(".")) - node.level + 1]
    return ".".join(base + ([node.module] if node.module else []))


def _parents(name: str) -> list[str]:
    parts = name.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts))]


def load(root: Path) -> dict[str, Module]:
    modules: dict[str, Module] = {}
    for path in sorted(root.rglob("*.py")):
        name, is_package = _module_name(path, root)
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        modules[name] = Module(name, path, tree, is_package)
    for module in modules.values():
        targets: set[str] = set()
        for node in runtime_nodes(module.tree):
            if isinstance(node, ast.ImportFrom):
                base = _absolute(module, node)
                for alias in node.names:
                    full = f"{base}.{alias.name}"
                    targets.add(full if full in modules else base)
            elif isinstance(node, ast.Import):
                targets.update(alias.name for alias in node.names)
        # Importing a.b.c runs a/__init__ and a/b/__init__ first. A module's own parent
        # packages already run when it is imported, so that implied step is no edge; naming
        # the parent (``from dockyard import __version__``) is one.
        implied = {p for t in targets for p in _parents(t)} - targets
        module.imports = {
            t
            for t in targets | implied
            if t in modules
            and t != module.name
            and not (t in implied and module.name.startswith(t + "."))
        }
    return modules


def cycles(modules: dict[str, Module]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(name: str) -> None:
        index[name] = low[name] = len(index)
        stack.append(name)
        on_stack.add(name)
        for target in sorted(modules[name].imports):
            if target not in index:
                visit(target)
                low[name] = min(low[name], low[target])
            elif target in on_stack:
                low[name] = min(low[name], index[target])
        if low[name] == index[name]:
            component: list[str] = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == name:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for name in sorted(modules):
        if name not in index:
            visit(name)
    return sorted(found)


def _private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def private_uses(modules: dict[str, Module]) -> list[str]:
    """``module: what`` for each use of another Dockyard module's private name."""
    found: list[str] = []
    for module in modules.values():
        # Local names bound to a Dockyard module: ``import dockyard.x as y``,
        # ``from dockyard.pkg import x`` (x a module), ``import dockyard.x`` (binds dockyard).
        bound: dict[str, str] = {}
        for node in runtime_nodes(module.tree):
            if isinstance(node, ast.ImportFrom):
                base = _absolute(module, node)
                if base not in modules:
                    continue
                for alias in node.names:
                    full = f"{base}.{alias.name}"
                    if _private(alias.name):
                        found.append(f"{module.name}: from {base} import {alias.name}")
                    if full in modules:
                        bound[alias.asname or alias.name] = full
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    if not alias.name.startswith("dockyard"):
                        continue
                    if any(_private(part) for part in alias.name.split(".")):
                        found.append(f"{module.name}: import {alias.name}")
                    if alias.asname:
                        bound[alias.asname] = alias.name
                    else:
                        bound[alias.name.split(".")[0]] = alias.name.split(".")[0]
        for node in runtime_nodes(module.tree):
            if not (isinstance(node, ast.Attribute) and _private(node.attr)):
                continue
            dotted = _dotted(node.value, bound)
            if dotted is not None and dotted in modules and dotted != module.name:
                found.append(f"{module.name}: {dotted}.{node.attr}")
    return sorted(set(found))


def _dotted(node: ast.expr, bound: dict[str, str]) -> str | None:
    """The Dockyard module an expression such as ``dockyard.bundle.store`` names, if any."""
    if isinstance(node, ast.Name):
        return bound.get(node.id)
    if isinstance(node, ast.Attribute):
        parent = _dotted(node.value, bound)
        return None if parent is None else f"{parent}.{node.attr}"
    return None


def long_modules(root: Path) -> list[str]:
    out = []
    for path in sorted(root.rglob("*.py")):
        lines = len(path.read_text(encoding="utf-8").splitlines())
        if lines > MAX_LINES:
            out.append(f"{path.relative_to(root)}: {lines} lines")
    return out


@pytest.fixture(scope="module")
def modules() -> dict[str, Module]:
    return load(SRC)


def test_the_import_graph_has_no_cycle(modules: dict[str, Module]) -> None:
    found = cycles(modules)
    assert not found, "import cycles:\n" + "\n".join(" <-> ".join(c) for c in found)


def test_no_module_uses_another_modules_private_names(modules: dict[str, Module]) -> None:
    found = private_uses(modules)
    assert not found, "private names used across modules:\n" + "\n".join(found)


def test_no_module_is_over_400_lines() -> None:
    found = long_modules(SRC)
    assert not found, f"modules over {MAX_LINES} lines:\n" + "\n".join(found)


# The checks themselves, on small trees written for them: each must see what it is for.


def _tree(tmp_path: Path, files: dict[str, str]) -> dict[str, Module]:
    for name, text in files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return load(tmp_path)


def test_a_cycle_through_a_package_init_is_found(tmp_path: Path) -> None:
    # dockyard/__init__ imports a.x; a.y imports a name through the top package: a cycle.
    found = cycles(
        _tree(
            tmp_path,
            {
                "dockyard/__init__.py": "from dockyard.a.x import f\n",
                "dockyard/a/__init__.py": "",
                "dockyard/a/x.py": "from dockyard.a.y import g\n",
                "dockyard/a/y.py": "def g():\n    from dockyard import __version__\n",
            },
        )
    )
    assert found == [["dockyard", "dockyard.a.x", "dockyard.a.y"]]


def test_a_relative_import_cycle_is_found(tmp_path: Path) -> None:
    found = cycles(
        _tree(
            tmp_path,
            {
                "dockyard/__init__.py": "",
                "dockyard/p/__init__.py": "",
                "dockyard/p/x.py": "from .y import g\n",
                "dockyard/p/y.py": "from . import x\n",
            },
        )
    )
    assert found == [["dockyard.p.x", "dockyard.p.y"]]


def test_type_checking_imports_and_own_parents_are_no_edges(tmp_path: Path) -> None:
    modules = _tree(
        tmp_path,
        {
            "dockyard/__init__.py": "from dockyard.p.x import f\n",
            "dockyard/p/__init__.py": "from dockyard.p.x import f\n",
            "dockyard/p/x.py": (
                "from typing import TYPE_CHECKING\n"
                "from dockyard.p import y\n"
                "if TYPE_CHECKING:\n    from dockyard.p.z import Z\n"
            ),
            "dockyard/p/y.py": "",
            "dockyard/p/z.py": "from dockyard.p.x import f\n",
        },
    )
    assert modules["dockyard.p.x"].imports == {"dockyard.p.y"}
    assert cycles(modules) == []


def test_private_names_across_modules_are_found(tmp_path: Path) -> None:
    modules = _tree(
        tmp_path,
        {
            "dockyard/__init__.py": "",
            "dockyard/p/__init__.py": "",
            "dockyard/p/_helper.py": "",
            "dockyard/p/lock.py": "def _pip():\n    pass\n\ndef _own():\n    _pip()\n",
            "dockyard/p/a.py": "from dockyard.p.lock import _pip, cache\n",
            "dockyard/p/b.py": "from dockyard.p import _helper\n",
            "dockyard/p/c.py": "import dockyard.p._helper\n",
            "dockyard/p/d.py": "from dockyard.p import lock\nlock._pip()\n",
            "dockyard/p/e.py": "import dockyard.p.lock as L\nimport dockyard\nL._own()\n"
            "dockyard.p.lock._pip()\n",
            "dockyard/p/f.py": "import os\nos._exit(0)\nfrom os import _exit\n__all__ = []\n",
        },
    )
    assert private_uses(modules) == [
        "dockyard.p.a: from dockyard.p.lock import _pip",
        "dockyard.p.b: from dockyard.p import _helper",
        "dockyard.p.c: import dockyard.p._helper",
        "dockyard.p.d: dockyard.p.lock._pip",
        "dockyard.p.e: dockyard.p.lock._own",
        "dockyard.p.e: dockyard.p.lock._pip",
    ]


def test_long_modules_are_listed(tmp_path: Path) -> None:
    (tmp_path / "ok.py").write_text("x = 1\n" * MAX_LINES, encoding="utf-8")
    (tmp_path / "long.py").write_text("x = 1\n" * (MAX_LINES + 1), encoding="utf-8")
    assert long_modules(tmp_path) == [f"long.py: {MAX_LINES + 1} lines"]
