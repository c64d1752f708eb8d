"""The official deepgram-sdk (7.x) Flux client against dgtrio's fake server.

Shows that ``python -m dgtrio.testing serve`` speaks Listen v2 (Flux) faithfully enough
for Deepgram's own client: it connects to ``/v2/listen`` with a Flux model, streams
half a second of silence, two seconds of "speech" (a tone the fake hears as the user
talking) and a second of silence, so that a turn starts and ends, then sends
``CloseStream`` and reads until the fake closes the socket without a status.

    python -m bench.sdk_flux

starts the fake as a process, runs the SDK's async Flux client against it and prints
what the SDK received. ``flux_with_sdk`` is also used by the test suite.
"""

from __future__ import annotations

import asyncio
import json
import math
import struct
import sys
from typing import Any

from dgtrio.testing import fake_server_process

from .sdk_client import sdk_client

SAMPLE_RATE = 16000
CHUNK = 3200  # 100 ms of 16-bit mono audio


def silence(seconds: float) -> bytes:
    """``seconds`` of 16-bit mono silence."""
    return bytes(2 * round(seconds * SAMPLE_RATE))


def speech(seconds: float) -> bytes:
    """``seconds`` of a 440 Hz tone, loud enough for the fake to hear as speech."""
    count = round(seconds * SAMPLE_RATE)
    step = 2 * math.pi * 440 / SAMPLE_RATE
    return struct.pack(f"<{count}h", *(round(8000 * math.sin(step * i)) for i in range(count)))


AUDIO = silence(0.5) + speech(2.0) + silence(1.0)


async def flux_with_sdk(url: str, api_key: str = "sdk-key", audio: bytes = AUDIO) -> list[Any]:
    """``audio`` (16 kHz linear16, unpaced) through ``AsyncDeepgramClient``'s Flux
    socket; what it parsed."""

    client = sdk_client(url, api_key)
    received: list[Any] = []
    async with client.listen.v2.connect(
        model="flux-general-en", encoding="linear16", sample_rate=SAMPLE_RATE
    ) as socket:

        async def send() -> None:
            for start in range(0, len(audio), CHUNK):
                await socket.send_media(audio[start : start + CHUNK])
            await socket.send_close_stream()

        # Sending runs beside receiving, as a live client would, so that neither side
        # waits on a full socket buffer.
        sender = asyncio.create_task(send())
        # The iteration ends quietly when Flux closes without a status (1005).
        async for message in socket:
            received.append(message)
        await sender
    return received


def main() -> int:
    with fake_server_process() as url:
        messages = asyncio.run(flux_with_sdk(url))
    for message in messages:
        summary = {"class": type(message).__name__, "type": message.type}
        if message.type == "TurnInfo":
            summary |= {
                "event": message.event,
                "turn_index": message.turn_index,
                "audio_window": [message.audio_window_start, message.audio_window_end],
                "transcript": message.transcript,
            }
        print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
