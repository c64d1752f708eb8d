"""The engine's ``Queue`` against the memory channels it stands in for.

Random programs of operations (``put_nowait``, ``get_nowait``, a blocking ``put`` by a
new task, a blocking ``get`` by the one receiver, cancelling a waiting task, closing
either end) run on a ``Queue(n)`` and on ``trio.open_memory_channel(n)``, one receiver
each; after every step both show the same outcome: what the call returned or raised,
what each waiting task ended with (or that it still waits), ``len`` and ``full``. A
waiting task is cancelled either alone or right after a call woke it, before it ran (a
``get`` so cancelled keeps its item, a ``put`` stays delivered, as with the channels).
The queue's run itself then shows that nothing is lost, duplicated or reordered, and
that a cancelled ``put`` delivers nothing. ``get_nowait`` and ``get`` are called only
while no ``get`` waits: the queue promises one receiver.

Sizes from 1: the engine's sizes are validated positive, and ``Queue(0)`` (which would
be a rendezvous channel) is refused.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Protocol

import pytest
import trio
import trio.testing
from hypothesis import given, settings
from hypothesis import strategies as st

from dgtrio._engine._queue import Queue

# What a call or a waiting task came to: ("returned", value), ("raised", exception name),
# ("pending", None), ("cancelled", None); ("skipped", None) for a step not allowed then.
Outcome = tuple[str, object]
Op = tuple[str, int]
Step = tuple[str, Outcome, tuple[Outcome, ...], int, bool]

# Closing is rarer than the rest, so that programs do something before they end.
OPS = (["put", "put_nowait"] * 3 + ["get", "get_nowait", "cancel"] * 2) * 3 + [
    "close_sending",
    "close_receiving",
]
# The argument: for put and get, 0 (mod 4) starts them cancelled; for those in RACING,
# 1 (mod 4) cancels every waiting task right after, before any runs; for cancel, whom.
RACING = ("put_nowait", "get_nowait", "close_sending", "close_receiving")
PROGRAMS = st.lists(st.tuples(st.sampled_from(OPS), st.integers(0, 7)), min_size=4, max_size=50)


class Ends(Protocol):
    """The two ends of a bounded FIFO, as the queue names them."""

    def put_nowait(self, value: int) -> None: ...
    async def put(self, value: int) -> None: ...
    def get_nowait(self) -> int: ...
    async def get(self) -> int: ...
    def close_sending(self) -> None: ...
    def close_receiving(self) -> None: ...
    def size(self) -> tuple[int, bool]: ...


class QueueEnds:
    """A ``Queue``; ``size`` is its ``len`` and ``full``."""

    def __init__(self, max_size: int) -> None:
        self.queue: Queue[int] = Queue(max_size)
        self.put_nowait = self.queue.put_nowait
        self.put = self.queue.put
        self.get_nowait = self.queue.get_nowait
        self.get = self.queue.get
        self.close_sending = self.queue.close_sending
        self.close_receiving = self.queue.close_receiving

    def size(self) -> tuple[int, bool]:
        return len(self.queue), self.queue.full


class ChannelEnds:
    """A memory channel pair; ``size`` is the buffer used, and whether it is all used."""

    def __init__(self, max_size: int) -> None:
        self.send, self.receive = trio.open_memory_channel[int](max_size)
        self.put_nowait = self.send.send_nowait
        self.put = self.send.send
        self.get_nowait = self.receive.receive_nowait
        self.get = self.receive.receive
        self.close_sending = self.send.close
        self.close_receiving = self.receive.close

    def size(self) -> tuple[int, bool]:
        stats = self.receive.statistics()
        return stats.current_buffer_used, stats.current_buffer_used >= stats.max_buffer_size


@dataclass
class Waiter:
    """A task blocked in ``put`` or ``get``, and what it came to."""

    kind: str
    value: int
    scope: trio.CancelScope = field(default_factory=trio.CancelScope)
    outcome: Outcome = ("pending", None)


@dataclass
class Run:
    """A program's steps, and the items it saw accepted, delivered and withdrawn."""

    steps: list[Step] = field(default_factory=list)
    accepted: list[int] = field(default_factory=list)
    delivered: list[int] = field(default_factory=list)
    withdrawn: list[int] = field(default_factory=list)
    receiving_closed: bool = False


def attempt(call: Callable[[], object]) -> Outcome:
    """What a call that does not wait returned or raised."""
    try:
        return "returned", call()
    except Exception as exc:
        return "raised", type(exc).__name__


async def wait(run: Run, waiter: Waiter, call: Callable[[], Awaitable[object]]) -> None:
    """Await ``call`` in the waiter's cancel scope and record what it came to."""
    with waiter.scope:
        try:
            value = await call()
        except Exception as exc:
            waiter.outcome = "raised", type(exc).__name__
            return
        waiter.outcome = "returned", value
        if waiter.kind == "put":
            run.accepted.append(waiter.value)
        else:
            assert isinstance(value, int)
            run.delivered.append(value)
        return
    waiter.outcome = "cancelled", None
    if waiter.kind == "put":
        run.withdrawn.append(waiter.value)


async def execute(ends: Ends, program: list[Op]) -> Run:
    """Run ``program`` on ``ends``, letting every task block between steps, then take
    what is left with ``get_nowait``."""
    run = Run()
    waiters: list[Waiter] = []

    def receiver_waits() -> bool:
        return any(w.kind == "get" and w.outcome[0] == "pending" for w in waiters)

    def step(value: int, name: str, arg: int, nursery: trio.Nursery) -> Outcome:
        if name == "put_nowait":
            outcome = attempt(lambda: ends.put_nowait(value))
            if outcome[0] == "returned":
                run.accepted.append(value)
            return outcome
        if name == "get_nowait":
            if receiver_waits():  # one receiver: it is busy in get
                return "skipped", None
            outcome = attempt(ends.get_nowait)
            if outcome[0] == "returned":
                assert isinstance(outcome[1], int)
                run.delivered.append(outcome[1])
            return outcome
        if name in ("put", "get"):
            if name == "get" and receiver_waits():
                return "skipped", None
            waiter = Waiter(name, value)
            if arg % 4 == 0:  # cancelled before it starts
                waiter.scope.cancel()
            waiters.append(waiter)
            call = (lambda: ends.put(value)) if name == "put" else ends.get
            nursery.start_soon(wait, run, waiter, call)
            return "returned", None
        if name == "cancel":
            pending = [w for w in waiters if w.outcome[0] == "pending"]
            if not pending:
                return "skipped", None
            pending[arg % len(pending)].scope.cancel()
            return "returned", None
        if name == "close_sending":
            ends.close_sending()
            return "returned", None
        assert name == "close_receiving"
        ends.close_receiving()
        run.receiving_closed = True
        return "returned", None

    def record(name: str, outcome: Outcome) -> None:
        run.steps.append((name, outcome, tuple(w.outcome for w in waiters), *ends.size()))

    async with trio.open_nursery() as nursery:
        for value, (name, arg) in enumerate(program):
            outcome = step(value, name, arg, nursery)
            if name in RACING and arg % 4 == 1:  # cancel those it woke before they run
                for waiter in waiters:
                    if waiter.outcome[0] == "pending":
                        waiter.scope.cancel()
            await trio.testing.wait_all_tasks_blocked()
            record(name, outcome)
        if not receiver_waits():
            while (outcome := attempt(ends.get_nowait))[0] == "returned":
                assert isinstance(outcome[1], int)
                run.delivered.append(outcome[1])
            await trio.testing.wait_all_tasks_blocked()
            record("drain", outcome)
        nursery.cancel_scope.cancel()
    return run


def run_program(make: Callable[[int], Ends], max_size: int, program: list[Op]) -> Run:
    async def main() -> Run:
        return await execute(make(max_size), program)

    return trio.run(main)


@settings(max_examples=1000, deadline=None)
@given(max_size=st.integers(1, 3), program=PROGRAMS)
def test_queue_behaves_as_a_memory_channel(max_size: int, program: list[Op]) -> None:
    """Step by step, the queue and a memory channel of its size return, raise, wake
    and hold the same."""
    queue = run_program(QueueEnds, max_size, program)
    channel = run_program(ChannelEnds, max_size, program)
    assert len(queue.steps) == len(channel.steps)
    for index, (mine, theirs) in enumerate(zip(queue.steps, channel.steps, strict=True)):
        assert mine == theirs, f"step {index}: {program[: index + 1]}"
    # Nothing duplicated, invented or reordered; a cancelled put delivers nothing.
    assert queue.delivered == sorted(set(queue.delivered))
    assert set(queue.delivered) <= set(queue.accepted)
    assert not set(queue.delivered) & set(queue.withdrawn)
    if not queue.receiving_closed:  # then nothing is lost either
        assert Counter(queue.delivered) == Counter(queue.accepted)


async def test_waiting_putters_are_served_in_order() -> None:
    """When the queue is full, each ``get`` lets in the longest-waiting ``put``."""
    queue: Queue[int] = Queue(1)
    queue.put_nowait(0)
    async with trio.open_nursery() as nursery:
        for value in (1, 2, 3):
            nursery.start_soon(queue.put, value)
            await trio.testing.wait_all_tasks_blocked()
        got = [queue.get_nowait() for _ in range(4)]
    assert got == [0, 1, 2, 3]
    assert len(queue) == 0


async def test_close_receiving_drops_items_and_breaks_senders() -> None:
    """Closing the receiving end drops what is queued and fails the waiting ``put``."""
    queue: Queue[int] = Queue(2)
    queue.put_nowait(0)
    queue.put_nowait(1)
    assert queue.full
    raised: list[type[BaseException]] = []

    async def put(value: int) -> None:
        try:
            await queue.put(value)
        except trio.BrokenResourceError as exc:
            raised.append(type(exc))

    async with trio.open_nursery() as nursery:
        nursery.start_soon(put, 2)
        await trio.testing.wait_all_tasks_blocked()
        queue.close_receiving()
    assert raised == [trio.BrokenResourceError]
    assert len(queue) == 0
    assert not queue.full
    with pytest.raises(trio.ClosedResourceError):
        queue.get_nowait()
    with pytest.raises(trio.BrokenResourceError):
        queue.put_nowait(3)


def test_a_queue_of_no_room_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 1, not 0"):
        Queue(0)
