"""The sans-io helpers: Flux turns, Listen v1 utterances, the flush limiter, WAV files."""

from __future__ import annotations

import io
import json
import logging
import wave
from pathlib import Path
from typing import Any

import pytest

import dgtrio
import dgtrio.audio
from dgtrio.listen.v1._messages import CODEC as LISTEN
from dgtrio.listen.v2._messages import CODEC as FLUX
from dgtrio.speak import FlushLimiter
from dgtrio.speak.v1._messages import CODEC as SPEAK

REQUEST = "9f3c6a52-0d1f-4b53-9c1e-6f9d2c0b8a11"


def turn_info(seq: int, event: str, transcript: str = "", **extra: Any) -> dgtrio.ListenV2TurnInfo:
    words = [{"word": w, "confidence": 0.9} for w in transcript.split()]
    message = FLUX.decode(
        json.dumps(
            {
                "type": "TurnInfo",
                "request_id": REQUEST,
                "sequence_id": seq,
                "event": event,
                "turn_index": extra.pop("turn_index", 0),
                "audio_window_start": 0.0,
                "audio_window_end": 1.5,
                "transcript": transcript,
                "words": words,
                "end_of_turn_confidence": 0.8,
                **extra,
            }
        )
    )
    assert isinstance(message, dgtrio.ListenV2TurnInfo)
    return message


def test_tracker_yields_end_of_turn_only_unless_eager() -> None:
    events = [
        turn_info(1, "StartOfTurn"),
        turn_info(2, "Update", "hello"),
        turn_info(3, "EagerEndOfTurn", "hello there"),
        turn_info(4, "TurnResumed", "hello there"),
        turn_info(5, "EagerEndOfTurn", "hello there friend"),
        turn_info(6, "EndOfTurn", "hello there friend", trigger="model"),
    ]
    plain = dgtrio.FluxTurnTracker()
    turns = [t for t in map(plain.feed, events) if t is not None]
    assert [(t.event, t.transcript, t.trigger, t.was_eager) for t in turns] == [
        ("EndOfTurn", "hello there friend", "model", True)
    ]
    assert turns[0].final and [w.word for w in turns[0].words] == ["hello", "there", "friend"]
    eager = dgtrio.FluxTurnTracker(eager=True)
    got = [t for t in map(eager.feed, events) if t is not None]
    assert [(t.event, t.final) for t in got] == [
        ("EagerEndOfTurn", False),
        ("TurnResumed", False),
        ("EagerEndOfTurn", False),
        ("EndOfTurn", True),
    ]
    assert eager.violations == plain.violations == 0 and eager.state == "idle"


@pytest.mark.parametrize(
    ("events", "problem"),
    [
        ([("EndOfTurn", "hi")], "unexpected in state 'idle'"),
        ([("StartOfTurn", ""), ("TurnResumed", "hi")], "unexpected in state 'speaking'"),
        ([("StartOfTurn", ""), ("StartOfTurn", "")], "unexpected in state 'speaking'"),
        ([("StartOfTurn", ""), ("EagerEndOfTurn", "")], "unexpected in state 'speaking'"),
        (
            [("StartOfTurn", ""), ("EagerEndOfTurn", "hi"), ("EndOfTurn", "hi there")],
            "differs from EagerEndOfTurn",
        ),
    ],
)
def test_tracker_counts_and_logs_order_violations(
    events: list[tuple[str, str]], problem: str, caplog: pytest.LogCaptureFixture
) -> None:
    tracker = dgtrio.FluxTurnTracker()
    with caplog.at_level(logging.WARNING, logger="dgtrio"):
        for seq, (event, text) in enumerate(events, 1):
            tracker.feed(turn_info(seq, event, text))
    assert tracker.violations == 1
    assert problem in caplog.text


def test_tracker_ignores_other_messages_and_new_events() -> None:
    tracker = dgtrio.FluxTurnTracker()
    connected = FLUX.decode('{"type":"Connected","request_id":"r","sequence_id":0}')
    assert tracker.feed(connected) is None
    assert tracker.feed(turn_info(1, "SomethingNew", "x")) is None
    assert (tracker.state, tracker.violations) == ("idle", 0)


def results(
    start: float, text: str, *, final: bool = True, speech_final: bool = False, channel: int = 0
) -> dgtrio.ListenV1Results:
    words = [
        {"word": w, "start": start + 0.3 * i, "end": start + 0.3 * i + 0.25, "confidence": 0.9}
        for i, w in enumerate(text.split())
    ]
    duration = 0.3 * max(len(words), 1)
    message = LISTEN.decode(
        json.dumps(
            {
                "type": "Results",
                "channel_index": [channel, 2],
                "duration": duration,
                "start": start,
                "is_final": final,
                "speech_final": speech_final,
                "channel": {
                    "alternatives": [
                        {"transcript": text, "confidence": 0.5 + len(words) / 10, "words": words}
                    ]
                },
                "metadata": {"request_id": REQUEST},
            }
        )
    )
    assert isinstance(message, dgtrio.ListenV1Results)
    return message


def test_utterances_join_final_segments_until_speech_final() -> None:
    agg = dgtrio.UtteranceAggregator()
    assert agg.feed(results(0.0, "the quick", final=False)) == []
    assert agg.feed(results(0.0, "the quick brown")) == []
    [utterance] = agg.feed(results(0.9, "fox jumps", speech_final=True))
    assert utterance.transcript == "the quick brown fox jumps"
    assert [w.word for w in utterance.words] == ["the", "quick", "brown", "fox", "jumps"]
    assert utterance.start == 0.0 and utterance.end == pytest.approx(1.5)
    assert utterance.ended_by == "speech_final" and len(utterance.segments) == 2
    # Duration-weighted: 0.9 s at 0.8 and 0.6 s at 0.7.
    assert utterance.confidence == pytest.approx((0.9 * 0.8 + 0.6 * 0.7) / 1.5)
    assert agg.flush() == []


def test_utterances_per_channel_and_utterance_end_and_end_of_stream() -> None:
    agg = dgtrio.UtteranceAggregator()
    agg.feed(results(0.0, "left side", channel=0))
    agg.feed(results(0.0, "right side", channel=1))
    # An empty speech_final closes what is open on its channel only.
    [left] = agg.feed(results(0.6, "", speech_final=True, channel=0))
    assert (left.channel, left.transcript) == (0, "left side")
    end = LISTEN.decode('{"type":"UtteranceEnd","channel":[1,2],"last_word_end":0.55}')
    [right] = agg.feed(end)
    assert (right.channel, right.ended_by) == (1, "utterance_end")
    agg.feed(results(2.0, "trailing words"))
    [last] = agg.flush()
    assert (last.transcript, last.ended_by) == ("trailing words", "end_of_stream")


def test_flush_limiter_at_exact_times() -> None:
    limiter = FlushLimiter(limit=3, window=60.0, margin=0.5)
    for t in (0.0, 10.0, 20.0):
        assert limiter.delay(t) == 0.0
        limiter.record(t)
    assert limiter.delay(30.0) == 30.5  # the first flush leaves the window at 60.5
    assert limiter.delay(60.5) == 0.0
    limiter.record(60.5)
    assert limiter.delay(61.0) == pytest.approx(9.5)
    with pytest.raises(ValueError, match="limit >= 1"):
        FlushLimiter(limit=0)


def test_speak_warning_and_error_accept_both_field_names() -> None:
    new = SPEAK.decode('{"type":"Warning","code":"W1","description":"slow down"}')
    old = SPEAK.decode('{"type":"Warning","warn_code":"W1","warn_msg":"slow down"}')
    assert new == old == dgtrio.SpeakV1Warning(description="slow down", code="W1")
    assert old.raw == {"type": "Warning", "warn_code": "W1", "warn_msg": "slow down"}
    error = SPEAK.decode('{"type":"Error","err_code":"E","err_msg":"bad"}')
    assert isinstance(error, dgtrio.SpeakV1Error)
    assert (error.code, error.description) == ("E", "bad")
    audio = SPEAK.decode(b"\x01\x02")
    assert audio == dgtrio.SpeakV1Audio(b"\x01\x02") and "2 bytes" in repr(audio)


@pytest.mark.parametrize(
    ("encoding", "width", "tag"), [("linear16", 2, 1), ("mulaw", 1, 7), ("alaw", 1, 6)]
)
def test_wav_writer_header(encoding: Any, width: int, tag: int, tmp_path: Path) -> None:
    path = tmp_path / "out.wav"
    with dgtrio.audio.WavWriter(path, encoding=encoding, sample_rate=8000) as wav:
        wav.write(b"\x01" * 800 * width)
        wav.write(b"\x02" * 800 * width)
    assert wav.duration == 0.2
    data = path.read_bytes()
    assert data[:4] == b"RIFF" and int.from_bytes(data[4:8], "little") == len(data) - 8
    assert int.from_bytes(data[20:22], "little") == tag
    assert data.endswith(b"\x02" * 800 * width)
    if encoding == "linear16":
        with wave.open(str(path)) as reader:  # the stdlib reads PCM only
            assert (reader.getnframes(), reader.getframerate(), reader.getsampwidth()) == (
                1600,
                8000,
                2,
            )
    else:
        assert b"fact" in data[:60] and int.from_bytes(data[46:50], "little") == 1600


def test_wav_writer_pads_odd_sizes_and_keeps_caller_files_open() -> None:
    buffer = io.BytesIO()
    wav = dgtrio.audio.WavWriter(buffer, encoding="mulaw", sample_rate=8000)
    wav.write(b"\x7f" * 3)
    wav.close()
    wav.close()  # idempotent
    assert not buffer.closed and len(buffer.getvalue()) % 2 == 0
    with pytest.raises(ValueError, match="closed"):
        wav.write(b"\x00")
    with pytest.raises(ValueError, match="cannot hold 'opus'"):
        dgtrio.audio.WavWriter(buffer, encoding="opus", sample_rate=8000)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("kwargs", "problem"),
    [
        ({"model": "nova-3"}, "not a Flux model"),
        ({"encoding": "linear16"}, "go together"),
        ({"encoding": "flac", "sample_rate": 16000}, "not one of"),
        ({"eot_threshold": 0.4}, "eot_threshold must be between 0.5 and 1"),
        ({"eager_eot_threshold": 0.95}, "eager_eot_threshold must be between 0.3 and 0.9"),
        ({"eot_threshold": 0.6, "eager_eot_threshold": 0.7}, "cannot be above"),
        ({"eot_timeout_ms": 100}, "eot_timeout_ms must be between 500 and 60000"),
        ({"language_hint": ["en"]}, "flux-general-multi"),
        ({"redact": ["ssn"]}, "redact"),
        ({"keyterm": "one string"}, "not one string"),
    ],
)
def test_flux_options_are_validated(kwargs: dict[str, Any], problem: str) -> None:
    with pytest.raises(dgtrio.ConfigurationError, match=problem):
        dgtrio.ListenV2Options(**kwargs)


@pytest.mark.parametrize(
    ("kwargs", "problem"),
    [
        ({"model": "flux-thalia-en"}, "not an Aura voice"),
        ({"encoding": "mp3"}, "not one of"),
        ({"sample_rate": 44100}, "sample_rate 44100"),
        ({"encoding": "mulaw", "sample_rate": 24000}, "for mulaw"),
        ({"speed": 2.0}, "speed must be between 0.7 and 1.5"),
    ],
)
def test_speak_options_are_validated(kwargs: dict[str, Any], problem: str) -> None:
    with pytest.raises(dgtrio.ConfigurationError, match=problem):
        dgtrio.SpeakV1Options(**kwargs)


def test_query_strings() -> None:
    from dgtrio._codec import encode_query

    flux = dgtrio.ListenV2Options(
        encoding="linear16",
        sample_rate=16000,
        eager_eot_threshold=0.5,
        keyterm=["order number", "refund"],
        redact=["numbers"],
    )
    assert encode_query(flux) == (
        "model=flux-general-en&encoding=linear16&sample_rate=16000&eager_eot_threshold=0.5"
        "&keyterm=order+number&keyterm=refund&redact=numbers"
    )
    speak = dgtrio.SpeakV1Options(speed=1.2, extra_query={"tag": "demo"})
    assert encode_query(speak) == (
        "model=aura-2-thalia-en&encoding=linear16&sample_rate=24000&speed=1.2&tag=demo"
    )
