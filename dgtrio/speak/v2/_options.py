"""Flux TTS (Speak v2) query parameters as one validated, immutable options object
(sans-io)."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Literal

import attrs

from ..._codec import QueryValue
from ..._errors import ConfigurationError
from ..._validate import between, check_fields, on_grid, positive
from ...audio._format import AudioFormat
from ...listen._common import as_tuple
from .._common import check_sample_rate

__all__ = ["SPEED_STEP", "SpeakV2Encoding", "SpeakV2Options", "check_speed"]

SpeakV2Encoding = Literal["linear16", "mulaw", "alaw"]
"""The encodings Flux TTS streams (raw, without a container)."""

_SAMPLE_RATES = (8000, 16000, 24000, 32000, 44100, 48000)
_SPEED = between(0.5, 1.5)
SPEED_STEP = 0.05
"""Speeds go in steps of this much (Deepgram's schema: ``multipleOf: 0.05``)."""
# flux-{voice}-{language}: a voice and a language (or "multi"), each of letters and digits.
_MODEL = re.compile(r"flux-[a-z0-9]+(?:-[a-z0-9]+)*-[a-z0-9]+")


def check_speed(owner: str, speed: float) -> None:
    """Refuse a speed off Deepgram's 0.05 grid (the range is checked with the type).

    The server would refuse it too (``SPEED_INCREMENT_INVALID``), after a round trip.
    """
    if not on_grid(speed, SPEED_STEP):
        raise ConfigurationError(f"{owner}speed {speed!r} is not a multiple of {SPEED_STEP:g}")


@attrs.frozen(kw_only=True)
class SpeakV2Options:
    """Every query parameter of the Flux TTS socket (``/v2/speak``).

    ``encoding`` and ``sample_rate`` are always sent, so that the audio's format is
    known here (for WAV files, speakers and the checks); ``None`` leaves the others
    out, so the server's default applies. ``extra_query`` sends parameters this
    version does not know yet (the server refuses names it does not know).

    Attributes:
        model: a Flux voice, ``flux-{voice}-{language}``, e.g. ``flux-haley-en``.
            Aura voices are served by ``/v1/speak`` only: use
            :func:`~dgtrio.open_speak` for them.
        encoding: ``linear16`` (16-bit PCM), ``mulaw`` or ``alaw``.
        sample_rate: 8000, 16000, 24000, 32000, 44100 or 48000 Hz (mu-law and A-law:
            8000 or 16000).
        speed: speaking rate, 0.5 to 1.5 in steps of 0.05 (Deepgram's default is 1);
            a voice without speed control refuses the connection. Changed later with
            :meth:`~dgtrio.SpeakV2Connection.configure`. Pronunciation controls in
            the text need a speed of 1.
        expressivity: from calm (-2) to animated (2); Deepgram's default is 0. Fixed
            for the connection.
        mip_opt_out: opt out of the Model Improvement Program.
        tag: labels for usage reports (repeated parameters).
    """

    model: str = "flux-haley-en"
    encoding: SpeakV2Encoding = "linear16"
    sample_rate: int = attrs.field(default=24000, metadata=positive())
    speed: float | None = attrs.field(default=None, metadata=_SPEED)
    expressivity: int | None = attrs.field(default=None, metadata=between(-2, 2))
    mip_opt_out: bool | None = None
    tag: Sequence[str] = attrs.field(default=(), converter=as_tuple)
    extra_query: Mapping[str, QueryValue] = attrs.field(factory=dict)

    def __attrs_post_init__(self) -> None:
        check_fields(self)  # first: the checks below trust the types
        if self.model.startswith("aura"):
            raise ConfigurationError(
                f"SpeakV2Options.model {self.model!r} is an Aura voice, which /v2/speak "
                "does not serve: use dgtrio.open_speak (/v1/speak) with SpeakV1Options"
            )
        if not _MODEL.fullmatch(self.model):
            raise ConfigurationError(
                f"SpeakV2Options.model {self.model!r} is not a Flux voice: "
                "flux-{voice}-{language}, e.g. 'flux-haley-en'"
            )
        check_sample_rate(self.encoding, self.sample_rate, _SAMPLE_RATES)
        if self.speed is not None:
            check_speed("SpeakV2Options.", self.speed)

    @property
    def audio_format(self) -> AudioFormat:
        """The format of the speech: ``encoding`` at ``sample_rate``, mono."""
        return AudioFormat(self.encoding, self.sample_rate)
