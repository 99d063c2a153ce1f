"""engine/'s imports only go downward: no module imports, directly or through others, a module that
imports it back, and no stage reaches up into a command. Read from the source with `ast`, so an
import inside a function (run only later, or only on one path) counts like one at the top."""

from __future__ import annotations

import ast
from collections import deque
from pathlib import Path

ENGINE = Path(__file__).resolve().parents[1] / "engine"
# The `cohost` verbs' own modules: only the command line (and `python -m engine`) may import them.
COMMANDS = {"engine.cli", "engine.stream_cli", "engine.say"}
COMMAND_LINE = {"engine.cli", "engine.__main__"}

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


def test_no_stage_imports_a_command_module() -> None:
    graph = import_graph(ENGINE)
    upward = sorted(f"{module} → {target}" for module, targets in graph.items() if module not in COMMAND_LINE
                    for target in targets & COMMANDS)  # fmt: skip
    assert not upward, "stages importing a command module:\n" + "\n".join(upward)


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
