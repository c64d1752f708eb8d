"""The small drivers: the keepalive timer, the stall watchdog, and the audio feeder.

Each is started only when configured, applies the core's state, and steers nothing
but through the calls it is given. The keepalive timers of every connection share
one task.
"""

from __future__ import annotations

import heapq
import inspect
import itertools
import logging
import math
from collections.abc import AsyncIterable, Awaitable, Callable
from typing import Any

import trio
from trio.lowlevel import RunVar

from .._errors import ConnectionLost, DeepgramError, ServerStalled
from .._transport import TransportClosed
from ._core import StreamCore

__all__ = ["KeepAlive", "Liveness", "feed", "watch_for_stall"]

log = logging.getLogger("dgtrio")


class Liveness:
    """When audio first went out after the server's last frame: the stall
    watchdog's clock. The writer starts it, the reader stops it at every frame."""

    __slots__ = (
        "_flowing",
        "audio_since",
    )

    def __init__(self) -> None:
        self.audio_since: float | None = None
        self._flowing: trio.Event | None = None  # the watchdog's wake-up

    def audio_sent(self, now: float) -> None:
        """Audio went out: the clock starts, unless it runs already."""
        if self.audio_since is None:
            self.audio_since = now
            if self._flowing is not None:
                self._flowing.set()

    async def wait_for_audio(self) -> None:
        """Wait until the clock runs."""
        if self.audio_since is None:
            self._flowing = trio.Event()
            await self._flowing.wait()


class KeepAlive:
    """One connection's keepalive: queued (``put``) whenever nothing went out for
    ``interval``, until the stream is ended (the server then closes it soon) or the
    connection's queue closes. Timed by the run's :class:`_KeepAlives` task."""

    __slots__ = ("_core", "_interval", "_last_send", "_put", "_timers", "due")

    def __init__(
        self,
        core: StreamCore[Any],
        interval: float,
        last_send: Callable[[], float],
        put: Callable[[], bool],
    ) -> None:
        self._core = core
        self._interval = interval
        self._last_send = last_send
        self._put = put
        self._timers: _KeepAlives | None = None
        self.due = last_send() + interval

    def start(self) -> None:
        self._timers = _KeepAlives.of_this_run()
        self._timers.add(self)

    def stop(self) -> None:
        """Stop at once: the run's timers hold this connection no longer."""
        if self._timers is not None:
            self._timers.remove(self)
            self._timers = None

    def fire(self, now: float) -> bool:
        """Called at ``due``: queue a keepalive if nothing went out meanwhile; whether
        to be called again (at the new ``due``)."""
        if self._core.stream_ended:
            return False
        due = self._last_send() + self._interval
        if now < due:
            self.due = due
            return True
        try:
            if self._put():
                self._core.counters.keepalives_sent += 1
        except trio.ClosedResourceError:
            return False
        self.due = now + self._interval
        return True


class _KeepAlives:
    """Every connection's keepalive timer in one task per trio run, instead of a
    task per connection (tasks cost memory, and idle connections are the many).

    A trio system task: it belongs to no connection's nursery, so it runs no code of
    theirs that could fail (``fire`` catches what a closed connection raises), and
    it is cancelled with the run."""

    _current: RunVar[_KeepAlives] = RunVar("dgtrio keepalives")

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, KeepAlive]] = []
        self._count = itertools.count()  # ties: first added, first fired
        self._sleep = trio.CancelScope()

    @classmethod
    def of_this_run(cls) -> _KeepAlives:
        try:
            return cls._current.get()
        except LookupError:
            timers = cls()
            cls._current.set(timers)
            trio.lowlevel.spawn_system_task(timers._run, name="dgtrio keepalives")
            return timers

    def add(self, timer: KeepAlive) -> None:
        heapq.heappush(self._heap, (timer.due, next(self._count), timer))
        self._sleep.deadline = min(self._sleep.deadline, timer.due)

    def remove(self, timer: KeepAlive) -> None:
        heap = self._heap  # the same list: _run holds it
        heap[:] = [entry for entry in heap if entry[2] is not timer]
        heapq.heapify(heap)

    async def _run(self) -> None:
        heap = self._heap
        while True:
            self._sleep = trio.CancelScope(deadline=heap[0][0] if heap else math.inf)
            with self._sleep:
                await trio.sleep_forever()
            now = trio.current_time()
            while heap and heap[0][0] <= now:
                _, _, timer = heapq.heappop(heap)
                if timer.fire(now):
                    heapq.heappush(heap, (timer.due, next(self._count), timer))


async def watch_for_stall(
    core: StreamCore[Any],
    liveness: Liveness,
    timeout: float,
    drop: Callable[[ConnectionLost], Awaitable[None]],
    ping: Callable[[], Awaitable[None]] | None = None,
) -> None:
    """Drop the socket when audio has flowed for ``timeout`` seconds with no frame
    from the server: a half-open connection reads as healthy forever otherwise.

    With ``ping`` (a server that may rightly be quiet), the server is asked halfway
    through, and its answer restarts the clock as a frame does."""
    while core.ended is None:
        since = liveness.audio_since
        if since is None:
            await liveness.wait_for_audio()
        elif trio.current_time() < since + timeout:
            if ping is None:
                await trio.sleep_until(since + timeout)
            else:
                await _probe(liveness, since, timeout, ping)
        else:
            log.info("%s: no answer for %g s of audio", core.spec.name, timeout)
            liveness.audio_since = None  # the next socket's audio starts the clock anew
            await drop(ServerStalled(1006, request_id=core.request_id))
            if core.policy is None:
                return


async def _probe(
    liveness: Liveness, since: float, timeout: float, ping: Callable[[], Awaitable[None]]
) -> None:
    """Ping halfway to the stall; a pong before it restarts the clock. Returns by the
    stall's time at the latest."""
    with trio.move_on_at(since + timeout):
        await trio.sleep_until(since + timeout / 2)
        if liveness.audio_since != since:
            return  # a frame came meanwhile
        try:
            await ping()
        except TransportClosed:
            # The reader reports the close; until then, the clock runs.
            await trio.sleep_forever()
        if liveness.audio_since == since:
            liveness.audio_since = None


async def feed(
    core: StreamCore[Any],
    source: AsyncIterable[bytes],
    send_audio: Callable[[bytes], Awaitable[None]],
    close_stream: Callable[[], Awaitable[None]] | None,
) -> None:
    """Send ``source``'s frames, then end the stream (``close_stream``, if given)."""
    chunks = aiter(source)
    try:
        async for chunk in chunks:
            if core.stream_ended:
                break  # close_stream() ended the stream: a live source never ends itself
            await send_audio(chunk)
        if close_stream is not None:
            await close_stream()
    except (DeepgramError, trio.ClosedResourceError):
        # A bad frame from the source is raised; a closed connection is reported by
        # receive(), not by this task.
        if core.can_send and not core.stream_ended:
            raise
        # The stream or the connection ended first; receive() reports how.
    finally:
        # An async generator left mid-iteration must be closed here, in its task.
        if inspect.isasyncgen(chunks):
            await chunks.aclose()
