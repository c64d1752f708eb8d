"""The public face every API's connection shares: a channel of typed messages.

An API's connection class (``ListenV1Connection``...) subclasses :class:`Connection`
and adds its sends; all the machinery lives in the engine it holds
(:mod:`dgtrio._engine`).
"""

from __future__ import annotations

from typing import Generic, TypeVar

import trio

from ._codec import UnknownMessage
from ._engine import ConnectionStatistics, ConnectOptions, Engine

__all__ = ["ConnectOptions", "Connection", "ConnectionStatistics"]

M = TypeVar("M")


class Connection(trio.abc.ReceiveChannel[M | UnknownMessage], Generic[M]):
    """One open socket to a Deepgram API: a channel of typed messages, plus sends.

    Iterate it (``async for message in conn``) to receive every message the server
    sends, in order. Instances come from ``open_listen`` and its siblings only; they
    are usable inside that ``async with`` block.
    """

    def __init__(self, engine: Engine[M]) -> None:
        self._engine = engine

    @property
    def request_id(self) -> str | None:
        """Deepgram's id for this connection (``dg-request-id``), for support tickets;
        after a reconnect, the new socket's."""
        return self._engine.request_id

    async def receive(self) -> M | UnknownMessage:
        """The next message from the server.

        With ``reconnect=``, :class:`~dgtrio.Reconnecting` and
        :class:`~dgtrio.Reconnected` come in between, where the socket was replaced.

        Raises:
            trio.EndOfChannel: the connection ended normally (``async for`` stops);
                likewise on every later call inside the block.
            ConnectionClosed: (or a subclass) after the last message received before
                an abnormal close; likewise on every later call inside the block.
            MessageDecodeError: in place of a frame that could not be decoded; the
                connection stays open and the next call continues.
            trio.ClosedResourceError: after ``aclose()``, or once the ``async with``
                block has been left (as every send does then).
            trio.BusyResourceError: another task is receiving from this connection
                at the same time (a connection has one consumer, as a trio channel
                does).
        """
        return await self._engine.receive()

    async def aclose(self) -> None:
        """Close the connection now, sending close code 1000; idempotent.

        Messages not yet received are discarded; use the API's ``close_stream()`` and
        keep iterating to receive the final results first.
        """
        await self._engine.aclose()

    def statistics(self) -> ConnectionStatistics:
        """Counters and queue depths, as a frozen snapshot."""
        return self._engine.statistics()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self._engine.describe()}>"
