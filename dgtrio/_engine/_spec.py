"""What the engine is told and what it tells: the connection keywords, an API's
specification, the statistics snapshot, and the checks of what ``open_*`` is given.
Sans-io: nothing here does I/O."""

from __future__ import annotations

import ssl
from collections.abc import Mapping
from typing import Any, Generic, TypedDict, TypeVar

import attrs

from .._codec import Codec
from .._errors import ServerError
from .._validate import positive

__all__ = [
    "CONNECT_RULES",
    "ApiSpec",
    "ConnectOptions",
    "ConnectionStatistics",
    "check_options",
    "server_error",
]

S = TypeVar("S", covariant=True)


class ConnectOptions(TypedDict, total=False):
    """Keywords every ``open_*`` function accepts.

    Attributes:
        api_key: Deepgram API key, sent as ``Authorization: Token``. Default:
            ``DEEPGRAM_API_KEY``.
        access_token: a temporary token, sent as ``Authorization: Bearer``. Default:
            ``DEEPGRAM_ACCESS_TOKEN``.
        base_url: ``wss://host[:port][/prefix]`` for regional, self-hosted or fake
            servers. Default: ``DEEPGRAM_BASE_URL``, else Deepgram's hosted API.
        ssl_context: TLS settings for ``wss://``; default: verified, system CAs.
        allow_insecure: allow credentials over plain ``ws://`` to a non-loopback host.
        connect_timeout: seconds for TCP, TLS and the WebSocket handshake (10).
        close_timeout: seconds to wait for the server's close frame (5).
        send_timeout: seconds a write may take while other frames wait behind it,
            before the socket is dropped with :class:`~dgtrio.SendTimeout` (10): a
            peer that stopped reading fills the socket buffers, then writes wait.
        stall_timeout: seconds audio may flow without a single frame from the
            server before the socket is dropped with :class:`~dgtrio.ServerStalled`
            (``None``, the default: never; Deepgram may be silent through silence).
            The agent, which rightly says nothing while nobody speaks, is sent a
            WebSocket ping halfway through, and its pong counts as a frame.
        max_buffered_messages: decoded messages held for ``receive()`` before the
            connection stops reading the socket (64).
        max_queued_frames: outgoing frames queued before sends block (32).
        max_message_size: largest frame accepted from the server, in bytes (16 MiB).
    """

    api_key: str | None
    access_token: str | None
    base_url: str | None
    ssl_context: ssl.SSLContext | None
    allow_insecure: bool
    connect_timeout: float
    close_timeout: float
    send_timeout: float
    stall_timeout: float | None
    max_buffered_messages: int
    max_queued_frames: int
    max_message_size: int


@attrs.frozen
class ApiSpec(Generic[S]):
    """What sets one API's socket apart, as far as the engine is concerned."""

    name: str
    path: str
    codec: Codec[S]
    agent_host: bool = False
    clean_close_codes: frozenset[int] = frozenset({1000})
    # Codes that are clean only after the end-of-stream message (Flux: 1005).
    end_of_stream_close_codes: frozenset[int] = frozenset()
    keepalive_frame: str | None = None
    end_of_audio_frame: str | None = None
    # The server's error message class when an error it reports and then closes on is
    # fatal (agent, Flux, speak); it needs ``description`` and ``code`` attributes.
    fatal_error: type[Any] | None = None
    # With a speaker: the message class whose ``data`` it plays (agent, speak), and
    # the one that clears it at once (the agent's UserStartedSpeaking).
    speech: type[Any] | None = None
    barge_in: type[Any] | None = None
    # Whether the server ends a whole stream with a summary (Listen v1: Metadata, for
    # which _audio_done says math.inf). With reconnect=, a socket lost after the end
    # of the stream but before the summary is replaced even when all audio was
    # acknowledged, so that the stream still ends with one.
    ends_with_summary: bool = False
    # Whether the server may rightly say nothing while audio flows (the agent, while
    # nobody speaks). The stall watchdog then sends a WebSocket ping halfway to
    # ``stall_timeout``, and the pong counts as a frame: only a dead peer stalls.
    quiet: bool = False


@attrs.frozen
class ConnectionStatistics:
    """A snapshot of a connection's counters, from ``statistics()``.

    Attributes:
        state: ``"open"``, ``"closing"`` (end of stream sent), ``"reconnecting"`` or
            ``"closed"``.
        audio_frames_sent / audio_bytes_sent: audio frames written to the socket
            (with ``reconnect=``: taken for it, the frames kept while no socket was
            up included; each counted once, however often it was replayed).
        audio_messages_sent: the WebSocket messages that carried them: frames queued
            behind each other go out joined, as one message.
        control_messages_sent: text frames written, keepalives included.
        keepalives_sent: ``KeepAlive`` frames queued by the keepalive timer.
        messages_received: text and binary frames received from the server.
        bytes_received: their total size (text counted in characters).
        decode_errors: frames that could not be decoded.
        queued_frames: frames waiting for the writer now.
        buffered_messages: decoded messages waiting for ``receive()`` now.
        frames_unsent: frames that were queued but not (known to be) written whole,
            because the connection ended or the block was left by an error.
        sequence_gaps: times the server's message numbering skipped or went back
            (Flux numbers its messages): a sign of lost messages.
        reconnects: sockets opened to replace a lost one (``reconnect=``).
        audio_bytes_replayed: audio written again to a new socket (``reconnect=``).
        audio_bytes_acknowledged: audio the server covered with final results, or
            finished with at the end of the stream (``reconnect=``).
        audio_bytes_pending: audio taken for the socket but not acknowledged yet.
        audio_bytes_lost: audio the server never transcribed: forgotten past
            ``replay_seconds`` before a reconnect needed it, or pending when the
            stream ended abnormally. With ``reconnect=``, ``audio_bytes_sent`` equals
            acknowledged + pending + lost.
    """

    state: str
    audio_frames_sent: int
    audio_bytes_sent: int
    audio_messages_sent: int
    control_messages_sent: int
    keepalives_sent: int
    messages_received: int
    bytes_received: int
    decode_errors: int
    queued_frames: int
    buffered_messages: int
    frames_unsent: int
    sequence_gaps: int = 0
    reconnects: int = 0
    audio_bytes_replayed: int = 0
    audio_bytes_acknowledged: int = 0
    audio_bytes_pending: int = 0
    audio_bytes_lost: int = 0


Opts = TypeVar("Opts")


def check_options(options: Opts | None, kind: type[Opts]) -> Opts:
    """``options``, or the default ``kind()``; anything else (another API's options
    class, a dict of query parameters) is refused."""
    if options is None:
        return kind()
    if not isinstance(options, kind):
        hint = f": {kind.__name__}(**...)" if isinstance(options, Mapping) else ""
        raise TypeError(f"options must be {kind.__name__}, not {type(options).__name__}{hint}")
    return options


# The ranges of the connection keywords; their types are ConnectOptions' annotations.
CONNECT_RULES = {
    "connect_timeout": positive(),
    "close_timeout": positive(),
    "send_timeout": positive(),
    "stall_timeout": positive(),
    "max_buffered_messages": positive(),
    "max_queued_frames": positive(),
    "max_message_size": positive(),
}


def server_error(message: Any) -> ServerError:
    """The :class:`ServerError` for an API's error message (``description``, ``code``)."""
    description = message.description or f"{type(message).__name__} without a description"
    return ServerError(description, code=message.code, message=message)
