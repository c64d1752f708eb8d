"""Reconnect: a lost socket is replaced, the unacknowledged audio replayed, the
timeline kept whole, and every byte accounted for, at exact virtual times."""

from __future__ import annotations

import itertools
import logging
import random
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any

import attrs
import pytest
import trio
import trio.testing
from hypothesis import given
from hypothesis import strategies as st

import dgtrio
from dgtrio._reconnect import ReplayBuffer, retryable
from dgtrio.listen._timeline import shift_v1, shift_v2
from dgtrio.testing import FakeDeepgram, FakeSession, Fault

from .conftest import API_KEY, collect, frames, pcm16

LINEAR16 = dgtrio.ListenV1Options(encoding="linear16", sample_rate=16000)
BYTES_PER_SECOND = 32000
# No jitter: every wait is exact.
POLICY = dgtrio.ReconnectPolicy(jitter=0)


async def live(audio: bytes, sent_at: list[float] | None = None) -> AsyncIterator[bytes]:
    """``audio`` in 20 ms frames at real-time pace, noting when each was taken."""
    for frame in frames(audio):
        if sent_at is not None:
            sent_at.append(trio.current_time())
        yield frame
        await trio.sleep(0.02)


def finals(messages: Sequence[object]) -> list[dgtrio.ListenV1Results]:
    return [m for m in messages if isinstance(m, dgtrio.ListenV1Results) and m.is_final]


def events(messages: Sequence[object]) -> list[object]:
    return [m for m in messages if isinstance(m, dgtrio.Reconnecting | dgtrio.Reconnected)]


def position(seconds: float) -> int:
    return round(seconds * 16000) * 2


# -- Listen v1 -----------------------------------------------------------------------------


async def test_a_lost_socket_is_replaced_and_the_stream_reads_as_one(
    fake: FakeDeepgram, connect: dgtrio.ConnectOptions, autojump_clock: trio.testing.MockClock
) -> None:
    audio = pcm16(12.0)
    sent_at: list[float] = []
    fake.fault_next(Fault("abort", at=5.0))
    policy = attrs.evolve(POLICY, initial_backoff=2.0)
    async with dgtrio.open_listen(
        LINEAR16, audio=live(audio, sent_at), reconnect=policy, **connect
    ) as conn:
        messages = await collect(conn)
    first, second = fake.sessions
    # What the user saw: the results before the loss, the two events, the rest.
    lost, back = events(messages)
    lost_at = messages.index(lost)
    assert messages[lost_at + 1] is back
    before = finals(messages[:lost_at])
    resume = position(before[-1].start + before[-1].duration)
    assert isinstance(lost, dgtrio.Reconnecting) and (lost.attempt, lost.delay) == (1, 2.0)
    assert type(lost.error) is dgtrio.ConnectionLost and lost.error.code == 1006
    assert isinstance(back, dgtrio.Reconnected)
    assert (back.attempt, back.request_id, back.lost) == (1, second.request_id, 0.0)
    assert back.outage == 2.0
    # What the old socket had not had acknowledged, and most of what the source gave
    # while there was no socket (the rest waits in the queue, behind the replay).
    assert back.replay > 6.5 - resume / BYTES_PER_SECOND
    # One timeline: each final starts where the last ended, words in order, and the
    # metadata counts the whole stream.
    spans = [(m.start, round(m.start + m.duration, 6)) for m in finals(messages)]
    assert spans[0][0] == 0.0 and spans[-1][1] == 12.0
    assert all(a[1] == b[0] for a, b in itertools.pairwise(spans))
    words = [w.start for m in finals(messages) for w in m.words]
    assert words == sorted(words) and len(set(words)) == len(words)
    metadata = messages[-1]
    assert isinstance(metadata, dgtrio.ListenV1Metadata)
    assert metadata.duration == 12.0 and metadata.request_id == second.request_id
    # What the servers received: the second exactly the audio after the last final
    # the first sent, paced at 4x real time in 100 ms pieces, then CloseStream.
    assert second.audio == audio[resume:]
    began = second.received[0].time
    replayed = [f.time - began for f in second.received if isinstance(f.data, bytes)][:5]
    assert replayed == pytest.approx([0, 0.025, 0.05, 0.075, 0.1])
    assert second.messages == [{"type": "CloseStream"}]
    # The source never waited for the outage: a frame each 20 ms throughout.
    gaps = [b - a for a, b in itertools.pairwise(sent_at)]
    assert max(gaps) == pytest.approx(0.02)
    stats = conn.statistics()
    assert stats.reconnects == 1 and conn.request_id == second.request_id
    assert stats.audio_bytes_acknowledged == len(audio)
    assert stats.audio_bytes_lost == stats.audio_bytes_pending == stats.frames_unsent == 0
    # Every byte was taken once and written to one socket, or to both.
    assert stats.audio_bytes_sent == len(audio)
    # Written again: what the first server got after the last final, and what the
    # loss swallowed on its way there.
    assert stats.audio_bytes_replayed >= len(first.audio) - resume > 0
    assert len(first.audio) + len(second.audio) <= len(audio) + stats.audio_bytes_replayed


async def test_retries_back_off_and_honour_retry_after(
    fake: FakeDeepgram, connect: dgtrio.ConnectOptions, autojump_clock: trio.testing.MockClock
) -> None:
    fake.fault_next(Fault("abort", at=1.0))
    async with dgtrio.open_listen(LINEAR16, reconnect=POLICY, **connect) as conn:
        fake.reject_next(503)
        fake.reject_next(429, retry_after=3)
        fake.reject_next(500)
        seen: list[object] = []
        async with trio.open_nursery() as nursery:
            nursery.start_soon(collect, conn, seen)
            for frame in frames(pcm16(10.0)):
                await conn.send_audio(frame)
                await trio.sleep(0.02)
            await conn.close_stream()
    attempts = [m for m in seen if isinstance(m, dgtrio.Reconnecting)]
    # 0.5, 1, then 2 raised to the 3 s the server asked for, then 4.
    assert [(m.attempt, m.delay) for m in attempts] == [(1, 0.5), (2, 1.0), (3, 3.0), (4, 4.0)]
    assert isinstance(attempts[0].error, dgtrio.ConnectionLost)
    assert [type(m.error) for m in attempts[1:]] == [
        dgtrio.HandshakeRejected,
        dgtrio.RateLimited,
        dgtrio.HandshakeRejected,
    ]
    (reconnected,) = [m for m in seen if isinstance(m, dgtrio.Reconnected)]
    assert reconnected.attempt == 4 and reconnected.outage == 8.5
    assert isinstance(seen[-1], dgtrio.ListenV1Metadata) and seen[-1].duration == 10.0
    assert conn.statistics().audio_bytes_acknowledged == position(10.0)


async def test_a_refusal_for_good_ends_the_stream_with_reconnect_failed(
    fake: FakeDeepgram,
    connect: dgtrio.ConnectOptions,
    caplog: pytest.LogCaptureFixture,
    autojump_clock: trio.testing.MockClock,
) -> None:
    caplog.set_level(logging.DEBUG)
    fake.fault_next(Fault("abort", at=1.0))
    seen: list[object] = []
    start = trio.current_time()
    async with dgtrio.open_listen(LINEAR16, reconnect=POLICY, **connect) as conn:
        fake.api_key = "revoked"  # the next handshake answers 401
        with pytest.raises(dgtrio.ReconnectFailed):
            for frame in frames(pcm16(5.0)):
                await conn.send_audio(frame)
                await trio.sleep(0.02)
        failed_at = trio.current_time() - start
        with pytest.raises(dgtrio.ReconnectFailed) as info:
            await collect(conn, seen)
    failed = info.value
    assert isinstance(failed, dgtrio.ConnectionClosed) and failed.code == 1006
    assert failed.attempts == 1 and isinstance(failed.last_error, dgtrio.AuthenticationFailed)
    assert failed.__cause__ is failed.last_error
    assert "1 attempts, the last: HTTP 401" in str(failed)
    assert failed_at == pytest.approx(1.0 + 0.5)  # the loss, one backoff
    assert len(fake.sessions) == 1
    # No final came before the loss: all the audio taken is reported lost.
    stats = conn.statistics()
    assert stats.audio_bytes_lost == stats.audio_bytes_sent > position(1.0)
    assert stats.audio_bytes_acknowledged == 0
    for text in [str(failed), repr(failed), *(r.getMessage() for r in caplog.records)]:
        assert API_KEY not in text


async def test_the_first_connection_is_retried_too(
    fake: FakeDeepgram, connect: dgtrio.ConnectOptions, autojump_clock: trio.testing.MockClock
) -> None:
    fake.reject_next(503)
    fake.reject_next(429, retry_after=2)
    start = trio.current_time()
    async with dgtrio.open_listen(LINEAR16, reconnect=POLICY, **connect) as conn:
        assert trio.current_time() - start == 0.5 + 2.0  # a backoff, then Retry-After
        await conn.close_stream()
        assert [type(m) for m in await collect(conn)] == [dgtrio.ListenV1Metadata]
    # What a new socket would repeat is raised at once; so is the last of too many.
    fake.reject_next(403)
    with pytest.raises(dgtrio.PermissionDenied):
        async with dgtrio.open_listen(LINEAR16, reconnect=POLICY, **connect):
            pass  # pragma: no cover
    # The first dial and max_attempts (5) more, like any failure's.
    fake.reject_next(500, count=6)
    start = trio.current_time()
    with pytest.raises(dgtrio.HandshakeRejected, match="HTTP 500"):
        async with dgtrio.open_listen(LINEAR16, reconnect=POLICY, **connect):
            pass  # pragma: no cover
    assert trio.current_time() - start == 0.5 + 1 + 2 + 4 + 8
    assert len(fake.sessions) == 1


async def test_attempts_run_out(
    fake: FakeDeepgram, connect: dgtrio.ConnectOptions, autojump_clock: trio.testing.MockClock
) -> None:
    fake.fault_next(Fault("abort", at=1.0))
    policy = attrs.evolve(POLICY, max_attempts=3, initial_backoff=1.0, max_backoff=1.5)
    start = trio.current_time()
    async with dgtrio.open_listen(LINEAR16, reconnect=policy, **connect) as conn:
        fake.reject_next(502, count=10)
        await conn.send_audio(bytes(640))
        seen: list[object] = []
        with pytest.raises(dgtrio.ReconnectFailed, match="3 attempts, the last: HTTP 502"):
            await collect(conn, seen)
    assert [m.delay for m in seen if isinstance(m, dgtrio.Reconnecting)] == [1.0, 1.5, 1.5]
    assert trio.current_time() - start == 1.0 + 4.0


@pytest.mark.parametrize(
    ("drop_after", "outcome"), [(0.5, [1, 2, 3, "failed", "closed"]), (11.0, [1, 1, "open"])]
)
async def test_only_a_socket_that_lived_stable_after_earns_fresh_attempts(
    connect: dgtrio.ConnectOptions,
    nursery: trio.Nursery,
    drop_after: float,
    outcome: list[object],
    autojump_clock: trio.testing.MockClock,
) -> None:
    # Every session drops drop_after s after it opens. Within stable_after (10 s),
    # attempts add up across sockets and the stream ends after max_attempts; past
    # it, each loss starts over at attempt 1 (and after 30 s the stream is open).
    fake = FakeDeepgram(api_key=API_KEY, faults=[Fault("abort", at=drop_after)])
    await nursery.start(fake.serve)
    connect["base_url"] = fake.url
    policy = attrs.evolve(POLICY, max_attempts=3, initial_backoff=0.1, multiplier=1.0)
    seen: list[object] = []
    async with dgtrio.open_listen(LINEAR16, reconnect=policy, **connect) as conn:
        with trio.move_on_after(30):
            try:
                await collect(conn, seen)
            except dgtrio.ReconnectFailed:
                seen.append("failed")
        seen.append(conn.statistics().state)
    attempts = [m.attempt if isinstance(m, dgtrio.Reconnecting) else m for m in seen]
    assert [a for a in attempts if isinstance(a, int | str)] == outcome
    retries = [a for a in outcome if isinstance(a, int)]
    assert len(fake.sessions) == 1 + len(retries)  # the first, and one per attempt


@pytest.mark.parametrize(
    ("code", "reason", "error"),
    [
        (1008, "DATA-0000", dgtrio.AudioDecodeError),
        (1011, "NET-0001", dgtrio.IdleTimeout),
        (1003, "MESSAGE-0000", dgtrio.MessageRejected),
        (4000, "", dgtrio.ConnectionClosed),
    ],
)
async def test_failures_a_new_socket_would_repeat_are_not_retried(
    fake: FakeDeepgram,
    connect: dgtrio.ConnectOptions,
    code: int,
    reason: str,
    error: type[dgtrio.ConnectionClosed],
    autojump_clock: trio.testing.MockClock,
) -> None:
    fake.fault_next(Fault("close", at=1.0, code=code, reason=reason))
    async with dgtrio.open_listen(LINEAR16, reconnect=POLICY, **connect) as conn:
        await conn.send_audio(bytes(640))
        seen: list[object] = []
        with pytest.raises(error) as info:
            await collect(conn, seen)
    assert type(info.value) is error and not events(seen)
    assert len(fake.sessions) == 1 and conn.statistics().reconnects == 0


@pytest.mark.parametrize(("code", "reason"), [(1011, "NET-0000"), (1011, "NET-0003"), (1012, "")])
async def test_server_failures_are_retried(
    fake: FakeDeepgram,
    connect: dgtrio.ConnectOptions,
    code: int,
    reason: str,
    autojump_clock: trio.testing.MockClock,
) -> None:
    fake.fault_next(Fault("close", at=1.0, code=code, reason=reason))
    async with dgtrio.open_listen(
        LINEAR16, audio=live(pcm16(3.0)), reconnect=POLICY, **connect
    ) as conn:
        seen = await collect(conn)
    lost = events(seen)[0]
    assert isinstance(lost, dgtrio.Reconnecting) and lost.error.code == code  # type: ignore[attr-defined]
    assert isinstance(seen[-1], dgtrio.ListenV1Metadata) and seen[-1].duration == 3.0


async def test_a_loss_after_close_stream_replays_and_ends_the_stream_again(
    fake: FakeDeepgram, connect: dgtrio.ConnectOptions, autojump_clock: trio.testing.MockClock
) -> None:
    # The first server holds every message 5 s, and drops the socket after the
    # CloseStream but before any answer: all of the audio goes again.
    audio = pcm16(4.0)
    fake.fault_next(Fault("delay", seconds=5.0), Fault("abort", at=4.5))
    async with dgtrio.open_listen(LINEAR16, audio=live(audio), reconnect=POLICY, **connect) as conn:
        seen = await collect(conn)
    first, second = fake.sessions
    assert first.messages == [{"type": "CloseStream"}]
    assert second.audio == audio and second.messages == [{"type": "CloseStream"}]
    reconnected = events(seen)[1]
    assert isinstance(reconnected, dgtrio.Reconnected) and reconnected.replay == 4.0
    assert isinstance(seen[-1], dgtrio.ListenV1Metadata) and seen[-1].duration == 4.0
    assert finals(seen)[0].start == 0.0
    assert conn.statistics().audio_bytes_acknowledged == len(audio)


async def test_a_loss_between_the_last_results_and_the_metadata_still_ends_with_it(
    fake: FakeDeepgram,
    connect: dgtrio.ConnectOptions,
    autojump_clock: trio.testing.MockClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The first server answers the CloseStream with finals for all of the audio, then
    # drops the socket instead of sending the metadata: nothing is left to replay,
    # but a new socket is asked to end the stream, and its metadata ends it.
    send_json = FakeSession.send_json

    async def drop_the_metadata(session: FakeSession, message: Mapping[str, Any]) -> None:
        if message.get("type") == "Metadata" and session is fake.sessions[0]:
            await session.abort()
        else:
            await send_json(session, message)

    monkeypatch.setattr(FakeSession, "send_json", drop_the_metadata)
    audio = pcm16(2.98)  # the fake's first utterance is final at 2.98 s
    async with dgtrio.open_listen(LINEAR16, audio=live(audio), reconnect=POLICY, **connect) as conn:
        seen = await collect(conn)
    first, second = fake.sessions
    assert first.audio == audio and first.messages == [{"type": "CloseStream"}]
    assert second.audio == b"" and second.messages == [{"type": "CloseStream"}]
    last_final = finals(seen)[-1]
    assert round(last_final.start + last_final.duration, 6) == 2.98
    reconnected = events(seen)[1]
    assert isinstance(reconnected, dgtrio.Reconnected)
    assert (reconnected.replay, reconnected.lost) == (0.0, 0.0)
    metadata = seen[-1]
    assert isinstance(metadata, dgtrio.ListenV1Metadata)
    assert metadata.duration == 2.98 and metadata.request_id == second.request_id
    stats = conn.statistics()
    assert stats.reconnects == 1 and stats.audio_bytes_acknowledged == len(audio)


async def test_a_socket_lost_while_the_writer_rests_is_replayed_to(
    fake: FakeDeepgram, connect: dgtrio.ConnectOptions, autojump_clock: trio.testing.MockClock
) -> None:
    # One second of audio, never acknowledged (the fake's first final comes later);
    # then only a KeepAlive, after which the writer's task ends. The socket is lost
    # at 8 s: the new socket must still get the audio, with nobody queueing any.
    audio = pcm16(1.0)
    fake.fault_next(Fault("abort", at=8.0))
    policy = attrs.evolve(POLICY, initial_backoff=0.0)
    async with dgtrio.open_listen(LINEAR16, reconnect=policy, **connect) as conn:
        opened = trio.current_time()
        for frame in frames(audio):
            await conn.send_audio(frame)
        await trio.sleep(9)
        assert conn.statistics().reconnects == 1
        await conn.close_stream()
        seen = await collect(conn)
    first, second = fake.sessions
    assert first.audio == audio and first.messages == [{"type": "KeepAlive"}]
    assert second.audio == audio and second.messages == [{"type": "CloseStream"}]
    # Replayed as soon as the socket was up, not when the next frame was queued.
    replayed = [f.time - opened for f in second.received if isinstance(f.data, bytes)]
    assert replayed and max(replayed) < 8.5
    metadata = seen[-1]
    assert isinstance(metadata, dgtrio.ListenV1Metadata) and metadata.duration == 1.0


async def test_audio_past_replay_seconds_is_reported_lost_and_skipped(
    fake: FakeDeepgram, connect: dgtrio.ConnectOptions, autojump_clock: trio.testing.MockClock
) -> None:
    # No answer ever comes from the first socket (its messages are held), so nothing
    # is acknowledged; only the last 1.5 s can be replayed.
    audio = pcm16(8.0)
    fake.fault_next(Fault("delay", seconds=60.0), Fault("abort", at=5.0))
    policy = attrs.evolve(POLICY, replay_seconds=1.5, initial_backoff=0.0)
    async with dgtrio.open_listen(LINEAR16, audio=live(audio), reconnect=policy, **connect) as conn:
        seen = await collect(conn)
    reconnected = events(seen)[1]
    assert isinstance(reconnected, dgtrio.Reconnected)
    # What was taken before the loss, less the 1.5 s kept, is lost.
    assert reconnected.replay == 1.5 and reconnected.lost > 3.0
    second = fake.sessions[1]
    assert second.audio == audio[position(reconnected.lost) :]
    # Later timestamps skip the lost audio: the stream's clock never goes back.
    assert finals(seen)[0].start == reconnected.lost
    assert isinstance(seen[-1], dgtrio.ListenV1Metadata) and seen[-1].duration == 8.0
    stats = conn.statistics()
    assert stats.audio_bytes_lost == position(reconnected.lost)
    assert stats.audio_bytes_acknowledged + stats.audio_bytes_lost == len(audio)


async def test_configure_is_applied_to_the_new_socket_before_the_replay(
    fake: FakeDeepgram, connect: dgtrio.ConnectOptions, autojump_clock: trio.testing.MockClock
) -> None:
    fake.fault_next(Fault("abort", at=2.0))
    seen: list[object] = []
    async with (
        dgtrio.open_listen(LINEAR16, reconnect=POLICY, **connect) as conn,
        trio.open_nursery() as nursery,
    ):
        nursery.start_soon(collect, conn, seen)
        await conn.configure(keyterms=["dgtrio"])
        for frame in frames(pcm16(3.0)):
            await conn.send_audio(frame)
            await trio.sleep(0.02)
        await conn.close_stream()
    second = fake.sessions[1]
    assert second.received[0].json() == {"type": "Configure", "keyterms": ["dgtrio"]}
    assert isinstance(second.received[1].data, bytes)
    replies = [m for m in seen if isinstance(m, dgtrio.ListenV1ConfigureSuccess)]
    assert len(replies) == 2  # the server's answer to each socket's Configure


async def test_a_stalled_server_is_replaced(
    fake: FakeDeepgram, connect: dgtrio.ConnectOptions, autojump_clock: trio.testing.MockClock
) -> None:
    fake.fault_next(Fault("half_open", at=1.0))
    connect["stall_timeout"] = 3.0
    async with dgtrio.open_listen(
        LINEAR16, audio=live(pcm16(6.0)), reconnect=POLICY, **connect
    ) as conn:
        seen = await collect(conn)
    lost = events(seen)[0]
    assert isinstance(lost, dgtrio.Reconnecting) and isinstance(lost.error, dgtrio.ServerStalled)
    assert isinstance(seen[-1], dgtrio.ListenV1Metadata) and seen[-1].duration == 6.0


async def test_a_socket_that_takes_nothing_is_replaced(
    fake: FakeDeepgram, connect: dgtrio.ConnectOptions, autojump_clock: trio.testing.MockClock
) -> None:
    fake.fault_next(Fault("half_open", at=0.5))
    connect["send_timeout"] = 2.0
    audio = pcm16(30.0)
    seen: list[object] = []
    async with (
        dgtrio.open_listen(LINEAR16, reconnect=POLICY, **connect) as conn,
        trio.open_nursery() as nursery,
    ):
        nursery.start_soon(collect, conn, seen)
        await trio.sleep(1.0)
        for frame in frames(audio, 32000):  # as fast as the socket takes it
            await conn.send_audio(frame)
        await conn.close_stream()
    lost = events(seen)[0]
    assert isinstance(lost, dgtrio.Reconnecting) and isinstance(lost.error, dgtrio.SendTimeout)
    assert isinstance(seen[-1], dgtrio.ListenV1Metadata) and seen[-1].duration == 30.0
    assert fake.sessions[1].audio == audio  # nothing was acknowledged before


async def test_cancelling_while_reconnecting_or_replaying_leaves_at_once(
    fake: FakeDeepgram, connect: dgtrio.ConnectOptions, autojump_clock: trio.testing.MockClock
) -> None:
    # The socket is lost at 10 s and replaced at 40 s; the 30 s of audio kept then
    # take 7.5 s to replay. Leaving while backing off, then while replaying:
    policy = attrs.evolve(POLICY, initial_backoff=30.0, max_backoff=30.0)
    for leave_at in (12.0, 42.0):
        fake.fault_next(Fault("abort", at=10.0))
        start = trio.current_time()
        with trio.move_on_after(leave_at):
            async with dgtrio.open_listen(
                LINEAR16, audio=live(pcm16(60.0)), reconnect=policy, **connect
            ) as conn:
                await collect(conn)
        assert trio.current_time() - start == leave_at
        assert conn.statistics().state == "closed"
    replaying = fake.sessions[-1]
    assert 0 < len(replaying.audio) < position(30.0)
    assert replaying.client_close == (1000, "")


async def test_reconnect_needs_raw_audio(autojump_clock: trio.testing.MockClock) -> None:
    with pytest.raises(dgtrio.ConfigurationError, match="reconnect needs raw audio"):
        dgtrio.open_listen(dgtrio.ListenV1Options(), reconnect=POLICY)
    opus = dgtrio.ListenV2Options(encoding="opus", sample_rate=48000)
    with pytest.raises(dgtrio.ConfigurationError, match="ListenV2Options"):
        dgtrio.open_flux_listen(opus, reconnect=POLICY)


# -- Flux ----------------------------------------------------------------------------------


def silence(seconds: float) -> bytes:
    return bytes(position(seconds))


async def test_flux_replays_the_open_turn_and_keeps_numbering(
    fake: FakeDeepgram, connect: dgtrio.ConnectOptions, autojump_clock: trio.testing.MockClock
) -> None:
    speech = [pcm16(2.0), silence(1.0), pcm16(1.5), silence(1.0), pcm16(1.2), silence(1.0)]
    audio = b"".join(speech)
    fake.fault_next(Fault("abort", at=4.5))  # in the middle of the second turn
    options = dgtrio.ListenV2Options(encoding="linear16", sample_rate=16000)
    async with dgtrio.open_flux_listen(
        options, audio=live(audio), reconnect=POLICY, **connect
    ) as flux:
        seen = await collect(flux)
    second = fake.sessions[1]
    turns = [m for m in seen if isinstance(m, dgtrio.ListenV2TurnInfo)]
    ends = [m for m in turns if m.event == "EndOfTurn"]
    assert [m.turn_index for m in ends] == [0, 1, 2]
    # The second turn was under way: it is heard again from where the first ended.
    resume = ends[0].audio_window_end
    assert second.audio == audio[position(resume) :]
    starts = [m.turn_index for m in turns if m.event == "StartOfTurn"]
    assert starts == [0, 1, 1, 2]
    # Numbers and windows continue across the sockets.
    sequence = [m.sequence_id for m in seen if isinstance(m, dgtrio.ListenV2TurnInfo)]
    assert flux.statistics().sequence_gaps == 0 and sequence == sorted(sequence)
    # Turns end in order, on one clock; the open turn's updates start over from
    # where the last turn ended.
    windows = [m.audio_window_end for m in ends]
    assert windows == sorted(windows) and turns[-1].audio_window_end == len(audio) / 32000
    reconnected = next(i for i, m in enumerate(seen) if isinstance(m, dgtrio.Reconnected))
    replayed = [m for m in seen[reconnected:] if isinstance(m, dgtrio.ListenV2TurnInfo)]
    assert replayed[0].audio_window_start == resume
    connected = [m.sequence_id for m in seen if isinstance(m, dgtrio.ListenV2Connected)]
    assert connected == [0, _next_sequence(seen)]
    tracker = dgtrio.FluxTurnTracker()
    completed = [t for m in seen if (t := tracker.feed(m)) is not None]
    assert [t.turn_index for t in completed] == [0, 1, 2] and tracker.violations == 0
    assert flux.statistics().audio_bytes_acknowledged == len(audio)


def _next_sequence(seen: Sequence[object]) -> int:
    """The sequence id the second ``Connected`` must carry: one past the last message
    from the first socket."""
    index = next(i for i, m in enumerate(seen) if isinstance(m, dgtrio.Reconnecting))
    numbered = [m for m in seen[:index] if hasattr(m, "sequence_id")]
    return numbered[-1].sequence_id + 1  # type: ignore[no-any-return]


# -- the parts, sans-io --------------------------------------------------------------------


def test_backoff_grows_to_its_cap_less_jitter_at_least_retry_after() -> None:
    policy = dgtrio.ReconnectPolicy(initial_backoff=0.5, max_backoff=3.0, jitter=0)
    assert [policy.backoff(n) for n in range(1, 6)] == [0.5, 1.0, 2.0, 3.0, 3.0]
    assert policy.backoff(1, retry_after=7.0) == 7.0
    jittery = dgtrio.ReconnectPolicy(initial_backoff=1.0, jitter=0.5)
    rng = random.Random(7)
    delays = [jittery.backoff(3, rng=rng) for _ in range(200)]
    assert min(delays) >= 2.0 and max(delays) <= 4.0 and len(set(delays)) == 200


@pytest.mark.parametrize(
    "bad",
    [
        {"max_attempts": 0},
        {"initial_backoff": -1},
        {"jitter": 1.5},
        {"replay_seconds": 0},
        {"replay_speed": 0.5},
    ],
)
def test_policy_values_are_checked(bad: dict[str, float]) -> None:
    with pytest.raises(dgtrio.ConfigurationError, match=next(iter(bad))):
        dgtrio.ReconnectPolicy(**bad)  # type: ignore[arg-type]


def test_what_is_retried() -> None:
    url = "wss://api.deepgram.com/v1/listen"
    assert retryable(dgtrio.ConnectionLost(1006))
    assert retryable(dgtrio.ServerStalled(1006)) and retryable(dgtrio.SendTimeout(1006))
    assert retryable(dgtrio.ServerTimeout(1011, "NET-0000"))
    assert retryable(dgtrio.ServerFailure(1011, "NET-0002"))
    assert retryable(dgtrio.ConnectionClosed(1011)) and retryable(dgtrio.ConnectionClosed(1013))
    assert retryable(dgtrio.ConnectTimeout("slow")) and retryable(dgtrio.ConnectError("dns"))
    assert retryable(dgtrio.RateLimited(429, url=url))
    assert retryable(dgtrio.HandshakeRejected(503, url=url))
    for permanent in (
        dgtrio.AuthenticationFailed(401, url=url),
        dgtrio.PermissionDenied(403, url=url),
        dgtrio.InvalidRequest(400, url=url),
        dgtrio.HandshakeRejected(408, url=url),
        dgtrio.IdleTimeout(1011, "NET-0001"),
        dgtrio.AudioDecodeError(1008, "DATA-0000"),
        dgtrio.FrameTooLarge(1009),
        dgtrio.ConnectionClosed(1000),
        dgtrio.ServerError("fatal"),
    ):
        assert not retryable(permanent), permanent


def test_replay_buffer_keeps_what_is_unacknowledged() -> None:
    buffer = ReplayBuffer(capacity=10)
    for chunk in (b"aaaa", b"bbbb", b"cccc"):
        buffer.append(chunk)
    # Over capacity: the oldest chunk is forgotten (not lost yet: nothing needs it).
    assert buffer.end == 12 and buffer.pending == 12 and buffer.lost == 0
    assert buffer.read(4, 6) == b"bbbbcc" and buffer.read(12, 5) == b""
    buffer.acknowledge(6)  # forgotten bytes are acknowledged like the rest
    assert buffer.acknowledged == 6 and buffer.pending == 6
    assert buffer.rewind() == 6 and buffer.read(6, 100) == b"bbcccc"
    buffer.append(b"dddddddd")  # forgets b"bbbb" and b"cccc", unacknowledged
    assert buffer.rewind() == 12 and buffer.lost == 6
    assert buffer.read(12, 100) == b"dddddddd" and buffer.room == 2
    buffer.abandon()
    assert buffer.lost == 14 and buffer.pending == 0
    assert buffer.end == buffer.acknowledged + buffer.lost


@given(
    st.lists(
        st.one_of(
            st.tuples(st.just("append"), st.integers(1, 50)),
            st.tuples(st.just("ack"), st.integers(0, 500)),
            st.tuples(st.just("rewind"), st.just(0)),
        ),
        max_size=60,
    )
)
def test_replay_buffer_accounts_for_every_byte(ops: list[tuple[str, int]]) -> None:
    buffer = ReplayBuffer(capacity=64)
    stream = bytearray()
    for op, value in ops:
        if op == "append":
            data = bytes((len(stream) + i) % 251 for i in range(value))
            stream += data
            buffer.append(data)
        elif op == "ack":
            buffer.acknowledge(value)
        else:
            start = buffer.rewind()
            assert buffer.read(start, 10_000) == bytes(stream[start:])
        assert buffer.end == len(stream)
        assert buffer.acknowledged + buffer.lost + buffer.pending == buffer.end


def test_listen_v1_timestamps_shift() -> None:
    word = dgtrio.ListenV1Word("hi", 0.1, 0.3, 0.9)
    search = (dgtrio.ListenV1Search("hi", (dgtrio.ListenV1SearchHit(0.9, 0.1, 0.3, "hi"),)),)
    channel = dgtrio.ListenV1Channel((dgtrio.ListenV1Alternative("hi", 0.9, (word,)),), search)
    results = dgtrio.ListenV1Results(
        (0, 1), 0.5, 0.2, channel, dgtrio.ListenV1ResultsMetadata("r"), is_final=True
    )
    shifted = shift_v1(results, 10.1)
    assert isinstance(shifted, dgtrio.ListenV1Results)
    assert (shifted.start, shifted.duration) == (10.3, 0.5)
    assert (shifted.words[0].start, shifted.words[0].end) == (10.2, 10.4)
    assert shifted.channel.search is not None
    assert shifted.channel.search[0].hits[0].start == 10.2
    assert shift_v1(dgtrio.ListenV1UtteranceEnd((0, 1), 1.25), 2.0).last_word_end == 3.25  # type: ignore[union-attr]
    assert shift_v1(dgtrio.ListenV1SpeechStarted((0, 1), 0.5), 2.0).timestamp == 2.5  # type: ignore[union-attr]
    assert shift_v1(dgtrio.ListenV1Metadata("r", 1.5, 1), 2.0).duration == 3.5  # type: ignore[union-attr]
    untouched = dgtrio.ListenV1ConfigureSuccess()
    assert shift_v1(untouched, 2.0) is untouched


def test_flux_turns_windows_and_numbers_shift() -> None:
    info = dgtrio.ListenV2TurnInfo(
        "r",
        3,
        "Update",
        0,
        0.0,
        0.48,
        "hi",
        (dgtrio.ListenV2Word("hi", 0.9, 0.1, 0.3), dgtrio.ListenV2Word("there", 0.9)),
    )
    shifted = shift_v2(info, 2.5, turns=4, sequence=20)
    assert isinstance(shifted, dgtrio.ListenV2TurnInfo)
    assert (shifted.turn_index, shifted.sequence_id) == (4, 23)
    assert (shifted.audio_window_start, shifted.audio_window_end) == (2.5, 2.98)
    assert [(w.start, w.end) for w in shifted.words] == [(2.6, 2.8), (None, None)]
    connected = shift_v2(dgtrio.ListenV2Connected("r", 0), 2.5, turns=4, sequence=20)
    assert connected == dgtrio.ListenV2Connected("r", 20)
    warning = dgtrio.ListenV2Warning()
    assert shift_v2(warning, 2.5, turns=4, sequence=20) is warning
