"""The speaker: a bounded queue of audio, played by PortAudio's blocking writes in a
trio worker thread, and cleared at once for barge-in.

The thread writes one block (``block_ms``) at a time, so :meth:`Speaker.clear` is
heard within one block plus the device's own latency. After each write it asks
PortAudio how much of what was written is still in the device's buffer, which gives
how much was really played.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from functools import partial
from typing import Protocol

import attrs
import trio

from .._errors import AudioDeviceError, AudioFormatError
from .._tasks import open_tasks
from ._backend import PyAudioBackend, PyAudioStream
from ._format import AudioFormat, RawEncoding
from ._g711 import LAWS, to_linear16
from ._portaudio import DeviceStream, device_error, open_device_stream

__all__ = ["Speaker", "SpeakerStatistics", "open_speaker"]


class _HasData(Protocol):
    @property
    def data(self) -> bytes: ...


@attrs.frozen
class SpeakerStatistics:
    """Milliseconds of audio by where it is, as a snapshot.

    Attributes:
        queued_ms: waiting to be written to the device.
        played_ms: played by the device (written, and out of its buffer).
        cleared_ms: dropped by :meth:`Speaker.clear`.
    """

    queued_ms: float
    played_ms: float
    cleared_ms: float


class Speaker:
    """Plays audio on a sound device; from :func:`open_speaker` only.

    Pass it as ``speaker=`` to ``open_agent`` or ``open_speak``, or call
    :meth:`play` yourself. It is an :class:`~dgtrio.audio.AudioSink`.
    """

    def __init__(
        self, fmt: AudioFormat, stream: DeviceStream, block_ms: float, buffer_ms: float
    ) -> None:
        self.format = fmt
        """What :meth:`play` takes."""
        self.device = stream.device
        """The device playing."""
        self._convert: Callable[[bytes], bytes] | None = (
            partial(to_linear16, law=fmt.encoding) if fmt.encoding in LAWS else None
        )
        # Everything below counts bytes as the device takes them (G.711 doubled).
        device_format = stream.format
        self._bytes_per_ms = device_format.bytes_per_second / 1000
        self._block = device_format.frame_bytes(block_ms)
        self._frame_size = device_format.frame_size
        self._limit = device_format.frame_bytes(buffer_ms)
        self._lock = threading.Lock()
        self._wakeup = threading.Condition(self._lock)  # the thread waits on it for audio
        self._queue: deque[bytes] = deque()
        self._queued = 0
        self._written = 0
        self._played = 0
        # When the last write returned, and how much the device held then: it cannot
        # hold more than that less what time has played since.
        self._write_time = 0.0
        self._held_at_write = 0
        self._cleared = 0
        self._stopping = False
        self._closed = False
        self._error: AudioDeviceError | None = None
        self._progress = trio.Event()  # set (and replaced) when the thread made progress

    # -- the trio side -------------------------------------------------------------------

    async def play(self, audio: bytes | bytearray | memoryview | _HasData) -> None:
        """Queue ``audio`` (bytes, or a message with ``data``) behind what is queued.

        Waits while more than ``buffer_ms`` is queued, so a fast producer is slowed
        to the speed of playback instead of growing memory.

        Raises:
            AudioFormatError: not a whole number of samples of every channel.
            AudioDeviceError: the device failed.
            trio.ClosedResourceError: the ``open_speaker`` block has exited.
        """
        data = bytes(audio) if isinstance(audio, bytes | bytearray | memoryview) else audio.data
        if len(data) % self.format.frame_size:
            raise AudioFormatError(
                f"{len(data)} bytes is not a whole number of {self.format.frame_size}-byte "
                f"samples ({self.format})"
            )
        if self._convert is not None:
            data = self._convert(data)
        while True:
            self._check_open()
            if self._queued < self._limit:
                break
            await self._progress.wait()
        with self._lock:
            self._queue.append(data)
            self._queued += len(data)
            self._wakeup.notify()
        await trio.lowlevel.checkpoint()

    def clear(self) -> float:
        """Stop at once (barge-in): drop everything queued; returns the milliseconds
        dropped. What the device holds already (its latency) still plays."""
        with self._lock:
            dropped = self._queued
            self._queue.clear()
            self._queued = 0
            self._cleared += dropped
        return dropped / self._bytes_per_ms

    async def drain(self) -> None:
        """Wait until everything queued has been played.

        Raises:
            AudioDeviceError: the device failed.
        """
        while True:
            self._check_open()
            if not self._queued and self._played >= self._written:
                await trio.lowlevel.checkpoint()
                return
            await self._progress.wait()

    @property
    def played_ms(self) -> float:
        """Milliseconds of audio the device has played so far."""
        return self._played / self._bytes_per_ms

    def statistics(self) -> SpeakerStatistics:
        with self._lock:
            return SpeakerStatistics(
                queued_ms=self._queued / self._bytes_per_ms,
                played_ms=self._played / self._bytes_per_ms,
                cleared_ms=self._cleared / self._bytes_per_ms,
            )

    def __repr__(self) -> str:
        return f"<Speaker {self.device} {self.format}, played {self.played_ms:.0f} ms>"

    def _check_open(self) -> None:
        if self._error is not None:
            raise self._error
        if self._closed:
            raise trio.ClosedResourceError("the speaker's block has exited")

    def _wake(self) -> None:
        """In trio, posted by the thread: let waiting plays and drains look again."""
        self._progress.set()
        self._progress = trio.Event()

    # -- the worker thread ---------------------------------------------------------------

    def _write_loop(self, stream: PyAudioStream, token: trio.lowlevel.TrioToken) -> None:
        """Write blocks until stopped with nothing queued; track what was played."""
        # Before anything is written, the whole device buffer is free.
        capacity = stream.get_write_available() * self._frame_size
        while True:
            with self._lock:
                while not self._queue and not self._stopping:
                    buffered = self._written - self._played
                    # Poll while the device still plays, so played_ms keeps up.
                    self._wakeup.wait(timeout=0.02 if buffered else None)
                    if buffered:
                        self._update_played(stream, capacity, token)
                if not self._queue:
                    return
                block = self._take(self._block)
            stream.write(block)
            with self._lock:
                self._written += len(block)
                self._write_time = time.monotonic()
                self._held_at_write = self._written - self._played
                self._update_played(stream, capacity, token)

    def _take(self, size: int) -> bytes:
        """Up to ``size`` bytes from the front of the queue (the lock is held)."""
        first = self._queue.popleft()
        if len(first) > size:
            self._queue.appendleft(first[size:])
            first = first[:size]
        self._queued -= len(first)
        return first

    def _update_played(
        self, stream: PyAudioStream, capacity: int, token: trio.lowlevel.TrioToken
    ) -> None:
        """Move ``_played`` to what the device reports (the lock is held)."""
        reported = capacity - stream.get_write_available() * self._frame_size
        elapsed = (time.monotonic() - self._write_time) * self._bytes_per_ms * 1000
        in_device = max(0, min(reported, round(self._held_at_write - elapsed)))
        played = max(self._played, self._written - in_device)
        if played != self._played or not self._queue:
            self._played = played
            token.run_sync_soon(self._wake)

    async def _run(self, device: DeviceStream) -> None:
        token = trio.lowlevel.current_trio_token()
        try:
            await device.call(partial(self._write_loop, device.stream, token))
        except OSError as exc:
            self._error = device_error(exc, f"playing on the speaker {self.device}")
        finally:
            self._closed = True
            self._wake()

    def _stop(self, *, drop: bool) -> None:
        with self._lock:
            if drop:
                self._cleared += self._queued
                self._queue.clear()
                self._queued = 0
            self._stopping = True
            self._wakeup.notify()


@asynccontextmanager
async def open_speaker(
    sample_rate: int = 24000,
    channels: int = 1,
    *,
    encoding: RawEncoding = "linear16",
    device: int | str | None = None,
    block_ms: float = 20,
    buffer_ms: float = 60_000,
    backend: PyAudioBackend | None = None,
) -> AsyncIterator[Speaker]:
    """Play audio on a speaker.

    ::

        async with dgtrio.audio.open_speaker(24000) as speaker:
            async with dgtrio.open_agent(settings, audio=mic, speaker=speaker) as agent:
                async for message in agent: ...

    On a normal exit the block waits until what is queued has been played; on an
    error or cancellation it stops at once. PortAudio's blocking writes run in a
    worker thread of the block's own, which closes the stream on exit.

    Args:
        sample_rate, channels: the format :meth:`Speaker.play` takes (24 kHz mono is
            what the voice agent and text-to-speech send by default).
        encoding: ``linear16``, ``linear32``, or ``mulaw``/``alaw`` (decoded here to
            16-bit for the device).
        device: the default output device (``None``), an index, or (part of) a name.
        block_ms: how much one write hands the device: :meth:`Speaker.clear` is
            heard within about this much (plus the device's latency).
        buffer_ms: how much may be queued before :meth:`Speaker.play` waits (the
            default holds a long answer, so a connection feeding the speaker never
            stalls behind it).
        backend: a PyAudio-like object, e.g. :class:`dgtrio.testing.FakePyAudio`,
            which stays the caller's (never terminated here); by default the
            process's one PortAudio, shared with every other microphone, speaker
            and listing (from any task, thread or trio run) and terminated when the
            last of them is done.

    Raises (on entering the block):
        AudioUnavailable: PyAudio or PortAudio is not installed.
        AudioDeviceError: no such device, or it cannot play this format.
        ValueError: a non-positive ``block_ms`` or ``buffer_ms``.
    """
    fmt = AudioFormat(encoding, sample_rate, channels)
    if block_ms <= 0 or buffer_ms <= 0:
        raise ValueError("block_ms and buffer_ms must be positive")
    samples = max(1, round(sample_rate * block_ms / 1000))
    async with open_device_stream(
        "output", fmt, device=device, frames_per_buffer=samples, backend=backend
    ) as stream:
        speaker = Speaker(fmt, stream, block_ms, buffer_ms)
        async with open_tasks() as nursery:
            nursery.start_soon(speaker._run, stream)
            try:
                yield speaker
            except BaseException:
                speaker._stop(drop=True)
                raise
            else:
                await speaker.drain()
            finally:
                speaker._stop(drop=False)  # after a drain or a drop: the thread returns
