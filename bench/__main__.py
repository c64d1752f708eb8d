"""``python -m bench``: dgtrio against the official deepgram-sdk, in one run, on one peer.

Each figure is measured with every client in turn, each run in a fresh process of
its own, against a loopback peer in another process (``bench.peer``), ``--runs``
times; the table shows medians with their spread, and ratios against the official
SDK and against raw trio-websocket (the ceiling for dgtrio's transport). The whole
result is written as JSON. ``--smoke`` is a seconds-long run with tiny counts, to
keep the benchmark from rotting (the test suite runs it).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import attrs

ROOT = Path(__file__).resolve().parent.parent
CLIENTS = ("dgtrio", "sdk", "trio-websocket", "websockets")
LATENCY_BUDGET = 0.050  # p99 server-send to user-receive, for realtime density


@attrs.frozen
class Figure:
    name: str
    peer_mode: str
    key: str  # in the client's result
    unit: str
    higher_is_better: bool
    clients: tuple[str, ...] = CLIENTS


FIGURES = (
    Figure("receive", "flood", "messages_per_second", "msg/s", True),
    # The same, the consumer reading every word of every result (raw clients read none).
    Figure("words", "flood", "messages_per_second", "msg/s", True, ("dgtrio", "sdk")),
    Figure("upload", "sink", "bytes_per_second", "MB/s", True),
    Figure("density", "realtime", "streams", "streams", True, ("dgtrio", "sdk", "trio-websocket")),
    Figure("memory", "idle", "bytes_per_connection", "KiB/conn", False),
    Figure("connect", "idle", "median_seconds", "ms", False),
    # Flux TTS audio received, in 4800-byte chunks: 10,000 chunks/s is 48 MB/s.
    Figure("tts", "speak", "chunks_per_second", "chunks/s", True),
)
SCALES: dict[str, dict[str, Any]] = {
    "full": {
        "receive": 20000,
        "words": 20000,
        "upload": 15000,
        "memory": 100,
        "connect": 30,
        "tts": 20000,
        "seconds": 2.0,
    },
    "smoke": {
        "receive": 300,
        "words": 300,
        "upload": 300,
        "memory": 3,
        "connect": 3,
        "tts": 30,
        "seconds": 0.5,
    },
}


@contextmanager
def peer(mode: str, count: int = 0) -> Iterator[str]:
    """A ``bench.peer`` process in ``mode``; yields its ``ws://`` URL."""
    process = subprocess.Popen(
        [sys.executable, "-m", "bench.peer", mode, "--count", str(count)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        if not line.startswith("PORT "):
            raise RuntimeError(f"bench.peer {mode} did not start: {line!r}")
        yield f"ws://127.0.0.1:{int(line.split()[1])}"
    finally:
        process.terminate()
        process.wait(timeout=10)


def measure(client: str, workload: str, url: str, **params: Any) -> dict[str, Any]:
    """One workload of one client, in a process of its own."""
    command = [sys.executable, "-m", "bench.clients", client, workload, url]
    for name, value in params.items():
        command += [f"--{name}", str(value)]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300)
    if done.returncode:
        raise RuntimeError(f"{client} {workload} failed:\n{done.stderr}")
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def max_streams(fits: Callable[[int], bool], start: int | None) -> int:
    """The most realtime streams for which ``fits`` (p99 latency within budget).

    Without a ``start``, doubles from 16, then bisects to within about 12 %; with
    one (the previous run's answer), steps from there by 12 % either way.
    """
    if start is not None:
        streams = start
        if fits(streams):
            while fits(up := max(streams + 1, round(streams * 1.12))):
                streams = up
            return streams
        while streams > 1 and not fits(streams := max(1, min(streams - 1, round(streams / 1.12)))):
            pass
        return streams
    low, high = 0, 16
    while fits(high):
        low, high = high, high * 2
        if high > 4096:
            return low
    while high - low > max(1, low // 8):
        middle = (low + high) // 2
        low, high = (middle, high) if fits(middle) else (low, middle)
    return low


def _density_fits(client: str, url: str, seconds: float) -> Callable[[int], bool]:
    def fits(streams: int) -> bool:
        result = measure(client, "density", url, streams=streams, seconds=seconds)
        return bool(result["p99_seconds"] < LATENCY_BUDGET)

    return fits


def run_figure(figure: Figure, scale: dict[str, Any], runs: int, smoke: bool) -> dict[str, Any]:
    values: dict[str, list[float]] = {client: [] for client in figure.clients}
    count = scale.get(figure.name, 0)
    with peer(figure.peer_mode, count) as url:
        for _ in range(runs):
            for client in figure.clients:
                if figure.name == "density":
                    if smoke:
                        measure(client, "density", url, streams=2, seconds=scale["seconds"])
                        value: float = 2
                    else:
                        previous = values[client][-1] if values[client] else None
                        start = None if previous is None else int(previous)
                        fits = _density_fits(client, url, scale["seconds"])
                        value = max_streams(fits, start)
                else:
                    value = measure(client, figure.name, url, count=count)[figure.key]
                values[client].append(value)
    return {
        client: {
            "values": found,
            "median": statistics.median(found),
            "min": min(found),
            "max": max(found),
        }
        for client, found in values.items()
    }


def _show(figure: Figure, value: float) -> str:
    if figure.unit == "MB/s":
        return f"{value / 1e6:.1f}"
    if figure.unit == "KiB/conn":
        return f"{value / 1024:.0f}"
    if figure.unit == "ms":
        return f"{value * 1000:.2f}"
    return f"{value:,.0f}"


def _advantage(figure: Figure, ours: float, theirs: float) -> float:
    """How many times better dgtrio is (above 1) or worse (below 1)."""
    if figure.higher_is_better:
        return ours / theirs
    return theirs / ours if ours > 0 else float("inf")


def table(figures: dict[str, dict[str, Any]]) -> str:
    head = "| figure | " + " | ".join(CLIENTS) + " | vs SDK | vs ceiling |"
    lines = [head, "|---" * (len(CLIENTS) + 3) + "|"]
    for figure in FIGURES:
        if figure.name not in figures:
            continue
        found = figures[figure.name]
        cells = []
        for client in CLIENTS:
            if client not in found:
                cells.append("—")
                continue
            stats = found[client]
            spread = f" ({_show(figure, stats['min'])}-{_show(figure, stats['max'])})"
            cells.append(
                _show(figure, stats["median"]) + (spread if len(stats["values"]) > 1 else "")
            )
        ours = found["dgtrio"]["median"]
        versus = f"{_advantage(figure, ours, found['sdk']['median']):.2f}x"
        ceiling = "—"
        if "trio-websocket" in found:
            ceiling = f"{_advantage(figure, ours, found['trio-websocket']['median']):.0%}"
        lines.append(
            f"| {figure.name} ({figure.unit}) | " + " | ".join(cells) + f" | {versus} | {ceiling} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--runs", type=int, default=5, help="runs of each figure (5)")
    parser.add_argument("--smoke", action="store_true", help="tiny counts, one pass: a check")
    parser.add_argument("--only", help="comma-separated figures: receive,upload,density,...")
    parser.add_argument("--json", type=Path, default=ROOT / "bench" / "results.json")
    args = parser.parse_args()
    scale = SCALES["smoke" if args.smoke else "full"]
    runs = 1 if args.smoke else args.runs
    chosen = set(args.only.split(",")) if args.only else {figure.name for figure in FIGURES}
    started = time.monotonic()
    figures: dict[str, dict[str, Any]] = {}
    for figure in FIGURES:
        if figure.name in chosen:
            print(f"measuring {figure.name} ...", file=sys.stderr, flush=True)
            figures[figure.name] = run_figure(figure, scale, runs, args.smoke)
    elapsed = time.monotonic() - started
    report = {
        "python": platform.python_version(),
        "machine": platform.machine(),
        "processor_count": os.cpu_count(),
        "runs": runs,
        "scale": scale,
        "seconds": elapsed,
        "figures": figures,
    }
    args.json.write_text(json.dumps(report, indent=2) + "\n")
    print(table(figures))
    print(f"\n{runs} run(s) of each, {elapsed:.0f} s; JSON in {args.json}", file=sys.stderr)


if __name__ == "__main__":
    main()
