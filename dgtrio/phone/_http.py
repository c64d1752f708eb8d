"""One port for Twilio's WebSocket upgrades and plain HTTP (health, readiness,
metrics): the request head is read with h11, answered here, or handed with its bytes
to trio-websocket when it is an upgrade this server accepts."""

from __future__ import annotations

import h11
import trio

__all__ = ["Replayed", "Request", "read_request", "respond"]

_HEAD_LIMIT = 16 * 1024


class Request:
    """A request's head: method, path, headers (lower-case names)."""

    __slots__ = ("headers", "method", "raw", "target")

    def __init__(self, event: h11.Request, raw: bytes) -> None:
        self.method = event.method.decode("ascii", "replace")
        self.target = event.target.decode("ascii", "replace")
        self.headers = {
            name.decode("latin-1").lower(): value.decode("latin-1") for name, value in event.headers
        }
        self.raw = raw  # every byte read, for trio-websocket to read again

    @property
    def path(self) -> str:
        return self.target.partition("?")[0]

    @property
    def is_upgrade(self) -> bool:
        return self.headers.get("upgrade", "").lower() == "websocket"


async def read_request(stream: trio.abc.Stream) -> Request | None:
    """The request's head, or None when the peer sent none (closed, or not HTTP)."""
    connection = h11.Connection(h11.SERVER, max_incomplete_event_size=_HEAD_LIMIT)
    raw = bytearray()
    while True:
        try:
            event = connection.next_event()
        except h11.RemoteProtocolError:
            return None
        if isinstance(event, h11.Request):
            return Request(event, bytes(raw))
        if event is not h11.NEED_DATA:
            return None
        try:
            data = await stream.receive_some(_HEAD_LIMIT)
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            return None
        raw += data
        connection.receive_data(bytes(data))
        if not data:
            return None


async def respond(
    stream: trio.abc.Stream,
    status: int,
    body: bytes,
    *,
    content_type: str = "text/plain; charset=utf-8",
    headers: tuple[tuple[str, str], ...] = (),
) -> None:
    """Answer with ``status`` and ``body``, then close the connection."""
    reason = _REASONS.get(status, "")
    head = [
        f"HTTP/1.1 {status} {reason}",
        f"content-type: {content_type}",
        f"content-length: {len(body)}",
        "connection: close",
        *(f"{name}: {value}" for name, value in headers),
    ]
    try:
        await stream.send_all(("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body)
    except (trio.BrokenResourceError, trio.ClosedResourceError):
        pass  # the peer left: nothing to tell it
    finally:
        await trio.aclose_forcefully(stream)


_REASONS = {
    200: "OK",
    400: "Bad Request",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    503: "Service Unavailable",
}


class Replayed(trio.abc.Stream):
    """``stream``, with ``head`` read again first: for trio-websocket, which parses
    the upgrade itself."""

    def __init__(self, stream: trio.abc.Stream, head: bytes) -> None:
        self._stream = stream
        self._head = head

    async def receive_some(self, max_bytes: int | None = None) -> bytes:
        if self._head:
            size = len(self._head) if max_bytes is None else max_bytes
            data, self._head = self._head[:size], self._head[size:]
            await trio.lowlevel.checkpoint()
            return data
        return bytes(await self._stream.receive_some(max_bytes))

    async def send_all(self, data: bytes | bytearray | memoryview) -> None:
        await self._stream.send_all(data)

    async def wait_send_all_might_not_block(self) -> None:
        await self._stream.wait_send_all_might_not_block()

    async def aclose(self) -> None:
        await self._stream.aclose()
