"""The package's layers depend one way (read from the source, with ``ast``).

* no import cycle anywhere in ``toolkit/`` (module-level, function-local and ``TYPE_CHECKING``
  imports all count);
* no module imports one of a higher layer (:data:`LAYERS`; ``paper`` stands apart: it imports
  nothing of the rest, and only the layers that run it import it);
* outside tests, no module uses an underscore-named function, method or attribute that another
  module defines (importing a module whose file name starts with ``_`` is fine).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2] / "toolkit"

#: Layer of each module (by dotted name under ``toolkit``; a package name covers its modules).
#: Lower layers never import higher ones.
LAYERS: dict[str, int] = {
    # 0: the paper exchange, a program of its own that speaks Binance's protocol
    "toolkit.paper": 0,
    # 1: core: order models, errors, the order frame, input, rules, validation (pure)
    "toolkit.core": 1,
    # 2: the exchange protocol (Binance), the store, the runtime (I/O loop, pub/sub)
    "toolkit.binance": 2,
    "toolkit.store": 2,
    "toolkit.runtime": 2,
    # 3: the session: settings, reconciliation, the ledger, batch, order operations, registry
    "toolkit.session": 3,
    # 4: the notebook and the command line, the module-level calls (_api) and the public module
    "toolkit.notebook": 4,
    "toolkit._cli": 4,
    "toolkit.__main__": 4,
    "toolkit._api": 4,
    "toolkit": 4,
}


def _name(path: Path) -> str:
    parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


FILES = {_name(p): p for p in sorted(ROOT.rglob("*.py"))}


def _trees() -> Iterator[tuple[str, ast.Module]]:
    for name, path in FILES.items():
        yield name, ast.parse(path.read_text(encoding="utf-8"), str(path))


def _resolve(module: str, node: ast.ImportFrom) -> str:
    if node.level == 0:
        return node.module or ""
    package = module.split(".")
    if FILES[module].name != "__init__.py":
        package = package[:-1]
    base = package[: len(package) - node.level + 1]
    return ".".join(base + ([node.module] if node.module else []))


def _imports(module: str, tree: ast.Module) -> set[str]:
    """The toolkit modules ``module`` imports (a ``from pkg import sub`` counts as ``pkg.sub``)."""
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names if a.name.split(".")[0] == "toolkit")
        elif isinstance(node, ast.ImportFrom):
            target = _resolve(module, node)
            if target.split(".")[0] != "toolkit":
                continue
            for alias in node.names:
                sub = f"{target}.{alias.name}"
                out.add(sub if sub in FILES else target)
    out.discard(module)
    return {m for m in out if m in FILES}


GRAPH = {name: _imports(name, tree) for name, tree in _trees()}


def _layer(module: str) -> int:
    parts = module.split(".")
    # a module directly under toolkit/ needs its own row (the package's row is __init__'s only)
    for i in range(len(parts), 0 if module == "toolkit" else 1, -1):
        layer = LAYERS.get(".".join(parts[:i]))
        if layer is not None:
            return layer
    raise AssertionError(f"{module} has no layer in LAYERS: give it one (or move it)")


def test_every_module_has_a_layer() -> None:
    for module in GRAPH:
        _layer(module)


def test_no_import_cycle() -> None:
    done: set[str] = set()
    path: list[str] = []

    def visit(module: str) -> None:
        if module in path:
            cycle = [*path[path.index(module) :], module]
            pytest.fail("import cycle: " + " -> ".join(cycle))
        if module in done:
            return
        path.append(module)
        for target in sorted(GRAPH[module]):
            visit(target)
        path.pop()
        done.add(module)

    for module in sorted(GRAPH):
        visit(module)


def test_no_import_from_a_lower_layer_to_a_higher() -> None:
    upward = [
        f"{module} (layer {_layer(module)}) imports {target} (layer {_layer(target)})"
        for module, targets in GRAPH.items()
        for target in sorted(targets)
        if _layer(target) > _layer(module)
    ]
    assert upward == []


def test_paper_stands_apart() -> None:
    """The paper exchange imports nothing of the rest; of the rest only the embedded exchange's
    lifecycle and the command line start it."""
    out = [
        f"{module} imports {target}"
        for module, targets in GRAPH.items()
        if module.startswith("toolkit.paper")
        for target in targets
        if not target.startswith("toolkit.paper")
    ]
    assert out == []
    users = {
        module
        for module, targets in GRAPH.items()
        if not module.startswith("toolkit.paper")
        and any(t.startswith("toolkit.paper") for t in targets)
    }
    assert users <= {"toolkit.runtime._embedded", "toolkit._cli"}


def _defined(tree: ast.Module) -> set[str]:
    """Names a module defines: functions, classes, assignments, attributes it sets, arguments."""
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
        elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
            names.add(node.attr)
        elif isinstance(node, ast.arg):
            names.add(node.arg)
        elif isinstance(node, ast.alias) and node.asname:
            names.add(node.asname)
    return names


def _private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def test_no_module_uses_another_modules_private_names() -> None:
    trees = dict(_trees())
    defined = {name: _defined(tree) for name, tree in trees.items()}
    everywhere = set().union(*defined.values())
    found: list[str] = []
    for module, tree in trees.items():
        mine = defined[module]
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and _private(node.attr):
                if isinstance(node.value, ast.Name) and node.value.id in ("self", "cls"):
                    continue
                if node.attr not in mine and node.attr in everywhere:
                    found.append(f"{module}:{node.lineno}: .{node.attr}")
            elif isinstance(node, ast.ImportFrom):
                target = _resolve(module, node)
                for alias in node.names:
                    if _private(alias.name) and f"{target}.{alias.name}" not in FILES:
                        found.append(f"{module}:{node.lineno}: imports {alias.name}")
    assert found == []
