"""Deepgram's official SDK (7.x) Speak v1 client against ``python -m dgtrio.testing serve``."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from bench.sdk_speak import TEXT, speak_with_sdk
from dgtrio.testing import fake_server_process


# The SDK imports names that its own websockets dependency deprecates.
@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_official_sdk_speaks_with_the_fake() -> None:
    with fake_server_process() as url:
        messages = asyncio.run(speak_with_sdk(url))
    audio = [m for m in messages if isinstance(m, bytes)]
    others = [m for m in messages if not isinstance(m, bytes)]
    # Metadata, the audio, Flushed, then Cleared, which the SDK parses into its
    # Flushed class; the fake's close after Close ends the SDK's loop quietly.
    assert [(type(m).__name__, m.type) for m in others] == [
        ("SpeakV1Metadata", "Metadata"),
        ("SpeakV1Flushed", "Flushed"),
        ("SpeakV1Flushed", "Cleared"),
    ]
    assert messages[0] is others[0]
    assert messages[-2:] == others[-2:]
    metadata, flushed, cleared = others
    assert metadata.model_name == "aura-2-thalia-en"
    assert uuid.UUID(metadata.request_id).version == 4
    assert uuid.UUID(metadata.model_uuid).version == 5
    assert (flushed.sequence_id, cleared.sequence_id) == (0, 1)
    # 36 characters at 15 per second: 2.4 s of 16-bit samples at 24 kHz, in 100 ms chunks.
    assert len(TEXT) == 36
    assert [len(chunk) for chunk in audio] == [4800] * 24
