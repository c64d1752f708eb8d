"""pytest fixtures for the fake server and the local engine (need pytest-trio).

Enable them in ``conftest.py`` with ``pytest_plugins = ["dgtrio.testing.pytest_plugin"]``;
then a test takes ``fake_deepgram`` (or ``local_deepgram``, with ``dgtrio[local]``: see
:mod:`dgtrio.local.pytest_plugin`) and connects with ``base_url=fake_deepgram.url``.
"""

from __future__ import annotations

import pytest
import trio

from ._server import FakeDeepgram

__all__ = ["fake_deepgram"]

# The local engine's fixtures come with the fake's; pytest loads their module by name
# (it imports no model until a test asks for one).
pytest_plugins = ["dgtrio.local.pytest_plugin"]


@pytest.fixture
async def fake_deepgram(nursery: trio.Nursery) -> FakeDeepgram:
    """A running :class:`FakeDeepgram` on 127.0.0.1 with a free port, any key accepted."""
    fake = FakeDeepgram()
    await nursery.start(fake.serve)
    return fake
