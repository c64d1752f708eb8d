"""Speak v1 messages, server and client, as attrs classes (sans-io).

Field names are the wire names. Structuring is lenient: unknown keys are ignored
(``raw`` keeps them); both shapes Deepgram has used for ``Warning`` and ``Error`` are
accepted.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import attrs

from ..._codec import Codec, encode_message, raw_field

__all__ = [
    "SpeakV1Audio",
    "SpeakV1Cleared",
    "SpeakV1Error",
    "SpeakV1Flushed",
    "SpeakV1Message",
    "SpeakV1Metadata",
    "SpeakV1Warning",
]


@attrs.frozen
class SpeakV1Audio:
    """A binary frame of synthesised speech, in the connection's encoding and rate."""

    data: bytes = attrs.field(repr=lambda data: f"<{len(data)} bytes>")


@attrs.frozen
class SpeakV1Metadata:
    """Which voice model serves the connection; sent when it opens."""

    TYPE: ClassVar[str] = "Metadata"

    request_id: str
    model_name: str = ""
    model_version: str = ""
    model_uuid: str = ""
    additional_model_uuids: tuple[str, ...] | None = None
    raw: Mapping[str, Any] = raw_field()


@attrs.frozen
class SpeakV1Flushed:
    """Every audio frame of the text flushed before has been sent."""

    TYPE: ClassVar[str] = "Flushed"

    sequence_id: int
    raw: Mapping[str, Any] = raw_field()


@attrs.frozen
class SpeakV1Cleared:
    """The text buffer and the pending audio were dropped (the answer to ``Clear``)."""

    TYPE: ClassVar[str] = "Cleared"

    sequence_id: int
    raw: Mapping[str, Any] = raw_field()


@attrs.frozen
class SpeakV1Warning:
    """Something went wrong that did not end the connection, e.g. too many flushes.

    Older servers sent ``warn_code``/``warn_msg``; they arrive as ``code``/``description``.
    """

    TYPE: ClassVar[str] = "Warning"
    WIRE_ALIASES: ClassVar[Mapping[str, str]] = {"warn_code": "code", "warn_msg": "description"}

    description: str = ""
    code: str | None = None
    raw: Mapping[str, Any] = raw_field()


@attrs.frozen
class SpeakV1Error:
    """A fatal error; the server closes the connection after it.

    Older servers sent ``err_code``/``err_msg``; they arrive as ``code``/``description``.
    """

    TYPE: ClassVar[str] = "Error"
    WIRE_ALIASES: ClassVar[Mapping[str, str]] = {"err_code": "code", "err_msg": "description"}

    description: str = ""
    code: str | None = None
    variant: str | None = None
    message: str | None = None
    raw: Mapping[str, Any] = raw_field()


SpeakV1Message = (
    SpeakV1Audio | SpeakV1Metadata | SpeakV1Flushed | SpeakV1Cleared | SpeakV1Warning | SpeakV1Error
)
"""Every Speak v1 server message (the connection also yields ``UnknownMessage``)."""

CODEC: Codec[SpeakV1Message] = Codec(
    "speak v1",
    [SpeakV1Metadata, SpeakV1Flushed, SpeakV1Cleared, SpeakV1Warning, SpeakV1Error],
    binary=SpeakV1Audio,
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
class Clear:
    TYPE: ClassVar[str] = "Clear"


@attrs.frozen
class Close:
    TYPE: ClassVar[str] = "Close"


FLUSH_FRAME = encode_message(Flush())
CLEAR_FRAME = encode_message(Clear())
CLOSE_FRAME = encode_message(Close())
