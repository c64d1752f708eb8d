"""Deepgram's official SDK (7.x) against ``python -m dgtrio.testing serve``."""

from __future__ import annotations

import asyncio
import wave

import pytest

from bench.sdk_compat import stream_wav_with_sdk
from dgtrio.testing import fake_server_process

from .conftest import HELLO_WAV


# The SDK imports names that its own websockets dependency deprecates.
@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_official_sdk_streams_a_wav_to_the_fake_server() -> None:
    with fake_server_process() as url:
        messages = asyncio.run(stream_wav_with_sdk(url, HELLO_WAV))
    names = [type(m).__name__ for m in messages]
    assert names[-1] == "ListenV1Metadata"
    assert names.count("ListenV1Results") >= 3
    finals = [m for m in messages if type(m).__name__ == "ListenV1Results" and m.is_final]
    assert (
        finals[0].channel.alternatives[0].transcript
        == "the quick brown fox jumps over the lazy dog"
    )
    with wave.open(str(HELLO_WAV)) as wav:
        assert messages[-1].duration == pytest.approx(wav.getnframes() / wav.getframerate())
