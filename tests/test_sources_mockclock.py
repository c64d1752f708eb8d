"""File sources under trio's autojump MockClock: frames leave at exact virtual times,
and the worker-thread reads never let the clock jump (a user's test suite with
FakeDeepgram must not see spurious idle timeouts or stretched audio)."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import AsyncIterable
from pathlib import Path

import pytest
import trio
import trio.testing

import dgtrio
from dgtrio import ConnectOptions
from dgtrio.audio import AudioFormat, RawSource, WavSource, WavWriter, _sources
from dgtrio.testing import FakeDeepgram

RATE = 16000
BLOCK = RATE * 2 * 5  # bytes in a read-ahead block: 5 s of 16 kHz linear16 mono


def _audio(seconds: float) -> bytes:
    """Random (so that a block out of place shows) 16 kHz linear16 mono audio."""
    return random.Random(7).randbytes(round(seconds * RATE) * 2)


def _wav(path: Path, audio: bytes) -> Path:
    with WavWriter(path, encoding="linear16", sample_rate=RATE) as wav:
        wav.write(audio)
    return path


async def _ticking(period: float, ticks: list[float] | None = None) -> None:
    """A timer such as a keepalive's: a deadline for the clock to jump to, always."""
    ticks = [] if ticks is None else ticks
    while True:
        await trio.sleep(period)
        ticks.append(trio.current_time())


async def _timed(source: AsyncIterable[bytes]) -> list[tuple[float, bytes]]:
    start = trio.current_time()
    return [(trio.current_time() - start, frame) async for frame in source]


async def test_paced_wav_frames_land_on_exact_virtual_times_every_run(
    tmp_path: Path, nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    audio = _audio(9.0)
    path = _wav(tmp_path / "nine.wav", audio)
    ticks: list[float] = []
    nursery.start_soon(_ticking, 1.0, ticks)
    expected = [k * 0.02 for k in range(450)]
    runs = []
    for _ in range(20):
        with trio.fail_after(9.0):  # a deadline too: a jump to it would fail the run
            timed = await _timed(WavSource(path, frame_ms=20, speed=1.0))
        assert b"".join(frame for _, frame in timed) == audio
        runs.append([at for at, _ in timed])
    for times in runs:
        # Frame k at k * 20 ms; the last, at 8.98 s, holds the audio's last 20 ms.
        assert times == pytest.approx(expected, rel=0, abs=1e-9)
        assert times[-1] + 0.02 == pytest.approx(9.0, rel=0, abs=1e-9)
    spread = max(abs(a - b) for times in runs for a, b in zip(times, runs[0], strict=True))
    assert spread < 1e-9
    # 20 runs of 8.98 s: the other timer kept its own schedule, and no more.
    assert trio.current_time() == pytest.approx(20 * 8.98, rel=0, abs=1e-9)
    assert ticks == pytest.approx([float(i) for i in range(1, 180)], rel=0, abs=1e-9)


async def test_unpaced_sources_take_no_virtual_time(
    tmp_path: Path, nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    audio = _audio(32.0)  # seven blocks: every refill is waited for, none moves the clock
    raw = tmp_path / "call.raw"
    raw.write_bytes(audio)
    nursery.start_soon(_ticking, 1.0)
    sources = [
        RawSource(raw, AudioFormat("linear16", RATE), speed=None),
        WavSource(_wav(tmp_path / "call.wav", audio), speed=None),
    ]
    for source in sources:
        timed = await _timed(source)
        assert b"".join(frame for _, frame in timed) == audio
        assert {at for at, _ in timed} == {0.0}


async def test_slow_reads_never_make_a_frame_late_and_memory_stays_bounded(
    tmp_path: Path,
    nursery: trio.Nursery,
    autojump_clock: trio.testing.MockClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    audio = _audio(60.0)
    path = _wav(tmp_path / "long.wav", audio)
    reads: list[tuple[int, int]] = []  # (offset, bytes) of each read, as it completes
    read_range = _sources._read_range

    def slow_read(path: Path, offset: int, size: int) -> bytes:
        time.sleep(0.02)  # a slow disk, in the worker thread
        data = read_range(path, offset, size)
        reads.append((offset, len(data)))
        return data

    monkeypatch.setattr(_sources, "_read_range", slow_read)
    nursery.start_soon(_ticking, 0.5)
    start, held, sent = trio.current_time(), [], 0
    times = []
    async for frame in WavSource(path, frame_ms=100, speed=3.0):
        times.append(trio.current_time() - start)
        held.append(sum(size for _, size in reads) - sent)
        sent += len(frame)
    assert sent == len(audio)
    assert times == pytest.approx([k * 0.1 / 3 for k in range(600)], rel=0, abs=1e-9)
    assert reads == [(44 + i * BLOCK, BLOCK) for i in range(12)]
    assert max(held) <= 2 * BLOCK  # the block being sent and the next one


async def test_a_wav_source_streams_to_the_fake_in_exact_virtual_real_time(
    tmp_path: Path,
    fake: FakeDeepgram,
    connect: ConnectOptions,
    autojump_clock: trio.testing.MockClock,
) -> None:
    audio = _audio(9.0)
    source = WavSource(_wav(tmp_path / "nine.wav", audio))
    fmt = source.format
    options = dgtrio.ListenV1Options(
        encoding=fmt.encoding, sample_rate=fmt.sample_rate, channels=fmt.channels
    )
    # No keepalive: were the clock to jump 10 s while a read runs, the fake would
    # close with NET-0001.
    async with dgtrio.open_listen(
        options, audio=source, keepalive_interval=None, **connect
    ) as conn:
        messages = [m async for m in conn]
    metadata = messages[-1]
    assert isinstance(metadata, dgtrio.ListenV1Metadata)
    assert metadata.duration == source.duration == 9.0
    session = fake.sessions[0]
    await session.wait_closed()
    assert session.server_close == (1000, "")
    assert session.audio == audio
    frames = [frame for frame in session.received if not frame.is_text]
    first = frames[0].time
    assert [f.time - first for f in frames] == pytest.approx(
        [k * 0.02 for k in range(450)], rel=0, abs=1e-9
    )
    assert session.received[-1].json() == {"type": "CloseStream"}
    assert session.received[-1].time - first == pytest.approx(8.98, rel=0, abs=1e-9)


def test_a_read_left_running_after_the_run_ends_quietly(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    raw = tmp_path / "call.raw"
    raw.write_bytes(_audio(1.0))
    go, delivered = threading.Event(), threading.Event()
    read_range, deliver = _sources._read_range, _sources._ReadAhead._deliver

    def gated_read(path: Path, offset: int, size: int) -> bytes:
        go.wait(10)
        return read_range(path, offset, size)

    def spied_deliver(self: _sources._ReadAhead, result: object) -> None:
        try:
            deliver(self, result)  # type: ignore[arg-type]
        finally:
            delivered.set()

    monkeypatch.setattr(_sources, "_read_range", gated_read)
    monkeypatch.setattr(_sources._ReadAhead, "_deliver", spied_deliver)

    async def abandon() -> None:
        frames = aiter(RawSource(raw, AudioFormat("linear16", RATE), speed=None))
        with trio.CancelScope() as scope:
            scope.cancel()
            await anext(frames)
        await frames.aclose()  # type: ignore[attr-defined]

    trio.run(abandon)
    go.set()
    assert delivered.wait(10)
    assert capfd.readouterr().err == ""
