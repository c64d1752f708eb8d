"""The stream core (sans-io): one connection's state, what a message and a close
mean, what a new socket needs, and the counters with their invariant.

The drivers (reader, writer, timers, redial) move bytes and time; every decision
about the stream is made here, from plain calls, so that it can be driven without a
socket (``tests/test_engine_core.py`` does, with Hypothesis). Events in the wrong
state are refused with :class:`StateError`, as wsproto refuses them: a bug in a
driver shows at once, not as a stream that quietly goes wrong.

States::

    OPEN ──close_stream()──▶ CLOSING
      │  ▲                   │
      │  └──socket_up()──┐   │          (back to CLOSING if the stream was closed)
      └──socket_lost()──▶ RECONNECTING ◀┘
    any ──end() / close_by_user()──▶ CLOSED
"""

from __future__ import annotations

import enum
import logging
import math
from collections.abc import Callable
from typing import Any, Generic, NoReturn, TypeVar

import attrs
import trio

from .._codec import UnknownMessage
from .._errors import (
    ConnectionClosed,
    ConnectionLost,
    DeepgramError,
    FrameTooLarge,
    ReconnectFailed,
    close_error,
)
from .._reconnect import Reconnected, ReconnectPolicy, ReplayBuffer, retryable
from ..audio._format import AudioFormat
from ._adapter import Adapter
from ._spec import ApiSpec, ConnectionStatistics, server_error

__all__ = ["Counters", "ReplayPlan", "State", "StateError", "StreamCore"]

log = logging.getLogger("dgtrio")

M = TypeVar("M")


def _overrides(adapter: Adapter[Any], name: str) -> bool:
    """Whether ``adapter``'s class has its own ``name`` hook (not the default)."""
    return getattr(type(adapter), name) is not getattr(Adapter, name)


class State(enum.Enum):
    """Where a connection is; ``statistics().state`` is its value."""

    OPEN = "open"  # a socket serves the stream
    CLOSING = "closing"  # the end of the stream was sent: the server is finishing
    RECONNECTING = "reconnecting"  # no socket: a replacement is being dialled
    CLOSED = "closed"  # over: the server ended it, it failed, or the user closed it


class StateError(RuntimeError):
    """An event the core cannot take in its state: a bug in the engine's drivers."""


@attrs.frozen
class ReplayPlan:
    """What a new socket is written before anything else: the control frames that
    configured the lost one, then its audio from ``start`` (the first byte not
    acknowledged); then :attr:`StreamCore.replay_end`."""

    reapply: tuple[str, ...]
    start: int


@attrs.define
class Counters:
    """What went out and came in; the drivers count, ``statistics()`` reports them
    under the same names (see :class:`ConnectionStatistics`), but the speech ones."""

    audio_frames_sent: int = 0
    audio_bytes_sent: int = 0
    audio_messages_sent: int = 0
    audio_bytes_replayed: int = 0
    control_messages_sent: int = 0
    keepalives_sent: int = 0
    messages_received: int = 0
    bytes_received: int = 0
    decode_errors: int = 0
    frames_unsent: int = 0
    reconnects: int = 0
    speech_queued: int = attrs.field(default=0, metadata={"internal": True})  # queued ...
    # ... and dropped instead, while the adapter said not audible
    speech_muted: int = attrs.field(default=0, metadata={"internal": True})


def _reported(field: attrs.Attribute[Any], _: object) -> bool:
    return not field.metadata.get("internal")


class _Counting:
    """The counters the drivers keep as frames go out and come in (see
    :class:`Counters`): the bookkeeping under :class:`StreamCore`'s decisions. A base
    class rather than a member, so that counting a frame costs the drivers no extra
    attribute hop."""

    __slots__ = ("counters",)

    def __init__(self) -> None:
        self.counters = Counters()

    # -- sending -------------------------------------------------------------------------

    def sent(self, message: str | bytes, frames: int = 1) -> None:
        """``message`` (``frames`` frames the user sent, joined) was written."""
        if isinstance(message, bytes):
            self._audio_sent(message, frames)
            self.counters.audio_messages_sent += 1
        else:
            self.counters.control_messages_sent += 1

    def _audio_sent(self, audio: bytes, frames: int) -> None:
        """``frames`` of audio count as sent: written, or kept for a replay."""
        self.counters.audio_frames_sent += frames
        self.counters.audio_bytes_sent += len(audio)

    def unsent(self, frames: int) -> None:
        """``frames`` never surely went out (the connection ended first)."""
        self.counters.frames_unsent += frames

    def keepalive_sent(self) -> None:
        self.counters.keepalives_sent += 1

    # -- receiving -----------------------------------------------------------------------

    def received(self, size: int) -> None:
        """A frame of ``size`` bytes (or characters) came from the server."""
        counters = self.counters
        counters.messages_received += 1
        counters.bytes_received += size

    def undecodable(self) -> None:
        """The frame just received could not be decoded."""
        self.counters.decode_errors += 1

    def speech(self, *, audible: bool) -> None:
        """A speech message came: queued for ``receive()`` if ``audible``, else dropped
        (a clear is on its way)."""
        if audible:
            self.counters.speech_queued += 1
        else:
            self.counters.speech_muted += 1


class StreamCore(_Counting, Generic[M]):
    """The decisions of one connection, with no I/O (see the module docstring)."""

    __slots__ = (
        "_observe",
        "_rebases",
        "adapter",
        "closed_by_user",
        "drop_cause",
        "end_of_audio_taken",
        "ended",
        "error",
        "failures",
        "fatal",
        "given",
        "input_format",
        "offset",
        "opened_at",
        "policy",
        "reapply",
        "replay",
        "request_id",
        "socket_start",
        "spec",
        "state",
        "stream_closed",
        "summarised",
    )

    def __init__(
        self,
        spec: ApiSpec[M],
        *,
        policy: ReconnectPolicy | None = None,
        request_id: str | None = None,
    ) -> None:
        super().__init__()
        self.spec = spec
        self.policy = policy
        self.request_id = request_id
        self.adapter: Adapter[M] = Adapter()
        self._observe: Callable[[M | UnknownMessage], None] | None = None
        self._rebases = False
        self.input_format: AudioFormat | None = None  # raw audio's format, if raw
        self.state = State.OPEN
        # The stream was ended (its end-of-stream message queued): a fact about the
        # stream, kept across sockets, where the state is about the socket.
        self.stream_closed = False
        self.end_of_audio_taken = False  # the end-of-stream message went to a socket
        self.closed_by_user = False
        self.ended: DeepgramError | None = None  # how the connection ended, clean or not
        self.error: DeepgramError | None = None  # ... if receive() is to raise it
        # The error a close would stand for now: the spec's fatal error message, if
        # it was the last message before the close.
        self.fatal: DeepgramError | None = None
        # Why this side dropped the socket (a stalled write, a silent server): the
        # reader sees the drop as a close, and this says what it means.
        self.drop_cause: ConnectionLost | None = None
        # Reconnection (policy): the audio not yet acknowledged, where this socket's
        # audio begins in the stream (and in seconds: what its timestamps are
        # shifted by), control frames a new socket needs first, and the attempts
        # since the last stable socket.
        self.replay: ReplayBuffer | None = None
        self.socket_start = 0
        self.offset = 0.0
        self.given = 0  # the position up to which lost sockets were given audio
        self.reapply: list[str] = []
        self.failures = 0
        self.opened_at = 0.0
        # Whether the stream needs no more from the server once its audio is all
        # acknowledged (the spec's summary, e.g. Metadata, came or is not expected).
        self.summarised = not spec.ends_with_summary

    def attach(self, adapter: Adapter[M], input_format: AudioFormat | None) -> None:
        """Set the API's adapter and raw audio format, and size the replay buffer."""
        self.adapter = adapter
        self.input_format = input_format
        # The adapter's hooks are called only where it has them: a call costs.
        self._observe = adapter.on_message if _overrides(adapter, "on_message") else None
        self._rebases = _overrides(adapter, "rebase")
        if self.policy is not None:
            fmt = input_format
            assert fmt is not None, "the API checks that reconnecting audio is raw"
            capacity = round(self.policy.replay_seconds * fmt.bytes_per_second)
            self.replay = ReplayBuffer(max(fmt.frame_size, capacity))

    # -- sending -------------------------------------------------------------------------

    @property
    def can_send(self) -> bool:
        return self.state is not State.CLOSED

    @property
    def reconnecting(self) -> bool:
        """No socket is up: a replacement is being dialled."""
        return self.state is State.RECONNECTING

    def raise_closed(self) -> NoReturn:
        """Raise why nothing can be sent: the user closed it, or how it ended."""
        if self.closed_by_user:
            raise trio.ClosedResourceError("this connection was closed")
        error = self.ended or ConnectionClosed(1006, request_id=self.request_id)
        raise error.with_traceback(None)

    def check_streaming(self, what: str) -> None:
        """Raise if the stream was ended: the server takes no more ``what``."""
        if self.stream_closed:
            raise trio.ClosedResourceError(f"the stream was ended: no more {what}")

    def close_stream(self) -> bool:
        """The user ends the stream: True the first time (send the end-of-stream
        message), False after."""
        if self.stream_closed:
            return False
        self.stream_closed = True
        if self.state is State.OPEN:
            self.state = State.CLOSING
        return True

    def taken(self, message: str | bytes) -> None:
        """``message`` is being written: its audio is kept for a replay (before the
        write: a socket lost in the middle of it replays it), the end of the stream
        noted (a new socket gets it again after its replay)."""
        if isinstance(message, bytes):
            if self.replay is not None:
                self.replay.append(message)
        elif message == self.spec.end_of_audio_frame:
            self.end_of_audio_taken = True

    def lost_in_flight(self, message: str | bytes, frames: int) -> bool:
        """The socket went (or the writer stopped) while ``message`` was written, so it
        did not surely go out whole. Whether to write it again, first, on the next
        socket: without a policy it is unsent; its audio is in the replay buffer,
        which sends it again; a keepalive or the end of the stream is not needed
        again (the replay ends with the latter)."""
        if self.replay is None:
            self.unsent(frames)
            return False
        if isinstance(message, bytes):
            self._audio_sent(message, frames)
            return False
        return message not in (self.spec.keepalive_frame, self.spec.end_of_audio_frame)

    def take_while_down(self, message: str | bytes) -> bool:
        """A frame taken off the queue while it cannot be written (no socket, or a
        replay under way): whether it was dealt with here. Audio goes into the replay
        buffer if it has room, the end of the stream is noted (it follows the
        replay), a keepalive is dropped (not needed). Anything else, or audio with no
        room, must wait as the next frame: later frames may not pass it."""
        replay = self.replay
        if replay is None:
            raise StateError("take_while_down() without a policy")
        if isinstance(message, bytes):
            if len(message) > replay.room:
                return False
            self._audio_sent(message, 1)
            replay.append(message)
            return True
        if message == self.spec.end_of_audio_frame:
            self.end_of_audio_taken = True
            return True
        return message == self.spec.keepalive_frame

    # -- what a message means ---------------------------------------------------------------

    @property
    def reads_messages(self) -> bool:
        """Whether :meth:`message` has anything to do (else the reader skips it)."""
        return bool(
            self._observe is not None
            or self.spec.fatal_error is not None
            or self.replay is not None
            or (self.replaced and self._rebases)
        )

    def message(self, item: M | UnknownMessage) -> M | UnknownMessage:
        """A decoded message, before it is delivered: from a socket that replaced a
        lost one, rebased onto the stream's timeline; noted if it is the spec's fatal
        error; shown to the adapter; its acknowledgement of audio applied."""
        if self.state is State.RECONNECTING:
            raise StateError("message() while reconnecting: no socket is up")
        if self._rebases and self.replaced:
            item = self.adapter.rebase(item, self.offset)
        fatal = self.spec.fatal_error
        if fatal is not None:
            self.fatal = server_error(item) if isinstance(item, fatal) else None
        if self._observe is not None:
            self._observe(item)
        if self.replay is not None:
            self._acknowledge(self.replay, item)
        return item

    def _acknowledge(self, replay: ReplayBuffer, message: M | UnknownMessage) -> None:
        seconds = self.adapter.audio_done(message)
        if seconds is None:
            return
        if seconds == math.inf:
            replay.acknowledge(replay.end)
            self.summarised = True
            return
        fmt = self.input_format
        assert fmt is not None
        samples = round(seconds * fmt.sample_rate)  # timestamps are rounded: so is this
        replay.acknowledge(samples * fmt.frame_size)

    # -- what a close means ---------------------------------------------------------------

    def is_clean(self, code: int) -> bool:
        return code in self.spec.clean_close_codes or (
            self.stream_closed and code in self.spec.end_of_stream_close_codes
        )

    def socket_closed(
        self, code: int, reason: str, *, too_large: bool = False
    ) -> ConnectionClosed | None:
        """The socket closed with ``code``/``reason``: the failure to recover from by
        dialling again, or ``None`` once the connection has ended (recorded)."""
        if self.state is State.RECONNECTING:
            raise StateError("socket_closed() while reconnecting: no socket is up")
        error: ConnectionClosed | None = self.drop_cause
        self.drop_cause = None
        if error is None and too_large:  # this side closed: over the limit
            error = FrameTooLarge(1009, request_id=self.request_id)
        failure = error or close_error(code, reason, request_id=self.request_id)
        if not self._may_redial(code, failure, dropped=error is not None):
            self.end(code, reason, error)
            return None
        replay = self.replay
        assert replay is not None
        if self.stream_closed and not replay.pending and self.summarised:
            # The server acknowledged everything and the stream was ended: nothing is
            # lost with the socket, the stream is simply over.
            log.info("%s: %s after the end of the stream", self.spec.name, failure)
            self.end(1000, "")
            return None
        return failure

    def _may_redial(self, code: int, failure: ConnectionClosed, *, dropped: bool) -> bool:
        if self.policy is None or self.closed_by_user or self.fatal is not None:
            return False
        if not dropped and self.is_clean(code):
            return False
        return retryable(failure)

    def end(self, code: int, reason: str, error: ConnectionClosed | None = None) -> None:
        """Record how the connection ended (``error``: why dgtrio dropped the socket);
        the first report wins."""
        if self.ended is not None:
            return
        self.state = State.CLOSED
        self.ended = error or close_error(code, reason, request_id=self.request_id)
        clean = self.is_clean(code) and self.fatal is None
        if self.closed_by_user or clean:
            log.debug("%s closed: %s %s", self.spec.name, code, reason)
            if clean and self.stream_closed and self.replay and not self.closed_by_user:
                self.replay.acknowledge(self.replay.end)  # the server finished it all
            return
        if self.fatal is not None:  # the server said why before it closed
            self.ended = self.fatal
        self.error = self.ended
        log.info("%s: %s", self.spec.name, self.ended)
        if self.replay is not None:
            self.replay.abandon()

    def drop(self, error: ConnectionLost) -> None:
        """This side gives up on the socket (``error`` says why); the caller aborts it.
        Without a policy that ends the connection here, before the writer's queue
        closes, so that blocked senders see why."""
        if self.policy is None:
            self.end(1006, "", error)
        else:
            self.drop_cause = error

    def close_by_user(self, *, even_if_ended: bool = False) -> None:
        """The user closed the connection (the block's end; ``even_if_ended`` for
        ``aclose()`` and after the block): from now on sends raise
        ``ClosedResourceError``, unless the server had ended it first."""
        if self.ended is None or even_if_ended:
            self.closed_by_user = True
            self.state = State.CLOSED

    # -- replacing a lost socket ----------------------------------------------------------

    def socket_lost(self, now: float) -> None:
        """A replacement for the lost socket is to be dialled."""
        if self.state not in (State.OPEN, State.CLOSING):
            raise StateError(f"socket_lost() while {self.state.value}")
        policy, replay = self.policy, self.replay
        assert policy is not None
        assert replay is not None
        if now - self.opened_at >= policy.stable_after:
            self.failures = 0
        self.given = replay.end  # all a socket was given: a replay writes it again
        self.state = State.RECONNECTING

    def redial_failed(self, lost: ConnectionClosed, error: DeepgramError, attempts: int) -> None:
        """Every attempt to replace the socket ``lost`` failed, the last with ``error``."""
        if self.state is not State.RECONNECTING:
            raise StateError(f"redial_failed() while {self.state.value}")
        failed = ReconnectFailed(
            lost.code, lost.reason, request_id=self.request_id, attempts=attempts, last_error=error
        )
        failed.__cause__ = error
        self.end(lost.code, lost.reason, failed)

    def socket_up(self, request_id: str | None, *, began: float, now: float) -> Reconnected:
        """A new socket replaced the lost one: its timeline starts where the
        acknowledged audio ends. Returns the event that says so."""
        if self.state is not State.RECONNECTING:
            raise StateError(f"socket_up() while {self.state.value}")
        replay, fmt = self.replay, self.input_format
        assert replay is not None
        assert fmt is not None
        self.request_id = request_id
        self.opened_at = now
        self.counters.reconnects += 1
        lost_before = replay.lost
        self.socket_start = replay.rewind()
        self.offset = fmt.duration(self.socket_start)
        self.adapter.socket_changed()
        self.state = State.CLOSING if self.stream_closed else State.OPEN
        return Reconnected(
            attempt=self.failures,
            request_id=request_id,
            outage=now - began,
            replay=fmt.duration(replay.end - self.socket_start),
            lost=fmt.duration(replay.lost - lost_before),
        )

    def replay_plan(self) -> ReplayPlan:
        """What a socket that replaced a lost one is written first."""
        if not self.replaced or self.state not in (State.OPEN, State.CLOSING):
            raise StateError(f"replay_plan() while {self.state.value}, with no socket replaced")
        return ReplayPlan(tuple(self.reapply), self.socket_start)

    @property
    def replay_end(self) -> str | None:
        """What follows the replayed audio: the end of the stream, if it was taken by
        then (audio queued during the replay joins it, and so may the end)."""
        return self.spec.end_of_audio_frame if self.end_of_audio_taken else None

    def replayed(self, position: int, size: int) -> None:
        """``size`` bytes of audio from ``position`` were written again: what an earlier
        socket was given counts as replayed (the rest was never sent)."""
        self.counters.audio_bytes_replayed += max(0, min(size, self.given - position))

    @property
    def replaced(self) -> bool:
        """Whether the socket now up replaced a lost one (its timestamps shift)."""
        return self.counters.reconnects > 0

    # -- reporting ---------------------------------------------------------------------------

    def statistics(self, *, queued_frames: int, buffered_messages: int) -> ConnectionStatistics:
        replay = self.replay
        return ConnectionStatistics(
            state=self.state.value,
            queued_frames=queued_frames,
            buffered_messages=buffered_messages,
            sequence_gaps=self.adapter.sequence_gaps,
            audio_bytes_acknowledged=replay.acknowledged if replay else 0,
            audio_bytes_pending=replay.pending if replay else 0,
            audio_bytes_lost=replay.lost if replay else 0,
            **attrs.asdict(self.counters, filter=_reported),
        )
