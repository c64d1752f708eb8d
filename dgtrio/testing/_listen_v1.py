"""What the fake Listen v1 server (``/v1/listen``) hears: a script.

The fake cannot recognise speech, so its ears hear the words of a transcript laid
out on the audio timeline (``seconds_per_word`` each, ``pause`` between sentences,
repeating), as far as the audio received reaches. The protocol around them (timing
from the bytes and format, interims only when asked for, ``Finalize`` and
``CloseStream``, ``Metadata``, the idle timeout) is :class:`dgtrio.server.ListenV1Endpoint`'s.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Sequence

import attrs

from ..audio import AudioFormat
from ..listen import ListenV1Word
from ..server import ListenV1Settings, ListenV1Stream

__all__ = ["ListenScript", "ScriptedEars"]


@attrs.frozen
class _Word:
    start: float
    end: float
    word: str
    punctuated: str


@attrs.frozen
class _Utterance:
    start: float
    end: float
    words: tuple[_Word, ...]


@attrs.frozen
class ListenScript:
    """What the fake Listen v1 server hears, laid out on the audio timeline.

    Sentences of ``transcript`` are utterances; each word lasts ``seconds_per_word``;
    utterances are ``pause`` seconds apart, after a ``lead_in``; the script repeats
    for as long as audio comes. Interim results come every ``interim_interval``
    seconds of audio while words are being heard.
    """

    transcript: str = "The quick brown fox jumps over the lazy dog."
    seconds_per_word: float = 0.3
    pause: float = 1.2
    lead_in: float = 0.3
    interim_interval: float = 1.0
    confidence: float = 0.98

    def __attrs_post_init__(self) -> None:
        if not self.transcript.split():
            raise ValueError("the script needs at least one word")
        if min(self.seconds_per_word, self.pause, self.interim_interval) <= 0:
            raise ValueError("durations must be positive")

    @property
    def utterances(self) -> tuple[_Utterance, ...]:
        """One cycle of the script, in stream seconds."""
        sentences = [s for s in re.split(r"(?<=[.!?])\s+", self.transcript.strip()) if s]
        out: list[_Utterance] = []
        t = self.lead_in
        for sentence in sentences:
            words = []
            for token in sentence.split():
                plain = re.sub(r"[^\w'-]", "", token).lower() or token.lower()
                words.append(_Word(t, t + self.seconds_per_word * 0.9, plain, token))
                t += self.seconds_per_word
            out.append(_Utterance(words[0].start, words[-1].end, tuple(words)))
            t += self.pause
        return tuple(out)

    @property
    def cycle(self) -> float:
        """Seconds of audio after which the script starts again."""
        return self.utterances[-1].end + self.pause


class _Timeline:
    def __init__(self, script: ListenScript) -> None:
        self._utterances = script.utterances
        self._cycle = script.cycle

    def utterance(self, index: int) -> _Utterance:
        cycle, local = divmod(index, len(self._utterances))
        u, offset = self._utterances[local], cycle * self._cycle
        words = tuple(
            _Word(w.start + offset, w.end + offset, w.word, w.punctuated) for w in u.words
        )
        return _Utterance(u.start + offset, u.end + offset, words)

    def words_between(self, start: float, end: float) -> list[_Word]:
        """Words that begin in [start, end)."""
        found: list[_Word] = []
        first = int(start // self._cycle) * len(self._utterances)
        index = first
        while True:
            u = self.utterance(index)
            if u.start >= end:
                return found
            found.extend(w for w in u.words if start <= w.start < end)
            index += 1


class ScriptedEars:
    """The fake's ears (a :class:`dgtrio.server.Ears`): they hear ``script`` on the
    audio timeline, whatever the audio holds.

    Each utterance's speech starts with its first word; interims come every
    ``interim_interval`` seconds of audio while it is heard; it ends (a final at a
    pause) once the audio reaches its last word's end plus the endpointing delay
    (half the script's ``pause`` with ``endpointing=false``).
    """

    def __init__(self, script: ListenScript) -> None:
        self._script = script
        self._timeline = _Timeline(script)
        # Where each result channel's not yet final audio starts (Finalize may take one).
        self._seg_start: defaultdict[int, float] = defaultdict(float)
        self._next_interim = script.interim_interval
        self._utterance = 0  # the first utterance not ended yet

    def check(self, settings: ListenV1Settings) -> str | None:
        return None  # any audio: the script is heard in it

    def can_hear(self, audio: AudioFormat | None) -> bool:
        return True

    async def run(self, stream: ListenV1Stream) -> None:
        return  # the script is heard as the audio comes

    async def hear(self, stream: ListenV1Stream, audio: bytes) -> None:
        await self._advance(stream, stream.time)

    async def flush(
        self, stream: ListenV1Stream, channel: int | None, *, from_finalize: bool
    ) -> None:
        channels = range(stream.result_channels) if channel is None else (channel,)
        await self._results(stream, stream.time, channels, final=True, from_finalize=from_finalize)
        if channel is None:
            self._next_interim = stream.time + self._script.interim_interval

    async def _advance(self, stream: ListenV1Stream, now: float) -> None:
        """Say what the script's timeline holds up to audio time ``now``, in order."""
        endpointing = stream.settings.endpointing
        delay = 0.5 * self._script.pause if endpointing is None else endpointing
        channels = range(stream.result_channels)
        while True:
            u = self._timeline.utterance(self._utterance)
            if u.start <= now:
                await stream.speech_started(u.start)
            end_at = u.end + delay
            if end_at > now:
                await self._interims(stream, now)
                await stream.quiet(min(now, u.start))
                return
            await self._interims(stream, end_at)
            await self._results(stream, end_at, channels, final=True, endpoint=True)
            self._next_interim = end_at + self._script.interim_interval
            self._utterance += 1
            await stream.quiet(min(now, self._timeline.utterance(self._utterance).start))

    async def _interims(self, stream: ListenV1Stream, upto: float) -> None:
        channels = range(stream.result_channels)
        while self._next_interim <= upto:
            await self._results(stream, self._next_interim, channels, final=False)
            self._next_interim += self._script.interim_interval

    async def _results(
        self,
        stream: ListenV1Stream,
        end: float,
        channels: Sequence[int],
        *,
        final: bool,
        endpoint: bool = False,
        from_finalize: bool = False,
    ) -> None:
        """What each channel's audio holds up to ``end``; finals move its start."""
        confidence = self._script.confidence
        for channel in channels:
            start = self._seg_start[channel]
            if final:
                self._seg_start[channel] = max(start, end)
            words = [
                ListenV1Word(w.word, w.start, w.end, confidence, punctuated_word=w.punctuated)
                for w in self._timeline.words_between(start, end)
            ]
            await stream.heard(
                channel,
                start,
                end,
                words,
                final=final,
                endpoint=endpoint,
                from_finalize=from_finalize,
                confidence=confidence,
            )
