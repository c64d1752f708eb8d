"""Parity with the official SDK's models, enumerated from the SDK itself.

Each test walks what the installed ``deepgram-sdk`` declares, so a new SDK release
that adds a message, a field or a client call makes one of them fail and name it:

- every server message the SDK's socket clients can return, for all five sockets,
  decodes into its own dgtrio class, with every field the SDK declares read back equal;
- every client message the SDK can send has a dgtrio method that sends it with every
  field the SDK declares (checked on the fake server's side of a real socket);
- every Settings field the SDK declares can be expressed with dgtrio's typed Settings
  model, no escape hatch: an SDK-shaped Settings holding every field, one provider
  variant at a time, round-trips through ``AgentV1Settings.from_dict``.

Sample values are made from the SDK's annotations; the few fields whose values the
server constrains (rates, thresholds, model names) take a valid value from ``_VALUES``.
"""

from __future__ import annotations

import importlib
import inspect
import json
import types
import typing
import warnings
from collections.abc import Awaitable, Callable, Iterator, Mapping
from contextlib import AbstractAsyncContextManager
from typing import Any, TypeVar

import attrs
import pytest
import trio

import dgtrio
from dgtrio import ConnectOptions
from dgtrio._codec import Codec, UnknownMessage, to_json
from dgtrio.agent import _settings as ag
from dgtrio.agent._messages import CODEC as AGENT
from dgtrio.agent._settings import settings_part
from dgtrio.listen.v1._messages import CODEC as LISTEN_V1
from dgtrio.listen.v2._messages import CODEC as LISTEN_V2
from dgtrio.speak.v1._messages import CODEC as SPEAK_V1
from dgtrio.speak.v2._messages import CODEC as SPEAK_V2
from dgtrio.testing import FakeDeepgram, FakeSession

T = TypeVar("T")

pydantic = pytest.importorskip("pydantic")
pytest.importorskip("deepgram")

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

# socket -> (the SDK module whose socket client lists the server messages, our codec)
SOCKETS: dict[str, tuple[str, str, Codec[Any]]] = {
    "listen v1": ("deepgram.listen.v1.socket_client", "V1SocketClientResponse", LISTEN_V1),
    "listen v2": ("deepgram.listen.v2.socket_client", "V2SocketClientResponse", LISTEN_V2),
    "speak v1": ("deepgram.speak.v1.socket_client", "V1SocketClientResponse", SPEAK_V1),
    "speak v2": ("deepgram.speak.v2.socket_client", "V2SocketClientResponse", SPEAK_V2),
    "agent v1": ("deepgram.agent.v1.socket_client", "V1SocketClientResponse", AGENT),
}

# Where our name differs from the SDK's, and why.
RENAMED = {
    # The SDK calls Flux's Error "FatalError"; every other socket's is "<API>Error".
    "ListenV2FatalError": "ListenV2Error",
    # "Receive" tells the SDK's two FunctionCallResponse models apart; ours is one class.
    "AgentV1ReceiveFunctionCallResponse": "AgentV1FunctionCallResponse",
    # The SDK names the two History shapes after the context entries they also are.
    "ConversationHistoryMessage": "AgentV1History",
    "FunctionCallHistoryMessage": "AgentV1FunctionCallHistory",
}

# Fields we normalise: Deepgram's schema allows one string for a list of strings, and
# dgtrio always gives the list (the SDK keeps what came).
ONE_OR_MANY = {"ListenV2ConfigureSuccess.keyterms", "ListenV2Configure.keyterms"}

# Values for fields whose values the server (or our model) constrains, by field name.
_VALUES: dict[str, Any] = {
    "sample_rate": 16000,
    "bitrate": 48000,
    "channels": 1,
    "eot_threshold": 0.7,
    "eager_eot_threshold": 0.5,
    "eot_timeout_ms": 5000,
    "temperature": 0.5,
    "speed": 1.0,
    "volume": 1.0,
    "expressivity": 1,
    "agent_backchannel_sensitivity": 0.5,
    "agent_filler_interval_ms": 2000,
    "presence_check_interval_ms": 5000,
    "url": "https://example.test/hook",
    "speech_id": "dg_sp_0123456789ab",
    "version": "v1",
    "parameters": {"type": "object", "properties": {}},
    "start": 0.5,
    "end": 1.0,
    "confidence": 0.9,
    "count": 2,
    "features": {"numerals": True},
}


def _sdk(module: str) -> Any:
    """An SDK module (which imports names its websockets dependency deprecates)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return importlib.import_module(module)


# Fields the SDK's model has and dgtrio refuses (test_hardening proves it), left out of
# the samples: keyterms change mid-session for Flux (v2) only, as Deepgram documents;
# Nova takes them in the Settings the conversation opens with.
REFUSED = {"AgentV1UpdateListenListenProvider_V1": {"keyterms"}}

# Fields whose values go together, by SDK model: expressivity is Flux TTS's (version
# v2); language hints are for the multilingual Flux model only.
_FLUX_MULTI = {"model": "flux-general-multi"}
_COHERENT: dict[str, dict[str, Any]] = {
    "SpeakSettingsV1Provider_Deepgram": {"version": "v2", "model": "flux-bree-en"},
    "AgentV1SettingsAgentContextListenProvider_V2": _FLUX_MULTI,
    "AgentV1UpdateListenListenProvider_V2": _FLUX_MULTI,
    # think-fast needs the Model Improvement Program, which mip_opt_out leaves.
    "ThinkSettingsV1Provider_Deepgram": {"model": "phonellm-mini-alpha-2-fp8"},
}


# -- making SDK-shaped samples ---------------------------------------------------------------


def _is_model(annotation: Any) -> bool:
    return isinstance(annotation, type) and issubclass(annotation, pydantic.BaseModel)


def _options(annotation: Any) -> list[Any]:
    """The alternatives of a union (``Optional`` and ``Annotated`` unwrapped)."""
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _options(typing.get_args(annotation)[0])
    if origin in (typing.Union, types.UnionType):
        found: list[Any] = []
        for arg in typing.get_args(annotation):
            if arg is not type(None):
                found.extend(_options(arg))
        return found
    return [annotation]


def _wire_name(name: str, field: Any) -> str:
    return str(field.alias or name)


def _sample(annotation: Any, name: str, variant: int, path: str = "") -> Any:
    """A value of ``annotation``; ``variant`` picks among models in a union."""
    options = _options(annotation)
    models = [option for option in options if _is_model(option)]
    if models:
        return _model_sample(models[variant % len(models)], variant, path)
    literals = [option for option in options if typing.get_origin(option) is typing.Literal]
    if literals:
        return typing.get_args(literals[0])[0]
    if name in _VALUES:
        return _VALUES[name]
    option = options[0]
    origin = typing.get_origin(option)
    if origin in (list, typing.List):  # noqa: UP006
        [item] = typing.get_args(option)
        return [_sample(item, name, variant, path)]
    if origin in (dict, typing.Dict):  # noqa: UP006
        value = typing.get_args(option)[1] if typing.get_args(option) else str
        return {"key": _sample(value, "value", variant, path)}
    if option is bool:
        return True
    if option is int:
        return 3
    if option is float:
        return 0.25
    return f"{name}-text"


def _model_sample(model: Any, variant: int, path: str = "") -> dict[str, Any]:
    sample: dict[str, Any] = {}
    for name, field in model.model_fields.items():
        if field.exclude:  # read by the SDK, never sent (a deprecated spelling)
            continue
        if name in REFUSED.get(model.__name__, ()):
            continue
        wire = _wire_name(name, field)
        sample[wire] = _sample(field.annotation, wire, variant, f"{path}.{wire}")
        if wire == "type":  # a model may declare several tags (SpeakV1Cleared)
            tags = typing.get_args(_options(field.annotation)[0])
            sample[wire] = next((t for t in tags if model.__name__.endswith(t)), sample[wire])
    sample.update(_COHERENT.get(model.__name__, {}))
    return sample


def _variants(model: Any) -> int:
    """How many samples it takes for every model of every union under ``model`` to
    appear in one of them (the widest union)."""
    widest = 1
    seen: set[Any] = set()

    def walk(annotation: Any) -> None:
        nonlocal widest
        options = _options(annotation)
        models = [option for option in options if _is_model(option)]
        widest = max(widest, len(models))
        for option in options:
            for arg in typing.get_args(option):
                walk(arg)
        for found in models:
            if found not in seen:
                seen.add(found)
                for field in found.model_fields.values():
                    walk(field.annotation)

    walk(model)
    return widest


# -- server messages ---------------------------------------------------------------------------


def _server_models() -> Iterator[tuple[str, Any]]:
    for socket, (module, union, _) in SOCKETS.items():
        for model in typing.get_args(getattr(_sdk(module), union)):
            if model is not bytes:
                yield socket, model


def _same(sdk: Any, ours: Any, where: str) -> None:
    """Every field the SDK declares is on our object, with the same value."""
    if isinstance(sdk, pydantic.BaseModel):
        for name, field in type(sdk).model_fields.items():
            wire = _wire_name(name, field)
            if wire == "type":
                continue  # our classes carry it as TYPE
            assert hasattr(ours, wire), f"{where}: no field {wire!r} on {type(ours).__name__}"
            _same(getattr(sdk, name), getattr(ours, wire), f"{where}.{wire}")
    elif isinstance(sdk, list):
        assert len(sdk) == len(ours), where
        for index, (a, b) in enumerate(zip(sdk, ours, strict=True)):
            _same(a, b, f"{where}[{index}]")
    elif where in ONE_OR_MANY and isinstance(sdk, str):
        assert ours == (sdk,), where
    else:
        assert sdk == ours, f"{where}: the SDK read {sdk!r}, dgtrio {ours!r}"


@pytest.mark.parametrize(
    ("socket", "model"), list(_server_models()), ids=lambda v: getattr(v, "__name__", v)
)
def test_every_sdk_server_message_decodes_to_its_own_class(socket: str, model: Any) -> None:
    codec = SOCKETS[socket][2]
    for variant in range(_variants(model)):
        wire = _model_sample(model, variant)
        sdk = model.model_validate(wire)
        ours = codec.decode(json.dumps(wire))
        assert not isinstance(ours, UnknownMessage), f"{socket} has no class for {wire['type']}"
        assert type(ours).__name__ == RENAMED.get(model.__name__, model.__name__)
        assert type(ours) is getattr(dgtrio, type(ours).__name__), "not exported from dgtrio"
        _same(sdk, ours, model.__name__)


def test_binary_frames_decode_to_each_sockets_audio_class() -> None:
    for socket, name in [
        ("speak v1", "SpeakV1Audio"),
        ("speak v2", "SpeakV2Audio"),
        ("agent v1", "AgentV1Audio"),
    ]:
        module, union, codec = SOCKETS[socket]
        assert bytes in typing.get_args(getattr(_sdk(module), union))
        assert type(codec.decode(b"\x00\x01")).__name__ == name


# -- query parameters ----------------------------------------------------------------------------

CONNECTS = {
    "deepgram.listen.v1.client": dgtrio.ListenV1Options,
    "deepgram.listen.v2.client": dgtrio.ListenV2Options,
    "deepgram.speak.v1.client": dgtrio.SpeakV1Options,
    "deepgram.speak.v2.client": dgtrio.SpeakV2Options,
}


@pytest.mark.parametrize(("module", "options"), CONNECTS.items(), ids=list(CONNECTS))
def test_every_sdk_query_parameter_is_an_option(module: str, options: type) -> None:
    client = getattr(_sdk(module), module.split(".")[2].upper().join(("Async", "Client")))
    parameters = set(inspect.signature(client.connect).parameters)
    parameters -= {"self", "authorization", "request_options"}
    assert parameters - {field.name for field in attrs.fields(options)} == set()


# -- Settings ------------------------------------------------------------------------------------


def _escape_hatches(value: Any, where: str = "settings") -> Iterator[str]:
    """Where a settings object leans on a raw escape hatch (an untyped provider)."""
    if isinstance(value, ag.CustomProvider):
        yield where
    elif attrs.has(type(value)):
        for field in attrs.fields(type(value)):
            yield from _escape_hatches(getattr(value, field.name), f"{where}.{field.name}")
    elif isinstance(value, tuple | list):
        for index, item in enumerate(value):
            yield from _escape_hatches(item, f"{where}[{index}]")


def _settings_samples() -> Iterator[tuple[int, dict[str, Any]]]:
    settings = _sdk("deepgram.agent.v1.types").AgentV1Settings
    for variant in range(_variants(settings)):
        yield variant, _model_sample(settings, variant)


def _pruned(value: Any) -> Any:
    """``value`` without the ``None``s that mean "not set"."""
    if isinstance(value, Mapping):
        return {key: _pruned(item) for key, item in value.items() if item is not None}
    if isinstance(value, list | tuple):
        return [_pruned(item) for item in value]
    return value


@pytest.mark.parametrize(("variant", "wire"), list(_settings_samples()))
def test_every_sdk_settings_field_is_expressible(variant: int, wire: dict[str, Any]) -> None:
    # The sample is one the SDK itself accepts.
    _sdk("deepgram.agent.v1.types").AgentV1Settings.model_validate(wire)
    ours = ag.AgentV1Settings.from_dict(wire)
    assert list(_escape_hatches(ours)) == []
    assert _pruned(to_json(ours)) == _pruned(wire)


def test_the_settings_samples_reach_every_provider() -> None:
    """Each provider model the SDK declares for listen, think and speak appears in
    one of the samples above."""
    seen = {
        (path, provider["type"], provider.get("version"))
        for _, wire in _settings_samples()
        for path, provider in _providers(wire)
    }
    agent = _models(_sdk("deepgram.agent.v1.types").AgentV1Settings.model_fields["agent"])
    for part, tag in [("listen", "version"), ("think", "type"), ("speak", "type")]:
        declared = {
            typing.get_args(_options(provider.model_fields[tag].annotation)[0])[0]
            for config in agent
            for entry in _models(config.model_fields[part])
            for provider in _models(entry.model_fields["provider"])
        }
        index = 2 if tag == "version" else 1
        assert declared <= {found[index] for found in seen if found[0] == f"agent.{part}"}


def _models(field: Any) -> list[Any]:
    """The SDK models a field may hold (in a union, a list or on its own)."""
    found: list[Any] = []
    for option in _options(field.annotation):
        for candidate in [option, *typing.get_args(option)]:
            found.extend(o for o in _options(candidate) if _is_model(o))
    return found


def _providers(wire: Mapping[str, Any]) -> Iterator[tuple[str, Mapping[str, Any]]]:
    agent = wire["agent"]
    for part in ("listen", "think", "speak"):
        for entry in _as_list(agent[part]):
            yield f"agent.{part}", entry["provider"]


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


# -- client messages -----------------------------------------------------------------------------

CLIENTS = {
    "listen v1": "deepgram.listen.v1.socket_client",
    "listen v2": "deepgram.listen.v2.socket_client",
    "speak v1": "deepgram.speak.v1.socket_client",
    "speak v2": "deepgram.speak.v2.socket_client",
    "agent v1": "deepgram.agent.v1.socket_client",
}
NOT_MESSAGES = {"send_media", "send_raw"}  # audio, and the SDK's own escape hatch


def _client_models() -> Iterator[tuple[str, str, Any]]:
    for socket, module in CLIENTS.items():
        client = next(
            value
            for name, value in vars(_sdk(module)).items()
            if name.startswith("Async") and name.endswith("SocketClient")
        )
        for name, method in inspect.getmembers(client, inspect.iscoroutinefunction):
            if name.startswith("send_") and name not in NOT_MESSAGES:
                hints = typing.get_type_hints(method)
                [model] = [option for option in _options(hints["message"]) if _is_model(option)]
                yield socket, name, model


FLUX_MULTI = dgtrio.ListenV2Options(
    model="flux-general-multi", encoding="linear16", sample_rate=16000
)


def _agent_settings(**agent: Any) -> ag.AgentV1Settings:
    return ag.AgentV1Settings(
        agent=ag.AgentConfig(
            listen=ag.Listen(provider=ag.DeepgramListenV1(model="nova-3")),
            think=ag.Think(provider=ag.OpenAiThink(model="gpt-4o-mini")),
            speak=ag.Speak(provider=ag.DeepgramSpeak(model="aura-2-thalia-en")),
            **agent,
        )
    )


WITH_THINK_LIVE = _agent_settings(think_live=ag.ThinkLive(provider=ag.DeepgramThinkLive()))

OPENERS: dict[str, Callable[[ConnectOptions], AbstractAsyncContextManager[Any]]] = {
    "listen v1": lambda connect: dgtrio.open_listen(**connect),
    "listen v2": lambda connect: dgtrio.open_flux_listen(FLUX_MULTI, **connect),
    "speak v1": lambda connect: dgtrio.open_speak(**connect),
    "speak v2": lambda connect: dgtrio.open_flux_speak(**connect),
    "agent v1": lambda connect: dgtrio.open_agent(WITH_THINK_LIVE, **connect),
}


async def _answer_a_call(agent: Any, m: Mapping[str, Any], session: FakeSession) -> None:
    request = {"id": m["id"], "name": m["name"], "arguments": "{}", "client_side": True}
    await session.send_json({"type": "FunctionCallRequest", "functions": [request]})
    async for message in agent:
        if isinstance(message, dgtrio.AgentV1FunctionCallRequest):
            break
    await agent.send_function_call_response(m["id"], m["content"], name=m["name"])


async def _speak_then(conn: Any, then: Awaitable[object]) -> None:
    await conn.speak("Hello there.")
    await then


async def _interrupt(tts: dgtrio.SpeakV2Connection, m: Mapping[str, Any]) -> None:
    await tts.speak("Hello there. This sentence is cut short.")
    async for message in tts:  # there is audio to interrupt
        if isinstance(message, dgtrio.SpeakV2Audio):
            break
    await tts.interrupt(m["playback_offset"]["value"])


async def _sent_on_opening() -> None:
    """``open_agent`` sends the Settings first (built from the sample's JSON)."""


def _typed(value: Any, cls: type[T], path: str) -> T | list[T]:
    """A settings part (or a fallback list of them) as dgtrio's typed model."""
    if isinstance(value, list):
        return [settings_part(item, cls, path) for item in value]
    return settings_part(value, cls, path)


Send = Callable[[Any, Mapping[str, Any], FakeSession], Awaitable[object]]

# (socket, the SDK's send method) -> how dgtrio sends that message, given the SDK-shaped
# sample ``m``: the typed method, every field the SDK declares passed as itself.
CALLS: dict[tuple[str, str], Send] = {
    ("listen v1", "send_close_stream"): lambda c, m, s: c.close_stream(),
    ("listen v1", "send_configure"): lambda c, m, s: c.configure(
        keyterms=m["keyterms"], features=m["features"]
    ),
    ("listen v1", "send_finalize"): lambda c, m, s: c.finalize(),
    ("listen v1", "send_keep_alive"): lambda c, m, s: c.keep_alive(),
    ("listen v2", "send_close_stream"): lambda c, m, s: c.close_stream(),
    ("listen v2", "send_configure"): lambda c, m, s: c.configure(
        thresholds=dgtrio.ListenV2Thresholds(**m["thresholds"]),
        keyterms=_as_list(m["keyterms"]),
        language_hints=m["language_hints"],
        numerals=m["numerals"],
    ),
    ("listen v2", "send_force_end_turn"): lambda c, m, s: c.force_end_turn(),
    ("speak v1", "send_clear"): lambda c, m, s: c.clear(),
    ("speak v1", "send_close"): lambda c, m, s: c.close(),
    ("speak v1", "send_flush"): lambda c, m, s: _speak_then(c, c.flush()),
    ("speak v1", "send_text"): lambda c, m, s: c.speak(m["text"]),
    ("speak v2", "send_close"): lambda c, m, s: c.close(),
    ("speak v2", "send_configure"): lambda c, m, s: c.configure(speed=m["speed"]),
    ("speak v2", "send_flush"): lambda c, m, s: _speak_then(c, c.flush()),
    ("speak v2", "send_interrupt"): lambda c, m, s: _interrupt(c, m),
    ("speak v2", "send_speak"): lambda c, m, s: c.speak(m["text"]),
    ("agent v1", "send_custom_to_think_provider"): lambda c, m, s: c.send_custom_to_think_provider(
        m["content"]
    ),
    ("agent v1", "send_force_end_turn"): lambda c, m, s: c.force_end_turn(),
    ("agent v1", "send_function_call_response"): _answer_a_call,
    ("agent v1", "send_inject_agent_message"): lambda c, m, s: c.inject_agent_message(
        m["message"], behavior=m["behavior"]
    ),
    ("agent v1", "send_inject_dynamic_agent_message"): lambda c, m, s: (
        c.inject_dynamic_agent_message(behavior=m["behavior"])
    ),
    ("agent v1", "send_inject_user_message"): lambda c, m, s: c.inject_user_message(m["content"]),
    ("agent v1", "send_keep_alive"): lambda c, m, s: c.keep_alive(),
    ("agent v1", "send_settings"): lambda c, m, s: _sent_on_opening(),
    ("agent v1", "send_update_listen"): lambda c, m, s: c.update_listen(
        _typed(m["listen"], ag.Listen, "listen")
    ),
    ("agent v1", "send_update_prompt"): lambda c, m, s: c.update_prompt(m["prompt"]),
    ("agent v1", "send_update_speak"): lambda c, m, s: c.update_speak(
        _typed(m["speak"], ag.Speak, "speak")
    ),
    ("agent v1", "send_update_think"): lambda c, m, s: c.update_think(
        _typed(m["think"], ag.Think, "think")
    ),
    ("agent v1", "send_update_think_live"): lambda c, m, s: c.update_think_live(
        _typed(m["think_live"], ag.ThinkLive, "think_live")
    ),
}


@pytest.mark.parametrize(
    ("socket", "method", "model"),
    list(_client_models()),
    ids=lambda v: getattr(v, "__name__", v),
)
async def test_every_sdk_client_message_has_a_typed_call(
    socket: str, method: str, model: Any, fake: FakeDeepgram, connect: ConnectOptions
) -> None:
    assert (socket, method) in CALLS, f"no dgtrio call sends what {socket}'s {method} does"
    for variant in range(_variants(model)):
        m = _model_sample(model, variant)
        model.model_validate(m)  # the SDK takes the sample
        if method == "send_settings":  # what open_agent sends first
            opening = dgtrio.open_agent(ag.AgentV1Settings.from_dict(m), **connect)
        else:
            opening = OPENERS[socket](connect)
        opened = len(fake.sessions)
        async with opening as conn:
            session = (await fake.wait_for_sessions(opened + 1))[-1]
            await CALLS[socket, method](conn, m, session)
            got = await _received(session, m["type"])
        _same_wire(_pruned(m), _pruned(got), model.__name__)


async def _received(session: FakeSession, type_: str) -> dict[str, Any]:
    """The first message of ``type_`` the fake received (waiting for it, briefly)."""
    with trio.fail_after(5):
        while True:
            found = [m for m in session.messages if m.get("type") == type_]
            if found:
                return dict(found[0])
            await trio.sleep(0.001)


def _same_wire(sdk: Any, ours: Any, where: str) -> None:
    """The frame dgtrio sent is the SDK's message (a list for one-or-many strings)."""
    if where in ONE_OR_MANY and isinstance(sdk, str):
        assert ours == [sdk], where
    elif isinstance(sdk, Mapping):
        assert isinstance(ours, Mapping) and set(ours) == set(sdk), f"{where}: {ours} != {sdk}"
        for key in sdk:
            _same_wire(sdk[key], ours[key], f"{where}.{key}")
    elif isinstance(sdk, list):
        assert isinstance(ours, list) and len(ours) == len(sdk), f"{where}: {ours} != {sdk}"
        for index, (a, b) in enumerate(zip(sdk, ours, strict=True)):
            _same_wire(a, b, f"{where}[{index}]")
    else:
        assert sdk == ours, f"{where}: the SDK sends {sdk!r}, dgtrio {ours!r}"
