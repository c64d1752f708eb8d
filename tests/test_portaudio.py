"""The real audio stack: PortAudio through PyAudio, on this machine's default devices.

On a headless machine, ``scripts/virtual-audio`` makes them a PulseAudio null sink
and its monitor, so what the speaker plays the microphone records. Without PyAudio
or a device the test skips, except in CI (``CI=true``), where that is a failure
(the ``sound_card`` fixture).
"""

from __future__ import annotations

import math

import pytest

import dgtrio
from dgtrio.audio import open_microphone, open_speaker
from dgtrio.testing import FakeDeepgram

from .conftest import API_KEY, pcm16

pytestmark = pytest.mark.timeout(30)

TONE_HZ = 1000.0  # apart from the fakes' 220 Hz voice, should anything else be playing
TONE_LEVEL = 8000 / 2**0.5  # the RMS of pcm16's sine


def tone_level(frame: bytes, rate: int = 16000) -> float:
    """The RMS of the ``TONE_HZ`` component of a linear16 frame (Goertzel)."""
    samples = memoryview(frame).cast("h")
    coefficient = 2 * math.cos(2 * math.pi * TONE_HZ / rate)
    previous = before = 0.0
    for sample in samples:
        previous, before = sample + coefficient * previous - before, previous
    power = previous**2 + before**2 - coefficient * previous * before
    return math.sqrt(2 * power) / len(samples)


@pytest.mark.usefixtures("sound_card")
async def test_a_tone_played_is_recorded_and_streamed_to_listen(fake: FakeDeepgram) -> None:
    options = dgtrio.ListenV1Options(encoding="linear16", sample_rate=16000)
    connect: dgtrio.ConnectOptions = {"base_url": fake.url, "api_key": API_KEY}
    async with (
        open_microphone(16000, frame_ms=20) as mic,
        open_speaker(16000) as speaker,
        dgtrio.open_listen(options, audio=mic.take(4.0), **connect) as conn,
    ):
        await speaker.play(bytes(6400) + pcm16(1.0, frequency=TONE_HZ) + bytes(6400))
        async for _ in conn:
            pass  # until the 200 frames (4 s) are sent, CloseStream, and the final results
        assert speaker.played_ms == pytest.approx(1400, abs=1)
        assert mic.statistics().frames_dropped == 0
    (session,) = fake.sessions
    # 4 s of 20 ms linear16 frames. Frames that queue up behind each other (a busy
    # machine delivers the microphone's reads in bursts) go out joined, as one
    # message: the stream is what counts, cut back into its frames here.
    audio = b"".join(f.data for f in session.received if isinstance(f.data, bytes))
    assert len(audio) == 200 * 640
    frames = [audio[offset : offset + 640] for offset in range(0, len(audio), 640)]
    levels = [tone_level(frame) for frame in frames]
    loud = [i for i, x in enumerate(levels) if x > TONE_LEVEL / 2]
    # One second of tone, recorded whole at its own level, in one piece.
    assert 45 <= len(loud) <= 52, levels
    assert loud == list(range(loud[0], loud[0] + len(loud)))
    assert all(abs(levels[i] - TONE_LEVEL) < TONE_LEVEL * 0.1 for i in loud[1:-1])
    assert session.received[-1].data == '{"type":"CloseStream"}'
