"""The fake server's Voice Agent v1 behaviour, spoken to in raw JSON over loopback."""

from __future__ import annotations

import copy
import io
import json
import struct
import uuid
import wave
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import attrs
import pytest
import trio
import trio.testing
import trio_websocket

from dgtrio.testing import AgentScript, FakeDeepgram, RecordedFrame, ScriptedCall

from .conftest import API_KEY, RECORDED, frames, pcm16

THINK = {"provider": {"type": "open_ai", "model": "gpt-4o-mini"}, "prompt": "Be brief."}
SPEAK = {"provider": {"type": "deepgram", "model": "aura-2-thalia-en"}}
WEATHER = {
    "name": "get_weather",
    "description": "The weather in a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
}
THINK_LIVE = {"provider": {"type": "deepgram", "version": "v1"}}
GREETING = "Welcome! How can I help you today, friend?"  # 8 words: 3.2 s at 2.5 words/s
DELETE = object()


def settings(*, output: dict[str, Any] | None = None, **agent: Any) -> dict[str, Any]:
    """A valid Settings message (16 kHz linear16 in); keywords go into ``agent``."""
    audio: dict[str, Any] = {"input": {"encoding": "linear16", "sample_rate": 16000}}
    if output is not None:
        audio["output"] = output
    base = {"listen": {"provider": {"type": "deepgram", "model": "nova-3"}}}
    return {
        "type": "Settings",
        "audio": audio,
        "agent": {**base, "think": THINK, "speak": SPEAK, **agent},
    }


def summary(messages: list[Any]) -> list[str]:
    """Message types in order, with roles, and one "audio" for each run of binary frames."""
    names: list[str] = []
    for message in messages:
        if isinstance(message, bytes):
            name = "audio"
        elif message["type"] in ("ConversationText", "History"):
            name = f"{message['type']}:{message.get('role', 'function_calls')}"
        else:
            name = message["type"]
        if not (name == "audio" and names and names[-1] == "audio"):
            names.append(name)
    return names


def audio_of(messages: list[Any]) -> bytes:
    return b"".join(m for m in messages if isinstance(m, bytes))


def sent_time(frames: list[RecordedFrame], kind: str) -> float:
    """When the fake sent its first message of type ``kind``."""
    return next(f.time for f in frames if f.is_text and f.json()["type"] == kind)


@attrs.define
class Client:
    """A raw WebSocket client of ``/v1/agent/converse``."""

    ws: trio_websocket.WebSocketConnection

    async def send(self, message: dict[str, Any] | str | bytes) -> None:
        await self.ws.send_message(
            message if isinstance(message, str | bytes) else json.dumps(message)
        )

    async def receive(self) -> Any:
        """The next message: parsed JSON, or bytes for audio."""
        data = await self.ws.get_message()
        return data if isinstance(data, bytes) else json.loads(data)

    async def until(self, kind: str) -> list[Any]:
        """Messages up to and including the next one of type ``kind``."""
        received = []
        while True:
            received.append(message := await self.receive())
            if isinstance(message, dict) and message["type"] == kind:
                return received

    async def close_code(self) -> int | None:
        """Read until the server closes; its close code."""
        with pytest.raises(trio_websocket.ConnectionClosed) as info:
            while True:
                await self.ws.get_message()
        return info.value.reason.code if info.value.reason else None


@asynccontextmanager
async def agent(fake: FakeDeepgram, message: dict[str, Any] | None) -> AsyncIterator[Client]:
    """A client that got its Welcome and, given a valid ``message``, SettingsApplied."""
    headers = [(b"authorization", f"Token {API_KEY}".encode())]
    # The test owns the TCP stream: trio-websocket's client leaves its socket open
    # when the server is the one to close.
    stream = await trio.open_tcp_stream(fake.host, fake.port)
    try:
        async with trio.open_nursery() as nursery:
            ws = await trio_websocket.wrap_client_stream(
                nursery, stream, fake.host, "/v1/agent/converse", extra_headers=headers
            )
            client = Client(ws)
            welcome = await client.receive()
            assert welcome == {"type": "Welcome", "request_id": fake.sessions[-1].request_id}
            if message is not None:
                await client.send(message)
                assert await client.receive() == {"type": "SettingsApplied"}
            yield client
            await ws.aclose()
    finally:
        await trio.aclose_forcefully(stream)


async def serve(nursery: trio.Nursery, **kwargs: Any) -> FakeDeepgram:
    fake = FakeDeepgram(api_key=API_KEY, **kwargs)
    await nursery.start(fake.serve)
    return fake


# --- Session start and Settings -------------------------------------------------------


async def test_welcome_is_first_then_settings_applied(fake: FakeDeepgram) -> None:
    async with agent(fake, settings()):
        pass
    session = fake.sessions[0]
    await session.wait_closed()
    assert [f.json()["type"] for f in session.sent] == ["Welcome", "SettingsApplied"]
    assert session.client_close == (1000, "")


@pytest.mark.parametrize(
    "first",
    [b"\x00\x00", {"type": "KeepAlive"}, {"type": "InjectUserMessage", "content": "Hi"}],
    ids=["audio", "KeepAlive", "InjectUserMessage"],
)
async def test_the_first_message_must_be_settings(
    fake: FakeDeepgram, first: dict[str, Any] | bytes
) -> None:
    async with agent(fake, None) as client:
        await client.send(first)
        error = await client.receive()
        assert error["type"] == "Error"
        assert error["code"] == "NON_SETTINGS_MESSAGE_BEFORE_SETTINGS"
        assert error["description"]
        assert await client.close_code() == 1000
    assert fake.sessions[0].server_close == (1000, "")


async def test_a_second_settings_is_refused_and_the_session_goes_on(fake: FakeDeepgram) -> None:
    async with agent(fake, settings()) as client:
        await client.send(settings())
        error = await client.receive()
        assert (error["type"], error["code"]) == ("Error", "SETTINGS_ALREADY_APPLIED")
        await client.send({"type": "UpdatePrompt", "prompt": "Be briefer."})
        assert await client.receive() == {"type": "PromptUpdated"}


def _set(message: dict[str, Any], dotted: str, value: Any) -> None:
    *parents, name = dotted.split(".")
    for part in parents:
        message = message[part]
    if value is DELETE:
        del message[name]
    else:
        message[name] = value


@pytest.mark.parametrize(
    ("edits", "path"),
    [
        ({"audio": DELETE}, "audio"),
        ({"audio.input.sample_rate": DELETE}, "audio.input.sample_rate"),
        ({"audio.input.sample_rate": "16000"}, "audio.input.sample_rate"),
        ({"audio.input.encoding": "mp3"}, "audio.input.encoding"),
        ({"audio.output": {"encoding": "linear32"}}, "audio.output.encoding"),
        ({"audio.output": {"container": "mp4"}}, "audio.output.container"),
        ({"audio.output": {"bitrate": -1}}, "audio.output.bitrate"),
        ({"agent": DELETE}, "agent"),
        ({"agent": "not-a-uuid"}, "agent"),
        ({"agent.listen.provider.type": DELETE}, "agent.listen.provider.type"),
        (
            {"agent.listen.provider": {"type": "deepgram", "version": "v2"}},
            "agent.listen.provider.model",
        ),
        ({"agent.think.provider": {"type": "open_ai"}}, "agent.think.provider.model"),
        (
            {"agent.think": [THINK, {"provider": {"type": "anthropic"}}]},
            "agent.think[1].provider.model",
        ),
        ({"agent.think.functions": [{"description": "?"}]}, "agent.think.functions[0].name"),
        (
            {"agent.think.functions": [{"name": "f", "parameters": "x"}]},
            "agent.think.functions[0].parameters",
        ),
        (
            {"agent.think.functions": [{"name": "f", "endpoint": {"method": "POST"}}]},
            "agent.think.functions[0].endpoint.url",
        ),
        (
            {"agent.speak": [SPEAK, {"provider": {"type": "deepgram"}}]},
            "agent.speak[1].provider.model",
        ),
        (
            {"agent.speak.provider": {"type": "open_ai", "model": "tts-1"}},
            "agent.speak.provider.voice",
        ),
        ({"agent.speak.provider": {"type": "eleven_labs"}}, "agent.speak.provider.model_id"),
        (
            {"agent.speak.provider": {"type": "cartesia", "model_id": "sonic-2", "voice": {}}},
            "agent.speak.provider.voice.mode",
        ),
        (
            {
                "agent.speak.provider": {
                    "type": "aws_polly",
                    "voice": "Matthew",
                    "language": "en-US",
                    "engine": "neural",
                }
            },
            "agent.speak.provider.credentials",
        ),
        ({"agent.greeting": 5}, "agent.greeting"),
        ({"tags": ["ok", 1]}, "tags"),
        ({"experimental": "yes"}, "experimental"),
        ({"mip_opt_out": 1}, "mip_opt_out"),
        ({"flags": {"history": "no"}}, "flags.history"),
        # Think Live, and what needs it
        ({"agent.think_live": {}}, "agent.think_live.provider"),
        (
            {"agent.think_live": {"provider": {"type": "open_ai", "version": "v1"}}},
            "agent.think_live.provider.type",
        ),
        (
            {"agent.think_live": {"provider": {"type": "deepgram"}}},
            "agent.think_live.provider.version",
        ),
        (
            {
                "agent.think_live": {
                    "provider": {**THINK_LIVE["provider"], "frustration_max_count": -1}
                }
            },
            "agent.think_live.provider.frustration_max_count",
        ),
        (
            {
                "agent.think_live": {
                    "provider": {**THINK_LIVE["provider"], "agent_backchannel_sensitivity": 2}
                }
            },
            "agent.think_live.provider.agent_backchannel_sensitivity",
        ),
        (
            {"agent.think_live": {"provider": {**THINK_LIVE["provider"], "restricted_terms": "x"}}},
            "agent.think_live.provider.restricted_terms",
        ),
        (
            {"agent.think.functions": [WEATHER, {"name": "f", "initial_agent_filler": True}]},
            "agent.think.functions[1].initial_agent_filler",
        ),
        (
            {"agent.think.functions": [{"name": "f", "agent_filler_max_count": 0}]},
            "agent.think.functions[0].agent_filler_max_count",
        ),
        (
            {
                "agent.think_live": THINK_LIVE,
                "agent.think.functions": [
                    {"name": "f", "agent_filler_max_count": 1, "agent_filler_interval_ms": 999}
                ],
            },
            "agent.think.functions[0].agent_filler_interval_ms",
        ),
        (
            {
                "agent.think_live": THINK_LIVE,
                "agent.think.functions": [{"name": "f", "agent_filler_interval_ms": 60001}],
            },
            "agent.think.functions[0].agent_filler_interval_ms",
        ),
        (
            {
                "mip_opt_out": True,
                "agent.think": [THINK, {"provider": {"type": "deepgram", "model": "think-fast"}}],
            },
            "agent.think[1].provider.model",
        ),
    ],
    ids=lambda value: value if isinstance(value, str) else None,
)
async def test_invalid_settings_name_the_field_and_close(
    fake: FakeDeepgram, edits: dict[str, Any], path: str
) -> None:
    message = copy.deepcopy(settings())
    for dotted, value in edits.items():
        _set(message, dotted, value)
    # The real server's wording, from a recorded session that named agent.listen.model.
    recorded = (RECORDED / "agent_v1" / "basic_conversation-e5062e8c.jsonl").read_text()
    description = json.loads(recorded.splitlines()[1])["description"]
    async with agent(fake, None) as client:
        await client.send(message)
        assert await client.receive() == {
            "type": "Error",
            "code": "INVALID_SETTINGS",
            "description": description.replace("agent.listen.model", path),
        }
        assert await client.close_code() == 1000


async def test_every_provider_shape_and_unknown_keys_are_accepted(fake: FakeDeepgram) -> None:
    message = settings(
        listen={"provider": {"type": "deepgram", "version": "v2", "model": "flux-general-en"}},
        think=[
            {**THINK, "functions": [WEATHER]},
            {
                "provider": {"type": "anthropic", "model": "claude-sonnet-4-20250514"},
                "endpoint": {"url": "https://llm.example.com", "headers": {"x": "y"}},
            },
        ],
        speak=[
            SPEAK,
            {"provider": {"type": "open_ai", "model": "tts-1", "voice": "alloy"}},
            {"provider": {"type": "eleven_labs", "model_id": "eleven_turbo_v2_5"}},
            {
                "provider": {
                    "type": "cartesia",
                    "model_id": "sonic-2",
                    "voice": {"mode": "id", "id": "a-voice"},
                }
            },
            {
                "provider": {
                    "type": "aws_polly",
                    "voice": "Joanna",
                    "language": "en-US",
                    "engine": "neural",
                    "credentials": {"type": "iam", "region": "us-east-1"},
                }
            },
        ],
        context={"messages": [{"type": "History", "role": "user", "content": "Hi"}]},
        a_future_field={"anything": True},
    )
    message |= {"tags": ["a", "b"], "experimental": True, "mip_opt_out": False}
    message["flags"] = {"history": True}
    message["audio"]["output"] = {"encoding": "opus", "bitrate": 32000, "container": "ogg"}
    async with agent(fake, message):
        pass  # SettingsApplied


async def test_think_live_settings_and_what_needs_them_are_accepted(fake: FakeDeepgram) -> None:
    live = {
        "type": "deepgram",
        "version": "v1",
        "agent_backchannel_sensitivity": 0.5,
        "presence_check_max_count": 2,
        "presence_check_interval_ms": 1000,  # floored at 3000 by Deepgram
        "frustration_max_count": 0,
        "restricted_terms": ["refund"],
    }
    functions = [
        {**WEATHER, "defer_until_eot": True, "initial_agent_filler": True},
        {"name": "slow", "agent_filler_max_count": 2, "agent_filler_interval_ms": 60000},
        {"name": "quiet", "agent_filler_max_count": 0, "agent_filler_interval_ms": 5},
    ]
    deepgram = {
        "provider": {"type": "deepgram", "model": "think-fast", "voice_prompt_opt_out": True}
    }
    message = settings(
        think_live={"provider": live}, think=[{**THINK, "functions": functions}, deepgram]
    )
    async with agent(fake, message):
        pass  # SettingsApplied


async def test_a_stored_agent_has_no_functions(
    fake: FakeDeepgram, autojump_clock: trio.testing.MockClock
) -> None:
    async with agent(fake, {**settings(), "agent": str(uuid.uuid4())}) as client:
        await client.send({"type": "InjectUserMessage", "content": "The weather?"})
        messages = await client.until("AgentAudioDone")
    assert "FunctionCallRequest" not in summary(messages)
    assert messages[3] == {
        "type": "ConversationText",
        "role": "assistant",
        "content": "I heard you say: The weather?",
        "conversational_behavior": "default",
    }


# --- The agent's speech ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("output", "bytes_per_second", "header", "first_byte"),
    [
        ({}, 48000, 0, None),  # linear16 at 24 kHz, Deepgram's default
        ({"encoding": "mulaw", "sample_rate": 8000}, 8000, 0, 0xFF),  # the tone starts at 0
        ({"encoding": "alaw", "sample_rate": 8000}, 8000, 0, 0xD5),
        ({"encoding": "linear16", "sample_rate": 16000, "container": "wav"}, 32000, 44, None),
        ({"encoding": "mulaw", "sample_rate": 8000, "container": "wav"}, 8000, 44, None),
        ({"encoding": "mp3", "bitrate": 32000}, 4000, 0, None),
    ],
)
async def test_the_greeting_is_spoken_in_the_requested_format(
    fake: FakeDeepgram,
    autojump_clock: trio.testing.MockClock,
    output: dict[str, Any],
    bytes_per_second: int,
    header: int,
    first_byte: int | None,
) -> None:
    async with agent(fake, settings(output=output, greeting=GREETING)) as client:
        messages = await client.until("AgentAudioDone")
    assert summary(messages) == [
        "ConversationText:assistant",
        "History:assistant",
        "AgentStartedSpeaking",
        "LatencyReport",
        "audio",
        "AgentAudioDone",
    ]
    assert messages[0]["content"] == GREETING
    started, report = messages[2], messages[3]
    assert started["total_latency"] == pytest.approx(
        started["ttt_latency"] + started["tts_latency"]
    )
    assert set(report) == {
        "type",
        "ttt_token_latency",
        "ttt_text_latency",
        "tts_latency",
        "total_latency",
    }
    audio = audio_of(messages)
    assert len(audio) == header + 3.2 * bytes_per_second
    if first_byte is not None:
        assert audio[0] == first_byte
    if header:
        assert audio[:4] == b"RIFF"
        assert audio[8:16] == b"WAVEfmt "
        assert struct.unpack("<HHI", audio[20:28]) == (
            1 if output["encoding"] == "linear16" else 7,
            1,
            output["sample_rate"],
        )
    # 100 ms frames, paced in real time.
    session = fake.sessions[0]
    times = [f.time for f in session.sent if not f.is_text]
    assert len(times) == 32
    assert [t - times[0] for t in times] == pytest.approx([i / 10 for i in range(32)])


async def test_a_wav_container_holds_the_whole_speech(
    fake: FakeDeepgram, autojump_clock: trio.testing.MockClock
) -> None:
    output = {"encoding": "linear16", "sample_rate": 16000, "container": "wav"}
    async with agent(fake, settings(output=output, greeting="Hi.")) as client:
        audio = audio_of(await client.until("AgentAudioDone"))
    with wave.open(io.BytesIO(audio)) as wav:
        assert (wav.getnchannels(), wav.getsampwidth(), wav.getframerate()) == (1, 2, 16000)
        assert wav.getnframes() == 8000  # a one-word reply lasts the minimum 0.5 s


async def test_unpaced_speech_is_sent_at_once(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    fake = await serve(nursery, agent_script=AgentScript(realtime=False))
    async with agent(fake, settings(greeting=GREETING)) as client:
        messages = await client.until("AgentAudioDone")
    assert len(audio_of(messages)) == 3.2 * 48000
    # On the virtual clock, paced speech would take its 3.2 s; unpaced, it takes none.
    assert trio.current_time() == fake.sessions[0].connected_at


# --- User turns -----------------------------------------------------------------------


async def test_an_injected_user_message_gets_the_full_sequence(
    fake: FakeDeepgram, autojump_clock: trio.testing.MockClock
) -> None:
    async with agent(fake, settings()) as client:
        await client.send({"type": "InjectUserMessage", "content": "Hello there!"})
        messages = await client.until("AgentAudioDone")
    assert summary(messages) == [
        "ConversationText:user",
        "History:user",
        "AgentThinking",
        "ConversationText:assistant",
        "History:assistant",
        "AgentStartedSpeaking",
        "LatencyReport",
        "audio",
        "AgentAudioDone",
    ]
    assert messages[0] == {
        "type": "ConversationText",
        "role": "user",
        "content": "Hello there!",
        "conversational_behavior": "default",  # always sent; other values need Think Live
    }
    assert messages[1] == {"type": "History", "role": "user", "content": "Hello there!"}
    assert isinstance(messages[2]["content"], str)
    reply = "Hi! How can I help you?"  # the default script's reply to "hello"
    assert messages[3] == {
        "type": "ConversationText",
        "role": "assistant",
        "content": reply,
        "conversational_behavior": "default",
    }
    assert len(audio_of(messages)) == 2.4 * 48000  # 6 words


async def test_a_client_side_function_call(
    fake: FakeDeepgram, autojump_clock: trio.testing.MockClock
) -> None:
    think = {**THINK, "functions": [WEATHER]}
    async with agent(fake, settings(think=think)) as client:
        await client.send({"type": "InjectUserMessage", "content": "What's the WEATHER in Paris?"})
        asked = await client.until("FunctionCallRequest")
        assert summary(asked) == [
            "ConversationText:user",
            "History:user",
            "AgentThinking",
            "FunctionCallRequest",
        ]
        [request] = asked[-1]["functions"]
        assert set(request) == {"id", "name", "arguments", "client_side"}
        assert (request["name"], request["client_side"]) == ("get_weather", True)
        assert isinstance(request["arguments"], str)
        assert json.loads(request["arguments"]) == {"city": "Paris"}
        await trio.sleep(5)  # the agent waits for the answer
        assert fake.sessions[0].sent[-1].json()["type"] == "FunctionCallRequest"

        wrong = {"type": "FunctionCallResponse", "id": "call_x", "name": "get_weather"}
        await client.send({**wrong, "content": "{}"})
        assert await client.receive() == {
            "type": "Error",
            "code": "UNPARSABLE_CLIENT_MESSAGE",
            "description": "FunctionCallResponse id 'call_x' matches no pending function call.",
        }
        result = '{"sky": "clear"}'
        await client.send({**wrong, "id": request["id"], "content": result})
        answered = await client.until("AgentAudioDone")
    assert summary(answered) == [
        "History:function_calls",
        "ConversationText:assistant",
        "History:assistant",
        "AgentStartedSpeaking",
        "LatencyReport",
        "audio",
        "AgentAudioDone",
    ]
    assert answered[0]["function_calls"] == [{**request, "response": result}]
    assert answered[1]["content"] == f"Here is the weather: {result}"


async def test_an_unanswered_function_call_warns_and_replies_without_it(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    fake = await serve(nursery, agent_script=AgentScript(function_timeout=5))
    async with agent(fake, settings(think={**THINK, "functions": [WEATHER]})) as client:
        await client.send({"type": "InjectUserMessage", "content": "Weather?"})
        messages = await client.until("AgentAudioDone")
    assert summary(messages)[3:6] == [
        "FunctionCallRequest",
        "Warning",
        "ConversationText:assistant",
    ]
    assert messages[4]["code"] == "FUNCTION_CALL_FAILED"
    assert messages[5]["content"] == "I heard you say: Weather?"
    sent = fake.sessions[0].sent
    assert sent_time(sent, "Warning") - sent_time(sent, "FunctionCallRequest") == pytest.approx(5)


async def test_a_server_side_function_call(
    fake: FakeDeepgram, autojump_clock: trio.testing.MockClock
) -> None:
    server_side = {**WEATHER, "endpoint": {"url": "https://example.com/weather", "method": "POST"}}
    async with agent(fake, settings(think={**THINK, "functions": [server_side]})) as client:
        await client.send({"type": "InjectUserMessage", "content": "weather please"})
        messages = await client.until("AgentAudioDone")
    assert summary(messages)[3:7] == [
        "FunctionCallRequest",
        "FunctionCallResponse",
        "History:function_calls",
        "ConversationText:assistant",
    ]
    [request] = messages[3]["functions"]
    assert request["client_side"] is False
    response = {"type": "FunctionCallResponse", "id": request["id"], "name": "get_weather"}
    assert messages[4] == {**response, "content": '{"ok": true}'}
    assert messages[5]["function_calls"] == [{**request, "response": '{"ok": true}'}]
    assert messages[6]["content"] == 'Here is the weather: {"ok": true}'


async def test_call_ids_are_unique(nursery: trio.Nursery) -> None:
    fake = await serve(nursery, agent_script=AgentScript(realtime=False))
    server_side = {**WEATHER, "endpoint": {"url": "https://example.com/weather"}}
    async with agent(fake, settings(think={**THINK, "functions": [server_side]})) as client:
        ids = []
        for _ in range(3):
            await client.send({"type": "InjectUserMessage", "content": "weather"})
            messages = await client.until("AgentAudioDone")
            ids.append(messages[3]["functions"][0]["id"])
    assert len(set(ids)) == 3


async def test_without_history_no_history_messages(
    fake: FakeDeepgram, autojump_clock: trio.testing.MockClock
) -> None:
    message = settings(think={**THINK, "functions": [WEATHER]}, greeting="Hi.")
    message["flags"] = {"history": False}
    async with agent(fake, message) as client:
        messages = await client.until("AgentAudioDone")
        await client.send({"type": "InjectUserMessage", "content": "weather"})
        request = await client.until("FunctionCallRequest")
        [call] = request[-1]["functions"]
        await client.send(
            {"type": "FunctionCallResponse", "id": call["id"], "name": call["name"], "content": "x"}
        )
        messages += request + await client.until("AgentAudioDone")
    assert summary(messages) == [
        "ConversationText:assistant",
        "AgentStartedSpeaking",
        "LatencyReport",
        "audio",
        "AgentAudioDone",
        "ConversationText:user",
        "AgentThinking",
        "FunctionCallRequest",
        "ConversationText:assistant",
        "AgentStartedSpeaking",
        "LatencyReport",
        "audio",
        "AgentAudioDone",
    ]


# --- Updates --------------------------------------------------------------------------


async def test_updates_are_acknowledged_and_think_replaces_the_functions(
    fake: FakeDeepgram, autojump_clock: trio.testing.MockClock
) -> None:
    async with agent(fake, settings()) as client:
        await client.send({"type": "UpdatePrompt", "prompt": "Talk like a pirate."})
        await client.send({"type": "UpdateSpeak", "speak": [SPEAK, SPEAK]})
        await client.send({"type": "UpdateThink", "think": {**THINK, "functions": [WEATHER]}})
        provider = {"type": "deepgram", "version": "v2", "model": "flux-general-en"}
        await client.send({"type": "UpdateListen", "listen": {"provider": provider}})
        acks = [await client.receive() for _ in range(4)]
        assert summary(acks) == ["PromptUpdated", "SpeakUpdated", "ThinkUpdated", "ListenUpdated"]

        await client.send({"type": "InjectUserMessage", "content": "weather?"})
        assert summary(await client.until("FunctionCallRequest"))[-1] == "FunctionCallRequest"
        await client.send({"type": "UpdateThink", "think": THINK})  # no functions any more
        assert await client.receive() == {"type": "ThinkUpdated"}
        await client.send({"type": "InjectUserMessage", "content": "weather?"})
        messages = await client.until("AgentAudioDone")
    assert "FunctionCallRequest" not in summary(messages)


@pytest.mark.parametrize(
    ("message", "path"),
    [
        ({"type": "UpdatePrompt", "prompt": 3}, "prompt"),
        ({"type": "UpdateSpeak"}, "speak"),
        (
            {"type": "UpdateSpeak", "speak": {"provider": {"type": "deepgram"}}},
            "speak.provider.model",
        ),
        ({"type": "UpdateSpeak", "speak": [SPEAK, "aura"]}, "speak[1]"),
        ({"type": "UpdateThink", "think": {"prompt": "x"}}, "think.provider"),
        ({"type": "UpdateListen", "listen": "nova-3"}, "listen"),
        ({"type": "UpdateListen", "listen": {}}, "listen.provider"),
        (
            {"type": "UpdateListen", "listen": {"provider": {"model": "nova-3"}}},
            "listen.provider.type",
        ),
        ({"type": "UpdateThink_Live"}, "think_live"),
        ({"type": "UpdateThink_Live", "think_live": {}}, "think_live.provider"),
        (
            {
                "type": "UpdateThink_Live",
                "think_live": {"provider": {"type": "deepgram", "version": "v2"}},
            },
            "think_live.provider.version",
        ),
        (
            {
                "type": "UpdateThink",
                "think": {**THINK, "functions": [{"name": "f", "initial_agent_filler": False}]},
            },
            "think.functions[0].initial_agent_filler",
        ),
    ],
    ids=lambda value: value if isinstance(value, str) else None,
)
async def test_invalid_updates_name_the_field_and_the_session_goes_on(
    fake: FakeDeepgram, message: dict[str, Any], path: str
) -> None:
    async with agent(fake, settings()) as client:
        await client.send(message)
        error = await client.receive()
        assert error == {
            "type": "Error",
            "code": "INVALID_SETTINGS",
            "description": f"Error parsing client message. Check the {path} field against "
            "the API spec.",
        }
        await client.send({"type": "UpdatePrompt", "prompt": "Still here?"})
        assert await client.receive() == {"type": "PromptUpdated"}


# --- Injected agent messages and interruptions ----------------------------------------


async def test_injecting_by_default_is_refused_while_anyone_speaks(
    fake: FakeDeepgram, autojump_clock: trio.testing.MockClock
) -> None:
    inject = {"type": "InjectAgentMessage", "message": "By the way, it is sunny."}
    async with agent(fake, settings(greeting=GREETING)) as client:
        await client.until("AgentStartedSpeaking")
        await client.send(inject)
        refused = (await client.until("InjectionRefused"))[-1]
        assert refused == {
            "type": "InjectionRefused",
            "message": "The agent is speaking or thinking.",
        }
        greeting = await client.until("AgentAudioDone")  # the greeting went on
        assert set(summary(greeting)) <= {"LatencyReport", "audio", "AgentAudioDone"}

        await client.send(pcm16(0.3))  # the user starts speaking
        assert await client.receive() == {"type": "UserStartedSpeaking"}
        await client.send(inject)
        assert await client.receive() == {
            "type": "InjectionRefused",
            "message": "The user is speaking.",
        }

        await client.send(bytes(32000))  # 1 s of silence ends the user's turn
        await client.until("AgentAudioDone")
        await client.send(inject | {"behavior": "default"})  # nobody speaks now
        spoken = await client.until("AgentAudioDone")
    assert spoken[0] == {
        "type": "ConversationText",
        "role": "assistant",
        "content": inject["message"],
        "conversational_behavior": "default",
    }


async def test_a_queued_agent_message_follows_the_current_speech(
    fake: FakeDeepgram, autojump_clock: trio.testing.MockClock
) -> None:
    async with agent(fake, settings(greeting=GREETING)) as client:
        await client.until("AgentStartedSpeaking")
        await client.send(
            {"type": "InjectAgentMessage", "message": "One more thing.", "behavior": "queue"}
        )
        greeting = await client.until("AgentAudioDone")
        queued = await client.until("AgentAudioDone")
    assert len(audio_of(greeting)) == 3.2 * 48000  # the greeting was not cut short
    assert queued[0] == {
        "type": "ConversationText",
        "role": "assistant",
        "content": "One more thing.",
        "conversational_behavior": "default",
    }
    assert summary(queued)[-2:] == ["audio", "AgentAudioDone"]


@pytest.mark.parametrize(
    ("message", "first"),
    [
        (
            {"type": "InjectAgentMessage", "message": "Sorry, news!", "behavior": "interrupt"},
            "ConversationText:assistant",
        ),
        ({"type": "InjectUserMessage", "content": "Stop."}, "ConversationText:user"),
    ],
    ids=["InjectAgentMessage", "InjectUserMessage"],
)
async def test_interruptions_cut_the_speech_without_audio_done(
    fake: FakeDeepgram, autojump_clock: trio.testing.MockClock, message: dict[str, Any], first: str
) -> None:
    async with agent(fake, settings(greeting=GREETING)) as client:
        before = await client.until("AgentStartedSpeaking")
        before += [await client.receive() for _ in range(4)]  # LatencyReport, 3 frames
        await client.send(message)
        rest = await client.until("AgentAudioDone")
    cut = next(i for i, m in enumerate(rest) if isinstance(m, dict))
    assert summary(rest[cut:])[0] == first  # after at most the frames already on their way
    assert len(audio_of(before + rest[:cut])) < 3.2 * 48000
    assert "AgentAudioDone" not in summary(before)
    assert summary(rest[cut:]).count("AgentAudioDone") == 1  # the new speech's only


async def test_barge_in_from_audio_energy(
    fake: FakeDeepgram, autojump_clock: trio.testing.MockClock
) -> None:
    async with agent(fake, settings(greeting=GREETING)) as client:
        before = await client.until("AgentStartedSpeaking")
        before += [await client.receive() for _ in range(4)]  # LatencyReport, 3 frames
        await client.send(pcm16(0.3))
        before += await client.until("UserStartedSpeaking")
        await client.send(bytes(32000))  # 1 s of silence: the end of the turn
        after = await client.until("AgentAudioDone")
    assert "AgentAudioDone" not in summary(before)
    assert len(audio_of(before)) < 3.2 * 48000
    assert after[0] == {
        "type": "ConversationText",
        "role": "user",
        "content": "Hello, can you hear me?",  # the default script's first line
        "conversational_behavior": "default",
    }
    sent = fake.sessions[0].sent
    kinds = [f.json()["type"] if f.is_text else "audio" for f in sent]
    barge_in = kinds.index("UserStartedSpeaking")
    assert kinds[barge_in + 1] == "ConversationText"  # no audio after the barge-in


# --- Think Live, ForceEndTurn and the custom think provider ---------------------------


async def test_frustration_is_counted_and_escalated_at_the_max_count(
    fake: FakeDeepgram, autojump_clock: trio.testing.MockClock
) -> None:
    live = {"provider": {**THINK_LIVE["provider"], "frustration_max_count": 2}}
    async with agent(fake, settings(think_live=live)) as client:
        turns = []
        for text in ("This is RIDICULOUS.", "Hello again.", "Useless!", "I am so frustrated."):
            await client.send({"type": "InjectUserMessage", "content": text})
            turns.append(await client.until("AgentAudioDone"))
    detected = [[m for m in turn if isinstance(m, dict) and m["type"] == "FrustrationDetected"]
                for turn in turns]  # fmt: skip
    assert detected == [
        [{"type": "FrustrationDetected", "count": 1, "escalated": False}],
        [],  # no cue
        [{"type": "FrustrationDetected", "count": 2, "escalated": True}],
        [{"type": "FrustrationDetected", "count": 3, "escalated": True}],
    ]
    # Heard, then judged, before the agent thinks.
    assert summary(turns[0])[:4] == [
        "ConversationText:user",
        "History:user",
        "FrustrationDetected",
        "AgentThinking",
    ]


@pytest.mark.parametrize(
    ("provider", "escalations"),
    [
        ({}, [False, False, True]),
        ({"frustration_max_count": None}, [False, False, True]),
        ({"frustration_max_count": 0}, []),
    ],
    ids=["the fake's default of 3", "null is the default", "0 sends none"],
)
async def test_frustration_max_count(
    fake: FakeDeepgram,
    autojump_clock: trio.testing.MockClock,
    provider: dict[str, Any],
    escalations: list[bool],
) -> None:
    live = {"provider": {**THINK_LIVE["provider"], **provider}}
    async with agent(fake, settings(think_live=live)) as client:
        seen = []
        for _ in range(3):
            await client.send({"type": "InjectUserMessage", "content": "useless"})
            seen += await client.until("AgentAudioDone")
    frustrations = [m for m in seen if isinstance(m, dict) and m["type"] == "FrustrationDetected"]
    assert [m["escalated"] for m in frustrations] == escalations


async def test_update_think_live_is_acknowledged_and_turns_think_live_on(
    fake: FakeDeepgram, autojump_clock: trio.testing.MockClock
) -> None:
    async with agent(fake, settings()) as client:
        await client.send({"type": "InjectUserMessage", "content": "Useless."})
        assert "FrustrationDetected" not in summary(await client.until("AgentAudioDone"))
        await client.send({"type": "InjectAgentMessage", "is_dynamic": True})
        assert await client.receive() == {
            "type": "InjectionRefused",
            "message": "Think Live is off: set agent.think_live.",
        }
        await client.send({"type": "UpdateThink_Live", "think_live": THINK_LIVE})
        assert await client.receive() == {"type": "ThinkLiveUpdated"}
        await client.send({"type": "InjectUserMessage", "content": "Useless."})
        assert "FrustrationDetected" in summary(await client.until("AgentAudioDone"))
        # Filler fields are welcome now.
        functions = [{"name": "f", "initial_agent_filler": True}]
        await client.send({"type": "UpdateThink", "think": {**THINK, "functions": functions}})
        assert await client.receive() == {"type": "ThinkUpdated"}


async def test_a_dynamic_agent_message_is_a_filler_line(
    fake: FakeDeepgram, autojump_clock: trio.testing.MockClock
) -> None:
    async with agent(fake, settings(think_live=THINK_LIVE, greeting=GREETING)) as client:
        await client.until("AgentStartedSpeaking")
        await client.send({"type": "InjectAgentMessage", "is_dynamic": True})
        refused = (await client.until("InjectionRefused"))[-1]
        assert refused["message"] == "The agent is speaking or thinking."
        await client.send({"type": "InjectAgentMessage", "is_dynamic": True, "behavior": "queue"})
        await client.until("AgentAudioDone")  # the greeting's
        filler = await client.until("AgentAudioDone")
    assert filler[0] == {
        "type": "ConversationText",
        "role": "assistant",
        "content": "One moment, please.",
        "conversational_behavior": "filler",
    }
    assert len(audio_of(filler)) == 1.2 * 48000  # 3 words


async def test_force_end_turn_ends_the_users_turn_at_once(
    fake: FakeDeepgram, autojump_clock: trio.testing.MockClock
) -> None:
    async with agent(fake, settings()) as client:
        await client.send({"type": "ForceEndTurn"})  # nobody speaks: no turn to end
        await client.send({"type": "UpdatePrompt", "prompt": "?"})
        assert await client.receive() == {"type": "PromptUpdated"}
        for chunk in frames(pcm16(0.5)):  # no silence after: the turn would not end
            await client.send(chunk)
        assert await client.receive() == {"type": "UserStartedSpeaking"}
        await client.send({"type": "ForceEndTurn"})
        turn = await client.until("AgentAudioDone")
    assert turn[0]["content"] == "Hello, can you hear me?"  # the default script's first line
    assert summary(turn)[:3] == ["ConversationText:user", "History:user", "AgentThinking"]
    session = fake.sessions[0]
    forced = [f.time for f in session.received if f.is_text and f.json()["type"] == "ForceEndTurn"]
    assert sent_time(session.sent, "ConversationText") == pytest.approx(forced[-1], abs=0.01)


@pytest.mark.parametrize(
    "content", [{"rows": [1, 2], "done": False}, ["a", 1.5], "text", 0, None], ids=repr
)
async def test_the_custom_think_provider_echoes(fake: FakeDeepgram, content: Any) -> None:
    async with agent(fake, settings()) as client:
        await client.send({"type": "__customToThinkProvider", "content": content})
        assert await client.receive() == {"type": "__customFromThinkProvider", "content": content}


# --- Hearing audio --------------------------------------------------------------------

# Per input encoding: bytes per sample, two loud samples, one silent sample.
SOUNDS = {
    "linear16": (2, struct.pack("<hh", 8000, -8000), b"\0\0"),
    "linear32": (4, struct.pack("<ii", 1 << 29, -(1 << 29)), bytes(4)),
    "mulaw": (1, b"\x80\x00", b"\xff"),
    "alaw": (1, b"\xaa\x2a", b"\xd5"),
}


@pytest.mark.parametrize(
    ("encoding", "rate"), [("linear16", 16000), ("linear32", 8000), ("mulaw", 8000), ("alaw", 8000)]
)
async def test_a_user_turn_from_audio_energy(
    fake: FakeDeepgram, autojump_clock: trio.testing.MockClock, encoding: str, rate: int
) -> None:
    width, loud, silent = SOUNDS[encoding]
    frame = width * rate // 50  # 20 ms
    speech = loud * (rate // 4)  # 0.5 s
    silence = silent * rate  # 1 s
    message = settings()
    message["audio"]["input"] = {"encoding": encoding, "sample_rate": rate}
    async with agent(fake, message) as client:
        for chunk in frames(speech + silence, frame):
            await client.send(chunk)
            await trio.sleep(0.02)  # in real time, so that the fake's clock shows audio time
        messages = await client.until("AgentAudioDone")
    assert summary(messages)[:4] == [
        "UserStartedSpeaking",
        "ConversationText:user",
        "History:user",
        "AgentThinking",
    ]
    assert messages[1]["content"] == "Hello, can you hear me?"
    session = fake.sessions[0]
    audio_start = next(f.time for f in session.received if not f.is_text)
    # Speech starts once 0.2 s of loud audio arrived: at the end of the 10th frame.
    assert sent_time(session.sent, "UserStartedSpeaking") - audio_start == pytest.approx(0.18)
    # The turn ends after 0.8 s of silence: the 25 loud frames and 40 quiet ones.
    assert sent_time(session.sent, "ConversationText") - audio_start == pytest.approx(1.28)


async def test_compressed_input_sounds_silent(
    fake: FakeDeepgram, autojump_clock: trio.testing.MockClock
) -> None:
    message = settings()
    message["audio"]["input"] = {"encoding": "opus", "sample_rate": 48000}
    async with agent(fake, message) as client:
        for _ in range(20):
            await client.send(b"\x80\x7f" * 500)
        await client.send({"type": "KeepAlive"})
        await client.send({"type": "UpdatePrompt", "prompt": "?"})
        assert await client.receive() == {"type": "PromptUpdated"}


async def test_heard_lines_cycle(nursery: trio.Nursery) -> None:
    fake = await serve(
        nursery, agent_script=AgentScript(user_lines=("One.", "Two."), realtime=False)
    )
    heard = []
    async with agent(fake, settings()) as client:
        for _ in range(3):
            await client.send(pcm16(0.3) + bytes(32000))  # speech, then 1 s of silence
            messages = await client.until("AgentAudioDone")
            heard.append(messages[1]["content"])
    assert heard == ["One.", "Two.", "One."]


# --- Timeouts and bad messages --------------------------------------------------------


async def test_client_timeout_comes_exactly_ten_seconds_after_the_last_frame(
    fake: FakeDeepgram, autojump_clock: trio.testing.MockClock
) -> None:
    async with agent(fake, settings()) as client:
        await trio.sleep(3)
        await client.send(bytes(640))
        await trio.sleep(4)
        await client.send({"type": "KeepAlive"})
        assert await client.receive() == {
            "type": "Error",
            "code": "CLIENT_MESSAGE_TIMEOUT",
            "description": "We did not receive audio or a KeepAlive within the expected time",
        }
        assert await client.close_code() == 1000
    session = fake.sessions[0]
    received = [f.time - session.connected_at for f in session.received]
    assert received == pytest.approx([0, 3, 7])
    assert session.sent[-1].time - session.connected_at == pytest.approx(17)
    assert session.server_close == (1000, "")


async def test_client_timeout_before_settings(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    fake = await serve(nursery, agent_client_timeout=2.5)
    async with agent(fake, None) as client:
        error = await client.receive()
        assert error["code"] == "CLIENT_MESSAGE_TIMEOUT"
    session = fake.sessions[0]
    assert session.sent[-1].time - session.connected_at == pytest.approx(2.5)


@pytest.mark.parametrize(
    ("frame", "description"),
    [
        ("not json", "Could not parse client message: expected a JSON object with a type."),
        ("[1, 2]", "Could not parse client message: expected a JSON object with a type."),
        ('{"type": "Bogus"}', "Unknown client message type 'Bogus'."),
        (
            '{"type": "InjectUserMessage"}',
            "Error parsing client message. Check the content field against the API spec.",
        ),
        (
            '{"type": "InjectAgentMessage", "message": "x", "behavior": "loud"}',
            "Error parsing client message. Check the behavior field against the API spec.",
        ),
        (
            '{"type": "FunctionCallResponse", "name": "f", "content": "x"}',
            "Error parsing client message. Check the id field against the API spec.",
        ),
        (
            '{"type": "InjectAgentMessage", "is_dynamic": false}',
            "Error parsing client message. Check the is_dynamic field against the API spec.",
        ),
        (
            '{"type": "__customToThinkProvider"}',
            "Error parsing client message. Check the content field against the API spec.",
        ),
    ],
)
async def test_unparsable_messages_are_reported_and_the_session_goes_on(
    fake: FakeDeepgram, frame: str, description: str
) -> None:
    async with agent(fake, settings()) as client:
        await client.send(frame)
        assert await client.receive() == {
            "type": "Error",
            "code": "UNPARSABLE_CLIENT_MESSAGE",
            "description": description,
        }
        await client.send({"type": "UpdatePrompt", "prompt": "?"})
        assert await client.receive() == {"type": "PromptUpdated"}


# --- The script and the codecs --------------------------------------------------------


def test_script_validation() -> None:
    for bad in (
        {"user_lines": ()},
        {"user_lines": ("fine", " ")},
        {"user_lines": "one line"},
        {"words_per_second": 0},
        {"end_of_turn": -1},
        {"speech_threshold": 1.5},
        {"default_reply": "You said {words}"},
    ):
        with pytest.raises(ValueError):  # noqa: PT011 - each case has its own message
            AgentScript(**bad)
    with pytest.raises(ValueError, match="frustration_cues"):
        AgentScript(frustration_cues="angry")
    with pytest.raises(ValueError, match="frustration_cues"):
        AgentScript(frustration_cues=("angry", ""))
    with pytest.raises(ValueError, match="filler_line"):
        AgentScript(filler_line=" ")
    with pytest.raises(ValueError, match="trigger"):
        ScriptedCall(" ", "f", {})
    with pytest.raises(ValueError, match="placeholder"):
        ScriptedCall("x", "f", {}, reply="{result}")
    with pytest.raises(TypeError):
        ScriptedCall("x", "f", {"when": object()})
