"""Deepgram's official SDK (7.x) voice agent client against ``python -m dgtrio.testing serve``."""

from __future__ import annotations

import asyncio
import json

import pytest

from bench.sdk_agent import QUESTION, WEATHER, converse_with_sdk
from dgtrio.testing import fake_server_process


# The SDK imports names that its own websockets dependency deprecates.
@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_official_sdk_holds_a_conversation_with_the_fake_agent() -> None:
    with fake_server_process() as url:
        messages = asyncio.run(converse_with_sdk(url))
    names = [type(m).__name__ for m in messages if not isinstance(m, bytes)]
    assert names == [
        "AgentV1Welcome",
        "AgentV1SettingsApplied",
        "AgentV1ConversationText",
        "ConversationHistoryMessage",
        "AgentV1AgentThinking",
        "AgentV1FunctionCallRequest",
        "FunctionCallHistoryMessage",
        "AgentV1ConversationText",
        "ConversationHistoryMessage",
        "AgentV1AgentStartedSpeaking",
        "AgentV1LatencyReport",
        "AgentV1AgentAudioDone",
    ]
    texts = [(m.role, m.content) for m in messages if type(m).__name__ == "AgentV1ConversationText"]
    reply = f"Here is the weather: {WEATHER}"
    assert texts == [("user", QUESTION), ("assistant", reply)]
    [call] = messages[5].functions
    assert (call.name, call.client_side, json.loads(call.arguments)) == (
        "get_weather",
        True,
        {"city": "Paris"},
    )
    [record] = messages[6].function_calls
    assert (record.id, record.response) == (call.id, WEATHER)
    assert messages[9].total_latency > 0
    # The reply's 6 words last 2.4 s: 16-bit samples at 16 kHz, in 100 ms frames.
    audio = [m for m in messages if isinstance(m, bytes)]
    assert [len(frame) for frame in audio] == [3200] * 24
