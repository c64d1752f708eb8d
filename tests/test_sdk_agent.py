"""Deepgram's official SDK (7.x) voice agent client against ``python -m dgtrio.testing serve``."""

from __future__ import annotations

import asyncio
import json

import pytest

from bench.sdk_agent import (
    COMPLAINT,
    CUSTOM,
    QUESTION,
    WEATHER,
    converse_with_sdk,
    think_live_with_sdk,
)
from dgtrio.testing import AgentScript, fake_server_process


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


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_official_sdk_uses_think_live_force_end_turn_and_the_think_provider() -> None:
    with fake_server_process() as url:
        messages = asyncio.run(think_live_with_sdk(url))
    parsed = [m for m in messages if not isinstance(m, bytes)]
    names = [type(m).__name__ for m in parsed]
    # Settings with think_live and filler fields applied; each later message answered.
    assert names[:6] == [
        "AgentV1Welcome",
        "AgentV1SettingsApplied",
        "AgentV1ThinkLiveUpdated",
        "AgentV1CustomFromThinkProvider",
        "AgentV1UserStartedSpeaking",
        "AgentV1ConversationText",
    ]
    assert parsed[3].content == CUSTOM
    # Speech without the silence that ends a turn: ForceEndTurn ended it.
    assert (parsed[5].role, parsed[5].content) == ("user", AgentScript().user_lines[0])
    texts = [m for m in parsed if type(m).__name__ == "AgentV1ConversationText"]
    complaint = next(i for i, m in enumerate(parsed) if getattr(m, "content", None) == COMPLAINT)
    assert names[complaint + 1 : complaint + 3] == [
        "ConversationHistoryMessage",
        "AgentV1FrustrationDetected",
    ]
    [frustration] = [m for m in parsed if type(m).__name__ == "AgentV1FrustrationDetected"]
    assert (frustration.count, frustration.escalated) == (1, True)  # updated to escalate at 1
    filler = texts[-1]
    assert (filler.role, filler.content, filler.conversational_behavior) == (
        "assistant",
        AgentScript().filler_line,
        "filler",
    )
    assert all(t.conversational_behavior == "default" for t in texts[:-1])
    assert names[-1] == "AgentV1AgentAudioDone"
