"""Flux (Listen v2) query parameters and thresholds, validated and immutable (sans-io)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Literal

import attrs

from ..._codec import QueryValue
from ..._errors import ConfigurationError
from ..._validate import between, check_fields, positive
from ...audio._format import AudioFormat, raw_format
from .._common import as_tuple, check_raw_format

__all__ = ["ListenV2Encoding", "ListenV2Options", "ListenV2Thresholds"]

ListenV2Encoding = Literal["linear16", "linear32", "mulaw", "alaw", "opus", "ogg-opus"]
"""The encodings Flux accepts for raw audio."""

# The documented ranges, shared by the thresholds and the options that set them.
_EOT_THRESHOLD = between(0.5, 1.0)
_EAGER_EOT_THRESHOLD = between(0.3, 0.9)
_EOT_TIMEOUT_MS = between(500, 60000)


def _check_order(owner: str, eager: float | None, eot: float | None) -> None:
    if eager is not None and eot is not None and eager > eot:
        raise ConfigurationError(
            f"{owner}.eager_eot_threshold ({eager:g}) cannot be above eot_threshold ({eot:g})"
        )


@attrs.frozen(kw_only=True)
class ListenV2Thresholds:
    """When Flux ends a turn; each ``None`` keeps the current value.

    Attributes:
        eot_threshold: end-of-turn confidence that ends a turn, 0.5 to 1.0 (1.0: only
            ``force_end_turn()`` and the timeout end turns). Deepgram's default: 0.7.
        eager_eot_threshold: confidence for an early ``EagerEndOfTurn``, 0.3 to 0.9,
            not above ``eot_threshold``; setting it enables eager end of turn.
        eot_timeout_ms: silence that ends a turn anyway, 500 to 60000 ms (5000).

    Values outside these ranges raise :class:`~dgtrio.ConfigurationError`.
    """

    eot_threshold: float | None = attrs.field(default=None, metadata=_EOT_THRESHOLD)
    eager_eot_threshold: float | None = attrs.field(default=None, metadata=_EAGER_EOT_THRESHOLD)
    eot_timeout_ms: int | None = attrs.field(default=None, metadata=_EOT_TIMEOUT_MS)

    def __attrs_post_init__(self) -> None:
        check_fields(self)
        _check_order("ListenV2Thresholds", self.eager_eot_threshold, self.eot_threshold)


@attrs.frozen(kw_only=True)
class ListenV2Options:
    """Every query parameter of the Flux socket (``/v2/listen``).

    ``None`` (or an empty list) leaves a parameter out, so the server's default
    applies; lists become repeated parameters. Raw audio needs ``encoding`` and
    ``sample_rate``; leave both out for containerized audio. ``extra_query`` sends
    parameters this version does not know yet. Validation happens here, before
    connecting: a :class:`~dgtrio.ConfigurationError` names the parameter.
    """

    model: str = "flux-general-en"
    encoding: ListenV2Encoding | None = None
    sample_rate: int | None = attrs.field(default=None, metadata=positive())
    eot_threshold: float | None = attrs.field(default=None, metadata=_EOT_THRESHOLD)
    eager_eot_threshold: float | None = attrs.field(default=None, metadata=_EAGER_EOT_THRESHOLD)
    eot_timeout_ms: int | None = attrs.field(default=None, metadata=_EOT_TIMEOUT_MS)
    keyterm: Sequence[str] = attrs.field(default=(), converter=as_tuple)
    language_hint: Sequence[str] = attrs.field(default=(), converter=as_tuple)
    profanity_filter: bool | None = None
    numerals: bool | None = None
    redact: Sequence[Literal["numbers", "aggressive_numbers"]] = attrs.field(
        default=(), converter=as_tuple
    )
    tag: Sequence[str] = attrs.field(default=(), converter=as_tuple)
    mip_opt_out: bool | None = None
    extra_query: Mapping[str, QueryValue] = attrs.field(factory=dict)

    def __attrs_post_init__(self) -> None:
        check_fields(self)  # first: the checks below trust the types
        if not self.model.startswith("flux"):
            raise ConfigurationError(
                f"ListenV2Options.model {self.model!r} is not a Flux model: "
                "use dgtrio.open_listen (/v1/listen)"
            )
        check_raw_format("ListenV2Options", self.encoding, self.sample_rate)
        _check_order("ListenV2Options", self.eager_eot_threshold, self.eot_threshold)
        if self.language_hint and self.model != "flux-general-multi":
            raise ConfigurationError(
                "ListenV2Options.language_hint needs model='flux-general-multi'"
            )

    @property
    def thresholds(self) -> ListenV2Thresholds:
        """The end-of-turn thresholds these options set."""
        return ListenV2Thresholds(
            eot_threshold=self.eot_threshold,
            eager_eot_threshold=self.eager_eot_threshold,
            eot_timeout_ms=self.eot_timeout_ms,
        )

    @property
    def audio_format(self) -> AudioFormat | None:
        """The raw audio format declared, or ``None`` (a container or a codec)."""
        return raw_format(self.encoding, self.sample_rate)
