"""The official deepgram-sdk (7.x) streaming text-to-speech client against dgtrio's fake server.

Shows that ``python -m dgtrio.testing serve`` speaks Speak v1 faithfully enough for
Deepgram's own client: it sends text and ``Flush``, receives the audio and
``Flushed``, sends ``Clear`` (answered by ``Cleared``) and ``Close``, after which the
server closes the socket normally and the SDK's message loop ends.

    python -m bench.sdk_speak

starts the fake as a process, runs the SDK's async speak client against it and prints
what the SDK received. ``speak_with_sdk`` is also used by the test suite.
"""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Any

from dgtrio.testing import fake_server_process

from .sdk_client import sdk_client

TEXT = "Hello from the fake Deepgram server."  # 36 characters: 2.4 s of audio


async def speak_with_sdk(url: str, api_key: str = "sdk-key") -> list[Any]:
    """Speak ``TEXT`` through ``AsyncDeepgramClient``; everything the SDK parsed."""
    from deepgram.speak.v1.types import SpeakV1Text

    client = sdk_client(url, api_key)
    received: list[Any] = []
    async with client.speak.v1.connect(
        model="aura-2-thalia-en", encoding="linear16", sample_rate=24000
    ) as socket:
        await socket.send_text(SpeakV1Text(text=TEXT))
        await socket.send_flush()
        # The loop ends when the server closes after Close.
        async for message in socket:
            received.append(message)
            # The SDK parses Cleared (and any unknown type) as SpeakV1Flushed: the type
            # string tells them apart.
            kind = getattr(message, "type", None)
            if kind == "Flushed":
                await socket.send_clear()
            elif kind == "Cleared":
                await socket.send_close()
    return received


def main() -> int:
    with fake_server_process() as url:
        messages = asyncio.run(speak_with_sdk(url))
    for message in messages:
        if isinstance(message, bytes):
            print(json.dumps({"audio_bytes": len(message)}))
        else:
            print(json.dumps({"class": type(message).__name__, **message.dict()}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
