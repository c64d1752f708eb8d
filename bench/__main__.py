"""``python -m bench``: dgtrio against the official deepgram-sdk, in one run, on one peer.

Each figure is measured with every client in turn, each run in a fresh process of
its own, against a loopback peer in another process (``bench.peer``), ``--runs``
times; the table shows medians with their spread, and ratios against the official
SDK and against the raw sans-io client (websockets' ``ClientProtocol`` driven by one
trio task, as dgtrio's transport drives it: its ceiling). The whole
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
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import attrs

from .clients import LATENCY_BUDGET

ROOT = Path(__file__).resolve().parent.parent
CLIENTS = ("dgtrio", "sdk", "sans-io", "trio-websocket", "websockets")
CEILING = "sans-io"  # what dgtrio's transport is built on, with nothing of dgtrio's
CLIENT_TIMEOUT = 300.0  # seconds a client's workload may take
FIRST_STREAMS = 64  # where the first density search starts doubling
DENSITY_RUNS = 3  # at most, for each density figure: each run is a search of trials


@attrs.frozen
class Figure:
    name: str
    peer_mode: str
    key: str  # in the client's result
    unit: str
    higher_is_better: bool
    clients: tuple[str, ...] = CLIENTS
    cadence: int = 0  # realtime: the peer's Results per second of audio


FIGURES = (
    Figure("receive", "flood", "messages_per_second", "msg/s", True),
    # The same, the consumer reading every word of every result (raw clients read none).
    Figure("words", "flood", "messages_per_second", "msg/s", True, ("dgtrio", "sdk")),
    Figure("upload", "sink", "bytes_per_second", "MB/s", True),
    # Realtime streams within the latency budget: finals (4 Results a second), and
    # interim results (10 a second, one per 100 ms of audio).
    Figure("density", "realtime", "streams", "streams", True, cadence=4),
    Figure("density10", "realtime", "streams", "streams", True, cadence=10),
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
        "warmup": 1.0,
        "seconds": 3.0,
    },
    "smoke": {
        "receive": 300,
        "words": 300,
        "upload": 300,
        "memory": 20,  # a few pages: the raw sans-io connection takes under 2 KiB
        "connect": 3,
        "tts": 30,
        "warmup": 0.3,
        "seconds": 0.5,
    },
}


@contextmanager
def peer(mode: str, count: int = 0, cadence: int = 0) -> Iterator[str]:
    """A ``bench.peer`` process in ``mode``; yields its ``ws://`` URL."""
    command = [sys.executable, "-m", "bench.peer", mode, "--count", str(count)]
    if cadence:
        command += ["--cadence", str(cadence)]
    with subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, text=True) as process:
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
    """One workload of one client, in a process of its own: its line of JSON. A
    density trial that gives its answer early (``ended_early``) is ended then."""
    command = [sys.executable, "-m", "bench.clients", client, workload, url]
    for name, value in params.items():
        command += [f"--{name}", str(value)]
    with (
        tempfile.TemporaryFile("w+") as errors,
        subprocess.Popen(
            command, cwd=ROOT, stdout=subprocess.PIPE, stderr=errors, text=True
        ) as process,
    ):
        watchdog = threading.Timer(CLIENT_TIMEOUT, process.kill)
        watchdog.start()
        try:
            assert process.stdout is not None
            line = process.stdout.readline()
            result: dict[str, Any] = json.loads(line) if line else {}
            if result.get("ended_early"):
                process.kill()
            process.wait()
        finally:
            watchdog.cancel()
        if not result or (process.returncode and not result.get("ended_early")):
            errors.seek(0)
            raise RuntimeError(f"{client} {workload} failed:\n{errors.read()}")
    return result


def max_streams(fits: Callable[[int], bool], start: int | None) -> int:
    """The most realtime streams for which ``fits`` (p99 latency within budget).

    Without a ``start``, doubles from ``FIRST_STREAMS``, then bisects to within about
    12 %; with one (the previous run's answer), steps from there by 12 % either way.
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
    low, high = 0, FIRST_STREAMS
    while fits(high):
        low, high = high, high * 2
        if high > 4096:
            return low
    while high - low > max(1, low // 8):
        middle = (low + high) // 2
        low, high = (middle, high) if fits(middle) else (low, middle)
    return low


def _density_fits(
    client: str, url: str, scale: dict[str, Any], cadence: int, trials: list[dict[str, Any]]
) -> Callable[[int], bool]:
    """Whether a trial of so many streams keeps both p99s within the budget; each
    trial's result goes to ``trials``, for the JSON."""

    def fits(streams: int) -> bool:
        timing = {"seconds": scale["seconds"], "warmup": scale["warmup"], "cadence": cadence}
        started = time.monotonic()
        result = measure(client, "density", url, streams=streams, **timing)
        late = max(result["p99_seconds"], result["send_lag_p99_seconds"])
        fit = not result["ended_early"] and bool(late < LATENCY_BUDGET)
        trials.append(
            {
                "streams": streams,
                "fits": fit,
                "ended_early": result["ended_early"],
                "p99_ms": _ms(result["p99_seconds"]),
                "send_lag_p99_ms": _ms(result["send_lag_p99_seconds"]),
                "seconds": round(time.monotonic() - started, 2),
            }
        )
        return fit

    return fits


def _ms(seconds: float) -> float | None:
    """Milliseconds for the JSON; ``None`` for a p99 of too few values (infinite)."""
    return round(seconds * 1000, 1) if seconds != float("inf") else None


def run_figure(
    figure: Figure,
    scale: dict[str, Any],
    runs: int,
    smoke: bool,
    starts: dict[str, float] | None = None,
) -> dict[str, Any]:
    """``runs`` runs of ``figure`` for each of its clients. A density search starts
    from the client's previous run, or else from ``starts`` (another cadence's answer,
    so that the search takes a few steps rather than doubling from the start)."""
    values: dict[str, list[float]] = {client: [] for client in figure.clients}
    trials: dict[str, list[dict[str, Any]]] = {client: [] for client in figure.clients}
    count = scale.get(figure.name, 0)
    with peer(figure.peer_mode, count, figure.cadence) as url:
        for _ in range(runs):
            for client in figure.clients:
                if figure.peer_mode == "realtime":
                    fits = _density_fits(client, url, scale, figure.cadence, trials[client])
                    if smoke:
                        fits(2)  # it runs, whatever its latency
                        value: float = 2
                    else:
                        previous = values[client][-1] if values[client] else None
                        previous = previous or (starts or {}).get(client)
                        start = None if previous is None else int(previous)
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
        | ({"trials": trials[client]} if trials[client] else {})
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
        if CEILING in found:
            ceiling = f"{_advantage(figure, ours, found[CEILING]['median']):.0%}"
        lines.append(
            f"| {figure.name} ({figure.unit}) | " + " | ".join(cells) + f" | {versus} | {ceiling} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    most = f"runs of each figure (5; density: {DENSITY_RUNS} at most)"
    parser.add_argument("--runs", type=int, default=5, help=most)
    parser.add_argument("--smoke", action="store_true", help="tiny counts, one pass: a check")
    parser.add_argument("--only", help="comma-separated figures: receive,upload,density10,...")
    parser.add_argument("--json", type=Path, default=ROOT / "bench" / "results.json")
    args = parser.parse_args()
    scale = SCALES["smoke" if args.smoke else "full"]
    runs = 1 if args.smoke else args.runs
    names = {figure.name for figure in FIGURES}
    chosen = set(args.only.split(",")) if args.only else names
    if unknown := chosen - names:
        parser.error(f"no figure {', '.join(sorted(unknown))}: one of {', '.join(sorted(names))}")
    started = time.monotonic()
    figures: dict[str, dict[str, Any]] = {}
    for figure in FIGURES:
        if figure.name in chosen:
            print(f"measuring {figure.name} ...", file=sys.stderr, flush=True)
            times, starts = runs, None
            if figure.peer_mode == "realtime":
                times = min(runs, DENSITY_RUNS)
                found = figures.get("density", {})
                starts = {client: stats["median"] for client, stats in found.items()}
            figures[figure.name] = run_figure(figure, scale, times, args.smoke, starts)
    elapsed = time.monotonic() - started
    report = {
        "python": platform.python_version(),
        "machine": platform.machine(),
        "processor_count": os.cpu_count(),
        "runs": runs,
        "density_runs": min(runs, DENSITY_RUNS),
        "scale": scale,
        "seconds": elapsed,
        "figures": figures,
    }
    args.json.write_text(json.dumps(report, indent=2) + "\n")
    print(table(figures))
    density = f" (density: {DENSITY_RUNS})" if runs > DENSITY_RUNS else ""
    done = f"{runs} run(s) of each{density}, {elapsed:.0f} s; JSON in {args.json}"
    print(f"\n{done}", file=sys.stderr)


if __name__ == "__main__":
    main()
