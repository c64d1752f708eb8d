"""The WebSocket transport: the only module that knows the WebSocket protocol library.

The engine's reader drives websockets' sans-io ``ClientProtocol`` itself: the task
that waits for a message reads the socket and feeds the protocol, with no hidden
reader task and no channel between them. The common case is done here: whole,
unfragmented data frames are cut out of the bytes read by the sans-io receiving half,
:class:`_Incoming` (every other frame goes to the protocol, from its first byte), and
the messages sent are framed here, then written at once, without waiting when the
socket takes them (:meth:`Transport.write_now`).
Over ``wss://`` it drives TLS sans-io too (``ssl.SSLObject`` over memory buffers), so
the bytes on the socket are its own down to TCP. It opens the socket (mapping every
handshake failure to a dgtrio error), carries frames both ways, and reports the end
of the connection as :class:`TransportClosed` with the close code and reason, which
the engine turns into typed errors. Only public names of websockets are used.
"""

from __future__ import annotations

import logging
import os
import ssl
import struct
from collections.abc import Iterable
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

import attrs
import trio
from websockets.client import ClientProtocol
from websockets.exceptions import InvalidStatus, PayloadTooBig
from websockets.frames import Frame, Opcode
from websockets.http11 import Response
from websockets.protocol import State
from websockets.uri import parse_uri

try:
    from websockets.speedups import apply_mask
except ImportError:  # pragma: no cover - websockets built without its C extension
    from websockets.utils import apply_mask

from ._auth import BaseURL, Credentials
from ._errors import ConnectError, ConnectTimeout, HandshakeRejected, handshake_error
from ._version import __version__

__all__ = ["Target", "Transport", "TransportClosed", "connect"]

log = logging.getLogger("dgtrio")

# Reading in large slices matters: a Results frame is ~2 KB, and each read is a system
# call and a pass through the scheduler.
_RECEIVE_BUFFER = 64 * 1024
# Bytes of an upgrade response read before its head must have ended: more than the
# protocol accepts (128 header lines of 8 KiB), which then refuses it.
_MAX_HEAD = 2 * 1024 * 1024
_MAX_HEADER = 14  # bytes of a frame's header, at most (with a mask key)
_USER_AGENT = f"dgtrio/{__version__}"
# Seconds a sender whose write failed reads on, to learn how the peer closed.
_LEARN_TIMEOUT = 1.0
# Whether a socket's descriptor can be written with os.write (not on Windows).
_DIRECT = os.name == "posix"


class _NoDebug(logging.LoggerAdapter):  # type: ignore[type-arg]
    """The protocol's logger, never at DEBUG: websockets logs every header of the
    upgrade there, ``Authorization`` included, and the key must never reach a log."""

    def isEnabledFor(self, level: int) -> bool:
        return level > logging.DEBUG and self.logger.isEnabledFor(level)


_PROTOCOL_LOG = _NoDebug(logging.getLogger("dgtrio.websocket"), {})


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


class _Tls:
    """TLS over the socket, sans-io (an ``ssl.SSLObject`` over memory buffers): what
    is written is encrypted here and goes to the socket as any bytes do, so that a
    frame can be written without waiting over TLS too; what is read is decrypted
    here. The context verifies the server as ``ssl.create_default_context()`` does."""

    __slots__ = ("_incoming", "_outgoing", "tls")

    def __init__(self, context: ssl.SSLContext, host: str) -> None:
        self._incoming = ssl.MemoryBIO()
        self._outgoing = ssl.MemoryBIO()
        self.tls = context.wrap_bio(self._incoming, self._outgoing, server_hostname=host)

    def encrypt(self, data: bytes) -> bytes:
        """``data`` as TLS records, after whatever TLS itself has to send."""
        if data:
            self.tls.write(data)
        return self._outgoing.read()

    def decrypt(self, data: bytes) -> tuple[bytes, bool]:
        """What ``data`` (``b""``: the end of the TCP stream) holds for the layer
        above, and whether the stream has ended. Records that are TLS's own (a
        session ticket) give nothing; their answer, if any, goes with the next
        :meth:`encrypt`."""
        if data:
            self._incoming.write(data)
        else:
            self._incoming.write_eof()
        parts: list[bytes] = []
        try:
            while chunk := self.tls.read(_RECEIVE_BUFFER):
                parts.append(chunk)
            ended = True  # a close_notify
        except ssl.SSLWantReadError:
            ended = False
        except ssl.SSLError:
            ended = True  # truncated or corrupt: the stream is over
        return b"".join(parts), ended

    async def handshake(self, stream: trio.SocketStream) -> None:
        """Run the TLS handshake over ``stream``. Raises ``ssl.SSLError`` (a
        certificate that does not verify, a peer that does not speak TLS)."""
        while True:
            try:
                self.tls.do_handshake()
            except ssl.SSLWantReadError:
                pass
            else:
                break
            await stream.send_all(self._outgoing.read())
            data = await stream.receive_some(_RECEIVE_BUFFER)
            if not data:
                raise ssl.SSLEOFError("the server closed the connection in the TLS handshake")
            self._incoming.write(data)
        if pending := self._outgoing.read():
            await stream.send_all(pending)


class _Incoming:
    """The receiving half of a socket, sans-io: the bytes read become the messages in
    them and, once the protocol knows, how the socket closed.

    Whole, unfragmented text and binary frames are cut out here (:meth:`_split`);
    every other frame goes to websockets' protocol from its first byte, which
    answers, joins or fails it. There is no I/O here: :class:`Transport` reads the
    socket and hands each read to :meth:`_take`. It is a base class rather than a
    member so that the hot path (a frame cut here, its message taken by
    ``receive()``) reads this state with no extra attribute hop.
    """

    __slots__ = (
        "_begun",
        "_closed",
        "_closing",
        "_fragments",
        "_held",
        "_held_size",
        "_limit",
        "_messages",
        "_next",
        "_owed",
        "_pongs",
        "_protocol",
        "_text",
        "_wanted",
    )

    def __init__(self, protocol: ClientProtocol, max_message_size: int) -> None:
        self._protocol = protocol
        self._limit = max_message_size
        # Messages parsed, from the next to take on (a list and an index: a deque
        # costs 600 bytes even empty, and connections are many).
        self._messages: list[str | bytes] = []
        self._next = 0
        self._fragments: list[bytes] = []  # of a message in several frames
        self._text = False  # ... whose first frame was text
        self._closed: TransportClosed | None = None  # why, once no frame can come
        # Bytes read that end in the middle of a frame (see _split), and how many the
        # first of them needs in all (0: its header is not whole yet).
        self._held: list[bytes] = []
        self._held_size = 0
        self._wanted = 0
        # A frame the protocol has begun: its bytes still to feed it, or, while its
        # header is not whole, the bytes of it fed so far.
        self._owed = 0
        self._begun = b""
        self._pongs: dict[bytes, trio.Event] = {}  # pings sent, each ended by its pong
        self._closing = False  # this side sent a close frame (Transport.aclose)

    @property
    def buffered(self) -> bool:
        """Whether :meth:`Transport.receive` has a message without reading."""
        return self._next < len(self._messages)

    def _take(self, data: bytes, ended: bool) -> None:
        """Take the bytes one read brought, and whether the stream ended there."""
        protocol = self._protocol
        if data:
            self._split(data)
        if ended:
            if self._held:  # a frame cut short: the protocol says how that ends
                self._feed(self._release())
            protocol.receive_eof()
            self._frames(protocol.events_received())
        ended = protocol.close_rcvd is not None or protocol.parser_exc is not None
        if self._closed is None and (ended or protocol.state is State.CLOSED):
            self._closed = self._ended()

    def _split(self, data: bytes) -> None:
        """Cut whole, unfragmented text and binary frames out of ``data`` here; feed
        every other frame to the protocol.

        Such frames are nearly all a server sends, and the protocol's parser, written
        for every case, costs more than the rest of a message's way to the user.
        Every other frame (control frames, fragments, reserved bits or opcodes, a
        mask, a size over the limit) reaches the protocol from its first byte as it
        arrives, so that its parser always starts at a frame boundary and judges,
        answers or fails the frame as it would have. A data frame that is not whole
        yet waits for the next read; once the socket is closing, the protocol takes
        everything.
        """
        size, at = len(data), 0
        while self._held and at < size:
            # The frame the last read cut short, completed from this read: only the
            # bytes it needs are joined to it (its header's first, if that was cut).
            need = self._wanted - self._held_size if self._wanted else _MAX_HEADER
            if self._wanted and size - at < need:
                self._held.append(data[at:])
                self._held_size += size - at
                return
            piece = self._release() + data[at : at + need]
            at += need
            self._cut(piece, 0)
        if at < size:
            self._cut(data, at)

    def _cut(self, data: bytes, at: int) -> None:
        """:meth:`_split` for ``data`` from ``at`` on, with nothing held before it."""
        protocol, limit, messages = self._protocol, self._limit, self._messages
        size = len(data)
        while at < size and protocol.state is State.OPEN and self._closed is None:
            if self._owed or self._begun:
                at = self._to_protocol(data, at)
                continue
            if size - at < 2:
                self._hold(data[at:], 0)
                return
            # FIN, no reserved bit, text or binary, no mask, no fragmented message
            # open, within the limit: the protocol would only have passed it on.
            first = data[at]
            if (first != 0x82 and first != 0x81) or data[at + 1] & 0x80 or self._fragments:
                at = self._to_protocol(data, at)
                continue
            # _bounds() inline, for a frame with no mask: this loop is the hot path.
            length, start = data[at + 1], at + 2
            if length > 125:
                start += 2 if length == 126 else 8
                if start > size:
                    self._hold(data[at:], 0)
                    return
                length = int.from_bytes(data[at + 2 : start])
            end = start + length
            if length > limit:
                at = self._to_protocol(data, at)  # which fails it from its header
            elif end > size:
                self._hold(data[at:], end - at)
                return
            else:
                if first == 0x82:
                    messages.append(data[start:end])
                else:
                    self._message(data[start:end], True)
                at = end
        if at < size:
            self._feed(data[at:])

    def _to_protocol(self, data: bytes, at: int) -> int:
        """Feed the protocol the frame it is to judge, from ``at`` on, as far as
        ``data`` goes; the position after."""
        if not self._owed:
            begun = self._begun + data[at : at + _MAX_HEADER]
            bounds = _bounds(begun, 0)
            if bounds is None:  # where it ends is not known yet: all of it goes
                self._begun = begun
                self._feed(data[at:])
                return len(data)
            self._owed, self._begun = bounds[1] - len(self._begun), b""
        end = min(len(data), at + self._owed)
        self._owed -= end - at
        self._feed(data[at:end])
        return end

    def _hold(self, data: bytes, wanted: int) -> None:
        """Keep the start of a frame (``wanted``: its whole size, 0 if its header is
        not whole) for the next read."""
        self._held, self._held_size, self._wanted = [data], len(data), wanted

    def _release(self) -> bytes:
        data = b"".join(self._held)
        self._held, self._held_size, self._wanted = [], 0, 0
        return data

    def _feed(self, data: bytes) -> None:
        """Feed ``data`` to the protocol; take the frames it parsed."""
        self._protocol.receive_data(data)
        self._frames(self._protocol.events_received())

    def _frames(self, events: Iterable[object]) -> None:
        for event in events:
            if isinstance(event, Frame) and self._closed is None:
                self._frame(event)

    def _frame(self, frame: Frame) -> None:
        opcode = frame.opcode
        if opcode is Opcode.TEXT or opcode is Opcode.BINARY:
            if frame.fin:
                self._message(bytes(frame.data), opcode is Opcode.TEXT)
            else:
                self._fragments, self._text = [bytes(frame.data)], opcode is Opcode.TEXT
        elif opcode is Opcode.CONT:
            self._fragments.append(bytes(frame.data))
            if frame.fin:
                data, self._fragments = b"".join(self._fragments), []
                self._message(data, self._text)
        elif opcode is Opcode.PONG:
            waiting = self._pongs.pop(bytes(frame.data), None)
            if waiting is not None:
                waiting.set()

    def _message(self, data: bytes, text: bool) -> None:
        if not text:
            self._messages.append(data)
            return
        try:
            self._messages.append(data.decode())
        except UnicodeDecodeError as exc:
            reason = f"invalid UTF-8 at position {exc.start}"
            self._protocol.fail(1007, reason)
            self._closed = TransportClosed(1007, reason)

    def _ended(self) -> TransportClosed:
        """Why the socket closed, once the protocol knows."""
        protocol = self._protocol
        sent, received = protocol.close_sent, protocol.close_rcvd
        if isinstance(protocol.parser_exc, PayloadTooBig) and not self._closing:
            return TransportClosed(1009, sent.reason if sent else "", too_large=True)
        if received is not None:
            return TransportClosed(received.code, received.reason)
        if sent is not None and protocol.parser_exc is not None:
            return TransportClosed(sent.code, sent.reason)  # this side failed it (1002)
        return TransportClosed(1006, "")

    def _why(self) -> TransportClosed:
        """A fresh error saying how the socket closed (1006 when it is not known):
        one per raise, so that no traceback grows on a shared instance."""
        closed = self._closed or TransportClosed(1006, "")
        return TransportClosed(closed.code, closed.reason, too_large=closed.too_large)


class Transport(_Incoming):
    """An open WebSocket: frames in and out, and the handshake's response headers.

    One task receives (the engine's reader, or :meth:`aclose` when none does); any
    task may send: writes are whole, one at a time, in the order they were made.
    What a read brings is made sense of by the sans-io half, :class:`_Incoming`.
    """

    __slots__ = (
        "_direct",
        "_outbox",
        "_read_done",
        "_reading",
        "_stream",
        "_tls",
        "_unsent",
        "_writing",
        "_written",
        "headers",
        "request_id",
    )

    def __init__(
        self,
        stream: trio.SocketStream,
        tls: _Tls | None,
        protocol: ClientProtocol,
        response: Response,
        max_message_size: int,
    ) -> None:
        super().__init__(protocol, max_message_size)
        self._stream = stream
        self._tls = tls
        self.headers = _header_dict(response.headers.raw_items())
        self.request_id: str | None = self.headers.get("dg-request-id")
        self._reading = False
        self._read_done: trio.Event | None = None  # for aclose, while receive() reads
        self._writing = False
        self._written: trio.Event | None = None  # for a send waiting on another's
        # The socket can be written without waiting (write_now); what it did not take
        # then goes out first at the next write (bytes as sent: encrypted, over TLS).
        self._direct = stream.socket if _DIRECT else None
        self._unsent = b""
        self._outbox = b""  # messages framed here, to go out before the protocol's frames

    # -- receiving ---------------------------------------------------------------------------

    async def receive(self) -> str | bytes:
        """The next message; after the close, :class:`TransportClosed`. Messages that
        arrived before a close are all delivered first.

        A message parsed already is taken without a pass through the scheduler: the
        engine's reader drains a burst in one go. It still yields when it waits for
        the socket, so it cannot starve other tasks.
        """
        messages = self._messages
        while self._next == len(messages):
            if self._closed is not None:
                raise self._why()
            await self._read_turn()
        message = messages[self._next]
        self._next += 1
        if self._next == len(messages):
            messages.clear()
            self._next = 0
        return message

    async def _read_turn(self) -> None:
        """Read once; or, while another task reads (the reader, or ``aclose``), wait
        until its read is done."""
        if self._reading:
            done = self._read_done = self._read_done or trio.Event()
            await done.wait()
            return
        self._reading = True
        try:
            await self._read()
        finally:
            self._reading = False
            if self._read_done is not None:
                self._read_done.set()
                self._read_done = None

    async def _read(self) -> None:
        """Read once from the socket, take what it brought."""
        self._take(*await _receive(self._stream, self._tls))
        await self._flush()  # pongs, the answer to a close, or our 1009; a peer gone
        # already ends the stream at the next read

    # -- sending -------------------------------------------------------------------------------

    async def send(self, frame: str | bytes) -> None:
        """Send one text or binary message. Raises :class:`TransportClosed`."""
        protocol = self._protocol
        if protocol.state is not State.OPEN:
            raise self._why()
        if self.write_now(frame):
            if self._unsent:
                await self.flush()
            return
        self._outbox = self._to_send() + _data_frame(frame)
        await self._write()

    def _to_send(self) -> bytes:
        """What waits to go out, in order, taken: messages framed here, then the
        protocol's own frames (pongs, a close)."""
        data = self._outbox + b"".join(self._protocol.data_to_send())
        self._outbox = b""
        return data

    def write_now(self, frame: str | bytes) -> bool:
        """Write one message without waiting, as asyncio's transports do: whether it
        was taken. The socket takes what it can at once; any rest goes out first at
        the next write (see :attr:`backlogged`). Not taken (False, nothing done): a
        write is under way or waiting, the socket is not open, or the platform has
        no such write (Windows); use :meth:`send`.

        Sending a small frame through trio's stream costs a pass through the
        scheduler and several context managers; a real-time stream sends 50 a
        second, and at hundreds of streams that is what bounds how many fit.
        """
        sock, protocol = self._direct, self._protocol
        if sock is None or self._writing or self._unsent or protocol.state is not State.OPEN:
            return False
        try:
            data = _on_the_wire(self._to_send() + _data_frame(frame), self._tls)
        except ssl.SSLError:
            # TLS failed (it wants a renegotiation, or is broken): so has the
            # connection. Closing the socket ends the reader's read, which reports it.
            self._direct = None
            self._stream.socket.close()
            return True
        try:
            written = os.write(sock.fileno(), data)
        except OSError:
            # Full (or gone: the next write finds out how, as send() would).
            written = 0
        if written < len(data):
            self._unsent = data[written:]
        return True

    @property
    def backlogged(self) -> bool:
        """Part of a message :meth:`write_now` took is still to go out: write it with
        :meth:`flush` before anything is waited for."""
        return bool(self._unsent)

    async def flush(self) -> None:
        """Write the rest :meth:`write_now` left. Cancelling it is safe: what was not
        written stays, to go out first at the next write. Raises
        :class:`TransportClosed`."""
        sock = self._direct
        while self._unsent and not self._writing and sock is not None:
            self._writing = True
            try:
                await trio.lowlevel.wait_writable(sock)
                written = os.write(sock.fileno(), self._unsent)
            except BlockingIOError:
                written = 0
            except (OSError, trio.ClosedResourceError):
                break  # gone, or closed here: _write() below finds out how
            finally:
                self._write_done()
            self._unsent = self._unsent[written:]
        await self._write()

    async def ping(self) -> None:
        """Send a WebSocket ping and return when its pong arrives: bound the wait, a
        dead peer never answers. Raises :class:`TransportClosed`."""
        if self._protocol.state is not State.OPEN:
            raise self._why()
        payload = os.urandom(4)
        answered = self._pongs[payload] = trio.Event()
        try:
            self._protocol.send_ping(payload)
            await self._write()
            await answered.wait()
        finally:
            self._pongs.pop(payload, None)

    async def _flush(self) -> bool:
        """Write what the protocol has to send, whole and in order; whether the
        stream took it. A write already under way (another task's) carries it, or
        this one waits and writes after."""
        while self._writing:
            if self._written is None:
                self._written = trio.Event()
            await self._written.wait()
        try:
            data = _on_the_wire(self._to_send(), self._tls)
        except ssl.SSLError:
            return False  # TLS is broken: so is the connection
        if self._unsent:
            data, self._unsent = self._unsent + data, b""
        if not data:
            return True
        self._writing = True
        try:
            await self._stream.send_all(data)
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            return False
        finally:
            self._write_done()
        return True

    def _write_done(self) -> None:
        """The write under way is over: wake a send waiting for it."""
        self._writing = False
        if self._written is not None:
            self._written.set()
            self._written = None

    async def _write(self) -> None:
        """:meth:`_flush` for a sender. When the stream refuses the write, the peer
        has gone; how (its close frame may be waiting unread) is learnt by reading
        to the end, briefly, so that a sender reports what the reader will."""
        if await self._flush():
            return
        with trio.move_on_after(_LEARN_TIMEOUT):
            while self._closed is None:
                await self._read_turn()
        raise self._why()

    # -- closing -------------------------------------------------------------------------------

    async def aclose(self, code: int = 1000, reason: str | None = None) -> None:
        """Close with a close frame and wait for the server's answer (idempotent)."""
        protocol = self._protocol
        if protocol.state is State.OPEN:
            self._closing = True
            protocol.send_close(code, reason or "")
            if not await self._flush():
                return  # the peer is gone
        # The server's close frame, then the end of its stream, are read by the
        # reader if one reads, else here: a client waits for the server to close the
        # TCP connection (after a failure, discarding what still comes).
        while protocol.state is not State.CLOSED:
            await self._read_turn()

    async def stop(self) -> None:
        """Close the stream; after ``aclose``, or instead of it."""
        if self._closed is None:
            self._closed = TransportClosed(1006, "")
        await self.abort()

    async def abort(self) -> None:
        """Drop the TCP connection without a closing handshake: for a socket whose
        stream can no longer carry a close frame (a write was cut short)."""
        self._direct = None  # its descriptor may soon be another socket's
        await trio.aclose_forcefully(self._stream)


async def connect(target: Target, credentials: Credentials | None) -> Transport:
    """Open the socket.

    Raises:
        ConnectTimeout: no completed handshake within ``target.connect_timeout``.
        HandshakeRejected: the server refused the upgrade (a subclass per status).
        ConnectError: DNS, TCP or TLS failure, or the socket died mid-handshake.
    """
    log.debug("connecting to %s", target.url)
    try:
        with trio.fail_after(target.connect_timeout):
            stream, tls = await _open_stream(target)
            try:
                transport = await _handshake(target, credentials, stream, tls)
            except BaseException:
                await trio.aclose_forcefully(stream)
                raise
    except trio.TooSlowError:
        raise ConnectTimeout(
            f"no WebSocket handshake with {target.url} within {target.connect_timeout:g} s"
        ) from None
    log.debug("connected to %s, request id %s", target.url, transport.request_id)
    return transport


async def _open_stream(target: Target) -> tuple[trio.SocketStream, _Tls | None]:
    """The TCP connection, and over ``wss://`` its TLS, handshaken before the upgrade:
    a certificate error shows as itself, not as a connection closed in the middle of
    the upgrade."""
    base = target.base
    try:
        stream = await trio.open_tcp_stream(base.host, base.port)
    except (OSError, trio.BrokenResourceError) as exc:
        raise _cannot_connect(exc, target.url) from exc
    if not base.secure:
        return stream, None
    try:
        tls = _Tls(target.ssl_context or ssl.create_default_context(), base.host)
        await tls.handshake(stream)
    except BaseException as exc:
        await trio.aclose_forcefully(stream)
        if isinstance(exc, OSError | trio.BrokenResourceError):
            raise _cannot_connect(exc, target.url) from exc
        raise
    return stream, tls


def _on_the_wire(data: bytes, tls: _Tls | None) -> bytes:
    """WebSocket bytes as they go on the wire (with TLS's own, over TLS)."""
    return data if tls is None else tls.encrypt(data)


def _data_frame(message: str | bytes) -> bytes:
    """``message`` as a client sends it: one final frame, masked (RFC 6455, 5.2-5.3).

    Framed here, not by the protocol, which would draw each frame's mask key from
    the OS with a system call of its own: at 50 frames a second per stream that
    costs as much as the rest of the framing. The protocol still frames and sends
    its own control frames (pongs, the close); the two meet in order in
    :meth:`Transport._to_send`.
    """
    if isinstance(message, str):
        payload, first = message.encode(), 0x81
    else:
        payload, first = message, 0x82
    size = len(payload)
    if size < 126:
        head = bytes((first, 0x80 | size))
    elif size < 1 << 16:
        head = struct.pack("!BBH", first, 0x80 | 126, size)
    else:
        head = struct.pack("!BBQ", first, 0x80 | 127, size)
    mask = _mask_key()
    return head + mask + apply_mask(payload, mask)


class _MaskKeys:
    """Mask keys for the frames a client sends: 4 bytes each, unpredictable as the
    RFC asks, taken from the OS's random bytes 1,024 keys at a time."""

    __slots__ = ("_at", "_keys")

    def __init__(self) -> None:
        self._keys = b""
        self._at = 0

    def __call__(self) -> bytes:
        at = self._at
        if at == len(self._keys):
            self._keys, at = os.urandom(4096), 0
        self._at = at + 4
        return self._keys[at : at + 4]


_mask_key = _MaskKeys()


async def _receive(stream: trio.SocketStream, tls: _Tls | None) -> tuple[bytes, bool]:
    """What one read of ``stream`` brings (decrypted, over TLS), and whether the
    stream has ended (read, or broken)."""
    try:
        if _DIRECT:
            # The socket's descriptor, read as write_now writes it: what trio's stream
            # adds (three more frames per waiting reader, a conflict check, a second
            # pass through the scheduler) is what idle connections and busy readers
            # pay most for. Like the stream, a read that does not wait still yields.
            sock, waited = stream.socket, False
            await trio.lowlevel.checkpoint_if_cancelled()
            while True:
                try:
                    data = os.read(sock.fileno(), _RECEIVE_BUFFER)
                    break
                except BlockingIOError:
                    await trio.lowlevel.wait_readable(sock)
                    waited = True
            if not waited:
                await trio.lowlevel.cancel_shielded_checkpoint()
        else:
            data = await stream.receive_some(_RECEIVE_BUFFER)
    except (OSError, trio.BrokenResourceError, trio.ClosedResourceError):
        data = b""
    if tls is None:
        return data, not data
    return tls.decrypt(data)


def _bounds(data: bytes, at: int) -> tuple[int, int] | None:
    """Where the payload of the frame at ``at`` starts and where the frame ends (any
    mask key counted), or None while its header is not whole."""
    if len(data) - at < 2:
        return None
    second = data[at + 1]
    length, start = second & 0x7F, at + 2
    if length > 125:
        start += 2 if length == 126 else 8
        if start > len(data):
            return None
        length = int.from_bytes(data[at + 2 : start])
    if second & 0x80:
        start += 4
    return start, start + length


async def _handshake(
    target: Target, credentials: Credentials | None, stream: trio.SocketStream, tls: _Tls | None
) -> Transport:
    """The WebSocket upgrade over ``stream``."""
    base = target.base
    scheme = "wss" if base.secure else "ws"
    host = f"[{base.host}]" if ":" in base.host else base.host
    uri = parse_uri(f"{scheme}://{host}:{base.port}{base.resource(target.path, target.query)}")
    protocol = ClientProtocol(uri, max_size=target.max_message_size, logger=_PROTOCOL_LOG)
    _send_request(protocol, credentials)
    events: list[object] = []
    buffer, ended = b"", False

    def feed(data: bytes, ended: bool) -> None:
        if data:
            protocol.receive_data(data)
        if ended:
            protocol.receive_eof()
        events.extend(protocol.events_received())

    try:
        # No local holds the request: it carries the key (see _send_request).
        await stream.send_all(_on_the_wire(b"".join(protocol.data_to_send()), tls))
        while b"\r\n\r\n" not in buffer and not ended and len(buffer) < _MAX_HEAD:
            data, ended = await _receive(stream, tls)
            buffer += data
        # The protocol gets the response's head alone: the frames right behind it are
        # the transport's to take (see _Incoming._split), from a frame boundary.
        end = buffer.find(b"\r\n\r\n")
        end = len(buffer) if end < 0 else end + 4
        feed(buffer[:end], False)
        rest = buffer[end:]
        while protocol.state is State.CONNECTING and protocol.handshake_exc is None:
            # Not upgraded: a refusal, whose body follows its head (or a head cut short).
            feed(rest, ended)
            if ended or protocol.handshake_exc is not None:
                break
            rest, ended = await _receive(stream, tls)
    except (OSError, trio.BrokenResourceError) as exc:
        raise _cannot_connect(exc, target.url) from exc
    failure = protocol.handshake_exc
    if isinstance(failure, InvalidStatus):
        raise _rejected(failure.response, target.url)
    responses = [event for event in events if isinstance(event, Response)]
    if failure is not None or not responses:
        error = ConnectError(f"{target.url} closed the connection during the handshake")
        error.__cause__ = failure
        raise error
    transport = Transport(stream, tls, protocol, responses[0], target.max_message_size)
    transport._take(rest, ended)  # frames the server sent right behind its response
    return transport


def _send_request(protocol: ClientProtocol, credentials: Credentials | None) -> None:
    """Queue the upgrade request. A function of its own: the request holds the key, and
    no frame of a traceback may show it among its locals."""
    request = protocol.connect()
    request.headers["User-Agent"] = _USER_AGENT
    if credentials is not None:
        request.headers["Authorization"] = credentials.authorization().decode("latin-1")
    protocol.send_request(request)


def _cannot_connect(exc: BaseException, url: str) -> ConnectError:
    error = ConnectError(f"cannot connect to {url}: {_describe(exc)}")
    error.__cause__ = exc
    return error


def _describe(exc: BaseException) -> str:
    cause = exc.__cause__ or exc.__context__
    if isinstance(exc, trio.BrokenResourceError) and cause is not None:
        exc = cause  # trio wraps TLS failures (e.g. certificate verify failed)
    return str(exc) or type(exc).__name__


def _header_dict(pairs: Iterable[tuple[str, str]]) -> dict[str, str]:
    """HTTP headers as a dict with lower-case names."""
    return {name.lower(): value for name, value in pairs}


def _rejected(response: Response, url: str) -> HandshakeRejected:
    headers = _header_dict(response.headers.raw_items())
    body = bytes(response.body or b"")[:1000].decode("utf-8", errors="replace").strip()
    return handshake_error(
        response.status_code,
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
