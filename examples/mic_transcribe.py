"""Live captions from the microphone, with streaming transcription.

    python examples/mic_transcribe.py [--device NAME|INDEX] [--seconds N]

Needs PyAudio and the PortAudio library: pip install 'dgtrio[audio]', with
apt-get install portaudio19-dev (Debian/Ubuntu) or brew install portaudio (macOS).
Runs until Ctrl-C, or for N seconds of audio, then prints the microphone's counters.
With DEEPGRAM_API_KEY set this talks to Deepgram; without it, to dgtrio's fake
server, started in the same nursery (which "hears" a scripted sentence, whatever
is said).
"""

from __future__ import annotations

import argparse
import os
import sys

import trio

import dgtrio
from dgtrio.audio import open_microphone
from dgtrio.testing import FakeDeepgram

OPTIONS = dgtrio.ListenV1Options(
    model="nova-3",
    encoding="linear16",
    sample_rate=16000,
    interim_results=True,
    punctuate=True,
    smart_format=True,
)
CLEAR_LINE = "\r\x1b[2K"


async def caption(device: int | str | None, seconds: float | None, base_url: str | None) -> None:
    live = sys.stdout.isatty()  # on a terminal, show interim results, overwritten
    async with open_microphone(16000, device=device) as mic:
        print(f"listening to {mic.device}", file=sys.stderr)
        try:
            # A few seconds of it, or all of it (until Ctrl-C); when a finite source
            # ends, CloseStream is sent and the final results come.
            audio = mic if seconds is None else mic.take(seconds)
            async with dgtrio.open_listen(OPTIONS, audio=audio, base_url=base_url) as conn:
                async for message in conn:
                    if not isinstance(message, dgtrio.ListenV1Results) or not message.transcript:
                        continue
                    if message.is_final:
                        print(CLEAR_LINE * live + message.transcript)
                    elif live:
                        print(f"{CLEAR_LINE}\x1b[2m{message.transcript}\x1b[0m", end="", flush=True)
        finally:
            stats = mic.statistics()
            print(
                f"{stats.frames_captured} frames captured, {stats.frames_dropped} dropped",
                file=sys.stderr,
            )


async def main(device: int | str | None, seconds: float | None) -> None:
    if os.environ.get("DEEPGRAM_API_KEY"):
        await caption(device, seconds, base_url=None)
        return
    print("DEEPGRAM_API_KEY is not set: using the fake server", file=sys.stderr)
    fake = FakeDeepgram()
    async with trio.open_nursery() as nursery:
        await nursery.start(fake.serve)
        await caption(device, seconds, base_url=fake.url)
        nursery.cancel_scope.cancel()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="Live captions from the microphone.")
    parser.add_argument("--device", help="input device: index or (part of) its name")
    parser.add_argument("--seconds", type=float, help="stop after this much audio")
    args = parser.parse_args()
    device = int(args.device) if args.device and args.device.isdigit() else args.device
    try:
        trio.run(main, device, args.seconds)
    except* KeyboardInterrupt:
        pass  # Ctrl-C: the counters are printed already
