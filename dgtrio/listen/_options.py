"""Listen v1 query parameters as one validated, immutable options object (sans-io)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Literal, get_args

import attrs

from .._codec import AudioEncoding, QueryValue
from .._errors import ConfigurationError
from ..audio._format import AudioFormat, raw_format

__all__ = ["ListenV1Encoding", "ListenV1Options"]

ListenV1Encoding = AudioEncoding
_ENCODINGS = frozenset(get_args(ListenV1Encoding))
_REDACT = frozenset({"true", "false", "pci", "numbers", "aggressive_numbers", "ssn"})


def _positive(instance: object, attribute: attrs.Attribute[int | None], value: int | None) -> None:
    if value is not None and (isinstance(value, bool) or value <= 0):
        raise ConfigurationError(f"{attribute.name} must be a positive integer, not {value!r}")


def _strings(instance: object, attribute: attrs.Attribute[Sequence[str]], value: object) -> None:
    if isinstance(value, str):
        raise ConfigurationError(f"{attribute.name} takes a list of strings, not one string")
    if isinstance(value, Sequence) and any(not isinstance(v, str) or not v for v in value):
        raise ConfigurationError(f"{attribute.name} entries must be non-empty strings")


def check_raw_format(
    encoding: str | None, sample_rate: int | None, encodings: frozenset[str]
) -> None:
    """Raw audio needs a known ``encoding`` and a ``sample_rate``; containers neither."""
    if encoding is not None and encoding not in encodings:
        raise ConfigurationError(
            f"encoding {encoding!r} is not one of {', '.join(sorted(encodings))}"
        )
    if (encoding is None) != (sample_rate is None):
        raise ConfigurationError(
            "encoding and sample_rate go together: give both for raw audio, "
            "neither for containerized audio (WAV, Ogg, MP3...)"
        )


def _tuple(value: Sequence[str] | str) -> tuple[str, ...] | str:
    return value if isinstance(value, str) else tuple(value)


@attrs.frozen(kw_only=True)
class ListenV1Options:
    """Every query parameter of the live transcription socket (``/v1/listen``).

    ``None`` (or an empty list) leaves a parameter out, so the server's default applies.
    Lists become repeated parameters; ``extra``, ``replace`` and ``keywords`` become
    ``key:value`` strings. ``extra_query`` sends parameters this version does not know
    yet (and overrides same-named ones). Validation happens here, before connecting:
    a :class:`~dgtrio.ConfigurationError` names the offending parameter.

    Raw audio needs ``encoding`` and ``sample_rate`` (and ``channels`` if not mono);
    leave all three out for containerized audio such as WAV or Ogg files.
    """

    model: str | None = "nova-3"
    language: str | None = None
    language_hint: Sequence[str] = attrs.field(default=(), converter=_tuple, validator=_strings)
    version: str | None = None
    encoding: ListenV1Encoding | None = None
    sample_rate: int | None = attrs.field(default=None, validator=_positive)
    channels: int | None = attrs.field(default=None, validator=_positive)
    multichannel: bool | None = None
    interim_results: bool | None = None
    endpointing: int | Literal[False] | None = None
    utterance_end_ms: int | None = None
    vad_events: bool | None = None
    punctuate: bool | None = None
    smart_format: bool | None = None
    numerals: bool | None = None
    profanity_filter: bool | None = None
    dictation: bool | None = None
    detect_entities: bool | None = None
    diarize: bool | None = None
    diarize_model: Literal["latest", "v1"] | None = None
    redact: bool | Sequence[str] | None = None
    keyterm: Sequence[str] = attrs.field(default=(), converter=_tuple, validator=_strings)
    keywords: Mapping[str, float] | Sequence[str] = ()
    search: Sequence[str] = attrs.field(default=(), converter=_tuple, validator=_strings)
    replace: Mapping[str, str] = attrs.field(factory=dict)
    extra: Mapping[str, str] = attrs.field(factory=dict)
    tag: Sequence[str] = attrs.field(default=(), converter=_tuple, validator=_strings)
    callback: str | None = None
    callback_method: Literal["POST", "GET", "PUT", "DELETE"] | None = None
    mip_opt_out: bool | None = None
    extra_query: Mapping[str, QueryValue] = attrs.field(factory=dict)

    def __attrs_post_init__(self) -> None:
        if self.model is not None and self.model.startswith("flux"):
            raise ConfigurationError(
                f"model {self.model!r} is a Flux model: use dgtrio.open_flux (/v2/listen)"
            )
        check_raw_format(self.encoding, self.sample_rate, _ENCODINGS)
        if self.endpointing is True or (isinstance(self.endpointing, int) and self.endpointing < 0):
            raise ConfigurationError("endpointing is milliseconds (>= 0) or False")
        if self.utterance_end_ms is not None:
            if self.utterance_end_ms < 1000:
                raise ConfigurationError("utterance_end_ms must be at least 1000")
            if not self.interim_results:
                raise ConfigurationError("utterance_end_ms needs interim_results=True")
        if self.diarize_model not in (None, "latest", "v1"):
            raise ConfigurationError("diarize_model is 'latest' or 'v1' on streaming")
        if isinstance(self.redact, Sequence):
            if isinstance(self.redact, str):
                raise ConfigurationError("redact takes True, False or a list of strings")
            unknown = set(self.redact) - _REDACT
            if unknown:
                raise ConfigurationError(f"unknown redact values: {sorted(unknown)}")
        if self.callback_method not in (None, "POST", "GET", "PUT", "DELETE"):
            raise ConfigurationError("callback_method is POST, GET, PUT or DELETE")
        for name, mapping in (("replace", self.replace), ("extra", self.extra)):
            if any(":" in key for key in mapping):
                raise ConfigurationError(f"{name} keys cannot contain ':'")

    @property
    def audio_format(self) -> AudioFormat | None:
        """The raw audio format declared, or ``None`` (a container or a codec)."""
        return raw_format(self.encoding, self.sample_rate, self.channels or 1)
