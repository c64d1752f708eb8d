"""The agent's sans-io parts: Settings, server messages, the tool registry."""

from __future__ import annotations

import copy
import enum
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any, Literal

import pytest

import dgtrio
from dgtrio import agent as ag
from dgtrio._codec import encode_message
from dgtrio.agent._messages import CODEC

from .conftest import RECORDED

AGENT_ID = "6f0c2a3e-8d6b-4f7e-9a31-2c5d8b9e0f14"

# Minimal valid parts, to build settings that fail at one place.
THINK: dict[str, Any] = {"provider": {"type": "open_ai", "model": "gpt-4o-mini"}}
SPEAK: dict[str, Any] = {"provider": {"type": "deepgram", "model": "aura-2-thalia-en"}}
V2 = {"type": "deepgram", "version": "v2", "model": "flux-general-en"}
THINK_LIVE: dict[str, Any] = {"provider": {"type": "deepgram", "version": "v1"}}


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
                        ag.Function(
                            name="lookup",
                            parameters={"type": "object"},
                            defer_until_eot=True,
                            initial_agent_filler=True,
                            agent_filler_max_count=2,
                            agent_filler_interval_ms=5000,
                        ),
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
                ag.Think(
                    provider=ag.DeepgramThink(
                        model="phonellm-mini-alpha-2-fp8",
                        temperature=0.0,
                        reasoning_mode="none",
                        voice_prompt_opt_out=True,
                        version="v1",
                    )
                ),
            ],
            think_live=ag.ThinkLive(
                provider=ag.DeepgramThinkLive(
                    agent_backchannel_sensitivity=0.4,
                    presence_check_max_count=2,
                    presence_check_interval_ms=3000,
                    frustration_max_count=3,
                    restricted_terms=["refund", "free of charge"],
                )
            ),
            speak=[
                ag.Speak(provider=ag.DeepgramSpeak(model="aura-2-thalia-en", speed=1.1)),
                ag.Speak(
                    provider=ag.DeepgramSpeak(
                        model="flux-alexis-en", version="v2", speed=0.85, expressivity=1
                    )
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
        "deepgram",
    ]
    assert agent["think"][0] == {
        "provider": {"type": "open_ai", "model": "gpt-4o-mini", "temperature": 0.2},
        "prompt": "Be brief.",
        "functions": [
            {
                "name": "lookup",
                "parameters": {"type": "object"},
                "defer_until_eot": True,
                "initial_agent_filler": True,
                "agent_filler_max_count": 2,
                "agent_filler_interval_ms": 5000,
            },
            {"name": "remote", "endpoint": {"url": "https://x.test/f", "method": "post"}},
        ],
    }
    assert agent["think"][5] == {
        "provider": {
            "type": "deepgram",
            "model": "phonellm-mini-alpha-2-fp8",
            "temperature": 0.0,
            "reasoning_mode": "none",
            "voice_prompt_opt_out": True,
            "version": "v1",
        }
    }
    assert agent["think_live"] == {
        "provider": {
            "type": "deepgram",
            "version": "v1",
            "agent_backchannel_sensitivity": 0.4,
            "presence_check_max_count": 2,
            "presence_check_interval_ms": 3000,
            "frustration_max_count": 3,
            "restricted_terms": ["refund", "free of charge"],
        }
    }
    assert agent["speak"][1]["provider"] == {
        "type": "deepgram",
        "model": "flux-alexis-en",
        "version": "v2",
        "speed": 0.85,
        "expressivity": 1,
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
        provider=ag.CustomProvider(type="mistral", fields={"model": "large"}),
    )
    wire = json.loads(encode_message(ag.AgentV1Settings(agent=ag.AgentConfig(think=think))))
    assert wire["agent"]["think"] == {"provider": {"type": "mistral", "model": "large"}}
    back = ag.AgentV1Settings.from_dict(wire)
    assert isinstance(back.agent, ag.AgentConfig)
    assert back.agent.think == think


def test_listen_version_is_inferred_like_the_official_sdk() -> None:
    data = {"agent": {"listen": {"provider": {"type": "deepgram", "model": "flux-general-en",
                                               "eot_threshold": 0.7}}}}  # fmt: skip
    settings = ag.AgentV1Settings.from_dict(data)
    assert isinstance(settings.agent, ag.AgentConfig) and settings.agent.listen
    assert isinstance(settings.agent.listen.provider, ag.DeepgramListenV2)


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
@pytest.mark.parametrize("hint", ["de", ["de", "en"], None])
def test_the_deprecated_language_hint_is_sent_as_the_official_sdk_sends_it(hint: Any) -> None:
    provider = {"type": "deepgram", "model": "flux-general-multi", "language_hint": hint}
    settings = ag.AgentV1Settings.from_dict({"agent": {"listen": {"provider": provider}}})
    assert isinstance(settings.agent, ag.AgentConfig) and settings.agent.listen
    expected = None if hint is None else tuple([hint] if isinstance(hint, str) else hint)
    assert settings.agent.listen.provider == ag.DeepgramListenV2(
        model="flux-general-multi", language_hints=expected
    )
    sent = json.loads(encode_message(settings))["agent"]["listen"]["provider"]
    assert "language_hint" not in sent
    pytest.importorskip("deepgram")
    from deepgram.agent.v1.types import AgentV1SettingsAgentContextListenProvider_V2 as V2Sdk

    assert sent == json.loads(json.dumps(V2Sdk(**provider).dict()))


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
            lambda: ag.DeepgramListenV2(model="flux", eot_threshold=1.05),
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
        (lambda: ag.Function(name="f", defer_until_eot="yes"), "Function.defer_until_eot"),  # type: ignore[arg-type]
        (
            lambda: ag.AwsCredentials(
                type="sts", region="r", access_key_id="a", secret_access_key="s"
            ),
            "AwsCredentials.session_token",
        ),
        (lambda: ag.AgentV1Settings(agent=ag.AgentConfig(), tags="x"), "AgentV1Settings.tags"),
        (lambda: ag.Flags(history="yes"), "Flags.history"),  # type: ignore[arg-type]
        (
            lambda: ag.DeepgramListenV2(model="flux", eot_timeout_ms=400),
            "DeepgramListenV2.eot_timeout_ms",
        ),
        (
            lambda: ag.DeepgramListenV2(model="flux-general-en", language_hints=["de"]),
            "DeepgramListenV2.language_hints",
        ),
        # Think Live
        (
            lambda: ag.DeepgramThinkLive(agent_backchannel_sensitivity=1.5),
            "DeepgramThinkLive.agent_backchannel_sensitivity",
        ),
        (
            lambda: ag.DeepgramThinkLive(presence_check_max_count=-1),
            "DeepgramThinkLive.presence_check_max_count",
        ),
        (
            lambda: ag.DeepgramThinkLive(presence_check_interval_ms=2.5),  # type: ignore[arg-type]
            "DeepgramThinkLive.presence_check_interval_ms",
        ),
        (
            lambda: ag.DeepgramThinkLive(frustration_max_count=True),
            "DeepgramThinkLive.frustration_max_count",
        ),
        (
            lambda: ag.DeepgramThinkLive(restricted_terms="refund"),
            "DeepgramThinkLive.restricted_terms",
        ),
        (lambda: ag.DeepgramThinkLive(version="v2"), "DeepgramThinkLive.version"),  # type: ignore[arg-type]
        (
            lambda: ag.ThinkLive(provider=ag.DeepgramListenV1()),  # type: ignore[arg-type]
            "ThinkLive.provider",
        ),
        # Filler fields: their own ranges, and Think Live
        (
            lambda: ag.Function(name="f", agent_filler_interval_ms=500),
            "Function.agent_filler_interval_ms",
        ),
        (
            lambda: ag.Function(name="f", agent_filler_max_count=2, agent_filler_interval_ms=60001),
            "Function.agent_filler_interval_ms",
        ),
        (
            lambda: ag.Function(name="f", agent_filler_max_count=-1),
            "Function.agent_filler_max_count",
        ),
        (
            lambda: ag.Function(name="f", initial_agent_filler="yes"),  # type: ignore[arg-type]
            "Function.initial_agent_filler",
        ),
        (
            lambda: ag.AgentConfig(
                think=ag.Think(
                    provider=ag.OpenAiThink(model="m"),
                    functions=[ag.Function(name="f", initial_agent_filler=True)],
                )
            ),
            "AgentConfig.think.functions[0].initial_agent_filler",
        ),
        (
            lambda: ag.AgentConfig(
                think=[
                    ag.Think(provider=ag.OpenAiThink(model="m")),
                    ag.Think(
                        provider=ag.OpenAiThink(model="m"),
                        functions=[
                            ag.Function(name="a"),
                            ag.Function(name="b", agent_filler_max_count=0),
                        ],
                    ),
                ]
            ),
            "AgentConfig.think[1].functions[1].agent_filler_max_count",
        ),
        # Deepgram's own LLMs
        (lambda: ag.DeepgramThink(model="think-fast", temperature=3), "DeepgramThink.temperature"),
        (lambda: ag.DeepgramThink(model=""), "DeepgramThink.model"),
        (lambda: ag.DeepgramThink(model="m", version="v2"), "DeepgramThink.version"),  # type: ignore[arg-type]
        (
            lambda: ag.AgentV1Settings(
                agent=ag.AgentConfig(think=ag.Think(provider=ag.DeepgramThink(model="think-fast"))),
                mip_opt_out=True,
            ),
            "AgentV1Settings.agent.think.provider.model",
        ),
        # Flux TTS voices
        (lambda: ag.DeepgramSpeak(model="flux-kit-en"), "DeepgramSpeak.version"),
        (lambda: ag.DeepgramSpeak(model="aura-2-thalia-en", version="v2"), "DeepgramSpeak.version"),
        (
            lambda: ag.DeepgramSpeak(model="flux-kit-en", version="v2", speed=0.72),
            "DeepgramSpeak.speed",
        ),
        (
            lambda: ag.DeepgramSpeak(model="flux-kit-en", version="v2", speed=0.45),
            "DeepgramSpeak.speed",
        ),
        (
            lambda: ag.DeepgramSpeak(model="flux-kit-en", version="v2", expressivity=3),
            "DeepgramSpeak.expressivity",
        ),
        (
            lambda: ag.DeepgramSpeak(model="flux-kit-en", version="v2", expressivity=1.0),  # type: ignore[arg-type]
            "DeepgramSpeak.expressivity",
        ),
    ],
)
def test_construction_names_the_bad_field(build: Any, path: str) -> None:
    with pytest.raises(dgtrio.SettingsError) as caught:
        build()
    assert caught.value.path == path
    assert str(caught.value).startswith(f"{path}: ")
    assert isinstance(caught.value, dgtrio.ConfigurationError)


def test_the_documented_edges_are_accepted() -> None:
    for interval in (1000, 60000):
        ag.Function(name="f", agent_filler_max_count=3, agent_filler_interval_ms=interval)
    ag.Function(name="f", agent_filler_max_count=0, agent_filler_interval_ms=10)  # ignored
    for speed in (0.5, 0.55, 1.05, 1.5):
        ag.DeepgramSpeak(model="flux-kit-en", version="v2", speed=speed)
    ag.DeepgramSpeak(model="aura-2-thalia-en", version="v1", speed=0.73)  # Aura: any value
    for expressivity in (-2, 0, 2):
        ag.DeepgramSpeak(model="flux-kit-en", version="v2", expressivity=expressivity)
    ag.DeepgramListenV2(model="flux-general-en", eot_threshold=1.0, eot_timeout_ms=60000)
    for sensitivity in (0, 1):
        ag.DeepgramThinkLive(agent_backchannel_sensitivity=sensitivity)
    live = ag.ThinkLive(provider=ag.DeepgramThinkLive(presence_check_interval_ms=0))
    filler = ag.Think(
        provider=ag.OpenAiThink(model="m"),
        functions=[ag.Function(name="f", initial_agent_filler=False)],
    )
    ag.AgentConfig(think=filler, think_live=live)
    for model, opt_out in (("think-fast", False), ("phonellm-mini-alpha-2-fp8", True)):
        think = ag.Think(provider=ag.DeepgramThink(model=model))
        ag.AgentV1Settings(agent=ag.AgentConfig(think=think), mip_opt_out=opt_out)


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
        # Each segment once (hooks once added their own name to cattrs' path).
        ({"agent": {"listen": {"provider": "nova-3"}}}, "agent.listen.provider",
         "must be an object"),
        ({"agent": {"think": {"provider": "open_ai"}}}, "agent.think.provider",
         "must be an object"),
        ({"agent": {"think": [THINK, "gpt-4o"]}}, "agent.think[1]", "must be an object"),
        ({"agent": {"think": [THINK, {"provider": {"type": "open_ai", "model": "m"},
                                      "functions": [{"name": "a"}, {"name": "b"},
                                                    {"name": "c", "parameters": []}]}]}},
         "agent.think[1].functions[2].parameters", "JSON schema"),
        ({"agent": {"think": [THINK, {**THINK, "functions": [
            {"name": "f", "endpoint": {"method": "post"}}]}]}},
         "agent.think[1].functions[0].endpoint.url", "required"),
        ({"agent": {"speak": [SPEAK, SPEAK, {"provider": {"type": "deepgram", "model": "aura",
                                                          "speed": 0.6}}]}},
         "agent.speak[2].provider.speed", "between 0.7 and 1.5"),
        ({"agent": {"speak": [SPEAK, {"provider": {"type": "cartesia", "model_id": "s",
                                                   "voice": {"mode": "id"}},
                                      "endpoint": {"url": "https://c.test"}}]}},
         "agent.speak[1].provider.voice.id", "required"),
        ({"agent": {"speak": [SPEAK, {"provider": {"type": "open_ai", "model": "tts-1",
                                                   "voice": "alloy"}}]}},
         "agent.speak[1].endpoint", "required with provider 'open_ai'"),
        ({"agent": {"think": {"provider": {"type": "aws_bedrock", "model": "m",
                                           "credentials": {"type": "sts", "region": "r",
                                                           "access_key_id": "a",
                                                           "secret_access_key": "s"}}}}},
         "agent.think.provider.credentials.session_token", "required with type 'sts'"),
        ({"agent": [THINK]}, "agent", "must be an object"),
        ({"agent": {}, "audio": "linear16"}, "audio", "must be an object"),
        # The type tag is a known key, with a checked value.
        ({"type": "UpdateThink", "agent": {}}, "type", "must be 'Settings', not 'UpdateThink'"),
        ({"agent": {"listen": {"provider": {"type": "assemblyai", "model": "m"}}}},
         "agent.listen.provider.type", "must be 'deepgram', not 'assemblyai'"),
        ({"agent": {"context": {"messages": [{"type": "Turn", "role": "user",
                                              "content": "Hi"}]}}},
         "agent.context.messages[0].type", "must be 'History'"),
        # Think Live and the fields that need it
        ({"agent": {"think_live": {}}}, "agent.think_live.provider", "required"),
        ({"agent": {"think_live": {"provider": {"type": "open_ai"}}}},
         "agent.think_live.provider.type", "must be 'deepgram', not 'open_ai'"),
        ({"agent": {"think_live": {"provider": {"type": "deepgram", "version": "v2"}}}},
         "agent.think_live.provider.version", "not one of v1"),
        ({"agent": {"think_live": {"provider": {"frustration_max_count": -1}}}},
         "agent.think_live.provider.frustration_max_count", "at least 0"),
        ({"agent": {"think_live": {"provider": {"restricted_terms": ["ok", 7]}}}},
         "agent.think_live.provider.restricted_terms", "list of strings"),
        ({"agent": {"think": {**THINK, "functions": [{"name": "f",
                                                      "agent_filler_max_count": 2}]}}},
         "agent.think.functions[0].agent_filler_max_count", "needs Think Live"),
        ({"agent": {"think": [THINK, {**THINK, "functions": [
            {"name": "f"}, {"name": "g", "initial_agent_filler": False}]}]}},
         "agent.think[1].functions[1].initial_agent_filler", "needs Think Live"),
        ({"agent": {"think_live": THINK_LIVE, "think": {**THINK, "functions": [
            {"name": "f", "agent_filler_max_count": 1, "agent_filler_interval_ms": 999}]}}},
         "agent.think.functions[0].agent_filler_interval_ms", "between 1000 and 60000"),
        # Deepgram's LLMs, Flux in and out
        ({"agent": {"think": {"provider": {"type": "deepgram", "model": "think-fast"}}},
          "mip_opt_out": True}, "agent.think.provider.model", "Model Improvement Program"),
        ({"agent": {"think": [THINK, {"provider": {"type": "deepgram", "model": "think-fast"}}]},
          "mip_opt_out": True}, "agent.think[1].provider.model", "phonellm-mini-alpha-2-fp8"),
        ({"agent": {"listen": {"provider": {"type": "deepgram", "model": "flux-general-multi",
                                            "language_hint": "de", "language_hints": ["en"]}}}},
         "agent.listen.provider.language_hint", "deprecated form"),
        ({"agent": {"listen": {"provider": {**V2, "model": "flux-general-multi",
                                            "language_hint": 5}}}},
         "agent.listen.provider.language_hint", "a language or a list of them"),
        ({"agent": {"listen": {"provider": {**V2, "language_hints": ["de"]}}}},
         "agent.listen.provider.language_hints", "flux-general-multi"),
        ({"agent": {"speak": {"provider": {"type": "deepgram", "model": "flux-kit-en",
                                           "version": "v2", "speed": 0.73}}}},
         "agent.speak.provider.speed", "multiple of 0.05"),
        ({"agent": {"speak": [SPEAK, {"provider": {"type": "deepgram", "model": "flux-kit-en"}}]}},
         "agent.speak[1].provider.version", "set version='v2'"),
    ],
)  # fmt: skip
def test_from_dict_names_the_full_path(data: dict[str, Any], path: str, problem: str) -> None:
    with pytest.raises(dgtrio.SettingsError) as caught:
        ag.AgentV1Settings.from_dict(data)
    assert caught.value.path == path
    assert problem in caught.value.problem


def _objects(value: Any, path: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    """Every JSON object in ``value`` with its path, but free-form ones (a function's
    JSON schema, an endpoint's headers)."""
    if isinstance(value, dict):
        yield path, value
        for key, item in value.items():
            if key not in ("parameters", "headers"):
                yield from _objects(item, f"{path}.{key}" if path else key)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _objects(item, f"{path}[{index}]")


WIRE = json.loads(encode_message(full_settings()))
OBJECT_PATHS = [path or "$" for path, _ in _objects(WIRE)]


@pytest.mark.parametrize("index", range(len(OBJECT_PATHS)), ids=OBJECT_PATHS)
def test_from_dict_refuses_an_unknown_key_in_every_object(index: int) -> None:
    wire = copy.deepcopy(WIRE)
    path, target = list(_objects(wire))[index]
    target["zzz_unknown"] = 1
    with pytest.raises(dgtrio.SettingsError) as caught:
        ag.AgentV1Settings.from_dict(wire)
    assert caught.value.path == (f"{path}.zzz_unknown" if path else "zzz_unknown")
    assert caught.value.problem.startswith("unknown key; known keys: ")


def test_the_unknown_key_test_reaches_every_level() -> None:
    expected = {
        "$", "audio", "audio.input", "audio.output", "flags", "agent", "agent.context",
        "agent.context.messages[0]", "agent.context.messages[1].function_calls[0]",
        "agent.listen", "agent.listen.provider", "agent.think[0]", "agent.think[0].provider",
        "agent.think[0].functions[0]", "agent.think[0].functions[1].endpoint",
        "agent.think[3].endpoint", "agent.think[4].provider.credentials", "agent.speak[5]",
        "agent.speak[3].provider.voice", "agent.speak[5].provider.credentials",
        "agent.think_live", "agent.think_live.provider",
    } | {f"agent.think[{i}].provider" for i in range(6)} | {
        f"agent.speak[{i}].provider" for i in range(6)
    }  # fmt: skip
    assert expected <= set(OBJECT_PATHS)


@pytest.mark.parametrize(
    ("data", "path", "problem"),
    [
        ({"agent": {"think": {**THINK, "promt": "Be brief."}}}, "agent.think.promt",
         "did you mean prompt?"),
        ({"agent": {"think": [THINK, {"provider": {"type": "google", "model": "g",
                                                   "temprature": 0.5}}]}},
         "agent.think[1].provider.temprature", "did you mean temperature?"),
        ({"agent": {"think": THINK, "tags": ["a"]}}, "agent.tags",
         "tags belongs at the top level of the settings, not in agent"),
        ({"agent": {"greting": "Hi"}}, "agent.greting", "did you mean greeting?"),
        ({"agent": {}, "tag": ["a"]}, "tag", "did you mean tags?"),
        ({"agent": {}, "think": THINK}, "think", "did you mean agent.think?"),
        ({"agent": {}, "audio": {"input": {"encoding": "mulaw", "sample_rate": 8000,
                                           "channels": 1}}},
         "audio.input.channels", "known keys: encoding, sample_rate"),
        ({"agent": {}, "audio": {"output": {"encodng": "mp3"}}}, "audio.output.encodng",
         "did you mean encoding?"),
        ({"agent": {}, "flags": {"histroy": False}}, "flags.histroy", "did you mean history?"),
        # The early access form, which Deepgram answered with "check agent.listen.model".
        ({"agent": {"listen": {"model": "nova-3"}}}, "agent.listen.model",
         "did you mean provider.model?"),
        ({"agent": {"listen": {"provider": {"type": "deepgram", "model": "nova-3",
                                            "smart_fromat": True}}}},
         "agent.listen.provider.smart_fromat", "did you mean smart_format?"),
        ({"agent": {"listen": {"provider": {**V2, "eot_treshold": 0.7}}}},
         "agent.listen.provider.eot_treshold", "did you mean eot_threshold?"),
        ({"agent": {"think": {**THINK, "temperature": 0.2}}}, "agent.think.temperature",
         "did you mean provider.temperature?"),
        ({"agent": {"think": {**THINK, "url": "https://llm.test"}}}, "agent.think.url",
         "did you mean endpoint.url?"),
        ({"agent": {"think": {**THINK, "instructions": "Be brief."}}},
         "agent.think.instructions", "did you mean prompt?"),
        # Before endpoint existed: dropping these made a server-side function client-side.
        ({"agent": {"think": {**THINK, "functions": [
            {"name": "f", "url": "https://f.test", "method": "post"}]}}},
         "agent.think.functions[0].url", "did you mean endpoint.url? (url, method and headers"),
        ({"agent": {"think": {**THINK, "functions": [
            {"name": "f", "endpoint": {"url": "https://f.test", "methd": "post"}}]}}},
         "agent.think.functions[0].endpoint.methd", "did you mean method?"),
        ({"agent": {"speak": [SPEAK, {"provider": {"type": "cartesia", "model_id": "s",
                                                   "voice": {"mode": "id", "id": "v",
                                                             "speed": 1}},
                                      "endpoint": {"url": "https://c.test"}}]}},
         "agent.speak[1].provider.voice.speed", "known keys: id, mode"),
        ({"agent": {"speak": {**SPEAK, "voice": "thalia"}}}, "agent.speak.voice",
         "did you mean provider.voice?"),
        ({"agent": {"speak": {**SPEAK, "endpoint": {"url": "https://s.test", "header": {}}}}},
         "agent.speak.endpoint.header", "did you mean headers?"),
        ({"agent": {"context": {"mesages": []}}}, "agent.context.mesages",
         "did you mean messages?"),
        ({"agent": {"messages": [{"role": "user", "content": "Hi"}]}}, "agent.messages",
         "did you mean context.messages?"),
        ({"agent": {"think_live": {"frustration_max_count": 2}}},
         "agent.think_live.frustration_max_count", "did you mean provider.frustration_max_count?"),
        ({"agent": {"think_live": {"provider": {"type": "deepgram", "frustration_count": 2}}}},
         "agent.think_live.provider.frustration_count", "did you mean frustration_max_count?"),
        ({"agent": {"think_live": THINK_LIVE, "think": {**THINK, "functions": [
            {"name": "f", "agent_filler_count": 2}]}}},
         "agent.think.functions[0].agent_filler_count", "did you mean agent_filler_max_count?"),
        ({"agent": {"think": {"provider": {"type": "deepgram", "model": "think-fast",
                                           "voice_prompt_optout": True}}}},
         "agent.think.provider.voice_prompt_optout", "did you mean voice_prompt_opt_out?"),
        # A misspelt required key is reported as the typo, not as the missing key.
        ({"agent": {"think": {"provider": {"type": "open_ai", "modle": "gpt-4o"}}}},
         "agent.think.provider.modle", "did you mean model?"),
    ],
)  # fmt: skip
def test_from_dict_refuses_unknown_keys_naming_the_nearest(
    data: dict[str, Any], path: str, problem: str
) -> None:
    with pytest.raises(dgtrio.SettingsError) as caught:
        ag.AgentV1Settings.from_dict(data)
    assert caught.value.path == path
    assert caught.value.problem.startswith("unknown key; ")
    assert problem in caught.value.problem
    assert str(caught.value) == f"{path}: {caught.value.problem}"


def test_type_tags_are_optional_and_unknown_provider_types_pass_through() -> None:
    data = {
        "agent": {
            "listen": {"provider": {"model": "nova-3"}},
            "think": {"provider": {"type": "mistral", "model": "large", "new_knob": 1}},
            "context": {"messages": [{"role": "user", "content": "Hi"}]},
        }
    }
    settings = ag.AgentV1Settings.from_dict(data)
    assert isinstance(settings.agent, ag.AgentConfig) and settings.agent.listen
    assert settings.agent.listen.provider == ag.DeepgramListenV1(model="nova-3")
    assert settings.agent.think == ag.Think(
        provider=ag.CustomProvider("mistral", {"model": "large", "new_knob": 1})
    )


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_settings_built_with_the_official_sdk_parse() -> None:
    pytest.importorskip("deepgram")
    from deepgram.agent.v1.types import (
        AgentV1Settings,
        AgentV1SettingsAgent,
        AgentV1SettingsAgentContextContext,
        AgentV1SettingsAgentContextListen,
        AgentV1SettingsAgentContextListenProvider_V2,
        AgentV1SettingsAudio,
        AgentV1SettingsAudioInput,
        AgentV1SettingsAudioOutput,
        AgentV1SettingsFlags,
        ConversationHistoryMessage,
        FunctionCallHistoryMessage,
        FunctionCallHistoryMessageFunctionCallsItem,
    )
    from deepgram.types import (
        AwsBedrockThinkProviderCredentials,
        AwsPollySpeakProviderCredentials,
        CartesiaVoice,
        DeepgramThinkLiveProviderV1,
        SpeakSettingsV1,
        SpeakSettingsV1Endpoint,
        SpeakSettingsV1Provider_AwsPolly,
        SpeakSettingsV1Provider_Cartesia,
        SpeakSettingsV1Provider_Deepgram,
        SpeakSettingsV1Provider_ElevenLabs,
        SpeakSettingsV1Provider_OpenAi,
        ThinkLiveSettingsV1,
        ThinkSettingsV1,
        ThinkSettingsV1Endpoint,
        ThinkSettingsV1FunctionsItem,
        ThinkSettingsV1FunctionsItemEndpoint,
        ThinkSettingsV1Provider_Anthropic,
        ThinkSettingsV1Provider_AwsBedrock,
        ThinkSettingsV1Provider_Deepgram,
        ThinkSettingsV1Provider_Google,
        ThinkSettingsV1Provider_Groq,
        ThinkSettingsV1Provider_OpenAi,
    )

    endpoint = SpeakSettingsV1Endpoint(url="https://tts.test", headers={"authorization": "k"})
    sdk = AgentV1Settings(
        tags=["sdk"],
        experimental=False,
        mip_opt_out=True,
        flags=AgentV1SettingsFlags(history=True),
        audio=AgentV1SettingsAudio(
            input=AgentV1SettingsAudioInput(encoding="linear16", sample_rate=16000),
            output=AgentV1SettingsAudioOutput(encoding="mp3", bitrate=48000, container="none"),
        ),
        agent=AgentV1SettingsAgent(
            language="en",
            greeting="Hello!",
            context=AgentV1SettingsAgentContextContext(
                messages=[
                    ConversationHistoryMessage(role="user", content="Hi"),
                    FunctionCallHistoryMessage(
                        function_calls=[
                            FunctionCallHistoryMessageFunctionCallsItem(
                                id="c1", name="f", client_side=True, arguments="{}", response="ok"
                            )
                        ]
                    ),
                ]
            ),
            listen=AgentV1SettingsAgentContextListen(
                provider=AgentV1SettingsAgentContextListenProvider_V2(
                    model="flux-general-multi",
                    language_hint=["de", "en"],  # deprecated: sent as language_hints
                    eot_threshold=1.0,
                    eager_eot_threshold=0.5,
                    eot_timeout_ms=4000,
                )
            ),
            think=[
                ThinkSettingsV1(
                    provider=ThinkSettingsV1Provider_OpenAi(model="gpt-4o-mini", temperature=0.5),
                    prompt="Be brief.",
                    functions=[
                        ThinkSettingsV1FunctionsItem(
                            name="refund",
                            description="Refund an order",
                            parameters={"type": "object", "properties": {}},
                            defer_until_eot=True,
                            initial_agent_filler=True,
                            agent_filler_max_count=3,
                            agent_filler_interval_ms=2000,
                        ),
                        ThinkSettingsV1FunctionsItem(
                            name="lookup",
                            endpoint=ThinkSettingsV1FunctionsItemEndpoint(
                                url="https://f.test", method="post", headers={"x": "y"}
                            ),
                            agent_filler_max_count=0,
                            agent_filler_interval_ms=0,
                        ),
                    ],
                ),
                ThinkSettingsV1(
                    provider=ThinkSettingsV1Provider_Anthropic(model="claude-3-5-haiku-latest")
                ),
                ThinkSettingsV1(
                    provider=ThinkSettingsV1Provider_Google(
                        model="gemini-2.0-flash", version="v1beta"
                    )
                ),
                ThinkSettingsV1(
                    provider=ThinkSettingsV1Provider_Groq(reasoning_mode="low"),
                    endpoint=ThinkSettingsV1Endpoint(url="https://groq.test", headers={}),
                    context_length="max",
                ),
                ThinkSettingsV1(
                    provider=ThinkSettingsV1Provider_AwsBedrock(
                        model="anthropic/claude-3-5-haiku-20240307-v1:0",
                        credentials=AwsBedrockThinkProviderCredentials(
                            type="iam", region="us-east-1", access_key_id="a", secret_access_key="s"
                        ),
                    ),
                    endpoint=ThinkSettingsV1Endpoint(url="https://bedrock.test"),
                ),
                ThinkSettingsV1(
                    provider=ThinkSettingsV1Provider_Deepgram(
                        model="phonellm-mini-alpha-2-fp8",
                        version="v1",
                        temperature=0.0,
                        reasoning_mode="none",
                        voice_prompt_opt_out=True,
                    )
                ),
            ],
            think_live=ThinkLiveSettingsV1(
                provider=DeepgramThinkLiveProviderV1(
                    agent_backchannel_sensitivity=0.3,
                    presence_check_max_count=2,
                    presence_check_interval_ms=8000,
                    frustration_max_count=4,
                    restricted_terms=["guarantee", "legal advice"],
                )
            ),
            speak=[
                SpeakSettingsV1(
                    provider=SpeakSettingsV1Provider_Deepgram(model="aura-2-thalia-en", speed=0.9)
                ),
                SpeakSettingsV1(
                    provider=SpeakSettingsV1Provider_Deepgram(
                        model="flux-kit-en", version="v2", speed=1.25, expressivity=-1
                    )
                ),
                SpeakSettingsV1(
                    provider=SpeakSettingsV1Provider_ElevenLabs(
                        model_id="eleven_turbo_v2_5", language="en"
                    ),
                    endpoint=endpoint,
                ),
                SpeakSettingsV1(
                    provider=SpeakSettingsV1Provider_Cartesia(
                        model_id="sonic-2", voice=CartesiaVoice(mode="id", id="v1"), volume=1.5
                    ),
                    endpoint=endpoint,
                ),
                SpeakSettingsV1(
                    provider=SpeakSettingsV1Provider_OpenAi(model="tts-1", voice="alloy"),
                    endpoint=endpoint,
                ),
                SpeakSettingsV1(
                    provider=SpeakSettingsV1Provider_AwsPolly(
                        voice="Joanna",
                        language="en-US",
                        engine="neural",
                        credentials=AwsPollySpeakProviderCredentials(
                            type="iam", region="us-east-1", access_key_id="a", secret_access_key="s"
                        ),
                    ),
                    endpoint=endpoint,
                ),
            ],
        ),
    )
    wire = json.loads(json.dumps(sdk.dict()))
    settings = ag.AgentV1Settings.from_dict(wire)
    assert json.loads(encode_message(settings)) == wire
    # Every field given to the SDK reached the wire, and was taken.
    agent = wire["agent"]
    assert agent["listen"]["provider"]["language_hints"] == ["de", "en"]
    assert set(agent["think"][0]["functions"][0]) >= {
        "initial_agent_filler",
        "agent_filler_max_count",
        "agent_filler_interval_ms",
    }
    assert agent["think"][5]["provider"]["voice_prompt_opt_out"] is True
    assert len(agent["think_live"]["provider"]) == 7
    assert agent["speak"][1]["provider"]["expressivity"] == -1
    assert isinstance(settings.agent, ag.AgentConfig) and settings.agent.think_live


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
    ({"type": "ThinkLiveUpdated"}, dgtrio.AgentV1ThinkLiveUpdated, {}),
    ({"type": "FrustrationDetected", "count": 2, "escalated": True},
     dgtrio.AgentV1FrustrationDetected, {"count": 2, "escalated": True}),
    ({"type": "__customFromThinkProvider", "content": {"rows": [1, 2], "ok": None}},
     dgtrio.AgentV1CustomFromThinkProvider, {"content": {"rows": [1, 2], "ok": None}}),
    ({"type": "__customFromThinkProvider", "content": "plain text"},
     dgtrio.AgentV1CustomFromThinkProvider, {"content": "plain text"}),
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


def test_conversation_text_from_an_older_server_is_default_behaviour() -> None:
    message = CODEC.decode('{"type": "ConversationText", "role": "user", "content": "hi"}')
    assert isinstance(message, dgtrio.AgentV1ConversationText)
    assert message.conversational_behavior == "default"


@pytest.mark.parametrize(
    "raw",
    [
        {"type": "FrustrationDetected", "count": 1},
        {"type": "FrustrationDetected", "escalated": False},
        {"type": "FrustrationDetected", "count": "one", "escalated": False},
        {"type": "__customFromThinkProvider"},
    ],
)
def test_new_messages_without_their_essence_are_decode_errors(raw: dict[str, Any]) -> None:
    with pytest.raises(dgtrio.MessageDecodeError, match=raw["type"]):
        CODEC.decode(json.dumps(raw))


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
