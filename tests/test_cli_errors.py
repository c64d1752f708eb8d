"""Bad input to the command lines: one line on stderr, a non-zero exit, no traceback,
and no file lost.

The subprocess cases run concurrently, once per module (each process spends most of
its ~0.5 s importing), so that the table stays cheap as it grows.
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import socket
import subprocess
import sys
import time
import wave
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

import attrs
import pytest

import dgtrio
import dgtrio.testing
from dgtrio.cli import main
from dgtrio.cli._common import positive_float, positive_int
from dgtrio.speak import MAX_SPEAK_CHARACTERS, split_text
from dgtrio.testing import FakeDeepgram, Fault, SpeakScript
from dgtrio.testing.__main__ import main as serve_main

from .conftest import HELLO_WAV

ENV = {
    name: value
    for name, value in os.environ.items()
    if name not in ("DEEPGRAM_API_KEY", "DEEPGRAM_ACCESS_TOKEN", "DEEPGRAM_BASE_URL")
}
DGTRIO = (sys.executable, "-m", "dgtrio")
SERVE = (sys.executable, "-m", "dgtrio.testing", "serve")
FAKE_NOTICE = "dgtrio: no DEEPGRAM_API_KEY set, so using the built-in fake"
KEEP = b"RIFF: these bytes must survive every failed attempt to replace them"


@attrs.frozen
class Case:
    """A command, the exit status it must end with, and its one error line."""

    argv: tuple[str, ...]
    status: int
    error: str  # a regular expression for the whole error line


def _usage(command: str, message: str) -> str:
    return rf"dgtrio {command}: error: {message}"


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory with keep.wav (to be protected), a subdirectory, a plain file and a
    WAV file whose header is cut short."""
    root = tmp_path_factory.mktemp("cli")
    (root / "keep.wav").write_bytes(KEEP)
    (root / "folder").mkdir()
    (root / "plain").write_text("not a directory")
    (root / "truncated.wav").write_bytes(HELLO_WAV.read_bytes()[:30])  # inside 'fmt '
    return root


@pytest.fixture(scope="module")
def busy_port() -> Iterator[int]:
    """A loopback port something already listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


def _cases(files: Path, busy_port: int) -> dict[str, Case]:
    keep, folder, plain = str(files / "keep.wav"), str(files / "folder"), str(files / "plain")
    positive = r"must be a positive number, not "
    return {
        # Bad arguments: argparse's usage, exit 2, before anything starts.
        "mic-seconds-zero": Case(
            ("mic", "--seconds", "0"), 2, _usage("mic", rf"argument --seconds: {positive}0")
        ),
        "mic-sample-rate-negative": Case(
            ("mic", "--sample-rate", "-16000"),
            2,
            _usage("mic", "argument --sample-rate: must be a positive whole number, not -16000"),
        ),
        "agent-seconds-negative": Case(
            ("agent", "--seconds", "-1"), 2, _usage("agent", rf"argument --seconds: {positive}-1")
        ),
        "agent-text-with-seconds": Case(
            ("agent", "--text", "--seconds", "3"),
            2,
            _usage("agent", "--text uses no sound device: drop --seconds"),
        ),
        "speak-empty-text": Case(
            ("speak", "", "-o", keep),
            2,
            _usage("speak", "argument text: there is nothing to say: the text is empty"),
        ),
        "speak-nowhere": Case(
            ("speak", "Hi"), 2, _usage("speak", r"say where the speech goes: .*")
        ),
        "transcribe-bad-base-url": Case(
            ("transcribe", str(HELLO_WAV), "--base-url", "http://[oops"),
            2,
            _usage("transcribe", r"argument --base-url: base_url .*"),
        ),
        # Failures: one line, exit 1.
        "transcribe-truncated-header": Case(
            ("transcribe", str(files / "truncated.wav")),
            1,
            rf"dgtrio: error: {re.escape(str(files / 'truncated.wav'))}: not a PCM WAV file .*",
        ),
        "transcribe-missing-file": Case(
            ("transcribe", str(files / "missing.wav")),
            1,
            rf"dgtrio: error: {re.escape(str(files / 'missing.wav'))}: No such file or directory",
        ),
        "speak-to-a-directory": Case(
            ("speak", "Hi", "-o", folder),
            1,
            rf"dgtrio: error: {re.escape(folder)}: is a directory, not a file",
        ),
        "speak-into-a-file": Case(
            ("speak", "Hi", "-o", f"{plain}/x.wav"),
            1,
            rf"dgtrio: error: {re.escape(plain)}/x\.wav: Not a directory",
        ),
        "speak-unreachable-server": Case(
            ("speak", "Hi", "-o", keep, "--base-url", "ws://127.0.0.1:1"),
            1,
            r"dgtrio: error: cannot connect to ws://127\.0\.0\.1:1/v1/speak\?.*",
        ),
        # The fake server's command line.
        "serve-missing-transcript": Case(
            (*SERVE[3:], "--transcript", str(files / "missing.txt")),
            1,
            r"python -m dgtrio\.testing: error: --transcript .*missing\.txt: "
            r"No such file or directory",
        ),
        "serve-busy-port": Case(
            (*SERVE[3:], "--port", str(busy_port)),
            1,
            rf"python -m dgtrio\.testing: error: cannot listen on 127\.0\.0\.1:{busy_port}: "
            r"Address already in use",
        ),
        "serve-bad-port": Case(
            (*SERVE[3:], "--port", "70000"),
            2,
            r"python -m dgtrio\.testing serve: error: argument --port: must be 0 to 65535, "
            r"not 70000",
        ),
    }


CASE_NAMES = list(_cases(Path("."), 0))


@pytest.fixture(scope="module")
def outcomes(
    files: Path, busy_port: int
) -> dict[str, tuple[Case, subprocess.CompletedProcess[str]]]:
    """Every case with its finished process, all run at once."""
    cases = _cases(files, busy_port)
    started = {}
    for name, case in cases.items():
        program = SERVE[:3] if case.argv[0] == "serve" else DGTRIO
        started[name] = subprocess.Popen(
            [*program, *case.argv],
            stdin=subprocess.DEVNULL,  # agent --text would read it
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=ENV,
            cwd=files,
        )
    done = {}
    for name, process in started.items():
        out, err = process.communicate(timeout=60)
        done[name] = (
            cases[name],
            subprocess.CompletedProcess(process.args, process.returncode, out, err),
        )
    return done


def _error_lines(stderr: str) -> list[str]:
    """stderr without the fake server's notice (a status line, not an error)."""
    return [line for line in stderr.splitlines() if not line.startswith(FAKE_NOTICE)]


@pytest.mark.parametrize("name", CASE_NAMES)
def test_bad_input_is_one_line_and_a_failure(
    name: str, outcomes: Mapping[str, tuple[Case, subprocess.CompletedProcess[str]]], files: Path
) -> None:
    case, done = outcomes[name]
    assert "Traceback" not in done.stderr
    assert done.returncode == case.status, done.stderr
    lines = _error_lines(done.stderr)
    if case.status == 2:  # argparse's form: usage lines, then one error line
        assert lines[0].startswith("usage: ")
        lines = lines[-1:]
    assert len(lines) == 1, done.stderr
    assert re.fullmatch(case.error, lines[0]), lines[0]
    # Nothing was replaced, and no temporary file was left behind.
    assert (files / "keep.wav").read_bytes() == KEEP
    assert sorted(path.name for path in files.iterdir() if path.name.startswith(".")) == []


def test_version() -> None:
    done = subprocess.run(
        [*DGTRIO, "--version"], capture_output=True, text=True, timeout=60, env=ENV
    )
    assert (done.returncode, done.stdout, done.stderr) == (0, f"dgtrio {dgtrio.__version__}\n", "")


@pytest.mark.parametrize(
    ("convert", "text", "value"),
    [
        (positive_float, "0.5", 0.5),
        (positive_float, "0", None),
        (positive_float, "-1", None),
        (positive_float, "nan", None),
        (positive_float, "inf", None),
        (positive_float, "soon", None),
        (positive_int, "16000", 16000),
        (positive_int, "0", None),
        (positive_int, "-8000", None),
        (positive_int, "16k", None),
    ],
)
def test_numbers_are_checked_by_argparse(convert: Any, text: str, value: float | None) -> None:
    if value is None:
        with pytest.raises(argparse.ArgumentTypeError, match=r"must be a positive|not a"):
            convert(text)
    else:
        assert convert(text) == value


@pytest.mark.parametrize(
    ("command", "argv", "error"),
    [
        (
            main,
            ["speak", "Hi", "-o", "x.wav", "--output-device", "1"],
            "dgtrio speak: error: --output-device needs --play",
        ),
        (
            main,
            ["agent", "--text", "--device", "1", "--output-device", "speaker"],
            "dgtrio agent: error: --text uses no sound device: drop --device, --output-device",
        ),
        (
            main,
            ["speak", " \n ", "--play"],
            "dgtrio speak: error: argument text: there is nothing to say: the text is empty",
        ),
        (
            main,
            ["transcribe", "x.wav", "--base-url", "ftp://x"],
            "dgtrio transcribe: error: argument --base-url: base_url must be ws://, wss://, "
            "http:// or https://: 'ftp://x'",
        ),
        (
            serve_main,
            ["serve", "--api-key", ""],
            "python -m dgtrio.testing serve: error: argument --api-key: must not be empty "
            "(leave it out to accept any)",
        ),
        (
            serve_main,
            ["serve", "--port", "http"],
            "python -m dgtrio.testing serve: error: argument --port: not a port number: 'http'",
        ),
    ],
    ids=[
        "output-device-without-play",
        "text-with-devices",
        "blank-text",
        "base-url-scheme",
        "empty-api-key",
        "port-not-a-number",
    ],
)
def test_misused_options_are_refused_before_anything_starts(
    command: Any,
    argv: list[str],
    error: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as exited:
        command(argv)
    assert exited.value.code == 2
    lines = capsys.readouterr().err.splitlines()
    assert lines[0].startswith("usage: ") and lines[-1] == error
    assert list(tmp_path.iterdir()) == []  # nothing written


def test_an_unusable_transcript_for_the_fake_is_named(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    wav, reference = tmp_path / "hello.wav", tmp_path / "hello.txt"
    wav.write_bytes(HELLO_WAV.read_bytes())
    reference.write_bytes(b"\xff is not UTF-8")
    assert main(["transcribe", str(wav), "--fast"]) == 1
    assert capsys.readouterr().err == (
        f"dgtrio: error: {reference}: not UTF-8 text (invalid start byte)\n"
    )
    assert serve_main(["serve", "--transcript", str(reference)]) == 1
    assert capsys.readouterr().err.startswith(
        f"python -m dgtrio.testing: error: --transcript {reference}: 'utf-8' codec can't decode"
    )
    reference.write_text(" \n")  # no words
    assert main(["transcribe", str(wav), "--fast"]) == 1
    assert capsys.readouterr().err == (
        f"dgtrio: error: {reference} (the fake's transcript): the script needs at least one word\n"
    )
    assert serve_main(["serve", "--transcript", str(reference)]) == 1
    assert capsys.readouterr().err == (
        f"python -m dgtrio.testing: error: --transcript {reference}: "
        "the script needs at least one word\n"
    )


def test_long_text_is_cut_between_sentences_then_words() -> None:
    sentence = "The quick brown fox jumps over the lazy dog. "  # 45 characters
    text = sentence * 100
    pieces = split_text(text)
    assert "".join(pieces) == text
    assert [len(piece) for piece in pieces] == [1980, 1980, 540]  # 44 sentences each
    assert all(piece.endswith("dog. ") for piece in pieces)
    words = "word " * 1000  # one sentence, too long: cut after a word
    assert [len(piece) for piece in split_text(words)] == [2000, 2000, 1000]
    assert split_text("x" * 4001) == ["x" * 2000, "x" * 2000, "x"]  # no boundary at all
    assert split_text("Short.") == ["Short."]


class _RecordingFake(FakeDeepgram):
    """The CLI's built-in fake, with ``options`` added and kept in ``made``."""

    made: ClassVar[list[FakeDeepgram]] = []
    options: ClassVar[dict[str, Any]] = {}

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**self.options, **kwargs)
        self.made.append(self)


@pytest.fixture
def recording_fake(monkeypatch: pytest.MonkeyPatch) -> list[FakeDeepgram]:
    """The servers the CLI starts while the test runs (it imports FakeDeepgram when
    it needs one), synthesising faster than the default fake."""
    monkeypatch.setattr(dgtrio.testing, "FakeDeepgram", _RecordingFake)
    monkeypatch.setattr(_RecordingFake, "made", [])
    fast = {"speak_script": SpeakScript(characters_per_second=500, synthesis_speed=None)}
    monkeypatch.setattr(_RecordingFake, "options", fast)
    return _RecordingFake.made


def test_long_text_is_spoken_in_pieces_and_one_flush(
    recording_fake: list[FakeDeepgram], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sentence = "Each sentence here is fifty characters long, see. "
    assert len(sentence) == 50
    text = (sentence * 100).strip()  # 4999 characters
    out = tmp_path / "long.wav"
    assert main(["speak", text, "-o", str(out), "--sample-rate", "16000"]) == 0
    assert "Traceback" not in capsys.readouterr().err
    (session,) = recording_fake[0].sessions
    speaks = [m["text"] for m in session.messages if m["type"] == "Speak"]
    assert len(speaks) == 3 and all(len(s) <= MAX_SPEAK_CHARACTERS for s in speaks)
    assert "".join(speaks) == text
    assert [m["type"] for m in session.messages].count("Flush") == 1
    with wave.open(str(out)) as wav:
        assert wav.getnframes() == round(len(text) / 500 * 16000)  # all of it, once


def test_a_failed_synthesis_leaves_the_old_file_alone(
    recording_fake: list[FakeDeepgram],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # The socket drops while the audio streams (in real time, 2.9 s of it): the WAV
    # file has been opened and written to by then.
    dropping = {
        "speak_script": SpeakScript(synthesis_speed=1.0),
        "faults": [Fault("abort", at=0.3)],
    }
    monkeypatch.setattr(_RecordingFake, "options", dropping)
    keep = tmp_path / "keep.wav"
    keep.write_bytes(KEEP)
    assert main(["speak", "A sentence that takes a few seconds to say.", "-o", str(keep)]) == 1
    err = capsys.readouterr().err
    (line,) = _error_lines(err)
    assert line.startswith(
        "dgtrio: error: the connection was lost without a close frame (close code 1006)"
    )
    assert recording_fake[0].sessions[0].sent  # some audio came before the drop
    assert keep.read_bytes() == KEEP
    assert [path.name for path in tmp_path.iterdir()] == ["keep.wav"]


def test_a_new_file_gets_the_usual_permissions(tmp_path: Path) -> None:
    out = tmp_path / "new.wav"
    assert main(["speak", "Hi.", "-o", str(out)]) == 0
    umask = os.umask(0)
    os.umask(umask)
    assert out.stat().st_mode & 0o777 == 0o666 & ~umask  # not mkstemp's 0600


def test_a_replaced_file_keeps_its_mode_and_its_symlink(
    recording_fake: list[FakeDeepgram], tmp_path: Path
) -> None:
    real, link = tmp_path / "real.wav", tmp_path / "link.wav"
    real.write_bytes(KEEP)
    real.chmod(0o640)
    link.symlink_to(real)
    assert main(["speak", "Hi.", "-o", str(link)]) == 0
    assert link.is_symlink() and link.resolve() == real  # the file behind it was replaced
    assert real.stat().st_mode & 0o777 == 0o640
    with wave.open(str(real)) as wav:
        assert wav.getnframes() > 0
    assert sorted(path.name for path in tmp_path.iterdir()) == ["link.wav", "real.wav"]


def _wait_for_line(stream: Any, prefix: str) -> None:
    """Read ``stream`` until a line starts with ``prefix``, for 30 s at most (checked
    between lines; pytest's timeout covers a process that goes silent)."""
    deadline = time.monotonic() + 30
    seen = []
    while time.monotonic() < deadline:
        line = stream.readline()
        if not line:
            break
        seen.append(line)
        if line.startswith(prefix):
            return
    raise AssertionError(f"no line starting with {prefix!r} in {seen}")


def _interrupted(argv: Sequence[str], *, after: str, on_stderr: bool = False) -> tuple[int, str]:
    """Run ``dgtrio ARGV``, send it SIGINT once a line starting with ``after`` comes
    (on stdout, or on stderr), and return its exit status and the rest of its stderr.

    The command starts as from a terminal, Ctrl-C live: a SIGINT ignored here (as it
    is in a shell's background job, which CI may be) would be ignored there too, as
    Unix programs rightly leave it."""
    ignored = signal.getsignal(signal.SIGINT) == signal.SIG_IGN
    if ignored:
        signal.signal(signal.SIGINT, signal.default_int_handler)  # ignored again below
    try:
        cli = subprocess.Popen(
            [*DGTRIO, *argv], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV
        )
    finally:
        if ignored:
            signal.signal(signal.SIGINT, signal.SIG_IGN)
    with cli:
        _wait_for_line(cli.stderr if on_stderr else cli.stdout, after)
        cli.send_signal(signal.SIGINT)
        _, err = cli.communicate(timeout=30)
    return cli.returncode, err


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_the_fake_server_stops_cleanly_on_a_signal(signum: int) -> None:
    with subprocess.Popen(
        SERVE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV
    ) as server:
        assert server.stdout is not None
        url = server.stdout.readline().strip()
        host, port = url.removeprefix("ws://").split(":")
        socket.create_connection((host, int(port)), timeout=5).close()  # it accepts
        server.send_signal(signum)
        out, err = server.communicate(timeout=30)
    assert (server.returncode, out, err) == (0, "", "python -m dgtrio.testing: stopped\n")


def test_ctrl_c_interrupts_a_transcription_with_130() -> None:
    # Real time: 9 s unless interrupted once the transcripts arrive.
    status, err = _interrupted(["transcribe", str(HELLO_WAV)], after="[")
    assert status == 130, err
    assert "Traceback" not in err and _error_lines(err) == []


@pytest.mark.usefixtures("sound_card")
def test_ctrl_c_ends_a_spoken_conversation_normally() -> None:
    status, err = _interrupted(["agent"], after="dgtrio: talk into", on_stderr=True)
    assert status == 0, err
    assert err == "\ndgtrio: ending the conversation (Ctrl-C again quits)\n"
