"""Microphone and speaker on a fake sound card (FakePyAudio): frames, threads, buffers,
overflow, barge-in, device errors, cancellation; and both wired into connections.

These run on the real clock (PortAudio's calls block real threads), with short
frames and a fast fake so that each test stays well under a second.
"""

from __future__ import annotations

import logging
import math
import sys
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import attrs
import pytest
import trio
import trio.testing

import dgtrio
from dgtrio import agent as ag
from dgtrio.audio import (
    AudioFormat,
    list_devices,
    open_microphone,
    open_speaker,
)
from dgtrio.audio._g711 import from_linear16, to_linear16
from dgtrio.testing import AgentScript, FakeDeepgram, FakeDevice, FakePyAudio

from .conftest import API_KEY, agent_settings, aiter_list, pcm16


def _idle_threads() -> bool:
    """No worker thread of trio's default limiter is borrowed (ours use their own)."""
    return trio.to_thread.current_default_thread_limiter().borrowed_tokens == 0


async def _until(condition: Callable[[], bool]) -> None:
    """Poll ``condition`` (set by worker threads, which cannot signal trio), for 2 s."""
    with trio.fail_after(2):
        while not condition():  # noqa: ASYNC110
            await trio.sleep(0.005)


async def _take(source: AsyncIterator[bytes] | dgtrio.audio.Microphone, count: int) -> list[bytes]:
    frames = []
    async for frame in source:
        frames.append(frame)
        if len(frames) == count:
            break
    return frames


# -- microphone ---------------------------------------------------------------------------------


async def test_microphone_frames_come_from_a_worker_thread() -> None:
    audio = pcm16(0.1)
    backend = FakePyAudio(input_audio=audio, speed=20)
    async with open_microphone(16000, frame_ms=20, backend=backend) as mic:
        assert mic.format == AudioFormat("linear16", 16000)
        assert mic.device.name == "Fake Microphone" and mic.device.is_default_input
        frames = await _take(mic, 6)
    assert b"".join(frames[:5]) == audio and frames[5] == bytes(640)  # then silence
    (stream,) = backend.streams
    assert (stream.rate, stream.channels, stream.input, stream.frames_per_buffer) == (
        16000,
        1,
        True,
        320,
    )
    assert stream.closed and not stream.busy
    assert not backend.terminated  # a backend we were given is the caller's to end
    assert "MainThread" not in stream.thread_names
    stats = mic.statistics()
    assert stats.frames_captured >= 6 and stats.frames_dropped == 0
    assert "Fake Microphone" in repr(mic)


async def test_microphone_encodes_g711_and_captures_stereo() -> None:
    audio = pcm16(0.04)
    backend = FakePyAudio(input_audio=audio, speed=20)
    async with open_microphone(8000, encoding="mulaw", backend=backend) as mic:
        frames = await _take(mic, 4)
    assert b"".join(frames)[: len(audio) // 2] == from_linear16(audio, "mulaw")[: len(audio) // 2]
    assert [len(f) for f in frames] == [160] * 4  # 20 ms of 8 kHz mu-law
    stereo = FakePyAudio(input_audio=bytes(range(256)) * 10, speed=20)
    async with open_microphone(16000, 2, frame_ms=10, backend=stereo) as mic:
        (frame,) = await _take(mic, 1)
    assert len(frame) == 640 and frame == (bytes(range(256)) * 3)[:640]


async def test_a_consumer_that_falls_behind_loses_counted_frames(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, "dgtrio.audio")
    backend = FakePyAudio(speed=10)  # a 20 ms frame every 2 ms
    async with open_microphone(16000, buffer_ms=100, backend=backend) as mic:
        # Not reading: 5 frames fit, the rest are dropped.
        await _until(lambda: mic.statistics().frames_captured >= 20)
        stats = mic.statistics()
        assert stats.frames_buffered == 5
        assert stats.frames_dropped == stats.frames_captured - 5 and stats.overflows == 1
        await _take(mic, 10)  # reading again ends the overflow...
        # ... and a second stall is a second one.
        await _until(lambda: mic.statistics().frames_dropped > stats.frames_dropped)
        assert mic.statistics().overflows == 2
    assert [r.message for r in caplog.records].count(
        "microphone Fake Microphone: the consumer fell behind by 100 ms; dropping frames"
    ) == 2


async def test_a_failing_device_ends_the_iteration_with_a_typed_error() -> None:
    backend = FakePyAudio(speed=20, fail_read_after=3)
    frames = []
    async with open_microphone(16000, backend=backend) as mic:
        with pytest.raises(dgtrio.AudioDeviceError, match="Unanticipated host error") as info:
            async for frame in mic:
                frames.append(frame)
    assert len(frames) == 3  # every frame read before the failure
    assert info.value.code == -9999 and isinstance(info.value, OSError)
    assert backend.streams[0].closed


async def test_cancelling_a_blocked_read_waits_for_that_read_only() -> None:
    backend = FakePyAudio(speed=1)  # a 200 ms frame takes 200 ms
    start = time.monotonic()
    with trio.move_on_after(0.05):
        async with open_microphone(16000, frame_ms=200, backend=backend) as mic:
            await _take(mic, 10)
    elapsed = time.monotonic() - start
    # The read under way finished (a busy machine only makes that later), and no more
    # of the ten frames asked for (2 s of them) were read.
    assert 0.15 < elapsed < 2.0
    (stream,) = backend.streams
    assert stream.closed and not stream.busy and stream.reads == 1
    assert _idle_threads()


async def test_device_selection_and_its_errors() -> None:
    devices = [
        FakeDevice("USB Headset Mic", max_input_channels=1, sample_rates=frozenset({16000})),
        FakeDevice("Speakers", max_output_channels=2),
        FakeDevice("Array Mic", max_input_channels=4),
    ]
    backend = FakePyAudio(devices, speed=20, default_input=2)
    async with open_microphone(16000, device="headset", backend=backend) as mic:
        assert mic.device.index == 0
    async with open_microphone(16000, device=2, backend=backend) as mic:
        assert mic.device.name == "Array Mic"
    async with open_microphone(16000, 4, backend=backend) as mic:  # the default
        assert mic.device.index == 2
    problems: list[tuple[dict[str, Any], str]] = [
        ({"device": 7}, r"no device #7; available: #0 'USB Headset Mic' \(Fake\), #2"),
        ({"device": 1}, r"#1 'Speakers' \(Fake\) has no input channels"),
        ({"device": "mic"}, "2 input devices match 'mic'"),
        ({"device": "webcam"}, "no input device named like 'webcam'"),
        ({"device": 0, "channels": 2}, "has 1 input channel"),
        ({"device": 0, "sample_rate": 44100}, r"Invalid sample rate \(PortAudio -9997\)"),
    ]
    for kwargs, message in problems:
        with pytest.raises(dgtrio.AudioDeviceError, match=message):
            async with open_microphone(**{"sample_rate": 16000, **kwargs}, backend=backend):
                pass
    with pytest.raises(dgtrio.AudioDeviceError, match="no default input device"):
        async with open_microphone(backend=FakePyAudio(default_input=None)):
            pass
    assert not backend.open_streams
    with pytest.raises(ValueError, match="frame_ms and buffer_ms"):
        async with open_microphone(frame_ms=0, backend=backend):
            pass


async def test_list_devices() -> None:
    found = await list_devices(backend=FakePyAudio())
    assert [(d.index, d.name, d.is_default_input, d.is_default_output) for d in found] == [
        (0, "Fake Microphone", True, False),
        (1, "Fake Speaker", False, True),
    ]
    assert (found[0].max_input_channels, found[0].default_sample_rate) == (2, 16000.0)
    assert str(found[1]) == "#1 'Fake Speaker' (Fake)"


async def test_without_pyaudio_the_error_says_how_to_install_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "pyaudio", None)  # import pyaudio raises ImportError
    with pytest.raises(dgtrio.AudioUnavailable, match=r"pip install 'dgtrio\[audio\]'.*portaudio"):
        async with open_microphone():
            pass
    with pytest.raises(dgtrio.AudioUnavailable, match="apt-get install portaudio19-dev"):
        await list_devices()


# -- speaker ----------------------------------------------------------------------------------


async def test_speaker_plays_everything_then_the_block_exits() -> None:
    backend = FakePyAudio(speed=10)
    audio = pcm16(0.3, rate=24000)
    async with open_speaker(24000, backend=backend) as speaker:
        assert speaker.device.name == "Fake Speaker"
        await speaker.play(audio[:4800])
        await speaker.play(memoryview(audio)[4800:])
        await speaker.drain()
        (stream,) = backend.streams
        assert bytes(stream.written) == audio
        assert speaker.played_ms == pytest.approx(300)
        assert speaker.statistics() == dgtrio.audio.SpeakerStatistics(0.0, 300.0, 0.0)
        await speaker.play(audio)  # a normal exit plays what is queued
    assert bytes(stream.written) == audio * 2
    assert stream.closed and "MainThread" not in stream.thread_names
    # Writes went out in 20 ms blocks, so that a clear is heard within one.
    assert stream.writes == len(audio) * 2 // 960


async def test_clear_stops_playback_at_once() -> None:
    # Half speed: the 2 s play in 4 s, so that the clear below comes long before
    # 500 ms have played, however late the poll that sees 100 ms wakes up.
    backend = FakePyAudio(speed=0.5)
    audio = pcm16(2.0, rate=24000)
    async with open_speaker(24000, backend=backend) as speaker:
        await speaker.play(audio)
        await _until(lambda: speaker.played_ms >= 100)
        dropped = speaker.clear()
        (stream,) = backend.streams
        written = len(stream.written)
        await trio.sleep(0.05)
        # At most the block being written when clear() came goes out after it.
        assert len(stream.written) - written <= 960
        stats = speaker.statistics()
        assert stats.queued_ms == 0 and stats.cleared_ms == dropped > 1500
        assert stats.played_ms + stats.cleared_ms <= 2000
        await speaker.play(audio[:960])  # playback goes on after a clear
        await speaker.drain()
    assert bytes(stream.written).endswith(audio[:960])


async def test_play_waits_for_room_in_a_bounded_buffer() -> None:
    backend = FakePyAudio(speed=5)
    chunk = pcm16(0.1, rate=24000)
    async with open_speaker(24000, buffer_ms=200, backend=backend) as speaker:
        most = 0.0
        for _ in range(10):
            await speaker.play(chunk)
            most = max(most, speaker.statistics().queued_ms)
        assert most <= 300  # the bound, plus the chunk let in below it
    assert bytes(backend.streams[0].written) == chunk * 10


async def test_speaker_formats_and_errors() -> None:
    backend = FakePyAudio(speed=None)
    codes = bytes(range(256))
    async with open_speaker(8000, encoding="alaw", backend=backend) as speaker:
        await speaker.play(codes)
    assert bytes(backend.streams[0].written) == to_linear16(codes, "alaw")
    async with open_speaker(16000, 2, backend=backend) as speaker:
        with pytest.raises(dgtrio.AudioFormatError, match="6 bytes is not a whole number of 4"):
            await speaker.play(bytes(6))
    with pytest.raises(trio.ClosedResourceError):
        await speaker.play(bytes(640))
    failing = FakePyAudio(speed=None, fail_write_after=2)
    with pytest.raises(dgtrio.AudioDeviceError, match=r"playing on the speaker .*-9999"):
        async with open_speaker(16000, backend=failing) as speaker:
            for _ in range(10):
                await speaker.play(bytes(640))
            await speaker.drain()
    with pytest.raises(dgtrio.AudioDeviceError):
        await speaker.play(bytes(640))  # the device's error, again


async def test_cancelling_a_blocked_write_drops_the_rest() -> None:
    backend = FakePyAudio(speed=1, output_buffer_frames=240)
    start = time.monotonic()
    with trio.move_on_after(0.1):
        async with open_speaker(24000, backend=backend) as speaker:
            await speaker.play(pcm16(5.0, rate=24000))
            await speaker.drain()
    assert time.monotonic() - start < 1.0  # far less than the 5 s queued
    (stream,) = backend.streams
    assert stream.closed and not stream.busy
    assert len(stream.written) < 24000 * 2  # far less than the 5 s queued
    assert speaker.statistics().cleared_ms > 4000
    assert _idle_threads()


# -- wired into connections ---------------------------------------------------------------------


async def test_microphone_streams_into_listen(fake: FakeDeepgram) -> None:
    audio = pcm16(0.2)
    backend = FakePyAudio(input_audio=audio, speed=10)
    options = dgtrio.ListenV1Options(encoding="linear16", sample_rate=16000)
    connect: dgtrio.ConnectOptions = {"base_url": fake.url, "api_key": API_KEY}

    async def first_frames(mic: dgtrio.audio.Microphone) -> AsyncIterator[bytes]:
        async for frame in mic:
            yield frame
            if mic.statistics().frames_captured >= 15:
                return

    async with (
        open_microphone(16000, backend=backend) as mic,
        dgtrio.open_listen(options, audio=first_frames(mic), **connect) as conn,
    ):
        async for _ in conn:
            pass
    (session,) = fake.sessions
    # Whole 20 ms frames, at least 15 (frames queued behind each other go out joined).
    sent = b"".join(f.data for f in session.received if isinstance(f.data, bytes))
    assert len(sent) % 640 == 0 and len(sent) >= 15 * 640
    assert sent.startswith(audio)
    assert session.received[-1].data == '{"type":"CloseStream"}'

    wrong = dgtrio.ListenV1Options(encoding="linear16", sample_rate=8000)
    async with open_microphone(16000, backend=backend) as mic:
        with pytest.raises(
            dgtrio.AudioFormatError,
            match="the audio source is linear16 at 16000 Hz, mono, but ListenV1Options "
            "declares linear16 at 8000 Hz, mono",
        ):
            async with dgtrio.open_listen(wrong, audio=mic, **connect):
                pass
    assert len(fake.sessions) == 1  # refused before connecting


@attrs.define(slots=False)
class RecordingSink:
    """An AudioSink that records what it is asked to do, in order."""

    format: AudioFormat
    events: list[bytes | str] = attrs.Factory(list)

    async def play(self, audio: bytes) -> None:
        self.events.append(audio)
        await trio.lowlevel.checkpoint()

    def clear(self) -> None:
        self.events.append("clear")


async def test_the_agent_plays_to_the_speaker_and_barge_in_clears_it(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    fake = FakeDeepgram(api_key=API_KEY, agent_script=AgentScript(realtime=True))
    await nursery.start(fake.serve)
    sink = RecordingSink(AudioFormat("linear16", 16000))
    settings = agent_settings(greeting="Hello, I am a test agent with a long greeting.")
    seen: list[bytes | str] = []
    async with (
        dgtrio.open_agent(settings, speaker=sink, **_connect(fake)) as agent,
        trio.open_nursery() as talking,
    ):
        async for message in agent:
            if isinstance(message, dgtrio.AgentV1Audio):
                seen.append(message.data)
                if len(seen) == 3:  # the greeting is playing: the user talks over it
                    talking.start_soon(_talk, agent)
            elif isinstance(message, dgtrio.AgentV1UserStartedSpeaking):
                seen.append("clear")
                talking.cancel_scope.cancel()
                break
    # The speaker played every frame as it arrived and was cleared right at the barge-in.
    assert sink.events == seen
    assert seen[-1] == "clear" and len(seen) >= 4


async def _talk(agent: dgtrio.AgentConnection) -> None:
    for frame in [pcm16(0.5)[i : i + 640] for i in range(0, 16000, 640)]:
        await agent.send_audio(frame)


async def test_a_speaker_in_another_format_is_refused_before_connecting() -> None:
    sink = RecordingSink(AudioFormat("linear16", 24000))
    with pytest.raises(
        dgtrio.AudioFormatError,
        match=r"the speaker is linear16 at 24000 Hz, mono, but the settings' audio\.output "
        "declares linear16 at 16000 Hz, mono",
    ):
        async with dgtrio.open_agent(agent_settings(), speaker=sink, base_url="ws://127.0.0.1:9"):
            pass
    compressed = attrs.evolve(
        agent_settings(),
        audio=ag.AudioConfig(
            input=ag.AudioInput(encoding="linear16", sample_rate=16000),
            output=ag.AudioOutput(encoding="mp3", sample_rate=24000),
        ),
    )
    with pytest.raises(dgtrio.AudioFormatError, match=r"audio\.output declares no raw format"):
        async with dgtrio.open_agent(compressed, speaker=sink, base_url="ws://127.0.0.1:9"):
            pass
    with pytest.raises(dgtrio.AudioFormatError, match="SpeakV1Options declares mulaw at 8000"):
        options = dgtrio.SpeakV1Options(encoding="mulaw", sample_rate=8000)
        async with dgtrio.open_speak(options, speaker=sink, base_url="ws://127.0.0.1:9"):
            pass


async def test_speak_plays_to_the_speaker_and_clear_silences_it(
    fake: FakeDeepgram, autojump_clock: trio.testing.MockClock
) -> None:
    sink = RecordingSink(AudioFormat("linear16", 24000))
    connect: dgtrio.ConnectOptions = {"base_url": fake.url, "api_key": API_KEY}
    long_text = "This sentence is long enough to take several seconds to say out loud."
    async with dgtrio.open_speak(speaker=sink, **connect) as tts, trio.open_nursery() as nursery:
        first = [audio.data async for audio in tts.utterance("Hello.")]
        assert sink.events == first  # played as it arrived, and iterated all the same
        await tts.speak(long_text)
        nursery.start_soon(tts.flush)
        await trio.sleep(0.055)  # speech arrives and plays while nobody iterates
        playing = len(sink.events)
        assert playing > len(first)
        await tts.clear()
        # The speaker was cleared at once; audio on its way before the Cleared never played.
        assert sink.events[playing:] == ["clear"]
        after = [audio.data async for audio in tts.utterance("Short.")]
        assert sink.events[playing + 1 :] == after


async def test_open_speak_plays_on_a_real_speaker_object(fake: FakeDeepgram) -> None:
    backend = FakePyAudio(speed=None)
    connect: dgtrio.ConnectOptions = {"base_url": fake.url, "api_key": API_KEY}
    async with (
        open_speaker(24000, backend=backend) as speaker,
        dgtrio.open_speak(speaker=speaker, **connect) as tts,
    ):
        audio = b"".join([a.data async for a in tts.utterance("Hello there.")])
        await speaker.drain()
        assert bytes(backend.streams[0].written) == audio
        assert speaker.played_ms == pytest.approx(len(audio) / 48)


def _connect(fake: FakeDeepgram) -> dgtrio.ConnectOptions:
    return {"base_url": fake.url, "api_key": API_KEY}


async def test_a_source_that_ends_can_leave_the_stream_open(
    fake: FakeDeepgram, autojump_clock: trio.testing.MockClock
) -> None:
    options = dgtrio.ListenV1Options(encoding="linear16", sample_rate=16000)
    first, more = pcm16(0.1), pcm16(0.06, frequency=300)
    source = dgtrio.audio.StreamSource(aiter_list([first]), AudioFormat("linear16", 16000))
    async with dgtrio.open_listen(
        options, audio=source, close_stream_on_end=False, **_connect(fake)
    ) as conn:
        (session,) = await fake.wait_for_sessions()
        await trio.sleep(1)  # the source has ended long since: the stream is still open
        assert (session.audio, session.messages) == (first, [])  # no CloseStream
        await conn.send_audio(more)
        await conn.close_stream()
        messages = [message async for message in conn]
    assert isinstance(messages[-1], dgtrio.ListenV1Metadata)
    assert session.received[-2].data == more
    assert [f.data for f in session.received].count('{"type":"CloseStream"}') == 1


async def test_take_and_stop_end_the_audio_so_the_final_results_come(
    fake: FakeDeepgram,
) -> None:
    options = dgtrio.ListenV1Options(encoding="linear16", sample_rate=16000)
    backend = FakePyAudio(input_audio=pcm16(1.0), speed=20)
    async with open_microphone(16000, backend=backend) as mic:
        source = mic.take(0.5)
        assert source.format == mic.format  # so it is checked like the microphone
        async with dgtrio.open_listen(options, audio=source, **_connect(fake)) as conn:
            messages = [message async for message in conn]
        assert isinstance(messages[-1], dgtrio.ListenV1Metadata)
        async with dgtrio.open_listen(options, audio=mic, **_connect(fake)) as conn:
            async for message in conn:
                if isinstance(message, dgtrio.ListenV1Results):
                    mic.stop()  # hang up: the frames captured so far go, then CloseStream
        captured = mic.statistics().frames_captured
    taken, stopped = fake.sessions
    assert sum(len(f.data) for f in taken.received[:-1]) == 25 * 640
    assert sum(len(f.data) for f in stopped.received[:-1]) == (captured - 25) * 640
    assert stopped.received[-1].data == '{"type":"CloseStream"}'
    with pytest.raises(dgtrio.AudioFormatError, match="declares linear16 at 8000 Hz"):
        wrong = dgtrio.ListenV1Options(encoding="linear16", sample_rate=8000)
        async with open_microphone(16000, backend=backend) as mic:
            dgtrio.open_listen(wrong, audio=mic.take(1))


@attrs.define(slots=False)
class SlowSink(RecordingSink):
    """A sink whose first ``play`` waits for ``gate``: the receive loop stalls on it."""

    gate: trio.Event = attrs.field(factory=trio.Event)

    async def play(self, audio: bytes) -> None:
        self.events.append(audio)
        await self.gate.wait()


async def test_speech_still_on_its_way_when_clear_is_called_is_not_played(
    fake: FakeDeepgram, autojump_clock: trio.testing.MockClock
) -> None:
    sink = SlowSink(AudioFormat("linear16", 24000))
    long_text = "This sentence is long enough to take several seconds to say out loud."
    async with dgtrio.open_speak(speaker=sink, **_connect(fake)) as tts, trio.open_nursery() as n:
        await tts.speak(long_text)
        n.start_soon(tts.flush)
        await trio.sleep(0.1)  # chunks pile up behind the first one, which is still playing
        assert len(sink.events) == 1
        n.start_soon(tts.clear)
        await trio.testing.wait_all_tasks_blocked()
        assert sink.events[1:] == ["clear"]  # at once, before the server answered
        sink.gate.set()
    # The chunks that were on their way were received, and dropped: not played, and
    # not queued for an iteration either (the first is queued: it was played).
    assert tts.audio_frames_discarded > 0
    assert sink.events[1:] == ["clear"]


async def test_take_refuses_nonsense_and_takes_at_least_one_frame() -> None:
    backend = FakePyAudio(input_audio=pcm16(1.0), speed=20)
    async with open_microphone(16000, backend=backend) as mic:
        for bad in (0, -1, math.nan, math.inf):
            with pytest.raises(ValueError, match="seconds must be a positive number"):
                mic.take(bad)
        with pytest.raises(TypeError):
            mic.take("1")  # type: ignore[arg-type]
        # 5 ms of 20 ms frames rounds to none: one frame, and the source ends.
        assert [len(frame) async for frame in mic.take(0.005)] == [640]
