"""Flux (Listen v2) query parameters and thresholds, validated and immutable (sans-io)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Literal, get_args

import attrs

from .._codec import QueryValue
from .._errors import ConfigurationError
from ..audio._format import AudioFormat, raw_format
from ._options import _strings, _tuple, check_raw_format

__all__ = ["ListenV2Encoding", "ListenV2Options", "ListenV2Thresholds"]

ListenV2Encoding = Literal["linear16", "linear32", "mulaw", "alaw", "opus", "ogg-opus"]
"""The encodings Flux accepts for raw audio."""

_ENCODINGS = frozenset(get_args(ListenV2Encoding))
_REDACT = frozenset({"numbers", "aggressive_numbers"})


def _check_range(name: str, value: float | None, low: float, high: float) -> None:
    if value is not None and (isinstance(value, bool) or not low <= value <= high):
        raise ConfigurationError(f"{name} must be between {low:g} and {high:g}, not {value!r}")


@attrs.frozen(kw_only=True)
class ListenV2Thresholds:
    """When Flux ends a turn; each ``None`` keeps the current value.

    Attributes:
        eot_threshold: end-of-turn confidence that ends a turn, 0.5 to 1.0 (1.0: only
            ``force_end_turn()`` and the timeout end turns). Deepgram's default: 0.7.
        eager_eot_threshold: confidence for an early ``EagerEndOfTurn``, 0.3 to 0.9,
            not above ``eot_threshold``; setting it enables eager end of turn.
        eot_timeout_ms: silence that ends a turn anyway, 500 to 60000 ms (5000).
    """

    eot_threshold: float | None = None
    eager_eot_threshold: float | None = None
    eot_timeout_ms: int | None = None

    def __attrs_post_init__(self) -> None:
        _check_range("eot_threshold", self.eot_threshold, 0.5, 1.0)
        _check_range("eager_eot_threshold", self.eager_eot_threshold, 0.3, 0.9)
        _check_range("eot_timeout_ms", self.eot_timeout_ms, 500, 60000)
        if self.eot_timeout_ms is not None and not isinstance(self.eot_timeout_ms, int):
            raise ConfigurationError("eot_timeout_ms is a whole number of milliseconds")
        eager, eot = self.eager_eot_threshold, self.eot_threshold
        if eager is not None and eot is not None and eager > eot:
            raise ConfigurationError(
                f"eager_eot_threshold ({eager:g}) cannot be above eot_threshold ({eot:g})"
            )


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
    sample_rate: int | None = None
    eot_threshold: float | None = None
    eager_eot_threshold: float | None = None
    eot_timeout_ms: int | None = None
    keyterm: Sequence[str] = attrs.field(default=(), converter=_tuple, validator=_strings)
    language_hint: Sequence[str] = attrs.field(default=(), converter=_tuple, validator=_strings)
    profanity_filter: bool | None = None
    numerals: bool | None = None
    redact: Sequence[Literal["numbers", "aggressive_numbers"]] = attrs.field(
        default=(), converter=_tuple
    )
    tag: Sequence[str] = attrs.field(default=(), converter=_tuple, validator=_strings)
    mip_opt_out: bool | None = None
    extra_query: Mapping[str, QueryValue] = attrs.field(factory=dict)

    def __attrs_post_init__(self) -> None:
        if not self.model.startswith("flux"):
            raise ConfigurationError(
                f"model {self.model!r} is not a Flux model: use dgtrio.open_listen (/v1/listen)"
            )
        check_raw_format(self.encoding, self.sample_rate, _ENCODINGS)
        if self.sample_rate is not None and (
            isinstance(self.sample_rate, bool) or self.sample_rate <= 0
        ):
            raise ConfigurationError(f"sample_rate must be positive, not {self.sample_rate!r}")
        self.thresholds  # noqa: B018  (validates the three thresholds together)
        if self.language_hint and self.model != "flux-general-multi":
            raise ConfigurationError("language_hint needs model='flux-general-multi'")
        unknown = set(self.redact) - _REDACT
        if isinstance(self.redact, str) or unknown:
            raise ConfigurationError("redact takes a list of 'numbers', 'aggressive_numbers'")

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
