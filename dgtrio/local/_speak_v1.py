"""Speak v1 (``/v1/speak``) on the local engine: the fake's protocol, with speech
synthesised for real (every ``aura-*`` voice is hibari's default voice)."""

from __future__ import annotations

import trio

from ..testing._speak_v1 import SpeakV1Fake, _Job
from ..testing._speech import SpeakScript
from ._synthesizer import Synthesizer, encode

__all__ = ["LocalSpeakV1"]


class LocalSpeakV1(SpeakV1Fake):
    """One Speak v1 session of the local engine."""

    def __init__(self, synthesizer: Synthesizer, limiter: trio.CapacityLimiter) -> None:
        super().__init__(SpeakScript(synthesis_speed=None))
        self._synthesizer = synthesizer
        self._limiter = limiter

    async def _synthesise(self, job: _Job) -> None:
        """The job's speech, sentence by sentence as each is synthesised, in chunks of
        the fake's size; then its ``Flushed``."""
        voice = self._voice
        for sentence in _sentences(job.text):
            samples = await trio.to_thread.run_sync(
                self._synthesizer.synthesize, sentence, self._speed, limiter=self._limiter
            )
            audio = encode(samples, voice.encoding, voice.sample_rate)
            chunk = voice.step * (2 if voice.encoding == "linear16" else 1)
            for start in range(0, len(audio), chunk):
                await self._send(audio[start : start + chunk])
        if job.sequence_id is not None:
            await self._send({"type": "Flushed", "sequence_id": job.sequence_id})


def _sentences(text: str) -> list[str]:
    from hibari import Hibari

    return [sentence for sentence in Hibari.split_sentences(text) if sentence.strip()]
