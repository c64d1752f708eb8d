"""Reconnection, sans-io: the policy, the replay buffer, and the two messages it adds.

A stream opened with ``reconnect=ReconnectPolicy()`` survives a lost socket: the
engine dials again (backoff with jitter, bounded attempts), re-sends the options,
replays the audio the server had not acknowledged with a final result, and shifts
the timestamps of later results so that they read as if one socket had served the
whole stream. Everything here is plain data and arithmetic; the engine (``_engine``) does
the I/O.
"""

from __future__ import annotations

import random
from collections import deque
from typing import TypeAlias

import attrs

from ._errors import (
    ConfigurationError,
    ConnectError,
    ConnectionClosed,
    ConnectionLost,
    DeepgramError,
    HandshakeRejected,
    ServerFailure,
    ServerTimeout,
)
from ._validate import at_least, between, check_fields, positive
from .audio._format import AudioFormat

__all__ = [
    "ConnectionEvent",
    "ReconnectPolicy",
    "Reconnected",
    "Reconnecting",
    "ReplayBuffer",
    "check_replayable",
    "retryable",
]

# Close codes that say "try again": internal error, going away, service restart,
# try again later, bad gateway.
_RETRYABLE_CLOSE_CODES = frozenset({1001, 1011, 1012, 1013, 1014})


@attrs.frozen
class ReconnectPolicy:
    """When and how a lost socket is replaced (``open_listen``/``open_flux_listen``
    ``reconnect=``).

    Retried: a socket lost without a close frame (1006, ``SendTimeout``,
    ``ServerStalled``), Deepgram's ``NET-xxxx`` failures except the idle timeout,
    close codes 1001, 1011-1014, and, while dialling again, a timeout, a network
    error, HTTP 5xx and 429 (waiting at least its ``Retry-After``). Anything else,
    e.g. a 4xx, bad audio (``DATA-xxxx``) or a fatal error message, ends the stream
    as it would without a policy. The first connection is retried likewise, before
    the ``async with`` block starts (its last failure is raised).

    Attributes:
        max_attempts: connection attempts after a loss (or after a first connection
            failed) before giving up with :class:`~dgtrio.ReconnectFailed` (or the
            first connection's last error).
        initial_backoff / max_backoff / multiplier: the wait before attempt *n* is
            ``initial_backoff * multiplier ** (n - 1)``, at most ``max_backoff``...
        jitter: ...less a random fraction of up to ``jitter`` of it, so that many
            clients dropped at once do not return at once.
        stable_after: the quick-failure cut-off: a socket that fails within this many
            seconds of opening does not earn a fresh set of attempts, so a server
            that accepts and drops at once exhausts ``max_attempts`` instead of being
            dialled forever.
        replay_seconds: audio kept for replay: what was sent but not yet covered by a
            final result, and what is sent while no socket is up. Past it, the oldest
            sent audio is forgotten (and counted lost if a reconnect then needs it);
            while no socket is up, sends wait instead.
        replay_speed: replayed audio goes out at this multiple of real time (Deepgram
            takes audio faster than real time; live audio queued behind the replay
            then catches up); ``None``: as fast as the socket takes it.

    Each value is checked when the policy is built: a
    :class:`~dgtrio.ConfigurationError` names the field, the value and its range.
    """

    max_attempts: int = attrs.field(default=5, metadata=positive())
    initial_backoff: float = attrs.field(default=0.5, metadata=at_least(0))
    max_backoff: float = attrs.field(default=10.0, metadata=at_least(0))
    multiplier: float = attrs.field(default=2.0, metadata=positive())
    jitter: float = attrs.field(default=0.2, metadata=between(0, 1))
    stable_after: float = attrs.field(default=10.0, metadata=at_least(0))
    replay_seconds: float = attrs.field(default=30.0, metadata=positive())
    replay_speed: float | None = attrs.field(
        default=4.0, metadata=at_least(1, text="must be at least 1 (real time), or None")
    )

    def __attrs_post_init__(self) -> None:
        check_fields(self)

    def backoff(
        self, attempt: int, *, retry_after: float | None = None, rng: random.Random | None = None
    ) -> float:
        """Seconds to wait before attempt ``attempt`` (from 1); at least ``retry_after``."""
        delay = min(self.max_backoff, self.initial_backoff * self.multiplier ** (attempt - 1))
        if self.jitter:
            delay *= 1 - self.jitter * (rng or random).random()
        return max(delay, retry_after or 0.0)


def retryable(error: BaseException) -> bool:
    """Whether a new socket may fare better after ``error`` (see :class:`ReconnectPolicy`)."""
    if isinstance(error, HandshakeRejected):
        return error.status == 429 or error.status >= 500
    if isinstance(error, ConnectError):
        return True  # a timeout, DNS, TCP or TLS failure
    if isinstance(error, ConnectionLost | ServerTimeout | ServerFailure):
        return True
    return type(error) is ConnectionClosed and error.code in _RETRYABLE_CLOSE_CODES


def check_replayable(policy: ReconnectPolicy | None, fmt: AudioFormat | None, what: str) -> None:
    """Reconnecting needs raw audio: replay starts on a sample, timestamps come from
    byte counts. Raise :class:`ConfigurationError` for anything else."""
    if policy is not None and fmt is None:
        raise ConfigurationError(
            f"reconnect needs raw audio declared in {what} (encoding linear16, linear32, "
            "mulaw or alaw, and sample_rate): a container or a codec cannot be resumed "
            "mid-stream"
        )


@attrs.frozen
class Reconnecting:
    """The socket was lost; attempt ``attempt`` to open another starts in ``delay`` s.

    One comes before each attempt, in the order of the stream's messages. ``error``
    is why: the failure that lost the socket, then the previous attempt's.
    """

    attempt: int
    delay: float
    error: DeepgramError


@attrs.frozen
class Reconnected:
    """A new socket serves the stream from here on; the messages after this one are its.

    Attributes:
        attempt: the attempt that succeeded.
        request_id: the new socket's ``dg-request-id``.
        outage: seconds from the loss to the new socket.
        replay: seconds of audio being replayed: what was not yet acknowledged.
        lost: seconds of audio that could not be replayed (``replay_seconds`` was
            exceeded): later timestamps skip over them.
    """

    attempt: int
    request_id: str | None
    outage: float
    replay: float
    lost: float


ConnectionEvent: TypeAlias = Reconnecting | Reconnected
"""What a reconnecting stream adds to the server's messages."""


class ReplayBuffer:
    """The stream's audio from the last acknowledged byte on, by stream position
    (bytes since the stream began), up to ``capacity`` bytes.

    ``acknowledged`` and ``lost`` count bytes; together with the bytes held they
    account for every byte appended: ``end == acknowledged + lost + pending``.
    """

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.acknowledged = 0
        self.lost = 0
        self._chunks: deque[bytes] = deque()
        self._first = 0  # the stream position of _chunks[0]
        self._held = 0  # bytes in _chunks
        self._done = 0  # position before which every byte is acknowledged or lost

    @property
    def end(self) -> int:
        """The position after the last byte appended."""
        return self._first + self._held

    @property
    def pending(self) -> int:
        """Bytes neither acknowledged nor lost yet."""
        return self.end - self._done

    @property
    def room(self) -> int:
        """Bytes that can be appended before pending audio must be forgotten."""
        return self.capacity - (self.end - max(self._done, self._first))

    def append(self, data: bytes) -> None:
        """Keep ``data``; past ``capacity``, the oldest chunks are forgotten (a reconnect
        then counts them lost)."""
        self._chunks.append(data)
        self._held += len(data)
        while self._held > self.capacity and len(self._chunks) > 1:
            self._forget_first()

    def acknowledge(self, position: int) -> None:
        """The server is done with every byte before ``position`` (clamped to ``end``)."""
        position = min(position, self.end)
        if position <= self._done:
            return
        # Forgotten bytes count too: the socket that took them answered for them.
        self.acknowledged += position - self._done
        self._done = position
        while self._chunks and self._first + len(self._chunks[0]) <= position:
            self._forget_first()

    def rewind(self) -> int:
        """For a new socket: the position replay starts at. Bytes forgotten before it
        are counted lost."""
        if self._first > self._done:
            self.lost += self._first - self._done
            self._done = self._first
        return self._done

    def abandon(self) -> None:
        """The stream ended without a server to take what is pending: count it lost."""
        self.lost += self.pending
        self._done = self.end
        self._chunks.clear()
        self._first, self._held = self._done, 0

    def read(self, position: int, size: int) -> bytes:
        """Up to ``size`` bytes from ``position`` (``b""`` at the end)."""
        parts: list[bytes] = []
        offset = self._first
        for chunk in self._chunks:
            if offset + len(chunk) > position:
                skip = max(0, position - offset)
                parts.append(chunk[skip : skip + size])
                size -= len(parts[-1])
                position += len(parts[-1])
                if size <= 0:
                    break
            offset += len(chunk)
        return b"".join(parts)

    def _forget_first(self) -> None:
        chunk = self._chunks.popleft()
        self._first += len(chunk)
        self._held -= len(chunk)
