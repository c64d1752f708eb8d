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
def inventory(tmp_path_factory: pytest.TempPathFactory) -> set[str]:
    pytest.importorskip("sphinx", reason="the docs extra is not installed")
    from sphinx.util.inventory import InventoryFile

    out = tmp_path_factory.mktemp("docs")
    command = [sys.executable, "-m", "sphinx", "-q", "-W", "--keep-going", "-b", "html"]
    command += ["-d", str(out / "doctrees"), str(DOCS), str(out / "html")]
    env = {**os.environ, "DGTRIO_DOCS_OFFLINE": "1", "PYTHONWARNINGS": "ignore"}
    build = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    assert build.returncode == 0, build.stderr
    data = (out / "html" / "objects.inv").read_bytes()
    inv = InventoryFile.loads(data, uri="")
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
