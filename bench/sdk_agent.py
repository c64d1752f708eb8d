"""The official deepgram-sdk (7.x) voice agent client against dgtrio's fake server.

Shows that ``python -m dgtrio.testing serve`` speaks Voice Agent v1 faithfully enough
for Deepgram's own client: it sends ``Settings`` declaring a client-side function,
injects a user message, answers the agent's ``FunctionCallRequest`` and receives the
spoken reply (transcript, audio and ``AgentAudioDone``). With Think Live on, it updates
Think Live, talks to the think provider, ends the user's turn itself, frustrates the
agent and asks Think Live for a filler line.

    python -m bench.sdk_agent

starts the fake as a process, runs the SDK's async agent client against it and prints
what the SDK received. ``converse_with_sdk`` and ``think_live_with_sdk`` are also used
by the test suite.
"""

from __future__ import annotations

import asyncio
import json
import struct
import sys
from typing import Any

from dgtrio.testing import fake_server_process

from .sdk_client import sdk_client

QUESTION = "What's the weather in Paris?"
WEATHER = '{"sky": "clear"}'
COMPLAINT = "This is useless."
CUSTOM = {"ping": [1, 2.5, None]}
SPEECH = struct.pack("<2h", 8000, -8000) * 2400  # 0.3 s of loud 16 kHz audio


async def converse_with_sdk(url: str, api_key: str = "sdk-key") -> list[Any]:
    """One turn with a function call through ``AsyncDeepgramClient``; what it parsed."""
    from deepgram.agent.v1.types import (
        AgentV1InjectUserMessage,
        AgentV1SendFunctionCallResponse,
        AgentV1Settings,
        AgentV1SettingsAgent,
        AgentV1SettingsAgentContextListen,
        AgentV1SettingsAgentContextListenProvider_V1,
    )
    from deepgram.types import (
        SpeakSettingsV1,
        SpeakSettingsV1Provider_Deepgram,
        ThinkSettingsV1,
        ThinkSettingsV1FunctionsItem,
        ThinkSettingsV1Provider_OpenAi,
    )

    client = sdk_client(url, api_key)
    weather = ThinkSettingsV1FunctionsItem(
        name="get_weather",
        description="The weather in a city",
        parameters={"type": "object", "properties": {"city": {"type": "string"}}},
    )
    settings = AgentV1Settings(
        audio=_linear16_audio(),
        agent=AgentV1SettingsAgent(
            listen=AgentV1SettingsAgentContextListen(
                provider=AgentV1SettingsAgentContextListenProvider_V1(model="nova-3")
            ),
            think=ThinkSettingsV1(
                provider=ThinkSettingsV1Provider_OpenAi(model="gpt-4o-mini"),
                prompt="You are a helpful assistant.",
                functions=[weather],
            ),
            speak=SpeakSettingsV1(
                provider=SpeakSettingsV1Provider_Deepgram(model="aura-2-thalia-en")
            ),
        ),
    )
    received: list[Any] = []
    async with client.agent.v1.connect() as socket:
        await socket.send_settings(settings)
        async for message in socket:
            received.append(message)
            kind = getattr(message, "type", None)
            if kind == "SettingsApplied":
                await socket.send_inject_user_message(AgentV1InjectUserMessage(content=QUESTION))
            elif kind == "FunctionCallRequest":
                for call in message.functions:
                    response = AgentV1SendFunctionCallResponse(
                        id=call.id, name=call.name, content=WEATHER
                    )
                    await socket.send_function_call_response(response)
            elif kind in ("AgentAudioDone", "Error"):
                break
    return received


async def think_live_with_sdk(url: str, api_key: str = "sdk-key") -> list[Any]:
    """Think Live's messages through ``AsyncDeepgramClient``; what it parsed.

    Settings with ``think_live`` and a function's filler fields; then, each on the
    answer to the one before: ``UpdateThink_Live``, ``__customToThinkProvider``,
    speech and ``ForceEndTurn``, a frustrated user message, and a dynamic
    ``InjectAgentMessage``, until the filler line it asked for has been spoken.
    """
    from deepgram.agent.v1.types import (
        AgentV1CustomToThinkProvider,
        AgentV1InjectDynamicAgentMessage,
        AgentV1InjectUserMessage,
        AgentV1Settings,
        AgentV1SettingsAgent,
        AgentV1UpdateThinkLive,
    )
    from deepgram.types import (
        DeepgramThinkLiveProviderV1,
        ThinkLiveSettingsV1,
        ThinkSettingsV1,
        ThinkSettingsV1FunctionsItem,
        ThinkSettingsV1Provider_OpenAi,
    )

    client = sdk_client(url, api_key)
    refund = ThinkSettingsV1FunctionsItem(
        name="refund",
        description="Refund an order",
        defer_until_eot=True,
        initial_agent_filler=True,
        agent_filler_max_count=2,
        agent_filler_interval_ms=4000,
    )
    settings = AgentV1Settings(
        audio=_linear16_audio(),
        agent=AgentV1SettingsAgent(
            think=ThinkSettingsV1(
                provider=ThinkSettingsV1Provider_OpenAi(model="gpt-4o-mini"), functions=[refund]
            ),
            think_live=ThinkLiveSettingsV1(
                provider=DeepgramThinkLiveProviderV1(
                    frustration_max_count=3, restricted_terms=["guarantee"]
                )
            ),
        ),
    )
    escalate_at_once = ThinkLiveSettingsV1(
        provider=DeepgramThinkLiveProviderV1(frustration_max_count=1)
    )
    received: list[Any] = []
    async with client.agent.v1.connect() as socket:
        await socket.send_settings(settings)
        async for message in socket:
            received.append(message)
            kind = getattr(message, "type", None)
            if kind == "SettingsApplied":
                await socket.send_update_think_live(
                    AgentV1UpdateThinkLive(think_live=escalate_at_once)
                )
            elif kind == "ThinkLiveUpdated":
                await socket.send_custom_to_think_provider(
                    AgentV1CustomToThinkProvider(content=CUSTOM)
                )
            elif kind == "__customFromThinkProvider":
                for start in range(0, len(SPEECH), 640):  # 20 ms frames
                    await socket.send_media(SPEECH[start : start + 640])
            elif kind == "UserStartedSpeaking":
                await socket.send_force_end_turn()  # no silence: only this ends the turn
            elif kind == "ConversationText" and message.role == "user":
                if message.content != COMPLAINT:  # the turn ForceEndTurn ended
                    await socket.send_inject_user_message(
                        AgentV1InjectUserMessage(content=COMPLAINT)
                    )
            elif kind == "FrustrationDetected":
                await socket.send_inject_dynamic_agent_message(
                    AgentV1InjectDynamicAgentMessage(behavior="interrupt")
                )
            elif kind == "Error" or (kind == "AgentAudioDone" and _filler_said(received)):
                break
    return received


def _linear16_audio() -> Any:
    """``audio`` of the settings: linear16 at 16 kHz both ways."""
    from deepgram.agent.v1.types import (
        AgentV1SettingsAudio,
        AgentV1SettingsAudioInput,
        AgentV1SettingsAudioOutput,
    )

    return AgentV1SettingsAudio(
        input=AgentV1SettingsAudioInput(encoding="linear16", sample_rate=16000),
        output=AgentV1SettingsAudioOutput(encoding="linear16", sample_rate=16000),
    )


def _filler_said(messages: list[Any]) -> bool:
    return any(getattr(m, "conversational_behavior", None) == "filler" for m in messages)


def main() -> int:
    with fake_server_process() as url:
        messages = asyncio.run(converse_with_sdk(url))
        messages += asyncio.run(think_live_with_sdk(url))
    for message in messages:
        if isinstance(message, bytes):
            print(json.dumps({"audio_bytes": len(message)}))
        else:
            print(json.dumps({"class": type(message).__name__, "type": message.type}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
