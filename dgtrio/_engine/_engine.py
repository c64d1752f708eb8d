"""The connection engine every API shares.

One connection is one nursery of child tasks around one WebSocket::

    receive loop ──decoded messages──▶ inbox (bounded) ──▶ receive() / async for
    send_audio(), control sends ──▶ outbox (bounded) ──▶ writer ──▶ socket
    keepalive timer ──KeepAlive when nothing went out for a while──▶ outbox
    audio feeder (audio=...) ──▶ send_audio()

The receive loop and the writer start first; then the API's opening exchange runs
(the agent's ``Settings``, answered by ``SettingsApplied``); only then do the
keepalive timer and the audio feeder start, and the caller's block begin.

The writer is the only task that writes frames, so control messages keep their place
among audio frames and a keepalive never races a send. Both channels are bounded:
a slow reader stops the receive loop (and so the socket), a slow socket blocks
``send_audio``; memory never grows without bound.

Failures are values until the user asks: the receive loop records why the socket
closed, delivers every message that arrived before, then ``receive()`` raises the
typed error, and every later send raises it too. Only bugs escape the hidden nursery,
and ``open_connection`` collapses its exception groups so that the user sees one
plain exception.
"""

from __future__ import annotations

import inspect
import logging
import math
from collections import deque
from collections.abc import AsyncIterable, Awaitable, Callable
from typing import Any, Generic, NoReturn, TypeVar, cast

import trio

from .._codec import UnknownMessage
from .._errors import (
    AcknowledgementTimeout,
    AudioFormatError,
    ConnectionClosed,
    ConnectionLost,
    DeepgramError,
    FrameTooLarge,
    MessageDecodeError,
    ReconnectFailed,
    SendTimeout,
    ServerStalled,
    close_error,
)
from .._reconnect import (
    ConnectionEvent,
    Reconnected,
    ReconnectPolicy,
    ReplayBuffer,
    retryable,
)
from .._transport import Transport, TransportClosed
from ..audio._format import AudioFormat, AudioSink
from ._adapter import Adapter
from ._redial import dial_with_backoff
from ._spec import ApiSpec, ConnectionStatistics, server_error
from ._waiters import Waiter, Waiters

__all__ = ["Engine"]

# Audio frames queued behind each other go out as one message of up to this size.
_COALESCE_BYTES = 64 * 1024
log = logging.getLogger("dgtrio")

M = TypeVar("M")


def _overrides(adapter: Adapter[Any], name: str) -> bool:
    """Whether ``adapter``'s class has its own ``name`` hook (not the default)."""
    return getattr(type(adapter), name) is not getattr(Adapter, name)


class Engine(Generic[M]):
    """The machinery of one connection: its channel, sends, requests and tasks.

    Each API's public connection class holds one and uses only its public methods
    (``send``, ``send_audio``, ``request``/``reply``, ``expect``/``collect``,
    ``close_stream``, ``spawn``, ``deliver``, ``reapply``...); what the API's
    messages mean comes from its :class:`Adapter`, set with :meth:`attach`.
    """

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
        self._spec = spec
        self._send_timeout = send_timeout
        self._speaker = speaker
        self._transport = transport
        self._close_timeout = close_timeout
        self.request_id: str | None = transport.request_id
        """Deepgram's id for this connection (``dg-request-id``), for support tickets;
        after a reconnect, the new socket's."""
        self._inbox_send, self._inbox = trio.open_memory_channel[
            M | UnknownMessage | MessageDecodeError
        ](max_buffered_messages)
        self._max_buffered = max_buffered_messages
        self._outbox_send, self._outbox = trio.open_memory_channel[str | bytes](max_queued_frames)
        self._waiters: Waiters[M | UnknownMessage] = Waiters()
        self._adapter: Adapter[M] = Adapter()
        self._opening: Callable[[], Awaitable[None]] | None = None
        # Messages taken off the inbox ahead of receive() (see drain_inbox), served
        # first, in order; made when first needed (memory per connection counts).
        self._backlog: deque[M | UnknownMessage | MessageDecodeError] | None = None
        self._receiving = False  # a task is in receive(): a second one is refused
        self._speech_queued = 0  # speech messages put in the inbox so far
        self._speech_muted = 0  # ... and dropped instead, while not audible
        self._audio_queued = 0  # audio bytes queued by send_audio: the stream position
        self._ended: DeepgramError | None = None  # how the socket closed, clean or not
        self._error: DeepgramError | None = None  # ... if that is to be raised
        # The error a close would stand for now: the spec's fatal error message, if
        # it was the last message before the close.
        self._fatal: DeepgramError | None = None
        self._nursery: trio.Nursery | None = None
        # The raw format the audio is declared in, if raw (set by the API classes).
        self._input_format: AudioFormat | None = None
        self._closed_by_user = False
        self._stream_closed = False
        self._keepalive_scope = trio.CancelScope()
        self._writer_done = trio.Event()
        self._writing = trio.CancelScope(shield=True)  # the writer's, for a socket's life
        self._sending: str | bytes | None = None  # the message being written ...
        self._in_flight = 0  # ... and the frames in it
        self._due: str | bytes | None = None  # a frame due next (see _write_queued)
        self._exit_deadline = math.inf  # the writer's, once the block is left
        # Why this side dropped the socket (a stalled write, a silent server), for the
        # receive loop, which sees the drop as a close and decides what follows.
        self._dropped: ConnectionLost | None = None
        # For the stall watchdog: when audio first went out after the last frame
        # from the server (None: none since), and its wake-up for that moment.
        self._audio_since: float | None = None
        self._audio_flowing: trio.Event | None = None
        self._last_send = trio.current_time()
        # Reconnection (reconnect=): set up in _start, once the API class has set
        # _input_format.
        self._policy = reconnect
        self._dial = dial
        self._replay: ReplayBuffer | None = None
        self._reconnecting = False  # no socket is up: the receive loop is dialling
        self._outage = trio.CancelScope()  # the writer's wait for a new socket
        self._pacing = trio.CancelScope()  # the writer's replay
        self._opened_at = trio.current_time()
        self._failures = 0  # attempts since the last stable socket
        self._socket_start = 0  # the stream position where this socket's audio begins
        self._offset = 0.0  # ... in seconds: what its timestamps are shifted by
        self._end_frame_taken = False  # the end-of-stream frame went to a socket
        self._summarised = not spec.ends_with_summary  # the stream needs no more
        self._given = 0  # the stream position up to which lost sockets were given audio
        # Control frames a new socket must be sent before the replay (configure()).
        self._reapply: list[str] = []
        self._audio_frames_sent = 0
        self._audio_bytes_sent = 0
        self._audio_messages_sent = 0
        self._audio_bytes_replayed = 0
        self._control_sent = 0
        self._keepalives_sent = 0
        self._received = 0
        self._bytes_received = 0
        self._decode_errors = 0
        self._frames_unsent = 0
        self._reconnects = 0

    # -- the public channel ------------------------------------------------------------

    async def receive(self) -> M | UnknownMessage:
        """The next message; see :meth:`dgtrio.Connection.receive`."""
        if self._receiving:
            raise trio.BusyResourceError(
                "another task is already receiving from this connection: iterate it in "
                "one task (and hand messages on through a memory channel if several need them)"
            )
        self._receiving = True
        try:
            if self._backlog:
                await trio.lowlevel.checkpoint()
                item = self._backlog.popleft()
            else:
                item = await self._inbox.receive()
        except trio.EndOfChannel:
            if self._error is None:
                raise
            error = self._error
        else:
            if isinstance(item, MessageDecodeError):
                raise item
            return item
        finally:
            self._receiving = False
        raise error.with_traceback(None)

    async def aclose(self) -> None:
        """Close the connection now; see :meth:`dgtrio.Connection.aclose`."""
        if self._closed_by_user:
            await trio.lowlevel.checkpoint()
            return
        self._closed_by_user = True  # even if the server ended first: this is user-closed
        self._inbox.close()
        with trio.move_on_after(self._close_timeout, shield=True):
            await self._transport.aclose()

    def statistics(self) -> ConnectionStatistics:
        """Counters and queue depths, as a frozen snapshot."""
        replay = self._replay
        return ConnectionStatistics(
            state=self._state,
            audio_frames_sent=self._audio_frames_sent,
            audio_bytes_sent=self._audio_bytes_sent,
            audio_messages_sent=self._audio_messages_sent,
            control_messages_sent=self._control_sent,
            keepalives_sent=self._keepalives_sent,
            messages_received=self._received,
            bytes_received=self._bytes_received,
            decode_errors=self._decode_errors,
            queued_frames=self._outbox.statistics().current_buffer_used,
            buffered_messages=self._inbox.statistics().current_buffer_used,
            frames_unsent=self._frames_unsent,
            sequence_gaps=self._adapter.sequence_gaps,
            reconnects=self._reconnects,
            audio_bytes_replayed=self._audio_bytes_replayed,
            audio_bytes_acknowledged=replay.acknowledged if replay else 0,
            audio_bytes_pending=replay.pending if replay else 0,
            audio_bytes_lost=replay.lost if replay else 0,
        )

    @property
    def _state(self) -> str:
        if self._ended is not None or self._closed_by_user:
            return "closed"
        if self._reconnecting:
            return "reconnecting"
        return "closing" if self._stream_closed else "open"

    def describe(self) -> str:
        """State, request id and counters, for the connection's ``repr``."""
        return (
            f"{self._state} request_id={self.request_id!r} "
            f"sent={self._audio_frames_sent} audio frames ({self._audio_bytes_sent} B)"
            f"+{self._control_sent} messages received={self._received}"
        )

    # -- what the API classes use -----------------------------------------------------------

    def attach(
        self,
        adapter: Adapter[M],
        *,
        input_format: AudioFormat | None = None,
        opening: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        """Set what the API's messages mean (``adapter``), the raw format its audio is
        declared in (if raw), and its opening exchange, run before the caller's block
        starts (the agent's ``Settings``). Called once, before the tasks start."""
        self._adapter = adapter
        self._input_format = input_format
        self._opening = opening

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
        return self._speech_queued

    @property
    def speech_muted(self) -> int:
        """Speech messages dropped instead, because the adapter said not audible."""
        return self._speech_muted

    def reapply(self, frame: str) -> None:
        """Send ``frame`` again, before any replayed audio, to every socket that
        replaces a lost one (a configure the server accepted)."""
        self._reapply.append(frame)

    def spawn(self, fn: Callable[..., Awaitable[object]], *args: object) -> None:
        """Run ``fn(*args)`` as a task of this connection: cancelled when it ends."""
        assert self._nursery is not None, "the connection's tasks have not started"
        self._nursery.start_soon(fn, *args)

    async def deliver(self, item: M) -> None:
        """Queue ``item`` for :meth:`receive` as if the server had sent it (the agent's
        tool results). Raises ``trio.ClosedResourceError`` or ``BrokenResourceError``
        once the connection has ended."""
        await self._inbox_send.send(item)

    def _check_audio(self, data: bytes) -> None:
        """Validate one audio frame before it is queued."""
        if not data:
            raise AudioFormatError("empty audio frame: Deepgram treats it as end of stream")
        fmt = self._input_format
        if fmt is not None and len(data) % fmt.frame_size:
            raise AudioFormatError(
                f"audio frame of {len(data)} bytes is not a whole number of "
                f"{fmt.frame_size}-byte samples ({fmt}): a split sample "
                "garbles the rest of the stream"
            )

    async def send_audio(self, data: bytes | bytearray | memoryview) -> None:
        if not isinstance(data, bytes | bytearray | memoryview):
            raise TypeError(
                f"audio is bytes, bytearray or memoryview, not {type(data).__name__}"
                + (": encode text with speak(), not send_audio()" if isinstance(data, str) else "")
            )
        self.check_streaming("audio")
        # A mutable buffer could change while queued: freeze it (bytes pass as they are).
        frame = data if isinstance(data, bytes) else bytes(data)
        self._check_audio(frame)
        await self.send(frame)
        self._audio_queued += len(frame)

    def check_streaming(self, what: str) -> None:
        """Raise if the end-of-stream message went out: the server takes no more ``what``."""
        if self._stream_closed:
            raise trio.ClosedResourceError(f"the stream was ended: no more {what}")

    async def send(self, frame: str | bytes) -> None:
        """Queue one frame for the writer, or raise why the connection cannot send."""
        if self._ended is not None or self._closed_by_user:
            self._raise_closed()
        await trio.lowlevel.checkpoint_if_cancelled()
        try:
            try:
                # With room in the queue this returns without yielding to other tasks,
                # so a fast producer queues frames back to back and the writer sends
                # them joined; a full queue waits (backpressure). A real-time producer
                # yields between frames anyway, and each frame goes out at once.
                self._outbox_send.send_nowait(frame)
            except trio.WouldBlock:
                self._arm_send_timeout()
                await self._outbox_send.send(frame)
            else:
                if self._sending is not None:
                    self._arm_send_timeout()
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            pass  # raised below, outside this handler: no misleading __context__
        else:
            return
        self._raise_closed()

    async def close_stream(self) -> None:
        """Send the API's end-of-stream message; the server then finishes and closes."""
        frame = self._spec.end_of_audio_frame
        assert frame is not None, f"{self._spec.name} has no end-of-stream message"
        if self._stream_closed:
            await trio.lowlevel.checkpoint()
            return
        # Closed before queueing, so that no audio can be queued behind the frame.
        self._stream_closed = True
        self._keepalive_scope.cancel()
        await self.send(frame)

    def _raise_closed(self) -> NoReturn:
        if self._closed_by_user:
            raise trio.ClosedResourceError("this connection was closed")
        error = self._ended or ConnectionClosed(1006, request_id=self.request_id)
        raise error.with_traceback(None)

    def expect(
        self,
        match: Callable[[M | UnknownMessage], bool],
        *,
        want: int = 1,
        ended_by: Callable[[M | UnknownMessage], bool] | None = None,
    ) -> Waiter[M | UnknownMessage]:
        """Start collecting up to ``want`` replies for which ``match`` is true.

        Register before sending the request, so that a fast reply finds the waiter.
        Each reply goes to the oldest waiter it matches: Deepgram answers requests in
        order. A reply also ends the wait of older waiters for which ``ended_by`` is
        true (a speak ``Cleared`` ends the wait for ``Flushed`` of earlier flushes).
        """
        return self._waiters.expect(match, want=want, ended_by=ended_by)

    async def collect(
        self, waiter: Waiter[M | UnknownMessage], timeout: float
    ) -> list[M | UnknownMessage]:
        """Wait for ``waiter``'s replies; what arrived within ``timeout`` (maybe fewer
        than wanted). Raises why the connection ended, if it ended first."""
        # Left registered on a timeout or a cancellation: see Waiter.
        with trio.move_on_after(timeout):
            await waiter.done.wait()
        if len(waiter.replies) < waiter.want and waiter.ended is None and self._ended is not None:
            self._raise_closed()
        return waiter.replies

    async def request(
        self,
        frame: str,
        match: Callable[[M | UnknownMessage], bool],
        *,
        timeout: float,
        want: int = 1,
    ) -> list[M | UnknownMessage]:
        """Send ``frame`` and collect up to ``want`` replies (see :meth:`expect`).

        The replies are also delivered to ``receive()`` as usual.
        """
        waiter = self.expect(match, want=want)
        await self.send_for(waiter, frame)
        return await self.collect(waiter, timeout)

    async def reply(
        self,
        frame: str,
        match: Callable[[M | UnknownMessage], bool],
        *,
        what: str,
        timeout: float,
    ) -> M | UnknownMessage:
        """Send ``frame`` and return its one reply; :class:`AcknowledgementTimeout`
        (saying no ``what`` came) if none arrives within ``timeout``."""
        replies = await self.request(frame, match, timeout=timeout)
        if not replies:
            raise self.timeout_error(what, timeout)
        return replies[0]

    async def send_for(self, waiter: Waiter[M | UnknownMessage], frame: str) -> None:
        """Send the request ``waiter`` waits on; a failed send withdraws the waiter."""
        try:
            await self.send(frame)
        except BaseException:
            self._waiters.withdraw(waiter)
            raise

    def timeout_error(self, what: str, timeout: float) -> AcknowledgementTimeout:
        text = f"no {what} within {timeout:g} s"
        if self._inbox.statistics().current_buffer_used >= self._max_buffered:
            text += (
                f"; {self._max_buffered} received messages are waiting for receive(), so "
                "the connection has stopped reading: iterate it in another task while "
                "awaiting replies, or raise max_buffered_messages"
            )
        return AcknowledgementTimeout(text)

    # -- the child tasks ------------------------------------------------------------------

    def _start(self, nursery: trio.Nursery) -> None:
        self._nursery = nursery
        if self._policy is not None:
            fmt = self._input_format
            assert fmt is not None, "the API checks that reconnecting audio is raw"
            self._replay = ReplayBuffer(
                max(fmt.frame_size, round(self._policy.replay_seconds * fmt.bytes_per_second))
            )
        nursery.start_soon(self._receive_loop)
        nursery.start_soon(self._write_loop)

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
        frame = self._spec.keepalive_frame
        if frame is not None and keepalive_interval is not None:
            nursery.start_soon(self._keepalive_loop, keepalive_interval, frame)
        if stall_timeout is not None:
            nursery.start_soon(self._watch_for_stall, stall_timeout)
        if audio is not None:
            nursery.start_soon(self._feed, audio, close_stream_on_end)

    async def _receive_loop(self) -> None:
        try:
            while True:
                closed = await self._receive_frames(self._transport)
                error: ConnectionClosed | None = self._dropped
                self._dropped = None
                if error is None and closed.too_large:  # this side closed: over the limit
                    error = FrameTooLarge(1009, request_id=self.request_id)
                failure = error or close_error(
                    closed.code, closed.reason, request_id=self.request_id
                )
                if not self._may_reconnect(closed.code, failure, error is not None):
                    self._end(closed.code, closed.reason, error)
                elif await self._reconnect(failure):
                    continue
                return
        except trio.BrokenResourceError:
            pass  # the user closed the channel: nobody is listening any more
        finally:
            self._inbox_send.close()
            self._waiters.wake_all()

    async def _receive_frames(self, transport: Transport) -> TransportClosed:
        """Decode and deliver the socket's frames, in order, until it closes."""
        receive, decode = transport.receive, self._spec.codec.decode
        inbox, fatal, waiters = self._inbox_send, self._spec.fatal_error, self._waiters
        adapter, offset = self._adapter, self._offset
        # The adapter's hooks are called only where it has them: a call costs.
        observe = adapter.on_message if _overrides(adapter, "on_message") else None
        speaker, replay = self._speaker, self._replay
        speech, barge_in = self._spec.speech, self._spec.barge_in
        rebase = self._socket_replaced and _overrides(adapter, "rebase")
        item: M | UnknownMessage | MessageDecodeError
        while True:
            try:
                frame = await receive()
            except TransportClosed as closed:
                return closed
            self._received += 1
            self._bytes_received += len(frame)
            self._audio_since = None  # the server answers
            try:
                item = decode(frame)
            except MessageDecodeError as exc:
                self._decode_errors += 1
                log.warning("%s", exc)  # the text names the API
                item = exc
            else:
                if rebase:
                    item = adapter.rebase(item, offset)
                if fatal is not None:
                    self._fatal = server_error(item) if isinstance(item, fatal) else None
                if observe is not None:
                    observe(item)
                if replay is not None:
                    self._acknowledge(replay, item)
                if waiters:
                    waiters.notify(item)
                if speech is not None and isinstance(item, speech):
                    # Speech meant to be silenced (a clear on its way) is dropped
                    # here, not queued: the inbox never fills with what nobody will
                    # hear, so the reply that ends the silence always gets through.
                    if not adapter.audible():
                        self._speech_muted += 1
                        continue
                    self._speech_queued += 1
                    if speaker is not None:
                        await speaker.play(item.data)
                elif barge_in is not None and speaker is not None and isinstance(item, barge_in):
                    speaker.clear()
            try:
                # No yield while the inbox has room: the loop takes every frame
                # trio-websocket has parsed already before the user's task runs.
                inbox.send_nowait(item)
            except trio.WouldBlock:
                await inbox.send(item)

    def drain_inbox(self, keep: Callable[[M | UnknownMessage | MessageDecodeError], bool]) -> None:
        """Take every message the inbox holds now, without waiting, and keep those for
        which ``keep`` is true for ``receive()``, in order: a full inbox stops the
        receive loop, so a barge-in must be able to empty it whatever the consumer is
        doing."""
        while True:
            try:
                item = self._inbox.receive_nowait()
            except (trio.WouldBlock, trio.EndOfChannel, trio.ClosedResourceError):
                return
            if keep(item):
                if self._backlog is None:
                    self._backlog = deque()
                self._backlog.append(item)

    def _is_clean(self, code: int) -> bool:
        return code in self._spec.clean_close_codes or (
            self._stream_closed and code in self._spec.end_of_stream_close_codes
        )

    def _end(self, code: int, reason: str, error: ConnectionClosed | None = None) -> None:
        """Record how the socket closed (``error``: why dgtrio dropped it); the first
        report wins."""
        if self._ended is not None:
            return
        self._ended = error or close_error(code, reason, request_id=self.request_id)
        self._reconnecting = False
        self._outage.cancel()  # a writer waiting for a new socket waits no more
        clean = self._is_clean(code) and self._fatal is None
        if self._closed_by_user or clean:
            log.debug("%s closed: %s %s", self._spec.name, code, reason)
            if clean and self._stream_closed and self._replay and not self._closed_by_user:
                self._replay.acknowledge(self._replay.end)  # the server finished it all
        else:
            if self._fatal is not None:  # the server said why before it closed
                self._ended = self._fatal
            self._error = self._ended
            log.info("%s: %s", self._spec.name, self._ended)
            if self._replay is not None:
                self._replay.abandon()

    async def _drop(self, error: ConnectionLost) -> None:
        """Drop a socket this side gave up on (``error`` says why). The receive loop
        sees the close and reconnects if it may; without ``reconnect=`` it ends here,
        before the writer's queue closes, so that blocked senders see why."""
        if self._policy is None:
            self._end(1006, "", error)
        else:
            self._dropped = error
        await self._transport.abort()

    # -- reconnection ---------------------------------------------------------------------

    @property
    def _socket_replaced(self) -> bool:
        """Whether this socket replaced a lost one (its timestamps need shifting)."""
        return self._reconnects > 0

    def _acknowledge(self, replay: ReplayBuffer, message: M | UnknownMessage) -> None:
        seconds = self._adapter.audio_done(message)
        if seconds is None:
            return
        if seconds == math.inf:
            replay.acknowledge(replay.end)
            self._summarised = True
            return
        fmt = self._input_format
        assert fmt is not None
        samples = round(seconds * fmt.sample_rate)  # timestamps are rounded: so is this
        replay.acknowledge(samples * fmt.frame_size)

    def _may_reconnect(self, code: int, failure: ConnectionClosed, dropped: bool) -> bool:
        if self._policy is None or self._closed_by_user or self._fatal is not None:
            return False
        if not dropped and self._is_clean(code):
            return False
        return retryable(failure)

    async def _reconnect(self, lost: ConnectionClosed) -> bool:
        """Replace the lost socket (the receive loop's work): True once a new one is up
        and the writer can replay; False when the stream ended instead."""
        policy, replay, dial = self._policy, self._replay, self._dial
        assert policy is not None
        assert replay is not None
        assert dial is not None
        if self._stream_closed and not replay.pending and self._summarised:
            # The server acknowledged everything and the stream was ended: nothing is
            # lost with the socket, the stream is simply over.
            log.info("%s: %s after the end of the stream", self._spec.name, lost)
            self._end(1000, "")
            return False
        began = trio.current_time()
        if began - self._opened_at >= policy.stable_after:
            self._failures = 0
        self._given = replay.end  # all a socket was given: a replay writes it again
        self._reconnecting = True
        self._writing.cancel()  # the writer stops using the old socket
        self._transport.stop()
        log.info("%s: %s; reconnecting", self._spec.name, lost)
        transport, self._failures, error = await dial_with_backoff(
            dial,
            policy,
            self._spec.name,
            failures=self._failures,
            error=lost,
            announce=self._deliver,
        )
        if transport is None:
            assert error is not None
            return self._fail(lost, error, self._failures)
        self._transport = transport
        self.request_id = transport.request_id
        self._opened_at = trio.current_time()
        self._reconnects += 1
        lost_before = replay.lost
        self._socket_start = replay.rewind()
        fmt = self._input_format
        assert fmt is not None
        self._offset = fmt.duration(self._socket_start)
        self._adapter.socket_changed()
        self._audio_since = None
        self._reconnecting = False
        self._outage.cancel()
        log.info("%s: reconnected, request id %s", self._spec.name, self.request_id)
        await self._deliver(
            Reconnected(
                attempt=self._failures,
                request_id=self.request_id,
                outage=self._opened_at - began,
                replay=fmt.duration(replay.end - self._socket_start),
                lost=fmt.duration(replay.lost - lost_before),
            )
        )
        return True

    def _fail(self, lost: ConnectionClosed, error: DeepgramError, attempts: int) -> bool:
        """End the stream: ``attempts`` to replace the socket ``lost`` failed, the last
        with ``error``."""
        failed = ReconnectFailed(
            lost.code, lost.reason, request_id=self.request_id, attempts=attempts, last_error=error
        )
        failed.__cause__ = error
        self._end(lost.code, lost.reason, failed)
        return False

    async def _deliver(self, event: ConnectionEvent) -> None:
        # Only the APIs that reconnect pass reconnect=, and their M includes events.
        await self._inbox_send.send(cast(M, event))

    async def _write_loop(self) -> None:
        # A frame cut short by cancellation would corrupt the stream, and the close
        # frame after it: the writer is shielded for a socket's whole life (one scope,
        # not one per frame: scopes cost) and ends when its queue closes (_flush,
        # _stop_writer). A write stuck for send_timeout while frames wait behind it,
        # or at exit for close_timeout, is given up on: the scope's deadline is armed
        # then (_arm_send_timeout, _stop_writer), and the socket dropped. With
        # reconnect=, a lost socket's scope is cancelled; the writer waits for the
        # next socket, replays, and goes on.
        try:
            while True:
                transport, finished = self._transport, False
                with self._writing:
                    finished = await self._write_socket(transport)
                self._lose_in_flight()
                if self._writing.cancelled_caught and not self._reconnecting:
                    log.info("%s: a write stalled; the socket is dropped", self._spec.name)
                    stalled = SendTimeout if self._exit_deadline == math.inf else ConnectionLost
                    await self._drop(stalled(1006, request_id=self.request_id))
                elif finished:
                    return
                if self._policy is None:
                    return
                await self._wait_for_socket(transport)
                if self._ended is not None:
                    return
                self._writing = trio.CancelScope(shield=True)
        finally:
            self._discard_queued()
            self._writer_done.set()

    async def _write_socket(self, transport: Transport) -> bool:
        """Replay (on a socket after the first), then write what is queued: True when
        the queue ends, False when the socket does."""
        send = transport.send
        try:
            if self._socket_replaced:
                await self._replay_unacknowledged(send)
            return await self._write_queued(send)
        except TransportClosed as closed:
            if self._policy is None:
                self._end(closed.code, closed.reason)
            else:
                await transport.abort()  # so that the receive loop sees it too
            return False

    async def _write_queued(self, send: Callable[[str | bytes], Awaitable[None]]) -> bool:
        """Write what is queued, in order, until the queue ends (True)."""
        outbox, replay = self._outbox, self._replay
        end_frame = self._spec.end_of_audio_frame or ""
        while True:
            # A frame that was waiting (the one due, or one queued already) means a
            # backlog: this write is bounded by send_timeout. One waited for is not.
            message, backlog = self._due, True
            if message is None:
                try:
                    try:
                        message = outbox.receive_nowait()
                    except trio.WouldBlock:
                        message, backlog = await outbox.receive(), False
                except (trio.EndOfChannel, trio.ClosedResourceError):
                    return True
            else:
                self._due = None
            frames = 1
            if isinstance(message, bytes):
                message, frames, self._due = self._coalesce(message)
                if replay is not None:
                    replay.append(message)
            elif message == end_frame:
                self._end_frame_taken = True
            self._sending, self._in_flight = message, frames
            now = await self._write(send, message, bounded=backlog)
            self._sending = None
            if isinstance(message, bytes):
                self._note_audio(now)
                self._audio_frames_sent += frames
                self._audio_bytes_sent += len(message)
                self._audio_messages_sent += 1
            else:
                self._control_sent += 1

    async def _write(
        self,
        send: Callable[[str | bytes], Awaitable[None]],
        frame: str | bytes,
        *,
        bounded: bool = False,
    ) -> float:
        """Write one frame; the time it was done. A ``bounded`` write (frames wait
        behind it) is given ``send_timeout`` at once; others once a frame is queued
        behind them."""
        if bounded:
            self._arm_send_timeout()
        await send(frame)
        writing = self._writing
        if writing.deadline != self._exit_deadline:
            writing.deadline = self._exit_deadline  # the queue moves again
        self._last_send = now = trio.current_time()
        return now

    def _arm_send_timeout(self) -> None:
        """A frame waits behind the write under way: give that write ``send_timeout``
        (or what is left of ``close_timeout`` at exit), then drop the socket.

        Armed only then, not for every write: a deadline costs as much as the rest of
        a small write, and a write nothing waits behind harms nobody (a silent peer
        is ``stall_timeout``'s to find)."""
        writing = self._writing
        if writing.deadline == math.inf:
            writing.deadline = trio.current_time() + self._send_timeout

    def _note_audio(self, now: float) -> None:
        """Audio went out: the stall watchdog's clock starts, unless it runs already."""
        if self._audio_since is None:
            self._audio_since = now
            if self._audio_flowing is not None:
                self._audio_flowing.set()

    def _lose_in_flight(self) -> None:
        """The message being written when the socket went (or the writer stopped) did
        not surely go out whole: unsent, or (reconnecting) to be sent again. Its audio
        is in the replay buffer already."""
        message, self._sending = self._sending, None
        if message is None:
            return
        if self._replay is None:
            self._frames_unsent += self._in_flight
        elif isinstance(message, bytes):  # in the replay buffer: it goes out again
            self._audio_frames_sent += self._in_flight
            self._audio_bytes_sent += len(message)
        elif message not in (
            self._spec.keepalive_frame,
            self._spec.end_of_audio_frame,
        ):
            self._due = message

    def _discard_queued(self) -> None:
        """At the writer's end (or the block's): what was queued but never taken is
        unsent."""
        self._frames_unsent += self._outbox.statistics().current_buffer_used
        self._frames_unsent += self._due is not None
        self._due = None
        self._outbox.close()

    async def _replay_unacknowledged(self, send: Callable[[str | bytes], Awaitable[None]]) -> None:
        """On a new socket: re-send what configured the old one, then the audio it had
        not acknowledged, paced, then the end of the stream if it had been sent.

        Audio queued meanwhile joins the replay, so live audio is not held up behind
        it: the replay runs until it has caught up with the queue."""
        replay, fmt, policy = self._replay, self._input_format, self._policy
        assert replay is not None
        assert fmt is not None
        assert policy is not None
        # The replay takes the queue as it goes, so nothing waits behind its writes:
        # each is bounded itself.
        for frame in self._reapply:
            await self._write(send, frame, bounded=True)
            self._control_sent += 1
        position, written = self._socket_start, 0
        began = trio.current_time()
        piece = fmt.frame_bytes(100)
        with trio.CancelScope() as self._pacing:
            while True:
                self._take_queued()
                data = replay.read(position, piece)
                if not data:
                    break
                if policy.replay_speed is not None:
                    await trio.sleep_until(began + fmt.duration(written) / policy.replay_speed)
                self._note_audio(await self._write(send, data, bounded=True))
                # Only what an earlier socket was given is written again.
                self._audio_bytes_replayed += max(0, min(len(data), self._given - position))
                position += len(data)
                written += len(data)
        end_frame = self._spec.end_of_audio_frame
        if end_frame and self._end_frame_taken and not self._pacing.cancelled_caught:
            await self._write(send, end_frame, bounded=True)
            self._control_sent += 1

    async def _wait_for_socket(self, lost: Transport) -> None:
        """While ``lost`` is the socket, take audio off the queue into the replay buffer
        (see :meth:`_take`), so that senders do not stall in an outage; return once a
        new socket serves the stream, or the connection ended."""
        while self._transport is lost and self._ended is None:
            with trio.CancelScope() as self._outage:
                try:
                    while self._due is None:
                        self._take(await self._outbox.receive())
                except (trio.EndOfChannel, trio.ClosedResourceError):
                    pass
                await trio.sleep_forever()

    def _take_queued(self) -> None:
        """Take what is queued now, without waiting (see :meth:`_take`)."""
        while self._due is None:
            try:
                message = self._outbox.receive_nowait()
            except (trio.WouldBlock, trio.EndOfChannel, trio.ClosedResourceError):
                return
            self._take(message)

    def _take(self, message: str | bytes) -> None:
        """Take one queued frame while the writer cannot write it now (no socket, or a
        replay under way): audio goes into the replay buffer if it has room, the end
        of the stream is noted (it follows the replay), a keepalive is dropped (not
        needed). Anything else, or audio with no room, waits as the next frame due:
        later frames must not pass it."""
        replay = self._replay
        assert replay is not None
        if isinstance(message, bytes) and len(message) <= replay.room:
            replay.append(message)
            self._audio_frames_sent += 1
            self._audio_bytes_sent += len(message)
        elif message == self._spec.end_of_audio_frame:
            self._end_frame_taken = True
        elif message != self._spec.keepalive_frame:
            self._due = message

    def _stop_writer(self) -> None:
        """On any exit: count what is still queued as unsent, stop a replay, and end the
        writer once the write under way (if any) finishes, or stalls for
        ``close_timeout``."""
        self._discard_queued()  # wakes a writer waiting in receive()
        self._pacing.cancel()
        self._exit_deadline = trio.current_time() + self._close_timeout
        self._writing.deadline = min(self._writing.deadline, self._exit_deadline)

    def _coalesce(self, audio: bytes) -> tuple[bytes, int, str | bytes | None]:
        """``audio`` joined with the audio frames queued right behind it, up to
        ``_COALESCE_BYTES``: one WebSocket message instead of many (Deepgram reads
        audio as a byte stream). Only frames queued already are taken, so nothing
        waits; a control frame ends the run and is returned to go next, so nothing
        is reordered. Returns the message, how many frames it holds, and that frame."""
        parts = [audio]
        size = len(audio)
        while size < _COALESCE_BYTES:
            try:
                queued = self._outbox.receive_nowait()
            except (trio.WouldBlock, trio.EndOfChannel, trio.ClosedResourceError):
                break
            if isinstance(queued, str):
                return b"".join(parts), len(parts), queued
            parts.append(queued)
            size += len(queued)
        return (audio if len(parts) == 1 else b"".join(parts)), len(parts), None

    def _detach(self) -> None:
        """The ``async with`` block is over: from now on every call raises
        ``trio.ClosedResourceError``, as a closed trio channel does."""
        self._closed_by_user = True
        self._backlog = None
        self._inbox.close()

    def _mark_closed_by_user(self) -> None:
        """From now on sends raise ClosedResourceError, unless the server ended first."""
        if self._ended is None:
            self._closed_by_user = True

    async def _flush(self) -> None:
        """On a normal exit: stop taking frames, let the writer send what is queued."""
        self._mark_closed_by_user()
        self._outbox_send.close()
        await self._writer_done.wait()

    async def _keepalive_loop(self, interval: float, frame: str) -> None:
        with self._keepalive_scope:
            while True:
                due = self._last_send + interval
                if trio.current_time() < due:
                    await trio.sleep_until(due)
                    continue
                try:
                    self._outbox_send.send_nowait(frame)
                except trio.WouldBlock:
                    pass  # frames are queued: they reset the server's idle timer instead
                except (trio.BrokenResourceError, trio.ClosedResourceError):
                    return
                else:
                    self._keepalives_sent += 1
                    if self._sending is not None:  # a write has taken `interval` already
                        self._arm_send_timeout()
                await trio.sleep(interval)

    async def _watch_for_stall(self, timeout: float) -> None:
        """Drop the socket when audio has flowed for ``timeout`` seconds with no frame
        from the server: a half-open connection reads as healthy forever otherwise."""
        while self._ended is None:
            since = self._audio_since
            if since is None:
                self._audio_flowing = trio.Event()
                await self._audio_flowing.wait()
            elif trio.current_time() < since + timeout:
                await trio.sleep_until(since + timeout)
            else:
                log.info("%s: no answer for %g s of audio", self._spec.name, timeout)
                self._audio_since = None  # the next socket's audio starts the clock anew
                await self._drop(ServerStalled(1006, request_id=self.request_id))
                if self._policy is None:
                    return

    async def _feed(self, source: AsyncIterable[bytes], close_stream_on_end: bool) -> None:
        chunks = aiter(source)
        try:
            async for chunk in chunks:
                if self._stream_closed:
                    break  # close_stream() ended the stream: a live source never ends itself
                await self.send_audio(chunk)
            if close_stream_on_end and self._spec.end_of_audio_frame is not None:
                await self.close_stream()
        except (DeepgramError, trio.ClosedResourceError):
            # A bad frame from the source is raised; a closed connection is reported
            # by receive(), not by this task.
            if self._ended is None and not self._closed_by_user and not self._stream_closed:
                raise
            # The stream or the connection ended first; receive() reports how.
        finally:
            # An async generator left mid-iteration must be closed here, in its task.
            if inspect.isasyncgen(chunks):
                await chunks.aclose()
