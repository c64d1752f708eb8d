"""The fake server's Flux (Listen v2) behaviour, spoken to in raw JSON over loopback."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import attrs
import pytest
import trio
import trio.testing
import trio_websocket

from dgtrio.testing import FakeDeepgram, FluxScript
from dgtrio.testing._sound import tone

from .conftest import API_KEY, frames, pcm16

RATE = 16000
QUERY = f"model=flux-general-en&encoding=linear16&sample_rate={RATE}"
SENTENCE = "Hi, I'd like to check on my order."  # the default script's first turn


def quiet(seconds: float) -> bytes:
    return bytes(2 * round(seconds * RATE))


def speech(seconds: float) -> bytes:
    return pcm16(seconds, rate=RATE)


def brief(message: dict[str, Any]) -> tuple[str, float, float, str]:
    """A TurnInfo's event, audio window and transcript."""
    return (
        message["event"],
        message["audio_window_start"],
        message["audio_window_end"],
        message["transcript"],
    )


def events(messages: list[dict[str, Any]]) -> list[str]:
    return [m["event"] if m["type"] == "TurnInfo" else m["type"] for m in messages]


@attrs.define
class Client:
    """A raw WebSocket client of ``/v2/listen`` that got its ``Connected``."""

    ws: trio_websocket.WebSocketConnection
    request_id: str

    async def send(self, message: dict[str, Any] | str) -> None:
        await self.ws.send_message(message if isinstance(message, str) else json.dumps(message))

    async def audio(self, data: bytes, size: int = 640) -> None:
        """Send ``data`` in frames of ``size`` bytes (20 ms of 16 kHz linear16)."""
        for frame in frames(data, size):
            await self.ws.send_message(frame)

    async def receive(self) -> dict[str, Any]:
        with trio.fail_after(5):
            message: dict[str, Any] = json.loads(await self.ws.get_message())
        return message

    async def until(self, event: str) -> list[dict[str, Any]]:
        """Messages up to and including the next TurnInfo ``event`` (or message type)."""
        received = []
        while True:
            received.append(message := await self.receive())
            if event in (message["type"], message.get("event")):
                return received

    async def rest(self) -> tuple[list[dict[str, Any]], int | None]:
        """Every message until the server closes, and its close code."""
        received = []
        with trio.fail_after(5), pytest.raises(trio_websocket.ConnectionClosed) as closed:
            while True:
                received.append(json.loads(await self.ws.get_message()))
        reason = closed.value.reason
        return received, None if reason is None else reason.code

    async def finish(self) -> list[dict[str, Any]]:
        """``CloseStream``; what came before the close, which must have no status."""
        await self.send({"type": "CloseStream"})
        received, code = await self.rest()
        assert code == 1005
        return received


@asynccontextmanager
async def flux(fake: FakeDeepgram, query: str = QUERY) -> AsyncIterator[Client]:
    headers = [(b"authorization", f"Token {API_KEY}".encode())]
    # The test owns the TCP stream: trio-websocket's client leaves its socket open
    # when the server is the one to close.
    stream = await trio.open_tcp_stream(fake.host, fake.port)
    try:
        async with trio.open_nursery() as nursery:
            ws = await trio_websocket.wrap_client_stream(
                nursery, stream, fake.host, f"/v2/listen?{query}", extra_headers=headers
            )
            request_id = fake.sessions[-1].request_id
            with trio.fail_after(5):
                connected = json.loads(await ws.get_message())
            assert connected == {"type": "Connected", "request_id": request_id, "sequence_id": 0}
            yield Client(ws, request_id)
            await ws.aclose()
    finally:
        await trio.aclose_forcefully(stream)


async def refusal(fake: FakeDeepgram, query: str) -> trio_websocket.ConnectionRejected:
    """How the fake refuses the handshake for ``query``."""
    headers = [(b"authorization", f"Token {API_KEY}".encode())]
    refused: list[trio_websocket.ConnectionRejected] = []
    stream = await trio.open_tcp_stream(fake.host, fake.port)
    try:
        with trio.fail_after(5):
            async with trio.open_nursery() as nursery:
                await trio_websocket.wrap_client_stream(
                    nursery, stream, fake.host, f"/v2/listen?{query}", extra_headers=headers
                )
    except* trio_websocket.ConnectionRejected as group:
        refused.extend(leaves(group))
    finally:
        await trio.aclose_forcefully(stream)
    [rejected] = refused
    return rejected


def leaves(group: BaseExceptionGroup[Any]) -> list[Any]:
    """The exceptions in ``group`` and its nested groups."""
    found: list[Any] = []
    for exc in group.exceptions:
        found.extend(leaves(exc) if isinstance(exc, BaseExceptionGroup) else [exc])
    return found


async def serve(nursery: trio.Nursery, script: FluxScript) -> FakeDeepgram:
    fake = FakeDeepgram(api_key=API_KEY, flux_script=script)
    await nursery.start(fake.serve)
    return fake


# --- Turns from the audio -------------------------------------------------------------


# 0.5 s of silence, 2 s of speech, 1 s of silence.
ONE_TURN = [
    ("Update", 0.0, 0.25, ""),
    ("Update", 0.25, 0.5, ""),
    ("StartOfTurn", 0.5, 0.6, "Hi,"),
    ("Update", 0.5, 0.85, "Hi,"),
    ("Update", 0.5, 1.1, "Hi, I'd"),
    ("Update", 0.5, 1.35, "Hi, I'd like"),
    ("Update", 0.5, 1.6, "Hi, I'd like"),
    ("Update", 0.5, 1.85, "Hi, I'd like to"),
    ("Update", 0.5, 2.1, "Hi, I'd like to"),
    ("Update", 0.5, 2.35, "Hi, I'd like to check"),
    ("Update", 0.5, 2.6, "Hi, I'd like to check"),
    ("Update", 0.5, 2.85, "Hi, I'd like to check"),
    ("EndOfTurn", 0.5, 3.1, "Hi, I'd like to check"),
    ("Update", 3.1, 3.35, ""),
    ("Update", 3.35, 3.5, ""),  # what CloseStream found pending
]


@pytest.mark.parametrize("size", [640, 1001, 4410, 112000])
async def test_a_turn_from_speech_then_silence(fake: FakeDeepgram, size: int) -> None:
    async with flux(fake) as client:
        await client.audio(quiet(0.5) + speech(2.0) + quiet(1.0), size)
        messages = await client.finish()
    # The same messages, however the audio is cut into frames.
    assert [brief(m) for m in messages] == ONE_TURN
    assert [m["sequence_id"] for m in messages] == list(range(1, 16))
    assert {m["request_id"] for m in messages} == {client.request_id}
    assert [m["turn_index"] for m in messages] == [0] * 13 + [1] * 2
    assert [m.get("trigger") for m in messages] == [None] * 12 + ["model", None, None]
    confidence = [m["end_of_turn_confidence"] for m in messages]
    assert confidence[2:10] == [0.0] * 8  # while the user speaks
    # After 0.1 s, 0.34 s (the 20 ms window ending at 2.86 s is not heard yet) and 0.6 s
    # of quiet.
    assert confidence[10:13] == [0.117, 0.397, 0.7]
    end = messages[12]
    assert set(end) == {
        "type",
        "request_id",
        "sequence_id",
        "event",
        "turn_index",
        "audio_window_start",
        "audio_window_end",
        "transcript",
        "words",
        "end_of_turn_confidence",
        "trigger",
    }
    # A word for each 0.4 s of speech, lasting until the next.
    assert end["words"] == [
        {"word": word, "confidence": 0.97, "start": start, "end": round(start + 0.4, 3)}
        for word, start in zip(SENTENCE.split(), (0.5, 0.9, 1.3, 1.7, 2.1), strict=False)
    ]
    assert messages[0]["words"] == []


async def test_updates_follow_the_audio_received(fake: FakeDeepgram) -> None:
    async with flux(fake) as client:
        await client.audio(quiet(0.3))
        first = await client.receive()
        await client.audio(quiet(0.2))
        second = await client.receive()
        await client.audio(quiet(0.01))  # not enough for another Update
        messages = await client.finish()
    assert [brief(first), brief(second)] == [("Update", 0.0, 0.25, ""), ("Update", 0.25, 0.5, "")]
    assert [brief(m) for m in messages] == [("Update", 0.5, 0.51, "")]


async def test_turns_end_by_the_audio_not_the_clock(
    fake: FakeDeepgram, autojump_clock: trio.testing.MockClock
) -> None:
    async with flux(fake) as client:
        await client.audio(speech(0.5))
        assert events(await client.until("Update")) == ["StartOfTurn", "Update"]
        with trio.move_on_after(60) as waited:
            await client.ws.get_message()
        assert waited.cancelled_caught  # a minute without audio ends nothing
        await client.audio(quiet(0.6))
        received = await client.until("EndOfTurn")
    assert [brief(m) for m in received] == [
        ("Update", 0.0, 0.6, "Hi, I'd"),
        ("Update", 0.0, 0.85, "Hi, I'd"),
        ("EndOfTurn", 0.0, 1.1, "Hi, I'd"),
    ]


async def test_a_short_sound_starts_no_turn(fake: FakeDeepgram) -> None:
    async with flux(fake) as client:
        # 80 ms of sound, twice: speech_onset is 100 ms of continuous sound.
        await client.audio(quiet(0.1) + speech(0.08) + quiet(0.1) + speech(0.08) + quiet(0.14))
        messages = await client.finish()
    assert [brief(m) for m in messages] == [("Update", 0.0, 0.25, ""), ("Update", 0.25, 0.5, "")]


# 1 s of speech, a 0.4 s pause, 0.5 s of speech, 1 s of silence.
PAUSED = [(speech, 1.0), (quiet, 0.4), (speech, 0.5), (quiet, 1.0)]


def paused() -> bytes:
    return b"".join(make(seconds) for make, seconds in PAUSED)


async def test_eager_end_of_turn_and_turn_resumed(fake: FakeDeepgram) -> None:
    async with flux(fake, f"{QUERY}&eager_eot_threshold=0.5") as client:
        await client.audio(paused())
        messages = await client.finish()
    assert [brief(m) for m in messages] == [
        ("StartOfTurn", 0.0, 0.1, "Hi,"),
        ("Update", 0.0, 0.35, "Hi,"),
        ("Update", 0.0, 0.6, "Hi, I'd"),
        ("Update", 0.0, 0.85, "Hi, I'd like"),
        ("Update", 0.0, 1.1, "Hi, I'd like"),
        ("EagerEndOfTurn", 0.0, 1.3, "Hi, I'd like"),
        ("TurnResumed", 0.0, 1.42, "Hi, I'd like"),
        ("Update", 0.0, 1.67, "Hi, I'd like to"),
        ("Update", 0.0, 1.92, "Hi, I'd like to"),
        ("Update", 0.0, 2.17, "Hi, I'd like to"),
        ("EagerEndOfTurn", 0.0, 2.2, "Hi, I'd like to"),
        ("Update", 0.0, 2.45, "Hi, I'd like to"),
        ("EndOfTurn", 0.0, 2.5, "Hi, I'd like to"),
        ("Update", 2.5, 2.75, ""),
        ("Update", 2.75, 2.9, ""),
    ]
    # The confidence reaches each threshold as its event fires.
    assert [messages[i]["end_of_turn_confidence"] for i in (5, 6, 10, 11, 12)] == [
        0.5,
        0.0,
        0.5,
        0.66,
        0.7,
    ]
    assert messages[12]["trigger"] == "model"


async def test_no_eager_events_without_the_threshold(fake: FakeDeepgram) -> None:
    async with flux(fake) as client:
        await client.audio(paused())
        messages = await client.finish()
    assert events(messages) == ["StartOfTurn"] + ["Update"] * 9 + ["EndOfTurn"] + ["Update"] * 2
    assert brief(messages[10]) == ("EndOfTurn", 0.0, 2.5, "Hi, I'd like to")


@pytest.mark.parametrize(
    ("query", "end", "confidence"),
    [
        ("eot_threshold=1.0&eot_timeout_ms=1000", 1.5, 1.0),  # no model end of turn
        ("eot_timeout_ms=500", 1.0, 0.583),  # shorter than the model's 0.6 s of quiet
    ],
)
async def test_the_timeout_ends_a_turn(
    fake: FakeDeepgram, query: str, end: float, confidence: float
) -> None:
    async with flux(fake, f"{QUERY}&{query}") as client:
        await client.audio(speech(0.5) + quiet(1.5))
        messages = await client.finish()
    [turn_end] = [m for m in messages if m["event"] == "EndOfTurn"]
    assert brief(turn_end) == ("EndOfTurn", 0.0, end, "Hi, I'd")
    assert (turn_end["trigger"], turn_end["end_of_turn_confidence"]) == ("timeout", confidence)
    assert brief(messages[-1])[2] == 2.0
    assert messages[-1]["turn_index"] == 1


async def test_force_end_turn(fake: FakeDeepgram) -> None:
    async with flux(fake) as client:
        await client.send({"type": "ForceEndTurn"})  # no turn yet: nothing to end
        await client.audio(speech(0.5))
        await client.send({"type": "ForceEndTurn"})
        await client.audio(speech(0.3))
        await client.send({"type": "ForceEndTurn"})
        await client.send({"type": "ForceEndTurn"})  # that turn has ended already
        messages = await client.finish()
    assert [brief(m) for m in messages] == [
        ("StartOfTurn", 0.0, 0.1, "Hi,"),
        ("Update", 0.0, 0.35, "Hi,"),
        ("EndOfTurn", 0.0, 0.5, "Hi, I'd"),  # at once, while the user still speaks
        ("StartOfTurn", 0.5, 0.6, "It"),  # the next sentence
        ("EndOfTurn", 0.5, 0.8, "It"),
    ]
    assert [m["turn_index"] for m in messages] == [0, 0, 0, 1, 1]
    assert [m.get("trigger") for m in messages] == [None, None, "manual", None, "manual"]
    assert messages[2]["end_of_turn_confidence"] == 0.0


async def test_turns_cycle_through_the_script(nursery: trio.Nursery) -> None:
    fake = await serve(nursery, FluxScript(turns=["One two.", "Three."], words_per_second=10))
    async with flux(fake) as client:
        await client.audio((speech(0.5) + quiet(0.6)) * 3)
        messages = await client.finish()
    ends = [m for m in messages if m["event"] == "EndOfTurn"]
    # Words stop at the end of the sentence, however long the speech.
    assert [(m["turn_index"], m["transcript"]) for m in ends] == [
        (0, "One two."),
        (1, "Three."),
        (2, "One two."),
    ]
    assert [w["end"] for w in ends[1]["words"]] == [1.2]


async def test_the_script_changes_the_timing(nursery: trio.Nursery) -> None:
    script = FluxScript(speech_onset=0.3, update_interval=0.5, end_of_turn_silence=1.0)
    fake = await serve(nursery, script)
    async with flux(fake) as client:
        await client.audio(speech(0.5) + quiet(1.0))
        messages = await client.finish()
    assert [brief(m) for m in messages] == [
        ("StartOfTurn", 0.0, 0.3, "Hi,"),
        ("Update", 0.0, 0.8, "Hi, I'd"),
        ("Update", 0.0, 1.3, "Hi, I'd"),
        ("EndOfTurn", 0.0, 1.5, "Hi, I'd"),
    ]


@pytest.mark.parametrize(
    ("changes", "match"),
    [
        ({"turns": []}, "non-empty"),
        ({"turns": "Hello."}, "non-empty"),
        ({"turns": ["Hi.", " "]}, "non-blank"),
        ({"words_per_second": 0}, "positive"),
        ({"update_interval": -1}, "positive"),
        ({"speech_threshold": 1.5}, "fraction"),
        ({"eager_silence": 0.6}, "shorter"),
    ],
)
def test_script_validation(changes: dict[str, Any], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        FluxScript(**changes)


# --- Audio formats --------------------------------------------------------------------


async def test_mulaw_speech_is_heard(fake: FakeDeepgram) -> None:
    query = "model=flux-general-en&encoding=mulaw&sample_rate=8000"
    async with flux(fake, query) as client:
        await client.audio(bytes([0xFF]) * 800 + tone(0.5, "mulaw", 8000), 160)
        messages = await client.finish()
    assert [brief(m) for m in messages][:2] == [
        ("StartOfTurn", 0.1, 0.2, "Hi,"),
        ("Update", 0.1, 0.45, "Hi,"),
    ]


@pytest.mark.parametrize("query", ["model=flux-general-en&encoding=opus&sample_rate=48000", ""])
async def test_undecodable_audio_counts_as_silence(fake: FakeDeepgram, query: str) -> None:
    async with flux(fake, query or "model=flux-general-en") as client:
        # Opus, or a container, at a nominal 32 kbit/s: 0.6 s.
        await client.audio(bytes(range(200)) * 12, 100)
        messages = await client.finish()
    assert [brief(m) for m in messages] == [
        ("Update", 0.0, 0.25, ""),
        ("Update", 0.25, 0.5, ""),
        ("Update", 0.5, 0.6, ""),
    ]


# --- CloseStream, closing and bad frames ----------------------------------------------


async def test_close_stream_reports_the_open_turn_without_ending_it(fake: FakeDeepgram) -> None:
    async with flux(fake) as client:
        await client.audio(speech(0.5))
        messages = await client.finish()
    assert [brief(m) for m in messages] == [
        ("StartOfTurn", 0.0, 0.1, "Hi,"),
        ("Update", 0.0, 0.35, "Hi,"),
        ("Update", 0.0, 0.5, "Hi, I'd"),
    ]
    session = fake.sessions[0]
    await session.wait_closed()
    assert session.server_close == (1005, "")


async def test_close_stream_with_nothing_pending(fake: FakeDeepgram) -> None:
    async with flux(fake) as client:
        await client.audio(quiet(0.5))
        messages = await client.finish()
    assert [brief(m) for m in messages] == [("Update", 0.0, 0.25, ""), ("Update", 0.25, 0.5, "")]


async def test_the_client_closing_ends_the_session(fake: FakeDeepgram) -> None:
    async with flux(fake) as client:
        await client.audio(quiet(0.1))
    session = fake.sessions[0]
    with trio.fail_after(5):
        await session.wait_closed()
    assert session.client_close == (1000, "")
    assert session.server_close is None
    assert [m["type"] for m in (f.json() for f in session.sent)] == ["Connected"]


@pytest.mark.parametrize(
    ("frame", "problem"),
    [
        ("hello", "not a JSON object"),
        ("[1, 2]", "not a JSON object"),
        ('{"type": 5}', "not a JSON object"),
        ('{"type": "KeepAlive"}', "'KeepAlive'"),
        ('{"type": "Finalize"}', "'Finalize'"),
    ],
)
async def test_a_bad_client_message_is_fatal(fake: FakeDeepgram, frame: str, problem: str) -> None:
    async with flux(fake) as client:
        await client.send(frame)
        messages, code = await client.rest()
    [error] = messages
    assert set(error) == {"type", "sequence_id", "code", "description"}
    assert (error["type"], error["sequence_id"], error["code"]) == (
        "Error",
        1,
        "UNPARSABLE_CLIENT_MESSAGE",
    )
    assert problem in error["description"]
    assert code == 1011


# --- Configure ------------------------------------------------------------------------


async def test_configure_changes_thresholds_and_keyterms(fake: FakeDeepgram) -> None:
    async with flux(fake, f"{QUERY}&keyterm=order&keyterm=Monday") as client:
        await client.send({"type": "Configure"})
        unchanged = await client.receive()
        await client.send(
            {
                "type": "Configure",
                "thresholds": {"eager_eot_threshold": 0.4, "eot_timeout_ms": 800},
                "keyterms": "refund",
                "numerals": True,
            }
        )
        changed = await client.receive()
        await client.audio(speech(0.5) + quiet(0.6))
        messages = await client.finish()
    assert unchanged == {
        "type": "ConfigureSuccess",
        "request_id": client.request_id,
        "sequence_id": 1,
        "thresholds": {"eot_threshold": 0.7, "eot_timeout_ms": 5000},
        "keyterms": ["order", "Monday"],
        "numerals": False,
    }
    assert changed == {
        "type": "ConfigureSuccess",
        "request_id": client.request_id,
        "sequence_id": 2,
        "thresholds": {"eot_threshold": 0.7, "eager_eot_threshold": 0.4, "eot_timeout_ms": 800},
        "keyterms": ["refund"],  # replaced, not merged
        "numerals": True,
    }
    # Eager end of turn is on now.
    assert [brief(m) for m in messages] == [
        ("StartOfTurn", 0.0, 0.1, "Hi,"),
        ("Update", 0.0, 0.35, "Hi,"),
        ("Update", 0.0, 0.6, "Hi, I'd"),
        ("EagerEndOfTurn", 0.0, 0.8, "Hi, I'd"),
        ("Update", 0.0, 1.05, "Hi, I'd"),
        ("EndOfTurn", 0.0, 1.1, "Hi, I'd"),
    ]
    assert messages[3]["end_of_turn_confidence"] == 0.4
    assert messages[0]["sequence_id"] == 3


async def test_configure_can_turn_the_model_end_of_turn_off(fake: FakeDeepgram) -> None:
    async with flux(fake) as client:
        await client.audio(speech(0.5) + quiet(0.2))
        before = [await client.receive() for _ in range(3)]
        assert events(before) == ["StartOfTurn", "Update", "Update"]
        thresholds = {"eot_threshold": 1.0, "eot_timeout_ms": 900}
        await client.send({"type": "Configure", "thresholds": thresholds})
        assert (await client.receive())["thresholds"] == thresholds
        await client.audio(quiet(0.8))
        messages = await client.finish()
    [turn_end] = [m for m in messages if m["event"] == "EndOfTurn"]
    assert (turn_end["audio_window_end"], turn_end["trigger"]) == (1.4, "timeout")


@pytest.mark.parametrize(
    ("configure", "code"),
    [
        ({"thresholds": {"eot_threshold": 0.4}}, "INVALID_EOT_THRESHOLD"),
        ({"thresholds": {"eot_threshold": 1.01}}, "INVALID_EOT_THRESHOLD"),
        ({"thresholds": {"eot_threshold": "0.8"}}, "INVALID_EOT_THRESHOLD"),
        ({"thresholds": {"eot_threshold": True}}, "INVALID_EOT_THRESHOLD"),
        ({"thresholds": {"eager_eot_threshold": 0.2}}, "INVALID_EAGER_EOT_THRESHOLD"),
        ({"thresholds": {"eager_eot_threshold": 0.8}}, "INVALID_EAGER_EOT_THRESHOLD"),  # > 0.7
        ({"thresholds": {"eot_timeout_ms": 499}}, "INVALID_EOT_TIMEOUT_MS"),
        ({"thresholds": {"eot_timeout_ms": 60001}}, "INVALID_EOT_TIMEOUT_MS"),
        ({"thresholds": {"eot_timeout_ms": 1000.5}}, "INVALID_EOT_TIMEOUT_MS"),
        # One bad value spoils the message: the good one is not applied either.
        ({"thresholds": {"eot_threshold": 0.9, "eot_timeout_ms": 100}}, "INVALID_EOT_TIMEOUT_MS"),
        ({"thresholds": [0.8]}, "INVALID_THRESHOLDS"),
        ({"keyterms": ["ok", 3]}, "INVALID_KEYTERMS"),
        ({"keyterms": {"a": "b"}}, "INVALID_KEYTERMS"),
        ({"language_hints": ["en"]}, "LANGUAGE_HINTS_NOT_SUPPORTED"),
        ({"numerals": "yes"}, "INVALID_NUMERALS"),
        ({"keyterms": ["fine"], "numerals": 1}, "INVALID_NUMERALS"),
    ],
)
async def test_a_bad_configure_fails_and_changes_nothing(
    fake: FakeDeepgram, configure: dict[str, Any], code: str
) -> None:
    async with flux(fake) as client:
        await client.send({"type": "Configure", **configure})
        failure = await client.receive()
        await client.send({"type": "Configure"})
        current = await client.receive()
        await client.audio(speech(0.5) + quiet(0.6))
        messages = await client.finish()
    assert set(failure) == {"type", "request_id", "sequence_id", "code", "description"}
    assert (failure["type"], failure["sequence_id"], failure["code"]) == (
        "ConfigureFailure",
        1,
        code,
    )
    assert failure["request_id"] == client.request_id
    assert failure["description"]
    assert (current["type"], current["thresholds"], current["keyterms"]) == (
        "ConfigureSuccess",
        {"eot_threshold": 0.7, "eot_timeout_ms": 5000},
        [],
    )
    assert current["numerals"] is False
    assert events(messages)[-1] == "EndOfTurn"  # the session goes on


async def test_language_hints_on_the_multilingual_model(fake: FakeDeepgram) -> None:
    query = f"{QUERY.replace('-en', '-multi')}&language_hint=en&language_hint=es"
    async with flux(fake, query) as client:
        await client.audio(quiet(0.26))
        idle = await client.receive()
        await client.send({"type": "Configure", "language_hints": ["de", "en"]})
        configured = await client.receive()
        await client.audio(speech(0.1))
        started = await client.receive()
    assert "languages" not in idle  # nothing said, no language detected
    assert idle["languages_hinted"] == ["en", "es"]
    assert configured["language_hints"] == ["de", "en"]
    assert brief(started) == ("StartOfTurn", 0.26, 0.36, "Hi,")
    assert (started["languages"], started["languages_hinted"]) == (["en"], ["de", "en"])


async def test_the_english_model_reports_no_languages(fake: FakeDeepgram) -> None:
    async with flux(fake) as client:
        await client.audio(speech(0.1))
        started = await client.receive()
        await client.send({"type": "Configure", "keyterms": []})
        configured = await client.receive()
    assert started["event"] == "StartOfTurn"
    assert "languages" not in started
    assert "languages_hinted" not in started
    assert "language_hints" not in configured


# --- The handshake --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "reason"),
    [
        ("encoding=linear16&sample_rate=16000", "model is required"),
        ("model=nova-3&encoding=linear16&sample_rate=16000", "/v1/listen"),
        ("model=flux-general-fr", "Unknown Flux model"),
        ("model=flux-general-en&encoding=flac&sample_rate=16000", "Invalid encoding flac"),
        ("model=flux-general-en&encoding=linear16", "sample_rate is required"),
        ("model=flux-general-en&encoding=linear16&sample_rate=0", "Invalid sample_rate"),
        ("model=flux-general-en&encoding=linear16&sample_rate=16k", "Invalid sample_rate"),
        (f"{QUERY}&eot_threshold=0.45", "eot_threshold must be a number from 0.5 to 1"),
        (f"{QUERY}&eot_threshold=high", "eot_threshold"),
        (f"{QUERY}&eager_eot_threshold=0.95", "eager_eot_threshold must be"),
        (f"{QUERY}&eager_eot_threshold=0.8", "must not be above eot_threshold"),
        (f"{QUERY}&eot_threshold=0.6&eager_eot_threshold=0.65", "must not be above"),
        (f"{QUERY}&eot_timeout_ms=400", "eot_timeout_ms must be an integer"),
        (f"{QUERY}&eot_timeout_ms=60001", "eot_timeout_ms"),
        (f"{QUERY}&eot_timeout_ms=1000.0", "eot_timeout_ms"),
        (f"{QUERY}&redact=numbers&redact=pci", "Invalid redact pci"),
        (f"{QUERY}&language_hint=en", "only supported by flux-general-multi"),
        ("model=flux-general-multi&language_hint=", "language_hint must not be empty"),
        (f"{QUERY}&numerals=yes", "Invalid numerals"),
        (f"{QUERY}&profanity_filter=True", "Invalid profanity_filter"),
        (f"{QUERY}&mip_opt_out=1", "Invalid mip_opt_out"),
    ],
)
async def test_bad_query_parameters_are_refused(
    fake: FakeDeepgram, query: str, reason: str
) -> None:
    rejected = await refusal(fake, query)
    assert rejected.status_code == 400
    response = dict(rejected.headers or [])
    assert reason in response[b"dg-error"].decode()
    body = json.loads(rejected.body or b"")
    assert body["err_code"] == "INVALID_QUERY_PARAMETER"
    assert body["err_msg"] == response[b"dg-error"].decode()
    assert fake.sessions == []


@pytest.mark.parametrize(
    "query",
    [
        "model=flux-general-en",  # containerized audio: no encoding, no sample rate
        f"{QUERY}&eot_threshold=0.5&eager_eot_threshold=0.5&eot_timeout_ms=500",
        f"{QUERY}&eot_threshold=1.0&eager_eot_threshold=0.9&eot_timeout_ms=60000",
        f"{QUERY}&redact=numbers&redact=aggressive_numbers&numerals=true&mip_opt_out=false",
        f"{QUERY}&profanity_filter=false&keyterm=Deepgram&keyterm=customer+service&tag=t1",
        "model=flux-general-multi&encoding=alaw&sample_rate=8000&language_hint=en",
        "model=flux-general-multi&encoding=ogg-opus&sample_rate=48000",
        "model=flux-general-en&encoding=linear32&sample_rate=44100",
    ],
)
async def test_good_query_parameters_are_accepted(fake: FakeDeepgram, query: str) -> None:
    async with flux(fake, query):
        pass  # Connected
