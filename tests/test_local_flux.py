"""Flux (``/v2/listen``) on the local engine: turns taken from real speech, their
words recognised by Whisper tiny.en.

The speech is Debian's ``flite`` (voice kal16, 16 kHz), never the project's own
synthesiser, so that neither side of the test grades its own work. The server is a
:class:`~dgtrio.testing.FakeDeepgram` whose ``/v2/listen`` hears with
:class:`~dgtrio.local._listen_v2.WhisperFluxEars`, with one recogniser for the module.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import re
import shutil
import subprocess
import wave
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, cast

import pytest
import trio

import dgtrio
from bench.local import word_error_rate
from bench.sdk_flux import flux_with_sdk
from dgtrio.audio import WavSource
from dgtrio.server import Endpoint, ListenV2Endpoint
from dgtrio.testing import FakeDeepgram

CI = os.environ.get("CI") == "true"
if CI:
    import faster_whisper  # noqa: F401  (CI has the local extra: fail, never skip)
else:
    pytest.importorskip("faster_whisper")

import numpy as np  # noqa: E402  (after the skip: numpy comes with the local extra)

from dgtrio.local import LocalEngineUnavailable, Recognizer  # noqa: E402
from dgtrio.local._decodes import Decodes  # noqa: E402
from dgtrio.local._listen_v2 import FLUX_SCRIPT, WhisperFluxEars, _Resampler  # noqa: E402

RATE = 16000
FIRST = "Hi, I'd like to check on my order."
SECOND = "It was supposed to arrive on Monday."
LONG = "Please send the invoice to my office and call me tomorrow morning."
THIRD = "Thanks, that's all I needed."
OPTIONS = dgtrio.ListenV2Options(encoding="linear16", sample_rate=RATE)


# --- Speech, from flite ---------------------------------------------------------------


def _flite(text: str, path: Path) -> np.ndarray[Any, np.dtype[np.int16]]:
    flite = shutil.which("flite")
    if flite is None:
        if CI:
            pytest.fail("flite is missing: apt-get install -y flite")
        pytest.skip("flite is missing (apt-get install -y flite)")
    subprocess.run([flite, "-voice", "kal16", "-t", text, "-o", str(path)], check=True)
    with wave.open(str(path)) as wav:
        assert (wav.getframerate(), wav.getnchannels(), wav.getsampwidth()) == (RATE, 1, 2)
        return np.frombuffer(wav.readframes(wav.getnframes()), "<i2")


class Speech:
    """Sentences spoken by flite, and WAV files of them with pauses, in a temporary
    directory."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._said: dict[str, np.ndarray[Any, np.dtype[np.int16]]] = {}

    def said(self, text: str) -> np.ndarray[Any, np.dtype[np.int16]]:
        if text not in self._said:
            self._said[text] = _flite(text, self.directory / f"said{len(self._said)}.wav")
        return self._said[text]

    def pcm(self, *parts: str | float) -> bytes:
        """linear16 at 16 kHz: each part a sentence, or seconds of silence."""
        pieces = [
            np.zeros(round(part * RATE), np.int16) if isinstance(part, float) else self.said(part)
            for part in parts
        ]
        return np.concatenate(pieces).astype("<i2").tobytes()

    def wav(self, *parts: str | float) -> Path:
        path = self.directory / f"audio{len(list(self.directory.glob('audio*')))}.wav"
        with wave.open(str(path), "wb") as out:
            out.setnchannels(1)
            out.setsampwidth(2)
            out.setframerate(RATE)
            out.writeframes(self.pcm(*parts))
        return path


@pytest.fixture(scope="module")
def speech(tmp_path_factory: pytest.TempPathFactory) -> Speech:
    return Speech(tmp_path_factory.mktemp("flite"))


@pytest.fixture(scope="module")
def recognizer() -> Recognizer:
    try:
        return Recognizer()
    except LocalEngineUnavailable as exc:
        if CI:
            raise
        pytest.skip(str(exc))


# --- The server -------------------------------------------------------------------------


class WatchedEars(WhisperFluxEars):
    """WhisperFluxEars, noting the most audio they held at once (seconds)."""

    most_held = 0.0

    def hear(self, audio: bytes) -> None:
        super().hear(audio)
        self.most_held = max(self.most_held, self.held)


class LocalFlux(FakeDeepgram):
    """The fake server, with the local engine's Flux behind ``/v2/listen``."""

    def __init__(self, recognizer: Recognizer, **fake: Any) -> None:
        super().__init__(**fake)
        self.recognizer = recognizer
        self.decodes = Decodes()
        self.flux: list[WatchedEars] = []

    def endpoint(self, path: str) -> Endpoint | None:
        if path == "/v2/listen":
            self.flux.append(WatchedEars(self.recognizer, self.decodes))
            return ListenV2Endpoint(FLUX_SCRIPT, self.flux[-1])
        return super().endpoint(path)


@pytest.fixture
async def server(nursery: trio.Nursery, recognizer: Recognizer) -> LocalFlux:
    local = LocalFlux(recognizer)
    await nursery.start(local.serve)
    return local


def turn_infos(server: FakeDeepgram) -> list[dict[str, Any]]:
    """Every TurnInfo the server sent in its (only) session."""
    (session,) = server.sessions
    sent = [frame.json() for frame in session.sent if frame.is_text]
    assert [m["sequence_id"] for m in sent] == list(range(len(sent)))
    return [m for m in sent if m["type"] == "TurnInfo"]


def times(turn: dgtrio.FluxTurn) -> list[tuple[float, float]]:
    """Each word's start and end."""
    spans = [(word.start, word.end) for word in turn.words]
    assert all(start is not None and end is not None for start, end in spans)
    return cast(list[tuple[float, float]], spans)


def spoken(text: str) -> list[str]:
    """The words of ``text``, lower case, without punctuation."""
    return re.sub(r"[^\w' ]+", " ", text.lower()).split()


async def chunks(data: bytes, size: int = 640) -> AsyncIterator[bytes]:
    """``data`` in frames of 20 ms, unpaced."""
    for start in range(0, len(data), size):
        yield data[start : start + size]


# --- Turns ------------------------------------------------------------------------------


async def test_two_sentences_are_two_turns_of_their_words(
    server: LocalFlux, speech: Speech
) -> None:
    path = speech.wav(0.5, FIRST, 1.5, SECOND, 1.5)
    second_starts = 0.5 + len(speech.said(FIRST)) / RATE + 1.5
    async with dgtrio.open_flux_listen(
        OPTIONS, audio=WavSource(path, speed=1.0), base_url=server.url
    ) as flux:
        turns = [turn async for turn in flux.turns()]

    assert [(t.event, t.turn_index, t.trigger) for t in turns] == [
        ("EndOfTurn", 0, "model"),
        ("EndOfTurn", 1, "model"),
    ]
    for turn, said in zip(turns, (FIRST, SECOND), strict=True):
        assert word_error_rate([said], [turn.transcript]) <= 0.15, turn.transcript
        assert turn.transcript == " ".join(word.word for word in turn.words)
        spans = times(turn)
        assert spans == sorted(spans)
        # The stream's times: from about where the turn's loudness rose (a quiet
        # onset may come before it) to the end of its audio window.
        assert turn.start - 0.4 <= spans[0][0] < turn.start + 0.5
        assert spans[-1][1] <= turn.end
    # Each turn's words are in its own sentence's audio.
    assert times(turns[0])[-1][1] <= 0.5 + len(speech.said(FIRST)) / RATE
    assert times(turns[1])[0][0] >= second_starts - 0.1

    infos = turn_infos(server)
    for index in (0, 1):
        events = [m["event"] for m in infos if m["turn_index"] == index]
        start, end = events.index("StartOfTurn"), events.index("EndOfTurn")
        assert 0 < start < end == len(events) - 1, events
        assert set(events[start + 1 : end]) == {"Update"}
        assert len(events[start + 1 : end]) >= 8  # 2.2 s of speech, 0.8 s of pause
    # A StartOfTurn comes before a second of speech, so before any decode.
    assert all(not m["words"] for m in infos if m["event"] == "StartOfTurn")


async def test_eager_end_of_turn_has_the_final_transcript(
    server: LocalFlux, speech: Speech
) -> None:
    options = dgtrio.ListenV2Options(encoding="linear16", sample_rate=RATE, eager_eot_threshold=0.5)
    async with dgtrio.open_flux_listen(
        options, audio=chunks(speech.pcm(0.3, SECOND, 1.5)), base_url=server.url
    ) as flux:
        turns = [turn async for turn in flux.turns(eager=True)]

    assert [(t.event, t.was_eager) for t in turns] == [
        ("EagerEndOfTurn", False),
        ("EndOfTurn", True),
    ]
    eager, final = turns
    assert eager.transcript == final.transcript
    assert word_error_rate([SECOND], [final.transcript]) <= 0.15, final.transcript
    assert eager.end < final.end
    events = [m["event"] for m in turn_infos(server)]
    assert "TurnResumed" not in events
    assert events.index("StartOfTurn") < events.index("EagerEndOfTurn")


async def test_force_end_turn_mid_speech_ends_the_turn(server: LocalFlux, speech: Speech) -> None:
    audio = speech.pcm(0.3, LONG, 1.5)
    cut = 640 * round(2.3 / 0.02)  # 2.3 s in: "please send the invoice to my" said
    async with (
        dgtrio.open_flux_listen(OPTIONS, base_url=server.url) as flux,
        trio.open_nursery() as nursery,
    ):

        async def send() -> None:
            async for chunk in chunks(audio[:cut]):
                await flux.send_audio(chunk)
            await flux.force_end_turn()
            async for chunk in chunks(audio[cut:]):
                await flux.send_audio(chunk)
            await flux.close_stream()

        nursery.start_soon(send)
        turns = [turn async for turn in flux.turns()]

    first = turns[0]
    assert (first.event, first.turn_index, first.trigger) == ("EndOfTurn", 0, "manual")
    assert first.end == pytest.approx(2.3)
    heard = spoken(first.transcript)
    assert heard[:3] == ["please", "send", "the"], first.transcript
    assert all(end <= 2.3 for _, end in times(first))
    # The rest of the sentence is a turn of its own.
    assert turns[1].turn_index == 1
    assert "tomorrow" in spoken(turns[1].transcript), turns[1].transcript


async def test_a_long_turn_is_heard_whole_with_its_audio_bounded(
    server: LocalFlux, speech: Speech
) -> None:
    sentences = [FIRST, SECOND, LONG, THIRD] * 3  # 36 s, with no pause that ends a turn
    parts: list[str | float] = [0.3]
    for sentence in sentences:
        parts += [sentence, 0.25]
    path = speech.wav(*parts, 1.5)
    # Three times real time: the decodes for Updates keep up, if with fewer of them.
    async with dgtrio.open_flux_listen(
        OPTIONS, audio=WavSource(path, speed=3.0), base_url=server.url
    ) as flux:
        turns = [turn async for turn in flux.turns()]
    (turn,) = turns
    assert turn.trigger == "model"
    assert word_error_rate([" ".join(sentences)], [turn.transcript]) <= 0.15, turn.transcript
    spans = times(turn)
    assert spans == sorted(spans)
    assert spans[-1][1] > 34.0
    # Updates carried the words decoded after each second of new speech, when the
    # recogniser was free: more and more of them.
    infos = turn_infos(server)
    events = [m["event"] for m in infos]
    during = infos[events.index("StartOfTurn") + 1 : events.index("EndOfTurn")]
    assert {m["event"] for m in during} == {"Update"}
    heard = [len(m["words"]) for m in during]
    assert max(heard) >= 60
    assert len(set(heard)) >= 5
    # Older words were kept as heard, and their audio let go: 15 s held at most, on a
    # machine that decodes as fast as the audio comes (and the 36 s of the turn else).
    assert server.flux[0].most_held < 30.0


async def test_silence_is_no_turn(server: LocalFlux) -> None:
    async with dgtrio.open_flux_listen(
        OPTIONS, audio=chunks(bytes(2 * 3 * RATE)), base_url=server.url
    ) as flux:
        turns = [turn async for turn in flux.turns()]
    assert turns == []
    infos = turn_infos(server)
    assert len(infos) == 12  # an Update each 0.25 s
    assert {m["event"] for m in infos} == {"Update"}
    assert all(m["transcript"] == "" and m["words"] == [] for m in infos)


async def test_mulaw_at_8_khz_is_recognised(server: LocalFlux, speech: Speech) -> None:
    from dgtrio.audio._g711 import from_linear16

    pcm = speech.pcm(0.3, SECOND, 1.5)
    samples = np.frombuffer(pcm, "<i2").astype(np.float32)
    narrow = np.interp(np.arange(0, len(samples), 2), np.arange(len(samples)), samples)
    mulaw = from_linear16(narrow.round().astype("<i2").tobytes(), "mulaw")
    options = dgtrio.ListenV2Options(encoding="mulaw", sample_rate=8000)
    async with dgtrio.open_flux_listen(
        options, audio=chunks(mulaw, 160), base_url=server.url
    ) as flux:
        turns = [turn async for turn in flux.turns()]
    (turn,) = turns
    assert word_error_rate([SECOND], [turn.transcript]) <= 0.15, turn.transcript
    assert 0.3 <= times(turn)[0][0] < 0.8


@pytest.mark.parametrize("encoding", ["opus", None])
async def test_audio_it_cannot_decode_is_refused_at_the_handshake(
    server: LocalFlux, encoding: Any
) -> None:
    options = dgtrio.ListenV2Options(encoding=encoding, sample_rate=48000 if encoding else None)
    with pytest.raises(dgtrio.HandshakeRejected) as caught:
        async with dgtrio.open_flux_listen(options, base_url=server.url):
            pass  # pragma: no cover
    assert caught.value.status == 400
    assert "linear16" in str(caught.value)
    assert server.sessions == []


def test_resampling_a_stream_in_chunks_has_no_seams() -> None:
    tone = np.sin(np.arange(44100) * 2 * np.pi * 200 / 44100).astype(np.float32)
    for rate, samples in ((44100, tone), (48000, tone[: 48000 - 1]), (8000, tone[:8000])):
        whole = _Resampler(rate).feed(samples)
        resampler = _Resampler(rate)
        cuts = [0, 1, 7, 331, 882, 1000, 4096, len(samples)]
        pieces = [resampler.feed(samples[a:b]) for a, b in itertools.pairwise(cuts)]
        assert np.allclose(np.concatenate(pieces), whole, atol=1e-6)
        assert abs(len(whole) - len(samples) * RATE / rate) <= 1


# --- The official SDK -------------------------------------------------------------------


# The SDK imports names that its own websockets dependency deprecates.
@pytest.mark.filterwarnings("ignore::DeprecationWarning")
async def test_official_sdk_gets_turns_with_words(server: LocalFlux, speech: Speech) -> None:
    audio = speech.pcm(0.3, SECOND, 1.5)
    messages = await trio.to_thread.run_sync(
        lambda: asyncio.run(flux_with_sdk(server.url, audio=audio))
    )
    assert type(messages[0]).__name__ == "ListenV2Connected"
    (end,) = [m for m in messages[1:] if m.event == "EndOfTurn"]
    assert type(end).__name__ == "ListenV2TurnInfo"
    assert word_error_rate([SECOND], [end.transcript]) <= 0.15, end.transcript
    assert [w.word for w in end.words] == end.transcript.split()
    assert [m.sequence_id for m in messages] == list(range(len(messages)))
