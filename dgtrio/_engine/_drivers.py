"""The small drivers: the keepalive timer, the stall watchdog, and the audio feeder.

Each is a plain coroutine started only when configured, applying the core's state
and steering nothing but through the calls it is given.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import AsyncIterable, Awaitable, Callable
from typing import Any

import trio

from .._errors import ConnectionLost, DeepgramError, ServerStalled
from ._core import StreamCore

__all__ = ["Liveness", "feed", "keep_alive", "watch_for_stall"]

log = logging.getLogger("dgtrio")


class Liveness:
    """When audio first went out after the server's last frame: the stall
    watchdog's clock. The writer starts it, the reader stops it at every frame."""

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


async def keep_alive(
    core: StreamCore[Any],
    interval: float,
    last_send: Callable[[], float],
    put: Callable[[], bool],
) -> None:
    """Queue a keepalive (``put``) whenever nothing went out for ``interval``; until
    the stream is ended (the server then closes it soon) or the queue closes."""
    while not core.stream_ended:
        due = last_send() + interval
        if trio.current_time() < due:
            await trio.sleep_until(due)
            continue
        try:
            if put():
                core.counters.keepalives_sent += 1
        except trio.ClosedResourceError:
            return
        await trio.sleep(interval)


async def watch_for_stall(
    core: StreamCore[Any],
    liveness: Liveness,
    timeout: float,
    drop: Callable[[ConnectionLost], Awaitable[None]],
) -> None:
    """Drop the socket when audio has flowed for ``timeout`` seconds with no frame
    from the server: a half-open connection reads as healthy forever otherwise."""
    while core.ended is None:
        since = liveness.audio_since
        if since is None:
            await liveness.wait_for_audio()
        elif trio.current_time() < since + timeout:
            await trio.sleep_until(since + timeout)
        else:
            log.info("%s: no answer for %g s of audio", core.spec.name, timeout)
            liveness.audio_since = None  # the next socket's audio starts the clock anew
            await drop(ServerStalled(1006, request_id=core.request_id))
            if core.policy is None:
                return


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
