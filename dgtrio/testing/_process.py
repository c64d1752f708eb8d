"""The fake server in a child process, for clients that cannot share a trio loop."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["fake_server_process"]


@contextmanager
def fake_server_process(*args: str) -> Iterator[str]:
    """Run ``python -m dgtrio.testing serve ARGS`` and yield its URL; stop it on exit.

    For clients that run their own event loop (asyncio, threads, other languages):
    ``with fake_server_process("--api-key", "k") as url: ...``
    """
    with subprocess.Popen(
        [sys.executable, "-m", "dgtrio.testing", "serve", "--port", "0", *args],
        stdout=subprocess.PIPE,
        text=True,
    ) as server:
        try:
            assert server.stdout is not None
            url = server.stdout.readline().strip()
            if not url.startswith("ws"):
                raise RuntimeError(f"the fake server did not start (it printed {url!r})")
            yield url
        finally:
            server.terminate()
