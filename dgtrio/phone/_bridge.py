"""One call: Twilio's stream bridged to a voice agent, from ``start`` to the close.

::

    Twilio ──media──▶ from_caller ──send_audio──▶ agent
           ◀─media, mark, clear── from_agent ◀──AgentV1Audio, AgentAudioDone, barge-in
    hang_up() ──▶ waits until the caller heard the agent, then ends the call

The first of the three to end decides the call's :class:`EndCause`; the others are
cancelled. Then the call ends well: an apology on an agent failure, the last mark
awaited before this side closes (bounded), and a close code that says why.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import attrs
import trio
import trio_websocket

from .. import (
    AgentConnection,
    AgentV1AgentAudioDone,
    AgentV1Audio,
    AgentV1ConversationText,
    AgentV1LatencyReport,
    AgentV1UserStartedSpeaking,
    ConnectOptions,
    DeepgramError,
    ServerStalled,
    ToolRegistry,
    ToolResult,
    open_agent,
)
from ..agent import AgentV1Settings
from . import _twilio as twilio
from ._call import Call, EndCause, _current
from ._metrics import Metrics

__all__ = ["CallPolicy", "DtmfHook", "SettingsHook", "run_call"]

log = logging.getLogger("dgtrio.phone")

SettingsHook = Callable[[Call], AgentV1Settings | Awaitable[AgentV1Settings]]
DtmfHook = Callable[[Call, str, AgentConnection], Awaitable[None]]

CLOSE_TIMEOUT = 2.0  # seconds for each socket's closing handshake
QUIET = 1.0  # seconds without new agent audio after which a hang-up may go ahead
_SHUTDOWN_HEARD = 3.0  # at most this long for the last mark at shutdown
_CLOSE_CODES = {
    EndCause.SHUTDOWN: (1001, "server shutting down"),
    EndCause.PROTOCOL_ERROR: (1008, "protocol error"),
    EndCause.WRONG_ACCOUNT: (1008, "wrong account"),
    EndCause.AGENT_FAILED: (1011, "agent failed"),
    EndCause.AGENT_STALLED: (1011, "agent stalled"),
}
_CALLER_ENDS = frozenset(
    {
        EndCause.CALLER_HUNG_UP,
        EndCause.CALLER_GONE,
        EndCause.CALLER_SILENT,
        EndCause.NO_START,
        EndCause.PROTOCOL_ERROR,
        EndCause.WRONG_ACCOUNT,
    }
)


@attrs.frozen
class CallPolicy:
    """What the server gives every call (see :class:`PhoneAgentServer`)."""

    settings_for: SettingsHook
    tools: ToolRegistry | None
    on_dtmf: DtmfHook
    connect: ConnectOptions
    apology: bytes
    account_sid: str | None
    start_timeout: float
    media_timeout: float
    agent_stall_timeout: float
    heard_timeout: float


async def run_call(
    ws: trio_websocket.WebSocketConnection,
    call: Call,
    policy: CallPolicy,
    metrics: Metrics,
    scope: trio.CancelScope,
    *,
    at_once: Callable[[], bool],
) -> None:
    """The whole call over the accepted ``ws``; ``call.cause`` says how it ended.

    ``scope`` is cancelled to end the call from outside (at shutdown, which sets the
    cause first); ``at_once()`` says whether to skip waiting for the caller to hear
    the agent (a second signal)."""
    _current.set(call)  # for the tools: each call runs in a task of its own
    try:
        with scope:
            await _converse(ws, call, policy, metrics)
    except Exception as exc:  # a hook or a bug: this call fails, the others go on
        _end(call, EndCause.AGENT_FAILED, exc)
    _end(call, EndCause.AGENT_FAILED, None)  # no cause yet: cancelled from outside
    with trio.CancelScope(shield=True):
        await _finish(ws, call, policy, at_once())


def _end(call: Call, cause: EndCause, error: BaseException | None = None) -> None:
    """The call ends for ``cause``, unless something ended it first."""
    if call.cause is None:
        call.cause, call.error = cause, error


async def _converse(
    ws: trio_websocket.WebSocketConnection, call: Call, policy: CallPolicy, metrics: Metrics
) -> None:
    if not await _started(ws, call, policy):
        return
    settings = policy.settings_for(call)
    if inspect.isawaitable(settings):
        settings = await settings
    connect: dict[str, Any] = {"close_timeout": CLOSE_TIMEOUT, **policy.connect}
    connect.setdefault("stall_timeout", policy.agent_stall_timeout)
    try:
        async with (
            open_agent(settings, tools=policy.tools, **connect) as agent,
            trio.open_nursery() as nursery,
        ):
            for pipe in (
                _from_caller(ws, agent, call, policy),
                _from_agent(ws, agent, call, metrics),
            ):
                nursery.start_soon(_ends_call, nursery, pipe)
            nursery.start_soon(_ends_call, nursery, _hang_up(call, policy.heard_timeout))
    except DeepgramError as exc:  # opening the conversation failed, or its close did
        _end(call, _agent_cause(exc), exc)


async def _ends_call(nursery: trio.Nursery, pipe: Awaitable[None]) -> None:
    await pipe
    nursery.cancel_scope.cancel()


def _agent_cause(exc: DeepgramError) -> EndCause:
    return EndCause.AGENT_STALLED if isinstance(exc, ServerStalled) else EndCause.AGENT_FAILED


async def _started(ws: trio_websocket.WebSocketConnection, call: Call, policy: CallPolicy) -> bool:
    """Read ``connected`` and ``start``: the call's ids; whether to go on."""
    with trio.move_on_after(policy.start_timeout):
        while True:
            try:
                event = twilio.parse(await ws.get_message())
            except trio_websocket.ConnectionClosed:
                _end(call, EndCause.CALLER_GONE)
                return False
            except twilio.TwilioProtocolError as exc:
                _end(call, EndCause.PROTOCOL_ERROR, exc)
                return False
            if isinstance(event, twilio.Other):
                continue  # connected
            if not isinstance(event, twilio.Start):
                error = twilio.TwilioProtocolError(f"{_kind(event)!r} before 'start'")
                _end(call, EndCause.PROTOCOL_ERROR, error)
                return False
            call.stream_sid, call.call_sid = event.stream_sid, event.call_sid
            call.account_sid, call.custom_parameters = event.account_sid, event.custom_parameters
            if policy.account_sid is not None and event.account_sid != policy.account_sid:
                _end(call, EndCause.WRONG_ACCOUNT)
                return False
            log.info("call %s: %s started (%s)", call.number, call.call_sid, call.stream_sid)
            return True
    _end(call, EndCause.NO_START)
    return False


def _kind(event: twilio.TwilioEvent) -> str:
    return type(event).__name__.lower()


async def _from_caller(
    ws: trio_websocket.WebSocketConnection, agent: AgentConnection, call: Call, policy: CallPolicy
) -> None:
    """The caller's side: audio to the agent, mark echoes, keys; until ``stop``, or
    until no media came for ``media_timeout``."""
    silence = trio.CancelScope(deadline=trio.current_time() + policy.media_timeout)
    with silence:
        while True:
            try:
                event = twilio.parse(await ws.get_message())
            except trio_websocket.ConnectionClosed:
                _end(call, EndCause.CALLER_GONE)
                return
            except twilio.TwilioProtocolError as exc:
                _end(call, EndCause.PROTOCOL_ERROR, exc)
                return
            if isinstance(event, twilio.Media):
                if event.track not in ("inbound", "inbound_track"):
                    continue
                silence.deadline = trio.current_time() + policy.media_timeout
                if event.audio:
                    call.caller_bytes += len(event.audio)
                    try:
                        await agent.send_audio(event.audio)
                    except DeepgramError:
                        await _agent_gone()
            elif isinstance(event, twilio.Mark):
                call._mark_echoed(event.name)
            elif isinstance(event, twilio.Dtmf):
                call.dtmf.append(event.digit)
                await _keypad(policy.on_dtmf, call, event.digit, agent)
            elif isinstance(event, twilio.Stop):
                _end(call, EndCause.CALLER_HUNG_UP)
                return
    _end(call, EndCause.CALLER_SILENT)


async def _agent_gone() -> None:
    """A send to the agent failed: the conversation is over. How (a clean close, or
    which error) is the agent's side to say, and that ends the call; wait for it."""
    await trio.sleep_forever()


async def _keypad(hook: DtmfHook, call: Call, digit: str, agent: AgentConnection) -> None:
    """A key goes to the hook; its failure is logged, and the call goes on."""
    log.info("call %s: key %s", call.number, digit)
    try:
        await hook(call, digit, agent)
    except Exception as exc:
        if isinstance(exc, DeepgramError) and agent.statistics().state == "closed":
            await _agent_gone()
        log.exception("call %s: the keypad hook failed on %r", call.number, digit)


async def _from_agent(
    ws: trio_websocket.WebSocketConnection, agent: AgentConnection, call: Call, metrics: Metrics
) -> None:
    """The agent's side: speech to Twilio, a mark after each reply, clear on barge-in."""
    try:
        async for message in agent:
            if isinstance(message, AgentV1Audio):
                metrics.lateness.observe(call._agent_audio(trio.current_time(), len(message.data)))
                await ws.send_message(twilio.media(call.stream_sid, message.data))
            elif isinstance(message, AgentV1AgentAudioDone):
                await ws.send_message(twilio.mark(call.stream_sid, call._reply_done()))
            elif isinstance(message, AgentV1UserStartedSpeaking):
                if call.pending_playback:  # barge-in: drop what Twilio still buffers
                    call._cleared()
                    await ws.send_message(twilio.clear(call.stream_sid))
            elif isinstance(message, AgentV1ConversationText):
                call.transcript.append((message.role, message.content))
            elif isinstance(message, ToolResult):
                call.tool_results.append(message)
            elif isinstance(message, AgentV1LatencyReport):
                call.latency.append(message)
                metrics.observe_latency(message)
    except trio_websocket.ConnectionClosed:
        _end(call, EndCause.CALLER_GONE)
    except DeepgramError as exc:
        _end(call, _agent_cause(exc), exc)
    else:
        _end(call, EndCause.AGENT_CLOSED)


async def _hang_up(call: Call, limit: float) -> None:
    """After :meth:`Call.hang_up`: once the agent has been quiet for ``QUIET`` and
    the caller heard it all, or ``limit`` seconds later, the call ends."""
    await call._hang_up.wait()
    with trio.move_on_after(limit):
        while True:
            await call._until_heard()
            said = call.agent_bytes
            await trio.sleep(QUIET)
            if call.agent_bytes == said and not call.pending_playback:
                break
    _end(call, EndCause.AGENT_HUNG_UP)


# -- ending well ---------------------------------------------------------------------------


async def _finish(
    ws: trio_websocket.WebSocketConnection, call: Call, policy: CallPolicy, at_once: bool
) -> None:
    """What this side says last, then the close."""
    cause = call.cause
    assert cause is not None
    try:
        if cause in (EndCause.AGENT_FAILED, EndCause.AGENT_STALLED) and policy.apology:
            await _apologise(ws, call, policy.apology)
        elif cause not in _CALLER_ENDS and not at_once:
            limit = _SHUTDOWN_HEARD if cause is EndCause.SHUTDOWN else policy.heard_timeout
            if call._unmarked:
                await ws.send_message(twilio.mark(call.stream_sid, call._reply_done()))
            with trio.move_on_after(min(call.unplayed_seconds + 1.0, limit)):
                await _read_until_heard(ws, call)
    except trio_websocket.ConnectionClosed:
        pass  # the caller is gone already
    code, reason = _CLOSE_CODES.get(cause, (1000, "call ended"))
    with trio.move_on_after(CLOSE_TIMEOUT):
        await ws.aclose(code, reason)


async def _apologise(ws: trio_websocket.WebSocketConnection, call: Call, clip: bytes) -> None:
    """Drop what Twilio still plays, say the clip, and wait until it was heard."""
    if call.pending_playback:
        call._cleared()
        await ws.send_message(twilio.clear(call.stream_sid))
    call._agent_audio(trio.current_time(), len(clip))
    await ws.send_message(twilio.media(call.stream_sid, clip))
    await ws.send_message(twilio.mark(call.stream_sid, call._reply_done()))
    with trio.move_on_after(len(clip) / twilio.SAMPLE_RATE + 2.0):
        await _read_until_heard(ws, call)


async def _read_until_heard(ws: trio_websocket.WebSocketConnection, call: Call) -> None:
    """Read the caller's events until every mark sent came back (or a ``stop``)."""
    while call._outstanding:
        try:
            event = twilio.parse(await ws.get_message())
        except twilio.TwilioProtocolError:
            return
        if isinstance(event, twilio.Mark):
            call._mark_echoed(event.name)
        elif isinstance(event, twilio.Stop):
            return
