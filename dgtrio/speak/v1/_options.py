"""Speak v1 query parameters as one validated, immutable options object (sans-io)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

import attrs

from ..._codec import QueryValue
from ..._errors import ConfigurationError
from ..._validate import between, check_fields, positive
from ...audio._format import AudioFormat
from .._common import check_sample_rate

__all__ = ["SpeakV1Encoding", "SpeakV1Options"]

SpeakV1Encoding = Literal["linear16", "mulaw", "alaw"]
"""The encodings streaming text-to-speech produces (raw, without a container)."""

_SAMPLE_RATES = (8000, 16000, 24000, 32000, 48000)


@attrs.frozen(kw_only=True)
class SpeakV1Options:
    """Every query parameter of the streaming text-to-speech socket (``/v1/speak``).

    ``encoding`` and ``sample_rate`` are always sent, so that the audio's format is
    known here (for WAV files, speakers and the checks); ``None`` leaves the others
    out. ``extra_query`` sends parameters this version does not know yet.

    Attributes:
        model: an Aura voice, e.g. ``aura-2-thalia-en`` or ``aura-2-celeste-es``.
        encoding: ``linear16`` (16-bit PCM), ``mulaw`` or ``alaw``.
        sample_rate: 8000, 16000, 24000, 32000 or 48000 Hz (mu-law and A-law: 8000
            or 16000).
        speed: speaking rate, 0.7 to 1.5 (Deepgram's default is 1).
        mip_opt_out: opt out of the Model Improvement Program.
    """

    model: str = "aura-2-thalia-en"
    encoding: SpeakV1Encoding = "linear16"
    sample_rate: int = attrs.field(default=24000, metadata=positive())
    speed: float | None = attrs.field(default=None, metadata=between(0.7, 1.5))
    mip_opt_out: bool | None = None
    extra_query: Mapping[str, QueryValue] = attrs.field(factory=dict)

    def __attrs_post_init__(self) -> None:
        check_fields(self)  # first: the checks below trust the types
        if not self.model.startswith("aura"):
            flux = self.model.startswith("flux")
            hint = ": use dgtrio.open_flux_speak (/v2/speak)" if flux else ""
            raise ConfigurationError(
                f"SpeakV1Options.model {self.model!r} is not an Aura voice: "
                f"/v1/speak takes aura-* models{hint}"
            )
        check_sample_rate(self.encoding, self.sample_rate, _SAMPLE_RATES)

    @property
    def audio_format(self) -> AudioFormat:
        """The format of the speech: ``encoding`` at ``sample_rate``, mono."""
        return AudioFormat(self.encoding, self.sample_rate)
