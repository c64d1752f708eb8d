"""pytest fixtures for the local engine (need pytest-trio and ``dgtrio[local]``).

:mod:`dgtrio.testing.pytest_plugin` loads them with the fake's: enable that one in
``conftest.py`` and a test takes ``local_deepgram``.
"""

from __future__ import annotations

from typing import Any

import pytest
import trio

from ._recognizer import Recognizer
from ._server import LocalDeepgram
from ._synthesizer import Synthesizer

__all__ = ["local_deepgram", "local_deepgram_models"]


@pytest.fixture(scope="session")
def local_deepgram_models() -> dict[str, Any]:
    """The local engine's models, loaded once per test session (about a second)."""
    return {"recognizer": Recognizer(), "synthesizer": Synthesizer()}


@pytest.fixture
async def local_deepgram(
    nursery: trio.Nursery, local_deepgram_models: dict[str, Any]
) -> LocalDeepgram:
    """A running :class:`~dgtrio.local.LocalDeepgram` (real recognition and speech,
    offline) on 127.0.0.1 with a free port, any key accepted; the models are shared
    by the session's tests.

    Raises:
        LocalEngineUnavailable: ``dgtrio[local]`` is not installed.
    """
    local = LocalDeepgram(**local_deepgram_models)
    await nursery.start(local.serve)
    return local
