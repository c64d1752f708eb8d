"""The official deepgram-sdk (7.x) against dgtrio's fake server.

Shows that ``python -m dgtrio.testing serve`` speaks Listen v1 faithfully enough for
Deepgram's own client: it streams a WAV file and receives ``Results`` and ``Metadata``.

    python -m bench.sdk_compat [WAV]

starts the fake as a process, runs the SDK's async client against it and prints what
the SDK received. ``stream_wav_with_sdk`` is also used by the test suite.
"""

from __future__ import annotations

import asyncio
import json
import sys
import wave
from pathlib import Path
from typing import Any

from dgtrio.testing import fake_server_process

from .sdk_client import sdk_client

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_WAV = ROOT / "examples" / "audio" / "hello.wav"


async def stream_wav_with_sdk(url: str, wav_path: Path, api_key: str = "sdk-key") -> list[Any]:
    """Stream ``wav_path`` with ``AsyncDeepgramClient``; return the messages it parsed."""

    client = sdk_client(url, api_key)
    with wave.open(str(wav_path), "rb") as wav:
        rate, pcm = wav.getframerate(), wav.readframes(wav.getnframes())
    received: list[Any] = []
    async with client.listen.v1.connect(
        model="nova-3", encoding="linear16", sample_rate=rate, interim_results=True
    ) as socket:
        for offset in range(0, len(pcm), 640):
            await socket.send_media(pcm[offset : offset + 640])
        await socket.send_close_stream()
        async for message in socket:
            received.append(message)
    return received


def main() -> int:
    wav_path = Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT_WAV
    with fake_server_process() as url:
        messages = asyncio.run(stream_wav_with_sdk(url, wav_path))
    for message in messages:
        print(json.dumps({"class": type(message).__name__, "type": message.type}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
