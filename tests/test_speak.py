"""Speak v1 over real loopback WebSockets against the fake server."""

from __future__ import annotations

import wave
from collections.abc import Sequence
from pathlib import Path

import pytest
import trio
import trio.testing

import dgtrio
from dgtrio import ConnectOptions
from dgtrio.audio import write_wav
from dgtrio.testing import FakeDeepgram, SpeakScript

from .conftest import API_KEY, SilentPeer

TEXT = "Hello there, how can I help?"  # 28 characters: 28 / 15 s of speech at 24 kHz


def speech_bytes(text: str, *, rate: int = 24000, width: int = 2) -> int:
    return round(SpeakScript().audio_seconds(text) * rate) * width


def _types(messages: Sequence[object]) -> list[str]:
    return [type(m).__name__ for m in messages]


async def test_utterance_yields_the_audio_up_to_its_flushed(
    fake: FakeDeepgram, connect: ConnectOptions
) -> None:
    async with dgtrio.open_speak(**connect) as tts:
        utterance = tts.utterance(TEXT)
        chunks = [audio async for audio in utterance]
        assert utterance.end_message == dgtrio.SpeakV1Flushed(sequence_id=0)
        assert all(isinstance(c, dgtrio.SpeakV1Audio) for c in chunks)
        assert sum(len(c.data) for c in chunks) == speech_bytes(TEXT)
        assert [len(c.data) for c in chunks[:-1]] == [4800] * (len(chunks) - 1)  # 0.1 s each
        # The Metadata that came first was kept for the iteration; the Flushed was the
        # utterance's end.
        metadata = await tts.receive()
        assert isinstance(metadata, dgtrio.SpeakV1Metadata)
        assert metadata.request_id == tts.request_id and metadata.model_name == "aura-2-thalia-en"
        second = b"".join([a.data async for a in tts.utterance("Bye.")])
        assert len(second) == speech_bytes("Bye.")
    session = fake.sessions[0]
    assert session.messages == [
        {"type": "Speak", "text": TEXT},
        {"type": "Flush"},
        {"type": "Speak", "text": "Bye."},
        {"type": "Flush"},
    ]
    assert session.query == {
        "model": ["aura-2-thalia-en"],
        "encoding": ["linear16"],
        "sample_rate": ["24000"],
    }


async def test_flush_returns_increasing_sequence_ids(
    fake: FakeDeepgram, connect: ConnectOptions
) -> None:
    options = dgtrio.SpeakV1Options(encoding="mulaw", sample_rate=8000)
    received: list[object] = []
    async with dgtrio.open_speak(options, **connect) as tts, trio.open_nursery() as nursery:

        async def consume() -> None:
            async for message in tts:
                received.append(message)

        nursery.start_soon(consume)
        await tts.speak("One.")
        assert await tts.flush() == 0
        await tts.speak("Two, three.")
        assert await tts.flush() == 1
        assert await tts.flush() == 2  # nothing buffered: Flushed without audio
        nursery.cancel_scope.cancel()
    names = [n for n in _types(received) if n != "SpeakV1Audio"]
    assert names == ["SpeakV1Metadata", "SpeakV1Flushed", "SpeakV1Flushed", "SpeakV1Flushed"]
    audio = b"".join(m.data for m in received if isinstance(m, dgtrio.SpeakV1Audio))
    assert len(audio) == speech_bytes("One.", rate=8000, width=1) + speech_bytes(
        "Two, three.", rate=8000, width=1
    )


async def test_clear_drops_queued_and_pending_audio(
    fake: FakeDeepgram, connect: ConnectOptions, autojump_clock: trio.testing.MockClock
) -> None:
    long_text = "This sentence is long enough to take several seconds to say out loud."
    async with dgtrio.open_speak(**connect) as tts, trio.open_nursery() as nursery:
        flushed: list[int | None] = []

        async def flush() -> None:
            flushed.append(await tts.flush())

        assert isinstance(await tts.receive(), dgtrio.SpeakV1Metadata)
        await tts.speak(long_text)
        nursery.start_soon(flush)
        await trio.sleep(0.055)  # five or six 0.1 s chunks were synthesised meanwhile
        session = fake.sessions[0]
        sent_before = sum(len(f.data) for f in session.sent if isinstance(f.data, bytes))
        assert 0 < sent_before < speech_bytes(long_text)
        assert await tts.clear() == 1
        # The audio that arrived before the clear was never delivered.
        assert isinstance(await tts.receive(), dgtrio.SpeakV1Cleared)
        assert tts.audio_frames_discarded == sent_before // 4800
        await trio.testing.wait_all_tasks_blocked()  # the flush's task has its answer
        assert flushed == [None]  # the clear dropped that flush's audio
        after = b"".join([a.data async for a in tts.utterance("Short.")])
        assert len(after) == speech_bytes("Short.")
    assert [m["type"] for m in session.messages] == ["Speak", "Flush", "Clear", "Speak", "Flush"]


async def test_close_lets_the_server_finish_and_ends_the_iteration(
    fake: FakeDeepgram, connect: ConnectOptions
) -> None:
    async with dgtrio.open_speak(**connect) as tts:
        await tts.speak(TEXT)
        await tts.close()
        await tts.close()  # idempotent
        received = [message async for message in tts]
        with pytest.raises(trio.ClosedResourceError, match="no more text"):
            await tts.speak("more")
        with pytest.raises(trio.ClosedResourceError):
            await tts.flush()
    assert _types(received)[0] == "SpeakV1Metadata"
    audio = [m for m in received if isinstance(m, dgtrio.SpeakV1Audio)]
    assert sum(len(a.data) for a in audio) == speech_bytes(TEXT)
    session = fake.sessions[0]
    assert session.messages == [{"type": "Speak", "text": TEXT}, {"type": "Close"}]
    assert session.server_close == (1000, "")


async def test_the_flush_limiter_waits_instead_of_losing_a_flush(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    fake = FakeDeepgram(speak_script=SpeakScript(flush_limit=2))
    await nursery.start(fake.serve)
    async with dgtrio.open_speak(base_url=fake.url, flush_limit=2) as tts:
        start = trio.current_time()
        assert [a async for a in tts.utterance("One.")]
        assert [a async for a in tts.utterance("Two.")]
        with pytest.warns(dgtrio.FlushLimitWarning, match="more than 2 flushes in 60 s"):
            chunks = [a async for a in tts.utterance("Three.")]
        assert sum(len(c.data) for c in chunks) == speech_bytes("Three.")
    session = fake.sessions[0]
    flushes = [f.time - start for f in session.received if f.is_text and "Flush" in str(f.data)]
    assert flushes[0] == 0 and flushes[2] == pytest.approx(60.5)
    assert not any(f.is_text and "Warning" in str(f.data) for f in session.sent)


async def test_without_the_limiter_the_server_ignores_the_flush_with_a_warning(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    fake = FakeDeepgram(speak_script=SpeakScript(flush_limit=1))
    await nursery.start(fake.serve)
    async with dgtrio.open_speak(base_url=fake.url, flush_limit=None) as tts:
        assert await tts.receive() == tts_metadata(fake)
        assert [a async for a in tts.utterance("One.")]
        with pytest.raises(dgtrio.AcknowledgementTimeout, match="no audio or Flushed within 2 s"):
            _ = [a async for a in tts.utterance("Two.", timeout=2)]
        warning = await tts.receive()
        assert isinstance(warning, dgtrio.SpeakV1Warning) and warning.code


def tts_metadata(fake: FakeDeepgram) -> dgtrio.SpeakV1Metadata:
    return dgtrio.SpeakV1Metadata(
        request_id=fake.sessions[0].request_id,
        model_name="aura-2-thalia-en",
        model_version="fake",
        model_uuid=fake.sessions[0].sent[0].json()["model_uuid"],
    )


async def test_oversized_text_is_message_too_large(nursery: trio.Nursery) -> None:
    fake = FakeDeepgram(speak_script=SpeakScript(max_characters=10))
    await nursery.start(fake.serve)
    async with dgtrio.open_speak(base_url=fake.url) as tts:
        await tts.speak("far more than ten characters")
        with pytest.raises(dgtrio.MessageTooLarge) as info:
            async for _ in tts:
                pass
        assert (info.value.code, info.value.reason) == (1009, "BIG-0000")
        with pytest.raises(dgtrio.MessageTooLarge):
            await tts.speak("again")


@pytest.mark.parametrize(
    ("code", "reason", "error"),
    [
        (1003, "MESSAGE-0000", dgtrio.MessageRejected),
        (1008, "DATA-0001", dgtrio.AudioDecodeError),
        (1009, "BIG-0001", dgtrio.MessageTooLarge),
        (1011, "NET-0002", dgtrio.ServerFailure),
        (1011, "NET-0000", dgtrio.ServerTimeout),
    ],
)
async def test_close_families_become_typed_errors(
    fake: FakeDeepgram,
    connect: ConnectOptions,
    code: int,
    reason: str,
    error: type[dgtrio.ConnectionClosed],
) -> None:
    async with dgtrio.open_speak(**connect) as tts:
        assert isinstance(await tts.receive(), dgtrio.SpeakV1Metadata)
        await fake.sessions[0].close(code, reason)
        with pytest.raises(error) as info:
            await tts.receive()
        assert type(info.value) is error and info.value.reason == reason


async def test_an_error_message_then_a_close_is_a_server_error(
    fake: FakeDeepgram, connect: ConnectOptions
) -> None:
    async with dgtrio.open_speak(**connect) as tts:
        session = (await fake.wait_for_sessions())[0]
        await session.send_json({"type": "Error", "err_code": "QUOTA", "err_msg": "out of credit"})
        await session.close(1011, "NET-0003")
        received = []
        with pytest.raises(dgtrio.ServerError, match="QUOTA: out of credit") as info:
            async for message in tts:
                received.append(message)
        assert _types(received) == ["SpeakV1Metadata", "SpeakV1Error"]
        assert info.value.message is received[1]


async def test_bad_text_is_refused_before_sending(
    fake: FakeDeepgram, connect: ConnectOptions
) -> None:
    async with dgtrio.open_speak(**connect) as tts:
        with pytest.raises(ValueError, match="needs some text"):
            await tts.speak("")
        with pytest.raises(TypeError, match="not bytes"):
            await tts.speak(b"bytes")  # type: ignore[arg-type]
    assert fake.sessions[0].messages == []


async def test_flush_and_clear_time_out_without_an_answer(
    silent_peer: SilentPeer, autojump_clock: trio.testing.MockClock
) -> None:
    async with dgtrio.open_speak(base_url=silent_peer.url) as tts:
        with pytest.raises(dgtrio.AcknowledgementTimeout, match="no Flushed within 4 s"):
            await tts.flush(timeout=4)
        with pytest.raises(dgtrio.AcknowledgementTimeout, match="no Cleared within 1 s"):
            await tts.clear(timeout=1)


async def test_an_utterance_written_to_a_wav_file(
    fake: FakeDeepgram, connect: ConnectOptions, tmp_path: Path
) -> None:
    path = tmp_path / "hello.wav"
    options = dgtrio.SpeakV1Options(sample_rate=16000)
    async with dgtrio.open_speak(options, **connect) as tts:
        seconds = await write_wav(path, tts.utterance(TEXT), encoding="linear16", sample_rate=16000)
    assert seconds == pytest.approx(SpeakScript().audio_seconds(TEXT), abs=1e-4)
    with wave.open(str(path)) as wav:
        assert (wav.getframerate(), wav.getnframes()) == (
            16000,
            speech_bytes(TEXT, rate=16000) // 2,
        )


async def test_handshake_refusal_for_a_bad_voice(fake: FakeDeepgram) -> None:
    options = dgtrio.SpeakV1Options(extra_query={"model": "flux-thalia-en"})
    with pytest.raises(dgtrio.InvalidRequest):
        async with dgtrio.open_speak(options, base_url=fake.url, api_key=API_KEY):
            pass
