"""A fast loopback Listen v1 and Flux TTS peer for the benchmarks: raw asyncio, no
WebSocket library.

    python -m bench.peer {flood,sink,realtime,idle,speak} [--count N] [--cadence N] [--port 0]

prints ``PORT <n>`` once it listens on 127.0.0.1, then serves until SIGTERM/SIGINT.
Server frames are pre-encoded; binary client frames are counted, never unmasked. Modes:
``flood`` sends ``--count`` Results at once; ``sink`` counts the audio (``bench_bytes``,
``bench_frames`` in the Metadata); ``realtime`` sends ``--cadence`` Results per second
of audio (4: one per 8000 bytes, 250 ms of 16 kHz linear16; 10: one per 100 ms, the
interim cadence), its transcript ``t=<time.monotonic()>``; ``idle`` only answers pings
and the close.
Every Listen mode but idle ends with Metadata and a close 1000 (sink and realtime on
``CloseStream``). ``speak`` serves ``/v2/speak``: ``Connected``, then for a turn's
first ``Speak`` a ``SpeechStarted`` and ``--count`` audio chunks of 4800 bytes, after
its ``Flush`` ``Flushed`` and ``SpeechMetadata``, and on ``Close`` ``SessionMetadata``
and a close 1000.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import itertools
import signal
import struct
import sys
import time
from collections.abc import Callable
from contextlib import suppress
from typing import Any

import orjson

MODES = ("flood", "sink", "realtime", "idle", "speak")
AUDIO_BYTES_PER_SECOND = 32000  # 16 kHz linear16
CADENCE = 4  # realtime Results per second of audio: one per 250 ms, as finals come
BATCH = 64  # flood frames per write
BACKLOG = 4096  # connections waiting to be accepted (the kernel caps it at somaxconn)
CLOSE_WAIT = 2.0  # seconds to wait for the client's close reply
_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
_TEXT, _BINARY, _CLOSE, _PING, _PONG = 1, 2, 8, 9, 10
_NEVER = sys.maxsize
_GONE = (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError)

MODEL_UUID = "c0d1a568-ce81-4fea-97e7-bd45cb1fdf3c"
_RESULTS_ID = "e1985d01-b8bc-42ab-a16a-e7a8419c07f2"
MODEL_INFO = {"name": "2-general-nova", "version": "2024-01-18.26916", "arch": "nova-3"}
_METADATA = {
    "type": "Metadata",
    "transaction_key": "deprecated",
    "sha256": hashlib.sha256(b"").hexdigest(),  # the audio is not hashed
    "channels": 1,
    "models": [MODEL_UUID],
    "model_info": {MODEL_UUID: MODEL_INFO},
}
SPEAK_CHUNK = 4800  # bytes of speech per binary frame: 100 ms of 24 kHz linear16
SPEAK_CHUNK_MS = 100
VOICE = {
    "model_name": "flux-haley-en",
    "model_version": "2026-01-15.1",
    "model_uuids": ["4f0b6c2e-8a51-4d3e-9c47-1b2a3d4e5f60"],
}
SPEECH_ID = "dg_sp_0123456789ab"
_TRANSCRIPT = (
    "Our fathers brought forth on this continent a new nation, conceived in liberty, and dedicated"
)


def _results(transcript: str) -> dict[str, Any]:
    """A final ``Results`` message: 15 words with timings, as Deepgram sends them."""
    words = []
    for i, text in enumerate(_TRANSCRIPT.split()):
        start, confidence = round(17.0 + 0.24 * i, 2), round(0.9 + (i * 7919 % 997) / 10007, 8)
        word = {"word": text.strip(",.").lower(), "start": start, "end": round(start + 0.24, 2)}
        words.append(word | {"confidence": confidence, "punctuated_word": text})
    alternative = {"transcript": transcript, "confidence": 0.9990865, "words": words}
    head = {"type": "Results", "channel_index": [0, 1], "duration": 3.6, "start": 17.0}
    flags = {"is_final": True, "speech_final": True, "from_finalize": False}
    metadata = {"request_id": _RESULTS_ID, "model_info": MODEL_INFO, "model_uuid": MODEL_UUID}
    return head | flags | {"channel": {"alternatives": [alternative]}, "metadata": metadata}


def _frame(opcode: int, payload: bytes) -> bytes:
    """One unmasked, final server frame."""
    size = len(payload)
    if size < 126:
        return struct.pack("!BB", 0x80 | opcode, size) + payload
    if size < 1 << 16:
        return struct.pack("!BBH", 0x80 | opcode, 126, size) + payload
    return struct.pack("!BBQ", 0x80 | opcode, 127, size) + payload


def _unmask(payload: bytes, mask: bytes) -> bytes:
    """XOR ``payload`` with the repeated 4-byte ``mask`` (one big-integer operation)."""
    size = len(payload)
    key = (mask * (size // 4 + 1))[:size]
    return (int.from_bytes(payload) ^ int.from_bytes(key)).to_bytes(size)


RESULTS_FRAME_JSON: bytes = orjson.dumps(_results(_TRANSCRIPT))
"""The template Results message (about 1.9 KB); flood sends it as is."""
RESULTS_FRAME = _frame(_TEXT, RESULTS_FRAME_JSON)
_HEAD, _, _TAIL = RESULTS_FRAME_JSON.partition(_TRANSCRIPT.encode())


def connected(request_id: str) -> dict[str, Any]:
    """Flux TTS's first message: the voice serving the connection."""
    return {"type": "Connected", "request_id": request_id} | VOICE


def speech_metadata(chunks: int, characters: int) -> dict[str, Any]:
    """The end of a turn of ``chunks`` audio chunks for ``characters`` of text."""
    controls = {"pronunciations_applied": 0, "breaks_applied": 0, "pronunciation_warnings": 0}
    return {
        "type": "SpeechMetadata",
        "speech_id": SPEECH_ID,
        "audio_duration_ms": chunks * SPEAK_CHUNK_MS,
        "input_character_count": characters,
        "billable_character_count": characters,
        "controls_applied": controls,
    }


def session_metadata(chunks: int, characters: int) -> dict[str, Any]:
    """The session's totals, sent before the close."""
    return {
        "type": "SessionMetadata",
        "total_audio_duration_ms": chunks * SPEAK_CHUNK_MS,
        "total_input_character_count": characters,
        "total_billable_character_count": characters,
    }


SPEECH_STARTED_JSON = orjson.dumps({"type": "SpeechStarted", "speech_id": SPEECH_ID})
FLUSHED_JSON = orjson.dumps({"type": "Flushed", "speech_id": SPEECH_ID})
_SPEECH_STARTED_FRAME = _frame(_TEXT, SPEECH_STARTED_JSON)
_FLUSHED_FRAME = _frame(_TEXT, FLUSHED_JSON)
_CHUNK_FRAME = _frame(_BINARY, bytes(SPEAK_CHUNK))


async def _handshake(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, rid: str) -> bool:
    """Answer the opening handshake: 101 and ``True``, or 400 and ``False``."""
    request = await reader.readuntil(b"\r\n\r\n")
    headers: dict[str, str] = {}
    for line in request.decode("latin-1").split("\r\n")[1:]:
        name, _, value = line.partition(":")
        headers.setdefault(name.strip().lower(), value.strip())
    key = headers.get("sec-websocket-key")
    if not key or "websocket" not in headers.get("upgrade", "").lower():
        writer.write(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
        return False
    accept = base64.b64encode(hashlib.sha1(key.encode() + _GUID).digest()).decode()
    lines = ["HTTP/1.1 101 Switching Protocols", "Upgrade: websocket", "Connection: Upgrade"]
    lines += [f"Sec-WebSocket-Accept: {accept}", f"dg-request-id: {rid}"]
    if offered := headers.get("sec-websocket-protocol"):
        lines.append(f"Sec-WebSocket-Protocol: {offered.split(',')[0].strip()}")
    writer.write("\r\n".join([*lines, "", ""]).encode())
    return True


class _Connection:
    """One client: the frame parser, the mode's replies and the close handshake."""

    def __init__(
        self, mode: str, count: int, rid: str, writer: asyncio.StreamWriter, step: int
    ) -> None:
        self.mode, self.count, self.rid, self.writer = mode, count, rid, writer
        self.step = step  # realtime: audio bytes per Results
        self.buffer = bytearray()
        self.text = bytearray()  # a text message so far (fragments)
        self.skip = 0  # binary payload bytes still to come in later reads
        self.in_binary = False  # continuation frames continue a binary message
        self.audio_bytes = self.audio_frames = 0
        self.next_mark = step if mode == "realtime" else _NEVER
        self.closing = False  # our close frame went out
        self.deadline: asyncio.Timeout | None = None
        self.sender: asyncio.Task[None] | None = None  # flood's Results, speak's turn
        # speak: the turn's Flush, its text, the session's totals, and a Close seen.
        self.flushed = asyncio.Event()
        self.turn_characters = self.chunks_sent = self.characters = 0
        self.close_asked = False

    async def run(self, reader: asyncio.StreamReader) -> None:
        """Read until the close handshake is done, the client leaves or time runs out."""
        try:
            async with asyncio.timeout(None) as self.deadline:
                if self.mode == "flood":
                    self.sender = asyncio.create_task(self._flood())
                elif self.mode == "speak":
                    self.writer.write(_frame(_TEXT, orjson.dumps(connected(self.rid))))
                while (data := await reader.read(1 << 18)) and not self._feed(data):
                    pass
        except TimeoutError:
            pass
        finally:
            if self.sender is not None:
                self.sender.cancel()

    async def _flood(self) -> None:
        batches, rest = divmod(self.count, BATCH)
        batch = RESULTS_FRAME * BATCH
        with suppress(ConnectionError):
            for _ in range(batches):
                self.writer.write(batch)
                await self.writer.drain()
            self.writer.write(RESULTS_FRAME * rest)
            self._finish()

    async def _turn(self) -> None:
        """Speak a turn: ``SpeechStarted`` and ``count`` audio chunks as fast as the
        socket takes them, then, once flushed, ``Flushed`` and ``SpeechMetadata``."""
        batches, rest = divmod(self.count, BATCH)
        batch = _CHUNK_FRAME * BATCH
        with suppress(ConnectionError):
            self.writer.write(_SPEECH_STARTED_FRAME)
            for _ in range(batches):
                self.writer.write(batch)
                await self.writer.drain()
            self.writer.write(_CHUNK_FRAME * rest)
            await self.flushed.wait()
            metadata = speech_metadata(self.count, self.turn_characters)
            self.writer.write(_FLUSHED_FRAME + _frame(_TEXT, orjson.dumps(metadata)))
            self.chunks_sent += self.count
            self.characters += self.turn_characters
            self.sender, self.turn_characters = None, 0
            self.flushed.clear()
            if self.close_asked:
                self._end_session()

    def _speak(self, message: dict[str, Any]) -> None:
        """A client message of Flux TTS: ``Speak`` opens or adds to the turn, ``Flush``
        ends it, ``Close`` ends it and the session."""
        kind = message.get("type")
        if kind == "Speak":
            self.turn_characters += len(message["text"])
            if self.sender is None:
                self.sender = asyncio.create_task(self._turn())
        elif kind == "Close" and self.sender is None:
            self._end_session()
        elif kind in ("Flush", "Close"):  # with no turn, a Flush is ignored
            self.close_asked |= kind == "Close"
            self.flushed.set()

    def _end_session(self) -> None:
        """``SessionMetadata`` and the close, once."""
        if not self.closing:
            self._close_with(session_metadata(self.chunks_sent, self.characters))

    def _finish(self) -> None:
        """Send Metadata and close 1000."""
        created = time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime())
        metadata = _METADATA | {"request_id": self.rid, "created": created}
        metadata |= {"duration": self.audio_bytes / 32000, "bench_bytes": self.audio_bytes}
        metadata["bench_frames"] = self.audio_frames
        self._close_with(metadata)

    def _close_with(self, message: dict[str, Any]) -> None:
        """Send ``message`` and close 1000; give the client ``CLOSE_WAIT`` s to answer."""
        self.writer.write(_frame(_TEXT, orjson.dumps(message)) + _frame(_CLOSE, b"\x03\xe8"))
        self.closing, self.next_mark = True, _NEVER
        assert self.deadline is not None
        self.deadline.reschedule(asyncio.get_running_loop().time() + CLOSE_WAIT)

    def _audio(self, size: int) -> None:
        """Count audio bytes; in realtime mode, a timestamped Results per step crossed."""
        self.audio_bytes += size
        while self.audio_bytes >= self.next_mark:
            self.next_mark += self.step
            stamp = f"t={time.monotonic():.6f}".encode()
            self.writer.write(_frame(_TEXT, _HEAD + stamp + _TAIL))

    def _feed(self, data: bytes) -> bool:
        """Parse client frames from ``data``; ``True`` once the client's close came."""
        if self.skip:
            taken = min(self.skip, len(data))
            self.skip -= taken
            self._audio(taken)
            data = data[taken:]
        buf = self.buffer
        buf += data
        pos, end = 0, len(buf)
        while end - pos >= 2:
            b0, b1 = buf[pos], buf[pos + 1]
            size, head = b1 & 0x7F, 2
            if size == 126:
                size, head = int.from_bytes(buf[pos + 2 : pos + 4]), 4
            elif size == 127:
                size, head = int.from_bytes(buf[pos + 2 : pos + 10]), 10
            start = pos + head + (4 if b1 & 0x80 else 0)
            if start > end:
                break
            opcode = b0 & 0x0F
            if opcode == _BINARY or (opcode == 0 and self.in_binary):
                self.audio_frames += opcode == _BINARY  # a continuation: same message
                self.in_binary = not b0 & 0x80
                taken = min(size, end - start)
                self.skip = size - taken
                self._audio(taken)
                pos = start + taken
            elif start + size > end:
                break
            else:
                payload = bytes(buf[start : start + size])
                if b1 & 0x80:
                    payload = _unmask(payload, bytes(buf[start - 4 : start]))
                pos = start + size
                if self._message(opcode, payload, bool(b0 & 0x80)):
                    return True
        del buf[:pos]
        return False

    def _message(self, opcode: int, payload: bytes, fin: bool) -> bool:
        """Handle a control or text frame; ``True`` on the client's close."""
        if opcode == _CLOSE:
            if not self.closing:
                self.writer.write(_frame(_CLOSE, payload[:2]))
            return True
        if opcode == _PING and not self.closing:
            self.writer.write(_frame(_PONG, payload))
        elif opcode in (_TEXT, 0):
            self.text += payload
            if fin:
                text, self.text = bytes(self.text), bytearray()
                if self.mode == "speak":
                    if not self.closing:
                        self._speak(orjson.loads(text))
                    return False
                stream_end = b'"CloseStream"' in text and self.mode in ("sink", "realtime")
                if stream_end and not self.closing:
                    self._finish()
        return False


async def serve(
    mode: str,
    count: int,
    port: int = 0,
    ready: Callable[[int], None] | None = None,
    cadence: int = CADENCE,
) -> None:
    """Serve ``mode`` on 127.0.0.1:``port`` until cancelled; ``ready(port)`` once listening.
    ``cadence``: realtime Results per second of audio."""
    if mode not in MODES:
        raise ValueError(f"unknown mode {mode!r}: one of {', '.join(MODES)}")
    if not 0 < cadence <= AUDIO_BYTES_PER_SECOND:
        raise ValueError(f"cadence {cadence}: 1 to {AUDIO_BYTES_PER_SECOND} Results a second")
    ids = itertools.count(1)
    step = AUDIO_BYTES_PER_SECOND // cadence

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connection = _Connection(mode, count, f"bench-{next(ids)}", writer, step)
        # CancelledError: at shutdown; Python 3.11's start_server logs a cancelled handler.
        with suppress(asyncio.CancelledError, *_GONE):
            try:
                if await _handshake(reader, writer, connection.rid):
                    await connection.run(reader)
            finally:
                writer.close()

    # A density trial opens hundreds of connections at once: past asyncio's default
    # backlog of 100, the kernel drops SYNs, and each retry costs a second.
    server = await asyncio.start_server(handle, "127.0.0.1", port, backlog=BACKLOG)
    async with server:
        if ready is not None:
            ready(server.sockets[0].getsockname()[1])
        await server.serve_forever()


def main(argv: list[str] | None = None) -> int:
    """``python -m bench.peer MODE [--count N] [--port P]``."""
    parser = argparse.ArgumentParser(
        prog="python -m bench.peer",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("mode", choices=MODES)
    parser.add_argument("--count", type=int, default=1000, help="flood: Results to send")
    parser.add_argument(
        "--cadence", type=int, default=CADENCE, help="realtime: Results per second of audio"
    )
    parser.add_argument("--port", type=int, default=0, help="0: any free port")
    args = parser.parse_args(argv)

    async def until_signalled() -> None:  # SIGTERM and SIGINT end it quietly
        task = asyncio.current_task()
        assert task is not None
        for signum in (signal.SIGTERM, signal.SIGINT):
            asyncio.get_running_loop().add_signal_handler(signum, task.cancel)
        with suppress(asyncio.CancelledError):
            await serve(
                args.mode,
                args.count,
                args.port,
                lambda port: print(f"PORT {port}", flush=True),
                args.cadence,
            )

    asyncio.run(until_signalled())
    return 0


if __name__ == "__main__":
    sys.exit(main())
