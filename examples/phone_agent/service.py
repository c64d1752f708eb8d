"""A phone-call voice agent behind Twilio Media Streams: one dgtrio agent per call.

    python examples/phone_agent/service.py [--host 0.0.0.0] [--port 8765]
        [--max-calls 100] [--grace 30] [--base-url URL]

Twilio opens a WebSocket to this server for each call (``<Connect><Stream>``) and
sends JSON events: ``connected``, ``start``, 20 ms of the caller's mu-law audio per
``media`` event, ``mark`` echoes, ``dtmf``, ``stop``. Each call runs in a nursery of
its own: the caller's audio goes to ``dgtrio.open_agent`` (mu-law, 8 kHz, both
ways), the agent's speech comes back as ``media`` events, a ``mark`` follows each
reply (Twilio echoes it once the caller has heard the audio before it), and when the
caller starts speaking over the agent a ``clear`` drops what Twilio still buffers
(barge-in). Tools run with ``dgtrio.ToolRegistry``.

Above ``--max-calls`` a call's upgrade is refused with 503 (and counted). SIGTERM
(or Ctrl-C) stops accepting, gives the calls in progress ``--grace`` seconds, then
ends them. With DEEPGRAM_API_KEY set the agents are Deepgram's; without it, dgtrio's
fake agent (in this process), which answers from a script.
"""

from __future__ import annotations

import argparse
import base64
import datetime
import itertools
import json
import logging
import math
import signal
import sys
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Annotated, Any

import attrs
import trio
import trio_websocket

import dgtrio
from dgtrio import agent as ag

__all__ = [
    "Call",
    "PhoneAgentServer",
    "ServerStatistics",
    "TwilioProtocolError",
    "default_settings",
    "default_tools",
    "main",
]

log = logging.getLogger("phone_agent")

SAMPLE_RATE = 8000  # Twilio Media Streams: audio/x-mulaw, 8000 Hz, mono
START_TIMEOUT = 10.0  # seconds for Twilio's ``start`` event after the upgrade
CLOSE_TIMEOUT = 2.0  # seconds to close the telephony socket when a call ends


class TwilioProtocolError(Exception):
    """The telephony side sent something this server cannot follow."""


# -- the agent: settings and tools --------------------------------------------------------

ORDERS = {
    "A123": {"status": "shipped", "carrier": "UPS", "eta": "tomorrow"},
    "B456": {"status": "processing", "eta": "in three days"},
}


def default_tools() -> dgtrio.ToolRegistry:
    """The tools a caller's agent may use: the time, and an order lookup."""
    tools = dgtrio.ToolRegistry(timeout=10, redact_errors=True)

    @tools.register
    async def get_time() -> str:
        """The current time (UTC), to tell the caller."""
        await trio.lowlevel.checkpoint()
        return datetime.datetime.now(datetime.UTC).strftime("%H:%M UTC")

    @tools.register
    async def lookup_order(
        order_id: Annotated[str, "The order number the caller gives, e.g. A123"],
    ) -> dict[str, str]:
        """The status of a customer's order."""
        await trio.sleep(0.01)  # a real tool would ask the order service here
        order = ORDERS.get(order_id.strip().upper())
        if order is None:
            return {"order_id": order_id, "status": "not found"}
        return {"order_id": order_id, **order}

    return tools


def default_settings(
    *, greeting: str | None = "Thanks for calling. How can I help?"
) -> ag.AgentV1Settings:
    """Agent settings for a phone line: mu-law at 8 kHz both ways, no container."""
    return ag.AgentV1Settings(
        agent=ag.AgentConfig(
            listen=ag.Listen(provider=ag.DeepgramListenV1(model="nova-3")),
            think=ag.Think(
                provider=ag.OpenAiThink(model="gpt-4o-mini"),
                prompt=(
                    "You answer the phone for a small shop. Be brief: the caller hears "
                    "you. Use lookup_order for orders and get_time for the time."
                ),
            ),
            speak=ag.Speak(provider=ag.DeepgramSpeak(model="aura-2-thalia-en")),
            greeting=greeting,
        ),
        audio=ag.AudioConfig(
            input=ag.AudioInput(encoding="mulaw", sample_rate=SAMPLE_RATE),
            output=ag.AudioOutput(encoding="mulaw", sample_rate=SAMPLE_RATE, container="none"),
        ),
    )


# -- one call -----------------------------------------------------------------------------


@attrs.define(eq=False)
class Call:
    """What happened on one call (kept after it ended, in ``server.finished``)."""

    number: int
    stream_sid: str = ""
    call_sid: str = ""
    custom_parameters: dict[str, Any] = attrs.Factory(dict)
    started_at: float = 0.0
    ended_at: float | None = None
    end_reason: str = ""  # "stop", "hangup" (socket closed), "agent closed", "shutdown", ...
    error: str | None = None
    caller_bytes: int = 0  # mu-law bytes from the caller, passed to the agent
    agent_bytes: int = 0  # mu-law bytes of the agent's speech, sent to Twilio
    marks_sent: list[str] = attrs.Factory(list)
    marks_heard: list[str] = attrs.Factory(list)  # echoed: the caller heard the reply
    marks_cleared: list[str] = attrs.Factory(list)  # echoed after a clear: cut off
    clears: int = 0  # barge-ins
    dtmf: list[str] = attrs.Factory(list)
    transcript: list[tuple[str, str]] = attrs.Factory(list)  # (role, text)
    tool_results: list[dgtrio.ToolResult] = attrs.Factory(list)
    scope: trio.CancelScope = attrs.Factory(trio.CancelScope)
    _outstanding: list[str] = attrs.Factory(list)  # marks sent, not echoed yet
    _interrupted: set[str] = attrs.Factory(set)  # ... of which a clear dropped the audio
    _unmarked: bool = False  # agent audio sent since the last mark

    @property
    def pending_playback(self) -> bool:
        """Whether Twilio may still be playing (or buffering) the agent's audio."""
        return self._unmarked or bool(self._outstanding)

    def on_mark(self, name: str) -> None:
        if name not in self._outstanding:
            log.warning("call %s: mark %r was never sent (or came back twice)", self.number, name)
            return
        self._outstanding.remove(name)
        if name in self._interrupted:
            self._interrupted.discard(name)
            self.marks_cleared.append(name)
        else:
            self.marks_heard.append(name)


def _media(stream_sid: str, audio: bytes) -> str:
    payload = base64.b64encode(audio).decode("ascii")
    return json.dumps({"event": "media", "streamSid": stream_sid, "media": {"payload": payload}})


def _mark(stream_sid: str, name: str) -> str:
    return json.dumps({"event": "mark", "streamSid": stream_sid, "mark": {"name": name}})


def _clear(stream_sid: str) -> str:
    return json.dumps({"event": "clear", "streamSid": stream_sid})


def _event(message: str | bytes) -> dict[str, Any]:
    if isinstance(message, bytes):
        raise TwilioProtocolError("a binary frame: Twilio sends JSON text")
    try:
        event = json.loads(message)
    except ValueError:
        raise TwilioProtocolError(f"not JSON: {message[:80]!r}") from None
    if not isinstance(event, dict) or not isinstance(event.get("event"), str):
        raise TwilioProtocolError(f"not a Media Streams event: {message[:80]!r}")
    return event


async def _wait_for_start(ws: trio_websocket.WebSocketConnection, call: Call) -> None:
    """Read ``connected`` and then ``start``: the stream's ids and format."""
    with trio.fail_after(START_TIMEOUT):
        while True:
            event = _event(await ws.get_message())
            kind = event["event"]
            if kind == "connected":
                continue
            if kind != "start":
                raise TwilioProtocolError(f"{kind!r} before 'start'")
            start = event.get("start") or {}
            media_format = start.get("mediaFormat") or {}
            wanted = {"encoding": "audio/x-mulaw", "sampleRate": SAMPLE_RATE, "channels": 1}
            if any(media_format.get(k, v) != v for k, v in wanted.items()):
                raise TwilioProtocolError(f"unsupported mediaFormat {media_format}")
            call.stream_sid = str(event.get("streamSid") or start.get("streamSid") or "")
            if not call.stream_sid:
                raise TwilioProtocolError("'start' without a streamSid")
            call.call_sid = str(start.get("callSid") or "")
            call.custom_parameters = dict(start.get("customParameters") or {})
            return


# -- the server -----------------------------------------------------------------------------


@attrs.define
class ServerStatistics:
    accepted: int = 0
    refused: int = 0  # over the cap, or while shutting down
    completed: int = 0  # ended without an error
    failed: int = 0
    ended_at_shutdown: int = 0  # still running when the grace period ran out


class PhoneAgentServer:
    """Serves Twilio Media Streams, one voice agent per call.

    Args:
        settings: the agent's settings (mu-law at 8 kHz in and out).
        tools: the functions the agent may call.
        max_calls: calls at once; one more is refused with 503.
        grace: seconds calls in progress get to finish after :meth:`shutdown`.
        connect: ``open_agent``'s connection keywords (``base_url``, ``api_key``...).
    """

    def __init__(
        self,
        settings: ag.AgentV1Settings | None = None,
        tools: dgtrio.ToolRegistry | None = None,
        *,
        max_calls: int = 100,
        grace: float = 30.0,
        connect: dgtrio.ConnectOptions | None = None,
    ) -> None:
        if max_calls < 1 or not 0 <= grace < math.inf:
            raise ValueError("max_calls must be at least 1, grace a finite number >= 0")
        self.settings = settings or default_settings()
        self.tools = default_tools() if tools is None else tools
        self.max_calls = max_calls
        self.grace = grace
        self.connect: dgtrio.ConnectOptions = connect or {}
        self.statistics = ServerStatistics()
        self.active: set[Call] = set()
        self.finished: list[Call] = []
        self.port = 0
        self._numbers = itertools.count(1)
        self._closing = False
        self._stop_accepting = trio.CancelScope()
        self._idle = trio.Event()
        self._idle.set()

    async def serve(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        task_status: trio.TaskStatus[int] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        """Serve until :meth:`shutdown`, then wait for the calls (``grace``), end the
        rest, and return. For ``nursery.start``: started with the port."""
        async with trio.open_nursery() as calls:
            # The listener runs in a nursery of its own, which shutdown() cancels; the
            # calls run in ``calls``, which it does not.
            with self._stop_accepting:
                async with trio.open_nursery() as accepting:
                    server: trio_websocket.WebSocketServer = await accepting.start(
                        partial(
                            trio_websocket.serve_websocket,
                            self._handle,
                            host,
                            port,
                            None,
                            handler_nursery=calls,
                            connect_timeout=START_TIMEOUT,
                            disconnect_timeout=CLOSE_TIMEOUT,
                        )
                    )
                    self.port = server.port
                    task_status.started(self.port)
            # Accepting stopped: the listener is closed (the serve task's scope is ours).
            with trio.move_on_after(self.grace):
                await self._idle.wait()
            for call in list(self.active):
                self.statistics.ended_at_shutdown += 1
                call.end_reason = "shutdown"
                call.scope.cancel()
            # Each call closes its agent and its socket, each bounded; a backstop for
            # anything else in ``calls`` (a socket that never finished its handshake).
            calls.cancel_scope.deadline = trio.current_time() + 2 * CLOSE_TIMEOUT + 1

    def shutdown(self) -> None:
        """Stop accepting calls; :meth:`serve` returns once the calls are done, or
        ``grace`` seconds from now."""
        self._closing = True
        self._stop_accepting.cancel()

    async def _handle(self, request: trio_websocket.WebSocketRequest) -> None:
        if self._closing or len(self.active) >= self.max_calls:
            self.statistics.refused += 1
            reason = "shutting down" if self._closing else f"at capacity ({self.max_calls} calls)"
            log.warning("refused a call: %s", reason)
            await request.reject(
                503,
                extra_headers=[(b"retry-after", b"5"), (b"content-type", b"text/plain")],
                body=f"try again later: {reason}\n".encode(),
            )
            return
        call = Call(next(self._numbers), started_at=trio.current_time())
        self.active.add(call)  # the slot is taken before the first await
        self._idle = trio.Event()
        self.statistics.accepted += 1
        try:
            ws = await request.accept()
            with call.scope:
                await self._run_call(ws, call)
            if call.scope.cancelled_caught and call.end_reason == "shutdown":
                await _close(ws, 1001, "server shutting down")
            else:
                await _close(ws, 1000, "call ended")
        except Exception as exc:  # one call's failure never ends the others
            call.error = f"{type(exc).__name__}: {exc}"
            log.warning("call %s (%s) failed: %s", call.number, call.call_sid, call.error)
        finally:
            call.ended_at = trio.current_time()
            self.active.discard(call)
            self.finished.append(call)
            if call.error is None:
                self.statistics.completed += 1
            else:
                self.statistics.failed += 1
            if not self.active:
                self._idle.set()

    async def _run_call(self, ws: trio_websocket.WebSocketConnection, call: Call) -> None:
        try:
            await _wait_for_start(ws, call)
        except trio_websocket.ConnectionClosed:
            call.end_reason = "hangup"
            return
        log.info("call %s: %s started (%s)", call.number, call.call_sid, call.stream_sid)
        async with (
            dgtrio.open_agent(self.settings, tools=self.tools, **self.connect) as agent,
            trio.open_nursery() as nursery,
        ):
            nursery.start_soon(_ends_call(nursery, _from_twilio, ws, agent, call))
            nursery.start_soon(_ends_call(nursery, _from_agent, ws, agent, call))
        log.info("call %s ended: %s", call.number, call.end_reason)


Pipe = Callable[[trio_websocket.WebSocketConnection, dgtrio.AgentConnection, Call], Awaitable[None]]


def _ends_call(
    nursery: trio.Nursery,
    pipe: Pipe,
    ws: trio_websocket.WebSocketConnection,
    agent: dgtrio.AgentConnection,
    call: Call,
) -> Callable[[], Awaitable[None]]:
    """``pipe``, which ends the call (both directions) when it returns."""

    async def run() -> None:
        await pipe(ws, agent, call)
        nursery.cancel_scope.cancel()

    return run


async def _from_twilio(
    ws: trio_websocket.WebSocketConnection, agent: dgtrio.AgentConnection, call: Call
) -> None:
    """The caller's side: audio to the agent, mark echoes, keys; until ``stop``."""
    while True:
        try:
            event = _event(await ws.get_message())
        except trio_websocket.ConnectionClosed:
            call.end_reason = call.end_reason or "hangup"
            return
        match event["event"]:
            case "media":
                media = event.get("media") or {}
                if media.get("track", "inbound") not in ("inbound", "inbound_track"):
                    continue
                audio = base64.b64decode(media.get("payload") or "")
                if audio:
                    call.caller_bytes += len(audio)
                    await agent.send_audio(audio)
            case "mark":
                call.on_mark(str((event.get("mark") or {}).get("name", "")))
            case "dtmf":
                digit = str((event.get("dtmf") or {}).get("digit", ""))
                call.dtmf.append(digit)
                log.info("call %s: key %s", call.number, digit)
            case "stop":
                call.end_reason = call.end_reason or "stop"
                return
            case _:
                pass  # "connected", a second "start", anything newer: ignored


async def _from_agent(
    ws: trio_websocket.WebSocketConnection, agent: dgtrio.AgentConnection, call: Call
) -> None:
    """The agent's side: speech to Twilio, a mark after each reply, clear on barge-in."""
    replies = itertools.count(1)
    try:
        async for message in agent:
            if isinstance(message, dgtrio.AgentV1Audio):
                call.agent_bytes += len(message.data)
                call._unmarked = True
                await ws.send_message(_media(call.stream_sid, message.data))
            elif isinstance(message, dgtrio.AgentV1AgentAudioDone):
                name = f"reply-{next(replies)}"
                call.marks_sent.append(name)
                call._outstanding.append(name)
                call._unmarked = False
                await ws.send_message(_mark(call.stream_sid, name))
            elif isinstance(message, dgtrio.AgentV1UserStartedSpeaking):
                if call.pending_playback:  # barge-in: drop what Twilio still buffers
                    call.clears += 1
                    call._interrupted.update(call._outstanding)
                    call._unmarked = False
                    await ws.send_message(_clear(call.stream_sid))
            elif isinstance(message, dgtrio.AgentV1ConversationText):
                call.transcript.append((message.role, message.content))
            elif isinstance(message, dgtrio.ToolResult):
                call.tool_results.append(message)
    except trio_websocket.ConnectionClosed:
        call.end_reason = call.end_reason or "hangup"
        return
    call.end_reason = call.end_reason or "agent closed"


async def _close(ws: trio_websocket.WebSocketConnection, code: int, reason: str) -> None:
    """Close the telephony socket, bounded, even when the call was cancelled."""
    with trio.CancelScope(shield=True), trio.move_on_after(CLOSE_TIMEOUT):
        await ws.aclose(code, reason)


# -- the command line ---------------------------------------------------------------------


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--port", type=int, default=8765, help="port (0: any free one)")
    parser.add_argument("--max-calls", type=int, default=100, help="calls at once")
    parser.add_argument(
        "--grace", type=float, default=30.0, help="seconds calls get to finish on SIGTERM"
    )
    parser.add_argument("--base-url", help="Deepgram's URL: regional, self-hosted, or a fake")
    return parser.parse_args(argv)


async def _on_signals(server: PhoneAgentServer) -> None:
    with trio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
        async for signum in signals:
            log.warning(
                "%s: no new calls; %d in progress get %g s",
                signal.Signals(signum).name,
                len(server.active),
                server.grace,
            )
            server.shutdown()
            return


async def run(args: argparse.Namespace) -> None:
    async with trio.open_nursery() as nursery:
        connect: dgtrio.ConnectOptions = {}
        if args.base_url is None and not dgtrio.credentials_configured():
            from dgtrio.testing import AgentScript, FakeDeepgram, ScriptedCall

            script = AgentScript(
                user_lines=("Where is my order A123?", "What time is it?", "Thanks, goodbye."),
                calls=[
                    ScriptedCall("order", "lookup_order", {"order_id": "A123"}, "Order: {content}"),
                    ScriptedCall("time", "get_time", {}, reply="It is {content}."),
                ],
            )
            fake = FakeDeepgram(agent_script=script)
            await nursery.start(fake.serve)
            connect["base_url"] = fake.url
            print(
                f"phone_agent: no DEEPGRAM_API_KEY set, so using dgtrio's fake agent at "
                f"{fake.url} (it follows a script; it does not understand the caller)",
                file=sys.stderr,
            )
        elif args.base_url is not None:
            connect["base_url"] = args.base_url
        server = PhoneAgentServer(max_calls=args.max_calls, grace=args.grace, connect=connect)
        async with trio.open_nursery() as serving:
            port = await serving.start(partial(server.serve, args.host, args.port))
            print(f"phone_agent: Twilio Media Streams on ws://{args.host}:{port}", file=sys.stderr)
            serving.start_soon(_on_signals, server)
        print(f"phone_agent: done: {attrs.asdict(server.statistics)}", file=sys.stderr)
        nursery.cancel_scope.cancel()  # stops the fake, if one runs


def main(argv: list[str] | None = None) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    args = _arguments(argv)
    if args.max_calls < 1 or args.grace < 0:
        raise SystemExit("--max-calls must be at least 1 and --grace at least 0")
    trio.run(run, args)


if __name__ == "__main__":
    main()
