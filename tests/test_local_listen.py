"""The local engine's Listen v1 (:class:`dgtrio.local.LocalDeepgram`) over real loopback
sockets, on speech that Debian's flite makes (never this project): the word error
rate of the finals, interims before each final and finals at pauses, ``Finalize`` and
``CloseStream``, mu-law, WAV files, refused encodings, silence, multichannel audio,
and the official SDK as a client.

Where recognition decides (the words), the tests bound the quality; where the
protocol does (which messages, their order, flags, channels, durations), they are
exact.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import shutil
import struct
import subprocess
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
import trio

if os.environ.get("CI") == "true":  # CI installs the local extra: missing, it fails
    import faster_whisper  # noqa: F401
    import hibari  # noqa: F401
else:
    pytest.importorskip("faster_whisper")
    pytest.importorskip("hibari")  # the servers share a synthesiser too

import numpy as np

import dgtrio
from bench.local import (
    FLITE_VOICES,
    SENTENCES,
    normalise,
    read_pcm,
    word_error_rate,
    word_errors,
    write_pcm,
)
from bench.sdk_compat import stream_wav_with_sdk
from dgtrio.audio import WavSource
from dgtrio.local import LocalDeepgram, RecognizedWord, Recognizer, Synthesizer

from .conftest import API_KEY

Say = Callable[..., Path]


@pytest.fixture(scope="module")
def models() -> tuple[Recognizer, Synthesizer]:
    """The engine's models, loaded once (about a second) for every server here."""
    return Recognizer(), Synthesizer()


@pytest.fixture
async def local(models: tuple[Recognizer, Synthesizer], nursery: trio.Nursery) -> LocalDeepgram:
    """A local engine on loopback sharing the module's models, requiring ``API_KEY``."""
    recognizer, synthesizer = models
    server = LocalDeepgram(api_key=API_KEY, recognizer=recognizer, synthesizer=synthesizer)
    await nursery.start(server.serve)
    return server


@pytest.fixture
def connect(local: LocalDeepgram) -> dgtrio.ConnectOptions:
    return {"base_url": local.url, "api_key": API_KEY}


@pytest.fixture
def say(tmp_path: Path) -> Say:
    """``say(text, voice="slt")``: ``text`` spoken by flite into a WAV file (mono
    16-bit; ``kal`` speaks at 8 kHz, the other voices at 16 kHz)."""
    if shutil.which("flite") is None:
        if os.environ.get("CI") == "true":
            pytest.fail("CI must speak the test sentences with flite: see .ci/run")
        pytest.skip("flite speaks the test sentences: apt-get install flite")
    count = 0

    def speak(text: str, voice: str = "slt") -> Path:
        nonlocal count
        count += 1
        path = tmp_path / f"said-{count}-{voice}.wav"
        subprocess.run(
            ["flite", "-voice", voice, "-t", text, "-o", str(path)],
            check=True,
            capture_output=True,
        )
        return path

    return speak


def _split(messages: list[Any]) -> tuple[list[dgtrio.ListenV1Results], Any]:
    """The results, and the last message (which should be the Metadata)."""
    results = [m for m in messages if isinstance(m, dgtrio.ListenV1Results)]
    return results, messages[-1]


def _transcript(results: list[dgtrio.ListenV1Results]) -> str:
    return " ".join(r.transcript for r in results if r.is_final)


async def _send(conn: Any, data: bytes, frame: int) -> None:
    for start in range(0, len(data), frame):
        await conn.send_audio(data[start : start + frame])


async def _paced(data: bytes, frame: int, seconds_per_frame: float) -> AsyncIterator[bytes]:
    """``data`` in frames at real time, paced on the clock."""
    start = trio.current_time()
    for index, offset in enumerate(range(0, len(data), frame)):
        await trio.sleep_until(start + index * seconds_per_frame)
        yield data[offset : offset + frame]


def _mulaw(samples: np.typing.NDArray[np.int16]) -> bytes:
    """G.711 mu-law by the standard's segment rule (not dgtrio's tables)."""
    value = samples.astype(np.int32)
    sign = np.where(value < 0, 0x80, 0)
    magnitude = np.minimum(np.abs(value), 32635) + 0x84
    exponent = np.floor(np.log2(magnitude)).astype(np.int32) - 7
    mantissa = (magnitude >> (exponent + 3)) & 0x0F
    encoded: bytes = (~(sign | (exponent << 4) | mantissa) & 0xFF).astype(np.uint8).tobytes()
    return encoded


def test_the_word_error_rate_counts_edits_between_normalised_words() -> None:
    assert normalise("Twenty-four hours, 7 days; it's 100!") == (
        ["twenty", "four", "hours", "seven", "days", "it's", "one", "hundred"]
    )
    assert word_errors(["a", "b", "c"], ["a", "x", "c", "d"]) == 2
    assert word_error_rate(["the cat sat"], ["The cat, sat."]) == 0
    assert word_error_rate(["a b c d", "e f"], ["a c d x y", "e f"]) == 3 / 6


async def test_flite_sentences_are_heard_within_15_percent_wer(
    say: Say, connect: dgtrio.ConnectOptions
) -> None:
    sentences = SENTENCES[:12]
    heard = []
    for index, sentence in enumerate(sentences):
        source = WavSource(say(sentence, FLITE_VOICES[index % len(FLITE_VOICES)]), speed=None)
        fmt = source.format
        options = dgtrio.ListenV1Options(
            encoding=fmt.encoding, sample_rate=fmt.sample_rate, channels=fmt.channels
        )
        async with dgtrio.open_listen(options, audio=source, **connect) as conn:
            results, last = _split([m async for m in conn])
        # Without interim_results, only finals; the stream ends with its Metadata.
        assert results and all(r.is_final for r in results)
        assert isinstance(last, dgtrio.ListenV1Metadata)
        assert last.duration == pytest.approx(source.duration, abs=1e-6)
        heard.append(_transcript(results))
    wer = word_error_rate(sentences, heard)
    misheard = [
        (s, h) for s, h in zip(sentences, heard, strict=True) if normalise(s) != normalise(h)
    ]
    assert wer <= 0.15, f"WER {wer:.1%}: {misheard}"


async def test_interims_come_before_each_final_and_a_pause_ends_each_utterance(
    say: Say, connect: dgtrio.ConnectOptions, tmp_path: Path
) -> None:
    said = ["please turn off the lights in the kitchen", "the library closes early on sundays"]
    first, rate = read_pcm(say(said[0]))
    second, _ = read_pcm(say(said[1]))
    second_starts = len(first) / 2 / rate + 1.0
    path = write_pcm(tmp_path / "two.wav", first + bytes(2 * rate) + second + bytes(rate), rate)
    source = WavSource(path, speed=1.0)  # real time: the engine looks every 0.5 s
    options = dgtrio.ListenV1Options(encoding="linear16", sample_rate=rate, interim_results=True)
    async with dgtrio.open_listen(options, audio=source, **connect) as conn:
        results, last = _split([m async for m in conn])
    finals = [r for r in results if r.is_final]
    # Each sentence ends at its pause: two finals, both speech_final.
    assert [(r.speech_final, r.from_finalize) for r in finals] == [(True, False)] * 2
    assert results[-1] is finals[-1]  # the trailing silence adds nothing
    # Interims of the utterance's held audio (from where the last final ended) come
    # before its final, and none after.
    before = 0
    for final in finals:
        upto = results.index(final)
        interims = results[before:upto]
        assert interims, f"no interim before {final.transcript!r}"
        assert all(not r.is_final and r.start == final.start for r in interims)
        assert all(a.end < b.end for a, b in itertools.pairwise(interims))  # more each time
        before = upto + 1
    # In order, within the audio; the first final ends before the second sentence.
    assert 0 <= finals[0].start < finals[0].end <= finals[1].start < finals[1].end
    assert finals[1].end <= source.duration + 1e-6
    assert finals[0].end <= second_starts + 0.1
    for final in finals:
        assert all(final.start - 0.05 <= w.start <= w.end <= final.end + 0.05 for w in final.words)
    assert word_error_rate(said, [f.transcript for f in finals]) <= 0.25
    assert isinstance(last, dgtrio.ListenV1Metadata)
    assert last.duration == pytest.approx(source.duration, abs=1e-6)


async def test_finalize_mid_utterance_gives_a_from_finalize_final(
    say: Say, connect: dgtrio.ConnectOptions
) -> None:
    sentence = SENTENCES[1]
    pcm, rate = read_pcm(say(sentence, "rms"))
    half = len(pcm) // 4 * 2  # mid-sentence, a whole sample
    options = dgtrio.ListenV1Options(encoding="linear16", sample_rate=rate)
    async with dgtrio.open_listen(options, **connect) as conn:
        await _send(conn, pcm[:half], 640)
        finalized = await conn.finalize_and_wait(timeout=30)
        await _send(conn, pcm[half:], 640)
        await conn.close_stream()
        results, last = _split([m async for m in conn])
    assert len(finalized) == 1
    cut = finalized[0]
    assert cut.is_final and cut.from_finalize
    # It takes everything held up to the Finalize: from the start to the cut, exactly.
    assert cut.start == 0
    assert cut.end == pytest.approx(half / 2 / rate, abs=1e-6)
    assert cut.words and all(w.end <= cut.end + 0.05 for w in cut.words)
    assert results[0] == cut  # the iterator gets it too, first
    rest = results[1:]
    assert rest and all(r.is_final and not r.from_finalize for r in rest)
    assert rest[0].start >= cut.end - 1e-6
    assert word_error_rate([sentence], [_transcript(results)]) <= 0.25
    assert isinstance(last, dgtrio.ListenV1Metadata)
    assert last.duration == pytest.approx(len(pcm) / 2 / rate, abs=1e-6)


async def test_close_stream_gives_the_finals_then_metadata_and_closes_1000(
    say: Say, local: LocalDeepgram, connect: dgtrio.ConnectOptions
) -> None:
    sentence = SENTENCES[2]
    pcm, rate = read_pcm(say(sentence, "awb"))
    options = dgtrio.ListenV1Options(encoding="linear16", sample_rate=rate)
    async with dgtrio.open_listen(options, **connect) as conn:
        await _send(conn, pcm, 640)
        await conn.close_stream()
        messages = [m async for m in conn]  # iteration ends: the server closed cleanly
    results, last = _split(messages)
    assert messages[:-1] == results  # only finals, then the Metadata
    assert results and all(r.is_final and not r.from_finalize for r in results)
    assert isinstance(last, dgtrio.ListenV1Metadata)
    assert last.duration == pytest.approx(len(pcm) / 2 / rate, abs=1e-6)
    assert last.channels == 1
    assert results[-1].end <= last.duration + 1e-6
    assert word_error_rate([sentence], [_transcript(results)]) <= 0.25
    session = local.sessions[0]
    await session.wait_closed()
    assert session.server_close == (1000, "")
    assert session.received[-1].json() == {"type": "CloseStream"}


async def test_mulaw_at_8khz_is_heard(say: Say, connect: dgtrio.ConnectOptions) -> None:
    said = SENTENCES[0:2]
    first, rate = read_pcm(say(said[0], "kal"))
    second, _ = read_pcm(say(said[1], "kal"))
    assert rate == 8000
    pcm = first + bytes(2 * rate) + second
    audio = _mulaw(np.frombuffer(pcm, dtype="<i2"))
    options = dgtrio.ListenV1Options(encoding="mulaw", sample_rate=8000)
    async with dgtrio.open_listen(options, **connect) as conn:
        await _send(conn, audio, 160)
        await conn.close_stream()
        results, last = _split([m async for m in conn])
    assert isinstance(last, dgtrio.ListenV1Metadata)
    assert last.duration == pytest.approx(len(audio) / 8000, abs=1e-6)
    assert word_error_rate([" ".join(said)], [_transcript(results)]) <= 0.2


@pytest.mark.parametrize("voice", ["kal", "slt"])  # 8 and 16 kHz: only the header says
async def test_a_wav_file_is_heard_without_an_encoding(
    voice: str, say: Say, connect: dgtrio.ConnectOptions
) -> None:
    # A sentence both voices say clearly: heard at the wrong rate (8 kHz as 16 or 16 as
    # 8), it is more than half wrong (WER 1.1 and 0.5), at the header's, word for word.
    sentence = SENTENCES[5]
    path = say(sentence, voice)
    data = path.read_bytes()
    pcm, rate = read_pcm(path)
    async with dgtrio.open_listen(dgtrio.ListenV1Options(), **connect) as conn:
        # The header arrives in pieces, the first too short to say anything.
        await conn.send_audio(data[:10])
        await conn.send_audio(data[10:30])
        await _send(conn, data[30:], 640)
        await conn.close_stream()
        results, last = _split([m async for m in conn])
    assert isinstance(last, dgtrio.ListenV1Metadata)
    assert last.duration == pytest.approx(len(pcm) / 2 / rate, abs=1e-6)  # no header
    assert results and all(r.is_final for r in results)
    assert word_error_rate([sentence], [_transcript(results)]) <= 0.25


async def test_an_encoding_the_engine_cannot_decode_is_refused_with_400(
    local: LocalDeepgram, connect: dgtrio.ConnectOptions
) -> None:
    options = dgtrio.ListenV1Options(encoding="opus", sample_rate=48000)
    with pytest.raises(dgtrio.InvalidRequest) as info:
        async with dgtrio.open_listen(options, **connect):
            pass
    assert isinstance(info.value, dgtrio.HandshakeRejected)
    assert info.value.status == 400
    assert info.value.dg_error == (
        "The local engine decodes linear16, linear32, mulaw, alaw (or WAV), not opus."
    )
    assert json.loads(info.value.body)["err_code"] == "INVALID_QUERY_PARAMETER"
    assert local.sessions == []


async def test_silence_gives_no_results_and_no_words(connect: dgtrio.ConnectOptions) -> None:
    rate = 16000
    noise = np.random.default_rng(1).normal(0, 30, 2 * rate)  # -60 dBFS hiss
    samples = np.concatenate([np.zeros(rate), noise, np.zeros(rate // 2)])
    pcm = samples.astype("<i2").tobytes()
    options = dgtrio.ListenV1Options(
        encoding="linear16",
        sample_rate=rate,
        interim_results=True,
        vad_events=True,
        utterance_end_ms=1000,
    )
    audio = _paced(pcm, 640, 0.02)
    async with dgtrio.open_listen(options, audio=audio, **connect) as conn:
        messages = [m async for m in conn]
    assert [type(m).__name__ for m in messages] == ["ListenV1Metadata"]
    last = messages[-1]
    assert isinstance(last, dgtrio.ListenV1Metadata)
    assert last.duration == pytest.approx(3.5, abs=1e-6)


@pytest.mark.parametrize("speaking", [0, 1])
async def test_multichannel_words_come_only_on_the_channel_that_speaks(
    speaking: int, say: Say, connect: dgtrio.ConnectOptions
) -> None:
    sentence = SENTENCES[4]
    pcm, rate = read_pcm(say(sentence, "slt"))
    voice = np.frombuffer(pcm, dtype="<i2")
    channels = [np.zeros_like(voice), np.zeros_like(voice)]
    channels[speaking] = voice
    stereo = np.column_stack(channels).astype("<i2").tobytes()
    options = dgtrio.ListenV1Options(
        encoding="linear16", sample_rate=rate, channels=2, multichannel=True
    )
    async with dgtrio.open_listen(options, **connect) as conn:
        await _send(conn, stereo, 1280)
        await conn.close_stream()
        results, last = _split([m async for m in conn])
    assert results and all(r.channel_index == (speaking, 2) for r in results)
    assert word_error_rate([sentence], [_transcript(results)]) <= 0.25
    assert isinstance(last, dgtrio.ListenV1Metadata)
    assert last.channels == 2
    assert last.duration == pytest.approx(len(voice) / rate, abs=1e-6)


# The SDK imports names that its own websockets dependency deprecates.
@pytest.mark.filterwarnings("ignore::DeprecationWarning")
async def test_the_official_sdk_hears_the_words(say: Say, local: LocalDeepgram) -> None:
    sentence = SENTENCES[5]
    path = say(sentence, "awb")
    pcm, rate = read_pcm(path)

    def run_sdk() -> list[Any]:  # asyncio, in a thread of its own
        return asyncio.run(stream_wav_with_sdk(local.url, path, api_key=API_KEY))

    messages = await trio.to_thread.run_sync(run_sdk)
    names = [type(m).__name__ for m in messages]
    assert names[-1] == "ListenV1Metadata" and set(names[:-1]) == {"ListenV1Results"}
    assert messages[-1].duration == pytest.approx(len(pcm) / 2 / rate, abs=1e-6)
    finals = [m for m in messages[:-1] if m.is_final]
    assert finals and all(m.channel.alternatives[0].words for m in finals)
    heard = " ".join(m.channel.alternatives[0].transcript for m in finals)
    assert word_error_rate([sentence], [heard]) <= 0.25
    assert local.sessions[0].auth == "Token"


async def test_a_stereo_wav_with_multichannel_keeps_its_channels(
    say: Say, connect: dgtrio.ConnectOptions
) -> None:
    sentence = SENTENCES[4]
    pcm, rate = read_pcm(say(sentence, "slt"))
    voice = np.frombuffer(pcm, dtype="<i2")
    stereo = np.column_stack([voice, np.zeros_like(voice)]).astype("<i2").tobytes()
    header = struct.pack(
        "<4sI4s4sIHHIIHH4sI",
        *(b"RIFF", 36 + len(stereo), b"WAVE", b"fmt ", 16, 1, 2, rate),
        *(rate * 4, 4, 16, b"data", len(stereo)),
    )
    # Neither channels nor encoding: the header says both.
    async with dgtrio.open_listen(dgtrio.ListenV1Options(multichannel=True), **connect) as conn:
        await _send(conn, header + stereo, 1280)
        await conn.close_stream()
        results, last = _split([m async for m in conn])
    assert results and all(r.channel_index == (0, 2) for r in results)
    assert word_error_rate([sentence], [_transcript(results)]) <= 0.25
    assert last.channels == 2


async def test_the_engine_at_work_is_no_idle_client(
    say: Say, models: tuple[Recognizer, Synthesizer], nursery: trio.Nursery
) -> None:
    """Audio sent faster than it is recognised: the client says nothing while the
    engine catches up (longer than the idle timeout), and loses no final."""
    recognizer, synthesizer = models
    local = LocalDeepgram(
        api_key=API_KEY, recognizer=recognizer, synthesizer=synthesizer, idle_timeout=2
    )
    await nursery.start(local.serve)
    pcm, rate = read_pcm(say(SENTENCES[6], "slt"))
    pause = bytes(rate)  # half a second
    options = dgtrio.ListenV1Options(encoding="linear16", sample_rate=rate)
    async with dgtrio.open_listen(options, base_url=local.url, api_key=API_KEY) as conn:
        await _send(conn, (pcm + pause) * 6, 3200)
        await conn.close_stream()
        results, last = _split([m async for m in conn])
    assert isinstance(last, dgtrio.ListenV1Metadata)
    assert len([r for r in results if r.is_final]) == 6
    assert local.sessions[0].server_close == (1000, "")


class _SlowRecognizer(Recognizer):
    """Speech throughout, and a decode that takes 1 s: Whisper on a busy machine."""

    workers = 1

    def __init__(self) -> None:  # no model to load
        pass

    def speech(self, audio: Any) -> list[tuple[float, float]]:
        return [(0.0, len(audio) / 16000)]

    def transcribe(self, audio: Any, offset: float = 0.0) -> list[RecognizedWord]:
        time.sleep(1.0)
        return [RecognizedWord("hello", "hello", offset, offset + 0.5, 0.9)]


async def test_a_recognition_pass_longer_than_the_idle_timeout_is_no_idle_client(
    models: tuple[Recognizer, Synthesizer], nursery: trio.Nursery
) -> None:
    """One pass of the engine's work outlasts the idle timeout while the client,
    having sent all its audio and CloseStream, waits for the final: the engine at
    work, not an idle client (as on a busy machine, where a decode can take seconds)."""
    local = LocalDeepgram(
        api_key=API_KEY, recognizer=_SlowRecognizer(), synthesizer=models[1], idle_timeout=0.5
    )
    await nursery.start(local.serve)
    options = dgtrio.ListenV1Options(encoding="linear16", sample_rate=16000)
    try:
        async with dgtrio.open_listen(options, base_url=local.url, api_key=API_KEY) as conn:
            await conn.send_audio(bytes(32000))  # 1 s
            await conn.close_stream()
            results, last = _split([m async for m in conn])
    except dgtrio.IdleTimeout as exc:
        pytest.fail(f"closed as idle while the engine worked: {exc}")
    assert isinstance(last, dgtrio.ListenV1Metadata)
    assert _transcript(results) == "hello"
    assert local.sessions[0].server_close == (1000, "")


class _Marks(Recognizer):
    """Speech wherever a sample is not zero, and a decode that says how many seconds
    of speech it was given ("s10": one second); its decodes of speech are counted."""

    workers = 1

    def __init__(self) -> None:  # no model to load
        self.decoded = 0

    def speech(self, audio: Any) -> list[tuple[float, float]]:
        loud = np.flatnonzero(np.diff(np.concatenate([[0], audio != 0, [0]]).astype(int)))
        return [
            (start / 16000, end / 16000) for start, end in zip(loud[::2], loud[1::2], strict=True)
        ]

    def transcribe(self, audio: Any, offset: float = 0.0) -> list[RecognizedWord]:
        tenths = round(np.count_nonzero(audio) / 1600)
        if not tenths:  # silence: no words, and no Whisper behind the activity detector
            return []
        self.decoded += 1
        return [RecognizedWord(f"s{tenths}", f"s{tenths}", offset, offset + 0.5, 0.9)]


def _tone(seconds: float) -> bytes:
    return struct.pack("<h", 8000) * round(seconds * 16000)


async def _marks_session(
    nursery: trio.Nursery, synthesizer: Synthesizer, *parts: bytes
) -> tuple[list[Any], int]:
    """Send ``parts`` to a local engine with :class:`_Marks` ears, each once the one
    before was looked at (decoded, if it ended in a pause); the results, and the
    decodes made."""
    marks = _Marks()
    local = LocalDeepgram(api_key=API_KEY, recognizer=marks, synthesizer=synthesizer)
    await nursery.start(local.serve)
    options = dgtrio.ListenV1Options(encoding="linear16", sample_rate=16000)
    async with dgtrio.open_listen(options, base_url=local.url, api_key=API_KEY) as conn:
        for part in parts:
            await conn.send_audio(part)
            await trio.sleep(0.3)  # ample for a look and a decode of nothing
        await conn.close_stream()
        results, _ = _split([m async for m in conn])
    return results, marks.decoded


async def test_a_final_at_a_pause_reuses_the_decode_made_as_the_pause_began(
    models: tuple[Recognizer, Synthesizer], nursery: trio.Nursery
) -> None:
    """Speech, then 0.15 s of quiet: the engine decodes what it holds (interims or
    not), so that when the quiet lasts long enough to end the utterance, its final
    is ready: one decode, not two."""
    results, decoded = await _marks_session(
        nursery, models[1], _tone(1.0) + bytes(4800), bytes(16000)
    )
    assert [(r.transcript, r.is_final, r.speech_final) for r in results] == [("s10", True, True)]
    assert decoded == 1


async def test_speech_after_the_pause_decode_is_decoded_with_the_rest(
    models: tuple[Recognizer, Synthesizer], nursery: trio.Nursery
) -> None:
    """The pause was not the end: the utterance goes on, and its final is a decode of
    all of it, not the decode made at the pause."""
    results, decoded = await _marks_session(
        nursery, models[1], _tone(1.0) + bytes(4800), _tone(0.5), bytes(16000)
    )
    assert [(r.transcript, r.is_final) for r in results] == [("s15", True)]
    assert decoded == 2


async def test_the_pytest_plugin_serves_the_local_engine(local_deepgram: LocalDeepgram) -> None:
    """``local_deepgram``: what the local engine says, it hears."""
    sentence = "The library opens at nine in the morning."
    async with dgtrio.open_speak(
        dgtrio.SpeakV1Options(encoding="linear16", sample_rate=16000), base_url=local_deepgram.url
    ) as tts:
        speech = b"".join([audio.data async for audio in tts.utterance(sentence)])
    options = dgtrio.ListenV1Options(encoding="linear16", sample_rate=16000)
    async with dgtrio.open_listen(options, base_url=local_deepgram.url) as conn:
        await _send(conn, speech, 3200)
        await conn.close_stream()
        results, _ = _split([m async for m in conn])
    assert word_error_rate([sentence], [_transcript(results)]) <= 0.2
