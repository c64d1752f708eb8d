"""The fake server's Flux TTS behaviour (/v2/speak), spoken to in raw JSON over loopback."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
import trio
import trio.testing
import trio_websocket

from dgtrio.testing import FakeDeepgram, SpeakScript
from dgtrio.testing._sound import tone

from .conftest import API_KEY
from .test_fake_speak import (
    HEADERS,
    THIRTY,
    Client,
    audio_of,
    kind_of,
    received_at,
    refused,
    sent_times,
)

HELLO = "Hello, everyone!"  # 16 characters: 25600 samples at 24 kHz, 10 chunks and 1600
CHUNK = 4800  # bytes in 100 ms of linear16 at 24 kHz


@asynccontextmanager
async def flux(fake: FakeDeepgram, query: str = "model=flux-haley-en") -> AsyncIterator[Client]:
    """A client of ``/v2/speak?query`` that got its ``Connected``."""
    stream = await trio.open_tcp_stream(fake.host, fake.port)
    try:
        async with trio.open_nursery() as nursery:
            ws = await trio_websocket.wrap_client_stream(
                nursery, stream, fake.host, f"/v2/speak?{query}", extra_headers=HEADERS
            )
            client = Client(ws)
            client.metadata = await client.receive()
            assert client.metadata["type"] == "Connected"
            yield client
            await ws.aclose()
    finally:
        await trio.aclose_forcefully(stream)


async def serve(nursery: trio.Nursery, script: SpeakScript) -> FakeDeepgram:
    fake = FakeDeepgram(api_key=API_KEY, speak_script=script)
    await nursery.start(fake.serve)
    return fake


def kinds(messages: list[Any]) -> list[str]:
    """Message types in order, with one "audio" per run of chunks."""
    names: list[str] = []
    for message in messages:
        name = kind_of(message)
        if not (name == "audio" and names and names[-1] == "audio"):
            names.append(name)
    return names


def chunk_sizes(messages: list[Any]) -> list[int]:
    return [len(m) for m in messages if isinstance(m, bytes)]


CONTROLS = {"pronunciations_applied": 0, "breaks_applied": 0, "pronunciation_warnings": 0}


# --- The handshake and Connected ------------------------------------------------------


async def test_connected_comes_first_and_names_the_model(fake: FakeDeepgram) -> None:
    async with flux(fake, "model=flux-alexis-en") as client:
        connected = client.metadata
    session = fake.sessions[0]
    assert connected == {
        "type": "Connected",
        "request_id": session.request_id,
        "model_name": "flux-alexis-en",
        "model_version": "fake",
        "model_uuids": [str(uuid.uuid5(uuid.NAMESPACE_URL, "dgtrio-fake/flux-alexis-en"))],
    }
    assert session.sent[0].json() == connected
    assert session.path == "/v2/speak"


@pytest.mark.parametrize(
    ("query", "code", "hint"),
    [
        ("", "INVALID_QUERY_PARAMETER", "model is required"),
        ("model=aura-2-thalia-en", "V1_MODEL_ON_V2_SPEAK_ENDPOINT", "/v1/speak"),
        ("model=nova-3", "INVALID_QUERY_PARAMETER", "flux-{voice}-{language}"),
        ("model=flux-haley", "INVALID_QUERY_PARAMETER", "flux-haley"),
        ("model=flux-haley-en&container=wav", "INVALID_QUERY_PARAMETER", "'container'"),
        ("model=flux-haley-en&bit_rate=48000", "INVALID_QUERY_PARAMETER", "'bit_rate'"),
        ("model=flux-haley-en&encoding=mp3", "INVALID_QUERY_PARAMETER", "mp3"),
        ("model=flux-haley-en&sample_rate=22050", "INVALID_QUERY_PARAMETER", "22050"),
        (
            "model=flux-haley-en&encoding=mulaw&sample_rate=44100",
            "INVALID_QUERY_PARAMETER",
            "mulaw",
        ),
        ("model=flux-haley-en&speed=fast", "INVALID_QUERY_PARAMETER", "speed"),
        ("model=flux-haley-en&speed=1.6", "SPEED_OUT_OF_RANGE", "0.5 and 1.5"),
        ("model=flux-haley-en&speed=0.47", "SPEED_OUT_OF_RANGE", "0.5 and 1.5"),
        ("model=flux-haley-en&speed=1.12", "SPEED_INCREMENT_INVALID", "0.05"),
        ("model=flux-sofia-es&speed=1.1", "SPEED_NOT_SUPPORTED", "'es'"),
        ("model=flux-haley-en&expressivity=3", "EXPRESSIVITY_OUT_OF_RANGE", "-2 and 2"),
        ("model=flux-haley-en&expressivity=0.5", "EXPRESSIVITY_INCREMENT_INVALID", "whole"),
        ("model=flux-haley-en&expressivity=lots", "INVALID_QUERY_PARAMETER", "lots"),
        ("model=flux-haley-en&mip_opt_out=yes", "INVALID_QUERY_PARAMETER", "mip_opt_out"),
    ],
)
async def test_bad_parameters_refuse_the_upgrade(
    fake: FakeDeepgram, query: str, code: str, hint: str
) -> None:
    rejection = await refused(fake, query, "/v2/speak")
    assert rejection.status_code == 400
    assert rejection.body is not None
    body = json.loads(rejection.body)
    assert (body["err_code"], hint in body["err_msg"]) == (code, True), body
    assert dict(rejection.headers)[b"dg-error"].decode() == body["err_msg"]
    assert fake.sessions == []


@pytest.mark.parametrize(
    "query",
    [
        "model=flux-haley-en&encoding=linear16&sample_rate=44100&speed=0.5&mip_opt_out=true",
        "model=flux-cole-en&encoding=mulaw&sample_rate=16000&speed=1.45&expressivity=-2",
        "model=flux-jack-en&encoding=alaw&sample_rate=8000&expressivity=2&tag=a&tag=b",
        "model=flux-sofia-es&sample_rate=48000",
        "model=flux-haley-multi",
    ],
)
async def test_good_parameters_are_accepted(fake: FakeDeepgram, query: str) -> None:
    async with flux(fake, query):
        pass
    assert len(fake.sessions) == 1


# --- Turns ----------------------------------------------------------------------------


async def test_a_turn_streams_as_its_text_arrives_and_ends_with_its_metadata(
    fake: FakeDeepgram, autojump_clock: trio.testing.MockClock
) -> None:
    async with flux(fake) as client:
        await client.speak("Hello, ")
        await client.speak("everyone!")
        # Whole chunks stream before the turn is flushed; the rest waits for it.
        before = await client.collect(lambda got: len(chunk_sizes(got)) == 10)
        await trio.sleep(1)
        await client.flush()
        after = await client.until("SpeechMetadata")
    assert kinds(before) == ["SpeechStarted", "audio"]
    speech_id = before[0]["speech_id"]
    assert re.fullmatch(r"dg_sp_[0-9a-f]{12}", speech_id)
    assert kinds(after) == ["Flushed", "audio", "SpeechMetadata"]
    assert after[0] == {"type": "Flushed", "speech_id": speech_id}
    assert chunk_sizes(before) == [CHUNK] * 10 and chunk_sizes(after) == [3200]
    assert audio_of(before + after) == tone(25600 / 24000, "linear16", 24000)
    assert after[-1] == {
        "type": "SpeechMetadata",
        "speech_id": speech_id,
        "audio_duration_ms": 1067,
        "input_character_count": 16,
        "billable_character_count": 16,
        "controls_applied": CONTROLS,
    }
    session = fake.sessions[0]
    speak, flush = received_at(session, "Speak"), received_at(session, "Flush")
    # Ten times faster than real time, from the first Speak; the last piece after the
    # Flush, as fast.
    times = [t - speak for t in sent_times(session, "audio")]
    assert times[:10] == pytest.approx([i / 100 for i in range(1, 11)])
    assert times[10] == pytest.approx(flush - speak + 1600 / 240000)
    assert flush - speak == pytest.approx(1.1)


async def test_text_after_a_flush_waits_behind_the_active_turn(
    fake: FakeDeepgram, autojump_clock: trio.testing.MockClock
) -> None:
    async with flux(fake) as client:
        await client.speak(HELLO)
        await client.flush()
        await client.speak("Bye.")  # 4 characters: 6400 samples
        await client.flush()
        messages = await client.until("SpeechMetadata")
        messages += await client.until("SpeechMetadata")
    # Flushed as soon as the turn is active: its text is complete.
    assert kinds(messages) == ["SpeechStarted", "Flushed", "audio", "SpeechMetadata"] * 2
    first, second = (m["speech_id"] for m in messages if kind_of(m) == "SpeechStarted")
    assert first != second
    assert [m["audio_duration_ms"] for m in messages if kind_of(m) == "SpeechMetadata"] == [
        1067,
        267,
    ]
    assert audio_of(messages) == tone(32000 / 24000, "linear16", 24000)


async def test_a_flush_without_a_turn_is_a_warning(
    fake: FakeDeepgram, autojump_clock: trio.testing.MockClock
) -> None:
    async with flux(fake) as client:
        await client.flush()
        warning = await client.receive()
        await client.speak("Hi.")
        await client.flush()
        await client.flush()  # the turn was flushed already
        messages = await client.until("SpeechMetadata")
    no_turn = {
        "type": "Warning",
        "code": "NO_ACTIVE_SPEECH",
        "description": "There is no active turn. The request will be ignored.",
    }
    assert warning == no_turn
    assert no_turn in messages
    assert kinds([m for m in messages if m != no_turn]) == [
        "SpeechStarted",
        "Flushed",
        "audio",
        "SpeechMetadata",
    ]


async def test_a_turn_with_nothing_to_say_ends_at_zero_length(
    fake: FakeDeepgram, autojump_clock: trio.testing.MockClock
) -> None:
    async with flux(fake) as client:
        await client.speak(" ... ")
        await client.flush()
        messages = await client.until("SpeechMetadata")
    assert kinds(messages) == ["SpeechStarted", "Flushed", "Warning", "SpeechMetadata"]
    assert messages[2]["code"] == "NO_SYNTHESIZABLE_TEXT"
    assert messages[3]["audio_duration_ms"] == 0
    assert messages[3]["input_character_count"] == 5


async def test_the_speed_parameter_changes_the_length(
    fake: FakeDeepgram, autojump_clock: trio.testing.MockClock
) -> None:
    async with flux(fake, "model=flux-haley-en&speed=1.5&encoding=mulaw") as client:
        await client.speak(THIRTY)  # 2 s at speed 1
        await client.flush()
        messages = await client.until("SpeechMetadata")
    assert len(audio_of(messages)) == round(8000 * 2 / 1.5)
    assert messages[-1]["audio_duration_ms"] == 1333


# --- Interrupt --------------------------------------------------------------------------


async def test_an_interrupt_splits_the_turn_where_playback_was(
    fake: FakeDeepgram, autojump_clock: trio.testing.MockClock
) -> None:
    async with flux(fake) as client:
        await client.speak(THIRTY)  # 2 s of audio
        await client.speak(" the lazy dog.")  # 14 more: 44 characters, 2.93 s
        await client.collect(lambda got: len(chunk_sizes(got)) == 5)  # 0.5 s generated
        await client.send(
            {"type": "Interrupt", "playback_offset": {"type": "time_ms", "value": 400}}
        )
        answer = await client.until("SpeechInterrupted")
        speech_id = fake.sessions[0].sent[1].json()["speech_id"]
        # The next text opens a new turn, whose audio follows the 400 ms played.
        await client.speak("Sorry?")
        await client.flush()
        after = await client.until("SpeechMetadata")
        await client.send({"type": "Close"})
        end, close = await client.until_closed()
    assert kinds(answer) == ["SpeechInterrupted"]  # no audio after the Interrupt
    # 400 ms of 2933: 13.6 % of 44 characters is 6, moved back to the word's start.
    assert answer[0] == {
        "type": "SpeechInterrupted",
        "audio_played_ms": 400,
        "text_spoken": "The",
        "text_remaining": " quick brown fox jumps over the lazy dog.",
        "metadata": {
            "speech_id": speech_id,
            "audio_duration_ms": 400,
            "input_character_count": 44,
            "billable_character_count": 44,
            "controls_applied": CONTROLS,
        },
    }
    assert kinds(after) == ["SpeechStarted", "Flushed", "audio", "SpeechMetadata"]
    assert after[-1]["audio_duration_ms"] == 400  # 6 characters
    assert end == [
        {
            "type": "SessionMetadata",
            "total_audio_duration_ms": 800,  # rebased onto what was played
            "total_input_character_count": 50,
            "total_billable_character_count": 50,
        }
    ]
    assert close[0] == 1000


async def test_an_interrupt_without_an_offset_reports_the_audio_generated(
    fake: FakeDeepgram, autojump_clock: trio.testing.MockClock
) -> None:
    async with flux(fake) as client:
        await client.speak(THIRTY)
        await client.flush()
        await client.speak("Waiting behind.")
        await client.flush()
        await client.collect(lambda got: len(chunk_sizes(got)) == 7)
        await client.send({"type": "Interrupt"})
        [answer] = await client.until("SpeechInterrupted")
        await client.send({"type": "Flush"})  # both turns are gone
        warning = await client.receive()
    assert answer["audio_played_ms"] == 700
    assert "text_spoken" not in answer and "text_remaining" not in answer
    assert answer["metadata"]["audio_duration_ms"] == 700
    assert warning["code"] == "NO_ACTIVE_SPEECH"


async def test_interrupts_that_are_ignored(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    fake = await serve(nursery, SpeakScript(interrupt_seconds=0.25))
    interrupt = {"type": "Interrupt", "playback_offset": {"type": "time_ms", "value": 300}}
    async with flux(fake) as client:
        await client.speak(THIRTY)
        await client.send(interrupt)  # the speech has not started yet
        early = await client.until("Warning")
        await client.collect(lambda got: len(chunk_sizes(got)) == 5)
        await client.send(interrupt)
        await client.send({"type": "Interrupt"})  # while the first is handled
        busy = await client.receive()
        answer = await client.receive()
        await client.speak("Again.")
        await client.collect(lambda got: "SpeechStarted" in kinds(got))
        await client.send(interrupt)  # 300 does not advance past 300
        stale = await client.until("Warning")
    assert [w["code"] for w in (early[-1], busy, stale[-1])] == [
        "NO_AUDIO_GENERATED",
        "INTERRUPT_IN_PROGRESS",
        "INVALID_INTERRUPT_OFFSET",
    ]
    assert answer["type"] == "SpeechInterrupted" and answer["audio_played_ms"] == 300
    session = fake.sessions[0]
    [interrupted] = sent_times(session, "SpeechInterrupted")
    assert interrupted - received_at(session, "Interrupt", 1) == pytest.approx(0.25)
    assert sent_times(session, "Warning")[1] == received_at(session, "Interrupt", 2)


async def test_an_interrupt_after_the_turn_ended_reports_the_last_turn(
    fake: FakeDeepgram, autojump_clock: trio.testing.MockClock
) -> None:
    async with flux(fake) as client:
        await client.speak(HELLO)
        await client.flush()
        await client.until("SpeechMetadata")
        await client.send(
            {"type": "Interrupt", "playback_offset": {"type": "time_ms", "value": 600}}
        )
        [answer] = await client.until("SpeechInterrupted")
    assert answer["text_spoken"] == "Hello,"
    assert answer["text_remaining"] == " everyone!"
    assert answer["metadata"]["audio_duration_ms"] == 600


# --- Configure --------------------------------------------------------------------------


async def test_configure_sets_the_speed_of_the_text_after_it(
    fake: FakeDeepgram, autojump_clock: trio.testing.MockClock
) -> None:
    async with flux(fake) as client:
        await client.send({"type": "Configure"})
        unset = await client.receive()
        await client.speak(THIRTY)  # 2 s at speed 1
        await client.send({"type": "Configure", "speed": 0.5})
        success = (await client.until("ConfigureSuccess"))[-1]
        await client.speak(" again")  # 6 characters at 0.5: 0.8 s
        await client.flush()
        messages = await client.until("SpeechMetadata")
    assert unset == {"type": "ConfigureSuccess", "applied": {}}
    assert success == {"type": "ConfigureSuccess", "applied": {"speed": 0.5}}
    assert messages[-1]["audio_duration_ms"] == 2800


@pytest.mark.parametrize(
    ("speed", "code", "value"),
    [
        (1.6, "SPEED_OUT_OF_RANGE", 1.6),
        (0.45, "SPEED_OUT_OF_RANGE", 0.45),
        (1.12, "SPEED_INCREMENT_INVALID", 1.12),
    ],
)
async def test_configure_refuses_a_bad_speed(
    fake: FakeDeepgram, speed: float, code: str, value: float
) -> None:
    async with flux(fake, "model=flux-haley-en&speed=0.9") as client:
        await client.send({"type": "Configure", "speed": speed})
        failure = await client.receive()
        await client.send({"type": "Configure"})
        kept = await client.receive()
    assert failure["type"] == "ConfigureFailure"
    assert (failure["code"], failure["field"], failure["value"]) == (code, "speed", value)
    assert failure["description"]
    assert kept == {"type": "ConfigureSuccess", "applied": {"speed": 0.9}}


async def test_a_voice_without_speed_control_refuses_any(fake: FakeDeepgram) -> None:
    async with flux(fake, "model=flux-sofia-es") as client:
        await client.send({"type": "Configure", "speed": 1.0})
        failure = await client.receive()
    assert failure["code"] == "SPEED_NOT_SUPPORTED" and failure["field"] == "speed"
    assert "value" not in failure  # a property of the voice, not of the value


PRONOUNCED = r'Take \{"word": "dupilumab", "pronounce": "duːˈpɪljuːmæb"\} daily.'  # noqa: RUF001 (IPA)


async def test_pronunciation_controls_are_counted_and_billed_as_their_word(
    fake: FakeDeepgram, autojump_clock: trio.testing.MockClock
) -> None:
    async with flux(fake) as client:
        await client.speak(PRONOUNCED)
        await client.flush()
        messages = await client.until("SpeechMetadata")
    metadata = messages[-1]
    assert metadata["input_character_count"] == len(PRONOUNCED)
    assert metadata["billable_character_count"] == len("Take dupilumab daily.") == 21
    assert metadata["controls_applied"]["pronunciations_applied"] == 1
    assert metadata["audio_duration_ms"] == 1400  # the words billed, not the control


async def test_speed_is_refused_while_a_waiting_turn_carries_a_pronunciation(
    fake: FakeDeepgram, autojump_clock: trio.testing.MockClock
) -> None:
    async with flux(fake) as client:
        await client.speak(THIRTY)
        await client.flush()
        await client.speak(PRONOUNCED)  # waits behind the first turn
        await client.send({"type": "Configure", "speed": 1.2})
        failure = await client.until("ConfigureFailure")
        await client.send({"type": "Configure", "speed": 1.0})  # 1.0 is no speed control
        success = await client.until("ConfigureSuccess")
    assert failure[-1]["code"] == "CONTROL_COMBINATION_INVALID"
    assert success[-1]["applied"] == {"speed": 1.0}


# --- Close and fatal errors ----------------------------------------------------------


async def test_close_finishes_the_turns_then_reports_the_session(
    fake: FakeDeepgram, autojump_clock: trio.testing.MockClock
) -> None:
    async with flux(fake) as client:
        await client.speak(HELLO)
        await client.flush()
        await client.speak("Unflushed words.")  # 16 characters, as HELLO
        await client.send({"type": "Close"})
        messages, close = await client.until_closed()
    assert kinds(messages) == [
        "SpeechStarted",
        "Flushed",
        "audio",
        "SpeechMetadata",
        "SpeechStarted",
        "audio",  # the open turn is finished without a Flushed
        "SpeechMetadata",
        "SessionMetadata",
    ]
    assert messages[-1] == {
        "type": "SessionMetadata",
        "total_audio_duration_ms": 2133,
        "total_input_character_count": 32,
        "total_billable_character_count": 32,
    }
    assert close[0] == 1000
    assert fake.sessions[0].server_close == (1000, "")


@pytest.mark.parametrize(
    ("frame", "code", "close"),
    [
        ("not json", "MESSAGE-0000", 1003),
        ('{"type": "Clear"}', "MESSAGE-0000", 1003),
        ('["Speak"]', "MESSAGE-0000", 1003),
        ('{"type": "Speak", "text": 5}', "MESSAGE-0000", 1003),
        ('{"type": "Configure", "speed": "fast"}', "MESSAGE-0000", 1003),
        (b"\x00\x01", "DATA-0000", 1008),
        (
            '{"type": "Interrupt", "playback_offset": {"type": "bytes", "value": 5}}',
            "DATA-0000",
            1008,
        ),
        (
            '{"type": "Interrupt", "playback_offset": {"type": "time_ms", "value": -1}}',
            "DATA-0000",
            1008,
        ),
        ('{"type": "Speak", "text": "Wait \\\\{pause:1s\\\\} now."}', "DATA-0002", 1008),
        ('{"type": "Speak", "text": "Wait {pause:{duration_ms:500}} now."}', "DATA-0002", 1008),
        ('{"type": "Speak", "text": "' + "x" * 2001 + '"}', "BIG-0000", 1009),
    ],
)
async def test_what_the_server_cannot_take_is_a_fatal_error(
    fake: FakeDeepgram, frame: str | bytes, code: str, close: int
) -> None:
    async with flux(fake) as client:
        await client.send(frame)
        messages, closed = await client.until_closed()
    assert [m["type"] for m in messages] == ["Error"]
    assert messages[0]["code"] == code and messages[0]["description"]
    assert closed == (close, code)


async def test_pronunciation_with_a_speed_other_than_one_fails_the_connection(
    fake: FakeDeepgram,
) -> None:
    async with flux(fake, "model=flux-haley-en&speed=1.1") as client:
        await client.speak(PRONOUNCED)
        messages, closed = await client.until_closed()
    assert messages[0]["code"] == "DATA-0002"
    assert "speed" in messages[0]["description"]
    assert closed == (1008, "DATA-0002")
