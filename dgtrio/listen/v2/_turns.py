"""Turns out of Flux ``TurnInfo`` events, per Deepgram's turn state machine (sans-io).

::

    idle --StartOfTurn--> speaking --EagerEndOfTurn--> eager --EndOfTurn--> idle
                              ^                          |
                              +-------TurnResumed--------+
    speaking --EndOfTurn--> idle

``Update`` may come in any state. An event out of this order is logged and counted
(``violations``), never raised: the transcript still reaches the user.
"""

from __future__ import annotations

import logging
from typing import Literal, TypeAlias, cast

import attrs

from ..._codec import UnknownMessage
from ..._reconnect import ConnectionEvent, Reconnected
from ._messages import ListenV2Message, ListenV2TurnInfo, ListenV2Word

__all__ = ["FluxTurn", "FluxTurnEvent", "FluxTurnTracker", "FluxTurnTrigger"]

log = logging.getLogger("dgtrio")

TurnState = Literal["idle", "speaking", "eager"]
FluxTurnEvent: TypeAlias = Literal["EagerEndOfTurn", "TurnResumed", "EndOfTurn", "EndOfStream"]
"""What a :class:`FluxTurn` stands for."""
FluxTurnTrigger: TypeAlias = Literal["model", "manual", "timeout", "end_of_stream"]
"""What ended a turn, as far as this version knows; the server may name newer ones."""


@attrs.frozen
class FluxTurn:
    """A turn ended (``EndOfTurn``), or may have (``EagerEndOfTurn``), or goes on after
    all (``TurnResumed``).

    With eager end of turn, start preparing a reply on ``EagerEndOfTurn``, drop it on
    ``TurnResumed`` and commit on ``EndOfTurn``: the final transcript equals the
    eager one unless a ``TurnResumed`` came in between.

    Attributes:
        event: ``EagerEndOfTurn``, ``TurnResumed`` or ``EndOfTurn``; or
            ``EndOfStream`` for the turn still open when the stream ended (Flux sends
            no ``EndOfTurn`` for it).
        turn_index: which turn of the stream (from 0).
        transcript / words: what was said in the turn.
        start / end: the turn's audio, in stream seconds.
        trigger: for ``EndOfTurn``: ``model``, ``manual`` (``force_end_turn()``),
            ``timeout`` (or a newer reason the server gives); ``end_of_stream`` for
            ``EndOfStream``.
        was_eager: an ``EagerEndOfTurn`` came before this ``EndOfTurn``.
        message: the ``TurnInfo`` itself (for ``EndOfStream``: the turn's last one).
    """

    event: FluxTurnEvent
    turn_index: int
    transcript: str
    words: tuple[ListenV2Word, ...]
    start: float
    end: float
    end_of_turn_confidence: float
    trigger: FluxTurnTrigger | str | None
    languages: tuple[str, ...] | None
    was_eager: bool
    message: ListenV2TurnInfo = attrs.field(repr=False)

    @property
    def final(self) -> bool:
        """Whether the turn is over (``EndOfTurn``, or ``EndOfStream``)."""
        return self.event in ("EndOfTurn", "EndOfStream")


class FluxTurnTracker:
    """Feed it every Flux message; it returns a :class:`FluxTurn` at each turn event.

    Args:
        eager: also return ``EagerEndOfTurn`` and ``TurnResumed`` turns (else only
            ``EndOfTurn``).
    """

    def __init__(self, *, eager: bool = False) -> None:
        self.eager = eager
        self.state: TurnState = "idle"
        self.violations = 0
        """Events that broke the documented order."""
        self._eager_transcript: str | None = None
        self._open: ListenV2TurnInfo | None = None  # the open turn's last TurnInfo

    def feed(self, message: ListenV2Message | ConnectionEvent | UnknownMessage) -> FluxTurn | None:
        """Track one message; the turn it completes (or eagerly ends), if any.

        After :class:`~dgtrio.Reconnected`, the new socket hears the open turn again
        from its start, so the tracker starts it anew.
        """
        if isinstance(message, Reconnected):
            self.state, self._eager_transcript, self._open = "idle", None, None
            return None
        if not isinstance(message, ListenV2TurnInfo):
            return None
        event, state = message.event, self.state
        self._open = None if event == "EndOfTurn" else message
        if event == "StartOfTurn":
            self._expect(state == "idle", message)
            self.state = "speaking"
        elif event == "EagerEndOfTurn":
            self._expect(state == "speaking" and bool(message.transcript), message)
            self.state, self._eager_transcript = "eager", message.transcript
            return self._turn(message, was_eager=False) if self.eager else None
        elif event == "TurnResumed":
            self._expect(state == "eager", message)
            self.state, self._eager_transcript = "speaking", None
            return self._turn(message, was_eager=True) if self.eager else None
        elif event == "EndOfTurn":
            self._expect(state != "idle", message)
            was_eager = self._eager_transcript is not None
            if was_eager and message.transcript != self._eager_transcript:
                self._violation(message, "its transcript differs from EagerEndOfTurn's")
            self.state, self._eager_transcript = "idle", None
            return self._turn(message, was_eager=was_eager)
        return None

    def flush(self) -> FluxTurn | None:
        """The turn still open, as an ``EndOfStream`` turn, if anything was said in
        it: call it when the stream has ended (:meth:`ListenV2Connection.turns` does)."""
        message, was_eager = self._open, self._eager_transcript is not None
        self.state, self._eager_transcript, self._open = "idle", None, None
        if message is None or not message.transcript:
            return None
        return self._turn(message, was_eager=was_eager, event="EndOfStream")

    def _expect(self, ok: bool, message: ListenV2TurnInfo) -> None:
        if not ok:
            self._violation(message, f"unexpected in state {self.state!r}")

    def _violation(self, message: ListenV2TurnInfo, problem: str) -> None:
        self.violations += 1
        log.warning(
            "flux: %s (turn %d, sequence %d): %s",
            message.event,
            message.turn_index,
            message.sequence_id,
            problem,
        )

    @staticmethod
    def _turn(
        message: ListenV2TurnInfo, *, was_eager: bool, event: FluxTurnEvent | None = None
    ) -> FluxTurn:
        return FluxTurn(
            event=event or cast(FluxTurnEvent, message.event),
            turn_index=message.turn_index,
            transcript=message.transcript,
            words=message.words,
            start=message.audio_window_start,
            end=message.audio_window_end,
            end_of_turn_confidence=message.end_of_turn_confidence,
            trigger="end_of_stream" if event == "EndOfStream" else message.trigger,
            languages=message.languages,
            was_eager=was_eager,
            message=message,
        )
