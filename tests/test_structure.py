"""dgtrio's layering, read from its source with ``ast``.

- The subpackages with a boundary (the engine, the protocol server, the fake and the
  local engine) are used through their package only: no module outside one imports
  its private modules or names, or touches a private attribute only its classes
  define (an override of, or a call to, another package's private method).
- :mod:`dgtrio.testing` and :mod:`dgtrio.local` do not import each other: both stand
  on :mod:`dgtrio.server`.
- No class is longer than 400 lines.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

import dgtrio

from .test_import_graph import module_graph

ROOT = Path(dgtrio.__file__).parent
BOUNDED = ("_engine", "server", "testing", "local")
LONGEST_CLASS = 400


def _modules(root: Path = ROOT) -> Iterator[tuple[str, Path, ast.Module]]:
    for path in sorted(root.rglob("*.py")):
        parts = path.relative_to(root.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        yield name, path, ast.parse(path.read_text(encoding="utf-8"), str(path))


def _home(module: str) -> str:
    """The subpackage (or top-level module) of dgtrio a module belongs to."""
    return module.split(".")[1] if "." in module else ""


def _private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def _origin(module: str, path: Path, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    package = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
    base = package[: len(package) - node.level + 1]
    return ".".join([*base, *([node.module] if node.module else [])])


def private_imports(root: Path = ROOT) -> list[str]:
    """Each import, by a module outside a bounded subpackage, of one of its private
    modules or names: ``module:line: what``."""
    found = []
    for module, path, tree in _modules(root):
        for node in ast.walk(tree):
            if not isinstance(node, ast.ImportFrom | ast.Import):
                continue
            if isinstance(node, ast.Import):
                targets: list[tuple[str, str | None]] = [(a.name, None) for a in node.names]
            else:
                origin = _origin(module, path, node)
                targets = [(origin, alias.name) for alias in node.names]
            for origin, name in targets:
                parts = origin.split(".")
                if parts[0] != "dgtrio" or len(parts) < 2 or parts[1] not in BOUNDED:
                    continue
                if parts[1] == _home(module):
                    continue
                inner = parts[2:] + ([name] if name is not None else [])
                if any(_private(part) for part in inner):
                    found.append(f"{module}:{node.lineno}: {origin} {name or ''}".strip())
    return found


def _defined_privates(tree: ast.Module) -> set[str]:
    """The private attribute names the classes of a module define: methods, and
    attributes set on ``self`` or in the class body."""
    names = set()
    for cls in (node for node in ast.walk(tree) if isinstance(node, ast.ClassDef)):
        for node in ast.walk(cls):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and _private(node.name):
                names.add(node.name)
            elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
                if isinstance(node.value, ast.Name) and node.value.id == "self":
                    names.add(node.attr)
            elif isinstance(node, ast.AnnAssign | ast.Assign):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                names.update(t.id for t in targets if isinstance(t, ast.Name) and _private(t.id))
    return {name for name in names if _private(name)}


def private_reaches(root: Path = ROOT) -> list[str]:
    """Each private attribute a module outside a bounded subpackage uses (reads,
    sets, overrides) that only that subpackage's classes define."""
    modules = list(_modules(root))
    defined: dict[str, set[str]] = {}
    for module, _, tree in modules:
        defined.setdefault(_home(module), set()).update(_defined_privates(tree))
    found = []
    for module, path, tree in modules:
        home = _home(module)
        own = defined.get(home, set())
        foreign = {
            name: package
            for package in BOUNDED
            if package != home
            for name in defined.get(package, set()) - own
        }
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and node.attr in foreign:
                found.append(f"{module}:{node.lineno}: {node.attr} (of {foreign[node.attr]})")
        # An override is defined at home too: found by the base it overrides.
        bases = _imported_from_bounded(module, path, tree)
        for cls in (node for node in ast.walk(tree) if isinstance(node, ast.ClassDef)):
            packages = {bases[b.id] for b in cls.bases if isinstance(b, ast.Name) and b.id in bases}
            for node in cls.body:
                if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                    for package in packages - {home}:
                        if node.name in defined.get(package, set()):
                            found.append(f"{module}:{node.lineno}: {node.name} (of {package})")
    return found


def _imported_from_bounded(module: str, path: Path, tree: ast.Module) -> dict[str, str]:
    """The names a module imports from a bounded subpackage, with the subpackage."""
    names = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            parts = _origin(module, path, node).split(".")
            if parts[0] == "dgtrio" and len(parts) > 1 and parts[1] in BOUNDED:
                names.update({alias.asname or alias.name: parts[1] for alias in node.names})
    return names


def long_classes(root: Path = ROOT) -> list[str]:
    found = []
    for module, _, tree in _modules(root):
        for node in ast.walk(tree):
            if isinstance(node, ast.ClassDef):
                assert node.end_lineno is not None
                length = node.end_lineno - node.lineno + 1
                if length > LONGEST_CLASS:
                    found.append(f"{module}.{node.name}: {length} lines")
    return found


def test_no_module_imports_another_subpackages_privates() -> None:
    assert private_imports() == []


def test_no_module_reaches_another_subpackages_private_attributes() -> None:
    assert private_reaches() == []


def test_testing_and_local_do_not_import_each_other() -> None:
    graph = module_graph(ROOT)
    between = [
        f"{module} imports {imported}"
        for module, imports in graph.items()
        for imported in imports
        for a, b in (("testing", "local"), ("local", "testing"))
        if _home(module) == a and _home(imported) == b
    ]
    assert between == []


def test_no_class_is_longer_than_400_lines() -> None:
    assert long_classes() == []


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """A package laid out as dgtrio is, to show each check fails when it should."""
    root = tmp_path / "dgtrio"
    for package in ("server", "local", "listen"):
        (root / package).mkdir(parents=True)
        (root / package / "__init__.py").write_text("")
    (root / "__init__.py").write_text("")
    (root / "server" / "_session.py").write_text(
        "class Session:\n"
        "    def __init__(self):\n"
        "        self._wire = None\n"
        "    def _write(self):\n"
        "        pass\n"
    )
    return root


def test_a_private_import_across_a_boundary_is_found(tree: Path) -> None:
    (tree / "local" / "_a.py").write_text(
        "from ..server._session import Session\nfrom ..server import _x\nimport dgtrio.server\n"
    )
    (tree / "server" / "_b.py").write_text("from ._session import Session\n")  # its own
    (tree / "listen" / "_c.py").write_text("from dgtrio.server import Session\n")  # public
    assert private_imports(tree) == [
        "dgtrio.local._a:1: dgtrio.server._session Session",
        "dgtrio.local._a:2: dgtrio.server _x",
    ]


def test_a_private_attribute_across_a_boundary_is_found(tree: Path) -> None:
    (tree / "local" / "_a.py").write_text(
        "from dgtrio.server import Session\n"
        "class Local(Session):\n"
        "    async def _write(self):\n"  # an override
        "        self._wire.send()\n"  # a use
        "        self._own = 1\n"
        "        self._own.x()\n"
    )
    assert sorted(private_reaches(tree)) == [
        "dgtrio.local._a:3: _write (of server)",
        "dgtrio.local._a:4: _wire (of server)",
    ]


def test_a_long_class_is_found(tmp_path: Path) -> None:
    root = tmp_path / "dgtrio"
    root.mkdir()
    body = "\n".join(f"    x{i} = {i}" for i in range(LONGEST_CLASS))
    (root / "__init__.py").write_text(f"class Long:\n{body}\nclass Short:\n    pass\n")
    assert long_classes(root) == [f"dgtrio.Long: {LONGEST_CLASS + 1} lines"]
