"""Every exception dgtrio raises on purpose.

::

    DeepgramError
    ├── ConfigurationError (also ValueError)   bad options, missing or unsafe credentials
    │   ├── MissingCredentials
    │   └── SettingsError                      agent settings the schema does not allow
    ├── AudioFormatError (also ValueError)     audio that cannot match the declared format
    ├── AudioDeviceError (also OSError)        a microphone or speaker failed or is missing
    │   └── AudioUnavailable                   PyAudio/PortAudio is not installed
    ├── ConnectError                           the WebSocket could not be opened
    │   ├── ConnectTimeout (also TimeoutError)
    │   └── HandshakeRejected                  the server answered the upgrade with an HTTP error
    │       ├── InvalidRequest                 400: an option the server refused
    │       ├── AuthenticationFailed           401
    │       ├── PermissionDenied               403
    │       └── RateLimited                    429 (see ``retry_after``)
    ├── ConnectionClosed                       the connection ended abnormally, or is closed
    │   ├── IdleTimeout                        NET-0001: no audio or KeepAlive for ~10 s
    │   ├── ServerTimeout                      NET-0000: the server produced nothing in time
    │   ├── ServerFailure                      other NET-xxxx: Deepgram failed while streaming
    │   ├── AudioDecodeError                   DATA-xxxx: the audio (or text) could not be decoded
    │   ├── MessageRejected                    MESSAGE-xxxx: a client message was not understood
    │   ├── MessageTooLarge                    BIG-xxxx: a client message or its text was too large
    │   ├── FrameTooLarge                      a server frame was over max_message_size (1009)
    │   ├── ConnectionLost                     1006: the socket died without a close frame
    │   │   ├── SendTimeout (also TimeoutError) the socket took nothing for send_timeout
    │   │   └── ServerStalled (also TimeoutError) no server frame for stall_timeout
    │   └── ReconnectFailed                    a lost socket could not be replaced
    ├── ServerError                            the server reported a fatal error in a message
    ├── InjectionRefused                       the agent refused an injected message
    ├── InterruptIgnored                       Flux TTS ignored an ``Interrupt`` (a ``Warning``)
    ├── MessageDecodeError                     a frame from the server could not be decoded
    ├── AcknowledgementTimeout (TimeoutError)  an awaited acknowledgement did not arrive
    ├── ConfigureFailed                        the server refused a ``Configure``
    └── InternalError                          a bug: a driver failed, or several at once

No exception carries a credential: they are built from what the server said and from
URLs, which never hold the API key.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

__all__ = [
    "AcknowledgementTimeout",
    "AudioDecodeError",
    "AudioDeviceError",
    "AudioFormatError",
    "AudioUnavailable",
    "AuthenticationFailed",
    "ConfigurationError",
    "ConfigureFailed",
    "ConnectError",
    "ConnectTimeout",
    "ConnectionClosed",
    "ConnectionLost",
    "DeepgramError",
    "FrameTooLarge",
    "HandshakeRejected",
    "IdleTimeout",
    "InjectionRefused",
    "InternalError",
    "InterruptIgnored",
    "InvalidRequest",
    "MessageDecodeError",
    "MessageRejected",
    "MessageTooLarge",
    "MissingCredentials",
    "PermissionDenied",
    "RateLimited",
    "ReconnectFailed",
    "SendTimeout",
    "ServerError",
    "ServerFailure",
    "ServerStalled",
    "ServerTimeout",
    "SettingsError",
    "close_error",
    "handshake_error",
    "leaves",
]


class DeepgramError(Exception):
    """Base class of every error dgtrio raises on purpose."""


class ConfigurationError(DeepgramError, ValueError):
    """Options or credentials that cannot work, found before anything is sent."""


class MissingCredentials(ConfigurationError):
    """Neither an API key nor an access token was given for Deepgram's hosted API."""


class SettingsError(ConfigurationError):
    """Voice agent settings that Deepgram's schema does not allow.

    Attributes:
        path: the field: ``OpenAiThink.temperature`` when a class was built in code,
            ``agent.think[1].provider.temperature`` when built from JSON.
        problem: what is wrong with it.
    """

    def __init__(self, path: str, problem: str, *, field: str | None = None) -> None:
        self.path = path
        self.problem = problem
        self.field = field  # the name within its class, to build the full path
        super().__init__(f"{path}: {problem}")


class AudioFormatError(DeepgramError, ValueError):
    """Audio that cannot be right for the format the connection declared."""


class AudioDeviceError(DeepgramError, OSError):
    """A microphone or speaker could not be found, opened, read or written.

    ``code`` is PortAudio's error code (``-9996`` invalid device...) when PortAudio
    reported one, else ``None``.
    """

    def __init__(self, message: str, *, code: int | None = None) -> None:
        super().__init__(message)
        self.code = code

    def __str__(self) -> str:
        return str(self.args[0])


class AudioUnavailable(AudioDeviceError):
    """PyAudio, or the PortAudio library under it, is not installed."""


class ConnectError(DeepgramError):
    """The WebSocket could not be opened (DNS, TCP, TLS or the HTTP upgrade failed)."""


class ConnectTimeout(ConnectError, TimeoutError):
    """The connection and its handshake did not complete within ``connect_timeout``."""


class HandshakeRejected(ConnectError):
    """The server answered the WebSocket upgrade with an HTTP error instead of 101.

    Attributes:
        status: the HTTP status code.
        dg_error: the ``dg-error`` response header: Deepgram's reason, if it sent one.
        request_id: the ``dg-request-id`` response header, for Deepgram support.
        retry_after: seconds to wait before retrying, from ``Retry-After``, if sent.
        body: the start of the response body, decoded leniently.
        url: the URL that was refused (it never contains credentials).
    """

    def __init__(
        self,
        status: int,
        *,
        url: str,
        dg_error: str | None = None,
        request_id: str | None = None,
        retry_after: float | None = None,
        body: str = "",
    ) -> None:
        self.status = status
        self.url = url
        self.dg_error = dg_error
        self.request_id = request_id
        self.retry_after = retry_after
        self.body = body
        reason = dg_error or body or "no reason given"
        text = f"HTTP {status} from {url}: {reason}"
        if retry_after is not None:
            text += f" (retry after {retry_after:g} s)"
        if request_id:
            text += f" [request id {request_id}]"
        super().__init__(text)


class InvalidRequest(HandshakeRejected):
    """400: the server refused an option (see ``dg_error`` for which)."""


class AuthenticationFailed(HandshakeRejected):
    """401: the API key or access token is not valid."""


class PermissionDenied(HandshakeRejected):
    """403: the credentials are valid but may not use this API or option."""


class RateLimited(HandshakeRejected):
    """429: too many concurrent connections or requests; see ``retry_after``."""


_HANDSHAKE_ERRORS: Mapping[int, type[HandshakeRejected]] = {
    400: InvalidRequest,
    401: AuthenticationFailed,
    403: PermissionDenied,
    429: RateLimited,
}


def handshake_error(status: int, **fields: Any) -> HandshakeRejected:
    """The most specific :class:`HandshakeRejected` subclass for an HTTP status."""
    return _HANDSHAKE_ERRORS.get(status, HandshakeRejected)(status, **fields)


class ConnectionClosed(DeepgramError):
    """The connection ended abnormally, or was already closed when you sent on it.

    Attributes:
        code: the WebSocket close code (1006 when the socket died without one).
        reason: the close reason the server sent, e.g. ``"NET-0001"``; ``""`` if none.
        request_id: the connection's ``dg-request-id``, when known.
    """

    explanation = "the connection was closed"

    def __init__(self, code: int, reason: str = "", *, request_id: str | None = None) -> None:
        self.code = code
        self.reason = reason
        self.request_id = request_id
        text = f"{self.explanation} (close code {code}"
        text += f", reason {reason!r})" if reason else ")"
        if request_id:
            text += f" [request id {request_id}]"
        super().__init__(text)


class IdleTimeout(ConnectionClosed):
    """NET-0001: the server received no audio or KeepAlive for about 10 seconds."""

    explanation = "Deepgram closed the idle connection: no audio or KeepAlive for ~10 s"


class ServerTimeout(ConnectionClosed):
    """NET-0000: the server could not produce a result in time."""

    explanation = "Deepgram timed out processing the stream"


class ServerFailure(ConnectionClosed):
    """NET-xxxx other than NET-0000/NET-0001: a network or internal failure at Deepgram."""

    explanation = "Deepgram failed while streaming"


class AudioDecodeError(ConnectionClosed):
    """DATA-xxxx: the server could not decode the audio as the declared encoding (or,
    on text-to-speech, the payload it was sent)."""

    explanation = "Deepgram could not decode the data: check encoding, sample_rate and channels"


class MessageRejected(ConnectionClosed):
    """MESSAGE-xxxx (1003): the server could not parse or does not support a message
    the client sent."""

    explanation = "Deepgram did not understand a message the client sent"


class MessageTooLarge(ConnectionClosed):
    """BIG-xxxx (1009): a message, or the text in it, was larger than Deepgram accepts."""

    explanation = "a message sent to Deepgram was too large"


class FrameTooLarge(ConnectionClosed):
    """A frame from the server was larger than ``max_message_size``, so dgtrio closed
    the connection (1009)."""

    explanation = "a frame from the server was over max_message_size, so dgtrio closed"


class ConnectionLost(ConnectionClosed):
    """1006: the socket ended without a WebSocket close frame (network failure)."""

    explanation = "the connection was lost without a close frame"


class SendTimeout(ConnectionLost, TimeoutError):
    """A write took ``send_timeout`` seconds while frames waited behind it: the
    network or the server stopped taking data. The socket is dropped."""

    explanation = "the socket took no data for send_timeout seconds, so it was dropped"


class ServerStalled(ConnectionLost, TimeoutError):
    """Audio flowed for ``stall_timeout`` seconds without a single frame from the
    server (a half-open connection, or a server that stopped answering). The socket
    is dropped."""

    explanation = "audio flowed for stall_timeout seconds with no answer, so the socket was dropped"


class ReconnectFailed(ConnectionClosed):
    """The socket was lost (``code``/``reason`` say how) and ``reconnect=`` could not
    open another: ``attempts`` failed, the last with ``last_error`` (also the
    ``__cause__``), or it was refused for good (a 4xx).
    """

    explanation = "the connection was lost and could not be re-established"

    def __init__(
        self,
        code: int,
        reason: str = "",
        *,
        request_id: str | None = None,
        attempts: int = 0,
        last_error: DeepgramError | None = None,
    ) -> None:
        self.attempts = attempts
        self.last_error = last_error
        super().__init__(code, reason, request_id=request_id)
        if last_error is not None:
            self.args = (f"{self.args[0]}; {attempts} attempts, the last: {last_error}",)


def close_error(code: int, reason: str, *, request_id: str | None = None) -> ConnectionClosed:
    """The typed error for a close, keyed on Deepgram's reason string first.

    The reason decides because Deepgram has used different codes for the same
    failure over time (``DATA-0000`` came with 1002, now with 1008).
    """
    cls = _CLOSE_REASONS.get(reason)
    if cls is None:
        family = reason.partition("-")[0] + "-" if "-" in reason else ""
        cls = _CLOSE_FAMILIES.get(family)
    if cls is None:
        cls = ConnectionLost if code == 1006 else ConnectionClosed
    return cls(code, reason, request_id=request_id)


_CLOSE_REASONS: Mapping[str, type[ConnectionClosed]] = {
    "NET-0000": ServerTimeout,
    "NET-0001": IdleTimeout,
}
_CLOSE_FAMILIES: Mapping[str, type[ConnectionClosed]] = {
    "NET-": ServerFailure,
    "DATA-": AudioDecodeError,
    "MESSAGE-": MessageRejected,
    "BIG-": MessageTooLarge,
}


class ServerError(DeepgramError):
    """The server reported a fatal error in a message (e.g. a Flux or agent ``Error``).

    Attributes:
        code: the server's error code, if any.
        description: the server's description.
        message: the decoded message that carried the error, when there was one.
    """

    def __init__(self, description: str, *, code: str | None = None, message: Any = None) -> None:
        self.code = code
        self.description = description
        self.message = message
        super().__init__(f"{code}: {description}" if code else description)


class InjectionRefused(DeepgramError):
    """The agent refused an ``InjectAgentMessage`` (the user or the agent was mid-turn).

    Attributes:
        reason: the server's explanation.
        message: the ``InjectionRefused`` (or ``Warning``) message itself.
    """

    def __init__(self, reason: str, *, message: Any) -> None:
        self.reason = reason
        self.message = message
        super().__init__(f"injection refused: {reason}" if reason else "injection refused")


class InterruptIgnored(DeepgramError):
    """Flux TTS ignored an ``Interrupt``, answering with a ``Warning``: the turn goes
    on, and its audio is delivered again from then on.

    Attributes:
        code: ``NO_AUDIO_GENERATED`` (no audio yet: nothing to interrupt),
            ``INTERRUPT_IN_PROGRESS`` (one is handled at a time),
            ``INVALID_INTERRUPT_OFFSET`` (the offset did not advance past the last
            one), or ``NO_ACTIVE_SPEECH``.
        description: the server's explanation.
        message: the ``Warning`` itself.
    """

    def __init__(self, code: str, description: str, *, message: Any) -> None:
        self.code = code
        self.description = description
        self.message = message
        super().__init__(f"Interrupt ignored: {code}: {description}")


class MessageDecodeError(DeepgramError):
    """A frame from the server could not be decoded into a message.

    Raised from ``receive()``/``async for`` in the frame's place; the connection stays
    open, so a caller that catches it may keep iterating.

    Attributes:
        frame: the undecodable frame, as received (text or bytes).
    """

    def __init__(self, text: str, *, frame: str | bytes) -> None:
        self.frame = frame
        excerpt = frame[:200]
        super().__init__(f"{text}; frame starts {excerpt!r}")


class AcknowledgementTimeout(DeepgramError, TimeoutError):
    """An acknowledgement the call waits for (e.g. ``ConfigureSuccess``) did not arrive."""


class ConfigureFailed(DeepgramError):
    """The server refused a ``Configure`` message.

    Attributes:
        code: e.g. ``CONFIGURE_KEYTERMS_NOT_SUPPORTED``, ``SPEED_OUT_OF_RANGE``.
        description: the server's explanation.
        message: the ``ConfigureFailure`` (or ``Error``) message itself.
        field: the setting refused (Flux TTS: ``speed``), when the server says.
        value: the value refused, when the server echoes it.
    """

    def __init__(
        self,
        code: str | None,
        description: str,
        *,
        message: Any,
        field: str | None = None,
        value: object = None,
    ) -> None:
        self.code = code
        self.description = description
        self.message = message
        self.field = field
        self.value = value
        refused = "" if field is None else f" {field}" + ("" if value is None else f"={value!r}")
        super().__init__(f"Configure refused{refused}: {code}: {description}")


class InternalError(DeepgramError):
    """A connection's own machinery failed (a bug: one of its drivers raised, or
    several failures happened at once); see ``__cause__``. Only that connection ends."""


def leaves(exc: BaseException) -> Iterator[BaseException]:
    """The exceptions inside ``exc``, groups flattened (``exc`` itself if no group)."""
    if isinstance(exc, BaseExceptionGroup):
        for inner in exc.exceptions:
            yield from leaves(inner)
    else:
        yield exc
