"""Listen v1 (``/v1/listen``) on the local engine: the fake's protocol, with the
words recognised from the audio instead of read from a script.

The audio of each result channel is held from where its last final ended. A
recognition task looks at it whenever new audio came and the recogniser is free (so
audio sent faster than real time gets fewer interims, never a backlog): voice
activity detection says whether speech goes on; once a pause as long as the
endpointing delay (at least ``MIN_PAUSE``) follows it, the utterance is decoded and
sent as a final (``speech_final``), else the held speech is decoded for an interim
(with ``interim_results``). ``Finalize`` and ``CloseStream`` wait for the task to
take all the audio sent before them, then finalise what is held.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Literal, TypeVar

import trio

from ..server import Session
from ..server._common import Query, flag, param
from ..testing._listen_v1 import ListenScript, ListenV1Fake, _Word
from ._audio import ENCODINGS, Decoder, to_16k
from ._recognizer import RecognizedWord, Recognizer

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

__all__ = ["MIN_PAUSE", "LocalListenV1"]

MIN_PAUSE = 0.3
"""The shortest pause (seconds) that ends an utterance, whatever ``endpointing`` says
(Deepgram's default of 10 ms is finer than voice activity detection)."""
_STEP = 0.5  # seconds of new audio between looks at the held audio
_LONGEST = 15.0  # held speech without a pause is finalised at this length (see _listen_v2)
_KEEP_SILENCE = 0.3  # seconds of silence kept before speech when dropping silence
# Seconds of speech before the first interim: Whisper guesses wildly at less.
_INTERIM_SPEECH = 0.8

T = TypeVar("T")


class LocalListenV1(ListenV1Fake):
    """One Listen v1 session of the local engine."""

    def __init__(
        self,
        recognizer: Recognizer,
        limiter: trio.CapacityLimiter,
        idle_timeout: float,
    ) -> None:
        super().__init__(ListenScript(), idle_timeout)
        self._recognizer = recognizer
        self._limiter = limiter

    def check(self, query: Query) -> tuple[str, str] | None:
        problem = super().check(query)
        encoding = param(query, "encoding")
        if problem is None and encoding is not None and encoding not in ENCODINGS:
            return (
                "INVALID_QUERY_PARAMETER",
                f"The local engine decodes {', '.join(ENCODINGS)} (or WAV), not {encoding}.",
            )
        return problem

    async def run(self, session: Session) -> None:
        self._new_audio = trio.Event()
        self._caught_up = trio.Event()
        self._wanted = 0  # audio samples (per channel) a flush waits to be looked at
        self._decoder: Decoder | None = None
        self._rate = 0
        self._held: list[list[Any]] = []  # per result channel: sample arrays since _seg_start
        self._received = 0  # samples per channel received
        self._looked = 0  # samples per channel the task has looked at
        self._again = False  # look again at once (a final left speech held)
        self._heard: list[list[RecognizedWord]] = []  # per channel: the last interim's words
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._recognise, session)
            await super().run(session)
            nursery.cancel_scope.cancel()

    # -- audio in ----------------------------------------------------------------------

    async def _on_audio(self, session: Session, data: bytes) -> bool:
        import numpy as np

        if self._decoder is None:
            encoding = param(session.query, "encoding")
            if encoding is not None:
                rate = int(param(session.query, "sample_rate", "16000") or 16000)
            else:  # a WAV file: its header says
                self._header += data
                found = _wav_format(self._header)
                if found is None and len(self._header) < 65536:
                    return True  # more of the header to come
                if not found:
                    await session.close(1008, "DATA-0000")
                    return False
                encoding, rate, self._channels, skip = found
                if flag(session.query, "multichannel"):
                    self._result_channels = self._channels
                data = self._header[skip:]  # the header is no audio
            self._header = b""
            self._decoder, self._rate = Decoder(encoding, self._channels), rate
            self._bytes_per_second = self._decoder.width * rate * self._channels
            self._held = [[] for _ in range(self._result_channels)]
            self._heard = [[] for _ in range(self._result_channels)]
            self._seg_start = [0.0] * self._result_channels
        self._audio_bytes += len(data)
        self._sha256.update(data)
        channels = self._decoder.decode(data)
        if self._result_channels == 1 and len(channels) > 1:
            channels = [np.mean(channels, axis=0, dtype=np.float32)]  # a mix of them
        for held, samples in zip(self._held, channels, strict=True):
            held.append(samples)
        self._received += len(channels[0])
        self._new_audio.set()
        return True

    @property
    def _audio_time(self) -> float:
        return self._received / self._rate if self._rate else 0.0

    # -- recognition -------------------------------------------------------------------

    async def _recognise(self, session: Session) -> None:
        while True:
            await self._new_audio.wait()
            self._new_audio = trio.Event()
            fresh = self._received - self._looked
            if fresh < _STEP * self._rate and self._wanted <= self._looked and not self._again:
                continue
            self._again = False
            self._looked = self._received
            for channel in range(self._result_channels):
                await self._look(session, channel)
            # The client is not idle while the engine works through what it sent.
            self._last_activity = trio.current_time()
            if self._again:
                self._new_audio.set()
            elif self._looked >= self._wanted:
                self._caught_up.set()

    async def _look(self, session: Session, channel: int) -> None:
        """Interims, finals and speech events for what ``channel`` holds."""
        now = self._looked / self._rate
        start = self._seg_start[channel]
        audio = self._audio(channel)
        spans = await self._run(self._recognizer.speech, audio)
        if not spans:
            self._drop_silence(channel, now)
            await self._maybe_utterance_end(session, now)
            return
        if self._vad and not self._speech_started:
            self._speech_started = True
            timestamp = round(start + spans[0][0], 3)
            await session.send_json(
                {"type": "SpeechStarted", "channel": [0, 1], "timestamp": timestamp}
            )
        pause = max(MIN_PAUSE, self._endpoint_delay if self._endpointing else MIN_PAUSE)
        ends = [start + end for _, end in spans]
        follows = [start + begin for begin, _ in spans[1:]] + [now]
        for end, following in zip(ends, follows, strict=True):
            if following - end >= pause:  # an utterance, and the pause that ends it
                await self._final(session, channel, min(end + 0.1, following), speech_final=True)
                self._speech_started = False
                self._again = True  # what follows the pause is looked at next
                return
        if now - start >= _LONGEST:
            await self._final(session, channel, now)
        elif self._interim and sum(end - begin for begin, end in spans) >= _INTERIM_SPEECH:
            words = await self._run(self._recognizer.transcribe, audio, start)
            if words and words != self._heard[channel]:
                self._heard[channel] = words
                await self._send(session, channel, start, now, words, is_final=False)

    async def _final(
        self,
        session: Session,
        channel: int,
        cut: float,
        *,
        speech_final: bool = False,
        from_finalize: bool = False,
    ) -> None:
        """Decode ``channel``'s audio up to ``cut`` as a final, and let it go."""
        start = self._seg_start[channel]
        audio = self._audio(channel, upto=cut)
        words = await self._run(self._recognizer.transcribe, audio, start) if len(audio) else []
        self._release(channel, cut)
        self._heard[channel] = []
        if words:
            await self._send(
                session,
                channel,
                start,
                cut,
                words,
                is_final=True,
                speech_final=speech_final and self._endpointing,
                from_finalize=from_finalize,
            )
            self._last_word_end = words[-1].end
            self._utterance_end_pending = True

    async def _flush(
        self, session: Session, *, from_finalize: bool, channel: int | None = None
    ) -> None:
        """``Finalize`` and ``CloseStream``: once every sample sent before them was
        looked at, finals for what is held (of one channel, or all)."""
        self._wanted = self._received
        while self._looked < self._wanted:
            self._caught_up = trio.Event()
            self._new_audio.set()
            await self._caught_up.wait()
        channels = self._all_channels
        if channel is not None:
            channels = range(channel, channel + 1) if channel in channels else range(0)
        for index in channels:
            await self._final(session, index, self._audio_time, from_finalize=from_finalize)
            self._last_activity = trio.current_time()

    async def _maybe_utterance_end(self, session: Session, now: float) -> None:
        if self._utterance_end is None or not self._utterance_end_pending:
            return
        if now >= self._last_word_end + self._utterance_end:
            self._utterance_end_pending = False
            await session.send_json(
                {"type": "UtteranceEnd", "channel": [0, 1], "last_word_end": self._last_word_end}
            )

    # -- held audio ----------------------------------------------------------------------

    def _audio(self, channel: int, upto: float = math.inf) -> npt.NDArray[np.float32]:
        import numpy as np

        held = self._held[channel]
        samples = np.concatenate(held) if held else np.zeros(0, np.float32)
        if upto < math.inf:
            samples = samples[: max(0, round((upto - self._seg_start[channel]) * self._rate))]
        return to_16k(samples, self._rate)

    def _release(self, channel: int, upto: float) -> None:
        """Let ``channel``'s audio before ``upto`` go: it was finalised (or silence)."""
        import numpy as np

        held = self._held[channel]
        samples = np.concatenate(held) if held else np.zeros(0, np.float32)
        drop = max(0, round((upto - self._seg_start[channel]) * self._rate))
        self._held[channel] = [samples[drop:]]
        self._seg_start[channel] += drop / self._rate

    def _drop_silence(self, channel: int, now: float) -> None:
        if now - self._seg_start[channel] > 2 * _KEEP_SILENCE:
            self._release(channel, now - _KEEP_SILENCE)

    async def _run(self, function: Callable[..., T], *args: Any) -> T:
        return await trio.to_thread.run_sync(function, *args, limiter=self._limiter)

    async def _send(
        self,
        session: Session,
        channel: int,
        start: float,
        end: float,
        words: list[RecognizedWord],
        *,
        is_final: bool,
        speech_final: bool = False,
        from_finalize: bool = False,
    ) -> None:
        heard = [_Word(w.start, w.end, w.word, w.punctuated, w.confidence) for w in words]
        await session.send_json(
            self._results_message(
                session, channel, start, end, heard, is_final, speech_final, from_finalize
            )
        )


def _wav_format(header: bytes) -> tuple[str, int, int, int] | Literal[False] | None:
    """A WAV header's (encoding, rate, channels, header length); False if it is no
    WAV the local engine decodes, None if more bytes are needed."""
    if len(header) < 12:
        return None
    if header[:4] != b"RIFF" or header[8:12] != b"WAVE":
        return False
    offset, found = 12, None
    while offset + 8 <= len(header):
        chunk = header[offset : offset + 4]
        size = struct.unpack("<I", header[offset + 4 : offset + 8])[0]
        if chunk == b"fmt " and offset + 24 <= len(header):
            code, channels, rate = struct.unpack("<HHI", header[offset + 8 : offset + 16])
            bits = struct.unpack("<H", header[offset + 22 : offset + 24])[0]
            found = (
                {(1, 16): "linear16", (1, 32): "linear32", (7, 8): "mulaw", (6, 8): "alaw"}.get(
                    (code, bits)
                ),
                rate,
                channels,
            )
        if chunk == b"data":
            if found is None or found[0] is None:
                return False
            return found[0], found[1], found[2], offset + 8
        offset += 8 + size + (size & 1)
    return None
