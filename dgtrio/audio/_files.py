"""Audio from files: WAV read in trio worker threads, framed and paced."""

from __future__ import annotations

import os
import wave
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Literal

import attrs
import trio

from .._errors import AudioFormatError

__all__ = ["AudioFormat", "PcmEncoding", "WavSource"]

PcmEncoding = Literal["linear16", "linear32"]
_ENCODINGS: dict[int, PcmEncoding] = {2: "linear16", 4: "linear32"}
_BLOCK_SECONDS = 1.0  # how much one worker-thread read fetches


@attrs.frozen
class AudioFormat:
    """Raw PCM as Deepgram names it: encoding, sample rate, channels."""

    encoding: PcmEncoding
    sample_rate: int
    channels: int
    sample_width: int

    @property
    def bytes_per_second(self) -> int:
        return self.sample_rate * self.channels * self.sample_width

    def frame_bytes(self, frame_ms: int) -> int:
        """Bytes in ``frame_ms`` milliseconds of audio (whole samples)."""
        return max(1, self.sample_rate * frame_ms // 1000) * self.channels * self.sample_width


class WavSource:
    """A WAV file as an async iterable of fixed-duration PCM frames.

    ::

        source = WavSource("call.wav")              # real time, 20 ms frames
        fmt = source.format
        options = ListenV1Options(encoding=fmt.encoding, sample_rate=fmt.sample_rate,
                                  channels=fmt.channels)
        async with dgtrio.open_listen(options, audio=source) as conn: ...

    Args:
        path: a 16- or 32-bit PCM WAV file.
        frame_ms: duration of each frame (the last one may be shorter).
        speed: pacing: ``1.0`` is real time, ``2.0`` twice as fast, ``None`` as fast
            as the connection takes it.

    The header is read at construction (a small blocking read); the audio is read in
    worker threads, one block at a time, while iterating. Each iteration starts over.

    Raises:
        AudioFormatError: not a PCM WAV file Deepgram can take raw.
        OSError: the file cannot be read.
    """

    def __init__(
        self, path: str | os.PathLike[str], *, frame_ms: int = 20, speed: float | None = 1.0
    ) -> None:
        if frame_ms <= 0:
            raise ValueError("frame_ms must be positive")
        if speed is not None and speed <= 0:
            raise ValueError("speed must be positive, or None for no pacing")
        self.path = Path(path)
        self.frame_ms = frame_ms
        self.speed = speed
        try:
            with wave.open(str(self.path), "rb") as wav:
                width, rate, channels = wav.getsampwidth(), wav.getframerate(), wav.getnchannels()
                self.duration: float = wav.getnframes() / rate
        except (wave.Error, EOFError) as exc:
            raise AudioFormatError(f"{self.path}: not a PCM WAV file ({exc})") from exc
        if width not in _ENCODINGS:
            raise AudioFormatError(
                f"{self.path}: {8 * width}-bit samples; Deepgram takes 16- or 32-bit PCM raw"
            )
        self.format = AudioFormat(_ENCODINGS[width], rate, channels, width)

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self._frames()

    async def _frames(self) -> AsyncIterator[bytes]:
        fmt = self.format
        frame_bytes = fmt.frame_bytes(self.frame_ms)
        block_frames = int(fmt.sample_rate * _BLOCK_SECONDS)
        wav = await trio.to_thread.run_sync(wave.open, str(self.path), "rb")
        try:
            started, sent = trio.current_time(), 0
            while block := await trio.to_thread.run_sync(wav.readframes, block_frames):
                for offset in range(0, len(block), frame_bytes):
                    if self.speed is not None:
                        await trio.sleep_until(started + sent / fmt.bytes_per_second / self.speed)
                    frame = block[offset : offset + frame_bytes]
                    sent += len(frame)
                    yield frame
        finally:
            wav.close()

    def __repr__(self) -> str:
        return (
            f"<WavSource {str(self.path)!r} {self.format.encoding} {self.format.sample_rate} Hz "
            f"x{self.format.channels} {self.duration:.2f} s>"
        )
