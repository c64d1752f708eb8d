"""One call's record and bookkeeping: what the caller heard (marks), the lateness of
the agent's audio, and why the call ended."""

from __future__ import annotations

import enum
import logging
from collections import deque
from collections.abc import Mapping
from contextvars import ContextVar

import attrs
import trio

from .. import AgentV1LatencyReport, ToolResult
from ._twilio import SAMPLE_RATE

__all__ = ["Call", "EndCause", "current_call"]

log = logging.getLogger("dgtrio.phone")


class EndCause(enum.StrEnum):
    """Why a call ended: each is logged and counted (``dgtrio_phone_calls_total``)."""

    CALLER_HUNG_UP = "caller_hung_up"
    """Twilio's ``stop``: the caller hung up, or the stream was stopped."""
    CALLER_GONE = "caller_gone"
    """The telephony socket closed without a ``stop``."""
    NO_START = "no_start"
    """No ``start`` event within ``start_timeout`` of the upgrade."""
    CALLER_SILENT = "caller_silent"
    """No ``media`` for ``media_timeout`` (Twilio streams every 20 ms, silence too):
    a half-open telephony socket."""
    PROTOCOL_ERROR = "protocol_error"
    """The telephony side sent something this server cannot follow."""
    WRONG_ACCOUNT = "wrong_account"
    """``start.accountSid`` is not the ``account_sid`` this server serves."""
    AGENT_HUNG_UP = "agent_hung_up"
    """:meth:`Call.hang_up`, e.g. from an end-call tool."""
    AGENT_CLOSED = "agent_closed"
    """The agent ended the conversation."""
    AGENT_STALLED = "agent_stalled"
    """The agent's socket went silent while the caller's audio flowed (a dead peer)."""
    AGENT_FAILED = "agent_failed"
    """The agent connection failed (the error is logged with its traceback)."""
    SHUTDOWN = "shutdown"
    """Still running when the server's grace period ran out."""

    @property
    def failed(self) -> bool:
        """Whether the call ended on a failure (counted in ``statistics.failed``)."""
        return self in _FAILURES


_FAILURES = frozenset(
    {EndCause.PROTOCOL_ERROR, EndCause.AGENT_STALLED, EndCause.AGENT_FAILED, EndCause.NO_START}
)

_current: ContextVar[Call] = ContextVar("dgtrio.phone call")


def current_call() -> Call:
    """The call whose agent runs this code: for tools, e.g. one that hangs up.

    Raises:
        LookupError: not called from a call's tasks.
    """
    try:
        return _current.get()
    except LookupError:
        raise LookupError("current_call() is for the tasks of a call (its tools)") from None


@attrs.define(eq=False)
class Call:
    """One call, as it goes and after it ended (the latest in ``server.finished``).

    The ids and ``custom_parameters`` (the ``<Parameter>``s of the TwiML ``<Stream>``)
    are set from Twilio's ``start`` before the agent's settings are asked for.
    """

    number: int
    started_at: float
    stream_sid: str = ""
    call_sid: str = ""
    account_sid: str = ""
    custom_parameters: Mapping[str, str] = attrs.Factory(dict)
    ended_at: float | None = None
    cause: EndCause | None = None
    error: BaseException | None = None  # what failed, for AGENT_FAILED and PROTOCOL_ERROR
    caller_bytes: int = 0  # mu-law from the caller, passed to the agent
    agent_bytes: int = 0  # mu-law of the agent's speech, sent to Twilio
    marks_sent: list[str] = attrs.Factory(list)
    marks_heard: list[str] = attrs.Factory(list)  # echoed: the caller heard the audio
    marks_cleared: list[str] = attrs.Factory(list)  # echoed after a clear: cut off
    clears: int = 0  # barge-ins
    dtmf: list[str] = attrs.Factory(list)
    transcript: list[tuple[str, str]] = attrs.Factory(list)  # (role, text)
    tool_results: list[ToolResult] = attrs.Factory(list)
    latency: list[AgentV1LatencyReport] = attrs.Factory(list)
    worst_lateness: float = 0.0  # seconds the agent's audio came behind its playback
    _outstanding: deque[tuple[str, int]] = attrs.Factory(deque)  # (mark, agent_bytes)
    _interrupted: set[str] = attrs.Factory(set)  # ... of which a clear dropped the audio
    _heard_bytes: int = 0  # agent audio known to have played (or been dropped)
    _unmarked: bool = False  # agent audio sent since the last mark
    _reply_began: float | None = None  # when the reply being sent began
    _reply_bytes: int = 0
    _hang_up: trio.Event = attrs.Factory(trio.Event)
    _changed: trio.Event = attrs.Factory(trio.Event)

    @property
    def duration(self) -> float:
        """Seconds from the upgrade to the end (or to now)."""
        end = trio.current_time() if self.ended_at is None else self.ended_at
        return end - self.started_at

    @property
    def pending_playback(self) -> bool:
        """Whether Twilio may still be playing (or buffering) the agent's audio."""
        return self._unmarked or bool(self._outstanding)

    @property
    def unplayed_seconds(self) -> float:
        """At most this much of the agent's audio is still to play at Twilio."""
        return (self.agent_bytes - self._heard_bytes) / SAMPLE_RATE

    def hang_up(self) -> None:
        """End the call once the caller has heard what the agent said so far (its
        last mark echoed, bounded); the end cause is ``agent_hung_up``."""
        self._hang_up.set()

    def __repr__(self) -> str:
        return (
            f"<Call {self.number} {self.call_sid or '-'} {self.cause or 'active'} "
            f"{self.duration:.1f}s>"
        )

    # -- bookkeeping, from the call's tasks -------------------------------------------------

    def _agent_audio(self, now: float, size: int) -> float:
        """``size`` bytes of the agent's speech go to Twilio now: how late they are
        behind the reply's real-time playback (0: in time)."""
        if self._reply_began is None:
            self._reply_began, self._reply_bytes = now, 0
        lateness = max(0.0, now - (self._reply_began + self._reply_bytes / SAMPLE_RATE))
        self._reply_bytes += size
        self.agent_bytes += size
        self._unmarked = True
        self.worst_lateness = max(self.worst_lateness, lateness)
        return lateness

    def _reply_done(self) -> str:
        """The reply's audio is all sent: the name of the mark to follow it."""
        name = f"reply-{len(self.marks_sent) + 1}"
        self.marks_sent.append(name)
        self._outstanding.append((name, self.agent_bytes))
        self._unmarked = False
        self._reply_began = None
        return name

    def _cleared(self) -> None:
        """A ``clear`` went out: what Twilio buffered is dropped."""
        self.clears += 1
        self._interrupted.update(name for name, _ in self._outstanding)
        self._unmarked = False
        self._reply_began = None
        self._heard_bytes = self.agent_bytes
        self._notify()

    def _mark_echoed(self, name: str) -> None:
        found = [entry for entry in self._outstanding if entry[0] == name]
        if not found:
            log.warning("call %s: mark %r was never sent (or came back twice)", self.number, name)
            return
        self._outstanding.remove(found[0])
        self._heard_bytes = max(self._heard_bytes, found[0][1])
        if name in self._interrupted:
            self._interrupted.discard(name)
            self.marks_cleared.append(name)
        else:
            self.marks_heard.append(name)
        self._notify()

    def _notify(self) -> None:
        self._changed.set()
        self._changed = trio.Event()

    async def _until_heard(self) -> None:
        """Until every mark sent is echoed (unbounded: the caller bounds it)."""
        while self._outstanding:
            await self._changed.wait()
