"""``python -m bench.peer``, the benchmarks' raw-asyncio Listen v1 peer, with every client."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import os
import signal
import socket
import struct
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import orjson
import pytest
import trio
import trio_websocket
import websockets
from websockets.typing import Subprotocol

import dgtrio
from bench.peer import RESULTS_FRAME_JSON, serve
from bench.sdk_client import sdk_client
from dgtrio.listen.v1._messages import CODEC

from .conftest import ROOT

OPTIONS = dgtrio.ListenV1Options(encoding="linear16", sample_rate=16000)
HANDSHAKE = (
    "GET /v1/listen?encoding=linear16 HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
    "Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
)
CLOSE_1000 = b"\x88\x02\x03\xe8"


@contextmanager
def run_peer(mode: str, count: int = 0) -> Iterator[str]:
    """``python -m bench.peer`` as a process: its ws:// URL. It must exit 0, quietly."""
    command = [sys.executable, "-m", "bench.peer", mode, "--count", str(count)]
    process = subprocess.Popen(
        command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        assert process.stdout is not None
        word, port = process.stdout.readline().split()
        assert word == "PORT"
        yield f"ws://127.0.0.1:{port}"
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            out, err = process.communicate(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            raise
    assert (process.returncode, out, err) == (0, "", "")


def raw_connect(url: str) -> socket.socket:
    """A plain socket past the handshake (masking key 0: payloads go as they are)."""
    sock = socket.create_connection(("127.0.0.1", int(url.rsplit(":", 1)[1])), timeout=5)
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall(HANDSHAKE.format(key=key).encode())
    response = b""
    while b"\r\n\r\n" not in response:
        response += sock.recv(1)
    assert response.startswith(b"HTTP/1.1 101 ")
    return sock


def masked(opcode: int, payload: bytes, fin: bool = True) -> bytes:
    """A client frame with a zero masking key."""
    first = (0x80 if fin else 0) | opcode
    if len(payload) < 126:
        return struct.pack("!BB4x", first, 0x80 | len(payload)) + payload
    if len(payload) < 1 << 16:
        return struct.pack("!BBH4x", first, 0x80 | 126, len(payload)) + payload
    return struct.pack("!BBQ4x", first, 0x80 | 127, len(payload)) + payload


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # the SDK's websockets imports
def test_results_template_is_a_listen_v1_results_for_dgtrio_and_the_sdk() -> None:
    from deepgram.listen.v1.types import ListenV1Results

    assert 1800 < len(RESULTS_FRAME_JSON) < 2000
    message = CODEC.decode(RESULTS_FRAME_JSON.decode())
    assert isinstance(message, dgtrio.ListenV1Results)
    assert len(message.words) == 15
    assert message.is_final
    assert message.metadata.model_info is not None
    parsed = ListenV1Results.model_validate(orjson.loads(RESULTS_FRAME_JSON))
    assert len(parsed.channel.alternatives[0].words) == 15


async def test_flood_with_dgtrio() -> None:
    with run_peer("flood", 200) as url:
        async with dgtrio.open_listen(OPTIONS, base_url=url, api_key="x") as conn:
            assert conn.request_id == "bench-1"
            messages = [message async for message in conn]
    assert len(messages) == 201
    results, metadata = messages[:-1], messages[-1]
    assert all(isinstance(m, dgtrio.ListenV1Results) and len(m.words) == 15 for m in results)
    assert isinstance(metadata, dgtrio.ListenV1Metadata)
    assert metadata.request_id == "bench-1"


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # the SDK's websockets imports
def test_flood_with_the_official_sdk() -> None:
    async def receive(url: str) -> list[Any]:
        client = sdk_client(url, "x")
        async with client.listen.v1.connect(
            model="nova-3", encoding="linear16", sample_rate=16000
        ) as sdk_socket:
            return [message async for message in sdk_socket]

    with run_peer("flood", 50) as url:
        messages = asyncio.run(receive(url))
    assert [type(m).__name__ for m in messages] == ["ListenV1Results"] * 50 + ["ListenV1Metadata"]
    words = messages[0].channel.alternatives[0].words
    assert len(words) == 15
    assert type(words[0]).__name__ == "ListenV1ResultsChannelAlternativesItemWordsItem"
    assert messages[-1].request_id == "bench-1"


async def test_speak_with_dgtrio_decodes_every_message() -> None:
    with run_peer("speak", 5) as url:
        async with dgtrio.open_flux_speak(base_url=url, api_key="x") as tts:
            turn = tts.turn("Hello there.")
            audio = [message async for message in turn]
            await tts.close()
            rest = [message async for message in tts]
    assert [type(m) for m in audio] == [dgtrio.SpeakV2Audio] * 5
    assert sum(len(m.data) for m in audio) == 5 * 4800
    assert isinstance(turn.end_message, dgtrio.SpeakV2SpeechMetadata)
    assert [type(m).__name__ for m in rest] == [
        "SpeakV2Connected",
        "SpeakV2SpeechStarted",
        "SpeakV2Flushed",
        "SpeakV2SessionMetadata",
    ]


async def test_sink_with_dgtrio_counts_the_audio() -> None:
    with run_peer("sink") as url:
        async with dgtrio.open_listen(OPTIONS, base_url=url, api_key="x") as conn:
            for _ in range(100):
                await conn.send_audio(bytes(640))
            await conn.close_stream()
            messages = [message async for message in conn]
    assert len(messages) == 1
    metadata = messages[0]
    assert isinstance(metadata, dgtrio.ListenV1Metadata)
    assert metadata.raw["bench_bytes"] == 64000
    # dgtrio joins audio frames queued behind each other into one message.
    assert 1 <= metadata.raw["bench_frames"] <= 100
    assert metadata.duration == 2.0


def test_sink_with_websockets_counts_every_frame() -> None:
    # (Not trio-websocket: when the server closes first, its client leaks the socket.)
    async def stream(url: str) -> Any:
        async with websockets.connect(url + "/v1/listen") as ws:
            for _ in range(100):
                await ws.send(bytes(640))
            await ws.send('{"type": "KeepAlive"}')
            await ws.send('{"type": "CloseStream"}')
            metadata = json.loads(await ws.recv())
            with pytest.raises(websockets.ConnectionClosedOK):
                await ws.recv()
        return metadata

    with run_peer("sink") as url:
        metadata = asyncio.run(stream(url))
    assert (metadata["bench_bytes"], metadata["bench_frames"]) == (64000, 100)
    assert metadata["request_id"] == "bench-1"


async def test_realtime_with_dgtrio_stamps_results_with_the_monotonic_clock() -> None:
    with run_peer("realtime") as url:
        began = time.monotonic()
        async with dgtrio.open_listen(OPTIONS, base_url=url, api_key="x") as conn:
            for _ in range(50):
                await conn.send_audio(bytes(640))
            await conn.close_stream()
            messages = [message async for message in conn]
    results = [m for m in messages if isinstance(m, dgtrio.ListenV1Results)]
    metadata = messages[-1]
    assert isinstance(metadata, dgtrio.ListenV1Metadata)
    assert (len(messages), len(results), metadata.duration) == (5, 4, 1.0)
    stamps = [float(m.transcript.removeprefix("t=")) for m in results]
    assert began <= stamps[0] <= stamps[-1] <= time.monotonic()
    assert stamps == sorted(stamps)
    assert all(len(m.words) == 15 for m in results)


async def test_idle_with_trio_websocket() -> None:
    with run_peer("idle") as url:
        async with trio_websocket.open_websocket_url(
            url + "/v1/listen", subprotocols=["token", "sk-x"]
        ) as ws:
            assert ws.subprotocol == "token"
            assert (b"dg-request-id", b"bench-1") in ws.handshake_headers
            with trio.fail_after(2):
                await ws.ping(b"hello")
        assert ws.closed is not None
        assert ws.closed.code == 1000


def test_idle_with_websockets() -> None:
    async def session(url: str) -> None:
        async with websockets.connect(url, subprotocols=[Subprotocol("token")]) as ws:
            assert ws.subprotocol == "token"
            assert ws.response is not None
            assert ws.response.headers["dg-request-id"] == "bench-1"
            await asyncio.wait_for(await ws.ping(), 2)
        assert ws.close_code == 1000

    with run_peer("idle") as url:
        asyncio.run(session(url))


def test_sink_parses_large_fragmented_and_text_frames() -> None:
    audio = masked(2, bytes(100_000)) + masked(2, bytes(640), fin=False) + masked(0, bytes(360))
    keepalive = masked(1, b'{"type":"Keep', fin=False) + masked(0, b'Alive"}')
    with run_peer("sink") as url, raw_connect(url) as sock:
        sock.sendall(audio[:70_001])  # the big frame arrives in pieces
        time.sleep(0.05)
        sock.sendall(audio[70_001:] + keepalive + masked(9, b"hi"))
        assert sock.recv(4) == b"\x8a\x02hi"  # pong
        sock.sendall(masked(1, b'{"type": "CloseStream"}'))
        data = b""
        while not data.endswith(CLOSE_1000):
            data += sock.recv(65536)
        sock.sendall(masked(8, b"\x03\xe8"))
        assert sock.recv(10) == b""  # the peer closes the connection
    metadata = json.loads(data[data.index(b"{") : -len(CLOSE_1000)])
    assert (metadata["bench_bytes"], metadata["bench_frames"]) == (101_000, 2)


def test_flood_writes_exactly_count_frames() -> None:
    with run_peer("flood", 1000) as url, raw_connect(url) as sock:
        data = b""
        while not data.endswith(CLOSE_1000):
            data += sock.recv(1 << 20)
        sock.sendall(masked(8, b"\x03\xe8"))
    frame = b"\x81\x7e" + struct.pack("!H", len(RESULTS_FRAME_JSON)) + RESULTS_FRAME_JSON
    assert data.startswith(frame * 1000 + b"\x81")
    assert json.loads(data[len(frame) * 1000 + 4 : -4])["type"] == "Metadata"


def test_a_request_that_is_not_a_websocket_upgrade_gets_400() -> None:
    with run_peer("idle") as url:
        port = int(url.rsplit(":", 1)[1])
        with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
            sock.sendall(b"GET /v1/listen HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            response = b""
            while chunk := sock.recv(4096):
                response += chunk
    assert response.startswith(b"HTTP/1.1 400 ")


def test_serve_in_process() -> None:
    async def session() -> None:
        with pytest.raises(ValueError, match="unknown mode"):
            await serve("burst", 0)
        ready: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        server = asyncio.create_task(serve("idle", 0, ready=ready.set_result))
        reader, writer = await asyncio.open_connection("127.0.0.1", await ready)
        key = base64.b64encode(os.urandom(16)).decode()
        writer.write(HANDSHAKE.format(key=key).encode() + masked(8, b"\x03\xe9bye"))
        response = await reader.readuntil(b"\r\n\r\n")
        accept = b"Sec-WebSocket-Accept: " + base64.b64encode(
            hashlib.sha1(key.encode() + b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11").digest()
        )
        assert accept in response
        assert await reader.read() == b"\x88\x02\x03\xe9"  # the code echoed, then EOF
        writer.close()
        server.cancel()
        with pytest.raises(asyncio.CancelledError):
            await server

    asyncio.run(session())
