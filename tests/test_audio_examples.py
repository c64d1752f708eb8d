"""The microphone and speaker examples, run for a second on this machine's default
devices against the fake server (see ``test_portaudio`` for the virtual sound card).

Without PyAudio or a device they skip, except in CI (``CI=true``), where that is a
failure.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

from .conftest import ROOT

pytestmark = [pytest.mark.timeout(60), pytest.mark.usefixtures("sound_card")]


def _run(example: str, *arguments: str) -> subprocess.CompletedProcess[str]:
    env = {name: value for name, value in os.environ.items() if not name.startswith("DEEPGRAM_")}
    done = subprocess.run(
        [sys.executable, str(ROOT / "examples" / example), "--seconds", "1", *arguments],
        capture_output=True,
        text=True,
        timeout=30,
        env=env,
    )
    assert done.returncode == 0, done.stderr
    return done


def test_mic_transcribe() -> None:
    done = _run("mic_transcribe.py")
    assert "DEEPGRAM_API_KEY is not set: using the fake server" in done.stderr
    counters = re.search(r"^(\d+) frames captured, (\d+) dropped$", done.stderr, re.MULTILINE)
    assert counters, done.stderr
    assert int(counters[1]) >= 50  # 1 s of 20 ms frames streamed (capture runs to the end)
    assert int(counters[2]) == 0
    # The fake "hears" its script from 0.3 s of audio; CloseStream flushed the final.
    assert done.stdout.startswith("The quick"), done.stdout


def test_agent_voice() -> None:
    done = _run("agent_voice.py")
    assert "DEEPGRAM_API_KEY is not set: using the fake agent" in done.stderr
    assert done.stdout.splitlines()[0] == "assistant: Hello! How can I help?"
    assert re.search(r"^microphone: \d+ frames captured, 0 dropped; speaker: ", done.stderr, re.M)


def test_flux_speak_tokens() -> None:
    done = _run("flux_speak_tokens.py", "--play")
    assert "DEEPGRAM_API_KEY is not set: using the fake server" in done.stderr
    # The user barges in after a second: the offset is what the speaker played, which
    # is at most that second (a device may take a while to start: PulseAudio's null
    # sink here, about two), not what it was given (the fake speaks ten times faster
    # than real time); what was heard of the answer is its start (a second of speech at
    # the fake's 15 characters a second).
    played = re.search(r"^interrupted at (\d+\.\d\d) s: heard '(.*)'$", done.stdout, re.M)
    assert played, done.stdout
    assert 0 <= float(played[1]) <= 1.0
    assert "Sure, I can help with that.".startswith(played[2])
