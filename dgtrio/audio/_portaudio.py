"""PortAudio through PyAudio: devices, and streams whose blocking calls run in trio
worker threads. The only module that imports ``pyaudio``, and only when a device
is used, so that ``import dgtrio`` never needs it.

PortAudio is one library state per process, and not thread-safe: two threads in
``Pa_Initialize``/``Pa_Terminate`` at once corrupt the heap or fail its assertions.
So every microphone, speaker and listing shares one :class:`PortAudioSession`,
initialised by the first user and terminated when the last one leaves.
"""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from contextlib import asynccontextmanager, contextmanager
from typing import Any, Literal, TypeVar

import attrs
import trio

from .._errors import AudioDeviceError, AudioUnavailable
from ._backend import PA_INT16, PA_INT32, PyAudioBackend, PyAudioStream
from ._format import AudioFormat
from ._g711 import LAWS

__all__ = [
    "PORTAUDIO",
    "AudioDevice",
    "DeviceStream",
    "PortAudioSession",
    "list_devices",
    "open_device_stream",
]

Direction = Literal["input", "output"]
T = TypeVar("T")

INSTALL_HINT = (
    "the microphone and speaker need PyAudio and the PortAudio library: "
    "pip install 'dgtrio[audio]', with PortAudio from your system "
    "(Debian/Ubuntu: apt-get install portaudio19-dev; macOS: brew install portaudio)"
)
# PortAudio's sample format for each PCM encoding; G.711 goes through linear16.
_DEVICE_FORMATS = {"linear16": PA_INT16, "linear32": PA_INT32}


@attrs.frozen
class AudioDevice:
    """A sound device, as PortAudio lists it."""

    index: int
    name: str
    host_api: str
    max_input_channels: int
    max_output_channels: int
    default_sample_rate: float
    is_default_input: bool = False
    is_default_output: bool = False

    def channels(self, direction: Direction) -> int:
        return self.max_input_channels if direction == "input" else self.max_output_channels

    def __str__(self) -> str:
        return f"#{self.index} {self.name!r} ({self.host_api})"


def load_pyaudio() -> PyAudioBackend:
    """A new ``pyaudio.PyAudio()`` (which initialises PortAudio): blocking. Only
    :data:`PORTAUDIO` calls it, so that no two threads initialise PortAudio at once.

    Raises:
        AudioUnavailable: PyAudio or the PortAudio library is not installed.
        AudioDeviceError: PortAudio failed to initialise.
    """
    try:
        import pyaudio
    except ImportError as exc:  # also a missing libportaudio.so, which pyaudio links
        raise AudioUnavailable(f"{INSTALL_HINT} ({exc})") from None
    try:
        backend: PyAudioBackend = pyaudio.PyAudio()
    except OSError as exc:
        raise device_error(exc, "initialising PortAudio") from exc
    return backend


class PortAudioSession:
    """One PortAudio for the whole process, shared by reference count.

    The first :meth:`acquire` makes the backend with ``factory`` (for PyAudio, this
    initialises PortAudio); the :meth:`release` that brings the count back to zero
    terminates it, and the next :meth:`acquire` makes a new one. Both are blocking
    and safe from any thread; a ``factory`` that raises leaves the count at zero, so
    the next user tries again.

    :attr:`lock` is held while the backend is made or terminated, and must be held
    by whoever opens or closes a stream (see :func:`open_device_stream`).

    Args:
        factory: makes the backend; called with :attr:`lock` held, so never twice
            at once.
    """

    def __init__(self, factory: Callable[[], PyAudioBackend]) -> None:
        self._factory = factory
        self.lock = threading.Lock()
        """Held around every change to PortAudio's process-wide state."""
        self._backend: PyAudioBackend | None = None
        self._users = 0

    @property
    def users(self) -> int:
        """How many users hold the backend now."""
        return self._users

    def acquire(self) -> PyAudioBackend:
        """The shared backend, made if nobody holds it; :meth:`release` it when done.

        Raises:
            whatever ``factory`` raises (the count is left unchanged).
        """
        with self.lock:
            if self._backend is None:
                self._backend = self._factory()
            self._users += 1
            return self._backend

    def release(self) -> None:
        """Give the backend back; the last user's release terminates it.

        Raises:
            RuntimeError: nobody holds it.
            whatever the backend's ``terminate`` raises (the session is reset first,
            so the next :meth:`acquire` starts afresh).
        """
        with self.lock:
            if self._backend is None:
                raise RuntimeError("the PortAudio session is released more than acquired")
            self._users -= 1
            if self._users == 0:
                backend, self._backend = self._backend, None
                backend.terminate()

    @contextmanager
    def use(self, backend: PyAudioBackend | None = None) -> Iterator[PyAudioBackend]:
        """``backend``, if given (the caller's: left alone), or the shared one, held
        for the block (blocking)."""
        if backend is not None:
            yield backend
            return
        shared = self.acquire()
        try:
            yield shared
        finally:
            self.release()


PORTAUDIO = PortAudioSession(load_pyaudio)
"""The process's PortAudio, which every device user without a ``backend=`` shares."""


def device_error(exc: OSError, doing: str) -> AudioDeviceError:
    """``exc`` from PyAudio, ``OSError(code, text)``, as a typed error."""
    code = exc.args[0] if len(exc.args) == 2 and isinstance(exc.args[0], int) else None
    text = exc.args[1] if code is not None else str(exc)
    error = AudioDeviceError(f"{doing}: {text}" + (f" (PortAudio {code})" if code else ""))
    error.code = code
    return error


def _device(
    backend: PyAudioBackend, info: Mapping[str, Any], defaults: tuple[int, int]
) -> AudioDevice:
    index = int(info["index"])
    try:
        host_api = str(backend.get_host_api_info_by_index(info["hostApi"])["name"])
    except OSError:
        host_api = "?"
    return AudioDevice(
        index=index,
        name=str(info["name"]),
        host_api=host_api,
        max_input_channels=int(info["maxInputChannels"]),
        max_output_channels=int(info["maxOutputChannels"]),
        default_sample_rate=float(info["defaultSampleRate"]),
        is_default_input=index == defaults[0],
        is_default_output=index == defaults[1],
    )


def _default_index(get_info: Callable[[], Mapping[str, Any]]) -> int:
    try:
        return int(get_info()["index"])
    except OSError:
        return -1  # no default device of this kind


def devices(backend: PyAudioBackend) -> list[AudioDevice]:
    """Every device ``backend`` knows, in index order (blocking)."""
    defaults = (
        _default_index(backend.get_default_input_device_info),
        _default_index(backend.get_default_output_device_info),
    )
    return [
        _device(backend, backend.get_device_info_by_index(index), defaults)
        for index in range(backend.get_device_count())
    ]


def find_device(
    backend: PyAudioBackend, device: int | str | None, direction: Direction
) -> AudioDevice:
    """The device to open: the default one, by index, or by (part of) its name.

    Raises:
        AudioDeviceError: no such device, more than one match, or no channel for
            ``direction``.
    """
    found = devices(backend)
    usable = [d for d in found if d.channels(direction) > 0]
    if device is None:
        chosen = [d for d in usable if getattr(d, f"is_default_{direction}")]
        if not chosen:
            raise AudioDeviceError(f"no default {direction} device; {_listing(usable)}")
        return chosen[0]
    if isinstance(device, int) and not isinstance(device, bool):
        chosen = [d for d in found if d.index == device]
        if not chosen:
            raise AudioDeviceError(f"no device #{device}; {_listing(usable)}")
        if chosen[0].channels(direction) == 0:
            raise AudioDeviceError(f"{chosen[0]} has no {direction} channels")
        return chosen[0]
    if not isinstance(device, str):
        raise TypeError(f"device must be an index, a name or None, not {device!r}")
    exact = [d for d in usable if d.name.casefold() == device.casefold()]
    chosen = exact or [d for d in usable if device.casefold() in d.name.casefold()]
    if len(chosen) == 1:
        return chosen[0]
    if not chosen:
        raise AudioDeviceError(f"no {direction} device named like {device!r}; {_listing(usable)}")
    raise AudioDeviceError(
        f"{len(chosen)} {direction} devices match {device!r}: "
        + ", ".join(map(str, chosen))
        + "; give a longer name or the index"
    )


def _listing(usable: list[AudioDevice]) -> str:
    if not usable:
        return "this machine has none (see `dgtrio devices`)"
    return "available: " + ", ".join(map(str, usable))


async def list_devices(*, backend: PyAudioBackend | None = None) -> list[AudioDevice]:
    """The sound devices PortAudio knows (what ``dgtrio devices`` prints).

    Args:
        backend: a PyAudio-like object (e.g. :class:`dgtrio.testing.FakePyAudio`),
            which stays the caller's; by default the process's shared PortAudio
            (initialised if no device is in use, and terminated afterwards then).

    Raises:
        AudioUnavailable: PyAudio or PortAudio is not installed.
        AudioDeviceError: PortAudio failed.
    """

    def run() -> list[AudioDevice]:
        with PORTAUDIO.use(backend) as pa:
            try:
                return devices(pa)
            except OSError as exc:
                raise device_error(exc, "listing the sound devices") from exc

    return await trio.to_thread.run_sync(run)


@attrs.define
class DeviceStream:
    """An open PortAudio stream, and the one worker thread its calls run in."""

    stream: PyAudioStream
    device: AudioDevice
    format: AudioFormat  # as the device takes it: G.711 is 16-bit PCM there
    limiter: trio.CapacityLimiter

    async def call(self, fn: Callable[[], T]) -> T:
        """``fn()`` in the stream's thread; cancellation waits for it to return."""
        return await trio.to_thread.run_sync(fn, limiter=self.limiter)


@asynccontextmanager
async def open_device_stream(
    direction: Direction,
    fmt: AudioFormat,
    *,
    device: int | str | None,
    frames_per_buffer: int,
    backend: PyAudioBackend | None,
) -> AsyncIterator[DeviceStream]:
    """Open a blocking PortAudio stream for ``fmt`` (G.711 as 16-bit PCM, which the
    caller converts) in a worker thread; stop and close it there on exit, even when
    cancelled. Without ``backend``, the stream holds the shared :data:`PORTAUDIO`
    until it is closed."""
    what = "microphone" if direction == "input" else "speaker"
    pcm = AudioFormat("linear16", fmt.sample_rate, fmt.channels) if fmt.encoding in LAWS else fmt
    session = PORTAUDIO  # the one released on exit, whatever PORTAUDIO is by then

    def start() -> tuple[PyAudioStream, AudioDevice]:
        pa = backend if backend is not None else session.acquire()
        try:
            found = find_device(pa, device, direction)
            if fmt.channels > found.channels(direction):
                raise AudioDeviceError(
                    f"{found} has {found.channels(direction)} {direction} channel(s), "
                    f"not {fmt.channels}"
                )
            try:
                # Opens and closes take the process-wide lock, even on a backend we
                # were given (PortAudio's state is per process, not per PyAudio):
                # PortAudio links its open streams in one unlocked list, and ALSA's
                # PulseAudio plugin fails concurrent opens at random (-9993, "Illegal
                # combination of I/O devices"). Reads, writes and stops stay outside
                # it: they touch their own stream only, and a stop waits for the
                # output to drain, which would stall every other open.
                with session.lock:
                    stream = pa.open(
                        rate=fmt.sample_rate,
                        channels=fmt.channels,
                        format=_DEVICE_FORMATS[pcm.encoding],
                        input=direction == "input",
                        output=direction == "output",
                        input_device_index=found.index if direction == "input" else None,
                        output_device_index=found.index if direction == "output" else None,
                        frames_per_buffer=frames_per_buffer,
                    )
            except OSError as exc:
                raise device_error(exc, f"opening {found} as a {what} ({fmt})") from exc
        except BaseException:
            if backend is None:
                session.release()
            raise
        return stream, found

    # One thread at a time per stream, and none taken from trio's default limiter,
    # which a long read or write would otherwise hold for the stream's lifetime.
    limiter = trio.CapacityLimiter(1)
    stream, found = await trio.to_thread.run_sync(start, limiter=limiter)

    def stop() -> None:
        try:
            try:
                stream.stop_stream()
            except OSError:
                pass  # a stream whose device failed is closed already
            # Closed even then (closing twice is harmless), so that it leaves the
            # shared PyAudio's list of streams now, not when PortAudio is terminated.
            with session.lock:
                try:
                    stream.close()
                except OSError:
                    pass
        finally:
            if backend is None:
                session.release()

    try:
        yield DeviceStream(stream, found, pcm, limiter)
    finally:
        with trio.CancelScope(shield=True):
            await trio.to_thread.run_sync(stop, limiter=limiter)
