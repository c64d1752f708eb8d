"""Audio sources for the connections: WAV and raw files, and any byte stream, cut
into fixed-duration frames and paced.

Every source is an async iterable of frames of ``frame_ms`` milliseconds (the last
one may be shorter) with a ``format``, which ``open_*`` checks against the format
the connection declares. Pacing: ``speed=1.0`` is real time (as a live caller
would send), ``2.0`` twice as fast, ``None`` as fast as the connection takes it.
Files are read in trio worker threads, a block at a time; each iteration starts over.
"""

from __future__ import annotations

import inspect
import os
import wave
from collections.abc import AsyncGenerator, AsyncIterable, AsyncIterator
from contextlib import aclosing
from pathlib import Path
from typing import BinaryIO

import trio

from .._errors import AudioFormatError
from ._format import AudioFormat, RawEncoding

__all__ = ["RawSource", "StreamSource", "WavSource"]

_BLOCK_SECONDS = 1.0  # how much one worker-thread read fetches
_WAV_ENCODINGS: dict[int, RawEncoding] = {2: "linear16", 4: "linear32"}


class _FramedSource:
    """Frames and paces the blocks of audio that a subclass's ``_blocks`` yields."""

    format: AudioFormat

    def __init__(self, *, frame_ms: float, speed: float | None) -> None:
        if frame_ms <= 0:
            raise ValueError("frame_ms must be positive")
        if speed is not None and speed <= 0:
            raise ValueError("speed must be positive, or None for no pacing")
        self.frame_ms = frame_ms
        self.speed = speed

    def _blocks(self) -> AsyncGenerator[bytes, None]:
        raise NotImplementedError

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self._frames()

    async def _frames(self) -> AsyncIterator[bytes]:
        fmt, speed = self.format, self.speed
        size = fmt.frame_bytes(self.frame_ms)
        pending = b""
        started, sent = trio.current_time(), 0
        async with aclosing(self._blocks()) as blocks:
            async for block in blocks:
                pending += block
                whole = len(pending) - len(pending) % size
                for offset in range(0, whole, size):
                    if speed is not None:
                        await trio.sleep_until(started + sent / fmt.bytes_per_second / speed)
                    sent += size
                    yield pending[offset : offset + size]
                pending = pending[whole:]
        if len(pending) % fmt.frame_size:
            raise AudioFormatError(
                f"{self!r} ended inside a sample: {len(pending)} bytes left over, "
                f"not a whole number of {fmt.frame_size}-byte samples ({fmt})"
            )
        if pending:
            if speed is not None:
                await trio.sleep_until(started + sent / fmt.bytes_per_second / speed)
            yield pending


class WavSource(_FramedSource):
    """A 16- or 32-bit PCM WAV file as an async iterable of audio frames.

    ::

        source = dgtrio.audio.WavSource("call.wav")          # real time, 20 ms frames
        fmt = source.format
        options = dgtrio.ListenV1Options(encoding=fmt.encoding,
                                         sample_rate=fmt.sample_rate, channels=fmt.channels)
        async with dgtrio.open_listen(options, audio=source) as conn: ...

    Args:
        path: the file. Its header is read now (a small blocking read).
        frame_ms: duration of each frame (the last one may be shorter).
        speed: pacing: ``1.0`` real time, ``N`` N times faster, ``None`` unpaced.

    Raises:
        AudioFormatError: not a PCM WAV file that Deepgram can take raw.
        OSError: the file cannot be read.
    """

    def __init__(
        self, path: str | os.PathLike[str], *, frame_ms: float = 20, speed: float | None = 1.0
    ) -> None:
        super().__init__(frame_ms=frame_ms, speed=speed)
        self.path = Path(path)
        try:
            with wave.open(str(self.path), "rb") as wav:
                width, rate, channels = wav.getsampwidth(), wav.getframerate(), wav.getnchannels()
                self.duration: float = wav.getnframes() / rate
        except (wave.Error, EOFError) as exc:
            raise AudioFormatError(f"{self.path}: not a PCM WAV file ({exc})") from exc
        if width not in _WAV_ENCODINGS:
            raise AudioFormatError(
                f"{self.path}: {8 * width}-bit samples; Deepgram takes 16- or 32-bit PCM raw"
            )
        self.format = AudioFormat(_WAV_ENCODINGS[width], rate, channels)

    async def _blocks(self) -> AsyncGenerator[bytes, None]:
        block_frames = round(self.format.sample_rate * _BLOCK_SECONDS)
        wav = await trio.to_thread.run_sync(wave.open, str(self.path), "rb")
        try:
            while block := await trio.to_thread.run_sync(wav.readframes, block_frames):
                yield block
        finally:
            wav.close()

    def __repr__(self) -> str:
        return f"<WavSource {str(self.path)!r} {self.format} {self.duration:.2f} s>"


class RawSource(_FramedSource):
    """A file of headerless audio (PCM or G.711) as an async iterable of frames.

    ::

        fmt = dgtrio.audio.AudioFormat("mulaw", 8000)
        source = dgtrio.audio.RawSource("call.ulaw", fmt, speed=None)

    Args:
        path: the file.
        format: what the file holds; raw bytes say nothing of it themselves.
        frame_ms, speed: as for :class:`WavSource`.

    Raises:
        AudioFormatError: the file's size is not a whole number of samples.
        OSError: the file cannot be read.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        format: AudioFormat,
        *,
        frame_ms: float = 20,
        speed: float | None = 1.0,
    ) -> None:
        super().__init__(frame_ms=frame_ms, speed=speed)
        self.path = Path(path)
        self.format = format
        size = self.path.stat().st_size
        if size % format.frame_size:
            raise AudioFormatError(
                f"{self.path}: {size} bytes is not a whole number of "
                f"{format.frame_size}-byte samples ({format})"
            )
        self.duration: float = format.duration(size)

    async def _blocks(self) -> AsyncGenerator[bytes, None]:
        block_size = self.format.frame_bytes(_BLOCK_SECONDS * 1000)
        file: BinaryIO = await trio.to_thread.run_sync(open, self.path, "rb")
        try:
            while block := await trio.to_thread.run_sync(file.read, block_size):
                yield block
        finally:
            file.close()

    def __repr__(self) -> str:
        return f"<RawSource {str(self.path)!r} {self.format} {self.duration:.2f} s>"


class StreamSource(_FramedSource):
    """Any async iterable of audio bytes, in chunks of any size, as fixed frames.

    For audio from a subprocess (``ffmpeg ... -f s16le -``), a socket or a
    telephony bridge::

        chunks = process.stdout                          # a trio ReceiveStream
        source = dgtrio.audio.StreamSource(chunks, dgtrio.audio.AudioFormat("linear16", 16000))

    Args:
        chunks: the bytes, in order; iterated once.
        format: what they hold.
        frame_ms: duration of each frame (the last one may be shorter).
        speed: pacing; ``None`` (the default) passes frames on as they come, for
            sources that are live already.

    Iteration raises :class:`AudioFormatError` if the stream ends inside a sample.
    """

    def __init__(
        self,
        chunks: AsyncIterable[bytes],
        format: AudioFormat,
        *,
        frame_ms: float = 20,
        speed: float | None = None,
    ) -> None:
        super().__init__(frame_ms=frame_ms, speed=speed)
        self.chunks = chunks
        self.format = format

    async def _blocks(self) -> AsyncGenerator[bytes, None]:
        chunks = aiter(self.chunks)
        try:
            async for chunk in chunks:
                yield bytes(chunk)
        finally:
            # A generator left mid-iteration is closed here, in the task iterating it.
            if inspect.isasyncgen(chunks):
                await chunks.aclose()

    def __repr__(self) -> str:
        return f"<StreamSource {self.format}>"
