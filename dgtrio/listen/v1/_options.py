"""Listen v1 query parameters as one validated, immutable options object (sans-io)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Literal

import attrs

from ..._codec import AudioEncoding, QueryValue
from ..._errors import ConfigurationError
from ..._validate import at_least, check_fields, positive
from ...audio._format import AudioFormat, raw_format
from .._common import as_tuple, check_raw_format

__all__ = ["ListenV1Encoding", "ListenV1Options"]

ListenV1Encoding = AudioEncoding
_REDACT = frozenset({"true", "false", "pci", "numbers", "aggressive_numbers", "ssn"})


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
    language_hint: Sequence[str] = attrs.field(default=(), converter=as_tuple)
    version: str | None = None
    encoding: ListenV1Encoding | None = None
    sample_rate: int | None = attrs.field(default=None, metadata=positive())
    channels: int | None = attrs.field(default=None, metadata=positive())
    multichannel: bool | None = None
    interim_results: bool | None = None
    endpointing: int | Literal[False] | None = attrs.field(
        default=None, metadata=at_least(0, text="is milliseconds (an integer >= 0) or False")
    )
    utterance_end_ms: int | None = attrs.field(default=None, metadata=at_least(1000))
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
    keyterm: Sequence[str] = attrs.field(default=(), converter=as_tuple)
    keywords: Mapping[str, float] | Sequence[str] = ()
    search: Sequence[str] = attrs.field(default=(), converter=as_tuple)
    replace: Mapping[str, str] = attrs.field(factory=dict)
    extra: Mapping[str, str] = attrs.field(factory=dict)
    tag: Sequence[str] = attrs.field(default=(), converter=as_tuple)
    callback: str | None = None
    callback_method: Literal["POST", "GET", "PUT", "DELETE"] | None = None
    mip_opt_out: bool | None = None
    extra_query: Mapping[str, QueryValue] = attrs.field(factory=dict)

    def __attrs_post_init__(self) -> None:
        check_fields(self)  # first: the checks below trust the types
        if self.model is not None and self.model.startswith("flux"):
            raise ConfigurationError(
                f"ListenV1Options.model {self.model!r} is a Flux model: "
                "use dgtrio.open_flux_listen (/v2/listen)"
            )
        check_raw_format("ListenV1Options", self.encoding, self.sample_rate)
        if self.utterance_end_ms is not None and not self.interim_results:
            raise ConfigurationError("ListenV1Options.utterance_end_ms needs interim_results=True")
        if not isinstance(self.redact, bool | None):
            unknown = set(self.redact) - _REDACT
            if unknown:
                raise ConfigurationError(
                    f"ListenV1Options.redact: unknown redact values: {sorted(unknown)} "
                    f"(known: {', '.join(sorted(_REDACT))})"
                )
        for name, mapping in (("replace", self.replace), ("extra", self.extra)):
            for key in mapping:
                if ":" in key:
                    raise ConfigurationError(
                        f"ListenV1Options.{name} keys cannot contain ':' (it ends the key "
                        f"in {name}=key:value), not {key!r}"
                    )

    @property
    def audio_format(self) -> AudioFormat | None:
        """The raw audio format declared, or ``None`` (a container or a codec)."""
        return raw_format(self.encoding, self.sample_rate, self.channels or 1)
