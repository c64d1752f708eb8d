"""Talk with a voice agent: the microphone in, the speaker out.

    python examples/agent_voice.py [--seconds N]

Needs PyAudio and the PortAudio library: pip install 'dgtrio[audio]', with
apt-get install portaudio19-dev (Debian/Ubuntu) or brew install portaudio (macOS).
Use headphones: an agent that hears itself takes its voice for yours and stops.
The agent greets you first; dgtrio plays its speech and cuts it short when you
speak. Runs until Ctrl-C, or for N seconds. With DEEPGRAM_API_KEY set this talks to
Deepgram; without it, to dgtrio's fake agent, which speaks a tone for its words and
"hears" a scripted line whenever the microphone gets loud.
"""

from __future__ import annotations

import argparse
import os
import sys

import trio

import dgtrio
from dgtrio import agent as ag
from dgtrio.audio import open_microphone, open_speaker
from dgtrio.testing import FakeDeepgram

SETTINGS = ag.AgentV1Settings(
    agent=ag.AgentConfig(
        listen=ag.Listen(provider=ag.DeepgramListenV1(model="nova-3")),
        think=ag.Think(
            provider=ag.OpenAiThink(model="gpt-4o-mini"),
            prompt="You are a friendly assistant. Answer in one or two short sentences.",
        ),
        speak=ag.Speak(provider=ag.DeepgramSpeak(model="aura-2-thalia-en")),
        greeting="Hello! How can I help?",
    ),
    audio=ag.AudioConfig(
        input=ag.AudioInput(encoding="linear16", sample_rate=16000),
        output=ag.AudioOutput(encoding="linear16", sample_rate=24000),
    ),
)


async def converse(seconds: float | None, base_url: str | None) -> None:
    with trio.CancelScope() as hang_up:  # cancelled: the speaker stops at once too
        async with (
            open_microphone(16000) as mic,
            open_speaker(24000) as speaker,
            dgtrio.open_agent(SETTINGS, audio=mic, speaker=speaker, base_url=base_url) as agent,
        ):
            if seconds is not None:
                hang_up.deadline = trio.current_time() + seconds
            async for message in agent:  # the speaker plays the agent's audio by itself
                if isinstance(message, dgtrio.AgentV1ConversationText):
                    print(f"{message.role}: {message.content}")
                elif isinstance(message, dgtrio.AgentV1UserStartedSpeaking):
                    print("  (you interrupt)")
    stats = mic.statistics()
    print(
        f"microphone: {stats.frames_captured} frames captured, {stats.frames_dropped} dropped; "
        f"speaker: {speaker.played_ms / 1000:.1f} s played",
        file=sys.stderr,
    )


async def main(seconds: float | None) -> None:
    if os.environ.get("DEEPGRAM_API_KEY"):
        await converse(seconds, base_url=None)
        return
    print("DEEPGRAM_API_KEY is not set: using the fake agent", file=sys.stderr)
    fake = FakeDeepgram()
    async with trio.open_nursery() as nursery:
        await nursery.start(fake.serve)
        await converse(seconds, base_url=fake.url)
        nursery.cancel_scope.cancel()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="Talk with a voice agent.")
    parser.add_argument("--seconds", type=float, help="hang up after this many seconds")
    args = parser.parse_args()
    try:
        trio.run(main, args.seconds)
    except* KeyboardInterrupt:
        pass  # Ctrl-C: hang up
