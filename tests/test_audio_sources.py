"""Audio formats, G.711, and the file and stream sources: framing, pacing, checks."""

from __future__ import annotations

import struct
import sys
import warnings
import wave
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import trio
import trio.testing

import dgtrio
from dgtrio.audio import AudioFormat, RawSource, StreamSource, WavSource
from dgtrio.audio._format import check_format, raw_format
from dgtrio.audio._g711 import (
    ALAW,
    G711,
    ULAW,
    alaw_encode,
    from_linear16,
    to_linear16,
    ulaw_encode,
)

from .conftest import HELLO_WAV, pcm16

ALL_SAMPLES = struct.pack("<65536h", *range(-32768, 32768))
ALL_CODES = bytes(range(256))


# -- G.711 ------------------------------------------------------------------------------------


def test_g711_known_vectors() -> None:
    assert (ULAW[0x00], ULAW[0x80], ULAW[0xFF], ULAW[0x7F]) == (-32124, 32124, 0, 0)
    assert (ALAW[0xD5], ALAW[0x55], ALAW[0xAA], ALAW[0x2A]) == (8, -8, 32256, -32256)
    assert [ulaw_encode(x) for x in (0, 32767, -32768, 100, -100)] == [0xFF, 0x80, 0x00, 0xF2, 0x72]
    assert [alaw_encode(x) for x in (0, 32767, -32768, 100, -100)] == [0xD5, 0xAA, 0x2A, 0xD3, 0x53]
    assert to_linear16(b"\xff\x00", "mulaw") == struct.pack("<2h", 0, -32124)
    assert from_linear16(struct.pack("<2h", 8, -8), "alaw") == b"\xd5\x55"


@pytest.mark.parametrize("law", ["mulaw", "alaw"])
def test_g711_matches_the_reference_on_every_sample_and_code(law: G711) -> None:
    if sys.version_info >= (3, 13):
        pytest.skip("audioop, the standard library's G.711 reference, went in Python 3.13")
    else:  # (an else, so that mypy checks the import only for the Pythons that have it)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # deprecated since 3.11
            import audioop
        to_law = audioop.lin2ulaw if law == "mulaw" else audioop.lin2alaw
        to_pcm = audioop.ulaw2lin if law == "mulaw" else audioop.alaw2lin
        assert from_linear16(ALL_SAMPLES, law) == to_law(ALL_SAMPLES, 2)
        assert to_linear16(ALL_CODES, law) == to_pcm(ALL_CODES, 2)


@pytest.mark.parametrize("law", ["mulaw", "alaw"])
def test_g711_round_trips_its_own_codes(law: G711) -> None:
    pcm = to_linear16(ALL_CODES, law)
    again = from_linear16(pcm, law)
    # Every code decodes and encodes back to itself, but mu-law's two zeros (0x7F, 0xFF).
    assert [a for a, b in zip(again, ALL_CODES, strict=True) if a != b] == (
        [0xFF] if law == "mulaw" else []
    )
    assert to_linear16(again, law) == pcm


def test_g711_refuses_split_samples_and_unknown_laws() -> None:
    with pytest.raises(ValueError, match="sample is split"):
        from_linear16(b"\x00\x00\x00", "mulaw")
    with pytest.raises(ValueError, match="'mulaw' or 'alaw'"):
        to_linear16(b"\x00", "linear16")  # type: ignore[arg-type]


# -- formats ------------------------------------------------------------------------------------


def test_audio_format_sizes_and_text() -> None:
    stereo = AudioFormat("linear16", 16000, 2)
    assert (stereo.sample_width, stereo.frame_size, stereo.bytes_per_second) == (2, 4, 64000)
    assert stereo.frame_bytes(20) == 1280
    assert stereo.duration(64000) == 1.0
    assert str(stereo) == "linear16 at 16000 Hz, stereo"
    assert str(AudioFormat("mulaw", 8000)) == "mulaw at 8000 Hz, mono"
    assert AudioFormat("alaw", 8000).frame_bytes(0.01) == 1  # never less than one sample
    with pytest.raises(ValueError, match="encoding must be one of"):
        AudioFormat("opus", 48000)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="sample_rate must be a positive integer"):
        AudioFormat("linear16", 0)
    with pytest.raises(ValueError, match="channels must be a positive integer"):
        AudioFormat("linear16", 16000, True)


def test_check_format_names_both_sides() -> None:
    class Source:
        format = AudioFormat("linear16", 16000)

    check_format("the audio source", Source(), AudioFormat("linear16", 16000), "X")
    check_format("the audio source", object(), None, "X")  # no format: nothing to check
    with pytest.raises(
        dgtrio.AudioFormatError,
        match=r"the audio source is linear16 at 16000 Hz, mono, but ListenV1Options "
        r"declares linear16 at 8000 Hz, mono",
    ):
        check_format("the audio source", Source(), AudioFormat("linear16", 8000), "ListenV1Options")
    with pytest.raises(dgtrio.AudioFormatError, match="declares no raw format: set encoding="):
        check_format("the audio source", Source(), None, "ListenV1Options")
    assert raw_format("opus", 48000) is None
    assert raw_format("linear16", None) is None
    assert raw_format("mulaw", 8000, 2) == AudioFormat("mulaw", 8000, 2)


# -- sources ------------------------------------------------------------------------------------


async def _timed(source: object) -> list[tuple[float, bytes]]:
    start = trio.current_time()
    return [(trio.current_time() - start, frame) async for frame in source]  # type: ignore[attr-defined]


async def test_wav_source_frames_at_real_time(autojump_clock: trio.testing.MockClock) -> None:
    source = WavSource(HELLO_WAV, frame_ms=100, speed=2.0)
    assert source.format == AudioFormat("linear16", 16000, 1)
    timed = await _timed(source)
    with wave.open(str(HELLO_WAV)) as wav:
        audio = wav.readframes(wav.getnframes())
    assert b"".join(frame for _, frame in timed) == audio
    assert [len(frame) for _, frame in timed[:-1]] == [3200] * (len(timed) - 1)
    # Frame i leaves at i * 100 ms / 2: exactly, on the virtual clock.
    assert [at for at, _ in timed] == pytest.approx([i * 0.05 for i in range(len(timed))])
    assert "hello.wav" in repr(source) and "9.24 s" in repr(source)


async def test_raw_source_and_a_file_cut_mid_sample(tmp_path: Path) -> None:
    path = tmp_path / "call.ulaw"
    path.write_bytes(bytes(range(256)) * 10)
    source = RawSource(path, AudioFormat("mulaw", 8000), frame_ms=20, speed=None)
    frames = [frame async for frame in source]
    assert [len(f) for f in frames] == [160] * 16
    assert b"".join(frames) == bytes(range(256)) * 10
    assert source.duration == 0.32
    # Each iteration starts over.
    assert b"".join([frame async for frame in source]) == bytes(range(256)) * 10
    odd = tmp_path / "odd.raw"
    odd.write_bytes(b"\x00" * 641)
    with pytest.raises(dgtrio.AudioFormatError, match="641 bytes is not a whole number of 2-byte"):
        RawSource(odd, AudioFormat("linear16", 16000))


async def test_stream_source_reframes_any_chunks_and_closes_the_generator() -> None:
    closed = trio.Event()
    audio = pcm16(0.1)  # 3200 bytes

    async def chunks() -> AsyncIterator[bytes]:
        try:
            for i in range(0, len(audio), 333):
                yield audio[i : i + 333]
        finally:
            closed.set()

    source = StreamSource(chunks(), AudioFormat("linear16", 16000), frame_ms=20)
    frames = [frame async for frame in source]
    assert [len(f) for f in frames] == [640] * 5
    assert b"".join(frames) == audio
    assert closed.is_set()

    closed = trio.Event()
    frames_iter = aiter(StreamSource(chunks(), AudioFormat("linear16", 16000)))
    await anext(frames_iter)
    await frames_iter.aclose()  # type: ignore[attr-defined]
    assert closed.is_set()  # left early: the user's generator was closed too


async def test_stream_source_that_ends_mid_sample_raises() -> None:
    async def chunks() -> AsyncIterator[bytes]:
        yield b"\x00" * 645

    frames = []
    with pytest.raises(dgtrio.AudioFormatError, match="ended inside a sample: 5 bytes left"):
        async for frame in StreamSource(chunks(), AudioFormat("linear16", 16000)):
            frames.append(frame)
    assert [len(f) for f in frames] == [640]  # the whole frames came first


def test_sources_check_their_arguments(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="frame_ms"):
        WavSource(HELLO_WAV, frame_ms=0)
    with pytest.raises(ValueError, match="speed"):
        WavSource(HELLO_WAV, speed=0)
    eight_bit = tmp_path / "8bit.wav"
    with wave.open(str(eight_bit), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(1)
        wav.setframerate(8000)
        wav.writeframes(b"\x80" * 80)
    with pytest.raises(dgtrio.AudioFormatError, match="8-bit samples"):
        WavSource(eight_bit)
    not_wav = tmp_path / "x.wav"
    not_wav.write_bytes(b"RIFF....")
    with pytest.raises(dgtrio.AudioFormatError, match="not a PCM WAV file"):
        WavSource(not_wav)


# -- WAV headers ----------------------------------------------------------------------------------

PCM_FMT = struct.pack("<HHIIHH", 1, 1, 16000, 32000, 2, 16)
AUDIO = struct.pack("<1600h", *range(-800, 800))  # 0.1 s


def _riff(*chunks: tuple[bytes, bytes], sizes: dict[bytes, int] | None = None) -> bytes:
    """A RIFF/WAVE file of these chunks (padded), with sizes overridden as asked."""
    body = b""
    for name, data in chunks:
        size = (sizes or {}).get(name, len(data))
        body += name + struct.pack("<I", size) + data + b"\0" * (len(data) & 1)
    return b"RIFF" + struct.pack("<I", 4 + len(body)) + b"WAVE" + body


VALID = _riff((b"fmt ", PCM_FMT), (b"data", AUDIO))


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (b"", "empty file"),
        (VALID[:8], "truncated header: the file ends after 8 bytes, in the RIFF header"),
        (b"RIFF\x00\x00\x00\x00AVI ", "RIFF form 'AVI ', not 'WAVE'"),
        (
            VALID[:20],
            "truncated header: the 'fmt ' chunk at byte 12 declares 16 bytes, "
            "the file ends 0 bytes into it",
        ),
        (
            VALID[:30],
            "truncated header: the 'fmt ' chunk at byte 12 declares 16 bytes, "
            "the file ends 10 bytes into it",
        ),
        (VALID[:36], "truncated header: the file ends at byte 36, before the 'data' chunk"),
        (VALID[:40], "truncated header: the file ends at byte 40, in a chunk header"),
        (
            VALID[:1044],
            "truncated audio: the 'data' chunk at byte 36 declares 3200 bytes, "
            "the file ends 1000 bytes into it",
        ),
        (
            _riff((b"LIST", b"x" * 100), (b"fmt ", PCM_FMT), (b"data", AUDIO))[:60],
            "truncated header: the 'LIST' chunk at byte 12 declares 100 bytes, "
            "the file ends 40 bytes into it",
        ),
        (_riff((b"data", AUDIO), (b"fmt ", PCM_FMT)), "no 'fmt ' chunk before the 'data' chunk"),
        (
            _riff((b"fmt ", PCM_FMT[:14]), (b"data", AUDIO)),
            "'fmt ' chunk of 14 bytes; it takes at least 16",
        ),
        (
            _riff((b"fmt ", struct.pack("<HHIIHH", 3, 1, 16000, 64000, 4, 32)), (b"data", AUDIO)),
            "format tag 0x0003 (IEEE float), not PCM",
        ),
        (
            _riff((b"fmt ", struct.pack("<HHIIHH", 1, 0, 16000, 0, 0, 16)), (b"data", AUDIO)),
            "0 channels of 16-bit samples at 16000 Hz",
        ),
        (
            _riff((b"fmt ", PCM_FMT), (b"data", AUDIO[:641])),
            "the 'data' chunk's 641 bytes are not a whole number of 2-byte samples",
        ),
    ],
    ids=[
        "empty",
        "riff-header-cut",
        "not-wave",
        "first-20-bytes",
        "fmt-cut",
        "no-data-chunk",
        "data-header-cut",
        "data-cut",
        "list-chunk-cut",
        "data-before-fmt",
        "fmt-too-short",
        "float",
        "no-channels",
        "half-a-sample",
    ],
)
def test_malformed_wav_headers_are_refused_in_one_line(
    tmp_path: Path, content: bytes, problem: str
) -> None:
    path = tmp_path / "bad.wav"
    path.write_bytes(content)
    with pytest.raises(dgtrio.AudioFormatError) as caught:
        WavSource(path)
    assert str(caught.value) == f"{path}: not a PCM WAV file ({problem})"
    assert "\n" not in problem


@pytest.mark.parametrize("placeholder", [0, 0x7FFFFF00, 0xFFFFFFFF], ids=hex)
async def test_a_streaming_wav_is_read_to_the_end_of_the_file(
    tmp_path: Path, placeholder: int
) -> None:
    """Writers that cannot seek back (arecord, ffmpeg to a pipe) leave a placeholder."""
    path = tmp_path / "streamed.wav"
    content = _riff((b"fmt ", PCM_FMT), (b"data", AUDIO), sizes={b"data": placeholder})
    path.write_bytes(content[:4] + struct.pack("<I", placeholder) + content[8:])
    source = WavSource(path, speed=None)
    assert source.duration == 0.1
    assert b"".join([frame async for frame in source]) == AUDIO


async def test_wav_chunks_around_the_audio_are_skipped(tmp_path: Path) -> None:
    path = tmp_path / "tagged.wav"
    # An odd-sized chunk (padded), the audio, then trailing metadata that is not audio.
    path.write_bytes(
        _riff((b"LIST", b"INFOabc"), (b"fmt ", PCM_FMT), (b"data", AUDIO), (b"id3 ", b"x" * 9))
    )
    source = WavSource(path, speed=None)
    assert source.duration == 0.1
    assert b"".join([frame async for frame in source]) == AUDIO
    header_only = tmp_path / "empty.wav"
    header_only.write_bytes(VALID[: 44 - 4] + b"\0\0\0\0")  # data size 0 and no audio
    assert [frame async for frame in WavSource(header_only, speed=None)] == []


async def test_wave_format_extensible_pcm_is_pcm(tmp_path: Path) -> None:
    pcm_guid = bytes.fromhex("0100000000001000800000aa00389b71")
    extensible = struct.pack("<HHIIHHHHI", 0xFFFE, 2, 16000, 128000, 8, 32, 22, 32, 3)
    path = tmp_path / "stereo32.wav"
    path.write_bytes(_riff((b"fmt ", extensible + pcm_guid), (b"data", AUDIO)))
    source = WavSource(path, speed=None)
    assert source.format == AudioFormat("linear32", 16000, 2)
    assert b"".join([frame async for frame in source]) == AUDIO
    float_guid = b"\x03" + pcm_guid[1:]
    path.write_bytes(_riff((b"fmt ", extensible + float_guid), (b"data", AUDIO)))
    with pytest.raises(dgtrio.AudioFormatError, match=r"format tag 0x0003 \(IEEE float\)"):
        WavSource(path)
