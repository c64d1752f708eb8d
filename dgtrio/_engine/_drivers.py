"""The small drivers: the keepalive timer, the stall watchdog, and the audio feeder.

Each is started only when configured, applies the core's state, and steers nothing
but through the calls it is given. Each is a child task of its connection's nursery.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import AsyncIterable, Awaitable, Callable
from typing import Any

import trio

from .._errors import ConnectionLost, DeepgramError, InternalError, ServerStalled
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
    connection's queue closes.

    A child task of the connection's nursery (:meth:`run`): it sleeps until the
    interval since the last send is over, so it wakes once per interval at most,
    and a failure in it ends its own connection (``InternalError``), no other."""

    __slots__ = ("_core", "_interval", "_last_send", "_put", "_stopped", "due")

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
        self._stopped = False
        self.due = last_send() + interval

    async def run(self) -> None:
        """Fire at each due time until the stream ends or :meth:`stop`."""
        try:
            while True:
                await trio.sleep_until(self.due)
                if self._stopped or not self.fire(trio.current_time()):
                    return
        except Exception as exc:
            raise InternalError(f"{self._core.spec.name}: the keepalive timer failed") from exc

    def stop(self) -> None:
        """Fire no more (the connection's nursery ends the task soon after)."""
        self._stopped = True

    def fire(self, now: float) -> bool:
        """Called at ``due``: queue a keepalive if nothing went out meanwhile; whether
        to be called again (at the new ``due``)."""
        if self._core.stream_closed:
            return False
        due = self._last_send() + self._interval
        if now < due:
            self.due = due
            return True
        try:
            if self._put():
                self._core.keepalive_sent()
        except trio.ClosedResourceError:
            return False
        self.due = now + self._interval
        return True


async def watch_for_stall(
    core: StreamCore[Any],
    liveness: Liveness,
    timeout: float,
    drop: Callable[[ConnectionLost], Awaitable[None]],
    read: Callable[[], None],
    ping: Callable[[], Awaitable[None]] | None = None,
) -> None:
    """Drop the socket when audio has flowed for ``timeout`` seconds with no frame
    from the server: a half-open connection reads as healthy forever otherwise.

    Halfway through, ``read()`` has the socket read at once (a consumer that reads
    it itself may be busy elsewhere). With ``ping`` (a server that may rightly be
    quiet), the server is asked then too, and its answer restarts the clock as a
    frame does."""
    while core.ended is None:
        since = liveness.audio_since
        if since is None:
            await liveness.wait_for_audio()
        elif trio.current_time() < since + timeout:
            await _probe(liveness, since, timeout, read, ping)
        else:
            log.info("%s: no answer for %g s of audio", core.spec.name, timeout)
            liveness.audio_since = None  # the next socket's audio starts the clock anew
            await drop(ServerStalled(1006, request_id=core.request_id))
            if core.policy is None:
                return


async def _probe(
    liveness: Liveness,
    since: float,
    timeout: float,
    read: Callable[[], None],
    ping: Callable[[], Awaitable[None]] | None,
) -> None:
    """Halfway to the stall, have the socket read and ping if asked to; a frame or a
    pong before the stall restarts the clock. Returns by the stall's time at the
    latest."""
    with trio.move_on_at(since + timeout):
        await trio.sleep_until(since + timeout / 2)
        if liveness.audio_since != since:
            return  # a frame came meanwhile
        read()
        if ping is None:
            await trio.sleep_forever()
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
            if core.stream_closed:
                break  # close_stream() ended the stream: a live source never ends itself
            await send_audio(chunk)
        if close_stream is not None:
            await close_stream()
    except (DeepgramError, trio.ClosedResourceError):
        # A bad frame from the source is raised; a closed connection is reported by
        # receive(), not by this task.
        if core.can_send and not core.stream_closed:
            raise
        # The stream or the connection ended first; receive() reports how.
    finally:
        # An async generator left mid-iteration must be closed here, in its task.
        if inspect.isasyncgen(chunks):
            await chunks.aclose()
