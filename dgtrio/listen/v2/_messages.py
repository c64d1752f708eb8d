"""Flux (Listen v2) messages, server and client, as attrs classes (sans-io).

Every server message carries ``sequence_id``: 0 for ``Connected``, then one more for
each message. Structuring is lenient: unknown keys are ignored (``raw`` keeps them).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar, Literal

import attrs

from ..._codec import Codec, encode_message, lazy_fields, raw_field
from ._options import ListenV2Thresholds

__all__ = [
    "ListenV2ConfigureFailure",
    "ListenV2ConfigureSuccess",
    "ListenV2Connected",
    "ListenV2Error",
    "ListenV2Message",
    "ListenV2TurnEvent",
    "ListenV2TurnInfo",
    "ListenV2Warning",
    "ListenV2Word",
]

ListenV2TurnEvent = Literal["Update", "StartOfTurn", "EagerEndOfTurn", "TurnResumed", "EndOfTurn"]
"""The documented ``TurnInfo`` events; newer servers may send others (``event`` is a str)."""


@attrs.frozen
class ListenV2Word:
    """A word of the current turn, punctuated and cased; times in stream seconds."""

    word: str
    confidence: float
    start: float | None = None
    end: float | None = None


@attrs.frozen
class ListenV2Connected:
    """The first message: the stream is ready."""

    TYPE: ClassVar[str] = "Connected"

    request_id: str
    sequence_id: int
    raw: Mapping[str, Any] = raw_field()


@lazy_fields("words")  # every word of the turn so far, in each Update
@attrs.frozen
class ListenV2TurnInfo:
    """The state of the current turn: its transcript so far and what just happened.

    ``event`` is one of :data:`ListenV2TurnEvent` (``Update`` about every 0.25 s of
    audio; ``StartOfTurn``; ``EagerEndOfTurn`` and ``TurnResumed`` when eager end of
    turn is on; ``EndOfTurn``), or a newer event. ``trigger`` says what ended a turn
    (``model``, ``manual``, ``timeout``). ``turn_index`` grows after each EndOfTurn.
    """

    TYPE: ClassVar[str] = "TurnInfo"

    request_id: str
    sequence_id: int
    event: str
    turn_index: int
    audio_window_start: float
    audio_window_end: float
    transcript: str
    words: tuple[ListenV2Word, ...] = ()
    end_of_turn_confidence: float = 0.0
    trigger: str | None = None
    languages: tuple[str, ...] | None = None
    languages_hinted: tuple[str, ...] | None = None
    raw: Mapping[str, Any] = raw_field()


@attrs.frozen
class ListenV2ConfigureSuccess:
    """A ``Configure`` was applied; the settings now in force."""

    TYPE: ClassVar[str] = "ConfigureSuccess"

    request_id: str | None = None
    sequence_id: int | None = None
    thresholds: ListenV2Thresholds | None = None
    keyterms: tuple[str, ...] = ()
    language_hints: tuple[str, ...] | None = None
    numerals: bool | None = None
    raw: Mapping[str, Any] = raw_field()


@attrs.frozen
class ListenV2ConfigureFailure:
    """A ``Configure`` was refused; nothing changed."""

    TYPE: ClassVar[str] = "ConfigureFailure"

    request_id: str | None = None
    sequence_id: int | None = None
    code: str | None = None
    description: str = ""
    raw: Mapping[str, Any] = raw_field()


@attrs.frozen
class ListenV2Error:
    """A fatal error; the server closes after it (iteration raises ``ServerError``)."""

    TYPE: ClassVar[str] = "Error"

    sequence_id: int | None = None
    code: str | None = None
    description: str = ""
    raw: Mapping[str, Any] = raw_field()


@attrs.frozen
class ListenV2Warning:
    """Something the server wants known; the stream goes on."""

    TYPE: ClassVar[str] = "Warning"

    request_id: str | None = None
    sequence_id: int | None = None
    code: str | None = None
    description: str = ""
    raw: Mapping[str, Any] = raw_field()


ListenV2Message = (
    ListenV2Connected
    | ListenV2TurnInfo
    | ListenV2ConfigureSuccess
    | ListenV2ConfigureFailure
    | ListenV2Error
    | ListenV2Warning
)
"""Every Flux server message (the connection also yields ``UnknownMessage``)."""

CODEC: Codec[ListenV2Message] = Codec(
    "listen v2",
    [
        ListenV2Connected,
        ListenV2TurnInfo,
        ListenV2ConfigureSuccess,
        ListenV2ConfigureFailure,
        ListenV2Error,
        ListenV2Warning,
    ],
)


# -- client messages ---------------------------------------------------------------------


@attrs.frozen
class CloseStream:
    TYPE: ClassVar[str] = "CloseStream"


@attrs.frozen
class ForceEndTurn:
    TYPE: ClassVar[str] = "ForceEndTurn"


@attrs.frozen
class Configure:
    TYPE: ClassVar[str] = "Configure"
    thresholds: ListenV2Thresholds | None = None
    keyterms: tuple[str, ...] | None = None
    language_hints: tuple[str, ...] | None = None
    numerals: bool | None = None


CLOSE_STREAM_FRAME = encode_message(CloseStream())
