"""The local engine's text-to-speech: Flux TTS (``/v2/speak``) and Aura
(``/v1/speak``) speaking for real with hibari's voice, through dgtrio's clients and
the official SDK's; the speech is checked by reading it back with the recogniser."""

from __future__ import annotations

import asyncio
import os
import re
from collections.abc import Sequence
from functools import cache, partial
from typing import Any

import pytest
import trio

if os.environ.get("CI") == "true":  # in CI a missing engine is a failure, not a skip
    import faster_whisper  # noqa: F401
    import hibari  # noqa: F401
else:
    pytest.importorskip("faster_whisper")
    pytest.importorskip("hibari")

import dgtrio
from bench.local import normalise, word_error_rate
from bench.sdk_client import sdk_client
from bench.sdk_speak import TEXT as SDK_TEXT
from bench.sdk_speak import speak_with_sdk
from dgtrio.local import Recognizer
from dgtrio.local._audio import Decoder, to_16k
from dgtrio.local._synthesizer import Synthesizer
from dgtrio.local._voice import HibariVoice
from dgtrio.server import Endpoint, SpeakV1Endpoint, SpeakV2Endpoint
from dgtrio.testing import FakeDeepgram

from .conftest import API_KEY, collect
from .test_flux_speak import tokens

TEXT = (
    "The weather is lovely today. We could walk to the park after lunch. "
    "Bring a warm coat and a good book."
)
LONG = (
    "Once upon a time, a small fox lived at the edge of a quiet forest. "
    "Every morning she walked down to the river to drink. "
    "One day she met an old turtle sitting on a warm stone. "
    "They talked for hours about the seasons and the stars."
)


@cache
def synthesizer() -> Synthesizer:
    """Loaded once for the module's servers."""
    return Synthesizer()


@cache
def recognizer() -> Recognizer:
    return Recognizer()


class SpeakServer(FakeDeepgram):
    """The fake server, speaking ``/v2/speak`` and ``/v1/speak`` with the local engine's
    voice."""

    def __init__(self, **fake: Any) -> None:
        super().__init__(**fake)
        self.synthesizer = synthesizer()
        self._syntheses = trio.CapacityLimiter(1)

    def endpoint(self, path: str) -> Endpoint | None:
        if path == "/v2/speak":
            return SpeakV2Endpoint(HibariVoice(self.synthesizer, self._syntheses))
        if path == "/v1/speak":
            return SpeakV1Endpoint(HibariVoice(self.synthesizer, self._syntheses))
        return super().endpoint(path)


@pytest.fixture
async def local(nursery: trio.Nursery) -> SpeakServer:
    server = SpeakServer(api_key=API_KEY)
    await nursery.start(server.serve)
    return server


async def heard(audio: bytes, encoding: str = "linear16", rate: int = 24000) -> list[str]:
    """The words the recogniser hears in ``audio``."""
    samples = to_16k(Decoder(encoding, 1).decode(audio)[0], rate)
    found = await trio.to_thread.run_sync(recognizer().transcribe, samples)
    return [word.word for word in found]


def plausible(seconds: float, text: str) -> bool:
    """Speech of a plausible length for ``text``: 0.03 to 0.2 s a character."""
    return 0.03 * len(text) <= seconds <= 0.2 * len(text)


def kinds(messages: Sequence[Any]) -> list[str]:
    """The class names of the messages that are not audio."""
    return [type(m).__name__ for m in messages if not isinstance(m, bytes | dgtrio.SpeakV2Audio)]


async def turn_audio(tts: dgtrio.SpeakV2Connection, text: str) -> tuple[list[bytes], Any]:
    """A turn's audio chunks, and the message that ended it."""
    turn = tts.turn(text)
    chunks = [audio.data async for audio in turn]
    return chunks, turn.end_message


# --- Flux TTS (/v2/speak) ------------------------------------------------------------------


@pytest.mark.parametrize(("encoding", "rate"), [("linear16", 24000), ("mulaw", 8000)])
async def test_a_turn_is_recognisable_speech_of_its_metadatas_length(
    local: SpeakServer, encoding: str, rate: int
) -> None:
    options = dgtrio.SpeakV2Options(encoding=encoding, sample_rate=rate)  # type: ignore[arg-type]
    async with dgtrio.open_flux_speak(options, base_url=local.url, api_key=API_KEY) as tts:
        chunks, metadata = await turn_audio(tts, TEXT)
    assert isinstance(metadata, dgtrio.SpeakV2SpeechMetadata)
    width = 2 if encoding == "linear16" else 1
    audio = b"".join(chunks)
    samples = len(audio) // width
    assert plausible(samples / rate, TEXT)
    assert abs(metadata.audio_duration_ms - samples * 1000 / rate) <= 0.5
    assert metadata.input_character_count == len(TEXT)
    # The fake's 100 ms chunks; each sentence's last one shorter.
    size = rate // 10 * width
    assert max(map(len, chunks)) == size
    assert sum(len(chunk) != size for chunk in chunks) <= 3
    said = await heard(audio, encoding, rate)
    assert word_error_rate([TEXT], [" ".join(said)]) <= 0.2, said


async def test_a_stream_of_tokens_says_what_the_whole_text_says(local: SpeakServer) -> None:
    pieces = re.findall(r"\S+\s*", TEXT)  # words, each with the space after it
    async with dgtrio.open_flux_speak(base_url=local.url, api_key=API_KEY) as tts:
        whole, _ = await turn_audio(tts, TEXT)
        received: list[Any] = []

        def ended() -> bool:
            return bool(received) and isinstance(received[-1], dgtrio.SpeakV2SpeechMetadata)

        async with trio.open_nursery() as nursery:
            nursery.start_soon(partial(collect, tts, received, until=ended))
            metadata = await tts.speak_stream(tokens(*pieces, every=0.01), batch_seconds=0.02)
    assert metadata is not None
    assert metadata.input_character_count == len(TEXT)
    streamed = b"".join(m.data for m in received if isinstance(m, dgtrio.SpeakV2Audio))
    assert abs(metadata.audio_duration_ms - len(streamed) / 48) <= 0.5
    # The same sentences, synthesised alike: the same speech.
    assert streamed == b"".join(whole)
    said = await heard(streamed)
    assert word_error_rate([TEXT], [" ".join(said)]) <= 0.2, said


async def test_an_interrupt_splits_the_text_where_the_audio_was_heard(
    local: SpeakServer,
) -> None:
    async with dgtrio.open_flux_speak(base_url=local.url, api_key=API_KEY) as tts:
        turn = tts.turn(LONG)
        chunks: list[bytes] = []
        async for audio in turn:
            chunks.append(audio.data)
            if len(chunks) == 60:  # about 6 s in: into the second sentence
                offset = sum(map(len, chunks)) // 48
                answer = await tts.interrupt(offset)
        assert len(chunks) == 60
        # The session goes on: the next turn is spoken.
        after, metadata = await turn_audio(tts, "Sorry?")
        assert after and isinstance(metadata, dgtrio.SpeakV2SpeechMetadata)
    assert isinstance(answer, dgtrio.SpeakV2SpeechInterrupted)
    assert answer.audio_played_ms == offset
    assert answer.metadata.audio_duration_ms == offset
    spoken, remaining = answer.text_spoken, answer.text_remaining
    assert spoken is not None and remaining is not None
    assert spoken + remaining == LONG
    assert spoken and remaining.startswith(" ") and not spoken.endswith(" ")
    first = LONG.index(". ") + 1
    assert len(spoken) > first  # past the first sentence, whose audio was heard
    # The words the user heard are the words the split says were spoken (give or
    # take the one cut short).
    said = await heard(b"".join(chunks))
    assert abs(len(said) - len(normalise(spoken))) <= 2, (said, spoken)


async def test_configure_speed_makes_the_next_turn_shorter(local: SpeakServer) -> None:
    sentence = "Please read this sentence at two different speeds."
    async with dgtrio.open_flux_speak(base_url=local.url, api_key=API_KEY) as tts:
        normal, first = await turn_audio(tts, sentence)
        success = await tts.configure(speed=1.5)
        assert success.applied.speed == 1.5
        fast, second = await turn_audio(tts, sentence)
        await tts.close()
        rest: list[Any] = [message async for message in tts]
    slow_bytes, fast_bytes = len(b"".join(normal)), len(b"".join(fast))
    assert fast_bytes < 0.8 * slow_bytes
    assert plausible(fast_bytes / 48000, sentence)
    assert (first.audio_duration_ms, second.audio_duration_ms) == (
        round(slow_bytes / 48),
        round(fast_bytes / 48),
    )
    session = rest[-1]
    assert isinstance(session, dgtrio.SpeakV2SessionMetadata)
    assert session.total_audio_duration_ms == round((slow_bytes + fast_bytes) / 48)


async def test_a_turn_without_words_is_silent_and_close_speaks_the_open_turn(
    local: SpeakServer,
) -> None:
    async with dgtrio.open_flux_speak(base_url=local.url, api_key=API_KEY) as tts:
        silent, metadata = await turn_audio(tts, "... !")
        assert silent == []
        assert isinstance(metadata, dgtrio.SpeakV2SpeechMetadata)
        assert metadata.audio_duration_ms == 0
        await tts.speak("Good night. See you")  # its last sentence unfinished
        await tts.close()
        rest: list[Any] = [message async for message in tts]
    assert kinds(rest) == [
        "SpeakV2Connected",
        "SpeakV2SpeechStarted",
        "SpeakV2Flushed",
        "SpeakV2Warning",
        "SpeakV2SpeechStarted",  # no Flushed: Close ended the turn
        "SpeakV2SpeechMetadata",
        "SpeakV2SessionMetadata",
    ]
    assert rest[3].code == "NO_SYNTHESIZABLE_TEXT"
    audio = b"".join(m.data for m in rest if isinstance(m, dgtrio.SpeakV2Audio))
    assert rest[-2].audio_duration_ms == round(len(audio) / 48)
    said = await heard(audio)
    assert word_error_rate(["Good night. See you"], [" ".join(said)]) <= 0.25, said


# --- Aura (/v1/speak) ----------------------------------------------------------------------


async def test_aura_utterances_are_speech_and_clear_stops_one(local: SpeakServer) -> None:
    options = dgtrio.SpeakV1Options(encoding="linear16", sample_rate=24000)
    async with dgtrio.open_speak(options, base_url=local.url, api_key=API_KEY) as tts:
        utterance = tts.utterance(TEXT)
        audio = b"".join([a.data async for a in utterance])
        assert isinstance(utterance.end_message, dgtrio.SpeakV1Flushed)
        assert plausible(len(audio) / 48000, TEXT)
        # Cleared one chunk into a long utterance: the server stops speaking it.
        long = tts.utterance(" ".join([LONG] * 3))
        async for _ in long:
            await tts.clear()
        short = tts.utterance("Goodbye.")
        bye = b"".join([a.data async for a in short])
        assert isinstance(short.end_message, dgtrio.SpeakV1Flushed)
    assert plausible(len(bye) / 48000, "Goodbye.")
    said = await heard(audio)
    assert word_error_rate([TEXT], [" ".join(said)]) <= 0.2, said
    flushed = [
        frame.json()["sequence_id"]
        for frame in local.sessions[0].sent
        if frame.is_text and frame.json()["type"] == "Flushed"
    ]
    assert flushed == [0, 3]  # the long utterance (1) was never finished: Cleared (2)


# --- The official SDK ----------------------------------------------------------------------


async def speak_v2_with_sdk(url: str) -> list[Any]:
    """One turn through the SDK's Flux TTS client, then Close: what the SDK parsed."""
    from deepgram.speak.v2.types import SpeakV2Speak

    received: list[Any] = []
    client = sdk_client(url, API_KEY)
    async with client.speak.v2.connect(
        model="flux-haley-en", encoding="linear16", sample_rate=24000
    ) as socket:
        await socket.send_speak(SpeakV2Speak(text=TEXT))
        await socket.send_flush()
        async for message in socket:  # until the server closes after Close
            received.append(message)
            if getattr(message, "type", None) == "SpeechMetadata":
                await socket.send_close()
    return received


# The SDK imports names that its own websockets dependency deprecates.
@pytest.mark.filterwarnings("ignore::DeprecationWarning")
async def test_the_official_sdks_clients_receive_speech(local: SpeakServer) -> None:
    v2 = await trio.to_thread.run_sync(asyncio.run, speak_v2_with_sdk(local.url))
    assert kinds(v2) == [
        "SpeakV2Connected",
        "SpeakV2SpeechStarted",
        "SpeakV2Flushed",
        "SpeakV2SpeechMetadata",
        "SpeakV2SessionMetadata",
    ]
    audio = b"".join(m for m in v2 if isinstance(m, bytes))
    assert plausible(len(audio) / 48000, TEXT)
    assert v2[-2].audio_duration_ms == round(len(audio) / 48)
    assert v2[-1].total_audio_duration_ms == round(len(audio) / 48)
    v1 = await trio.to_thread.run_sync(asyncio.run, speak_with_sdk(local.url, API_KEY))
    assert [(type(m).__name__, m.type) for m in v1 if not isinstance(m, bytes)] == [
        ("SpeakV1Metadata", "Metadata"),
        ("SpeakV1Flushed", "Flushed"),
        ("SpeakV1Flushed", "Cleared"),
    ]
    audio = b"".join(m for m in v1 if isinstance(m, bytes))
    assert plausible(len(audio) / 48000, SDK_TEXT)
    said = await heard(audio)
    assert word_error_rate([SDK_TEXT], [" ".join(said)]) <= 0.2, said
