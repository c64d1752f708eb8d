"""Whole utterances out of Listen v1 results (sans-io).

Deepgram finalises a stream in segments (``is_final`` results); an utterance is the
segments of one channel up to an endpoint (``speech_final``) or an ``UtteranceEnd``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import attrs

from ..._codec import UnknownMessage
from ..._reconnect import ConnectionEvent
from ._messages import ListenV1Message, ListenV1Results, ListenV1UtteranceEnd, ListenV1Word

__all__ = ["Utterance", "UtteranceAggregator"]

UtteranceEnding = Literal["speech_final", "utterance_end", "end_of_stream"]


@attrs.frozen
class Utterance:
    """One channel's final transcript from the start of speech to an endpoint.

    Attributes:
        channel: the channel index (0 unless ``multichannel``).
        transcript: the segments' transcripts, joined by spaces.
        words: every word with its timing, in stream seconds.
        start / end: from the first segment's start to the last one's end.
        confidence: the mean of the segments' confidences, weighted by duration.
        ended_by: ``speech_final``, ``utterance_end`` or ``end_of_stream``.
        segments: the final results it was made of.
    """

    channel: int
    transcript: str
    words: tuple[ListenV1Word, ...]
    start: float
    end: float
    confidence: float
    ended_by: UtteranceEnding
    segments: tuple[ListenV1Results, ...] = attrs.field(repr=False)


class UtteranceAggregator:
    """Feed it every Listen v1 message; it returns utterances as they complete.

    Interim results are ignored (their words come again, final). Segments without
    words only end an utterance (with ``speech_final``). Call :meth:`flush` when the
    stream ends, for segments that no endpoint closed.
    """

    def __init__(self) -> None:
        self._pending: dict[int, list[ListenV1Results]] = {}

    def feed(self, message: ListenV1Message | ConnectionEvent | UnknownMessage) -> list[Utterance]:
        """Track one message; the utterances it completes (one per channel at most)."""
        if isinstance(message, ListenV1Results):
            if not message.is_final:
                return []
            channel = message.channel_index[0] if message.channel_index else 0
            if message.transcript:
                self._pending.setdefault(channel, []).append(message)
            if message.speech_final:
                return self._complete([channel], "speech_final")
            return []
        if isinstance(message, ListenV1UtteranceEnd):
            channels = list(self._pending) if not message.channel else [message.channel[0]]
            return self._complete(channels, "utterance_end")
        return []

    def flush(self) -> list[Utterance]:
        """The utterances still open, e.g. when the stream has ended."""
        return self._complete(sorted(self._pending), "end_of_stream")

    def _complete(self, channels: Sequence[int], ended_by: UtteranceEnding) -> list[Utterance]:
        out = []
        for channel in channels:
            segments = self._pending.pop(channel, None)
            if segments:
                out.append(_utterance(channel, segments, ended_by))
        return out


def _utterance(
    channel: int, segments: list[ListenV1Results], ended_by: UtteranceEnding
) -> Utterance:
    total = sum(s.duration for s in segments)
    confidences = [(s.channel.alternatives[0].confidence, s.duration) for s in segments]
    if total > 0:
        confidence = sum(c * d for c, d in confidences) / total
    else:
        confidence = sum(c for c, _ in confidences) / len(confidences)
    return Utterance(
        channel=channel,
        transcript=" ".join(s.transcript for s in segments),
        words=tuple(word for s in segments for word in s.words),
        start=segments[0].start,
        end=segments[-1].end,
        confidence=confidence,
        ended_by=ended_by,
        segments=tuple(segments),
    )
