"""Requests and their replies (sans-io): which message answers which waiting call.

Deepgram answers requests in order, so each reply goes to the oldest waiter it
matches. A waiter stays registered until its replies came, even when its caller left
(cancelled, timed out): it still takes its own replies, so that they are never
mistaken for the answer to a later request.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, TypeVar

import attrs
import trio

__all__ = ["Waiter", "Waiters"]

M = TypeVar("M")


@attrs.define(eq=False)
class Waiter(Generic[M]):
    """Collects up to ``want`` replies matching ``match``; a message for which
    ``ended_by`` is true ends the wait without being a reply (``ended``)."""

    match: Callable[[M], bool]
    want: int
    ended_by: Callable[[M], bool] | None = None
    replies: list[M] = attrs.Factory(list)
    ended: M | None = None  # the message that ended the wait without being a reply
    done: trio.Event = attrs.Factory(trio.Event)


class Waiters(Generic[M]):
    """The waiters of one connection, oldest first."""

    __slots__ = ("_waiting", "on_wait")

    def __init__(self) -> None:
        self._waiting: list[Waiter[M]] = []
        self.on_wait: Callable[[], None] | None = None  # called when a waiter registers

    def __bool__(self) -> bool:
        return bool(self._waiting)

    def __contains__(self, waiter: Waiter[M]) -> bool:
        return waiter in self._waiting

    def expect(
        self,
        match: Callable[[M], bool],
        *,
        want: int = 1,
        ended_by: Callable[[M], bool] | None = None,
    ) -> Waiter[M]:
        """Register a waiter for up to ``want`` replies for which ``match`` is true."""
        waiter: Waiter[M] = Waiter(match, want, ended_by)
        self._waiting.append(waiter)
        if self.on_wait is not None:
            self.on_wait()
        return waiter

    def withdraw(self, waiter: Waiter[M]) -> None:
        """Forget ``waiter``: its request never went out, so no reply will come (who
        waits for it stops waiting)."""
        self._waiting.remove(waiter)
        waiter.done.set()

    def notify(self, message: M) -> None:
        """Give ``message`` to the oldest waiter it answers (one whose caller left
        takes it too, so that it never reaches a newer request); end the older
        waiters it ends."""
        waiting = self._waiting
        for index, waiter in enumerate(waiting):
            if waiter.match(message):
                waiter.replies.append(message)
                done = [waiter] if len(waiter.replies) >= waiter.want else []
                for older in waiting[:index]:
                    if older.ended_by is not None and older.ended_by(message):
                        older.ended = message
                        done.append(older)
                for finished in done:
                    waiting.remove(finished)
                    finished.done.set()
                return

    def wake_all(self) -> None:
        """The connection ended: every waiter stops waiting (with what it has)."""
        for waiter in self._waiting:
            waiter.done.set()
