"""A fake of PyAudio (PortAudio's Python bindings): a sound card for tests.

:class:`FakePyAudio` fits :class:`dgtrio.audio._backend.PyAudioBackend`, so it can be
passed wherever dgtrio would otherwise open ``pyaudio.PyAudio()``. Its microphones play
back ``input_audio`` and then silence; its speakers record what is written to them
while a device buffer drains in real time (scaled by ``speed``). Blocking calls really
block the calling thread, as PortAudio's do, and errors are PyAudio's own
``OSError`` values, faithful to PyAudio 0.2.14 down to its quirks::

    backend = FakePyAudio(input_audio=tone)
    async with dgtrio.audio.open_microphone(backend=backend) as mic:
        ...
    assert backend.streams[0].reads and not backend.open_streams
"""

from __future__ import annotations

import copy
import math
import threading
import time
from collections.abc import Sequence
from typing import Any

import attrs

from ..audio._backend import PA_INT16, PA_INT32

__all__ = ["FakeDevice", "FakePyAudio", "FakeStream"]

# PortAudio's error codes and texts (portaudio.h, Pa_GetErrorText).
_NOT_INITIALIZED = (-10000, "PortAudio not initialized")
_HOST_ERROR = (-9999, "Unanticipated host error")
_BAD_CHANNELS = (-9998, "Invalid number of channels")
_BAD_RATE = (-9997, "Invalid sample rate")
_BAD_DEVICE = -9996
_BAD_FORMAT = (-9994, "Sample format not supported")
_CLOSED = (-9988, "Stream closed")  # PyAudio's own text for paBadStreamPtr
_STOPPED = (-9983, "Stream is stopped")
_BAD_HOST_API = (-9978, "Invalid host api info")
_NOT_INPUT = -9975  # paCanNotReadFromAnOutputOnlyStream
_NOT_OUTPUT = -9974  # paCanNotWriteToAnInputOnlyStream

_SAMPLE_WIDTHS = {PA_INT16: 2, PA_INT32: 4}
_FRAMES_PER_BUFFER_UNSPECIFIED = 0
_UNSPECIFIED_BUFFER_FRAMES = 1024
_LOW_LATENCY = 0.02
_HIGH_LATENCY = 0.1
_WRITE_STEP = 0.005  # how often a blocked write looks at the draining buffer


@attrs.frozen
class FakeDevice:
    """A sound device of :class:`FakePyAudio`.

    ``sample_rates`` are the rates it opens at (``None``: any positive rate); devices
    with the same ``host_api`` name share a host API.
    """

    name: str
    max_input_channels: int = 0
    max_output_channels: int = 0
    default_sample_rate: float = 48000.0
    sample_rates: frozenset[int] | None = None
    host_api: str = "Fake"

    def __attrs_post_init__(self) -> None:
        if self.max_input_channels < 0 or self.max_output_channels < 0:
            raise ValueError("channel counts cannot be negative")
        if not self.default_sample_rate > 0:  # written so that NaN fails too
            raise ValueError("default_sample_rate must be positive")


def _opens_at(device: FakeDevice, rate: int) -> bool:
    return rate > 0 and (device.sample_rates is None or rate in device.sample_rates)


_DEFAULT_DEVICES = (
    FakeDevice("Fake Microphone", max_input_channels=2, default_sample_rate=16000.0),
    FakeDevice("Fake Speaker", max_output_channels=2, default_sample_rate=24000.0),
)


class FakePyAudio:
    """A fake ``pyaudio.PyAudio()``: devices to list and streams to open, thread-safe.

    Every input stream reads ``input_audio`` (raw samples in the stream's format) from
    the start, then silence; a read of N frames takes ``N / rate / speed`` seconds.
    Output streams play through a buffer of ``output_buffer_frames`` frames (default
    three times ``frames_per_buffer``, or 1024) that drains ``rate * speed`` frames a
    second. ``speed=None`` makes both instant. ``fail_open`` is raised by every
    ``open``; after ``fail_read_after`` reads (``fail_write_after`` writes) on its
    streams, every further one fails with -9999 "Unanticipated host error", as when a
    device is unplugged.

    ``streams`` are all the streams opened, in order; ``terminated`` tells whether
    :meth:`terminate` was called.
    """

    def __init__(
        self,
        devices: Sequence[FakeDevice] | None = None,
        *,
        default_input: int | None = 0,
        default_output: int | None = 1,
        input_audio: bytes = b"",
        speed: float | None = 1.0,
        output_buffer_frames: int | None = None,
        fail_open: OSError | None = None,
        fail_read_after: int | None = None,
        fail_write_after: int | None = None,
    ) -> None:
        self._devices = tuple(_DEFAULT_DEVICES if devices is None else devices)
        for default in (default_input, default_output):
            if default is not None and not 0 <= default < len(self._devices):
                raise ValueError(f"no device #{default} to be the default")
        if speed is not None and not speed > 0:
            raise ValueError("speed must be positive or None")
        if output_buffer_frames is not None and output_buffer_frames < 1:
            raise ValueError("output_buffer_frames must be at least 1")
        if min(fail_read_after or 0, fail_write_after or 0) < 0:
            raise ValueError("fail_read_after and fail_write_after cannot be negative")
        self._default_input = default_input
        self._default_output = default_output
        self._host_apis = list(dict.fromkeys(device.host_api for device in self._devices))
        self._input_audio = bytes(input_audio)
        self._speed = speed
        self._output_buffer_frames = output_buffer_frames
        self._fail_open = fail_open
        self._fail_read_after = fail_read_after
        self._fail_write_after = fail_write_after
        self._read_calls = 0
        self._write_calls = 0
        self._lock = threading.Lock()
        self.streams: list[FakeStream] = []
        self.terminated = False

    @property
    def open_streams(self) -> list[FakeStream]:
        """The streams not yet closed, in the order they were opened."""
        with self._lock:
            return [stream for stream in self.streams if not stream.closed]

    def get_device_count(self) -> int:
        """How many devices there are."""
        if self.terminated:
            raise OSError(*_NOT_INITIALIZED)
        return len(self._devices)

    def get_device_info_by_index(self, device_index: int) -> dict[str, Any]:
        """The device's ``PaDeviceInfo``, as PyAudio's dictionary."""
        if self.terminated or not 0 <= device_index < len(self._devices):
            raise OSError(_BAD_DEVICE, "Invalid device info")
        device = self._devices[device_index]
        return {
            "index": device_index,
            "structVersion": 2,
            "name": device.name,
            "hostApi": self._host_apis.index(device.host_api),
            "maxInputChannels": device.max_input_channels,
            "maxOutputChannels": device.max_output_channels,
            "defaultLowInputLatency": _LOW_LATENCY,
            "defaultLowOutputLatency": _LOW_LATENCY,
            "defaultHighInputLatency": _HIGH_LATENCY,
            "defaultHighOutputLatency": _HIGH_LATENCY,
            "defaultSampleRate": device.default_sample_rate,
        }

    def get_default_input_device_info(self) -> dict[str, Any]:
        """The default input device's info; ``OSError`` if there is none."""
        if self.terminated or self._default_input is None:
            # PyAudio raises this one without a code.
            raise OSError("No Default Input Device Available")
        return self.get_device_info_by_index(self._default_input)

    def get_default_output_device_info(self) -> dict[str, Any]:
        """The default output device's info; ``OSError`` if there is none."""
        if self.terminated or self._default_output is None:
            raise OSError("No Default Output Device Available")
        return self.get_device_info_by_index(self._default_output)

    def get_host_api_info_by_index(self, host_api_index: int) -> dict[str, Any]:
        """The host API's ``PaHostApiInfo``, as PyAudio's dictionary."""
        if self.terminated or not 0 <= host_api_index < len(self._host_apis):
            raise OSError(*_BAD_HOST_API)
        name = self._host_apis[host_api_index]
        members = [i for i, device in enumerate(self._devices) if device.host_api == name]

        def default(index: int | None, channels: str) -> int:
            if index in members:
                return index
            usable = [i for i in members if getattr(self._devices[i], channels) > 0]
            return usable[0] if usable else -1  # paNoDevice

        return {
            "index": host_api_index,
            "structVersion": 1,
            "type": 0,  # paInDevelopment
            "name": name,
            "deviceCount": len(members),
            "defaultInputDevice": default(self._default_input, "max_input_channels"),
            "defaultOutputDevice": default(self._default_output, "max_output_channels"),
        }

    def open(
        self,
        rate: int,
        channels: int,
        format: int,
        input: bool = False,
        output: bool = False,
        input_device_index: int | None = None,
        output_device_index: int | None = None,
        frames_per_buffer: int = _FRAMES_PER_BUFFER_UNSPECIFIED,
        start: bool = True,
    ) -> FakeStream:
        """Open a blocking stream, checking what PortAudio checks, in its order."""
        if not (input or output):
            raise ValueError("Must specify an input or output stream.")
        if channels < 1:
            raise ValueError("Invalid audio channels")
        with self._lock:
            if self.terminated:
                raise OSError(*_NOT_INITIALIZED)
            if self._fail_open is not None:
                raise copy.copy(self._fail_open)  # a fresh one: no tracebacks piling up
            # PyAudio resolves the output device first; a negative index means default.
            used: list[tuple[FakeDevice, str]] = []
            if output:
                index = self._resolve(output_device_index, self._default_output)
                if index is None:
                    raise OSError(_BAD_DEVICE, "Invalid output device (no default output device)")
                output_device_index = index
                used.append((self._devices[index], "max_output_channels"))
            if input:
                index = self._resolve(input_device_index, self._default_input)
                if index is None:
                    # (sic: PyAudio's text)
                    raise OSError(_BAD_DEVICE, "Invalid input device (no default output device)")
                input_device_index = index
                used.insert(0, (self._devices[index], "max_input_channels"))
            for device, limit in used:
                if channels > getattr(device, limit):
                    raise OSError(*_BAD_CHANNELS)
            if format not in _SAMPLE_WIDTHS:
                raise OSError(*_BAD_FORMAT)
            if not all(_opens_at(device, rate) for device, _ in used):
                raise OSError(*_BAD_RATE)
            if output:
                buffer_frames = self._output_buffer_frames or (
                    3 * frames_per_buffer or _UNSPECIFIED_BUFFER_FRAMES
                )
            else:
                buffer_frames = 0
            stream = FakeStream(
                self,
                rate=rate,
                channels=channels,
                format=format,
                input=input,
                output=output,
                device_index=input_device_index if input else output_device_index,
                frames_per_buffer=frames_per_buffer,
                start=start,
                buffer_frames=buffer_frames,
            )
            self.streams.append(stream)
            return stream

    def terminate(self) -> None:
        """Close every stream, as PyAudio does, and shut PortAudio down."""
        with self._lock:
            for stream in self.streams:
                stream._close_locked()
            self.terminated = True

    def _resolve(self, index: int | None, default: int | None) -> int | None:
        """The device to open, or None when there is no such device."""
        if index is None or index < 0:
            index = default
        return index if index is not None and index < len(self._devices) else None

    def _should_fail(self, output: bool) -> bool:
        """Count a read (a write) that reached the device; whether it is to fail."""
        if output:
            self._write_calls += 1
            return self._fail_write_after is not None and self._write_calls > self._fail_write_after
        self._read_calls += 1
        return self._fail_read_after is not None and self._read_calls > self._fail_read_after


class FakeStream:
    """A stream of :class:`FakePyAudio`, with ``pyaudio.PyAudio.Stream``'s methods.

    Made by :meth:`FakePyAudio.open`, whose arguments it keeps (``device_index`` is the
    device actually opened: the input one for a duplex stream). ``written`` is what
    the speaker was given, ``reads`` and ``writes`` count the calls that succeeded,
    ``thread_names`` are the threads that read or wrote, and ``busy`` is true while
    one of them is blocked in PortAudio.

    As in PyAudio, a read or write that fails at the device closes the stream, so that
    ``stop_stream`` then raises ``OSError("Stream not open")``.
    """

    def __init__(
        self,
        owner: FakePyAudio,
        *,
        rate: int,
        channels: int,
        format: int,
        input: bool,
        output: bool,
        device_index: int | None,
        frames_per_buffer: int,
        start: bool,
        buffer_frames: int,
    ) -> None:
        self.rate = rate
        self.channels = channels
        self.format = format
        self.input = input
        self.output = output
        self.device_index = device_index
        self.frames_per_buffer = frames_per_buffer
        self.written = bytearray()
        self.reads = 0
        self.writes = 0
        self.closed = False
        self.thread_names: set[str] = set()
        self._owner = owner
        self._lock = owner._lock
        self._frame_size = _SAMPLE_WIDTHS[format] * channels
        self._input = owner._input_audio
        self._position = 0  # in bytes of _input
        self._running = start  # PyAudio's own flag, which outlives a failed stream
        self._busy_calls = 0
        # The output buffer: frames played so far (fractional), as of _clock.
        self._buffer_frames = buffer_frames
        self._played = 0.0
        self._draining = start
        self._clock = time.monotonic()

    @property
    def active(self) -> bool:
        """Whether the stream is started, and not stopped or closed."""
        return self._running and not self.closed

    @property
    def busy(self) -> bool:
        """Whether a thread is blocked in a read, a write or a draining stop."""
        return self._busy_calls > 0

    @property
    def played_frames(self) -> int:
        """Frames written that have left the output buffer."""
        with self._lock:
            self._settle()
            return len(self.written) // self._frame_size - self._buffered()

    def start_stream(self) -> None:
        """Start the stream (no-op if started)."""
        with self._lock:
            if self._running:
                return
            if self.closed:
                raise OSError(*_CLOSED)
            self._running = True
            self._clock = time.monotonic()
            self._draining = True

    def stop_stream(self) -> None:
        """Stop the stream, once what is in the output buffer has played (blocking)."""
        with self._lock:
            if not self._running:
                return
            if self.closed:
                raise OSError("Stream not open")
            self._running = False  # no more writes; the buffer goes on draining
            self._settle()
            delay = self._drain_seconds(self._buffered())
            self._busy_calls += 1
        try:
            time.sleep(delay)
        finally:
            with self._lock:
                self._busy_calls -= 1
                if not self.closed:  # closing meanwhile dropped the rest
                    self._draining = False
                    self._played = len(self.written) // self._frame_size

    def is_active(self) -> bool:
        """Whether the stream is running."""
        with self._lock:
            if self.closed:
                raise OSError("Stream not open")
            return self._running

    def is_stopped(self) -> bool:
        """Whether the stream is stopped."""
        with self._lock:
            if self.closed:
                raise OSError(*_CLOSED)
            return not self._running

    def close(self) -> None:
        """Close the stream, dropping what the output buffer has not played yet."""
        with self._lock:
            self._close_locked()

    def get_input_latency(self) -> float:
        """The input latency in seconds (0 for an output-only stream)."""
        with self._lock:
            if self.closed:
                raise OSError(*_CLOSED)
            return _LOW_LATENCY if self.input else 0.0

    def get_output_latency(self) -> float:
        """The output latency in seconds (0 for an input-only stream)."""
        with self._lock:
            if self.closed:
                raise OSError(*_CLOSED)
            return _LOW_LATENCY if self.output else 0.0

    def get_read_available(self) -> int:
        """Frames readable without waiting: none, as every read waits for its audio."""
        with self._lock:
            if self.closed:
                raise OSError(*_CLOSED)
            return 0 if self.input else _NOT_INPUT  # PyAudio returns PortAudio's error

    def get_write_available(self) -> int:
        """Frames writable without waiting: the room in the output buffer now."""
        with self._lock:
            if self.closed:
                raise OSError(*_CLOSED)
            if not self.output:
                return _NOT_OUTPUT  # PyAudio returns PortAudio's error as a count
            self._settle()
            return self._buffer_frames - self._buffered()

    def read(self, num_frames: int, exception_on_overflow: bool = True) -> bytes:
        """Record ``num_frames`` frames: the input audio, then silence (blocking)."""
        with self._lock:
            self.thread_names.add(threading.current_thread().name)
            if not self.input:
                # PyAudio's arguments, in its order.
                raise OSError("Not input stream", _NOT_INPUT)
            self._check_call(num_frames)
            if num_frames == 0:
                return b""
            if self._owner._should_fail(output=False):
                raise self._fail(*_HOST_ERROR)
            self._busy_calls += 1
        try:
            speed = self._owner._speed
            if speed is not None:
                time.sleep(num_frames / self.rate / speed)
        finally:
            with self._lock:
                self._busy_calls -= 1
        with self._lock:
            self._check_still_running()
            size = num_frames * self._frame_size
            chunk = self._input[self._position : self._position + size]
            self._position += len(chunk)
            self.reads += 1
        return chunk + bytes(size - len(chunk))

    def write(
        self, frames: bytes, num_frames: int | None = None, exception_on_underflow: bool = False
    ) -> None:
        """Play ``frames``: returns once they are all in the output buffer (blocking)."""
        with self._lock:
            self.thread_names.add(threading.current_thread().name)
            if not self.output:
                raise OSError("Not output stream", _NOT_OUTPUT)
            if num_frames is None:
                num_frames = len(frames) // self._frame_size
            self._check_call(num_frames)
            if num_frames == 0:
                return
            if self._owner._should_fail(output=True):
                raise self._fail(*_HOST_ERROR)
            self._busy_calls += 1
        data = bytes(frames[: num_frames * self._frame_size])
        try:
            while True:
                with self._lock:
                    self._check_still_running()
                    self._settle()
                    room = (self._buffer_frames - self._buffered()) * self._frame_size
                    self.written += data[:room]
                    data = data[room:]
                    if not data:
                        self.writes += 1
                        return
                    # Until there is room for the rest, or the buffer is empty.
                    missing = len(data) // self._frame_size or 1
                    delay = self._drain_seconds(min(missing, self._buffered()))
                if delay:
                    time.sleep(min(_WRITE_STEP, delay))
        finally:
            with self._lock:
                self._busy_calls -= 1

    def _check_call(self, num_frames: int) -> None:
        """PyAudio's and PortAudio's checks before a read or write reaches the device."""
        if num_frames < 0:
            raise ValueError("Invalid number of frames")
        if self.closed:
            raise OSError(*_CLOSED)
        if num_frames and not self._running:
            raise self._fail(*_STOPPED)

    def _check_still_running(self) -> None:
        # Another thread closed or stopped the stream while this one was blocked.
        if self.closed:
            raise OSError(*_CLOSED)
        if not self._running:
            raise OSError(*_STOPPED)

    def _fail(self, code: int, text: str) -> OSError:
        """A device error: PyAudio closes the stream before raising it, but leaves
        its own running flag set, so that ``stop_stream`` then fails."""
        self._settle()
        self.closed = True
        self._draining = False
        return OSError(code, text)

    def _close_locked(self) -> None:
        self._settle()
        self.closed = True
        self._running = False
        self._draining = False

    def _settle(self) -> None:
        """Bring the output buffer up to now."""
        now = time.monotonic()
        if self._draining and not self.closed:
            total = len(self.written) // self._frame_size
            speed = self._owner._speed
            if speed is None:
                self._played = total
            else:
                self._played = min(total, self._played + (now - self._clock) * self.rate * speed)
        self._clock = now

    def _buffered(self) -> int:
        """Frames in the output buffer, not yet played."""
        return math.ceil(len(self.written) // self._frame_size - self._played)

    def _drain_seconds(self, frames: int) -> float:
        speed = self._owner._speed
        return 0.0 if speed is None else frames / (self.rate * speed)
