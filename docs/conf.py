"""Sphinx configuration for dgtrio's documentation (``./scripts/docs`` builds it).

Intersphinx is optional: the inventories of Python, trio and attrs are used only when
they can be fetched at build time (each is probed with a short timeout, in parallel),
so an offline build passes with warnings as errors. References to their names then
render as plain text: ``nitpicky`` stays off, so an unresolved external name is never
a warning. ``DGTRIO_DOCS_OFFLINE=1`` skips the probe.
"""

from __future__ import annotations

import os
import re
import sys
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import dgtrio

project = "dgtrio"
author = "The dgtrio developers"
copyright = "the dgtrio developers"
release = dgtrio.__version__
version = ".".join(release.split(".")[:2])

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "sphinx.ext.intersphinx",
]

exclude_patterns = ["_build"]
html_theme = "alabaster"
html_theme_options = {
    "description": "A trio-native client for Deepgram's realtime APIs",
    "fixed_sidebar": True,
}
html_static_path: list[str] = []
pygments_style = "sphinx"
default_role = "code"

# autodoc: the docstrings are Google style (napoleon); members in source order.
autodoc_member_order = "bysource"
autodoc_typehints = "signature"
autodoc_preserve_defaults = True
napoleon_google_docstring = True
napoleon_numpy_docstring = False

# intersphinx: only the inventories that answer now.
_INVENTORIES = {
    "python": "https://docs.python.org/3",
    "trio": "https://trio.readthedocs.io/en/stable",
    "attrs": "https://www.attrs.org/en/stable",
}


def _reachable(url: str) -> bool:
    try:
        with urllib.request.urlopen(url + "/objects.inv", timeout=3) as response:
            return bool(response.status == 200)
    except Exception:
        return False


if os.environ.get("DGTRIO_DOCS_OFFLINE"):
    intersphinx_mapping: dict[str, tuple[str, None]] = {}
else:
    with ThreadPoolExecutor(len(_INVENTORIES)) as _pool:
        _up = dict(zip(_INVENTORIES, _pool.map(_reachable, _INVENTORIES.values()), strict=True))
    intersphinx_mapping = {name: (url, None) for name, url in _INVENTORIES.items() if _up[name]}
    _missing = sorted(set(_INVENTORIES) - set(intersphinx_mapping))
    if _missing:
        print(f"intersphinx: offline for {', '.join(_missing)}; their names stay plain text")
intersphinx_timeout = 10


# Type aliases (``ListenV1Message``, ``FaultKind``, ...) are module data that autodoc
# does not take from a package's re-exports: ``.. dgtrio-aliases:: MODULE`` in a page
# is replaced with one ``py:data`` entry per public alias of MODULE, its value read
# from the code, so that the list cannot fall behind.
_ALIASES_MARKER = ".. dgtrio-aliases:: "


def _alias_entries(module_name: str) -> list[str]:
    import importlib
    import inspect

    module = importlib.import_module(module_name)
    lines: list[str] = []
    for name, value in vars(module).items():
        if name.startswith("_") or inspect.ismodule(value) or inspect.isclass(value):
            continue
        if inspect.isfunction(value) or isinstance(value, str | int | float):
            continue
        shown = re.sub(r"\b(?:[A-Za-z_]\w*\.)+([A-Za-z_]\w*)", r"\1", repr(value))
        shown = shown.replace("NoneType", "None")
        lines += [f".. py:data:: {name}", f"   :module: {module_name}", ""]
        lines += ["   A type alias::", ""]
        lines += [f"      {name} = {shown}", ""]
    return lines


def _expand_aliases(app: object, docname: str, source: list[str]) -> None:
    out: list[str] = []
    for line in source[0].split("\n"):
        if line.startswith(_ALIASES_MARKER):
            out += _alias_entries(line[len(_ALIASES_MARKER) :].strip())
        elif line.startswith(_ENTRIES_MARKER):
            out += _entries(line[len(_ENTRIES_MARKER) :].strip())
        else:
            out.append(line)
    source[0] = "\n".join(out)


# The names ``dgtrio`` exports are documented by topic, each page taking the names
# whose defining module matches its pattern: ``.. dgtrio-entries:: TOPIC`` becomes one
# autodoc entry per name (openers first). Every class and function must fall in
# exactly one topic (the build fails otherwise); type aliases are ``dgtrio-aliases``.
_TOPICS = {
    "connections": r"\._connection$|\._engine\._spec$|\._reconnect$|\._auth$|\._codec$"
    r"|\._utterances$|\._turns$|^dgtrio\.speak\._common$|^dgtrio\.agent\._tools$",
    "options": r"\._options$|^dgtrio\.agent\._settings$",
    "listen-messages": r"^dgtrio\.listen\.v1\._messages$",
    "flux-messages": r"^dgtrio\.listen\.v2\._messages$",
    "speak-messages": r"^dgtrio\.speak\.v1\._messages$",
    "flux-speak-messages": r"^dgtrio\.speak\.v2\._messages$",
    "agent-messages": r"^dgtrio\.agent\._messages$",
    "errors": r"^dgtrio\._errors$|^dgtrio\.speak\._limits$",
}
_ENTRIES_MARKER = ".. dgtrio-entries:: "


def _topic_of(name: str) -> str | None:
    import inspect

    obj = getattr(dgtrio, name)
    if not (inspect.isclass(obj) or inspect.isfunction(obj)):
        return None  # a type alias
    module = obj.__module__
    topics = [topic for topic, pattern in _TOPICS.items() if re.search(pattern, module)]
    if len(topics) != 1:
        raise ValueError(f"dgtrio.{name} ({module}) is in topics {topics}: exactly one, please")
    return topics[0]


def _entries(topic: str) -> list[str]:
    import inspect

    if topic not in _TOPICS:
        raise ValueError(f"no topic {topic!r}: {sorted(_TOPICS)}")
    lines: list[str] = []
    names = [name for name in dgtrio.__all__ if _topic_of(name) == topic]
    # The openers first, then what they yield, then the rest (each in __all__ order).
    names.sort(key=lambda name: (not name.startswith("open_"), not name.endswith("Connection")))
    for name in names:
        obj = getattr(dgtrio, name)
        if inspect.isfunction(obj):
            lines += [f".. autofunction:: dgtrio.{name}", ""]
        else:
            kind = "autoexception" if issubclass(obj, BaseException) else "autoclass"
            lines += [f".. {kind}:: dgtrio.{name}", "   :members:", ""]
    return lines


# Some docstrings qualify a section, ``Raises (on entering the block):``, which napoleon
# does not take for a section header: the qualifier becomes a sentence before it.
_QUALIFIED = re.compile(r"^(\s*)(Raises|Returns|Yields) \(([^)]+)\):\s*$")


def _qualified_sections(
    app: object, what: str, name: str, obj: object, options: object, lines: list[str]
) -> None:
    for i, line in reversed(list(enumerate(lines))):
        match = _QUALIFIED.match(line)
        if match:
            indent, section, when = match.groups()
            lines[i : i + 1] = [f"{indent}{section} {when}:", "", f"{indent}{section}:"]


# autodoc_preserve_defaults shows a default as written in the source, which for the
# ``__init__`` attrs generates is ``attr_dict['model'].default``: such a signature is
# rebuilt here from the real values. A factory shows as its call (``list()``), or a
# lambda as what it makes: the text must stay Python, or Sphinx splits the signature
# at every comma.
class _Shown:
    def __init__(self, text: str) -> None:
        self.text = text

    def __repr__(self) -> str:
        return self.text


def _factory(default: Any) -> str:
    """How an attrs ``Factory`` default is shown (the docs test checks the same)."""
    name = default.factory.__name__
    return f"{name}()" if name.isidentifier() else repr(default.factory())


def _attrs_defaults(app: object, obj: object, bound_method: bool) -> None:
    import inspect

    import attrs

    code = getattr(obj, "__code__", None)
    if code is None or not code.co_filename.startswith("<attrs generated"):
        return
    fields = {field.alias: field for field in obj.__globals__["attr_dict"].values()}  # type: ignore[attr-defined]
    vars(obj).pop("__signature__", None)  # the one preserve_defaults set
    signature = inspect.signature(obj)  # type: ignore[arg-type]
    parameters = []
    for parameter in signature.parameters.values():
        field = fields.get(parameter.name)
        if field is not None and parameter.default is not parameter.empty:
            default = field.default
            shown = _factory(default) if isinstance(default, attrs.Factory) else repr(default)  # type: ignore[arg-type]
            parameter = parameter.replace(default=_Shown(shown))
        parameters.append(parameter)
    obj.__signature__ = signature.replace(parameters=parameters)  # type: ignore[attr-defined]


def setup(app: object) -> None:
    app.connect("source-read", _expand_aliases)  # type: ignore[attr-defined]
    app.connect("autodoc-before-process-signature", _attrs_defaults)  # type: ignore[attr-defined]
    # Before napoleon's own handler (priority 500).
    app.connect("autodoc-process-docstring", _qualified_sections, priority=400)  # type: ignore[attr-defined]
