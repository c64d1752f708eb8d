"""Transcribe a WAV file with live streaming, printing final transcripts.

    python examples/transcribe_file.py [FILE.wav]

With DEEPGRAM_API_KEY set this talks to Deepgram; without it, to dgtrio's fake
server, started in the same nursery (which replays a script instead of listening).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import trio

import dgtrio
from dgtrio.audio import WavSource
from dgtrio.testing import FakeDeepgram, ListenScript

AUDIO = Path(__file__).parent / "audio" / "hello.wav"


async def transcribe(path: Path, base_url: str | None) -> None:
    source = WavSource(path, speed=None)  # as fast as the connection takes it
    fmt = source.format
    options = dgtrio.ListenV1Options(
        model="nova-3",
        encoding=fmt.encoding,
        sample_rate=fmt.sample_rate,
        channels=fmt.channels,
        smart_format=True,
    )
    async with dgtrio.open_listen(options, audio=source, base_url=base_url) as conn:
        async for message in conn:
            if isinstance(message, dgtrio.ListenV1Results) and message.is_final:
                print(f"{message.start:6.2f}s  {message.transcript}")
            elif isinstance(message, dgtrio.ListenV1Metadata):
                print(f"done: {message.duration:.2f} s, request {message.request_id}")


async def main(path: Path) -> None:
    if os.environ.get("DEEPGRAM_API_KEY"):
        await transcribe(path, base_url=None)
        return
    print("DEEPGRAM_API_KEY is not set: using the fake server", file=sys.stderr)
    transcript = path.with_suffix(".txt")  # what the fake will "hear", if present
    script = ListenScript(transcript.read_text()) if transcript.exists() else ListenScript()
    fake = FakeDeepgram(listen_script=script)
    async with trio.open_nursery() as nursery:
        await nursery.start(fake.serve)
        await transcribe(path, base_url=fake.url)
        nursery.cancel_scope.cancel()


if __name__ == "__main__":
    trio.run(main, Path(sys.argv[1]) if len(sys.argv) > 1 else AUDIO)
