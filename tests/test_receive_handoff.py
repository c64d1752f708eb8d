"""A consumer waiting in receive() reads the socket in its own task: the reader task
parks, takes the socket back when the consumer stays away, and at once when a
reply, the stall watchdog or the close needs the socket read. A connection that
delivers messages of its own (the agent's tool results) keeps reading in its task."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import trio
import trio.testing

import dgtrio
from dgtrio._engine._reader import _AWAY
from dgtrio.testing import FakeDeepgram, FakeSession

from .conftest import agent_settings, frames, pcm16

LINEAR16 = dgtrio.ListenV1Options(encoding="linear16", sample_rate=16000)


class _ReaderSteps(trio.abc.Instrument):
    """Counts the steps of the connections' reader tasks."""

    def __init__(self) -> None:
        self.count = 0

    def before_task_step(self, task: trio.lowlevel.Task) -> None:
        if task.name.endswith("Reader.run"):
            self.count += 1


async def _handed_over(fake: FakeDeepgram, conn: dgtrio.ListenV1Connection) -> FakeSession:
    """Receive one message sent while the consumer waits with nothing buffered: from
    then on, it reads the socket itself. The connection's session on the fake."""
    session = (await fake.wait_for_sessions())[0]

    async def send() -> None:
        await trio.testing.wait_all_tasks_blocked()
        await session.send_json({"type": "Custom", "n": -1})

    async with trio.open_nursery() as nursery:
        nursery.start_soon(send)
        assert (await conn.receive()).raw["n"] == -1
    await trio.testing.wait_all_tasks_blocked()
    assert conn._engine._reader.parked
    return session


async def test_a_waiting_consumer_reads_the_socket_and_the_reader_task_sleeps(
    fake: FakeDeepgram, connect: dgtrio.ConnectOptions
) -> None:
    async with dgtrio.open_listen(**connect) as conn:
        session = await _handed_over(fake, conn)
        steps = _ReaderSteps()
        trio.lowlevel.add_instrument(steps)
        try:
            taken = []
            for index in range(20):
                await session.send_json({"type": "Custom", "n": index})
                taken.append(await conn.receive())
        finally:
            trio.lowlevel.remove_instrument(steps)
        assert [m.raw["n"] for m in taken] == list(range(20))
        # Twenty messages, and the reader task never ran: no hop between tasks.
        assert steps.count == 0
        assert conn.statistics().messages_received == 21


async def test_the_reader_takes_the_socket_back_when_the_consumer_stays_away(
    fake: FakeDeepgram, connect: dgtrio.ConnectOptions, autojump_clock: trio.testing.MockClock
) -> None:
    async with dgtrio.open_listen(**connect) as conn:
        session = await _handed_over(fake, conn)
        parked = trio.current_time()
        for index in range(3):
            await session.send_json({"type": "Custom", "n": index})
        # The consumer came back once: the reader waits a whole period from then.
        await trio.sleep(_AWAY / 2)
        with trio.move_on_after(0.1):
            await conn.receive()  # the first of the three
        await trio.sleep_until(parked + 2 * _AWAY - 0.01)
        assert conn.statistics().buffered_messages == 0  # nobody has read the rest
        await trio.sleep_until(parked + 2 * _AWAY + 0.01)
        assert conn.statistics().buffered_messages == 2
        assert [(await conn.receive()).raw["n"] for _ in range(2)] == [1, 2]


async def test_a_reply_is_read_at_once_while_the_consumer_is_away(
    fake: FakeDeepgram, connect: dgtrio.ConnectOptions, autojump_clock: trio.testing.MockClock
) -> None:
    async with dgtrio.open_listen(LINEAR16, **connect) as conn:
        await _handed_over(fake, conn)
        for frame in frames(pcm16(1.0)):
            await conn.send_audio(frame)
        start = trio.current_time()
        finals = await conn.finalize_and_wait()
        assert trio.current_time() - start < 0.1  # not a period of the parked reader
        assert len(finals) == 1 and finals[0].from_finalize


async def test_a_consumer_away_is_no_stall(
    fake: FakeDeepgram, connect: dgtrio.ConnectOptions, autojump_clock: trio.testing.MockClock
) -> None:
    # The fake answers about every second of audio, the longest gap is 2 s. The
    # consumer leaves the socket for longer than stall_timeout, and the parked reader
    # would wait longer still: halfway, the watchdog has the socket read.
    options = dgtrio.ListenV1Options(encoding="linear16", sample_rate=16000, interim_results=True)
    connect["stall_timeout"] = 2.5
    assert _AWAY > 2.5
    async with dgtrio.open_listen(options, **connect) as conn:
        await _handed_over(fake, conn)
        for frame in frames(pcm16(8.0)):
            await conn.send_audio(frame)
            await trio.sleep(0.02)
        await conn.close_stream()
        received = [message async for message in conn]
    assert isinstance(received[-1], dgtrio.ListenV1Metadata)
    assert sum(isinstance(m, dgtrio.ListenV1Results) for m in received) >= 4


async def test_a_consumer_cancelled_while_it_reads_takes_nothing(
    fake: FakeDeepgram, connect: dgtrio.ConnectOptions, autojump_clock: trio.testing.MockClock
) -> None:
    async with dgtrio.open_listen(**connect) as conn:
        session = await _handed_over(fake, conn)
        with trio.move_on_after(1) as scope:
            await conn.receive()
        assert scope.cancelled_caught
        await session.send_json({"type": "Custom", "n": 0})
        await session.send_json({"type": "Custom", "n": 1})
        assert [(await conn.receive()).raw["n"] for _ in range(2)] == [0, 1]


async def test_a_consumer_reading_the_socket_sees_the_server_close_at_once(
    fake: FakeDeepgram, connect: dgtrio.ConnectOptions, autojump_clock: trio.testing.MockClock
) -> None:
    async with dgtrio.open_listen(**connect) as conn:
        session = await _handed_over(fake, conn)
        start = trio.current_time()
        async with trio.open_nursery() as nursery:
            nursery.start_soon(session.close, 1011, "NET-0001")
            with pytest.raises(dgtrio.IdleTimeout):
                await conn.receive()
        assert trio.current_time() == start


async def test_aclose_ends_a_receive_that_reads_the_socket(
    fake: FakeDeepgram, connect: dgtrio.ConnectOptions, autojump_clock: trio.testing.MockClock
) -> None:
    async with dgtrio.open_listen(**connect) as conn:
        session = await _handed_over(fake, conn)
        start = trio.current_time()

        async def receive() -> None:
            with pytest.raises(trio.ClosedResourceError):
                await conn.receive()

        async with trio.open_nursery() as nursery:
            nursery.start_soon(receive)
            await trio.testing.wait_all_tasks_blocked()
            await conn.aclose()
        assert trio.current_time() == start
    await session.wait_closed()
    assert session.client_close == (1000, "")


async def test_a_tool_result_is_delivered_before_what_the_server_says_next(
    fake: FakeDeepgram, connect: dgtrio.ConnectOptions, autojump_clock: trio.testing.MockClock
) -> None:
    tools = dgtrio.ToolRegistry()

    @tools.register
    async def get_weather(city: str) -> str:
        await trio.sleep(1)  # the server says nothing: the consumer waits on the socket
        return "sunny"

    async with dgtrio.open_agent(agent_settings(), tools=tools, **connect) as agent:
        await agent.inject_user_message("What's the weather in Paris?")
        turn = []
        async for message in agent:
            turn.append(message)
            if isinstance(message, dgtrio.AgentV1AgentAudioDone):
                break
    names = [type(m).__name__.removeprefix("AgentV1") for m in turn]
    # The server is silent while the tool runs. Its result is delivered as the answer
    # goes out, so before anything the server says next (a consumer waiting on the
    # socket would take the server's reply first).
    at = names.index("FunctionCallRequest")
    assert names[at + 1 : at + 3] == ["ToolResult", "FunctionCallHistory"], names


class _BeforeStep(trio.abc.Instrument):
    """Calls ``action`` once, just before ``task``'s next step."""

    def __init__(self, task: trio.lowlevel.Task, action: Callable[[], object]) -> None:
        self.task, self.action = task, action

    def before_task_step(self, task: trio.lowlevel.Task) -> None:
        if task is self.task:
            trio.lowlevel.remove_instrument(self)
            self.action()


async def test_a_message_read_after_the_connection_closed_is_not_returned(
    fake: FakeDeepgram, connect: dgtrio.ConnectOptions
) -> None:
    # The consumer, in a task of its own, waits on the socket; the block ends just as
    # a message arrives: as with a trio channel, the receive raises, returning nothing.
    async with dgtrio.open_listen(**connect) as conn, trio.open_nursery() as nursery:
        session = await _handed_over(fake, conn)
        consumer = await nursery.start(_receive_closed, conn)
        await trio.testing.wait_all_tasks_blocked()
        trio.lowlevel.add_instrument(_BeforeStep(consumer, conn._engine._detach))
        await session.send_json({"type": "Custom", "n": 0})


async def _receive_closed(
    conn: dgtrio.ListenV1Connection, *, task_status: trio.TaskStatus[trio.lowlevel.Task]
) -> None:
    task_status.started(trio.lowlevel.current_task())
    with pytest.raises(trio.ClosedResourceError):
        await conn.receive()
