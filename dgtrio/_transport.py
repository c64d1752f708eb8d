"""The WebSocket transport: the only module that knows trio-websocket.

It opens the socket (mapping every handshake failure to a dgtrio error), sends and
receives frames, and reports the end of the connection as :class:`TransportClosed`
carrying the close code and reason, which the engine turns into typed errors.
"""

from __future__ import annotations

import logging
import ssl
from collections.abc import Awaitable, Callable, Iterable
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import cast

import attrs
import trio
import trio_websocket
from wsproto.utilities import LocalProtocolError

from ._auth import BaseURL, Credentials
from ._errors import ConnectError, ConnectTimeout, HandshakeRejected, handshake_error
from ._version import __version__

__all__ = ["Target", "Transport", "TransportClosed", "connect"]

log = logging.getLogger("dgtrio")

# Reading in large slices matters: a Results frame is ~2 KB and trio-websocket's
# default of 4 KiB would cost a receive call for nearly every message.
_RECEIVE_BUFFER = 64 * 1024
# Messages trio-websocket's reader may parse ahead of the engine's reader: with its
# default of one, the reader and the loop take turns for every message.
_MESSAGE_QUEUE = 16
_USER_AGENT = f"dgtrio/{__version__}".encode()


class TransportClosed(Exception):
    """The socket is closed: ``code``/``reason`` as the close frame said (1006: none);
    ``too_large``: closed by this side because a frame exceeded ``max_message_size``."""

    def __init__(self, code: int, reason: str, *, too_large: bool = False) -> None:
        super().__init__(code, reason)
        self.code = code
        self.reason = reason
        self.too_large = too_large


@attrs.frozen
class Target:
    """Everything needed to open one socket. Holds no secret: credentials travel apart."""

    base: BaseURL
    path: str
    query: str = ""
    ssl_context: ssl.SSLContext | None = None
    connect_timeout: float = 10.0
    max_message_size: int = 16 * 1024 * 1024

    @property
    def url(self) -> str:
        """The socket URL, for logs and errors."""
        return self.base.url(self.path, self.query)


class Transport:
    """An open WebSocket: frames in and out, and the handshake's response headers."""

    def __init__(
        self,
        ws: trio_websocket.WebSocketConnection,
        stream: trio.SocketStream | trio.SSLStream[trio.SocketStream],
        lifetime: trio.CancelScope,
    ) -> None:
        self._ws = ws
        self._stream = stream
        self._lifetime = lifetime
        self._closing = False
        self.headers = _header_dict(ws.handshake_headers)
        self.request_id: str | None = self.headers.get("dg-request-id")
        # trio-websocket's queue of messages its reader has parsed (a private name,
        # looked up once; without it every receive waits in get_message).
        self._parsed: trio.MemoryReceiveChannel[str | bytes] | None = getattr(
            ws, "_recv_channel", None
        )

    async def send(self, frame: str | bytes) -> None:
        """Send one text or binary frame. Raises :class:`TransportClosed`."""
        try:
            await self._ws.send_message(frame)
        except trio_websocket.ConnectionClosed as exc:
            raise self._closed(exc) from None

    async def receive(self) -> str | bytes:
        """The next frame; after the close, :class:`TransportClosed`. Frames that
        arrived before a close are all delivered first.

        A frame parsed already is taken without a pass through the scheduler
        (``get_message`` always makes one): the engine's reader drains a burst in one
        go. It still yields when it waits, so it cannot starve other tasks.
        """
        if self._parsed is not None:
            try:
                return self._parsed.receive_nowait()
            except (trio.WouldBlock, trio.EndOfChannel, trio.ClosedResourceError):
                pass  # wait for one, or let get_message report the close
        try:
            return await self._ws.get_message()
        except trio_websocket.ConnectionClosed as exc:
            raise self._closed(exc) from None

    async def ping(self) -> None:
        """Send a WebSocket ping and return when its pong arrives: bound the wait, a
        dead peer never answers. Raises :class:`TransportClosed`."""
        try:
            await self._ws.ping()
        except trio_websocket.ConnectionClosed as exc:
            raise self._closed(exc) from None

    async def aclose(self, code: int = 1000, reason: str | None = None) -> None:
        """Close with a close frame and wait for the server's answer (idempotent)."""
        self._closing = True
        await self._ws.aclose(code, reason)

    def stop(self) -> None:
        """End the socket's task (its reader) and close the stream; after ``aclose``."""
        self._lifetime.cancel()

    async def abort(self) -> None:
        """Drop the TCP connection without a closing handshake: for a socket whose
        stream can no longer carry a close frame (a write was cut short)."""
        await trio.aclose_forcefully(self._stream)

    def _closed(self, exc: trio_websocket.ConnectionClosed) -> TransportClosed:
        reason = exc.reason
        if reason is None:
            return TransportClosed(1006, "")
        # Who closed, not the reason's text, tells our 1009 from a server's: get_message
        # raises ConnectionClosed from its message queue's error, kept as the context.
        # The queue ends (EndOfChannel) when the server closed or the socket was lost;
        # it is closed here (ClosedResourceError) by aclose(), or by trio-websocket
        # itself, which closes on its own only for a frame over max_message_size.
        here = isinstance(exc.__context__, trio.ClosedResourceError)
        too_large = reason.code == 1009 and here and not self._closing
        return TransportClosed(reason.code, reason.reason or "", too_large=too_large)


def _header_dict(pairs: Iterable[tuple[bytes, bytes]]) -> dict[str, str]:
    """HTTP headers as a dict with lower-case names."""
    return {name.decode("latin-1").lower(): value.decode("latin-1") for name, value in pairs}


class _Reader:
    """Runs trio-websocket's reader task in the caller's nursery, and owns the stream.

    ``wrap_client_stream`` takes a nursery only to call ``start_soon`` on it once, for
    its reader; this object is passed instead (``trio.Nursery`` is final, hence the
    ``cast`` at the call). It makes the reader the socket's only task, with no nursery
    of its own, and:

    * closes the stream when the reader ends: trio-websocket leaves a client's stream
      open when the server finishes the closing handshake first;
    * runs the reader in ``lifetime``, a scope shielded once the socket is open: a
      caller's cancellation must not stop the reader before the closing handshake.
      ``Transport.stop()`` cancels it;
    * ends ``handshake`` when the reader ends, and keeps its failure for ``connect``
      rather than failing the caller's nursery: trio-websocket waits for the opening
      handshake until something cancels it, even when its reader has stopped because
      the socket died.
    """

    __slots__ = ("_nursery", "_open", "_stream", "failure", "handshake", "lifetime")

    def __init__(
        self,
        nursery: trio.Nursery,
        stream: trio.SocketStream | trio.SSLStream[trio.SocketStream],
    ) -> None:
        self._nursery = nursery
        self._stream = stream
        self.lifetime = trio.CancelScope()
        self.handshake = trio.CancelScope()
        self.failure: Exception | None = None
        self._open = False

    def open(self) -> None:
        """The handshake is done: from now on the reader's failures are the socket's."""
        self._open = True
        self.lifetime.shield = True

    def start_soon(self, reader: Callable[[], Awaitable[object]], name: object = None) -> None:
        """What ``wrap_client_stream`` calls to start its reader."""
        self._nursery.start_soon(self._run, reader, name=name)

    async def _run(self, reader: Callable[[], Awaitable[object]]) -> None:
        try:
            with self.lifetime:
                await reader()
        except LocalProtocolError:
            # trio-websocket answering a frame (a 1009 for one too large, a pong) after
            # our own close frame went out: the socket is closing anyway, and its
            # receive() says how it ended.
            if not self._open:
                raise
        except Exception as exc:
            if self._open:
                raise  # the socket is open: a failure of its own, for the nursery
            self.failure = exc  # connect() raises it, as a dgtrio error
        finally:
            self.handshake.cancel()
            await trio.aclose_forcefully(self._stream)


async def connect(
    nursery: trio.Nursery, target: Target, credentials: Credentials | None
) -> Transport:
    """Open the socket; its reader task lives in ``nursery`` until the socket closes.

    Raises:
        ConnectTimeout: no completed handshake within ``target.connect_timeout``.
        HandshakeRejected: the server refused the upgrade (a subclass per status).
        ConnectError: DNS, TCP or TLS failure, or the socket died mid-handshake.
    """
    log.debug("connecting to %s", target.url)
    try:
        with trio.fail_after(target.connect_timeout):
            stream = await _open_stream(target)
            transport = await _open_socket(nursery, target, credentials, stream)
    except trio.TooSlowError:
        raise ConnectTimeout(
            f"no WebSocket handshake with {target.url} within {target.connect_timeout:g} s"
        ) from None
    log.debug("connected to %s, request id %s", target.url, transport.request_id)
    return transport


async def _open_stream(target: Target) -> trio.SocketStream | trio.SSLStream[trio.SocketStream]:
    """The TCP (and TLS) connection, its handshakes done."""
    base = target.base
    try:
        if not base.secure:
            return await trio.open_tcp_stream(base.host, base.port)
        stream = await trio.open_ssl_over_tcp_stream(
            base.host,
            base.port,
            ssl_context=target.ssl_context or ssl.create_default_context(),
            https_compatible=True,
        )
        try:
            # Handshake now: done lazily inside trio-websocket, a certificate error
            # would only show as "connection closed".
            await stream.do_handshake()
        except BaseException:
            await trio.aclose_forcefully(stream)
            raise
        return stream
    except (OSError, trio.BrokenResourceError) as exc:
        raise _cannot_connect(exc, target.url) from exc


async def _open_socket(
    nursery: trio.Nursery,
    target: Target,
    credentials: Credentials | None,
    stream: trio.SocketStream | trio.SSLStream[trio.SocketStream],
) -> Transport:
    """The WebSocket handshake over ``stream``, which is closed if it fails."""
    base = target.base
    headers = [(b"user-agent", _USER_AGENT)]
    if credentials is not None:
        headers.append((b"authorization", credentials.authorization()))
    host = f"[{base.host}]" if ":" in base.host else base.host
    reader = _Reader(nursery, stream)
    try:
        with reader.handshake:
            ws = await trio_websocket.wrap_client_stream(
                cast(trio.Nursery, reader),
                stream,
                host if base.port in (80, 443) else f"{host}:{base.port}",
                base.resource(target.path, target.query),
                extra_headers=headers,
                max_message_size=target.max_message_size,
                receive_buffer_size=_RECEIVE_BUFFER,
                message_queue_size=_MESSAGE_QUEUE,
            )
        if reader.failure is not None:
            raise _handshake_failure(reader.failure, target.url)
        if reader.handshake.cancelled_caught:
            raise ConnectError(f"{target.url} closed the connection during the handshake")
    except BaseException:
        reader.lifetime.cancel()
        await trio.aclose_forcefully(stream)
        raise
    reader.open()
    return Transport(ws, stream, reader.lifetime)


def _handshake_failure(exc: Exception, url: str) -> Exception:
    """The one error to raise for a reader that failed during the handshake."""
    if isinstance(exc, trio_websocket.ConnectionRejected):
        return _rejected(exc, url)
    if isinstance(exc, OSError | trio.BrokenResourceError | trio_websocket.HandshakeError):
        return _cannot_connect(exc, url)
    return exc


def _cannot_connect(exc: BaseException, url: str) -> ConnectError:
    error = ConnectError(f"cannot connect to {url}: {_describe(exc)}")
    error.__cause__ = exc
    return error


def _describe(exc: BaseException) -> str:
    cause = exc.__cause__ or exc.__context__
    if isinstance(exc, trio.BrokenResourceError) and cause is not None:
        exc = cause  # trio wraps TLS failures (e.g. certificate verify failed)
    return str(exc) or type(exc).__name__


def _rejected(exc: trio_websocket.ConnectionRejected, url: str) -> HandshakeRejected:
    headers = _header_dict(exc.headers)
    body = (exc.body or b"")[:1000].decode("utf-8", errors="replace").strip()
    return handshake_error(
        exc.status_code,
        url=url,
        dg_error=headers.get("dg-error"),
        request_id=headers.get("dg-request-id"),
        retry_after=_retry_after(headers.get("retry-after")),
        body=body,
    )


def _retry_after(value: str | None) -> float | None:
    """``Retry-After`` as seconds: either delta-seconds or an HTTP date."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
        if when.tzinfo is None:  # "-0000" means UTC with no zone information
            when = when.replace(tzinfo=UTC)
        return max(0.0, (when - datetime.now(UTC)).total_seconds())
    except (TypeError, ValueError, OverflowError):
        return None
