"""Deepgram's official SDK (7.x) Flux client against ``python -m dgtrio.testing serve``."""

from __future__ import annotations

import asyncio

import pytest

from bench.sdk_flux import flux_with_sdk
from dgtrio.testing import fake_server_process


# The SDK imports names that its own websockets dependency deprecates.
@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_official_sdk_streams_a_turn_to_the_fake_flux() -> None:
    with fake_server_process() as url:
        messages = asyncio.run(flux_with_sdk(url))
    assert [type(m).__name__ for m in messages] == ["ListenV2Connected"] + ["ListenV2TurnInfo"] * 15
    assert [m.sequence_id for m in messages] == list(range(16))
    turns = messages[1:]
    # 0.5 s of silence, 2 s of speech, 1 s of silence, then CloseStream: the pending
    # Update, and no EndOfTurn for the turn that had just begun to be reported.
    assert [m.event for m in turns] == (
        ["Update"] * 2 + ["StartOfTurn"] + ["Update"] * 9 + ["EndOfTurn"] + ["Update"] * 2
    )
    assert [m.turn_index for m in turns] == [0] * 13 + [1] * 2
    end = turns[12]
    assert (end.transcript, end.trigger) == ("Hi, I'd like to check", "model")
    assert (end.audio_window_start, end.audio_window_end) == (0.5, 3.1)
    assert [type(w).__name__ for w in end.words] == ["ListenV2TurnInfoWordsItem"] * 5
    assert [(w.word, w.start) for w in end.words[:2]] == [("Hi,", 0.5), ("I'd", 0.9)]
    assert turns[-1].audio_window_end == 3.5
    assert {m.request_id for m in messages} == {messages[0].request_id}
