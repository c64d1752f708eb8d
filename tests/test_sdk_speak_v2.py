"""Deepgram's official SDK (7.x) Flux TTS client against ``python -m dgtrio.testing serve``."""

from __future__ import annotations

import asyncio
import re
import uuid

import pytest

from bench.sdk_speak_v2 import LONGER, TEXT, speak_v2_with_sdk
from dgtrio.testing import fake_server_process


# The SDK imports names that its own websockets dependency deprecates.
@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_official_sdk_speaks_interrupts_and_configures_with_the_fake() -> None:
    from deepgram.speak.v2.types import (
        SpeakV2ConfigureFailure,
        SpeakV2ConfigureSuccess,
        SpeakV2Connected,
        SpeakV2Error,
        SpeakV2Flushed,
        SpeakV2SessionMetadata,
        SpeakV2SpeechInterrupted,
        SpeakV2SpeechInterruptedMetadata,
        SpeakV2SpeechMetadata,
        SpeakV2SpeechStarted,
        SpeakV2Warning,
    )

    with fake_server_process() as url:
        first, second = asyncio.run(speak_v2_with_sdk(url))
    audio = [m for m in first if isinstance(m, bytes)]
    others = [m for m in first if not isinstance(m, bytes)]
    # Every message the fake sent is the SDK's class for its type.
    assert [type(m) for m in others] == [
        SpeakV2Connected,
        SpeakV2SpeechStarted,
        SpeakV2Flushed,
        SpeakV2SpeechMetadata,
        SpeakV2Warning,
        SpeakV2ConfigureFailure,
        SpeakV2ConfigureSuccess,
        SpeakV2SpeechStarted,
        SpeakV2SpeechInterrupted,
        SpeakV2SessionMetadata,
    ]
    connected, started, flushed, metadata, warning, failure, success, again, cut, session = others
    assert connected.model_name == "flux-haley-en" and connected.model_version == "fake"
    assert uuid.UUID(connected.request_id).version == 4
    assert [uuid.UUID(u).version for u in connected.model_uuids] == [5]
    assert re.fullmatch(r"dg_sp_[0-9a-f]{12}", started.speech_id)
    assert flushed.speech_id == metadata.speech_id == started.speech_id
    assert (metadata.audio_duration_ms, metadata.input_character_count) == (2400, len(TEXT))
    assert metadata.controls_applied.pronunciations_applied == 0
    assert warning.code == "NO_ACTIVE_SPEECH"
    assert (failure.code, failure.field, failure.value) == ("SPEED_OUT_OF_RANGE", "speed", 1.6)
    assert success.applied.speed == 1.25
    # The second turn is cut 200 ms in: 2600 ms into the session.
    assert again.speech_id != started.speech_id
    assert cut.audio_played_ms == 2600
    assert (cut.text_spoken, cut.text_remaining) == ("This", LONGER[4:])
    assert isinstance(cut.metadata, SpeakV2SpeechInterruptedMetadata)
    assert (cut.metadata.speech_id, cut.metadata.audio_duration_ms) == (again.speech_id, 200)
    assert session.total_audio_duration_ms == 2600
    assert session.total_input_character_count == len(TEXT) + len(LONGER)
    # 36 characters at 15 per second, 16-bit at 24 kHz, in 100 ms chunks; then two.
    assert [len(chunk) for chunk in audio[:24]] == [4800] * 24
    assert len(audio) == 26
    # An inline pause marker is fatal: Error, then a 1008 close the SDK raises.
    assert [type(m) for m in second[:2]] == [SpeakV2Connected, SpeakV2Error]
    assert second[1].code == "DATA-0002"
    assert "1008" in str(second[2]) and "DATA-0002" in str(second[2])
