"""The benchmark (``python -m bench``) keeps running: a seconds-long smoke run, and its
search for the realtime density."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from bench import soak
from bench.__main__ import FIGURES, max_streams

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
    lines = done.stdout.splitlines()
    assert lines[0].startswith("| figure | dgtrio | sdk | trio-websocket | websockets |")
    assert len(lines) == 2 + len(FIGURES)


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
