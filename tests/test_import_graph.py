"""engine/'s imports only go downward: no module imports, directly or through others, a module that
imports it back; no room (subpackage) does so either; and no stage reaches up into the composition
root. Read from the source with `ast`, so an
import inside a function (run only later, or only on one path) counts like one at the top."""

from __future__ import annotations

import ast
from collections import deque
from pathlib import Path

ENGINE = Path(__file__).resolve().parents[1] / "engine"
# The composition root: the `cohost` verbs and the wiring of the pipeline. Only it (and `python -m
# engine`) may import it.
ROOT = "engine.app"
ENTRY = "engine.__main__"

Graph = dict[str, set[str]]


def _module_name(path: Path, root: Path) -> str:
    parts = path.relative_to(root.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(tree: ast.Module, name: str, is_package: bool, modules: set[str]) -> set[str]:
    """The modules of `modules` that `name` imports; `from P import x` depends on P.x when that is a
    module, else on P (x is a name defined there)."""
    package = name if is_package else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if alias.name in modules)
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: `.` is the package, each further dot one package up
                base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{base}.{node.module}" if node.module else base
            else:
                base = node.module or ""
            for alias in node.names:
                if f"{base}.{alias.name}" in modules:
                    found.add(f"{base}.{alias.name}")
                elif base in modules:
                    found.add(base)
    found.discard(name)
    return found


def import_graph(root: Path) -> Graph:
    """Every module under the package directory `root`, with the modules of that package it imports."""
    paths = {_module_name(path, root): path for path in sorted(root.rglob("*.py"))}
    modules = set(paths)
    trees = {name: ast.parse(path.read_text(encoding="utf-8"), str(path)) for name, path in paths.items()}
    return {name: _imports(tree, name, paths[name].name == "__init__.py", modules) for name, tree in trees.items()}


def _shortest_cycle(graph: Graph, start: str) -> list[str] | None:
    """The shortest import path from `start` back to itself, or None."""
    came_from: dict[str, str] = {}
    todo = deque([start])
    while todo:
        module = todo.popleft()
        for target in sorted(graph[module]):
            if target == start:
                path = [module]
                while path[-1] != start:
                    path.append(came_from[path[-1]])
                return [*reversed(path), start]
            if target not in came_from:
                came_from[target] = module
                todo.append(target)
    return None


def cycles(graph: Graph) -> list[list[str]]:
    """One shortest cycle through each module that is on one, each cycle reported once."""
    found: list[list[str]] = []
    seen: set[frozenset[str]] = set()
    for module in sorted(graph):
        cycle = _shortest_cycle(graph, module)
        if cycle is not None and frozenset(cycle) not in seen:
            seen.add(frozenset(cycle))
            found.append(cycle)
    return found


def test_engine_has_no_import_cycle() -> None:
    found = cycles(import_graph(ENGINE))
    assert not found, "import cycles in engine/:\n" + "\n".join(" → ".join(cycle) for cycle in found)


def room_graph(graph: Graph) -> Graph:
    """The same imports between rooms: engine's subpackages (engine.live) and top-level modules
    (engine.config), each an arrow from one room to another."""

    def room(module: str) -> str:
        return ".".join(module.split(".")[:2])

    rooms: Graph = {room(module): set() for module in graph}
    for module, targets in graph.items():
        rooms[room(module)].update(room(target) for target in targets if room(target) != room(module))
    return rooms


def test_no_two_rooms_import_each_other() -> None:
    found = cycles(room_graph(import_graph(ENGINE)))
    assert not found, "rooms of engine/ importing each other:\n" + "\n".join(" → ".join(cycle) for cycle in found)


def _in_root(module: str) -> bool:
    return module == ROOT or module.startswith(ROOT + ".")


def test_no_stage_imports_the_composition_root() -> None:
    graph = import_graph(ENGINE)
    upward = sorted(f"{module} → {target}" for module, targets in graph.items()
                    if not _in_root(module) and module != ENTRY
                    for target in targets if _in_root(target))  # fmt: skip
    assert not upward, "stages importing the composition root:\n" + "\n".join(upward)


def test_cycle_through_a_relative_import_inside_a_function_is_found(tmp_path: Path) -> None:
    package = tmp_path / "pkg"
    (package / "sub").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "sub" / "__init__.py").write_text("")
    (package / "top.py").write_text("from pkg.sub.low import helper\n")
    (package / "sub" / "low.py").write_text("def helper():\n    from ..top import thing\n")
    (package / "sub" / "leaf.py").write_text("from . import low\nimport pkg.top\n")

    graph = import_graph(package)

    assert graph["pkg.sub.leaf"] == {"pkg.sub.low", "pkg.top"}
    assert cycles(graph) == [["pkg.sub.low", "pkg.top", "pkg.sub.low"]]


def test_importing_a_name_depends_on_the_package_that_defines_it(tmp_path: Path) -> None:
    package = tmp_path / "pkg"
    (package / "sub").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "sub" / "__init__.py").write_text("from pkg.user import VALUE\n")
    (package / "user.py").write_text("from pkg.sub import Thing\nVALUE = 1\n")

    assert cycles(import_graph(package)) == [["pkg.sub", "pkg.user", "pkg.sub"]]
