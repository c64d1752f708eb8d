"""``python -m bench.soak``: many reconnecting streams through random faults, for long.

``--streams`` Listen v1 and Flux streams run at once against one fake server, each
sending ``--stream-seconds`` of audio at real-time pace, then another in its place,
for ``--seconds`` (CI: 60; a real soak: 600). Every socket the fake accepts may fail
at a random moment: dropped, closed with a retryable code, gone half-open, or slowed;
some handshakes are refused with 503 or 429. Every stream reconnects
(``ReconnectPolicy``) and must end normally, with byte accounting that balances:
every audio byte taken was acknowledged by a server or reported lost, none pending,
none unsent; its timeline whole (Listen v1: metadata duration = audio sent; Flux:
turns numbered without gaps). Across the run, the client's task count and the
process's memory must not grow once warmed up.

Exit status 0 when every check holds; the summary is printed as JSON either way.
"""

from __future__ import annotations

import argparse
import gc
import json
import random
import resource
import sys
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager
from typing import Any

import attrs
import trio

import dgtrio
from dgtrio.testing import FakeDeepgram, Fault

RATE = 16000
FRAME = 640  # 20 ms of 16 kHz linear16
POLICY = dgtrio.ReconnectPolicy(initial_backoff=0.1, max_backoff=1.0, max_attempts=10)
# Per accepted socket: the weights of what befalls it.
FATES = {"healthy": 4, "abort": 2, "close": 2, "half_open": 1, "delay": 1}


@attrs.define
class Soak:
    """The run's counters and the failures found."""

    rng: random.Random
    faults: Counter[str] = attrs.Factory(Counter)
    streams: Counter[str] = attrs.Factory(Counter)
    reconnects: int = 0
    audio_bytes: int = 0
    acknowledged: int = 0
    lost: int = 0
    problems: list[str] = attrs.Factory(list)
    tasks: list[int] = attrs.Factory(list)
    rss_kib: list[int] = attrs.Factory(list)

    def fate(self) -> tuple[Fault, ...]:
        kind = self.rng.choices(list(FATES), weights=list(FATES.values()))[0]
        self.faults[kind] += 1
        at = self.rng.uniform(0.5, 6.0)
        if kind == "abort":
            return (Fault("abort", at=at),)
        if kind == "close":
            reason = self.rng.choice(["NET-0000", "NET-0002", ""])
            return (Fault("close", at=at, code=1011, reason=reason),)
        if kind == "half_open":
            return (Fault("half_open", at=at),)
        if kind == "delay":
            return (Fault("delay", at=at, seconds=self.rng.uniform(0.05, 0.5)),)
        return ()

    def check(self, ok: bool, problem: str) -> None:
        if not ok:
            self.problems.append(problem)


def _tone(seconds: float, rng: random.Random) -> bytes:
    """Speech-like audio for both fakes: loud stretches with quiet in between."""
    parts = []
    left = round(seconds * RATE)
    while left > 0:
        loud = rng.random() < 0.6
        n = min(left, round(rng.uniform(0.4, 1.5) * RATE))
        sample = (6000 if loud else 0).to_bytes(2, "little", signed=True)
        low = (-6000 if loud else 0).to_bytes(2, "little", signed=True)
        parts.append((sample * 8 + low * 8) * (n // 16) + bytes(2 * (n % 16)))
        left -= n
    return b"".join(parts)


async def _live(audio: bytes) -> AsyncIterator[bytes]:
    """``audio`` in 20 ms frames at real-time pace (no drift: paced on the clock)."""
    start = trio.current_time()
    for index, offset in enumerate(range(0, len(audio), FRAME)):
        await trio.sleep_until(start + index * 0.02)
        yield audio[offset : offset + FRAME]


async def _stream(soak: Soak, api: str, url: str, seconds: float) -> None:
    audio = _tone(seconds, soak.rng)
    connect: dgtrio.ConnectOptions = {"base_url": url, "api_key": "soak", "stall_timeout": 3.0}
    name = f"{api} stream #{sum(soak.streams.values())}"
    messages: list[Any] = []
    opener: AbstractAsyncContextManager[
        dgtrio.ListenV1Connection[dgtrio.ListenV1Message | dgtrio.ConnectionEvent]
        | dgtrio.ListenV2Connection[dgtrio.ListenV2Message | dgtrio.ConnectionEvent]
    ]
    try:
        if api == "listen":
            options = dgtrio.ListenV1Options(encoding="linear16", sample_rate=RATE)
            opener = dgtrio.open_listen(options, audio=_live(audio), reconnect=POLICY, **connect)
        else:
            flux = dgtrio.ListenV2Options(encoding="linear16", sample_rate=RATE)
            opener = dgtrio.open_flux_listen(flux, audio=_live(audio), reconnect=POLICY, **connect)
        with trio.fail_after(seconds * 4 + 30):
            async with opener as conn:
                messages = [message async for message in conn]
    except (dgtrio.DeepgramError, trio.TooSlowError) as exc:
        soak.problems.append(f"{name}: {type(exc).__name__}: {exc}")
        return
    soak.streams[api] += 1
    stats = conn.statistics()
    soak.reconnects += stats.reconnects
    soak.audio_bytes += len(audio)
    soak.acknowledged += stats.audio_bytes_acknowledged
    soak.lost += stats.audio_bytes_lost
    soak.check(stats.audio_bytes_sent == len(audio), f"{name}: {stats.audio_bytes_sent} taken")
    soak.check(
        stats.audio_bytes_acknowledged + stats.audio_bytes_lost == len(audio)
        and stats.audio_bytes_pending == 0
        and stats.frames_unsent == 0,
        f"{name}: accounting does not balance: {stats}",
    )
    if api == "listen":
        last = messages[-1] if messages else None
        soak.check(
            isinstance(last, dgtrio.ListenV1Metadata)
            and abs(last.duration - len(audio) / 32000) < 2e-6,  # rounded to the µs
            f"{name}: ended with {last!r}",
        )
    else:
        ended = [
            m.turn_index
            for m in messages
            if isinstance(m, dgtrio.ListenV2TurnInfo) and m.event == "EndOfTurn"
        ]
        soak.check(ended == list(range(len(ended))), f"{name}: turns {ended}")


def _count_tasks(nursery: trio.Nursery) -> int:
    count = 0
    for task in nursery.child_tasks:
        count += 1
        for child in task.child_nurseries:
            count += _count_tasks(child)
    return count


def _rss_kib() -> int:
    with open("/proc/self/statm") as statm:
        pages = int(statm.read().split()[1])
    return pages * resource.getpagesize() // 1024


async def run(args: argparse.Namespace) -> Soak:
    soak = Soak(random.Random(args.seed))
    fake = FakeDeepgram(api_key="soak")
    accepted = 0  # sessions the fake accepted before the last pruning
    queued = 0  # fault_next calls so far
    async with trio.open_nursery() as server:
        await server.start(fake.serve)
        deadline = trio.current_time() + args.seconds
        async with trio.open_nursery() as clients:

            async def keep_streaming(api: str) -> None:
                while trio.current_time() < deadline:
                    seconds = soak.rng.uniform(args.stream_seconds / 2, args.stream_seconds)
                    await _stream(soak, api, fake.url, seconds)

            for index in range(args.streams):
                clients.start_soon(keep_streaming, "listen" if index % 2 == 0 else "flux")
            while trio.current_time() < deadline or clients.child_tasks:
                # Every socket to come gets its fate; a few handshakes are refused.
                sessions_so_far = accepted + len(fake.sessions)
                while queued < sessions_so_far + args.streams:
                    fake.fault_next(*soak.fate())
                    queued += 1
                    roll = soak.rng.random()
                    if roll < 0.05:
                        fake.reject_next(503)
                        soak.faults["503"] += 1
                    elif roll < 0.08:
                        fake.reject_next(429, retry_after=1)
                        soak.faults["429"] += 1
                # The fake records every frame: forget finished sessions.
                done = [s for s in fake.sessions if s.closed.is_set()]
                accepted += len(done)
                fake.sessions[:] = [s for s in fake.sessions if not s.closed.is_set()]
                soak.tasks.append(_count_tasks(clients))
                soak.rss_kib.append(_rss_kib())
                await trio.sleep(0.25)
        server.cancel_scope.cancel()
    return soak


def _growth(samples: list[int]) -> tuple[int, int]:
    """The peak after warming up (the first quarter), and the peak of the rest."""
    quarter = max(1, len(samples) // 4)
    return max(samples[:quarter]), max(samples[quarter:] or samples)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.soak", description=__doc__)
    parser.add_argument("--seconds", type=float, default=600.0)
    parser.add_argument("--streams", type=int, default=16)
    parser.add_argument("--stream-seconds", type=float, default=12.0)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--max-rss-growth-mib", type=float, default=48.0)
    args = parser.parse_args(argv)
    soak = trio.run(run, args)
    tasks_warm, tasks_after = _growth(soak.tasks)
    rss_warm, rss_after = _growth(soak.rss_kib)
    # Each stream has a bounded number of tasks; a leak grows past one stream's worth.
    soak.check(tasks_after <= tasks_warm + 10, f"tasks grew: {tasks_warm} -> {tasks_after}")
    gc.collect()
    alive = sum(
        isinstance(o, dgtrio.ListenV1Connection | dgtrio.ListenV2Connection)
        for o in gc.get_objects()
    )
    soak.check(alive == 0, f"{alive} connections still alive after the run")
    growth = (rss_after - rss_warm) / 1024
    soak.check(growth <= args.max_rss_growth_mib, f"memory grew {growth:.1f} MiB")
    soak.check(soak.acknowledged + soak.lost == soak.audio_bytes, "bytes do not balance")
    soak.check(sum(soak.streams.values()) >= args.streams, "too few streams finished")
    summary = {
        "seconds": args.seconds,
        "streams_finished": dict(soak.streams),
        "faults": dict(soak.faults),
        "reconnects": soak.reconnects,
        "audio_seconds": round(soak.audio_bytes / 32000, 1),
        "audio_lost_seconds": round(soak.lost / 32000, 2),
        "tasks_warm_max": tasks_warm,
        "tasks_later_max": tasks_after,
        "rss_warm_mib": round(rss_warm / 1024, 1),
        "rss_later_mib": round(rss_after / 1024, 1),
        "rss_by_quarter_mib": [
            round(
                max(
                    soak.rss_kib[i * len(soak.rss_kib) // 4 : (i + 1) * len(soak.rss_kib) // 4]
                    or [0]
                )
                / 1024,
                1,
            )
            for i in range(4)
        ],
        "problems": soak.problems,
    }
    print(json.dumps(summary, indent=2))
    return 1 if soak.problems else 0


if __name__ == "__main__":
    sys.exit(main())
