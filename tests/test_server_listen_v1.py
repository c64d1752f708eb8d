"""The server's Listen v1 endpoint with ears of the test's own (:class:`dgtrio.server.Ears`):
the idle timeout does not count the time the ears work through audio the client sent,
and counts from the end of that work; the settings the ears are given; what a WAV
header tells the server."""

from __future__ import annotations

import io
import wave
from collections.abc import Callable

import pytest
import trio
import trio.testing

import dgtrio
from dgtrio.audio import AudioFormat
from dgtrio.server import (
    DeepgramServer,
    Endpoint,
    ListenV1Endpoint,
    ListenV1Settings,
    ListenV1Stream,
)
from dgtrio.testing import FakeDeepgram

LINEAR16 = dgtrio.ListenV1Options(encoding="linear16", sample_rate=16000)
WORD = dgtrio.ListenV1Word("hello", 0.1, 0.4, 0.9, punctuated_word="Hello.")


class SlowEars:
    """Ears that take ``work`` seconds over each piece of audio (in the background)
    or over each flush, then hear one word."""

    def __init__(self, work: float) -> None:
        self.work = work
        self.audio = trio.Event()
        self.settings: ListenV1Settings | None = None

    def check(self, settings: ListenV1Settings) -> str | None:
        self.settings = settings
        return None

    def can_hear(self, audio: AudioFormat | None) -> bool:
        return True

    async def run(self, stream: ListenV1Stream) -> None:
        await self.audio.wait()
        with stream.busy():
            await trio.sleep(self.work)
        await stream.heard(0, 0.0, stream.time, [WORD], final=True, endpoint=True)

    async def hear(self, stream: ListenV1Stream, audio: bytes) -> None:
        self.audio.set()

    async def flush(
        self, stream: ListenV1Stream, channel: int | None, *, from_finalize: bool
    ) -> None:
        with stream.busy(), stream.busy():  # work may nest
            await trio.sleep(self.work)
        await stream.heard(0, 0.0, stream.time, [WORD], final=True, from_finalize=from_finalize)


class Server(DeepgramServer):
    """The protocol server with the ears ``ears()`` builds for each session."""

    def __init__(self, ears: Callable[[], SlowEars], idle_timeout: float) -> None:
        super().__init__(idle_timeout=idle_timeout)
        self.ears = ears

    def endpoint(self, path: str) -> Endpoint | None:
        return ListenV1Endpoint(self.ears(), self.idle_timeout) if path == "/v1/listen" else None


async def _server(nursery: trio.Nursery, ears: SlowEars, idle_timeout: float) -> Server:
    server = Server(lambda: ears, idle_timeout)
    await nursery.start(server.serve)
    return server


async def test_ears_at_work_longer_than_the_idle_timeout_keep_the_session_open(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    server = await _server(nursery, SlowEars(work=25), idle_timeout=10)
    async with dgtrio.open_listen(LINEAR16, base_url=server.url, keepalive_interval=None) as conn:
        opened = trio.current_time()
        await conn.send_audio(bytes(3200))
        result = await conn.receive()
        assert isinstance(result, dgtrio.ListenV1Results) and result.transcript == "hello"
        assert trio.current_time() - opened == pytest.approx(25)  # the work is done
        with pytest.raises(dgtrio.IdleTimeout):
            await conn.receive()
        assert trio.current_time() - opened == pytest.approx(35)  # idle_timeout after it
    session = server.sessions[0]
    assert session.server_close == (1011, "NET-0001")
    assert [frame.time - session.connected_at for frame in session.sent] == [pytest.approx(25)]


async def test_a_flush_longer_than_the_idle_timeout_keeps_the_session_open(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    server = await _server(nursery, SlowEars(work=25), idle_timeout=10)
    async with dgtrio.open_listen(LINEAR16, base_url=server.url, keepalive_interval=None) as conn:
        opened = trio.current_time()
        await conn.finalize()
        result = await conn.receive()
        assert isinstance(result, dgtrio.ListenV1Results) and result.from_finalize
        assert trio.current_time() - opened == pytest.approx(25)
        with pytest.raises(dgtrio.IdleTimeout):
            await conn.receive()
        assert trio.current_time() - opened == pytest.approx(35)
    assert server.sessions[0].server_close == (1011, "NET-0001")


async def test_the_idle_timeout_counts_from_the_client_when_it_was_active_later(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    server = await _server(nursery, SlowEars(work=5), idle_timeout=10)
    async with dgtrio.open_listen(LINEAR16, base_url=server.url, keepalive_interval=None) as conn:
        opened = trio.current_time()
        await conn.send_audio(bytes(3200))
        await trio.sleep(8)  # the ears worked until 5
        await conn.keep_alive()
        assert isinstance(await conn.receive(), dgtrio.ListenV1Results)
        with pytest.raises(dgtrio.IdleTimeout):
            await conn.receive()
        assert trio.current_time() - opened == pytest.approx(18)


async def test_idle_ears_leave_the_timeout_as_it_was(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    server = await _server(nursery, SlowEars(work=25), idle_timeout=10)
    async with dgtrio.open_listen(LINEAR16, base_url=server.url, keepalive_interval=None) as conn:
        opened = trio.current_time()
        with pytest.raises(dgtrio.IdleTimeout):
            await conn.receive()  # no audio: nothing to work on
        assert trio.current_time() - opened == pytest.approx(10)


async def test_the_ears_are_given_the_settings_read_from_the_query(
    nursery: trio.Nursery,
) -> None:
    ears = SlowEars(work=0)
    server = await _server(nursery, ears, idle_timeout=10)
    options = dgtrio.ListenV1Options(
        model="nova-3",
        encoding="mulaw",
        sample_rate=8000,
        channels=2,
        multichannel=True,
        interim_results=True,
        endpointing=False,
        utterance_end_ms=1500,
        vad_events=True,
        smart_format=True,
        extra={"team": "a:b"},
    )
    async with dgtrio.open_listen(options, base_url=server.url) as conn:
        await conn.close_stream()
        metadata = [m async for m in conn][-1]
    assert ears.settings == ListenV1Settings(
        model="nova-3",
        encoding="mulaw",
        sample_rate=8000,
        channels=2,
        multichannel=True,
        interim_results=True,
        endpointing=None,
        utterance_end=1.5,
        vad_events=True,
        punctuate=True,
        extra={"team": "a:b"},
    )
    assert ListenV1Settings.from_query({}) == ListenV1Settings()  # Deepgram's defaults
    assert isinstance(metadata, dgtrio.ListenV1Metadata)
    assert (metadata.channels, metadata.extra) == (2, {"team": "a:b"})


async def test_a_wav_header_tells_the_channels(nursery: trio.Nursery) -> None:
    """Containerized audio: the header's channels count, not the query's."""
    fake = FakeDeepgram()
    await nursery.start(fake.serve)
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as wav:
        wav.setnchannels(2)
        wav.setsampwidth(2)
        wav.setframerate(16000)
        wav.writeframes(bytes(64000 * 2))  # 2 s
    options = dgtrio.ListenV1Options(multichannel=True)
    async with dgtrio.open_listen(options, base_url=fake.url) as conn:
        await conn.send_audio(buffer.getvalue())
        await conn.close_stream()
        messages = [m async for m in conn]
    results = [m for m in messages if isinstance(m, dgtrio.ListenV1Results)]
    assert sorted({r.channel_index for r in results}) == [(0, 2), (1, 2)]
    metadata = messages[-1]
    assert isinstance(metadata, dgtrio.ListenV1Metadata)
    assert (metadata.channels, metadata.duration) == (2, 2.0)
