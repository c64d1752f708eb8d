"""The fake's Flux ears: what the user "says" in each turn, read from a script.

The fake cannot recognise speech: :class:`~dgtrio.server.ListenV2Endpoint` takes its turns
by loudness, and these ears give each turn the next sentence of a
:class:`~dgtrio.server.FluxScript`, one word per ``1 / words_per_second`` seconds of
loud audio. Driven by the audio received, never by the clock, a session is
deterministic.
"""

from __future__ import annotations

from collections.abc import Sequence

import trio

from ..server import FluxHearing, FluxScript, FluxWord, ListenV2Settings

__all__ = ["ScriptedFluxEars"]

_WORD_CONFIDENCE = 0.97


class ScriptedFluxEars:
    """The words of a Flux stream's turns, from ``script``: a :class:`~dgtrio.server.FluxEars`.

    A word begins with each ``1 / words_per_second`` seconds of loud audio (the first
    as the turn's speech begins) and lasts until the next begins, or the speech stops.
    """

    def __init__(self, script: FluxScript) -> None:
        self._script = script

    def refusal(self, settings: ListenV2Settings) -> str | None:
        return None  # the fake hears every encoding (what it cannot decode, as quiet)

    def open(self, settings: ListenV2Settings, rate: int, nursery: trio.Nursery) -> None:
        self._rate = rate
        self._turn_index = 0
        self._loud = 0  # samples of loud audio since the turn's speech began
        self._marks: list[int] = []  # where that loud audio reached each word's start
        self._last_loud = 0  # where the last loud window ended

    def hear(self, audio: bytes) -> None:
        pass  # only its loudness counts

    def speech(self, start: int, end: int, spoken: int) -> None:
        if not spoken:
            self._marks = []
        self._mark_words(start, end - start, spoken)
        self._loud = spoken + end - start
        self._last_loud = end

    def heard(self, pending: int) -> None:
        pass

    def turn_started(self, start: int) -> None:
        pass  # its words began with its speech

    async def words(self, end: int, hearing: FluxHearing) -> Sequence[FluxWord]:
        """The words of the turn so far, whatever they are asked for: the script's
        words come with the loud audio, and need no hearing again."""
        sentence = self._sentence()
        per_word = self._samples(1 / self._script.words_per_second)
        count = min(len(sentence), -(-self._loud // per_word))
        words = []
        for index in range(count):
            following = index + 1 < len(self._marks)
            last = self._marks[index + 1] if following else self._last_loud
            words.append(
                FluxWord(
                    word=sentence[index],
                    start=self._seconds(self._marks[index]),
                    end=self._seconds(last),
                    confidence=_WORD_CONFIDENCE,
                )
            )
        return words

    def turn_ended(self) -> None:
        self._turn_index += 1
        self._loud, self._marks = 0, []

    def _samples(self, seconds: float) -> int:
        return round(seconds * self._rate)

    def _seconds(self, samples: int) -> float:
        return round(samples / self._rate, 3)

    def _sentence(self) -> list[str]:
        turns = self._script.turns
        return turns[self._turn_index % len(turns)].split()

    def _mark_words(self, start: int, size: int, spoken: int) -> None:
        """Note where in a loud window of ``size`` samples at ``start``, after
        ``spoken`` loud samples, words begin."""
        per_word = self._samples(1 / self._script.words_per_second)
        limit = len(self._sentence()) + 1  # the mark after the last word ends it
        index = len(self._marks)
        while index < limit and index * per_word < spoken + size:
            self._marks.append(start + index * per_word - spoken)
            index += 1
