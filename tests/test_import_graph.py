"""dgtrio has no import cycle.

Each module's imports are read with ``ast``, relative ones resolved to module names.
Imports under ``if TYPE_CHECKING:`` and inside functions count too: a cycle that
mypy and a reader must follow is a cycle, even where Python never runs it. Importing
a submodule does not count as importing its packages: Python initialises a package
before its modules, so counting them would make every re-exporting ``__init__`` a
cycle.
"""

from __future__ import annotations

import ast
from collections.abc import Collection, Mapping
from pathlib import Path

import dgtrio


def module_graph(package: Path) -> dict[str, set[str]]:
    """Each module of the package in directory ``package``, by dotted name, with the
    modules of the package it imports."""
    paths = {}
    for path in sorted(package.rglob("*.py")):
        parts = path.relative_to(package.parent).with_suffix("").parts
        paths[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return {name: _imports(name, path, paths.keys()) for name, path in paths.items()}


def _imports(name: str, path: Path, modules: Collection[str]) -> set[str]:
    """The modules among ``modules`` that module ``name``, read from ``path``, imports."""
    package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # one dot is this module's package, each further dot its parent
                base = package[: len(package) - node.level + 1]
                origin = ".".join([*base, *([node.module] if node.module else [])])
            else:
                origin = node.module or ""
            for alias in node.names:
                # `from package import module` imports the module; `from module import
                # name` imports the module the name comes from.
                submodule = f"{origin}.{alias.name}"
                found.add(submodule if submodule in modules else origin)
    return (found & set(modules)) - {name}


def find_cycles(graph: Mapping[str, set[str]]) -> list[list[str]]:
    """Import cycles of ``graph``, each a path of modules that ends where it starts;
    at least one through every group of modules that import each other."""
    cycles: list[list[str]] = []
    path: list[str] = []
    done: set[str] = set()

    def visit(module: str) -> None:
        if module in path:
            cycles.append([*path[path.index(module) :], module])
        elif module not in done:
            path.append(module)
            for imported in sorted(graph[module]):
                visit(imported)
            path.pop()
            done.add(module)

    for module in sorted(graph):
        visit(module)
    return cycles


def test_dgtrio_has_no_import_cycle() -> None:
    graph = module_graph(Path(dgtrio.__file__).parent)
    assert "dgtrio.testing._server" in graph["dgtrio.testing"]  # the graph is really read
    cycles = [" -> ".join(cycle) for cycle in find_cycles(graph)]
    assert not cycles, "import cycles:\n" + "\n".join(cycles)


def test_cycles_through_type_checking_and_relative_imports_are_found(tmp_path: Path) -> None:
    files = {  # read, never run
        "pkg/__init__.py": "from .a import A\n",
        "pkg/a.py": "import pkg.sub\nfrom .b import B\n",
        "pkg/b.py": "import typing\nif typing.TYPE_CHECKING:\n    from .sub.c import C\n",
        "pkg/sub/__init__.py": "",
        "pkg/sub/c.py": "def later() -> None:\n    from .. import a\n",
    }
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(exist_ok=True)
        (tmp_path / name).write_text(text)
    graph = module_graph(tmp_path / "pkg")
    assert graph == {
        "pkg": {"pkg.a"},
        "pkg.a": {"pkg.sub", "pkg.b"},
        "pkg.b": {"pkg.sub.c"},
        "pkg.sub": set(),
        "pkg.sub.c": {"pkg.a"},
    }
    assert find_cycles(graph) == [["pkg.a", "pkg.b", "pkg.sub.c", "pkg.a"]]
