"""``dgtrio._transport``: websockets' sans-io protocol driven by the task that reads.

Over loopback against a trio-websocket server (its public API) or a raw TCP peer
that writes frames byte by byte: messages then the server's close, fragmented
messages with control frames between the fragments, frames cut at every byte, the
size limit (this side's 1009), a server's 1009, this side's own close, pings, a
peer that vanishes, invalid UTF-8, and the handshake's bytes and headers.
"""

from __future__ import annotations

import ast
import base64
import hashlib
import itertools
import struct
import sys
from collections.abc import Awaitable, Callable, Iterator
from functools import partial
from pathlib import Path
from types import SimpleNamespace
from typing import cast

import pytest
import trio
import trio.testing
import trio_websocket
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from websockets.client import ClientProtocol
from websockets.frames import Frame, Opcode
from websockets.http11 import Response
from websockets.streams import StreamReader
from websockets.uri import parse_uri

from dgtrio._auth import BaseURL
from dgtrio._transport import Target, Transport, TransportClosed, _data_frame, connect

Handler = Callable[[trio_websocket.WebSocketConnection], Awaitable[None]]

LIMIT = 2**20
ROOT = Path(__file__).resolve().parent.parent


class Server:
    """A bare trio-websocket server running one scripted handler per connection."""

    def __init__(self, handler: Handler) -> None:
        self._handler = handler
        self.close: tuple[int, str | None] | None = None  # as the client's close said
        self.done = trio.Event()

    async def handle(self, request: trio_websocket.WebSocketRequest) -> None:
        ws = await request.accept()
        try:
            await self._handler(ws)
            await ws.get_message()  # until the client closes
        except trio_websocket.ConnectionClosed as exc:
            self.close = None if exc.reason is None else (exc.reason.code, exc.reason.reason)
        finally:
            self.done.set()


@pytest.fixture
async def serve(nursery: trio.Nursery) -> Callable[[Handler], Awaitable[tuple[Server, Target]]]:
    async def start(handler: Handler) -> tuple[Server, Target]:
        server = Server(handler)
        listening = await nursery.start(
            trio_websocket.serve_websocket, server.handle, "127.0.0.1", 0, None
        )
        base = BaseURL(secure=False, host="127.0.0.1", port=listening.port)
        return server, Target(base, "/v1/listen", max_message_size=LIMIT)

    return start


async def _receive_all(transport: Transport) -> tuple[list[str | bytes], TransportClosed]:
    frames: list[str | bytes] = []
    with trio.fail_after(5):
        while True:
            try:
                frames.append(await transport.receive())
            except TransportClosed as closed:
                return frames, closed


async def test_messages_then_the_servers_close(
    serve: Callable[[Handler], Awaitable[tuple[Server, Target]]],
) -> None:
    sent: list[str | bytes] = [f"text {i}" if i % 2 else bytes([i]) * 100 for i in range(40)]

    async def send_then_close(ws: trio_websocket.WebSocketConnection) -> None:
        for frame in sent:
            await ws.send_message(frame)
        await ws.aclose(4000, "bye")

    _, target = await serve(send_then_close)
    transport = await connect(target, None)
    frames, closed = await _receive_all(transport)
    assert frames == sent
    assert (closed.code, closed.reason, closed.too_large) == (4000, "bye", False)
    await transport.stop()


async def test_the_socket_has_no_task_of_its_own(
    serve: Callable[[Handler], Awaitable[tuple[Server, Target]]], nursery: trio.Nursery
) -> None:
    async def nothing(ws: trio_websocket.WebSocketConnection) -> None:
        pass

    server, target = await serve(nothing)
    before = len(nursery.child_tasks)
    transport = await connect(target, None)
    assert len(nursery.child_tasks) == before
    with trio.fail_after(5):
        await transport.aclose()  # nobody reads: aclose reads the answer itself
        await transport.stop()
        await server.done.wait()
    assert server.close == (1000, None)


async def test_a_frame_over_the_limit_is_closed_here_with_1009(
    serve: Callable[[Handler], Awaitable[tuple[Server, Target]]],
) -> None:
    async def send_huge(ws: trio_websocket.WebSocketConnection) -> None:
        await ws.send_message("before")
        await ws.send_message(b"x" * (LIMIT + 1))

    server, target = await serve(send_huge)
    transport = await connect(target, None)
    frames, closed = await _receive_all(transport)
    assert frames == ["before"]  # what came before the frame is delivered
    reason = f"frame with {LIMIT + 1} bytes exceeds limit of {LIMIT} bytes"
    assert (closed.code, closed.reason, closed.too_large) == (1009, reason, True)
    with trio.fail_after(5):
        await transport.aclose()  # discards the rest of the frame until the server closes
        await server.done.wait()
    assert server.close == (1009, reason)
    await transport.stop()


async def test_a_server_closing_with_1009_is_not_over_our_limit(
    serve: Callable[[Handler], Awaitable[tuple[Server, Target]]],
) -> None:
    # Even with this side's very words: who closed decides, not the text.
    reason = f"frame with {LIMIT + 1} bytes exceeds limit of {LIMIT} bytes"

    async def close_1009(ws: trio_websocket.WebSocketConnection) -> None:
        await ws.aclose(1009, reason)

    _, target = await serve(close_1009)
    transport = await connect(target, None)
    frames, closed = await _receive_all(transport)
    assert frames == []
    assert (closed.code, closed.reason, closed.too_large) == (1009, reason, False)
    await transport.stop()


async def test_our_own_close_with_1009_is_not_over_the_limit(
    serve: Callable[[Handler], Awaitable[tuple[Server, Target]]],
) -> None:
    async def nothing(ws: trio_websocket.WebSocketConnection) -> None:
        pass

    server, target = await serve(nothing)
    transport = await connect(target, None)
    with trio.fail_after(5):
        await transport.aclose(1009, "ours")
        await server.done.wait()
    _, closed = await _receive_all(transport)
    assert (closed.code, closed.too_large) == (1009, False)
    assert server.close == (1009, "ours")
    with pytest.raises(TransportClosed):
        await transport.send("after the close")
    await transport.stop()


async def test_a_ping_returns_at_its_pong(
    serve: Callable[[Handler], Awaitable[tuple[Server, Target]]],
) -> None:
    async def read(ws: trio_websocket.WebSocketConnection) -> None:
        pass  # the server's reader answers pings

    _, target = await serve(read)
    transport = await connect(target, None)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(_receive_all, transport)  # the reader feeds the pongs in
        with trio.fail_after(5):
            for _ in range(3):
                await transport.ping()
        await transport.aclose()
    await transport.stop()


# -- a raw peer: frames as bytes, cut anywhere ----------------------------------------------


def _frame(opcode: int, payload: bytes, *, fin: bool = True) -> bytes:
    """A server frame (unmasked)."""
    head = bytes([(0x80 if fin else 0) | opcode])
    size = len(payload)
    if size < 126:
        head += bytes([size])
    elif size < 2**16:
        head += bytes([126]) + struct.pack("!H", size)
    else:
        head += bytes([127]) + struct.pack("!Q", size)
    return head + payload


def _close(code: int, reason: str = "") -> bytes:
    return _frame(0x8, struct.pack("!H", code) + reason.encode())


async def start_raw_peer(
    nursery: trio.Nursery,
    wire: bytes,
    step: int,
    *,
    hang_up: bool = False,
    pause: float = 0,
    behind_head: bool = False,
    sent: trio.Event | None = None,
) -> Target:
    """A peer that answers the upgrade, then (``pause`` seconds later) writes ``wire``
    in pieces of ``step`` bytes (then sets ``sent``), and reads until the client goes
    (or, ``hang_up``, closes the TCP connection at once). ``behind_head``: the first
    piece goes in the same write as the upgrade response."""

    async def handle(stream: trio.SocketStream) -> None:
        request = b""
        while b"\r\n\r\n" not in request:
            request += await stream.receive_some()
        key = next(
            line.split(b":", 1)[1].strip()
            for line in request.split(b"\r\n")
            if line.lower().startswith(b"sec-websocket-key")
        )
        accept = base64.b64encode(hashlib.sha1(key + _GUID).digest())
        head = (
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
            b"Connection: Upgrade\r\nSec-WebSocket-Accept: " + accept + b"\r\n\r\n"
        )
        await stream.send_all(head + (wire[:step] if behind_head else b""))
        await trio.sleep(pause)
        for i in range(step if behind_head else 0, len(wire), step):
            await stream.send_all(wire[i : i + step])
            await trio.lowlevel.checkpoint()
        if sent is not None:
            sent.set()
        if hang_up:
            await stream.aclose()
            return
        try:
            while await stream.receive_some():
                pass
        except trio.BrokenResourceError:
            pass

    listeners = await nursery.start(trio.serve_tcp, handle, 0)
    port = listeners[0].socket.getsockname()[1]
    return Target(BaseURL(secure=False, host="127.0.0.1", port=port), "/x", max_message_size=1000)


_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


@pytest.fixture
def raw_peer(nursery: trio.Nursery) -> Callable[..., Awaitable[Target]]:
    return partial(start_raw_peer, nursery)


async def test_fragments_with_control_frames_between_them(
    raw_peer: Callable[..., Awaitable[Target]],
) -> None:
    wire = (
        _frame(0x1, b"hel", fin=False)
        + _frame(0x9, b"ping")  # a ping between fragments: answered, not delivered
        + _frame(0x0, "lo, wörld".encode(), fin=False)
        + _frame(0xA, b"unsolicited pong")
        + _frame(0x0, b"!")
        + _frame(0x2, b"\x00\x01")
        + _close(4001, "done")
    )
    target = await raw_peer(wire, 7)
    transport = await connect(target, None)
    frames, closed = await _receive_all(transport)
    assert frames == ["hello, wörld!", b"\x00\x01"]
    assert (closed.code, closed.reason) == (4001, "done")
    await transport.stop()


async def test_a_read_that_need_not_wait_is_still_a_checkpoint(
    raw_peer: Callable[..., Awaitable[Target]],
) -> None:
    """Reading the socket's descriptor directly keeps the stream's manners: a read
    is a schedule point even when the bytes are there already, and a cancelled one
    takes nothing."""
    sent = trio.Event()
    wire = _frame(0x1, b"one") + _frame(0x1, b"two")
    target = await raw_peer(wire, 1000, pause=0.1, sent=sent)
    transport = await connect(target, None)
    await sent.wait()  # both frames are in the socket now, unread
    with trio.CancelScope() as scope:
        scope.cancel()
        with pytest.raises(trio.Cancelled):
            await transport.receive()
    with trio.testing.assert_checkpoints():
        assert await transport.receive() == "one"
    assert await transport.receive() == "two"  # parsed already: no read, no yield
    await transport.stop()


@pytest.mark.parametrize("step", [1, 5, 9, 14, 100])
async def test_frames_in_the_same_read_as_the_upgrade_response(
    raw_peer: Callable[..., Awaitable[Target]], step: int
) -> None:
    """Frames that come with the upgrade response (the last one cut anywhere) are
    delivered whole, in order: the protocol gets the response's head alone, and the
    transport cuts what follows from a frame boundary."""
    wire = _frame(0x1, b"first") + _frame(0x9, b"p") + _frame(0x2, b"x" * 300) + _close(4000)
    target = await raw_peer(wire, step, behind_head=True)
    with trio.fail_after(5):
        transport = await connect(target, None)
        frames, closed = await _receive_all(transport)
    assert frames == ["first", b"x" * 300]
    assert closed.code == 4000
    await transport.stop()


async def test_invalid_utf8_ends_the_socket_with_1007(
    raw_peer: Callable[..., Awaitable[Target]],
) -> None:
    target = await raw_peer(_frame(0x1, b"ok") + _frame(0x1, b"\xff\xfe"), 1000)
    transport = await connect(target, None)
    frames, closed = await _receive_all(transport)
    assert frames == ["ok"]
    assert closed.code == 1007 and "UTF-8" in closed.reason
    await transport.stop()


async def test_a_peer_that_vanishes_mid_frame_is_1006(
    raw_peer: Callable[..., Awaitable[Target]],
) -> None:
    target = await raw_peer(
        _frame(0x1, b"last") + _frame(0x1, b"cut short")[:-3], 1000, hang_up=True
    )
    transport = await connect(target, None)
    frames, closed = await _receive_all(transport)
    assert frames == ["last"]
    assert (closed.code, closed.too_large) == (1006, False)
    await transport.stop()


MESSAGES = st.lists(st.one_of(st.text(max_size=60), st.binary(max_size=60)), min_size=1, max_size=8)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    messages=MESSAGES,
    split=st.integers(min_value=1, max_value=20),
    step=st.integers(min_value=1, max_value=64),
    code=st.sampled_from([1000, 1001, 1011, 4000]),
)
def test_any_message_fragmented_and_cut_anywhere_arrives_whole(
    messages: list[str | bytes], split: int, step: int, code: int
) -> None:
    """Fragmented every ``split`` bytes, with pings between fragments, and written
    ``step`` bytes at a time: every message arrives whole, in order, then the close."""
    wire = b""
    for message in messages:
        data = message.encode() if isinstance(message, str) else message
        pieces = [data[i : i + split] for i in range(0, len(data), split)] or [b""]
        for n, piece in enumerate(pieces):
            opcode = (0x1 if isinstance(message, str) else 0x2) if n == 0 else 0x0
            wire += _frame(opcode, piece, fin=n == len(pieces) - 1)
            if n < len(pieces) - 1:
                wire += _frame(0x9, b"p")
    wire += _close(code, "end")

    async def main() -> None:
        async with trio.open_nursery() as nursery:
            target = await start_raw_peer(nursery, wire, step)
            transport = await connect(target, None)
            frames, closed = await _receive_all(transport)
            await transport.stop()
            nursery.cancel_scope.cancel()
        assert frames == messages
        assert (closed.code, closed.reason) == (code, "end")

    trio.run(main)


# -- the transport's own cut of data frames, against the protocol's parser ------------------


class _ProtocolOnly(Transport):
    """The reference: the transport with every byte fed to websockets' protocol, one
    at a time, so that each frame is judged as it completes, in order (as the
    transport's own cut does; a protocol fed a whole read would parse, say, a frame
    with a mask behind a text frame that is not UTF-8 before this side fails that
    one, and send the later frame's close code)."""

    def _split(self, data: bytes) -> None:
        for byte in data:
            self._feed(bytes([byte]))


def _opened(kind: type[Transport], limit: int) -> Transport:
    """A transport of ``kind`` past its upgrade, on no socket: bytes go in by hand."""
    protocol = ClientProtocol(parse_uri("ws://127.0.0.1/x"), max_size=limit)
    request = protocol.connect()
    protocol.send_request(request)
    key = request.headers["Sec-WebSocket-Key"].encode()
    accept = base64.b64encode(hashlib.sha1(key + _GUID).digest())
    protocol.receive_data(
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
        b"Connection: Upgrade\r\nSec-WebSocket-Accept: " + accept + b"\r\n\r\n"
    )
    (response,) = protocol.events_received()
    assert isinstance(response, Response)
    protocol.data_to_send()
    stream = cast(trio.SocketStream, SimpleNamespace(socket=None))
    return kind(stream, None, protocol, response, limit)


def _outcome(transport: Transport) -> tuple[object, ...]:
    """What the transport made of its bytes: the messages, how the socket closed, the
    frames it answered with (unmasked), and the protocol's state."""
    sent = b"".join(transport._protocol.data_to_send())
    answers = []
    while sent:  # client frames: masked, each whole
        size, at = sent[1] & 0x7F, 2
        if size > 125:
            at = 4 if size == 126 else 10
            size = int.from_bytes(sent[2:at])
        mask, payload = sent[at : at + 4], sent[at + 4 : at + 4 + size]
        answers.append((sent[0], bytes(b ^ mask[i % 4] for i, b in enumerate(payload))))
        sent = sent[at + 4 + size :]
    closed = transport._closed
    return (
        list(transport._messages),
        None if closed is None else (closed.code, closed.reason, closed.too_large),
        answers,
        transport._protocol.state,
    )


@st.composite
def _wire_frame(draw: st.DrawFn) -> bytes:
    """One server frame, valid or not: data, fragments, control frames, close frames
    with any payload, reserved opcodes and bits, a mask, any length encoding."""
    opcode = draw(
        st.sampled_from([0x1, 0x2, 0x0, 0x9, 0xA, 0x8]) | st.sampled_from([0x3, 0x7, 0xB, 0xF])
    )
    if opcode == 0x1:
        text = draw(st.text(max_size=40)).encode()
        payload = draw(st.just(text) | st.binary(max_size=8).map(lambda b: text + b))
    elif opcode == 0x8:
        code = draw(st.sampled_from([1000, 1001, 1011, 4000, 999, 1005, 5000]))
        reason = draw(st.text(max_size=10)).encode()
        payload = draw(st.just(struct.pack("!H", code) + reason) | st.binary(max_size=3))
    else:
        payload = draw(st.binary(max_size=130))
    fin = draw(st.booleans()) if opcode in (0x0, 0x1, 0x2) else draw(st.just(True) | st.booleans())
    first = (0x80 if fin else 0) | opcode | (draw(st.sampled_from([0, 0, 0, 0, 0x40])))
    size = len(payload)
    encoding = draw(st.sampled_from(["short", "short", "16", "64"]))
    if encoding == "short" and size < 126:
        head = bytes([first, size])
    elif encoding != "64" and size < 2**16:
        head = bytes([first, 126]) + struct.pack("!H", size)
    else:
        head = bytes([first, 127]) + struct.pack("!Q", size)
    if draw(st.integers(0, 19)) == 0:  # masked, which a server must not do
        head = bytes([head[0], head[1] | 0x80]) + head[2:] + b"\x00\x00\x00\x00"
    return head + payload


@settings(max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    frames=st.lists(_wire_frame(), max_size=12),
    cut=st.none() | st.integers(min_value=0),
    reads=st.lists(st.integers(min_value=1, max_value=300), min_size=1, max_size=20),
    ended=st.booleans(),
    limit=st.sampled_from([100, 1000]),
)
def test_the_transports_cut_of_frames_is_the_protocols(
    frames: list[bytes], cut: int | None, reads: list[int], ended: bool, limit: int
) -> None:
    """Any bytes (frames valid or not, cut short or not), read in any slices: the
    transport, which cuts whole data frames out itself, delivers exactly the messages,
    closes exactly as, and answers exactly what websockets' protocol fed every byte
    does."""
    wire = b"".join(frames)
    if cut is not None:
        wire = wire[: cut % (len(wire) + 1)]
    slices = []
    at = 0
    for n, size in enumerate(itertools.cycle(reads)):
        if at >= len(wire) or n > 10_000:
            break
        slices.append(wire[at : at + size])
        at += size
    outcomes = []
    for kind in (Transport, _ProtocolOnly):
        transport = _opened(kind, limit)
        for data in slices:
            transport._take(data, False)
        if ended:
            transport._take(b"", True)
        outcomes.append(_outcome(transport))
    assert outcomes[0] == outcomes[1]


class _Fed(Transport):
    """The transport, noting what it feeds the protocol."""

    fed = b""

    def _feed(self, data: bytes) -> None:
        self.fed += data
        super()._feed(data)


def test_the_protocol_is_fed_only_the_frames_it_must_judge() -> None:
    """Whole unfragmented data frames never reach the protocol, however the reads cut
    them (also right after a control frame, or a fragmented message); every other
    frame does, whole and in order."""
    judged = [
        _frame(0x9, b"ping"),
        _frame(0x1, b"frag", fin=False),
        _frame(0xA, b"pong"),
        _frame(0x0, b"ment"),
    ]
    long_form = bytes([0x82, 127]) + struct.pack("!Q", 3) + b"abc"  # 64-bit length
    wire = (
        _frame(0x2, b"x" * 300)
        + judged[0]
        + _frame(0x1, "wörld".encode())
        + judged[1]
        + judged[2]
        + judged[3]
        + long_form
        + _frame(0x1, b"")
    )
    expected = [b"x" * 300, "wörld", "fragment", b"abc", ""]
    cuts = [[wire[:n], wire[n:]] for n in range(len(wire) + 1)]
    for reads in [*cuts, [wire[n : n + 1] for n in range(len(wire))]]:
        transport = _opened(_Fed, LIMIT)
        assert isinstance(transport, _Fed)
        for data in reads:
            transport._take(data, False)
        assert list(transport._messages) == expected
        assert transport.fed == b"".join(judged)
        assert transport._closed is None


@pytest.mark.parametrize("size", [0, 1, 125, 126, 65535, 65536])
@pytest.mark.parametrize("kind", [str, bytes])
def test_a_message_framed_here_is_what_a_server_reads(kind: type, size: int) -> None:
    """``_data_frame`` frames as the RFC says: websockets' own parser, on a server's
    side (masks required), reads back the message, whatever the length's form; and
    no two frames share a mask key."""
    message: str | bytes = "é" * (size // 2) + "x" * (size % 2) if kind is str else bytes(size)
    wire = _data_frame(message)
    reader = StreamReader()
    reader.feed_data(wire)
    reader.feed_eof()
    parser = Frame.parse(reader.read_exact, mask=True)
    with pytest.raises(StopIteration) as done:
        next(parser)
    frame = done.value.value
    assert frame.fin and frame.opcode is (Opcode.TEXT if kind is str else Opcode.BINARY)
    assert frame.data == (message.encode() if isinstance(message, str) else message)
    keys = {_data_frame(b"x")[2:6] for _ in range(3000)}  # across refills of the pool
    assert len(keys) > 2990


def test_no_private_name_of_a_dependency_in_dgtrio() -> None:
    """``dgtrio/`` takes no private name from the modules of a third-party package
    (``from websockets._x import y``, ``websockets._y``)."""
    found = []
    for path in sorted((ROOT / "dgtrio").rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        third_party = {
            alias.asname or alias.name.split(".")[0]
            for node in ast.walk(tree)
            if isinstance(node, ast.Import)
            for alias in node.names
            if _third_party(alias.name)
        }
        for node in ast.walk(tree):
            where = f"{path.relative_to(ROOT)}:{getattr(node, 'lineno', 0)}"
            if isinstance(node, ast.ImportFrom) and not node.level and node.module:
                names = [*node.module.split(".")[1:], *(alias.name for alias in node.names)]
                if _third_party(node.module) and any(_private(name) for name in names):
                    found.append(f"{where}: from {node.module} import ...")
            elif (
                isinstance(node, ast.Attribute)
                and _private(node.attr)
                and isinstance(node.value, ast.Name)
                and node.value.id in third_party
            ):
                found.append(f"{where}: {node.value.id}.{node.attr}")
    assert not found, found


# Namedtuple methods: public, with an underscore only so that no field name clashes.
_NAMEDTUPLE_API = {"_asdict", "_field_defaults", "_fields", "_make", "_replace"}


def test_every_private_attribute_dgtrio_reads_is_its_own() -> None:
    """Each ``obj._name`` in ``dgtrio/`` is a name that ``dgtrio/`` itself defines.

    The test above sees a dependency's private names only where its module is
    named; this one sees them on the dependency's objects too
    (``ws._stream_lock``). It goes by name: ``_name`` counts as defined when
    ``dgtrio/`` binds it anywhere (an assignment, ``self._name = ...``, a ``def``
    or ``class``, an annotation such as an attrs field, a parameter, an import, a
    ``__slots__`` string), so a dependency's private name that happens to be
    spelled like one of dgtrio's own goes unnoticed. The standard library's
    private names (``argparse._SubParsersAction``) are no dependency's.
    """
    trees = {
        path: ast.parse(path.read_text(encoding="utf-8"))
        for path in sorted((ROOT / "dgtrio").rglob("*.py"))
    }
    defined = {name for tree in trees.values() for name in _bound_names(tree)}
    found = []
    for path, tree in trees.items():
        stdlib = {
            alias.asname or alias.name.split(".")[0]
            for node in ast.walk(tree)
            if isinstance(node, ast.Import)
            for alias in node.names
            if alias.name.split(".")[0] in sys.stdlib_module_names
        }
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Attribute)
                and _private(node.attr)
                and node.attr not in defined
                and node.attr not in _NAMEDTUPLE_API
                and not (isinstance(node.value, ast.Name) and node.value.id in stdlib)
            ):
                found.append(f"{path.relative_to(ROOT)}:{node.lineno}: {ast.unparse(node)}")
    assert not found, found


def _bound_names(tree: ast.AST) -> Iterator[str]:
    """Every name ``tree`` defines, as a variable, an attribute or an import."""
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            yield node.name
        elif isinstance(node, ast.arg):
            yield node.arg
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            yield node.id  # also a class-level or annotated name: an attrs field
        elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
            yield node.attr
        elif isinstance(node, ast.alias):
            yield node.asname or node.name.split(".")[0]
        elif isinstance(node, ast.Assign) and any(
            isinstance(target, ast.Name) and target.id == "__slots__" for target in node.targets
        ):
            for leaf in ast.walk(node.value):
                if isinstance(leaf, ast.Constant) and isinstance(leaf.value, str):
                    yield leaf.value


def _third_party(module: str) -> bool:
    root = module.split(".")[0]
    return root != "dgtrio" and root not in sys.stdlib_module_names


def _private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")
