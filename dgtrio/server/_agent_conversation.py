"""The voice agent's side of a conversation: answering user turns and speaking, as
Deepgram's message sequences, with what the brains hear, think and say."""

from __future__ import annotations

from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any

import trio

from ._agent_audio import FRAME_SECONDS, AgentOutput, AgentTurn, frames
from ._agent_functions import FunctionCalls
from ._agent_script import AgentScript
from ._session import Session

if TYPE_CHECKING:
    from ._agent_brains import AgentEars, AgentMind, AgentVoice

__all__ = ["Conversation"]

# Seconds the agent "spent" thinking and synthesising, for the latency messages.
_TTT_LATENCY = 0.42
_TTS_LATENCY = 0.31
_FRUSTRATION_MAX_COUNT = 3  # the server's default (Deepgram's is not documented)


class Conversation:
    """The agent's activity in one session.

    A user turn or a speech runs as a job, one after the other, in a task of its own
    (:meth:`run_jobs`), so that the session keeps reading client frames meanwhile; an
    interruption (barge-in, a new user turn, ``InjectAgentMessage`` with
    ``interrupt``) cancels the running job and drops the queued ones.
    """

    def __init__(
        self,
        session: Session,
        script: AgentScript,
        brains: tuple[AgentEars, AgentMind, AgentVoice],
    ) -> None:
        self._session = session
        self._script = script
        self._ears, self._mind, self._voice = brains
        self.output = AgentOutput()
        """``audio.output`` of the settings."""
        self.history = True
        """Whether ``History`` messages are sent (``flags.history``)."""
        self.think_live: Mapping[str, Any] | None = None
        """Think Live's provider settings, when it is on."""
        self.functions = FunctionCalls(session, script.function_timeout, self._record)
        self.speaking = False
        """Whether the agent's audio is being sent."""
        self._frustrations = 0
        self._jobs: deque[Callable[[], Awaitable[None]]] = deque()
        self._job_added = trio.Event()
        self._job_scope: trio.CancelScope | None = None

    @property
    def busy(self) -> bool:
        """Whether the agent is speaking or thinking, or has that to do."""
        return bool(self._jobs) or self._job_scope is not None

    # --- Jobs ---------------------------------------------------------------------------

    def enqueue(self, job: Callable[[], Awaitable[None]]) -> None:
        """Do ``job`` after the jobs before it."""
        self._jobs.append(job)
        self._job_added.set()

    def interrupt(self) -> None:
        """Stop the running job, and drop the queued ones."""
        self._jobs.clear()
        if self._job_scope is not None:
            self._job_scope.cancel()

    async def run_jobs(self) -> None:
        """Run the jobs as they come, until cancelled."""
        while True:
            if not self._jobs:
                self._job_added = trio.Event()
                await self._job_added.wait()
                continue
            # No checkpoint between taking a job and publishing its scope: the agent is
            # never seen idle while it has work.
            job = self._jobs.popleft()
            with trio.CancelScope() as self._job_scope:
                await job()
            self._job_scope = None

    # --- What the jobs do ---------------------------------------------------------------

    async def hear(self, turn: AgentTurn) -> None:
        """A user turn the server heard end: answer what the ears make of it."""
        text = await self._ears.hear(turn)
        if text:  # a cough, a door: no words, no answer
            await self.respond(text)

    async def respond(self, text: str) -> None:
        """A user turn: what was heard, any frustration, the agent's thought, the
        mind's reply (and the calls it makes), spoken."""
        await self._say("user", text)
        lowered = text.lower()
        if self.think_live is not None and any(
            cue.lower() in lowered for cue in self._script.frustration_cues
        ):
            await self._frustrated()
        await self._send({"type": "AgentThinking", "content": f"The user said: {text}"})
        await self.speak(await self._mind.reply(text, self.functions))

    async def speak(self, text: str, behavior: str = "default") -> None:
        """The agent says ``text``: its transcript, latencies, audio and ``AgentAudioDone``."""
        await self._say("assistant", text, behavior)
        self.speaking = True
        try:
            await self._send(
                {
                    "type": "AgentStartedSpeaking",
                    "total_latency": _TTT_LATENCY + _TTS_LATENCY,
                    "tts_latency": _TTS_LATENCY,
                    "ttt_latency": _TTT_LATENCY,
                }
            )
            await self._send(
                {
                    "type": "LatencyReport",
                    "ttt_token_latency": _TTT_LATENCY - 0.05,
                    "ttt_text_latency": _TTT_LATENCY,
                    "tts_latency": _TTS_LATENCY,
                    "total_latency": _TTT_LATENCY + _TTS_LATENCY,
                }
            )
            start = trio.current_time()
            speech = await self._voice.speak(text, self.output)
            for index, frame in enumerate(frames(self.output, speech)):
                if self._script.realtime:  # as if synthesised live: one frame per 100 ms
                    await trio.sleep_until(start + index * FRAME_SECONDS)
                await self._send(frame)
            await self._send({"type": "AgentAudioDone"})
        finally:
            self.speaking = False

    # --- Messages -----------------------------------------------------------------------

    async def _send(self, message: Mapping[str, Any] | bytes) -> None:
        """Send a message or audio frame, whole (a cancelled job stops before it)."""
        await self._session.send_whole(message)

    async def _record(self, entry: Mapping[str, Any]) -> None:
        """Add to the conversation's history, when the client asked for it."""
        if self.history:
            await self._send({"type": "History", **entry})

    async def _say(self, role: str, text: str, behavior: str = "default") -> None:
        await self._send(
            {
                "type": "ConversationText",
                "role": role,
                "content": text,
                "conversational_behavior": behavior,
            }
        )
        await self._record({"role": role, "content": text})

    async def _frustrated(self) -> None:
        """Think Live heard frustration: ``FrustrationDetected``, unless turned off."""
        assert self.think_live is not None
        most = self.think_live.get("frustration_max_count")
        if most is None:  # left out, or null
            most = _FRUSTRATION_MAX_COUNT
        if most == 0:
            return
        self._frustrations += 1
        count = self._frustrations
        await self._send(
            {"type": "FrustrationDetected", "count": count, "escalated": count >= most}
        )
