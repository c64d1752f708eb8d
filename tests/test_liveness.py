"""Liveness: a socket that takes nothing (send_timeout) and a server that answers
nothing while audio flows (stall_timeout) end the connection with typed errors, at
exact virtual times."""

from __future__ import annotations

import pytest
import trio
import trio.testing
import trio_websocket

import dgtrio
from dgtrio.testing import FakeDeepgram

from .conftest import SilentPeer, frames, pcm16

LINEAR16 = dgtrio.ListenV1Options(encoding="linear16", sample_rate=16000)


async def _deaf_peer(nursery: trio.Nursery) -> str:
    """A server that accepts, then never reads nor writes (a half-open connection)."""

    async def never_read(request: trio_websocket.WebSocketRequest) -> None:
        await request.accept()
        await trio.sleep_forever()

    server = await nursery.start(trio_websocket.serve_websocket, never_read, "127.0.0.1", 0, None)
    return f"ws://127.0.0.1:{server.port}"


async def test_a_socket_that_takes_nothing_is_dropped_after_send_timeout(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    url = await _deaf_peer(nursery)
    async with dgtrio.open_listen(LINEAR16, base_url=url, send_timeout=3) as conn:
        start = trio.current_time()
        with pytest.raises(dgtrio.SendTimeout) as info:
            while True:  # until the socket buffers are full and the queue with them
                await conn.send_audio(bytes(64000))
        # Filling the buffers takes no virtual time: the queue waited exactly 3 s.
        assert trio.current_time() - start == pytest.approx(3)
        assert isinstance(info.value, dgtrio.ConnectionLost | TimeoutError)
        with pytest.raises(dgtrio.SendTimeout):
            await conn.receive()
    stats = conn.statistics()
    assert stats.frames_unsent > 0 and stats.state == "closed"


async def test_audio_without_an_answer_is_a_stall(
    silent_peer: SilentPeer, autojump_clock: trio.testing.MockClock
) -> None:
    audio = frames(pcm16(10.0))
    async with dgtrio.open_listen(
        LINEAR16, base_url=silent_peer.url, api_key="k", stall_timeout=4
    ) as conn:
        await trio.sleep(30)  # no audio: silence both ways is not a stall
        start = trio.current_time()
        with pytest.raises(dgtrio.ServerStalled, match="stall_timeout"):
            for frame in audio:
                await conn.send_audio(frame)
                await trio.sleep(0.02)
        # The first frame went out at once; 4 s later the socket was dropped.
        assert trio.current_time() - start == pytest.approx(4, abs=0.021)
        with pytest.raises(dgtrio.ServerStalled):
            await conn.receive()


async def test_answers_keep_a_stream_alive(
    fake: FakeDeepgram, connect: dgtrio.ConnectOptions, autojump_clock: trio.testing.MockClock
) -> None:
    # The fake answers about every second of audio, the longest gap is 2 s.
    options = dgtrio.ListenV1Options(encoding="linear16", sample_rate=16000, interim_results=True)
    connect["stall_timeout"] = 2.5
    received = []
    async with dgtrio.open_listen(options, **connect) as conn, trio.open_nursery() as nursery:

        async def drain() -> None:
            async for message in conn:
                received.append(message)

        nursery.start_soon(drain)
        for frame in frames(pcm16(8.0)):
            await conn.send_audio(frame)
            await trio.sleep(0.02)
        await conn.close_stream()
    assert isinstance(received[-1], dgtrio.ListenV1Metadata)
