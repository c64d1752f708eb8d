"""``python -m bench.phone [--smoke] [--churn SECONDS]``: ``dgtrio phone``'s real-time
calls per worker and with ``--workers 2``, its memory per call, and its memory over a
churn of short calls.

The service runs as it is deployed: ``dgtrio phone`` in a process of its own (or N,
``--workers``), the agent elsewhere (the fake Deepgram, ``python -m dgtrio.testing
serve``, in another process), and simulated Twilio callers (:mod:`dgtrio.phone.testing`)
in this one. The fake agent greets each caller with
~3 s of speech produced in real time (0.1 s chunks every 0.1 s, as Deepgram streams
it); a call keeps up when every chunk reaches its caller within ``LATE`` of its
real-time schedule. N doubles from 25 until a level where a call falls behind, then
bisects to within an eighth: the most calls that all kept up is the figure. The
callers and the fake agent share the machine's cores with the workers, so on a small
machine the ``--workers 2`` figure is bound by the machine, not by the service: the
CPU the workers used at that level (``worker_cpu``, in cores) gives the calls per core
a worker serves, with one worker and with two (``per_core_with_two_vs_one``: what a
second worker adds, given a core of its own).

Memory per call is the growth of a fresh worker's RSS between no calls and 50 calls
in progress (after 5 calls, to load what loads on first use), divided by 50. The churn keeps
``--churn-calls`` short calls (about 1.5 s each) going for ``--churn`` seconds and
samples the worker's RSS: flat means the history and every call's state are bounded.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import trio

from dgtrio.phone.testing import SimulatedCall

LATE = 0.1  # seconds behind real time a chunk may arrive (one chunk)
TOKEN = "bench-token"
PUBLIC = "wss://calls.example.com/phone"
_LISTENING = re.compile(rb"Twilio Media Streams on ws://127\.0\.0\.1:(\d+) .*\(pid (\d+)\)")


def rss_kib(pid: int) -> int:
    """A process's resident memory now, in KiB."""
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise LookupError(f"no VmRSS for {pid}")


def cpu_seconds(pids: list[int]) -> float:
    """The CPU time (user and system) the processes have used."""
    total = 0
    for pid in pids:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / os.sysconf("SC_CLK_TCK")


@asynccontextmanager
async def fake_agent() -> AsyncIterator[str]:
    """The fake Deepgram (``python -m dgtrio.testing serve``) in a process of its own,
    as Deepgram is elsewhere: the workers' figures are the service's alone."""
    command = [sys.executable, "-m", "dgtrio.testing", "serve", "--port", "0"]
    process = await trio.lowlevel.open_process(
        command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL
    )
    assert process.stdout is not None
    try:
        with trio.fail_after(30):
            line = b""
            async for chunk in process.stdout:
                line += chunk
                if b"\n" in line:
                    break
        yield line.decode().strip()
    finally:
        process.terminate()
        await process.wait()


@asynccontextmanager
async def service(workers: int) -> AsyncIterator[tuple[str, list[int]]]:
    """``dgtrio phone`` with ``workers`` processes against the fake agent: its URL and
    the workers' pids."""
    async with fake_agent() as agent:
        command = [sys.executable, "-m", "dgtrio.cli", "phone", "--port", "0"]
        command += ["--engine", "deepgram", "--base-url", agent, "--public-url", PUBLIC]
        command += ["--max-calls", "100000", "--workers", str(workers)]
        env = {**os.environ, "TWILIO_AUTH_TOKEN": TOKEN, "DEEPGRAM_API_KEY": "bench"}
        async with _running(command, env, workers) as found:
            yield found


@asynccontextmanager
async def _running(
    command: list[str], env: dict[str, str], workers: int
) -> AsyncIterator[tuple[str, list[int]]]:
    process = await trio.lowlevel.open_process(command, stderr=subprocess.PIPE, env=env)
    found: list[tuple[int, int]] = []
    up = trio.Event()

    async def read() -> None:  # every line, for as long as it runs: a full pipe blocks it
        assert process.stderr is not None
        seen = b""
        async for chunk in process.stderr:
            if not up.is_set():
                seen += chunk
                found[:] = [(int(p), int(pid)) for p, pid in _LISTENING.findall(seen)]
                if len(found) == workers:
                    up.set()

    try:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(read)
            with trio.fail_after(30):
                await up.wait()
            yield f"ws://127.0.0.1:{found[0][0]}/phone", [pid for _, pid in found]
            process.send_signal(signal.SIGTERM)
            with trio.fail_after(60):
                await process.wait()
    finally:
        if process.returncode is None:
            process.kill()


def lateness(call: SimulatedCall) -> float:
    """How far behind its real-time schedule the call's latest chunk came."""
    if not call.media_times:
        return float("inf")
    first = call.media_times[0][0]
    worst, sent = 0.0, 0
    for arrival, size in call.media_times:
        worst = max(worst, arrival - (first + sent / 8000))
        sent += size
    return worst


def caller(number: int) -> SimulatedCall:
    return SimulatedCall(
        stream_sid=f"MZ{number:032d}",
        call_sid=f"CA{number:032d}",
        auth_token=TOKEN,
        public_url=PUBLIC,
        playback_speed=50,
    )


async def level(calls: int, url: str, pids: list[int]) -> dict[str, Any]:
    callers = [caller(n) for n in range(calls)]
    heard = 0
    peak = 0

    async def greeting(call: SimulatedCall) -> None:
        nonlocal heard, peak
        await call.wait_for_media()
        heard += 1
        if heard == calls:
            peak = sum(rss_kib(pid) for pid in pids)
        await call.wait_for_marks(1)

    base = sum(rss_kib(pid) for pid in pids)
    started, cpu = trio.current_time(), cpu_seconds(pids)
    async with trio.open_nursery() as nursery:
        for sim in callers:
            nursery.start_soon(sim.run, url, greeting)
    seconds = trio.current_time() - started
    late = sorted(lateness(c) for c in callers)
    return {
        "calls": calls,
        "seconds": round(seconds, 2),
        "worker_cpu": round((cpu_seconds(pids) - cpu) / seconds, 2),  # cores busy
        "kept_up": sum(1 for x in late if x <= LATE),
        "lateness_p50_ms": round(late[len(late) // 2] * 1000, 1),
        "lateness_max_ms": round(late[-1] * 1000, 1),
        "rss_per_call_kib": round((peak - base) / calls, 1) if peak else None,
    }


async def capacity(workers: int, smoke: bool) -> dict[str, Any]:
    """Double the calls from 25 until one falls behind, then bisect to within 1/8."""
    results: list[dict[str, Any]] = []
    async with service(workers) as (url, pids):

        async def fits(calls: int) -> bool:
            result = await level(calls, url, pids)
            results.append(result)
            print(json.dumps({"workers": workers, **result}), file=sys.stderr)
            return bool(result["kept_up"] == calls)

        low, high = 0, 2 if smoke else 25
        while await fits(high):
            low, high = high, high * 2
            if high > (4 if smoke else 3200):
                break
        while not smoke and high - low > max(1, low // 8):
            middle = (low + high) // 2
            low, high = (middle, high) if await fits(middle) else (low, middle)
    best = next((r for r in results if r["calls"] == low), None)
    cpu = best["worker_cpu"] if best else None
    return {
        "workers": workers,
        "realtime_calls": low,
        "worker_cpu_at_best": cpu,
        "calls_per_worker_core": round(low / cpu) if cpu else None,
        "levels": results,
    }


async def memory(calls: int) -> dict[str, Any]:
    """A fresh worker's RSS with ``calls`` calls in progress, less its RSS before,
    per call (after a few calls first: code loaded on first use is not a call's)."""
    async with service(1) as (url, pids):
        await level(5, url, pids)
        result = await level(calls, url, pids)
    return {"calls": calls, "rss_per_call_kib": result["rss_per_call_kib"]}


async def churn(seconds: float, concurrent: int) -> dict[str, Any]:
    """Short calls, ``concurrent`` at a time, for ``seconds``; the worker's RSS."""
    samples: list[tuple[float, int]] = []
    made = 0

    async def short(call: SimulatedCall) -> None:
        await call.wait_for_media()
        await trio.sleep(1.0)

    async with service(1) as (url, (pid,)):
        began = trio.current_time()

        async def slot(first: int) -> None:
            nonlocal made
            number = first
            while trio.current_time() - began < seconds:
                await caller(number).run(url, short)
                made += 1
                number += concurrent

        async def sample() -> None:
            while True:
                samples.append((round(trio.current_time() - began, 1), rss_kib(pid)))
                await trio.sleep(max(1.0, seconds / 20))

        async with trio.open_nursery() as nursery:
            nursery.start_soon(sample)
            async with trio.open_nursery() as slots:
                for first in range(concurrent):
                    slots.start_soon(slot, first)
            samples.append((round(trio.current_time() - began, 1), rss_kib(pid)))
            nursery.cancel_scope.cancel()
    warm = [rss for at, rss in samples if at >= seconds / 5] or [samples[-1][1]]
    return {
        "seconds": seconds,
        "concurrent": concurrent,
        "calls": made,
        "rss_kib": samples,
        "rss_after_warmup_min_kib": min(warm),
        "rss_after_warmup_max_kib": max(warm),
        "rss_end_kib": samples[-1][1],
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.phone", description=__doc__)
    parser.add_argument("--smoke", action="store_true", help="tiny levels, seconds long")
    parser.add_argument("--churn", type=float, default=600.0, help="seconds of churn (0: none)")
    parser.add_argument("--churn-calls", type=int, default=20, help="short calls at a time")
    args = parser.parse_args(argv)
    churn_seconds = min(args.churn, 5.0) if args.smoke else args.churn
    one = trio.run(capacity, 1, args.smoke)
    two = trio.run(capacity, 2, args.smoke)
    per_call = trio.run(memory, 4 if args.smoke else 50)
    summary: dict[str, Any] = {
        "benchmark": "phone",
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "late_threshold_ms": LATE * 1000,
        "memory": per_call,
        "one_worker": one,
        "two_workers": two,
        "second_worker_adds": (
            round((two["realtime_calls"] - one["realtime_calls"]) / one["realtime_calls"], 2)
            if one["realtime_calls"]
            else None
        ),
        # Each worker's calls per core it used: the second worker's share of the
        # machine is what the callers and the fake agent leave it on a small machine.
        "per_core_with_two_vs_one": (
            round(two["calls_per_worker_core"] / one["calls_per_worker_core"], 2)
            if one["calls_per_worker_core"] and two["calls_per_worker_core"]
            else None
        ),
    }
    if churn_seconds > 0:
        summary["churn"] = trio.run(churn, churn_seconds, args.churn_calls)
    print(json.dumps(summary, indent=2))
    for result in (one, two):
        print(
            f"{result['workers']} worker(s): {result['realtime_calls']} real-time calls "
            f"(workers busy {result['worker_cpu_at_best']} cores: "
            f"{result['calls_per_worker_core']} calls per core)"
        )
    print(f"memory: {per_call['rss_per_call_kib']} KiB per call ({per_call['calls']} calls)")
    print(
        f"the second worker adds {summary['second_worker_adds']}x the first; per core it "
        f"uses, two workers serve {summary['per_core_with_two_vs_one']}x what one does"
    )
    if "churn" in summary:
        c = summary["churn"]
        print(
            f"churn: {c['calls']} calls in {c['seconds']:g} s; worker RSS after warm-up "
            f"{c['rss_after_warmup_min_kib']}-{c['rss_after_warmup_max_kib']} KiB, "
            f"at the end {c['rss_end_kib']} KiB"
        )


if __name__ == "__main__":
    main()
