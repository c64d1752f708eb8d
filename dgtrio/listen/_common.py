"""What both listen APIs' options share."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from .._errors import ConfigurationError

__all__ = ["as_tuple", "check_raw_format"]


def check_raw_format(owner: str, encoding: str | None, sample_rate: int | None) -> None:
    """Raw audio needs an ``encoding`` and a ``sample_rate``; containers neither."""
    if (encoding is None) != (sample_rate is None):
        raise ConfigurationError(
            f"{owner}: encoding and sample_rate go together: give both for raw audio, "
            "neither for containerized audio (WAV, Ogg, MP3...)"
        )


def as_tuple(value: Sequence[str] | str) -> Any:
    """A list (or any iterable) becomes a tuple; a string, a mapping or a value that
    is no iterable is left as it is, for ``check_fields`` to refuse by name."""
    if isinstance(value, str | bytes | bytearray | Mapping) or not isinstance(value, Iterable):
        return value
    return tuple(value)
