"""``python -m bench.phone [--smoke]``: the phone agent service's calls per core and
memory per call, against the fake agent.

N simulated Twilio callers (``examples/phone_agent/twilio_sim.py``) call the service
(``examples/phone_agent/service.py``) at once; the fake agent greets each of them with
~4 s of speech, produced in real time (0.1 s chunks every 0.1 s, as Deepgram streams
it). A call keeps up when every chunk reaches its caller within ``LATE`` of its
real-time schedule. N doubles until a level where a call falls behind; the last level
where all kept up is the calls-per-core figure. Memory per call is the growth of the
process's RSS between no calls and N calls in progress, divided by N.

The fake agent, the service and the callers share one process (one core): the
figures are a lower bound for the service alone on a core, and the memory an upper
bound (each call also holds a fake agent session and a caller).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
from pathlib import Path
from typing import Any

import trio

from dgtrio.testing import AgentScript, FakeDeepgram

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "examples"))
from phone_agent.service import PhoneAgentServer, default_settings
from phone_agent.twilio_sim import SimulatedCall

LATE = 0.1  # seconds behind real time a chunk may arrive (one chunk)
GREETING = "Thanks for calling the shop. How can I help you with your order today?"


def rss_kib() -> int:
    """The process's resident memory now, in KiB."""
    with open("/proc/self/statm") as statm:
        pages = int(statm.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") // 1024


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


async def level(calls: int, url: str) -> dict[str, Any]:
    callers = [
        SimulatedCall(stream_sid=f"MZ{n:032d}", call_sid=f"CA{n:032d}", playback_speed=50)
        for n in range(calls)
    ]
    connected = trio.Event()
    heard = 0
    peak = 0

    async def greeting(call: SimulatedCall) -> None:
        nonlocal heard, peak
        await call.wait_for_media()
        heard += 1
        if heard == calls:
            peak = rss_kib()
            connected.set()
        await call.wait_for_marks(1)

    base = rss_kib()
    started = trio.current_time()
    async with trio.open_nursery() as nursery:
        for caller in callers:
            nursery.start_soon(caller.run, url, greeting)
    late = sorted(lateness(c) for c in callers)
    return {
        "calls": calls,
        "seconds": round(trio.current_time() - started, 2),
        "kept_up": sum(1 for x in late if x <= LATE),
        "lateness_p50_ms": round(late[len(late) // 2] * 1000, 1),
        "lateness_max_ms": round(late[-1] * 1000, 1),
        "rss_per_call_kib": round((peak - base) / calls, 1) if peak else None,
    }


async def run(levels: list[int]) -> dict[str, Any]:
    script = AgentScript(realtime=True)
    fake = FakeDeepgram(agent_script=script, agent_client_timeout=60)
    results: list[dict[str, Any]] = []
    async with trio.open_nursery() as nursery:
        await nursery.start(fake.serve)
        server = PhoneAgentServer(
            default_settings(greeting=GREETING),
            max_calls=max(levels),
            connect={"base_url": fake.url},
        )
        port = await nursery.start(server.serve)
        url = f"ws://127.0.0.1:{port}/"
        for calls in levels:
            result = await level(calls, url)
            results.append(result)
            print(json.dumps(result), file=sys.stderr)
            if result["kept_up"] < calls:
                break
        nursery.cancel_scope.cancel()
    kept = [r["calls"] for r in results if r["kept_up"] == r["calls"]]
    per_call = [r["rss_per_call_kib"] for r in results if r["rss_per_call_kib"] is not None]
    return {
        "benchmark": "phone_agent",
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "late_threshold_ms": LATE * 1000,
        "calls_per_core": max(kept, default=0),
        "rss_per_call_kib": per_call[-1] if per_call else None,
        "levels": results,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.phone", description=__doc__)
    parser.add_argument("--smoke", action="store_true", help="tiny levels, seconds long")
    args = parser.parse_args(argv)
    levels = [2, 4] if args.smoke else [25, 50, 100, 200, 400, 800]
    summary = trio.run(run, levels)
    print(json.dumps(summary, indent=2))
    print(f"{'calls':>6} {'kept up':>8} {'p50 late ms':>12} {'max late ms':>12} {'KiB/call':>9}")
    for r in summary["levels"]:
        print(
            f"{r['calls']:>6} {r['kept_up']:>8} {r['lateness_p50_ms']:>12} "
            f"{r['lateness_max_ms']:>12} {r['rss_per_call_kib']!s:>9}"
        )
    print(
        f"calls per core: {summary['calls_per_core']}, "
        f"memory per call: {summary['rss_per_call_kib']} KiB"
    )


if __name__ == "__main__":
    main()
