"""Flux (``/v2/listen``, Listen v2) on the local engine: the server's turn-taking,
with the words recognised from the turn's audio instead of read from a script.

:class:`~dgtrio.server.ListenV2Endpoint` takes the turns, from the loudness of 20 ms
windows (:data:`FLUX_SCRIPT` sets levels and pauses for real voices): ``StartOfTurn``,
an ``Update`` every ``update_interval``, ``EagerEndOfTurn`` and ``TurnResumed`` with
``eager_eot_threshold``, ``EndOfTurn`` after the model's silence, at
``eot_timeout_ms`` or on ``ForceEndTurn``; ``Configure``, ``CloseStream`` and
sequence ids are the protocol's. :class:`WhisperFluxEars` hear what the user said:

* The audio is decoded to float and resampled to 16 kHz as it comes, and held from a
  short lead-in before the turn's start; between turns only that lead-in is kept.
* ``EagerEndOfTurn`` and ``EndOfTurn`` decode the turn's audio up to their end (the
  transcript the client acts on), except that an ``EndOfTurn`` with no speech since
  the ``EagerEndOfTurn`` repeats its words, as Flux promises (the server does not ask
  again). An ``EagerEndOfTurn`` whose audio holds no words is not sent (a cough is no
  reason to start replying).
* ``StartOfTurn`` and ``Update`` carry the words of the last decode of the turn: a
  task re-decodes the turn's audio after each half second of new speech, when the
  recogniser is free (a Whisper decode of a sentence takes about 0.13 s), so audio
  sent faster than real time gets fewer such decodes, never a backlog.
* ``CloseStream`` decodes the speech not yet decoded for its last ``Update``: that is
  the transcript of the turn left open.

A long turn keeps its audio bounded: once it holds more than 10 s, the words decoded
in it but for the last 3 s are kept as they are, and their audio let go; and no one
decode takes more than 15 s of audio (the most that a short window holds: see
:mod:`dgtrio.local._recognizer`).

Word times are the stream's. The first word may start up to the lead-in before the
turn's ``audio_window_start``: that is where the loudness rose, and a quiet onset
("h", "s", a stop) comes before it.

Only raw linear16, linear32, mulaw and alaw audio is recognised; the handshake refuses
other encodings, and audio without an encoding.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

import trio

from ..server import FluxHearing, FluxScript, FluxWord, ListenV2Settings
from ._audio import ENCODINGS, Decoder, to_16k
from ._decodes import SKIPPED, Decodes
from ._recognizer import SAMPLE_RATE, RecognizedWord, Recognizer

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    Audio = npt.NDArray[np.float32]

__all__ = ["FLUX_SCRIPT", "WhisperFluxEars"]

FLUX_SCRIPT = FluxScript(
    speech_threshold=0.01,
    speech_onset=0.15,
    update_interval=0.25,
    eager_silence=0.4,
    end_of_turn_silence=0.8,
)
"""Turn-taking for real voices (the fake's defaults suit its tone):

* ``speech_threshold`` 0.01 (-40 dBFS RMS): speech picked up by a microphone at an
  ordinary level lies around -30 to -15 dBFS, its quiet consonants lower; the fake's
  0.02 (-34 dBFS) counts the quieter parts of a soft voice as pauses. A room's noise
  floor (-50 dBFS and below) stays well under it.
* ``speech_onset`` 0.15 s: a click, a tap or a knock is not a turn; a syllable lasts
  longer.
* ``eager_silence`` 0.4 s and ``end_of_turn_silence`` 0.8 s: loudness cannot tell a
  finished sentence from a pause for breath, as Flux's model does, and people pause
  for half a second within a sentence (commas, hesitations); each ``EagerEndOfTurn``
  costs a decode.

``turns`` and ``words_per_second`` are unused: the words are recognised.
"""

_LEAD_IN = 0.3  # seconds held before a turn's loud start: quiet onsets ("h", "s", "f")
_INTERIM_EVERY = 0.5  # seconds of new speech between the decodes for StartOfTurn/Update
# Long turns: one decode takes at most _LONGEST seconds (what one short window holds;
# in 30 s windows, Whisper tiny takes 1 s for 20 s of flite's speech, 11 s for 26 s);
# once a decode took more than _KEEP_FROM seconds, the words in it but for the last
# _RECENT seconds are kept as they are, and their audio let go.
_LONGEST = 15.0
_KEEP_FROM = 10.0
_RECENT = 3.0
_SLACK = 0.5  # seconds of audio let go at once between turns (fewer copies)


class WhisperFluxEars:
    """The words of a Flux stream's turns, recognised: a :class:`~dgtrio.server.FluxEars`.

    Args:
        recognizer: the shared recogniser.
        decodes: the decodes of every stream (one at a time, finals first).
    """

    def __init__(self, recognizer: Recognizer, decodes: Decodes) -> None:
        self._recognizer = recognizer
        self._decodes = decodes

    @property
    def held(self) -> float:
        """Seconds of audio held."""
        return (self._held_end - self._held_start) / SAMPLE_RATE

    def refusal(self, settings: ListenV2Settings) -> str | None:
        encoding = settings.encoding
        if encoding in ENCODINGS:
            return None
        told = "audio without an encoding" if encoding is None else encoding
        return f"The local engine recognises raw {', '.join(ENCODINGS)} audio, not {told}."

    def open(self, settings: ListenV2Settings, rate: int, nursery: trio.Nursery) -> None:
        self._rate = rate
        self._decoder = Decoder(settings.encoding or "", 1)
        self._resampler = _Resampler(rate)
        self._held: list[Audio] = []  # 16 kHz audio, from _held_start to _held_end
        self._held_start = 0  # 16 kHz sample positions in the stream
        self._held_end = 0
        self._in_turn = False
        self._loud = 0  # samples (stream rate) of loud audio since the turn's speech began
        # Changes with the turn, and when _hear_turn decodes it: an interim decode
        # started before is then out of date.
        self._epoch = 0
        self._hearing = False  # _hear_turn is decoding
        self._new_audio = trio.Event()
        self._reset_turn()
        nursery.start_soon(self._interims)

    def _reset_turn(self) -> None:
        self._turn_from = 0  # 16 kHz position where the turn's decodes start
        self._kept: list[RecognizedWord] = []  # words of a long turn's audio let go
        self._heard_words: list[RecognizedWord] = []  # the last decode's
        self._loud_decoded = 0  # the turn's loud samples (stream rate) at that decode

    # --- What the server tells ----------------------------------------------------------

    def hear(self, audio: bytes) -> None:
        (samples,) = self._decoder.decode(audio)
        self._hold(self._resampler.feed(samples))

    def speech(self, start: int, end: int, spoken: int) -> None:
        self._loud = spoken + end - start

    def heard(self, pending: int) -> None:
        self._let_go(pending)
        self._new_audio.set()

    def turn_started(self, start: int) -> None:
        self._epoch += 1
        self._reset_turn()
        self._in_turn = True
        self._turn_from = max(self._held_start, self._at_16k(start) - round(_LEAD_IN * SAMPLE_RATE))

    async def words(self, end: int, hearing: FluxHearing) -> Sequence[FluxWord]:
        """The last decode's words; for an ``EagerEndOfTurn`` or ``EndOfTurn``, a
        decode of the turn up to ``end``; for the last ``Update``, one of all its
        speech, if there is some not decoded yet."""
        if hearing == "final":
            await self._hear_turn(self._at_16k(end))
        elif hearing == "closing" and self._loud > self._loud_decoded:
            await self._hear_turn(self._held_end)
        return [
            FluxWord(word=w.punctuated, start=w.start, end=w.end, confidence=w.confidence)
            for w in [*self._kept, *self._heard_words]
        ]

    def turn_ended(self) -> None:
        self._in_turn = False
        self._epoch += 1
        self._reset_turn()

    # --- Audio ------------------------------------------------------------------------

    def _samples(self, seconds: float) -> int:
        return round(seconds * self._rate)

    def _at_16k(self, position: int) -> int:
        """A sample position at the stream's rate, at 16 kHz."""
        return round(position * SAMPLE_RATE / self._rate)

    def _hold(self, samples: Audio) -> None:
        if len(samples):
            self._held.append(samples)
            self._held_end += len(samples)

    def _audio(self, start: int, end: int) -> Audio:
        """The held 16 kHz audio from ``start`` to ``end``, as far as it is held."""
        import numpy as np

        held = np.concatenate(self._held) if self._held else np.zeros(0, np.float32)
        self._held = [held]
        first = max(0, start - self._held_start)
        return held[first : max(first, end - self._held_start)]

    def _release(self, start: int) -> None:
        """Let the held audio before ``start`` go."""
        if start > self._held_start:
            self._held = [self._audio(start, self._held_end).copy()]
            self._held_start = min(start, self._held_end)

    def _let_go(self, pending: int) -> None:
        """Keep the current turn's audio, or between turns the lead-in for the next
        (which starts at ``pending`` or later)."""
        if self._in_turn:
            keep = self._turn_from
        else:
            keep = self._at_16k(pending) - round(_LEAD_IN * SAMPLE_RATE)
        if keep - self._held_start >= _SLACK * SAMPLE_RATE:
            self._release(keep)

    # --- Recognition ------------------------------------------------------------------

    async def _decode(self, end: int) -> list[RecognizedWord]:
        """The words in the turn's audio from ``_turn_from`` to ``end`` (16 kHz), for
        an ``EagerEndOfTurn``, an ``EndOfTurn`` or the last ``Update``."""
        start = self._turn_from
        audio = self._audio(start, end)
        return await self._decodes.final(self._recognizer.transcribe, audio, start / SAMPLE_RATE)

    async def _hear_turn(self, end: int) -> None:
        """Decode the turn's audio up to ``end`` (16 kHz), for an ``EagerEndOfTurn``,
        an ``EndOfTurn`` or the last ``Update``; in parts if it is too long for one."""
        self._epoch += 1  # an interim decode under way is out of date
        self._hearing, loud = True, self._loud
        try:
            while end - self._turn_from > _LONGEST * SAMPLE_RATE:
                part = self._turn_from + round(_LONGEST * SAMPLE_RATE)
                self._keep_older(await self._decode(part), part)
            self._heard_words, self._loud_decoded = await self._decode(end), loud
        finally:
            self._hearing = False

    async def _interims(self) -> None:
        """Re-decode the turn's audio after each ``_INTERIM_EVERY`` seconds of new
        speech, when the recogniser is free, for ``StartOfTurn`` and ``Update``.

        Not while an ``EagerEndOfTurn`` stands: there is no new speech then."""
        while True:
            await self._new_audio.wait()
            self._new_audio = trio.Event()
            new_speech = self._loud - self._loud_decoded
            if (
                not self._in_turn
                or self._hearing  # the audio loop is decoding the turn
                or new_speech < self._samples(_INTERIM_EVERY)
            ):
                continue
            epoch, loud, held = self._epoch, self._loud, self._held_end
            end = min(held, self._turn_from + round(_LONGEST * SAMPLE_RATE))
            start = self._turn_from
            words = await self._decodes.interim(
                self,
                self._recognizer.transcribe,
                self._audio(start, end),
                start / SAMPLE_RATE,
            )
            # Skipped (a final came first: the next audio brings another look), or
            # another turn, or its eager or final words since.
            if words is SKIPPED or epoch != self._epoch:
                continue
            self._heard_words = words
            if end - self._turn_from > _KEEP_FROM * SAMPLE_RATE:
                self._keep_older(words, end)
            if end == held:
                self._loud_decoded = loud
            else:
                self._new_audio.set()  # more held than one decode takes: on at once

    def _keep_older(self, words: list[RecognizedWord], end: int) -> None:
        """Let the older part of a long turn's audio go, keeping the words heard in it
        (``words``, decoded up to ``end``): all but those of its last ``_RECENT``
        seconds, which a later decode hears again, with what follows."""
        limit = end / SAMPLE_RATE - _RECENT
        count = 0
        while count < len(words) and words[count].end <= limit:
            count += 1
        cut = limit  # no words so long before the end: noise, or nothing Whisper knows
        if count:
            following = words[count].start if count < len(words) else words[count - 1].end
            cut = (words[count - 1].end + following) / 2
        position = round(cut * SAMPLE_RATE)
        if position <= self._turn_from:
            position = round(limit * SAMPLE_RATE)
        self._kept += words[:count]
        self._heard_words = words[count:]
        self._turn_from = position
        self._release(position)


class _Resampler:
    """:func:`to_16k` for a stream cut into chunks, without seams: what a chunk leaves
    over (a partial group of samples, the position of the next output sample) is
    carried into the next."""

    def __init__(self, rate: int) -> None:
        import numpy as np

        self.rate = rate
        self._rest = np.zeros(0, np.float32)  # rates that are a multiple of 16 kHz
        self._last = np.zeros(0, np.float32)  # other rates: the last sample, and
        self._taken = 0  # the samples taken, and
        self._made = 0  # those made

    def feed(self, samples: Audio) -> Audio:
        import numpy as np

        if self.rate == SAMPLE_RATE:
            return samples
        if self.rate % SAMPLE_RATE == 0:
            factor = self.rate // SAMPLE_RATE
            joined = np.concatenate([self._rest, samples])
            usable = len(joined) - len(joined) % factor
            self._rest = joined[usable:]
            return to_16k(joined[:usable], self.rate)
        # Linear interpolation at each output sample's position in the input.
        step = self.rate / SAMPLE_RATE
        joined = np.concatenate([self._last, samples])
        first = self._taken - len(self._last)  # the input position of joined[0]
        self._taken += len(samples)
        if not self._taken:
            return joined
        stop = math.floor((self._taken - 1) / step) + 1
        positions = np.arange(self._made, stop) * step - first
        self._made = max(self._made, stop)
        self._last = joined[-1:]
        return np.asarray(np.interp(positions, np.arange(len(joined)), joined), np.float32)
