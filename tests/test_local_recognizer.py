"""The local engine's recogniser (dgtrio.local.Recognizer) on its own: an utterance
decoded in a window as long as its speech (not Whisper's 30 s), speech too long for
one decoded in 30 s windows, silence never decoded, words timed from the offset;
and its options (and LocalDeepgram's) refused before a model loads."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

if os.environ.get("CI") != "true":  # in CI a missing engine is a failure, not a skip
    pytest.importorskip("faster_whisper")
    if shutil.which("flite") is None:
        pytest.skip("flite makes the test speech: apt-get install flite", allow_module_level=True)

import numpy as np

import dgtrio
from bench.local import SENTENCES, read_pcm, word_error_rate
from dgtrio.local import LocalDeepgram, Recognizer

RATE = 16000


@pytest.fixture(scope="module")
def recognizer() -> Recognizer:
    return Recognizer()


@pytest.fixture(scope="module")
def sentences(tmp_path_factory: pytest.TempPathFactory) -> list[Any]:
    """The first six sentences, said by flite's slt voice (16 kHz), as float32."""
    folder = tmp_path_factory.mktemp("said")
    said = []
    for index, text in enumerate(SENTENCES[:6]):
        path = folder / f"{index}.wav"
        subprocess.run(["flite", "-voice", "slt", "-t", text, "-o", str(path)], check=True)
        pcm, rate = read_pcm(path)
        assert rate == RATE
        said.append(np.frombuffer(pcm, "<i2").astype(np.float32) / 32768)
    return said


class Windows:
    """Counts the recogniser's decodes in 30 s windows (faster-whisper's own)."""

    def __init__(self, recognizer: Recognizer, monkeypatch: pytest.MonkeyPatch) -> None:
        self.count = 0
        original = recognizer._transcribe_windows

        def counted(audio: Any, offset: float) -> Any:
            self.count += 1
            return original(audio, offset)

        monkeypatch.setattr(recognizer, "_transcribe_windows", counted)


def _text(words: list[Any]) -> str:
    return " ".join(word.word for word in words)


def test_an_utterance_is_decoded_in_a_short_window_timed_from_the_offset(
    recognizer: Recognizer, sentences: list[Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    windows = Windows(recognizer, monkeypatch)
    audio = np.concatenate([np.zeros(RATE, np.float32), sentences[0]])  # a second's quiet
    words = recognizer.transcribe(audio, offset=10.0)
    assert windows.count == 0
    assert word_error_rate([SENTENCES[0]], [_text(words)]) <= 0.1
    speech = recognizer.speech(audio)
    first, last = 10.0 + speech[0][0], 10.0 + speech[-1][1]
    assert first - 0.3 <= words[0].start <= first + 0.3
    assert last - 0.4 <= words[-1].end <= last + 0.2
    starts = [word.start for word in words]
    assert starts == sorted(starts)
    assert all(word.start <= word.end for word in words)


def test_speech_too_long_for_a_short_window_is_decoded_in_30_s_windows(
    recognizer: Recognizer, sentences: list[Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    windows = Windows(recognizer, monkeypatch)
    pause = np.zeros(RATE // 5, np.float32)  # 0.2 s: no end of speech between them
    audio = np.concatenate([part for said in sentences for part in (said, pause)])
    assert len(audio) / RATE > 15  # with 15 s of padding, more than 30 s
    words = recognizer.transcribe(audio)
    assert windows.count == 1
    assert word_error_rate([" ".join(SENTENCES[:6])], [_text(words)]) <= 0.2


def test_a_short_window_that_stopped_early_is_decoded_again_in_30_s_windows(
    recognizer: Recognizer, sentences: list[Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Whisper now and then stops after a word or two on a clip that starts
    mid-sentence: speech well past the last word heard is decoded again."""
    windows = Windows(recognizer, monkeypatch)
    decode = recognizer._decode
    monkeypatch.setattr(recognizer, "_decode", lambda *args: decode(*args)[:1])
    words = recognizer.transcribe(sentences[0])
    assert windows.count == 1
    assert word_error_rate([SENTENCES[0]], [_text(words)]) <= 0.1
    # A decode that heard it all is not repeated.
    monkeypatch.setattr(recognizer, "_decode", decode)
    recognizer.transcribe(sentences[0])
    assert windows.count == 1


def test_silence_is_never_decoded(recognizer: Recognizer, monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: Any) -> Any:
        raise AssertionError("Whisper ran on silence")

    monkeypatch.setattr(recognizer, "_decode", refuse)
    monkeypatch.setattr(recognizer, "_transcribe_windows", refuse)
    quiet = np.random.default_rng(0).normal(0, 0.001, 3 * RATE).astype(np.float32)
    assert recognizer.transcribe(quiet) == []
    assert recognizer.transcribe(np.zeros(0, np.float32)) == []


@pytest.mark.parametrize(
    ("keywords", "message"),
    [
        ({"threads": 0}, r"Recognizer\.threads"),
        ({"threads": 1.5}, r"Recognizer\.threads"),
        ({"workers": 0}, r"Recognizer\.workers"),
        ({"workers": "2"}, r"Recognizer\.workers"),
    ],
)
def test_the_recognizers_options_are_checked_before_it_loads(
    keywords: dict[str, Any], message: str, tmp_path: Path
) -> None:
    # tmp_path is no model: an option checked only after loading would say that
    with pytest.raises(dgtrio.ConfigurationError, match=message):
        Recognizer(tmp_path, **keywords)


@pytest.mark.parametrize(
    ("keywords", "message"),
    [
        ({"threads": 0}, r"LocalDeepgram\.threads"),
        ({"workers": -1}, r"LocalDeepgram\.workers"),
        ({"workers": True}, r"LocalDeepgram\.workers"),
        ({"think": "reply"}, r"LocalDeepgram\.think"),
        ({"recognizer": "whisper"}, r"LocalDeepgram\.recognizer"),
    ],
)
def test_the_local_engines_options_are_checked_before_it_loads(
    keywords: dict[str, Any], message: str, tmp_path: Path
) -> None:
    with pytest.raises(dgtrio.ConfigurationError, match=message):
        LocalDeepgram(model_dir=tmp_path, **keywords)


def test_an_unknown_keyword_is_refused() -> None:
    with pytest.raises(TypeError, match="worker"):
        LocalDeepgram(worker=2)  # type: ignore[call-arg]
