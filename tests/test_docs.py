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

import argparse
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
import dgtrio.cli
import dgtrio.listen
import dgtrio.local
import dgtrio.local.pytest_plugin
import dgtrio.phone
import dgtrio.phone.testing
import dgtrio.server
import dgtrio.speak
import dgtrio.testing
import dgtrio.testing.pytest_plugin
from dgtrio.testing import FakeDeepgram, FakePyAudio

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
HELLO = ROOT / "examples" / "audio" / "hello.wav"
DOCUMENTED = [
    dgtrio,
    dgtrio.audio,
    dgtrio.agent,
    dgtrio.listen,
    dgtrio.speak,
    dgtrio.server,
    dgtrio.testing,
    dgtrio.local,
    dgtrio.phone,
    dgtrio.phone.testing,
    dgtrio.cli,
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
# compared with the modules' ``__all__`` (and ``__all__`` with their namespaces), and
# every signature and value it shows with the code's.


def _public(module: Any) -> dict[str, object]:
    """The module's public names: its ``__all__``."""
    return {name: getattr(module, name) for name in module.__all__}


PLUGINS = [dgtrio.testing.pytest_plugin, dgtrio.local.pytest_plugin]


@pytest.mark.parametrize("module", [*DOCUMENTED, *PLUGINS], ids=lambda m: m.__name__)
def test_every_public_module_declares_all_its_public_names(module: Any) -> None:
    declared = module.__all__
    assert len(set(declared)) == len(declared)
    assert all(hasattr(module, name) for name in declared)
    namespace = {
        name
        for name, value in vars(module).items()
        if not name.startswith("_") and not inspect.ismodule(value)
    }
    if module in PLUGINS:  # its fixtures; the rest is what it uses
        namespace = {n for n in namespace if _defined_in(getattr(module, n), module)}
    assert set(declared) == namespace


def _defined_in(value: object, module: Any) -> bool:
    return bool(getattr(value, "__module__", None) == module.__name__)


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
        # A name re-exported from another public module is documented there, once
        # (dgtrio.agent's in dgtrio, dgtrio.server's in dgtrio.testing).
        if any(f"{home}.{alias}" in inventory for home, alias in _homes(value, module)):
            continue
        missing.append(name)
    assert not missing, f"{module.__name__}: no API entry for {missing}"


def _homes(value: object, module: Any) -> Iterator[tuple[str, str]]:
    """Where else ``value`` is public: (module, name) in each other documented module."""
    for other in DOCUMENTED:
        if other is not module:
            for alias, public in _public(other).items():
                if public is value:
                    yield other.__name__, alias


@pytest.mark.timeout(120)
def test_the_api_reference_documents_nothing_else(inventory: set[str]) -> None:
    exported = {f"{module.__name__}.{name}" for module in DOCUMENTED for name in _public(module)}
    plugins = {module.__name__ for module in PLUGINS}
    modules = {module.__name__ for module in DOCUMENTED} | plugins
    top_level = {
        entry for entry in inventory if entry.rsplit(".", 1)[0] in modules and entry not in modules
    }
    plugin = {entry for entry in top_level if entry.rsplit(".", 1)[0] in plugins}
    assert top_level - plugin <= exported, sorted(top_level - plugin - exported)


@pytest.mark.parametrize(
    ("page", "module", "home"),
    [("agent", dgtrio.agent, dgtrio), ("testing", dgtrio.testing, dgtrio.server)],
)
def test_a_page_excludes_exactly_the_reexports(page: str, module: Any, home: Any) -> None:
    text = (DOCS / "api" / f"{page}.rst").read_text()
    match = re.search(r":exclude-members:(.*?)\n\n", text, re.DOTALL)
    assert match
    excluded = {name.strip() for name in match.group(1).split(",")}
    classes = {id(value) for value in _public(home).values() if inspect.isclass(value)}
    reexported = {
        name  # under its own name, or a class under another (FakeSession)
        for name, value in _public(module).items()
        if getattr(home, name, None) is value or id(value) in classes
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
    # The reference's pages (the changelog quotes what they used to show).
    pages = [p.name for p in (built / "api").glob("*.html") if "attr_dict[" in p.read_text()]
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


# -- the calls the guides show ----------------------------------------------------------

# Who the guides' receivers are, page by page (``conn.finalize(...)`` on listen.rst).
_RECEIVERS: dict[str, dict[str, Any]] = {
    "listen.rst": {"conn": dgtrio.ListenV1Connection, "aggregator": dgtrio.UtteranceAggregator},
    "connecting.rst": {"conn": dgtrio.ListenV1Connection},
    "flux.rst": {"flux": dgtrio.ListenV2Connection},
    "speak.rst": {"tts": dgtrio.SpeakV1Connection},
    "flux_speak.rst": {"tts": dgtrio.SpeakV2Connection},
    "agent.rst": {"agent": dgtrio.AgentConnection},
    "audio.rst": {"mic": dgtrio.audio.Microphone, "speaker": dgtrio.audio.Speaker},
    "reliability.rst": {"mic": dgtrio.audio.Microphone},
    "testing.rst": {"fake": FakeDeepgram},
    "migrating.rst": {
        "conn": dgtrio.ListenV1Connection,
        "flux": dgtrio.ListenV2Connection,
        "aura": dgtrio.SpeakV1Connection,
        "tts": dgtrio.SpeakV2Connection,
        "agent": dgtrio.AgentConnection,
    },
}
_LITERAL = re.compile(r"``(.+?)``|(?<![`\w])`([^`]+?)`(?![`_])", re.DOTALL)
_CALLER = re.compile(r"^(?:await |async with |async for \w+ in |\w+=)")


def _guide_calls() -> Iterator[tuple[str, str]]:
    """(page, text) of every call or signature the guides write inline (the python
    blocks run, so they need no check)."""
    for page in sorted(DOCS.glob("*.rst")):
        if page.name == "architecture.rst":  # the engine's internals, by design
            continue
        for match in _LITERAL.finditer(page.read_text()):
            text = " ".join((match.group(1) or match.group(2)).split())
            text = re.sub(r" as \w+$", "", _CALLER.sub("", text))
            if re.match(r"^[\w.]+\(", text):
                yield page.name, text


def _target(page: str, dotted: str) -> Any:
    """What ``dotted`` names on ``page``: a receiver's method, or a public name."""
    first, _, rest = dotted.partition(".")
    receiver = _RECEIVERS.get(page, {}).get(first)
    if receiver is not None:
        return getattr(receiver, rest) if rest else None
    if first == "dgtrio":
        return _resolve(dotted)
    for module in DOCUMENTED:
        if hasattr(module, first):
            obj = getattr(module, first)
            for name in rest.split(".") if rest else ():
                obj = getattr(obj, name)
            return obj
    return None  # trio's, Python's, or a bare method of "a connection"


def _binds(target: Any, call: ast.Call) -> str | None:
    """Why ``call`` cannot be made on ``target``'s real signature (None: it can).
    A bare name passed positionally stands for the parameter of that name."""
    signature = inspect.signature(target)
    parameters = list(signature.parameters)
    method = inspect.isfunction(target) and parameters[:1] == ["self"]
    args: list[object] = [object()] if method else []
    kwargs = {k.arg: object() for k in call.keywords if k.arg is not None}
    # ``*args``, ``**connect`` or ``...`` leave arguments out: bind what is written.
    elided = [a for a in call.args if isinstance(a, ast.Starred) or _is_ellipsis(a)]
    starred = bool(elided) or len(kwargs) < len(call.keywords)
    args += [object() for arg in call.args if arg not in elided]
    try:
        bound = (signature.bind_partial if starred else signature.bind)(*args, **kwargs)
    except TypeError as error:
        return str(error)
    names = [a.id if isinstance(a, ast.Name) else None for a in call.args if a not in elided]
    for name, parameter in zip(names, list(bound.arguments)[method:], strict=False):
        if name is not None and name != parameter:
            return f"{name} is passed as {parameter}"
    return None


def _is_ellipsis(node: ast.expr) -> bool:
    return isinstance(node, ast.Constant) and node.value is Ellipsis


def _matches(target: Any, written: ast.FunctionDef) -> str | None:
    """Why a signature written in a guide is not ``target``'s (None: it is)."""
    real = inspect.signature(target)
    positional = [*written.args.posonlyargs, *written.args.args]
    shown = [*positional, *written.args.kwonlyargs]
    with_default = positional[len(positional) - len(written.args.defaults) :]
    defaults = {a.arg: d for a, d in zip(with_default, written.args.defaults, strict=True)}
    for arg, default in zip(written.args.kwonlyargs, written.args.kw_defaults, strict=True):
        if default is not None:
            defaults[arg.arg] = default
    named = [p for p in real.parameters.values() if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]
    if [a.arg for a in shown] != [p.name for p in named]:
        return f"parameters {[a.arg for a in shown]}, not {[p.name for p in named]}"
    for parameter in named:
        default = defaults.get(parameter.name)
        if (default is None) != (parameter.default is parameter.empty):
            return f"{parameter.name}: default shown {default and ast.unparse(default)}"
        if default is not None and ast.literal_eval(default) != parameter.default:
            return f"{parameter.name}={ast.unparse(default)}, not {parameter.default!r}"
    return None


def test_every_call_and_signature_the_guides_write_is_the_code_s() -> None:
    checked, wrong = [], []
    for page, text in _guide_calls():
        try:
            tree = ast.parse(text, mode="eval")
        except SyntaxError:
            try:  # a signature: open_listen(options=None, *, audio=None, **connect)
                written = ast.parse(f"def {text}: pass").body[0]
            except SyntaxError:
                continue  # prose in a literal
            assert isinstance(written, ast.FunctionDef)
            target = _target(page, written.name)
            if target is not None:
                checked.append(text)
                if (why := _matches(target, written)) is not None:
                    wrong.append((page, text, why))
            continue
        for call in ast.walk(tree):
            if isinstance(call, ast.Call):
                target = _target(page, ast.unparse(call.func))
                if target is not None and callable(target):
                    checked.append(text)
                    if (why := _binds(target, call)) is not None:
                        wrong.append((page, text, why))
    assert not wrong
    assert len(checked) > 80  # what this covers


def _synopses() -> dict[str, str]:
    """Each command's synopsis on cli.rst (its lines up to the next command's)."""
    block = (DOCS / "cli.rst").read_text().split(".. code-block:: sh", 1)[1].split("\n\n")[1]
    commands = re.split(r"^\s*dgtrio (?=\S)", block, flags=re.MULTILINE)
    return {text.split()[0]: text for text in commands if text.strip()}


def test_the_command_line_page_shows_every_option() -> None:
    from dgtrio.cli._app import _parser
    from dgtrio.cli._phone import _parser as phone_parser
    from dgtrio.cli._serve import _parser as serve_parser

    _, commands = _parser()
    parsers = {**commands, "phone": phone_parser(), "serve": serve_parser("dgtrio")}
    synopses = _synopses()
    missing = {}
    for command, parser in parsers.items():
        options = {
            option
            for action in parser._actions
            if action.help is not argparse.SUPPRESS  # internal (a worker's --reuse-port)
            for option in action.option_strings
            if option.startswith("--") and option != "--help"
        }
        absent = sorted(o for o in options if not re.search(rf"{o}\b(?!-)", synopses[command]))
        if absent:
            missing[command] = absent
    assert not missing
    assert set(parsers) <= set(synopses)


def test_every_value_the_reference_shows_is_the_real_one(built: Path) -> None:
    shown = {}
    for page in sorted(built.rglob("*.html")):
        for entry, signature in _ENTRY.findall(page.read_text()):
            text = html.unescape(re.sub(r"<[^>]+>", "", signature)).strip().rstrip("¶")
            if "(" not in text and " = " in text and entry.startswith("dgtrio."):
                shown[entry] = text.split(" = ", 1)[1].strip()
    assert shown["dgtrio.speak.MAX_SPEAK_CHARACTERS"] == "2000"
    wrong = {e: v for e, v in shown.items() if ast.literal_eval(v) != _resolve(e)}
    assert not wrong


_SOCKET_SECTIONS = {
    "listen v1": "Live transcription",
    "listen v2": "Flux (",
    "speak v1": "Aura text-to-speech",
    "speak v2": "Flux text-to-speech",
    "agent v1": "The voice agent",
}


def test_coming_from_the_sdk_maps_every_sdk_send() -> None:
    """Every message the SDK sends (the parity test's map) has its row, on its socket."""
    pytest.importorskip("deepgram", reason="the official SDK is a dev extra")
    from .test_sdk_parity import CALLS

    text = (DOCS / "migrating.rst").read_text()
    sections = {
        socket: text.split(title, 1)[1].split("\n----", 2)[1]
        for socket, title in _SOCKET_SECTIONS.items()
    }
    missing = [
        (socket, method)
        for socket, method in [
            *CALLS,
            *((s, "send_media") for s in _SOCKET_SECTIONS if "listen" in s or "agent" in s),
        ]
        if f"socket.{method}(" not in sections[socket]
    ]
    assert not missing
