"""Synthesise a few sentences with streaming text-to-speech and save them as WAV.

    python examples/speak_to_wav.py [OUT.wav]

Each sentence is sent as it is "written" (as an LLM would produce it) and flushed;
its audio is appended to the file as it streams in. With DEEPGRAM_API_KEY set this
talks to Deepgram; without it, to dgtrio's fake server (which speaks a tone as long
as the words would take).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import trio

import dgtrio
from dgtrio.audio import WavWriter
from dgtrio.testing import FakeDeepgram

SENTENCES = [
    "Thanks for calling.",
    "Your order shipped this morning and should arrive on Thursday.",
    "Is there anything else I can help with?",
]


async def synthesise(out: Path, base_url: str | None) -> None:
    options = dgtrio.SpeakV1Options(model="aura-2-thalia-en", sample_rate=24000)
    async with dgtrio.open_speak(options, base_url=base_url) as tts:
        wav = await trio.to_thread.run_sync(
            lambda: WavWriter(out, encoding=options.encoding, sample_rate=options.sample_rate)
        )
        try:
            for sentence in SENTENCES:
                async for audio in tts.utterance(sentence):
                    await trio.to_thread.run_sync(wav.write, audio.data)
                print(f"{wav.duration:5.2f}s  {sentence}")
        finally:
            await trio.to_thread.run_sync(wav.close)
    print(f"wrote {out} ({wav.duration:.2f} s, request {tts.request_id})")


async def main(out: Path) -> None:
    if os.environ.get("DEEPGRAM_API_KEY"):
        await synthesise(out, base_url=None)
        return
    print("DEEPGRAM_API_KEY is not set: using the fake server", file=sys.stderr)
    fake = FakeDeepgram()
    async with trio.open_nursery() as nursery:
        await nursery.start(fake.serve)
        await synthesise(out, base_url=fake.url)
        nursery.cancel_scope.cancel()


if __name__ == "__main__":
    trio.run(main, Path(sys.argv[1]) if len(sys.argv) > 1 else Path("speech.wav"))
