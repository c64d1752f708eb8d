"""Flux TTS (/v2/speak) over real loopback WebSockets against the fake server."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any

import attrs
import pytest
import trio
import trio.testing

import dgtrio
from dgtrio import ConnectOptions
from dgtrio.audio import AudioFormat
from dgtrio.speak.v2._connection import SPEAK_V2
from dgtrio.speak.v2._playback import SpeakV2Adapter
from dgtrio.testing import FakeDeepgram, FakeSession, Fault, SpeakScript

from .conftest import API_KEY, SilentPeer, collect

THIRTY = "The quick brown fox jumps over"  # 30 characters: 2 s, 48000 samples at 24 kHz
CHUNK = 4800  # bytes in 100 ms of linear16 at 24 kHz
BYTES_PER_MS = 48


def speech_bytes(text: str, *, rate: int = 24000, width: int = 2, speed: float = 1.0) -> int:
    return round(SpeakScript().audio_seconds(text, speed) * rate) * width


def sent(session: FakeSession) -> list[Any]:
    """The client's messages as the server received them."""
    return session.messages


def types(messages: Sequence[object]) -> list[str]:
    """Class names, one ``SpeakV2Audio`` per run of audio."""
    names: list[str] = []
    for message in messages:
        name = type(message).__name__
        if not (name == "SpeakV2Audio" and names and names[-1] == name):
            names.append(name)
    return names


class tokens:
    """An async iterator of ``pieces``, one each ``every`` seconds (an LLM's tokens).

    Not an async generator: one left unfinished by a test needs no closing."""

    def __init__(self, *pieces: object, every: float = 0.0) -> None:
        self._pieces = list(pieces)
        self._every = every

    def __aiter__(self) -> tokens:
        return self

    async def __anext__(self) -> str:
        if not self._pieces:
            raise StopAsyncIteration
        await trio.sleep(self._every)
        return self._pieces.pop(0)  # type: ignore[return-value]


@attrs.define
class RecordingSink:
    """An AudioSink that records what it is given; ``clear()`` says ``unplayed_ms``
    were still queued."""

    format: AudioFormat = attrs.field(factory=lambda: AudioFormat("linear16", 24000))
    unplayed_ms: object = 0.0
    played: list[bytes] = attrs.Factory(list)
    clears: int = 0

    async def play(self, audio: bytes) -> None:
        self.played.append(audio)
        await trio.lowlevel.checkpoint()

    def clear(self) -> object:
        self.clears += 1
        return self.unplayed_ms

    @property
    def delivered_ms(self) -> int:
        return sum(map(len, self.played)) // BYTES_PER_MS


async def audio_until(tts: dgtrio.SpeakV2Connection, frames: int) -> list[object]:
    """Messages until ``frames`` audio frames were received."""
    seen: list[object] = []
    while sum(isinstance(m, dgtrio.SpeakV2Audio) for m in seen) < frames:
        seen.append(await tts.receive())
    return seen


# --- Options ---------------------------------------------------------------------------


def test_options_defaults_and_query() -> None:
    options = dgtrio.SpeakV2Options()
    assert (options.model, options.encoding, options.sample_rate) == (
        "flux-haley-en",
        "linear16",
        24000,
    )
    assert options.audio_format == AudioFormat("linear16", 24000)
    full = dgtrio.SpeakV2Options(
        model="flux-jack-en",
        encoding="linear16",
        sample_rate=44100,
        speed=0.85,
        expressivity=-2,
        mip_opt_out=True,
        tag=["a", "b c"],
        extra_query={"future": 1},
    )
    from dgtrio._codec import encode_query

    assert encode_query(full) == (
        "model=flux-jack-en&encoding=linear16&sample_rate=44100&speed=0.85&expressivity=-2"
        "&mip_opt_out=true&tag=a&tag=b+c&future=1"
    )


@pytest.mark.parametrize(
    ("fields", "error", "match"),
    [
        ({"model": "aura-2-thalia-en"}, dgtrio.ConfigurationError, "open_speak"),
        ({"model": "flux-haley"}, dgtrio.ConfigurationError, "flux-{voice}-{language}"),
        ({"model": "Flux-Haley-EN"}, dgtrio.ConfigurationError, "not a Flux voice"),
        ({"model": ""}, dgtrio.ConfigurationError, "model"),
        ({"encoding": "mp3"}, dgtrio.ConfigurationError, "encoding"),
        ({"encoding": "mulaw", "sample_rate": 24000}, dgtrio.ConfigurationError, "8000, 16000"),
        ({"sample_rate": 22050}, dgtrio.ConfigurationError, "44100"),
        ({"sample_rate": "24000"}, dgtrio.ConfigurationError, "positive integer"),
        ({"speed": 1.6}, dgtrio.ConfigurationError, "between 0.5 and 1.5"),
        ({"speed": 1.12}, dgtrio.ConfigurationError, "multiple of 0.05"),
        ({"speed": True}, dgtrio.ConfigurationError, "speed"),
        ({"expressivity": 3}, dgtrio.ConfigurationError, "between -2 and 2"),
        ({"expressivity": 0.5}, dgtrio.ConfigurationError, "expressivity"),
        ({"tag": "one"}, dgtrio.ConfigurationError, "one string"),
        ({"mip_opt_out": "yes"}, dgtrio.ConfigurationError, "mip_opt_out"),
        ({"voice": "x"}, TypeError, "voice"),
    ],
)
def test_options_are_validated(fields: dict[str, Any], error: type[Exception], match: str) -> None:
    with pytest.raises(error, match=match):
        dgtrio.SpeakV2Options(**fields)


def test_options_take_every_documented_value() -> None:
    for encoding, rates in (
        ("linear16", (8000, 16000, 24000, 32000, 44100, 48000)),
        ("mulaw", (8000, 16000)),
        ("alaw", (8000, 16000)),
    ):
        for rate in rates:
            dgtrio.SpeakV2Options(encoding=encoding, sample_rate=rate)  # type: ignore[arg-type]
    for step in range(21):
        dgtrio.SpeakV2Options(speed=0.5 + step * 0.05)
    dgtrio.SpeakV2Options(model="flux-haley-multi", expressivity=2)


async def test_open_is_refused_before_any_io(fake: FakeDeepgram, connect: ConnectOptions) -> None:
    with pytest.raises(TypeError, match="options must be SpeakV2Options, not SpeakV1Options"):
        dgtrio.open_flux_speak(dgtrio.SpeakV1Options(), **connect)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="speed is a field of SpeakV2Options"):
        dgtrio.open_flux_speak(speed=1.1, **connect)  # type: ignore[call-arg]
    with pytest.raises(dgtrio.AudioFormatError, match="declares linear16 at 24000 Hz"):
        dgtrio.open_flux_speak(speaker=RecordingSink(AudioFormat("linear16", 16000)), **connect)
    with pytest.raises(TypeError, match="speaker must be an audio sink"):
        dgtrio.open_flux_speak(speaker=object(), **connect)  # type: ignore[arg-type]
    assert fake.sessions == []


async def test_the_server_refuses_an_aura_voice(fake: FakeDeepgram) -> None:
    options = dgtrio.SpeakV2Options(extra_query={"model": "aura-2-thalia-en"})
    with pytest.raises(dgtrio.InvalidRequest, match="requires /v1/speak") as info:
        async with dgtrio.open_flux_speak(options, base_url=fake.url, api_key=API_KEY):
            pass
    assert info.value.status == 400


# --- Turns -----------------------------------------------------------------------------


async def test_a_turn_yields_its_audio_up_to_its_metadata(
    fake: FakeDeepgram, connect: ConnectOptions
) -> None:
    async with dgtrio.open_flux_speak(**connect) as tts:
        turn = tts.turn(THIRTY)
        assert turn.end_message is None
        chunks = [audio async for audio in turn]
        assert all(isinstance(c, dgtrio.SpeakV2Audio) for c in chunks)
        assert [len(c.data) for c in chunks] == [CHUNK] * 20
        # What came around the audio was kept for the iteration; the turn's metadata
        # was its end, and is the turn's.
        metadata = turn.end_message
        assert isinstance(metadata, dgtrio.SpeakV2SpeechMetadata)
        assert metadata.audio_duration_ms == 2000
        assert metadata.input_character_count == len(THIRTY)
        connected = await tts.receive()
        assert isinstance(connected, dgtrio.SpeakV2Connected)
        assert connected.request_id == tts.request_id
        assert connected.model_name == "flux-haley-en" and len(connected.model_uuids) == 1
        started = await tts.receive()
        assert isinstance(started, dgtrio.SpeakV2SpeechStarted)
        flushed = await tts.receive()
        assert flushed == dgtrio.SpeakV2Flushed(speech_id=started.speech_id)
        await tts.speak("Bye")
        second = b"".join([a.data async for a in tts.turn(", then.")])
        assert len(second) == speech_bytes("Bye, then.")
    session = fake.sessions[0]
    assert sent(session) == [
        {"type": "Speak", "text": THIRTY},
        {"type": "Flush"},
        {"type": "Speak", "text": "Bye"},
        {"type": "Speak", "text": ", then."},
        {"type": "Flush"},
    ]
    assert session.query == {
        "model": ["flux-haley-en"],
        "encoding": ["linear16"],
        "sample_rate": ["24000"],
    }


async def test_flush_returns_the_turns_metadata(
    fake: FakeDeepgram, connect: ConnectOptions, autojump_clock: trio.testing.MockClock
) -> None:
    options = dgtrio.SpeakV2Options(encoding="mulaw", sample_rate=8000, speed=1.5)
    async with dgtrio.open_flux_speak(options, **connect) as tts, trio.open_nursery() as nursery:
        received: list[object] = []
        nursery.start_soon(collect, tts, received)
        assert await tts.flush() is None  # no turn: nothing sent
        await tts.speak("Hello, ")
        await tts.speak("everyone!")
        metadata = await tts.flush()
        assert await tts.flush() is None
        nursery.cancel_scope.cancel()
    assert isinstance(metadata, dgtrio.SpeakV2SpeechMetadata)
    assert metadata.audio_duration_ms == 711  # 16 characters at 15 a second, 1.5 times faster
    assert (metadata.input_character_count, metadata.billable_character_count) == (16, 16)
    assert metadata.controls_applied == dgtrio.SpeakV2ControlsApplied()
    assert metadata.raw["type"] == "SpeechMetadata"
    # Flushed answers the Flush when the fake takes it: before, between or after the
    # turn's audio, as the two sides happen to be scheduled.
    kinds = types(received)
    assert kinds[:2] == ["SpeakV2Connected", "SpeakV2SpeechStarted"]
    assert kinds[-1] == "SpeakV2SpeechMetadata"
    assert kinds.count("SpeakV2Flushed") == 1 and "SpeakV2Audio" in kinds
    audio = b"".join(m.data for m in received if isinstance(m, dgtrio.SpeakV2Audio))
    assert len(audio) == speech_bytes("Hello, everyone!", rate=8000, width=1, speed=1.5)
    assert [m["type"] for m in sent(fake.sessions[0])] == ["Speak", "Speak", "Flush"]


async def test_close_lets_the_server_finish_and_report_the_session(
    fake: FakeDeepgram, connect: ConnectOptions
) -> None:
    async with dgtrio.open_flux_speak(**connect) as tts:
        await tts.speak(THIRTY)
        await tts.close()
        await tts.close()  # idempotent
        received = [message async for message in tts]
        for call in (tts.speak("more"), tts.flush(), tts.interrupt(), tts.configure(speed=1)):
            with pytest.raises(trio.ClosedResourceError, match="the stream was ended"):
                await call
        with pytest.raises(trio.ClosedResourceError):
            await tts.speak_stream(tokens("x"))
    assert types(received) == [
        "SpeakV2Connected",
        "SpeakV2SpeechStarted",
        "SpeakV2Audio",
        "SpeakV2SpeechMetadata",
        "SpeakV2SessionMetadata",
    ]
    assert received[-1] == dgtrio.SpeakV2SessionMetadata(
        total_audio_duration_ms=2000,
        total_input_character_count=30,
        total_billable_character_count=30,
    )
    session = fake.sessions[0]
    assert sent(session) == [{"type": "Speak", "text": THIRTY}, {"type": "Close"}]
    assert session.server_close == (1000, "")
    with pytest.raises(trio.ClosedResourceError):
        await tts.speak("after the block")


async def test_bad_text_is_refused_before_sending(
    fake: FakeDeepgram, connect: ConnectOptions
) -> None:
    async with dgtrio.open_flux_speak(**connect) as tts:
        with pytest.raises(ValueError, match="needs some text"):
            await tts.speak("")
        with pytest.raises(TypeError, match="takes a string, not bytes"):
            await tts.speak(b"bytes")  # type: ignore[arg-type]
        with pytest.raises(ValueError, match="at most 2000 characters"):
            await tts.speak("x" * 2001)
        for marker in (r"\{pause:1s\}", r"\{pause:500\}", "{pause:{duration_ms:500}}"):
            with pytest.raises(ValueError, match=r"pause marker.*DATA-0002"):
                await tts.speak(f"Wait {marker} now.")
        with pytest.raises(ValueError, match="pause marker"):
            tts.turn(r"\{pause:1.5s\}")
        with pytest.raises(TypeError, match="timeout is a number"):
            tts.turn("Hi", timeout="10")  # type: ignore[arg-type]
        with pytest.raises(TypeError, match="unexpected keyword"):
            await tts.speak("Hi", flush=True)  # type: ignore[call-arg]
        await tts.speak("{braces} are fine")
    assert sent(fake.sessions[0]) == [{"type": "Speak", "text": "{braces} are fine"}]


async def test_a_turn_without_text_needs_some_spoken_before(
    fake: FakeDeepgram, connect: ConnectOptions
) -> None:
    async with dgtrio.open_flux_speak(**connect) as tts:
        with pytest.raises(ValueError, match="nothing to say"):
            async for _ in tts.turn():
                pass
        await tts.speak("Hello.")
        assert [a async for a in tts.turn()]
    assert [m["type"] for m in sent(fake.sessions[0])] == ["Speak", "Flush"]


async def test_a_turn_left_early_drops_the_rest_of_its_audio(
    fake: FakeDeepgram, connect: ConnectOptions
) -> None:
    async with dgtrio.open_flux_speak(**connect) as tts:
        first = tts.turn(THIRTY)
        async for _ in first:
            break
        rest = [m async for m in tts.turn("Bye.")]
        assert first.end_message is None
        assert sum(len(a.data) for a in rest) == speech_bytes("Bye.")
        assert tts.audio_frames_discarded == 19


async def test_a_turn_an_interrupt_cuts_short_ends_with_the_interruption(
    fake: FakeDeepgram, connect: ConnectOptions, autojump_clock: trio.testing.MockClock
) -> None:
    async with dgtrio.open_flux_speak(**connect) as tts:
        turn = tts.turn(THIRTY)
        heard = 0
        async for _ in turn:
            heard += 1
            if heard == 3:
                interrupted = await tts.interrupt(250)
        assert heard == 3
        assert turn.end_message is interrupted
        assert isinstance(interrupted, dgtrio.SpeakV2SpeechInterrupted)


# --- Interrupt -------------------------------------------------------------------------


async def test_interrupt_cancels_the_turn_and_drops_the_audio_before_it(
    fake: FakeDeepgram, connect: ConnectOptions, autojump_clock: trio.testing.MockClock
) -> None:
    async with dgtrio.open_flux_speak(**connect) as tts, trio.open_nursery() as nursery:
        flushed: list[object] = []

        async def flush() -> None:
            flushed.append(await tts.flush())

        await tts.speak(THIRTY)
        nursery.start_soon(flush)
        await trio.sleep(0.055)  # five chunks arrived, none taken
        answer = await tts.interrupt(400)
        assert answer.audio_played_ms == 400
        assert (answer.text_spoken, answer.text_remaining) == ("The", " quick brown fox jumps over")
        assert answer.metadata.audio_duration_ms == 400
        await trio.testing.wait_all_tasks_blocked()
        assert flushed == [None]  # the interrupt ended the turn
        # Only what is not audio from before the interrupt is left.
        seen = [await tts.receive() for _ in range(4)]
        assert types(seen) == [
            "SpeakV2Connected",
            "SpeakV2SpeechStarted",
            "SpeakV2Flushed",
            "SpeakV2SpeechInterrupted",
        ]
        assert tts.audio_frames_discarded == 5
        # The next text is a new turn; its audio is the next audio delivered.
        await tts.speak("Sorry?")
        assert await tts.flush() is not None
        after: list[object] = []
        await collect(tts, after, until=lambda: types(after)[-1:] == ["SpeakV2SpeechMetadata"])
        assert types(after) == [
            "SpeakV2SpeechStarted",
            "SpeakV2Flushed",
            "SpeakV2Audio",
            "SpeakV2SpeechMetadata",
        ]
    assert [m["type"] for m in sent(fake.sessions[0])] == [
        "Speak",
        "Flush",
        "Interrupt",
        "Speak",
        "Flush",
    ]
    assert sent(fake.sessions[0])[2] == {
        "type": "Interrupt",
        "playback_offset": {"type": "time_ms", "value": 400},
    }


async def test_interrupt_offsets_must_advance(
    fake: FakeDeepgram, connect: ConnectOptions, autojump_clock: trio.testing.MockClock
) -> None:
    async with dgtrio.open_flux_speak(**connect) as tts:
        await tts.speak(THIRTY)
        await audio_until(tts, 5)
        with pytest.raises(TypeError, match="playback_offset_ms is an int, not float"):
            await tts.interrupt(1.5)  # type: ignore[arg-type]
        with pytest.raises(TypeError, match="not bool"):
            await tts.interrupt(True)
        with pytest.raises(ValueError, match="0 or more"):
            await tts.interrupt(-1)
        with pytest.raises(TypeError, match="timeout"):
            await tts.interrupt(timeout=None)  # type: ignore[arg-type]
        assert sent(fake.sessions[0]) == [{"type": "Speak", "text": THIRTY}]
        # Without an offset, the server says where it was: the next offset must pass it.
        answer = await tts.interrupt()
        assert answer.audio_played_ms == 500 and answer.text_spoken is None
        with pytest.raises(ValueError, match="does not advance past 500"):
            await tts.interrupt(500)
        await tts.speak("Again, once more.")
        await audio_until(tts, 3)
        second = await tts.interrupt(501)
        assert second.audio_played_ms == 501
    assert [m.get("playback_offset") for m in sent(fake.sessions[0])[1:]] == [
        None,  # the first Interrupt
        None,  # a Speak
        {"type": "time_ms", "value": 501},
    ]


async def test_an_ignored_interrupt_is_an_error_and_the_turn_goes_on(
    fake: FakeDeepgram, connect: ConnectOptions, autojump_clock: trio.testing.MockClock
) -> None:
    async with dgtrio.open_flux_speak(**connect) as tts:
        with pytest.raises(dgtrio.InterruptIgnored, match="NO_AUDIO_GENERATED") as info:
            await tts.interrupt()  # no audio yet
        assert info.value.code == "NO_AUDIO_GENERATED"
        assert isinstance(info.value.message, dgtrio.SpeakV2Warning)
        await tts.speak("Hello.")
        with pytest.raises(dgtrio.InterruptIgnored):
            await tts.interrupt(100)  # the turn's audio has not come yet
        # The turn is still open: the flush ends it, and its audio is delivered.
        metadata = await tts.flush()
        assert metadata is not None and metadata.audio_duration_ms == 400
        received: list[object] = []
        await collect(
            tts, received, until=lambda: types(received)[-1:] == ["SpeakV2SpeechMetadata"]
        )
        audio = [m for m in received if isinstance(m, dgtrio.SpeakV2Audio)]
        assert sum(len(a.data) for a in audio) == speech_bytes("Hello.")
        assert tts.audio_frames_discarded == 0
    assert [m["type"] for m in sent(fake.sessions[0])] == [
        "Interrupt",
        "Speak",
        "Interrupt",
        "Flush",
    ]


async def test_concurrent_interrupts_each_get_their_own_answer(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    fake = FakeDeepgram(speak_script=SpeakScript(interrupt_seconds=0.25))
    await nursery.start(fake.serve)
    outcomes: dict[str, object] = {}

    async def interrupt(name: str, offset: int | None) -> None:
        try:
            outcomes[name] = await tts.interrupt(offset)
        except dgtrio.InterruptIgnored as exc:
            outcomes[name] = exc.code

    async with dgtrio.open_flux_speak(base_url=fake.url) as tts:
        await tts.speak(THIRTY)
        await audio_until(tts, 5)
        async with trio.open_nursery() as both:
            both.start_soon(interrupt, "first", 300)
            await trio.testing.wait_all_tasks_blocked()
            both.start_soon(interrupt, "second", None)
        # The server answered the second at once, the first 0.25 s later.
        first = outcomes["first"]
        assert isinstance(first, dgtrio.SpeakV2SpeechInterrupted)
        assert first.audio_played_ms == 300
        assert outcomes["second"] == "INTERRUPT_IN_PROGRESS"


async def test_a_cancelled_interrupt_does_not_take_the_next_ones_answer(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    fake = FakeDeepgram(speak_script=SpeakScript(interrupt_seconds=0.25))
    await nursery.start(fake.serve)
    async with dgtrio.open_flux_speak(base_url=fake.url) as tts:
        await tts.speak(THIRTY)
        await audio_until(tts, 5)
        with trio.move_on_after(0.1):
            await tts.interrupt(300)
        # Sent while the first is handled: ignored, and told so.
        with pytest.raises(dgtrio.InterruptIgnored, match="INTERRUPT_IN_PROGRESS"):
            await tts.interrupt()
        await trio.sleep(0.2)  # the first's answer came, to nobody
        await tts.speak("Next turn.")
        await audio_until(tts, 1)
        answer = await tts.interrupt(350)  # past the first's 300
        assert answer.audio_played_ms == 350


async def test_interrupt_stops_a_stream_of_tokens(
    fake: FakeDeepgram, connect: ConnectOptions, autojump_clock: trio.testing.MockClock
) -> None:
    words = [f"word{index} " for index in range(100)]
    llm = tokens(*words, every=0.1)

    results: list[object] = []
    async with dgtrio.open_flux_speak(**connect) as tts, trio.open_nursery() as nursery:

        async def stream() -> None:
            results.append(await tts.speak_stream(llm))

        nursery.start_soon(stream)
        await audio_until(tts, 2)
        answer = await tts.interrupt()
        await trio.testing.wait_all_tasks_blocked()
        assert results == [None]
        assert answer.metadata.speech_id
    messages = sent(fake.sessions[0])
    assert [m["type"] for m in messages][-1] == "Interrupt"
    assert "Flush" not in [m["type"] for m in messages]
    read = words[: len(words) - len(llm._pieces)]
    assert "".join(m.get("text", "") for m in messages) == "".join(read)


# --- A speaker, and the offset taken from it ------------------------------------------


async def test_the_interrupt_offset_is_what_the_speaker_played(
    fake: FakeDeepgram, connect: ConnectOptions, autojump_clock: trio.testing.MockClock
) -> None:
    sink = RecordingSink(unplayed_ms=200.0)
    async with dgtrio.open_flux_speak(speaker=sink, **connect) as tts:
        await tts.speak(THIRTY)
        await audio_until(tts, 5)
        assert sink.delivered_ms == 500
        first = await tts.interrupt()  # 500 ms given to the speaker, 200 of them unplayed
        assert sink.clears == 1
        assert first.audio_played_ms == 300
        assert first.text_spoken == "The"
        # The next turn's audio follows the 300 ms played.
        async for _ in tts.turn("Sorry, say again?"):  # 17 characters: 1133 ms
            pass
        assert sink.delivered_ms == 500 + 1133  # and a third
        sink.unplayed_ms = 633.0
        second = await tts.interrupt()
        assert second.audio_played_ms == 800  # 300 + 1133.3 - 633, in whole ms
        assert (second.text_spoken, second.text_remaining) == ("Sorry,", " say again?")
        # An offset given wins; the speaker is cleared all the same.
        await tts.speak("Third.")
        await audio_until(tts, 1)
        third = await tts.interrupt(5000)
        assert third.audio_played_ms == 5000 and sink.clears == 3
    offsets = [
        m["playback_offset"]["value"] for m in sent(fake.sessions[0]) if "playback_offset" in m
    ]
    assert offsets == [300, 800, 5000]


@pytest.mark.parametrize("unplayed", [None, "soon", True, float("nan"), -1.0])
async def test_a_sink_that_cannot_say_is_taken_to_have_played_everything(
    fake: FakeDeepgram,
    connect: ConnectOptions,
    autojump_clock: trio.testing.MockClock,
    unplayed: object,
) -> None:
    sink = RecordingSink(unplayed_ms=unplayed)
    async with dgtrio.open_flux_speak(speaker=sink, **connect) as tts:
        await tts.speak(THIRTY)
        await audio_until(tts, 3)
        answer = await tts.interrupt()
    assert answer.audio_played_ms == 300 == sink.delivered_ms


async def test_nothing_played_since_the_last_interrupt_sends_no_offset(
    fake: FakeDeepgram, connect: ConnectOptions, autojump_clock: trio.testing.MockClock
) -> None:
    sink = RecordingSink()
    async with dgtrio.open_flux_speak(speaker=sink, **connect) as tts:
        await tts.speak(THIRTY)
        await audio_until(tts, 3)
        await tts.interrupt()
        again = await tts.interrupt()  # nothing new played: the server says where
    assert again.audio_played_ms == 300
    interrupts = [m for m in sent(fake.sessions[0]) if m["type"] == "Interrupt"]
    assert interrupts == [
        {"type": "Interrupt", "playback_offset": {"type": "time_ms", "value": 300}},
        {"type": "Interrupt"},
    ]


def test_the_adapter_rebases_the_playback_position() -> None:
    delivered = 0.0
    adapter = SpeakV2Adapter(lambda: 0, lambda: delivered)
    assert adapter.position_ms(0) == 0 and adapter.baseline_ms is None
    delivered = 1234.9
    assert adapter.position_ms(200) == 1034
    assert adapter.position_ms(5000) == 0  # never before where it started
    interrupted = SPEAK_V2.codec.decode(
        json.dumps(
            {
                "type": "SpeechInterrupted",
                "audio_played_ms": 900,
                "metadata": {
                    "speech_id": "dg_sp_000000000000",
                    "audio_duration_ms": 900,
                    "input_character_count": 1,
                    "billable_character_count": 1,
                    "controls_applied": {},
                },
            }
        )
    )
    adapter.on_message(interrupted)
    assert adapter.baseline_ms == 900
    assert adapter.position_ms(0) == 900
    delivered += 100
    assert adapter.position_ms(40) == 960
    assert SpeakV2Adapter(lambda: 0).position_ms(0) is None


# --- Configure ------------------------------------------------------------------------


async def test_configure_changes_the_speed(
    fake: FakeDeepgram, connect: ConnectOptions, autojump_clock: trio.testing.MockClock
) -> None:
    async with dgtrio.open_flux_speak(**connect) as tts:
        success = await tts.configure(speed=0.5)
        assert success.applied == dgtrio.SpeakV2ConfigureApplied(speed=0.5)
        audio = b"".join([a.data async for a in tts.turn(THIRTY)])
        assert len(audio) == speech_bytes(THIRTY, speed=0.5)
        assert (await tts.configure(speed=1)).applied.speed == 1.0
    assert sent(fake.sessions[0])[0] == {"type": "Configure", "speed": 0.5}


async def test_configure_failures_are_typed(fake: FakeDeepgram) -> None:
    options = dgtrio.SpeakV2Options(model="flux-sofia-es")
    async with dgtrio.open_flux_speak(options, base_url=fake.url, api_key=API_KEY) as tts:
        with pytest.raises(dgtrio.ConfigureFailed, match="speed: SPEED_NOT_SUPPORTED") as info:
            await tts.configure(speed=1.1)
    assert (info.value.code, info.value.field, info.value.value) == (
        "SPEED_NOT_SUPPORTED",
        "speed",
        None,
    )
    assert isinstance(info.value.message, dgtrio.SpeakV2ConfigureFailure)


async def test_configure_is_checked_before_sending(
    fake: FakeDeepgram, connect: ConnectOptions
) -> None:
    async with dgtrio.open_flux_speak(**connect) as tts:
        with pytest.raises(dgtrio.ConfigurationError, match=r"between 0\.5 and 1\.5"):
            await tts.configure(speed=2)
        with pytest.raises(dgtrio.ConfigurationError, match=r"multiple of 0\.05"):
            await tts.configure(speed=1.01)
        with pytest.raises(dgtrio.ConfigurationError, match="speed must be"):
            await tts.configure(speed="1")  # type: ignore[arg-type]
        with pytest.raises(TypeError, match="speed"):
            await tts.configure()  # type: ignore[call-arg]
        with pytest.raises(TypeError):
            await tts.configure(1.0)  # type: ignore[call-arg]
        with pytest.raises(ValueError, match="positive"):
            await tts.configure(speed=1, timeout=0)
    assert sent(fake.sessions[0]) == []


async def test_a_cancelled_configure_does_not_take_the_next_ones_answer(
    fake: FakeDeepgram, connect: ConnectOptions, autojump_clock: trio.testing.MockClock
) -> None:
    fake.fault_next(Fault("delay", seconds=0.5))
    async with dgtrio.open_flux_speak(**connect) as tts:
        with trio.move_on_after(0.2):
            await tts.configure(speed=0.8)
        answer = await tts.configure(speed=1.2)
        assert answer.applied.speed == 1.2
        async with trio.open_nursery() as both:
            answers: list[float | None] = []

            async def configure(speed: float) -> None:
                answers.append((await tts.configure(speed=speed)).applied.speed)

            both.start_soon(configure, 0.6)
            both.start_soon(configure, 0.7)
        assert sorted(a for a in answers if a is not None) == [0.6, 0.7]


async def test_pronunciation_with_a_speed_fails_the_connection(
    fake: FakeDeepgram, connect: ConnectOptions
) -> None:
    text = r'Take \{"word": "Azathioprine", "pronounce": "xx"\} twice.'
    async with dgtrio.open_flux_speak(**connect) as tts:
        await tts.configure(speed=1.1)
        await tts.speak(text)
        with pytest.raises(dgtrio.ServerError, match="DATA-0002") as info:
            async for _ in tts:
                pass
        assert info.value.code == "DATA-0002"
        assert isinstance(info.value.message, dgtrio.SpeakV2Error)
        with pytest.raises(dgtrio.ServerError):
            await tts.speak("again")
    assert fake.sessions[0].server_close == (1008, "DATA-0002")


# --- Streaming tokens ---------------------------------------------------------------


async def test_tokens_are_sent_in_batches(
    fake: FakeDeepgram, connect: ConnectOptions, autojump_clock: trio.testing.MockClock
) -> None:
    async with dgtrio.open_flux_speak(**connect) as tts, trio.open_nursery() as nursery:
        nursery.start_soon(collect, tts)
        start = trio.current_time()
        words = ["Sure", ",", " I", " can", " help", "", " you", " with", " that", "."]
        metadata = await tts.speak_stream(tokens(*words, every=0.02))
        nursery.cancel_scope.cancel()
    assert isinstance(metadata, dgtrio.SpeakV2SpeechMetadata)
    assert metadata.input_character_count == len("Sure, I can help you with that.")
    session = fake.sessions[0]
    speaks = [(round(f.time - start, 3), f.json()) for f in session.received]
    # The first token at once; then what came within each 50 ms, joined.
    assert speaks == [
        (0.02, {"type": "Speak", "text": "Sure"}),
        (0.07, {"type": "Speak", "text": ", I"}),
        (0.12, {"type": "Speak", "text": " can help"}),
        (0.17, {"type": "Speak", "text": " you with"}),
        (0.2, {"type": "Speak", "text": " that."}),
        (0.2, {"type": "Flush"}),
    ]


async def test_unbatched_tokens_go_one_by_one_and_long_ones_are_cut(
    fake: FakeDeepgram, connect: ConnectOptions, autojump_clock: trio.testing.MockClock
) -> None:
    long = "word " * 500  # 2500 characters
    async with dgtrio.open_flux_speak(**connect) as tts, trio.open_nursery() as nursery:
        nursery.start_soon(collect, tts)
        assert await tts.speak_stream(tokens("One.", " Two."), batch_seconds=0, flush=False) is None
        assert await tts.speak_stream(tokens(long)) is not None
        nursery.cancel_scope.cancel()
    texts = [m.get("text") for m in sent(fake.sessions[0])]
    assert texts == ["One.", " Two.", "word " * 400, "word " * 100, None]


async def test_speak_stream_misuse(fake: FakeDeepgram, connect: ConnectOptions) -> None:
    async def broken() -> AsyncIterator[str]:
        yield "Fine so far."
        raise RuntimeError("the LLM went away")

    async with dgtrio.open_flux_speak(**connect) as tts:
        with pytest.raises(TypeError, match="use speak\\(\\) for one string"):
            await tts.speak_stream("text")  # type: ignore[arg-type]
        with pytest.raises(TypeError, match="async iterable"):
            await tts.speak_stream(["a", "b"])  # type: ignore[arg-type]
        with pytest.raises(ValueError, match="batch_seconds"):
            await tts.speak_stream(tokens("a"), batch_seconds=-1)
        with pytest.raises(dgtrio.ConfigurationError, match="flush"):
            await tts.speak_stream(tokens("a"), flush="yes")  # type: ignore[arg-type]
        assert sent(fake.sessions[0]) == []
        with pytest.raises(TypeError, match="takes strings, not int"):
            await tts.speak_stream(tokens("a", 5))
        with pytest.raises(TypeError, match="takes strings, not int"):
            await tts.speak_stream(tokens("b", 5), batch_seconds=0)
        with pytest.raises(RuntimeError, match="went away"):
            await tts.speak_stream(broken())
        with pytest.raises(ValueError, match="pause marker"):
            await tts.speak_stream(tokens("Wait ", r"\{pause:1s\}"), batch_seconds=0)
        # What was sent stays in the open turn, which a flush ends.
        metadata = await tts.flush()
        assert metadata is not None
        assert metadata.input_character_count == len("abFine so far.Wait ")


async def test_a_cancelled_stream_leaves_its_text_in_the_open_turn(
    fake: FakeDeepgram, connect: ConnectOptions, autojump_clock: trio.testing.MockClock
) -> None:
    async with dgtrio.open_flux_speak(**connect) as tts:
        with trio.move_on_after(0.25):
            await tts.speak_stream(tokens("One", " two", " three", " four", every=0.1))
        metadata = await tts.flush()
        assert metadata is not None and metadata.input_character_count == len("One two")


# --- Decoding -------------------------------------------------------------------------

CONTROLS = {"pronunciations_applied": 2, "breaks_applied": 0, "pronunciation_warnings": 1}
TURN = {
    "speech_id": "dg_sp_a1b2c3d4e5f6",
    "audio_duration_ms": 3200,
    "input_character_count": 47,
    "billable_character_count": 45,
    "controls_applied": CONTROLS,
}


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        (
            {
                "type": "Connected",
                "request_id": "r",
                "model_name": "m",
                "model_version": "v",
                "model_uuids": ["u1", "u2"],
            },
            dgtrio.SpeakV2Connected("r", "m", "v", ("u1", "u2")),
        ),
        ({"type": "SpeechStarted", "speech_id": "s"}, dgtrio.SpeakV2SpeechStarted("s")),
        (
            {"type": "SpeechMetadata", **TURN},
            dgtrio.SpeakV2SpeechMetadata(
                "dg_sp_a1b2c3d4e5f6", 3200, 47, 45, dgtrio.SpeakV2ControlsApplied(2, 0, 1)
            ),
        ),
        (
            {
                "type": "SpeechInterrupted",
                "audio_played_ms": 2340,
                "text_spoken": "Sure,",
                "text_remaining": " no.",
                "metadata": TURN,
            },
            dgtrio.SpeakV2SpeechInterrupted(
                2340,
                dgtrio.SpeakV2TurnMetadata(
                    "dg_sp_a1b2c3d4e5f6", 3200, 47, 45, dgtrio.SpeakV2ControlsApplied(2, 0, 1)
                ),
                "Sure,",
                " no.",
            ),
        ),
        ({"type": "Flushed", "speech_id": "s"}, dgtrio.SpeakV2Flushed("s")),
        (
            {
                "type": "SessionMetadata",
                "total_audio_duration_ms": 1,
                "total_input_character_count": 2,
                "total_billable_character_count": 3,
            },
            dgtrio.SpeakV2SessionMetadata(1, 2, 3),
        ),
        (
            {"type": "ConfigureSuccess", "applied": {"speed": 1.25}},
            dgtrio.SpeakV2ConfigureSuccess(dgtrio.SpeakV2ConfigureApplied(1.25)),
        ),
        (
            {"type": "ConfigureSuccess", "applied": {}},
            dgtrio.SpeakV2ConfigureSuccess(dgtrio.SpeakV2ConfigureApplied(None)),
        ),
        (
            {
                "type": "ConfigureFailure",
                "code": "SPEED_OUT_OF_RANGE",
                "field": "speed",
                "value": 1.6,
                "description": "no",
            },
            dgtrio.SpeakV2ConfigureFailure("SPEED_OUT_OF_RANGE", "no", "speed", 1.6),
        ),
        (
            {"type": "ConfigureFailure", "code": "INTERNAL_ERROR", "description": "oops"},
            dgtrio.SpeakV2ConfigureFailure("INTERNAL_ERROR", "oops"),
        ),
        (
            {"type": "Warning", "code": "BRAND_NEW_CODE", "description": "d"},
            dgtrio.SpeakV2Warning("BRAND_NEW_CODE", "d"),
        ),
        (
            {"type": "Error", "code": "NET-0004", "description": "idle"},
            dgtrio.SpeakV2Error("NET-0004", "idle"),
        ),
    ],
)
def test_every_server_message_decodes_with_unknown_fields_kept(
    payload: dict[str, Any], expected: object
) -> None:
    frame = json.dumps({**payload, "added_later": {"x": 1}})
    message = SPEAK_V2.codec.decode(frame)
    assert message == expected
    assert message.raw == json.loads(frame)  # type: ignore[union-attr]


def test_unknown_types_binary_frames_and_broken_messages() -> None:
    codec = SPEAK_V2.codec
    unknown = codec.decode('{"type": "SpeechPaused", "speech_id": "s"}')
    assert unknown == dgtrio.UnknownMessage(
        "SpeechPaused", {"type": "SpeechPaused", "speech_id": "s"}
    )
    assert codec.decode(b"\x01\x02") == dgtrio.SpeakV2Audio(b"\x01\x02")
    with pytest.raises(
        dgtrio.MessageDecodeError, match=r"invalid SpeechMetadata.*audio_duration_ms"
    ):
        codec.decode('{"type": "SpeechMetadata", "speech_id": "s"}')
    with pytest.raises(dgtrio.MessageDecodeError, match="speak v2: not JSON"):
        codec.decode("{")
    assert repr(dgtrio.SpeakV2Audio(b"123")) == "SpeakV2Audio(data=<3 bytes>)"


async def test_unknown_messages_reach_the_iteration(
    fake: FakeDeepgram, connect: ConnectOptions
) -> None:
    async with dgtrio.open_flux_speak(**connect) as tts:
        session = (await fake.wait_for_sessions())[0]
        await session.send_json({"type": "SomethingNew", "n": 1})
        await session.send_text("not json")
        await session.send_json(
            {"type": "Warning", "code": "SYNTHESIS_RETRYING", "description": "x"}
        )
        seen: list[object] = []
        await collect(tts, seen, until=lambda: len(seen) == 4)
    assert isinstance(seen[0], dgtrio.SpeakV2Connected)
    assert seen[1] == dgtrio.UnknownMessage("SomethingNew", {"type": "SomethingNew", "n": 1})
    assert isinstance(seen[2], dgtrio.MessageDecodeError)
    assert seen[3] == dgtrio.SpeakV2Warning("SYNTHESIS_RETRYING", "x")


# --- Timeouts -------------------------------------------------------------------------


async def test_calls_time_out_without_an_answer(
    silent_peer: SilentPeer, autojump_clock: trio.testing.MockClock
) -> None:
    async with dgtrio.open_flux_speak(base_url=silent_peer.url) as tts:
        with pytest.raises(dgtrio.AcknowledgementTimeout, match="no audio or SpeechMetadata"):
            async for _ in tts.turn("Hi", timeout=5):
                pass
        await tts.speak("Hello.")
        with pytest.raises(dgtrio.AcknowledgementTimeout, match="no SpeechMetadata within 4 s"):
            await tts.flush(timeout=4)
        # That turn may still end, and its audio come: no turn() until then.
        with pytest.raises(trio.BusyResourceError, match="a turn flushed before"):
            async for _ in tts.turn("Hi"):
                pass
        with pytest.raises(
            dgtrio.AcknowledgementTimeout, match="no answer to Configure within 3 s"
        ):
            await tts.configure(speed=1, timeout=3)
        with pytest.raises(dgtrio.AcknowledgementTimeout, match="no SpeechInterrupted within 1 s"):
            await tts.interrupt(timeout=1)
        await tts.speak("More.")
        # A flush waits for the interrupt before it: it may have cancelled the turn.
        with pytest.raises(dgtrio.AcknowledgementTimeout, match="earlier Interrupt within 2 s"):
            await tts.flush(timeout=2)


# --- Barge-in edge cases --------------------------------------------------------------


async def test_audio_in_flight_when_interrupting_is_never_played(
    fake: FakeDeepgram, connect: ConnectOptions, autojump_clock: trio.testing.MockClock
) -> None:
    fake.fault_next(Fault("delay", seconds=0.1))  # each server frame takes 0.1 s to arrive
    sink = RecordingSink()
    async with dgtrio.open_flux_speak(speaker=sink, **connect) as tts:
        await tts.speak(THIRTY)
        await audio_until(tts, 3)  # the server has sent 10 more meanwhile
        await tts.interrupt()
        assert len(sink.played) == 3  # the chunks that arrived after the Interrupt were muted
        assert tts.audio_frames_discarded == 10
    assert len(fake.sessions[0].sent) > 14


async def test_an_unanswered_interrupt_lets_later_audio_through(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    fake = FakeDeepgram(speak_script=SpeakScript(interrupt_seconds=100))
    await nursery.start(fake.serve)
    async with dgtrio.open_flux_speak(base_url=fake.url) as tts:
        await tts.speak(THIRTY)
        await audio_until(tts, 2)
        with pytest.raises(dgtrio.AcknowledgementTimeout):
            await tts.interrupt(timeout=1)
        await fake.sessions[0].send_bytes(b"\x01\x00" * 240)
        later = await tts.receive()
        while not isinstance(later, dgtrio.SpeakV2Audio):
            later = await tts.receive()
        assert later.data == b"\x01\x00" * 240


async def test_a_speak_that_was_not_sent_leaves_no_turn_open(
    fake: FakeDeepgram, connect: ConnectOptions
) -> None:
    async with dgtrio.open_flux_speak(**connect) as tts:
        with trio.CancelScope() as scope:
            scope.cancel()
            await tts.speak("Never sent.")
        assert await tts.flush(timeout=1) is None
        with trio.CancelScope() as scope:
            scope.cancel()
            await tts.flush()
        await tts.speak("Sent.")
        with trio.CancelScope() as scope:
            scope.cancel()
            await tts.flush()  # not sent: the turn stays open
        assert await tts.flush() is not None
    assert sent(fake.sessions[0]) == [{"type": "Speak", "text": "Sent."}, {"type": "Flush"}]


async def test_concurrent_flushes_each_get_their_own_turn(
    fake: FakeDeepgram, connect: ConnectOptions, autojump_clock: trio.testing.MockClock
) -> None:
    ends: dict[str, object] = {}

    async def flush(name: str) -> None:
        ends[name] = await tts.flush()

    async with dgtrio.open_flux_speak(**connect) as tts, trio.open_nursery() as nursery:
        nursery.start_soon(collect, tts)
        async with trio.open_nursery() as both:
            await tts.speak(THIRTY)
            both.start_soon(flush, "first")
            await trio.testing.wait_all_tasks_blocked()
            await tts.speak("Two.")
            both.start_soon(flush, "second")
            both.start_soon(flush, "third")  # one of these two finds nothing left to end
        nursery.cancel_scope.cancel()
    first = ends["first"]
    [second] = [ends[n] for n in ("second", "third") if ends[n] is not None]
    assert isinstance(first, dgtrio.SpeakV2SpeechMetadata)
    assert isinstance(second, dgtrio.SpeakV2SpeechMetadata)
    assert (first.input_character_count, second.input_character_count) == (30, 4)
    assert [m["type"] for m in sent(fake.sessions[0])] == ["Speak", "Flush", "Speak", "Flush"]


async def test_a_cancelled_flush_does_not_take_the_next_ones_turn(
    fake: FakeDeepgram, connect: ConnectOptions, autojump_clock: trio.testing.MockClock
) -> None:
    async with dgtrio.open_flux_speak(**connect) as tts, trio.open_nursery() as nursery:
        nursery.start_soon(collect, tts)
        await tts.speak(THIRTY)  # 2 s of audio, synthesised in 0.2 s
        with trio.move_on_after(0.05):
            await tts.flush()
        await tts.speak("Two.")
        second = await tts.flush()
        nursery.cancel_scope.cancel()
    assert second is not None and second.input_character_count == 4


# --- Backpressure and cancellation in the middle ---------------------------------------
#
# The fake takes no client frame for STALL seconds: the socket's buffers fill, and with
# max_queued_frames=1 the next send waits. The clock stands still (mock_clock) until
# the test moves it, so that calls can be cancelled while their frames wait to go out.

STALL = 100.0
BIG = "word " * 399  # 1995 characters


@attrs.define
class Call:
    """A call run in a task of its own: its cancel scope, and how it ended."""

    scope: trio.CancelScope = attrs.Factory(trio.CancelScope)
    done: trio.Event = attrs.Factory(trio.Event)
    result: object = None
    error: Exception | None = None


async def _start(nursery: trio.Nursery, call: Callable[[], Awaitable[object]]) -> Call:
    """Run ``call()`` in a task of its own until it (and everything else) waits."""
    running = Call()

    async def run() -> None:
        with running.scope:
            try:
                running.result = await call()
            except Exception as exc:
                running.error = exc
        running.done.set()

    nursery.start_soon(run)
    await trio.testing.wait_all_tasks_blocked()
    return running


async def _backed_up(
    fake: FakeDeepgram, nursery: trio.Nursery, clock: trio.testing.MockClock
) -> dgtrio.SpeakV2Connection:
    """A connection iterated in a task, speaking a turn whose audio has begun, whose
    sends then wait: one ``Speak`` is left waiting in a task."""
    fake.fault_next(Fault("stall", at=0.5, seconds=STALL))
    tts: dgtrio.SpeakV2Connection = await nursery.start(_open_backed_up, fake)
    nursery.start_soon(_drain, tts)
    await tts.speak(THIRTY)
    for _ in range(5):  # the audio begins, then the stall
        clock.jump(0.1)
        await trio.testing.wait_all_tasks_blocked()
    while (await _start(nursery, lambda: tts.speak(BIG))).done.is_set():
        pass
    return tts


async def _open_backed_up(
    fake: FakeDeepgram, *, task_status: trio.TaskStatus[dgtrio.SpeakV2Connection]
) -> None:
    connect: ConnectOptions = {
        "base_url": fake.url,
        "api_key": API_KEY,
        "max_queued_frames": 1,
        "send_timeout": STALL * 10,  # the stall is no dead socket
    }
    async with dgtrio.open_flux_speak(**connect) as tts:
        task_status.started(tts)
        await trio.sleep_forever()


def _release(clock: trio.testing.MockClock) -> None:
    """End the stall, and let time run."""
    clock.jump(STALL)
    clock.autojump_threshold = 0


async def test_a_flush_cancelled_before_an_interrupt_went_out_leaves_no_turn_open(
    fake: FakeDeepgram, mock_clock: trio.testing.MockClock
) -> None:
    async with trio.open_nursery() as nursery:
        tts = await _backed_up(fake, nursery, mock_clock)
        flush = await _start(nursery, tts.flush)  # waits behind the Speak
        interrupt = await _start(nursery, tts.interrupt)
        flush.scope.cancel()  # the Flush never goes out; the Interrupt does, and ends the turn
        await trio.testing.wait_all_tasks_blocked()
        _release(mock_clock)
        await interrupt.done.wait()
        assert isinstance(interrupt.result, dgtrio.SpeakV2SpeechInterrupted), interrupt.error
        assert await tts.flush() is None  # no turn is open: nothing to flush
        await tts.speak("Bye.")
        metadata = await tts.flush()  # its own turn's end, not another's
        assert metadata is not None and metadata.input_character_count == 4
        nursery.cancel_scope.cancel()
    kinds = [m["type"] for m in sent(fake.sessions[0])]
    assert "Interrupt" in kinds and kinds.count("Flush") == 1  # only the last turn's


async def test_a_flush_waiting_on_an_interrupt_that_never_went_out_goes_on(
    fake: FakeDeepgram, mock_clock: trio.testing.MockClock
) -> None:
    async with trio.open_nursery() as nursery:
        tts = await _backed_up(fake, nursery, mock_clock)
        interrupt = await _start(nursery, tts.interrupt)  # its Interrupt waits
        flush = await _start(nursery, lambda: tts.flush(timeout=STALL * 2))
        interrupt.scope.cancel()  # never sent: the turn goes on, and the flush ends it
        await trio.testing.wait_all_tasks_blocked()
        _release(mock_clock)
        with trio.fail_after(1):  # not its whole timeout
            while "Flush" not in [m["type"] for m in sent(fake.sessions[0])]:  # noqa: ASYNC110
                await trio.sleep(0.01)
        assert not flush.done.is_set()  # the turn's end is a long way off
        nursery.cancel_scope.cancel()
    assert "Interrupt" not in [m["type"] for m in sent(fake.sessions[0])]


async def test_a_flush_whose_frame_waited_past_its_timeout_times_out(
    fake: FakeDeepgram, mock_clock: trio.testing.MockClock
) -> None:
    async with trio.open_nursery() as nursery:
        tts = await _backed_up(fake, nursery, mock_clock)
        flush = await _start(nursery, lambda: tts.flush(timeout=0.5))
        mock_clock.jump(1)  # past its deadline, still waiting to go out
        _release(mock_clock)
        await flush.done.wait()
        nursery.cancel_scope.cancel()
    assert isinstance(flush.error, dgtrio.AcknowledgementTimeout), flush.error
    assert "no SpeechMetadata within 0.5 s" in str(flush.error)


async def test_an_interrupt_cancelled_before_it_starts_does_nothing(
    fake: FakeDeepgram, connect: ConnectOptions, autojump_clock: trio.testing.MockClock
) -> None:
    sink = RecordingSink()
    async with dgtrio.open_flux_speak(speaker=sink, **connect) as tts:
        await tts.speak(THIRTY)
        await audio_until(tts, 5)
        with trio.CancelScope() as scope:
            scope.cancel()
            await tts.interrupt()
        assert sink.clears == 0 and tts.audio_frames_discarded == 0
        rest = await audio_until(tts, 15)  # the rest of the turn, all of it
        assert sum(isinstance(m, dgtrio.SpeakV2Audio) for m in rest) == 15
    assert "Interrupt" not in [m["type"] for m in sent(fake.sessions[0])]


async def test_close_stops_a_running_speak_stream(
    fake: FakeDeepgram, connect: ConnectOptions, autojump_clock: trio.testing.MockClock
) -> None:
    async with dgtrio.open_flux_speak(**connect) as tts, trio.open_nursery() as nursery:
        words = tokens(*[f"w{n} " for n in range(50)], every=0.1)
        nursery.start_soon(_drain, tts)
        failure: list[BaseException] = []

        async def stream() -> None:
            try:
                await tts.speak_stream(words, batch_seconds=0)
            except trio.ClosedResourceError as exc:
                failure.append(exc)

        nursery.start_soon(stream)
        await trio.sleep(1.05)
        await tts.close()
        await trio.sleep(1)
        assert failure, "speak_stream() went on after close()"
        nursery.cancel_scope.cancel()
    kinds = [m["type"] for m in sent(fake.sessions[0])]
    assert kinds[-1] == "Close" and kinds.count("Speak") == 10


async def test_two_speak_streams_at_once_are_refused(
    fake: FakeDeepgram, connect: ConnectOptions, autojump_clock: trio.testing.MockClock
) -> None:
    async with dgtrio.open_flux_speak(**connect) as tts, trio.open_nursery() as nursery:
        nursery.start_soon(_drain, tts)
        nursery.start_soon(tts.speak_stream, tokens("One, ", "two.", every=1))
        await trio.sleep(0.5)
        with pytest.raises(trio.BusyResourceError, match="another task"):
            await tts.speak_stream(tokens("Three."))
        await trio.sleep(3)
        nursery.cancel_scope.cancel()
    assert "".join(m.get("text", "") for m in sent(fake.sessions[0])) == "One, two."


async def _drain(tts: dgtrio.SpeakV2Connection) -> None:
    async for _ in tts:
        pass
