"""open_agent against the fake voice agent over loopback: settings, sends, tools."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from types import MappingProxyType
from typing import Any

import pytest
import trio
import trio.testing
import trio_websocket

import dgtrio
from dgtrio import agent as ag
from dgtrio._codec import encode_message
from dgtrio.testing import AgentScript, FakeDeepgram, FakeSession, ScriptedCall

from .conftest import API_KEY, frames, pcm16

pytestmark = pytest.mark.timeout(20)

FAST = AgentScript(realtime=False)
PROMPT = "You are a helpful test agent."


def settings(**agent: Any) -> ag.AgentV1Settings:
    config = {
        "listen": ag.Listen(provider=ag.DeepgramListenV1(model="nova-3")),
        "think": ag.Think(provider=ag.OpenAiThink(model="gpt-4o-mini"), prompt=PROMPT),
        "speak": ag.Speak(provider=ag.DeepgramSpeak(model="aura-2-thalia-en")),
        **agent,
    }
    return ag.AgentV1Settings(
        agent=ag.AgentConfig(**config),
        audio=ag.AudioConfig(
            input=ag.AudioInput(encoding="linear16", sample_rate=16000),
            output=ag.AudioOutput(encoding="linear16", sample_rate=16000),
        ),
    )


async def serve(nursery: trio.Nursery, **kwargs: Any) -> FakeDeepgram:
    fake = FakeDeepgram(api_key=API_KEY, **{"agent_script": FAST, **kwargs})
    await nursery.start(fake.serve)
    return fake


def connect(fake: FakeDeepgram) -> dgtrio.ConnectOptions:
    return {"base_url": fake.url, "api_key": API_KEY}


async def until(agent: dgtrio.AgentConnection, cls: type) -> list[Any]:
    """Messages up to and including the first ``cls``."""
    seen: list[Any] = []
    async for message in agent:
        seen.append(message)
        if isinstance(message, cls):
            return seen
    raise AssertionError(f"no {cls.__name__} in {seen}")


def sent_types(session: FakeSession) -> list[str]:
    return [f.json()["type"] if f.is_text else "<audio>" for f in session.received]


def names(messages: list[Any]) -> list[str]:
    return [type(m).__name__.removeprefix("AgentV1") for m in messages]


async def test_settings_go_first_and_the_block_starts_when_applied(nursery: trio.Nursery) -> None:
    fake = await serve(nursery)
    config = settings(greeting=None)
    async with dgtrio.open_agent(config, **connect(fake)) as agent:
        (session,) = fake.sessions
        assert session.received[0].json() == json.loads(encode_message(config))
        assert len(session.received) == 1
        welcome, applied = await agent.receive(), await agent.receive()
        assert isinstance(welcome, dgtrio.AgentV1Welcome)
        assert isinstance(applied, dgtrio.AgentV1SettingsApplied)
        assert welcome.request_id == agent.request_id == session.request_id


async def test_audio_waits_for_settings_applied_and_none_is_lost(nursery: trio.Nursery) -> None:
    fake = await serve(nursery)
    audio = pcm16(0.5, rate=16000)
    exhausted = trio.Event()

    async def source() -> AsyncIterator[bytes]:
        for frame in frames(audio):
            yield frame
        exhausted.set()

    async with dgtrio.open_agent(settings(), audio=source(), **connect(fake)):
        await exhausted.wait()  # then a normal exit sends what is queued
    (session,) = fake.sessions
    await session.wait_closed()
    assert sent_types(session)[0] == "Settings"
    assert session.audio == audio


async def test_refused_settings_raise_the_servers_error(nursery: trio.Nursery) -> None:
    fake = await serve(nursery)
    raw = {"audio": {"input": {"encoding": "linear16", "sample_rate": 16000}},
           "agent": {"think": {"provider": {"type": "open_ai"}}}}  # fmt: skip
    with pytest.raises(dgtrio.ServerError) as caught:
        async with dgtrio.open_agent(raw, **connect(fake)):
            pytest.fail("the block must not start")
    assert caught.value.code == "INVALID_SETTINGS"
    assert "agent.think.provider.model" in caught.value.description
    assert isinstance(caught.value.message, dgtrio.AgentV1Error)


async def test_settings_timeout_is_exact(
    silent_peer: Any, autojump_clock: trio.testing.MockClock
) -> None:
    start = trio.current_time()
    with pytest.raises(dgtrio.AcknowledgementTimeout, match="SettingsApplied within 3 s"):
        async with dgtrio.open_agent(
            settings(), settings_timeout=3, base_url=silent_peer.url, api_key=API_KEY
        ):
            pass
    assert trio.current_time() - start == pytest.approx(3)
    assert json.loads(silent_peer.received[0][1])["type"] == "Settings"


async def test_a_conversation_turn_in_order(nursery: trio.Nursery) -> None:
    fake = await serve(nursery)
    async with dgtrio.open_agent(settings(), **connect(fake)) as agent:
        await until(agent, dgtrio.AgentV1SettingsApplied)
        await agent.inject_user_message("Hello there")
        turn = await until(agent, dgtrio.AgentV1AgentAudioDone)
    kinds = [n for n in names(turn) if n != "Audio"]
    assert kinds == [
        "ConversationText",
        "History",
        "AgentThinking",
        "ConversationText",
        "History",
        "AgentStartedSpeaking",
        "LatencyReport",
        "AgentAudioDone",
    ]
    assert (turn[0].role, turn[0].content) == ("user", "Hello there")
    assert (turn[3].role, turn[3].content) == ("assistant", "Hi! How can I help you?")
    audio = b"".join(m.data for m in turn if isinstance(m, dgtrio.AgentV1Audio))
    words = 6  # "Hi! How can I help you?"
    assert len(audio) == pytest.approx(words / FAST.words_per_second * 16000 * 2, rel=0.01)
    assert names(turn).index("Audio") > names(turn).index("AgentStartedSpeaking")


async def test_history_can_seed_a_new_conversation(nursery: trio.Nursery) -> None:
    fake = await serve(nursery)
    async with dgtrio.open_agent(settings(), **connect(fake)) as agent:
        await agent.inject_user_message("Hello")
        turn = await until(agent, dgtrio.AgentV1AgentAudioDone)
    history = [m for m in turn if isinstance(m, dgtrio.AgentV1History)]
    resumed = settings(context=ag.Context(messages=history))
    async with dgtrio.open_agent(resumed, **connect(fake)):
        pass
    sent = fake.sessions[1].received[0].json()["agent"]["context"]["messages"]
    assert sent == [
        {"type": "History", "role": "user", "content": "Hello"},
        {"type": "History", "role": "assistant", "content": "Hi! How can I help you?"},
    ]


# -- keepalive ------------------------------------------------------------------------------


async def test_keepalive_every_8_s_of_silence_only(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    fake = await serve(nursery)
    async with dgtrio.open_agent(settings(), **connect(fake)) as agent:
        (session,) = fake.sessions
        opened = session.received[0].time
        await trio.sleep(20)
        for frame in frames(pcm16(1.0)):  # 20 ms frames for one second: no keepalive
            await agent.send_audio(frame)
            await trio.sleep(0.02)
        await trio.sleep(12)
        assert agent.statistics().keepalives_sent == 3
    times = [
        f.time - opened for f in session.received if f.is_text and f.json()["type"] == "KeepAlive"
    ]
    last_audio = max(f.time for f in session.received if not f.is_text) - opened
    assert times[:2] == pytest.approx([8, 16])
    assert times[2] == pytest.approx(last_audio + 8, abs=0.02)
    assert not any(m.get("type") == "Error" for m in (f.json() for f in session.sent if f.is_text))


async def test_without_keepalive_the_servers_timeout_error_ends_iteration(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    fake = await serve(nursery)
    async with dgtrio.open_agent(settings(), keepalive_interval=None, **connect(fake)) as agent:
        opened = trio.current_time()
        seen = []
        with pytest.raises(dgtrio.ServerError) as caught:
            async for message in agent:
                seen.append(message)
        assert trio.current_time() - opened == pytest.approx(10)
        assert caught.value.code == "CLIENT_MESSAGE_TIMEOUT"
        assert isinstance(seen[-1], dgtrio.AgentV1Error)  # delivered, then raised
        with pytest.raises(dgtrio.ServerError):
            await agent.keep_alive()


# -- updates and injections -------------------------------------------------------------------


async def test_updates_await_their_acknowledgements(nursery: trio.Nursery) -> None:
    fake = await serve(nursery)
    async with (
        dgtrio.open_agent(settings(), **connect(fake)) as agent,
        trio.open_nursery() as drain,
    ):
        drain.start_soon(aiter_drain, agent)
        assert isinstance(await agent.update_prompt("Be terse."), dgtrio.AgentV1PromptUpdated)
        speak = ag.Speak(provider=ag.DeepgramSpeak(model="aura-2-zeus-en"))
        assert isinstance(await agent.update_speak([speak]), dgtrio.AgentV1SpeakUpdated)
        think = ag.Think(provider=ag.AnthropicThink(model="claude-3-5-haiku-latest"))
        assert isinstance(await agent.update_think(think), dgtrio.AgentV1ThinkUpdated)
        listen = ag.DeepgramListenV2(model="flux-general-en", eot_threshold=0.8)
        assert isinstance(await agent.update_listen(listen), dgtrio.AgentV1ListenUpdated)
        drain.cancel_scope.cancel()
    sent = [m for m in fake.sessions[0].messages if m["type"].startswith("Update")]
    zeus = {"type": "deepgram", "model": "aura-2-zeus-en"}
    haiku = {"type": "anthropic", "model": "claude-3-5-haiku-latest"}
    flux = {"type": "deepgram", "version": "v2", "model": "flux-general-en", "eot_threshold": 0.8}
    assert sent == [
        {"type": "UpdatePrompt", "prompt": "Be terse."},
        {"type": "UpdateSpeak", "speak": [{"provider": zeus}]},
        {"type": "UpdateThink", "think": {"provider": haiku}},
        {"type": "UpdateListen", "listen": {"provider": flux}},
    ]


async def aiter_drain(agent: dgtrio.AgentConnection) -> None:
    async for _ in agent:
        pass


async def test_an_update_the_server_refuses_raises(nursery: trio.Nursery) -> None:
    fake = await serve(nursery)
    async with dgtrio.open_agent(settings(), **connect(fake)) as agent:
        with pytest.raises(dgtrio.ServerError, match=r"speak\.provider\.type"):
            await agent.update_speak({"provider": {"model": "aura-2-zeus-en"}})


async def test_an_unanswered_update_times_out(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    url = await welcome_only_peer(nursery)
    async with dgtrio.open_agent(settings(), base_url=url, api_key=API_KEY) as agent:
        start = trio.current_time()
        with pytest.raises(dgtrio.AcknowledgementTimeout, match="PromptUpdated within 2 s"):
            await agent.update_prompt("x", timeout=2)
        assert trio.current_time() - start == pytest.approx(2)


async def welcome_only_peer(nursery: trio.Nursery, refuse: tuple[str, str] | None = None) -> str:
    """A server that applies any settings and then says nothing, but for an ``Error``
    with ``refuse``'s code to each message of ``refuse``'s type."""

    async def handle(request: trio_websocket.WebSocketRequest) -> None:
        ws = await request.accept()
        await ws.send_message('{"type":"Welcome","request_id":"r"}')
        await ws.get_message()
        await ws.send_message('{"type":"SettingsApplied"}')
        try:
            while True:
                message = await ws.get_message()
                kind = json.loads(message).get("type") if isinstance(message, str) else None
                if refuse is not None and kind == refuse[0]:
                    error = {"type": "Error", "code": refuse[1], "description": "No."}
                    await ws.send_message(json.dumps(error))
        except trio_websocket.ConnectionClosed:
            pass

    server = await nursery.start(trio_websocket.serve_websocket, handle, "127.0.0.1", 0, None)
    return f"ws://127.0.0.1:{server.port}"


async def test_inject_agent_message_returns_when_accepted(nursery: trio.Nursery) -> None:
    fake = await serve(nursery)
    async with dgtrio.open_agent(settings(), **connect(fake)) as agent:
        text = await agent.inject_agent_message("Hello from the agent.")
        assert (text.role, text.content) == ("assistant", "Hello from the agent.")
    assert {"type": "InjectAgentMessage", "message": "Hello from the agent."} in fake.sessions[
        0
    ].messages


async def test_inject_agent_message_while_speaking_is_refused(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    fake = await serve(nursery, agent_script=AgentScript(realtime=True))
    async with dgtrio.open_agent(settings(), **connect(fake)) as agent:
        await agent.inject_user_message("Hello")
        await until(agent, dgtrio.AgentV1AgentStartedSpeaking)
        with pytest.raises(dgtrio.InjectionRefused) as caught:
            await agent.inject_agent_message("Me too.")
        assert isinstance(caught.value.message, dgtrio.AgentV1InjectionRefused)
        queued = await agent.inject_agent_message("After you.", behavior="queue", timeout=30)
        assert queued.content == "After you."


# -- tools ------------------------------------------------------------------------------------


def weather_tools(calls: list[str]) -> dgtrio.ToolRegistry:
    tools = dgtrio.ToolRegistry()

    @tools.register
    async def get_weather(city: str) -> dict[str, Any]:
        """The current weather in a city."""
        calls.append(city)
        return {"city": city, "sky": "sunny", "celsius": 21}

    return tools


async def test_registered_tools_are_declared_and_answered(nursery: trio.Nursery) -> None:
    fake = await serve(nursery)
    calls: list[str] = []
    async with dgtrio.open_agent(settings(), tools=weather_tools(calls), **connect(fake)) as agent:
        await agent.inject_user_message("What's the weather in Paris?")
        turn = await until(agent, dgtrio.AgentV1AgentAudioDone)
    session = fake.sessions[0]
    declared = session.received[0].json()["agent"]["think"]["functions"]
    assert declared == [
        {
            "name": "get_weather",
            "description": "The current weather in a city.",
            "parameters": {
                "type": "object",
                "properties": {"city": {"type": "string"}},
                "required": ["city"],
            },
        }
    ]
    assert calls == ["Paris"]
    (request,) = [m for m in turn if isinstance(m, dgtrio.AgentV1FunctionCallRequest)]
    (call,) = request.functions
    (response,) = [m for m in session.messages if m["type"] == "FunctionCallResponse"]
    content = '{"city":"Paris","sky":"sunny","celsius":21}'
    assert response == {"type": "FunctionCallResponse", "name": "get_weather", "content": content,
                        "id": call.id}  # fmt: skip
    (result,) = [m for m in turn if isinstance(m, dgtrio.ToolResult)]
    assert (result.call, result.status, result.content) == (call, "ok", content)
    replies = [m.content for m in turn if isinstance(m, dgtrio.AgentV1ConversationText)]
    assert replies[-1] == f"Here is the weather: {content}"


async def test_a_failing_tool_answers_an_error_and_the_conversation_goes_on(
    nursery: trio.Nursery,
) -> None:
    fake = await serve(nursery)
    tools = dgtrio.ToolRegistry()

    @tools.register
    async def get_weather(city: str) -> str:
        raise LookupError(f"no station in {city}")

    async with dgtrio.open_agent(settings(), tools=tools, **connect(fake)) as agent:
        await agent.inject_user_message("weather?")
        turn = await until(agent, dgtrio.AgentV1AgentAudioDone)
    (result,) = [m for m in turn if isinstance(m, dgtrio.ToolResult)]
    assert result.status == "error" and isinstance(result.error, LookupError)
    assert json.loads(result.content) == {"error": "LookupError: no station in Paris"}
    (response,) = [m for m in fake.sessions[0].messages if m["type"] == "FunctionCallResponse"]
    assert response["content"] == result.content


async def test_a_slow_tool_times_out_at_its_deadline(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    fake = await serve(nursery)
    tools = dgtrio.ToolRegistry()

    @tools.register(timeout=4)
    async def get_weather(city: str) -> str:
        await trio.sleep_forever()
        raise AssertionError("unreachable")

    async with dgtrio.open_agent(settings(), tools=tools, **connect(fake)) as agent:
        await agent.inject_user_message("weather?")
        turn = await until(agent, dgtrio.AgentV1AgentAudioDone)
    session = fake.sessions[0]
    (request,) = [
        f for f in session.sent if f.is_text and f.json()["type"] == "FunctionCallRequest"
    ]
    (response,) = [
        f for f in session.received if f.is_text and f.json()["type"] == "FunctionCallResponse"
    ]
    assert response.time - request.time == pytest.approx(4)
    assert json.loads(response.json()["content"]) == {"error": "get_weather timed out after 4 s"}
    (result,) = [m for m in turn if isinstance(m, dgtrio.ToolResult)]
    assert result.status == "timeout"
    assert result.duration == pytest.approx(4)


Hanging = tuple[trio.Event, trio.Event, list[dict[str, Any]]]


def register_hanging(tools: dgtrio.ToolRegistry, name: str) -> Hanging:
    """A tool that runs until cancelled: (started, cancelled, the arguments of each run)."""
    started, cancelled = trio.Event(), trio.Event()
    runs: list[dict[str, Any]] = []

    @tools.register(name=name, parameters={"type": "object"})
    async def hang(**arguments: Any) -> str:
        runs.append(arguments)
        started.set()
        try:
            await trio.sleep_forever()
        finally:
            cancelled.set()
        raise AssertionError("unreachable")

    return started, cancelled, runs


async def test_cancelled_calls_are_never_answered_and_ids_answered_once(
    nursery: trio.Nursery,
) -> None:
    fake = await serve(nursery)
    tools = dgtrio.ToolRegistry()
    started, cancelled, slow_runs = register_hanging(tools, "slow")
    runs: list[str] = []

    @tools.register
    async def fast(x: int) -> str:
        runs.append(f"fast {x}")
        return str(x)

    def request(*calls: tuple[str, str]) -> dict[str, Any]:
        functions = [
            {"id": i, "name": n, "arguments": '{"x": 1}', "client_side": True} for i, n in calls
        ]
        return {"type": "FunctionCallRequest", "functions": functions}

    async with dgtrio.open_agent(settings(), tools=tools, **connect(fake)) as agent:
        (session,) = fake.sessions
        await session.send_json(request(("c1", "slow"), ("c2", "fast")))
        await session.send_json(request(("c2", "fast")))  # a repeated id
        await started.wait()
        await session.send_json(
            {"type": "FunctionCallCancelled", "functions": [{"id": "c1", "name": "slow"}]}
        )
        await cancelled.wait()
        results = []
        async for message in agent:
            if isinstance(message, dgtrio.ToolResult):
                results.append(message)
                if len(results) == 2:
                    break
        with pytest.raises(ValueError, match="answered or withdrawn"):
            await agent.send_function_call_response("c1", "late")
        await agent.keep_alive()  # a marker: everything before it was sent
    statuses = sorted((r.call.id, r.status) for r in results)
    assert statuses == [("c1", "cancelled"), ("c2", "ok")]
    assert (runs, slow_runs) == (["fast 1"], [{"x": 1}])
    responses = [m for m in session.messages if m["type"] == "FunctionCallResponse"]
    assert responses == [
        {"type": "FunctionCallResponse", "name": "fast", "content": "1", "id": "c2"}
    ]


async def test_a_barge_in_withdraws_the_call_and_cancels_the_tool(nursery: trio.Nursery) -> None:
    fake = await serve(nursery)
    tools = dgtrio.ToolRegistry()
    started, cancelled, runs = register_hanging(tools, "get_weather")

    async with dgtrio.open_agent(settings(), tools=tools, **connect(fake)) as agent:
        await agent.inject_user_message("What's the weather?")
        await started.wait()
        await agent.inject_user_message("Hello")  # the user speaks again: the call is moot
        turn = await until(agent, dgtrio.AgentV1AgentAudioDone)
        assert cancelled.is_set()
    assert runs == [{"city": "Paris"}]
    (withdrawn,) = [m for m in turn if isinstance(m, dgtrio.AgentV1FunctionCallCancelled)]
    (result,) = [m for m in turn if isinstance(m, dgtrio.ToolResult)]
    assert result.status == "cancelled" and result.call.id == withdrawn.functions[0].id
    assert not [m for m in fake.sessions[0].messages if m["type"] == "FunctionCallResponse"]
    replies = [m.content for m in turn if isinstance(m, dgtrio.AgentV1ConversationText)]
    assert replies[-1] == "Hi! How can I help you?"


async def test_manual_function_call_responses_are_checked(nursery: trio.Nursery) -> None:
    fake = await serve(nursery)
    script = AgentScript(realtime=False, calls=[ScriptedCall("time", "now", {})])
    fake.agent_script = script
    config = settings(
        think=ag.Think(provider=ag.OpenAiThink(model="m"), functions=[ag.Function(name="now")])
    )
    async with dgtrio.open_agent(config, **connect(fake)) as agent:
        with pytest.raises(ValueError, match="never requested"):
            await agent.send_function_call_response("nope", "x")
        await agent.inject_user_message("What time is it?")
        request = (await until(agent, dgtrio.AgentV1FunctionCallRequest))[-1]
        call = request.functions[0]
        with pytest.raises(ValueError, match="is for 'now', not 'then'"):
            await agent.send_function_call_response(call.id, "noon", name="then")
        await agent.send_function_call_response(call.id, {"time": "noon"})
        with pytest.raises(ValueError, match="answered or withdrawn"):
            await agent.send_function_call_response(call.id, "noon")
        turn = await until(agent, dgtrio.AgentV1AgentAudioDone)
        with pytest.raises(ValueError, match="behavior is"):
            await agent.inject_agent_message("x", behavior="shout")  # type: ignore[arg-type]
    replies = [m.content for m in turn if isinstance(m, dgtrio.AgentV1ConversationText)]
    assert replies == ['{"time":"noon"}']


def test_tools_need_a_think_block_and_unique_names() -> None:
    tools = weather_tools([])
    with pytest.raises(dgtrio.ConfigurationError, match=r"agent\.think"):
        dgtrio.open_agent(ag.AgentV1Settings(agent=ag.AgentConfig()), tools=tools)
    clash = settings(
        think=ag.Think(
            provider=ag.OpenAiThink(model="m"), functions=[ag.Function(name="get_weather")]
        )
    )
    with pytest.raises(dgtrio.ConfigurationError, match="get_weather: declared"):
        dgtrio.open_agent(clash, tools=tools)


# -- the escape hatches and bad input --------------------------------------------------------------


async def test_raw_json_and_unknown_messages_pass_through(nursery: trio.Nursery) -> None:
    fake = await serve(nursery)
    async with dgtrio.open_agent(settings(), **connect(fake)) as agent:
        await until(agent, dgtrio.AgentV1SettingsApplied)
        (session,) = fake.sessions
        await session.send_json({"type": "EndOfThought"})
        assert await agent.receive() == dgtrio.UnknownMessage(
            "EndOfThought", {"type": "EndOfThought"}
        )
        await agent.send_json({"type": "ForceEndTurn"})
        with pytest.raises(ValueError, match="string 'type'"):
            await agent.send_json({"kind": "x"})
        await agent.keep_alive()
    assert {"type": "ForceEndTurn"} in session.messages


async def test_audio_that_splits_a_sample_is_refused(nursery: trio.Nursery) -> None:
    fake = await serve(nursery)
    async with dgtrio.open_agent(settings(), **connect(fake)) as agent:
        with pytest.raises(
            dgtrio.AudioFormatError, match=r"2-byte samples \(linear16 at 16000 Hz, mono\)"
        ):
            await agent.send_audio(b"\x00\x01\x02")


async def test_the_key_stays_out_of_repr_and_errors(nursery: trio.Nursery) -> None:
    fake = await serve(nursery)
    async with dgtrio.open_agent(settings(), **connect(fake)) as agent:
        assert API_KEY not in repr(agent)
        assert "AgentConnection open" in repr(agent)
    with pytest.raises(dgtrio.AuthenticationFailed) as caught:
        async with dgtrio.open_agent(settings(), base_url=fake.url, api_key="sk-wrong-key"):
            pass
    assert "sk-wrong-key" not in str(caught.value)


# -- Think Live, ForceEndTurn and the custom think provider ---------------------------------

LIVE = ag.ThinkLive(provider=ag.DeepgramThinkLive(frustration_max_count=2))


def frustrations(messages: list[Any]) -> list[tuple[int, bool]]:
    return [
        (m.count, m.escalated) for m in messages if isinstance(m, dgtrio.AgentV1FrustrationDetected)
    ]


async def test_think_live_frustration_and_its_update(nursery: trio.Nursery) -> None:
    fake = await serve(nursery)
    async with dgtrio.open_agent(settings(think_live=LIVE), **connect(fake)) as agent:
        await agent.inject_user_message("This is useless.")
        first = await until(agent, dgtrio.AgentV1AgentAudioDone)
        update = ag.DeepgramThinkLive(frustration_max_count=1, restricted_terms=["refund"])
        assert isinstance(await agent.update_think_live(update), dgtrio.AgentV1ThinkLiveUpdated)
        await agent.inject_user_message("Still useless!")
        second = await until(agent, dgtrio.AgentV1AgentAudioDone)
    assert frustrations(first) == [(1, False)]
    assert frustrations(second) == [(2, True)]  # max 1 now: escalated
    assert names(first)[2:6] == [  # after Welcome and SettingsApplied
        "ConversationText",
        "History",
        "FrustrationDetected",
        "AgentThinking",
    ]
    assert names(second)[0] == "ThinkLiveUpdated"  # iterated too
    session = fake.sessions[0]
    assert session.received[0].json()["agent"]["think_live"] == {
        "provider": {"type": "deepgram", "version": "v1", "frustration_max_count": 2}
    }
    assert [m["type"] for m in session.messages] == [
        "Settings", "InjectUserMessage", "UpdateThink_Live", "InjectUserMessage",
    ]  # fmt: skip
    assert session.messages[2] == {
        "type": "UpdateThink_Live",
        "think_live": {
            "provider": {
                "type": "deepgram",
                "version": "v1",
                "frustration_max_count": 1,
                "restricted_terms": ["refund"],
            }
        },
    }


async def test_update_think_live_takes_its_json_form_checked(nursery: trio.Nursery) -> None:
    fake = await serve(nursery)
    async with (
        dgtrio.open_agent(settings(), **connect(fake)) as agent,
        trio.open_nursery() as drain,
    ):
        drain.start_soon(aiter_drain, agent)
        raw = {"provider": {"type": "deepgram", "version": "v1", "presence_check_max_count": 0}}
        await agent.update_think_live(raw)  # turns Think Live on (the fake allows it)
        await agent.update_think_live(ag.ThinkLive(provider=ag.DeepgramThinkLive()))
        drain.cancel_scope.cancel()
    updates = [
        m["think_live"] for m in fake.sessions[0].messages if m["type"] == "UpdateThink_Live"
    ]
    assert updates == [raw, {"provider": {"type": "deepgram", "version": "v1"}}]


@pytest.mark.parametrize(
    ("think_live", "error", "match"),
    [
        ("deepgram", TypeError, "ThinkLive, DeepgramThinkLive or a mapping, not str"),
        (ag.DeepgramSpeak(model="aura-2-thalia-en"), TypeError, "not DeepgramSpeak"),
        ({"provider": {"type": "deepgram", "version": "v2"}}, dgtrio.SettingsError,
         r"^think_live\.provider\.version: 'v2' is not one of v1"),
        ({"provider": {"frustration_count": 2}}, dgtrio.SettingsError,
         r"^think_live\.provider\.frustration_count: unknown key; did you mean frustration_max"),
        ({"provider": {"presence_check_max_count": -1}}, dgtrio.SettingsError,
         r"^think_live\.provider\.presence_check_max_count: must be at least 0"),
        ({"provider": 5}, dgtrio.SettingsError, r"^think_live\.provider: must be an object"),
        ({}, dgtrio.SettingsError, r"^think_live\.provider: required"),
        ([("provider", {})], TypeError, "not list"),
    ],
)  # fmt: skip
async def test_update_think_live_refuses_before_sending(
    nursery: trio.Nursery, think_live: Any, error: type[Exception], match: str
) -> None:
    fake = await serve(nursery)
    async with dgtrio.open_agent(settings(), **connect(fake)) as agent:
        with pytest.raises(error, match=match):
            await agent.update_think_live(think_live)
        await agent.keep_alive()  # a marker: everything before it was sent
    assert "UpdateThink_Live" not in [m["type"] for m in fake.sessions[0].messages]


async def test_update_think_live_misuse(nursery: trio.Nursery) -> None:
    fake = await serve(nursery)
    provider = ag.DeepgramThinkLive()
    async with dgtrio.open_agent(settings(), **connect(fake)) as agent:
        with pytest.raises(ValueError, match="positive number of seconds"):
            await agent.update_think_live(provider, timeout=0)
        with pytest.raises(TypeError, match="number of seconds, not str"):
            await agent.update_think_live(provider, timeout="5")  # type: ignore[arg-type]
        with pytest.raises(TypeError, match="unexpected keyword argument 'timout'"):
            await agent.update_think_live(provider, timout=5)  # type: ignore[call-arg]
        await agent.keep_alive()
    assert "UpdateThink_Live" not in [m["type"] for m in fake.sessions[0].messages]
    with pytest.raises(trio.ClosedResourceError):
        await agent.update_think_live(provider)


async def test_concurrent_think_live_updates_each_get_an_acknowledgement(
    nursery: trio.Nursery,
) -> None:
    fake = await serve(nursery)
    acks: list[Any] = []

    async def update(count: int) -> None:
        provider = ag.DeepgramThinkLive(frustration_max_count=count)
        acks.append(await agent.update_think_live(provider))

    async with (
        dgtrio.open_agent(settings(), **connect(fake)) as agent,
        trio.open_nursery() as drain,
    ):
        drain.start_soon(aiter_drain, agent)
        async with trio.open_nursery() as both:
            both.start_soon(update, 1)
            both.start_soon(update, 2)
        drain.cancel_scope.cancel()
    assert len(acks) == 2 and all(isinstance(a, dgtrio.AgentV1ThinkLiveUpdated) for a in acks)
    assert acks[0] is not acks[1]
    sent = [m for m in fake.sessions[0].messages if m["type"] == "UpdateThink_Live"]
    assert sorted(m["think_live"]["provider"]["frustration_max_count"] for m in sent) == [1, 2]


async def test_a_refused_think_live_update_raises_the_servers_error(nursery: trio.Nursery) -> None:
    # As a project outside Think Live's early access is answered.
    url = await welcome_only_peer(nursery, ("UpdateThink_Live", "UNPARSABLE_CLIENT_MESSAGE"))
    async with dgtrio.open_agent(settings(), base_url=url, api_key=API_KEY) as agent:
        with pytest.raises(dgtrio.ServerError) as caught:
            await agent.update_think_live(ag.DeepgramThinkLive())
    assert caught.value.code == "UNPARSABLE_CLIENT_MESSAGE"
    assert isinstance(caught.value.message, dgtrio.AgentV1Error)


async def test_filler_fields_need_think_live(nursery: trio.Nursery) -> None:
    fake = await serve(nursery)
    filler = ag.Think(
        provider=ag.OpenAiThink(model="m"),
        functions=[ag.Function(name="now", initial_agent_filler=True)],
    )
    async with (
        dgtrio.open_agent(settings(), **connect(fake)) as agent,
        trio.open_nursery() as drain,
    ):
        drain.start_soon(aiter_drain, agent)
        with pytest.raises(dgtrio.SettingsError) as caught:
            await agent.update_think([ag.Think(provider=ag.OpenAiThink(model="m")), filler])
        assert caught.value.path == "think[1].functions[0].initial_agent_filler"
        assert "Think Live" in caught.value.problem
        await agent.update_think_live(ag.DeepgramThinkLive())
        assert isinstance(await agent.update_think(filler), dgtrio.AgentV1ThinkUpdated)
        drain.cancel_scope.cancel()
    (sent,) = [m for m in fake.sessions[0].messages if m["type"] == "UpdateThink"]
    assert sent["think"]["functions"] == [{"name": "now", "initial_agent_filler": True}]


async def test_registered_tools_declare_deferral_and_fillers(nursery: trio.Nursery) -> None:
    fake = await serve(nursery)
    tools = dgtrio.ToolRegistry()

    @tools.register(defer_until_eot=True, initial_agent_filler=True, agent_filler_max_count=2,
                    agent_filler_interval_ms=4000)  # fmt: skip
    async def refund(order: str) -> str:
        return "refunded"

    # Validated when registered, before any conversation.
    with pytest.raises(dgtrio.SettingsError, match="agent_filler_interval_ms"):
        tools.register(name="slow", agent_filler_interval_ms=500)(refund)
    with pytest.raises(dgtrio.SettingsError, match="defer_until_eot"):
        tools.register(name="late", defer_until_eot="yes")(refund)  # type: ignore[call-overload]
    assert "slow" not in tools and "late" not in tools
    # The fillers need Think Live: refused when open_agent is called, before I/O.
    with pytest.raises(dgtrio.SettingsError) as caught:
        dgtrio.open_agent(settings(), tools=tools, **connect(fake))
    assert caught.value.path == "agent.think.functions[0].initial_agent_filler"
    assert fake.sessions == []
    async with dgtrio.open_agent(settings(think_live=LIVE), tools=tools, **connect(fake)):
        pass
    (sent,) = [m for m in fake.sessions[0].messages if m["type"] == "Settings"]
    assert sent["agent"]["think"]["functions"][0] == {
        "name": "refund",
        "parameters": {
            "type": "object",
            "properties": {"order": {"type": "string"}},
            "required": ["order"],
        },
        "defer_until_eot": True,
        "initial_agent_filler": True,
        "agent_filler_max_count": 2,
        "agent_filler_interval_ms": 4000,
    }


async def test_settings_sent_unchecked_meet_the_servers_filler_rules(nursery: trio.Nursery) -> None:
    fake = await serve(nursery)
    think = {"provider": {"type": "open_ai", "model": "m"},
             "functions": [{"name": "f", "agent_filler_max_count": 2}]}  # fmt: skip
    raw = {"audio": {"input": {"encoding": "linear16", "sample_rate": 16000}},
           "agent": {"think": think}}  # fmt: skip
    with pytest.raises(dgtrio.SettingsError, match=r"agent\.think\.functions\[0\]"):
        ag.AgentV1Settings.from_dict(raw)  # what dgtrio's classes say first
    with pytest.raises(dgtrio.ServerError) as caught:
        async with dgtrio.open_agent(raw, **connect(fake)):
            pytest.fail("the block must not start")
    assert caught.value.code == "INVALID_SETTINGS"
    assert "agent.think.functions[0].agent_filler_max_count" in caught.value.description
    assert fake.sessions[0].server_close == (1000, "")


async def test_a_dynamic_agent_message_is_a_think_live_filler(nursery: trio.Nursery) -> None:
    fake = await serve(nursery)
    async with dgtrio.open_agent(settings(think_live=LIVE), **connect(fake)) as agent:
        await agent.inject_user_message("Hello")  # the agent's reply comes first
        text = await agent.inject_dynamic_agent_message(behavior="queue")
        assert (text.role, text.content, text.conversational_behavior) == (
            "assistant",
            FAST.filler_line,
            "filler",
        )
        with pytest.raises(ValueError, match="behavior is"):
            await agent.inject_dynamic_agent_message(behavior="now")  # type: ignore[arg-type]
        with pytest.raises(TypeError, match="positional"):
            await agent.inject_dynamic_agent_message("queue")  # type: ignore[call-arg]
        await agent.keep_alive()
    injected = [m for m in fake.sessions[0].messages if m["type"] == "InjectAgentMessage"]
    assert injected == [{"type": "InjectAgentMessage", "behavior": "queue", "is_dynamic": True}]


async def test_a_dynamic_agent_message_needs_think_live(nursery: trio.Nursery) -> None:
    fake = await serve(nursery)
    async with dgtrio.open_agent(settings(), **connect(fake)) as agent:
        with pytest.raises(dgtrio.ConfigurationError, match="needs Think Live"):
            await agent.inject_dynamic_agent_message()
        await agent.keep_alive()
    assert "InjectAgentMessage" not in [m["type"] for m in fake.sessions[0].messages]
    # A stored agent may have Think Live: the server decides (the fake's has none).
    stored = ag.AgentV1Settings(agent="6f0c2a3e-8d6b-4f7e-9a31-2c5d8b9e0f14")
    async with dgtrio.open_agent(stored, **connect(fake)) as agent:
        with pytest.raises(dgtrio.InjectionRefused, match="Think Live is off"):
            await agent.inject_dynamic_agent_message()


async def test_force_end_turn_makes_the_agent_answer_now(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    fake = await serve(nursery)
    async with dgtrio.open_agent(settings(), **connect(fake)) as agent:
        for frame in frames(pcm16(0.5, rate=16000), 640):  # speech, and no silence after
            await agent.send_audio(frame)
        await until(agent, dgtrio.AgentV1UserStartedSpeaking)
        await agent.force_end_turn()
        turn = await until(agent, dgtrio.AgentV1AgentAudioDone)
    assert (turn[0].role, turn[0].content) == ("user", FAST.user_lines[0])
    kinds = sent_types(fake.sessions[0])
    assert kinds[0] == "Settings" and kinds[-1] == "ForceEndTurn"
    assert set(kinds[1:-1]) == {"<audio>"}
    assert fake.sessions[0].messages[-1] == {"type": "ForceEndTurn"}
    with pytest.raises(trio.ClosedResourceError):
        await agent.force_end_turn()


@pytest.mark.parametrize(
    "content",
    [{"query": "orders", "ids": [1, 2.5], "deep": {"ok": True, "none": None}}, None, "text", 7],
    ids=repr,
)
async def test_custom_think_provider_messages_round_trip(
    nursery: trio.Nursery, content: Any
) -> None:
    fake = await serve(nursery)
    async with dgtrio.open_agent(settings(), **connect(fake)) as agent:
        await agent.send_custom_to_think_provider(content)
        (echo,) = [m for m in await until(agent, dgtrio.AgentV1CustomFromThinkProvider)
                   if isinstance(m, dgtrio.AgentV1CustomFromThinkProvider)]  # fmt: skip
    assert echo.content == content
    assert fake.sessions[0].messages[-1] == {"type": "__customToThinkProvider", "content": content}


async def test_custom_think_provider_content_must_be_json(nursery: trio.Nursery) -> None:
    fake = await serve(nursery)
    async with dgtrio.open_agent(settings(), **connect(fake)) as agent:
        for bad, error, match in [
            (b"raw", TypeError, r"^content is bytes, not a JSON value"),
            ({"a": [1, {2, 3}]}, TypeError, r"^content\['a'\]\[1\] is set"),
            ({1: "one"}, TypeError, r"^content has the key 1: JSON keys are strings"),
            ({"a": [float("nan")]}, ValueError, r"^content\['a'\]\[0\] is nan"),
            (float("inf"), ValueError, "JSON cannot say"),
            (object(), TypeError, "object, not a JSON value"),
        ]:
            with pytest.raises(error, match=match):
                await agent.send_custom_to_think_provider(bad)
        # A tuple is an array, any mapping an object.
        await agent.send_custom_to_think_provider(MappingProxyType({"k": ("a", 1)}))
        await agent.keep_alive()
    customs = [m for m in fake.sessions[0].messages if m["type"] == "__customToThinkProvider"]
    assert customs == [{"type": "__customToThinkProvider", "content": {"k": ["a", 1]}}]
    with pytest.raises(trio.ClosedResourceError):
        await agent.send_custom_to_think_provider({})
