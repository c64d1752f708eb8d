"""Liveness: a socket that takes nothing (send_timeout) and a server that answers
nothing while audio flows (stall_timeout) end the connection with typed errors, at
exact virtual times."""

from __future__ import annotations

import contextlib

import pytest
import trio
import trio.testing
import trio_websocket

import dgtrio
from dgtrio.testing import FakeDeepgram, Fault

from .conftest import SilentPeer, agent_settings, frames, pcm16

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


async def test_a_frame_a_full_socket_took_part_of_is_bounded_by_send_timeout(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    # Frames 20 ms apart go out at once from the sender's task; once the socket is
    # full, the one it took part of is finished there, or the socket dropped.
    url = await _deaf_peer(nursery)
    async with dgtrio.open_listen(LINEAR16, base_url=url, send_timeout=3) as conn:
        took = []
        with pytest.raises(dgtrio.SendTimeout):
            while True:
                await trio.sleep(0.02)
                start = trio.current_time()
                await conn.send_audio(bytes(64000))
                took.append(trio.current_time() - start)
        assert took[:-1] == [0] * (len(took) - 1)  # each taken whole, at once
        assert took[-1] == pytest.approx(3)  # the last waited its send_timeout
    stats = conn.statistics()
    assert stats.frames_unsent == 1
    assert stats.audio_frames_sent == stats.audio_messages_sent == len(took) - 1


async def test_a_sender_cancelled_in_the_middle_of_a_frame_leaves_it_to_the_writer(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    """What a cancelled sender began goes out whole: the peer reads frames intact."""
    frames_read: list[bytes] = []
    reading = trio.Event()

    async def slow_reader(request: trio_websocket.WebSocketRequest) -> None:
        ws = await request.accept()
        await reading.wait()
        with contextlib.suppress(trio_websocket.ConnectionClosed):
            while True:
                message = await ws.get_message()
                assert isinstance(message, bytes)
                frames_read.append(message)

    server = await nursery.start(trio_websocket.serve_websocket, slow_reader, "127.0.0.1", 0, None)
    url = f"ws://127.0.0.1:{server.port}"
    async with dgtrio.open_listen(LINEAR16, base_url=url) as conn:
        index, cancelled = 0, False
        while not cancelled:  # until a frame blocks the sender, which is cancelled
            await trio.sleep(0.02)
            index += 1
            with trio.move_on_after(1) as scope:
                await conn.send_audio(bytes([index % 256]) * 64000)
            cancelled = scope.cancelled_caught
        reading.set()  # nothing else is sent: the writer's task finishes that frame
        with trio.fail_after(5):
            while len(frames_read) < index:  # noqa: ASYNC110
                await trio.sleep(0.1)
    # Every frame arrived intact and in order, the cancelled one included.
    assert [frame[0] for frame in frames_read] == [i % 256 for i in range(1, index + 1)]
    assert all(len(frame) == 64000 and len(set(frame)) == 1 for frame in frames_read)
    assert conn.statistics().frames_unsent == 0


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


SILENCE_16K = bytes(640)  # 20 ms of linear16 silence at 16 kHz


async def _stream_silence(agent: dgtrio.AgentConnection, seconds: float) -> None:
    for _ in range(round(seconds / 0.02)):
        await agent.send_audio(SILENCE_16K)
        await trio.sleep(0.02)


async def test_a_quiet_agent_that_answers_pings_is_no_stall(
    fake: FakeDeepgram, connect: dgtrio.ConnectOptions, autojump_clock: trio.testing.MockClock
) -> None:
    # Nobody speaks: the agent rightly says nothing for 30 s while silence flows, and
    # the pongs to the watchdog's pings keep the conversation.
    connect["stall_timeout"] = 4
    async with dgtrio.open_agent(agent_settings(), **connect) as agent:
        received = agent.statistics().messages_received
        await _stream_silence(agent, 30)
        assert agent.statistics().messages_received == received
        assert agent.statistics().state == "open"


async def test_a_half_open_agent_stalls_at_exactly_stall_timeout(
    fake: FakeDeepgram, connect: dgtrio.ConnectOptions, autojump_clock: trio.testing.MockClock
) -> None:
    fake.fault_next(Fault("half_open", at=1.0))
    connect["stall_timeout"] = 4
    async with dgtrio.open_agent(agent_settings(), **connect) as agent:
        start = trio.current_time()
        with pytest.raises(dgtrio.ServerStalled):
            await _stream_silence(agent, 30)
        # The ping at 2 s went unanswered: the first frame went out at once, and 4 s
        # later the socket was dropped.
        assert trio.current_time() - start == pytest.approx(4, abs=0.021)
