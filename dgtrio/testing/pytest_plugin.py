"""A pytest fixture for the fake server (needs pytest-trio).

Enable it in ``conftest.py`` with ``pytest_plugins = ["dgtrio.testing.pytest_plugin"]``;
then a test takes ``fake_deepgram`` and connects with ``base_url=fake_deepgram.url``.
"""

from __future__ import annotations

import pytest
import trio

from ._server import FakeDeepgram


@pytest.fixture
async def fake_deepgram(nursery: trio.Nursery) -> FakeDeepgram:
    """A running :class:`FakeDeepgram` on 127.0.0.1 with a free port, any key accepted."""
    fake = FakeDeepgram()
    await nursery.start(fake.serve)
    return fake
