"""Every fault the fake can inject, per API: what the user sees, what the server got,
and that nothing hangs (MockClock times are exact; real-time waits are bounded)."""

from __future__ import annotations

import logging
import os
import traceback
from collections.abc import Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager
from typing import Any

import attrs
import pytest
import trio
import trio.testing

import dgtrio
from dgtrio import ConnectOptions
from dgtrio.testing import FakeDeepgram, FakeSession, Fault, SpeakScript

from .conftest import API_KEY, agent_settings, collect, pcm16

pytestmark = pytest.mark.timeout(20)

Conn = Any  # the four connection classes share the channel and statistics API


async def _close_stream(conn: Conn) -> None:
    await conn.close_stream()


async def _close(conn: Conn) -> None:
    await conn.close()


async def _update_prompt(conn: Conn) -> None:
    await conn.update_prompt("Be briefer.", timeout=60)


@attrs.frozen
class Api:
    """How a test drives one API: open, push one client frame, ask for an answer."""

    name: str
    opener: Callable[..., AbstractAsyncContextManager[Conn]]
    first: tuple[type, ...]  # what the server sends unprompted, in order
    # A request answered after every earlier client frame: CloseStream or Close
    # (then the iteration ends), or UpdatePrompt (returns once answered).
    request: Callable[[Conn], Awaitable[None]]
    text: bool = False  # the client sends text (Speak), not audio

    def open(self, connect: ConnectOptions, **options: Any) -> Any:
        """``open_*`` with ``connect`` and further :class:`ConnectOptions`."""
        return self.opener(**connect, **options)

    @property
    def ends(self) -> bool:
        """Whether the request ends the stream."""
        return self.request is not _update_prompt

    def payload(self, data: bytes) -> str | bytes:
        """What :meth:`push` sends for ``data``: the audio, or the text of a Speak
        (one word per 0.1 s of 16 kHz audio, at most 400)."""
        return f"{data[0]}." + " Hi." * min(len(data) // 3200, 400) if self.text else data

    async def push(self, conn: Conn, data: bytes) -> None:
        await (conn.speak if self.text else conn.send_audio)(self.payload(data))

    def pushed(self, session: FakeSession) -> list[str | bytes]:
        """What the server received of what :meth:`push` sent, in order."""
        if self.text:
            return [m["text"] for m in session.messages if m["type"] == "Speak"]
        return [f.data for f in session.received if isinstance(f.data, bytes)]


LISTEN = Api(
    "listen",
    lambda **kw: dgtrio.open_listen(
        dgtrio.ListenV1Options(encoding="linear16", sample_rate=16000), **kw
    ),
    (),
    _close_stream,
)
FLUX = Api(
    "flux",
    lambda **kw: dgtrio.open_flux_listen(
        dgtrio.ListenV2Options(encoding="linear16", sample_rate=16000), **kw
    ),
    (dgtrio.ListenV2Connected,),
    _close_stream,
)
SPEAK = Api("speak", dgtrio.open_speak, (dgtrio.SpeakV1Metadata,), _close, text=True)
AGENT = Api(
    "agent",
    lambda **kw: dgtrio.open_agent(agent_settings(), **kw),
    (dgtrio.AgentV1Welcome, dgtrio.AgentV1SettingsApplied),
    _update_prompt,
)
APIS = [pytest.param(api, id=api.name) for api in (LISTEN, FLUX, SPEAK, AGENT)]


@pytest.fixture(params=APIS)
def api(request: pytest.FixtureRequest) -> Api:
    value: Api = request.param
    return value


def _settle(clock: trio.testing.MockClock) -> None:
    """Let the clock jump only after 20 ms of real idleness: while bulk data crosses
    loopback, the kernel can leave every task waiting for a moment, and a clock that
    jumps at once would let virtual time pass under a transfer still under way."""
    clock.autojump_threshold = 0.02


def _names(messages: Sequence[object]) -> list[str]:
    return [type(m).__name__ for m in messages]


def _kind(message: object) -> str | None:
    """A message's wire type as the user sees it: ``Results`` for ListenV1Results."""
    if isinstance(message, dgtrio.UnknownMessage):
        return message.type
    if isinstance(message, dgtrio.MessageDecodeError):
        return "<invalid>"
    if isinstance(message, dgtrio.SpeakV1Audio | dgtrio.AgentV1Audio):
        return "<audio>"
    return (
        type(message)
        .__name__.removeprefix("ListenV1")
        .removeprefix("ListenV2")
        .removeprefix("SpeakV1")
        .removeprefix("AgentV1")
    )


def _wire(session: FakeSession) -> list[str | None]:
    """The kind of each frame the fake sent, in order."""
    return [
        "<audio>" if isinstance(f.data, bytes) else (f.json() or {"type": "<invalid>"})["type"]
        for f in session.sent
    ]


async def _converse(
    api: Api, conn: Conn, chunks: Sequence[bytes], pace: float = 0.0
) -> tuple[list[tuple[float, Any]], float]:
    """Push ``chunks`` (``pace`` seconds apart), make the API's request and record
    every message with its arrival time until the answer (or the end); also returns
    when the request was made."""
    arrivals: list[tuple[float, Any]] = []

    async def consume() -> None:
        while True:
            try:
                message = await conn.receive()
            except dgtrio.MessageDecodeError as exc:
                message = exc
            except trio.EndOfChannel:
                return
            arrivals.append((trio.current_time(), message))

    async with trio.open_nursery() as nursery:
        nursery.start_soon(consume)
        for chunk in chunks:
            await api.push(conn, chunk)
            await trio.sleep(pace)
        asked_at = trio.current_time()
        await api.request(conn)
        if not api.ends:
            await trio.testing.wait_all_tasks_blocked()
            nursery.cancel_scope.cancel()
    return arrivals, asked_at


# --- Fault itself -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"kind": "explode"}, "'kind' must be in"),
        ({"kind": "abort", "at": -1.0}, "'at' must be >= 0"),
        ({"kind": "delay", "seconds": -0.5}, "'seconds' must be >= 0"),
        ({"kind": "close", "code": 999}, "'code' must be >= 1000"),
        ({"kind": "close", "code": 5000}, "'code' must be <= 4999"),
        ({"kind": "huge_message", "size": 10}, "'size' must be >= "),
    ],
)
def test_fault_is_validated(kwargs: dict[str, Any], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        Fault(**kwargs)


async def test_fault_next_applies_to_one_session_and_faults_to_every_one(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    everywhere = Fault("unknown_type", at=0.5)
    once = Fault("malformed_json", at=1.0)
    fake = FakeDeepgram(api_key=API_KEY, faults=[everywhere])
    await nursery.start(fake.serve)
    fake.fault_next(once)
    connect: ConnectOptions = {"base_url": fake.url, "api_key": API_KEY}
    for _ in range(2):
        async with FLUX.open(connect) as conn:
            await trio.sleep(2)
            await conn.close_stream()
            await collect(conn)
    first, second = fake.sessions
    assert first.faults == [
        (first.connected_at + 0.5, everywhere),
        (first.connected_at + 1.0, once),
    ]
    assert second.faults == [(second.connected_at + 0.5, everywhere)]


async def test_faults_due_at_once_apply_before_the_first_message(
    fake: FakeDeepgram, connect: ConnectOptions, autojump_clock: trio.testing.MockClock
) -> None:
    fake.fault_next(Fault("unknown_type"))
    fake.fault_next(Fault("abort"))
    async with FLUX.open(connect) as conn:
        await conn.close_stream()
        assert _names(await collect(conn))[:2] == ["UnknownMessage", "ListenV2Connected"]
    seen: list[Any] = []
    async with FLUX.open(connect) as conn:
        with pytest.raises(dgtrio.ConnectionLost):
            await collect(conn, seen)
    assert seen == [] and fake.sessions[1].sent == []
    assert trio.current_time() == fake.sessions[1].connected_at


# --- The connection ends ------------------------------------------------------------------


async def test_abort_is_connection_lost(
    api: Api, fake: FakeDeepgram, connect: ConnectOptions, autojump_clock: trio.testing.MockClock
) -> None:
    fake.fault_next(Fault("abort", at=3.0))
    seen: list[Any] = []
    async with api.open(connect) as conn:
        with pytest.raises(dgtrio.ConnectionLost) as caught:
            await collect(conn, seen)
        lost_at = trio.current_time()
        with pytest.raises(dgtrio.ConnectionLost):  # every later send says so too
            await api.push(conn, bytes(640))
    (session,) = fake.sessions
    assert lost_at == session.connected_at + 3.0
    assert _names(seen) == [cls.__name__ for cls in api.first]
    assert caught.value.code == 1006 and caught.value.request_id == session.request_id
    assert session.faults == [(lost_at, Fault("abort", at=3.0))]
    assert session.server_close == (1006, "") and session.client_close is None


@pytest.mark.parametrize(
    ("code", "reason", "error"),
    [
        (1011, "NET-0000", dgtrio.ServerTimeout),
        (1011, "NET-0001", dgtrio.IdleTimeout),
        (1011, "NET-0002", dgtrio.ServerFailure),
        (1008, "DATA-0000", dgtrio.AudioDecodeError),
        (1009, "BIG-0000", dgtrio.MessageTooLarge),
        (1011, "", dgtrio.ConnectionClosed),
    ],
)
async def test_close_is_typed_by_its_reason(
    fake: FakeDeepgram,
    connect: ConnectOptions,
    autojump_clock: trio.testing.MockClock,
    code: int,
    reason: str,
    error: type[dgtrio.ConnectionClosed],
) -> None:
    fake.fault_next(Fault("close", at=2.0, code=code, reason=reason))
    async with LISTEN.open(connect) as conn:
        with pytest.raises(error) as caught:
            await collect(conn)
        assert trio.current_time() == fake.sessions[0].connected_at + 2.0
    assert type(caught.value) is error
    assert (caught.value.code, caught.value.reason) == (code, reason)
    assert fake.sessions[0].server_close == (code, reason)


async def test_close_net_0000_is_server_timeout(
    api: Api, fake: FakeDeepgram, connect: ConnectOptions, autojump_clock: trio.testing.MockClock
) -> None:
    fake.fault_next(Fault("close", at=3.0))
    seen: list[Any] = []
    async with api.open(connect) as conn:
        with pytest.raises(dgtrio.ServerTimeout) as caught:
            await collect(conn, seen)
        closed_at = trio.current_time()
    (session,) = fake.sessions
    assert closed_at == session.connected_at + 3.0
    assert _names(seen) == [cls.__name__ for cls in api.first]
    assert (caught.value.code, caught.value.reason) == (1011, "NET-0000")
    assert session.server_close == (1011, "NET-0000") and session.client_close is None
    assert session.faults == [(closed_at, Fault("close", at=3.0))]


async def test_a_clean_close_ends_the_iteration(
    fake: FakeDeepgram, connect: ConnectOptions, autojump_clock: trio.testing.MockClock
) -> None:
    fake.fault_next(Fault("close", at=1.0, code=1000, reason=""))
    async with SPEAK.open(connect) as conn:
        assert _names(await collect(conn)) == ["SpeakV1Metadata"]
        assert trio.current_time() == fake.sessions[0].connected_at + 1.0


async def test_half_open_iteration_waits_and_the_exit_takes_close_timeout(
    api: Api, fake: FakeDeepgram, connect: ConnectOptions, autojump_clock: trio.testing.MockClock
) -> None:
    # Without a stall watchdog (stall_timeout unset), iteration alone would wait for
    # ever. The exit is bounded: the close frame goes unanswered for close_timeout,
    # and no error says so.
    fake.fault_next(Fault("half_open", at=1.0))
    seen: list[Any] = []
    async with api.open(connect, close_timeout=2.0) as conn:
        with trio.move_on_after(30) as waited:
            await collect(conn, seen)
        assert waited.cancelled_caught
        leaving = trio.current_time()
    assert trio.current_time() == leaving + 2.0
    assert _names(seen) == [cls.__name__ for cls in api.first]
    (session,) = fake.sessions
    assert session.faults == [(session.connected_at + 1.0, Fault("half_open", at=1.0))]
    assert session.closed.is_set()  # nothing more is recorded
    assert session.client_close is None and session.server_close is None
    assert conn.statistics().state == "closed"


async def test_half_open_sends_back_up_until_the_writer_gives_up(
    api: Api, fake: FakeDeepgram, connect: ConnectOptions, autojump_clock: trio.testing.MockClock
) -> None:
    _settle(autojump_clock)
    fake.fault_next(Fault("half_open", at=1.0))
    chunk = bytes(32000)  # 1 s of audio, or a Speak of 994 characters
    # The write deadline is send_timeout in newer dgtrio, close_timeout before it.
    async with api.open(connect, close_timeout=2.0, send_timeout=2.0) as conn:
        (session,) = await fake.wait_for_sessions(1)
        await trio.sleep_until(session.connected_at + 1.0)
        with pytest.raises(dgtrio.ConnectionLost), trio.fail_after(10):
            while True:
                await api.push(conn, chunk)
        # The queue was full and no write went through for 2 s: dgtrio dropped it.
        assert trio.current_time() == session.connected_at + 3.0
        with pytest.raises(dgtrio.ConnectionLost):
            await collect(conn)  # after the messages that came before
    assert conn.statistics().frames_unsent > 0
    assert all(frame.time < session.faults[0][0] for frame in session.received)


# --- The connection goes on, slower or garbled --------------------------------------------


async def test_slow_reader_takes_every_frame_late_but_in_order(
    api: Api, fake: FakeDeepgram, connect: ConnectOptions, autojump_clock: trio.testing.MockClock
) -> None:
    fake.fault_next(Fault("slow_reader", seconds=0.5))
    chunks = [bytes([n]) * 3200 for n in range(1, 11)]
    async with api.open(connect) as conn:
        # 0.1 s apart, so that each is a frame of its own.
        arrivals, _ = await _converse(api, conn, chunks, pace=0.1)
        done_at = trio.current_time()
    (session,) = fake.sessions
    assert api.pushed(session) == [api.payload(c) for c in chunks]
    # The server took one frame every 0.5 s (Settings, the chunks, the request), and
    # answered the request after it took it.
    times = [f.time - session.connected_at for f in session.received]
    assert times == [0.5 * n for n in range(1, len(times) + 1)]
    assert done_at >= session.received[-1].time
    assert [_kind(m) for _, m in arrivals] == _wire(session)


async def test_delay_holds_every_message_in_order(
    api: Api, fake: FakeDeepgram, connect: ConnectOptions, autojump_clock: trio.testing.MockClock
) -> None:
    fake.speak_script = SpeakScript(synthesis_speed=None)  # speech at once: exact times
    fake.fault_next(Fault("delay", seconds=0.5))
    async with api.open(connect) as conn:
        arrivals, asked_at = await _converse(api, conn, [pcm16(0.1)] * 5)
        done_at = trio.current_time()
    (session,) = fake.sessions
    # The user saw what went on the wire, in order, each message as it was written:
    # the first 0.5 s after the connection opened, the answer 0.5 s after the request.
    assert [_kind(m) for _, m in arrivals] == _wire(session)
    assert [t for t, _ in arrivals] == [f.time for f in session.sent]
    assert session.sent[0].time == session.connected_at + 0.5
    assert done_at == asked_at + 0.5
    if api is AGENT:
        assert asked_at == session.connected_at + 0.5  # the block waited for SettingsApplied


async def test_duplicate_sends_every_message_twice(
    api: Api, fake: FakeDeepgram, connect: ConnectOptions, autojump_clock: trio.testing.MockClock
) -> None:
    fake.fault_next(Fault("duplicate"))
    async with api.open(connect) as conn:
        arrivals, _ = await _converse(api, conn, [pcm16(0.1)] * 5)
    (session,) = fake.sessions
    sent = [f.data for f in session.sent]
    assert sent[0::2] == sent[1::2]
    # Nothing is deduplicated: the user sees each message twice. Flux counts each
    # repeated sequence_id as a gap, and delivers it all the same.
    assert [_kind(m) for _, m in arrivals] == _wire(session)
    gaps = conn.statistics().sequence_gaps
    assert gaps == (len(arrivals) // 2 if api is FLUX else 0)


async def test_reorder_swaps_messages_in_pairs(
    api: Api, fake: FakeDeepgram, connect: ConnectOptions, autojump_clock: trio.testing.MockClock
) -> None:
    fake.fault_next(Fault("reorder"))
    async with api.open(connect) as conn:
        arrivals, _ = await _converse(api, conn, [pcm16(0.1)] * 5)
    (session,) = fake.sessions
    # The user sees the swapped order, with no error: the first two messages the
    # fake made, swapped, then the others by pairs. Flux's numbering shows it.
    kinds = [_kind(m) for _, m in arrivals]
    assert kinds == _wire(session)
    assert (
        kinds[:2]
        == {
            "listen": ["Metadata", "Results"],
            "flux": ["TurnInfo", "Connected"],
            "speak": ["<audio>", "Metadata"],
            "agent": ["SettingsApplied", "Welcome"],
        }[api.name]
    )
    if api is FLUX:
        numbers = [m.sequence_id for _, m in arrivals]
        assert numbers == [n ^ 1 for n in range(len(numbers))]
        assert conn.statistics().sequence_gaps == len(numbers)


async def test_malformed_json_is_a_decode_error_and_the_connection_goes_on(
    api: Api, fake: FakeDeepgram, connect: ConnectOptions, autojump_clock: trio.testing.MockClock
) -> None:
    fake.fault_next(Fault("malformed_json", at=0.5))
    async with api.open(connect) as conn:
        arrivals, _ = await _converse(api, conn, [pcm16(0.1)] * 5, pace=0.2)
    (session,) = fake.sessions
    # In the frame's place, then the rest, the answer to the request included.
    assert [_kind(m) for _, m in arrivals] == _wire(session)
    ((when, error),) = [(t, m) for t, m in arrivals if isinstance(m, dgtrio.MessageDecodeError)]
    (frame,) = [f for f in session.sent if f.is_text and f.json() is None]
    assert when == frame.time == session.connected_at + 0.5
    assert error.frame == frame.data and "not JSON" in str(error)
    assert conn.statistics().decode_errors == 1


async def test_unknown_type_is_delivered_as_unknown_message(
    api: Api, fake: FakeDeepgram, connect: ConnectOptions, autojump_clock: trio.testing.MockClock
) -> None:
    fake.fault_next(Fault("unknown_type", at=0.5))
    async with api.open(connect) as conn:
        arrivals, _ = await _converse(api, conn, [pcm16(0.1)] * 5, pace=0.2)
    (session,) = fake.sessions
    assert [_kind(m) for _, m in arrivals] == _wire(session)
    ((when, unknown),) = [(t, m) for t, m in arrivals if isinstance(m, dgtrio.UnknownMessage)]
    (frame,) = [f for f in session.sent if f.is_text and f.json()["type"] == "SomethingNew"]
    assert when == frame.time == session.connected_at + 0.5
    assert unknown.type == "SomethingNew" and unknown.raw == frame.json()
    assert conn.statistics().decode_errors == 0


async def test_huge_message_within_max_message_size_is_delivered(
    api: Api, fake: FakeDeepgram, connect: ConnectOptions, autojump_clock: trio.testing.MockClock
) -> None:
    _settle(autojump_clock)
    fake.speak_script = SpeakScript(synthesis_speed=None)  # fewer clock jumps
    fake.fault_next(Fault("huge_message", at=0.5))  # 10 MiB; the limit is 16 MiB
    async with api.open(connect) as conn:
        arrivals, _ = await _converse(api, conn, [pcm16(0.1)] * 5, pace=0.2)
    (session,) = fake.sessions
    assert [_kind(m) for _, m in arrivals] == _wire(session)
    ((when, huge),) = [(t, m) for t, m in arrivals if isinstance(m, dgtrio.UnknownMessage)]
    (frame,) = [f for f in session.sent if len(f.data) == 10 * 2**20]
    assert when == frame.time == session.connected_at + 0.5
    assert huge.type == "SomethingHuge" and huge.raw == frame.json()


async def test_huge_message_over_max_message_size_closes_with_1009(
    api: Api, fake: FakeDeepgram, connect: ConnectOptions, autojump_clock: trio.testing.MockClock
) -> None:
    _settle(autojump_clock)
    fake.fault_next(Fault("huge_message", at=0.5, size=2 * 2**20))
    seen: list[Any] = []
    async with api.open(connect, max_message_size=2**20) as conn:
        with pytest.raises(dgtrio.FrameTooLarge) as caught:
            await collect(conn, seen)
        assert trio.current_time() == fake.sessions[0].connected_at + 0.5
    (session,) = fake.sessions
    with trio.fail_after(1):
        await session.wait_closed()
    assert _names(seen) == [cls.__name__ for cls in api.first]
    # dgtrio closed (1009): FrameTooLarge, not MessageTooLarge (Deepgram's BIG-xxxx).
    reason = "frame with 2097152 bytes exceeds limit of 1048576 bytes"
    assert "max_message_size" in str(caught.value)
    assert caught.value.code == 1009
    assert session.client_close == (1009, reason) and session.server_close is None


# --- The handshake fails ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (401, dgtrio.AuthenticationFailed),
        (403, dgtrio.PermissionDenied),
        (429, dgtrio.RateLimited),
        (500, dgtrio.HandshakeRejected),
    ],
)
async def test_handshake_refusals_are_typed(
    api: Api,
    fake: FakeDeepgram,
    connect: ConnectOptions,
    status: int,
    error: type[dgtrio.HandshakeRejected],
) -> None:
    fake.reject_next(status, retry_after=7 if status == 429 else None)
    with trio.fail_after(5), pytest.raises(error) as caught:
        async with api.open(connect):
            pytest.fail("the refused connection opened")
    assert type(caught.value) is error and caught.value.status == status
    assert caught.value.retry_after == (7 if status == 429 else None)
    assert caught.value.request_id and caught.value.dg_error
    assert fake.sessions == []


async def test_handshake_timeout_is_connect_timeout(
    api: Api, fake: FakeDeepgram, connect: ConnectOptions, autojump_clock: trio.testing.MockClock
) -> None:
    fake.fault_next(Fault("handshake_timeout"))
    start = trio.current_time()
    with pytest.raises(dgtrio.ConnectTimeout, match="within 3 s"):
        async with api.open(connect, connect_timeout=3.0):
            pytest.fail("the stalled connection opened")
    assert trio.current_time() == start + 3.0
    assert fake.sessions == []
    async with api.open(connect, connect_timeout=3.0):  # the fault was for one session
        pass
    assert trio.current_time() == start + 3.0
    assert [s.faults for s in fake.sessions] == [[]]


async def test_held_messages_go_out_before_the_close_frame(
    fake: FakeDeepgram, connect: ConnectOptions, autojump_clock: trio.testing.MockClock
) -> None:
    # Connected is delayed, then held by reorder for a partner that never comes; the
    # close at 1 s writes it first, and is itself delayed.
    fake.fault_next(Fault("delay", seconds=0.5), Fault("reorder"), Fault("close", at=1.0))
    seen: list[Any] = []
    async with FLUX.open(connect) as conn:
        with pytest.raises(dgtrio.ServerTimeout):
            await collect(conn, seen)
        closed_at = trio.current_time()
    (session,) = fake.sessions
    assert closed_at == session.connected_at + 1.5
    assert _names(seen) == ["ListenV2Connected"]
    assert [(f.time, f.json()["type"]) for f in session.sent] == [(closed_at, "Connected")]


async def test_a_server_slower_than_close_timeout_is_dropped_as_lost(
    fake: FakeDeepgram, connect: ConnectOptions, autojump_clock: trio.testing.MockClock
) -> None:
    # The server still reads, a frame every 3 s; but once the socket is full, no write
    # completes within 2 s, and dgtrio drops the connection itself.
    _settle(autojump_clock)
    fake.fault_next(Fault("slow_reader", seconds=3.0))
    async with LISTEN.open(connect, close_timeout=2.0, send_timeout=2.0) as conn:
        start = trio.current_time()
        with pytest.raises(dgtrio.ConnectionLost), trio.fail_after(60):
            while True:
                await conn.send_audio(bytes(32000))
        assert trio.current_time() == start + 2.0
    (session,) = fake.sessions
    with trio.fail_after(30):
        await session.wait_closed()  # the fake catches up, then finds the socket gone
    # "Sent" means taken by the kernel: frames still in the socket when dgtrio gave up
    # may never reach the server (seen: 384000 bytes counted, 288000 received).
    assert 0 < len(session.audio) <= conn.statistics().audio_bytes_sent
    assert session.client_close in (None, (1006, ""))  # no close frame came


# --- Secrets under failure -----------------------------------------------------------------


async def test_the_key_never_leaks_when_a_session_fails(
    api: Api,
    fake: FakeDeepgram,
    connect: ConnectOptions,
    caplog: pytest.LogCaptureFixture,
    autojump_clock: trio.testing.MockClock,
) -> None:
    """Everything a user or an operator can see, at DEBUG, across a session that is
    dropped mid-stream and a handshake refused: logs, errors with their tracebacks and
    locals, reprs, statistics, what the server recorded."""
    caplog.set_level(logging.DEBUG)
    seen: list[str] = []
    fake.fault_next(Fault("malformed_json", at=0.2), Fault("abort", at=0.5))
    with pytest.raises(dgtrio.ConnectionLost) as lost:
        async with api.open(connect) as conn:
            seen += [repr(conn), str(conn.statistics())]
            await collect(conn)
    fake.api_key = "another-key"
    with pytest.raises(dgtrio.AuthenticationFailed) as refused:
        async with api.open(connect):
            pass  # pragma: no cover
    for error in (lost.value, refused.value):
        seen += [repr(error), *_library_frames(error)]
    seen += [record.getMessage() for record in caplog.records]
    seen += [repr(s) + repr(s.headers) + repr(s.query) + repr(s.sent) for s in fake.sessions]
    assert any(record.levelno == logging.DEBUG for record in caplog.records)
    assert any("not JSON" in text for text in seen)  # the failures were seen
    for text in seen:
        assert API_KEY not in text


PACKAGE = os.path.dirname(dgtrio.__file__) + os.sep


def _library_frames(error: BaseException) -> list[str]:
    """The frames of dgtrio's own code in ``error``'s traceback and the exceptions
    chained to it, with their locals (this test's own locals hold the key, of course)."""
    found = []
    shown: traceback.TracebackException | None = traceback.TracebackException.from_exception(
        error, capture_locals=True
    )
    while shown is not None:
        for frame in shown.stack:
            if frame.filename.startswith(PACKAGE):
                found.append(f"{frame.filename}:{frame.name} {frame.locals}")
        shown = shown.__cause__ or shown.__context__
    assert found  # the library's frames were looked at
    return found
