"""One timeline across sockets (sans-io): messages from a socket that replaced a lost
one, shifted as if the first socket had served the whole stream.

A new socket counts its audio from zero, and Flux numbers its turns and messages from
zero too. The connection knows where the new socket's audio begins in the stream
(``seconds``) and how many turns and messages came before; these functions add them.
``raw`` keeps what the server sent.
"""

from __future__ import annotations

import attrs

from .._codec import UnknownMessage
from .._reconnect import ConnectionEvent, Reconnected, Reconnecting
from .v1._messages import (
    ListenV1Alternative,
    ListenV1Message,
    ListenV1Metadata,
    ListenV1Results,
    ListenV1SearchHit,
    ListenV1SpeechStarted,
    ListenV1UtteranceEnd,
    ListenV1Word,
)
from .v2._messages import ListenV2Message, ListenV2TurnInfo, ListenV2Word

__all__ = ["shift_v1", "shift_v2"]


def _at(time: float, seconds: float) -> float:
    # Rounded to the microsecond: 1.2 + 0.1 must read 1.3, not 1.3000000000000003.
    return round(time + seconds, 6)


def _word(word: ListenV1Word, seconds: float) -> ListenV1Word:
    return attrs.evolve(word, start=_at(word.start, seconds), end=_at(word.end, seconds))


def _hit(hit: ListenV1SearchHit, seconds: float) -> ListenV1SearchHit:
    return attrs.evolve(hit, start=_at(hit.start, seconds), end=_at(hit.end, seconds))


def _alternative(alternative: ListenV1Alternative, seconds: float) -> ListenV1Alternative:
    words = tuple(_word(word, seconds) for word in alternative.words)
    return attrs.evolve(alternative, words=words)


def _results(message: ListenV1Results, seconds: float) -> ListenV1Results:
    channel = message.channel
    search = channel.search
    if search is not None:
        search = tuple(
            attrs.evolve(s, hits=tuple(_hit(hit, seconds) for hit in s.hits)) for s in search
        )
    alternatives = tuple(_alternative(a, seconds) for a in channel.alternatives)
    return attrs.evolve(
        message,
        start=_at(message.start, seconds),
        channel=attrs.evolve(channel, alternatives=alternatives, search=search),
    )


V1 = ListenV1Message | ConnectionEvent | UnknownMessage
V2 = ListenV2Message | ConnectionEvent | UnknownMessage


def shift_v1(message: V1, seconds: float) -> V1:
    """A Listen v1 message with its stream times ``seconds`` later: results and their
    words and search hits, ``UtteranceEnd``, ``SpeechStarted``, and the duration in
    ``Metadata`` (which counts the audio before this socket too); others as they are."""
    if isinstance(message, ListenV1Results):
        return _results(message, seconds)
    if isinstance(message, ListenV1UtteranceEnd):
        return attrs.evolve(message, last_word_end=_at(message.last_word_end, seconds))
    if isinstance(message, ListenV1SpeechStarted):
        return attrs.evolve(message, timestamp=_at(message.timestamp, seconds))
    if isinstance(message, ListenV1Metadata):
        return attrs.evolve(message, duration=_at(message.duration, seconds))
    return message


def _flux_word(word: ListenV2Word, seconds: float) -> ListenV2Word:
    start = None if word.start is None else _at(word.start, seconds)
    end = None if word.end is None else _at(word.end, seconds)
    return attrs.evolve(word, start=start, end=end)


def shift_v2(message: V2, seconds: float, *, turns: int, sequence: int) -> V2:
    """A Flux message with its audio window and words ``seconds`` later, its turn
    ``turns`` later and its ``sequence_id`` ``sequence`` later; others as they are."""
    if isinstance(message, UnknownMessage | Reconnecting | Reconnected):
        return message
    if isinstance(message, ListenV2TurnInfo):
        message = attrs.evolve(
            message,
            turn_index=message.turn_index + turns,
            audio_window_start=_at(message.audio_window_start, seconds),
            audio_window_end=_at(message.audio_window_end, seconds),
            words=tuple(_flux_word(word, seconds) for word in message.words),
        )
    if message.sequence_id is None:
        return message
    return attrs.evolve(message, sequence_id=message.sequence_id + sequence)
