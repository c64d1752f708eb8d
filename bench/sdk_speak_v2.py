"""The official deepgram-sdk (7.x) Flux TTS client (``speak.v2``) against dgtrio's fake
server.

Shows that ``python -m dgtrio.testing serve`` speaks ``/v2/speak`` faithfully enough
for Deepgram's own client, which parses every message the fake sends into its own
types. One session speaks a turn and flushes it, flushes again with no turn (a
``Warning``), configures a speed the server refuses and then one it takes, speaks a
second turn and interrupts it two chunks in, then sends ``Close`` and reads the
``SessionMetadata`` until the fake closes the socket normally. A second session sends
an inline pause marker, which Flux TTS takes in batch requests only: an ``Error``,
then the close.

    python -m bench.sdk_speak_v2

starts the fake as a process, runs the SDK's async client against it and prints what
the SDK received. ``speak_v2_with_sdk`` is also used by the test suite.
"""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Any

from dgtrio.testing import fake_server_process

from .sdk_client import sdk_client

TEXT = "Hello from the fake Deepgram server."  # 36 characters: 2.4 s of audio
LONGER = "This answer goes on for a while, until the user barges in."
PAUSED = r"Wait \{pause:1s\} for it."
MODEL = "flux-haley-en"


async def speak_v2_with_sdk(url: str, api_key: str = "sdk-key") -> tuple[list[Any], list[Any]]:
    """The two sessions through ``AsyncDeepgramClient``; everything the SDK parsed in
    each (the second ends with the SDK's error for the close after ``Error``)."""
    from deepgram.speak.v2.types import (
        SpeakV2Configure,
        SpeakV2Interrupt,
        SpeakV2InterruptPlaybackOffset,
        SpeakV2Speak,
    )

    client = sdk_client(url, api_key)
    first: list[Any] = []
    async with client.speak.v2.connect(
        model=MODEL, encoding="linear16", sample_rate=24000
    ) as socket:
        await socket.send_speak(SpeakV2Speak(text=TEXT))
        await socket.send_flush()
        audio: int | None = None  # chunks of the second turn, once it is spoken
        # The loop ends when the server closes after Close.
        async for message in socket:
            first.append(message)
            kind = getattr(message, "type", None)
            if kind == "SpeechMetadata":
                await socket.send_flush()  # no turn to end: a Warning
            elif kind == "Warning":
                await socket.send_configure(SpeakV2Configure(speed=1.6))
            elif kind == "ConfigureFailure":
                await socket.send_configure(SpeakV2Configure(speed=1.25))
            elif kind == "ConfigureSuccess":
                await socket.send_speak(SpeakV2Speak(text=LONGER))
                audio = 0
            elif isinstance(message, bytes) and audio is not None:
                audio += 1
                if audio == 2:
                    offset = SpeakV2InterruptPlaybackOffset(value=2600)
                    await socket.send_interrupt(SpeakV2Interrupt(playback_offset=offset))
            elif kind == "SpeechInterrupted":
                await socket.send_close()
    second: list[Any] = []
    async with client.speak.v2.connect(model=MODEL) as socket:
        await socket.send_speak(SpeakV2Speak(text=PAUSED))
        try:
            async for message in socket:
                second.append(message)
        except Exception as exc:  # the SDK raises what websockets does for 1008
            second.append(exc)
    return first, second


def main() -> int:
    with fake_server_process() as url:
        sessions = asyncio.run(speak_v2_with_sdk(url))
    for number, messages in enumerate(sessions, 1):
        for message in messages:
            if isinstance(message, bytes):
                line: dict[str, Any] = {"audio_bytes": len(message)}
            elif isinstance(message, Exception):
                line = {"error": f"{type(message).__name__}: {message}"}
            else:
                line = {"class": type(message).__name__, **message.dict()}
            print(json.dumps({"session": number, **line}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
