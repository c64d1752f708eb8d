"""What the server hears of audio it cannot recognise: the loudness of short windows
of the client's audio (for the agent's and Flux's turn-taking)."""

from __future__ import annotations

import math
import struct
from collections.abc import Iterator, Sequence

from .._codec import SAMPLE_WIDTH
from ..audio._g711 import ALAW, ULAW

__all__ = ["LoudnessWindows", "level"]


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
