"""Flux TTS (Speak v2) messages, server and client, as attrs classes (sans-io).

Field names are the wire names; the fields are those of Deepgram's schema and of the
official SDK's models (which are newer where the two differ). Structuring is lenient:
unknown keys are ignored (``raw`` keeps them). Codes are plain strings: the
``Literal`` aliases list the documented ones, and a newer server may send others.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar, Literal

import attrs

from ..._codec import Codec, encode_message, raw_field

__all__ = [
    "SpeakV2Audio",
    "SpeakV2ConfigureApplied",
    "SpeakV2ConfigureFailure",
    "SpeakV2ConfigureFailureCode",
    "SpeakV2ConfigureSuccess",
    "SpeakV2Connected",
    "SpeakV2ControlsApplied",
    "SpeakV2Error",
    "SpeakV2ErrorCode",
    "SpeakV2Flushed",
    "SpeakV2Message",
    "SpeakV2SessionMetadata",
    "SpeakV2SpeechInterrupted",
    "SpeakV2SpeechMetadata",
    "SpeakV2SpeechStarted",
    "SpeakV2TurnMetadata",
    "SpeakV2Warning",
    "SpeakV2WarningCode",
]

SpeakV2WarningCode = Literal[
    "NO_ACTIVE_SPEECH",
    "NO_SYNTHESIZABLE_TEXT",
    "SYNTHESIS_RETRYING",
    "PRONUNCIATION_WARNINGS",
    "PRONUNCIATION_TOO_LONG",
    "PRONUNCIATIONS_LIMIT_EXCEEDED",
    "BREAKS_LIMIT_EXCEEDED",
    "BREAK_TOKENS_OUT_OF_RANGE",
    "BREAK_TOKENS_WITH_INVALID_INCREMENTS",
    "NO_AUDIO_GENERATED",
    "INTERRUPT_IN_PROGRESS",
    "INVALID_INTERRUPT_OFFSET",
]
"""The documented ``Warning`` codes. Turn-scoped: ``NO_ACTIVE_SPEECH`` (a ``Flush``
with no turn), ``NO_SYNTHESIZABLE_TEXT`` (a turn of whitespace or punctuation, ended
by a zero-length ``SpeechMetadata``), ``SYNTHESIS_RETRYING``. Pronunciation:
``PRONUNCIATION_WARNINGS``, ``PRONUNCIATION_TOO_LONG``,
``PRONUNCIATIONS_LIMIT_EXCEEDED``. The ``BREAK*`` codes are reserved. Each of
``NO_AUDIO_GENERATED``, ``INTERRUPT_IN_PROGRESS`` and ``INVALID_INTERRUPT_OFFSET``
says that an ``Interrupt`` was ignored."""

SpeakV2ErrorCode = Literal[
    "MESSAGE-0000",
    "DATA-0000",
    "DATA-0002",
    "BIG-0000",
    "NET-0000",
    "NET-0001",
    "NET-0002",
    "NET-0003",
    "NET-0004",
]
"""The documented ``Error`` codes: ``MESSAGE-0000`` (a client message could not be
parsed), ``DATA-0000`` (an invalid command), ``DATA-0002`` (invalid inline controls:
a pause marker, or pronunciation with a speed other than 1), ``BIG-0000`` (a message
too large), ``NET-0000`` to ``NET-0002`` (server failures), ``NET-0003`` (the one-hour
session limit), ``NET-0004`` (no client message for 60 s)."""

SpeakV2ConfigureFailureCode = Literal[
    "SPEED_OUT_OF_RANGE",
    "SPEED_INCREMENT_INVALID",
    "SPEED_NOT_SUPPORTED",
    "CONTROL_COMBINATION_INVALID",
    "INTERNAL_ERROR",
]
"""The documented ``ConfigureFailure`` codes: outside the range the voice publishes,
off the 0.05 grid, a voice without speed control, speed set while a queued turn
carries a pronunciation control, or a failure of the server's own."""


@attrs.frozen
class SpeakV2Audio:
    """A binary frame of synthesised speech, in the connection's encoding and rate."""

    data: bytes = attrs.field(repr=lambda data: f"<{len(data)} bytes>")


@attrs.frozen
class SpeakV2Connected:
    """The first message: which voice model serves the connection."""

    TYPE: ClassVar[str] = "Connected"

    request_id: str
    model_name: str
    model_version: str
    model_uuids: tuple[str, ...]
    raw: Mapping[str, Any] = raw_field()


@attrs.frozen
class SpeakV2SpeechStarted:
    """A turn became active; its audio follows. ``speech_id`` is ``dg_sp_`` and 12 hex
    digits, informational."""

    TYPE: ClassVar[str] = "SpeechStarted"

    speech_id: str
    raw: Mapping[str, Any] = raw_field()


@attrs.frozen
class SpeakV2ControlsApplied:
    """The inline controls the server acted on during a turn.

    Attributes:
        pronunciations_applied: pronunciation overrides applied (one with an IPA
            warning still counts: it is applied best-effort).
        breaks_applied: pause controls applied; always 0 on the WebSocket, where a
            pause marker fails the connection.
        pronunciation_warnings: pronunciation entries that triggered a warning.
    """

    pronunciations_applied: int = 0
    breaks_applied: int = 0
    pronunciation_warnings: int = 0


@attrs.frozen
class SpeakV2SpeechMetadata:
    """A turn is complete: all its audio was sent. Its billing and timing.

    Attributes:
        speech_id: the turn.
        audio_duration_ms: the audio produced for the turn.
        input_character_count: the turn's text, before normalisation.
        billable_character_count: the same without the inline control syntax.
        controls_applied: the inline controls acted on.
    """

    TYPE: ClassVar[str] = "SpeechMetadata"

    speech_id: str
    audio_duration_ms: int
    input_character_count: int
    billable_character_count: int
    controls_applied: SpeakV2ControlsApplied
    raw: Mapping[str, Any] = raw_field()


@attrs.frozen
class SpeakV2TurnMetadata:
    """Billing and timing of an interrupted turn (``SpeechInterrupted.metadata``);
    the fields of :class:`SpeakV2SpeechMetadata`."""

    speech_id: str
    audio_duration_ms: int
    input_character_count: int
    billable_character_count: int
    controls_applied: SpeakV2ControlsApplied


@attrs.frozen
class SpeakV2SpeechInterrupted:
    """An ``Interrupt`` cancelled the active turn: what the user heard.

    Attributes:
        audio_played_ms: where playback was in the session's audio, in ms from its
            start: the ``Interrupt``'s offset, or without one, the server's own total
            of audio generated. The next offset must be past it.
        text_spoken: the part of the turn's text the user heard (only when the
            ``Interrupt`` carried an offset).
        text_remaining: the part not heard (likewise).
        metadata: the turn's billing and timing.
    """

    TYPE: ClassVar[str] = "SpeechInterrupted"

    audio_played_ms: int
    metadata: SpeakV2TurnMetadata
    text_spoken: str | None = None
    text_remaining: str | None = None
    raw: Mapping[str, Any] = raw_field()


@attrs.frozen
class SpeakV2Flushed:
    """The turn's text was all handed to synthesis after a ``Flush``; its remaining
    audio and its :class:`SpeakV2SpeechMetadata` follow."""

    TYPE: ClassVar[str] = "Flushed"

    speech_id: str
    raw: Mapping[str, Any] = raw_field()


@attrs.frozen
class SpeakV2SessionMetadata:
    """The last message before the server closes: the session's totals (an
    interrupt rebases the audio total onto what the client played)."""

    TYPE: ClassVar[str] = "SessionMetadata"

    total_audio_duration_ms: int
    total_input_character_count: int
    total_billable_character_count: int
    raw: Mapping[str, Any] = raw_field()


@attrs.frozen
class SpeakV2ConfigureApplied:
    """The synthesis settings set on this session so far (``None``: never set)."""

    speed: float | None = None


@attrs.frozen
class SpeakV2ConfigureSuccess:
    """A ``Configure`` was applied; ``applied`` is the configuration now in force."""

    TYPE: ClassVar[str] = "ConfigureSuccess"

    applied: SpeakV2ConfigureApplied
    raw: Mapping[str, Any] = raw_field()


@attrs.frozen
class SpeakV2ConfigureFailure:
    """A ``Configure`` was refused (or could not be applied); the previous
    configuration stays.

    Attributes:
        code: one of :data:`SpeakV2ConfigureFailureCode`, or a newer code.
        description: the server's explanation.
        field: the setting it is about (``speed``), if any.
        value: the refused value, if there is one to echo.
    """

    TYPE: ClassVar[str] = "ConfigureFailure"

    code: str
    description: str
    field: str | None = None
    value: float | None = None
    raw: Mapping[str, Any] = raw_field()


@attrs.frozen
class SpeakV2Warning:
    """Something the server wants known; synthesis and the connection go on.

    ``code`` is one of :data:`SpeakV2WarningCode`, or a newer code.
    """

    TYPE: ClassVar[str] = "Warning"

    code: str
    description: str = ""
    raw: Mapping[str, Any] = raw_field()


@attrs.frozen
class SpeakV2Error:
    """A fatal error; the server closes after it (iteration raises ``ServerError``).

    ``code`` is one of :data:`SpeakV2ErrorCode`, or a newer code.
    """

    TYPE: ClassVar[str] = "Error"

    code: str
    description: str = ""
    raw: Mapping[str, Any] = raw_field()


SpeakV2Message = (
    SpeakV2Audio
    | SpeakV2Connected
    | SpeakV2SpeechStarted
    | SpeakV2SpeechMetadata
    | SpeakV2SpeechInterrupted
    | SpeakV2Flushed
    | SpeakV2SessionMetadata
    | SpeakV2ConfigureSuccess
    | SpeakV2ConfigureFailure
    | SpeakV2Warning
    | SpeakV2Error
)
"""Every Flux TTS server message (the connection also yields ``UnknownMessage``)."""

CODEC: Codec[SpeakV2Message] = Codec(
    "speak v2",
    [
        SpeakV2Connected,
        SpeakV2SpeechStarted,
        SpeakV2SpeechMetadata,
        SpeakV2SpeechInterrupted,
        SpeakV2Flushed,
        SpeakV2SessionMetadata,
        SpeakV2ConfigureSuccess,
        SpeakV2ConfigureFailure,
        SpeakV2Warning,
        SpeakV2Error,
    ],
    binary=SpeakV2Audio,
)


# -- client messages ---------------------------------------------------------------------


@attrs.frozen
class Speak:
    TYPE: ClassVar[str] = "Speak"
    text: str


@attrs.frozen
class Flush:
    TYPE: ClassVar[str] = "Flush"


@attrs.frozen
class PlaybackOffset:
    TYPE: ClassVar[str] = "time_ms"  # the only unit
    value: int


@attrs.frozen
class Interrupt:
    TYPE: ClassVar[str] = "Interrupt"
    playback_offset: PlaybackOffset | None = None


@attrs.frozen
class Configure:
    TYPE: ClassVar[str] = "Configure"
    speed: float


@attrs.frozen
class Close:
    TYPE: ClassVar[str] = "Close"


FLUSH_FRAME = encode_message(Flush())
CLOSE_FRAME = encode_message(Close())
