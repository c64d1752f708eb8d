"""WAV files: writing 16/32-bit PCM and G.711 (mu-law, A-law), as Deepgram streams them,
and reading (checking) the header of a file to stream."""

from __future__ import annotations

import os
import struct
from collections.abc import AsyncIterable, Callable
from types import TracebackType
from typing import BinaryIO, Protocol

import attrs
import trio

from .._codec import SAMPLE_WIDTH
from .._errors import AudioFormatError
from ._format import RawEncoding

__all__ = ["WavWriter", "write_wav"]

_FORMAT_TAGS = {"linear16": 1, "linear32": 1, "alaw": 6, "mulaw": 7}
_TAG_NAMES = {3: "IEEE float", 6: "A-law", 7: "mu-law", 0xFFFE: "extensible, another subformat"}
_PCM, _EXTENSIBLE = 1, 0xFFFE
# KSDATAFORMAT_SUBTYPE_PCM after its first two bytes (which repeat the format tag).
_SUBFORMAT_TAIL = bytes.fromhex("000000001000800000aa00389b71")
_RIFF = struct.Struct("<4sI4s")
_CHUNK = struct.Struct("<4sI")
_FMT = struct.Struct("<HHIIHH")
# Writers that cannot seek back put a placeholder in the data chunk's size: 0, or a
# size as large as a WAV file can be (arecord 0x7FFFFF00, ffmpeg 0xFFFFFFFF).
_PLACEHOLDER_SIZE = 0x7FFF_F000


@attrs.frozen
class WavHeader:
    """What a PCM WAV file's header says: its format and where its audio is.

    Attributes:
        channels, sample_rate: as declared, both positive.
        sample_width: bytes per sample of one channel, positive.
        data_offset: where the audio starts in the file.
        data_size: its length in bytes, a whole number of samples; ``None`` for a
            "streaming" WAV whose writer could not fill it in: its audio runs to the
            end of the file.
        size: the file's size when the header was read.
    """

    channels: int
    sample_rate: int
    sample_width: int
    data_offset: int
    data_size: int | None
    size: int

    @property
    def duration(self) -> float:
        """Seconds of audio (to the end of the file as it was, for a streaming WAV)."""
        size = self.size - self.data_offset if self.data_size is None else self.data_size
        return size // (self.sample_width * self.channels) / self.sample_rate


def read_wav_header(path: str | os.PathLike[str]) -> WavHeader:
    """Read and check the header of a PCM WAV file: a small blocking read.

    WAVE_FORMAT_EXTENSIBLE with a PCM subformat is PCM too. Chunks other than
    ``fmt `` and ``data`` are skipped. A data chunk whose size is
    a placeholder (``0``, or ``0x7FFFF000`` and up, and more than the file holds) is
    taken to run to the end of the file, as streaming writers leave it.

    Raises:
        AudioFormatError: not a PCM WAV file, or one whose header or audio is cut
            short or inconsistent; the message names the file and the problem.
        OSError: the file cannot be read.
    """
    with open(path, "rb") as file:
        return _parse_header(file, os.fstat(file.fileno()).st_size, path)


def _parse_header(file: BinaryIO, size: int, path: str | os.PathLike[str]) -> WavHeader:
    def refuse(problem: str) -> AudioFormatError:
        return AudioFormatError(f"{os.fspath(path)}: not a PCM WAV file ({problem})")

    riff = file.read(_RIFF.size)
    if not riff:
        raise refuse("empty file")
    if riff[:4] != b"RIFF":
        raise refuse("file does not start with RIFF id")
    if len(riff) < _RIFF.size:
        raise refuse(f"truncated header: the file ends after {size} bytes, in the RIFF header")
    if riff[8:] != b"WAVE":
        raise refuse(f"RIFF form {_name(riff[8:])}, not 'WAVE'")
    fmt: tuple[int, int, int] | None = None
    position = _RIFF.size
    while True:
        if position + _CHUNK.size > size:
            where = "before the 'data' chunk" if position >= size else "in a chunk header"
            raise refuse(f"truncated header: the file ends at byte {size}, {where}")
        file.seek(position)
        chunk_id, length = _CHUNK.unpack(file.read(_CHUNK.size))
        body = position + _CHUNK.size
        if chunk_id == b"data":
            if fmt is None:
                raise refuse("no 'fmt ' chunk before the 'data' chunk")
            channels, rate, width = fmt
            held = size - body
            data_size: int | None = length
            if length == 0 or (length > held and length >= _PLACEHOLDER_SIZE):
                data_size = None
            elif length > held:
                raise refuse(
                    f"truncated audio: the 'data' chunk at byte {position} declares "
                    f"{length} bytes, the file ends {held} bytes into it"
                )
            elif length % (width * channels):
                raise refuse(
                    f"the 'data' chunk's {length} bytes are not a whole number of "
                    f"{width * channels}-byte samples"
                )
            return WavHeader(channels, rate, width, body, data_size, size)
        if body + length > size:
            raise refuse(
                f"truncated header: the {_name(chunk_id)} chunk at byte {position} declares "
                f"{length} bytes, the file ends {size - body} bytes into it"
            )
        if chunk_id == b"fmt " and fmt is None:
            fmt = _parse_fmt(file.read(min(length, 64)), refuse)  # PCM takes 16 to 40
        position = body + length + (length & 1)  # chunks are padded to an even size


def _parse_fmt(body: bytes, refuse: Callable[[str], AudioFormatError]) -> tuple[int, int, int]:
    """Channels, sample rate and bytes per sample of a PCM ``fmt `` chunk."""
    if len(body) < _FMT.size:
        raise refuse(f"'fmt ' chunk of {len(body)} bytes; it takes at least {_FMT.size}")
    tag, channels, rate, _, _, bits = _FMT.unpack_from(body)
    if tag == _EXTENSIBLE:
        # cbSize, valid bits, channel mask, then the 16-byte subformat GUID.
        if len(body) < _FMT.size + 24:
            raise refuse(f"extensible 'fmt ' chunk of {len(body)} bytes; it takes 40")
        subformat = body[_FMT.size + 8 : _FMT.size + 24]
        if subformat[2:] == _SUBFORMAT_TAIL:
            tag = int.from_bytes(subformat[:2], "little")
    if tag != _PCM:
        raise refuse(f"format tag {tag:#06x} ({_TAG_NAMES.get(tag, 'unknown')}), not PCM")
    if channels == 0 or rate == 0 or bits == 0:
        raise refuse(f"{channels} channels of {bits}-bit samples at {rate} Hz")
    return channels, rate, (bits + 7) // 8


def _name(chunk_id: bytes) -> str:
    return repr(chunk_id.decode("latin-1"))


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
        self._pcm = _FORMAT_TAGS[encoding] == _PCM
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
        fmt = _FMT.pack(
            _FORMAT_TAGS[self.encoding],
            self.channels,
            self.sample_rate,
            self.sample_rate * self._block,
            self._block,
            8 * SAMPLE_WIDTH[self.encoding],
        )
        fact = b""
        if not self._pcm:
            # Non-PCM formats carry cbSize and a fact chunk with the sample count.
            fmt += struct.pack("<H", 0)
            fact = _CHUNK.pack(b"fact", 4) + struct.pack("<I", self._bytes // self._block)
        chunks = _CHUNK.pack(b"fmt ", len(fmt)) + fmt + fact
        data = _CHUNK.pack(b"data", self._bytes)
        size = 4 + len(chunks) + len(data) + self._bytes + (self._bytes & 1)
        return _RIFF.pack(b"RIFF", size, b"WAVE") + chunks + data

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
