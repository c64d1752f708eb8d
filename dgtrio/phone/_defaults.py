"""What a phone line starts with: agent settings for mu-law at 8 kHz, the apology
clip, the keypad hook, and an end-call tool."""

from __future__ import annotations

from importlib.resources import files

from .. import AgentConnection, ToolRegistry
from .. import agent as ag
from ._call import Call, current_call
from ._twilio import SAMPLE_RATE

__all__ = ["apology_clip", "default_settings", "end_call_tool", "inject_digit"]


def default_settings(
    *,
    prompt: str | None = None,
    greeting: str | None = "Thanks for calling. How can I help?",
) -> ag.AgentV1Settings:
    """Agent settings for a phone line: Nova-3, gpt-4o-mini, an Aura-2 voice, and
    mu-law at 8 kHz both ways with no container (what Twilio sends and plays, so
    nothing is transcoded anywhere).

    Args:
        prompt: the agent's prompt (default: brief answers for a phone line).
        greeting: what the agent says first (``None``: nothing; it waits).
    """
    return ag.AgentV1Settings(
        agent=ag.AgentConfig(
            listen=ag.Listen(provider=ag.DeepgramListenV1(model="nova-3")),
            think=ag.Think(
                provider=ag.OpenAiThink(model="gpt-4o-mini"),
                prompt=prompt or "You answer the phone. Be brief: the caller hears you.",
            ),
            speak=ag.Speak(provider=ag.DeepgramSpeak(model="aura-2-thalia-en")),
            greeting=greeting,
        ),
        audio=ag.AudioConfig(
            input=ag.AudioInput(encoding="mulaw", sample_rate=SAMPLE_RATE),
            output=ag.AudioOutput(encoding="mulaw", sample_rate=SAMPLE_RATE, container="none"),
        ),
    )


def apology_clip() -> bytes:
    """The default apology (4.9 s, mu-law 8 kHz): "I'm sorry, something went wrong
    on our side. Please call again in a moment." (``scripts/make_apology_clip.py``
    made it with the local engine's voice)."""
    return files(__package__).joinpath("apology.ulaw").read_bytes()


async def inject_digit(call: Call, digit: str, agent: AgentConnection) -> None:
    """The default keypad hook: tell the agent which key the caller pressed, as a
    user message."""
    await agent.inject_user_message(f"(The caller pressed {digit} on the keypad.)")


def end_call_tool(tools: ToolRegistry) -> ToolRegistry:
    """Register ``end_call`` in ``tools``: the agent hangs up once the caller has
    heard its goodbye (say it first, then call the function). Returns ``tools``."""

    @tools.register
    async def end_call() -> str:
        """Hang up, after saying goodbye to the caller."""
        current_call().hang_up()
        return "The call will end once the caller has heard you."

    return tools
