"""The phone agent service: Twilio Media Streams in, one voice agent per call, and
health, readiness and metrics on the same port."""

from __future__ import annotations

import itertools
import logging
import signal
import socket
from collections import Counter, deque
from collections.abc import AsyncIterator
from urllib.parse import urlsplit

import attrs
import trio
import trio_websocket

from .. import ConfigurationError, ConnectOptions, ToolRegistry
from .._engine import CONNECT_RULES
from .._validate import at_least, check_keywords, check_positive_int, check_value
from . import _http as http
from ._bridge import CallPolicy, DtmfHook, SettingsHook, run_call
from ._call import Call, EndCause
from ._defaults import apology_clip, default_settings, inject_digit
from ._metrics import Metrics
from ._twilio import check_public_url, signature_matches

__all__ = ["PhoneAgentServer", "ServerStatistics"]

log = logging.getLogger("dgtrio.phone")

DEFAULT_GRACE = 15.0
"""Seconds calls get after :meth:`PhoneAgentServer.shutdown`: with the ending budget,
well inside an orchestrator's usual 30 s."""
END_BUDGET = 7.0
"""Seconds the calls still running at the end of the grace get to end well (the
agent's close, the last mark, the close): ``serve`` returns by grace + this."""
_HEAD_TIMEOUT = 5.0  # seconds for a request's head


@attrs.define
class ServerStatistics:
    """What the server did (also in ``/metrics``)."""

    accepted: int = 0  # upgrades accepted: calls
    refused: int = 0  # upgrades refused: unauthorized, at capacity, or draining
    completed: int = 0  # calls that ended without a failure
    failed: int = 0  # calls that ended on a failure (see EndCause.failed)
    ended_at_shutdown: int = 0  # still running when the grace period ran out
    causes: Counter[str] = attrs.Factory(Counter)  # calls by end cause


class PhoneAgentServer:
    """Serves Twilio Media Streams (``<Connect><Stream>``), one voice agent per call.

    ::

        server = dgtrio.phone.PhoneAgentServer(
            public_url="wss://calls.example.com/phone",
            auth_token=os.environ["TWILIO_AUTH_TOKEN"],
            settings_for=lambda call: my_settings(call.custom_parameters),
        )
        async with trio.open_nursery() as nursery:
            port = await nursery.start(server.serve, "0.0.0.0", 8080)

    Each upgrade must carry Twilio's ``X-Twilio-Signature`` for ``public_url``
    (else 403, before any agent session opens). On the same port: ``GET /healthz``
    (200 while serving), ``GET /readyz`` (503 while draining or at the cap) and
    ``GET /metrics`` (Prometheus).

    Args:
        public_url: the ``wss://HOST/PATH`` Twilio is given as ``<Stream url>``; the
            signature covers it, and upgrades are served on its path.
        auth_token: the Twilio account's auth token, which signs the upgrades.
        insecure_no_signature: serve without checking signatures (anyone who can
            reach the port opens billed agent sessions); logged loudly.
        account_sid: refuse calls whose ``start.accountSid`` differs (1008).
        settings_for: the agent's settings for a call (sync or async), given the
            call's ids and ``custom_parameters``; default: :func:`default_settings`.
        tools: functions every call's agent may call.
        on_dtmf: ``(call, digit, agent)`` for each key pressed; default:
            :func:`inject_digit`.
        connect: ``open_agent``'s connection keywords (``base_url``, ``api_key``...).
        apology: mu-law 8 kHz said to the caller when the agent fails (``b""``:
            nothing); default: :func:`apology_clip`.
        max_calls: calls at once; one more is refused with 503.
        grace: seconds calls in progress get to finish after :meth:`shutdown`.
        start_timeout: seconds for Twilio's ``start`` after the upgrade.
        media_timeout: seconds without ``media`` that end a call (Twilio streams
            every 20 ms, silence too: a half-open socket).
        agent_stall_timeout: the agent connection's ``stall_timeout``.
        heard_timeout: seconds to wait for the caller to hear the agent's last
            words before this side hangs up.
        history: ended calls kept in :attr:`finished`.

    Raises:
        ConfigurationError: no ``auth_token`` and not ``insecure_no_signature``; a
            value of the wrong type or out of range.
        ValueError: a ``public_url`` Twilio cannot call.
        TypeError: an unknown keyword in ``connect``.
    """

    def __init__(
        self,
        *,
        public_url: str,
        auth_token: str | None = None,
        insecure_no_signature: bool = False,
        account_sid: str | None = None,
        settings_for: SettingsHook | None = None,
        tools: ToolRegistry | None = None,
        on_dtmf: DtmfHook = inject_digit,
        connect: ConnectOptions | None = None,
        apology: bytes | None = None,
        max_calls: int = 100,
        grace: float = DEFAULT_GRACE,
        start_timeout: float = 5.0,
        media_timeout: float = 5.0,
        agent_stall_timeout: float = 5.0,
        heard_timeout: float = 10.0,
        history: int = 100,
    ) -> None:
        self.public_url = check_public_url(public_url)
        owner = type(self).__name__
        given: tuple[tuple[str, object, object], ...] = (
            ("auth_token", auth_token, str | None),
            ("account_sid", account_sid, str | None),
            ("insecure_no_signature", insecure_no_signature, bool),
            ("tools", tools, ToolRegistry | None),
            ("apology", apology, bytes | None),
        )
        for name, value, annotation in given:
            check_value(owner, name, value, annotation)
        for name, hook in (("settings_for", settings_for), ("on_dtmf", on_dtmf)):
            if hook is not None and not callable(hook):
                raise ConfigurationError(f"{owner}.{name} must be callable")
        check_positive_int(owner, "max_calls", max_calls)
        check_positive_int(owner, "history", history)
        timeouts = {
            "start_timeout": start_timeout,
            "media_timeout": media_timeout,
            "agent_stall_timeout": agent_stall_timeout,
            "heard_timeout": heard_timeout,
        }
        for name, seconds in {"grace": grace, **timeouts}.items():
            check_value(owner, name, seconds, float, at_least(0))
        if not auth_token and not insecure_no_signature:
            raise ConfigurationError(
                "an auth_token is needed to check Twilio's signatures "
                "(or insecure_no_signature=True, to serve anyone who reaches the port)"
            )
        self._auth_token = auth_token or None
        self.max_calls = max_calls
        self.grace = grace
        self.policy = CallPolicy(
            settings_for=settings_for or (lambda call: default_settings()),
            tools=tools,
            on_dtmf=on_dtmf,
            connect=ConnectOptions(),
            apology=apology_clip() if apology is None else apology,
            account_sid=account_sid,
            **timeouts,
        )
        self.connect = connect or ConnectOptions()
        self.statistics = ServerStatistics()
        self.metrics = Metrics()
        self.active: dict[Call, trio.CancelScope] = {}
        self.finished: deque[Call] = deque(maxlen=history)
        self.port = 0
        self._path = urlsplit(public_url).path or "/"
        self._numbers = itertools.count(1)
        self._draining = False
        self._at_once = False
        self._grace = trio.CancelScope()
        self._stop = trio.CancelScope()
        self._idle = trio.Event()
        self._idle.set()
        self._served = False

    def __repr__(self) -> str:
        state = "draining" if self._draining else "serving"
        return (
            f"<PhoneAgentServer {self.public_url} {state} port={self.port} "
            f"active={len(self.active)}/{self.max_calls}>"
        )

    @property
    def connect(self) -> ConnectOptions:
        """``open_agent``'s connection keywords; set them to change them for the
        calls that start from then on (a rotated key, another region).

        Raises (on setting):
            TypeError: an unknown keyword. ConfigurationError: a bad value.
        """
        return self.policy.connect

    @connect.setter
    def connect(self, connect: ConnectOptions) -> None:
        check_keywords("open_agent", connect, ConnectOptions, CONNECT_RULES)
        self.policy = attrs.evolve(self.policy, connect=ConnectOptions(**connect))

    @property
    def draining(self) -> bool:
        """Whether :meth:`shutdown` was called."""
        return self._draining

    @property
    def ready(self) -> bool:
        """Whether a new call would be taken (``/readyz``)."""
        return not self._draining and len(self.active) < self.max_calls

    async def serve(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        reuse_port: bool = False,
        task_status: trio.TaskStatus[int] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        """Serve until :meth:`shutdown` and the calls are done (or the grace is
        over), then return. For ``nursery.start``: started with the port. A server
        serves once (``RuntimeError`` the second time).

        Args:
            reuse_port: bind with ``SO_REUSEPORT``, so that several processes share
                the port (``dgtrio phone --workers``).
        """
        if self._served:
            raise RuntimeError("a PhoneAgentServer serves once: make another")
        self._served = True
        if self._auth_token is None:
            log.warning(
                "X-Twilio-Signature is NOT checked (insecure_no_signature): anyone who "
                "can reach this port can open agent sessions billed to your account"
            )
        listener = await _listen(host, port, reuse_port=reuse_port)
        self.port = listener.socket.getsockname()[1]
        async with trio.open_nursery() as connections:
            with self._stop:
                connections.start_soon(trio.serve_listeners, self._handle, [listener])
                task_status.started(self.port)
                await trio.sleep_forever()
            # Draining: the listener still answers (readyz says 503, upgrades get
            # 503) while the calls finish, for up to ``grace``.
            with self._grace:
                self._grace.deadline = trio.current_time() + self.grace
                await self._idle.wait()
            for call, scope in list(self.active.items()):
                self.statistics.ended_at_shutdown += 1
                call.cause = call.cause or EndCause.SHUTDOWN
                scope.cancel()
            with trio.move_on_after(END_BUDGET):
                while self.active:
                    await self._idle.wait()
            connections.cancel_scope.cancel()  # the listener, and health checks

    async def run(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        reuse_port: bool = False,
        task_status: trio.TaskStatus[int] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        """:meth:`serve`, until SIGTERM or SIGINT (Ctrl-C): the first drains (as
        :meth:`shutdown`), a second ends the calls at once. For a program's main
        task; signals can only be received in the main thread."""
        with trio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(self._on_signals, signals)
                await self.serve(host, port, reuse_port=reuse_port, task_status=task_status)
                nursery.cancel_scope.cancel()  # drained: no more signals to take

    async def _on_signals(self, signals: AsyncIterator[int]) -> None:
        async for signum in signals:
            name = signal.Signals(signum).name
            if self._draining:
                log.warning("%s again: ending %d calls now", name, len(self.active))
                self.shutdown(at_once=True)
            else:
                log.warning(
                    "%s: no new calls; %d in progress get %g s (again to end them now)",
                    name,
                    len(self.active),
                    self.grace,
                )
                self.shutdown()

    def shutdown(self, *, at_once: bool = False) -> None:
        """Take no more calls; :meth:`serve` returns once the calls are done, at most
        ``grace`` seconds from now. Again, or with ``at_once``: end the calls now
        (each still closes cleanly, with 1001)."""
        if self._draining or at_once:
            self._at_once = True
            self._grace.cancel()
        self._draining = True
        self._stop.cancel()

    # -- one connection ----------------------------------------------------------------------

    async def _handle(self, stream: trio.SocketStream) -> None:
        try:
            await self._route(stream)
        except Exception:  # a bug must not end the other calls with the server
            log.exception("a connection failed")
            await trio.aclose_forcefully(stream)

    async def _route(self, stream: trio.SocketStream) -> None:
        request = None
        with trio.move_on_after(_HEAD_TIMEOUT):
            request = await http.read_request(stream)
        if request is None:
            await trio.aclose_forcefully(stream)
        elif not request.is_upgrade:
            await self._answer(stream, request)
        elif request.path != self._path:
            await http.respond(stream, 404, b"no stream here\n")
        elif not self._signed(request):
            await self._refuse(stream, "unauthorized", 403, "a missing or wrong signature")
        elif self._draining:
            await self._refuse(stream, "draining", 503, "shutting down")
        elif len(self.active) >= self.max_calls:
            await self._refuse(stream, "capacity", 503, f"at capacity ({self.max_calls} calls)")
        else:
            await self._call(stream, request)

    def _signed(self, request: http.Request) -> bool:
        if self._auth_token is None:
            return True
        signature = request.headers.get("x-twilio-signature")
        return signature_matches(self._auth_token, self.public_url, signature)

    async def _answer(self, stream: trio.SocketStream, request: http.Request) -> None:
        """Health, readiness, metrics (GET, or HEAD: the same without the body)."""
        if request.method not in ("GET", "HEAD"):
            await http.respond(stream, 405, b"GET only\n", headers=(("allow", "GET, HEAD"),))
            return
        content_type = "text/plain; charset=utf-8"
        if request.path == "/healthz":
            status, body = 200, b"ok\n"
        elif request.path == "/readyz":
            status = 200 if self.ready else 503
            body = (
                b"ready\n" if self.ready else b"draining\n" if self._draining else b"at capacity\n"
            )
        elif request.path == "/metrics":
            status, (body, content_type) = 200, self.metrics.exposition()
        else:
            status, body = 404, b"not found\n"
        if request.method == "HEAD":
            body = b""
        await http.respond(stream, status, body, content_type=content_type)

    async def _refuse(self, stream: trio.SocketStream, reason: str, status: int, why: str) -> None:
        self.statistics.refused += 1
        self.metrics.refused.labels(reason=reason).inc()
        log.warning("refused a call: %s", why)
        headers = (("retry-after", "5"),) if status == 503 else ()
        await http.respond(stream, status, f"refused: {why}\n".encode(), headers=headers)

    async def _call(self, stream: trio.SocketStream, request: http.Request) -> None:
        call = Call(next(self._numbers), started_at=trio.current_time())
        scope = trio.CancelScope()
        self.active[call] = scope  # the slot is taken before the first await
        self._idle = trio.Event()
        self.statistics.accepted += 1
        self.metrics.active.inc()
        try:
            async with trio.open_nursery() as connection:
                ws_request = await trio_websocket.wrap_server_stream(
                    connection, http.Replayed(stream, request.raw)
                )
                ws = await ws_request.accept()
                await run_call(
                    ws, call, self.policy, self.metrics, scope, at_once=lambda: self._at_once
                )
                connection.cancel_scope.cancel()  # the socket's reader, if still reading
        except* (OSError, trio.BrokenResourceError, trio_websocket.ConnectionClosed) as group:
            # the socket failed (the peer left during the handshake, or a read failed)
            call.cause = call.cause or EndCause.CALLER_GONE
            call.error = call.error or group.exceptions[0]
        finally:
            await trio.aclose_forcefully(stream)
            self._ended(call)

    def _ended(self, call: Call) -> None:
        call.ended_at = trio.current_time()
        del self.active[call]
        self.finished.append(call)
        cause = call.cause or EndCause.CALLER_GONE
        self.statistics.causes[cause.value] += 1
        if cause.failed:
            self.statistics.failed += 1
        else:
            self.statistics.completed += 1
        self.metrics.active.dec()
        self.metrics.calls.labels(cause=cause.value).inc()
        _log_end(call)
        if not self.active:
            self._idle.set()


def _log_end(call: Call) -> None:
    """One line per call; a failure's leaf exception comes with its traceback."""
    line = (
        f"call {call.number} ended: callSid={call.call_sid or '-'} "
        f"streamSid={call.stream_sid or '-'} duration={call.duration:.2f}s cause={call.cause}"
    )
    if call.cause is not None and call.cause.failed:
        error = None if call.error is None else _leaf(call.error)
        log.warning("%s error=%r", line, error, exc_info=error)
    elif call.error is not None:
        log.info("%s error=%r", line, _leaf(call.error))
    else:
        log.info("%s", line)


def _leaf(error: BaseException) -> BaseException:
    """The exception a group stands for: its first leaf."""
    while isinstance(error, BaseExceptionGroup):
        error = error.exceptions[0]
    return error


async def _listen(host: str, port: int, *, reuse_port: bool) -> trio.SocketListener:
    """A listening socket on ``host:port``; with ``reuse_port``, one of a group that
    the kernel shares connections among."""
    (family, kind, proto, _, address), *_ = await trio.socket.getaddrinfo(
        host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    )
    sock = trio.socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if reuse_port:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        await sock.bind(address)
        sock.listen(512)
    except BaseException:
        sock.close()
        raise
    return trio.SocketListener(sock)
