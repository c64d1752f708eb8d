"""A voice agent that calls a Python function: a weather tool.

    python examples/agent_tools.py ["What's the weather in Paris?"]

The question is injected as text (no microphone needed); the agent's LLM decides to
call ``get_weather``, dgtrio runs it and answers the call, and the agent replies.
With DEEPGRAM_API_KEY set this talks to Deepgram; without it, to dgtrio's fake
agent, scripted to call the tool when it hears "weather".
"""

from __future__ import annotations

import os
import sys
from typing import Annotated, Literal

import trio

import dgtrio
from dgtrio import agent as ag
from dgtrio.testing import AgentScript, FakeDeepgram, ScriptedCall

tools = dgtrio.ToolRegistry(timeout=10)


@tools.register
async def get_weather(
    city: Annotated[str, "The city, e.g. Paris"],
    unit: Literal["celsius", "fahrenheit"] = "celsius",
) -> dict[str, object]:
    """The current weather in a city."""
    await trio.sleep(0.1)  # a real tool would ask a weather service here
    celsius = 18
    return {
        "city": city,
        "sky": "partly cloudy",
        "temperature": celsius if unit == "celsius" else celsius * 9 / 5 + 32,
        "unit": unit,
    }


SETTINGS = ag.AgentV1Settings(
    agent=ag.AgentConfig(
        listen=ag.Listen(provider=ag.DeepgramListenV1(model="nova-3")),
        think=ag.Think(
            provider=ag.OpenAiThink(model="gpt-4o-mini"),
            prompt="You are a weather assistant. Use get_weather; answer in one sentence.",
        ),
        speak=ag.Speak(provider=ag.DeepgramSpeak(model="aura-2-thalia-en")),
    ),
    audio=ag.AudioConfig(output=ag.AudioOutput(encoding="linear16", sample_rate=24000)),
)


async def ask(question: str, base_url: str | None) -> None:
    async with dgtrio.open_agent(SETTINGS, tools=tools, base_url=base_url) as agent:
        await agent.inject_user_message(question)
        audio_bytes = 0
        async for message in agent:
            if isinstance(message, dgtrio.AgentV1ConversationText):
                print(f"{message.role}: {message.content}")
            elif isinstance(message, dgtrio.ToolResult):
                print(f"  tool {message.call.name}({message.call.arguments}) -> {message.content}")
            elif isinstance(message, dgtrio.AgentV1Audio):
                audio_bytes += len(message.data)
            elif isinstance(message, dgtrio.AgentV1AgentAudioDone):
                print(f"  ({audio_bytes / 48000:.1f} s of speech received)")
                return


async def main(question: str) -> None:
    if os.environ.get("DEEPGRAM_API_KEY"):
        await ask(question, base_url=None)
        return
    print("DEEPGRAM_API_KEY is not set: using the fake agent", file=sys.stderr)
    script = AgentScript(
        realtime=False,
        calls=[
            ScriptedCall(
                "weather",
                "get_weather",
                {"city": "Paris"},
                reply="In Paris it is partly cloudy, 18 degrees.",
            )
        ],
    )
    fake = FakeDeepgram(agent_script=script)
    async with trio.open_nursery() as nursery:
        await nursery.start(fake.serve)
        await ask(question, base_url=fake.url)
        nursery.cancel_scope.cancel()


if __name__ == "__main__":
    trio.run(main, sys.argv[1] if len(sys.argv) > 1 else "What's the weather in Paris?")
