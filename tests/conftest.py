"""Shared fixtures: the fake server on loopback, a silent peer, audio helpers."""

from __future__ import annotations

import math
import os
import ssl
import struct
from collections.abc import AsyncIterator, Awaitable, Callable
from functools import partial
from pathlib import Path
from typing import Any

import attrs
import pytest
import trio
import trio_websocket
import trustme

import dgtrio
from dgtrio import ConnectOptions
from dgtrio import agent as ag
from dgtrio.testing import FakeDeepgram

pytest_plugins = ["dgtrio.testing.pytest_plugin"]

API_KEY = "sk-test-5f0c1e9ab2d74c3e"  # distinctive, so that a leak is easy to grep for
ROOT = Path(__file__).resolve().parent.parent
HELLO_WAV = ROOT / "examples" / "audio" / "hello.wav"
RECORDED = ROOT / "tests" / "fixtures" / "recorded"


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("DEEPGRAM_API_KEY", "DEEPGRAM_ACCESS_TOKEN", "DEEPGRAM_BASE_URL"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
async def fake(nursery: trio.Nursery) -> FakeDeepgram:
    """The fake server, requiring ``API_KEY``."""
    server = FakeDeepgram(api_key=API_KEY)
    await nursery.start(server.serve)
    return server


@pytest.fixture
def connect(fake: FakeDeepgram) -> ConnectOptions:
    """The connection keywords that reach ``fake``."""
    return {"base_url": fake.url, "api_key": API_KEY}


def tls_pair() -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """Server and client TLS contexts for 127.0.0.1, signed by a fresh test CA."""
    ca = trustme.CA()
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(server)
    client = ssl.create_default_context()
    ca.configure_trust(client)
    return server, client


def pcm16(seconds: float, *, rate: int = 16000, frequency: float = 440.0) -> bytes:
    """A sine tone as 16-bit little-endian mono PCM."""
    count = round(seconds * rate)
    return struct.pack(
        f"<{count}h",
        *(int(8000 * math.sin(2 * math.pi * frequency * i / rate)) for i in range(count)),
    )


def frames(data: bytes, size: int = 640) -> list[bytes]:
    return [data[i : i + size] for i in range(0, len(data), size)]


@attrs.define
class SilentPeer:
    """A WebSocket server that accepts, records what it gets and never answers."""

    url: str = ""
    received: list[tuple[float, str | bytes]] = attrs.Factory(list)
    close: tuple[int, str | None] | None = None
    closed: trio.Event = attrs.Factory(trio.Event)

    async def handle(self, request: trio_websocket.WebSocketRequest) -> None:
        ws = await request.accept(extra_headers=[(b"dg-request-id", b"silent-1")])
        while True:
            try:
                message = await ws.get_message()
            except trio_websocket.ConnectionClosed as exc:
                self.close = None if exc.reason is None else (exc.reason.code, exc.reason.reason)
                self.closed.set()
                return
            self.received.append((trio.current_time(), message))


@pytest.fixture
async def silent_peer(nursery: trio.Nursery) -> SilentPeer:
    peer = SilentPeer()
    server = await nursery.start(trio_websocket.serve_websocket, peer.handle, "127.0.0.1", 0, None)
    peer.url = f"ws://127.0.0.1:{server.port}"
    return peer


async def tcp_listener(
    nursery: trio.Nursery, handler: Callable[[trio.SocketStream], Awaitable[None]]
) -> int:
    """Serve raw TCP on 127.0.0.1 with ``handler``; returns the port."""
    listeners: list[trio.SocketListener] = await nursery.start(
        partial(trio.serve_tcp, handler, 0, host="127.0.0.1")
    )
    port: int = listeners[0].socket.getsockname()[1]
    return port


async def aiter_list(items: list[bytes]) -> AsyncIterator[bytes]:
    """An async generator over ``items``: an audio source for ``audio=``."""
    for item in items:
        yield item


def _missing_audio() -> str | None:
    """Why this machine cannot play and record, or ``None`` if it can."""
    try:
        import pyaudio
    except ImportError as exc:
        return f"PyAudio is not installed ({exc})"
    backend = pyaudio.PyAudio()
    try:
        backend.get_default_input_device_info()
        backend.get_default_output_device_info()
    except OSError as exc:
        return f"no default input and output device ({exc})"
    finally:
        backend.terminate()
    return None


@pytest.fixture
def sound_card() -> None:
    """Skip a test that needs a default microphone and speaker where there are none,
    except in CI, where it fails."""
    missing = _missing_audio()
    if missing is None:
        return
    if os.environ.get("CI") == "true":
        pytest.fail(f"CI must run the PortAudio test, but {missing}: see .ci/run")
    pytest.skip(f"{missing}: .ci/run shows the system packages and the virtual sound card")


async def collect(
    conn: Any, seen: list[Any] | None = None, until: Callable[[], bool] | None = None
) -> list[Any]:
    """Messages (and MessageDecodeErrors) until the end or ``until()``, into ``seen``."""
    seen = [] if seen is None else seen
    while until is None or not until():
        try:
            seen.append(await conn.receive())
        except dgtrio.MessageDecodeError as exc:
            seen.append(exc)
        except trio.EndOfChannel:
            break
    return seen


def agent_settings(**agent: Any) -> ag.AgentV1Settings:
    """Agent settings that work with the fake: Nova, an OpenAI model, an Aura voice,
    and linear16 at 16 kHz both ways; ``agent`` sets more of ``AgentConfig``."""
    return ag.AgentV1Settings(
        agent=ag.AgentConfig(
            listen=ag.Listen(provider=ag.DeepgramListenV1(model="nova-3")),
            think=ag.Think(provider=ag.OpenAiThink(model="gpt-4o-mini"), prompt="Be brief."),
            speak=ag.Speak(provider=ag.DeepgramSpeak(model="aura-2-thalia-en")),
            **agent,
        ),
        audio=ag.AudioConfig(
            input=ag.AudioInput(encoding="linear16", sample_rate=16000),
            output=ag.AudioOutput(encoding="linear16", sample_rate=16000),
        ),
    )
