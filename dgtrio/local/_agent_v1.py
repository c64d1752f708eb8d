"""The voice agent (``/v1/agent/converse``) on the local engine: the server's
conversation and protocol, with the user's speech recognised, the replies thought by
a Python function (or the script's rules), and spoken for real.

What is emulated: no hosted LLM runs offline, so ``agent.think`` is not obeyed (its
provider, model and prompt are accepted and ignored); a reply comes from the
``think`` function given to :class:`~dgtrio.local.LocalDeepgram`, or else from the
:class:`~dgtrio.testing.AgentScript` rules (replies by keyword, and function calls to
the client's tools when the user's words contain a call's keyword). Every speak
provider is hibari's default voice; every listen provider is Whisper tiny.en.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from functools import partial

import trio

from ..server import (
    AgentOutput,
    AgentScript,
    AgentSpeech,
    AgentTurn,
    AgentV1Endpoint,
    ScriptedMind,
)
from ._audio import ENCODINGS, Decoder, to_16k
from ._decodes import Decodes
from ._recognizer import Recognizer
from ._synthesizer import Synthesizer, encode

__all__ = ["HibariAgentVoice", "Think", "WhisperAgentEars", "local_agent_v1"]

Think = Callable[[str], str | Awaitable[str]]
"""``(what the user said) -> the agent's reply``: a plain function (run in a worker
thread) or an async one."""


class WhisperAgentEars:
    """Hears the words of each user turn with Whisper: a final decode, shared with
    every stream's (see :class:`~dgtrio.local._decodes.Decodes`)."""

    def __init__(self, recognizer: Recognizer, decodes: Decodes) -> None:
        self._recognizer = recognizer
        self._decodes = decodes

    async def hear(self, turn: AgentTurn) -> str:
        if turn.encoding not in ENCODINGS:  # not decodable: heard as silence
            await trio.lowlevel.checkpoint()
            return ""
        return await self._decodes.final(self._transcribe, turn)

    def _transcribe(self, turn: AgentTurn) -> str:
        audio = Decoder(turn.encoding, 1).decode(turn.audio)[0]
        words = self._recognizer.transcribe(to_16k(audio, turn.sample_rate))
        return " ".join(word.punctuated for word in words)


class HibariAgentVoice:
    """Speaks with hibari's default voice, one synthesis at a time."""

    def __init__(self, synthesizer: Synthesizer, limiter: trio.CapacityLimiter) -> None:
        self._synthesizer = synthesizer
        self._limiter = limiter

    async def speak(self, text: str, output: AgentOutput) -> AgentSpeech:
        samples = await trio.to_thread.run_sync(
            self._synthesizer.synthesize, text, limiter=self._limiter
        )
        seconds = len(samples) / 24000
        if not output.pcm:  # a compressed encoding: the server sends filler bytes
            return AgentSpeech(b"", seconds)
        return AgentSpeech(encode(samples, output.encoding, output.sample_rate), seconds)


async def _thought(think: Think, text: str) -> str:
    """``think``'s reply to ``text``: awaited, or run in a worker thread."""
    if inspect.iscoroutinefunction(think):
        return str(await think(text))
    return str(await trio.to_thread.run_sync(think, text))


def local_agent_v1(
    recognizer: Recognizer,
    synthesizer: Synthesizer,
    decodes: Decodes,
    syntheses: trio.CapacityLimiter,
    script: AgentScript,
    client_timeout: float,
    think: Think | None = None,
) -> AgentV1Endpoint:
    """One voice agent session of the local engine: the script's turn-taking and
    function calls, with ``think`` for the replies when given."""
    return AgentV1Endpoint(
        script,
        client_timeout,
        ears=WhisperAgentEars(recognizer, decodes),
        mind=ScriptedMind(script, None if think is None else partial(_thought, think)),
        voice=HibariAgentVoice(synthesizer, syntheses),
    )
