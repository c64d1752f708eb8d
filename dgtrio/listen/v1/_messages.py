"""Listen v1 messages, server and client, as attrs classes (sans-io).

Field names are the wire names. Structuring is lenient: unknown keys are ignored
(``raw`` keeps them), optional fields default to ``None``; only a missing required
field or a mistyped value makes a frame undecodable.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import attrs

from ..._codec import Codec, encode_message, lazy_fields, raw_field

__all__ = [
    "ListenV1Alternative",
    "ListenV1Channel",
    "ListenV1ConfigureFailure",
    "ListenV1ConfigureSuccess",
    "ListenV1DiarizeInfo",
    "ListenV1Entity",
    "ListenV1Error",
    "ListenV1Message",
    "ListenV1Metadata",
    "ListenV1ModelInfo",
    "ListenV1Results",
    "ListenV1ResultsMetadata",
    "ListenV1Search",
    "ListenV1SearchHit",
    "ListenV1SpeechStarted",
    "ListenV1UtteranceEnd",
    "ListenV1Word",
]


@attrs.frozen
class ListenV1Word:
    """One recognised word with its timing in stream seconds."""

    word: str
    start: float
    end: float
    confidence: float
    punctuated_word: str | None = None
    speaker: int | None = None
    speaker_confidence: float | None = None
    language: str | None = None


@lazy_fields("words")  # a consumer reading only transcripts never pays for the words
@attrs.frozen
class ListenV1Alternative:
    """One transcription hypothesis for a segment."""

    transcript: str
    confidence: float
    words: tuple[ListenV1Word, ...] = ()
    languages: tuple[str, ...] | None = None
    languages_hinted: tuple[str, ...] | None = None


@attrs.frozen
class ListenV1SearchHit:
    """Where a ``search`` term was heard."""

    confidence: float
    start: float
    end: float
    snippet: str


@attrs.frozen
class ListenV1Search:
    """The hits for one ``search`` query."""

    query: str
    hits: tuple[ListenV1SearchHit, ...] = ()


@attrs.frozen
class ListenV1Channel:
    """The alternatives (best first) and search hits of one audio channel."""

    alternatives: tuple[ListenV1Alternative, ...]
    search: tuple[ListenV1Search, ...] | None = None


@attrs.frozen
class ListenV1ModelInfo:
    """Which model produced a result."""

    name: str | None = None
    version: str | None = None
    arch: str | None = None


@attrs.frozen
class ListenV1DiarizeInfo:
    """Which diarizer ran, when one did."""

    model_uuid: str | None = None
    arch: str | None = None


@attrs.frozen
class ListenV1ResultsMetadata:
    """The ``metadata`` object of a ``Results`` message."""

    request_id: str
    model_uuid: str | None = None
    model_info: ListenV1ModelInfo | None = None
    extra: Mapping[str, str] | None = None
    diarize_info: ListenV1DiarizeInfo | None = None


@attrs.frozen
class ListenV1Entity:
    """An entity found with ``detect_entities`` (word indexes: start inclusive)."""

    label: str
    value: str
    raw_value: str | None = None
    confidence: float | None = None
    start_word: int | None = None
    end_word: int | None = None


@attrs.frozen
class ListenV1Results:
    """A transcript for a segment of the stream: interim, or final (``is_final``).

    ``start``/``duration`` are stream (audio) seconds; ``speech_final`` marks an
    endpoint; ``from_finalize`` marks the answer to a ``Finalize``.
    """

    TYPE: ClassVar[str] = "Results"

    channel_index: tuple[int, ...]
    duration: float
    start: float
    channel: ListenV1Channel
    metadata: ListenV1ResultsMetadata
    is_final: bool = False
    speech_final: bool = False
    from_finalize: bool = False
    entities: tuple[ListenV1Entity, ...] | None = None
    tag: str | None = None
    raw: Mapping[str, Any] = raw_field()

    @property
    def transcript(self) -> str:
        """The best alternative's transcript (``""`` when there is none)."""
        alternatives = self.channel.alternatives
        return alternatives[0].transcript if alternatives else ""

    @property
    def words(self) -> tuple[ListenV1Word, ...]:
        """The best alternative's words."""
        alternatives = self.channel.alternatives
        return alternatives[0].words if alternatives else ()

    @property
    def end(self) -> float:
        """Where the segment ends, in stream seconds."""
        return self.start + self.duration


@attrs.frozen
class ListenV1Metadata:
    """The summary sent once, at the end of the stream, before the close."""

    TYPE: ClassVar[str] = "Metadata"

    request_id: str
    duration: float
    channels: int
    created: str = ""
    sha256: str = ""
    transaction_key: str = "deprecated"
    models: tuple[str, ...] = ()
    model_info: Mapping[str, ListenV1ModelInfo] | None = None
    extra: Mapping[str, str] | None = None
    raw: Mapping[str, Any] = raw_field()


@attrs.frozen
class ListenV1UtteranceEnd:
    """No word was heard for ``utterance_end_ms`` after ``last_word_end``."""

    TYPE: ClassVar[str] = "UtteranceEnd"

    channel: tuple[int, ...]
    last_word_end: float
    raw: Mapping[str, Any] = raw_field()


@attrs.frozen
class ListenV1SpeechStarted:
    """Voice activity began at ``timestamp`` (needs ``vad_events=True``)."""

    TYPE: ClassVar[str] = "SpeechStarted"

    channel: tuple[int, ...]
    timestamp: float
    raw: Mapping[str, Any] = raw_field()


@attrs.frozen
class ListenV1ConfigureSuccess:
    """A ``Configure`` was applied; ``keyterms`` is the new list when it was replaced."""

    TYPE: ClassVar[str] = "ConfigureSuccess"

    request_id: str | None = None
    keyterms: tuple[str, ...] | None = None
    raw: Mapping[str, Any] = raw_field()


@attrs.frozen
class ListenV1ConfigureFailure:
    """A ``Configure`` was refused, e.g. ``CONFIGURE_KEYTERMS_NOT_SUPPORTED``."""

    TYPE: ClassVar[str] = "ConfigureFailure"

    request_id: str | None = None
    code: str | None = None
    description: str = ""
    raw: Mapping[str, Any] = raw_field()


@attrs.frozen
class ListenV1Error:
    """An error report. ``variant="SchemaError"``: a client message was not understood
    (``message`` quotes it) and the stream goes on."""

    TYPE: ClassVar[str] = "Error"

    description: str = ""
    variant: str | None = None
    code: str | None = None
    message: str | None = None
    raw: Mapping[str, Any] = raw_field()


ListenV1Message = (
    ListenV1Results
    | ListenV1Metadata
    | ListenV1UtteranceEnd
    | ListenV1SpeechStarted
    | ListenV1ConfigureSuccess
    | ListenV1ConfigureFailure
    | ListenV1Error
)
"""Every Listen v1 server message (the connection also yields ``UnknownMessage``)."""

CODEC: Codec[ListenV1Message] = Codec(
    "listen v1",
    [
        ListenV1Results,
        ListenV1Metadata,
        ListenV1UtteranceEnd,
        ListenV1SpeechStarted,
        ListenV1ConfigureSuccess,
        ListenV1ConfigureFailure,
        ListenV1Error,
    ],
)


# -- client messages ---------------------------------------------------------------------


@attrs.frozen
class KeepAlive:
    TYPE: ClassVar[str] = "KeepAlive"


@attrs.frozen
class CloseStream:
    TYPE: ClassVar[str] = "CloseStream"


@attrs.frozen
class Finalize:
    TYPE: ClassVar[str] = "Finalize"
    channel: int | None = None


@attrs.frozen
class Configure:
    TYPE: ClassVar[str] = "Configure"
    keyterms: tuple[str, ...] | None = None
    features: Mapping[str, Any] | None = None


KEEPALIVE_FRAME = encode_message(KeepAlive())
CLOSE_STREAM_FRAME = encode_message(CloseStream())
