"""Session: one client connection to the server, as a socket's protocol sees it.

The session records every frame both ways with its trio time; its sends go through a
:class:`~._faults.Wire`. :func:`run_with_faults` runs a socket's protocol on a session with
faults applied at their times: they act on the session's socket, reader and wire, so
they are applied here, where those live.
"""

from __future__ import annotations

import json
import math
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

import attrs
import trio
import trio_websocket
from wsproto.frame_protocol import CloseReason

from ._common import param
from ._faults import Fault, Wire, injected_frame
from ._tap import Tap

__all__ = ["RecordedFrame", "Session", "run_with_faults"]

# The faults that end the session: the behaviour is cancelled and later faults never apply.
_TERMINAL = ("abort", "close", "half_open")


@attrs.frozen
class RecordedFrame:
    """One frame as the server saw it: when (trio time) and what."""

    time: float
    data: str | bytes

    @property
    def is_text(self) -> bool:
        return isinstance(self.data, str)

    def json(self) -> Any:
        """The parsed JSON of a text frame (``None`` if it is not JSON)."""
        if not isinstance(self.data, str):
            raise TypeError("a binary frame has no JSON")
        try:
            return json.loads(self.data)
        except ValueError:
            return None


class Session:
    """One client connection to the server: what it asked for, sent and received.

    Tests read ``received`` (client to server, in order, with trio times), ``sent``,
    ``query`` and ``client_close``; they may also inject frames with :meth:`send_text`
    or :meth:`send_json` and end the connection with :meth:`close`. Faults (see
    :class:`Fault`) act on :meth:`receive` and on every send.
    """

    def __init__(
        self,
        ws: trio_websocket.WebSocketConnection | None = None,
        tap: Tap | None = None,
        *,
        path: str,
        query: Mapping[str, list[str]],
        headers: Mapping[str, str],
        request_id: str,
        auth: str | None,
    ) -> None:
        # The session is listed before the upgrade is answered (so that a client
        # whose handshake is done always finds it); the socket comes with attach().
        self._attached = trio.Event()
        self._socket: trio_websocket.WebSocketConnection | None = None
        self._attached_tap: Tap | None = None
        if ws is not None:
            if tap is None:
                raise TypeError("a socket comes with the Tap it runs on")
            self.attach(ws, tap)
        self.path = path
        self.query = dict(query)
        self.headers = dict(headers)
        """The request headers; ``authorization`` has its secret replaced by ``***``."""
        self.request_id = request_id
        self.auth = auth
        """How the client authenticated: ``Token``, ``Bearer``, ``subprotocol`` or None."""
        self.received: list[RecordedFrame] = []
        self.sent: list[RecordedFrame] = []
        """What the server wrote, in wire order, each when written (after any delay)."""
        self.client_close: tuple[int, str] | None = None
        """The close code and reason the client sent, if it closed first."""
        self.server_close: tuple[int, str] | None = None
        """The close code and reason the server sent, if it closed first."""
        self.faults: list[tuple[float, Fault]] = []
        """Each fault applied to this session, with the trio time it was applied."""
        self.connected_at = trio.current_time()
        self.closed = trio.Event()
        self._wire = Wire(self._write)  # the send-side faults act there
        self._read_delay = 0.0  # slow_reader: seconds before taking each client frame
        self._stalled_until = -math.inf  # stall: no client frame taken before then

    def attach(self, ws: trio_websocket.WebSocketConnection, tap: Tap) -> None:
        """The accepted socket and the stream it runs on (the server's call, once the
        upgrade is answered): the faults that act below the socket use ``tap``."""
        self._socket = ws
        self._attached_tap = tap
        self._attached.set()

    async def _ws_ready(self) -> trio_websocket.WebSocketConnection:
        if self._socket is None:
            await self._attached.wait()
        assert self._socket is not None
        return self._socket

    @property
    def _tap(self) -> Tap:
        assert self._attached_tap is not None, "the upgrade is not answered yet"
        return self._attached_tap

    def param(self, name: str, default: str | None = None) -> str | None:
        """The last value of a query parameter."""
        return param(self.query, name, default)

    @property
    def audio(self) -> bytes:
        """Every binary frame the client sent, joined."""
        return b"".join(f.data for f in self.received if isinstance(f.data, bytes))

    @property
    def messages(self) -> list[Any]:
        """Every text frame the client sent, parsed as JSON (``None`` where invalid)."""
        return [f.json() for f in self.received if f.is_text]

    async def receive(self) -> str | bytes | None:
        """The next client frame (recorded), or ``None`` once the client closed."""
        if self._read_delay:
            await trio.sleep(self._read_delay)
        if self._stalled_until > trio.current_time():
            await trio.sleep_until(self._stalled_until)
        ws = await self._ws_ready()
        try:
            data = await ws.get_message()
        except trio_websocket.ConnectionClosed as exc:
            if self.server_close is None and exc.reason is not None:
                self.client_close = (exc.reason.code, exc.reason.reason or "")
            return None
        self.received.append(RecordedFrame(trio.current_time(), data))
        return data

    async def send_text(self, text: str) -> None:
        """Send a text frame (any text: tests use this for malformed frames)."""
        await self._send(text)

    async def send_json(self, message: Mapping[str, Any]) -> None:
        """Send a JSON message as a text frame."""
        await self._send(json.dumps(message, separators=(",", ":")))

    async def send_bytes(self, data: bytes) -> None:
        """Send a binary frame."""
        await self._send(data)

    async def send_whole(self, message: Mapping[str, Any] | bytes) -> None:
        """Send a JSON message or a binary frame that cancellation never cuts short.

        trio-websocket cannot take back a frame it began to write, so the send is
        shielded; the checkpoint before it is where a cancelled caller stops.
        """
        await trio.lowlevel.checkpoint_if_cancelled()
        with trio.CancelScope(shield=True):
            if isinstance(message, bytes):
                await self.send_bytes(message)
            else:
                await self.send_json(message)

    async def _send(self, data: str | bytes) -> None:
        await self._wire.send(data)

    async def _write(self, data: str | bytes) -> None:
        ws = await self._ws_ready()
        now = trio.current_time()
        await ws.send_message(data)
        self.sent.append(RecordedFrame(now, data))  # only once written whole

    async def close(self, code: int = 1000, reason: str = "") -> None:
        """Close the connection from the server side; ``code=1005`` sends a close
        frame without a status, as Flux does."""
        if self.server_close is None and self.client_close is None:
            self.server_close = (code, reason)
        await self._wire.flush()  # messages the faults hold back go before the close
        wire_code: int | CloseReason = CloseReason.NO_STATUS_RCVD if code == 1005 else code
        await (await self._ws_ready()).aclose(wire_code, reason or None)

    async def abort(self) -> None:
        """Drop the TCP connection without a close frame, as a network failure would."""
        if self.server_close is None and self.client_close is None:
            self.server_close = (1006, "")
        # Below trio-websocket, which has no public way to skip the closing handshake;
        # forcefully, so that a TLS connection ends without a close_notify either.
        await self._ws_ready()
        await trio.aclose_forcefully(self._tap)

    async def receive_remaining(self) -> None:
        """Record what the client still sends until its close completes (bounded)."""
        with trio.move_on_after(5):
            while await self.receive() is not None:
                pass

    async def wait_closed(self) -> None:
        """Wait until the session has ended and everything is recorded (at once after
        a ``half_open`` fault: the server records nothing more)."""
        await self.closed.wait()

    def __repr__(self) -> str:
        return (
            f"<Session {self.path} request_id={self.request_id} "
            f"received={len(self.received)} sent={len(self.sent)}>"
        )


async def run_with_faults(
    session: Session,
    behaviour: Callable[[Session], Awaitable[None]],
    faults: Sequence[Fault],
) -> None:
    """Run ``behaviour`` on ``session`` with ``faults`` applied at their times."""
    faults = sorted(faults, key=lambda f: f.at)
    async with trio.open_nursery() as nursery:
        injector = _Injector(session, nursery)
        # Faults due at once apply before the behaviour starts, the others in a task.
        # Without such faults nothing here yields: the behaviour's first message goes
        # out before a test that waited for the session can send its own.
        for fault in faults:
            if fault.at == 0:
                await injector.apply(fault)
        if injector.ending:
            return  # a fault at 0 ended the session
        nursery.start_soon(injector.run, [f for f in faults if f.at > 0])
        with injector.behaviour:
            await behaviour(session)
        if not injector.ending:
            nursery.cancel_scope.cancel()  # faults not due yet no longer matter


@attrs.define
class _Injector:
    session: Session
    nursery: trio.Nursery
    behaviour: trio.CancelScope = attrs.Factory(trio.CancelScope)
    ending: bool = False  # a terminal fault is under way: let it finish

    async def run(self, faults: Sequence[Fault]) -> None:
        for fault in faults:
            await trio.sleep_until(self.session.connected_at + fault.at)
            await self.apply(fault)

    async def apply(self, fault: Fault) -> None:
        session, kind = self.session, fault.kind
        session.faults.append((trio.current_time(), fault))
        if kind in _TERMINAL:
            self.ending = True
            self.behaviour.cancel()
        if kind == "abort":
            await session.abort()
        elif kind == "close":
            await session.close(fault.code, fault.reason)
        elif kind == "half_open":
            # The stream under the socket stops: trio-websocket's reader takes no more
            # bytes (the client's writes back up) and nothing it writes goes out (no
            # pong, no answer to the client's close frame). A frame being written
            # goes out whole.
            session._tap.freeze()
            session.closed.set()  # nothing more is recorded
            try:
                await trio.sleep_forever()
            finally:
                # The server is stopping: closing ends the writes the freeze holds,
                # shielded ones too (a frame the behaviour or a delay was sending).
                await trio.aclose_forcefully(session._tap)
        elif kind == "slow_reader":
            session._read_delay = fault.seconds
        elif kind == "stall":
            session._stalled_until = trio.current_time() + fault.seconds
        elif kind == "delay":
            session._wire.start_delay(self.nursery, fault.seconds)
        elif kind == "duplicate":
            session._wire.duplicate = True
        elif kind == "reorder":
            session._wire.reorder = True
        elif (frame := injected_frame(fault)) is not None:
            await self._inject(frame)
        if self.ending:
            self.nursery.cancel_scope.cancel()  # the session is over

    async def _inject(self, text: str) -> None:
        # Shielded, like send_whole: a frame cut short would corrupt the stream.
        with trio.CancelScope(shield=True):
            await self.session.send_text(text)
