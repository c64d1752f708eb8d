"""Turn-based transcription with Flux: print each turn as the speaker finishes it.

    python examples/flux_turns.py [FILE.wav] [--fast]

The WAV file is streamed at real time (``--fast``: as fast as possible), followed by
a second of silence so that the last turn ends. Eager end of turn is on: a voice
agent would start its reply at "eager" and drop it at "resumed"; this prints them.
With DEEPGRAM_API_KEY set this talks to Deepgram; without it, to dgtrio's fake
server, which hears when the audio is loud or quiet and "says" the sentences of
FILE.txt, one per turn.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import trio

import dgtrio
from dgtrio.audio import WavSource
from dgtrio.testing import FakeDeepgram, FluxScript

AUDIO = Path(__file__).parent / "audio" / "hello.wav"


async def with_trailing_silence(source: WavSource, seconds: float) -> AsyncIterator[bytes]:
    async for frame in source:
        yield frame
    yield bytes(source.format.frame_bytes(round(seconds * 1000)))


async def turns(path: Path, base_url: str | None, speed: float | None) -> None:
    source = WavSource(path, speed=speed)
    fmt = source.format
    options = dgtrio.ListenV2Options(
        encoding=fmt.encoding, sample_rate=fmt.sample_rate, eager_eot_threshold=0.5
    )
    audio = with_trailing_silence(source, 1.0)
    async with dgtrio.open_flux_listen(options, audio=audio, base_url=base_url) as flux:
        async for turn in flux.turns(eager=True):
            label = {"EagerEndOfTurn": "eager", "TurnResumed": "resumed"}.get(turn.event, "final")
            print(f"[{turn.start:5.2f}-{turn.end:5.2f}] turn {turn.turn_index} {label}: ", end="")
            print(turn.transcript if turn.event != "TurnResumed" else "(still talking)")


async def main(path: Path, speed: float | None) -> None:
    if os.environ.get("DEEPGRAM_API_KEY"):
        await turns(path, None, speed)
        return
    print("DEEPGRAM_API_KEY is not set: using the fake server", file=sys.stderr)
    text = path.with_suffix(".txt")
    sentences = re.split(r"(?<=[.!?])\s+", text.read_text().strip()) if text.exists() else []
    # The recording pauses only briefly between sentences: the fake ends turns sooner.
    script = FluxScript(
        turns=sentences or FluxScript().turns, words_per_second=4, end_of_turn_silence=0.35
    )
    fake = FakeDeepgram(flux_script=script)
    async with trio.open_nursery() as nursery:
        await nursery.start(fake.serve)
        await turns(path, fake.url, speed)
        nursery.cancel_scope.cancel()


if __name__ == "__main__":
    args = [arg for arg in sys.argv[1:] if arg != "--fast"]
    trio.run(main, Path(args[0]) if args else AUDIO, None if "--fast" in sys.argv else 1.0)
