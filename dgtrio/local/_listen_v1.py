"""What the local engine hears on Listen v1 (``/v1/listen``): the words recognised
from the audio (the protocol around them is :class:`dgtrio.server.ListenV1Endpoint`'s).

The audio of each result channel is held from where its last final ended. A
recognition task looks at it after each 0.1 s of new audio, once the look before is
done (so audio sent faster than real time gets fewer looks, never a backlog): voice
activity detection says whether speech goes on; once a pause as long as the
endpointing delay (at least ``MIN_PAUSE``) follows it, the utterance is sent as a
final (``speech_final``). With ``interim_results``, the held speech is decoded for an
interim every 0.25 s of audio, once it holds 0.3 s of speech.

A final does not wait for its decode when it can help it: as soon as the speech has
paused for 0.1 s, the held speech is decoded (queued as a final: see
:class:`~dgtrio.local._decodes.Decodes`); if the pause goes on to end the utterance,
that decode heard all of it, and the final is sent at once with its words. Speech
after the pause makes it an interim, and the final decodes the whole utterance.

``Finalize`` and ``CloseStream`` wait for the task to take all the audio sent before
them, then finalise what is held.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import trio

from ..audio import AudioFormat
from ..listen import ListenV1Word
from ..server import ListenV1Settings, ListenV1Stream
from ._audio import ENCODINGS, Decoder, to_16k
from ._decodes import SKIPPED, Decodes
from ._recognizer import RecognizedWord, Recognizer

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

__all__ = ["MIN_PAUSE", "WhisperEars"]

MIN_PAUSE = 0.3
"""The shortest pause (seconds) that ends an utterance, whatever ``endpointing`` says
(Deepgram's default of 10 ms is finer than voice activity detection)."""
_STEP = 0.1  # seconds of new audio between looks at the held audio
_LONGEST = 15.0  # held speech without a pause is finalised at this length (see _listen_v2)
_KEEP_SILENCE = 0.3  # seconds of silence kept before speech when dropping silence
# Seconds of speech before the first interim: at 0.3 s Whisper hears the first word or
# two of flite's sentences ("the weather", "we need"); at less it guesses.
_INTERIM_SPEECH = 0.3
_INTERIM_EVERY = 0.25  # seconds of audio between a channel's interim decodes, at most
_TAIL = 0.1  # seconds of silence kept after the speech a final decodes


class WhisperEars:
    """The local engine's ears (a :class:`dgtrio.server.Ears`) for one stream:
    voice activity detection and Whisper on the audio held."""

    def __init__(self, recognizer: Recognizer, decodes: Decodes) -> None:
        self._recognizer = recognizer
        self._decodes = decodes
        self._new_audio = trio.Event()
        self._caught_up = trio.Event()
        self._wanted = 0  # audio samples (per channel) a flush waits to be looked at
        self._decoder: Decoder | None = None
        self._rate = 0
        self._held: list[list[Any]] = []  # per result channel: sample arrays since _seg_start
        self._seg_start: list[float] = []  # per result channel: where its held audio starts
        self._received = 0  # samples per channel received
        self._looked = 0  # samples per channel the task has looked at
        self._again = False  # look again at once (a final left speech held)
        # Per result channel: the words of the last interim decode of the held audio,
        # and the time up to which it heard it.
        self._heard: list[list[RecognizedWord]] = []
        self._heard_to: list[float] = []

    def check(self, settings: ListenV1Settings) -> str | None:
        if settings.encoding is not None and settings.encoding not in ENCODINGS:
            return (
                f"The local engine decodes {', '.join(ENCODINGS)} (or WAV), "
                f"not {settings.encoding}."
            )
        return None

    def can_hear(self, audio: AudioFormat | None) -> bool:
        return audio is not None and audio.encoding in ENCODINGS

    # -- audio in ----------------------------------------------------------------------

    async def hear(self, stream: ListenV1Stream, audio: bytes) -> None:
        import numpy as np

        if self._decoder is None:
            found = stream.format
            assert found is not None, "the server hands over only audio these ears hear"
            self._decoder, self._rate = Decoder(found.encoding, found.channels), found.sample_rate
            count = stream.result_channels
            self._held = [[] for _ in range(count)]
            self._heard = [[] for _ in range(count)]
            self._heard_to = [-math.inf] * count
            self._seg_start = [0.0] * count
        channels = self._decoder.decode(audio)
        if len(self._held) == 1 and len(channels) > 1:
            channels = [np.mean(channels, axis=0, dtype=np.float32)]  # a mix of them
        for held, samples in zip(self._held, channels, strict=True):
            held.append(samples)
        self._received += len(channels[0])
        self._new_audio.set()

    @property
    def _audio_time(self) -> float:
        return self._received / self._rate if self._rate else 0.0

    # -- recognition -------------------------------------------------------------------

    async def run(self, stream: ListenV1Stream) -> None:
        while True:
            await self._new_audio.wait()
            self._new_audio = trio.Event()
            fresh = self._received - self._looked
            if fresh < _STEP * self._rate and self._wanted <= self._looked and not self._again:
                continue
            self._again = False
            self._looked = self._received
            # The client is not idle while the engine works through what it sent.
            with stream.busy():
                for channel in range(len(self._held)):
                    await self._look(stream, channel)
            if self._again:
                self._new_audio.set()
            elif self._looked >= self._wanted:
                self._caught_up.set()

    async def _look(self, stream: ListenV1Stream, channel: int) -> None:
        """Interims, finals and speech events for what ``channel`` holds."""
        now = self._looked / self._rate
        start = self._seg_start[channel]
        audio = self._audio(channel)
        spans = await self._decodes.speech(self._recognizer.speech, audio)
        if not spans:
            self._drop_silence(channel, now)
            await stream.quiet(now)
            return
        await stream.speech_started(start + spans[0][0])
        pause = max(MIN_PAUSE, stream.settings.endpointing or 0.0)
        ends = [start + end for _, end in spans]
        follows = [start + begin for begin, _ in spans[1:]] + [now]
        for end, following in zip(ends, follows, strict=True):
            if following - end >= pause:  # an utterance, and the pause that ends it
                cut = min(end + _TAIL, following)
                await self._final(stream, channel, cut, endpoint=True, silent_to=following)
                self._again = True  # what follows the pause is looked at next
                return
        if now - start >= _LONGEST:
            await self._final(stream, channel, now)
            return
        speech = sum(end - begin for begin, end in spans)
        # An interim when one is due; and, asked for or not, once the speech pauses, so
        # that if the pause ends the utterance, its final has its words already.
        pausing = now - ends[-1] >= _TAIL and self._heard_to[channel] < ends[-1] + _TAIL
        due = stream.settings.interim_results and speech >= _INTERIM_SPEECH
        if pausing:  # most likely the final's decode: queued as one
            heard = await self._decodes.final(self._recognizer.transcribe, audio, start)
        elif due and now - self._heard_to[channel] >= _INTERIM_EVERY:
            found = await self._decodes.interim(
                (self, channel), self._recognizer.transcribe, audio, start
            )
            if found is SKIPPED:  # a final came first: the next look tries again
                return
            heard = found
        else:
            return
        self._heard_to[channel] = now
        if stream.settings.interim_results and heard and heard != self._heard[channel]:
            await stream.heard(channel, start, now, _words(heard))
        self._heard[channel] = heard

    async def _final(
        self,
        stream: ListenV1Stream,
        channel: int,
        cut: float,
        *,
        silent_to: float = -math.inf,
        endpoint: bool = False,
        from_finalize: bool = False,
    ) -> None:
        """Decode ``channel``'s audio up to ``cut`` as a final, and let it go: unless
        the last decode heard all of it, and only silence after (up to ``silent_to``)."""
        start = self._seg_start[channel]
        words = self._heard[channel]
        if not cut <= self._heard_to[channel] <= silent_to:
            audio = self._audio(channel, upto=cut)
            words = []
            if len(audio):
                words = await self._decodes.final(self._recognizer.transcribe, audio, start)
        self._release(channel, cut)
        await stream.heard(
            channel,
            start,
            cut,
            _words(words),
            final=True,
            endpoint=endpoint,
            from_finalize=from_finalize,
        )

    async def flush(
        self, stream: ListenV1Stream, channel: int | None, *, from_finalize: bool
    ) -> None:
        """Once every sample sent before was looked at, finals for what is held (of
        one channel, or all)."""
        if self._decoder is None:
            return  # no audio came: nothing is held
        with stream.busy():
            self._wanted = self._received
            while self._looked < self._wanted:
                self._caught_up = trio.Event()
                self._new_audio.set()
                await self._caught_up.wait()
            channels = range(len(self._held)) if channel is None else (channel,)
            for index in channels:
                end = self._audio_time
                await self._final(stream, index, end, silent_to=end, from_finalize=from_finalize)

    # -- held audio ----------------------------------------------------------------------

    def _audio(self, channel: int, upto: float = math.inf) -> npt.NDArray[np.float32]:
        import numpy as np

        held = self._held[channel]
        samples = np.concatenate(held) if held else np.zeros(0, np.float32)
        self._held[channel] = [samples]  # joined once: the next look joins only what came
        if upto < math.inf:
            samples = samples[: max(0, round((upto - self._seg_start[channel]) * self._rate))]
        return to_16k(samples, self._rate)

    def _release(self, channel: int, upto: float) -> None:
        """Let ``channel``'s audio before ``upto`` go: it was finalised (or silence)."""
        import numpy as np

        held = self._held[channel]
        samples = np.concatenate(held) if held else np.zeros(0, np.float32)
        drop = max(0, round((upto - self._seg_start[channel]) * self._rate))
        self._held[channel] = [samples[drop:]]
        self._seg_start[channel] += drop / self._rate
        self._heard[channel], self._heard_to[channel] = [], -math.inf

    def _drop_silence(self, channel: int, now: float) -> None:
        if now - self._seg_start[channel] > 2 * _KEEP_SILENCE:
            self._release(channel, now - _KEEP_SILENCE)


def _words(words: Sequence[RecognizedWord]) -> list[ListenV1Word]:
    return [
        ListenV1Word(w.word, w.start, w.end, w.confidence, punctuated_word=w.punctuated)
        for w in words
    ]
