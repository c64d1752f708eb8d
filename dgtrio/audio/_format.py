"""Raw audio formats, and the check that a source or a speaker matches a connection."""

from __future__ import annotations

from typing import Any, Literal, Protocol, get_args

import attrs

from .._errors import AudioFormatError

__all__ = ["AudioFormat", "AudioSink", "RawEncoding", "check_format", "raw_format"]

RawEncoding = Literal["linear16", "linear32", "mulaw", "alaw"]
"""The encodings Deepgram takes and sends without a container: PCM and G.711."""

_WIDTHS: dict[str, int] = {"linear16": 2, "linear32": 4, "mulaw": 1, "alaw": 1}
_CHANNELS = {1: "mono", 2: "stereo"}


def _positive(_: Any, attribute: attrs.Attribute[int], value: int) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
        raise ValueError(f"{attribute.name} must be a positive integer, not {value!r}")


def _raw_encoding(_: Any, __: Any, value: str) -> None:
    if value not in _WIDTHS:
        raise ValueError(
            f"encoding must be one of {', '.join(get_args(RawEncoding))}, not {value!r}"
        )


@attrs.frozen
class AudioFormat:
    """Raw audio as Deepgram names it: encoding, sample rate, interleaved channels.

    Sources (microphone, files) and speakers carry one as ``format``; ``open_*``
    compares it with what the connection declares and raises
    :class:`~dgtrio.AudioFormatError` on a mismatch, before connecting.
    """

    encoding: RawEncoding = attrs.field(validator=_raw_encoding)
    sample_rate: int = attrs.field(validator=_positive)
    channels: int = attrs.field(default=1, validator=_positive)

    @property
    def sample_width(self) -> int:
        """Bytes in one sample of one channel."""
        return _WIDTHS[self.encoding]

    @property
    def frame_size(self) -> int:
        """Bytes in one sample of every channel: audio comes in whole multiples of it."""
        return _WIDTHS[self.encoding] * self.channels

    @property
    def bytes_per_second(self) -> int:
        return self.frame_size * self.sample_rate

    def frame_bytes(self, frame_ms: float) -> int:
        """Bytes in ``frame_ms`` milliseconds of audio (whole samples, at least one)."""
        return max(1, round(self.sample_rate * frame_ms / 1000)) * self.frame_size

    def duration(self, size: int) -> float:
        """Seconds of audio in ``size`` bytes."""
        return size / self.bytes_per_second

    def __str__(self) -> str:
        channels = _CHANNELS.get(self.channels, f"{self.channels} channels")
        return f"{self.encoding} at {self.sample_rate} Hz, {channels}"


def raw_format(
    encoding: str | None, sample_rate: int | None, channels: int = 1
) -> AudioFormat | None:
    """The raw format options declare, or ``None`` (a container, a codec, no rate)."""
    if encoding not in _WIDTHS or sample_rate is None:
        return None
    return AudioFormat(encoding, sample_rate, channels)  # type: ignore[arg-type]


def check_format(role: str, audio: object, declared: AudioFormat | None, where: str) -> None:
    """Raise :class:`AudioFormatError` unless the ``format`` of ``audio`` (a source
    or a speaker; nothing to check without one) is ``declared`` (``None``: no raw
    format declared). ``role`` names the object ("the audio source"), ``where`` the
    declaration ("ListenV1Options").
    """
    actual = getattr(audio, "format", None)
    if not isinstance(actual, AudioFormat) or actual == declared:
        return
    if declared is None:
        raise AudioFormatError(
            f"{role} is raw {actual}, but {where} declares no raw format: set "
            f"encoding={actual.encoding!r}, sample_rate={actual.sample_rate} "
            f"(and {actual.channels} channel(s))"
        )
    raise AudioFormatError(f"{role} is {actual}, but {where} declares {declared}")


class AudioSink(Protocol):
    """Where a connection's speech goes: :class:`~dgtrio.audio.Speaker`, or your own
    (a telephony bridge, a recorder). ``open_agent(speaker=...)`` and
    ``open_speak(speaker=...)`` call :meth:`play` with each audio frame as it arrives,
    and :meth:`clear` on barge-in."""

    @property
    def format(self) -> AudioFormat:
        """What :meth:`play` takes; checked against the connection's output format."""
        ...

    async def play(self, audio: bytes) -> None:
        """Queue ``audio`` for playback; may wait for room (backpressure)."""
        ...

    def clear(self) -> object:
        """Stop at once: drop the audio not yet played."""
        ...
