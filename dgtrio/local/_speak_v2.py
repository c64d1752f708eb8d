"""Flux TTS (``/v2/speak``) on the local engine: the fake's protocol, with speech
synthesised for real. Every ``flux-*`` voice is hibari's default voice (American
English), whatever its name and language; ``expressivity`` is accepted and changes
nothing.

Everything but the audio is :class:`~dgtrio.testing._speak_v2.SpeakV2Fake`'s: the
messages and their order, the warnings, errors, interrupt rules, ``Configure`` and
``Close``. A turn is spoken sentence by sentence as its text arrives (hibari's
sentence splitting): a sentence once the text after it shows where it ends, the
turn's last one once the turn is flushed (or the session closes). Each is spoken at
the speed in force when its first character came (``speed``, then ``Configure``),
and its audio goes out as soon as it is synthesised, in chunks of the fake's size
(:attr:`~dgtrio.testing.SpeakScript.chunk_seconds`), the sentence's last one
shorter. The turn's duration is its real audio's: ``SpeechMetadata``'s
``audio_duration_ms``, the session's total, and an interrupt's text split, which is
made in the sentence playing at the offset, in proportion to that sentence's audio,
at a word boundary.
"""

from __future__ import annotations

import weakref
from collections.abc import Mapping
from typing import Any

import attrs
import trio

from ..testing._speak_v2 import SpeakV2Fake, _billable, _cut, _Turn
from ..testing._speech import SpeakScript
from ._synthesizer import Synthesizer, encode

__all__ = ["LocalSpeakV2"]


@attrs.define
class _Sentence:
    """A sentence of a turn synthesised: where it is in the turn's text, and its
    audio's length in samples at the session's rate."""

    start: int
    end: int
    samples: int


@attrs.define
class _Speech:
    """What was synthesised of one turn."""

    # (where a Speak's text ends in the turn's text, the speed in force when it came)
    speeds: list[tuple[int, float]] = attrs.Factory(list)
    said: int = 0  # where the text not yet synthesised begins
    sentences: list[_Sentence] = attrs.Factory(list)
    sent: int = 0  # samples sent


class LocalSpeakV2(SpeakV2Fake):
    """One Flux TTS session of the local engine (hibari's default voice for every
    ``flux-*`` model).

    Args:
        synthesizer: the engine's voice, shared by every session.
        limiter: syntheses run in worker threads, as many at once as it allows.
    """

    def __init__(self, synthesizer: Synthesizer, limiter: trio.CapacityLimiter) -> None:
        super().__init__(SpeakScript(synthesis_speed=None))
        self._synthesizer = synthesizer
        self._limiter = limiter
        self._speech: weakref.WeakKeyDictionary[_Turn, _Speech] = weakref.WeakKeyDictionary()

    def _of(self, turn: _Turn) -> _Speech:
        speech = self._speech.get(turn)
        if speech is None:
            speech = self._speech[turn] = _Speech()
        return speech

    def _speak(self, message: Mapping[str, Any]) -> None:
        super()._speak(message)
        turn = self._turns[-1]  # the text was added to the last turn
        self._of(turn).speeds.append((len(turn.text), self._speed))

    async def _say(self, turn: _Turn, ending: bool) -> bool:
        """Synthesise the turn's next sentence, if it is complete (any once the turn
        is ending), and send its audio."""
        speech = self._of(turn)
        text = turn.text
        spans = _spans(text[speech.said :])
        if not spans or (len(spans) == 1 and not ending):
            return False
        start, end = (speech.said + position for position in spans[0])
        speech.said += spans[1][0] if len(spans) > 1 else spans[0][1]
        words = _billable(text[start:end])[0]  # pronunciation controls as their word
        if not any(c.isalnum() for c in words):
            return True  # punctuation alone: nothing to speak, as the fake has it
        speed = next((s for until, s in speech.speeds if until > start), self._speed)
        samples = await trio.to_thread.run_sync(
            self._synthesizer.synthesize, words, speed, limiter=self._limiter
        )
        voice = self._voice
        audio = encode(samples, voice.encoding, voice.sample_rate)
        width = 2 if voice.encoding == "linear16" else 1
        speech.sentences.append(_Sentence(start, end, len(audio) // width))
        chunk = voice.step * width
        for first in range(0, len(audio), chunk):
            piece = audio[first : first + chunk]
            await self._send(piece)
            voice.samples += len(piece) // width
            speech.sent += len(piece) // width
        return True

    def _turn_ms(self, turn: _Turn) -> float:
        """The turn's audio sent so far (all of it once it was spoken)."""
        speech = self._speech.get(turn)
        return 0.0 if speech is None else speech.sent * 1000 / self._voice.sample_rate

    def _heard(self, turn: _Turn, heard_ms: float) -> int:
        """Where the text heard ends: in the sentence playing at ``heard_ms``, in
        proportion to its audio, moved back to a word boundary."""
        speech = self._speech.get(turn)
        sentences = [] if speech is None else speech.sentences
        heard = heard_ms * self._voice.sample_rate / 1000
        position, before = 0, 0  # samples before the sentence; where the text before ends
        for sentence in sentences:
            if heard < position + sentence.samples:
                words = turn.text[sentence.start : sentence.end]
                cut = _cut(words, (heard - position) / sentence.samples)
                return sentence.start + cut if cut else before
            position, before = position + sentence.samples, sentence.end
        # All the audio was heard: the whole text, when there is nothing more to speak.
        return len(turn.text) if not any(c.isalnum() for c in turn.text[before:]) else before


def _spans(text: str) -> list[tuple[int, int]]:
    """Where hibari's sentences are in ``text``: (start, end) of each."""
    from hibari import Hibari

    spans: list[tuple[int, int]] = []
    position = 0
    for sentence in Hibari.split_sentences(text):
        start = text.find(sentence, position)  # each is a piece of the text as it is
        position = start + len(sentence)
        spans.append((start, position))
    return spans
