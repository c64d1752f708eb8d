"""Misuse and cancellation, API by API: refused early with a typed error, or correct.

Every test here failed before the fix it guards: a hang, a raw error, a silent
success, or an answer meant for another call.
"""

from __future__ import annotations

import math
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, aclosing
from typing import Any, assert_type

import pytest
import trio
import trio.testing

import dgtrio
from dgtrio import AgentConnection, ConnectOptions, SpeakV1Connection
from dgtrio import agent as ag
from dgtrio.listen import ListenV1Connection, ListenV2Connection
from dgtrio.testing import AgentScript, FakeDeepgram, Fault

from .conftest import API_KEY, agent_settings, frames, pcm16

pytestmark = pytest.mark.timeout(20)

untyped: Any = dgtrio  # for calls mypy would refuse: they are the point here


async def untyped_call(method: Callable[..., Awaitable[object]], *args: Any, **kwargs: Any) -> None:
    await method(*args, **kwargs)


LINEAR16 = dgtrio.ListenV1Options(encoding="linear16", sample_rate=16000)
FLUX16 = dgtrio.ListenV2Options(encoding="linear16", sample_rate=16000)
LONG_TEXT = "This sentence is long enough to take several seconds to say out loud."


OPENERS: dict[str, Callable[..., AbstractAsyncContextManager[Any]]] = {
    "listen": lambda **kw: dgtrio.open_listen(**kw),
    "flux": lambda **kw: dgtrio.open_flux_listen(**kw),
    "speak": lambda **kw: dgtrio.open_speak(**kw),
    "agent": lambda **kw: dgtrio.open_agent(agent_settings(), **kw),
}


async def delayed(nursery: trio.Nursery, seconds: float, **kwargs: Any) -> FakeDeepgram:
    """A fake whose every message arrives ``seconds`` late (latency, in order)."""
    fake = FakeDeepgram(api_key=API_KEY, faults=[Fault("delay", seconds=seconds)], **kwargs)
    await nursery.start(fake.serve)
    return fake


def reach(fake: FakeDeepgram) -> ConnectOptions:
    return {"base_url": fake.url, "api_key": API_KEY}


# -- invalid settings: refused before dialling, never a hang ----------------------------


@pytest.mark.parametrize(
    ("api", "keywords", "named"),
    [
        ("speak", {"flush_limit": 0}, "flush_limit"),
        ("listen", {"max_queued_frames": -1}, "max_queued_frames"),
        ("flux", {"max_buffered_messages": -3}, "max_buffered_messages"),
        ("agent", {"close_timeout": -1}, "close_timeout"),
        ("listen", {"connect_timeout": "5"}, "connect_timeout"),
        ("listen", {"send_timeout": math.nan}, "send_timeout"),
        ("flux", {"stall_timeout": 0}, "stall_timeout"),
        ("speak", {"max_message_size": 1.5}, "max_message_size"),
        ("agent", {"allow_insecure": "yes"}, "allow_insecure"),
        ("listen", {"ssl_context": True}, "ssl_context"),
        ("listen", {"keepalive_interval": -5}, "keepalive_interval"),
        ("listen", {"close_stream_on_end": 1}, "close_stream_on_end"),
        ("flux", {"reconnect": True}, "reconnect"),
        ("agent", {"settings_timeout": 0}, "settings_timeout"),
        ("agent", {"keepalive_interval": "8"}, "keepalive_interval"),
    ],
)
async def test_a_bad_setting_is_refused_before_connecting(
    fake: FakeDeepgram, api: str, keywords: dict[str, Any], named: str
) -> None:
    with pytest.raises(dgtrio.ConfigurationError, match=named):
        OPENERS[api](**reach(fake), **keywords)
    assert fake.sessions == []


@pytest.mark.parametrize("api", list(OPENERS))
async def test_a_failure_before_the_block_starts_closes_the_socket_at_once(
    fake: FakeDeepgram, api: str, monkeypatch: pytest.MonkeyPatch, autojump_clock: Any
) -> None:
    # Whatever fails between the handshake and the block (here: building the
    # connection object), the socket is closed cleanly at once; its task no longer
    # runs on until the server hangs up (10 s of idle timeout, or never).
    def broken(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("boom")

    for cls in (ListenV1Connection, ListenV2Connection, SpeakV1Connection, AgentConnection):
        monkeypatch.setattr(cls, "__init__", broken)
    began = trio.current_time()
    with pytest.raises(RuntimeError, match="boom"):
        async with OPENERS[api](**reach(fake)):
            pass  # pragma: no cover
    assert trio.current_time() - began < 0.1
    session = fake.sessions[0]
    await session.wait_closed()
    assert session.client_close == (1000, "")


# -- unknown keywords -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (
            lambda: untyped.open_listen(model="nova-3"),
            "open_listen() got an unexpected keyword argument 'model': model is a field "
            "of ListenV1Options: open_listen(ListenV1Options(model=...))",
        ),
        (
            lambda: untyped.open_listen(apikey="secret-value"),
            "open_listen() got an unexpected keyword argument 'apikey'; did you mean 'api_key'?",
        ),
        (
            lambda: untyped.open_speak(voice="aura-2-thalia-en"),
            "open_speak() got an unexpected keyword argument 'voice'",
        ),
        (
            lambda: untyped.open_flux_listen(eager_eot_threshold=0.5),
            "eager_eot_threshold is a field of ListenV2Options: "
            "open_flux_listen(ListenV2Options(eager_eot_threshold=...))",
        ),
        (
            lambda: untyped.open_agent(agent_settings(), tool=ag.ToolRegistry()),
            "open_agent() got an unexpected keyword argument 'tool'; did you mean 'tools'?",
        ),
    ],
)
def test_an_unknown_keyword_is_refused_with_where_it_belongs(
    call: Callable[[], object], message: str
) -> None:
    with pytest.raises(TypeError) as info:
        call()
    assert message in str(info.value)
    assert "secret-value" not in str(info.value)


def test_the_options_of_another_api_are_refused() -> None:
    with pytest.raises(TypeError, match="options must be ListenV1Options, not ListenV2Options"):
        untyped.open_listen(FLUX16)
    with pytest.raises(TypeError, match=r"ListenV2Options\(\*\*\.\.\.\)"):
        untyped.open_flux_listen({"model": "flux-general-en"})
    with pytest.raises(TypeError, match="audio must be an async iterable"):
        untyped.open_listen(LINEAR16, audio=[b"\0\0"])


# -- speak: an utterance left early keeps its audio to itself ---------------------------


def speech_bytes(text: str) -> int:
    return round(len(text.strip()) / 15 * 24000) * 2  # the fake's 15 characters/s, 24 kHz


@pytest.mark.parametrize("leave", ["break", "timeout", "aclosing"])
async def test_an_utterance_left_early_drops_the_rest_of_its_audio(
    fake: FakeDeepgram, connect: ConnectOptions, autojump_clock: Any, leave: str
) -> None:
    async with dgtrio.open_speak(**connect) as tts:
        if leave == "break":
            async for _ in tts.utterance(LONG_TEXT):
                break
        elif leave == "timeout":
            with trio.move_on_after(0.15):  # two 0.1 s chunks come every 0.01 s
                async for _ in tts.utterance(LONG_TEXT):
                    await trio.sleep(0.1)
        else:
            async with aclosing(tts.utterance(LONG_TEXT)) as audio:
                await anext(audio)
        second = b"".join([a.data async for a in tts.utterance("Bye.")])
        third = b"".join([a.data async for a in tts.utterance("Again.")])
        assert (len(second), len(third)) == (speech_bytes("Bye."), speech_bytes("Again."))
        assert tts.audio_frames_discarded > 0
        # Messages other than the audio are still delivered, in order.
        kinds = [type(m).__name__ async for m in _until_closed(tts)]
    assert kinds[0] == "SpeakV1Metadata" and kinds.count("SpeakV1Flushed") == 1
    assert "SpeakV1Audio" not in kinds


async def _until_closed(tts: dgtrio.SpeakV1Connection) -> AsyncIterator[object]:
    await tts.close()
    async for message in tts:
        yield message


async def test_clear_gets_through_a_full_inbox(
    fake: FakeDeepgram, connect: ConnectOptions, autojump_clock: Any
) -> None:
    async with dgtrio.open_speak(
        max_buffered_messages=2, base_url=fake.url, api_key=API_KEY
    ) as tts:
        await tts.speak(LONG_TEXT)
        with trio.move_on_after(1):  # its audio fills the inbox: nobody iterates
            await tts.flush()
        began = trio.current_time()
        assert await tts.clear(timeout=5) == 1
        assert trio.current_time() - began < 0.1  # not after a 10 s timeout
        second = b"".join([a.data async for a in tts.utterance("Bye.")])
        assert len(second) == speech_bytes("Bye.")


def test_an_utterance_checks_its_arguments_when_called() -> None:
    tts: Any = SpeakV1Connection.__new__(SpeakV1Connection)  # no socket is needed
    with pytest.raises(TypeError, match="takes a string"):
        tts.utterance(123)
    with pytest.raises(ValueError, match="at most 2000"):
        tts.utterance("x" * 2001)
    with pytest.raises(ValueError, match="timeout must be a positive"):
        tts.utterance("Hi.", timeout=-1)


async def test_an_utterance_ended_or_closed_stays_ended(
    fake: FakeDeepgram, connect: ConnectOptions, autojump_clock: Any
) -> None:
    async with dgtrio.open_speak(**connect) as tts:
        audio = tts.utterance("Bye.")
        assert len(b"".join([a.data async for a in audio])) == speech_bytes("Bye.")
        assert [a async for a in audio] == []  # over: it never sends again
        closed = tts.utterance("Again.")
        await closed.aclose()
        assert [a async for a in closed] == []
    assert [m.get("text") for m in fake.sessions[0].messages if m["type"] == "Speak"] == ["Bye."]


async def test_speak_refuses_text_over_the_limit_before_sending(
    fake: FakeDeepgram, connect: ConnectOptions
) -> None:
    async with dgtrio.open_speak(**connect) as tts:
        await tts.speak("Kept.")
        with pytest.raises(ValueError, match="at most 2000 characters"):
            await tts.speak("x" * 2001)
        audio = b"".join([a.data async for a in tts.utterance("x" * 2000)])
        assert len(audio) == speech_bytes("Kept." + "x" * 2000)
    assert [m.get("text") for m in fake.sessions[0].messages][:2] == ["Kept.", "x" * 2000]


# -- awaited replies: each call gets its own --------------------------------------------


async def test_finalize_and_wait_never_returns_a_cancelled_calls_results(
    nursery: trio.Nursery, autojump_clock: Any
) -> None:
    fake = await delayed(nursery, 0.5)
    async with dgtrio.open_listen(LINEAR16, **reach(fake)) as conn:
        await conn.send_audio(pcm16(1.0))
        with trio.move_on_after(0.2):  # cancelled: its results come 0.5 s late
            await conn.finalize_and_wait(timeout=10)
        await conn.send_audio(pcm16(1.0))
        mine = await conn.finalize_and_wait(timeout=10)
        assert [(r.start, r.start + r.duration) for r in mine] == [(1.0, 2.0)]
        await conn.finalize()  # answered, but awaited by nobody
        await conn.send_audio(pcm16(0.5))
        late = await conn.finalize_and_wait(timeout=2)
        assert [round(r.start + r.duration, 3) for r in late] == [2.5]


async def test_finalize_and_wait_with_nothing_held_does_not_take_a_later_answer(
    nursery: trio.Nursery, autojump_clock: Any
) -> None:
    fake = await delayed(nursery, 0.5)
    async with dgtrio.open_listen(LINEAR16, **reach(fake)) as conn:
        # Nothing held: no answer will come for this one; it gives up after 0.2 s.
        assert await conn.finalize_and_wait(timeout=0.2) == []
        await conn.send_audio(pcm16(1.0))
        mine = await conn.finalize_and_wait(timeout=10)
        assert [round(r.start + r.duration, 3) for r in mine] == [1.0]


async def test_a_flush_never_returns_a_cancelled_flushs_sequence_id(
    nursery: trio.Nursery, autojump_clock: Any
) -> None:
    fake = await delayed(nursery, 0.5)
    async with dgtrio.open_speak(**reach(fake)) as tts, trio.open_nursery() as inner:
        inner.start_soon(_drain, tts)
        await tts.speak("One.")
        with trio.move_on_after(0.2):
            await tts.flush()
        await tts.speak("Two.")
        assert await tts.flush() == 1
        assert await tts.clear() == 2
        with trio.move_on_after(0.2):
            await tts.clear()
        assert await tts.clear() == 4
        inner.cancel_scope.cancel()


async def _drain(conn: Any) -> None:
    async for _ in conn:
        pass


async def test_configure_never_returns_a_cancelled_configures_answer(
    nursery: trio.Nursery, autojump_clock: Any
) -> None:
    fake = await delayed(nursery, 0.5)
    async with dgtrio.open_listen(LINEAR16, **reach(fake)) as conn:
        with trio.move_on_after(0.2):
            await conn.configure(keyterms=["first"])
        reply = await conn.configure(keyterms=["second"])
        assert reply.keyterms == ("second",)


async def test_agent_acknowledgements_go_to_their_own_call(
    nursery: trio.Nursery, autojump_clock: Any
) -> None:
    fake = await delayed(nursery, 0.5, agent_script=AgentScript(realtime=False))
    async with (
        dgtrio.open_agent(agent_settings(), **reach(fake)) as agent,
        trio.open_nursery() as inner,
    ):
        inner.start_soon(_drain, agent)
        with trio.move_on_after(0.2):
            await agent.update_prompt("First.")
        began = trio.current_time()
        await agent.update_prompt("Second.")
        # Its own ack comes 0.5 s after it was sent; the first's came before that.
        assert trio.current_time() - began == pytest.approx(0.5, abs=0.05)
        inner.cancel_scope.cancel()


async def test_think_live_acknowledgements_go_to_their_own_call(
    nursery: trio.Nursery, autojump_clock: Any
) -> None:
    fake = await delayed(nursery, 0.5, agent_script=AgentScript(realtime=False))
    async with (
        dgtrio.open_agent(agent_settings(), **reach(fake)) as agent,
        trio.open_nursery() as inner,
    ):
        inner.start_soon(_drain, agent)
        with trio.move_on_after(0.2):
            await agent.update_think_live(ag.DeepgramThinkLive(frustration_max_count=1))
        # Cut short, but sent: Think Live may be on, so this is not refused here.
        filler = await agent.inject_dynamic_agent_message(behavior="queue")
        assert filler.conversational_behavior == "filler"
        began = trio.current_time()
        await agent.update_think_live(ag.DeepgramThinkLive(frustration_max_count=2))
        assert trio.current_time() - began == pytest.approx(0.5, abs=0.05)
        inner.cancel_scope.cancel()


# -- Flux: the open turn at the end of the stream ---------------------------------------


async def test_turns_yield_the_turn_still_open_when_the_stream_ends(
    fake: FakeDeepgram, connect: ConnectOptions
) -> None:
    async def talk_then_stop() -> AsyncIterator[bytes]:
        for frame in frames(pcm16(1.5)):  # no trailing silence: no EndOfTurn
            yield frame

    async with dgtrio.open_flux_listen(FLUX16, audio=talk_then_stop(), **connect) as flux:
        turns = [turn async for turn in flux.turns()]
    assert len(turns) == 1
    (turn,) = turns
    assert (turn.event, turn.trigger, turn.turn_index, turn.final) == (
        "EndOfStream",
        "end_of_stream",
        0,
        True,
    )
    sent = [m for m in (f.json() for f in fake.sessions[0].sent) if m.get("type") == "TurnInfo"]
    assert "EndOfTurn" not in [m["event"] for m in sent]
    assert turn.transcript == sent[-1]["transcript"] != ""


# -- wrong types and calls that cannot work ---------------------------------------------


async def test_calls_that_cannot_work_are_refused(
    fake: FakeDeepgram, connect: ConnectOptions
) -> None:
    async with dgtrio.open_listen(LINEAR16, **connect) as conn:
        with pytest.raises(TypeError, match="speak"):
            await untyped_call(conn.send_audio, "hello")
        with pytest.raises(ValueError, match="channel 5 is not a channel of this stream"):
            await conn.finalize(channel=5)
        with pytest.raises(TypeError, match="timeout is a number of seconds"):
            await untyped_call(conn.finalize_and_wait, timeout="2")
        with pytest.raises(ValueError, match="positive"):
            await conn.configure(keyterms=["a"], timeout=-1)
        await conn.close_stream()
        for call in (conn.finalize, conn.finalize_and_wait):
            with pytest.raises(trio.ClosedResourceError, match="no more Finalize"):
                await call()
        async for _ in conn:
            pass
    assert fake.sessions[0].messages == [{"type": "CloseStream"}]


async def test_agent_calls_refuse_wrong_types(nursery: trio.Nursery) -> None:
    fake = FakeDeepgram(api_key=API_KEY, agent_script=AgentScript(realtime=False))
    await nursery.start(fake.serve)
    async with dgtrio.open_agent(agent_settings(), **reach(fake)) as agent:
        with pytest.raises(TypeError, match="mapping"):
            await untyped_call(agent.send_json, "x")
        with pytest.raises(ValueError, match="blank"):
            await agent.inject_user_message("")
        with pytest.raises(TypeError, match="content is a string"):
            await untyped_call(agent.inject_user_message, 123)
        with pytest.raises(dgtrio.SettingsError, match="only be updated mid-session for Flux"):
            await agent.update_listen(ag.DeepgramListenV1(model="nova-3", keyterms=["dgtrio"]))
        with pytest.raises(dgtrio.SettingsError, match="keyterms"):
            await agent.update_listen({"provider": {"type": "deepgram", "keyterms": ["x"]}})
        with pytest.raises(TypeError, match="listen must be Listen"):
            await untyped_call(agent.update_listen, "nova-3")
        with pytest.raises(TypeError, match="think must be Think, a list of them or a mapping"):
            await untyped_call(agent.update_think, "gpt-4o-mini")
        with pytest.raises(
            TypeError, match="speak must be Speak, a list of them or a mapping, not str"
        ):
            await untyped_call(agent.update_speak, "aura-2-thalia-en")
        with pytest.raises(TypeError, match="not int"):
            await untyped_call(agent.update_speak, 3)
        with pytest.raises(ValueError, match="prompt is blank"):
            await agent.update_prompt("  ")
        with pytest.raises(ValueError, match="message is blank"):
            await agent.inject_agent_message("")
        with pytest.raises(ValueError, match="timeout must be a positive"):
            await agent.update_prompt("Be kind.", timeout=0)
        # A Flux provider may change its keyterms mid-session.
        flux = ag.DeepgramListenV2(model="flux-general-en", keyterms=["dgtrio"])
        assert isinstance(await agent.update_listen(flux), dgtrio.AgentV1ListenUpdated)
    sent = [m["type"] for m in fake.sessions[0].messages]
    assert sent == ["Settings", "UpdateListen"]


# -- the channel: one receiver, and closed after the block ------------------------------


async def test_a_second_receiver_is_refused(fake: FakeDeepgram, connect: ConnectOptions) -> None:
    async with dgtrio.open_listen(LINEAR16, **connect) as conn, trio.open_nursery() as nursery:
        nursery.start_soon(_drain, conn)
        await trio.testing.wait_all_tasks_blocked()
        with pytest.raises(trio.BusyResourceError):
            await conn.receive()
        nursery.cancel_scope.cancel()
    # The first receiver was cancelled: receiving is free again, and closed.
    with pytest.raises(trio.ClosedResourceError):
        await conn.receive()


@pytest.mark.parametrize("end", ["normal", "server error", "aclose"])
async def test_after_the_block_every_call_raises_closed_resource(
    nursery: trio.Nursery, end: str
) -> None:
    faults = [Fault("close", at=0, code=1011, reason="NET-0000")] if end == "server error" else []
    fake = FakeDeepgram(api_key=API_KEY, faults=faults)
    await nursery.start(fake.serve)
    async with dgtrio.open_listen(LINEAR16, **reach(fake)) as conn:
        if end == "aclose":
            await conn.aclose()
        elif end == "normal":
            await conn.close_stream()
        with pytest.raises((trio.EndOfChannel, trio.ClosedResourceError, dgtrio.ServerTimeout)):
            while True:
                await conn.receive()
    for call in (conn.receive, lambda: conn.send_audio(b"\0\0"), conn.finalize):
        with pytest.raises(trio.ClosedResourceError):
            await call()


# -- types that tell the truth (checked by mypy --strict over this file) -----------------


async def test_the_message_types_follow_reconnect(
    fake: FakeDeepgram, connect: ConnectOptions
) -> None:
    async with dgtrio.open_listen(LINEAR16, **connect) as conn:
        assert_type(conn, ListenV1Connection[dgtrio.ListenV1Message])
        await conn.close_stream()
        raws = [message.raw async for message in conn]  # every message has .raw
    assert raws[-1]["type"] == "Metadata"
    policy = dgtrio.ReconnectPolicy()
    async with dgtrio.open_flux_listen(FLUX16, reconnect=policy, **connect) as flux:
        async for event in flux:
            assert_type(
                event,
                dgtrio.ListenV2Message
                | dgtrio.Reconnecting
                | dgtrio.Reconnected
                | dgtrio.UnknownMessage,
            )
            break
    turn = dgtrio.FluxTurnTracker().flush()
    if turn is not None:
        assert_type(turn.event, dgtrio.FluxTurnEvent)


# -- a failing tool's error text can be kept from the LLM --------------------------------


async def test_a_tool_error_is_redacted_on_its_way_to_the_agent(nursery: trio.Nursery) -> None:
    fake = FakeDeepgram(api_key=API_KEY, agent_script=AgentScript(realtime=False))
    await nursery.start(fake.serve)
    tools = ag.ToolRegistry(on_error=lambda call, exc: f'{{"error": "{call.name} is down"}}')

    @tools.register
    async def get_weather(city: str) -> str:
        raise LookupError(f"db password=hunter2 refused for {city}")

    async with dgtrio.open_agent(agent_settings(), tools=tools, **reach(fake)) as agent:
        await agent.inject_user_message("weather?")
        result = None
        async for message in agent:
            if isinstance(message, dgtrio.ToolResult):
                result = message
                break
    assert result is not None
    assert result.status == "error" and isinstance(result.error, LookupError)
    (response,) = [m for m in fake.sessions[0].messages if m["type"] == "FunctionCallResponse"]
    assert response["content"] == result.content == '{"error": "get_weather is down"}'


# -- a string where the spec allows one, never a list of characters ----------------------


@pytest.mark.parametrize(
    ("api", "frame", "field"),
    [
        (
            "flux",
            '{"type":"ConfigureSuccess","request_id":"r","sequence_id":3,'
            '"thresholds":{},"keyterms":"dgtrio"}',
            "keyterms",
        ),
        ("listen", '{"type":"ConfigureSuccess","request_id":"r","keyterms":"dgtrio"}', "keyterms"),
    ],
)
def test_one_string_for_a_list_of_strings_is_a_list_of_one(
    api: str, frame: str, field: str
) -> None:
    from dgtrio.listen.v1._messages import CODEC as LISTEN
    from dgtrio.listen.v2._messages import CODEC as FLUX

    codec = FLUX if api == "flux" else LISTEN
    assert getattr(codec.decode(frame), field) == ("dgtrio",)
    with pytest.raises(dgtrio.MessageDecodeError, match=field):
        codec.decode(frame.replace('"dgtrio"', '{"a": 1}'))
