"""The writer: how frames get to the socket, whole and in order.

A frame sent while the socket is idle (nothing queued, being written or replayed,
and the last write not just now) is written at once from the sender's task, as
asyncio's transports write: a real-time stream's frames never wake another task.
Otherwise it joins one bounded queue, and the writer's task writes what is queued,
in order (a keepalive never races a send); audio frames queued behind each other go
out joined (Deepgram reads audio as a byte stream). A frame cut short by
cancellation would corrupt the stream, so the task is shielded for a socket's whole
life, and what a cancelled sender began is finished by the task; a write stuck while
others wait behind it is given ``send_timeout`` (at exit, what is left of
``close_timeout``), then the socket is dropped. With ``reconnect=``, the task keeps
taking audio into the replay buffer while no socket is up, and replays it on the
next one (``_replay``).

The task runs only while it has work: it starts with the first frame queued (or a
replay due) and ends when nothing is queued (idle connections are the many, and a
task costs memory).

Other parts steer it through its methods (:meth:`socket_lost`,
:meth:`socket_changed`, :meth:`stop`), never through its scopes.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any, Literal

import trio

from .._errors import ConnectionLost, SendTimeout
from .._transport import Transport, TransportClosed
from ._core import StreamCore
from ._drivers import Liveness
from ._queue import Queue
from ._replay import Replay, take_queued, take_while_down

__all__ = ["Writer"]

# Audio frames queued behind each other go out as one message of up to this size.
_COALESCE_BYTES = 64 * 1024
# A frame sent sooner than this after the last write is part of a burst: it is
# queued, where frames join (see Writer._write_now). Real-time audio comes in frames
# of 20 ms or more, and each goes out at once.
_BURST_GAP = 0.005
log = logging.getLogger("dgtrio")

Send = Callable[[str | bytes], Awaitable[None]]
# How writing to a socket stopped: the queue ended, the socket did, or nothing is
# queued (the writer's task ends until the next frame queued).
Outcome = Literal["finished", "lost", "idle"]


class Writer:
    """Writes queued frames to the current socket (see the module docstring)."""

    __slots__ = (
        "_close_timeout",
        "_core",
        "_done",
        "_drop",
        "_due",
        "_exit_deadline",
        "_finished",
        "_in_flight",
        "_liveness",
        "_outage",
        "_queue",
        "_replay",
        "_replayed_to",
        "_running",
        "_send_timeout",
        "_sending",
        "_socket",
        "_spawn",
        "_writing",
        "last_send",
    )

    def __init__(
        self,
        core: StreamCore[Any],
        socket: Callable[[], Transport],
        drop: Callable[[ConnectionLost], Awaitable[None]],
        liveness: Liveness,
        *,
        max_queued_frames: int,
        send_timeout: float,
        close_timeout: float,
    ) -> None:
        self._core = core
        self._socket = socket  # the socket serving the stream now
        self._drop = drop  # gives up on the socket (the reader sees it close)
        self._liveness = liveness
        self._send_timeout = send_timeout
        self._close_timeout = close_timeout
        self._queue: Queue[str | bytes] = Queue(max_queued_frames)
        # The task: started by _run_when_needed() in the connection's nursery (given
        # to start()), and its end (_done), once per run.
        self._spawn: Callable[[Callable[[], Awaitable[None]]], object] | None = None
        self._running = False
        self._finished = False  # ended for good: its queue is closed
        self._done = trio.Event()
        self._done.set()
        self._writing = trio.CancelScope(shield=True)  # for a socket's life
        self._replayed_to: Transport | None = None  # the socket the replay went to
        self._outage: trio.CancelScope | None = None  # the wait for a new socket
        self._replay: Replay | None = None  # the last replay onto a new socket
        self._sending: str | bytes | None = None  # the message being written ...
        self._in_flight = 0  # ... and the frames in it
        self._due: str | bytes | None = None  # a frame due next (see _write_queued)
        self._exit_deadline = math.inf  # once the block is left
        self.last_send = trio.current_time()  # when the last frame went out

    @property
    def queued(self) -> int:
        """Frames waiting to be written now."""
        return len(self._queue)

    # -- what the rest of the engine calls -----------------------------------------------

    async def put(self, frame: str | bytes) -> None:
        """Queue ``frame``, waiting while the queue is full. Raises why the connection
        cannot send once it has ended or was closed."""
        core = self._core
        if not core.can_send:
            core.raise_closed()
        await trio.lowlevel.checkpoint_if_cancelled()
        now = self._idle()
        if now is not None and await self._write_now(frame, now):
            return
        try:
            try:
                # With room in the queue this returns without yielding to other tasks,
                # so a fast producer queues frames back to back and the writer sends
                # them joined; a full queue waits (backpressure). A real-time producer
                # yields between frames anyway, and each frame goes out at once.
                self._queue.put_nowait(frame)
            except trio.WouldBlock:
                self._arm_send_timeout()
                await self._queue.put(frame)
            else:
                if self._sending is not None:
                    self._arm_send_timeout()
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            pass  # raised below, outside this handler: no misleading __context__
        else:
            if not self._running:
                self._run_when_needed()
            return
        core.raise_closed()

    def _idle(self) -> float | None:
        """The time now if a frame may go out at once, from the sender's task, else
        None: the writer's task is not running (so nothing is queued or due: queueing
        starts it, and it ends with its queue empty), no replay is due, a socket is
        up, and the last write was not just now (frames in a burst are queued, to go
        out joined). A write under way, or the rest of one, makes the transport refuse
        it. The clock is read last: a burst's frames, queued while the task runs, do
        without it."""
        core = self._core
        if (
            self._running
            or self._finished
            or core.reconnecting
            or (core.replaced and self._socket() is not self._replayed_to)
        ):
            return None
        now = trio.current_time()
        return now if now - self.last_send >= _BURST_GAP else None

    async def _write_now(self, frame: str | bytes, now: float) -> bool:
        """Write ``frame`` from the sender's task, if the socket takes it without
        waiting (see :meth:`Transport.write_now`): no hop to the writer's task, which
        is what a real-time stream's frames cost most. Whether it was taken.

        A full socket takes part of it: the rest goes out here, whole (``now`` is
        then when it did)."""
        transport = self._socket()
        if not transport.write_now(frame):
            return False
        self._core.taken(frame)
        if transport.backlogged:
            if not await self._write_rest(transport):
                self._core.unsent(1)
                return True
            now = trio.current_time()
        self._sent(frame, 1, now)
        return True

    async def _write_rest(self, transport: Transport) -> bool:
        """Write the rest of a frame the socket took only part of, within
        ``send_timeout`` (the socket is full: a peer that reads nothing is dropped).
        Whether it went out. A cancelled sender leaves the rest to the writer's task:
        a frame cut short would corrupt the stream. Meanwhile the transport refuses
        other direct writes: frames queue behind it."""
        deadline = min(trio.current_time() + self._send_timeout, self._exit_deadline)
        try:
            with trio.move_on_at(deadline) as scope:
                await transport.flush()
        except TransportClosed as closed:
            await _write_failed(self._core, transport, closed)
            return False
        except trio.Cancelled:
            # The sender is cancelled: the writer's task finishes the frame.
            self._run_when_needed()
            raise
        if scope.cancelled_caught:
            await self._write_stalled()
            return False
        return True

    def put_keepalive(self, frame: str) -> bool:
        """Queue a keepalive unless frames are queued already (they reset the server's
        idle timer instead): whether it was queued. Raises ``trio.ClosedResourceError``
        once the queue is closed."""
        try:
            self._queue.put_nowait(frame)
        except trio.WouldBlock:
            return False
        except trio.BrokenResourceError:
            raise trio.ClosedResourceError from None
        if self._sending is not None:  # a write has taken the interval already
            self._arm_send_timeout()
        self._run_when_needed()
        return True

    def start(self, nursery: trio.Nursery) -> None:
        """Run the task in ``nursery`` whenever there is work (not yet: none is)."""
        self._spawn = nursery.start_soon

    def _run_when_needed(self) -> None:
        if self._running or self._finished or self._spawn is None:
            return
        self._running = True
        self._done = trio.Event()
        self._spawn(self.run)

    def socket_lost(self) -> None:
        """The socket is being replaced: stop writing to it."""
        self._writing.cancel()

    def socket_changed(self) -> None:
        """A new socket is up, or the connection ended: stop waiting for one (a new
        socket needs its replay: the task runs for it)."""
        if self._outage is not None:
            self._outage.cancel()
        if self._core.can_send and self._core.replaced:
            self._run_when_needed()

    async def finish(self) -> None:
        """On a normal exit: take no more frames, and wait until the queued ones went
        out (the caller bounds the wait)."""
        self._queue.close_sending()
        if self._running:
            await self._done.wait()

    def stop(self) -> None:
        """On any exit: count what is still queued as unsent, stop a replay, and end
        once the write under way (if any) finishes, or stalls for ``close_timeout``."""
        self._discard_queued()  # wakes a writer waiting for a frame
        self._finished = True  # and none starts again
        if self._replay is not None:
            self._replay.stop()
        self._exit_deadline = trio.current_time() + self._close_timeout
        self._writing.deadline = min(self._writing.deadline, self._exit_deadline)

    # -- the task ------------------------------------------------------------------------

    async def run(self) -> None:
        core, ended = self._core, True
        try:
            while True:
                transport = self._socket()
                if core.reconnecting:  # started while no socket is up
                    await self._wait_for_socket(transport)
                    if core.ended is not None:
                        return
                    continue
                self._writing = writing = trio.CancelScope(
                    shield=True, deadline=self._exit_deadline
                )
                outcome: Outcome = "lost"  # unless the write says otherwise
                with writing:
                    outcome = await self._write_socket(transport)
                self._lose_in_flight()
                if writing.cancelled_caught:
                    await self._write_stalled()
                elif outcome == "idle":
                    ended = False
                    return
                elif outcome == "finished":
                    return
                if core.policy is None:
                    return
                await self._wait_for_socket(transport)
                if core.ended is not None:
                    return
        finally:
            self._running = False
            if ended:
                self._finished = True
                self._discard_queued()
            self._done.set()

    async def _write_socket(self, transport: Transport) -> Outcome:
        """Replay (on a socket after the first, once), then write what is queued; the
        rest of a frame whose sender was cancelled while writing it goes first."""
        send = transport.send
        try:
            if transport.backlogged:
                self._arm_send_timeout()
                await transport.flush()
            if self._core.replaced and transport is not self._replayed_to:
                write = partial(self._write, send, bounded=True)
                self._replay = Replay(self._core, write, self._take_queued, self._liveness)
                await self._replay.run()
                self._replayed_to = transport
            return await self._write_queued(send)
        except TransportClosed as closed:
            await _write_failed(self._core, transport, closed)
            return "lost"

    async def _write_stalled(self) -> None:
        """A write took longer than it was given: drop the socket (unless a new one is
        being dialled already)."""
        core = self._core
        if core.reconnecting:
            return
        log.info("%s: a write stalled; the socket is dropped", core.spec.name)
        stalled = SendTimeout if self._exit_deadline == math.inf else ConnectionLost
        await self._drop(stalled(1006, request_id=core.request_id))

    async def _write_queued(self, send: Send) -> Outcome:
        """Write what is queued, in order, until nothing is (the task ends: the next
        frame goes out at once, or starts it again) or the queue ends."""
        queue = self._queue
        while True:
            message = self._due
            if message is None:
                try:
                    message = queue.get_nowait()
                except trio.WouldBlock:
                    return "idle"
                except (trio.EndOfChannel, trio.ClosedResourceError):
                    return "finished"
            else:
                self._due = None
            frames = 1
            if isinstance(message, bytes):
                message, frames, self._due = _coalesce(message, queue)
            self._core.taken(message)
            self._sending, self._in_flight = message, frames
            # A frame waiting behind this write bounds it by send_timeout.
            backlog = bool(queue) or self._due is not None
            now = await self._write(send, message, bounded=backlog)
            self._sending = None
            self._sent(message, frames, now)

    def _sent(self, message: str | bytes, frames: int, now: float) -> None:
        """``message`` (``frames`` queued frames) went out at ``now``."""
        self.last_send = now
        if isinstance(message, bytes):
            self._liveness.audio_sent(now)
        self._core.sent(message, frames)

    async def _write(self, send: Send, frame: str | bytes, *, bounded: bool = False) -> float:
        """Write one frame; the time it was done. A ``bounded`` write (frames wait
        behind it) is given ``send_timeout`` at once; others once a frame is queued
        behind them."""
        if bounded:
            self._arm_send_timeout()
        await send(frame)
        writing = self._writing
        if writing.deadline != self._exit_deadline:
            writing.deadline = self._exit_deadline  # the queue moves again
        self.last_send = now = trio.current_time()
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

    def _lose_in_flight(self) -> None:
        """The message being written when the socket went (or the writer stopped) is
        the core's to account for (see :meth:`StreamCore.lost_in_flight`)."""
        message, self._sending = self._sending, None
        if message is not None and self._core.lost_in_flight(message, self._in_flight):
            self._due = message

    def _discard_queued(self) -> None:
        """At the writer's end (or the block's): what was queued but never taken is
        unsent."""
        self._core.unsent(self.queued + (self._due is not None))
        self._due = None
        self._queue.close_receiving()

    # -- replacing a socket (see _replay) ---------------------------------------------------

    async def _wait_for_socket(self, lost: Transport) -> None:
        """While ``lost`` is the socket, take audio off the queue into the replay buffer
        (see :func:`take_while_down`), so that senders do not stall in an outage; return
        once a new socket serves the stream, or the connection ended."""
        while self._socket() is lost and self._core.ended is None:
            with trio.CancelScope() as self._outage:
                if self._due is None:
                    self._due = await take_while_down(self._core, self._queue)
                await trio.sleep_forever()
        self._outage = None

    def _take_queued(self) -> None:
        """Take what is queued now, without waiting (see :func:`take_queued`)."""
        if self._due is None:
            self._due = take_queued(self._core, self._queue)


def _coalesce(audio: bytes, queue: Queue[str | bytes]) -> tuple[bytes, int, str | bytes | None]:
    """``audio`` joined with the audio frames queued right behind it in ``queue``, up
    to ``_COALESCE_BYTES``: one WebSocket message instead of many. Only frames queued
    already are taken, so nothing waits; a control frame ends the run and is returned
    to go next, so nothing is reordered. Returns the message, how many frames it
    holds, and that frame."""
    parts = [audio]
    size = len(audio)
    while size < _COALESCE_BYTES and queue:
        queued = queue.get_nowait()
        if isinstance(queued, str):
            return b"".join(parts), len(parts), queued
        parts.append(queued)
        size += len(queued)
    return (audio if len(parts) == 1 else b"".join(parts)), len(parts), None


async def _write_failed(
    core: StreamCore[Any], transport: Transport, closed: TransportClosed
) -> None:
    """A write found ``transport`` closed: the connection ends, or (reconnecting) the
    socket is dropped, so that the reader sees it too."""
    if core.policy is None:
        core.end(closed.code, closed.reason)
    else:
        await transport.abort()
