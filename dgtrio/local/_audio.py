"""Client audio as the recogniser takes it: bytes of PCM or G.711 in, float32 16 kHz
mono per channel out (sans-io)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..audio._g711 import ALAW, ULAW
from ._recognizer import SAMPLE_RATE

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

__all__ = ["ENCODINGS", "Decoder", "to_16k"]

ENCODINGS = ("linear16", "linear32", "mulaw", "alaw")
"""What the local engine decodes (and WAV files of them)."""


class Decoder:
    """Turns a stream of ``encoding`` bytes, ``channels`` interleaved, into float32
    samples (at the stream's rate), one array per channel. A sample cut between two
    frames is kept for the next."""

    def __init__(self, encoding: str, channels: int) -> None:
        import numpy as np

        if encoding not in ENCODINGS:
            raise ValueError(f"the local engine decodes {', '.join(ENCODINGS)}, not {encoding}")
        self.encoding = encoding
        self.channels = channels
        self.width = {"linear16": 2, "linear32": 4}.get(encoding, 1)
        """Bytes per sample."""
        self._rest = b""
        table = ULAW if encoding == "mulaw" else ALAW
        self._table = np.asarray(table, dtype=np.float32) / 32768.0

    def decode(self, data: bytes) -> list[npt.NDArray[np.float32]]:
        """The samples of each channel in ``data`` (and in what was held back)."""
        import numpy as np

        data = self._rest + data
        frame = self.width * self.channels
        whole = len(data) - len(data) % frame
        data, self._rest = data[:whole], data[whole:]
        if self.encoding == "linear16":
            samples = np.frombuffer(data, dtype="<i2").astype(np.float32) / 32768.0
        elif self.encoding == "linear32":
            samples = (np.frombuffer(data, dtype="<i4") / 2.0**31).astype(np.float32)
        else:
            samples = self._table[np.frombuffer(data, dtype=np.uint8)]
        return [np.ascontiguousarray(channel) for channel in samples.reshape(-1, self.channels).T]


def to_16k(samples: npt.NDArray[np.float32], rate: int) -> npt.NDArray[np.float32]:
    """``samples`` at ``rate`` Hz, resampled to the recogniser's 16 kHz."""
    import numpy as np

    if rate == SAMPLE_RATE:
        return samples
    if rate % SAMPLE_RATE == 0:  # 32 or 48 kHz: the mean of each group (a low-pass)
        factor = rate // SAMPLE_RATE
        usable = len(samples) - len(samples) % factor
        mean = samples[:usable].reshape(-1, factor).mean(axis=1)
        return np.asarray(mean, dtype=np.float32)
    step = rate / SAMPLE_RATE
    positions = np.arange(int(len(samples) / step)) * step
    return np.asarray(np.interp(positions, np.arange(len(samples)), samples), dtype=np.float32)
