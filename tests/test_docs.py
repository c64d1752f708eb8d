"""The documentation: its examples run, and its API reference covers the public names.

The convention (docs/contributing.rst): every ``.. code-block:: python`` in ``docs/``
is a complete program. It is executed as a module of its own (not as ``__main__``, so
its ``trio.run(main)`` line does not fire), in a directory holding ``call.wav`` (a copy
of examples/audio/hello.wav); then its ``async def main(...)`` and any
``async def test_*(...)`` are awaited, each parameter filled by name:

- ``base_url``: the URL of a running :class:`dgtrio.testing.FakeDeepgram`;
- ``fake``, ``fake_deepgram``: that fake itself (to inject faults or rejections);
- ``backend``: a :class:`dgtrio.testing.FakePyAudio` whose microphone plays call.wav.

Shell and text blocks (``sh``, ``text``) are not run.
"""

from __future__ import annotations

import ast
import html
import importlib
import inspect
import os
import re
import shutil
import subprocess
import sys
import wave
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import attrs
import pytest
import trio

import dgtrio
import dgtrio.agent
import dgtrio.audio
import dgtrio.local
import dgtrio.phone
import dgtrio.phone.testing
import dgtrio.testing
from dgtrio.testing import FakeDeepgram, FakePyAudio

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
HELLO = ROOT / "examples" / "audio" / "hello.wav"
DOCUMENTED = [
    dgtrio,
    dgtrio.audio,
    dgtrio.agent,
    dgtrio.testing,
    dgtrio.local,
    dgtrio.phone,
    dgtrio.phone.testing,
]

_BLOCK = re.compile(r"^(\s*)\.\. code-block:: (\S+)\s*$")


def _python_blocks() -> Iterator[tuple[str, int, str]]:
    """(page, line, code) of every ``.. code-block:: python`` under docs/."""
    for page in sorted(DOCS.rglob("*.rst")):
        if "_build" in page.parts:
            continue
        lines = page.read_text().split("\n")
        for i, line in enumerate(lines):
            match = _BLOCK.match(line)
            if not match or match.group(2) != "python":
                continue
            indent = len(match.group(1))
            body: list[str] = []
            j = i + 1
            while j < len(lines) and lines[j].lstrip().startswith(":"):  # options
                j += 1
            for text in lines[j:]:
                if text.strip() and len(text) - len(text.lstrip()) <= indent:
                    break
                body.append(text)
            code = "\n".join(body)
            margin = min(len(t) - len(t.lstrip()) for t in body if t.strip())
            code = "\n".join(t[margin:] for t in body).strip() + "\n"
            yield str(page.relative_to(ROOT)), i + 1, code


BLOCKS = list(_python_blocks())


def _pcm(path: Path) -> bytes:
    with wave.open(str(path)) as wav:
        frames: bytes = wav.readframes(wav.getnframes())
    return frames


def test_the_docs_have_examples() -> None:
    pages = {page for page, _, _ in BLOCKS}
    assert len(BLOCKS) >= 15, BLOCKS
    for page in ["index", "quickstart", "listen", "flux", "speak", "flux_speak", "agent"]:
        assert f"docs/{page}.rst" in pages, page


@pytest.mark.parametrize(
    ("page", "line", "code"), BLOCKS, ids=[f"{page}:{line}" for page, line, _ in BLOCKS]
)
async def test_example(
    page: str,
    line: int,
    code: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    nursery: trio.Nursery,
) -> None:
    for name in ["DEEPGRAM_API_KEY", "DEEPGRAM_ACCESS_TOKEN", "DEEPGRAM_BASE_URL"]:
        monkeypatch.delenv(name, raising=False)
    shutil.copy(HELLO, tmp_path / "call.wav")
    monkeypatch.chdir(tmp_path)
    fake = FakeDeepgram()
    await nursery.start(fake.serve)
    provided: dict[str, Any] = {
        "base_url": fake.url,
        "fake": fake,
        "fake_deepgram": fake,
        "backend": FakePyAudio(input_audio=_pcm(HELLO), speed=None),
    }
    namespace: dict[str, Any] = {"__name__": "docs_example"}
    exec(compile(code, f"{page}:{line}", "exec"), namespace)
    entries = [
        function
        for name, function in namespace.items()
        if (name == "main" or name.startswith("test_")) and inspect.iscoroutinefunction(function)
    ]
    for function in entries:
        parameters = inspect.signature(function).parameters
        unknown = set(parameters) - set(provided)
        assert not unknown, f"{page}:{line}: {function.__name__} takes {unknown}"
        with trio.fail_after(30):
            await function(**{name: provided[name] for name in parameters})


# ---------------------------------------------------------------------------------
# The API reference: built once (offline, warnings as errors), then its inventory is
# compared with the modules' public namespaces.


def _public(module: object) -> dict[str, object]:
    return {
        name: value
        for name, value in vars(module).items()
        if not name.startswith("_") and not inspect.ismodule(value)
    }


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The site, built as CI builds it (offline): its HTML directory."""
    pytest.importorskip("sphinx", reason="the docs extra is not installed")
    out = tmp_path_factory.mktemp("docs")
    command = [sys.executable, "-m", "sphinx", "-q", "-W", "--keep-going", "-b", "html"]
    command += ["-d", str(out / "doctrees"), str(DOCS), str(out / "html")]
    env = {**os.environ, "DGTRIO_DOCS_OFFLINE": "1", "PYTHONWARNINGS": "ignore"}
    build = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    assert build.returncode == 0, build.stderr
    return out / "html"


@pytest.fixture(scope="module")
def inventory(built: Path) -> set[str]:
    from sphinx.util.inventory import InventoryFile

    inv = InventoryFile.loads((built / "objects.inv").read_bytes(), uri="")
    return {
        name for role, entries in inv.data.items() if role.startswith("py:") for name in entries
    }


@pytest.mark.timeout(120)
@pytest.mark.parametrize("module", DOCUMENTED, ids=lambda m: m.__name__)
def test_every_public_name_has_an_api_entry(module: Any, inventory: set[str]) -> None:
    missing = []
    for name, value in _public(module).items():
        if f"{module.__name__}.{name}" in inventory:
            continue
        # dgtrio.agent's names that dgtrio re-exports are documented there, once.
        reexported = module is not dgtrio and getattr(dgtrio, name, None) is value
        if reexported and f"dgtrio.{name}" in inventory:
            continue
        missing.append(name)
    assert not missing, f"{module.__name__}: no API entry for {missing}"


@pytest.mark.timeout(120)
def test_the_api_reference_documents_nothing_else(inventory: set[str]) -> None:
    exported = {f"{module.__name__}.{name}" for module in DOCUMENTED for name in _public(module)}
    modules = {module.__name__ for module in DOCUMENTED} | {"dgtrio.testing.pytest_plugin"}
    top_level = {
        entry for entry in inventory if entry.rsplit(".", 1)[0] in modules and entry not in modules
    }
    plugin = {entry for entry in top_level if entry.startswith("dgtrio.testing.pytest_plugin.")}
    assert top_level - plugin <= exported, sorted(top_level - plugin - exported)


def test_the_agent_page_excludes_exactly_the_reexports() -> None:
    text = (DOCS / "api" / "agent.rst").read_text()
    match = re.search(r":exclude-members:(.*?)\n\n", text, re.DOTALL)
    assert match
    excluded = {name.strip() for name in match.group(1).split(",")}
    reexported = {
        name
        for name, value in _public(dgtrio.agent).items()
        if getattr(dgtrio, name, None) is value
    }
    assert excluded == reexported


# -- the signatures the reference shows --------------------------------------------------

_ENTRY = re.compile(r'<dt class="sig sig-object py" id="([\w.]+)">(.*?)</dt>', re.DOTALL)
_PARAMETER = re.compile(r'<em class="sig-param">(.*?)</em>', re.DOTALL)
_NAME = re.compile(r'<span class="n"><span class="pre">([^<]*)</span>')
_DEFAULT = re.compile(r'<span class="default_value">(.*)</span>', re.DOTALL)


def _shown_parameters(built: Path) -> Iterator[tuple[str, str, str | None]]:
    """(entry, parameter, its default as shown or None) of every named parameter in
    the signatures of the site's entries."""
    for page in sorted(built.rglob("*.html")):
        for entry, signature in _ENTRY.findall(page.read_text()):
            for parameter in _PARAMETER.findall(signature):
                name = _NAME.search(parameter)
                if name is None:
                    continue  # the bare * or / of a signature
                default = _DEFAULT.search(parameter)
                shown = None
                if default:
                    shown = html.unescape(re.sub(r"<[^>]+>", "", default.group(1))).strip()
                yield entry, html.unescape(name.group(1)), shown


def _resolve(entry: str) -> Any:
    parts = entry.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        for name in parts[cut:]:
            obj = getattr(obj, name)
        return obj
    raise LookupError(entry)


def _parameters(obj: Any) -> set[str]:
    if inspect.isclass(obj) and attrs.has(obj):
        return {field.alias for field in attrs.fields(obj) if field.init}
    return set(inspect.signature(obj).parameters)


def _real_default(obj: Any, parameter: str) -> Any:
    """``parameter``'s default as a call of ``obj`` gets it (an attrs factory:
    :data:`attrs.NOTHING` stands in for the value it makes)."""
    if inspect.isclass(obj) and attrs.has(obj):
        field = next(f for f in attrs.fields(obj) if f.alias == parameter)
        return field.default
    return inspect.signature(obj).parameters[parameter].default


def _means(shown: str, obj: Any, real: Any) -> bool:
    """Whether the default shown for ``obj`` is its ``real`` one."""
    if isinstance(real, attrs.Factory):  # type: ignore[arg-type]
        name = real.factory.__name__
        return shown == (f"{name}()" if name.isidentifier() else repr(real.factory()))
    if shown == repr(real):
        return True
    try:
        return bool(ast.literal_eval(shown) == real)
    except (ValueError, SyntaxError):
        pass
    # A name, as written in the source (autodoc_preserve_defaults).
    namespace = {**vars(sys.modules[obj.__module__]), "trio": trio}
    try:
        value = eval(shown, namespace)  # the reference's own text, for a name
    except Exception:
        return False
    return bool(value is real or value == real)


@pytest.mark.timeout(120)
def test_the_reference_shows_no_attrs_internals(built: Path) -> None:
    pages = [p.name for p in built.rglob("*.html") if "attr_dict[" in p.read_text()]
    assert not pages


@pytest.mark.timeout(120)
def test_every_default_the_reference_shows_is_the_real_one(built: Path) -> None:
    parameters = list(_shown_parameters(built))
    # A signature Sphinx could not parse is split at every comma: names that are none.
    garbled = {
        (entry, name) for entry, name, _ in parameters if name not in _parameters(_resolve(entry))
    }
    assert not garbled
    shown = [(entry, name, text) for entry, name, text in parameters if text is not None]
    wrong = [
        (entry, name, text)
        for entry, name, text in shown
        if not _means(text, obj := _resolve(entry), _real_default(obj, name))
    ]
    assert not wrong
    # What this covers: the options, the settings, the openers, the fake.
    entries = {entry for entry, _, _ in shown}
    covered = {"dgtrio.ListenV1Options", "dgtrio.open_listen", "dgtrio.testing.FakeDeepgram"}
    assert covered <= entries
    assert len(shown) > 500
