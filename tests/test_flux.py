"""Flux (Listen v2) over real loopback WebSockets against the fake server."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Sequence

import pytest
import trio

import dgtrio
from dgtrio import ConnectOptions
from dgtrio.testing import FakeDeepgram, FluxScript

from .conftest import API_KEY, frames, pcm16

LINEAR16 = dgtrio.ListenV2Options(encoding="linear16", sample_rate=16000)


def silence(seconds: float) -> bytes:
    return bytes(2 * round(16000 * seconds))


async def speech(*parts: tuple[str, float]) -> AsyncIterator[bytes]:
    """("talk", s) and ("quiet", s) segments as 20 ms frames of 16 kHz PCM."""
    for kind, seconds in parts:
        for frame in frames(pcm16(seconds) if kind == "talk" else silence(seconds)):
            yield frame


def _types(messages: Sequence[object]) -> list[str]:
    return [type(m).__name__ for m in messages]


async def test_turns_end_on_silence_and_match_what_the_server_said(
    fake: FakeDeepgram, connect: ConnectOptions
) -> None:
    audio = speech(("talk", 2.0), ("quiet", 1.0), ("talk", 1.2), ("quiet", 1.0))
    async with dgtrio.open_flux_listen(LINEAR16, audio=audio, **connect) as flux:
        turns = [turn async for turn in flux.turns()]
        stats = flux.statistics()
    session = fake.sessions[0]
    ends = [m for m in (f.json() for f in session.sent) if m.get("event") == "EndOfTurn"]
    assert [(t.turn_index, t.transcript, t.trigger) for t in turns] == [
        (e["turn_index"], e["transcript"], "model") for e in ends
    ]
    assert [t.turn_index for t in turns] == [0, 1]
    assert FluxScript().turns[0].startswith(turns[0].transcript) and turns[0].transcript
    assert all(t.final and not t.was_eager for t in turns)
    assert [w.word for w in turns[0].words] == turns[0].transcript.split()
    assert 0 <= turns[0].start < turns[0].end <= 3.0
    # The audio source ended, so CloseStream went out after the last frame, and the
    # close without status that answered it ended the iteration normally.
    assert session.messages == [{"type": "CloseStream"}]
    assert session.received[-1].is_text and session.server_close == (1005, "")
    assert stats.sequence_gaps == 0 and stats.state == "closed"


async def test_every_message_is_typed_and_numbered(
    fake: FakeDeepgram, connect: ConnectOptions
) -> None:
    async with dgtrio.open_flux_listen(LINEAR16, **connect) as flux:
        async for frame in speech(("talk", 1.0), ("quiet", 1.0)):
            await flux.send_audio(frame)
        await flux.close_stream()
        await flux.close_stream()  # idempotent
        received = [message async for message in flux]
        with pytest.raises(trio.ClosedResourceError):
            await flux.send_audio(silence(0.02))
    assert isinstance(received[0], dgtrio.ListenV2Connected)
    assert received[0].request_id == flux.request_id
    assert [m.sequence_id for m in received] == list(range(len(received)))  # type: ignore[union-attr]
    events = [(m.event, m.transcript) for m in received if isinstance(m, dgtrio.ListenV2TurnInfo)]
    # 1 s of speech is three words (one per 0.4 s), then 0.6 s of quiet ends the turn;
    # updates every 0.25 s of audio fill the rest.
    assert events == [
        ("StartOfTurn", "Hi,"),
        ("Update", "Hi,"),
        ("Update", "Hi, I'd"),
        ("Update", "Hi, I'd like"),
        ("Update", "Hi, I'd like"),
        ("Update", "Hi, I'd like"),
        ("EndOfTurn", "Hi, I'd like"),
        ("Update", ""),
        ("Update", ""),
    ]
    assert len(received) == len(fake.sessions[0].sent)


async def test_eager_end_of_turn_and_resumption(
    fake: FakeDeepgram, connect: ConnectOptions
) -> None:
    options = dgtrio.ListenV2Options(
        encoding="linear16", sample_rate=16000, eager_eot_threshold=0.5
    )
    audio = speech(("talk", 1.5), ("quiet", 0.4), ("talk", 0.5), ("quiet", 1.0))
    async with dgtrio.open_flux_listen(options, audio=audio, **connect) as flux:
        turns = [turn async for turn in flux.turns(eager=True)]
    assert [t.event for t in turns] == [
        "EagerEndOfTurn",
        "TurnResumed",
        "EagerEndOfTurn",
        "EndOfTurn",
    ]
    final = turns[-1]
    assert final.was_eager and final.transcript == turns[2].transcript
    assert len(final.transcript) > len(turns[0].transcript)  # the user went on talking
    assert fake.sessions[0].query["eager_eot_threshold"] == ["0.5"]


async def test_force_end_turn_ends_the_turn_manually(
    fake: FakeDeepgram, connect: ConnectOptions
) -> None:
    async with dgtrio.open_flux_listen(LINEAR16, **connect) as flux:
        async for frame in speech(("talk", 1.0)):
            await flux.send_audio(frame)
        await flux.force_end_turn()
        turns = flux.turns()
        turn = await turns.__anext__()
        await turns.aclose()
    assert (turn.turn_index, turn.trigger, turn.final) == (0, "manual", True)
    assert fake.sessions[0].messages == [{"type": "ForceEndTurn"}]


async def test_configure_applies_or_raises(fake: FakeDeepgram, connect: ConnectOptions) -> None:
    async with dgtrio.open_flux_listen(LINEAR16, **connect) as flux:
        thresholds = dgtrio.ListenV2Thresholds(eot_threshold=0.8, eot_timeout_ms=3000)
        reply = await flux.configure(thresholds=thresholds, keyterms=["dgtrio"])
        assert reply.thresholds is not None
        assert (reply.thresholds.eot_threshold, reply.thresholds.eot_timeout_ms) == (0.8, 3000)
        assert reply.keyterms == ("dgtrio",)
        with pytest.raises(dgtrio.ConfigureFailed) as info:
            await flux.configure(language_hints=["es"])  # flux-general-en takes none
        assert info.value.code and isinstance(info.value.message, dgtrio.ListenV2ConfigureFailure)
        with pytest.raises(dgtrio.ConfigurationError, match=r"between 0\.3 and 0\.9"):
            dgtrio.ListenV2Thresholds(eager_eot_threshold=0.1)
        with pytest.raises(TypeError, match="not one string"):
            await flux.configure(keyterms="dgtrio")
        assert reply.numerals is False
        reply = await flux.configure(numerals=True)
        assert reply.numerals is True and reply.keyterms == ("dgtrio",)  # the rest is kept
        with pytest.raises(TypeError, match="numerals is True or False, not 'yes'"):
            await flux.configure(numerals="yes")  # type: ignore[arg-type]
        with pytest.raises(TypeError, match="numerals is True or False, not 1"):
            await flux.configure(numerals=1)  # type: ignore[arg-type]
    assert fake.sessions[0].messages == [
        {
            "type": "Configure",
            "thresholds": {"eot_threshold": 0.8, "eot_timeout_ms": 3000},
            "keyterms": ["dgtrio"],
        },
        {"type": "Configure", "language_hints": ["es"]},
        {"type": "Configure", "numerals": True},
    ]


async def test_a_sequence_gap_is_counted_and_logged(
    fake: FakeDeepgram, connect: ConnectOptions, caplog: pytest.LogCaptureFixture
) -> None:
    async with dgtrio.open_flux_listen(LINEAR16, **connect) as flux:
        assert isinstance(await flux.receive(), dgtrio.ListenV2Connected)
        session = fake.sessions[0]
        with caplog.at_level(logging.WARNING, logger="dgtrio"):
            await session.send_json({"type": "Warning", "sequence_id": 4, "code": "W"})
            await session.send_json({"type": "Warning", "sequence_id": 5, "code": "W"})
            await flux.receive()
            await flux.receive()
        assert flux.statistics().sequence_gaps == 1
    assert "message 4 came where 1 was due: messages were lost" in caplog.text


async def test_an_error_is_fatal(fake: FakeDeepgram, connect: ConnectOptions) -> None:
    async with dgtrio.open_flux_listen(LINEAR16, **connect) as flux:
        session = (await fake.wait_for_sessions())[0]
        await session.send_json(
            {"type": "Error", "sequence_id": 1, "code": "INTERNAL_SERVER_ERROR", "description": "x"}
        )
        await session.close(1011)
        received = []
        with pytest.raises(dgtrio.ServerError, match="INTERNAL_SERVER_ERROR: x"):
            async for message in flux:
                received.append(message)
        assert _types(received) == ["ListenV2Connected", "ListenV2Error"]
        with pytest.raises(dgtrio.ServerError):
            await flux.send_audio(silence(0.02))


async def test_a_close_without_status_before_close_stream_is_abnormal(
    fake: FakeDeepgram, connect: ConnectOptions
) -> None:
    async with dgtrio.open_flux_listen(LINEAR16, **connect) as flux:
        await fake.sessions[0].close(1005)
        with pytest.raises(dgtrio.ConnectionClosed) as info:
            async for _ in flux:
                pass
        assert info.value.code == 1005


async def test_bad_audio_and_refused_options(fake: FakeDeepgram, connect: ConnectOptions) -> None:
    async with dgtrio.open_flux_listen(LINEAR16, **connect) as flux:
        with pytest.raises(dgtrio.AudioFormatError, match="2-byte samples"):
            await flux.send_audio(b"\x00" * 641)
    refused = dgtrio.ListenV2Options(extra_query={"eot_threshold": "0.2"})
    with pytest.raises(dgtrio.InvalidRequest):
        async with dgtrio.open_flux_listen(refused, base_url=fake.url, api_key=API_KEY):
            pass
