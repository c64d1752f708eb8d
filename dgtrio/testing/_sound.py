"""The fake servers' voice: a tone for speech.

The fakes cannot synthesise speech: they speak a quiet 220 Hz tone in the requested
encoding, as long as the words would take.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Callable

from ..audio._g711 import from_linear16

__all__ = ["PCM_OUTPUT", "tone"]

TONE_HZ = 220.0
TONE_AMPLITUDE = 3000  # about -21 dBFS: a quiet stand-in for a voice


def _pcm16(samples: list[int]) -> bytes:
    return struct.pack(f"<{len(samples)}h", *samples)


# Encodings the fakes synthesise as a tone, and their encoders.
PCM_OUTPUT: dict[str, Callable[[list[int]], bytes]] = {
    "linear16": _pcm16,
    "mulaw": lambda samples: from_linear16(_pcm16(samples), "mulaw"),
    "alaw": lambda samples: from_linear16(_pcm16(samples), "alaw"),
}


def tone(seconds: float, encoding: str, sample_rate: int, *, start: int = 0) -> bytes:
    """``seconds`` of the fakes' voice in ``encoding`` (one of :data:`PCM_OUTPUT`).

    ``start`` is the index of the first sample, so that consecutive pieces join into
    one continuous tone.
    """
    encode = PCM_OUTPUT[encoding]
    count = round(seconds * sample_rate)
    step = 2 * math.pi * TONE_HZ / sample_rate
    return encode([round(TONE_AMPLITUDE * math.sin(step * i)) for i in range(start, start + count)])
