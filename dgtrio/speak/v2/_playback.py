"""Where the user is in a Flux TTS session's audio (sans-io, but for the speaker it
wraps): the offset an ``Interrupt`` reports when the caller gives none."""

from __future__ import annotations

import math
from collections.abc import Callable

from ..._codec import UnknownMessage
from ...audio._format import AudioFormat, AudioSink
from .._common import SpeechMute
from ._messages import SpeakV2Message, SpeakV2SpeechInterrupted

__all__ = ["PlaybackClock", "SpeakV2Adapter", "is_interrupted"]


def is_interrupted(message: SpeakV2Message | UnknownMessage) -> bool:
    """Whether ``message`` is a ``SpeechInterrupted``: the end of a cancelled turn."""
    return isinstance(message, SpeakV2SpeechInterrupted)


class PlaybackClock:
    """The speaker as a Flux connection sees it: an :class:`~dgtrio.audio.AudioSink`
    that hands everything on to ``sink`` and counts the milliseconds handed on.

    ``clear()`` returns what the sink's returns when that is a number of
    milliseconds (:meth:`dgtrio.audio.Speaker.clear` returns what it dropped), else
    ``None``: a sink that cannot say is taken to have played all it was given.
    """

    def __init__(self, sink: AudioSink, fmt: AudioFormat) -> None:
        self._sink = sink
        self._bytes_per_ms = fmt.bytes_per_second / 1000
        self.delivered_ms = 0.0
        """Milliseconds of audio handed to the sink so far."""

    @property
    def format(self) -> AudioFormat:
        return self._sink.format

    async def play(self, audio: bytes) -> None:
        await self._sink.play(audio)
        self.delivered_ms += len(audio) / self._bytes_per_ms  # queued: it will play

    def clear(self) -> float | None:
        dropped = self._sink.clear()
        if isinstance(dropped, bool) or not isinstance(dropped, int | float):
            return None
        return float(dropped) if math.isfinite(dropped) and dropped >= 0 else None


class SpeakV2Adapter(SpeechMute[SpeakV2Message]):
    """What Flux TTS messages mean to the engine (sans-io): speech is muted while a
    silence holds (an :meth:`~SpeakV2Connection.interrupt` until its answer, a turn
    left early until its end), and each ``SpeechInterrupted`` rebases the session's
    playback position.

    The position is where the user's ear is in the session's audio, as the server
    counts it: an accepted interrupt moves the server's count to the offset it was
    given (the audio generated past it is discarded), so the position is that
    offset plus what the speaker was given since, less what it has not played.
    ``delivered_ms`` says how much the speaker was given so far (``None``: no
    speaker).
    """

    def __init__(
        self, speech_queued: Callable[[], int], delivered_ms: Callable[[], float] | None = None
    ) -> None:
        super().__init__(speech_queued, is_interrupted)
        self._delivered_ms = delivered_ms
        self.baseline_ms: int | None = None
        """Where the last ``SpeechInterrupted`` put playback (``audio_played_ms``):
        the next offset must be past it."""
        self._origin_ms = 0.0  # what the speaker had been given then

    def on_message(self, message: SpeakV2Message | UnknownMessage) -> None:
        super().on_message(message)
        if isinstance(message, SpeakV2SpeechInterrupted):
            self.baseline_ms = message.audio_played_ms
            if self._delivered_ms is not None:
                self._origin_ms = self._delivered_ms()

    def position_ms(self, unplayed_ms: float) -> int | None:
        """Where playback is, with ``unplayed_ms`` given to the speaker but not yet
        played; ``None`` without a speaker."""
        if self._delivered_ms is None:
            return None
        played = self._delivered_ms() - self._origin_ms - unplayed_ms
        return (self.baseline_ms or 0) + max(0, math.floor(played))
