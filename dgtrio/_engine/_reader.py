"""The reader: the task that takes the socket's frames, decodes them, and delivers.

For each frame, in order: count it, decode it (a failure is delivered in its place),
let the core make sense of it (rebase, fatal error, acknowledgement), hand it to a
waiting request, route speech to the speaker (barge-in clears it), and queue it for
``receive()``. The inbox is bounded: a consumer that falls behind stops this task,
and so the socket. When the socket closes, the core says whether that ends the
connection or a new socket is to be dialled.

While a consumer keeps waiting in ``receive()`` with nothing buffered, its own task
reads the socket and takes each frame the same way (:meth:`Reader.receive`), and
the reader task parks. A message then reaches the consumer in the task that epoll
wakes, not one scheduler batch later: at hundreds of streams that hop, not the
CPU, is what bounds how many run in real time. The reader takes the socket back
once the consumer has stayed away for ``_AWAY`` seconds, and at once when anything
else needs it read (a request's reply, the stall watchdog, the close). A connection
with a speaker, or one that delivers messages of its own (the agent's tool results),
never lends the socket: playback must not wait for the consumer, and a consumer
waiting on the socket would not see a delivered message.
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

# How long the consumer may stay out of receive() before the reader takes the
# socket back: longer than a consumer's work on one message (a parked reader checks
# once per period, so this is also what a parked connection costs), shorter than
# any peer's ping timeout.
_AWAY = 5.0


class Reader(Generic[M]):
    """Reads the current socket until the connection ends (see the module docstring)."""

    __slots__ = (
        "_came",
        "_consuming",
        "_core",
        "_handoff",
        "_inbox",
        "_liveness",
        "_meaning",
        "_next_socket",
        "_socket",
        "_speaker",
        "_waiters",
        "_woken",
        "lends",
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
        # Whether a consumer waiting in receive() may read the socket itself: not
        # with a speaker to feed, nor if others deliver messages (see Engine.attach).
        self.lends = speaker is None
        self._handoff = False  # the consumer reads while it waits; the task parks
        self._woken: trio.Event | None = None  # set to end the task's park; None: not parked
        # core.message, or None when it has nothing to do: decided once per socket.
        self._meaning: Callable[[M | UnknownMessage], M | UnknownMessage] | None = None
        self._came = False  # the consumer read since the parked task last looked
        self._consuming = False  # the consumer is waiting for the socket now

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
        core = self._core
        self._meaning = core.message if core.reads_messages else None
        inbox, receive, take, waiters = self._inbox, transport.receive, self._take, self._waiters
        speaker, speech = self._speaker, core.spec.speech
        item: M | UnknownMessage | MessageDecodeError | None
        while True:
            if self._handoff and not (waiters or transport.buffered or inbox.awaited):
                # The consumer is not waiting on the inbox (the message it waited
                # for went there): at its next receive(), it reads the socket.
                await self._park()
                continue
            try:
                frame = await receive()
            except TransportClosed as closed:
                return closed
            item = take(frame)
            if item is None:
                continue
            if speaker is not None and speech is not None and isinstance(item, speech):
                # Played here, not in the user's loop: playback neither waits for
                # it nor lags behind it.
                await speaker.play(item.data)
            try:
                # No yield while the inbox has room: the loop takes every frame
                # the transport has parsed already before the user's task runs.
                inbox.put_nowait(item)
            except trio.WouldBlock:
                await inbox.put(item)

    def _take(self, frame: str | bytes) -> M | UnknownMessage | MessageDecodeError | None:
        """One frame from the server, made sense of; None if it is to be dropped."""
        core = self._core
        core.received(len(frame))
        self._liveness.audio_since = None  # the server answers
        try:
            item = core.spec.codec.decode(frame)
        except MessageDecodeError as exc:
            core.undecodable()
            log.warning("%s", exc)  # the text names the API
            return exc
        if self._meaning is not None:
            item = self._meaning(item)
        if self._waiters:
            self._waiters.notify(item)
        spec = core.spec
        if spec.speech is not None and isinstance(item, spec.speech):
            # Speech meant to be silenced (a clear on its way) is dropped here, not
            # queued: the inbox never fills with what nobody will hear, so the reply
            # that ends the silence always gets through.
            heard = core.adapter.audible()
            core.speech(audible=heard)
            if not heard:
                return None
        elif (
            spec.barge_in is not None
            and self._speaker is not None
            and isinstance(item, spec.barge_in)
        ):
            self._speaker.clear()
        return item

    # -- the consumer reading --------------------------------------------------------------

    @property
    def parked(self) -> bool:
        """Whether the consumer reads the socket (:meth:`receive`)."""
        return self._woken is not None

    def hand_over(self) -> None:
        """The consumer waits and nothing is buffered: from the task's next pause on,
        let the consumer read (if the reader :attr:`lends` the socket)."""
        if self.lends:
            self._handoff = True

    async def receive(
        self, turn: Callable[[], Awaitable[None]]
    ) -> M | UnknownMessage | MessageDecodeError | None:
        """The next message, read in the consumer's task while the reader is parked;
        ``turn`` is awaited for a message parsed already (a cancellation point).
        None: the socket closed, and the reader has it now: the answer comes through
        the inbox."""
        transport = self._socket()
        self._came = True
        while True:
            if transport.buffered:
                await turn()
                frame = await transport.receive()  # returns at once
            else:
                self._consuming = True
                try:
                    frame = await transport.receive()
                except TransportClosed:
                    self.wake()  # the reader ends it, or dials again
                    return None
                finally:
                    self._consuming = False
            item = self._take(frame)
            if item is not None:
                return item

    def wake(self) -> None:
        """Take the socket back now: something besides the consumer needs it read."""
        self._handoff = False
        if self._woken is not None:
            self._woken.set()

    async def _park(self) -> None:
        """Wait while the consumer reads: until it stays away for ``_AWAY``, or
        :meth:`wake`."""
        woken = self._woken = trio.Event()
        try:
            while self._handoff:
                self._came = False
                with trio.move_on_after(_AWAY):
                    await woken.wait()
                if not (self._came or self._consuming):
                    self._handoff = False
        finally:
            self._woken = None
