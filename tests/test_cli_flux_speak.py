"""``dgtrio speak`` with Flux TTS (/v2/speak), against the built-in fake server."""

from __future__ import annotations

import re
import subprocess
import sys
import wave
from pathlib import Path
from typing import Any, ClassVar

import pytest

import dgtrio.testing
from dgtrio.audio import _portaudio
from dgtrio.audio._portaudio import PortAudioSession
from dgtrio.cli import main
from dgtrio.testing import FakeDeepgram, FakePyAudio, SpeakScript

TEXT = "Hello from Flux."  # 16 characters: 1.07 s from the fake


class _RecordingFake(FakeDeepgram):
    """The CLI's built-in fake, synthesising at once, kept in ``made``."""

    made: ClassVar[list[FakeDeepgram]] = []

    def __init__(self, **kwargs: Any) -> None:
        script = SpeakScript(synthesis_speed=None)
        super().__init__(speak_script=script, **kwargs)
        self.made.append(self)


@pytest.fixture
def fakes(monkeypatch: pytest.MonkeyPatch) -> list[FakeDeepgram]:
    """The servers the CLI starts while the test runs."""
    monkeypatch.setattr(dgtrio.testing, "FakeDeepgram", _RecordingFake)
    monkeypatch.setattr(_RecordingFake, "made", [])
    return _RecordingFake.made


@pytest.mark.parametrize(
    ("arguments", "model"),
    [(["--voice", "flux-cole-en"], "flux-cole-en"), (["--flux"], "flux-haley-en")],
)
def test_a_flux_voice_speaks_over_v2(
    fakes: list[FakeDeepgram],
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    arguments: list[str],
    model: str,
) -> None:
    out = tmp_path / "flux.wav"
    assert main(["speak", TEXT, "-o", str(out), "--sample-rate", "44100", *arguments]) == 0
    err = capsys.readouterr().err
    assert "using the built-in fake" in err
    (session,) = fakes[0].sessions
    assert f"1.07 s of speech to {out} (request id {session.request_id})" in err
    assert session.path == "/v2/speak"
    assert session.query == {
        "model": [model],
        "encoding": ["linear16"],
        "sample_rate": ["44100"],
    }
    assert session.messages == [{"type": "Speak", "text": TEXT}, {"type": "Flush"}]
    with wave.open(str(out)) as wav:
        assert (wav.getframerate(), wav.getnframes()) == (44100, round(16 / 15 * 44100))


def test_flux_options_reach_the_query(
    fakes: list[FakeDeepgram], capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    out = tmp_path / "x.wav"
    arguments = ["--flux", "--speed", "0.75", "--expressivity", "-1"]
    assert main(["speak", TEXT, "-o", str(out), "--sample-rate", "8000", *arguments]) == 0
    (session,) = fakes[0].sessions
    assert session.query["speed"] == ["0.75"] and session.query["expressivity"] == ["-1"]
    with wave.open(str(out)) as wav:
        assert wav.getnframes() == round(16 / 15 / 0.75 * 8000)
    assert "1.42 s of speech" in capsys.readouterr().err


def test_an_aura_voice_stays_on_v1(fakes: list[FakeDeepgram], tmp_path: Path) -> None:
    assert main(["speak", TEXT, "-o", str(tmp_path / "a.wav")]) == 0
    assert fakes[0].sessions[0].path == "/v1/speak"


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (
            ["--flux", "--voice", "aura-2-thalia-en"],
            "--flux needs a Flux voice (flux-...), not aura-2-thalia-en",
        ),
        (["--expressivity", "1"], "--expressivity needs a Flux voice (or --flux)"),
        (
            ["--voice", "aura-2-thalia-en", "--expressivity", "1"],
            "--expressivity needs a Flux voice (or --flux)",
        ),
    ],
)
def test_flux_arguments_that_do_not_go_together(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, arguments: list[str], message: str
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["speak", TEXT, "-o", str(tmp_path / "x.wav"), *arguments])
    assert exited.value.code == 2
    assert capsys.readouterr().err.endswith(f"dgtrio speak: error: {message}\n")


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--flux", "--speed", "1.12"], "SpeakV2Options.speed 1.12 is not a multiple of 0.05"),
        (["--flux", "--speed", "1.6"], "SpeakV2Options.speed must be between 0.5 and 1.5"),
        (
            ["--voice", "flux-haley-en", "--encoding", "alaw", "--sample-rate", "44100"],
            "sample_rate 44100 is not one of 8000, 16000 for alaw",
        ),
        (["--voice", "flux-haley"], "SpeakV2Options.model 'flux-haley' is not a Flux voice"),
    ],
)
def test_bad_flux_options_are_refused_before_connecting(
    fakes: list[FakeDeepgram],
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    arguments: list[str],
    message: str,
) -> None:
    out = tmp_path / "x.wav"
    assert main(["speak", TEXT, "-o", str(out), *arguments]) == 1
    assert f"dgtrio: error: {message}" in capsys.readouterr().err
    assert fakes == [] and not out.exists()


def test_an_expressivity_out_of_range_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["speak", TEXT, "--play", "--flux", "--expressivity", "3"])
    assert exited.value.code == 2
    assert "argument --expressivity: invalid choice: 3" in capsys.readouterr().err


def test_play_sends_the_speech_to_the_speaker(
    fakes: list[FakeDeepgram],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    backend = FakePyAudio(speed=None)
    monkeypatch.setattr(_portaudio, "PORTAUDIO", PortAudioSession(lambda: backend))
    assert main(["speak", TEXT, "--play", "--flux"]) == 0
    assert "1.07 s of speech to #1 'Fake Speaker'" in capsys.readouterr().err
    (stream,) = backend.streams
    assert stream.rate == 24000
    assert len(stream.written) == round(16 / 15 * 24000) * 2


EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "flux_speak_tokens.py"


def _example(*arguments: str) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [sys.executable, str(EXAMPLE), *arguments],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert "DEEPGRAM_API_KEY is not set: using the fake server" in done.stderr
    return done


def test_the_token_example_writes_the_answer_to_a_wav_file(tmp_path: Path) -> None:
    out = tmp_path / "answer.wav"
    lines = _example("-o", str(out)).stdout.splitlines()
    assert re.fullmatch(r"turn dg_sp_[0-9a-f]{12}: 14\.13 s of speech for 212 characters", lines[0])
    assert lines[1].startswith("session: 14.13 s of audio, request ")
    assert lines[2] == f"wrote {out} (14.13 s)"
    with wave.open(str(out)) as wav:
        assert wav.getnframes() == round(212 / 15 * 24000)


def test_the_token_example_barges_in(tmp_path: Path) -> None:
    out = tmp_path / "cut.wav"
    lines = _example("-o", str(out), "--seconds", "0.5").stdout.splitlines()
    # What the file held when the user barged in is what was heard.
    cut = re.fullmatch(r"interrupted at (\d+\.\d\d) s: heard '(.*)'", lines[0])
    assert cut, lines
    assert lines[1].startswith(f"session: {cut[1]} s of audio")  # rebased onto the offset
    # A chunk being written as the user barged in may follow what was "heard"; no
    # more, however late the Interrupt reaches the server: interrupt() drops the audio
    # received after it. The fake's chunks are 0.1 s: at most 10 hundredths.
    wrote = re.fullmatch(rf"wrote {re.escape(str(out))} \((\d+\.\d\d) s\)", lines[2])
    assert wrote, lines
    # In hundredths, as printed: 3.90 - 3.80 is not <= 0.1 in binary floats.
    assert 0 <= _hundredths(wrote[1]) - _hundredths(cut[1]) <= 10
    assert cut[2].startswith("Sure") and len(cut[2]) < 212


def _hundredths(seconds: str) -> int:
    """A time printed with two decimals, in hundredths of a second, exactly."""
    whole, _, fraction = seconds.partition(".")
    return int(whole) * 100 + int(fraction)
