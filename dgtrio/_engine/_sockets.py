"""The socket a connection runs on, and what befalls it.

One connection has one socket at a time. This side drops it when it gives up on it
(a write stalled, the server went silent), pings it for the stall watchdog, and,
with ``reconnect=``, replaces it when it is lost: the core says whether to, the new
socket is dialled with backoff (:func:`dial_with_backoff`), and the writer, told,
replays onto it.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

import trio

from .._errors import ConnectionClosed, ConnectionLost
from .._reconnect import ConnectionEvent
from .._transport import Transport
from ._core import StreamCore
from ._drivers import Liveness
from ._redial import dial_with_backoff
from ._writer import Writer

__all__ = ["Sockets"]

log = logging.getLogger("dgtrio")


class Sockets:
    """The socket serving one connection now (see the module docstring).

    The reader and the writer reach it through :meth:`current`; ``writer`` (set once
    it exists, as it reaches the socket through this) is told when the socket is
    lost, and when a new one is up or the connection ended.
    """

    __slots__ = ("_announce", "_core", "_dial", "_liveness", "transport", "writer")

    writer: Writer

    def __init__(
        self,
        core: StreamCore[Any],
        transport: Transport,
        dial: Callable[[], Awaitable[Transport]] | None,
        liveness: Liveness,
        announce: Callable[[ConnectionEvent], Awaitable[None]],
    ) -> None:
        self.transport = transport
        self._core = core
        self._dial = dial
        self._liveness = liveness
        self._announce = announce  # Reconnecting and Reconnected, for receive()

    def current(self) -> Transport:
        """The socket in use now."""
        return self.transport

    async def ping(self) -> None:
        """Ping the socket in use now (for the stall watchdog)."""
        await self.transport.ping()

    async def drop(self, error: ConnectionLost) -> None:
        """Drop a socket this side gave up on (``error`` says why). The reader sees the
        close and dials again if it may."""
        self._core.drop(error)
        if self._core.ended is not None:
            self.writer.socket_changed()
        await self.transport.abort()

    async def replace(self, lost: ConnectionClosed | None) -> bool:
        """The socket closed (the reader's call): replace it when the core says so
        (``lost``); True once a new one is up and the writer can replay."""
        core, dial = self._core, self._dial
        if lost is None:  # the connection ended
            self.writer.socket_changed()
            return False
        policy = core.policy
        assert policy is not None
        assert dial is not None
        began = trio.current_time()
        core.socket_lost(began)
        self.writer.socket_lost()  # stop using the old socket
        await self.transport.stop()
        log.info("%s: %s; reconnecting", self._core.spec.name, lost)
        transport, core.failures, error = await dial_with_backoff(
            dial,
            policy,
            self._core.spec.name,
            failures=core.failures,
            error=lost,
            announce=self._announce,
        )
        if transport is None:
            assert error is not None
            core.redial_failed(lost, error, core.failures)
            self.writer.socket_changed()
            return False
        self.transport = transport
        reconnected = core.socket_up(transport.request_id, began=began, now=trio.current_time())
        self._liveness.audio_since = None
        self.writer.socket_changed()
        log.info("%s: reconnected, request id %s", self._core.spec.name, core.request_id)
        await self._announce(reconnected)
        return True
