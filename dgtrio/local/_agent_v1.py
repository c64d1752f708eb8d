"""The voice agent (``/v1/agent/converse``) on the local engine: the fake's
conversation and protocol, with the user's speech recognised, the replies thought by
a Python function (or the script's rules), and spoken for real.

What is emulated: no hosted LLM runs offline, so ``agent.think`` is not obeyed (its
provider, model and prompt are accepted and ignored); a reply comes from the
``think`` function given to :class:`~dgtrio.local.LocalDeepgram`, or else from the
:class:`~dgtrio.testing.AgentScript` rules (replies by keyword, and function calls to
the client's tools when the user's words contain a call's keyword). Every speak
provider is hibari's default voice; every listen provider is Whisper tiny.en.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from functools import partial
from typing import TYPE_CHECKING, Any

import trio

from ..testing._agent_v1 import AgentScript, AgentV1Fake
from ..testing._sound import PCM_OUTPUT
from ._audio import ENCODINGS, Decoder, to_16k
from ._recognizer import Recognizer
from ._synthesizer import Synthesizer, encode

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

__all__ = ["LocalAgentV1", "Think"]

Think = Callable[[str], str | Awaitable[str]]
"""``(what the user said) -> the agent's reply``: a plain function (run in a worker
thread) or an async one."""

_LEAD_IN = 0.3  # seconds of audio kept before the speech that started a turn
_KEEP = 2.0  # seconds of audio held while nobody speaks


class LocalAgentV1(AgentV1Fake):
    """One voice agent session of the local engine."""

    def __init__(
        self,
        recognizer: Recognizer,
        synthesizer: Synthesizer,
        limiters: tuple[trio.CapacityLimiter, trio.CapacityLimiter],
        script: AgentScript,
        client_timeout: float,
        think: Think | None = None,
    ) -> None:
        super().__init__(script, client_timeout)
        self._recognizer = recognizer
        self._synthesizer = synthesizer
        self._decodes, self._syntheses = limiters
        self._think = think
        self._decoder: Decoder | None = None
        self._held: list[npt.NDArray[np.float32]] = []  # input audio, from _held_from on
        self._held_from = 0  # the sample index of the first held sample
        self._position = 0  # samples heard (windowed) so far
        self._turn_start = 0

    async def _on_settings(self, message: dict[str, Any]) -> None:
        await super()._on_settings(message)
        source = (message.get("audio") or {}).get("input") or {}
        encoding = source.get("encoding", "linear16")
        # Other input encodings are heard as silence: injected text still works.
        self._decoder = Decoder(encoding, 1) if encoding in ENCODINGS else None

    async def _on_audio(self, data: bytes) -> None:
        if self._decoder is not None:
            self._held.extend(self._decoder.decode(data))
        await super()._on_audio(data)

    async def _on_window(self, loud: bool, samples: int) -> None:
        speaking = self._user_speaking
        self._position += samples
        await super()._on_window(loud, samples)
        if self._user_speaking and not speaking:  # the turn began with this run of speech
            lead_in = round(_LEAD_IN * self._input_rate)
            self._turn_start = max(self._held_from, self._position - self._loud_samples - lead_in)
        elif not self._user_speaking:
            keep = round(_KEEP * self._input_rate)
            if self._position - self._held_from > 2 * keep:  # now and then, not per window
                self._forget(self._position - keep)

    def _heard(self) -> Callable[[], Awaitable[None]]:
        """The job that answers the turn just ended: what the user said, recognised."""
        audio = self._audio(self._turn_start, self._position)
        self._forget(self._position)
        return partial(self._recognise, audio)

    async def _recognise(self, audio: npt.NDArray[np.float32]) -> None:
        words = await trio.to_thread.run_sync(
            self._recognizer.transcribe, to_16k(audio, self._input_rate), limiter=self._decodes
        )
        text = " ".join(word.punctuated for word in words)
        if text:  # a cough, a door: no words, no answer
            await self._respond(text)

    async def _reply(self, text: str) -> str:
        if self._think is None:
            return await super()._reply(text)
        if inspect.iscoroutinefunction(self._think):
            return str(await self._think(text))
        return str(await trio.to_thread.run_sync(self._think, text))

    async def _speech(self, text: str) -> list[bytes]:
        output = self._output
        samples = await trio.to_thread.run_sync(
            self._synthesizer.synthesize, text, limiter=self._syntheses
        )
        seconds = len(samples) / 24000
        if output.encoding not in PCM_OUTPUT:  # a compressed encoding: filler bytes
            return output.pack(b"", seconds)
        return output.pack(encode(samples, output.encoding, output.sample_rate), seconds)

    # -- held input audio --------------------------------------------------------------

    def _audio(self, start: int, end: int) -> npt.NDArray[np.float32]:
        import numpy as np

        held = np.concatenate(self._held) if self._held else np.zeros(0, np.float32)
        return held[max(0, start - self._held_from) : max(0, end - self._held_from)]

    def _forget(self, before: int) -> None:
        """Let the held audio before sample ``before`` go."""
        if before <= self._held_from or not self._held:
            return
        import numpy as np

        held = np.concatenate(self._held)
        drop = min(len(held), before - self._held_from)
        self._held, self._held_from = [held[drop:]], self._held_from + drop
