"""The clients under test, one workload at a time, each in a process of its own.

    python -m bench.clients CLIENT WORKLOAD URL [--count N] [--streams N] [--seconds S]

prints one JSON object: the workload's figure and what it is made of. Clients:

- ``dgtrio``: ``open_listen`` (``open_flux_speak`` for tts), messages decoded into
  typed attrs objects;
- ``sdk``: the official deepgram-sdk's ``AsyncDeepgramClient`` (asyncio, websockets),
  messages decoded into its pydantic models;
- ``trio-websocket``: raw trio-websocket, no decoding (the ceiling for dgtrio's transport);
- ``websockets``: raw ``websockets`` (asyncio), no decoding, for context.

Workloads (the peer, ``bench.peer``, runs the matching mode):

- ``receive`` (flood): messages/s from the first to the last of ``count`` ``Results``;
- ``upload`` (sink): bytes/s sending ``count`` 20 ms linear16 frames (640 B) as fast
  as the API allows, until the peer's ``Metadata`` confirms it has them all;
- ``density`` (realtime): ``streams`` streams each sending a 20 ms frame every 20 ms
  for ``seconds`` and receiving 4 ``Results``/s; the p99 of server-send to
  user-receive latency;
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
from collections.abc import Callable, Coroutine
from contextlib import AsyncExitStack, suppress
from typing import Any

import trio

from .peer import SPEAK_CHUNK

FRAME = bytes(640)  # 20 ms of 16 kHz linear16
FRAME_SECONDS = 0.02
API_KEY = "bench-key"
SPEAK_MODEL = "flux-haley-en"
SPEAK_TEXT = "Four score and seven years ago our fathers brought forth a new nation."
SPEAK_JSON = json.dumps({"type": "Speak", "text": SPEAK_TEXT})
Result = dict[str, Any]


def _rss() -> int:
    """Resident memory of this process, in bytes."""
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _latency(transcript: str) -> float:
    """Seconds since the peer stamped ``t=<monotonic>`` on a result."""
    return time.monotonic() - float(transcript[2:])


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

    def add(self, data: bytes) -> None:
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


async def dgtrio_density(url: str, streams: int, seconds: float, **unused: Any) -> Result:
    import dgtrio

    latencies: list[float] = []
    frames = round(seconds / FRAME_SECONDS)

    async def stream(offset: float) -> None:
        async with (
            _dgtrio_listen(url) as conn,
            trio.open_nursery() as nursery,
        ):

            async def send() -> None:
                start = trio.current_time() + offset
                for index in range(frames):
                    await trio.sleep_until(start + index * FRAME_SECONDS)
                    await conn.send_audio(FRAME)
                await conn.close_stream()

            nursery.start_soon(send)
            async for message in conn:
                if isinstance(message, dgtrio.ListenV1Results):
                    latencies.append(_latency(message.transcript))

    async with trio.open_nursery() as nursery:
        for index in range(streams):
            nursery.start_soon(stream, FRAME_SECONDS * index / streams)
    return {"p99_seconds": _p99(latencies), "results": len(latencies), "streams": streams}


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
        await ws.send_message('{"type":"CloseStream"}')
        while '"Metadata"' not in (await ws.get_message()):
            pass
        return _timed(count * len(FRAME), started, "bytes")


async def trio_websocket_density(url: str, streams: int, seconds: float, **unused: Any) -> Result:
    import orjson

    latencies: list[float] = []
    frames = round(seconds / FRAME_SECONDS)

    async def stream(offset: float) -> None:
        async with _trio_websocket(url) as ws, trio.open_nursery() as nursery:

            async def send() -> None:
                start = trio.current_time() + offset
                for index in range(frames):
                    await trio.sleep_until(start + index * FRAME_SECONDS)
                    await ws.send_message(FRAME)
                await ws.send_message('{"type":"CloseStream"}')

            nursery.start_soon(send)
            while True:
                data = orjson.loads(await ws.get_message())
                if data["type"] == "Metadata":
                    return
                latencies.append(_latency(data["channel"]["alternatives"][0]["transcript"]))

    async with trio.open_nursery() as nursery:
        for index in range(streams):
            nursery.start_soon(stream, FRAME_SECONDS * index / streams)
    return {"p99_seconds": _p99(latencies), "results": len(latencies), "streams": streams}


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


async def sdk_density(url: str, streams: int, seconds: float, **unused: Any) -> Result:
    from deepgram.listen.v1.types import ListenV1Results

    client = _sdk(url)
    latencies: list[float] = []
    frames = round(seconds / FRAME_SECONDS)
    loop = asyncio.get_running_loop()

    async def stream(offset: float) -> None:
        async with _sdk_connect(client) as socket:

            async def send() -> None:
                start = loop.time() + offset
                for index in range(frames):
                    await asyncio.sleep(max(0.0, start + index * FRAME_SECONDS - loop.time()))
                    await socket.send_media(FRAME)
                await socket.send_close_stream()

            sender = asyncio.create_task(send())
            async for message in socket:
                if isinstance(message, ListenV1Results):
                    latencies.append(_latency(message.channel.alternatives[0].transcript))
            await sender

    await asyncio.gather(*(stream(FRAME_SECONDS * i / streams) for i in range(streams)))
    return {"p99_seconds": _p99(latencies), "results": len(latencies), "streams": streams}


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
        await ws.send('{"type":"CloseStream"}')
        while '"Metadata"' not in str(await ws.recv()):
            pass
        return _timed(count * len(FRAME), started, "bytes")


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
    "websockets": {
        "receive": websockets_receive,
        "upload": websockets_upload,
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
    parser.add_argument("--seconds", type=float, default=2.0)
    args = parser.parse_args()
    result = run(
        args.client,
        args.workload,
        args.url,
        count=args.count,
        streams=args.streams,
        seconds=args.seconds,
    )
    json.dump(result, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
