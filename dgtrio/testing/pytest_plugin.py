"""pytest fixtures for the fake server and the local engine (need pytest-trio).

Enable them in ``conftest.py`` with ``pytest_plugins = ["dgtrio.testing.pytest_plugin"]``;
then a test takes ``fake_deepgram`` (or ``local_deepgram``, with ``dgtrio[local]``) and
connects with ``base_url=fake_deepgram.url``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest
import trio

from ._server import FakeDeepgram

__all__ = [
    "fake_deepgram",
    "local_deepgram",
    "local_deepgram_models",
]

if TYPE_CHECKING:
    from ..local import LocalDeepgram


@pytest.fixture
async def fake_deepgram(nursery: trio.Nursery) -> FakeDeepgram:
    """A running :class:`FakeDeepgram` on 127.0.0.1 with a free port, any key accepted."""
    fake = FakeDeepgram()
    await nursery.start(fake.serve)
    return fake


@pytest.fixture(scope="session")
def local_deepgram_models() -> dict[str, Any]:
    """The local engine's models, loaded once per test session (about a second)."""
    from ..local import Recognizer, Synthesizer

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
    from ..local import LocalDeepgram

    local = LocalDeepgram(**local_deepgram_models)
    await nursery.start(local.serve)
    return local
