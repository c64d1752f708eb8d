"""Faults: make a server connection fail the ways a real network or server does.

::

    fake = FakeDeepgram(faults=[Fault("delay", seconds=0.3)])  # every session
    fake.fault_next(Fault("abort", at=2.0))  # the next session only

A fault acts ``at`` seconds of trio time after the session was accepted, so that
``trio.testing.MockClock`` makes every timing exact. Each one applied is recorded in
:attr:`Session.faults <dgtrio.server.Session.faults>` with its time.
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable
from typing import Literal, get_args

import attrs
import trio
import trio_websocket

__all__ = ["Fault", "FaultKind"]

FaultKind = Literal[
    "abort",
    "close",
    "half_open",
    "slow_reader",
    "stall",
    "delay",
    "duplicate",
    "reorder",
    "malformed_json",
    "unknown_type",
    "huge_message",
    "handshake_timeout",
]
# The frame a huge_message pads to its size: valid JSON of a type no client knows.
_HUGE_HEAD, _HUGE_TAIL = '{"type":"SomethingHuge","data":"', '"}'
# A Results message cut short, as a frame truncated by a buggy proxy would be.
_MALFORMED = '{"type":"Results","channel_index":[0,1],"duration":1.02,"is_final":tr'
# A message of a type the client does not know yet, as a newer server would send.
_UNKNOWN = '{"type":"SomethingNew","detail":"newer than the client"}'


@attrs.frozen
class Fault:
    """One scripted failure of a session.

    Kinds (each at ``at`` seconds after the session was accepted):

    - ``abort``: drop the TCP connection without a close frame (the client sees 1006).
    - ``close``: close with ``code`` and ``reason`` (default 1011 ``NET-0000``).
    - ``half_open``: stop reading and writing but keep the TCP connection open, as a
      peer that vanished would: the client's close frame goes unanswered and its
      writes back up once the socket buffers are full. The session is held until
      the server stops; :meth:`Session.wait_closed` returns at once.
    - ``slow_reader``: from then on, wait ``seconds`` before taking each client frame.
    - ``stall``: take no client frame for ``seconds``, then go on as before: the
      client's writes back up once the socket buffers are full (backpressure).
    - ``delay``: from then on, hold each server message ``seconds`` before it is
      written, in order (latency: the behaviour is not slowed; the close frame is
      held too).
    - ``duplicate``: from then on, write each server message twice.
    - ``reorder``: from then on, write server messages in swapped pairs (the first
      of a pair waits for the second, or for the close).
    - ``malformed_json``: send one text frame of invalid JSON (a truncated Results).
    - ``unknown_type``: send one ``{"type": "SomethingNew", ...}`` message.
    - ``huge_message``: send one text frame of ``size`` bytes (valid JSON of an
      unknown type, holding a long string).
    - ``handshake_timeout``: never answer the HTTP upgrade (``at`` is ignored); no
      session is created, and the connection is held until the server stops.

    The behaviour is cancelled by ``abort``, ``close`` and ``half_open``; faults
    due after those never apply. Frames the faults send are recorded in
    :attr:`Session.sent` like any other.

    Raises:
        ValueError: an unknown kind, a negative ``at`` or ``seconds``, a ``code``
            outside 1000-4999, or a ``size`` too small for the JSON around the text.
    """

    kind: FaultKind = attrs.field(validator=attrs.validators.in_(get_args(FaultKind)))
    at: float = attrs.field(default=0.0, validator=attrs.validators.ge(0))
    code: int = attrs.field(
        default=1011, validator=[attrs.validators.ge(1000), attrs.validators.le(4999)]
    )
    reason: str = "NET-0000"
    seconds: float = attrs.field(default=1.0, validator=attrs.validators.ge(0))
    size: int = attrs.field(
        default=10 * 1024 * 1024, validator=attrs.validators.ge(len(_HUGE_HEAD + _HUGE_TAIL))
    )


class Wire:
    """The server's sending side: every server frame goes out through here, in order.

    ``write`` records and writes one frame; the send-side faults act around it.
    """

    def __init__(self, write: Callable[[str | bytes], Awaitable[None]]) -> None:
        self._write = write
        self.duplicate = False
        self.reorder = False
        self._held: str | bytes | None = None  # reorder: the first of a pair
        self._delay = 0.0
        self._delayed: trio.MemorySendChannel[tuple[float, str | bytes]] | None = None
        self._drained = trio.Event()

    async def send(self, data: str | bytes) -> None:
        if self._delayed is None:
            await self._out(data)
            return
        try:
            self._delayed.send_nowait((trio.current_time() + self._delay, data))
        except trio.BrokenResourceError:
            pass  # the client is gone; the behaviour's next receive() says so

    def start_delay(self, nursery: trio.Nursery, seconds: float) -> None:
        """Hold each later message ``seconds``; a second delay changes the latency."""
        self._delay = seconds
        if self._delayed is None:
            self._delayed, delayed = trio.open_memory_channel[tuple[float, str | bytes]](math.inf)
            nursery.start_soon(self._pump, delayed)

    async def flush(self) -> None:
        """Write what the faults hold back, before a close frame, which comes last
        (delayed like the rest)."""
        if self._delayed is not None:
            due = trio.current_time() + self._delay
            self._delayed.close()
            self._delayed = None
            await self._drained.wait()
            await trio.sleep_until(due)
        if self._held is not None:
            held, self._held = self._held, None
            try:
                await self._write(held)
            except trio_websocket.ConnectionClosed:
                pass  # the client closed first: close() has nothing to do either

    async def _out(self, data: str | bytes) -> None:
        frames = [data]
        if self.reorder:
            if self._held is None:
                self._held = data  # it goes out after the next one
                return
            frames.append(self._held)
            self._held = None
        for frame in frames:
            for _ in range(2 if self.duplicate else 1):
                await self._write(frame)

    async def _pump(self, delayed: trio.MemoryReceiveChannel[tuple[float, str | bytes]]) -> None:
        try:
            with delayed:
                async for due, data in delayed:
                    await trio.sleep_until(due)
                    # Never a frame cut short: cancellation waits for the write.
                    with trio.CancelScope(shield=True):
                        await self._out(data)
        except trio_websocket.ConnectionClosed:
            pass  # later messages are dropped, as a dead socket would
        finally:
            self._drained.set()


def injected_frame(fault: Fault) -> str | None:
    """The text frame ``fault`` sends when it applies, or None for a kind that sends none."""
    if fault.kind == "malformed_json":
        return _MALFORMED
    if fault.kind == "unknown_type":
        return _UNKNOWN
    if fault.kind == "huge_message":
        padding = "x" * (fault.size - len(_HUGE_HEAD + _HUGE_TAIL))
        return _HUGE_HEAD + padding + _HUGE_TAIL
    return None
