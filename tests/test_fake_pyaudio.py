"""The fake PyAudio: devices, open checks, paced reads, a draining output buffer."""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from dgtrio.audio._backend import PA_INT16, PA_INT32, PyAudioBackend, PyAudioStream
from dgtrio.testing import FakeDevice, FakePyAudio, FakeStream

DEVICE_KEYS = {
    "index",
    "structVersion",
    "name",
    "hostApi",
    "maxInputChannels",
    "maxOutputChannels",
    "defaultLowInputLatency",
    "defaultLowOutputLatency",
    "defaultHighInputLatency",
    "defaultHighOutputLatency",
    "defaultSampleRate",
}
HOST_API_KEYS = {
    "index",
    "structVersion",
    "type",
    "name",
    "deviceCount",
    "defaultInputDevice",
    "defaultOutputDevice",
}
PA_FLOAT32 = 1  # a format PortAudio knows and the fake does not


def mic(backend: FakePyAudio, **kwargs: Any) -> FakeStream:
    """A 16 kHz mono 16-bit input stream."""
    return backend.open(rate=16000, channels=1, format=PA_INT16, input=True, **kwargs)


def speaker(backend: FakePyAudio, **kwargs: Any) -> FakeStream:
    """A 10 kHz mono 16-bit output stream."""
    return backend.open(rate=10000, channels=1, format=PA_INT16, output=True, **kwargs)


def error_args(call: Callable[[], object]) -> tuple[object, ...]:
    """The arguments of the OSError ``call`` raises."""
    try:
        call()
    except OSError as exc:
        error = exc
    else:
        pytest.fail("no OSError")
    assert type(error) is OSError  # PyAudio raises plain IOError
    return error.args


@contextmanager
def in_thread(fn: Callable[[], object], name: str = "worker") -> Iterator[list[object]]:
    """Run ``fn`` in a thread for the block; then its result or exception is in the list."""
    outcome: list[object] = []

    def run() -> None:
        try:
            outcome.append(fn())
        except Exception as exc:
            outcome.append(exc)

    thread = threading.Thread(target=run, name=name)
    thread.start()
    try:
        yield outcome
    finally:
        thread.join(5)
        assert not thread.is_alive()


class VirtualTime:
    """``time`` for the fake sound card, on a clock of its own: a sleep moves it on at
    once, by exactly as long, so that what the card's timing does is exact however
    busy the machine is. For one thread: the tests of the card's own timing."""

    def __init__(self) -> None:
        self.now = 0.0

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        assert seconds >= 0
        self.now += seconds


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> VirtualTime:
    """The fake sound card's clock, made virtual for the test."""
    virtual = VirtualTime()
    monkeypatch.setattr(sys.modules[FakePyAudio.__module__], "time", virtual)
    return virtual


def wait_until(condition: Callable[[], bool]) -> None:
    """Poll ``condition`` (set by another thread) for 5 s at most: a hang fails."""
    deadline = time.monotonic() + 5
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.001)


def test_fits_the_backend_protocols() -> None:
    backend: PyAudioBackend = FakePyAudio(speed=None)
    stream: PyAudioStream = backend.open(16000, 1, PA_INT16, input=True)
    assert isinstance(stream, FakeStream)
    assert stream.read(2) == b"\0" * 4


def test_default_devices() -> None:
    backend = FakePyAudio()
    assert backend.get_device_count() == 2
    microphone, loudspeaker = (backend.get_device_info_by_index(i) for i in range(2))
    assert set(microphone) == set(loudspeaker) == DEVICE_KEYS
    assert (microphone["index"], microphone["name"], microphone["hostApi"]) == (
        0,
        "Fake Microphone",
        0,
    )
    assert (microphone["maxInputChannels"], microphone["maxOutputChannels"]) == (2, 0)
    assert microphone["defaultSampleRate"] == 16000.0
    assert (loudspeaker["index"], loudspeaker["name"]) == (1, "Fake Speaker")
    assert (loudspeaker["maxInputChannels"], loudspeaker["maxOutputChannels"]) == (0, 2)
    assert loudspeaker["defaultSampleRate"] == 24000.0
    assert backend.get_default_input_device_info() == microphone
    assert backend.get_default_output_device_info() == loudspeaker
    host_api = backend.get_host_api_info_by_index(0)
    assert set(host_api) == HOST_API_KEYS
    assert host_api["name"] == "Fake"
    assert (host_api["deviceCount"], host_api["defaultInputDevice"]) == (2, 0)
    assert host_api["defaultOutputDevice"] == 1


def test_devices_are_grouped_by_host_api() -> None:
    backend = FakePyAudio(
        [
            FakeDevice("pulse", max_input_channels=1, max_output_channels=2, host_api="ALSA"),
            FakeDevice("Jack In", max_input_channels=2, host_api="JACK"),
            FakeDevice("hw:0", max_output_channels=2, host_api="ALSA"),
        ],
        default_input=1,
        default_output=2,
    )
    assert [backend.get_device_info_by_index(i)["hostApi"] for i in range(3)] == [0, 1, 0]
    alsa, jack = (backend.get_host_api_info_by_index(i) for i in range(2))
    assert (alsa["name"], alsa["deviceCount"]) == ("ALSA", 2)
    # Each host API has its own defaults: the global one if it has it.
    assert (alsa["defaultInputDevice"], alsa["defaultOutputDevice"]) == (0, 2)
    assert (jack["name"], jack["deviceCount"]) == ("JACK", 1)
    assert (jack["defaultInputDevice"], jack["defaultOutputDevice"]) == (1, -1)
    assert backend.get_default_input_device_info()["name"] == "Jack In"


def test_bad_indexes() -> None:
    backend = FakePyAudio()
    assert error_args(lambda: backend.get_device_info_by_index(2)) == (-9996, "Invalid device info")
    assert error_args(lambda: backend.get_device_info_by_index(-1))[0] == -9996
    assert error_args(lambda: backend.get_host_api_info_by_index(1)) == (
        -9978,
        "Invalid host api info",
    )


def test_no_default_devices() -> None:
    backend = FakePyAudio(default_input=None, default_output=None)
    # PyAudio raises these without a PortAudio code.
    assert error_args(backend.get_default_input_device_info) == (
        "No Default Input Device Available",
    )
    assert error_args(backend.get_default_output_device_info) == (
        "No Default Output Device Available",
    )
    assert error_args(lambda: mic(backend))[0] == -9996
    assert error_args(lambda: speaker(backend))[0] == -9996
    assert mic(backend, input_device_index=0).device_index == 0
    assert backend.get_host_api_info_by_index(0)["defaultInputDevice"] == 0


def test_open_keeps_its_arguments() -> None:
    backend = FakePyAudio([FakeDevice("Headset", 1, 2), FakeDevice("USB", 2, 2)])
    first = mic(backend, frames_per_buffer=160)
    second = backend.open(48000, 2, PA_INT32, output=True, output_device_index=-1, start=False)
    duplex = backend.open(
        8000, 1, PA_INT16, input=True, output=True, input_device_index=1, output_device_index=0
    )
    assert backend.streams == [first, second, duplex] == backend.open_streams
    assert (first.rate, first.channels, first.format, first.frames_per_buffer) == (
        16000,
        1,
        PA_INT16,
        160,
    )
    assert (first.input, first.output, first.device_index) == (True, False, 0)
    assert (second.rate, second.channels, second.format) == (48000, 2, PA_INT32)
    # A negative index means the default device, as in PyAudio.
    assert (second.input, second.output, second.device_index) == (False, True, 1)
    assert (first.active, second.active) == (True, False)
    assert (duplex.input, duplex.output, duplex.device_index) == (True, True, 1)
    assert (first.get_input_latency(), first.get_output_latency()) == (0.02, 0.0)
    assert (second.get_input_latency(), second.get_output_latency()) == (0.0, 0.02)


@pytest.mark.parametrize(
    ("kwargs", "code"),
    [
        ({"input": True, "input_device_index": 2}, -9996),
        ({"output": True, "output_device_index": 2}, -9996),
        ({"input": True, "input_device_index": 1}, -9998),  # the speaker has no input
        ({"output": True, "output_device_index": 0}, -9998),
        ({"input": True, "channels": 3}, -9998),
        ({"output": True, "format": PA_FLOAT32}, -9994),
        ({"input": True, "rate": 44100}, -9997),
        ({"output": True, "rate": 0}, -9997),
    ],
)
def test_open_errors(kwargs: dict[str, Any], code: int) -> None:
    devices = [
        FakeDevice("Mic", max_input_channels=2, sample_rates=frozenset({16000})),
        FakeDevice("Speaker", max_output_channels=2),
    ]
    backend = FakePyAudio(devices)
    arguments: dict[str, Any] = {"rate": 16000, "channels": 1, "format": PA_INT16} | kwargs
    assert error_args(lambda: backend.open(**arguments))[0] == code
    assert backend.streams == []


def test_open_needs_a_direction_and_a_channel() -> None:
    backend = FakePyAudio()
    with pytest.raises(ValueError, match="Must specify an input or output stream"):
        backend.open(16000, 1, PA_INT16)
    with pytest.raises(ValueError, match="Invalid audio channels"):
        backend.open(16000, 0, PA_INT16, input=True)
    assert backend.streams == []


def test_fail_open() -> None:
    backend = FakePyAudio(fail_open=OSError(-9985, "Device unavailable"))
    first = error_args(lambda: mic(backend))
    assert first == error_args(lambda: speaker(backend)) == (-9985, "Device unavailable")
    assert backend.streams == []


def test_terminate_closes_every_stream() -> None:
    backend = FakePyAudio(speed=None)
    streams = [mic(backend), speaker(backend)]
    streams[0].close()
    assert backend.open_streams == streams[1:]
    backend.terminate()
    assert backend.terminated
    assert all(stream.closed for stream in streams)
    assert backend.open_streams == []
    assert error_args(lambda: mic(backend)) == (-10000, "PortAudio not initialized")
    assert error_args(backend.get_device_count)[0] == -10000
    assert error_args(lambda: streams[1].write(b"\0\0")) == (-9988, "Stream closed")


def test_reads_the_input_audio_then_silence() -> None:
    audio = bytes(range(1, 11))  # five 16-bit mono frames
    backend = FakePyAudio(input_audio=audio, speed=None)
    stream = mic(backend)
    assert stream.read(3) == audio[:6]
    assert stream.read(4) == audio[6:] + bytes(4)
    assert stream.read(2) == bytes(4)
    assert stream.read(0) == b""
    assert stream.reads == 3
    # Each stream hears the audio from its start.
    assert mic(backend).read(1) == audio[:2]


def test_read_size_follows_the_format() -> None:
    audio = bytes(range(1, 41))  # five 32-bit stereo frames
    backend = FakePyAudio(input_audio=audio, speed=None)
    stream = backend.open(16000, 2, PA_INT32, input=True)
    assert stream.read(4) == audio[:32]
    assert stream.read(2) == audio[32:] + bytes(8)


def test_reads_take_the_time_of_their_audio(clock: VirtualTime) -> None:
    stream = mic(FakePyAudio(speed=10))  # 1600 frames play in 0.01 s
    start = clock.monotonic()
    stream.read(1600)
    stream.read(3200)
    assert clock.monotonic() - start == pytest.approx(0.03)


def test_read_errors() -> None:
    backend = FakePyAudio(speed=None)
    assert error_args(lambda: speaker(backend).read(1)) == ("Not input stream", -9975)
    stream = mic(backend)
    with pytest.raises(ValueError, match="Invalid number of frames"):
        stream.read(-1)
    stream.close()
    stream.close()  # closing twice is fine
    assert error_args(lambda: stream.read(1)) == (-9988, "Stream closed")


def test_reading_a_stopped_stream_closes_it() -> None:
    stream = mic(FakePyAudio(speed=None), start=False)
    assert stream.is_stopped() and not stream.is_active()
    assert error_args(lambda: stream.read(1)) == (-9983, "Stream is stopped")
    assert stream.closed  # PyAudio cleans a stream up after a PortAudio error
    started = mic(FakePyAudio(speed=None), start=False)
    started.start_stream()
    assert started.is_active()
    assert started.read(1) == b"\0\0"


def test_fail_read_after() -> None:
    backend = FakePyAudio(speed=None, fail_read_after=2)
    first, second = mic(backend), mic(backend)
    first.read(1)
    second.read(1)
    assert error_args(lambda: first.read(1)) == (-9999, "Unanticipated host error")
    assert first.closed and not second.closed
    # The device is gone for every stream.
    assert error_args(lambda: second.read(1))[0] == -9999
    assert (first.reads, second.reads) == (1, 1)
    # As with PyAudio, the failed stream cannot be stopped, only closed.
    assert error_args(first.stop_stream) == ("Stream not open",)
    assert error_args(first.is_active) == ("Stream not open",)
    first.close()


def test_fail_write_after() -> None:
    backend = FakePyAudio(speed=None, fail_write_after=1)
    stream = speaker(backend)
    stream.write(b"\1\0")
    assert error_args(lambda: stream.write(b"\2\0")) == (-9999, "Unanticipated host error")
    assert stream.closed
    assert (stream.writes, bytes(stream.written)) == (1, b"\1\0")
    assert error_args(lambda: speaker(backend).write(b"\3\0"))[0] == -9999


def test_records_the_calling_threads() -> None:
    backend = FakePyAudio(speed=None)
    stream = backend.open(16000, 1, PA_INT16, input=True, output=True)
    with in_thread(lambda: stream.read(1), name="reader") as outcome:
        pass
    assert outcome == [b"\0\0"]
    stream.write(b"\0\0")
    assert stream.thread_names == {"reader", threading.current_thread().name}


def test_busy_while_a_read_sleeps() -> None:
    stream = mic(FakePyAudio(speed=10))  # 0.05 s
    assert not stream.busy
    with in_thread(lambda: stream.read(8000)) as outcome:
        wait_until(lambda: stream.busy)
        assert stream.reads == 0
    assert not stream.busy
    assert outcome == [bytes(16000)]
    assert stream.reads == 1


def test_closing_under_a_blocked_read() -> None:
    stream = mic(FakePyAudio(speed=10))
    with in_thread(lambda: stream.read(8000)) as outcome:
        wait_until(lambda: stream.busy)
        stream.close()
    assert isinstance(outcome[0], OSError)
    assert outcome[0].args == (-9988, "Stream closed")


def test_writes_are_recorded() -> None:
    backend = FakePyAudio(speed=None)
    stream = speaker(backend, frames_per_buffer=100)
    stream.write(b"\1\0\2\0\3")  # the odd byte is not a whole frame
    stream.write(b"\4\0\5\0\6\0", num_frames=2)
    stream.write(b"")
    assert bytes(stream.written) == b"\1\0\2\0\4\0\5\0"
    assert stream.writes == 2
    # With speed None, the buffer (3 * frames_per_buffer) plays at once.
    assert stream.played_frames == 4
    assert stream.get_write_available() == 300
    assert speaker(backend).get_write_available() == 1024
    assert speaker(FakePyAudio(output_buffer_frames=50)).get_write_available() == 50


def test_write_errors() -> None:
    backend = FakePyAudio(speed=None)
    microphone = mic(backend)
    assert error_args(lambda: microphone.write(b"\0\0")) == ("Not output stream", -9974)
    # PyAudio returns PortAudio's error codes from these as counts.
    assert microphone.get_write_available() == -9974
    assert speaker(backend).get_read_available() == -9975
    assert microphone.get_read_available() == 0
    stream = speaker(backend)
    with pytest.raises(ValueError, match="Invalid number of frames"):
        stream.write(b"\0\0", num_frames=-1)
    stream.stop_stream()
    assert error_args(lambda: stream.write(b"\0\0")) == (-9983, "Stream is stopped")
    assert stream.closed


def test_a_write_blocks_until_its_audio_fits_the_buffer(clock: VirtualTime) -> None:
    # 100 frames of buffer, draining 100000 frames a second.
    stream = speaker(FakePyAudio(speed=10, output_buffer_frames=100))
    audio = bytes(range(256)) * 40  # 5120 frames: 5020 must drain first
    start = clock.monotonic()
    stream.write(audio)
    elapsed = clock.monotonic() - start
    assert elapsed == pytest.approx(0.0502, abs=0.001)  # in steps of a frame's drain or 5 ms
    assert bytes(stream.written) == audio
    assert stream.writes == 1
    assert stream.get_write_available() < 100
    assert 4900 < stream.played_frames <= 5120


def test_the_buffer_drains_in_real_time(clock: VirtualTime) -> None:
    stream = speaker(FakePyAudio(speed=2, output_buffer_frames=1000))  # 20 frames a ms
    start = clock.monotonic()
    stream.write(bytes(2000))
    assert clock.monotonic() == start  # it fits: no wait
    assert stream.get_write_available() == 0
    clock.sleep(0.02)
    assert stream.played_frames == 400
    assert stream.get_write_available() == 400
    clock.sleep(0.04)
    assert stream.played_frames == 1000
    assert stream.get_write_available() == 1000


def test_stop_waits_for_the_buffer_to_play(clock: VirtualTime) -> None:
    stream = speaker(FakePyAudio(speed=1))  # 10 frames a ms
    stream.write(bytes(800))  # 400 frames: 0.04 s
    clock.sleep(0.01)  # 100 of them play
    start = clock.monotonic()
    stream.stop_stream()
    assert clock.monotonic() - start == pytest.approx(0.03)
    assert stream.played_frames == 400
    assert stream.is_stopped() and not stream.active
    stream.stop_stream()  # stopping twice is fine
    stream.start_stream()
    stream.write(b"\0\0")
    assert stream.writes == 2


def test_close_drops_the_unplayed_audio(clock: VirtualTime) -> None:
    backend = FakePyAudio(speed=1)
    stream = speaker(backend)
    stream.write(bytes(2000))  # 1000 frames: 0.1 s
    clock.sleep(0.03)
    stream.close()
    played = stream.played_frames
    assert played == 300
    clock.sleep(0.01)
    assert stream.played_frames == played
    assert stream.closed and backend.open_streams == []
    stream.close()
    stream.stop_stream()  # a no-op on a closed stream, as in PyAudio
    assert error_args(stream.get_write_available) == (-9988, "Stream closed")
    assert error_args(stream.is_stopped) == (-9988, "Stream closed")
    assert error_args(stream.is_active) == ("Stream not open",)
    assert error_args(stream.start_stream) == (-9988, "Stream closed")
    assert error_args(stream.get_output_latency) == (-9988, "Stream closed")


def test_bad_configuration() -> None:
    with pytest.raises(ValueError, match="speed"):
        FakePyAudio(speed=0)
    with pytest.raises(ValueError, match="no device #2"):
        FakePyAudio(default_output=2)
    with pytest.raises(ValueError, match="output_buffer_frames"):
        FakePyAudio(output_buffer_frames=0)
    with pytest.raises(ValueError, match="negative"):
        FakePyAudio(fail_read_after=-1)
    with pytest.raises(ValueError, match="channel"):
        FakeDevice("Broken", max_input_channels=-1)
