"""The fake server's Speak v1 behaviour, spoken to in raw JSON over loopback."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import attrs
import pytest
import trio
import trio.testing
import trio_websocket

from dgtrio.audio._g711 import ALAW, ULAW
from dgtrio.testing import FakeDeepgram, FakeSession, SpeakScript
from dgtrio.testing._sound import tone

from .conftest import API_KEY

HEADERS = [(b"authorization", f"Token {API_KEY}".encode())]
THIRTY = "The quick brown fox jumps over"  # 30 characters: 2 s at 15 characters per second


@attrs.define
class Client:
    """A raw WebSocket client of ``/v1/speak``."""

    ws: trio_websocket.WebSocketConnection
    metadata: Any = None

    async def send(self, message: dict[str, Any] | str | bytes) -> None:
        await self.ws.send_message(
            message if isinstance(message, str | bytes) else json.dumps(message)
        )

    async def speak(self, text: str) -> None:
        await self.send({"type": "Speak", "text": text})

    async def flush(self) -> None:
        await self.send({"type": "Flush"})

    async def receive(self) -> Any:
        """The next message: parsed JSON, or bytes for audio."""
        with trio.fail_after(10):
            data = await self.ws.get_message()
        return data if isinstance(data, bytes) else json.loads(data)

    async def collect(self, done: Callable[[list[Any]], bool]) -> list[Any]:
        """Messages until ``done(messages so far)``."""
        received: list[Any] = []
        while not done(received):
            received.append(await self.receive())
        return received

    async def until(self, kind: str) -> list[Any]:
        """Messages up to and including the next one of type ``kind``."""
        return await self.collect(lambda got: bool(got) and kind_of(got[-1]) == kind)

    async def until_closed(self) -> tuple[list[Any], tuple[int, str | None]]:
        """Messages until the server closes; and its close code and reason."""
        received: list[Any] = []
        with pytest.raises(trio_websocket.ConnectionClosed) as info:
            while True:
                received.append(await self.receive())
        reason = info.value.reason
        assert reason is not None
        return received, (reason.code, reason.reason)


@asynccontextmanager
async def speak(fake: FakeDeepgram, query: str = "") -> AsyncIterator[Client]:
    """A client of ``/v1/speak?query`` that got its ``Metadata``."""
    # The test owns the TCP stream: trio-websocket's client leaves its socket open
    # when the server is the one to close.
    stream = await trio.open_tcp_stream(fake.host, fake.port)
    try:
        async with trio.open_nursery() as nursery:
            ws = await trio_websocket.wrap_client_stream(
                nursery, stream, fake.host, f"/v1/speak?{query}", extra_headers=HEADERS
            )
            client = Client(ws)
            client.metadata = await client.receive()
            assert client.metadata["type"] == "Metadata"
            yield client
            await ws.aclose()
    finally:
        await trio.aclose_forcefully(stream)


async def refused(
    fake: FakeDeepgram, query: str, path: str = "/v1/speak"
) -> trio_websocket.ConnectionRejected:
    """The handshake refusal of ``path?query``."""
    rejections: list[trio_websocket.ConnectionRejected] = []
    stream = await trio.open_tcp_stream(fake.host, fake.port)
    try:
        # trio-websocket raises the refusal from its reader task, in the nursery.
        async with trio.open_nursery() as nursery:
            await trio_websocket.wrap_client_stream(
                nursery, stream, fake.host, f"{path}?{query}", extra_headers=HEADERS
            )
    except* trio_websocket.ConnectionRejected as group:
        rejections.extend(
            e for e in group.exceptions if isinstance(e, trio_websocket.ConnectionRejected)
        )
    finally:
        await trio.aclose_forcefully(stream)
    assert rejections, "the handshake succeeded"
    return rejections[0]


async def serve(nursery: trio.Nursery, script: SpeakScript) -> FakeDeepgram:
    fake = FakeDeepgram(api_key=API_KEY, speak_script=script)
    await nursery.start(fake.serve)
    return fake


def kind_of(message: Any) -> str:
    return "audio" if isinstance(message, bytes) else str(message["type"])


def summary(messages: list[Any]) -> list[str]:
    """Message types in order, with sequence ids, and one "audio" per run of chunks."""
    names: list[str] = []
    for message in messages:
        name = kind_of(message)
        if isinstance(message, dict) and "sequence_id" in message:
            name = f"{name}:{message['sequence_id']}"
        if not (name == "audio" and names and names[-1] == "audio"):
            names.append(name)
    return names


def audio_of(messages: list[Any]) -> bytes:
    return b"".join(m for m in messages if isinstance(m, bytes))


def received_at(session: FakeSession, kind: str, index: int = 0) -> float:
    """When the fake received the client's ``index``-th message of type ``kind``."""
    times = [f.time for f in session.received if f.is_text and (f.json() or {}).get("type") == kind]
    return times[index]


def sent_times(session: FakeSession, kind: str) -> list[float]:
    """When the fake sent each frame of ``kind`` (``"audio"`` for binary frames)."""
    return [
        f.time
        for f in session.sent
        if (kind == "audio" and not f.is_text) or (f.is_text and f.json()["type"] == kind)
    ]


def sent_kinds(session: FakeSession) -> list[str]:
    return summary([f.data if isinstance(f.data, bytes) else f.json() for f in session.sent])


# --- The handshake and Metadata -------------------------------------------------------


async def test_metadata_comes_first_and_names_the_model(fake: FakeDeepgram) -> None:
    async with speak(fake, "model=aura-2-thalia-en") as client:
        thalia = client.metadata
    async with speak(fake) as client:
        default = client.metadata
    session = fake.sessions[0]
    assert thalia == {
        "type": "Metadata",
        "request_id": session.request_id,
        "model_name": "aura-2-thalia-en",
        "model_version": "fake",
        "model_uuid": str(uuid.uuid5(uuid.NAMESPACE_URL, "dgtrio-fake/aura-2-thalia-en")),
    }
    assert session.sent[0].json() == thalia
    assert default["model_name"] == "aura-asteria-en"
    assert default["request_id"] == fake.sessions[1].request_id != session.request_id
    assert uuid.UUID(default["model_uuid"]) != uuid.UUID(thalia["model_uuid"])


@pytest.mark.parametrize(
    ("query", "code", "hint"),
    [
        ("model=flux-alexis-en", "V2_MODEL_ON_V1_SPEAK_ENDPOINT", "/v2/speak"),
        ("model=nova-3", "INVALID_QUERY_PARAMETER", "nova-3"),
        ("model=", "INVALID_QUERY_PARAMETER", "model"),
        ("encoding=mp3", "INVALID_QUERY_PARAMETER", "mp3"),
        ("encoding=opus&sample_rate=48000", "INVALID_QUERY_PARAMETER", "opus"),
        ("sample_rate=44100", "INVALID_QUERY_PARAMETER", "44100"),
        ("sample_rate=fast", "INVALID_QUERY_PARAMETER", "sample_rate"),
        ("encoding=mulaw&sample_rate=24000", "INVALID_QUERY_PARAMETER", "mulaw"),
        ("encoding=alaw&sample_rate=48000", "INVALID_QUERY_PARAMETER", "alaw"),
        ("speed=0.6", "INVALID_QUERY_PARAMETER", "speed"),
        ("speed=1.51", "INVALID_QUERY_PARAMETER", "speed"),
        ("speed=nan", "INVALID_QUERY_PARAMETER", "speed"),
        ("speed=quick", "INVALID_QUERY_PARAMETER", "speed"),
        ("mip_opt_out=yes", "INVALID_QUERY_PARAMETER", "mip_opt_out"),
    ],
)
async def test_bad_parameters_refuse_the_upgrade(
    fake: FakeDeepgram, query: str, code: str, hint: str
) -> None:
    rejection = await refused(fake, query)
    assert rejection.status_code == 400
    assert rejection.body is not None
    body = json.loads(rejection.body)
    assert body["err_code"] == code
    assert hint in body["err_msg"]
    headers = dict(rejection.headers)
    assert headers[b"dg-error"].decode() == body["err_msg"]
    assert body["request_id"] == headers[b"dg-request-id"].decode()
    assert fake.sessions == []


@pytest.mark.parametrize(
    "query",
    [
        "model=aura-2-thalia-en&encoding=linear16&sample_rate=8000&speed=0.7&mip_opt_out=true",
        "encoding=mulaw&sample_rate=16000&speed=1.5&mip_opt_out=false",
        "encoding=alaw",
        "sample_rate=32000&speed=1",
    ],
)
async def test_good_parameters_are_accepted(fake: FakeDeepgram, query: str) -> None:
    async with speak(fake, query):
        pass
    assert len(fake.sessions) == 1


# --- Audio ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "encoding", "rate", "width"),
    [
        ("", "linear16", 24000, 2),
        ("encoding=linear16&sample_rate=8000", "linear16", 8000, 2),
        ("sample_rate=48000", "linear16", 48000, 2),
        ("encoding=mulaw", "mulaw", 8000, 1),  # G.711 defaults to 8 kHz
        ("encoding=mulaw&sample_rate=16000", "mulaw", 16000, 1),
        ("encoding=alaw&sample_rate=16000", "alaw", 16000, 1),
    ],
)
async def test_audio_lasts_as_long_as_the_text_in_the_requested_format(
    fake: FakeDeepgram,
    autojump_clock: trio.testing.MockClock,
    query: str,
    encoding: str,
    rate: int,
    width: int,
) -> None:
    async with speak(fake, query) as client:
        # Speak messages join up; the whitespace around the text is not spoken.
        await client.speak("  The quick brown ")
        await client.speak("fox jumps over\n")
        await client.flush()
        messages = await client.until("Flushed")
    assert summary(messages) == ["audio", "Flushed:0"]
    chunks = [m for m in messages if isinstance(m, bytes)]
    assert [len(c) for c in chunks] == [rate // 10 * width] * 20  # 100 ms each
    audio = audio_of(messages)
    assert len(audio) == 2 * rate * width
    assert audio == tone(2.0, encoding, rate)
    if encoding != "linear16":
        table = ULAW if encoding == "mulaw" else ALAW
        peak = max(abs(table[byte]) for byte in audio)
        assert 2500 < peak < 3500  # the fakes' quiet tone, decoded


@pytest.mark.parametrize(("speed", "samples"), [("1.5", 32000), ("0.8", 60000)])
async def test_the_speed_parameter_changes_the_length(
    fake: FakeDeepgram, autojump_clock: trio.testing.MockClock, speed: str, samples: int
) -> None:
    async with speak(fake, f"speed={speed}") as client:
        await client.speak(THIRTY)
        await client.flush()
        assert len(audio_of(await client.until("Flushed"))) == 2 * samples


async def test_chunks_leave_ten_times_faster_than_real_time(
    fake: FakeDeepgram, autojump_clock: trio.testing.MockClock
) -> None:
    async with speak(fake) as client:
        await client.speak("Hello, everyone!")  # 16 characters: 25600 samples at 24 kHz
        await client.flush()
        messages = await client.until("Flushed")
    assert [len(m) for m in messages if isinstance(m, bytes)] == [4800] * 10 + [3200]
    session = fake.sessions[0]
    flush = received_at(session, "Flush")
    chunk_times = [t - flush for t in sent_times(session, "audio")]
    assert chunk_times == pytest.approx([i / 100 for i in range(1, 11)] + [25600 / 240000])
    [flushed] = sent_times(session, "Flushed")
    assert flushed - flush == pytest.approx(25600 / 240000)


async def test_unpaced_synthesis_sends_everything_at_once(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    script = SpeakScript(characters_per_second=10, chunk_seconds=0.25, synthesis_speed=None)
    fake = await serve(nursery, script)
    async with speak(fake) as client:
        await client.speak("0123456789")  # 1 s at 10 characters per second
        await client.flush()
        messages = await client.until("Flushed")
    assert [len(m) for m in messages if isinstance(m, bytes)] == [12000] * 4
    session = fake.sessions[0]
    flush = received_at(session, "Flush")
    assert sent_times(session, "audio") + sent_times(session, "Flushed") == [flush] * 5


async def test_the_tone_is_continuous_across_chunks_and_flushes(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    # 12.5 ms chunks hold 2.75 periods of the 220 Hz tone: a chunk that restarted the
    # tone would differ from the continuation.
    fake = await serve(nursery, SpeakScript(chunk_seconds=0.0125))
    assert tone(0.0125, "linear16", 24000) != tone(0.0125, "linear16", 24000, start=300)
    async with speak(fake) as client:
        await client.speak("Hi there")  # 8 characters: 12800 samples
        await client.flush()
        await client.speak("Again")  # 5 characters: 8000 samples
        await client.flush()
        messages = await client.until("Flushed")
        messages += await client.until("Flushed")
    assert summary(messages) == ["audio", "Flushed:0", "audio", "Flushed:1"]
    chunks = [m for m in messages if isinstance(m, bytes)]
    assert [len(c) for c in chunks] == [600] * 42 + [400] + [600] * 26 + [400]
    assert audio_of(messages) == tone(20800 / 24000, "linear16", 24000)


# --- Flush ----------------------------------------------------------------------------


async def test_flushes_are_answered_in_order_even_when_empty(
    fake: FakeDeepgram, autojump_clock: trio.testing.MockClock
) -> None:
    async with speak(fake) as client:
        await client.speak("Hello")  # 5 characters: 8000 samples
        await client.flush()
        await client.flush()  # nothing buffered
        await client.speak("  \n")
        await client.flush()  # only whitespace
        await client.speak("World!")  # 6 characters: 9600 samples
        await client.flush()
        messages = await client.collect(lambda got: "Flushed:3" in summary(got))
    assert summary(messages) == [
        "audio",
        "Flushed:0",
        "Flushed:1",
        "Flushed:2",
        "audio",
        "Flushed:3",
    ]
    first = messages.index({"type": "Flushed", "sequence_id": 0})
    assert len(audio_of(messages[:first])) == 16000
    assert len(audio_of(messages[first:])) == 19200
    session = fake.sessions[0]
    flush = received_at(session, "Flush")
    # The empty flushes wait for the first job: their Flushed follow its last chunk.
    flushed = [t - flush for t in sent_times(session, "Flushed")]
    assert flushed == pytest.approx([8000 / 240000] * 3 + [17600 / 240000])


async def test_the_21st_flush_within_a_minute_is_ignored_with_a_warning(
    fake: FakeDeepgram, autojump_clock: trio.testing.MockClock
) -> None:
    def flushed(messages: list[Any]) -> list[int]:
        return [m["sequence_id"] for m in messages if kind_of(m) == "Flushed"]

    async with speak(fake) as client:
        for _ in range(20):
            await client.speak("a")  # 1 character: 1600 samples
            await client.flush()
        await client.speak("b")
        await client.flush()
        burst = await client.collect(
            lambda got: len(flushed(got)) == 20 and "Warning" in summary(got)
        )
        [warning] = [m for m in burst if kind_of(m) == "Warning"]
        session = fake.sessions[0]
        start = received_at(session, "Flush")
        await trio.sleep_until(start + 59.99)
        await client.flush()  # still within the minute of the first flush
        assert await client.receive() == warning
        await trio.sleep_until(start + 60.01)
        await client.flush()  # the window has passed: "b" is spoken at last
        after = await client.until("Flushed")
    assert flushed(burst) == list(range(20))
    assert len(audio_of(burst)) == 20 * 3200
    assert warning["code"] == "FLUSH_LIMIT_EXCEEDED"
    assert "20" in warning["description"]
    assert "60" in warning["description"]
    assert set(warning) == {"type", "code", "description"}
    assert summary(after) == ["audio", "Flushed:20"]
    assert len(audio_of(after)) == 3200
    # Each Warning answers its Flush at once.
    assert sent_times(session, "Warning") == [
        received_at(session, "Flush", 20),
        received_at(session, "Flush", 21),
    ]
    assert received_at(session, "Flush", 21) - start == pytest.approx(59.99)


async def test_the_flush_limit_and_window_come_from_the_script(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    fake = await serve(nursery, SpeakScript(flush_limit=2, flush_window=5.0))
    async with speak(fake) as client:
        for _ in range(3):
            await client.flush()
        burst = await client.collect(lambda got: len(got) == 3)
        await trio.sleep(5.01)
        await client.flush()
        assert await client.receive() == {"type": "Flushed", "sequence_id": 2}
    assert sorted(summary(burst)) == ["Flushed:0", "Flushed:1", "Warning"]


# --- Clear ----------------------------------------------------------------------------


async def test_clear_stops_the_audio_and_drops_queued_and_buffered_text(
    fake: FakeDeepgram, autojump_clock: trio.testing.MockClock
) -> None:
    async with speak(fake) as client:
        await client.speak(THIRTY * 5)  # 10 s of audio, synthesised in 1 s
        await client.flush()
        await client.speak("Queued words.")
        await client.flush()
        await client.speak("Buffered words.")
        before = [await client.receive() for _ in range(3)]
        await client.send({"type": "Clear"})
        rest = await client.until("Cleared")
        await client.flush()  # the buffer was dropped: an empty flush
        assert await client.receive() == {"type": "Flushed", "sequence_id": 3}
        await trio.sleep(5)  # long enough for all the dropped audio
        await client.send({"type": "Close"})
        remaining, close = await client.until_closed()
    assert rest[-1] == {"type": "Cleared", "sequence_id": 2}
    cut = audio_of(before + rest)
    assert 3 * 4800 <= len(cut) <= 5 * 4800  # the chunks already on their way, at most
    assert cut == tone(len(cut) / 48000, "linear16", 24000)
    assert (remaining, close) == ([], (1000, None))
    session = fake.sessions[0]
    assert sent_kinds(session) == ["Metadata", "audio", "Cleared:2", "Flushed:3"]
    assert sent_times(session, "Cleared") == [received_at(session, "Clear")]


async def test_flushed_and_cleared_share_one_counter(
    fake: FakeDeepgram, autojump_clock: trio.testing.MockClock
) -> None:
    async with speak(fake) as client:
        await client.speak("Hi")
        await client.flush()
        first = await client.until("Flushed")
        await client.send({"type": "Clear"})  # nothing to stop
        await client.send({"type": "Clear"})
        await client.speak("Yo")
        await client.flush()
        second = await client.until("Flushed")
    assert summary(first) == ["audio", "Flushed:0"]
    assert summary(second) == ["Cleared:1", "Cleared:2", "audio", "Flushed:3"]


# --- Closing --------------------------------------------------------------------------


async def test_close_finishes_the_audio_then_closes_normally(
    fake: FakeDeepgram, autojump_clock: trio.testing.MockClock
) -> None:
    async with speak(fake) as client:
        await client.speak(THIRTY)  # 48000 samples
        await client.flush()
        await client.speak("Tail words")  # 10 characters, never flushed: 16000 samples
        await client.send({"type": "Close"})
        messages, close = await client.until_closed()
    assert close == (1000, None)
    assert summary(messages) == ["audio", "Flushed:0", "audio"]
    assert audio_of(messages) == tone(64000 / 24000, "linear16", 24000)
    session = fake.sessions[0]
    await session.wait_closed()
    assert session.server_close == (1000, "")
    # Both jobs take a tenth of their audio's length: the close follows the last chunk.
    [last_chunk] = sent_times(session, "audio")[-1:]
    assert last_chunk - received_at(session, "Flush") == pytest.approx(64000 / 240000)


async def test_close_with_nothing_to_say_closes_at_once(fake: FakeDeepgram) -> None:
    async with speak(fake) as client:
        await client.speak("   ")
        await client.send({"type": "Close"})
        messages, close = await client.until_closed()
    assert (messages, close) == ([], (1000, None))
    assert sent_kinds(fake.sessions[0]) == ["Metadata"]


async def test_the_client_closing_ends_the_session(
    fake: FakeDeepgram, autojump_clock: trio.testing.MockClock
) -> None:
    async with speak(fake) as client:
        await client.speak(THIRTY)
        await client.flush()
        await client.receive()
    session = fake.sessions[0]
    with trio.fail_after(1):
        await session.wait_closed()
    assert session.client_close == (1000, "")
    assert session.server_close is None
    assert 1 <= len(sent_times(session, "audio")) < 20
    assert sent_times(session, "Flushed") == []


# --- Frames the fake cannot take ------------------------------------------------------


@pytest.mark.parametrize(
    "frame",
    [
        "Hello",
        '["Speak", "Hello"]',
        '{"text": "Hello"}',
        '{"type": "KeepAlive"}',
        '{"type": ["Speak"], "text": "Hello"}',
        '{"type": "speak", "text": "Hello"}',
        '{"type": "Speak"}',
        '{"type": "Speak", "text": 42}',
    ],
)
async def test_unparseable_messages_close_1003(fake: FakeDeepgram, frame: str) -> None:
    async with speak(fake) as client:
        await client.send(frame)
        messages, close = await client.until_closed()
    assert (messages, close) == ([], (1003, "MESSAGE-0000"))
    await fake.sessions[0].wait_closed()
    assert fake.sessions[0].server_close == (1003, "MESSAGE-0000")


async def test_binary_frames_close_1008_and_stop_the_audio(
    fake: FakeDeepgram, autojump_clock: trio.testing.MockClock
) -> None:
    async with speak(fake) as client:
        await client.speak(THIRTY)
        await client.flush()
        first = await client.receive()
        await client.send(b"\x00\x01")
        messages, close = await client.until_closed()
    assert close == (1008, "DATA-0000")
    assert isinstance(first, bytes)
    assert len(audio_of([first, *messages])) < 2 * 48000
    assert "Flushed" not in summary(messages)


async def test_text_over_2000_characters_closes_1009(
    fake: FakeDeepgram, autojump_clock: trio.testing.MockClock
) -> None:
    async with speak(fake) as client:
        await client.speak("x" * 2000)  # at the limit: accepted
        await client.send({"type": "Clear"})
        assert await client.receive() == {"type": "Cleared", "sequence_id": 0}
        await client.speak("x" * 2001)
        messages, close = await client.until_closed()
    assert (messages, close) == ([], (1009, "BIG-0000"))


async def test_the_character_limit_comes_from_the_script(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    fake = await serve(nursery, SpeakScript(max_characters=10))
    async with speak(fake) as client:
        await client.speak("0123456789")
        await client.flush()
        assert summary(await client.until("Flushed")) == ["audio", "Flushed:0"]
        await client.speak("01234567890")
        messages, close = await client.until_closed()
    assert (messages, close) == ([], (1009, "BIG-0000"))


# --- The script -----------------------------------------------------------------------


def test_script_validation() -> None:
    for bad in (
        {"characters_per_second": 0},
        {"characters_per_second": float("nan")},
        {"chunk_seconds": -0.1},
        {"synthesis_speed": 0},
        {"max_characters": 0},
        {"flush_limit": 0},
        {"flush_window": 0},
    ):
        with pytest.raises(ValueError):  # noqa: PT011 - each case has its own message
            SpeakScript(**bad)
    assert SpeakScript(synthesis_speed=None).synthesis_speed is None


def test_audio_seconds() -> None:
    script = SpeakScript(characters_per_second=20)
    assert script.audio_seconds("  0123456789  ") == 0.5
    assert script.audio_seconds("0123456789", speed=1.25) == 0.4
    assert script.audio_seconds(" \n") == 0
