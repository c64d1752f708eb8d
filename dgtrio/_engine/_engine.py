"""The engine of one connection: the core's decisions applied by small trio drivers.

::

    socket ──frames──▶ reader ──decoded messages──▶ inbox (bounded) ──▶ receive()
      (while receive() waits with nothing buffered, its own task reads: see Reader)
                        │ core.message(): rebase, fatal error, acknowledgement
                        │ waiters: the replies awaited calls wait for
                        └ speech ──▶ speaker (barge-in clears it)
    send_audio(), send() ──▶ writer queue (bounded) ──▶ writer ──▶ socket
    keepalive timer ──KeepAlive when nothing went out for a while──▶ writer queue
    audio feeder (audio=...) ──▶ send_audio()
    stall watchdog: audio went out, nothing came back for stall_timeout ──▶ drop
                    (a quiet API's server is pinged halfway; a pong is an answer)

The reader and the writer start first; then the API's opening exchange runs (the
agent's ``Settings``); only then do the timers and the feeder start, and the
caller's block begin. When a socket closes, the core decides: the connection ends
(with which error), or, with ``reconnect=``, the reader dials a new socket and the
writer replays onto it.

Failures are values until the user asks: the reader records why the socket closed,
delivers every message that arrived before, then ``receive()`` raises the typed
error, and every later send raises it too.
"""

from __future__ import annotations

from collections import deque
from collections.abc import AsyncIterable, Awaitable, Callable
from typing import Generic, TypeVar, cast

import trio

from .._codec import UnknownMessage
from .._errors import AudioFormatError, MessageDecodeError
from .._reconnect import ConnectionEvent, ReconnectPolicy
from .._transport import Transport
from ..audio._format import AudioFormat, AudioSink
from ._adapter import Adapter
from ._core import StreamCore
from ._drivers import KeepAlive, Liveness, feed, watch_for_stall
from ._queue import Queue
from ._reader import Reader
from ._requests import Requests
from ._sockets import Sockets
from ._spec import ApiSpec, ConnectionStatistics
from ._waiters import Waiters
from ._writer import Writer

__all__ = ["Engine"]

# receive() takes up to this many buffered messages in a row without a pass through
# the scheduler (it is a cancellation point each time), then yields once.
_BUFFERED_RUN = 16

M = TypeVar("M")


class Engine(Generic[M]):
    """The machinery of one connection: its channel, sends, requests and tasks.

    Each API's public connection class holds one and uses only its public surface
    (``send``, ``send_audio``, ``close_stream``, ``requests`` for replies, ``spawn``,
    ``deliver``, ``reapply``...); what the API's messages mean comes from its
    :class:`Adapter`, set with :meth:`attach`.
    """

    __slots__ = (
        "_audio_queued",
        "_backlog",
        "_close_timeout",
        "_core",
        "_inbox",
        "_keepalive",
        "_liveness",
        "_nursery",
        "_opening",
        "_reader",
        "_receiving",
        "_sockets",
        "_speaker",
        "_unyielded",
        "_waiters",
        "_writer",
        "requests",
    )

    def __init__(
        self,
        spec: ApiSpec[M],
        transport: Transport,
        *,
        max_buffered_messages: int = 64,
        max_queued_frames: int = 32,
        close_timeout: float = 5.0,
        send_timeout: float = 10.0,
        speaker: AudioSink | None = None,
        reconnect: ReconnectPolicy | None = None,
        dial: Callable[[], Awaitable[Transport]] | None = None,
    ) -> None:
        self._close_timeout = close_timeout
        self._speaker = speaker
        self._core: StreamCore[M] = StreamCore(
            spec, policy=reconnect, request_id=transport.request_id
        )
        self._core.opened_at = trio.current_time()
        self._waiters: Waiters[M | UnknownMessage] = Waiters()
        self._inbox: Queue[M | UnknownMessage | MessageDecodeError] = Queue(max_buffered_messages)
        # Messages taken off the inbox ahead of receive() (see drain_inbox), served
        # first, in order; made when first needed (memory per connection counts).
        self._backlog: deque[M | UnknownMessage | MessageDecodeError] | None = None
        self._receiving = False  # a task is in receive(): a second one is refused
        self._unyielded = 0  # messages receive() took from the inbox without yielding
        self._audio_queued = 0  # audio bytes queued by send_audio: the stream position
        self._liveness = Liveness()
        # The socket now: dropped, pinged, replaced when lost (reconnect=).
        self._sockets = Sockets(self._core, transport, dial, self._liveness, self._announce)
        self._writer = Writer(
            self._core,
            self._sockets.current,
            self._sockets.drop,
            self._liveness,
            max_queued_frames=max_queued_frames,
            send_timeout=send_timeout,
            close_timeout=close_timeout,
        )
        self._sockets.writer = self._writer  # steered as sockets are dropped and replaced
        self._reader: Reader[M] = Reader(
            self._core,
            self._waiters,
            self._inbox,
            self._sockets.current,
            self._sockets.replace,
            self._liveness,
            speaker,
        )
        self._waiters.on_wait = self._reader.wake  # a reply must be read at once
        self.requests: Requests[M] = Requests(
            self._core, self._waiters, self._writer.put, self._inbox, max_buffered_messages
        )
        """Requests and their replies (``reply``, ``request``, ``expect``...)."""
        self._opening: Callable[[], Awaitable[None]] | None = None
        self._nursery: trio.Nursery | None = None
        self._keepalive: KeepAlive | None = None

    # -- the channel ----------------------------------------------------------------------

    @property
    def request_id(self) -> str | None:
        """The socket's ``dg-request-id`` (after a reconnect, the new socket's)."""
        return self._core.request_id

    async def receive(self) -> M | UnknownMessage:
        """The next message; see :meth:`dgtrio.Connection.receive`."""
        if self._receiving:
            raise trio.BusyResourceError(
                "another task is already receiving from this connection: iterate it in "
                "one task (and hand messages on through a memory channel if several need them)"
            )
        self._receiving = True
        reader = self._reader
        try:
            if self._backlog:
                await trio.lowlevel.checkpoint()
                item = self._backlog.popleft()
            elif self._inbox:
                await self._turn()
                item = self._inbox.get_nowait()
            elif reader.parked:  # this task reads the socket (see Reader.receive)
                taken = await reader.receive(self._turn)
                # From the inbox if it has the answer: the socket closed, or the user
                # closed the connection meanwhile.
                item = await self._inbox.get() if taken is None or self._inbox.closed else taken
            else:
                reader.hand_over()
                self._unyielded = 0
                item = await self._inbox.get()
        except trio.EndOfChannel:
            error = self._core.error
            if error is None:
                raise
        else:
            if isinstance(item, MessageDecodeError):
                raise item
            return item
        finally:
            self._receiving = False
        raise error.with_traceback(None)

    async def _turn(self) -> None:
        """For a message taken without waiting: a cancellation point, and once per
        ``_BUFFERED_RUN`` a pass through the scheduler."""
        if self._unyielded < _BUFFERED_RUN:
            self._unyielded += 1
            await trio.lowlevel.checkpoint_if_cancelled()
        else:
            self._unyielded = 0
            await trio.lowlevel.checkpoint()

    async def aclose(self) -> None:
        """Close the connection now; see :meth:`dgtrio.Connection.aclose`."""
        core = self._core
        if core.closed_by_user:
            await trio.lowlevel.checkpoint()
            return
        # Even if the server ended first: this is user-closed.
        core.close_by_user(even_if_ended=True)
        self._inbox.close_receiving()  # a consumer reading the socket sees the close
        with trio.move_on_after(self._close_timeout, shield=True):
            await self._sockets.transport.aclose()

    def statistics(self) -> ConnectionStatistics:
        """Counters and queue depths, as a frozen snapshot."""
        return self._core.statistics(
            queued_frames=self._writer.queued,
            buffered_messages=len(self._inbox),
        )

    def describe(self) -> str:
        """State, request id and counters, for the connection's ``repr``."""
        core, counters = self._core, self._core.counters
        return (
            f"{core.state.value} request_id={core.request_id!r} "
            f"sent={counters.audio_frames_sent} audio frames ({counters.audio_bytes_sent} B)"
            f"+{counters.control_messages_sent} messages received={counters.messages_received}"
        )

    # -- what the API classes use -----------------------------------------------------------

    def attach(
        self,
        adapter: Adapter[M],
        *,
        input_format: AudioFormat | None = None,
        opening: Callable[[], Awaitable[None]] | None = None,
        delivers: bool = False,
    ) -> None:
        """Set what the API's messages mean (``adapter``), the raw format its audio is
        declared in (if raw), its opening exchange, run before the caller's block
        starts (the agent's ``Settings``), and whether it will :meth:`deliver`
        messages of its own. Called once, before the tasks start."""
        self._core.attach(adapter, input_format)
        self._opening = opening
        if delivers:  # a consumer waiting on the socket would not see them
            self._reader.lends = False

    @property
    def speaker(self) -> AudioSink | None:
        """Where speech is played, if anywhere (``speaker=``)."""
        return self._speaker

    @property
    def receiving(self) -> bool:
        """Whether a task is waiting in :meth:`receive` now."""
        return self._receiving

    @property
    def audio_queued(self) -> int:
        """The audio bytes queued so far: the stream position of the next frame."""
        return self._audio_queued

    @property
    def speech_queued(self) -> int:
        """Speech messages put in the inbox so far (the spec's ``speech`` class)."""
        return self._core.counters.speech_queued

    @property
    def speech_muted(self) -> int:
        """Speech messages dropped instead, because the adapter said not audible."""
        return self._core.counters.speech_muted

    def reapply(self, frame: str) -> None:
        """Send ``frame`` again, before any replayed audio, to every socket that
        replaces a lost one (a configure the server accepted)."""
        self._core.reapply.append(frame)

    def spawn(self, fn: Callable[..., Awaitable[object]], *args: object) -> None:
        """Run ``fn(*args)`` as a task of this connection: cancelled when it ends."""
        assert self._nursery is not None, "the connection's tasks have not started"
        self._nursery.start_soon(fn, *args)

    async def deliver(self, item: M) -> None:
        """Queue ``item`` for :meth:`receive` as if the server had sent it (the agent's
        tool results). Raises ``trio.ClosedResourceError`` or ``BrokenResourceError``
        once the connection has ended. Only if :meth:`attach` said so."""
        assert not self._reader.lends, "attach(delivers=True) first"
        await self._inbox.put(item)

    async def send_audio(self, data: bytes | bytearray | memoryview) -> None:
        """Queue one frame of audio (see the APIs' ``send_audio``)."""
        if not isinstance(data, bytes | bytearray | memoryview):
            raise TypeError(
                f"audio is bytes, bytearray or memoryview, not {type(data).__name__}"
                + (": encode text with speak(), not send_audio()" if isinstance(data, str) else "")
            )
        self.check_streaming("audio")
        # A mutable buffer could change while queued: freeze it (bytes pass as they are).
        frame = data if isinstance(data, bytes) else bytes(data)
        self._check_audio(frame)
        await self._writer.put(frame)
        self._audio_queued += len(frame)

    def _check_audio(self, data: bytes) -> None:
        """Validate one audio frame before it is queued."""
        if not data:
            raise AudioFormatError("empty audio frame: Deepgram treats it as end of stream")
        fmt = self._core.input_format
        if fmt is not None and len(data) % fmt.frame_size:
            raise AudioFormatError(
                f"audio frame of {len(data)} bytes is not a whole number of "
                f"{fmt.frame_size}-byte samples ({fmt}): a split sample "
                "garbles the rest of the stream"
            )

    def check_streaming(self, what: str) -> None:
        """Raise if the end-of-stream message went out: the server takes no more ``what``."""
        self._core.check_streaming(what)

    async def send(self, frame: str | bytes) -> None:
        """Queue one frame for the writer, or raise why the connection cannot send."""
        await self._writer.put(frame)

    async def close_stream(self) -> None:
        """Send the API's end-of-stream message; the server then finishes and closes."""
        frame = self._core.spec.end_of_audio_frame
        assert frame is not None, f"{self._core.spec.name} has no end-of-stream message"
        # Ended before queueing, so that no audio can be queued behind the frame.
        if not self._core.close_stream():
            await trio.lowlevel.checkpoint()
            return
        await self._writer.put(frame)

    def drain_inbox(self, keep: Callable[[M | UnknownMessage | MessageDecodeError], bool]) -> None:
        """Take every message the inbox holds now, without waiting, and keep those for
        which ``keep`` is true for ``receive()``, in order: a full inbox stops the
        reader, so a barge-in must be able to empty it whatever the consumer is
        doing."""
        while True:
            try:
                item = self._inbox.get_nowait()
            except (trio.WouldBlock, trio.EndOfChannel, trio.ClosedResourceError):
                return
            if keep(item):
                if self._backlog is None:
                    self._backlog = deque()
                self._backlog.append(item)

    # -- running (for _open) -------------------------------------------------------------

    def _start(self, nursery: trio.Nursery) -> None:
        """Start the reader; the writer runs when there is something to write."""
        self._nursery = nursery
        nursery.start_soon(self._reader.run)
        self._writer.start(nursery)

    async def _open(self) -> None:
        """The API's opening exchange, before the caller's block starts."""
        if self._opening is not None:
            await self._opening()

    def _start_sources(
        self,
        nursery: trio.Nursery,
        *,
        audio: AsyncIterable[bytes] | None,
        keepalive_interval: float | None,
        close_stream_on_end: bool,
        stall_timeout: float | None,
    ) -> None:
        """Start the drivers that were asked for: keepalive, watchdog, feeder."""
        core, writer = self._core, self._writer
        frame = self._core.spec.keepalive_frame
        if frame is not None and keepalive_interval is not None:
            self._keepalive = KeepAlive(
                core,
                keepalive_interval,
                lambda: writer.last_send,
                lambda: writer.put_keepalive(frame),
            )
            nursery.start_soon(self._keepalive.run)
        if stall_timeout is not None:
            ping = self._sockets.ping if core.spec.quiet else None
            nursery.start_soon(
                watch_for_stall,
                core,
                self._liveness,
                stall_timeout,
                self._sockets.drop,
                self._reader.wake,
                ping,
            )
        if audio is not None:
            ends = close_stream_on_end and self._core.spec.end_of_audio_frame is not None
            nursery.start_soon(
                feed, core, audio, self.send_audio, self.close_stream if ends else None
            )

    async def _finish(self) -> None:
        """On a normal exit: stop taking frames, let the writer send what is queued."""
        self._core.close_by_user()
        await self._writer.finish()

    def _stop(self) -> None:
        """On any exit: the timers stop, and the writer after the write under way
        (bounded)."""
        if self._keepalive is not None:
            self._keepalive.stop()
        self._writer.stop()

    def _close_by_user(self) -> None:
        """From now on sends raise ClosedResourceError, unless the server ended first."""
        self._core.close_by_user()

    def _detach(self) -> None:
        """The ``async with`` block is over: from now on every call raises
        ``trio.ClosedResourceError``, as a closed trio channel does."""
        self._core.close_by_user(even_if_ended=True)
        self._backlog = None
        self._inbox.close_receiving()

    async def _announce(self, event: ConnectionEvent) -> None:
        """Queue ``event`` (``Reconnecting``, ``Reconnected``) for :meth:`receive`."""
        # Only the APIs that reconnect pass reconnect=, and their M includes events.
        await self._inbox.put(cast(M, event))
