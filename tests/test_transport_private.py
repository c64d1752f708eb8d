"""What ``dgtrio._transport`` relies on in trio-websocket beyond its documented API.

The transport takes parsed messages straight from trio-websocket's private message
queue (``_recv_channel``), with ``get_message()`` as the fallback without it; tells a
close this side made from the server's by the error that queue raised, which
``get_message()`` keeps as the context of ``ConnectionClosed``; and hands
``wrap_client_stream`` an object that only has ``start_soon`` as its nursery. Each is
checked here against the installed trio-websocket, over loopback, so that an upgrade
that changes one fails here first (pyproject.toml pins the tested range).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
import trio
import trio.testing
import trio_websocket

from dgtrio._auth import BaseURL
from dgtrio._transport import Target, Transport, TransportClosed, connect

Handler = Callable[[trio_websocket.WebSocketConnection], Awaitable[None]]

LIMIT = 2**20
# trio-websocket's own reason when a frame is over the limit; a server may say it too.
OVER_THE_LIMIT = f"Exceeded maximum message size: {LIMIT} bytes"


class _WithoutQueue:
    """A trio-websocket connection seen without its private message queue."""

    def __init__(self, ws: trio_websocket.WebSocketConnection) -> None:
        self._ws = ws

    def __getattr__(self, name: str) -> Any:
        if name == "_recv_channel":
            raise AttributeError(name)
        return getattr(self._ws, name)


@pytest.fixture(params=["queue", "get_message"])
def path(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Each test runs on the fast path, then on the fallback (no private queue)."""
    if request.param == "get_message":
        wrap = trio_websocket.wrap_client_stream

        async def wrap_without_queue(*args: Any, **kwargs: Any) -> Any:
            return _WithoutQueue(await wrap(*args, **kwargs))

        monkeypatch.setattr(trio_websocket, "wrap_client_stream", wrap_without_queue)
    return str(request.param)


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


@pytest.fixture
async def sockets() -> AsyncIterator[trio.Nursery]:
    """The nursery the sockets' reader tasks live in, as the engine's socket nursery."""
    async with trio.open_nursery() as nursery:
        yield nursery


async def _receive_all(transport: Transport) -> tuple[list[str | bytes], TransportClosed]:
    frames: list[str | bytes] = []
    with trio.fail_after(5):
        while True:
            try:
                frames.append(await transport.receive())
            except TransportClosed as closed:
                return frames, closed


async def test_the_fast_path_reads_trio_websockets_parsed_messages(
    serve: Callable[[Handler], Awaitable[tuple[Server, Target]]], sockets: trio.Nursery
) -> None:
    async def send_one(ws: trio_websocket.WebSocketConnection) -> None:
        await ws.send_message("one")

    _, target = await serve(send_one)
    transport = await connect(sockets, target, None)
    queue = getattr(transport._ws, "_recv_channel", None)
    assert isinstance(queue, trio.MemoryReceiveChannel)
    assert transport._parsed is queue
    with trio.fail_after(5):
        assert await transport.receive() == "one"
    transport.stop()


async def test_the_socket_is_one_task_in_the_callers_nursery(
    serve: Callable[[Handler], Awaitable[tuple[Server, Target]]], sockets: trio.Nursery
) -> None:
    # wrap_client_stream only calls start_soon, once, on the object given as nursery.
    async def nothing(ws: trio_websocket.WebSocketConnection) -> None:
        pass

    server, target = await serve(nothing)
    transport = await connect(sockets, target, None)
    assert len(sockets.child_tasks) == 1
    with trio.fail_after(5):
        await transport.aclose()
        transport.stop()
        await server.done.wait()
    await trio.testing.wait_all_tasks_blocked()
    assert not sockets.child_tasks
    assert server.close == (1000, None)


async def test_frames_then_the_servers_close(
    path: str,
    serve: Callable[[Handler], Awaitable[tuple[Server, Target]]],
    sockets: trio.Nursery,
) -> None:
    sent: list[str | bytes] = [f"text {i}" if i % 2 else bytes([i]) * 100 for i in range(40)]

    async def send_then_close(ws: trio_websocket.WebSocketConnection) -> None:
        for frame in sent:
            await ws.send_message(frame)
        await ws.aclose(4000, "bye")

    _, target = await serve(send_then_close)
    transport = await connect(sockets, target, None)
    assert (transport._parsed is None) == (path == "get_message")
    frames, closed = await _receive_all(transport)
    assert frames == sent
    assert (closed.code, closed.reason, closed.too_large) == (4000, "bye", False)
    transport.stop()


async def test_a_frame_over_the_limit_is_closed_here_with_1009(
    path: str,
    serve: Callable[[Handler], Awaitable[tuple[Server, Target]]],
    sockets: trio.Nursery,
) -> None:
    async def send_huge(ws: trio_websocket.WebSocketConnection) -> None:
        await ws.send_message("before")
        await ws.send_message(b"x" * (LIMIT + 1))

    server, target = await serve(send_huge)
    transport = await connect(sockets, target, None)
    with trio.fail_after(5):
        await server.done.wait()  # the frame is read and the socket closed before we look
    frames, closed = await _receive_all(transport)
    # trio-websocket discards what it had parsed when it closed: "before" is lost.
    assert frames == []
    assert (closed.code, closed.reason, closed.too_large) == (1009, OVER_THE_LIMIT, True)
    assert server.close == (1009, OVER_THE_LIMIT)
    transport.stop()


async def test_a_server_closing_with_1009_is_not_over_our_limit(
    path: str,
    serve: Callable[[Handler], Awaitable[tuple[Server, Target]]],
    sockets: trio.Nursery,
) -> None:
    # Even with trio-websocket's very words: who closed decides, not the text.
    async def close_1009(ws: trio_websocket.WebSocketConnection) -> None:
        await ws.aclose(1009, OVER_THE_LIMIT)

    _, target = await serve(close_1009)
    transport = await connect(sockets, target, None)
    frames, closed = await _receive_all(transport)
    assert frames == []
    assert (closed.code, closed.reason, closed.too_large) == (1009, OVER_THE_LIMIT, False)
    transport.stop()


async def test_our_own_close_with_1009_is_not_over_the_limit(
    path: str,
    serve: Callable[[Handler], Awaitable[tuple[Server, Target]]],
    sockets: trio.Nursery,
) -> None:
    # The server echoes the code: after aclose(), the queue is closed here, and 1009.
    async def nothing(ws: trio_websocket.WebSocketConnection) -> None:
        pass

    server, target = await serve(nothing)
    transport = await connect(sockets, target, None)
    with trio.fail_after(5):
        await transport.aclose(1009, "ours")
        await server.done.wait()
    _, closed = await _receive_all(transport)
    assert (closed.code, closed.too_large) == (1009, False)
    assert server.close == (1009, "ours")
    transport.stop()
