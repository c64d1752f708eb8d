"""Requests and their replies: what an awaited call (``flush()``, ``configure()``,
``finalize_and_wait()``...) sends, and how it waits for its own answer."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Generic, TypeVar

import trio

from .._codec import UnknownMessage
from .._errors import AcknowledgementTimeout
from ._core import StreamCore
from ._queue import Queue
from ._waiters import Waiter, Waiters

__all__ = ["Requests"]

M = TypeVar("M")


class Requests(Generic[M]):
    """Sends requests and collects their replies, which the reader hands to the
    waiters (see :class:`Waiters`); ``engine.requests`` of every connection."""

    __slots__ = ("_core", "_inbox", "_max_buffered", "_put", "_waiters")

    def __init__(
        self,
        core: StreamCore[M],
        waiters: Waiters[M | UnknownMessage],
        put: Callable[[str], Awaitable[None]],
        inbox: Queue[Any],
        max_buffered: int,
    ) -> None:
        self._core = core
        self._waiters = waiters
        self._put = put
        self._inbox = inbox
        self._max_buffered = max_buffered

    def expect(
        self,
        match: Callable[[M | UnknownMessage], bool],
        *,
        want: int = 1,
        ended_by: Callable[[M | UnknownMessage], bool] | None = None,
    ) -> Waiter[M | UnknownMessage]:
        """Start collecting up to ``want`` replies for which ``match`` is true.

        Register before sending the request, so that a fast reply finds the waiter.
        Each reply goes to the oldest waiter it matches: Deepgram answers requests in
        order. A reply also ends the wait of older waiters for which ``ended_by`` is
        true (a speak ``Cleared`` ends the wait for ``Flushed`` of earlier flushes).
        """
        return self._waiters.expect(match, want=want, ended_by=ended_by)

    async def collect(
        self, waiter: Waiter[M | UnknownMessage], timeout: float
    ) -> list[M | UnknownMessage]:
        """Wait for ``waiter``'s replies; what arrived within ``timeout`` (maybe fewer
        than wanted). Raises why the connection ended, if it ended first."""
        # Left registered on a timeout or a cancellation: see Waiter.
        with trio.move_on_after(timeout):
            await waiter.done.wait()
        core = self._core
        if len(waiter.replies) < waiter.want and waiter.ended is None and core.ended is not None:
            core.raise_closed()
        return waiter.replies

    async def request(
        self,
        frame: str,
        match: Callable[[M | UnknownMessage], bool],
        *,
        timeout: float,
        want: int = 1,
    ) -> list[M | UnknownMessage]:
        """Send ``frame`` and collect up to ``want`` replies (see :meth:`expect`).

        The replies are also delivered to ``receive()`` as usual.
        """
        waiter = self.expect(match, want=want)
        await self.send_for(waiter, frame)
        return await self.collect(waiter, timeout)

    async def reply(
        self,
        frame: str,
        match: Callable[[M | UnknownMessage], bool],
        *,
        what: str,
        timeout: float,
    ) -> M | UnknownMessage:
        """Send ``frame`` and return its one reply; :class:`AcknowledgementTimeout`
        (saying no ``what`` came) if none arrives within ``timeout``."""
        replies = await self.request(frame, match, timeout=timeout)
        if not replies:
            raise self.timeout_error(what, timeout)
        return replies[0]

    async def send_for(self, waiter: Waiter[M | UnknownMessage], frame: str) -> None:
        """Send the request ``waiter`` waits on; a failed send withdraws the waiter."""
        try:
            await self._put(frame)
        except BaseException:
            self._waiters.withdraw(waiter)
            raise

    def timeout_error(self, what: str, timeout: float) -> AcknowledgementTimeout:
        """The error for a reply (``what``) that did not come within ``timeout``."""
        text = f"no {what} within {timeout:g} s"
        if self._inbox.full:
            text += (
                f"; {self._max_buffered} received messages are waiting for receive(), so "
                "the connection has stopped reading: iterate it in another task while "
                "awaiting replies, or raise max_buffered_messages"
            )
        return AcknowledgementTimeout(text)
