"""The fake server's Listen v1 behaviour, and its process and fixture forms."""

from __future__ import annotations

import hashlib
import wave
from collections.abc import AsyncIterator

import pytest
import trio
import trio.testing

import dgtrio
from dgtrio import ConnectOptions
from dgtrio.testing import FakeDeepgram, ListenScript, fake_server_process

from .conftest import API_KEY, HELLO_WAV, frames, pcm16


async def _transcribe(
    fake: FakeDeepgram, options: dgtrio.ListenV1Options, chunks: list[bytes]
) -> list[object]:
    async with dgtrio.open_listen(options, base_url=fake.url, api_key=API_KEY) as conn:
        for chunk in chunks:
            await conn.send_audio(chunk)
        await conn.close_stream()
        return [m async for m in conn]


@pytest.mark.parametrize(
    ("encoding", "rate", "channels", "bytes_per_second"),
    [
        ("linear16", 16000, 1, 32000),
        ("linear16", 8000, 2, 32000),
        ("mulaw", 8000, 1, 8000),
        ("linear32", 24000, 1, 96000),
    ],
)
async def test_durations_follow_the_bytes_and_declared_format(
    fake: FakeDeepgram,
    encoding: dgtrio.ListenV1Encoding,
    rate: int,
    channels: int,
    bytes_per_second: int,
) -> None:
    options = dgtrio.ListenV1Options(
        encoding=encoding,
        sample_rate=rate,
        channels=channels,
    )
    audio = bytes(bytes_per_second * 5 // 2)  # 2.5 s
    messages = await _transcribe(fake, options, frames(audio, 960))
    metadata = messages[-1]
    assert isinstance(metadata, dgtrio.ListenV1Metadata)
    assert metadata.duration == pytest.approx(2.5)
    assert metadata.channels == channels
    assert metadata.sha256 == hashlib.sha256(audio).hexdigest()
    final = messages[0]
    assert isinstance(final, dgtrio.ListenV1Results)
    assert final.start == 0.0
    assert final.end == pytest.approx(2.5)  # flushed by CloseStream


async def test_wav_container_is_read_from_its_header(fake: FakeDeepgram) -> None:
    data = HELLO_WAV.read_bytes()
    messages = await _transcribe(fake, dgtrio.ListenV1Options(), frames(data, 4096))
    with wave.open(str(HELLO_WAV)) as wav:
        duration = wav.getnframes() / wav.getframerate()
    assert isinstance(messages[-1], dgtrio.ListenV1Metadata)
    assert messages[-1].duration == pytest.approx(duration, abs=1e-4)


async def test_interim_results_only_when_asked(fake: FakeDeepgram) -> None:
    audio = frames(pcm16(4.0))
    plain = await _transcribe(
        fake, dgtrio.ListenV1Options(encoding="linear16", sample_rate=16000), audio
    )
    assert all(m.is_final for m in plain if isinstance(m, dgtrio.ListenV1Results))
    options = dgtrio.ListenV1Options(encoding="linear16", sample_rate=16000, interim_results=True)
    interim = await _transcribe(fake, options, audio)
    interims = [m for m in interim if isinstance(m, dgtrio.ListenV1Results) and not m.is_final]
    assert [(m.start, m.duration, m.transcript) for m in interims] == [
        (0.0, 1.0, "the quick brown"),
        (0.0, 2.0, "the quick brown fox jumps over"),
    ]


async def test_script_vad_and_utterance_end(nursery: trio.Nursery) -> None:
    fake = FakeDeepgram(listen_script=ListenScript("One two. Three four five.", pause=1.5))
    await nursery.start(fake.serve)
    options = dgtrio.ListenV1Options(
        encoding="linear16",
        sample_rate=16000,
        interim_results=True,
        utterance_end_ms=1000,
        vad_events=True,
        punctuate=True,
        endpointing=300,
    )
    async with dgtrio.open_listen(options, base_url=fake.url, audio=_paced(pcm16(5.0))) as conn:
        events = [m async for m in conn]
    summary = [
        (type(m).__name__[8:], getattr(m, "transcript", None), getattr(m, "speech_final", None))
        for m in events
    ]
    assert summary == [
        ("SpeechStarted", None, None),
        ("Results", "One two.", False),  # interim at 1 s
        ("Results", "One two.", True),
        ("UtteranceEnd", None, None),
        ("SpeechStarted", None, None),
        ("Results", "Three four five.", False),
        ("Results", "Three four five.", True),
        ("UtteranceEnd", None, None),
        ("Metadata", None, None),
    ]
    first_final = events[2]
    assert isinstance(first_final, dgtrio.ListenV1Results)
    assert first_final.end == pytest.approx(0.3 + 0.3 + 0.27 + 0.3)  # last word end + 300 ms
    ends = [m.last_word_end for m in events if isinstance(m, dgtrio.ListenV1UtteranceEnd)]
    assert ends == [pytest.approx(0.87), pytest.approx(3.27)]


async def _paced(audio: bytes) -> AsyncIterator[bytes]:
    for frame in frames(audio):
        yield frame


async def test_idle_close_after_ten_seconds(
    fake: FakeDeepgram, connect: ConnectOptions, autojump_clock: trio.testing.MockClock
) -> None:
    async with dgtrio.open_listen(keepalive_interval=None, **connect) as conn:
        with pytest.raises(dgtrio.IdleTimeout):
            await conn.receive()
    session = fake.sessions[0]
    await session.wait_closed()
    assert session.server_close == (1011, "NET-0001")
    assert trio.current_time() - session.connected_at == pytest.approx(10.0)


async def test_frames_are_recorded_with_their_times(
    fake: FakeDeepgram, connect: ConnectOptions, autojump_clock: trio.testing.MockClock
) -> None:
    async with dgtrio.open_listen(keepalive_interval=None, **connect) as conn:
        await conn.send_audio(b"RIFF")
        await trio.sleep(2.5)
        await conn.keep_alive()
    session = fake.sessions[0]
    await session.wait_closed()
    times = [frame.time - session.connected_at for frame in session.received]
    assert times == [0.0, 2.5]
    assert session.client_close == (1000, "")


def test_script_validation() -> None:
    with pytest.raises(ValueError, match="at least one word"):
        ListenScript("  ")
    with pytest.raises(ValueError, match="positive"):
        ListenScript(pause=0)


async def test_flux_models_are_refused_on_v1(fake: FakeDeepgram) -> None:
    options = dgtrio.ListenV1Options(model=None, extra_query={"model": "flux-general-en"})
    with pytest.raises(dgtrio.InvalidRequest, match="requires /v2/listen"):
        async with dgtrio.open_listen(options, base_url=fake.url, api_key=API_KEY):
            pass  # pragma: no cover


async def test_unknown_paths_are_404(fake: FakeDeepgram) -> None:
    from dgtrio._connection import Connection
    from dgtrio._engine import ApiSpec, open_connection
    from dgtrio.listen.v1._messages import CODEC

    spec = ApiSpec("nothing", "/v9/nothing", CODEC)
    with pytest.raises(dgtrio.HandshakeRejected) as info:
        async with open_connection(
            Connection,
            spec,
            "",
            {"base_url": fake.url, "api_key": API_KEY},
            opener=dgtrio.open_listen,
            options_class=None,
        ):
            pass  # pragma: no cover
    assert info.value.status == 404


async def test_fixture_from_the_plugin(fake_deepgram: FakeDeepgram) -> None:
    async with dgtrio.open_listen(base_url=fake_deepgram.url) as conn:  # any key, or none
        await conn.close_stream()
        assert [type(m) async for m in conn] == [dgtrio.ListenV1Metadata]
    assert fake_deepgram.sessions[0].auth is None


def test_serve_as_a_process() -> None:
    async def client(url: str) -> list[object]:
        async with dgtrio.open_listen(base_url=url, api_key=API_KEY) as conn:
            await conn.send_audio(HELLO_WAV.read_bytes())
            await conn.close_stream()
            return [m async for m in conn]

    with fake_server_process("--api-key", API_KEY) as url:
        assert url.startswith("ws://127.0.0.1:")
        messages = trio.run(client, url)
    assert isinstance(messages[-1], dgtrio.ListenV1Metadata)
    assert any(isinstance(m, dgtrio.ListenV1Results) for m in messages)
