"""The decoding benchmark (``python -m bench.decode``) keeps running."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench import decode


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # the SDK's websockets imports
def test_a_tiny_run_times_every_case(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "decode.json"
    assert decode.main(["--count", "2", "--runs", "2", "--json", str(out)]) == 0
    report = json.loads(out.read_text())
    assert len(report) == 2 * 2 * len(decode.DECODERS)
    assert all(len(values) == 2 and min(values) > 0 for values in report.values())
    lines = capsys.readouterr().out.splitlines()
    assert lines[1].startswith("| frame | reads | eager | lazy | sdk | sdk validate |")
    assert [line.split(" | ")[:2] for line in lines[3:]] == [
        ["| listen v1", "transcript"],
        ["| listen v1", "every word"],
        ["| flux", "transcript"],
        ["| flux", "every word"],
    ]
