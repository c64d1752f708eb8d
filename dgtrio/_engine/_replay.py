"""The writer's part in replacing a lost socket (``reconnect=``).

While no socket is up, frames queued are taken off the queue as they come: the core
keeps audio in the replay buffer, so that senders do not stall in an outage
(:func:`take_while_down`). A socket that replaced a lost one is first written a
:class:`Replay`: what configured the lost socket, then the audio it had not
acknowledged, paced as the policy says, then the end of the stream if it had been
taken. Audio queued meanwhile joins the replay (:func:`take_queued`), so live audio
is not held up behind it: the replay runs until it has caught up with the queue.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import trio

from ._core import StreamCore
from ._drivers import Liveness
from ._queue import Queue

__all__ = ["Replay", "take_queued", "take_while_down"]


def take_queued(core: StreamCore[Any], queue: Queue[str | bytes]) -> str | bytes | None:
    """Take what is queued now, without waiting, while it cannot be written (no
    socket, or a replay under way): the core keeps what it can (see
    :meth:`StreamCore.take_while_down`). The first frame it cannot keep is returned,
    to be written next: later frames may not pass it."""
    while queue:
        frame = queue.get_nowait()
        if not core.take_while_down(frame):
            return frame
    return None


async def take_while_down(core: StreamCore[Any], queue: Queue[str | bytes]) -> str | bytes | None:
    """:func:`take_queued`, waiting for each frame as it is queued, until one cannot
    be kept (returned) or the queue ends (None)."""
    try:
        while True:
            frame = await queue.get()
            if not core.take_while_down(frame):
                return frame
    except (trio.EndOfChannel, trio.ClosedResourceError):
        return None


class Replay:
    """One replay onto a socket that replaced a lost one (see the module docstring).

    ``write`` writes one frame, bounded by ``send_timeout``, and returns the time it
    was done; ``take_queued`` takes the frames queued meanwhile (into the replay
    buffer, or as the frame due next). :meth:`stop` ends the paced audio: the writer
    is stopping.
    """

    __slots__ = ("_core", "_liveness", "_pacing", "_take_queued", "_write")

    def __init__(
        self,
        core: StreamCore[Any],
        write: Callable[[str | bytes], Awaitable[float]],
        take_queued: Callable[[], None],
        liveness: Liveness,
    ) -> None:
        self._core = core
        self._write = write
        self._take_queued = take_queued
        self._liveness = liveness
        self._pacing: trio.CancelScope | None = None

    def stop(self) -> None:
        """Stop the paced audio (a write under way is the writer's to bound)."""
        if self._pacing is not None:
            self._pacing.cancel()

    async def run(self) -> None:
        """Re-send what configured the old socket, then the audio it had not
        acknowledged, paced, then the end of the stream if it had been sent."""
        core = self._core
        plan, replay, fmt, policy = core.replay_plan(), core.replay, core.input_format, core.policy
        assert replay is not None
        assert fmt is not None
        assert policy is not None
        # The replay takes the queue as it goes, so nothing waits behind its writes:
        # each is bounded itself.
        for frame in plan.reapply:
            await self._write(frame)
            core.sent(frame)
        position, written = plan.start, 0
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
                self._liveness.audio_sent(await self._write(data))
                core.replayed(position, len(data))
                position += len(data)
                written += len(data)
        end = core.replay_end
        if end is not None and not self._pacing.cancelled_caught:
            await self._write(end)
            core.sent(end)
