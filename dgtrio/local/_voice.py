"""The local engine's voice for Aura (``/v1/speak``) and Flux TTS (``/v2/speak``):
speech synthesised for real. Every voice a client names is hibari's default voice
(American English), whatever its name and language; Flux's ``expressivity`` is
accepted and changes nothing.

The protocols are the server's (:class:`~dgtrio.server.SpeakV1Endpoint`,
:class:`~dgtrio.server.SpeakV2Endpoint`); this is only what they say, and how long it
lasts. An utterance is spoken sentence by sentence as its text arrives (hibari's
sentence splitting): a sentence once the text after it shows where it ends, the last
one once the utterance ends (an Aura flush, a Flux turn flushed or closed). Each is
spoken at the speed in force when its first character came, and its audio goes out
as soon as it is synthesised, in the server's chunks, the sentence's last one
shorter. An utterance's duration is its real audio's, and an interrupt's text split is
made in the sentence playing at the offset, in proportion to that sentence's audio,
at a word boundary.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import attrs
import trio

from ..server import SpeechSettings, cut_at_word
from ._synthesizer import Synthesizer, encode

__all__ = ["HibariVoice"]


@attrs.define
class _Sentence:
    """A sentence of an utterance synthesised: where it is in the utterance's text, and
    its audio's length in samples at the session's rate."""

    start: int
    end: int
    samples: int


class HibariVoice:
    """hibari's default voice, as a :class:`~dgtrio.server.Voice`.

    Args:
        synthesizer: the engine's voice, shared by every session.
        limiter: syntheses run in worker threads, as many at once as it allows.
    """

    def __init__(self, synthesizer: Synthesizer, limiter: trio.CapacityLimiter) -> None:
        self._synthesizer = synthesizer
        self._limiter = limiter

    def utterance(self, settings: SpeechSettings) -> HibariUtterance:
        return HibariUtterance(self._synthesizer, self._limiter, settings)


class HibariUtterance:
    """One utterance in hibari's voice: what was synthesised of its text."""

    def __init__(
        self, synthesizer: Synthesizer, limiter: trio.CapacityLimiter, settings: SpeechSettings
    ) -> None:
        self._synthesizer = synthesizer
        self._limiter = limiter
        self._settings = settings
        self._text = ""
        # (where a text added ends in the utterance's text, the speed it came with)
        self._speeds: list[tuple[int, float]] = []
        self._said = 0  # where the text not yet synthesised begins
        self._sentences: list[_Sentence] = []
        self._sent = 0  # samples sent

    def add(self, text: str, speed: float) -> None:
        self._text += text
        self._speeds.append((len(self._text), speed))

    async def say(self, ending: bool, send: Callable[[bytes], Awaitable[None]]) -> bool:
        """Synthesise the next sentence, if it is complete (any once the utterance is
        ending), and send its audio."""
        text = self._text
        spans = _spans(text[self._said :])
        if not spans or (len(spans) == 1 and not ending):
            return False
        start, end = (self._said + position for position in spans[0])
        self._said += spans[1][0] if len(spans) > 1 else spans[0][1]
        words = self._settings.words(text[start:end])
        if not words.strip():
            return True  # nothing to say in it, as the socket reads it
        speed = next(speed for until, speed in self._speeds if until > start)
        samples = await trio.to_thread.run_sync(
            self._synthesizer.synthesize, words, speed, limiter=self._limiter
        )
        output = self._settings.format
        audio = encode(samples, output.encoding, output.sample_rate)
        width = output.sample_width
        self._sentences.append(_Sentence(start, end, len(audio) // width))
        chunk = self._settings.chunk_samples * width
        for first in range(0, len(audio), chunk):
            piece = audio[first : first + chunk]
            await send(piece)
            self._sent += len(piece) // width
        return True

    def duration_ms(self) -> float:
        """The audio sent so far (all of it once it was spoken)."""
        return self._sent * 1000 / self._settings.format.sample_rate

    def heard(self, heard_ms: float) -> int:
        """Where the text heard ends: in the sentence playing at ``heard_ms``, in
        proportion to its audio, moved back to a word boundary."""
        heard = heard_ms * self._settings.format.sample_rate / 1000
        position, before = 0, 0  # samples before the sentence; where the text before ends
        for sentence in self._sentences:
            if heard < position + sentence.samples:
                words = self._text[sentence.start : sentence.end]
                cut = cut_at_word(words, (heard - position) / sentence.samples)
                return sentence.start + cut if cut else before
            position, before = position + sentence.samples, sentence.end
        # All the audio was heard: the whole text, when there is nothing more to speak.
        text = self._text
        return len(text) if not any(c.isalnum() for c in text[before:]) else before


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
