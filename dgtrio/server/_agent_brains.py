"""The voice agent's brains: what the server's agent endpoint asks of whatever hears,
thinks and speaks for it.

The endpoint speaks the protocol; a brain only answers its one question, so that the
scripted server (:class:`~dgtrio.testing.FakeDeepgram`) and the local engine
(:class:`~dgtrio.local.LocalDeepgram`) differ in their brains and in nothing else.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from ._agent_audio import AgentOutput, AgentSpeech, AgentTurn

__all__ = ["AgentEars", "AgentFunctions", "AgentMind", "AgentVoice"]


class AgentEars(Protocol):
    """What the agent hears: the words of the user's turns."""

    async def hear(self, turn: AgentTurn) -> str:
        """What the user said in ``turn``, which just ended; empty when it held no
        words (a cough, a door), and then the agent does not answer."""
        ...


class AgentFunctions(Protocol):
    """The client's functions, as a mind sees them: what the settings declare, and a
    way to call them (the server speaks the protocol of the call)."""

    @property
    def declared(self) -> Mapping[str, Mapping[str, Any]]:
        """The functions the think settings declare, by name, as declared."""
        ...

    async def call(
        self, name: str, arguments: Mapping[str, Any], *, server_result: str = ...
    ) -> str | None:
        """Call the declared function ``name`` with ``arguments``: its result, or
        None when the client did not answer in time. A function declared with an
        ``endpoint`` runs on the server, which cannot reach the endpoint: it answers
        ``server_result``."""
        ...


class AgentMind(Protocol):
    """What the agent thinks: its reply to what the user said."""

    async def reply(self, text: str, functions: AgentFunctions) -> str:
        """The agent's answer to ``text``, after calling any of ``functions`` it needs."""
        ...


class AgentVoice(Protocol):
    """How the agent speaks."""

    async def speak(self, text: str, output: AgentOutput) -> AgentSpeech:
        """``text`` spoken in ``output``'s encoding and sample rate (when
        :attr:`~dgtrio.server.AgentOutput.pcm`; else only its length matters)."""
        ...
