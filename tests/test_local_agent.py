"""The local engine's voice agent: the user's speech (made by Debian's flite, not by
this project) recognised, a reply thought by a Python function or the script's rules,
a client tool called, and the reply spoken for real."""

from __future__ import annotations

import os
import shutil
import subprocess
import wave
from collections.abc import AsyncIterator
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import trio

import dgtrio
from dgtrio import agent as ag
from dgtrio.local import LocalDeepgram, Recognizer, Synthesizer
from dgtrio.local._audio import Decoder
from dgtrio.testing import AgentScript

if os.environ.get("CI") != "true":  # in CI a missing engine is a failure, not a skip
    pytest.importorskip("faster_whisper")
    pytest.importorskip("hibari")
    if shutil.which("flite") is None:
        pytest.skip("flite makes the test speech: apt-get install flite", allow_module_level=True)

pytestmark = pytest.mark.timeout(120)

RATE = 16000  # the agent's input and output


@cache
def models() -> tuple[Recognizer, Synthesizer]:
    """Loaded once for the module's servers."""
    return Recognizer(), Synthesizer()


def spoken(text: str, tmp: Path) -> bytes:
    """``text`` said by flite, as linear16 at 16 kHz, then a second of silence."""
    path = tmp / "said.wav"
    subprocess.run(["flite", "-t", text, "-o", str(path)], check=True)
    with wave.open(str(path)) as wav:
        rate, pcm = wav.getframerate(), wav.readframes(wav.getnframes())
    import numpy as np

    samples = Decoder("linear16", 1).decode(pcm)[0]
    positions = np.arange(int(len(samples) * RATE / rate)) * rate / RATE
    resampled = np.interp(positions, np.arange(len(samples)), samples)
    pcm16: bytes = (resampled * 32767).astype("<i2").tobytes()
    return pcm16 + bytes(2 * RATE)


async def paced(pcm: bytes) -> AsyncIterator[bytes]:
    """20 ms frames in real time, as a microphone sends them."""
    for start in range(0, len(pcm), 640):
        yield pcm[start : start + 640]
        await trio.sleep(0.02)


def settings(**agent: Any) -> ag.AgentV1Settings:
    return ag.AgentV1Settings(
        agent=ag.AgentConfig(
            listen=ag.Listen(provider=ag.DeepgramListenV1(model="nova-3")),
            think=ag.Think(provider=ag.OpenAiThink(model="gpt-4o-mini"), **agent),
            speak=ag.Speak(provider=ag.DeepgramSpeak(model="aura-2-thalia-en")),
        ),
        audio=ag.AudioConfig(
            input=ag.AudioInput(encoding="linear16", sample_rate=RATE),
            output=ag.AudioOutput(encoding="linear16", sample_rate=RATE),
        ),
    )


async def _turn(
    local: LocalDeepgram, config: ag.AgentV1Settings, pcm: bytes, **open_: Any
) -> tuple[list[Any], int]:
    """The messages of one spoken user turn, up to the agent's AgentAudioDone, and the
    bytes of speech the agent sent."""
    async with trio.open_nursery() as nursery:
        await nursery.start(local.serve)
        seen: list[Any] = []
        speech = 0
        async with dgtrio.open_agent(
            config, audio=paced(pcm), base_url=local.url, **open_
        ) as agent:
            async for message in agent:
                if isinstance(message, dgtrio.AgentV1Audio):
                    speech += len(message.data)
                    continue
                seen.append(message)
                if isinstance(message, dgtrio.AgentV1AgentAudioDone):
                    break
        nursery.cancel_scope.cancel()
    return seen, speech


def _words(text: str) -> list[str]:
    return "".join(c if c.isalnum() or c.isspace() else " " for c in text.lower()).split()


async def test_a_spoken_turn_is_heard_and_answered_by_the_think_function(
    tmp_path: Path,
) -> None:
    heard: list[str] = []

    def think(text: str) -> str:
        heard.append(text)
        return "Thank you, that is all I needed."

    recognizer, synthesizer = models()
    local = LocalDeepgram(think=think, recognizer=recognizer, synthesizer=synthesizer)
    question = "Please tell me the time of the next train to Boston"
    seen, speech = await _turn(local, settings(), spoken(question, tmp_path))
    texts = [m for m in seen if isinstance(m, dgtrio.AgentV1ConversationText)]
    (user,) = [m for m in texts if m.role == "user"]
    assert _words(user.content) == _words(question)  # flite speech, clearly heard
    assert heard == [user.content]
    (reply,) = [m for m in texts if m.role == "assistant"]
    assert reply.content == "Thank you, that is all I needed."
    kinds = [type(m).__name__ for m in seen]
    assert kinds.index("AgentV1UserStartedSpeaking") < kinds.index("AgentV1ConversationText")
    # The reply is spoken: as long as the synthesiser makes it, at the output rate.
    said = synthesizer.synthesize(reply.content)
    assert speech == 2 * round(len(said) * RATE / 24000)


async def test_an_async_think_function_replies_too(tmp_path: Path) -> None:
    async def think(text: str) -> str:
        await trio.lowlevel.checkpoint()
        return f"You said {len(text.split())} words."

    recognizer, synthesizer = models()
    local = LocalDeepgram(think=think, recognizer=recognizer, synthesizer=synthesizer)
    seen, _ = await _turn(local, settings(), spoken("One two three four five", tmp_path))
    replies = [m.content for m in seen if isinstance(m, dgtrio.AgentV1ConversationText)]
    assert replies[-1] == "You said 5 words."


async def test_without_a_think_function_the_script_calls_the_clients_tool(tmp_path: Path) -> None:
    tools = dgtrio.ToolRegistry()

    @tools.register
    async def get_weather(city: str) -> str:
        """The weather in a city."""
        return f"sunny in {city}"

    recognizer, synthesizer = models()
    local = LocalDeepgram(
        recognizer=recognizer, synthesizer=synthesizer, agent_script=AgentScript()
    )
    seen, speech = await _turn(
        local, settings(), spoken("What is the weather in Paris", tmp_path), tools=tools
    )
    (request,) = [m for m in seen if isinstance(m, dgtrio.AgentV1FunctionCallRequest)]
    assert request.functions[0].name == "get_weather"
    (result,) = [m for m in seen if isinstance(m, dgtrio.ToolResult)]
    assert result.status == "ok" and result.content == "sunny in Paris"
    replies = [m.content for m in seen if isinstance(m, dgtrio.AgentV1ConversationText)]
    assert replies[-1] == "Here is the weather: sunny in Paris"
    assert speech > RATE  # more than half a second of it


async def test_silence_gets_no_answer(tmp_path: Path) -> None:
    recognizer, synthesizer = models()
    local = LocalDeepgram(think=lambda text: "no", recognizer=recognizer, synthesizer=synthesizer)
    async with trio.open_nursery() as nursery:
        await nursery.start(local.serve)
        async with dgtrio.open_agent(
            settings(), audio=paced(bytes(2 * RATE * 2)), base_url=local.url
        ) as agent:
            seen = []
            with trio.move_on_after(3):
                async for message in agent:
                    seen.append(message)
            assert not [m for m in seen if isinstance(m, dgtrio.AgentV1ConversationText)]
        nursery.cancel_scope.cancel()
