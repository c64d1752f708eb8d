"""The fake servers' ears and voice: loudness of received audio, a tone for speech.

The fakes cannot recognise or synthesise speech. They hear loudness (the RMS level of
short windows of the client's audio, for the agent's and Flux's turn-taking) and
speak a quiet 220 Hz tone in the requested encoding, as long as the words would take.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Callable, Iterator, Sequence

from .._codec import SAMPLE_WIDTH
from ..audio._g711 import ALAW, ULAW, from_linear16

__all__ = ["FILLER", "PCM_OUTPUT", "LoudnessWindows", "level", "tone"]

TONE_HZ = 220.0
TONE_AMPLITUDE = 3000  # about -21 dBFS: a quiet stand-in for a voice
FILLER = bytes(range(251))  # stands in for compressed audio the fakes cannot encode


def level(chunk: bytes, encoding: str) -> float:
    """The RMS level of whole samples of PCM or G.711 audio, as a fraction of full scale."""
    samples: Sequence[int]
    if encoding == "linear16":
        samples, full_scale = struct.unpack(f"<{len(chunk) // 2}h", chunk), 32768.0
    elif encoding == "linear32":
        samples, full_scale = struct.unpack(f"<{len(chunk) // 4}i", chunk), 2.0**31
    else:
        table = ULAW if encoding == "mulaw" else ALAW
        samples, full_scale = [table[byte] for byte in chunk], 32768.0
    return math.sqrt(sum(s * s for s in samples) / len(samples)) / full_scale


def _pcm16(samples: list[int]) -> bytes:
    return struct.pack(f"<{len(samples)}h", *samples)


# Encodings the fakes synthesise as a tone: encoder, bytes per sample, WAV format tag.
PCM_OUTPUT: dict[str, tuple[Callable[[list[int]], bytes], int, int]] = {
    "linear16": (_pcm16, 2, 1),
    "mulaw": (lambda samples: from_linear16(_pcm16(samples), "mulaw"), 1, 7),
    "alaw": (lambda samples: from_linear16(_pcm16(samples), "alaw"), 1, 6),
}


def tone(seconds: float, encoding: str, sample_rate: int, *, start: int = 0) -> bytes:
    """``seconds`` of the fakes' voice in ``encoding`` (one of :data:`PCM_OUTPUT`).

    ``start`` is the index of the first sample, so that consecutive pieces join into
    one continuous tone.
    """
    encode = PCM_OUTPUT[encoding][0]
    count = round(seconds * sample_rate)
    step = 2 * math.pi * TONE_HZ / sample_rate
    return encode([round(TONE_AMPLITUDE * math.sin(step * i)) for i in range(start, start + count)])


class LoudnessWindows:
    """Cuts received audio into windows of ``window_seconds`` and tells which are loud.

    Compressed encodings cannot be heard: every window is silent (none is produced).
    """

    def __init__(self, encoding: str, sample_rate: int, window_seconds: float = 0.02) -> None:
        self._encoding = encoding
        self._width = SAMPLE_WIDTH.get(encoding)
        self.samples = max(1, round(sample_rate * window_seconds))
        """Samples in one window."""
        self._pending = bytearray()  # audio not yet looked at: less than a window

    def feed(self, data: bytes, threshold: float) -> Iterator[bool]:
        """For each whole window completed by ``data``: is it louder than ``threshold``?"""
        if self._width is None:
            return
        self._pending += data
        size = self.samples * self._width
        while len(self._pending) >= size:
            window = bytes(self._pending[:size])
            del self._pending[:size]
            yield level(window, self._encoding) > threshold
