"""Flux TTS's turn and interrupt bookkeeping (sans-io): no socket, no event loop.

The answers reach the interrupts as the reader hands them over: through the engine's
waiter registry, oldest waiter first.
"""

from __future__ import annotations

import pytest

from dgtrio._codec import UnknownMessage
from dgtrio._engine._waiters import Waiters
from dgtrio.speak.v2._messages import (
    SpeakV2ControlsApplied,
    SpeakV2Flushed,
    SpeakV2Message,
    SpeakV2SpeechInterrupted,
    SpeakV2SpeechMetadata,
    SpeakV2TurnMetadata,
    SpeakV2Warning,
)
from dgtrio.speak.v2._playback import is_interrupted
from dgtrio.speak.v2._turns import IGNORED_INTERRUPT, SpeakV2Turns

Message = SpeakV2Message | UnknownMessage
SPEECH_ID = "dg_sp_000000000001"


def interrupted(played_ms: int = 1000) -> SpeakV2SpeechInterrupted:
    metadata = SpeakV2TurnMetadata(SPEECH_ID, played_ms, 30, 30, SpeakV2ControlsApplied())
    return SpeakV2SpeechInterrupted(played_ms, metadata)


def metadata() -> SpeakV2SpeechMetadata:
    return SpeakV2SpeechMetadata(SPEECH_ID, 2000, 30, 30, SpeakV2ControlsApplied())


def ends_turn(message: Message) -> bool:
    return isinstance(message, SpeakV2SpeechMetadata)


@pytest.fixture
def waiters() -> Waiters[Message]:
    return Waiters()


# -- text and Flush -----------------------------------------------------------------------


def test_text_opens_a_turn_and_a_flush_ends_it() -> None:
    turns = SpeakV2Turns()
    assert turns.end_turn() is None  # nothing spoken: no Flush
    turns.speaking()
    turns.speaking()  # more text for the same turn
    assert turns.open
    assert turns.end_turn() is not None
    assert not turns.open
    assert turns.end_turn() is None  # flushed already: no second Flush


def test_unsent_text_leaves_the_turn_as_it_was() -> None:
    turns = SpeakV2Turns()
    turns.unsent_text(turns.speaking())
    assert not turns.open  # the only text was never sent: no turn to flush
    turns.speaking()
    turns.unsent_text(turns.speaking())
    assert turns.open  # the text before it was sent


def test_unsent_text_does_not_reopen_a_turn_a_flush_ended_meanwhile() -> None:
    turns = SpeakV2Turns()
    turns.speaking()
    mark = turns.speaking()  # waits to go out...
    assert turns.end_turn() is not None  # ...while another task flushes
    turns.unsent_text(mark)
    assert not turns.open


def test_unsent_flush_reopens_the_turn_unless_an_interrupt_ended_it(
    waiters: Waiters[Message],
) -> None:
    turns = SpeakV2Turns()
    turns.speaking()
    mark = turns.end_turn()
    assert mark is not None
    turns.unsent_flush(mark)
    assert turns.open  # the Flush never went out: the turn is still to be ended
    mark = turns.end_turn()
    assert mark is not None
    turns.interrupt(None, waiters.expect)  # sent while the Flush waited to go out
    turns.unsent_flush(mark)
    assert not turns.open


def test_a_flushed_turn_is_pending_until_it_ends(waiters: Waiters[Message]) -> None:
    turns = SpeakV2Turns()
    first = waiters.expect(ends_turn, ended_by=is_interrupted)
    second = waiters.expect(ends_turn, ended_by=is_interrupted)
    turns.flushed += [first, second]
    waiters.notify(SpeakV2Flushed(SPEECH_ID))
    assert turns.flush_pending()
    waiters.notify(metadata())
    assert first.done.is_set() and turns.flush_pending()
    assert turns.flushed == [second]  # the ended one is forgotten
    waiters.notify(metadata())
    assert not turns.flush_pending() and turns.flushed == []


def test_an_accepted_interrupt_ends_the_waits_of_the_turns_flushed_before_it(
    waiters: Waiters[Message],
) -> None:
    turns = SpeakV2Turns()
    turns.speaking()
    assert turns.end_turn() is not None
    flushed = waiters.expect(ends_turn, ended_by=is_interrupted)
    turns.flushed.append(flushed)
    record = turns.interrupt(None, waiters.expect)
    answer = interrupted()
    waiters.notify(answer)
    assert record.waiter.replies == [answer]
    assert flushed.ended is answer and not flushed.replies
    assert not turns.flush_pending()


# -- Interrupt ----------------------------------------------------------------------------


def test_an_accepted_interrupt_closes_the_turn(waiters: Waiters[Message]) -> None:
    turns = SpeakV2Turns()
    turns.speaking()
    record = turns.interrupt(500, waiters.expect)
    assert not turns.open and turns.interrupts == [record]
    assert record.pending and turns.unsettled() is record
    waiters.notify(interrupted(500))
    assert not record.pending and turns.unsettled() is None
    turns.settle()
    assert turns.interrupts == [] and not turns.open
    assert turns.end_turn() is None  # the turn is cancelled: a flush sends nothing


@pytest.mark.parametrize("code", sorted(IGNORED_INTERRUPT - {"INTERRUPT_IN_PROGRESS"}))
def test_an_ignored_interrupt_leaves_the_turn_open(waiters: Waiters[Message], code: str) -> None:
    turns = SpeakV2Turns()
    turns.speaking()
    record = turns.interrupt(None, waiters.expect)
    assert not turns.open  # closed until the answer says otherwise
    waiters.notify(SpeakV2Warning(code))
    assert record.waiter.replies == [SpeakV2Warning(code)]
    turns.settle()
    assert turns.open  # the text spoken before it still needs its Flush
    assert turns.interrupts == []


def test_an_ignored_interrupt_opens_no_turn_that_was_not_open(waiters: Waiters[Message]) -> None:
    turns = SpeakV2Turns()
    turns.speaking()
    assert turns.end_turn() is not None
    turns.interrupt(None, waiters.expect)
    waiters.notify(SpeakV2Warning("NO_ACTIVE_SPEECH"))
    turns.settle()
    assert not turns.open


def test_settle_keeps_the_interrupts_still_unanswered(waiters: Waiters[Message]) -> None:
    turns = SpeakV2Turns()
    turns.speaking()
    first = turns.interrupt(100, waiters.expect)
    second = turns.interrupt(200, waiters.expect)
    waiters.notify(SpeakV2Warning("NO_AUDIO_GENERATED"))
    turns.settle()
    assert turns.interrupts == [second] and turns.unsettled() is second
    assert turns.open  # the first was ignored, and a turn was open when it went out
    assert first.turn_was_open and not second.turn_was_open


def test_interrupt_in_progress_answers_a_later_interrupt_not_the_oldest(
    waiters: Waiters[Message],
) -> None:
    turns = SpeakV2Turns()
    turns.speaking()
    first = turns.interrupt(None, waiters.expect)
    second = turns.interrupt(None, waiters.expect)
    busy = SpeakV2Warning("INTERRUPT_IN_PROGRESS")
    waiters.notify(busy)  # at once, while the first is being handled
    assert not first.waiter.replies and first.pending
    assert second.waiter.replies == [busy] and not second.pending
    answer = interrupted()
    waiters.notify(answer)
    assert first.waiter.replies == [answer]
    turns.settle()
    assert turns.interrupts == []
    assert not turns.open  # the first, accepted, cancelled the turn; the second opened none


def test_only_the_answers_of_an_interrupt_answer_it() -> None:
    turns = SpeakV2Turns()
    record = turns.interrupt(None, Waiters[Message]().expect)
    assert turns.answers(record, interrupted())
    assert turns.answers(record, SpeakV2Warning("NO_AUDIO_GENERATED"))
    assert not turns.answers(record, SpeakV2Warning("PRONUNCIATION_IPA_INVALID"))
    assert not turns.answers(record, metadata())
    assert not turns.answers(record, SpeakV2Flushed(SPEECH_ID))
    assert not turns.answers(record, UnknownMessage("Newer", {"type": "Newer"}))
    # Its own INTERRUPT_IN_PROGRESS never answers the oldest interrupt still waiting.
    assert not turns.answers(record, SpeakV2Warning("INTERRUPT_IN_PROGRESS"))


def test_unsent_interrupt_is_forgotten_and_reopens_the_turn(waiters: Waiters[Message]) -> None:
    turns = SpeakV2Turns()
    turns.speaking()
    record = turns.interrupt(300, waiters.expect)
    turns.unsent_interrupt(record)
    assert turns.interrupts == [] and turns.open
    assert turns.offset_bound(None) is None  # its offset binds nothing


def test_unsent_interrupt_keeps_a_turn_opened_meanwhile(waiters: Waiters[Message]) -> None:
    turns = SpeakV2Turns()
    record = turns.interrupt(None, waiters.expect)  # no turn was open
    turns.speaking()  # text sent while the Interrupt waited to go out
    turns.unsent_interrupt(record)
    assert turns.open


# -- offsets ------------------------------------------------------------------------------


def test_the_offset_bound_is_the_latest_of_the_baseline_and_the_unanswered(
    waiters: Waiters[Message],
) -> None:
    turns = SpeakV2Turns()
    assert turns.offset_bound(None) is None
    assert turns.offset_bound(700) == 700
    first = turns.interrupt(900, waiters.expect)
    turns.interrupt(None, waiters.expect)  # no offset: binds nothing
    assert turns.offset_bound(700) == 900
    assert turns.offset_bound(1200) == 1200
    waiters.notify(interrupted(900))  # answered: the baseline speaks for it now
    assert not first.pending
    assert turns.offset_bound(None) is None


def test_check_offset_refuses_offsets_that_do_not_advance(waiters: Waiters[Message]) -> None:
    turns = SpeakV2Turns()
    assert turns.check_offset(None, None) is None
    assert turns.check_offset(0, None) is None
    assert turns.check_offset(None, 400) == 400
    assert turns.check_offset(401, 400) == 400
    with pytest.raises(ValueError, match=r"^playback_offset_ms 400 does not advance past 400,"):
        turns.check_offset(400, 400)
    turns.interrupt(900, waiters.expect)
    assert turns.check_offset(None, 400) == 900
    with pytest.raises(ValueError, match="does not advance past 900"):
        turns.check_offset(600, 400)
    assert turns.check_offset(901, 400) == 900


@pytest.mark.parametrize(
    ("offset", "error", "text"),
    [
        (True, TypeError, "playback_offset_ms is an int, not bool"),
        (1.5, TypeError, "playback_offset_ms is an int, not float"),
        ("10", TypeError, "playback_offset_ms is an int, not str"),
        (-1, ValueError, "playback_offset_ms must be 0 or more, not -1"),
    ],
)
def test_check_offset_refuses_what_is_no_offset(
    offset: object, error: type[Exception], text: str
) -> None:
    with pytest.raises(error) as raised:
        SpeakV2Turns().check_offset(offset, None)
    assert str(raised.value) == text
