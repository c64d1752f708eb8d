"""The reader: the task that takes the socket's frames, decodes them, and delivers.

For each frame, in order: count it, decode it (a failure is delivered in its place),
let the core make sense of it (rebase, fatal error, acknowledgement), hand it to a
waiting request, route speech to the speaker (barge-in clears it), and queue it for
``receive()``. The inbox is bounded: a consumer that falls behind stops this task,
and so the socket. When the socket closes, the core says whether that ends the
connection or a new socket is to be dialled.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

import trio

from .._codec import UnknownMessage
from .._errors import ConnectionClosed, MessageDecodeError
from .._transport import Transport, TransportClosed
from ..audio._format import AudioSink
from ._core import StreamCore
from ._drivers import Liveness
from ._queue import Queue
from ._waiters import Waiters

__all__ = ["Reader"]

log = logging.getLogger("dgtrio")

M = TypeVar("M")


class Reader(Generic[M]):
    """Reads the current socket until the connection ends (see the module docstring)."""

    __slots__ = (
        "_core",
        "_inbox",
        "_liveness",
        "_next_socket",
        "_socket",
        "_speaker",
        "_waiters",
    )

    def __init__(
        self,
        core: StreamCore[M],
        waiters: Waiters[M | UnknownMessage],
        inbox: Queue[M | UnknownMessage | MessageDecodeError],
        socket: Callable[[], Transport],
        next_socket: Callable[[ConnectionClosed | None], Awaitable[bool]],
        liveness: Liveness,
        speaker: AudioSink | None,
    ) -> None:
        self._core = core
        self._waiters = waiters
        self._inbox = inbox
        self._socket = socket
        # Called with the failure to recover from (None: the connection ended):
        # True once a new socket is up.
        self._next_socket = next_socket
        self._liveness = liveness
        self._speaker = speaker

    async def run(self) -> None:
        core = self._core
        try:
            while True:
                closed = await self._read(self._socket())
                lost = core.socket_closed(closed.code, closed.reason, too_large=closed.too_large)
                if not await self._next_socket(lost):
                    return
        except trio.BrokenResourceError:
            pass  # the user closed the channel: nobody is listening any more
        finally:
            self._inbox.close_sending()
            self._waiters.wake_all()

    async def _read(self, transport: Transport) -> TransportClosed:
        """Decode and deliver the socket's frames, in order, until it closes."""
        core, waiters, inbox, liveness = self._core, self._waiters, self._inbox, self._liveness
        receive, decode = transport.receive, core.spec.codec.decode
        received, speaker = core.received, self._speaker
        speech, barge_in = core.spec.speech, core.spec.barge_in
        meaning = core.message if core.reads_messages else None
        audible = core.adapter.audible
        item: M | UnknownMessage | MessageDecodeError
        while True:
            try:
                frame = await receive()
            except TransportClosed as closed:
                return closed
            received(len(frame))
            liveness.audio_since = None  # the server answers
            try:
                item = decode(frame)
            except MessageDecodeError as exc:
                core.undecodable()
                log.warning("%s", exc)  # the text names the API
                item = exc
            else:
                if meaning is not None:
                    item = meaning(item)
                if waiters:
                    waiters.notify(item)
                if speech is not None and isinstance(item, speech):
                    # Speech meant to be silenced (a clear on its way) is dropped
                    # here, not queued: the inbox never fills with what nobody will
                    # hear, so the reply that ends the silence always gets through.
                    heard = audible()
                    core.speech(audible=heard)
                    if not heard:
                        continue
                    # Played here, not in the user's loop: playback neither waits
                    # for it nor lags behind it.
                    if speaker is not None:
                        await speaker.play(item.data)
                elif barge_in is not None and speaker is not None and isinstance(item, barge_in):
                    speaker.clear()
            try:
                # No yield while the inbox has room: the loop takes every frame
                # the transport has parsed already before the user's task runs.
                inbox.put_nowait(item)
            except trio.WouldBlock:
                await inbox.put(item)
