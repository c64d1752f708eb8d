"""Speak an LLM's answer as it is written, with Flux TTS: to the speaker, or to a WAV file.

    python examples/flux_speak_tokens.py [--play] [-o OUT.wav] [--seconds N]

A fake LLM (an async generator of words, a few dozen a second) stands in for a real
one. Its tokens go to the socket with ``speak_stream()``, which sends them as they
come (joined into small batches) and ends the turn; the speech streams back and is
played (``--play``; needs PyAudio and PortAudio) or written to the WAV file as it
arrives. With ``--seconds N`` the user "barges in" N seconds after the answer began:
``interrupt()`` stops the speech and says what was heard, from what the speaker
played, or from what the file holds. With DEEPGRAM_API_KEY set this talks to
Deepgram; without it, to dgtrio's fake server (which speaks a tone as long as the
words would take).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from pathlib import Path

import trio

import dgtrio
from dgtrio.audio import WavWriter, open_speaker
from dgtrio.testing import FakeDeepgram

ANSWER = (
    "Sure, I can help with that. Your order shipped this morning from our warehouse "
    "in Ohio, and it should arrive on Thursday afternoon. I'll send the tracking "
    "number to your email, so you can follow it along the way."
)
OPTIONS = dgtrio.SpeakV2Options(model="flux-haley-en", sample_rate=24000)


async def llm(answer: str) -> AsyncIterator[str]:
    """The answer, a word at a time, as a language model streams it (spaces kept)."""
    for index, word in enumerate(answer.split(" ")):
        await trio.sleep(0.03)
        yield word if index == 0 else f" {word}"


async def receive(tts: dgtrio.SpeakV2Connection, wav: WavWriter | None) -> None:
    """Everything the server sends, until it closes after ``close()``."""
    async for message in tts:  # a speaker given to open_flux_speak plays the audio itself
        if isinstance(message, dgtrio.SpeakV2Audio):
            if wav is not None:
                await trio.to_thread.run_sync(wav.write, message.data)
        elif isinstance(message, dgtrio.SpeakV2SessionMetadata):
            seconds = message.total_audio_duration_ms / 1000
            print(f"session: {seconds:.2f} s of audio, request {tts.request_id}")


async def speak(base_url: str | None, out: Path | None, play: bool, seconds: float | None) -> None:
    async with AsyncExitStack() as stack:
        speaker = None
        if play:
            speaker = await stack.enter_async_context(open_speaker(OPTIONS.sample_rate))
        wav = None
        if out is not None:
            wav = await trio.to_thread.run_sync(
                lambda: WavWriter(out, encoding=OPTIONS.encoding, sample_rate=OPTIONS.sample_rate)
            )
            stack.push_async_callback(trio.to_thread.run_sync, wav.close)
        tts = await stack.enter_async_context(
            dgtrio.open_flux_speak(OPTIONS, speaker=speaker, base_url=base_url)
        )
        async with trio.open_nursery() as nursery:
            nursery.start_soon(receive, tts, wav)
            too_late = trio.CancelScope()  # for the user to barge in
            async with trio.open_nursery() as answer:
                if seconds is not None:
                    answer.start_soon(barge_in, tts, wav, seconds, too_late)
                metadata = await tts.speak_stream(llm(ANSWER))
                if metadata is not None:
                    print(
                        f"turn {metadata.speech_id}: {metadata.audio_duration_ms / 1000:.2f} s "
                        f"of speech for {metadata.input_character_count} characters"
                    )
                if speaker is not None:
                    await speaker.drain()  # the user may barge in until it has been heard
                too_late.cancel()
            await tts.close()
    if wav is not None:
        print(f"wrote {out} ({wav.duration:.2f} s)")


async def barge_in(
    tts: dgtrio.SpeakV2Connection,
    wav: WavWriter | None,
    seconds: float,
    too_late: trio.CancelScope,
) -> None:
    """Interrupt the answer ``seconds`` after it began, as a user speaking over it,
    unless it has been heard by then (``too_late`` is cancelled)."""
    with too_late:
        await trio.sleep(seconds)
    if too_late.cancelled_caught:
        return
    # With a speaker, interrupt() asks it how much was played; a file has no playback:
    # what it holds stands for what was heard.
    offset = None if wav is None else round(wav.duration * 1000)
    try:
        heard = await tts.interrupt(offset)
    except dgtrio.InterruptIgnored as exc:  # nothing to interrupt yet, or any more
        print(f"interrupt ignored: {exc.code}")
        return
    print(f"interrupted at {heard.audio_played_ms / 1000:.2f} s: heard {heard.text_spoken!r}")


async def main(out: Path | None, play: bool, seconds: float | None) -> None:
    if os.environ.get("DEEPGRAM_API_KEY"):
        await speak(None, out, play, seconds)
        return
    print("DEEPGRAM_API_KEY is not set: using the fake server", file=sys.stderr)
    fake = FakeDeepgram()
    async with trio.open_nursery() as nursery:
        await nursery.start(fake.serve)
        await speak(fake.url, out, play, seconds)
        nursery.cancel_scope.cancel()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="Speak an LLM's streamed answer.")
    parser.add_argument("-o", "--output", type=Path, help="write the speech to this WAV file")
    parser.add_argument("--play", action="store_true", help="play the speech on the speaker")
    parser.add_argument("--seconds", type=float, help="barge in after this many seconds")
    args = parser.parse_args()
    if args.output is None and not args.play:
        args.output = Path("answer.wav")
    trio.run(main, args.output, args.play, args.seconds)
