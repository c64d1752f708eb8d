"""The agent's sans-io parts: Settings, server messages, the tool registry."""

from __future__ import annotations

import enum
import json
from pathlib import Path
from typing import Annotated, Any, Literal

import pytest

import dgtrio
from dgtrio import agent as ag
from dgtrio._codec import encode_message
from dgtrio.agent._messages import CODEC

from .conftest import RECORDED

AGENT_ID = "6f0c2a3e-8d6b-4f7e-9a31-2c5d8b9e0f14"


def full_settings() -> ag.AgentV1Settings:
    credentials = ag.AwsCredentials(
        type="sts",
        region="us-east-1",
        access_key_id="AKIA",
        secret_access_key="s3",
        session_token="t",
    )
    return ag.AgentV1Settings(
        agent=ag.AgentConfig(
            language="en",
            context=ag.Context(
                messages=[
                    ag.AgentV1History(role="user", content="Hi"),
                    ag.AgentV1FunctionCallHistory(
                        function_calls=(
                            ag.FunctionCallRecord(
                                id="c1", name="f", client_side=True, arguments="{}", response="ok"
                            ),
                        )
                    ),
                ]
            ),
            listen=ag.Listen(
                provider=ag.DeepgramListenV2(
                    model="flux-general-en", eot_threshold=0.8, eager_eot_threshold=0.5
                )
            ),
            think=[
                ag.Think(
                    provider=ag.OpenAiThink(model="gpt-4o-mini", temperature=0.2),
                    prompt="Be brief.",
                    functions=[
                        ag.Function(name="lookup", parameters={"type": "object"}),
                        ag.Function(
                            name="remote",
                            endpoint=ag.FunctionEndpoint(url="https://x.test/f", method="post"),
                        ),
                    ],
                ),
                ag.Think(provider=ag.AnthropicThink(model="claude-3-5-haiku-latest")),
                ag.Think(provider=ag.GoogleThink(model="gemini-2.0-flash", temperature=1.5)),
                ag.Think(
                    provider=ag.GroqThink(model="openai/gpt-oss-20b", reasoning_mode="low"),
                    endpoint=ag.Endpoint(url="https://groq.test", headers={"authorization": "k"}),
                    context_length="max",
                ),
                ag.Think(
                    provider=ag.AwsBedrockThink(
                        model="anthropic/claude-3-5-haiku-20240307-v1:0", credentials=credentials
                    ),
                    endpoint=ag.Endpoint(url="https://bedrock.test"),
                ),
            ],
            speak=[
                ag.Speak(provider=ag.DeepgramSpeak(model="aura-2-thalia-en", speed=1.1)),
                ag.Speak(
                    provider=ag.DeepgramSpeak(model="flux-alexis-en", version="v2", expressivity=1)
                ),
                ag.Speak(
                    provider=ag.ElevenLabsSpeak(model_id="eleven_turbo_v2_5", language="en"),
                    endpoint=ag.Endpoint(url="wss://api.elevenlabs.test/v1"),
                ),
                ag.Speak(
                    provider=ag.CartesiaSpeak(
                        model_id="sonic-2", voice=ag.CartesiaVoice(mode="id", id="v1"), volume=1.0
                    ),
                    endpoint=ag.Endpoint(url="https://cartesia.test"),
                ),
                ag.Speak(
                    provider=ag.OpenAiSpeak(model="tts-1", voice="alloy"),
                    endpoint=ag.Endpoint(url="https://openai.test"),
                ),
                ag.Speak(
                    provider=ag.AwsPollySpeak(
                        voice="Joanna", language="en-US", engine="neural", credentials=credentials
                    ),
                    endpoint=ag.Endpoint(url="https://polly.test"),
                ),
            ],
            greeting="Hello!",
        ),
        audio=ag.AudioConfig(
            input=ag.AudioInput(encoding="mulaw", sample_rate=8000),
            output=ag.AudioOutput(encoding="linear16", sample_rate=24000, container="wav"),
        ),
        tags=["support", "test"],
        experimental=True,
        mip_opt_out=False,
        flags=ag.Flags(history=False),
    )


def test_settings_encode_to_the_wire_shape() -> None:
    wire = json.loads(encode_message(full_settings()))
    assert wire["type"] == "Settings"
    assert wire["audio"] == {
        "input": {"encoding": "mulaw", "sample_rate": 8000},
        "output": {"encoding": "linear16", "sample_rate": 24000, "container": "wav"},
    }
    agent = wire["agent"]
    assert agent["listen"] == {
        "provider": {
            "type": "deepgram",
            "version": "v2",
            "model": "flux-general-en",
            "eot_threshold": 0.8,
            "eager_eot_threshold": 0.5,
        }
    }
    assert [t["provider"]["type"] for t in agent["think"]] == [
        "open_ai",
        "anthropic",
        "google",
        "groq",
        "aws_bedrock",
    ]
    assert agent["think"][0] == {
        "provider": {"type": "open_ai", "model": "gpt-4o-mini", "temperature": 0.2},
        "prompt": "Be brief.",
        "functions": [
            {"name": "lookup", "parameters": {"type": "object"}},
            {"name": "remote", "endpoint": {"url": "https://x.test/f", "method": "post"}},
        ],
    }
    assert agent["think"][3]["context_length"] == "max"
    assert [s["provider"]["type"] for s in agent["speak"]] == [
        "deepgram",
        "deepgram",
        "eleven_labs",
        "cartesia",
        "open_ai",
        "aws_polly",
    ]
    assert agent["speak"][3]["provider"]["voice"] == {"mode": "id", "id": "v1"}
    assert agent["context"]["messages"] == [
        {"type": "History", "role": "user", "content": "Hi"},
        {
            "type": "History",
            "function_calls": [
                {"id": "c1", "name": "f", "client_side": True, "arguments": "{}", "response": "ok"}
            ],
        },
    ]
    assert wire["tags"] == ["support", "test"]
    assert wire["flags"] == {"history": False}
    assert wire["experimental"] is True and wire["mip_opt_out"] is False


def test_unset_optionals_are_omitted() -> None:
    settings = ag.AgentV1Settings(
        agent=ag.AgentConfig(think=ag.Think(provider=ag.OpenAiThink(model="gpt-4o")))
    )
    assert json.loads(encode_message(settings)) == {
        "type": "Settings",
        "agent": {"think": {"provider": {"type": "open_ai", "model": "gpt-4o"}}},
        "audio": {"input": {"encoding": "linear16", "sample_rate": 24000}},
    }


def test_from_dict_round_trips_the_wire_form() -> None:
    settings = full_settings()
    wire = json.loads(encode_message(settings))
    assert ag.AgentV1Settings.from_dict(wire) == settings


def test_a_stored_agent_id_replaces_the_agent_object() -> None:
    settings = ag.AgentV1Settings(agent=AGENT_ID)
    assert json.loads(encode_message(settings))["agent"] == AGENT_ID
    assert ag.AgentV1Settings.from_dict({"agent": AGENT_ID, "audio": {}}).agent == AGENT_ID
    with pytest.raises(dgtrio.SettingsError, match=r"AgentV1Settings\.agent"):
        ag.AgentV1Settings(agent="my-agent")


def test_custom_providers_pass_through() -> None:
    think = ag.Think(
        provider=ag.CustomProvider(type="deepgram", fields={"model": "think-fast"}),
    )
    wire = json.loads(encode_message(ag.AgentV1Settings(agent=ag.AgentConfig(think=think))))
    assert wire["agent"]["think"] == {"provider": {"type": "deepgram", "model": "think-fast"}}
    back = ag.AgentV1Settings.from_dict(wire)
    assert isinstance(back.agent, ag.AgentConfig)
    assert back.agent.think == think


def test_listen_version_is_inferred_like_the_official_sdk() -> None:
    data = {"agent": {"listen": {"provider": {"type": "deepgram", "model": "flux-general-en",
                                               "eot_threshold": 0.7}}}}  # fmt: skip
    settings = ag.AgentV1Settings.from_dict(data)
    assert isinstance(settings.agent, ag.AgentConfig) and settings.agent.listen
    assert isinstance(settings.agent.listen.provider, ag.DeepgramListenV2)


@pytest.mark.parametrize(
    ("build", "path"),
    [
        (lambda: ag.OpenAiThink(model="gpt-4o", temperature=2.5), "OpenAiThink.temperature"),
        (lambda: ag.AnthropicThink(model="c", temperature=1.5), "AnthropicThink.temperature"),
        (
            lambda: ag.OpenAiThink(model="gpt-4o", reasoning_mode="max"),  # type: ignore[arg-type]
            "OpenAiThink.reasoning_mode",
        ),
        (lambda: ag.OpenAiThink(model=""), "OpenAiThink.model"),
        (lambda: ag.AudioInput(encoding="wav"), "AudioInput.encoding"),  # type: ignore[arg-type]
        (lambda: ag.AudioInput(sample_rate=16000.5), "AudioInput.sample_rate"),  # type: ignore[arg-type]
        (lambda: ag.AudioOutput(container="mp4"), "AudioOutput.container"),  # type: ignore[arg-type]
        (
            lambda: ag.DeepgramListenV2(model="flux", eot_threshold=0.95),
            "DeepgramListenV2.eot_threshold",
        ),
        (
            lambda: ag.DeepgramListenV2(model="flux", eot_threshold=0.6, eager_eot_threshold=0.7),
            "DeepgramListenV2.eager_eot_threshold",
        ),
        (lambda: ag.DeepgramSpeak(model="aura-2-thalia-en", speed=0.6), "DeepgramSpeak.speed"),
        (lambda: ag.DeepgramSpeak(model="aura", expressivity=1), "DeepgramSpeak.expressivity"),
        (
            lambda: ag.CartesiaSpeak(
                model_id="s", voice=ag.CartesiaVoice(mode="id", id="v"), volume=3
            ),
            "CartesiaSpeak.volume",
        ),
        (lambda: ag.Speak(provider=ag.OpenAiSpeak(model="tts-1", voice="alloy")), "Speak.endpoint"),
        (
            lambda: ag.Speak(
                provider=ag.OpenAiSpeak(model="tts-1", voice="alloy"),
                endpoint=ag.Endpoint(url="wss://x.test"),
            ),
            "Speak.endpoint",
        ),
        (lambda: ag.Think(provider=ag.GroqThink(model="g")), "Think.endpoint"),
        (
            lambda: ag.Think(provider=ag.OpenAiThink(model="m"), context_length=100),
            "Think.context_length",
        ),
        (
            lambda: ag.Think(
                provider=ag.OpenAiThink(model="m"),
                functions=[ag.Function(name="f"), ag.Function(name="f")],
            ),
            "Think.functions",
        ),
        (lambda: ag.Function(name="get weather"), "Function.name"),
        (lambda: ag.Function(name="f", parameters={"type": "string"}), "Function.parameters"),
        (
            lambda: ag.AwsCredentials(
                type="sts", region="r", access_key_id="a", secret_access_key="s"
            ),
            "AwsCredentials.session_token",
        ),
        (lambda: ag.AgentV1Settings(agent=ag.AgentConfig(), tags="x"), "AgentV1Settings.tags"),
        (lambda: ag.Flags(history="yes"), "Flags.history"),  # type: ignore[arg-type]
    ],
)
def test_construction_names_the_bad_field(build: Any, path: str) -> None:
    with pytest.raises(dgtrio.SettingsError) as caught:
        build()
    assert caught.value.path == path
    assert str(caught.value).startswith(f"{path}: ")
    assert isinstance(caught.value, dgtrio.ConfigurationError)


@pytest.mark.parametrize(
    ("data", "path", "problem"),
    [
        ({"audio": {}}, "agent", "required"),
        ({"agent": {}, "audio": {"input": {"encoding": "wav", "sample_rate": 1}}},
         "audio.input.encoding", "not one of"),
        ({"agent": {}, "audio": {"input": {"encoding": "linear16", "sample_rate": "16000"}}},
         "audio.input.sample_rate", "must be an integer"),
        ({"agent": {"think": {"provider": {"type": "open_ai"}}}}, "agent.think.provider.model",
         "required"),
        ({"agent": {"think": [{"provider": {"type": "open_ai", "model": "m"}},
                              {"provider": {"type": "google", "model": "g", "temperature": 9}}]}},
         "agent.think[1].provider.temperature", "between 0 and 2"),
        ({"agent": {"think": {"provider": {"model": "m"}}}}, "agent.think.provider.type",
         "string type"),
        ({"agent": {"speak": {"provider": {"type": "cartesia", "model_id": "s"},
                              "endpoint": {"url": "https://c.test"}}}},
         "agent.speak.provider.voice", "required"),
        ({"agent": {"think": {"provider": {"type": "open_ai", "model": "m"},
                              "functions": [{"name": "ok"}, {"description": "no name"}]}}},
         "agent.think.functions[1].name", "required"),
        ({"agent": {"listen": {"provider": {"type": "deepgram", "version": "v2"}}}},
         "agent.listen.provider.model", "required"),
        ({"agent": {"context": {"messages": [{"type": "History", "role": "user"}]}}},
         "agent.context.messages[0].content", "required"),
        ({"agent": {}, "tags": "abc"}, "tags", "list of strings"),
        ({"agent": {}, "experimental": "true"}, "experimental", "true or false"),
    ],
)  # fmt: skip
def test_from_dict_names_the_full_path(data: dict[str, Any], path: str, problem: str) -> None:
    with pytest.raises(dgtrio.SettingsError) as caught:
        ag.AgentV1Settings.from_dict(data)
    assert caught.value.path == path
    assert problem in caught.value.problem


def test_secrets_stay_out_of_repr() -> None:
    text = repr(full_settings())
    assert "AKIA" not in text and "s3" not in text
    assert "authorization" in text  # header names are shown, values are not
    endpoint = ag.Endpoint(url="https://x.test", headers={"Authorization": "Bearer sk-live"})
    assert "sk-live" not in repr(endpoint)


# -- server messages ---------------------------------------------------------------------------


@pytest.mark.parametrize("path", sorted((RECORDED / "agent_v1").glob("*.jsonl")), ids=str)
def test_recorded_agent_traffic_decodes(path: Path) -> None:
    for line in path.read_text().splitlines():
        raw = json.loads(line)
        message = CODEC.decode(line)
        if raw["type"] == "EndOfThought":
            assert message == dgtrio.UnknownMessage("EndOfThought", raw)
            continue
        assert type(message).__name__ == f"AgentV1{raw['type']}"
        assert message.raw == raw  # type: ignore[union-attr]


SAMPLES: list[tuple[dict[str, Any], type, dict[str, Any]]] = [
    ({"type": "Welcome", "request_id": "r1"}, dgtrio.AgentV1Welcome, {"request_id": "r1"}),
    ({"type": "SettingsApplied"}, dgtrio.AgentV1SettingsApplied, {}),
    (
        {"type": "ConversationText", "role": "user", "content": "hi", "languages": ["en"],
         "conversational_behavior": "default"},
        dgtrio.AgentV1ConversationText,
        {"role": "user", "content": "hi", "languages": ("en",),
         "conversational_behavior": "default"},
    ),
    ({"type": "UserStartedSpeaking"}, dgtrio.AgentV1UserStartedSpeaking, {}),
    ({"type": "AgentThinking", "content": "hmm"}, dgtrio.AgentV1AgentThinking, {"content": "hmm"}),
    (
        {"type": "FunctionCallRequest", "functions": [
            {"id": "a", "name": "f", "arguments": "{\"x\": 1}", "client_side": True},
            {"id": "b", "name": "g", "arguments": "{}", "client_side": False,
             "thought_signature": "sig"}]},
        dgtrio.AgentV1FunctionCallRequest,
        {"functions": (ag.FunctionCall("a", "f", '{"x": 1}', True),
                       ag.FunctionCall("b", "g", "{}", False, "sig"))},
    ),
    (
        {"type": "FunctionCallResponse", "name": "g", "content": "ok"},
        dgtrio.AgentV1FunctionCallResponse,
        {"name": "g", "content": "ok", "id": None},
    ),
    (
        {"type": "FunctionCallCancelled", "functions": [{"id": "a", "name": "f"}]},
        dgtrio.AgentV1FunctionCallCancelled,
        {"functions": (ag.CancelledCall("a", "f"),)},
    ),
    (
        {"type": "AgentStartedSpeaking", "total_latency": 1.0, "tts_latency": 0.4,
         "ttt_latency": 0.6},
        dgtrio.AgentV1AgentStartedSpeaking,
        {"total_latency": 1.0, "tts_latency": 0.4, "ttt_latency": 0.6},
    ),
    ({"type": "AgentAudioDone"}, dgtrio.AgentV1AgentAudioDone, {}),
    (
        {"type": "LatencyReport", "stt_latency": 0.1, "ttt_tool_latency": 0.2},
        dgtrio.AgentV1LatencyReport,
        {"stt_latency": 0.1, "ttt_tool_latency": 0.2, "total_latency": None},
    ),
    ({"type": "PromptUpdated"}, dgtrio.AgentV1PromptUpdated, {}),
    ({"type": "SpeakUpdated"}, dgtrio.AgentV1SpeakUpdated, {}),
    ({"type": "ThinkUpdated"}, dgtrio.AgentV1ThinkUpdated, {}),
    ({"type": "ListenUpdated"}, dgtrio.AgentV1ListenUpdated, {}),
    ({"type": "InjectionRefused", "message": "busy"}, dgtrio.AgentV1InjectionRefused,
     {"message": "busy"}),
    ({"type": "History", "role": "assistant", "content": "yo"}, dgtrio.AgentV1History,
     {"role": "assistant", "content": "yo"}),
    (
        {"type": "History", "function_calls": [{"id": "a", "name": "f", "client_side": True,
                                                "arguments": "{}", "response": "r"}]},
        dgtrio.AgentV1FunctionCallHistory,
        {"function_calls": (ag.FunctionCallRecord("a", "f", True, "{}", "r"),)},
    ),
    ({"type": "Error", "description": "bad", "code": "INVALID_SETTINGS"}, dgtrio.AgentV1Error,
     {"description": "bad", "code": "INVALID_SETTINGS"}),
    ({"type": "Warning", "description": "long", "code": "PROMPT_TOO_LONG"}, dgtrio.AgentV1Warning,
     {"description": "long", "code": "PROMPT_TOO_LONG"}),
]  # fmt: skip


@pytest.mark.parametrize(
    ("raw", "cls", "fields"), SAMPLES, ids=lambda v: getattr(v, "__name__", "")
)
def test_every_server_message_decodes_to_its_class(
    raw: dict[str, Any], cls: type, fields: dict[str, Any]
) -> None:
    message = CODEC.decode(json.dumps({**raw, "added_by_a_newer_server": [1, 2]}))
    assert type(message) is cls
    for name, value in fields.items():
        assert getattr(message, name) == value
    assert message.raw["added_by_a_newer_server"] == [1, 2]  # type: ignore[union-attr]


def test_binary_frames_are_agent_audio() -> None:
    message = CODEC.decode(b"\x01\x02")
    assert message == dgtrio.AgentV1Audio(b"\x01\x02")
    assert repr(message) == "AgentV1Audio(data=<2 bytes>)"


def test_a_function_call_without_an_id_is_a_decode_error() -> None:
    frame = json.dumps(
        {"type": "FunctionCallRequest", "functions": [{"name": "f", "arguments": "{}",
                                                       "client_side": True}]}
    )  # fmt: skip
    with pytest.raises(dgtrio.MessageDecodeError, match=r"functions\[0\]\.id"):
        CODEC.decode(frame)


def test_function_call_arguments_parse() -> None:
    assert ag.FunctionCall("a", "f", '{"city": "Paris"}', True).parsed_arguments() == {
        "city": "Paris"
    }
    assert ag.FunctionCall("a", "f", "", True).parsed_arguments() == {}
    with pytest.raises(ValueError, match="not a JSON object"):
        ag.FunctionCall("a", "f", "[1]", True).parsed_arguments()


# -- the tool registry ---------------------------------------------------------------------------


class Unit(enum.Enum):
    CELSIUS = "celsius"
    FAHRENHEIT = "fahrenheit"


def test_schemas_are_derived_from_type_hints() -> None:
    tools = dgtrio.ToolRegistry()

    @tools.register
    async def get_weather(
        city: Annotated[str, "The city, e.g. Paris"],
        unit: Unit = Unit.CELSIUS,
        days: int | None = None,
        detail: Literal["short", "long"] = "short",
        hours: list[int] | None = None,
        extra: dict[str, Any] | None = None,
        precise: bool = False,
        threshold: float = 0.5,
    ) -> str:
        """The weather for a city.

        Args:
            city: ignored, the annotation wins.
            days: how many days ahead,
                zero for today.
        """
        return "sunny"

    (function,) = tools.functions()
    assert function.name == "get_weather"
    assert function.description == "The weather for a city."
    assert function.parameters == {
        "type": "object",
        "properties": {
            "city": {"type": "string", "description": "The city, e.g. Paris"},
            "unit": {"enum": ["celsius", "fahrenheit"], "type": "string"},
            "days": {"type": "integer", "description": "how many days ahead, zero for today."},
            "detail": {"enum": ["short", "long"], "type": "string"},
            "hours": {"type": "array", "items": {"type": "integer"}},
            "extra": {"type": "object"},
            "precise": {"type": "boolean"},
            "threshold": {"type": "number"},
        },
        "required": ["city"],
    }
    assert "get_weather" in tools and len(tools) == 1


def test_explicit_declarations_win() -> None:
    tools = dgtrio.ToolRegistry(timeout=3)
    schema = {"type": "object", "properties": {"q": {"type": "string"}}}

    @tools.register(name="search", description="Search the docs.", parameters=schema, timeout=1)
    async def anything(**kwargs: Any) -> str:
        return ""

    tool = tools.get("search")
    assert tool is not None
    assert (tool.description, tool.parameters, tool.timeout) == ("Search the docs.", schema, 1)


def test_registration_errors_are_clear() -> None:
    tools = dgtrio.ToolRegistry()

    def not_async(x: int) -> int:
        return x

    async def untyped(x):  # type: ignore[no-untyped-def]
        return x

    async def variadic(**kwargs: Any) -> None:
        pass

    async def union(x: int | str) -> None:
        pass

    async def ok() -> str:
        return "ok"

    with pytest.raises(TypeError, match="not an async function"):
        tools.register(not_async)  # type: ignore[type-var]
    with pytest.raises(TypeError, match="annotate 'x'"):
        tools.register(untyped)
    with pytest.raises(TypeError, match="needs parameters="):
        tools.register(variadic)
    with pytest.raises(TypeError, match="union"):
        tools.register(union)
    tools.register(ok)
    with pytest.raises(ValueError, match="registered already"):
        tools.register(ok)
    with pytest.raises(dgtrio.SettingsError, match=r"Function\.name"):
        tools.register(name="bad name")(ok)
