"""What the two text-to-speech sockets (Aura ``/v1/speak``, Flux ``/v2/speak``) share:
their limits and timings (:class:`SpeakLimits`), and the checks of the audio format a
client asks for."""

from __future__ import annotations

import math
from collections.abc import Mapping

import attrs

from ._common import Query, param

__all__ = ["SpeakLimits", "check_output", "number"]


@attrs.frozen
class SpeakLimits:
    """The limits and timings of the server's text-to-speech sockets, whatever voice
    speaks on them.

    Audio goes out in chunks of ``chunk_seconds`` (a sentence's or an utterance's last
    one shorter), as Deepgram's does. A ``Speak`` of more than ``max_characters``
    closes the socket (``BIG-0000``). Aura only: a ``Flush`` beyond ``flush_limit``
    accepted ones within ``flush_window`` seconds gets a ``Warning`` and is ignored.
    Flux only: handling an ``Interrupt`` takes ``interrupt_seconds``, during which
    another one is ignored with ``INTERRUPT_IN_PROGRESS``.
    """

    chunk_seconds: float = 0.1
    max_characters: int = 2000
    flush_limit: int = 20
    flush_window: float = 60.0
    interrupt_seconds: float = 0.0

    def __attrs_post_init__(self) -> None:
        # Written so that NaN fails too.
        if not (self.chunk_seconds > 0 and self.flush_window > 0):
            raise ValueError("rates and durations must be positive")
        if self.max_characters < 1 or self.flush_limit < 1:
            raise ValueError("max_characters and flush_limit must be at least 1")
        if not self.interrupt_seconds >= 0:
            raise ValueError("interrupt_seconds must be 0 or more")

    def chunk_samples(self, sample_rate: int) -> int:
        """Samples in a whole chunk at ``sample_rate`` (at least one)."""
        return max(1, round(self.chunk_seconds * sample_rate))


def number(value: str | None) -> float | None:
    """A query value as a finite number, or None."""
    try:
        result = float(value) if value is not None else None
    except ValueError:
        return None
    return result if result is not None and math.isfinite(result) else None


def check_output(query: Query, rates: Mapping[str, tuple[str, ...]]) -> tuple[str, str] | None:
    """Refuse an ``encoding`` or ``sample_rate`` the socket does not stream (HTTP 400,
    ``INVALID_QUERY_PARAMETER``); ``rates`` lists each encoding's rates, the default
    first. ``mip_opt_out`` is checked too."""
    encoding = param(query, "encoding", "linear16") or ""
    allowed = rates.get(encoding)
    if allowed is None:
        return (
            "INVALID_QUERY_PARAMETER",
            f"Invalid encoding: {encoding!r}; streaming supports linear16, mulaw and alaw.",
        )
    rate = param(query, "sample_rate", allowed[0])
    if rate not in allowed:
        return (
            "INVALID_QUERY_PARAMETER",
            f"Invalid sample_rate {rate!r} for {encoding}: use one of {', '.join(allowed)}.",
        )
    mip_opt_out = param(query, "mip_opt_out")
    if mip_opt_out is not None and mip_opt_out not in ("true", "false"):
        return "INVALID_QUERY_PARAMETER", f"Invalid mip_opt_out {mip_opt_out!r}."
    return None
