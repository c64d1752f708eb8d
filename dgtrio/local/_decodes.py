"""The local engine's decodes, shared by every stream: one recogniser, a few decodes at
a time (its ``workers``), finals first.

Whisper decodes on the CPU (about 0.13 s for a sentence, interim or final), so with
several real-time streams there is a queue. A final (a Listen v1 final or
flush, a Flux ``EagerEndOfTurn``/``EndOfTurn``/closing decode, an agent's user turn) is
never queued behind an interim: waiting finals run first, in the order they came.
An interim gives way rather than run late: one still waiting when a final comes (or
that comes while a final waits), or when its stream asks for a newer one, is skipped,
and its caller gets :data:`SKIPPED` (its stream looks again at the audio to come).
Nothing stops a decode under way: it runs to its end in its worker thread.

Voice activity detection is cheap (a few milliseconds of Silero per look) and comes
before a stream can know that an utterance ended: it does not wait in the queue, but
runs in a worker thread of its own beside the decode (one at a time).
"""

from __future__ import annotations

import enum
from collections import deque
from collections.abc import Callable, Hashable
from typing import Any, Final, TypeVar

import attrs
import trio

__all__ = ["SKIPPED", "Decodes", "Skipped"]

T = TypeVar("T")


class Skipped(enum.Enum):
    """What a skipped interim decode gives instead of its result."""

    SKIPPED = "skipped"


SKIPPED: Final = Skipped.SKIPPED
"""An interim decode given up: a final came first, or its stream asked for a newer one."""


@attrs.define(eq=False)
class _Waiter:
    final: bool
    key: Hashable | None
    event: trio.Event = attrs.field(factory=trio.Event)
    granted: bool = False  # its turn came: a lane is its own until it passes it on
    skipped: bool = False


class Decodes:
    """The decodes of every stream of one recogniser: ``lanes`` at a time, in worker
    threads; finals before interims, and interims skipped rather than run late."""

    def __init__(self, lanes: int = 1) -> None:
        self._lanes = lanes
        self._running = 0  # decodes running, or whose callers were given their turn
        self._finals: deque[_Waiter] = deque()
        self._interims: deque[_Waiter] = deque()
        self._speech = trio.CapacityLimiter(1)
        self.decoded = 0  # decodes run (finals and interims)
        self.skipped = 0  # interims skipped

    @property
    def waiting(self) -> tuple[int, int]:
        """How many finals and interims wait for their turn."""
        return len(self._finals), len(self._interims)

    async def final(self, function: Callable[..., T], *args: Any) -> T:
        """``function(*args)`` in a worker thread, once the decodes before it are done
        (finals only: a final waits for no interim but those under way)."""
        waiter = _Waiter(final=True, key=None)
        if self._full:
            self._skip(self._interims)  # they would run late: after this final
            self._finals.append(waiter)
        await self._turn(waiter)
        return await self._run(function, *args)

    async def interim(self, key: Hashable, function: Callable[..., T], *args: Any) -> T | Skipped:
        """``function(*args)`` in a worker thread, when no final waits; or
        :data:`SKIPPED` if a final comes first, or another interim of ``key`` (its
        stream) comes while it waits."""
        waiter = _Waiter(final=False, key=key)
        if self._full:
            if self._finals:  # it would run after them: late
                await trio.lowlevel.checkpoint()
                self.skipped += 1
                return SKIPPED
            self._skip([w for w in self._interims if w.key == key])
            self._interims.append(waiter)
        await self._turn(waiter)
        if waiter.skipped:
            return SKIPPED
        return await self._run(function, *args)

    async def speech(self, function: Callable[..., T], *args: Any) -> T:
        """``function(*args)`` (voice activity detection) in a worker thread, beside
        the decodes: one at a time, not queued behind them."""
        return await trio.to_thread.run_sync(function, *args, limiter=self._speech)

    # -- turns ---------------------------------------------------------------------------

    @property
    def _full(self) -> bool:
        return self._running >= self._lanes

    async def _turn(self, waiter: _Waiter) -> None:
        """Return once ``waiter`` has a lane (or was skipped)."""
        if not self._full:
            self._running += 1
            waiter.granted = True
            try:
                await trio.lowlevel.checkpoint()
            except BaseException:
                self._pass_on()
                raise
            return
        try:
            await waiter.event.wait()
        except BaseException:
            if waiter.granted:  # its turn came as it was cancelled: the next one's
                self._pass_on()
            elif not waiter.skipped:
                (self._finals if waiter.final else self._interims).remove(waiter)
            raise

    async def _run(self, function: Callable[..., T], *args: Any) -> T:
        try:
            self.decoded += 1
            return await trio.to_thread.run_sync(function, *args)
        finally:
            self._pass_on()

    def _pass_on(self) -> None:
        """A lane is free: to the first final waiting, else the first interim."""
        queue = self._finals or self._interims
        if not queue:
            self._running -= 1
            return
        waiter = queue.popleft()
        waiter.granted = True
        waiter.event.set()

    def _skip(self, waiters: list[_Waiter] | deque[_Waiter]) -> None:
        for waiter in list(waiters):
            self._interims.remove(waiter)
            waiter.skipped = True
            self.skipped += 1
            waiter.event.set()
