"""Small helpers shared by the server's sockets."""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from .._errors import ConfigurationError

Query = Mapping[str, list[str]]
MODEL_VERSION = "fake"
"""The version every model reports: no Deepgram model made what the server says."""


def param(query: Query, name: str, default: str | None = None) -> str | None:
    """The last value of a query parameter, or ``default``."""
    values = query.get(name)
    return values[-1] if values else default


def flag(query: Query, name: str) -> bool:
    """A boolean query parameter: present and ``true``."""
    return param(query, name) == "true"


def check_hearing(
    lines: Sequence[str], name: str, speech_threshold: float, *timings: float
) -> None:
    """Validate what a fake that hears loudness is told: what the user says, the
    loudness that counts as speech, and its positive rates and durations."""
    if isinstance(lines, str) or not lines or not all(line.strip() for line in lines):
        raise ValueError(f"{name} must be a non-empty sequence of non-blank lines")
    if min(timings) <= 0:
        raise ValueError("rates and durations must be positive")
    if not 0 < speech_threshold < 1:
        raise ValueError("speech_threshold is a fraction of full scale, between 0 and 1")


def parse_message(frame: str) -> dict[str, Any] | None:
    """A client text frame as a JSON object with a string ``type``, or None."""
    try:
        message = json.loads(frame)
    except ValueError:
        return None
    if isinstance(message, dict) and isinstance(message.get("type"), str):
        return message
    return None


def model_uuid(model: str) -> str:
    """The UUID the server gives a model: the same for the same name."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"dgtrio-fake/{model}"))


def check_brain(owner: str, name: str, brain: object, protocol: type) -> None:
    """Refuse a brain that lacks a method of its ``protocol``, as it is passed in: a
    clear error now, not an ``AttributeError`` in some session later."""
    members = [m for m in vars(protocol) if not m.startswith("_")]
    missing = [m for m in members if not callable(getattr(brain, m, None))]
    if missing:
        raise ConfigurationError(
            f"{owner}.{name} must implement {protocol.__name__}: "
            f"{type(brain).__name__} has no {', '.join(missing)}"
        )
