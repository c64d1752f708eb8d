"""The fake Listen v1 server (``/v1/listen``), faithful to protocol.md section 2.

It cannot recognise speech, so it "hears" a script: the words of a transcript laid
out on the audio timeline (``seconds_per_word`` each, ``pause`` between sentences,
repeating). Everything else follows what the client really sends: result ``start``
and ``duration`` come from the audio bytes received and the declared encoding and
sample rate (or a WAV header), interim results appear only when asked for, finals at
endpoints, ``Finalize`` and ``CloseStream`` flush what was heard, ``Metadata`` reports
the seconds received, and 10 s without audio or ``KeepAlive`` closes 1011
``NET-0001``.
"""

from __future__ import annotations

import hashlib
import json
import re
import struct
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, Literal, get_args

import attrs
import trio

from .._codec import SAMPLE_WIDTH, AudioEncoding
from ..server import Session
from ..server._common import Query, flag, param

__all__ = ["ListenScript", "ListenV1Fake"]

_ENCODINGS = frozenset(get_args(AudioEncoding))
# Compressed audio has no fixed byte rate; the fake assumes 32 kbit/s.
_COMPRESSED_BYTES_PER_SECOND = 4000
_CONTAINER_MAGIC = (b"OggS", b"fLaC", b"ID3", b"\xff\xfb", b"\xff\xf3", b"\x1aE\xdf\xa3", b"#!AMR")


@attrs.frozen
class _Word:
    start: float
    end: float
    word: str
    punctuated: str
    confidence: float | None = None  # None: the script's


@attrs.frozen
class _Utterance:
    start: float
    end: float
    words: tuple[_Word, ...]


@attrs.frozen
class ListenScript:
    """What the fake Listen v1 server hears, laid out on the audio timeline.

    Sentences of ``transcript`` are utterances; each word lasts ``seconds_per_word``;
    utterances are ``pause`` seconds apart, after a ``lead_in``; the script repeats
    for as long as audio comes. Interim results come every ``interim_interval``
    seconds of audio while words are being heard.
    """

    transcript: str = "The quick brown fox jumps over the lazy dog."
    seconds_per_word: float = 0.3
    pause: float = 1.2
    lead_in: float = 0.3
    interim_interval: float = 1.0
    confidence: float = 0.98

    def __attrs_post_init__(self) -> None:
        if not self.transcript.split():
            raise ValueError("the script needs at least one word")
        if min(self.seconds_per_word, self.pause, self.interim_interval) <= 0:
            raise ValueError("durations must be positive")

    @property
    def utterances(self) -> tuple[_Utterance, ...]:
        """One cycle of the script, in stream seconds."""
        sentences = [s for s in re.split(r"(?<=[.!?])\s+", self.transcript.strip()) if s]
        out: list[_Utterance] = []
        t = self.lead_in
        for sentence in sentences:
            words = []
            for token in sentence.split():
                plain = re.sub(r"[^\w'-]", "", token).lower() or token.lower()
                words.append(_Word(t, t + self.seconds_per_word * 0.9, plain, token))
                t += self.seconds_per_word
            out.append(_Utterance(words[0].start, words[-1].end, tuple(words)))
            t += self.pause
        return tuple(out)

    @property
    def cycle(self) -> float:
        """Seconds of audio after which the script starts again."""
        return self.utterances[-1].end + self.pause


class _Timeline:
    def __init__(self, script: ListenScript) -> None:
        self._utterances = script.utterances
        self._cycle = script.cycle

    def utterance(self, index: int) -> _Utterance:
        cycle, local = divmod(index, len(self._utterances))
        u, offset = self._utterances[local], cycle * self._cycle
        words = tuple(
            _Word(w.start + offset, w.end + offset, w.word, w.punctuated) for w in u.words
        )
        return _Utterance(u.start + offset, u.end + offset, words)

    def words_between(self, start: float, end: float) -> list[_Word]:
        """Words that begin in [start, end)."""
        found: list[_Word] = []
        first = int(start // self._cycle) * len(self._utterances)
        index = first
        while True:
            u = self.utterance(index)
            if u.start >= end:
                return found
            found.extend(w for w in u.words if start <= w.start < end)
            index += 1


class ListenV1Fake:
    """One Listen v1 session of the fake server."""

    def __init__(self, script: ListenScript, idle_timeout: float) -> None:
        self._script = script
        self._timeline = _Timeline(script)
        self._idle_timeout = idle_timeout

    def check(self, query: Query) -> tuple[str, str] | None:
        """Refuse the upgrade as Deepgram does for bad parameters (HTTP 400)."""
        model = param(query, "model", "") or ""
        if model.startswith("flux"):
            return "V2_MODEL_ON_V1_LISTEN_ENDPOINT", f"Model {model} requires /v2/listen."
        encoding = param(query, "encoding")
        if encoding is not None and encoding not in _ENCODINGS:
            return "INVALID_QUERY_PARAMETER", f"Invalid encoding: {encoding}"
        for name in ("sample_rate", "channels", "utterance_end_ms"):
            value = param(query, name)
            if value is not None and not (value.isdigit() and int(value) > 0):
                return "INVALID_QUERY_PARAMETER", f"Invalid {name}: {value}"
        if encoding is not None and param(query, "sample_rate") is None:
            return "INVALID_QUERY_PARAMETER", "sample_rate is required when encoding is set."
        endpointing = param(query, "endpointing")
        if endpointing is not None and endpointing != "false" and not endpointing.isdigit():
            return "INVALID_QUERY_PARAMETER", f"Invalid endpointing: {endpointing}"
        return None

    async def run(self, session: Session) -> None:
        self._setup(session)
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._idle_watchdog, session)
            try:
                await self._serve(session)
            finally:
                nursery.cancel_scope.cancel()

    def _setup(self, session: Session) -> None:
        q = session.query
        self._model = param(q, "model", "base") or "base"
        self._model_uuid = str(uuid.uuid5(uuid.NAMESPACE_URL, f"dgtrio-fake/{self._model}"))
        encoding = param(q, "encoding")
        rate = int(param(q, "sample_rate", "16000") or 16000)
        self._channels = int(param(q, "channels", "1") or 1)
        self._result_channels = self._channels if flag(q, "multichannel") else 1
        self._bytes_per_second: float | None = None
        width = SAMPLE_WIDTH.get(encoding or "")
        if width is not None:
            self._bytes_per_second = width * rate * self._channels
        elif encoding is not None:
            self._bytes_per_second = _COMPRESSED_BYTES_PER_SECOND
        self._header = b""  # containerized audio: bytes seen before the format is known
        self._interim = flag(q, "interim_results")
        endpointing = param(q, "endpointing", "10")
        self._endpointing = endpointing != "false"
        self._endpoint_delay = (
            int(endpointing) / 1000
            if endpointing and endpointing.isdigit()
            else 0.5 * self._script.pause
        )
        ue = param(q, "utterance_end_ms")
        self._utterance_end = int(ue) / 1000 if ue else None
        self._vad = flag(q, "vad_events")
        self._punctuate = flag(q, "punctuate") or flag(q, "smart_format")
        self._entities = flag(q, "detect_entities")
        self._extra = {
            key: value for key, _, value in (v.partition(":") for v in q.get("extra", []))
        }
        self._audio_bytes = 0
        self._sha256 = hashlib.sha256()
        # Where each result channel's not yet final audio starts (Finalize may take one).
        self._seg_start = [0.0] * self._result_channels
        self._next_interim = self._script.interim_interval
        self._utterance = 0
        self._speech_started = False
        self._last_word_end = 0.0
        self._utterance_end_pending = False
        self._last_activity = trio.current_time()

    @property
    def _audio_time(self) -> float:
        return self._audio_bytes / self._bytes_per_second if self._bytes_per_second else 0.0

    async def _idle_watchdog(self, session: Session) -> None:
        while True:
            due = self._last_activity + self._idle_timeout
            if trio.current_time() < due:
                await trio.sleep_until(due)
                continue
            await session.close(1011, "NET-0001")
            return

    async def _serve(self, session: Session) -> None:
        while (frame := await session.receive()) is not None:
            if isinstance(frame, bytes):
                self._last_activity = trio.current_time()
                if not frame:  # the legacy end-of-stream signal
                    await self._close_stream(session)
                    return
                if not await self._on_audio(session, frame):
                    return
                continue
            try:
                message = json.loads(frame)
            except ValueError:
                message = None
            kind = message.get("type") if isinstance(message, dict) else None
            if kind == "KeepAlive":
                self._last_activity = trio.current_time()
            elif kind == "Finalize":
                assert isinstance(message, dict)
                channel = message.get("channel")
                await self._flush(
                    session,
                    from_finalize=True,
                    channel=channel if isinstance(channel, int) else None,
                )
            elif kind == "CloseStream":
                await self._close_stream(session)
                return
            elif kind == "Configure":
                assert isinstance(message, dict)
                await self._configure(session, message)
            else:
                await session.send_json(
                    {
                        "type": "Error",
                        "variant": "SchemaError",
                        "description": "Failed to parse client message: unknown or malformed.",
                        "message": frame,
                    }
                )

    async def _on_audio(self, session: Session, data: bytes) -> bool:
        """Account for audio; False when the session was closed for bad audio."""
        if self._bytes_per_second is None:
            self._header += data
            sniffed = _sniff_container(self._header)
            if sniffed is None:
                return True  # need more bytes to know
            if sniffed is False:
                await session.close(1008, "DATA-0000")
                return False
            header_length, self._bytes_per_second = sniffed
            data, self._header = self._header[header_length:], b""
        self._audio_bytes += len(data)
        self._sha256.update(data)
        await self._advance(session, self._audio_time)
        return True

    async def _advance(self, session: Session, now: float) -> None:
        """Emit what the script's timeline holds up to audio time ``now``, in order."""
        while True:
            u = self._timeline.utterance(self._utterance)
            if self._vad and not self._speech_started and u.start <= now:
                self._speech_started = True
                await session.send_json(
                    {"type": "SpeechStarted", "channel": [0, 1], "timestamp": round(u.start, 3)}
                )
            end_at = u.end + self._endpoint_delay
            if end_at > now:
                await self._interims(session, now)
                await self._maybe_utterance_end(session, now)
                return
            await self._interims(session, end_at)
            await self._results(
                session, end_at, self._all_channels, is_final=True, speech_final=self._endpointing
            )
            self._next_interim = end_at + self._script.interim_interval
            self._utterance += 1
            self._speech_started = False
            self._last_word_end = u.words[-1].end
            self._utterance_end_pending = True
            await self._maybe_utterance_end(session, now)

    async def _interims(self, session: Session, upto: float) -> None:
        if not self._interim:
            return
        while self._next_interim <= upto:
            await self._results(session, self._next_interim, self._all_channels, is_final=False)
            self._next_interim += self._script.interim_interval

    async def _maybe_utterance_end(self, session: Session, now: float) -> None:
        if self._utterance_end is None or not self._utterance_end_pending:
            return
        due = self._last_word_end + self._utterance_end
        if now < due:
            return
        self._utterance_end_pending = False
        if self._timeline.utterance(self._utterance).start >= due:
            await session.send_json(
                {
                    "type": "UtteranceEnd",
                    "channel": [0, 1],
                    "last_word_end": round(self._last_word_end, 3),
                }
            )

    @property
    def _all_channels(self) -> range:
        return range(self._result_channels)

    async def _flush(
        self, session: Session, *, from_finalize: bool, channel: int | None = None
    ) -> None:
        """Finals for the audio held (of one channel, or all): Finalize, CloseStream."""
        channels = self._all_channels
        if channel is not None:
            channels = range(channel, channel + 1) if channel in channels else range(0)
        await self._results(
            session, self._audio_time, channels, is_final=True, from_finalize=from_finalize
        )
        if channel is None:
            self._next_interim = self._audio_time + self._script.interim_interval

    async def _close_stream(self, session: Session) -> None:
        await self._flush(session, from_finalize=False)
        model_info = {"name": f"general-{self._model}", "version": "fake", "arch": self._model}
        metadata: dict[str, Any] = {
            "type": "Metadata",
            "transaction_key": "deprecated",
            "request_id": session.request_id,
            "sha256": self._sha256.hexdigest(),
            "created": datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "duration": round(self._audio_time, 6),
            "channels": self._channels,
            "models": [self._model_uuid],
            "model_info": {self._model_uuid: model_info},
        }
        if self._extra:
            metadata["extra"] = self._extra
        await session.send_json(metadata)
        await session.close(1000)

    async def _configure(self, session: Session, message: dict[str, Any]) -> None:
        keyterms = message.get("keyterms")
        reply: dict[str, Any] = {"request_id": session.request_id}
        if keyterms is not None and not self._model.startswith("nova-3"):
            reply.update(
                type="ConfigureFailure",
                code="CONFIGURE_KEYTERMS_NOT_SUPPORTED",
                description=f"Keyterms are not supported by model {self._model}.",
            )
        elif keyterms is not None and len(keyterms) > 100:
            reply.update(
                type="ConfigureFailure",
                code="CONFIGURE_KEYTERM_LIMIT_EXCEEDED",
                description="Too many keyterms.",
            )
        else:
            reply["type"] = "ConfigureSuccess"
            if keyterms is not None:
                reply["keyterms"] = keyterms
        await session.send_json(reply)

    async def _results(
        self,
        session: Session,
        end: float,
        channels: range,
        *,
        is_final: bool,
        speech_final: bool = False,
        from_finalize: bool = False,
    ) -> None:
        """Results for each channel's audio up to ``end``; finals move its start."""
        for channel in channels:
            start = self._seg_start[channel]
            if is_final:
                self._seg_start[channel] = max(start, end)
            words = self._timeline.words_between(start, end)
            if words:
                await session.send_json(
                    self._results_message(
                        session, channel, start, end, words, is_final, speech_final, from_finalize
                    )
                )

    def _results_message(
        self,
        session: Session,
        channel: int,
        start: float,
        end: float,
        words: Sequence[_Word],
        is_final: bool,
        speech_final: bool,
        from_finalize: bool,
    ) -> dict[str, Any]:
        confidence = self._script.confidence
        word_objects = []
        for w in words:
            word: dict[str, Any] = {
                "word": w.word,
                "start": round(w.start, 3),
                "end": round(w.end, 3),
                "confidence": confidence if w.confidence is None else w.confidence,
            }
            if self._punctuate:
                word["punctuated_word"] = w.punctuated
            word_objects.append(word)
        transcript = " ".join(w.punctuated if self._punctuate else w.word for w in words)
        heard = [w.confidence for w in words if w.confidence is not None]
        if len(heard) == len(words):  # recognised: the words' mean
            confidence = round(sum(heard) / len(heard), 4)
        metadata: dict[str, Any] = {
            "request_id": session.request_id,
            "model_info": {
                "name": f"general-{self._model}",
                "version": "fake",
                "arch": self._model,
            },
            "model_uuid": self._model_uuid,
        }
        if self._extra:
            metadata["extra"] = self._extra
        results: dict[str, Any] = {
            "type": "Results",
            "channel_index": [channel, self._result_channels],
            "duration": round(end - start, 6),
            "start": round(start, 6),
            "is_final": is_final,
            "speech_final": speech_final,
            "from_finalize": from_finalize,
            "channel": {
                "alternatives": [
                    {"transcript": transcript, "confidence": confidence, "words": word_objects}
                ]
            },
            "metadata": metadata,
        }
        if self._entities and is_final:
            results["entities"] = []
        return results


def _sniff_container(header: bytes) -> tuple[int, float] | Literal[False] | None:
    """For containerized audio: (header length, bytes per second), False if the bytes
    are no audio container the fake knows, None if more bytes are needed."""
    if len(header) < 12:
        return None
    if header[:4] == b"RIFF" and header[8:12] == b"WAVE":
        offset, byte_rate = 12, 0
        while offset + 8 <= len(header):
            chunk, size = (
                header[offset : offset + 4],
                struct.unpack("<I", header[offset + 4 : offset + 8])[0],
            )
            if chunk == b"fmt " and offset + 20 <= len(header):
                byte_rate = struct.unpack("<I", header[offset + 16 : offset + 20])[0]
            if chunk == b"data":
                return (offset + 8, byte_rate) if byte_rate else False
            offset += 8 + size + (size & 1)
        return None if len(header) < 65536 else False
    if header.startswith(_CONTAINER_MAGIC):
        return 0, _COMPRESSED_BYTES_PER_SECOND
    return False
