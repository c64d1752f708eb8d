"""The Speak v1 socket (``/v1/speak``, Aura), faithful to protocol.md section 4.

The server speaks with the :class:`~._voice.Voice` it is given, in the requested
encoding and sample rate, as raw binary chunks. Everything else is the protocol: the
upgrade is refused with HTTP 400 for parameters Deepgram refuses; ``Metadata`` comes
first; ``Speak`` text is buffered until ``Flush``, whose audio is followed by
``Flushed``; ``Clear`` drops the buffered text and the audio not yet sent and answers
``Cleared``; ``Flushed`` and ``Cleared`` take their ``sequence_id`` from one counter;
more than :attr:`~._speech.SpeakLimits.flush_limit` flushes within
:attr:`~._speech.SpeakLimits.flush_window` seconds get a ``Warning`` and are ignored;
``Close`` finishes the audio and closes 1000; and frames the server cannot take close
the socket with Deepgram's codes (1003 ``MESSAGE-0000``, 1008 ``DATA-0000``, 1009
``BIG-0000``).
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Mapping
from typing import Any

import attrs
import trio

from .._validate import check_value
from ..audio import AudioFormat
from ._common import MODEL_VERSION, Query, check_brain, model_uuid, param, parse_message
from ._session import Session
from ._speech import SpeakLimits, check_output, number
from ._voice import SpeechSettings, Voice

__all__ = ["SpeakV1Endpoint"]

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


def _get(query: Query, name: str, default: str) -> str:
    value = param(query, name)
    return default if value is None else value


def _speed(value: str) -> float | None:
    """A ``speed`` parameter as a float, or None when Deepgram would refuse it."""
    speed = number(value)
    low, high = _SPEEDS
    return speed if speed is not None and low <= speed <= high else None


def _as_sent(text: str) -> str:
    """Aura's text reads as it is: it has no inline controls."""
    return text


def _read(frame: str | bytes, max_characters: int) -> dict[str, Any] | tuple[int, str]:
    """A client frame as a message the server handles, or the close code it earns."""
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


class SpeakV1Endpoint:
    """One Speak v1 session of the server, speaking with ``voice`` within ``limits``.

    Each accepted ``Flush`` makes a synthesis job of the buffered text: an utterance of
    the voice. Jobs run one after the other in their own task, so that the session
    keeps reading client frames meanwhile; ``Clear`` cancels the running job and drops
    the queued ones.
    """

    def __init__(self, voice: Voice, limits: SpeakLimits | None = None) -> None:
        check_brain(type(self).__name__, "voice", voice, Voice)
        check_value(type(self).__name__, "limits", limits, SpeakLimits | None)
        self._voice = voice
        self._limits = limits or SpeakLimits()
        self._buffer: list[str] = []
        self._next_id = 0  # shared by Flushed and Cleared
        # Bumped by Clear: jobs queued in an earlier epoch are dropped unplayed.
        self._epoch = 0
        self._job_scope: trio.CancelScope | None = None
        self._flushes: deque[float] = deque()  # when the accepted flushes came

    def check(self, query: Query) -> tuple[str, str] | None:
        """Refuse the upgrade as Deepgram does for bad parameters (HTTP 400)."""
        model = _get(query, "model", _DEFAULT_MODEL)
        if model.startswith("flux"):
            return "V2_MODEL_ON_V1_SPEAK_ENDPOINT", f"Model {model} requires /v2/speak."
        if not model.startswith("aura"):
            return "INVALID_QUERY_PARAMETER", f"Invalid model: {model!r} is not an Aura voice."
        problem = check_output(query, _SAMPLE_RATES)
        if problem is not None:
            return problem
        speed = param(query, "speed")
        if speed is not None and _speed(speed) is None:
            return "INVALID_QUERY_PARAMETER", f"Invalid speed {speed!r}: use 0.7 to 1.5."
        return None

    async def run(self, session: Session) -> None:
        """``Metadata``, then the client's frames until either side closes."""
        self._session = session
        query = session.query
        model = _get(query, "model", _DEFAULT_MODEL)
        encoding = _get(query, "encoding", "linear16")
        rate = int(_get(query, "sample_rate", _SAMPLE_RATES[encoding][0]))
        output = AudioFormat(encoding, rate)  # type: ignore[arg-type] # checked
        self._settings = SpeechSettings(output, self._limits.chunk_samples(rate), _as_sent)
        self._speed = _speed(_get(query, "speed", "1")) or 1.0
        await self._send(
            {
                "type": "Metadata",
                "request_id": session.request_id,
                "model_name": model,
                "model_version": MODEL_VERSION,
                "model_uuid": model_uuid(model),
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
            message = _read(frame, self._limits.max_characters)
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
        limits, now = self._limits, trio.current_time()
        while self._flushes and self._flushes[0] <= now - limits.flush_window:
            self._flushes.popleft()
        if len(self._flushes) >= limits.flush_limit:
            # Ignored: the buffered text waits for a flush after the window.
            await self._send(
                {
                    "type": "Warning",
                    "code": "FLUSH_LIMIT_EXCEEDED",
                    "description": (
                        f"Flush ignored: at most {limits.flush_limit} Flush messages "
                        f"are processed every {limits.flush_window:g} seconds."
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
        """The job's audio, as the voice says it, then its ``Flushed``."""
        utterance = self._voice.utterance(self._settings)
        utterance.add(job.text, self._speed)
        while await utterance.say(True, self._send):
            pass
        if job.sequence_id is not None:
            await self._send({"type": "Flushed", "sequence_id": job.sequence_id})
