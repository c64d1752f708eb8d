"""The fake Voice Agent v1 server (``/v1/agent/converse``): the server's protocol with
scripted brains.

It has no speech recognition, language model or voice, so it follows an
:class:`~dgtrio.testing.AgentScript`: the user "says" the script's next line in each
turn the server hears in the energy of the client's audio, the agent answers and
calls functions by the script's rules, and it speaks the fakes' tone for as long as
its words take to say.
"""

from __future__ import annotations

import trio

from ..server import (
    AgentOutput,
    AgentScript,
    AgentSpeech,
    AgentTurn,
    AgentV1Endpoint,
    ScriptedMind,
)
from ._sound import tone

__all__ = ["ScriptedAgentEars", "ToneAgentVoice", "agent_v1_fake"]


class ScriptedAgentEars:
    """Hears in each user turn the script's next line, whatever its audio."""

    def __init__(self, script: AgentScript) -> None:
        self._lines = script.user_lines

    async def hear(self, turn: AgentTurn) -> str:
        await trio.lowlevel.checkpoint()
        return self._lines[turn.number % len(self._lines)]


class ToneAgentVoice:
    """Speaks the tone, as long as the words take at the script's pace (half a second
    at least)."""

    def __init__(self, script: AgentScript) -> None:
        self._words_per_second = script.words_per_second

    async def speak(self, text: str, output: AgentOutput) -> AgentSpeech:
        await trio.lowlevel.checkpoint()
        seconds = max(0.5, len(text.split()) / self._words_per_second)
        if not output.pcm:  # compressed: the server sends filler bytes
            return AgentSpeech(b"", seconds)
        return AgentSpeech(tone(seconds, output.encoding, output.sample_rate), seconds)


def agent_v1_fake(script: AgentScript, client_timeout: float) -> AgentV1Endpoint:
    """One Voice Agent v1 session of the fake server."""
    return AgentV1Endpoint(
        script,
        client_timeout,
        ears=ScriptedAgentEars(script),
        mind=ScriptedMind(script),
        voice=ToneAgentVoice(script),
    )
