"""Audio sources for the connections: WAV and raw files, and any byte stream, cut
into fixed-duration frames and paced.

Every source is an async iterable of frames of ``frame_ms`` milliseconds (the last
one may be shorter) with a ``format``, which ``open_*`` checks against the format
the connection declares. Pacing: ``speed=1.0`` is real time (as a live caller
would send), ``2.0`` twice as fast, ``None`` as fast as the connection takes it.
Frame ``k`` leaves ``k * frame_ms / speed`` milliseconds after iteration starts.

Files are read in trio worker threads, a block of seconds of audio ahead of the
frames being sent, so pacing waits on trio's clock alone: under
``trio.testing.MockClock(autojump_threshold=0)`` the frames leave at exact virtual
times, and a read never lets the clock jump (see ``_ReadAhead``). Each
iteration starts over.
"""

from __future__ import annotations

import inspect
import os
from collections.abc import AsyncGenerator, AsyncIterable, AsyncIterator, Callable
from contextlib import aclosing
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

import trio

from .._errors import AudioFormatError
from ._format import AudioFormat, RawEncoding
from ._wav import read_wav_header

if TYPE_CHECKING:
    from outcome import Outcome

__all__ = ["RawSource", "StreamSource", "WavSource"]

# One worker-thread read fetches this much audio, while the block before it is sent:
# at most two blocks are held at once, and a read has a whole block's time to finish.
_BLOCK_SECONDS = 5.0
_BLOCK_BYTES = 4 * 1024 * 1024  # the cap, for many channels at high rates
_WAV_ENCODINGS: dict[int, RawEncoding] = {2: "linear16", 4: "linear32"}


def _read_range(path: Path, offset: int, size: int) -> bytes:
    """Up to ``size`` bytes of ``path`` from ``offset``; runs in a worker thread.

    Each read opens the file afresh, so that a read left running when its
    iteration is abandoned closes its own file.
    """
    with path.open("rb") as file:
        file.seek(offset)
        return file.read(size)


class _ReadAhead:
    """A read started in a trio worker thread, to collect later with :meth:`result`.

    Unlike ``trio.to_thread.run_sync``, the task goes on (pacing the frames already
    read) while the thread works.
    """

    def __init__(self, read: Callable[[], bytes]) -> None:
        self._outcome: Outcome[bytes] | None = None
        self._done = trio.Event()
        self._token = trio.lowlevel.current_trio_token()
        trio.lowlevel.start_thread_soon(read, self._deliver)

    def _deliver(self, result: Outcome[bytes]) -> None:
        """Called in the worker thread."""
        self._outcome = result
        try:
            self._token.run_sync_soon(self._done.set)
        except trio.RunFinishedError:
            pass  # the iteration was abandoned and the run is over: nobody waits

    async def result(self) -> bytes:
        """The bytes read, once the thread is done; raises what the read raised."""
        still = trio.current_time()
        await trio.lowlevel.checkpoint()
        # A task blocked on a thread lets an autojump MockClock jump to the next
        # deadline (a keepalive, a server's idle timeout, past the next frame's time):
        # virtual time would pass for a read that takes none of it. So while the clock
        # stands still, stay runnable (every checkpoint lets the other tasks run) until
        # the thread is done. A real clock has moved by the first check: then this is
        # a plain wait, and a frame is late only if reading a block takes longer than
        # sending the block before it.
        while self._outcome is None and trio.current_time() == still:
            await trio.lowlevel.checkpoint()
        if self._outcome is None:
            await self._done.wait()
        assert self._outcome is not None
        return self._outcome.unwrap()


async def _read_blocks(
    path: Path, start: int, end: int | None, block_size: int
) -> AsyncGenerator[bytes, None]:
    """The bytes of ``path`` from ``start`` to ``end`` (``None``: the end of the file),
    a block at a time, each read in a worker thread while the one before it is used."""

    def read(offset: int) -> tuple[_ReadAhead, int]:
        size = block_size if end is None else min(block_size, end - offset)
        return _ReadAhead(partial(_read_range, path, offset, size)), size

    offset = start
    ahead: _ReadAhead | None
    ahead, size = read(offset)
    while ahead is not None:
        block = await ahead.result()
        offset += len(block)
        ahead = None
        if len(block) == size and (end is None or offset < end):
            ahead, size = read(offset)  # before the yield: it runs while this block is sent
        if block:
            yield block


def _block_size(fmt: AudioFormat) -> int:
    size = min(round(fmt.bytes_per_second * _BLOCK_SECONDS), _BLOCK_BYTES)
    return max(size - size % fmt.frame_size, fmt.frame_size)


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

    The header is checked: a truncated or inconsistent one is refused. A "streaming"
    WAV, whose writer could not go back to fill in the data chunk's size (``0`` or
    a placeholder such as ``0xFFFFFFFF``), is read to the end of the file.

    Args:
        path: the file. Its header is read now (a small blocking read).
        frame_ms: duration of each frame (the last one may be shorter).
        speed: pacing: ``1.0`` real time, ``N`` N times faster, ``None`` unpaced.

    Raises:
        AudioFormatError: not a PCM WAV file that Deepgram can take raw, or one whose
            header (or audio) is cut short.
        OSError: the file cannot be read.
    """

    def __init__(
        self, path: str | os.PathLike[str], *, frame_ms: float = 20, speed: float | None = 1.0
    ) -> None:
        super().__init__(frame_ms=frame_ms, speed=speed)
        self.path = Path(path)
        header = read_wav_header(self.path)
        if header.sample_width not in _WAV_ENCODINGS:
            raise AudioFormatError(
                f"{self.path}: {8 * header.sample_width}-bit samples; "
                "Deepgram takes 16- or 32-bit PCM raw"
            )
        self.format = AudioFormat(
            _WAV_ENCODINGS[header.sample_width], header.sample_rate, header.channels
        )
        self.duration: float = header.duration
        self._start = header.data_offset
        self._end = None if header.data_size is None else header.data_offset + header.data_size

    def _blocks(self) -> AsyncGenerator[bytes, None]:
        return _read_blocks(self.path, self._start, self._end, _block_size(self.format))

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

    def _blocks(self) -> AsyncGenerator[bytes, None]:
        return _read_blocks(self.path, 0, None, _block_size(self.format))

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
