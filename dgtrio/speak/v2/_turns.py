"""Flux TTS's turns and interrupts, as a connection sends them (sans-io).

A turn is open once text was sent since the last ``Flush`` or ``Interrupt``: a
``Flush`` is sent only then, and closes it; an ``Interrupt`` closes it too, unless
the server ignores the interrupt (a ``Warning`` from :data:`IGNORED_INTERRUPT`
answers it), which leaves open the turn that was open when it went out. The
connection asks :class:`SpeakV2Turns` before each send, tells it when a send
failed (the frame never went out), and has it decide which interrupt an answer is
for; the waits and the sockets stay with the connection.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

import attrs

from ..._codec import UnknownMessage
from ..._engine import Waiter
from ._messages import SpeakV2Message, SpeakV2SpeechInterrupted, SpeakV2Warning

__all__ = ["IGNORED_INTERRUPT", "SentInterrupt", "SpeakV2Turns"]

Message = SpeakV2Message | UnknownMessage
Expect = Callable[[Callable[[Message], bool]], Waiter[Message]]
"""Registers a waiter for the replies a predicate matches (``engine.requests.expect``)."""

IGNORED_INTERRUPT = frozenset(
    {"NO_AUDIO_GENERATED", "INTERRUPT_IN_PROGRESS", "INVALID_INTERRUPT_OFFSET", "NO_ACTIVE_SPEECH"}
)
"""The ``Warning`` codes that answer an ``Interrupt`` the server ignored (the first
three are documented as such; ``NO_ACTIVE_SPEECH`` is what a speech-scoped message
gets when no turn is active)."""


@attrs.define(eq=False)
class SentInterrupt:
    """An ``Interrupt`` sent and not yet settled: its offset, whether a turn was open
    when it went out (an ignored one leaves that turn open), and its waiter."""

    offset: int | None
    turn_was_open: bool
    waiter: Waiter[Message] = attrs.field(init=False)

    @property
    def pending(self) -> bool:
        """Whether the interrupt is still waiting for its answer."""
        return not self.waiter.done.is_set()


class SpeakV2Turns:
    """Whether a turn is open, the interrupts not yet settled and the turns flushed
    and not yet ended, for one Flux TTS connection; no I/O.

    Each change is made before its send, so that what is sent meanwhile comes after
    it; a send that fails hands back what the change returned (``unsent_*``). Text
    and a ``Flush`` are then undone unless a later ``Flush`` or ``Interrupt`` ended
    the turn since; an ``Interrupt`` is forgotten, and the turn that was open when
    it was made is open again.
    """

    __slots__ = ("_ends", "flushed", "interrupts", "open")

    def __init__(self) -> None:
        self.open = False
        """Whether text was sent since the last ``Flush`` or ``Interrupt``."""
        self.interrupts: list[SentInterrupt] = []
        """Interrupts sent, oldest first, until settled."""
        self.flushed: list[Waiter[Message]] = []
        """The waiters of the turns ``flush()`` ended, until they end."""
        self._ends = 0  # Flushes and Interrupts made: did one come since a failed send?

    # -- text and Flush ----------------------------------------------------------------------

    def speaking(self) -> tuple[int, bool]:
        """Text is about to be sent: the turn is open (before the send, so that an
        interrupt meanwhile comes after it). The mark for :meth:`unsent_text`."""
        mark = self._ends, self.open
        self.open = True
        return mark

    def unsent_text(self, mark: tuple[int, bool]) -> None:
        """The text of :meth:`speaking`'s ``mark`` was not sent: the turn is as it was,
        unless a ``Flush`` or ``Interrupt`` went out since."""
        ends, was_open = mark
        if self._ends == ends:
            self.open = was_open

    def end_turn(self) -> int | None:
        """A ``Flush`` is to end the open turn: the mark for :meth:`unsent_flush`; or
        ``None``, no turn is open (nothing is to be sent)."""
        if not self.open:
            return None
        self.open = False
        self._ends += 1
        return self._ends

    def unsent_flush(self, mark: int) -> None:
        """The ``Flush`` of ``mark`` was not sent: the turn is open again, unless an
        ``Interrupt`` ended it since."""
        if self._ends == mark:
            self.open = True

    def flush_pending(self) -> bool:
        """Whether a turn ``flush()`` ended has not ended yet (forgetting those that
        have)."""
        self.flushed = [waiter for waiter in self.flushed if not waiter.done.is_set()]
        return bool(self.flushed)

    # -- Interrupt ---------------------------------------------------------------------------

    def check_offset(self, offset: object, baseline_ms: int | None) -> int | None:
        """Check an interrupt's ``playback_offset_ms``; what the next offset must be
        past (:meth:`offset_bound`).

        Raises:
            TypeError: not an int. ValueError: negative, or not past the bound.
        """
        if offset is not None:
            if isinstance(offset, bool) or not isinstance(offset, int):
                raise TypeError(f"playback_offset_ms is an int, not {type(offset).__name__}")
            if offset < 0:
                raise ValueError(f"playback_offset_ms must be 0 or more, not {offset}")
        bound = self.offset_bound(baseline_ms)
        if offset is not None and bound is not None and offset <= bound:
            raise ValueError(
                f"playback_offset_ms {offset} does not advance past {bound}, where the last "
                "interrupt put playback: offsets count from the start of the session"
            )
        return bound

    def offset_bound(self, baseline_ms: int | None) -> int | None:
        """What the next offset must be past: where the last interrupt put playback
        (``baseline_ms``), or the offset of one still unanswered, if later."""
        offsets = [r.offset for r in self.interrupts if r.offset is not None and r.pending]
        if baseline_ms is not None:
            offsets.append(baseline_ms)
        return max(offsets, default=None)

    def interrupt(self, offset: int | None, expect: Expect) -> SentInterrupt:
        """An ``Interrupt`` with ``offset`` is about to be sent: its record, with the
        waiter ``expect`` registered for its answer. The turn is closed."""
        record = SentInterrupt(offset, self.open)
        record.waiter = expect(partial(self.answers, record))
        self.interrupts.append(record)
        self.open = False
        self._ends += 1
        return record

    def unsent_interrupt(self, record: SentInterrupt) -> None:
        """The ``Interrupt`` of ``record`` was not sent: forgotten, and the turn that
        was open then is open again."""
        self.interrupts.remove(record)
        self.open = self.open or record.turn_was_open

    def answers(self, record: SentInterrupt, message: Message) -> bool:
        """Whether ``message`` is the answer to the interrupt ``record`` (the reader
        asks, oldest interrupt first)."""
        if isinstance(message, SpeakV2SpeechInterrupted):
            return True
        if not isinstance(message, SpeakV2Warning) or message.code not in IGNORED_INTERRUPT:
            return False
        if message.code == "INTERRUPT_IN_PROGRESS":
            # An earlier interrupt is being handled: this is not the answer to it.
            oldest = next(r for r in self.interrupts if not r.waiter.replies)
            return oldest is not record
        return True

    def unsettled(self) -> SentInterrupt | None:
        """The oldest interrupt still waiting for its answer, if any."""
        return next((r for r in self.interrupts if r.pending), None)

    def settle(self) -> None:
        """Forget the interrupts that have their answer; an ignored one left the turn
        that was open when it went out open."""
        for record in [r for r in self.interrupts if not r.pending]:
            self.interrupts.remove(record)
            replies = record.waiter.replies
            if replies and isinstance(replies[0], SpeakV2Warning) and record.turn_was_open:
                self.open = True
