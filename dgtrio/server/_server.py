"""DeepgramServer: the server side of the handshake, auth, routing and sessions.

A subclass says what serves each path (:meth:`DeepgramServer.endpoint`): one socket's
protocol, with the brains that hear, think and speak for it. This module accepts or
rejects the upgrade the way Deepgram does, then runs the endpoint on a
:class:`~._session.Session`, which records every frame both ways.
"""

from __future__ import annotations

import json
import logging
import math
import ssl
import uuid
from collections import deque
from collections.abc import Mapping, Sequence
from typing import NoReturn, Protocol
from urllib.parse import parse_qs

import attrs
import trio
import trio_websocket

from .._validate import (
    at_least,
    between,
    check_positive_int,
    check_positive_number,
    check_value,
)
from ._common import Query
from ._faults import Fault
from ._session import Session, run_with_faults
from ._tap import Tap

__all__ = ["DeepgramServer", "Endpoint", "Rejection"]

log = logging.getLogger("dgtrio.server")

# trio-websocket's serve_websocket defaults: how long a client may take to send its
# upgrade request, and how long the closing handshake may take once a session ends.
_CONNECT_TIMEOUT = 60.0
_DISCONNECT_TIMEOUT = 60.0


@attrs.frozen
class Rejection:
    """A scripted handshake refusal: status, optional ``Retry-After`` and reason."""

    status: int
    retry_after: float | None = None
    dg_error: str | None = None
    body: str | None = None


class Endpoint(Protocol):
    """One socket's protocol for one session: whether it refuses a handshake's query,
    and how it serves the session once the upgrade is accepted."""

    def check(self, query: Query) -> tuple[str, str] | None:
        """``(code, description)`` to refuse the upgrade with (HTTP 400), or None."""
        ...

    async def run(self, session: Session) -> None:
        """Serve ``session`` until either side closes it."""
        ...


class DeepgramServer:
    """Deepgram's realtime protocol on loopback: the handshake, authentication,
    routing, sessions and faults; each socket's protocol is an :class:`Endpoint` that
    :meth:`endpoint` builds at each session's start.

    What a socket hears, thinks and says comes from the brains a subclass gives its
    endpoints: :class:`~dgtrio.testing.FakeDeepgram` scripted ones,
    :class:`~dgtrio.local.LocalDeepgram` real recognition and speech.

    Args:
        api_key: when set, only ``Token <api_key>`` (or the ``token, <api_key>``
            subprotocol) is accepted; when ``None``, any credential or none.
        access_token: when set, ``Bearer <access_token>`` is accepted too.
        idle_timeout: seconds without audio or KeepAlive before Listen v1 closes
            with 1011 ``NET-0001``.
        agent_client_timeout: seconds without any client frame before Voice Agent v1
            sends ``Error`` ``CLIENT_MESSAGE_TIMEOUT`` and closes with 1000.
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
        idle_timeout: float = 10.0,
        agent_client_timeout: float = 10.0,
        faults: Sequence[Fault] = (),
        host: str = "127.0.0.1",
        port: int = 0,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        owner = type(self).__name__
        for name, value in (("api_key", api_key), ("access_token", access_token)):
            check_value(owner, name, value, str | None)
        check_positive_number(owner, "idle_timeout", idle_timeout)
        check_positive_number(owner, "agent_client_timeout", agent_client_timeout)
        check_value(owner, "faults", faults, Sequence[Fault])
        check_value(owner, "host", host, str)
        check_value(owner, "port", port, int, between(0, 65535))
        check_value(owner, "ssl_context", ssl_context, ssl.SSLContext | None)
        self.api_key = api_key
        self.access_token = access_token
        self.idle_timeout = idle_timeout
        self.agent_client_timeout = agent_client_timeout
        self.faults = tuple(faults)
        self.host = host
        self.port = port
        self.ssl_context = ssl_context
        self.sessions: list[Session] = []
        self._rejections: deque[Rejection] = deque()
        self._next_faults: deque[tuple[Fault, ...]] = deque()
        self._session_added = trio.Event()
        self._serving = False

    def endpoint(self, path: str) -> Endpoint | None:
        """What serves a session on ``path``, built as the session starts (None: no
        such endpoint, HTTP 404). Subclasses give each socket its brains here."""
        return None

    @property
    def url(self) -> str:
        """The base URL to pass as ``base_url`` (valid once :meth:`serve` started)."""
        if not self.port:
            raise RuntimeError("the server is not serving yet: await nursery.start(serve)")
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
        """Refuse the next ``count`` handshakes with ``status`` (e.g. 429).

        Raises:
            ConfigurationError: a status that refuses nothing (not 300-599), a
                negative ``retry_after``, a ``count`` below 1, or a wrong type.
        """
        owner = f"{type(self).__name__}.reject_next"
        check_value(owner, "status", status, int, between(300, 599))
        check_value(owner, "retry_after", retry_after, float | None, at_least(0))
        check_value(owner, "dg_error", dg_error, str | None)
        check_value(owner, "body", body, str | None)
        check_positive_int(owner, "count", count)
        self._rejections.extend([Rejection(status, retry_after, dg_error, body)] * count)

    def fault_next(self, *faults: Fault) -> None:
        """Inject ``faults`` into the next session only, on top of ``faults=``.

        Each call queues one session's faults; a session takes them when its upgrade
        would be accepted (after any :meth:`reject_next` refusals).

        Raises:
            ConfigurationError: one of ``faults`` is no :class:`Fault`.
        """
        check_value(f"{type(self).__name__}.fault_next", "faults", faults, Sequence[Fault])
        self._next_faults.append(faults)

    async def wait_for_sessions(self, count: int = 1) -> list[Session]:
        """Wait until at least ``count`` sessions were accepted."""
        check_positive_int(f"{type(self).__name__}.wait_for_sessions", "count", count)
        while len(self.sessions) < count:
            await self._session_added.wait()
        return self.sessions

    async def serve(
        self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
    ) -> NoReturn:
        """Serve until cancelled; for ``nursery.start``.

        Raises:
            RuntimeError: the server is serving already (from another task).
        """
        if self._serving:
            raise RuntimeError(f"{type(self).__name__} is serving already: one serve() at a time")
        self._serving = True
        try:
            await self._serve(task_status)
        finally:
            self._serving = False

    async def _serve(self, task_status: trio.TaskStatus[None]) -> NoReturn:
        # As trio-websocket's serve_websocket listens, but each connection is accepted
        # here, so that its websocket runs on a Tap the faults can reach.
        listeners: list[trio.SocketListener] | list[trio.SSLListener[trio.SocketStream]]
        async with trio.open_nursery() as nursery:
            if self.ssl_context is None:
                listeners = await trio.open_tcp_listeners(self.port, host=self.host)
            else:
                listeners = await trio.open_ssl_over_tcp_listeners(
                    self.port, self.ssl_context, host=self.host, https_compatible=True
                )
            await nursery.start(trio.serve_listeners, self._connection, listeners)
            self.port = _port(listeners)
            log.info("%s serving on %s", type(self).__name__, self.url)
            task_status.started()
            await trio.sleep_forever()
        raise AssertionError("unreachable")  # pragma: no cover

    async def _connection(self, stream: trio.abc.Stream) -> None:
        """Serve one TCP connection as trio-websocket's own server does: the same
        message queue and size limit (wrap_server_stream's defaults are
        serve_websocket's), a bounded wait for the upgrade request. trio's
        serve_listeners closes ``stream`` once this returns."""
        tap = Tap(stream)
        async with trio.open_nursery() as nursery:  # trio-websocket's reader task
            request = None
            with trio.move_on_after(_CONNECT_TIMEOUT):
                request = await trio_websocket.wrap_server_stream(nursery, tap)
            if request is None:  # the client never finished its upgrade request
                nursery.cancel_scope.cancel()
                return
            await self._handle(request, tap)

    async def _handle(self, request: trio_websocket.WebSocketRequest, tap: Tap) -> None:
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
        behaviour = self.endpoint(path)
        if behaviour is None:
            await _reject(request, 404, f"No such endpoint: {path}", request_id, response)
            return
        problem = behaviour.check(query)
        if problem is not None:
            code, text = problem
            await _reject(request, 400, text, request_id, response, code=code)
            return
        faults = [*self.faults, *(self._next_faults.popleft() if self._next_faults else ())]
        if any(fault.kind == "handshake_timeout" for fault in faults):
            await trio.sleep_forever()  # the upgrade goes unanswered until the server stops
        subprotocol = "token" if auth == "subprotocol" else None
        # Listed before the upgrade is answered: a client whose handshake is done
        # always finds its session here.
        session = Session(
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
            ws = await request.accept(subprotocol=subprotocol, extra_headers=response)
        except BaseException:
            session.closed.set()
            raise
        session.attach(ws, tap)
        try:
            await self._run(session, behaviour, faults)
        finally:
            # The closing handshake, bounded as trio-websocket's own server bounds it.
            with trio.move_on_after(_DISCONNECT_TIMEOUT):
                await ws.aclose()

    async def _run(self, session: Session, behaviour: Endpoint, faults: Sequence[Fault]) -> None:
        """Run ``behaviour`` on the accepted ``session``, then record what is left."""
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


def _port(listeners: Sequence[trio.SocketListener | trio.SSLListener[trio.SocketStream]]) -> int:
    """The port the listener is bound to (the one picked, for port 0); like
    trio-websocket's server, which this replaces, it takes exactly one listener."""
    if len(listeners) != 1:
        raise RuntimeError(f"the server needs one listener, not {len(listeners)}: pick one host")
    listener = listeners[0]
    tcp = listener.transport_listener if isinstance(listener, trio.SSLListener) else listener
    assert isinstance(tcp, trio.SocketListener)
    port: int = tcp.socket.getsockname()[1]
    return port


def _redacted(headers: Mapping[str, str]) -> dict[str, str]:
    out = dict(headers)
    if "authorization" in out:
        scheme = out["authorization"].partition(" ")[0]
        out["authorization"] = f"{scheme} ***"
    if "sec-websocket-protocol" in out:
        first = out["sec-websocket-protocol"].partition(",")[0]
        out["sec-websocket-protocol"] = f"{first}, ***"
    return out
