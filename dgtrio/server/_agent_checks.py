"""The voice agent's client messages, checked against the API spec: ``Settings``,
``Update*``, injections and function results.

An error names the offending field by its path, the way Deepgram does
(:func:`field_error`), so a check raises :class:`Invalid` with that path.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from typing import Any, get_args

from .._codec import AudioEncoding

__all__ = [
    "FUNCTION_RESPONSE",
    "INJECT_AGENT",
    "INJECT_DYNAMIC",
    "INJECT_USER",
    "UPDATE_LISTEN",
    "UPDATE_PROMPT",
    "UPDATE_THINK_LIVE",
    "Invalid",
    "check",
    "check_listen",
    "check_settings",
    "check_speak",
    "check_think",
    "field_error",
    "required",
]

Check = Callable[[Any], bool]
# (dotted key, check, required): a key is only looked at when its parent object is
# there, so "audio.input.encoding" is required only when "audio.input" is given.
Fields = tuple[tuple[str, Check, bool], ...]
REQUIRED, OPTIONAL = True, False

_INPUT_ENCODINGS = get_args(AudioEncoding)
_OUTPUT_ENCODINGS = ("linear16", "mulaw", "alaw", "mp3", "opus", "flac", "aac")


class Invalid(Exception):
    """A client message field that does not match the API spec, named by its path."""

    def __init__(self, path: str) -> None:
        super().__init__(path)
        self.path = path


def _is_str(value: Any) -> bool:
    return isinstance(value, str)


def _is_bool(value: Any) -> bool:
    return isinstance(value, bool)


def _is_object(value: Any) -> bool:
    return isinstance(value, dict)


def _is_list(value: Any) -> bool:
    return isinstance(value, list)


def _is_str_list(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(item, str) for item in value)


def _is_positive_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


def _is_count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _is_probability(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and 0 <= value <= 1


def _one_of(*choices: str) -> Check:
    return lambda value: value in choices


def _is_agent(value: Any) -> bool:
    """An agent object, or the UUID of an agent stored with Deepgram."""
    if isinstance(value, dict):
        return True
    try:
        uuid.UUID(value)
    except (TypeError, ValueError, AttributeError):
        return False
    return True


_SETTINGS: Fields = (
    ("audio", _is_object, REQUIRED),
    ("audio.input", _is_object, OPTIONAL),
    ("audio.input.encoding", _one_of(*_INPUT_ENCODINGS), REQUIRED),
    ("audio.input.sample_rate", _is_positive_int, REQUIRED),
    ("audio.output", _is_object, OPTIONAL),
    ("audio.output.encoding", _one_of(*_OUTPUT_ENCODINGS), OPTIONAL),
    ("audio.output.sample_rate", _is_positive_int, OPTIONAL),
    ("audio.output.bitrate", _is_positive_int, OPTIONAL),
    ("audio.output.container", _one_of("none", "wav", "ogg"), OPTIONAL),
    ("agent", _is_agent, REQUIRED),
    ("tags", _is_str_list, OPTIONAL),
    ("experimental", _is_bool, OPTIONAL),
    ("mip_opt_out", _is_bool, OPTIONAL),
    ("flags", _is_object, OPTIONAL),
    ("flags.history", _is_bool, OPTIONAL),
)
_LISTEN: Fields = (
    ("listen.provider", _is_object, REQUIRED),
    ("listen.provider.type", _is_str, REQUIRED),
    ("listen.provider.version", _one_of("v1", "v2"), OPTIONAL),
    ("listen.provider.model", _is_str, OPTIONAL),
)
_THINK_LIVE: Fields = (
    ("think_live.provider", _is_object, REQUIRED),
    ("think_live.provider.type", _one_of("deepgram"), REQUIRED),
    ("think_live.provider.version", _one_of("v1"), REQUIRED),
    ("think_live.provider.agent_backchannel_sensitivity", _is_probability, OPTIONAL),
    ("think_live.provider.presence_check_max_count", _is_count, OPTIONAL),
    ("think_live.provider.presence_check_interval_ms", _is_count, OPTIONAL),
    ("think_live.provider.frustration_max_count", _is_count, OPTIONAL),
    ("think_live.provider.restricted_terms", _is_str_list, OPTIONAL),
)
_AGENT: Fields = (
    ("language", _is_str, OPTIONAL),
    ("listen", _is_object, OPTIONAL),
    *_LISTEN,
    ("think_live", _is_object, OPTIONAL),
    *_THINK_LIVE,
    ("greeting", _is_str, OPTIONAL),
)
_THINK: Fields = (
    ("provider", _is_object, REQUIRED),
    ("provider.type", _is_str, REQUIRED),
    ("provider.model", _is_str, REQUIRED),
    ("endpoint", _is_object, OPTIONAL),
    ("endpoint.url", _is_str, REQUIRED),
    ("prompt", _is_str, OPTIONAL),
    ("functions", _is_list, OPTIONAL),
)
_FUNCTION: Fields = (
    ("name", _is_str, REQUIRED),
    ("description", _is_str, OPTIONAL),
    ("parameters", _is_object, OPTIONAL),
    ("endpoint", _is_object, OPTIONAL),
    ("endpoint.url", _is_str, REQUIRED),
    ("defer_until_eot", _is_bool, OPTIONAL),
    ("initial_agent_filler", _is_bool, OPTIONAL),
    ("agent_filler_max_count", _is_count, OPTIONAL),
    ("agent_filler_interval_ms", _is_count, OPTIONAL),
)
_FILLERS = ("initial_agent_filler", "agent_filler_max_count", "agent_filler_interval_ms")
_SPEAK: Fields = (
    ("provider", _is_object, REQUIRED),
    ("provider.type", _is_str, REQUIRED),
    ("endpoint", _is_object, OPTIONAL),
    ("endpoint.url", _is_str, REQUIRED),
)
_SPEAK_PROVIDERS: dict[str, Fields] = {
    "deepgram": (("provider.model", _is_str, REQUIRED),),
    "open_ai": (("provider.model", _is_str, REQUIRED), ("provider.voice", _is_str, REQUIRED)),
    "eleven_labs": (("provider.model_id", _is_str, REQUIRED),),
    "cartesia": (
        ("provider.model_id", _is_str, REQUIRED),
        ("provider.voice", _is_object, REQUIRED),
        ("provider.voice.mode", _is_str, REQUIRED),
        ("provider.voice.id", _is_str, REQUIRED),
    ),
    "aws_polly": (
        ("provider.voice", _is_str, REQUIRED),
        ("provider.language", _is_str, REQUIRED),
        ("provider.engine", _is_str, REQUIRED),
        ("provider.credentials", _is_object, REQUIRED),
    ),
}
INJECT_USER: Fields = (("content", _is_str, REQUIRED),)
INJECT_AGENT: Fields = (
    ("message", _is_str, REQUIRED),
    ("behavior", _one_of("default", "queue", "interrupt"), OPTIONAL),
)
INJECT_DYNAMIC: Fields = (
    ("is_dynamic", lambda value: value is True, REQUIRED),
    ("behavior", _one_of("default", "queue", "interrupt"), OPTIONAL),
)
FUNCTION_RESPONSE: Fields = (
    ("id", _is_str, REQUIRED),
    ("name", _is_str, REQUIRED),
    ("content", _is_str, REQUIRED),
)
UPDATE_PROMPT: Fields = (("prompt", _is_str, REQUIRED),)
UPDATE_LISTEN: Fields = (("listen", _is_object, REQUIRED),)
UPDATE_THINK_LIVE: Fields = (("think_live", _is_object, REQUIRED), *_THINK_LIVE)


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def check(obj: Any, path: str, fields: Fields) -> None:
    """Check the object at ``path`` against ``fields``; raise :class:`Invalid`."""
    if not isinstance(obj, dict):
        raise Invalid(path)
    for key, test, needed in fields:
        *parents, name = key.split(".")
        parent: Any = obj
        for part in parents:
            parent = parent.get(part) if isinstance(parent, dict) else None
        if not isinstance(parent, dict):
            continue
        value = parent.get(name)
        if (value is None and needed) or (value is not None and not test(value)):
            raise Invalid(_join(path, key))


def required(message: Mapping[str, Any], key: str) -> Any:
    """``message[key]``, which must be there and not null."""
    if message.get(key) is None:
        raise Invalid(key)
    return message[key]


def check_listen(parent: dict[str, Any], path: str) -> None:
    """``listen`` in ``parent``: a provider type, and a model for v2 (Flux)."""
    check(parent, path, _LISTEN)
    provider = (parent.get("listen") or {}).get("provider") or {}
    if provider.get("version") == "v2" and provider.get("model") is None:
        raise Invalid(_join(path, "listen.provider.model"))


def _items(value: Any, path: str) -> list[tuple[str, Any]]:
    """A provider's settings: one object, or a list of them in fallback order."""
    if isinstance(value, list):
        return [(f"{path}[{index}]", item) for index, item in enumerate(value)]
    return [(path, value)]


def check_think(value: Any, path: str, *, think_live: bool) -> dict[str, dict[str, Any]]:
    """Check think settings; the functions they declare, by name.

    Deepgram refuses a function's filler field without Think Live, and a filler
    interval outside 1000-60000 ms unless ``agent_filler_max_count`` is 0.
    """
    functions: dict[str, dict[str, Any]] = {}
    for item_path, item in _items(value, path):
        check(item, item_path, _THINK)
        for index, function in enumerate(item.get("functions") or []):
            where = f"{item_path}.functions[{index}]"
            check(function, where, _FUNCTION)
            filler = next((name for name in _FILLERS if function.get(name) is not None), None)
            if filler is not None and not think_live:
                raise Invalid(f"{where}.{filler}")
            interval = function.get("agent_filler_interval_ms")
            ignored = function.get("agent_filler_max_count") == 0
            if interval is not None and not ignored and not 1000 <= interval <= 60000:
                raise Invalid(f"{where}.agent_filler_interval_ms")
            functions.setdefault(function["name"], function)
    return functions


def check_speak(value: Any, path: str) -> None:
    """Check speak settings: each provider's fields, as its type requires them."""
    for item_path, item in _items(value, path):
        check(item, item_path, _SPEAK)
        check(item, item_path, _SPEAK_PROVIDERS.get(item["provider"]["type"], ()))


def check_settings(
    message: dict[str, Any],
) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    """Check a ``Settings`` message; its agent and the functions that declares.

    A stored agent (a UUID) is known to the server as one without functions or greeting.
    """
    check(message, "", _SETTINGS)
    agent = message["agent"]
    if not isinstance(agent, dict):
        return {}, {}
    check(agent, "agent", _AGENT)
    check_listen(agent, "agent")
    functions = {}
    if agent.get("think") is not None:
        think_live = agent.get("think_live") is not None
        functions = check_think(agent["think"], "agent.think", think_live=think_live)
        for path, item in _items(agent["think"], "agent.think"):
            # Deepgram's think-fast needs the Model Improvement Program.
            provider = (item["provider"]["type"], item["provider"]["model"])
            if message.get("mip_opt_out") is True and provider == ("deepgram", "think-fast"):
                raise Invalid(f"{path}.provider.model")
    if agent.get("speak") is not None:
        check_speak(agent["speak"], "agent.speak")
    return agent, functions


def field_error(path: str) -> str:
    """Deepgram's description of an error in the field at ``path``."""
    return f"Error parsing client message. Check the {path} field against the API spec."
