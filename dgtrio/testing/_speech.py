"""What both text-to-speech fakes share: how they synthesise (:class:`SpeakScript`),
their voice, and the checks of the audio format a client asks for."""

from __future__ import annotations

import math
import uuid
from collections.abc import Awaitable, Callable, Mapping

import attrs
import trio

from ..server._common import Query, param
from ._sound import tone

__all__ = ["SpeakScript", "ToneVoice", "check_output", "model_uuid", "number"]


@attrs.frozen
class SpeakScript:
    """How the fake text-to-speech servers (Aura ``/v1/speak``, Flux ``/v2/speak``)
    synthesise.

    A text of N characters (surrounding whitespace aside) lasts
    ``N / characters_per_second`` seconds at speed 1 (the ``speed`` parameter divides
    that). Its audio is sent in chunks of ``chunk_seconds`` (the last one shorter),
    each once it has been "synthesised", ``synthesis_speed`` times faster than real
    time (``None``: all at once). A ``Speak`` of more than ``max_characters`` closes
    the socket (``BIG-0000``).

    Aura only: a ``Flush`` beyond ``flush_limit`` accepted ones within
    ``flush_window`` seconds gets a ``Warning`` and is ignored. Flux only: handling an
    ``Interrupt`` takes ``interrupt_seconds``, during which another one is ignored
    with ``INTERRUPT_IN_PROGRESS``.
    """

    characters_per_second: float = 15.0
    chunk_seconds: float = 0.1
    synthesis_speed: float | None = 10.0
    max_characters: int = 2000
    flush_limit: int = 20
    flush_window: float = 60.0
    interrupt_seconds: float = 0.0

    def __attrs_post_init__(self) -> None:
        rates = [self.characters_per_second, self.chunk_seconds, self.flush_window]
        if self.synthesis_speed is not None:
            rates.append(self.synthesis_speed)
        if not all(rate > 0 for rate in rates):  # written so that NaN fails too
            raise ValueError("rates and durations must be positive")
        if self.max_characters < 1 or self.flush_limit < 1:
            raise ValueError("max_characters and flush_limit must be at least 1")
        if not self.interrupt_seconds >= 0:
            raise ValueError("interrupt_seconds must be 0 or more")

    def audio_seconds(self, text: str, speed: float = 1.0) -> float:
        """How long the fake speaks ``text`` at ``speed``."""
        return len(text.strip()) / (self.characters_per_second * speed)


class ToneVoice:
    """The fakes' voice in one session: the tone in the session's format, in chunks of
    ``chunk_seconds`` that join into one continuous tone.

    :meth:`say` sends each chunk once it is "synthesised", ``synthesis_speed`` times
    faster than real time from the call (``None``: at once), as a synthesiser's
    would leave; ``samples`` counts the samples said so far."""

    def __init__(self, encoding: str, sample_rate: int, script: SpeakScript) -> None:
        self.encoding = encoding
        self.sample_rate = sample_rate
        self.step = max(1, round(script.chunk_seconds * sample_rate))
        """Samples in a whole chunk."""
        self._speed = script.synthesis_speed
        self.samples = 0

    async def say(self, count: int, send: Callable[[bytes], Awaitable[None]]) -> None:
        """``count`` more samples of the tone, in chunks, paced as synthesised."""
        rate, start = self.sample_rate, trio.current_time()
        for first in range(0, count, self.step):
            size = min(self.step, count - first)
            if self._speed is not None:
                # A chunk leaves once its last sample is synthesised.
                await trio.sleep_until(start + (first + size) / (rate * self._speed))
            await send(tone(size / rate, self.encoding, rate, start=self.samples))
            self.samples += size


def model_uuid(model: str) -> str:
    """The UUID the fakes give a voice model: the same for the same name."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"dgtrio-fake/{model}"))


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
