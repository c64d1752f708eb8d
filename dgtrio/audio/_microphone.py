"""The microphone: PortAudio's blocking reads in a trio worker thread, as frames.

One worker thread reads frame after frame and posts each one to trio without
waiting (``TrioToken.run_sync_soon``), so a busy trio loop never stalls the reads
and PortAudio's own buffer never overflows unseen. Frames wait in a bounded buffer
for the consumer; when it falls behind by more than ``buffer_ms``, new frames are
dropped, counted and logged, never silently.
"""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from functools import partial

import attrs
import trio

from .._errors import AudioDeviceError
from .._tasks import open_tasks
from ._backend import PyAudioBackend, PyAudioStream
from ._format import AudioFormat, RawEncoding
from ._g711 import LAWS, from_linear16
from ._portaudio import AudioDevice, DeviceStream, device_error, open_device_stream
from ._sources import StreamSource

__all__ = ["Microphone", "MicrophoneStatistics", "open_microphone"]

log = logging.getLogger("dgtrio.audio")


@attrs.frozen
class MicrophoneStatistics:
    """Counters of a :class:`Microphone`, as a snapshot.

    Attributes:
        frames_captured: frames read from the device.
        frames_dropped: frames lost because the consumer fell behind by more than
            ``buffer_ms`` (a gap in the audio).
        overflows: how many times that happened (each run of drops counts once).
        frames_buffered: frames captured and not yet taken.
    """

    frames_captured: int
    frames_dropped: int
    overflows: int
    frames_buffered: int


class Microphone(trio.abc.ReceiveChannel[bytes]):
    """Live audio frames from a sound device; from :func:`open_microphone` only.

    Iterate it, or pass it as ``audio=`` to ``open_listen``, ``open_flux_listen`` or
    ``open_agent`` (or :meth:`take` a few seconds of it). Iteration ends after
    :meth:`stop` or when the ``open_microphone`` block exits, and raises
    :class:`~dgtrio.AudioDeviceError` (after the frames captured before) if the
    device fails.
    """

    def __init__(self, fmt: AudioFormat, frame_ms: float, device: AudioDevice, buffer: int) -> None:
        self.format = fmt
        """What the frames hold (``encoding``, ``sample_rate``, ``channels``)."""
        self.frame_ms = frame_ms
        self.device = device
        """The device being read."""
        self._send, self._receive = trio.open_memory_channel[bytes](buffer)
        self._stopping = threading.Event()
        self._error: AudioDeviceError | None = None
        self._captured = 0
        self._dropped = 0
        self._overflows = 0
        self._overflowing = False

    async def receive(self) -> bytes:
        """The next frame.

        Raises:
            trio.EndOfChannel: the ``open_microphone`` block has exited.
            AudioDeviceError: the device failed (after the frames read before).
        """
        try:
            return await self._receive.receive()
        except trio.EndOfChannel:
            if self._error is not None:
                raise self._error from None
            raise

    async def aclose(self) -> None:
        """Stop taking frames; capture goes on (and drops) until the block exits."""
        await self._receive.aclose()

    def stop(self) -> None:
        """Stop capturing: the iteration ends after the frames captured so far, so a
        connection fed by the microphone sends ``CloseStream`` and its final results
        come (the way to hang up on Ctrl-C)."""
        self._stopping.set()

    def take(self, seconds: float) -> StreamSource:
        """The next ``seconds`` of audio as a finite source (with this ``format``), for
        ``audio=``: when it ends, listen and Flux send ``CloseStream``. At least one
        frame: a duration shorter than half a frame would otherwise never end."""
        if isinstance(seconds, bool) or not isinstance(seconds, int | float):
            raise TypeError(f"seconds is a number, not {type(seconds).__name__}")
        if not 0 < seconds < math.inf:
            raise ValueError(f"seconds must be a positive number, not {seconds!r}")
        count = max(1, round(seconds * 1000 / self.frame_ms))
        return StreamSource(self._first(count), self.format, frame_ms=self.frame_ms)

    async def _first(self, count: int) -> AsyncIterator[bytes]:
        async for frame in self:
            yield frame
            count -= 1
            if not count:
                return

    def statistics(self) -> MicrophoneStatistics:
        return MicrophoneStatistics(
            frames_captured=self._captured,
            frames_dropped=self._dropped,
            overflows=self._overflows,
            frames_buffered=self._receive.statistics().current_buffer_used,
        )

    def __repr__(self) -> str:
        return (
            f"<Microphone {self.device} {self.format}, {self.frame_ms:g} ms frames, "
            f"captured={self._captured} dropped={self._dropped}>"
        )

    # -- capture -------------------------------------------------------------------------

    def _read_loop(
        self,
        stream: PyAudioStream,
        token: trio.lowlevel.TrioToken,
        samples: int,
        convert: Callable[[bytes], bytes] | None,
    ) -> None:
        """In the worker thread: read until stopped; each read waits for one frame."""
        while not self._stopping.is_set():
            # Overflows cannot be told apart here: PyAudio closes the stream on an
            # overflow it is asked to raise. The loop never waits for trio, so only a
            # starved process loses audio inside PortAudio.
            frame = stream.read(samples, exception_on_overflow=False)
            token.run_sync_soon(self._deliver, convert(frame) if convert else frame)

    def _deliver(self, frame: bytes) -> None:
        """In trio: queue ``frame``, or count it dropped."""
        self._captured += 1
        try:
            self._send.send_nowait(frame)
        except trio.WouldBlock:
            self._dropped += 1
            if not self._overflowing:
                self._overflowing = True
                self._overflows += 1
                log.warning(
                    "microphone %s: the consumer fell behind by %g ms; dropping frames",
                    self.device.name,
                    self._receive.statistics().max_buffer_size * self.frame_ms,
                )
        except (trio.ClosedResourceError, trio.BrokenResourceError):
            pass  # the consumer closed the microphone; capture runs until the block exits
        else:
            self._overflowing = False

    async def _capture(
        self, device: DeviceStream, samples: int, convert: Callable[[bytes], bytes] | None
    ) -> None:
        token = trio.lowlevel.current_trio_token()
        try:
            await device.call(partial(self._read_loop, device.stream, token, samples, convert))
        except OSError as exc:
            self._error = device_error(exc, f"reading the microphone {self.device}")
        finally:
            # Frames posted before the thread returned are delivered before this runs:
            # trio runs posted callbacks in order, and the thread's return is one.
            self._send.close()


@asynccontextmanager
async def open_microphone(
    sample_rate: int = 16000,
    channels: int = 1,
    *,
    encoding: RawEncoding = "linear16",
    frame_ms: float = 20,
    device: int | str | None = None,
    buffer_ms: float = 5000,
    backend: PyAudioBackend | None = None,
) -> AsyncIterator[Microphone]:
    """Capture audio from a microphone, as frames of ``frame_ms`` milliseconds.

    ::

        async with dgtrio.audio.open_microphone(16000) as mic:
            options = dgtrio.ListenV1Options(encoding="linear16", sample_rate=16000)
            async with dgtrio.open_listen(options, audio=mic) as conn:
                async for message in conn: ...

    Capture starts now and runs until the block exits; frames wait (up to
    ``buffer_ms``) until taken. PortAudio's blocking reads run in a worker thread of
    the block's own; on exit, cancelled or not, the current read (one frame) is
    finished, then the stream is closed in that thread. Some sound servers take a
    while to deliver the first frame (PulseAudio's monitor sources: up to a second or
    two), so count audio in frames (:meth:`Microphone.take`), not in wall time.

    Args:
        sample_rate, channels: the format to capture; PortAudio (or the sound
            server) converts from the device's own.
        encoding: ``linear16`` or ``linear32``, or ``mulaw``/``alaw`` (captured as
            16-bit and encoded here).
        frame_ms: duration of each frame.
        device: the default input device (``None``), an index, or (part of) a
            name, as ``dgtrio devices`` lists them.
        buffer_ms: how far the consumer may fall behind before frames are dropped
            (counted in :meth:`Microphone.statistics`, and logged).
        backend: a PyAudio-like object, e.g. :class:`dgtrio.testing.FakePyAudio`,
            which stays the caller's (never terminated here); by default the
            process's one PortAudio, shared with every other microphone, speaker
            and listing (from any task, thread or trio run) and terminated when the
            last of them is done.

    Raises (on entering the block):
        AudioUnavailable: PyAudio or PortAudio is not installed.
        AudioDeviceError: no such device, or it cannot capture this format.
        ValueError: a non-positive ``frame_ms`` or ``buffer_ms``.
    """
    fmt = AudioFormat(encoding, sample_rate, channels)
    if frame_ms <= 0 or buffer_ms <= 0:
        raise ValueError("frame_ms and buffer_ms must be positive")
    convert = partial(from_linear16, law=encoding) if encoding in LAWS else None
    samples = max(1, round(sample_rate * frame_ms / 1000))
    async with open_device_stream(
        "input", fmt, device=device, frames_per_buffer=samples, backend=backend
    ) as stream:
        mic = Microphone(fmt, frame_ms, stream.device, max(1, round(buffer_ms / frame_ms)))
        async with open_tasks() as nursery:
            nursery.start_soon(mic._capture, stream, samples, convert)
            try:
                yield mic
            finally:
                mic.stop()  # the thread returns after the read under way
