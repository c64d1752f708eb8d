"""The clients under test, one workload at a time, each in a process of its own.

    python -m bench.clients CLIENT WORKLOAD URL [--count N] [--streams N] [--seconds S]
                                                [--warmup S] [--cadence N]

prints one line of JSON: the workload's figure and what it is made of (a density
trial prints it as soon as it has failed for certain, ``ended_early``, and runs on:
``python -m bench`` ends it then). Clients:

- ``dgtrio``: ``open_listen`` (``open_flux_speak`` for tts), messages decoded into
  typed attrs objects;
- ``sdk``: the official deepgram-sdk's ``AsyncDeepgramClient`` (asyncio, websockets),
  messages decoded into its pydantic models;
- ``sans-io``: raw, no decoding: one trio task drives websockets' sans-io
  ``ClientProtocol`` over ``trio.open_tcp_stream``, as dgtrio's transport does (its
  ceiling);
- ``trio-websocket``: raw trio-websocket, no decoding, for context (dgtrio's
  transport before it drove the protocol itself);
- ``websockets``: raw ``websockets`` (asyncio), no decoding, for context.

Workloads (the peer, ``bench.peer``, runs the matching mode):

- ``receive`` (flood): messages/s from the first to the last of ``count`` ``Results``;
- ``upload`` (sink): bytes/s sending ``count`` 20 ms linear16 frames (640 B) as fast
  as the API allows, until the peer's ``Metadata`` confirms it has them all;
- ``density`` (realtime): ``streams`` streams, once all are connected, each sending a
  20 ms frame every 20 ms for ``warmup`` + ``seconds`` and receiving the peer's
  ``Results`` (``cadence`` a second, as the peer was told); after the warm-up, the
  p99 of server-send to user-receive latency, and of how late each send returned;
- ``memory`` (idle): resident memory per open, idle connection, over ``count`` of them;
- ``connect`` (idle): the median time to open a connection, over ``count`` in a row;
- ``tts`` (speak): Flux TTS audio chunks/s (4800 B each) from the first to the last
  of one turn's ``count``, the text spoken and flushed at once, every message read.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import statistics
import sys
import time
import warnings
from collections.abc import Awaitable, Callable, Coroutine
from contextlib import AsyncExitStack, suppress
from functools import partial
from typing import Any, cast

import trio
from websockets.client import ClientProtocol
from websockets.frames import Frame, Opcode
from websockets.protocol import State
from websockets.typing import BytesLike
from websockets.uri import parse_uri

from .peer import SPEAK_CHUNK

FRAME = bytes(640)  # 20 ms of 16 kHz linear16
FRAME_SECONDS = 0.02
API_KEY = "bench-key"
SPEAK_MODEL = "flux-haley-en"
SPEAK_TEXT = "Four score and seven years ago our fathers brought forth a new nation."
SPEAK_JSON = json.dumps({"type": "Speak", "text": SPEAK_TEXT})
CLOSE_STREAM = '{"type":"CloseStream"}'
LATENCY_BUDGET = 0.050  # density: seconds, for both p99s (results' latency, sends' lag)
RECEIVE_BUFFER = 64 * 1024  # bytes per read, as dgtrio's transport reads
Result = dict[str, Any]


def _rss() -> int:
    """Resident memory of this process, in bytes."""
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _p99(values: list[float]) -> float:
    return statistics.quantiles(values, n=100)[98] if len(values) > 1 else float("inf")


def _per_connection(before: int, count: int) -> Result:
    gc.collect()
    return {"bytes_per_connection": (_rss() - before) / count, "connections": count}


def _timed(count: int, started: float, unit: str) -> Result:
    seconds = time.perf_counter() - started
    return {f"{unit}_per_second": count / seconds, "seconds": seconds, "count": count}


class _Chunks:
    """The audio chunks of a tts run, timed from the first to the last (the same
    bookkeeping for every client)."""

    def __init__(self) -> None:
        self.count = self.size = 0
        self.started = self.ended = 0.0

    def add(self, data: BytesLike) -> None:
        self.ended = time.perf_counter()
        if not self.count:
            self.started = self.ended
        self.count += 1
        self.size += len(data)

    def result(self, count: int) -> Result:
        """Chunks and bytes per second; the chunks received, all their bytes, must be
        the ``count`` the peer sent."""
        if self.count != count or self.size != count * SPEAK_CHUNK or count < 2:
            raise RuntimeError(f"{self.count} audio chunks of {self.size} bytes, not {count}")
        seconds = self.ended - self.started
        per_second = (count - 1) / seconds
        return {
            "chunks_per_second": per_second,
            "seconds": seconds,
            "count": count,
            "bytes_per_second": per_second * SPEAK_CHUNK,
        }


class _Density:
    """What every client's density workload shares, so that all measure alike: the
    streams start sending together once the last has connected (opening hundreds of
    connections at once is not what is measured), and only the results the peer sent
    after the warm-up count (the first frames of a stream cost more than the rest).

    A trial fails when either p99 is over the budget: the results' latency, or how
    late the frames' sends returned (the peer stamps a result when the audio arrives,
    so a client too busy to send on time would pass unseen). Once that is certain it
    says so at once (``ended_early``, on stdout), before its end: a search spends most
    of its failed trials far over the budget, and waiting them out would double the
    time it takes.
    """

    def __init__(self, streams: int, seconds: float, warmup: float, cadence: int) -> None:
        self.streams, self.warmup = streams, warmup
        self.frames = round((warmup + seconds) / FRAME_SECONDS)  # each stream sends
        self.warmup_frames = round(warmup / FRAME_SECONDS)
        self.connected = 0
        self.measured_from = float("inf")  # time.monotonic(), set at the start
        self.latencies: list[float] = []
        self.lags: list[float] = []  # of the measured frames' sends
        # More than 1 % of the measured results or frames over the budget, and the p99
        # is over it. The results: at most the peer's ``cadence`` a second, and one
        # more at either end.
        self.over_allowed = streams * (cadence * seconds + 2) // 100
        self.late_allowed = streams * (self.frames - self.warmup_frames) // 100
        self.over = self.late = 0
        self.failed = False

    def joined(self) -> bool:
        """One more stream connected; ``True`` for the last: the streams start now."""
        self.connected += 1
        if self.connected < self.streams:
            return False
        self.measured_from = time.monotonic() + self.warmup
        return True

    def offset(self, index: int) -> float:
        """Seconds from the start to stream ``index``'s first frame: the streams'
        frames are spread over the 20 ms, not sent in one burst."""
        return FRAME_SECONDS * index / self.streams

    def add(self, transcript: str) -> None:
        """A result received: its latency from the peer's ``t=<monotonic>`` stamp, if
        the peer sent it after the warm-up."""
        received = time.monotonic()
        sent = float(transcript[2:])
        if sent < self.measured_from:
            return
        self.latencies.append(received - sent)
        if received - sent >= LATENCY_BUDGET:
            self.over += 1
            if self.over > self.over_allowed:
                self._fail()

    def sent(self, lag: float) -> None:
        """A measured frame's send returned ``lag`` seconds after the frame's time."""
        self.lags.append(lag)
        if lag >= LATENCY_BUDGET:
            self.late += 1
            if self.late > self.late_allowed:
                self._fail()

    def _fail(self) -> None:
        if not self.failed:
            self.failed = True
            _report(self.result())

    def result(self) -> Result:
        latencies = self.latencies
        return {
            "p99_seconds": _p99(latencies),
            "results": len(latencies),
            "send_lag_p99_seconds": _p99(self.lags),
            "streams": self.streams,
            "ended_early": self.failed,  # and reported when it did
        }


def _report(result: Result) -> None:
    """Print ``result`` as the line of JSON ``python -m bench`` reads."""
    sys.stdout.write(json.dumps(result) + "\n")
    sys.stdout.flush()


Stream = Callable[[int, Callable[[], Awaitable[None]]], Awaitable[None]]


async def _trio_density(density: _Density, stream: Stream) -> Result:
    """Run ``density``'s streams: ``stream(index, ready)`` opens its connection, awaits
    ``ready()`` (every stream is connected), then streams."""
    started = trio.Event()

    async def ready() -> None:
        if density.joined():
            started.set()
        await started.wait()

    async with trio.open_nursery() as nursery:
        for index in range(density.streams):
            nursery.start_soon(stream, index, ready)
    return density.result()


async def _asyncio_density(density: _Density, stream: Stream) -> Result:
    """:func:`_trio_density` for the asyncio clients."""
    started = asyncio.Event()

    async def ready() -> None:
        if density.joined():
            started.set()
        await started.wait()

    await asyncio.gather(*(stream(index, ready) for index in range(density.streams)))
    return density.result()


async def _trio_audio(
    density: _Density,
    index: int,
    send: Callable[[bytes], Awaitable[object]],
    end: Callable[[], Awaitable[object]],
) -> None:
    """Stream ``index``'s audio in real time from now: a frame every 20 ms, then
    ``end``; after the warm-up, how late each send returned."""
    start = trio.current_time() + density.offset(index)
    measured = density.warmup_frames
    for frame in range(density.frames):
        due = start + frame * FRAME_SECONDS
        await trio.sleep_until(due)
        await send(FRAME)
        if frame >= measured:
            density.sent(trio.current_time() - due)
    await end()


async def _asyncio_audio(
    density: _Density,
    index: int,
    send: Callable[[bytes], Awaitable[object]],
    end: Callable[[], Awaitable[object]],
) -> None:
    """:func:`_trio_audio` for asyncio."""
    loop = asyncio.get_running_loop()
    start = loop.time() + density.offset(index)
    measured = density.warmup_frames
    for frame in range(density.frames):
        due = start + frame * FRAME_SECONDS
        await asyncio.sleep(max(0.0, due - loop.time()))
        await send(FRAME)
        if frame >= measured:
            density.sent(loop.time() - due)
    await end()


# -- dgtrio ---------------------------------------------------------------------------------


def _dgtrio_listen(url: str) -> Any:
    import dgtrio

    options = dgtrio.ListenV1Options(encoding="linear16", sample_rate=16000)
    return dgtrio.open_listen(options, base_url=url, api_key=API_KEY)


async def dgtrio_receive(url: str, count: int, **unused: Any) -> Result:
    return await _dgtrio_receive(url, count, lambda results: results.transcript)


async def dgtrio_words(url: str, count: int, **unused: Any) -> Result:
    return await _dgtrio_receive(url, count, lambda results: [w.word for w in results.words])


async def _dgtrio_receive(url: str, count: int, read: Callable[[Any], object]) -> Result:
    """Results per second, each ``read`` as a consumer would (a transcript, words)."""
    import dgtrio

    async with _dgtrio_listen(url) as conn:
        received, started = 0, 0.0
        async for message in conn:
            if received == 0:
                started = time.perf_counter()
            if isinstance(message, dgtrio.ListenV1Results):
                read(message)
                received += 1
                if received == count:
                    return _timed(count - 1, started, "messages")
    raise RuntimeError(f"the stream ended after {received} results")


async def dgtrio_upload(url: str, count: int, **unused: Any) -> Result:
    import dgtrio

    async with _dgtrio_listen(url) as conn:
        started = time.perf_counter()
        for _ in range(count):
            await conn.send_audio(FRAME)
        await conn.close_stream()
        async for message in conn:
            if isinstance(message, dgtrio.ListenV1Metadata):
                assert message.raw["bench_bytes"] == count * len(FRAME), message.raw
                return _timed(count * len(FRAME), started, "bytes")
    raise RuntimeError("no Metadata")


async def dgtrio_density(
    url: str, streams: int, seconds: float, warmup: float, cadence: int, **unused: Any
) -> Result:
    import dgtrio

    density = _Density(streams, seconds, warmup, cadence)

    async def stream(index: int, ready: Callable[[], Awaitable[None]]) -> None:
        async with _dgtrio_listen(url) as conn, trio.open_nursery() as nursery:
            await ready()
            nursery.start_soon(_trio_audio, density, index, conn.send_audio, conn.close_stream)
            async for message in conn:
                if isinstance(message, dgtrio.ListenV1Results):
                    density.add(message.transcript)

    return await _trio_density(density, stream)


async def dgtrio_tts(url: str, count: int, **unused: Any) -> Result:
    """One turn: ``speak``, ``flush`` (it waits for the turn's end) and ``close`` in a
    task, the connection's messages iterated until the peer closes."""
    import dgtrio

    options = dgtrio.SpeakV2Options(model=SPEAK_MODEL, encoding="linear16", sample_rate=24000)
    async with (
        dgtrio.open_flux_speak(options, base_url=url, api_key=API_KEY) as tts,
        trio.open_nursery() as nursery,
    ):

        async def turn() -> None:
            await tts.speak(SPEAK_TEXT)
            await tts.flush()
            await tts.close()

        nursery.start_soon(turn)
        chunks = _Chunks()
        last: object = None
        async for last in tts:
            if isinstance(last, dgtrio.SpeakV2Audio):
                chunks.add(last.data)
    assert isinstance(last, dgtrio.SpeakV2SessionMetadata), last
    return chunks.result(count)


async def dgtrio_memory(url: str, count: int, **unused: Any) -> Result:
    return await _memory(count, lambda: _dgtrio_listen(url))


async def dgtrio_connect(url: str, count: int, **unused: Any) -> Result:
    return await _connects(count, lambda: _dgtrio_listen(url))


async def _connects(count: int, open_one: Callable[[], Any]) -> Result:
    """The median time to enter ``open_one()``, over ``count`` after a first one."""
    times = []
    for _ in range(count + 1):
        started = time.perf_counter()
        async with open_one():
            times.append(time.perf_counter() - started)
    return {"median_seconds": statistics.median(times[1:]), "count": count}


async def _memory(count: int, open_one: Callable[[], Any]) -> Result:
    """Resident memory per connection, ``count`` of them open at once."""
    async with open_one():
        pass  # a first connection warms up what every connection shares
    gc.collect()
    before = _rss()
    async with AsyncExitStack() as stack:
        for _ in range(count):
            await stack.enter_async_context(open_one())
        return _per_connection(before, count)


# -- raw trio-websocket ---------------------------------------------------------------------


def _listen_url(url: str) -> str:
    return f"{url}/v1/listen?encoding=linear16&sample_rate=16000"


def _speak_url(url: str) -> str:
    return f"{url}/v2/speak?model={SPEAK_MODEL}&encoding=linear16&sample_rate=24000"


def _trio_websocket(url: str, target: str | None = None) -> Any:
    """trio-websocket tuned as dgtrio tunes it (64 KiB reads, 16 messages parsed
    ahead), so that the ceiling is the transport's, not its defaults'; ``target``
    (default: Listen v1's) is the full URL."""
    import trio_websocket

    return trio_websocket.open_websocket_url(
        target or _listen_url(url), receive_buffer_size=64 * 1024, message_queue_size=16
    )


async def trio_websocket_receive(url: str, count: int, **unused: Any) -> Result:
    async with _trio_websocket(url) as ws:
        await ws.get_message()
        started = time.perf_counter()
        for _ in range(count - 1):
            await ws.get_message()
        return _timed(count - 1, started, "messages")


async def trio_websocket_upload(url: str, count: int, **unused: Any) -> Result:
    async with _trio_websocket(url) as ws:
        started = time.perf_counter()
        for _ in range(count):
            await ws.send_message(FRAME)
        await ws.send_message(CLOSE_STREAM)
        while '"Metadata"' not in (await ws.get_message()):
            pass
        return _timed(count * len(FRAME), started, "bytes")


async def trio_websocket_density(
    url: str, streams: int, seconds: float, warmup: float, cadence: int, **unused: Any
) -> Result:
    import orjson

    density = _Density(streams, seconds, warmup, cadence)

    async def stream(index: int, ready: Callable[[], Awaitable[None]]) -> None:
        async with _trio_websocket(url) as ws, trio.open_nursery() as nursery:
            await ready()
            end = partial(ws.send_message, CLOSE_STREAM)
            nursery.start_soon(_trio_audio, density, index, ws.send_message, end)
            while True:
                data = orjson.loads(await ws.get_message())
                if data["type"] == "Metadata":
                    return
                density.add(data["channel"]["alternatives"][0]["transcript"])

    return await _trio_density(density, stream)


async def trio_websocket_tts(url: str, count: int, **unused: Any) -> Result:
    """One turn, raw: ``Speak`` and ``Flush``, binary messages counted, ``Close``
    after the ``SpeechMetadata``, then messages until the peer closes."""
    import trio_websocket

    async with _trio_websocket(url, _speak_url(url)) as ws:
        await ws.send_message(SPEAK_JSON)
        await ws.send_message('{"type":"Flush"}')
        chunks = _Chunks()
        with suppress(trio_websocket.ConnectionClosed):
            while True:
                message = await ws.get_message()
                if isinstance(message, bytes):
                    chunks.add(message)
                elif '"SpeechMetadata"' in message:
                    await ws.send_message('{"type":"Close"}')
    return chunks.result(count)


async def trio_websocket_memory(url: str, count: int, **unused: Any) -> Result:
    return await _memory(count, lambda: _trio_websocket(url))


async def trio_websocket_connect(url: str, count: int, **unused: Any) -> Result:
    return await _connects(count, lambda: _trio_websocket(url))


# -- raw sans-io: websockets' ClientProtocol driven by one trio task --------------------------


class _SansIO:
    """websockets' sans-io ``ClientProtocol`` over ``trio.open_tcp_stream``, driven by
    the task that reads: no reader task, no channel, nothing decoded. dgtrio's
    transport is built the same way, so this is its ceiling.

    A send writes at once, whole, unless another task is writing (trio refuses two
    ``send_all`` at once): that write then carries it, in order, right after its own.
    The protocol's own answers (to the peer's close) are written so by the reading task.
    """

    __slots__ = ("_early", "_target", "_writing", "protocol", "stream")

    def __init__(self, target: str) -> None:
        self._target = target
        self._writing = False

    async def __aenter__(self) -> _SansIO:
        uri = parse_uri(self._target)
        self.stream = await trio.open_tcp_stream(uri.host, uri.port)
        try:
            await self._handshake(ClientProtocol(uri, max_size=None))
        except BaseException:
            await trio.aclose_forcefully(self.stream)
            raise
        return self

    async def _handshake(self, protocol: ClientProtocol) -> None:
        """The upgrade; the frames that came right behind the response are kept for
        the first :meth:`frames`."""
        self.protocol = protocol
        protocol.send_request(protocol.connect())
        await self._flush()
        events = []
        while protocol.state is State.CONNECTING and protocol.handshake_exc is None:
            data = await self.stream.receive_some(RECEIVE_BUFFER)
            if not data:
                raise ConnectionError("the peer closed the connection during the handshake")
            protocol.receive_data(data)
            events += protocol.events_received()
        if protocol.handshake_exc is not None:
            raise protocol.handshake_exc
        self._early = [event for event in events if isinstance(event, Frame)]

    async def __aexit__(self, *exc_info: object) -> None:
        """The closing handshake: a close 1000 unless the peer's came first, then read
        until the peer ends the TCP connection."""
        try:
            if self.protocol.state is State.OPEN:
                self.protocol.send_close(1000)
                await self._flush()
            while self.open:
                await self.frames()
        finally:
            await trio.aclose_forcefully(self.stream)

    @property
    def open(self) -> bool:
        """Whether frames may still come: the peer has not ended the connection."""
        return self.protocol.state is not State.CLOSED

    async def send(self, message: str | bytes) -> None:
        if isinstance(message, str):
            self.protocol.send_text(message.encode())
        else:
            self.protocol.send_binary(message)
        await self._flush()

    async def frames(self) -> list[Frame]:
        """The frames one read of the socket completes (none, at times), data and
        control alike; the protocol's answers are written at once."""
        if self._early:
            early, self._early = self._early, []
            return early
        protocol = self.protocol
        data = await self.stream.receive_some(RECEIVE_BUFFER)
        if data:
            protocol.receive_data(data)
        else:
            protocol.receive_eof()
        await self._flush()
        # Past the handshake, a client's protocol parses nothing but frames.
        return cast(list[Frame], protocol.events_received())

    async def _flush(self) -> None:
        """Write what the protocol has to send, unless a write is under way already."""
        if self._writing:
            return
        self._writing = True
        try:
            # An empty write is the protocol's end of stream: closing the stream does it.
            while data := b"".join(self.protocol.data_to_send()):
                await self.stream.send_all(data)
        finally:
            self._writing = False


async def _sans_io_text(ws: _SansIO) -> list[BytesLike]:
    """The text messages of the next read that brings any; ``RuntimeError`` if the
    peer closed first. The peer sends each message in one frame."""
    while ws.open:
        texts = [frame.data for frame in await ws.frames() if frame.opcode is Opcode.TEXT]
        if texts:
            return texts
    raise RuntimeError("the peer closed the connection")


async def sans_io_receive(url: str, count: int, **unused: Any) -> Result:
    async with _SansIO(_listen_url(url)) as ws:
        first = received = len(await _sans_io_text(ws))  # timed from the end of this read
        started = time.perf_counter()
        while received < count:
            received += len(await _sans_io_text(ws))
        return _timed(count - first, started, "messages")


async def sans_io_upload(url: str, count: int, **unused: Any) -> Result:
    async with _SansIO(_listen_url(url)) as ws:
        started = time.perf_counter()
        for _ in range(count):
            await ws.send(FRAME)
        await ws.send(CLOSE_STREAM)
        while not any(b'"Metadata"' in text for text in await _sans_io_text(ws)):
            pass
        return _timed(count * len(FRAME), started, "bytes")


async def sans_io_density(
    url: str, streams: int, seconds: float, warmup: float, cadence: int, **unused: Any
) -> Result:
    import orjson

    density = _Density(streams, seconds, warmup, cadence)

    async def stream(index: int, ready: Callable[[], Awaitable[None]]) -> None:
        async with _SansIO(_listen_url(url)) as ws, trio.open_nursery() as nursery:
            await ready()
            end = partial(ws.send, CLOSE_STREAM)
            nursery.start_soon(_trio_audio, density, index, ws.send, end)
            while True:
                for text in await _sans_io_text(ws):
                    data = orjson.loads(text)
                    if data["type"] == "Metadata":
                        return
                    density.add(data["channel"]["alternatives"][0]["transcript"])

    return await _trio_density(density, stream)


async def sans_io_tts(url: str, count: int, **unused: Any) -> Result:
    """As ``trio_websocket_tts``: frames read until the peer ends the connection."""
    async with _SansIO(_speak_url(url)) as ws:
        await ws.send(SPEAK_JSON)
        await ws.send('{"type":"Flush"}')
        chunks = _Chunks()
        while ws.open:
            for frame in await ws.frames():
                if frame.opcode is Opcode.BINARY:
                    chunks.add(frame.data)
                elif frame.opcode is Opcode.TEXT and b'"SpeechMetadata"' in frame.data:
                    await ws.send('{"type":"Close"}')
    return chunks.result(count)


async def sans_io_memory(url: str, count: int, **unused: Any) -> Result:
    return await _memory(count, lambda: _SansIO(_listen_url(url)))


async def sans_io_connect(url: str, count: int, **unused: Any) -> Result:
    return await _connects(count, lambda: _SansIO(_listen_url(url)))


# -- the official SDK (asyncio) -------------------------------------------------------------


def _sdk(url: str) -> Any:
    warnings.simplefilter("ignore", DeprecationWarning)
    from .sdk_client import sdk_client

    return sdk_client(url, API_KEY)


def _sdk_connect(client: Any) -> Any:
    return client.listen.v1.connect(model="nova-3", encoding="linear16", sample_rate=16000)


async def sdk_receive(url: str, count: int, **unused: Any) -> Result:
    return await _sdk_receive(
        url, count, lambda results: results.channel.alternatives[0].transcript
    )


async def sdk_words(url: str, count: int, **unused: Any) -> Result:
    return await _sdk_receive(
        url, count, lambda results: [w.word for w in results.channel.alternatives[0].words]
    )


async def _sdk_receive(url: str, count: int, read: Callable[[Any], object]) -> Result:
    from deepgram.listen.v1.types import ListenV1Results

    async with _sdk_connect(_sdk(url)) as socket:
        received, started = 0, 0.0
        async for message in socket:
            if received == 0:
                started = time.perf_counter()
            if isinstance(message, ListenV1Results):
                read(message)
                received += 1
                if received == count:
                    return _timed(count - 1, started, "messages")
    raise RuntimeError(f"the stream ended after {received} results")


async def sdk_upload(url: str, count: int, **unused: Any) -> Result:
    from deepgram.listen.v1.types import ListenV1Metadata

    async with _sdk_connect(_sdk(url)) as socket:
        started = time.perf_counter()
        for _ in range(count):
            await socket.send_media(FRAME)
        await socket.send_close_stream()
        async for message in socket:
            if isinstance(message, ListenV1Metadata):
                return _timed(count * len(FRAME), started, "bytes")
    raise RuntimeError("no Metadata")


async def sdk_density(
    url: str, streams: int, seconds: float, warmup: float, cadence: int, **unused: Any
) -> Result:
    from deepgram.listen.v1.types import ListenV1Results

    client = _sdk(url)
    density = _Density(streams, seconds, warmup, cadence)

    async def stream(index: int, ready: Callable[[], Awaitable[None]]) -> None:
        async with _sdk_connect(client) as socket:
            await ready()
            audio = _asyncio_audio(density, index, socket.send_media, socket.send_close_stream)
            sender = asyncio.create_task(audio)
            async for message in socket:
                if isinstance(message, ListenV1Results):
                    density.add(message.channel.alternatives[0].transcript)
            await sender

    return await _asyncio_density(density, stream)


async def sdk_tts(url: str, count: int, **unused: Any) -> Result:
    """One turn: ``send_speak`` and ``send_flush``, the audio (bytes) read until the
    turn's ``SpeechMetadata``; then ``send_close`` and the rest."""
    from deepgram.speak.v2.types import (
        SpeakV2SessionMetadata,
        SpeakV2Speak,
        SpeakV2SpeechMetadata,
    )

    client = _sdk(url)
    async with client.speak.v2.connect(
        model=SPEAK_MODEL, encoding="linear16", sample_rate=24000
    ) as socket:
        await socket.send_speak(SpeakV2Speak(text=SPEAK_TEXT))
        await socket.send_flush()
        chunks = _Chunks()
        last: Any = None
        async for last in socket:  # ends when the peer closes, after SessionMetadata
            if isinstance(last, bytes):
                chunks.add(last)
            elif isinstance(last, SpeakV2SpeechMetadata):
                await socket.send_close()
        assert isinstance(last, SpeakV2SessionMetadata), last
    return chunks.result(count)


async def sdk_memory(url: str, count: int, **unused: Any) -> Result:
    client = _sdk(url)
    return await _memory(count, lambda: _sdk_connect(client))


async def sdk_connect(url: str, count: int, **unused: Any) -> Result:
    client = _sdk(url)
    return await _connects(count, lambda: _sdk_connect(client))


# -- raw websockets (asyncio) ---------------------------------------------------------------


async def websockets_receive(url: str, count: int, **unused: Any) -> Result:
    from websockets.asyncio.client import connect

    async with connect(_listen_url(url), compression=None, max_size=None) as ws:
        await ws.recv()
        started = time.perf_counter()
        for _ in range(count - 1):
            await ws.recv()
        return _timed(count - 1, started, "messages")


async def websockets_upload(url: str, count: int, **unused: Any) -> Result:
    from websockets.asyncio.client import connect

    async with connect(_listen_url(url), compression=None) as ws:
        started = time.perf_counter()
        for _ in range(count):
            await ws.send(FRAME)
        await ws.send(CLOSE_STREAM)
        while '"Metadata"' not in str(await ws.recv()):
            pass
        return _timed(count * len(FRAME), started, "bytes")


async def websockets_density(
    url: str, streams: int, seconds: float, warmup: float, cadence: int, **unused: Any
) -> Result:
    import orjson
    from websockets.asyncio.client import connect

    density = _Density(streams, seconds, warmup, cadence)

    async def stream(index: int, ready: Callable[[], Awaitable[None]]) -> None:
        async with connect(_listen_url(url), compression=None) as ws:
            await ready()
            end = partial(ws.send, CLOSE_STREAM)
            sender = asyncio.create_task(_asyncio_audio(density, index, ws.send, end))
            async for message in ws:
                data = orjson.loads(message)
                if data["type"] == "Metadata":
                    break
                density.add(data["channel"]["alternatives"][0]["transcript"])
            await sender

    return await _asyncio_density(density, stream)


async def websockets_tts(url: str, count: int, **unused: Any) -> Result:
    """As ``trio_websocket_tts``; iteration ends when the peer closes."""
    from websockets.asyncio.client import connect

    async with connect(_speak_url(url), compression=None) as ws:
        await ws.send(SPEAK_JSON)
        await ws.send('{"type":"Flush"}')
        chunks = _Chunks()
        async for message in ws:
            if isinstance(message, bytes):
                chunks.add(message)
            elif '"SpeechMetadata"' in message:
                await ws.send('{"type":"Close"}')
    return chunks.result(count)


async def websockets_memory(url: str, count: int, **unused: Any) -> Result:
    from websockets.asyncio.client import connect

    return await _memory(count, lambda: connect(_listen_url(url), compression=None))


async def websockets_connect(url: str, count: int, **unused: Any) -> Result:
    from websockets.asyncio.client import connect

    return await _connects(count, lambda: connect(_listen_url(url), compression=None))


# -- running one --------------------------------------------------------------------------

WORKLOADS: dict[str, dict[str, Callable[..., Coroutine[Any, Any, Result]]]] = {
    "dgtrio": {
        "receive": dgtrio_receive,
        "words": dgtrio_words,
        "upload": dgtrio_upload,
        "density": dgtrio_density,
        "memory": dgtrio_memory,
        "connect": dgtrio_connect,
        "tts": dgtrio_tts,
    },
    "sdk": {
        "receive": sdk_receive,
        "words": sdk_words,
        "upload": sdk_upload,
        "density": sdk_density,
        "memory": sdk_memory,
        "connect": sdk_connect,
        "tts": sdk_tts,
    },
    "trio-websocket": {
        "receive": trio_websocket_receive,
        "upload": trio_websocket_upload,
        "density": trio_websocket_density,
        "memory": trio_websocket_memory,
        "connect": trio_websocket_connect,
        "tts": trio_websocket_tts,
    },
    "sans-io": {
        "receive": sans_io_receive,
        "upload": sans_io_upload,
        "density": sans_io_density,
        "memory": sans_io_memory,
        "connect": sans_io_connect,
        "tts": sans_io_tts,
    },
    "websockets": {
        "receive": websockets_receive,
        "upload": websockets_upload,
        "density": websockets_density,
        "memory": websockets_memory,
        "connect": websockets_connect,
        "tts": websockets_tts,
    },
}
ASYNCIO = {"sdk", "websockets"}


def run(client: str, workload: str, url: str, **params: Any) -> Result:
    """Run one workload of one client in this process (trio or asyncio, as it needs)."""
    function = WORKLOADS[client][workload]
    if client in ASYNCIO:
        return asyncio.run(function(url, **params))
    return trio.run(lambda: function(url, **params))


def main() -> None:
    parser = argparse.ArgumentParser(description="One workload of one client.")
    parser.add_argument("client", choices=sorted(WORKLOADS))
    parser.add_argument("workload")
    parser.add_argument("url")
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--streams", type=int, default=10)
    parser.add_argument("--seconds", type=float, default=3.0, help="density: measured")
    parser.add_argument("--warmup", type=float, default=1.0, help="density: not measured")
    parser.add_argument("--cadence", type=int, default=4, help="density: the peer's Results/s")
    args = parser.parse_args()
    result = run(
        args.client,
        args.workload,
        args.url,
        count=args.count,
        streams=args.streams,
        seconds=args.seconds,
        warmup=args.warmup,
        cadence=args.cadence,
    )
    if not result.get("ended_early"):  # or it was reported already
        _report(result)


if __name__ == "__main__":
    main()
