"""A simulated Twilio Media Streams caller, to test a phone service without Twilio.

::

    caller = SimulatedCall(auth_token=TOKEN, public_url="wss://calls.example.com/phone")
    await caller.run("ws://127.0.0.1:8080/phone", behaviour)  # behaviour(caller)

``SimulatedCall`` connects to the service as Twilio would (the upgrade signed with
``X-Twilio-Signature`` for ``public_url`` when given an ``auth_token``): ``connected``, ``start``,
then one ``media`` event of 20 ms of mu-law (160 bytes at 8 kHz) every 20 ms of
real time, the caller's speech (a tone) or silence, for as long as the call lasts,
and ``stop`` at the end. It "plays" the media it gets at real-time speed (or
``playback_speed`` times faster), echoes each ``mark`` once the audio before it has
played, and on ``clear`` drops the audio not played yet and echoes the marks that
were waiting at once, as Twilio does.
"""

from __future__ import annotations

import base64
import json
import math
import struct
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import urlsplit

import attrs
import trio
import trio_websocket

from dgtrio.audio import from_linear16

from ._twilio import twilio_signature

__all__ = ["SimulatedCall", "connect", "speech"]

FRAME_SECONDS = 0.02
FRAME_BYTES = 160  # 20 ms of mu-law at 8 kHz
SILENCE = b"\xff" * FRAME_BYTES  # mu-law's zero


def speech(seconds: float, frequency: float = 300.0) -> list[bytes]:
    """A tone the fake agent hears as speech, in 20 ms mu-law frames."""
    count = round(seconds / FRAME_SECONDS) * FRAME_BYTES
    pcm = struct.pack(
        f"<{count}h",
        *(int(8000 * math.sin(2 * math.pi * frequency * i / 8000)) for i in range(count)),
    )
    audio = from_linear16(pcm, "mulaw")
    return [audio[i : i + FRAME_BYTES] for i in range(0, len(audio), FRAME_BYTES)]


@asynccontextmanager
async def connect(
    url: str, *, headers: Sequence[tuple[bytes, bytes]] = ()
) -> AsyncIterator[trio_websocket.WebSocketConnection]:
    """A WebSocket to ``url``, as Twilio opens one; a refused upgrade raises
    ``trio_websocket.ConnectionRejected`` (its status and body)."""
    target = urlsplit(url)
    host, port = target.hostname or "127.0.0.1", target.port or 80
    stream = await trio.open_tcp_stream(host, port)
    try:
        try:
            async with trio.open_nursery() as connection:
                ws = await trio_websocket.wrap_client_stream(
                    connection, stream, host, target.path or "/", extra_headers=list(headers)
                )
                try:
                    yield ws
                finally:
                    with trio.move_on_after(1):
                        await ws.aclose()
        except BaseExceptionGroup as group:
            first = group
            while isinstance(first, BaseExceptionGroup) and len(first.exceptions) == 1:
                first = first.exceptions[0]
            if isinstance(first, trio_websocket.HandshakeError):
                raise first from None
            raise
    finally:
        # trio-websocket leaves the socket open when the server closed first and the
        # block is left at once: closed here, always.
        await trio.aclose_forcefully(stream)


@attrs.define(eq=False)
class SimulatedCall:
    """One caller: :meth:`run` makes the call, ``behaviour(caller)`` is what the
    caller does (``say``, ``wait_for_marks``...); when it returns the caller sends
    ``stop`` and closes, as Twilio does at hang-up.

    ``auth_token`` signs the upgrade for ``public_url`` (default: the URL called), as
    Twilio does; ``go_silent()`` stops the caller's media, as a Twilio socket gone
    half-open would."""

    stream_sid: str = "MZ00000000000000000000000000000001"
    call_sid: str = "CA00000000000000000000000000000001"
    account_sid: str = "AC00000000000000000000000000000000"
    auth_token: str | None = None
    public_url: str | None = None
    custom_parameters: dict[str, str] = attrs.Factory(dict)
    playback_speed: float = 1.0
    events: list[dict[str, Any]] = attrs.Factory(list)  # everything received
    media_times: list[tuple[float, int]] = attrs.Factory(list)  # (arrival, bytes)
    marks_echoed: list[str] = attrs.Factory(list)
    clears: int = 0
    played_bytes: int = 0
    close_code: int | None = None
    _speech: deque[bytes] = attrs.Factory(deque)
    _playback: deque[tuple[str, bytes | str]] = attrs.Factory(deque)
    _playing: trio.CancelScope | None = None
    _changed: trio.Event = attrs.Factory(trio.Event)
    _ws: trio_websocket.WebSocketConnection | None = None
    _sequence: int = 0
    _silent: bool = False

    @property
    def media_bytes(self) -> int:
        return sum(size for _, size in self.media_times)

    @property
    def hung_up(self) -> bool:
        return self.close_code is not None

    def go_silent(self) -> None:
        """Send nothing more (no media, no mark echoes), as over a socket gone
        half-open; what the server sends is still read, to see it hang up."""
        self._silent = True
        self._notify()

    def say(self, frames: list[bytes]) -> None:
        """Speak these frames next (then silence again)."""
        self._speech.extend(frames)
        self._notify()

    async def press(self, digit: str) -> None:
        """Press a key: a ``dtmf`` event."""
        await self._send(
            {
                "event": "dtmf",
                "streamSid": self.stream_sid,
                "dtmf": {"track": "inbound_track", "digit": digit},
            }
        )

    async def until(self, condition: Callable[[], bool]) -> None:
        """Wait until ``condition()`` holds (checked whenever something happens)."""
        while not condition():
            await self._changed.wait()

    async def wait_for_marks(self, count: int) -> None:
        await self.until(lambda: len(self.marks_echoed) >= count or self.hung_up)

    async def wait_for_media(self) -> None:
        await self.until(lambda: bool(self.media_times) or self.hung_up)

    def _notify(self) -> None:
        self._changed.set()
        self._changed = trio.Event()

    async def _send(self, event: dict[str, Any]) -> None:
        assert self._ws is not None
        if self._silent:
            return
        self._sequence += 1
        if event["event"] != "connected":
            event = {"sequenceNumber": str(self._sequence), **event}
        try:
            await self._ws.send_message(json.dumps(event))
        except trio_websocket.ConnectionClosed:
            pass  # the server ended the call: the reader sees why

    async def run(
        self,
        url: str,
        behaviour: Callable[[SimulatedCall], Awaitable[None]],
    ) -> None:
        """The whole call: connect, start, stream, ``behaviour(self)``, stop, close."""
        headers = []
        if self.auth_token is not None:
            signature = twilio_signature(self.auth_token, self.public_url or url)
            headers.append((b"x-twilio-signature", signature.encode()))
        async with connect(url, headers=headers) as ws:
            self._ws = ws
            await self._call(behaviour)

    async def _call(self, behaviour: Callable[[SimulatedCall], Awaitable[None]]) -> None:
        await self._send({"event": "connected", "protocol": "Call", "version": "1.0.0"})
        await self._send(
            {
                "event": "start",
                "streamSid": self.stream_sid,
                "start": {
                    "streamSid": self.stream_sid,
                    "accountSid": self.account_sid,
                    "callSid": self.call_sid,
                    "tracks": ["inbound"],
                    "customParameters": self.custom_parameters,
                    "mediaFormat": {
                        "encoding": "audio/x-mulaw",
                        "sampleRate": 8000,
                        "channels": 1,
                    },
                },
            }
        )
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._reader)
            nursery.start_soon(self._microphone)
            nursery.start_soon(self._player)
            await behaviour(self)
            if self._silent:
                await self.until(lambda: self.hung_up)  # the server must notice
            elif not self.hung_up:
                await self._send(
                    {
                        "event": "stop",
                        "streamSid": self.stream_sid,
                        "stop": {"accountSid": self.account_sid, "callSid": self.call_sid},
                    }
                )
                # The server closes once the call is over; give it a moment.
                with trio.move_on_after(5):
                    await self.until(lambda: self.hung_up)
            nursery.cancel_scope.cancel()

    async def _microphone(self) -> None:
        """20 ms of audio every 20 ms: speech when there is some, silence otherwise."""
        start = trio.current_time()
        for chunk in range(1, 1 << 62):
            frame = self._speech.popleft() if self._speech else SILENCE
            payload = base64.b64encode(frame).decode("ascii")
            await self._send(
                {
                    "event": "media",
                    "streamSid": self.stream_sid,
                    "media": {
                        "track": "inbound",
                        "chunk": str(chunk),
                        "timestamp": str(round((chunk - 1) * FRAME_SECONDS * 1000)),
                        "payload": payload,
                    },
                }
            )
            if self.hung_up:
                return
            await trio.sleep_until(start + chunk * FRAME_SECONDS)

    async def _reader(self) -> None:
        assert self._ws is not None
        try:
            while True:
                event = json.loads(await self._ws.get_message())
                self.events.append(event)
                kind = event.get("event")
                if kind == "media":
                    audio = base64.b64decode(event["media"]["payload"])
                    self.media_times.append((trio.current_time(), len(audio)))
                    self._playback.append(("audio", audio))
                elif kind == "mark":
                    self._playback.append(("mark", event["mark"]["name"]))
                elif kind == "clear":
                    self.clears += 1
                    if self._playing is not None:
                        self._playing.cancel()
                    marks = [item for kind_, item in self._playback if kind_ == "mark"]
                    self._playback.clear()
                    for name in marks:  # Twilio echoes the marks a clear skipped
                        assert isinstance(name, str)
                        await self._echo(name)
                self._notify()
        except trio_websocket.ConnectionClosed as exc:
            self.close_code = exc.reason.code if exc.reason is not None else 1006
            self._notify()

    async def _player(self) -> None:
        while True:
            if not self._playback:
                await self._changed.wait()
                continue
            kind, item = self._playback.popleft()
            if kind == "mark":
                assert isinstance(item, str)
                await self._echo(item)
                continue
            assert isinstance(item, bytes)
            with trio.CancelScope() as self._playing:
                await trio.sleep(len(item) / 8000 / self.playback_speed)
                self.played_bytes += len(item)
            self._playing = None

    async def _echo(self, name: str) -> None:
        if self.hung_up or self._silent:
            return  # a mark played after the server hung up is never echoed
        self.marks_echoed.append(name)
        await self._send({"event": "mark", "streamSid": self.stream_sid, "mark": {"name": name}})
        self._notify()
