"""The Voice Agent v1 socket (``/v1/agent/converse``), served as protocol.md section 5
describes it, with what the agent hears, thinks and says from brains passed in.

The protocol is the server's: ``Welcome`` first; ``Settings`` must be the first client
message and comes only once, and is checked against the API spec (an error names the
offending field the way Deepgram does); ``Update*`` messages are checked and
acknowledged; user turns (told from the loudness of the client's audio), injected
messages, barge-in and client- or server-side function calls produce Deepgram's
message sequences; the agent's audio follows ``audio.output``; and a client that
sends nothing for ``client_timeout`` seconds gets ``CLIENT_MESSAGE_TIMEOUT``.

The brains are :class:`~dgtrio.server.AgentEars` (the words of a user's turn),
:class:`~dgtrio.server.AgentMind` (the reply, and the client's functions it calls) and
:class:`~dgtrio.server.AgentVoice` (the reply as audio). Turn-taking, function
timeouts, pacing and Think Live's frustration cues and filler line follow the
session's :class:`~dgtrio.server.AgentScript`.

Think Live (``agent.think_live``, or ``UpdateThink_Live``) is simulated in part: the
user's frustration (the script's cues) gives ``FrustrationDetected``, and a dynamic
``InjectAgentMessage`` is spoken as a ``filler`` line. Backchannels, presence checks
and the filler lines of outstanding function calls are not simulated, but their
settings are checked as Deepgram documents them.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import partial
from typing import Any

import trio

from .._validate import check_positive_number, check_value
from . import _agent_checks as checks
from ._agent_audio import AgentOutput, AgentTurn, TurnTaking
from ._agent_brains import AgentEars, AgentMind, AgentVoice
from ._agent_conversation import Conversation
from ._agent_script import AgentScript
from ._common import Query, check_brain, parse_message
from ._session import Session

__all__ = ["AgentV1Endpoint"]


_MISSING = object()
_ACKS = {
    "UpdatePrompt": "PromptUpdated",
    "UpdateSpeak": "SpeakUpdated",
    "UpdateThink": "ThinkUpdated",
    "UpdateListen": "ListenUpdated",
    "UpdateThink_Live": "ThinkLiveUpdated",
}


class AgentV1Endpoint:
    """One Voice Agent v1 session: the protocol, with the given brains.

    ``script`` gives the turn-taking thresholds, the function timeout, the pacing and
    Think Live's cues and filler line; ``client_timeout`` is how long the server waits
    for any client frame.
    """

    def __init__(
        self,
        script: AgentScript,
        client_timeout: float,
        *,
        ears: AgentEars,
        mind: AgentMind,
        voice: AgentVoice,
    ) -> None:
        owner = type(self).__name__
        check_value(owner, "script", script, AgentScript)
        check_positive_number(owner, "client_timeout", client_timeout)
        for name, brain, protocol in (
            ("ears", ears, AgentEars),
            ("mind", mind, AgentMind),
            ("voice", voice, AgentVoice),
        ):
            check_brain(owner, name, brain, protocol)
        self._script = script
        self._client_timeout = client_timeout
        self._brains = (ears, mind, voice)
        self._settings_applied = False
        self._turns = self._turn_taking("linear16", 24000)

    def _turn_taking(self, encoding: str, sample_rate: int) -> TurnTaking:
        script = self._script
        return TurnTaking(
            encoding,
            sample_rate,
            threshold=script.speech_threshold,
            onset=script.speech_onset,
            end_of_turn=script.end_of_turn,
        )

    def check(self, query: Query) -> tuple[str, str] | None:
        """Accept every upgrade: the agent takes its configuration from ``Settings``."""
        return None

    async def run(self, session: Session) -> None:
        """``Welcome``, then the client's frames until either side closes."""
        self._session = session
        self._agent = Conversation(session, self._script, self._brains)
        self._last_activity = trio.current_time()
        await self._send({"type": "Welcome", "request_id": session.request_id})
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._watchdog)
            nursery.start_soon(self._agent.run_jobs)
            try:
                # After a fatal error the server has closed, and receive() returns None.
                while (frame := await session.receive()) is not None:
                    self._last_activity = trio.current_time()
                    await self._on_frame(frame)
            finally:
                nursery.cancel_scope.cancel()

    async def _send(self, message: Mapping[str, Any]) -> None:
        await self._session.send_whole(message)

    async def _error(self, code: str, description: str) -> None:
        await self._send({"type": "Error", "description": description, "code": code})

    async def _fatal(self, code: str, description: str) -> None:
        await self._error(code, description)
        await self._session.close(1000)

    async def _watchdog(self) -> None:
        while True:
            due = self._last_activity + self._client_timeout
            if trio.current_time() < due:
                await trio.sleep_until(due)
                continue
            await self._fatal(
                "CLIENT_MESSAGE_TIMEOUT",
                "We did not receive audio or a KeepAlive within the expected time",
            )
            return

    async def _on_frame(self, frame: str | bytes) -> None:
        if isinstance(frame, bytes):
            if self._settings_applied:
                await self._on_audio(frame)
            else:
                await self._fatal(
                    "NON_SETTINGS_MESSAGE_BEFORE_SETTINGS",
                    "Received binary audio before Settings.",
                )
            return
        message = parse_message(frame)
        if message is None:
            await self._error(
                "UNPARSABLE_CLIENT_MESSAGE",
                "Could not parse client message: expected a JSON object with a type.",
            )
        elif message["type"] == "Settings" and not self._settings_applied:
            await self._on_settings(message)
        elif not self._settings_applied:
            await self._fatal(
                "NON_SETTINGS_MESSAGE_BEFORE_SETTINGS",
                f"Received a {message['type']} message before Settings.",
            )
        else:
            try:
                await self._on_message(message)
            except checks.Invalid as exc:
                configures = message["type"] in _ACKS
                code = "INVALID_SETTINGS" if configures else "UNPARSABLE_CLIENT_MESSAGE"
                await self._error(code, checks.field_error(exc.path))

    async def _on_settings(self, message: dict[str, Any]) -> None:
        try:
            agent, functions = checks.check_settings(message)
        except checks.Invalid as exc:
            await self._fatal("INVALID_SETTINGS", checks.field_error(exc.path))
            return
        source = message["audio"].get("input") or {}
        encoding, rate = source.get("encoding", "linear16"), source.get("sample_rate", 24000)
        self._turns = self._turn_taking(encoding, rate)
        output = message["audio"].get("output") or {}
        self._agent.output = AgentOutput(
            encoding=output.get("encoding") or "linear16",
            sample_rate=output.get("sample_rate") or 24000,
            bitrate=output.get("bitrate") or 48000,
            container=output.get("container") or "none",
        )
        self._agent.functions.declared = functions
        self._agent.history = (message.get("flags") or {}).get("history") is not False
        self._agent.think_live = (agent.get("think_live") or {}).get("provider")
        self._settings_applied = True
        await self._send({"type": "SettingsApplied"})
        if agent.get("greeting"):
            self._agent.enqueue(partial(self._agent.speak, agent["greeting"]))

    async def _on_message(self, message: dict[str, Any]) -> None:
        """A client message after Settings; raises :class:`~checks.Invalid` for a bad
        field."""
        kind = message["type"]
        agent = self._agent
        match kind:
            case "KeepAlive":
                pass
            case "Settings":
                await self._error(
                    "SETTINGS_ALREADY_APPLIED", "Settings can only be sent once per session."
                )
            case "UpdatePrompt":
                checks.check(message, "", checks.UPDATE_PROMPT)  # the minds take no prompt
            case "UpdateSpeak":
                checks.check_speak(checks.required(message, "speak"), "speak")
            case "UpdateThink":
                think = checks.required(message, "think")
                live = agent.think_live is not None
                agent.functions.declared = checks.check_think(think, "think", think_live=live)
            case "UpdateListen":
                checks.check(message, "", checks.UPDATE_LISTEN)
                checks.check_listen(message, "")
            case "UpdateThink_Live":
                checks.check(message, "", checks.UPDATE_THINK_LIVE)
                agent.think_live = message["think_live"]["provider"]
            case "ForceEndTurn":
                if self._turns.speaking:
                    self._answer(self._turns.end())
            case "__customToThinkProvider":
                # The server's think provider echoes what it is sent.
                content = message.get("content", _MISSING)
                if content is _MISSING:
                    raise checks.Invalid("content")
                await self._send({"type": "__customFromThinkProvider", "content": content})
            case "InjectUserMessage":
                checks.check(message, "", checks.INJECT_USER)
                agent.interrupt()
                agent.enqueue(partial(agent.respond, message["content"]))
            case "InjectAgentMessage":
                await self._inject_agent_message(message)
            case "FunctionCallResponse":
                checks.check(message, "", checks.FUNCTION_RESPONSE)
                if not agent.functions.answer(message["id"], message["content"]):
                    await self._error(
                        "UNPARSABLE_CLIENT_MESSAGE",
                        f"FunctionCallResponse id {message['id']!r} matches no pending "
                        "function call.",
                    )
            case _:
                await self._error(
                    "UNPARSABLE_CLIENT_MESSAGE", f"Unknown client message type {kind!r}."
                )
        if kind in _ACKS:
            await self._send({"type": _ACKS[kind]})

    async def _inject_agent_message(self, message: dict[str, Any]) -> None:
        """Say the message, or with ``is_dynamic`` a filler line of Think Live's, unless
        refused."""
        agent = self._agent
        dynamic = message.get("is_dynamic") is not None
        checks.check(message, "", checks.INJECT_DYNAMIC if dynamic else checks.INJECT_AGENT)
        if dynamic and agent.think_live is None:
            await self._send(
                {"type": "InjectionRefused", "message": "Think Live is off: set agent.think_live."}
            )
            return
        behavior = message.get("behavior") or "default"
        if behavior == "interrupt":
            agent.interrupt()
        elif behavior == "default" and self._turns.speaking:
            await self._send({"type": "InjectionRefused", "message": "The user is speaking."})
            return
        elif behavior == "default" and agent.busy:
            await self._send(
                {"type": "InjectionRefused", "message": "The agent is speaking or thinking."}
            )
            return
        if dynamic:
            agent.enqueue(partial(agent.speak, self._script.filler_line, "filler"))
        else:
            agent.enqueue(partial(agent.speak, message["message"]))

    async def _on_audio(self, data: bytes) -> None:
        """Follow the user's turns in their audio: barge-in, and the turns' answers."""
        for change in self._turns.feed(data):
            if change is None:  # the user started speaking
                if self._agent.speaking:  # barge-in: the agent falls silent, no AgentAudioDone
                    self._agent.interrupt()
                await self._send({"type": "UserStartedSpeaking"})
            else:
                self._answer(change)

    def _answer(self, turn: AgentTurn) -> None:
        """The user's turn ended: the agent answers it, and nothing it was doing."""
        self._agent.interrupt()
        self._agent.enqueue(partial(self._agent.hear, turn))
