"""Listen v1 (``/v1/listen``), served once for every brain that hears: protocol.md
section 2.

The server refuses the handshake for the query parameters Deepgram refuses (HTTP
400), reads the settings into a :class:`ListenV1Settings`, and accounts for the audio
as it comes: its format declared in the query or read from a container's header, its
bytes, seconds and SHA-256 (the ``Metadata``). It closes 1011 ``NET-0001`` after
``idle_timeout`` seconds without audio or ``KeepAlive`` (time the ears spend working
through audio already sent does not count: the client is waiting, not idle), flushes
on ``Finalize`` and ``CloseStream``, answers ``Configure``, and answers any other text
with an ``Error``.

What is *heard* in the audio comes from :class:`Ears`: where speech starts, the words
of each channel (interim, final, final at a pause) and the quiet after them. The
server turns that into ``SpeechStarted``, ``Results`` and ``UtteranceEnd`` as the
client's flags ask (``interim_results``, ``vad_events``, ``endpointing``,
``utterance_end_ms``, ``punctuate``/``smart_format``, ``detect_entities``,
``extra``, ``multichannel``), so every brain speaks the same protocol.
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any, Literal, Protocol, cast, get_args

import attrs
import trio

from .._codec import SAMPLE_WIDTH, AudioEncoding
from .._validate import check_positive_number
from ..audio import AudioFormat
from ..listen import ListenV1Word
from ._common import MODEL_VERSION, Query, check_brain, flag, model_uuid, param, parse_message
from ._session import Session

__all__ = ["Ears", "ListenV1Endpoint", "ListenV1Settings", "ListenV1Stream"]

_ENCODINGS = frozenset(get_args(AudioEncoding))
# Compressed audio has no fixed byte rate; the server assumes 32 kbit/s.
_COMPRESSED_BYTES_PER_SECOND = 4000
_CONTAINER_MAGIC = (b"OggS", b"fLaC", b"ID3", b"\xff\xfb", b"\xff\xf3", b"\x1aE\xdf\xa3", b"#!AMR")
_WAV_HEADER_LIMIT = 65536  # a WAV whose data chunk starts later is no audio
# A WAV's (format code, bits per sample): the raw encoding it holds.
_WAV_ENCODINGS = {(1, 16): "linear16", (1, 32): "linear32", (7, 8): "mulaw", (6, 8): "alaw"}


@attrs.frozen
class ListenV1Settings:
    """What a Listen v1 client asked for, read from its query once the query passed
    the server's checks: the ears hear by these, never by the query itself."""

    model: str = "base"
    encoding: str | None = None
    """The declared encoding; None: containerized audio (a header says)."""
    sample_rate: int = 16000
    channels: int = 1
    multichannel: bool = False
    """Results for each channel apart; otherwise one transcript of them all."""
    interim_results: bool = False
    endpointing: float | None = 0.01
    """Seconds of quiet after speech that end an utterance (``speech_final``);
    None: ``endpointing=false``."""
    utterance_end: float | None = None
    """``utterance_end_ms`` in seconds: the quiet after the last word that sends
    ``UtteranceEnd``; None: never."""
    vad_events: bool = False
    punctuate: bool = False
    """``punctuate`` or ``smart_format``: punctuated words and transcripts."""
    detect_entities: bool = False
    extra: Mapping[str, str] = attrs.field(factory=dict, hash=False)
    """``extra`` key/value pairs, echoed in every result's and the stream's metadata."""

    @classmethod
    def from_query(cls, query: Query) -> ListenV1Settings:
        """The settings of a query :meth:`ListenV1Endpoint.check` accepted."""
        endpointing = param(query, "endpointing", "10")
        utterance_end = param(query, "utterance_end_ms")
        return cls(
            model=param(query, "model", "base") or "base",
            encoding=param(query, "encoding"),
            sample_rate=int(param(query, "sample_rate", "16000") or 16000),
            channels=int(param(query, "channels", "1") or 1),
            multichannel=flag(query, "multichannel"),
            interim_results=flag(query, "interim_results"),
            endpointing=int(endpointing) / 1000 if endpointing and endpointing.isdigit() else None,
            utterance_end=int(utterance_end) / 1000 if utterance_end else None,
            vad_events=flag(query, "vad_events"),
            punctuate=flag(query, "punctuate") or flag(query, "smart_format"),
            detect_entities=flag(query, "detect_entities"),
            extra={
                key: value for key, _, value in (v.partition(":") for v in query.get("extra", []))
            },
        )


class Ears(Protocol):
    """What the server hears in one Listen v1 stream; built for each session.

    The server hands the ears each piece of audio in order (:meth:`hear`) and asks
    for finals on ``Finalize`` and ``CloseStream`` (:meth:`flush`); :meth:`run` runs
    beside them for the whole session, for ears that listen in the background. What
    they hear they tell the :class:`ListenV1Stream` they are given; the server decides
    what of it the client is sent, and how.
    """

    def check(self, settings: ListenV1Settings) -> str | None:
        """Why a stream so declared cannot be heard (the server refuses the handshake
        with HTTP 400 ``INVALID_QUERY_PARAMETER``), or None."""
        ...

    def can_hear(self, audio: AudioFormat | None) -> bool:
        """Whether audio in this format can be heard (None: compressed audio, which
        the server does not decode). The server closes 1008 ``DATA-0000`` if not."""
        ...

    async def run(self, stream: ListenV1Stream) -> None:
        """Listen in the background until cancelled (ears that hear as the audio
        comes may return at once)."""
        ...

    async def hear(self, stream: ListenV1Stream, audio: bytes) -> None:
        """The stream's next audio (after any header), in ``stream.format``;
        ``stream.time`` counts it already."""
        ...

    async def flush(
        self, stream: ListenV1Stream, channel: int | None, *, from_finalize: bool
    ) -> None:
        """Finals (``from_finalize`` as given) for everything held of ``channel``
        (None: every result channel), once all audio the server handed over is heard.
        The server waits for it: what the ears report meanwhile comes first."""
        ...


class _Idle:
    """When the client was last active, and whether the server is working for it."""

    def __init__(self) -> None:
        self.since = trio.current_time()
        self._busy = 0
        self._done = trio.Event()

    def touch(self) -> None:
        self.since = trio.current_time()

    @contextmanager
    def busy(self) -> Iterator[None]:
        self._busy += 1
        try:
            yield
        finally:
            self._busy -= 1
            if not self._busy:
                self.since = trio.current_time()
                self._done.set()
                self._done = trio.Event()

    async def wait(self, timeout: float) -> None:
        """Return once the client has been idle for ``timeout`` seconds, counted from
        its last activity or from the end of the server's work, whichever is later."""
        while True:
            if self._busy:
                await self._done.wait()
                continue
            due = self.since + timeout
            if trio.current_time() >= due:
                return
            await trio.sleep_until(due)


class ListenV1Stream:
    """One Listen v1 stream as its :class:`Ears` see it: the settings, the audio
    received, and where they say what they heard (the server builds the messages)."""

    def __init__(self, session: Session, settings: ListenV1Settings) -> None:
        self.settings = settings
        self._session = session
        # What the server read of the audio: set as its first bytes come.
        self._format: AudioFormat | None = None
        self._channels = settings.channels
        self._bytes = 0  # after any header
        self._bytes_per_second: float | None = None
        self._idle = _Idle()
        self._speaking = False  # a SpeechStarted came for the utterance under way
        self._last_word_end = 0.0
        self._utterance_end_pending = False
        self._model_uuid = model_uuid(settings.model)

    @property
    def format(self) -> AudioFormat | None:
        """The raw audio's format, once its first bytes told it (None before, and for
        compressed audio)."""
        return self._format

    @property
    def channels(self) -> int:
        """Channels in the audio: the query's, or a WAV header's."""
        return self._channels

    @property
    def result_channels(self) -> int:
        """Channels the results are for: each of the audio's with ``multichannel``,
        else one."""
        return self.channels if self.settings.multichannel else 1

    @property
    def time(self) -> float:
        """Seconds of audio received (per channel)."""
        return self._bytes / self._bytes_per_second if self._bytes_per_second else 0.0

    @contextmanager
    def busy(self) -> Iterator[None]:
        """While the ears work through audio the client sent: the idle timeout does
        not run, and starts again when the work is done (it may nest)."""
        with self._idle.busy():
            yield

    async def speech_started(self, at: float) -> None:
        """Speech starts at ``at`` (stream seconds): ``SpeechStarted`` with
        ``vad_events``, once an utterance (saying it again until a final at a pause
        does nothing)."""
        if self._speaking:
            return
        self._speaking = True
        if self.settings.vad_events:
            await self._session.send_json(
                {"type": "SpeechStarted", "channel": [0, 1], "timestamp": round(at, 3)}
            )

    async def heard(
        self,
        channel: int,
        start: float,
        end: float,
        words: Sequence[ListenV1Word],
        *,
        final: bool = False,
        endpoint: bool = False,
        from_finalize: bool = False,
        confidence: float | None = None,
    ) -> None:
        """``words`` in ``channel``'s audio from ``start`` to ``end``: an interim
        result, or ``final``. ``endpoint``: the final ends an utterance at a pause
        (``speech_final`` with endpointing; say it even with no words, so that the
        next speech is a new utterance). ``confidence``: the transcript's (default:
        the words' mean). Results without words are not sent, interims only with
        ``interim_results``."""
        if final and endpoint:
            self._speaking = False
        if not words or not (final or self.settings.interim_results):
            return
        if final:
            self._last_word_end = words[-1].end
            self._utterance_end_pending = True
        if confidence is None:
            confidence = round(sum(w.confidence for w in words) / len(words), 4)
        await self._session.send_json(
            self._results(
                channel,
                start,
                end,
                words,
                confidence,
                final=final,
                speech_final=endpoint and self.settings.endpointing is not None,
                from_finalize=from_finalize,
            )
        )

    async def quiet(self, until: float) -> None:
        """No speech from the last final word up to ``until`` (stream seconds):
        ``UtteranceEnd`` once that quiet is ``utterance_end_ms`` long."""
        wait = self.settings.utterance_end
        if wait is None or not self._utterance_end_pending or until < self._last_word_end + wait:
            return
        self._utterance_end_pending = False
        await self._session.send_json(
            {
                "type": "UtteranceEnd",
                "channel": [0, 1],
                "last_word_end": round(self._last_word_end, 3),
            }
        )

    def _metadata(self, sha256: str) -> dict[str, Any]:
        """The ``Metadata`` that ends the stream."""
        metadata: dict[str, Any] = {
            "type": "Metadata",
            "transaction_key": "deprecated",
            "request_id": self._session.request_id,
            "sha256": sha256,
            "created": datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "duration": round(self.time, 6),
            "channels": self.channels,
            "models": [self._model_uuid],
            "model_info": {self._model_uuid: self._model_info},
        }
        if self.settings.extra:
            metadata["extra"] = dict(self.settings.extra)
        return metadata

    @property
    def _model_info(self) -> dict[str, str]:
        model = self.settings.model
        return {"name": f"general-{model}", "version": MODEL_VERSION, "arch": model}

    def _results(
        self,
        channel: int,
        start: float,
        end: float,
        words: Sequence[ListenV1Word],
        confidence: float,
        *,
        final: bool,
        speech_final: bool,
        from_finalize: bool,
    ) -> dict[str, Any]:
        punctuate = self.settings.punctuate
        word_objects = []
        for w in words:
            word: dict[str, Any] = {
                "word": w.word,
                "start": round(w.start, 3),
                "end": round(w.end, 3),
                "confidence": w.confidence,
            }
            if punctuate:
                word["punctuated_word"] = w.punctuated_word or w.word
            word_objects.append(word)
        transcript = " ".join((w.punctuated_word or w.word) if punctuate else w.word for w in words)
        metadata: dict[str, Any] = {
            "request_id": self._session.request_id,
            "model_info": self._model_info,
            "model_uuid": self._model_uuid,
        }
        if self.settings.extra:
            metadata["extra"] = dict(self.settings.extra)
        results: dict[str, Any] = {
            "type": "Results",
            "channel_index": [channel, self.result_channels],
            "duration": round(end - start, 6),
            "start": round(start, 6),
            "is_final": final,
            "speech_final": speech_final,
            "from_finalize": from_finalize,
            "channel": {
                "alternatives": [
                    {"transcript": transcript, "confidence": confidence, "words": word_objects}
                ]
            },
            "metadata": metadata,
        }
        if self.settings.detect_entities and final:
            results["entities"] = []
        return results


class ListenV1Endpoint:
    """Listen v1 for one session (an :class:`~dgtrio.server.Endpoint`): the
    protocol, written once; what is heard comes from ``ears``.

    Args:
        ears: what hears this session's audio (built for each session: they keep
            the stream's state).
        idle_timeout: seconds without audio or ``KeepAlive``, and without the ears
            at work, before the server closes 1011 ``NET-0001``.
    """

    def __init__(self, ears: Ears, idle_timeout: float) -> None:
        check_brain(type(self).__name__, "ears", ears, Ears)
        check_positive_number(type(self).__name__, "idle_timeout", idle_timeout)
        self.ears = ears
        self.idle_timeout = idle_timeout

    def check(self, query: Query) -> tuple[str, str] | None:
        """Refuse the upgrade as Deepgram does for bad parameters (HTTP 400), and
        for audio the ears cannot hear."""
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
        problem = self.ears.check(ListenV1Settings.from_query(query))
        return None if problem is None else ("INVALID_QUERY_PARAMETER", problem)

    async def run(self, session: Session) -> None:
        stream = ListenV1Stream(session, ListenV1Settings.from_query(session.query))
        serving = _Serving(session, stream, self.ears)
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._idle_watchdog, session, stream)
            nursery.start_soon(self.ears.run, stream)
            try:
                await serving.serve()
            finally:
                nursery.cancel_scope.cancel()

    async def _idle_watchdog(self, session: Session, stream: ListenV1Stream) -> None:
        await stream._idle.wait(self.idle_timeout)
        await session.close(1011, "NET-0001")


class _Serving:
    """The client's frames, taken in order for one stream."""

    def __init__(self, session: Session, stream: ListenV1Stream, ears: Ears) -> None:
        self._session = session
        self._stream = stream
        self._ears = ears
        self._header: bytes | None = b""  # audio before its format is known; None: known
        self._sha256 = hashlib.sha256()

    async def serve(self) -> None:
        session, stream = self._session, self._stream
        while (frame := await session.receive()) is not None:
            if isinstance(frame, bytes):
                stream._idle.touch()
                if not frame:  # the legacy end-of-stream signal
                    await self._close_stream()
                    return
                if not await self._on_audio(frame):
                    return
                continue
            message = parse_message(frame) or {}
            kind = message.get("type")
            if kind == "KeepAlive":
                stream._idle.touch()
            elif kind == "Finalize":
                channel = message.get("channel")
                channel = int(channel) if isinstance(channel, int) else None
                if channel is None or channel in range(stream.result_channels):
                    await self._ears.flush(stream, channel, from_finalize=True)
            elif kind == "CloseStream":
                await self._close_stream()
                return
            elif kind == "Configure":
                await session.send_json(_configured(session, stream.settings, message))
            else:
                await session.send_json(
                    {
                        "type": "Error",
                        "variant": "SchemaError",
                        "description": "Failed to parse client message: unknown or malformed.",
                        "message": frame,
                    }
                )

    async def _on_audio(self, data: bytes) -> bool:
        """Account for audio and hand it to the ears; False once the session was
        closed for audio that cannot be heard."""
        stream = self._stream
        if self._header is not None:
            self._header += data
            found = self._container(self._header)
            if found is None:
                return True  # more bytes are needed to know
            if found is False or not self._ears.can_hear(found.format):
                await self._session.close(1008, "DATA-0000")
                return False
            if found.channels is not None:
                stream._channels = found.channels
            stream._format, stream._bytes_per_second = found.format, found.bytes_per_second
            data, self._header = self._header[found.header_length :], None
        stream._bytes += len(data)
        self._sha256.update(data)
        await self._ears.hear(stream, data)
        return True

    def _container(self, header: bytes) -> _Container | Literal[False] | None:
        """The audio's format: the declared one, or what the container's header says."""
        settings = self._stream.settings
        if settings.encoding is None:
            return _sniff_container(header)
        audio = _raw(settings.encoding, settings.sample_rate, settings.channels)
        rate = _COMPRESSED_BYTES_PER_SECOND if audio is None else audio.bytes_per_second
        return _Container(0, rate, audio, None)

    async def _close_stream(self) -> None:
        await self._ears.flush(self._stream, None, from_finalize=False)
        await self._session.send_json(self._stream._metadata(self._sha256.hexdigest()))
        await self._session.close(1000)


def _configured(
    session: Session, settings: ListenV1Settings, message: Mapping[str, Any]
) -> dict[str, Any]:
    """The answer to ``Configure``."""
    keyterms = message.get("keyterms")
    reply: dict[str, Any] = {"request_id": session.request_id}
    if keyterms is not None and not settings.model.startswith("nova-3"):
        reply.update(
            type="ConfigureFailure",
            code="CONFIGURE_KEYTERMS_NOT_SUPPORTED",
            description=f"Keyterms are not supported by model {settings.model}.",
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
    return reply


@attrs.frozen
class _Container:
    header_length: int
    bytes_per_second: float
    format: AudioFormat | None  # None: compressed
    channels: int | None  # what a header says, over the query


def _raw(encoding: str, sample_rate: int, channels: int) -> AudioFormat | None:
    """The format of raw (PCM or G.711) audio, or None for a compressed encoding."""
    if encoding not in SAMPLE_WIDTH or sample_rate <= 0 or channels <= 0:
        return None
    return AudioFormat(cast(Any, encoding), sample_rate, channels)


def _sniff_container(header: bytes) -> _Container | Literal[False] | None:
    """Where the audio starts in containerized audio, and what it is; False if the
    bytes are no audio container the server knows, None if more bytes are needed.

    A WAV header tells its byte rate, channels and (for PCM and G.711) its format;
    other containers are compressed audio.
    """
    if len(header) < 12:
        return None
    if header[:4] == b"RIFF" and header[8:12] == b"WAVE":
        offset, byte_rate, audio, count = 12, 0, None, None
        while offset + 8 <= len(header):
            chunk = header[offset : offset + 4]
            size = struct.unpack("<I", header[offset + 4 : offset + 8])[0]
            if chunk == b"fmt " and offset + 20 <= len(header):
                byte_rate = struct.unpack("<I", header[offset + 16 : offset + 20])[0]
            if chunk == b"fmt " and offset + 24 <= len(header):
                code, channels, rate = struct.unpack("<HHI", header[offset + 8 : offset + 16])
                bits = struct.unpack("<H", header[offset + 22 : offset + 24])[0]
                encoding = _WAV_ENCODINGS.get((code, bits))
                audio = None if encoding is None else _raw(encoding, rate, channels)
                count = channels or None
            if chunk == b"data":
                return _Container(offset + 8, byte_rate, audio, count) if byte_rate else False
            offset += 8 + size + (size & 1)
        return None if len(header) < _WAV_HEADER_LIMIT else False
    if header.startswith(_CONTAINER_MAGIC):
        return _Container(0, _COMPRESSED_BYTES_PER_SECOND, None, None)
    return False
