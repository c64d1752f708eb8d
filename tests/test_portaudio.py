"""The real audio stack: PortAudio through PyAudio, on this machine's default devices.

On a headless machine, ``scripts/virtual-audio`` makes them a PulseAudio null sink
and its monitor, so what the speaker plays the microphone records. Without PyAudio
or a device the test skips, except in CI (``CI=true``), where that is a failure.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator

import pytest

import dgtrio
from dgtrio.audio import Microphone, open_microphone, open_speaker
from dgtrio.testing import FakeDeepgram
from dgtrio.testing._sound import level

from .conftest import API_KEY, pcm16

pytestmark = pytest.mark.timeout(30)

TONE_LEVEL = 8000 / 32768 / 2**0.5  # the RMS of pcm16's sine, as a fraction of full scale


def _missing_audio() -> str | None:
    """Why this machine cannot play and record, or ``None`` if it can."""
    try:
        import pyaudio
    except ImportError as exc:
        return f"PyAudio is not installed ({exc})"
    backend = pyaudio.PyAudio()
    try:
        backend.get_default_input_device_info()
        backend.get_default_output_device_info()
    except OSError as exc:
        return f"no default input and output device ({exc})"
    finally:
        backend.terminate()
    return None


@pytest.fixture
def sound_card() -> None:
    missing = _missing_audio()
    if missing is None:
        return
    if os.environ.get("CI") == "true":
        pytest.fail(f"CI must run the PortAudio test, but {missing}: see .ci/run")
    pytest.skip(f"{missing}; scripts/virtual-audio sets up a virtual sound card")


async def _first(mic: Microphone, count: int) -> AsyncIterator[bytes]:
    async for frame in mic:
        yield frame
        count -= 1
        if not count:
            return


@pytest.mark.usefixtures("sound_card")
async def test_a_tone_played_is_recorded_and_streamed_to_listen(fake: FakeDeepgram) -> None:
    options = dgtrio.ListenV1Options(encoding="linear16", sample_rate=16000)
    connect: dgtrio.ConnectOptions = {"base_url": fake.url, "api_key": API_KEY}
    async with (
        open_microphone(16000, frame_ms=20) as mic,
        open_speaker(16000) as speaker,
        dgtrio.open_listen(options, audio=_first(mic, 200), **connect) as conn,
    ):
        await speaker.play(bytes(6400) + pcm16(1.0) + bytes(6400))  # 0.2 s silence around
        async for _ in conn:
            pass  # until the 200 frames (4 s) are sent, CloseStream, and the final results
        assert speaker.played_ms == pytest.approx(1400, abs=1)
        assert mic.statistics().frames_dropped == 0
    (session,) = fake.sessions
    frames = [f.data for f in session.received if isinstance(f.data, bytes)]
    assert [len(frame) for frame in frames] == [640] * 200  # 4 s of 20 ms linear16 frames
    levels = [level(frame, "linear16") for frame in frames]
    loud = [i for i, x in enumerate(levels) if x > TONE_LEVEL / 2]
    # One second of tone, recorded whole at its own level, in one piece.
    assert 45 <= len(loud) <= 52, levels
    assert loud == list(range(loud[0], loud[0] + len(loud)))
    assert all(abs(levels[i] - TONE_LEVEL) < TONE_LEVEL * 0.1 for i in loud[1:-1])
    assert session.received[-1].data == '{"type":"CloseStream"}'
