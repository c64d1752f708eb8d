"""The engine's sans-io parts without a socket: the stream core driven by Hypothesis
through random sequences of audio, acknowledgements, closes and redials against its
invariants; the requests' waiters; and each API's adapter."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import attrs
import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

import dgtrio
from dgtrio._codec import UnknownMessage
from dgtrio._engine._adapter import Adapter
from dgtrio._engine._core import State, StateError, StreamCore
from dgtrio._engine._spec import ApiSpec
from dgtrio._engine._waiters import Waiters
from dgtrio.audio._format import AudioFormat
from dgtrio.listen.v1._connection import ListenV1Adapter
from dgtrio.listen.v1._messages import CODEC as LISTEN_V1
from dgtrio.listen.v2._connection import ListenV2Adapter
from dgtrio.listen.v2._messages import CODEC as LISTEN_V2
from dgtrio.speak.v1._connection import SpeakV1Adapter
from dgtrio.speak.v1._messages import CODEC as SPEAK_V1

FORMAT = AudioFormat("linear16", 16000)
FRAME = FORMAT.frame_bytes(20)  # 640 bytes


@attrs.frozen
class Done:
    """A test message: the server is done with the audio up to ``seconds``."""

    seconds: float


@attrs.frozen
class ServerError:
    description: str = "boom"
    code: str = "FATAL"


class DoneAdapter(Adapter[Any]):
    def audio_done(self, message: Any) -> float | None:
        return message.seconds if isinstance(message, Done) else None


SPEC: ApiSpec[Any] = ApiSpec(
    "test",
    "/test",
    LISTEN_V1,
    end_of_audio_frame="END",
    keepalive_frame="KEEPALIVE",
    fatal_error=ServerError,
)


class CoreMachine(RuleBasedStateMachine):
    """Random lives of a reconnecting stream; the invariants hold after every step."""

    @initialize(replay_seconds=st.sampled_from([0.1, 1.0, 60.0]))
    def start(self, replay_seconds: float) -> None:
        policy = dgtrio.ReconnectPolicy(replay_seconds=replay_seconds, jitter=0)
        self.core: StreamCore[Any] = StreamCore(SPEC, policy=policy, request_id="first")
        self.core.attach(DoneAdapter(), FORMAT)
        self.now = 0.0
        self.taken = 0  # audio bytes given to the core
        self.ended: dgtrio.DeepgramError | None = None
        self.acknowledged = 0
        self.lost = 0

    @property
    def replay(self) -> Any:
        assert self.core.replay is not None
        return self.core.replay

    @rule(frames=st.integers(1, 60))
    def take_audio(self, frames: int) -> None:
        audio = bytes(FRAME * frames)
        self.core.taken(audio)
        self.core.sent(audio, frames)
        self.taken += FRAME * frames

    @precondition(lambda self: self.core.state in (State.OPEN, State.CLOSING))
    @rule(fraction=st.floats(0, 1.2))
    def server_finishes_some(self, fraction: float) -> None:
        end = self.replay.end
        start = self.core.socket_start
        seconds = FORMAT.duration(start + round((end - start) * fraction / FRAME) * FRAME)
        # Timestamps count from the socket's start: the core rebases nothing here
        # (the test adapter has no rebase), so give stream seconds.
        self.core.message(Done(seconds))

    @precondition(lambda self: self.core.state in (State.OPEN, State.CLOSING))
    @rule()
    def server_reports_a_fatal_error(self) -> None:
        self.core.message(ServerError())

    @precondition(lambda self: self.core.state in (State.OPEN, State.CLOSING))
    @rule()
    def server_sends_something_else(self) -> None:
        self.core.message(UnknownMessage("Other", {"type": "Other"}))

    @rule()
    def user_ends_the_stream(self) -> None:
        first = not self.core.stream_closed
        assert self.core.close_stream() is first
        if first:
            self.core.taken("END")
        assert self.core.end_of_audio_taken
        with pytest.raises(Exception, match="the stream was ended"):
            self.core.check_streaming("audio")

    @precondition(lambda self: self.core.state in (State.OPEN, State.CLOSING))
    @rule(
        close=st.sampled_from([(1000, ""), (1006, ""), (1011, "NET-0000"), (1008, "DATA-0000")]),
        dropped=st.booleans(),
        outcome=st.sampled_from(["up", "failed"]),
        elapsed=st.integers(0, 30),
    )
    def socket_closes(
        self, close: tuple[int, str], dropped: bool, outcome: str, elapsed: int
    ) -> None:
        core = self.core
        self.now += elapsed
        if dropped:
            core.drop(dgtrio.ConnectionLost(1006))
        fatal = core.fatal is not None
        lost = core.socket_closed(*close)
        if lost is None:
            assert core.state is State.CLOSED and core.ended is not None
            if fatal:
                assert isinstance(core.error, dgtrio.ServerError)
            return
        assert not fatal and not core.closed_by_user
        assert dropped or close[0] != 1000
        with pytest.raises(StateError):
            core.socket_up("early", began=self.now, now=self.now)
        with pytest.raises(StateError):
            core.redial_failed(lost, dgtrio.ConnectError("early"), 1)
        core.socket_lost(self.now)
        assert core.state is State.RECONNECTING
        # While no socket is up, no socket can close or send a message, and there is
        # nothing to replay onto.
        refused: list[Callable[[], object]] = [
            lambda: core.socket_closed(1006, ""),
            lambda: core.message(Done(0.0)),
            core.replay_plan,
        ]
        for call in refused:
            with pytest.raises(StateError):
                call()
        # What the writer takes meanwhile: a keepalive is dropped, another control
        # message must wait, audio is kept while there is room.
        assert core.take_while_down("KEEPALIVE")
        assert not core.take_while_down("OTHER")
        frame = bytes(FRAME)
        room = core.replay.room if core.replay is not None else 0
        assert core.take_while_down(frame) is (room >= FRAME)
        if room >= FRAME:
            self.taken += FRAME
        if outcome == "failed":
            core.redial_failed(lost, dgtrio.ConnectError("no"), 3)
            assert isinstance(core.error, dgtrio.ReconnectFailed)
            assert core.error.attempts == 3 and core.replay is not None
            assert core.replay.pending == 0  # what was pending is lost
            return
        event = core.socket_up("next", began=self.now, now=self.now + 0.5)
        assert core.state is (State.CLOSING if core.stream_closed else State.OPEN)
        plan = core.replay_plan()
        assert plan.start == core.socket_start
        assert core.replay_end == ("END" if core.end_of_audio_taken else None)
        assert (event.request_id, event.outage) == ("next", 0.5)
        assert core.offset == FORMAT.duration(core.socket_start)
        assert event.replay == FORMAT.duration(self.replay.end - core.socket_start)
        with pytest.raises(StateError):
            core.socket_lost(self.now) if core.state is State.RECONNECTING else core.socket_up(
                "again", began=self.now, now=self.now
            )

    @rule(even_if_ended=st.booleans())
    def user_closes(self, even_if_ended: bool) -> None:
        ended_before = self.core.ended
        self.core.close_by_user(even_if_ended=even_if_ended)
        if ended_before is None or even_if_ended:
            assert self.core.closed_by_user and self.core.state is State.CLOSED
            with pytest.raises(Exception, match="this connection was closed"):
                self.core.raise_closed()

    @invariant()
    def bytes_balance(self) -> None:
        counters, replay = self.core.counters, self.core.replay
        if replay is None:
            return
        assert counters.audio_bytes_sent == self.taken
        assert self.taken == replay.acknowledged + replay.pending + replay.lost
        assert replay.acknowledged >= self.acknowledged and replay.lost >= self.lost
        self.acknowledged, self.lost = replay.acknowledged, replay.lost

    @invariant()
    def the_first_end_wins(self) -> None:
        if self.ended is not None:
            assert self.core.ended is self.ended
        self.ended = self.core.ended

    @invariant()
    def state_says_what_happened(self) -> None:
        core = self.core
        if core.ended is not None or core.closed_by_user:
            assert core.state is State.CLOSED and not core.can_send
        else:
            assert core.state is not State.CLOSED and core.can_send
        if core.state is State.CLOSING:
            assert core.stream_closed
        if core.error is not None:
            assert core.ended is core.error
        stats = core.statistics(queued_frames=0, buffered_messages=0)
        assert stats.state == core.state.value
        assert stats.reconnects == core.counters.reconnects


TestCore = CoreMachine.TestCase
TestCore.settings = settings(max_examples=300, stateful_step_count=30, deadline=None)


def test_a_clean_close_after_the_end_acknowledges_everything() -> None:
    core: StreamCore[Any] = StreamCore(SPEC, policy=dgtrio.ReconnectPolicy())
    core.attach(DoneAdapter(), FORMAT)
    core.taken(bytes(FRAME * 10))
    core.close_stream()
    assert core.socket_closed(1000, "") is None
    assert core.replay is not None and core.replay.acknowledged == FRAME * 10
    assert core.error is None and isinstance(core.ended, dgtrio.ConnectionClosed)


def test_a_lost_socket_with_everything_acknowledged_still_waits_for_the_summary() -> None:
    spec: ApiSpec[Any] = attrs.evolve(SPEC, ends_with_summary=True)
    core: StreamCore[Any] = StreamCore(spec, policy=dgtrio.ReconnectPolicy())
    core.attach(DoneAdapter(), FORMAT)
    core.taken(bytes(FRAME * 10))
    core.close_stream()
    core.message(Done(0.2))  # every byte is acknowledged ...
    assert core.socket_closed(1006, "") is not None  # ... but the summary is missing
    core.socket_lost(0.0)
    core.socket_up("next", began=0.0, now=0.1)
    core.message(Done(math.inf))  # the summary
    assert core.socket_closed(1006, "") is None and core.state is State.CLOSED


def test_without_a_policy_a_close_ends_the_connection() -> None:
    core: StreamCore[Any] = StreamCore(SPEC)
    core.attach(DoneAdapter(), None)
    assert core.socket_closed(1011, "NET-0000") is None
    assert isinstance(core.error, dgtrio.ServerTimeout)
    with pytest.raises(StateError):
        core.socket_lost(0.0)


# -- the waiters --------------------------------------------------------------------------


def test_each_reply_goes_to_the_oldest_waiter_it_answers() -> None:
    waiters: Waiters[str] = Waiters()
    first = waiters.expect(lambda m: m == "ack")
    second = waiters.expect(lambda m: m == "ack", want=2)
    cleared = waiters.expect(lambda m: m == "done", ended_by=lambda m: m == "cleared")
    clear = waiters.expect(lambda m: m == "cleared")
    waiters.notify("ack")
    assert first.replies == ["ack"] and first.done.is_set() and first not in waiters
    waiters.notify("ack")
    assert not second.done.is_set()  # it wants two
    waiters.notify("cleared")  # answers the clear, and ends the older wait
    assert clear.replies == ["cleared"] and cleared.ended == "cleared"
    assert cleared.done.is_set() and cleared.replies == []
    waiters.notify("ack")
    assert second.replies == ["ack", "ack"] and not waiters
    waiters.notify("nobody's")  # answers nothing: ignored


def test_a_withdrawn_waiter_takes_nothing_and_wake_all_ends_every_wait() -> None:
    waiters: Waiters[str] = Waiters()
    gone = waiters.expect(lambda m: True)
    waiters.withdraw(gone)
    left = waiters.expect(lambda m: m == "x")
    waiters.notify("y")
    assert gone.replies == [] and left.replies == []
    waiters.wake_all()
    assert left.done.is_set() and left.replies == []


# -- the adapters -------------------------------------------------------------------------


def _results(start: float, duration: float, channel: int = 0, channels: int = 1) -> Any:
    words = [{"word": "hi", "start": start, "end": start + duration, "confidence": 0.9}]
    frame = {
        "type": "Results",
        "channel_index": [channel, channels],
        "start": start,
        "duration": duration,
        "is_final": True,
        "channel": {"alternatives": [{"transcript": "hi", "confidence": 0.9, "words": words}]},
        "metadata": {"request_id": "r", "model_uuid": "m", "model_info": {"name": "n"}},
    }
    return LISTEN_V1.decode(_json(frame))


def _json(value: object) -> str:
    import json

    return json.dumps(value)


def test_listen_v1_acknowledges_up_to_the_channel_furthest_behind() -> None:
    adapter = ListenV1Adapter(2)
    assert adapter.audio_done(_results(0.0, 1.5, channel=0, channels=2)) is None
    assert adapter.audio_done(_results(0.0, 1.0, channel=1, channels=2)) == 1.0
    assert adapter.audio_done(_results(1.0, 1.0, channel=1, channels=2)) == 1.5
    summary = {"type": "Metadata", "request_id": "r", "duration": 2.0, "channels": 2}
    metadata = LISTEN_V1.decode(_json(summary))
    assert adapter.audio_done(metadata) == math.inf


def test_listen_v1_rebases_onto_the_stream() -> None:
    shifted = ListenV1Adapter(1).rebase(_results(0.5, 1.0), 10.0)
    assert isinstance(shifted, dgtrio.ListenV1Results)
    assert shifted.start == 10.5 and shifted.channel.alternatives[0].words[0].start == 10.5


def _turn(event: str, turn: int, sequence: int, end: float) -> Any:
    frame = {
        "type": "TurnInfo",
        "request_id": "r",
        "event": event,
        "turn_index": turn,
        "sequence_id": sequence,
        "audio_window_start": 0.0,
        "audio_window_end": end,
        "transcript": "",
        "words": [],
        "end_of_turn_confidence": 0.9,
    }
    return LISTEN_V2.decode(_json(frame))


def test_flux_counts_sequence_gaps_and_continues_turns_on_a_new_socket() -> None:
    adapter = ListenV2Adapter()
    for sequence, event in enumerate(["StartOfTurn", "Update", "EndOfTurn"]):
        message = _turn(event, 0, sequence, 2.0)
        adapter.on_message(message)
        done = adapter.audio_done(message)
    assert done == 2.0 and adapter.sequence_gaps == 0
    adapter.on_message(_turn("Update", 1, 5, 2.5))  # 3 and 4 never came
    assert adapter.sequence_gaps == 1
    adapter.socket_changed()
    shifted = adapter.rebase(_turn("StartOfTurn", 0, 0, 0.5), 2.0)
    assert isinstance(shifted, dgtrio.ListenV2TurnInfo)
    assert (shifted.turn_index, shifted.sequence_id, shifted.audio_window_end) == (1, 6, 2.5)


def test_speak_mutes_speech_while_a_silence_holds() -> None:
    queued = 0
    adapter = SpeakV1Adapter(lambda: queued)
    waiters: Waiters[Any] = Waiters()
    clear = waiters.expect(lambda m: isinstance(m, dgtrio.SpeakV1Cleared))
    adapter.silences.append(clear)
    assert not adapter.audible()
    queued = 7
    cleared = SPEAK_V1.decode(_json({"type": "Cleared", "sequence_id": 3}))
    adapter.on_message(cleared)
    waiters.notify(cleared)
    assert adapter.audio_cutoff == 7  # the audio queued before the Cleared is dropped
    assert adapter.audible() and adapter.silences == []
