"""The fake Speak v1 server (``/v1/speak``), faithful to protocol.md section 4.

It cannot synthesise speech, so it speaks the fakes' 220 Hz tone for as long as the
text would take to say (:attr:`SpeakScript.characters_per_second`, divided by the
``speed`` parameter), in the requested encoding and sample rate, as raw binary chunks
that leave faster than real time, as a synthesiser's would. Everything else follows
the protocol: the upgrade is refused with HTTP 400 for parameters Deepgram refuses;
``Metadata`` comes first; ``Speak`` text is buffered until ``Flush``, whose audio is
followed by ``Flushed``; ``Clear`` drops the buffered text and the audio not yet sent
and answers ``Cleared``; ``Flushed`` and ``Cleared`` take their ``sequence_id`` from
one counter; more than 20 flushes within 60 s get a ``Warning`` and are ignored;
``Close`` finishes the audio and closes 1000; and frames the server cannot take close
the socket with Deepgram's codes (1003 ``MESSAGE-0000``, 1008 ``DATA-0000``, 1009
``BIG-0000``).
"""

from __future__ import annotations

import math
import uuid
from collections import deque
from collections.abc import Mapping
from typing import Any

import attrs
import trio

from ._common import Query, param, parse_message
from ._session import FakeSession
from ._sound import tone

__all__ = ["SpeakScript", "SpeakV1Fake"]

_DEFAULT_MODEL = "aura-asteria-en"  # the voice Deepgram uses when the client names none

# Streaming sample rates by encoding; the first is the default (protocol.md 4.1, and
# Deepgram's TTS docs: "based on encoding 8000 or 24000 are possible defaults").
_SAMPLE_RATES: dict[str, tuple[str, ...]] = {
    "linear16": ("24000", "8000", "16000", "32000", "48000"),
    "mulaw": ("8000", "16000"),
    "alaw": ("8000", "16000"),
}
_SPEEDS = (0.7, 1.5)
_CLIENT_TYPES = frozenset({"Speak", "Flush", "Clear", "Close"})
_BAD_MESSAGE = (1003, "MESSAGE-0000")
_BINARY = (1008, "DATA-0000")
_TOO_BIG = (1009, "BIG-0000")


@attrs.frozen
class SpeakScript:
    """How the fake Speak v1 server synthesises.

    A flushed text of N characters (surrounding whitespace aside) lasts
    ``N / characters_per_second`` seconds at speed 1 (the ``speed`` parameter divides
    that). Its audio is sent in chunks of ``chunk_seconds`` (the last one shorter),
    each once it has been "synthesised", ``synthesis_speed`` times faster than real
    time (``None``: all at once). A ``Speak`` of more than ``max_characters`` closes
    the socket with 1009 ``BIG-0000``; a ``Flush`` beyond ``flush_limit`` accepted
    ones within ``flush_window`` seconds gets a ``Warning`` and is ignored.
    """

    characters_per_second: float = 15.0
    chunk_seconds: float = 0.1
    synthesis_speed: float | None = 10.0
    max_characters: int = 2000
    flush_limit: int = 20
    flush_window: float = 60.0

    def __attrs_post_init__(self) -> None:
        rates = [self.characters_per_second, self.chunk_seconds, self.flush_window]
        if self.synthesis_speed is not None:
            rates.append(self.synthesis_speed)
        if not all(rate > 0 for rate in rates):  # written so that NaN fails too
            raise ValueError("rates and durations must be positive")
        if self.max_characters < 1 or self.flush_limit < 1:
            raise ValueError("max_characters and flush_limit must be at least 1")

    def audio_seconds(self, text: str, speed: float = 1.0) -> float:
        """How long the fake speaks ``text`` at ``speed``."""
        return len(text.strip()) / (self.characters_per_second * speed)


def _get(query: Query, name: str, default: str) -> str:
    value = param(query, name)
    return default if value is None else value


def _speed(value: str) -> float | None:
    """A ``speed`` parameter as a float, or None when Deepgram would refuse it."""
    try:
        speed = float(value)
    except ValueError:
        return None
    low, high = _SPEEDS
    return speed if low <= speed <= high else None  # NaN is out of range too


def _read(frame: str | bytes, max_characters: int) -> dict[str, Any] | tuple[int, str]:
    """A client frame as a message the fake handles, or the close code it earns."""
    if isinstance(frame, bytes):
        return _BINARY  # the client has no audio to send on this socket
    message = parse_message(frame)
    if message is None or message["type"] not in _CLIENT_TYPES:
        return _BAD_MESSAGE
    kind = message["type"]
    if kind == "Speak":
        text = message.get("text")
        if not isinstance(text, str):
            return _BAD_MESSAGE
        if len(text) > max_characters:
            return _TOO_BIG
    return message


@attrs.frozen
class _Job:
    """Text to synthesise; its ``Flushed`` id (None: the last words before Close)."""

    text: str
    sequence_id: int | None
    epoch: int


class SpeakV1Fake:
    """One Speak v1 session of the fake server.

    Each accepted ``Flush`` makes a synthesis job of the buffered text. Jobs run one
    after the other in their own task, so that the session keeps reading client frames
    meanwhile; ``Clear`` cancels the running job and drops the queued ones.
    """

    def __init__(self, script: SpeakScript) -> None:
        self._script = script
        self._buffer: list[str] = []
        self._next_id = 0  # shared by Flushed and Cleared
        # Bumped by Clear: jobs queued in an earlier epoch are dropped unplayed.
        self._epoch = 0
        self._job_scope: trio.CancelScope | None = None
        self._flushes: deque[float] = deque()  # when the accepted flushes came
        self._sample = 0  # index of the session's next tone sample: chunks join up

    def check(self, query: Query) -> tuple[str, str] | None:
        """Refuse the upgrade as Deepgram does for bad parameters (HTTP 400)."""
        model = _get(query, "model", _DEFAULT_MODEL)
        if model.startswith("flux"):
            return "V2_MODEL_ON_V1_SPEAK_ENDPOINT", f"Model {model} requires /v2/speak."
        if not model.startswith("aura"):
            return "INVALID_QUERY_PARAMETER", f"Invalid model: {model!r} is not an Aura voice."
        encoding = _get(query, "encoding", "linear16")
        rates = _SAMPLE_RATES.get(encoding)
        if rates is None:
            return (
                "INVALID_QUERY_PARAMETER",
                f"Invalid encoding: {encoding!r}; streaming supports linear16, mulaw and alaw.",
            )
        rate = _get(query, "sample_rate", rates[0])
        if rate not in rates:
            return (
                "INVALID_QUERY_PARAMETER",
                f"Invalid sample_rate {rate!r} for {encoding}: use one of {', '.join(rates)}.",
            )
        speed = param(query, "speed")
        if speed is not None and _speed(speed) is None:
            return "INVALID_QUERY_PARAMETER", f"Invalid speed {speed!r}: use 0.7 to 1.5."
        mip_opt_out = param(query, "mip_opt_out")
        if mip_opt_out is not None and mip_opt_out not in ("true", "false"):
            return "INVALID_QUERY_PARAMETER", f"Invalid mip_opt_out {mip_opt_out!r}."
        return None

    async def run(self, session: FakeSession) -> None:
        """``Metadata``, then the client's frames until either side closes."""
        self._session = session
        query = session.query
        model = _get(query, "model", _DEFAULT_MODEL)
        self._encoding = _get(query, "encoding", "linear16")
        self._rate = int(_get(query, "sample_rate", _SAMPLE_RATES[self._encoding][0]))
        self._speed = _speed(_get(query, "speed", "1")) or 1.0
        await self._send(
            {
                "type": "Metadata",
                "request_id": session.request_id,
                "model_name": model,
                "model_version": "fake",
                "model_uuid": str(uuid.uuid5(uuid.NAMESPACE_URL, f"dgtrio-fake/{model}")),
            }
        )
        self._jobs, jobs = trio.open_memory_channel[_Job](math.inf)
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._run_jobs, jobs)
            closing = await self._serve()
            if closing:
                self._jobs.close()  # the job task plays what is queued, then returns
            else:
                nursery.cancel_scope.cancel()
        if closing:
            await session.close(1000)

    async def _send(self, message: Mapping[str, Any] | bytes) -> None:
        """Send a message or audio chunk, whole (a cancelled job stops before it)."""
        await self._session.send_whole(message)

    async def _serve(self) -> bool:
        """Handle client frames; True when the client sent ``Close``."""
        while (frame := await self._session.receive()) is not None:
            message = _read(frame, self._script.max_characters)
            if isinstance(message, tuple):
                self._stop_jobs()  # no audio after the close frame
                await self._session.close(*message)
                return False
            match message["type"]:
                case "Speak":
                    self._buffer.append(message["text"])
                case "Flush":
                    await self._flush()
                case "Clear":
                    await self._clear()
                case "Close":  # what is left of the buffer is spoken too, unflushed
                    text = self._take_text()
                    if text.strip():
                        self._enqueue(text, None)
                    return True
        return False

    def _take_text(self) -> str:
        text = "".join(self._buffer)
        self._buffer.clear()
        return text

    def _take_id(self) -> int:
        sequence_id, self._next_id = self._next_id, self._next_id + 1
        return sequence_id

    def _enqueue(self, text: str, sequence_id: int | None) -> None:
        self._jobs.send_nowait(_Job(text, sequence_id, self._epoch))

    def _stop_jobs(self) -> None:
        self._epoch += 1
        if self._job_scope is not None:
            self._job_scope.cancel()

    async def _flush(self) -> None:
        now = trio.current_time()
        while self._flushes and self._flushes[0] <= now - self._script.flush_window:
            self._flushes.popleft()
        if len(self._flushes) >= self._script.flush_limit:
            # Ignored: the buffered text waits for a flush after the window.
            await self._send(
                {
                    "type": "Warning",
                    "code": "FLUSH_LIMIT_EXCEEDED",
                    "description": (
                        f"Flush ignored: at most {self._script.flush_limit} Flush messages "
                        f"are processed every {self._script.flush_window:g} seconds."
                    ),
                }
            )
            return
        self._flushes.append(now)
        self._enqueue(self._take_text(), self._take_id())

    async def _clear(self) -> None:
        self._buffer.clear()
        self._stop_jobs()
        await self._send({"type": "Cleared", "sequence_id": self._take_id()})

    async def _run_jobs(self, jobs: trio.MemoryReceiveChannel[_Job]) -> None:
        async for job in jobs:
            # The epoch is compared after the last checkpoint of receiving the job, and
            # its scope published with no checkpoint in between: a Clear sees every job
            # either queued (and dropped by epoch) or running (and cancelled).
            if job.epoch != self._epoch:
                continue
            with trio.CancelScope() as self._job_scope:
                await self._synthesise(job)
            self._job_scope = None

    async def _synthesise(self, job: _Job) -> None:
        """The job's audio in chunks, paced as synthesised, then its ``Flushed``."""
        rate, speed = self._rate, self._script.synthesis_speed
        total = round(self._script.audio_seconds(job.text, self._speed) * rate)
        step = max(1, round(self._script.chunk_seconds * rate))
        start = trio.current_time()
        for first in range(0, total, step):
            count = min(step, total - first)
            if speed is not None:
                # A chunk leaves once its last sample is synthesised.
                await trio.sleep_until(start + (first + count) / (rate * speed))
            await self._send(tone(count / rate, self._encoding, rate, start=self._sample))
            self._sample += count
        if job.sequence_id is not None:
            await self._send({"type": "Flushed", "sequence_id": job.sequence_id})
