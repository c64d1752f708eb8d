"""Listen v1 over real loopback WebSockets against the fake server."""

from __future__ import annotations

import itertools
import math
import wave
from collections.abc import AsyncIterator

import pytest
import trio
import trio.testing
import trio_websocket

import dgtrio
from dgtrio import ConnectOptions
from dgtrio.audio import WavSource
from dgtrio.testing import FakeDeepgram, ListenScript

from .conftest import API_KEY, HELLO_WAV, SilentPeer, aiter_list, frames, pcm16, tls_pair

LINEAR16 = dgtrio.ListenV1Options(encoding="linear16", sample_rate=16000)


def _types(messages: list[object]) -> list[str]:
    return [type(m).__name__ for m in messages]


async def test_stream_then_close_stream_delivers_everything(
    fake: FakeDeepgram, connect: ConnectOptions
) -> None:
    audio = pcm16(6.0)
    options = dgtrio.ListenV1Options(
        encoding="linear16", sample_rate=16000, interim_results=True, punctuate=True
    )
    received: list[object] = []
    async with dgtrio.open_listen(options, **connect) as conn:
        for frame in frames(audio):
            await conn.send_audio(frame)
        await conn.close_stream()
        async for message in conn:
            received.append(message)
        request_id = conn.request_id
    session = fake.sessions[0]
    await session.wait_closed()
    # The server got every byte, in order, and CloseStream last.
    assert session.audio == audio
    assert session.messages == [{"type": "CloseStream"}]
    assert session.received[-1].data == '{"type":"CloseStream"}'
    assert session.query["encoding"] == ["linear16"]
    assert session.query["interim_results"] == ["true"]
    # The user saw interim and final results, then Metadata, then a normal end.
    results = [m for m in received if isinstance(m, dgtrio.ListenV1Results)]
    assert any(not r.is_final for r in results)
    finals = [r for r in results if r.is_final]
    assert finals[0].speech_final
    assert finals[0].transcript == "The quick brown fox jumps over the lazy dog."
    assert isinstance(received[-1], dgtrio.ListenV1Metadata)
    assert received[-1].duration == pytest.approx(6.0)
    assert request_id == session.request_id == received[-1].request_id
    # Finals tile the stream: each starts where the previous ended, the last at 6 s.
    assert finals[0].start == 0
    for before, after in itertools.pairwise(finals):
        assert after.start == pytest.approx(before.end)
    assert finals[-1].end == pytest.approx(6.0)


async def test_audio_source_is_pumped_and_ends_the_stream(
    fake: FakeDeepgram, connect: ConnectOptions
) -> None:
    source = WavSource(HELLO_WAV, speed=None)
    fmt = source.format
    options = dgtrio.ListenV1Options(
        encoding=fmt.encoding, sample_rate=fmt.sample_rate, channels=fmt.channels
    )
    async with dgtrio.open_listen(options, audio=source, **connect) as conn:
        messages = [m async for m in conn]
    assert isinstance(messages[-1], dgtrio.ListenV1Metadata)
    assert messages[-1].duration == pytest.approx(source.duration, abs=1e-3)
    session = fake.sessions[0]
    await session.wait_closed()
    with wave.open(str(HELLO_WAV)) as wav:
        assert session.audio == wav.readframes(wav.getnframes())
    # 20 ms frames; those queued behind each other went out joined, in order.
    audio = [f.data for f in session.received if not f.is_text]
    assert all(len(data) % 640 == 0 for data in audio[:-1])
    stats = conn.statistics()
    assert stats.audio_frames_sent == math.ceil(source.duration / 0.02)
    assert stats.audio_messages_sent == len(session.received) - 1
    assert session.received[-1].json() == {"type": "CloseStream"}


async def test_control_messages_keep_their_place_among_audio(
    fake: FakeDeepgram, connect: ConnectOptions
) -> None:
    async with dgtrio.open_listen(LINEAR16, **connect) as conn:
        await conn.send_audio(b"\x01\x00" * 160)
        await conn.finalize()
        await conn.send_audio(b"\x02\x00" * 160)
        await conn.keep_alive()
        await conn.send_audio(b"\x03\x00" * 160)
        await conn.finalize(channel=0)
        await conn.close_stream()
        async for _ in conn:
            pass
    session = fake.sessions[0]
    await session.wait_closed()
    sequence = [f.json()["type"] if f.is_text else f.data[:1] for f in session.received]
    assert sequence == [
        b"\x01",
        "Finalize",
        b"\x02",
        "KeepAlive",
        b"\x03",
        "Finalize",
        "CloseStream",
    ]
    assert session.received[5].json() == {"type": "Finalize", "channel": 0}


async def test_audio_is_validated_before_it_is_queued(
    fake: FakeDeepgram, connect: ConnectOptions
) -> None:
    stereo = dgtrio.ListenV1Options(encoding="linear16", sample_rate=16000, channels=2)
    async with dgtrio.open_listen(stereo, **connect) as conn:
        with pytest.raises(dgtrio.AudioFormatError, match="empty audio frame"):
            await conn.send_audio(b"")
        with pytest.raises(dgtrio.AudioFormatError, match="not a whole number of 4-byte"):
            await conn.send_audio(b"\x00" * 6)
        await conn.send_audio(bytearray(8))
        await conn.send_audio(memoryview(b"\x00" * 4))
        await conn.close_stream()
        with pytest.raises(trio.ClosedResourceError, match="no more audio"):
            await conn.send_audio(b"\x00" * 4)
        async for _ in conn:
            pass
    async with dgtrio.open_listen(**connect) as conn:  # containerized: any length goes
        await conn.send_audio(b"RIFF")
    assert fake.sessions[0].audio == b"\x00" * 12


async def test_finalize_and_wait_returns_the_from_finalize_results(
    fake: FakeDeepgram, connect: ConnectOptions
) -> None:
    async with dgtrio.open_listen(LINEAR16, **connect) as conn:
        for frame in frames(pcm16(1.0)):
            await conn.send_audio(frame)
        results = await conn.finalize_and_wait()
        assert len(results) == 1
        assert results[0].from_finalize and results[0].is_final
        assert results[0].transcript == "the quick brown"
        assert (results[0].start, results[0].duration) == (0, 1.0)
        # The same result also reached the iterator.
        assert await conn.receive() == results[0]


async def test_finalize_and_wait_gives_up_after_the_timeout(
    fake: FakeDeepgram, connect: ConnectOptions, autojump_clock: trio.testing.MockClock
) -> None:
    async with dgtrio.open_listen(LINEAR16, **connect) as conn:
        start = trio.current_time()
        assert await conn.finalize_and_wait(timeout=1.5) == []  # nothing buffered: no reply
        assert trio.current_time() - start == pytest.approx(1.5)


async def test_configure_success_and_failure(fake: FakeDeepgram) -> None:
    async with dgtrio.open_listen(base_url=fake.url, api_key=API_KEY) as conn:
        reply = await conn.configure(keyterms=["Deepgram", "dgtrio"], features={"numerals": True})
        assert reply.keyterms == ("Deepgram", "dgtrio")
        assert isinstance(await conn.receive(), dgtrio.ListenV1ConfigureSuccess)
    nova2 = dgtrio.ListenV1Options(model="nova-2")
    async with dgtrio.open_listen(nova2, base_url=fake.url, api_key=API_KEY) as conn:
        with pytest.raises(dgtrio.ConfigureFailed) as info:
            await conn.configure(keyterms=["x"])
        assert info.value.code == "CONFIGURE_KEYTERMS_NOT_SUPPORTED"
        assert isinstance(info.value.message, dgtrio.ListenV1ConfigureFailure)
    sent = [s.messages for s in fake.sessions]
    assert sent[0] == [
        {"type": "Configure", "keyterms": ["Deepgram", "dgtrio"], "features": {"numerals": True}}
    ]
    assert sent[1] == [{"type": "Configure", "keyterms": ["x"]}]


async def test_configure_times_out_with_an_explanation(
    silent_peer: SilentPeer, autojump_clock: trio.testing.MockClock
) -> None:
    async with dgtrio.open_listen(base_url=silent_peer.url) as conn:
        start = trio.current_time()
        with pytest.raises(
            dgtrio.AcknowledgementTimeout, match="no answer to Configure within 3 s"
        ):
            await conn.configure(keyterms=[], timeout=3)
        assert trio.current_time() - start == pytest.approx(3)
        assert isinstance(trio.current_time(), float)


async def test_acknowledgement_timeout_names_a_full_buffer(
    fake: FakeDeepgram, connect: ConnectOptions
) -> None:
    options = dgtrio.ListenV1Options(encoding="linear16", sample_rate=16000, interim_results=True)
    connect["max_buffered_messages"] = 1
    async with dgtrio.open_listen(options, **connect) as conn:
        for frame in frames(pcm16(4.0)):
            await conn.send_audio(frame)
        with pytest.raises(dgtrio.AcknowledgementTimeout, match="waiting for receive"):
            await conn.configure(keyterms=["a"], timeout=0.5)


async def test_keepalive_at_exact_times_when_nothing_is_sent(
    silent_peer: SilentPeer, autojump_clock: trio.testing.MockClock
) -> None:
    async with dgtrio.open_listen(base_url=silent_peer.url) as conn:
        opened = trio.current_time()
        await trio.sleep(16)
        assert conn.statistics().keepalives_sent == 3
    times = [t - opened for t, data in silent_peer.received if data == '{"type":"KeepAlive"}']
    assert times == [5.0, 10.0, 15.0]
    assert len(silent_peer.received) == 3


def _running(conn: dgtrio.ListenV1Connection, task_name: str) -> bool:
    """Whether the connection's nursery runs a task whose name ends so."""
    nursery = conn._engine._nursery
    assert nursery is not None
    return any(task.name.endswith(task_name) for task in nursery.child_tasks)


def _keepalive_running(conn: dgtrio.ListenV1Connection) -> bool:
    return _running(conn, "KeepAlive.run")


async def test_each_keepalive_is_a_task_of_its_connection_and_leaves_with_it(
    silent_peer: SilentPeer, autojump_clock: trio.testing.MockClock
) -> None:
    async with dgtrio.open_listen(base_url=silent_peer.url, keepalive_interval=3) as first:
        assert _keepalive_running(first)
        async with dgtrio.open_listen(base_url=silent_peer.url, keepalive_interval=2) as second:
            assert _keepalive_running(second)
            opened = trio.current_time()
            await trio.sleep(6.5)
            assert second.statistics().keepalives_sent == 3  # at 2, 4 and 6
    times = sorted(t - opened for t, data in silent_peer.received if "KeepAlive" in str(data))
    assert times == [2.0, 3.0, 4.0, 6.0, 6.0]


async def test_a_failing_keepalive_ends_its_own_connection_only(
    silent_peer: SilentPeer, autojump_clock: trio.testing.MockClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    from dgtrio._engine._drivers import KeepAlive

    fire = KeepAlive.fire

    def broken(self: KeepAlive, now: float) -> bool:
        if self._interval == 2:  # the second connection's only
            raise RuntimeError("a bug in the timer")
        return fire(self, now)

    monkeypatch.setattr(KeepAlive, "fire", broken)
    async with dgtrio.open_listen(base_url=silent_peer.url, keepalive_interval=3) as healthy:
        opened = trio.current_time()
        with pytest.raises(dgtrio.InternalError, match="keepalive") as failed:
            async with dgtrio.open_listen(base_url=silent_peer.url, keepalive_interval=2):
                await trio.sleep(10)
        assert trio.current_time() == opened + 2  # ended at its first keepalive
        assert isinstance(failed.value.__cause__, RuntimeError)
        await trio.sleep(5)  # the other goes on: keepalives at 3 and 6
        assert healthy.statistics().keepalives_sent == 2
        assert healthy.statistics().state == "open"


def _writer_running(conn: dgtrio.ListenV1Connection) -> bool:
    return _running(conn, "Writer.run")


async def test_the_writer_task_runs_only_while_there_is_something_to_write(
    silent_peer: SilentPeer, autojump_clock: trio.testing.MockClock
) -> None:
    async with dgtrio.open_listen(LINEAR16, base_url=silent_peer.url) as conn:
        opened = trio.current_time()
        await trio.sleep(1)
        assert not _writer_running(conn)  # nothing was ever queued
        for _ in range(3):  # a frame each second: the idle socket takes it at once
            await conn.send_audio(b"\x01\x00" * 160)
            assert not _writer_running(conn)  # written from this task
            await trio.sleep(1)
        await trio.sleep(5.5)  # the KeepAlive at 8 s was queued, the writer ran it ...
        assert conn.statistics().keepalives_sent == 1
        assert not _writer_running(conn)  # ... and ended, with nothing else to write
        await conn.send_audio(b"\x02\x00" * 160)
        await conn.close_stream()  # right behind a frame: queued, for the writer
        assert _writer_running(conn)
        await trio.sleep(1)
    sent = [(t - opened, data) for t, data in silent_peer.received]
    assert [data for _, data in sent] == [
        b"\x01\x00" * 160,
        b"\x01\x00" * 160,
        b"\x01\x00" * 160,
        '{"type":"KeepAlive"}',
        b"\x02\x00" * 160,
        '{"type":"CloseStream"}',
    ]
    assert [t for t, _ in sent] == [1.0, 2.0, 3.0, 8.0, 9.5, 9.5]


async def test_no_keepalive_while_audio_flows(
    silent_peer: SilentPeer, autojump_clock: trio.testing.MockClock
) -> None:
    async with dgtrio.open_listen(LINEAR16, base_url=silent_peer.url) as conn:
        opened = trio.current_time()
        for _ in range(12):  # 12 s of audio, a frame every second
            await conn.send_audio(b"\x00\x00" * 160)
            await trio.sleep(1)
        await trio.sleep(7)  # then silence: one KeepAlive 5 s after the last frame
    sent = [(t - opened, data) for t, data in silent_peer.received]
    keepalives = [t for t, data in sent if isinstance(data, str)]
    last_audio = max(t for t, data in sent if isinstance(data, bytes))
    assert last_audio == 11.0
    assert keepalives == [16.0]


async def test_keepalive_interval_is_configurable_and_can_be_disabled(
    silent_peer: SilentPeer, autojump_clock: trio.testing.MockClock
) -> None:
    async with dgtrio.open_listen(base_url=silent_peer.url, keepalive_interval=3):
        opened = trio.current_time()
        await trio.sleep(10)
    assert [t - opened for t, _ in silent_peer.received] == [3.0, 6.0, 9.0]
    async with dgtrio.open_listen(base_url=silent_peer.url, keepalive_interval=None) as conn:
        await trio.sleep(30)
        assert conn.statistics().keepalives_sent == 0
    assert len(silent_peer.received) == 3
    with pytest.raises(dgtrio.ConfigurationError, match="keepalive_interval must be a positive"):
        async with dgtrio.open_listen(base_url=silent_peer.url, keepalive_interval=0):
            pass


async def test_idle_close_becomes_idle_timeout(
    fake: FakeDeepgram, connect: ConnectOptions, autojump_clock: trio.testing.MockClock
) -> None:
    async with dgtrio.open_listen(LINEAR16, keepalive_interval=None, **connect) as conn:
        opened = trio.current_time()
        await conn.send_audio(b"\x00\x00" * 160)
        with pytest.raises(dgtrio.IdleTimeout) as info:
            async for _ in conn:
                pass
        assert trio.current_time() - opened == pytest.approx(10.0)
        assert (info.value.code, info.value.reason) == (1011, "NET-0001")
        assert info.value.request_id == conn.request_id
        # A later send raises the same error.
        with pytest.raises(dgtrio.IdleTimeout):
            await conn.send_audio(b"\x00\x00")
        assert conn.statistics().state == "closed"


async def test_keepalive_holds_an_idle_stream_open(
    fake: FakeDeepgram, connect: ConnectOptions, autojump_clock: trio.testing.MockClock
) -> None:
    async with dgtrio.open_listen(LINEAR16, **connect) as conn:
        await trio.sleep(58)  # far past the server's 10 s idle limit
        assert conn.statistics().state == "open"
        await conn.close_stream()
        assert [type(m) async for m in conn] == [dgtrio.ListenV1Metadata]
    session = fake.sessions[0]
    assert [m["type"] for m in session.messages] == ["KeepAlive"] * 11 + ["CloseStream"]


async def test_undecodable_audio_becomes_audio_decode_error(
    fake: FakeDeepgram, connect: ConnectOptions
) -> None:
    async with dgtrio.open_listen(**connect) as conn:  # no encoding: a container is expected
        await conn.send_audio(b"this is not audio at all")
        with pytest.raises(dgtrio.AudioDecodeError) as info:
            await conn.receive()
    assert (info.value.code, info.value.reason) == (1008, "DATA-0000")
    assert "check encoding, sample_rate and channels" in str(info.value)


@pytest.mark.parametrize(
    ("code", "reason", "error"),
    [
        (1011, "NET-0000", dgtrio.ServerTimeout),
        (1002, "DATA-0000", dgtrio.AudioDecodeError),  # the older code, same reason
        (1011, "NET-0001", dgtrio.IdleTimeout),
        (1011, "NET-0003", dgtrio.ServerFailure),
        (1003, "MESSAGE-0000", dgtrio.MessageRejected),
        (1009, "BIG-0001", dgtrio.MessageTooLarge),
        (4000, "SOMETHING-NEW", dgtrio.ConnectionClosed),
        (1001, "", dgtrio.ConnectionClosed),
    ],
)
async def test_abnormal_closes_are_typed_by_reason(
    fake: FakeDeepgram,
    connect: ConnectOptions,
    code: int,
    reason: str,
    error: type[dgtrio.ConnectionClosed],
) -> None:
    async with dgtrio.open_listen(LINEAR16, **connect) as conn:
        for frame in frames(pcm16(3.5)):
            await conn.send_audio(frame)
        session = (await fake.wait_for_sessions())[0]
        await trio.testing.wait_all_tasks_blocked()  # the fake has sent its first final
        assert len(session.sent) == 1
        await session.close(code, reason)
        received: list[object] = []
        with pytest.raises(error) as info:
            async for message in conn:
                received.append(message)
        assert type(info.value) is error
        assert (info.value.code, info.value.reason) == (code, reason)
        # Everything that arrived before the close was delivered first.
        assert _types(received) == ["ListenV1Results"]
        assert received[0].is_final  # type: ignore[attr-defined]
        with pytest.raises(error):
            await conn.close_stream()


async def test_abrupt_disconnect_is_connection_lost(
    fake: FakeDeepgram, connect: ConnectOptions
) -> None:
    async with dgtrio.open_listen(LINEAR16, **connect) as conn:
        session = (await fake.wait_for_sessions())[0]
        await session.abort()
        with pytest.raises(dgtrio.ConnectionLost) as info:
            await conn.receive()
        assert info.value.code == 1006
        with pytest.raises(dgtrio.ConnectionLost):
            await conn.send_audio(b"\x00\x00" * 160)


async def test_server_close_1000_ends_iteration_normally(
    fake: FakeDeepgram, connect: ConnectOptions
) -> None:
    async with dgtrio.open_listen(**connect) as conn:
        session = (await fake.wait_for_sessions())[0]
        await session.send_json({"type": "SpeechStarted", "channel": [0, 1], "timestamp": 1.0})
        await session.close(1000)
        assert _types([m async for m in conn]) == ["ListenV1SpeechStarted"]
        with pytest.raises(dgtrio.ConnectionClosed) as info:
            await conn.send_audio(b"x")
        assert info.value.code == 1000


async def test_buffered_messages_are_taken_in_runs_that_yield_and_cancel(
    fake: FakeDeepgram, connect: ConnectOptions
) -> None:
    """receive() takes buffered messages without a pass through the scheduler, but
    yields after every 16, and is a cancellation point each time."""
    async with dgtrio.open_listen(**connect) as conn:
        session = (await fake.wait_for_sessions())[0]
        for index in range(40):
            await session.send_json({"type": "Custom", "n": index})
        while conn.statistics().buffered_messages < 40:  # noqa: ASYNC110
            await trio.sleep(0.01)
        with trio.CancelScope() as scope:
            scope.cancel()
            await conn.receive()  # buffered, but cancelled: nothing is taken
        assert conn.statistics().buffered_messages == 40
        steps = _TaskSteps(trio.lowlevel.current_task())
        trio.lowlevel.add_instrument(steps)
        try:
            taken = [await conn.receive() for _ in range(40)]
        finally:
            trio.lowlevel.remove_instrument(steps)
    assert [m.raw["n"] for m in taken] == list(range(40))
    # Two passes through the scheduler: before the 17th and the 33rd message.
    assert steps.count == 2


class _TaskSteps(trio.abc.Instrument):
    """Counts the steps of one task: each is a return from a pass through the
    scheduler."""

    def __init__(self, task: trio.lowlevel.Task) -> None:
        self.task, self.count = task, 0

    def before_task_step(self, task: trio.lowlevel.Task) -> None:
        if task is self.task:
            self.count += 1


async def test_bad_frames_raise_in_place_and_the_stream_goes_on(
    fake: FakeDeepgram, connect: ConnectOptions
) -> None:
    async with dgtrio.open_listen(**connect) as conn:
        session = (await fake.wait_for_sessions())[0]
        await session.send_text("{oops")
        await session.send_json({"type": "Brand new", "data": 1})
        await session.send_json({"type": "UtteranceEnd", "channel": [0, 1], "last_word_end": 1.5})
        with pytest.raises(dgtrio.MessageDecodeError) as info:
            async for _ in conn:
                pass
        assert info.value.frame == "{oops"
        unknown = await conn.receive()
        assert unknown == dgtrio.UnknownMessage("Brand new", {"type": "Brand new", "data": 1})
        utterance_end = await conn.receive()
        assert isinstance(utterance_end, dgtrio.ListenV1UtteranceEnd)
        assert utterance_end.last_word_end == 1.5
        assert conn.statistics().decode_errors == 1


async def test_the_fake_answers_unparseable_client_text_with_schema_error(
    fake: FakeDeepgram, connect: ConnectOptions
) -> None:
    async with dgtrio.open_listen(**connect) as conn:
        await conn._engine.send("definitely not json")
        error = await conn.receive()
        assert isinstance(error, dgtrio.ListenV1Error)
        assert (error.variant, error.message) == ("SchemaError", "definitely not json")
        assert conn.statistics().state == "open"


async def test_user_exception_comes_out_plain_and_the_server_sees_1000(
    fake: FakeDeepgram, connect: ConnectOptions
) -> None:
    with pytest.raises(ValueError, match="mine") as info:
        async with dgtrio.open_listen(**connect):
            raise ValueError("mine")
    assert not isinstance(info.value, BaseExceptionGroup)
    assert info.value.__context__ is None
    session = fake.sessions[0]
    await session.wait_closed()
    assert session.client_close == (1000, "")


async def test_cancelling_the_block_closes_with_1000(
    fake: FakeDeepgram, connect: ConnectOptions
) -> None:
    patient: ConnectOptions = {**connect, "close_timeout": 10.0}
    start = trio.current_time()
    with trio.move_on_after(0.5) as scope:
        async with dgtrio.open_listen(LINEAR16, **patient) as conn:
            await conn.send_audio(pcm16(0.1))
            async for _ in conn:  # blocks: no results for 0.1 s of audio
                pass
    assert scope.cancelled_caught
    # The close handshake ran (in moments, however busy the machine): no close_timeout wait.
    assert trio.current_time() - start < 0.5 + 5
    session = fake.sessions[0]
    await session.wait_closed()
    assert session.client_close == (1000, "")
    assert session.audio == pcm16(0.1)


async def test_a_normal_exit_sends_what_was_queued(
    fake: FakeDeepgram, connect: ConnectOptions
) -> None:
    audio = pcm16(1.0)
    connect["max_queued_frames"] = 64
    async with dgtrio.open_listen(LINEAR16, **connect) as conn:
        for frame in frames(audio):
            await conn.send_audio(frame)
        await conn.close_stream()
    session = fake.sessions[0]
    await session.wait_closed()
    assert session.audio == audio
    assert session.messages == [{"type": "CloseStream"}]
    stats = conn.statistics()
    assert (stats.frames_unsent, stats.audio_frames_sent) == (0, 50)
    # The writer joined what it found queued: fewer messages than frames.
    assert stats.audio_messages_sent < 50


async def test_an_error_exit_counts_every_frame_as_sent_or_unsent(
    silent_peer: SilentPeer,
) -> None:
    with pytest.raises(KeyError):
        async with dgtrio.open_listen(
            LINEAR16, base_url=silent_peer.url, max_queued_frames=64
        ) as conn:
            for frame in frames(pcm16(1.0)):
                await conn.send_audio(frame)
            raise KeyError("stop")
    await silent_peer.closed.wait()
    sent = sum(len(data) for _, data in silent_peer.received) // 640
    assert sent + conn.statistics().frames_unsent == 50
    assert silent_peer.close == (1000, None)


async def test_sends_after_the_block_raise_closed_resource(
    fake: FakeDeepgram, connect: ConnectOptions
) -> None:
    async with dgtrio.open_listen(**connect) as conn:
        pass
    with pytest.raises(trio.ClosedResourceError):
        await conn.send_audio(b"x")
    async with dgtrio.open_listen(**connect) as conn:
        await conn.aclose()
        await conn.aclose()  # idempotent
        with pytest.raises(trio.ClosedResourceError):
            await conn.receive()
        with pytest.raises(trio.ClosedResourceError):
            await conn.keep_alive()
    with pytest.raises(trio.ClosedResourceError):
        await conn.keep_alive()
    assert fake.sessions[1].client_close == (1000, "")


async def test_a_failing_audio_source_raises_its_own_error(
    fake: FakeDeepgram, connect: ConnectOptions
) -> None:
    async def broken() -> AsyncIterator[bytes]:
        yield b"\x00\x00"
        raise OSError("device unplugged")

    with pytest.raises(OSError, match="device unplugged"):
        async with dgtrio.open_listen(LINEAR16, audio=broken(), **connect) as conn:
            async for _ in conn:
                pass


async def test_statistics_and_repr(fake: FakeDeepgram, connect: ConnectOptions) -> None:
    async with dgtrio.open_listen(
        LINEAR16, audio=aiter_list(frames(pcm16(2.0))), **connect
    ) as conn:
        async for _ in conn:
            pass
        stats = conn.statistics()
        text = repr(conn)
    assert stats.audio_frames_sent == 100
    assert stats.audio_bytes_sent == 64000
    assert stats.control_messages_sent == 1  # CloseStream
    assert stats.messages_received == 2  # a final and Metadata
    assert stats.frames_unsent == 0
    assert stats.state == "closed"
    assert text.startswith("<ListenV1Connection closed request_id=")
    assert conn.request_id is not None and conn.request_id in text
    assert "100 audio frames (64000 B)" in text


async def test_concurrent_sender_and_receiver(fake: FakeDeepgram, connect: ConnectOptions) -> None:
    options = dgtrio.ListenV1Options(encoding="linear16", sample_rate=16000, interim_results=True)
    connect["max_queued_frames"] = connect["max_buffered_messages"] = 1
    async with dgtrio.open_listen(options, **connect) as conn:

        async def sender() -> None:
            for frame in frames(pcm16(5.0)):
                await conn.send_audio(frame)
            await conn.close_stream()

        async with trio.open_nursery() as nursery:
            nursery.start_soon(sender)
            messages = [m async for m in conn]
    assert isinstance(messages[-1], dgtrio.ListenV1Metadata)
    assert messages[-1].duration == pytest.approx(5.0)
    session = fake.sessions[0]
    assert session.sent[-1].json()["type"] == "Metadata"


# -- regressions ---------------------------------------------------------------------------


async def test_close_stream_while_a_live_source_runs(
    fake: FakeDeepgram, connect: ConnectOptions
) -> None:
    async def microphone() -> AsyncIterator[bytes]:
        while True:  # a live source never ends by itself
            yield pcm16(0.02)
            await trio.sleep(0.001)

    async with dgtrio.open_listen(LINEAR16, audio=microphone(), **connect) as conn:
        await trio.sleep(0.2)
        await conn.close_stream()
        messages = [m async for m in conn]
    assert isinstance(messages[-1], dgtrio.ListenV1Metadata)
    session = fake.sessions[0]
    await session.wait_closed()
    assert session.received[-1].json() == {"type": "CloseStream"}  # no audio behind it
    assert messages[-1].duration == pytest.approx(len(session.audio) / 32000)


async def test_the_users_own_exception_groups_pass_through(
    fake: FakeDeepgram, connect: ConnectOptions
) -> None:
    mine = ExceptionGroup("mine", [ValueError("a")])
    with pytest.raises(ExceptionGroup) as info:
        async with dgtrio.open_listen(**connect):
            raise mine
    assert info.value is mine

    async def fail(exc: Exception) -> None:
        raise exc

    with pytest.raises(ExceptionGroup) as info:
        async with dgtrio.open_listen(**connect), trio.open_nursery() as nursery:
            nursery.start_soon(fail, ValueError("a"))
            nursery.start_soon(fail, KeyError("b"))
    assert {type(e) for e in info.value.exceptions} == {ValueError, KeyError}


@pytest.mark.parametrize("tls", [False, True])
async def test_cancel_during_a_blocked_write_still_closes_1000(
    nursery: trio.Nursery, tls: bool
) -> None:
    server_tls, client_tls = tls_pair()
    closed: list[tuple[int, str | None] | None] = []
    done = trio.Event()

    async def slow_reader(request: trio_websocket.WebSocketRequest) -> None:
        ws = await request.accept()
        await trio.sleep(1.0)  # congested: the client's writes block meanwhile
        while True:
            try:
                await ws.get_message()
            except trio_websocket.ConnectionClosed as exc:
                closed.append(None if exc.reason is None else (exc.reason.code, exc.reason.reason))
                done.set()
                return

    server = await nursery.start(
        trio_websocket.serve_websocket,
        slow_reader,
        "127.0.0.1",
        0,
        server_tls if tls else None,
    )
    url = f"{'wss' if tls else 'ws'}://127.0.0.1:{server.port}"
    start = trio.current_time()
    with trio.move_on_after(0.3):
        async with dgtrio.open_listen(
            LINEAR16, base_url=url, ssl_context=client_tls, close_timeout=10
        ) as conn:
            while True:
                await conn.send_audio(b"\x00" * 8000)
    # The in-flight frame, then the close, once the reader wakes after 1 s: no
    # close_timeout wait (that would end at 10.3 s).
    assert trio.current_time() - start < 10
    with trio.fail_after(5):
        await done.wait()
    assert closed == [(1000, None)]
    stats = conn.statistics()
    assert stats.frames_unsent > 0


async def test_a_stalled_write_is_given_up_as_connection_lost(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    async def never_read(request: trio_websocket.WebSocketRequest) -> None:
        await request.accept()
        await trio.sleep_forever()

    server = await nursery.start(trio_websocket.serve_websocket, never_read, "127.0.0.1", 0, None)
    async with dgtrio.open_listen(
        LINEAR16, base_url=f"ws://127.0.0.1:{server.port}", close_timeout=2
    ) as conn:
        with pytest.raises(dgtrio.ConnectionLost):
            while True:  # until the socket buffers are full and a write stalls
                await conn.send_audio(b"\x00" * 64000)
        with pytest.raises(dgtrio.ConnectionLost):
            await conn.receive()


async def test_finalize_and_wait_for_one_channel(
    fake: FakeDeepgram, connect: ConnectOptions
) -> None:
    options = dgtrio.ListenV1Options(
        encoding="linear16", sample_rate=16000, channels=2, multichannel=True
    )
    async with dgtrio.open_listen(options, **connect) as conn:
        await conn.send_audio(bytes(64000))  # 1 s of stereo
        one = await conn.finalize_and_wait(channel=1)
        both = await conn.finalize_and_wait(timeout=0.5)  # channel 0 still holds its second
        assert [r.channel_index for r in one] == [(1, 2)]
        assert [r.channel_index for r in both] == [(0, 2)]
        assert both[0].transcript == one[0].transcript == "the quick brown"
        await conn.send_audio(bytes(32000))
        both = await conn.finalize_and_wait(timeout=5)
        assert sorted(r.channel_index for r in both) == [(0, 2), (1, 2)]


async def test_manual_keepalives_are_not_counted_as_the_timers(
    fake: FakeDeepgram, connect: ConnectOptions
) -> None:
    async with dgtrio.open_listen(keepalive_interval=None, **connect) as conn:
        await conn.keep_alive()
        await conn.keep_alive()
    stats = conn.statistics()
    assert (stats.keepalives_sent, stats.control_messages_sent) == (0, 2)


async def test_utterances_over_a_stream(fake: FakeDeepgram, connect: ConnectOptions) -> None:
    options = dgtrio.ListenV1Options(
        encoding="linear16", sample_rate=16000, interim_results=True, punctuate=True
    )
    source = WavSource(HELLO_WAV, speed=None)
    async with dgtrio.open_listen(options, audio=source, **connect) as conn:
        utterances = [u async for u in conn.utterances()]
    # The fake hears its script, 0.3 s a word and 1.2 s between sentences, and the
    # stream ends (CloseStream) in the middle of the third sentence.
    sentence = "The quick brown fox jumps over the lazy dog."
    assert [(u.transcript, u.ended_by) for u in utterances] == [
        (sentence, "speech_final"),
        (sentence, "speech_final"),
        ("The quick brown", "end_of_stream"),
    ]
    first = utterances[0]
    assert [w.punctuated_word for w in first.words] == sentence.split()
    assert first.start == 0.0 and first.words[0].start == pytest.approx(0.3)
    assert len(first.segments) == 1 and first.end == first.segments[0].end
    assert utterances[1].words[0].start == pytest.approx(ListenScript().cycle + 0.3)
    assert all(a.end <= b.start for a, b in itertools.pairwise(utterances))
