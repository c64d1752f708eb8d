"""Offline speech: hibari's default voice (24 kHz, distilled from Kokoro-82M's
af_heart), through onnxruntime. Blocking calls, for worker threads."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..audio._g711 import from_linear16
from ._models import require

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

__all__ = ["VOICE_RATE", "Synthesizer", "encode"]

VOICE_RATE = 24000
"""The rate hibari speaks at."""


class Synthesizer:
    """hibari's default voice, the one its wheel carries (the others are downloaded on
    first use, which the local engine never does: every voice name maps to this one).

    Raises:
        LocalEngineUnavailable: the local extra is not installed.
    """

    def __init__(self, *, threads: int = 1) -> None:
        require("hibari")
        import hibari

        self._voice = hibari.Hibari(threads=threads)
        self._voice.g2p  # noqa: B018 - loads the pronouncing dictionary now, not mid-stream

    def synthesize(self, text: str, speed: float = 1.0) -> npt.NDArray[np.float32]:
        """``text`` spoken at ``speed`` (1: the voice's pace): float32 at 24 kHz."""
        import numpy as np

        return np.asarray(self._voice(text, speed=speed, seed=0), dtype=np.float32)


def encode(samples: npt.NDArray[np.float32], encoding: str, sample_rate: int) -> bytes:
    """24 kHz float samples as ``encoding`` (linear16, mulaw, alaw) at ``sample_rate``."""
    import numpy as np

    if sample_rate != VOICE_RATE:
        step = VOICE_RATE / sample_rate
        positions = np.arange(int(len(samples) / step)) * step
        samples = np.asarray(np.interp(positions, np.arange(len(samples)), samples), np.float32)
    pcm = (np.clip(samples, -1.0, 1.0) * 32767).astype("<i2").tobytes()
    return (
        pcm
        if encoding == "linear16"
        else from_linear16(pcm, "mulaw" if encoding == "mulaw" else "alaw")
    )
