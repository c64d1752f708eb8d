"""Writing WAV files: 16/32-bit PCM and G.711 (mu-law, A-law), as Deepgram streams them."""

from __future__ import annotations

import os
import struct
from collections.abc import AsyncIterable
from types import TracebackType
from typing import BinaryIO, Protocol

import trio

from .._codec import SAMPLE_WIDTH
from ._format import RawEncoding

__all__ = ["WavWriter", "write_wav"]

_FORMAT_TAGS = {"linear16": 1, "linear32": 1, "alaw": 6, "mulaw": 7}


class _HasData(Protocol):
    @property
    def data(self) -> bytes: ...


class WavWriter:
    """Raw audio in, a WAV file out; the sizes in the header are set by :meth:`close`.

    ::

        with WavWriter("out.wav", encoding="linear16", sample_rate=24000) as wav:
            wav.write(chunk)

    Blocking file I/O: in trio code, use :func:`write_wav` (or call it in a worker
    thread).

    Args:
        file: a path, or a seekable binary file (not closed by :meth:`close`).
        encoding: ``linear16``, ``linear32``, ``mulaw`` or ``alaw``.
        sample_rate: samples per second; channels: interleaved channels.
    """

    def __init__(
        self,
        file: str | os.PathLike[str] | BinaryIO,
        *,
        encoding: RawEncoding,
        sample_rate: int,
        channels: int = 1,
    ) -> None:
        if encoding not in _FORMAT_TAGS:
            raise ValueError(f"a WAV file cannot hold {encoding!r} audio here")
        if sample_rate <= 0 or channels <= 0:
            raise ValueError("sample_rate and channels must be positive")
        self.encoding = encoding
        self.sample_rate = sample_rate
        self.channels = channels
        self._block = SAMPLE_WIDTH[encoding] * channels
        self._own = isinstance(file, str | os.PathLike)
        self._file: BinaryIO = open(file, "wb") if isinstance(file, str | os.PathLike) else file  # noqa: SIM115
        self._pcm = _FORMAT_TAGS[encoding] == 1
        self._bytes = 0
        self._closed = False
        self._start = self._file.tell()
        self._file.write(self._header())

    @property
    def duration(self) -> float:
        """Seconds of audio written so far."""
        return self._bytes / self._block / self.sample_rate

    def write(self, data: bytes) -> None:
        """Append raw audio in the file's encoding."""
        if self._closed:
            raise ValueError("the WAV file is closed")
        self._file.write(data)
        self._bytes += len(data)

    def _header(self) -> bytes:
        width = SAMPLE_WIDTH[self.encoding]
        fmt = struct.pack(
            "<HHIIHH",
            _FORMAT_TAGS[self.encoding],
            self.channels,
            self.sample_rate,
            self.sample_rate * self._block,
            self._block,
            8 * width,
        )
        chunks = b""
        if self._pcm:
            chunks += b"fmt " + struct.pack("<I", len(fmt)) + fmt
        else:
            # Non-PCM formats carry cbSize and a fact chunk with the sample count.
            fmt += struct.pack("<H", 0)
            frames = self._bytes // self._block
            chunks += b"fmt " + struct.pack("<I", len(fmt)) + fmt
            chunks += b"fact" + struct.pack("<II", 4, frames)
        data = b"data" + struct.pack("<I", self._bytes)
        size = 4 + len(chunks) + len(data) + self._bytes + (self._bytes & 1)
        return b"RIFF" + struct.pack("<I", size) + b"WAVE" + chunks + data

    def close(self) -> None:
        """Pad to an even size, write the final header, and close the file if opened
        here. Idempotent."""
        if self._closed:
            return
        self._closed = True
        try:
            if self._bytes & 1:
                self._file.write(b"\0")
            self._file.seek(self._start)
            self._file.write(self._header())
            self._file.seek(0, os.SEEK_END)
        finally:
            if self._own:
                self._file.close()

    def __enter__(self) -> WavWriter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


async def write_wav(
    path: str | os.PathLike[str],
    audio: AsyncIterable[bytes | _HasData],
    *,
    encoding: RawEncoding,
    sample_rate: int,
    channels: int = 1,
) -> float:
    """Write an async stream of audio (bytes, or messages with ``data``) to a WAV file.

    File writes run in trio worker threads. Returns the seconds of audio written.
    """
    wav = await trio.to_thread.run_sync(
        lambda: WavWriter(path, encoding=encoding, sample_rate=sample_rate, channels=channels)
    )
    try:
        async for chunk in audio:
            data = chunk if isinstance(chunk, bytes) else chunk.data
            await trio.to_thread.run_sync(wav.write, data)
    finally:
        with trio.CancelScope(shield=True):  # a cancelled write still leaves a valid file
            await trio.to_thread.run_sync(wav.close)
    return wav.duration
