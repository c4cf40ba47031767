"""The import rules of the layers (docs/architecture.md), checked on the source.

The graph is built with ``ast`` from every import statement of ``hub/``, ``schema/``,
``connectors/`` and ``plugins/``: module level, inside functions (a function-local
import that hides a cycle is still a cycle) and under ``if TYPE_CHECKING:``. An edge
goes to the module named (``from a.b import c`` goes to ``a.b.c`` when that is a
module, else to ``a.b``); the parent packages Python initialises on the way are not
edges of their own.

- no cycle between files (a known one may stand in :data:`KNOWN_CYCLES` until its
  owner removes it; the test prints every cycle it finds);
- ``hub/domain/**`` imports neither ``schema`` nor a connector implementation (of
  ``connectors/`` only ``connectors.base``, the ports);
- nothing in ``hub/`` imports ``schema`` (the core knows nothing of GraphQL), but
  for :data:`GRAPHQL_MOUNTS`: the ASGI app mounts the GraphQL surface.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("hub", "schema", "connectors", "plugins")

# Cycles that exist today outside this test's owner's area, as sorted module tuples;
# the merge empties this.
KNOWN_CYCLES: set[tuple[str, ...]] = set()


# The modules of hub/ that put the GraphQL surface on the wire (and so import it).
GRAPHQL_MOUNTS = frozenset({"hub.app"})


def _modules() -> dict[str, Path]:
    found: dict[str, Path] = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if "migrations" in parts:
                continue  # alembic's scripts are loaded by alembic, not imported
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = path
    return found


def _imported(name: str, path: Path, modules: dict[str, Path]) -> Iterator[str]:
    """The modules of ours that the file of module ``name`` imports."""
    is_package = path.name == "__init__.py"
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    # Type-only references (``if TYPE_CHECKING:`` with ``strawberry.lazy``) are how two
    # GraphQL types that point at each other are declared without a runtime import:
    # they are not edges. Function-local imports are.
    type_only = {
        id(inner)
        for node in ast.walk(tree)
        if isinstance(node, ast.If) and ast.unparse(node.test).endswith("TYPE_CHECKING")
        for stmt in node.body
        for inner in ast.walk(stmt)
    }
    for node in ast.walk(tree):
        if id(node) in type_only:
            continue
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] in PACKAGES:
                    yield _known(alias.name, modules)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = name.split(".") if is_package else name.split(".")[:-1]
                base = base[: len(base) - (node.level - 1)]
                target = ".".join([*base, *([node.module] if node.module else [])])
            else:
                target = node.module or ""
            if target.split(".")[0] not in PACKAGES:
                continue
            for alias in node.names:
                sub = f"{target}.{alias.name}"
                yield sub if sub in modules else _known(target, modules)


def _known(name: str, modules: dict[str, Path]) -> str:
    """``name``, or its nearest enclosing module of ours."""
    while name not in modules and "." in name:
        name = name.rsplit(".", 1)[0]
    return name


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    return {
        name: {m for m in _imported(name, path, modules) if m in modules and m != name}
        for name, path in modules.items()
    }


def _cycles(graph: dict[str, set[str]]) -> list[tuple[str, ...]]:
    """The strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[tuple[str, ...]] = []
    counter = 0

    def visit(v: str) -> None:
        nonlocal counter
        index[v] = low[v] = counter
        counter += 1
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(tuple(sorted(component)))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return sorted(found)


def test_no_import_cycles() -> None:
    cycles = _cycles(_graph())
    for cycle in cycles:
        known = " (known, allowed for now)" if cycle in KNOWN_CYCLES else ""
        print("import cycle:", " <-> ".join(cycle) + known)
    new = [c for c in cycles if c not in KNOWN_CYCLES]
    assert not new, f"import cycles between files: {new}"


def _connector_implementation(module: str) -> bool:
    return module.split(".")[0] == "connectors" and module not in ("connectors", "connectors.base")


def test_the_domain_imports_no_schema_and_no_connector_implementation() -> None:
    bad = [
        f"{name} imports {target}"
        for name, targets in _graph().items()
        if name.startswith("hub.domain")
        for target in sorted(targets)
        if target.split(".")[0] == "schema" or _connector_implementation(target)
    ]
    assert not bad, "the domain depends on the ports (connectors.base) only:\n" + "\n".join(bad)


def test_the_core_imports_no_schema() -> None:
    bad = [
        f"{name} imports {target}"
        for name, targets in _graph().items()
        if name.split(".")[0] == "hub" and name not in GRAPHQL_MOUNTS
        for target in sorted(targets)
        if target.split(".")[0] == "schema"
    ]
    assert not bad, "hub/ knows nothing of GraphQL:\n" + "\n".join(bad)


def test_the_graph_sees_function_local_imports(tmp_path: Path) -> None:
    """The checker itself: a cycle hidden in a function is found."""
    graph = {"a": {"b"}, "b": set()}
    assert _cycles(graph) == []
    graph["b"].add("a")
    assert _cycles(graph) == [("a", "b")]
    source = "def f():\n    from hub import container\n"
    path = tmp_path / "m.py"
    path.write_text(source)
    assert list(_imported("schema.m", path, {"hub.container": path})) == ["hub.container"]
