"""Opening a connection: every argument checked before any I/O, then the socket,
the engine, the API's connection around it, and their tasks around the caller's
block."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterable, AsyncIterator, Callable, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from functools import partial
from typing import Any, TypeVar

import attrs
import trio

from .._auth import Credentials, check_credentials, resolve_base_url, resolve_credentials
from .._reconnect import ReconnectPolicy
from .._tasks import raise_collapsed
from .._transport import Target, connect
from .._validate import check_keywords, check_positive_number, check_value, refuse_unknown
from ..audio._format import AudioSink
from ._engine import Engine
from ._redial import dial_with_backoff
from ._spec import CONNECT_RULES, ApiSpec, ConnectOptions

__all__ = ["open_connection"]

log = logging.getLogger("dgtrio")

C = TypeVar("C")


def open_connection(
    make: Callable[[Engine[Any]], C],
    spec: ApiSpec[Any],
    query: str,
    connect_options: Mapping[str, Any],
    *,
    opener: Callable[..., object],
    options_class: type | None,
    audio: AsyncIterable[bytes] | None = None,
    keepalive_interval: float | None = None,
    close_stream_on_end: bool = True,
    speaker: AudioSink | None = None,
    reconnect: ReconnectPolicy | None = None,
) -> AbstractAsyncContextManager[C]:
    """Check every connection keyword now, before any I/O, then return the context
    manager that connects and runs the connection (see :func:`_run_connection`).

    ``make`` builds the API's connection around the engine (e.g.
    ``partial(ListenV1Connection, options=options)``). ``opener`` is the public
    ``open_*`` function called, and ``options_class`` its options (or settings)
    class: an unknown keyword is refused with a hint at where it belongs.
    """
    options = dict(connect_options)  # the caller's dict keeps the key; this one will not
    refuse_unknown(opener, options, ConnectOptions, options_class)
    check_keywords(opener.__name__, options, ConnectOptions, CONNECT_RULES)
    check_positive_number("", "keepalive_interval", keepalive_interval, optional=True)
    check_value("", "close_stream_on_end", close_stream_on_end, bool)
    check_value("", "reconnect", reconnect, ReconnectPolicy | None)
    if audio is not None and not isinstance(audio, AsyncIterable):
        raise TypeError(
            f"audio must be an async iterable of bytes (a microphone, a file source, an "
            f"async generator), not {type(audio).__name__}"
        )
    base = resolve_base_url(options.get("base_url"), agent=spec.agent_host)
    # Popped, not read: tracebacks that show locals (pytest -l, error trackers) must
    # not find the key in a frame that lives as long as the connection.
    credentials = resolve_credentials(
        options.pop("api_key", None), options.pop("access_token", None)
    )
    check_credentials(base, credentials, allow_insecure=options.get("allow_insecure", False))
    target = Target(
        base,
        spec.path,
        query,
        ssl_context=options.get("ssl_context"),
        connect_timeout=options.get("connect_timeout", 10.0),
        max_message_size=options.get("max_message_size", 16 * 1024 * 1024),
    )
    settings = _Settings(
        target=target,
        max_buffered_messages=options.get("max_buffered_messages", 64),
        max_queued_frames=options.get("max_queued_frames", 32),
        close_timeout=options.get("close_timeout", 5.0),
        send_timeout=options.get("send_timeout", 10.0),
        stall_timeout=options.get("stall_timeout"),
        audio=audio,
        keepalive_interval=keepalive_interval,
        close_stream_on_end=close_stream_on_end,
        speaker=speaker,
        reconnect=reconnect,
    )
    return _run_connection(make, spec, settings, credentials)


@attrs.frozen
class _Settings:
    """Everything a connection runs with, checked: where to connect, the engine's
    limits, its sources and sinks."""

    target: Target
    max_buffered_messages: int
    max_queued_frames: int
    close_timeout: float
    send_timeout: float
    stall_timeout: float | None
    audio: AsyncIterable[bytes] | None
    keepalive_interval: float | None
    close_stream_on_end: bool
    speaker: AudioSink | None
    reconnect: ReconnectPolicy | None


@asynccontextmanager
async def _run_connection(
    make: Callable[[Engine[Any]], C],
    spec: ApiSpec[Any],
    settings: _Settings,
    credentials: Credentials | None,
) -> AsyncIterator[C]:
    """Connect, run the connection's tasks around the caller's block, then close.

    With ``reconnect``, a lost socket is replaced in the same socket nursery (the
    reader dials, the writer replays), and the first connection is retried as
    the policy says, before the block starts.

    On a normal exit, frames already queued are sent first. Then (and on error or
    cancellation) the child tasks are cancelled and the socket is closed with code
    1000 under a shielded ``close_timeout``, so the server sees a clean close even
    when the caller was cancelled. A failure after the socket opened and before the
    block starts (building the connection, the opening exchange) closes it the same
    way, at once: the socket's task is shielded, and would otherwise live on.
    """
    close_timeout, reconnect = settings.close_timeout, settings.reconnect
    user_error: BaseException | None = None
    try:
        # One nursery for the socket and every driver: the writer and the socket's
        # reader are shielded and end when told (the writer's queue closes, the
        # transport stops); the others are cancelled once the socket is closed.
        async with trio.open_nursery() as nursery:
            dial = partial(connect, settings.target, credentials)
            if reconnect is None:
                transport = await dial()
            else:
                first, _, error = await dial_with_backoff(dial, reconnect, spec.name)
                if first is None:
                    assert error is not None
                    raise error
                transport = first
            engine: Engine[Any] | None = None
            try:
                engine = Engine(
                    spec,
                    transport,
                    max_buffered_messages=settings.max_buffered_messages,
                    max_queued_frames=settings.max_queued_frames,
                    close_timeout=close_timeout,
                    send_timeout=settings.send_timeout,
                    speaker=settings.speaker,
                    reconnect=reconnect,
                    dial=dial,
                )
                conn = make(engine)
                engine._start(nursery)
                await engine._open()
                engine._start_sources(
                    nursery,
                    audio=settings.audio,
                    keepalive_interval=settings.keepalive_interval,
                    close_stream_on_end=settings.close_stream_on_end,
                    stall_timeout=settings.stall_timeout,
                )
                try:
                    yield conn
                except BaseException as exc:
                    user_error = exc  # raised as it is, even an exception group
                    raise
                # A normal exit sends what the block queued (e.g. a last
                # close_stream()); an error or cancellation drops it.
                with trio.move_on_after(close_timeout):
                    await engine._finish()
            finally:
                if engine is not None:
                    engine._stop()
                    engine._close_by_user()
                    transport = engine._sockets.transport
                with trio.move_on_after(close_timeout, shield=True):
                    await transport.aclose()
                with trio.CancelScope(shield=True):
                    await transport.stop()
                nursery.cancel_scope.cancel()  # the reader, the timers, the feeder
                if engine is not None:
                    engine._detach()
    except BaseExceptionGroup as group:
        raise_collapsed(group, keep=user_error)
