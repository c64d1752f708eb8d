"""Tap: the byte stream under one server connection's websocket, where faults reach it.

trio-websocket keeps its stream to itself; the server hands it this wrapper instead, so
that the faults that act below the WebSocket protocol (``abort``, ``half_open``) use
public names only.
"""

from __future__ import annotations

import trio

__all__ = ["Tap"]


class Tap(trio.abc.Stream):
    """``stream``, passed through until :meth:`freeze`.

    Closing the tap closes ``stream``: :func:`trio.aclose_forcefully` on it drops the
    connection at once, with no close frame (and no TLS close_notify).
    """

    def __init__(self, stream: trio.abc.Stream) -> None:
        self.stream = stream
        self._frozen = False
        self._closed = trio.Event()

    def freeze(self) -> None:
        """Read and write nothing more, as a peer that vanished, until the tap is closed.

        A write under way goes out whole (a frame is never cut short); a read under
        way waits for the client as before, but what it gets is dropped. Every later
        call waits (cancellably) until the tap is closed, then fails as on a closed
        stream: closing is what ends a write under a shield.
        """
        self._frozen = True

    async def receive_some(self, max_bytes: int | None = None) -> bytes | bytearray:
        await self._unless_frozen()
        data = await self.stream.receive_some(max_bytes)
        await self._unless_frozen()  # what arrives once frozen is never read
        return data

    async def send_all(self, data: bytes | bytearray | memoryview) -> None:
        await self._unless_frozen()
        await self.stream.send_all(data)

    async def wait_send_all_might_not_block(self) -> None:
        await self._unless_frozen()
        await self.stream.wait_send_all_might_not_block()

    async def aclose(self) -> None:
        self._closed.set()
        await self.stream.aclose()

    async def _unless_frozen(self) -> None:
        if self._frozen:
            await self._closed.wait()
            raise trio.ClosedResourceError("the connection was closed while frozen")
