"""FakeDeepgram: the server side of the handshake, auth, routing and recording.

Each API's behaviour lives in its own module (``_listen.py``...) as a class with a
``run(session)`` coroutine; this module accepts or rejects the upgrade the way
Deepgram does, records every frame both ways with its trio time, and hands the
session to the behaviour.
"""

from __future__ import annotations

import json
import logging
import math
import ssl
import uuid
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from typing import Any, NoReturn, Protocol
from urllib.parse import parse_qs

import attrs
import trio
import trio_websocket
from wsproto.frame_protocol import CloseReason

from ._agent import AgentScript, AgentV1Fake
from ._common import Query, param
from ._faults import Fault, Wire, run_with_faults
from ._flux import FluxScript, ListenV2Fake
from ._listen import ListenScript, ListenV1Fake
from ._speak import SpeakScript, SpeakV1Fake

__all__ = ["FakeDeepgram", "FakeSession", "RecordedFrame", "Rejection"]

log = logging.getLogger("dgtrio.testing")


@attrs.frozen
class RecordedFrame:
    """One frame as the fake server saw it: when (trio time) and what."""

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


@attrs.frozen
class Rejection:
    """A scripted handshake refusal: status, optional ``Retry-After`` and reason."""

    status: int
    retry_after: float | None = None
    dg_error: str | None = None
    body: str | None = None


class _Behaviour(Protocol):
    def check(self, query: Query) -> tuple[str, str] | None: ...

    async def run(self, session: FakeSession) -> None: ...


class FakeSession:
    """One client connection to the fake: what it asked for, sent and received.

    Tests read ``received`` (client to server, in order, with trio times), ``sent``,
    ``query`` and ``client_close``; they may also inject frames with :meth:`send_text`
    or :meth:`send_json` and end the connection with :meth:`close`. Faults (see
    :class:`Fault`) act on :meth:`receive` and on every send.
    """

    def __init__(
        self,
        ws: trio_websocket.WebSocketConnection,
        *,
        path: str,
        query: Mapping[str, list[str]],
        headers: Mapping[str, str],
        request_id: str,
        auth: str | None,
    ) -> None:
        self._ws = ws
        self.path = path
        self.query = dict(query)
        self.headers = dict(headers)
        """The request headers; ``authorization`` has its secret replaced by ``***``."""
        self.request_id = request_id
        self.auth = auth
        """How the client authenticated: ``Token``, ``Bearer``, ``subprotocol`` or None."""
        self.received: list[RecordedFrame] = []
        self.sent: list[RecordedFrame] = []
        """What the fake wrote, in wire order, each when written (after any delay)."""
        self.client_close: tuple[int, str] | None = None
        """The close code and reason the client sent, if it closed first."""
        self.server_close: tuple[int, str] | None = None
        """The close code and reason the fake sent, if it closed first."""
        self.faults: list[tuple[float, Fault]] = []
        """Each fault applied to this session, with the trio time it was applied."""
        self.connected_at = trio.current_time()
        self.closed = trio.Event()
        self._wire = Wire(self._write)  # the send-side faults act there
        self._read_delay = 0.0  # slow_reader: seconds before taking each client frame

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
        try:
            data = await self._ws.get_message()
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
        now = trio.current_time()
        await self._ws.send_message(data)
        self.sent.append(RecordedFrame(now, data))  # only once written whole

    async def close(self, code: int = 1000, reason: str = "") -> None:
        """Close the connection from the server side; ``code=1005`` sends a close
        frame without a status, as Flux does."""
        if self.server_close is None and self.client_close is None:
            self.server_close = (code, reason)
        await self._wire.flush()  # messages the faults hold back go before the close
        wire_code: int | CloseReason = CloseReason.NO_STATUS_RCVD if code == 1005 else code
        await self._ws.aclose(wire_code, reason or None)

    async def abort(self) -> None:
        """Drop the TCP connection without a close frame, as a network failure would."""
        if self.server_close is None and self.client_close is None:
            self.server_close = (1006, "")
        # trio-websocket has no public way to skip the closing handshake.
        await self._ws._stream.aclose()

    async def receive_remaining(self) -> None:
        """Record what the client still sends until its close completes (bounded)."""
        with trio.move_on_after(5):
            while await self.receive() is not None:
                pass

    async def wait_closed(self) -> None:
        """Wait until the session has ended and everything is recorded (at once after
        a ``half_open`` fault: the fake records nothing more)."""
        await self.closed.wait()

    def __repr__(self) -> str:
        return (
            f"<FakeSession {self.path} request_id={self.request_id} "
            f"received={len(self.received)} sent={len(self.sent)}>"
        )


class FakeDeepgram:
    """A protocol-faithful fake of Deepgram's realtime APIs on loopback.

    ::

        fake = FakeDeepgram()
        async with trio.open_nursery() as nursery:
            await nursery.start(fake.serve)
            async with dgtrio.open_listen(base_url=fake.url) as conn: ...

    Args:
        api_key: when set, only ``Token <api_key>`` (or the ``token, <api_key>``
            subprotocol) is accepted; when ``None``, any credential or none.
        access_token: when set, ``Bearer <access_token>`` is accepted too.
        listen_script: what Listen v1 "hears" (see :class:`ListenScript`).
        idle_timeout: seconds without audio or KeepAlive before Listen v1 closes
            with 1011 ``NET-0001``.
        agent_script: what the Voice Agent v1 fake hears, answers and calls (see
            :class:`AgentScript`).
        agent_client_timeout: seconds without any client frame before Voice Agent v1
            sends ``Error`` ``CLIENT_MESSAGE_TIMEOUT`` and closes with 1000.
        speak_script: how the Speak v1 fake synthesises (see :class:`SpeakScript`).
        flux_script: what the Flux (Listen v2) fake hears and when turns end (see
            :class:`FluxScript`).
        faults: failures to inject into every session (see :class:`Fault`);
            :meth:`fault_next` adds some to the next session only.
        host, port: where to listen; port 0 picks a free one.
        ssl_context: serve ``wss://`` with this server-side TLS context.
    """

    def __init__(
        self,
        *,
        api_key: str | None = None,
        access_token: str | None = None,
        listen_script: ListenScript | None = None,
        idle_timeout: float = 10.0,
        agent_script: AgentScript | None = None,
        agent_client_timeout: float = 10.0,
        speak_script: SpeakScript | None = None,
        flux_script: FluxScript | None = None,
        faults: Sequence[Fault] = (),
        host: str = "127.0.0.1",
        port: int = 0,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self.api_key = api_key
        self.access_token = access_token
        self.listen_script = listen_script or ListenScript()
        self.idle_timeout = idle_timeout
        self.agent_script = agent_script or AgentScript()
        self.agent_client_timeout = agent_client_timeout
        self.speak_script = speak_script or SpeakScript()
        self.flux_script = flux_script or FluxScript()
        self.faults = tuple(faults)
        self.host = host
        self.port = port
        self.ssl_context = ssl_context
        self.sessions: list[FakeSession] = []
        self._rejections: deque[Rejection] = deque()
        self._next_faults: deque[tuple[Fault, ...]] = deque()
        self._session_added = trio.Event()
        self._routes: dict[str, Callable[[], _Behaviour]] = {
            "/v1/listen": lambda: ListenV1Fake(self.listen_script, self.idle_timeout),
            "/v1/agent/converse": lambda: AgentV1Fake(self.agent_script, self.agent_client_timeout),
            "/v1/speak": lambda: SpeakV1Fake(self.speak_script),
            "/v2/listen": lambda: ListenV2Fake(self.flux_script),
        }

    @property
    def url(self) -> str:
        """The base URL to pass as ``base_url`` (valid once :meth:`serve` started)."""
        if not self.port:
            raise RuntimeError("the fake server is not serving yet: await nursery.start(serve)")
        scheme = "ws" if self.ssl_context is None else "wss"
        return f"{scheme}://{self.host}:{self.port}"

    def reject_next(
        self,
        status: int,
        *,
        retry_after: float | None = None,
        dg_error: str | None = None,
        body: str | None = None,
        count: int = 1,
    ) -> None:
        """Refuse the next ``count`` handshakes with ``status`` (e.g. 429)."""
        self._rejections.extend([Rejection(status, retry_after, dg_error, body)] * count)

    def fault_next(self, *faults: Fault) -> None:
        """Inject ``faults`` into the next session only, on top of ``faults=``.

        Each call queues one session's faults; a session takes them when its upgrade
        would be accepted (after any :meth:`reject_next` refusals).
        """
        self._next_faults.append(faults)

    async def wait_for_sessions(self, count: int = 1) -> list[FakeSession]:
        """Wait until at least ``count`` sessions were accepted."""
        while len(self.sessions) < count:
            await self._session_added.wait()
        return self.sessions

    async def serve(
        self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
    ) -> NoReturn:
        """Serve until cancelled; for ``nursery.start``."""
        async with trio.open_nursery() as nursery:
            server = await nursery.start(
                trio_websocket.serve_websocket,
                self._handle,
                self.host,
                self.port,
                self.ssl_context,
            )
            self.port = server.port
            log.info("fake Deepgram serving on %s", self.url)
            task_status.started()
            await trio.sleep_forever()
        raise AssertionError("unreachable")  # pragma: no cover

    async def _handle(self, request: trio_websocket.WebSocketRequest) -> None:
        path, _, query_string = request.path.partition("?")
        query = parse_qs(query_string, keep_blank_values=True)
        headers = {
            name.decode("latin-1").lower(): value.decode("latin-1")
            for name, value in request.headers
        }
        request_id = str(uuid.uuid4())
        response = [(b"dg-request-id", request_id.encode())]
        if self._rejections:
            rejection = self._rejections.popleft()
            reason = rejection.dg_error or _REASONS.get(rejection.status, "Request failed")
            extra = list(response)
            if rejection.retry_after is not None:
                extra.append((b"retry-after", str(math.ceil(rejection.retry_after)).encode()))
            await _reject(request, rejection.status, reason, request_id, extra, rejection.body)
            return
        auth = self._authenticate(headers, request.proposed_subprotocols)
        if auth is None:
            extra = [*response, (b"www-authenticate", b'Token realm="Deepgram"')]
            await _reject(request, 401, "Invalid credentials.", request_id, extra)
            return
        factory = self._routes.get(path)
        if factory is None:
            await _reject(request, 404, f"No such endpoint: {path}", request_id, response)
            return
        behaviour = factory()
        problem = behaviour.check(query)
        if problem is not None:
            code, text = problem
            await _reject(request, 400, text, request_id, response, code=code)
            return
        faults = [*self.faults, *(self._next_faults.popleft() if self._next_faults else ())]
        if any(fault.kind == "handshake_timeout" for fault in faults):
            await trio.sleep_forever()  # the upgrade goes unanswered until the fake stops
        subprotocol = "token" if auth == "subprotocol" else None
        ws = await request.accept(subprotocol=subprotocol, extra_headers=response)
        session = FakeSession(
            ws,
            path=path,
            query=query,
            headers=_redacted(headers),
            request_id=request_id,
            auth=auth or None,  # "" (no credentials) is recorded as None
        )
        self.sessions.append(session)
        self._session_added.set()
        self._session_added = trio.Event()
        try:
            await run_with_faults(session, behaviour.run, faults)
        except* trio_websocket.ConnectionClosed:
            pass  # the client went away mid-send: the session is over
        finally:
            if not session.closed.is_set():  # set early by half_open: never read again
                await session.receive_remaining()
            session.closed.set()

    def _authenticate(
        self, headers: Mapping[str, str], subprotocols: tuple[str, ...]
    ) -> str | None:
        """How the client authenticated (``""``: not at all), or None to refuse it."""
        scheme, _, secret = headers.get("authorization", "").partition(" ")
        scheme = scheme.lower()
        if len(subprotocols) >= 2 and subprotocols[0].lower() in ("token", "bearer"):
            scheme, secret, form = subprotocols[0].lower(), subprotocols[1], "subprotocol"
        else:
            form = scheme.capitalize()
        if self.api_key is None and self.access_token is None:
            return form
        if scheme == "token" and secret and secret == self.api_key:
            return form
        if scheme == "bearer" and secret and secret in (self.access_token, self.api_key):
            return form
        return None


_REASONS = {
    400: "Bad Request",
    401: "Invalid credentials.",
    402: "Payment Required",
    403: "Insufficient permissions.",
    404: "Not Found",
    429: "Too many requests. Please try again later.",
    500: "Internal server error.",
    503: "Service unavailable.",
}
_CODES = {
    400: "INVALID_QUERY_PARAMETER",
    401: "INVALID_AUTH",
    403: "INSUFFICIENT_PERMISSIONS",
    404: "NOT_FOUND",
    429: "TOO_MANY_REQUESTS",
}


async def _reject(
    request: trio_websocket.WebSocketRequest,
    status: int,
    reason: str,
    request_id: str,
    headers: list[tuple[bytes, bytes]],
    body: str | None = None,
    *,
    code: str | None = None,
) -> None:
    if body is None:
        body = json.dumps(
            {
                "err_code": code or _CODES.get(status, "ERROR"),
                "err_msg": reason,
                "request_id": request_id,
            }
        )
    await request.reject(
        status,
        extra_headers=[
            *headers,
            (b"dg-error", reason.encode()),
            (b"content-type", b"application/json"),
        ],
        body=body.encode(),
    )


def _redacted(headers: Mapping[str, str]) -> dict[str, str]:
    out = dict(headers)
    if "authorization" in out:
        scheme = out["authorization"].partition(" ")[0]
        out["authorization"] = f"{scheme} ***"
    if "sec-websocket-protocol" in out:
        first = out["sec-websocket-protocol"].partition(",")[0]
        out["sec-websocket-protocol"] = f"{first}, ***"
    return out
