"""The benchmark (``python -m bench``) keeps running: a seconds-long smoke run, and its
search for the realtime density."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from bench import clients, soak
from bench.__main__ import CLIENTS, FIGURES, max_streams, peer

from .conftest import ROOT

pytestmark = pytest.mark.timeout(120)


def test_a_smoke_run_measures_every_figure_for_every_client(tmp_path: Path) -> None:
    out = tmp_path / "results.json"
    done = subprocess.run(
        [sys.executable, "-m", "bench", "--smoke", "--json", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=100,
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(out.read_text())
    assert list(report["figures"]) == [figure.name for figure in FIGURES]
    for figure in FIGURES:
        found = report["figures"][figure.name]
        assert sorted(found) == sorted(figure.clients)
        assert all(stats["median"] > 0 for stats in found.values())
    # Every raw client runs every figure a raw client can: all but reading words.
    for name in ("receive", "upload", "density", "density10", "memory", "connect", "tts"):
        assert sorted(report["figures"][name]) == sorted(CLIENTS)
    lines = done.stdout.splitlines()
    head = "| figure | dgtrio | sdk | sans-io | trio-websocket | websockets | vs SDK | vs ceiling |"
    assert lines[0] == head
    assert len(lines) == 2 + len(FIGURES)


class _Clock:
    """``time`` for the bench's clients, on a clock that moves only when told."""

    def __init__(self) -> None:
        self.now = 1000.0

    def monotonic(self) -> float:
        return self.now

    perf_counter = monotonic

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def test_a_density_trial_reports_as_soon_as_its_p99_is_over_the_budget(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """More than 1 % of the most results a trial can hold over the budget, or of its
    frames sent late: the trial has failed, and says so before its end (the bench
    then ends it)."""
    clock = _Clock()
    monkeypatch.setattr(clients, "time", clock)  # latencies are exact: no pause counts
    density = clients._Density(streams=10, seconds=3.0, warmup=0.0, cadence=10)
    assert density.joined() is False
    density.connected = 9
    assert density.joined() is True
    clock.sleep(2 * clients.LATENCY_BUDGET)  # results sent since the start can be late
    now = clock.monotonic()
    density.add(f"t={now - 60:.6f}")  # sent before the start: the warm-up, not counted
    for _ in range(2):  # 10 streams * (10/s * 3 s + 2) = 320 results at most: 3 allowed
        density.add(f"t={now:.6f}")
    late = f"t={now - 2 * clients.LATENCY_BUDGET:.6f}"
    for _ in range(3):
        density.add(late)
    assert capsys.readouterr().out == ""
    density.add(late)
    report = json.loads(capsys.readouterr().out)
    assert report["ended_early"] and report["p99_seconds"] > clients.LATENCY_BUDGET
    assert report["results"] == 6
    density.add(late)
    density.sent(1.0)
    density.sent(1.0)
    assert capsys.readouterr().out == ""  # reported once

    sending = clients._Density(streams=2, seconds=1.0, warmup=0.5, cadence=4)
    for _ in range(10):  # 2 streams * 50 frames measured: 1 allowed late
        sending.sent(0.001)
    sending.sent(clients.LATENCY_BUDGET)  # on the budget is over it
    assert capsys.readouterr().out == ""
    sending.sent(1.0)
    report = json.loads(capsys.readouterr().out)
    assert report["ended_early"] and report["send_lag_p99_seconds"] > clients.LATENCY_BUDGET


@pytest.mark.parametrize("cadence", [4, 10])
def test_the_realtime_peer_sends_results_at_its_cadence(
    cadence: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A second of audio from one stream brings ``cadence`` results, and the raw
    sans-io client reads them all (however late: how prompt they are is the machine's
    business, and the density search's, not this test's)."""
    monkeypatch.setattr(clients, "LATENCY_BUDGET", 10.0)
    with peer("realtime", cadence=cadence) as url:
        result = clients.run(
            "sans-io", "density", url, streams=1, seconds=1.0, warmup=0.0, cadence=cadence
        )
    assert result["results"] == cadence
    assert not result["ended_early"]


@pytest.mark.parametrize("limit", [1, 7, 137, 1000])
def test_the_density_search_lands_within_an_eighth(limit: int) -> None:
    tried: list[int] = []

    def fits(streams: int) -> bool:
        tried.append(streams)
        return streams <= limit

    found = max_streams(fits, None)
    assert found <= limit and found >= limit * 7 / 8 - 1
    assert len(tried) <= 16
    # From the previous answer, a few steps either way find it again.
    tried.clear()
    assert limit * 0.8 <= max_streams(fits, found) <= limit
    assert max_streams(fits, limit * 2) <= limit
    assert len(tried) <= 20


def test_a_short_soak_balances_every_byte(capsys: pytest.CaptureFixture[str]) -> None:
    """The soak's checks hold on a few seconds of it (CI runs a minute)."""
    status = soak.main(["--seconds", "3", "--streams", "4", "--stream-seconds", "1.5"])
    summary = json.loads(capsys.readouterr().out)
    assert status == 0, summary["problems"]
    assert sum(summary["streams_finished"].values()) >= 4
    assert summary["audio_seconds"] > 0 and summary["audio_lost_seconds"] == 0


def test_the_phone_benchmark_smoke_run_measures_each_figure() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "bench.phone", "--smoke"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=100,
    )
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout[: done.stdout.rindex("}") + 1])
    assert summary["one_worker"]["realtime_calls"] == 4
    assert summary["two_workers"]["realtime_calls"] == 4
    assert summary["memory"]["rss_per_call_kib"] is not None
    assert summary["churn"]["calls"] > 0 and summary["churn"]["rss_end_kib"] > 0
