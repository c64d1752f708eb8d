"""A bounded queue from several tasks to one, for the engine's inbox and writer.

It behaves as a pair of trio memory channels used by one receiver does, at a
fraction of their size: no statistics, no clones, and its buffer is made when first
needed (idle connections are the many, and each holds two queues).
"""

from __future__ import annotations

from collections import deque
from typing import Generic, TypeVar

import trio
from outcome import Error, Value

__all__ = ["Queue"]

T = TypeVar("T")


class Queue(Generic[T]):
    """A bounded FIFO: many tasks ``put``, one task ``get``.

    - ``put_nowait`` raises ``trio.WouldBlock`` when full; ``put`` waits (senders are
      served in order).
    - ``close_sending()``: ``get`` raises ``trio.EndOfChannel`` once the queue is
      empty, ``put`` raises ``trio.ClosedResourceError``.
    - ``close_receiving()``: what is queued is dropped, ``get`` raises
      ``trio.ClosedResourceError`` and ``put`` raises ``trio.BrokenResourceError``.
    """

    __slots__ = ("_getter", "_items", "_max", "_putters", "_receiving_closed", "_sending_closed")

    def __init__(self, max_size: int) -> None:
        if max_size < 1:  # a rendezvous (a memory channel of size 0) is not supported
            raise ValueError(f"max_size must be at least 1, not {max_size}")
        self._max = max_size
        self._items: deque[T] | None = None
        self._getter: trio.lowlevel.Task | None = None
        self._putters: deque[tuple[trio.lowlevel.Task, T]] | None = None
        self._sending_closed = False
        self._receiving_closed = False

    def __len__(self) -> int:
        return len(self._items) if self._items else 0

    @property
    def closed(self) -> bool:
        """Whether ``close_receiving()`` was called."""
        return self._receiving_closed

    @property
    def awaited(self) -> bool:
        """Whether the receiving task is waiting in :meth:`get`."""
        return self._getter is not None

    @property
    def full(self) -> bool:
        return len(self) >= self._max

    def put_nowait(self, value: T) -> None:
        if self._sending_closed:
            raise trio.ClosedResourceError
        if self._receiving_closed:
            raise trio.BrokenResourceError
        getter = self._getter
        if getter is not None:  # waiting, so nothing is queued: hand it over
            self._getter = None
            trio.lowlevel.reschedule(getter, Value(value))
        elif len(self) < self._max:
            if self._items is None:
                self._items = deque()
            self._items.append(value)
        else:
            raise trio.WouldBlock

    async def put(self, value: T) -> None:
        await trio.lowlevel.checkpoint_if_cancelled()
        try:
            self.put_nowait(value)
        except trio.WouldBlock:
            pass
        else:
            await trio.lowlevel.cancel_shielded_checkpoint()
            return
        if self._putters is None:
            self._putters = deque()
        putters = self._putters
        waiting = (trio.lowlevel.current_task(), value)
        putters.append(waiting)

        def abort(_: object) -> trio.lowlevel.Abort:
            putters.remove(waiting)
            return trio.lowlevel.Abort.SUCCEEDED

        await trio.lowlevel.wait_task_rescheduled(abort)

    def get_nowait(self) -> T:
        if self._receiving_closed:
            raise trio.ClosedResourceError
        items = self._items
        if self._putters:  # the queue is full: the first waiting sender's turn
            task, value = self._putters.popleft()
            trio.lowlevel.reschedule(task)
            assert items is not None
            items.append(value)
        if items:
            return items.popleft()
        if self._sending_closed:
            raise trio.EndOfChannel
        raise trio.WouldBlock

    async def get(self) -> T:
        await trio.lowlevel.checkpoint_if_cancelled()
        if self._items or self._sending_closed or self._receiving_closed:
            value = self.get_nowait()  # no exception raised and caught: they cost
            await trio.lowlevel.cancel_shielded_checkpoint()
            return value
        assert self._getter is None, "one task gets from a queue"
        self._getter = trio.lowlevel.current_task()

        def abort(_: object) -> trio.lowlevel.Abort:
            self._getter = None
            return trio.lowlevel.Abort.SUCCEEDED

        handed: T = await trio.lowlevel.wait_task_rescheduled(abort)
        return handed

    def close_sending(self) -> None:
        if self._sending_closed:
            return
        self._sending_closed = True
        self._wake_putters(trio.ClosedResourceError)
        if self._getter is not None:
            getter, self._getter = self._getter, None
            trio.lowlevel.reschedule(getter, Error(trio.EndOfChannel()))

    def close_receiving(self) -> None:
        if self._receiving_closed:
            return
        self._receiving_closed = True
        if self._getter is not None:
            getter, self._getter = self._getter, None
            trio.lowlevel.reschedule(getter, Error(trio.ClosedResourceError()))
        self._wake_putters(trio.BrokenResourceError)
        self._items = None

    def _wake_putters(self, error: type[Exception]) -> None:
        putters, self._putters = self._putters, None
        for task, _ in putters or ():
            trio.lowlevel.reschedule(task, Error(error()))
