"""The dgtrio command line, against the built-in fake server."""

from __future__ import annotations

import ast
import io
import json
import re
import subprocess
import sys
import wave
from pathlib import Path

import pytest

import dgtrio
import dgtrio.cli
from dgtrio.cli import main
from dgtrio.cli._listen import Printer

from .conftest import HELLO_WAV

EXPECTED_FINALS = [
    "Hello from DG Trio.",
    "This is a short recording for testing live transcription.",
    "The quick brown fox jumps over the lazy dog.",
]


def test_transcribe_with_the_fake_server(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["transcribe", str(HELLO_WAV), "--fast"]) == 0
    out, err = capsys.readouterr()
    finals = [line.split("] ", 1)[1] for line in out.splitlines() if " ~ " not in line]
    interims = [line for line in out.splitlines() if " ~ " in line]
    assert finals == EXPECTED_FINALS
    assert interims  # interim results are on by default
    assert out.splitlines()[0].startswith("[   0.00 -    1.00] ~ ")
    assert err.splitlines()[0].startswith(
        "dgtrio: no DEEPGRAM_API_KEY set, so using the built-in fake"
    )
    assert "9.24 s of audio transcribed" in err


SPEED_LINE = re.compile(
    r"dgtrio: recognised at \d+\.\d\dx real time \((?P<audio>\d+\.\d\d) s of audio in "
    r"\d+\.\d\d s, sent (?P<pacing>at real time|unpaced)\); "
    r"(finals \d+\.\d\d s median, \d+\.\d\d s max after their audio was sent|no finals)"
)
"""The line ``transcribe`` ends with: how fast the audio was recognised."""


def test_transcribe_ends_with_how_fast_it_recognised(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["transcribe", str(HELLO_WAV), "--fast"]) == 0
    lines = capsys.readouterr().err.splitlines()
    assert lines[-2].startswith("dgtrio: 9.24 s of audio transcribed (request id ")
    speed = SPEED_LINE.fullmatch(lines[-1])
    assert speed, lines[-1]
    assert (speed["audio"], speed["pacing"]) == ("9.24", "unpaced")
    assert "; finals " in lines[-1]  # three of them


def test_no_interim_and_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["transcribe", str(HELLO_WAV), "--fast", "--no-interim", "--json"]) == 0
    lines = capsys.readouterr().out.splitlines()
    messages = [json.loads(line) for line in lines]
    assert [m["type"] for m in messages] == ["Results"] * 3 + ["Metadata"]
    assert all(m["is_final"] for m in messages[:3])
    assert messages[0]["channel"]["alternatives"][0]["transcript"] == EXPECTED_FINALS[0]


def test_realtime_pacing_is_the_default(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    import time
    import wave

    short = tmp_path / "short.wav"
    with wave.open(str(HELLO_WAV)) as src, wave.open(str(short), "wb") as dst:
        dst.setparams(src.getparams())
        dst.writeframes(src.readframes(src.getframerate()))  # 1.0 s
    start = time.monotonic()
    assert main(["transcribe", str(short)]) == 0
    assert time.monotonic() - start >= 0.95
    speed = SPEED_LINE.fullmatch(capsys.readouterr().err.splitlines()[-1])
    assert speed and (speed["audio"], speed["pacing"]) == ("1.00", "at real time")


def test_errors_are_one_line(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    bogus = tmp_path / "bogus.wav"
    bogus.write_bytes(b"not a wav file at all")
    assert main(["transcribe", str(bogus)]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"dgtrio: error: {bogus}: not a PCM WAV file (")
    assert err.count("\n") == 1
    assert main(["transcribe", str(tmp_path / "missing.wav")]) == 1
    assert capsys.readouterr().err == (
        f"dgtrio: error: {tmp_path / 'missing.wav'}: No such file or directory\n"
    )
    # (An unreachable server: speak, since transcribe retries for ~15 s first.)
    assert (
        main(["speak", "Hi", "-o", str(tmp_path / "x.wav"), "--base-url", "ws://127.0.0.1:1"]) == 1
    )
    assert "cannot connect to ws://127.0.0.1:1/v1/speak" in capsys.readouterr().err


def test_interim_lines_are_overwritten_on_a_terminal() -> None:
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    out = Terminal()
    printer = Printer(out, io.StringIO(), as_json=False)
    channel = dgtrio.ListenV1Channel((dgtrio.ListenV1Alternative("hello", 0.9),))
    metadata = dgtrio.ListenV1ResultsMetadata("r")
    printer.show(dgtrio.ListenV1Results((0, 1), 1.0, 0.0, channel, metadata))
    printer.show(dgtrio.ListenV1Results((0, 1), 1.5, 0.0, channel, metadata, is_final=True))
    printer.finish()
    assert out.getvalue() == (
        "\x1b[2m[   0.00 -    1.00] hello\x1b[0m\r\x1b[2K[   0.00 -    1.50] hello\n"
    )


def test_reconnections_are_noted_apart_from_the_transcript() -> None:
    out, err = io.StringIO(), io.StringIO()
    printer = Printer(out, err, as_json=True)
    printer.show(dgtrio.Reconnecting(2, 0.75, dgtrio.ConnectionLost(1006)))
    printer.show(dgtrio.Reconnected(2, "r2", outage=1.25, replay=3.5, lost=0.0))
    assert out.getvalue() == ""
    assert err.getvalue() == (
        "dgtrio: the connection was lost without a close frame (close code 1006); "
        "reconnecting in 0.8 s (attempt 2)\n"
        "dgtrio: reconnected after 1.2 s, replaying 3.5 s of audio (request id r2)\n"
    )


def test_python_dash_m() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "dgtrio", "transcribe", str(HELLO_WAV), "--fast", "--no-interim"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert [line.split("] ", 1)[1] for line in done.stdout.splitlines()] == EXPECTED_FINALS


def _is_private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def test_the_command_line_imports_only_public_modules_and_names() -> None:
    seen = []
    for path in sorted(Path(dgtrio.cli.__file__).parent.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                imported = [(alias.name, "") for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                imported = [(node.module or "", alias.name) for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                assert node.level == 1, f"{path.name} imports from outside dgtrio.cli"
                continue
            else:
                continue
            for module, name in imported:
                if module.split(".")[0] != "dgtrio":
                    continue
                seen.append((path.name, module, name))
                parts = [*module.split("."), name]
                assert not any(_is_private(part) for part in parts), (path.name, module, name)
    assert ("_app.py", "dgtrio", "DeepgramError") in seen
    assert ("_common.py", "dgtrio.testing", "FakeDeepgram") in seen


def test_importing_the_command_line_leaves_the_fake_server_unloaded() -> None:
    code = (
        "import sys, dgtrio.cli; print([m for m in sys.modules if m.startswith('dgtrio.testing')])"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout == "[]\n"


def test_examples_run_against_the_fake() -> None:
    example = Path(__file__).resolve().parent.parent / "examples" / "transcribe_file.py"
    done = subprocess.run(
        [sys.executable, str(example)], capture_output=True, text=True, timeout=60, check=True
    )
    lines = done.stdout.splitlines()
    assert [line.split("s  ", 1)[1] for line in lines[:-1]] == EXPECTED_FINALS
    assert lines[-1].startswith("done: 9.24 s, request ")


def test_agent_tools_example_runs_against_the_fake() -> None:
    example = Path(__file__).resolve().parent.parent / "examples" / "agent_tools.py"
    done = subprocess.run(
        [sys.executable, str(example)], capture_output=True, text=True, timeout=60, check=True
    )
    assert done.stdout.splitlines() == [
        "user: What's the weather in Paris?",
        '  tool get_weather({"city": "Paris"}) -> '
        '{"city":"Paris","sky":"partly cloudy","temperature":18,"unit":"celsius"}',
        "assistant: In Paris it is partly cloudy, 18 degrees.",
        "  (3.2 s of speech received)",
    ]
    assert "using the fake agent" in done.stderr


def test_agent_text_with_the_fake_server(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO("Hello\n\nWhat time is it?\n"))
    assert main(["agent", "--text", "--greeting", "Hi, how can I help?"]) == 0
    out, err = capsys.readouterr()
    lines = out.splitlines()
    assert lines[:4] == [
        "agent: Hi, how can I help?",
        "you: Hello",
        "agent: Hi! How can I help you?",
        "you: What time is it?",
    ]
    assert lines[4] == "  [local tool] get_time({})"
    assert lines[5].startswith("  [ok] ") and lines[6] == f"agent: It is {lines[5][7:]}."
    assert len(lines) == 7
    assert "using the built-in fake" in err


def test_agent_text_with_a_flux_voice(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO("Hello\n"))
    assert main(["agent", "--text", "--voice", "flux-kit-en"]) == 0  # version v2, as it needs
    assert capsys.readouterr().out.splitlines()[-1] == "agent: Hi! How can I help you?"


def test_speak_writes_a_wav_file(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    out = tmp_path / "hi.wav"
    text = "Hello from the command line."  # 28 characters: 1.87 s from the fake
    assert main(["speak", text, "-o", str(out), "--sample-rate", "16000"]) == 0
    _, err = capsys.readouterr()
    assert "using the built-in fake" in err
    assert f"1.87 s of speech to {out} (request id " in err
    with wave.open(str(out)) as wav:
        assert (wav.getframerate(), wav.getsampwidth()) == (16000, 2)
        assert wav.getnframes() == round(len(text) / 15 * 16000)


def test_speak_refuses_bad_options_and_needs_somewhere_to_put_the_speech(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    out = tmp_path / "x.wav"
    assert main(["speak", "Hi", "-o", str(out), "--encoding", "mulaw"]) == 1
    assert "dgtrio: error: sample_rate 24000 is not one of 8000, 16000 for mulaw" in (
        capsys.readouterr().err
    )
    assert not out.exists()
    with pytest.raises(SystemExit) as exited:
        main(["speak", "Hi"])
    assert exited.value.code == 2  # argparse's usage error
    assert capsys.readouterr().err.endswith(
        "dgtrio speak: error: say where the speech goes: -o FILE.wav, --play, or both\n"
    )


def test_speak_to_wav_example_runs_against_the_fake(tmp_path: Path) -> None:
    example = Path(__file__).resolve().parent.parent / "examples" / "speak_to_wav.py"
    out = tmp_path / "speech.wav"
    done = subprocess.run(
        [sys.executable, str(example), str(out)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    lines = done.stdout.splitlines()
    assert [line.split("s  ", 1)[1] for line in lines[:3]] == [
        "Thanks for calling.",
        "Your order shipped this morning and should arrive on Thursday.",
        "Is there anything else I can help with?",
    ]
    assert lines[3].startswith(f"wrote {out} (8.00 s, request ")
    with wave.open(str(out)) as wav:
        assert wav.getnframes() == 8 * 24000


# -- on the sound card (a virtual one in CI: scripts/virtual-audio) ---------------------------


@pytest.mark.usefixtures("sound_card")
def test_devices_lists_the_defaults_without_native_noise() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "dgtrio", "devices"], capture_output=True, text=True, timeout=30
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].split() == ["#", "in", "out", "rate", "name"]
    assert any("(default input" in line for line in lines[1:])
    assert any("output)" in line for line in lines[1:])
    assert done.stderr == ""  # what ALSA and JACK print while probing is hushed


@pytest.mark.usefixtures("sound_card")
def test_mic_captions_for_a_while(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["mic", "--seconds", "1.5", "--no-interim"]) == 0
    out, err = capsys.readouterr()
    assert "using the built-in fake" in err and "listening to #" in err
    assert "1.5 s captured, 0 frames dropped" in err
    assert out.splitlines()  # the fake's script, paced by the audio it got


@pytest.mark.usefixtures("sound_card")
def test_agent_by_voice(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["agent", "--seconds", "2", "--greeting", "Hello, speaking here."]) == 0
    out, err = capsys.readouterr()
    assert "talk into #" in err and "the agent speaks on #" in err
    assert out.splitlines()[0] == "assistant: Hello, speaking here."


@pytest.mark.usefixtures("sound_card")
def test_speak_plays_and_writes(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    out = tmp_path / "hi.wav"
    assert main(["speak", "Hello.", "--play", "-o", str(out)]) == 0
    err = capsys.readouterr().err
    assert f"0.40 s of speech to {out} and #" in err
    assert main(["speak", "Hello.", "--play"]) == 0
    assert "0.40 s of speech to #" in capsys.readouterr().err
