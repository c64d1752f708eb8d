"""examples/phone_agent: the Twilio Media Streams service, called by simulated Twilio
callers over loopback, against the fake voice agent. Real time: each call is short."""

from __future__ import annotations

import sys
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
import trio
import trio_websocket

from dgtrio.testing import AgentScript, FakeDeepgram, ScriptedCall

from .conftest import ROOT

sys.path.insert(0, str(ROOT / "examples"))
from phone_agent import service
from phone_agent.twilio_sim import SimulatedCall, connect, speech

pytestmark = pytest.mark.timeout(30)

# Quick ears and a quick voice: a turn ends after 0.3 s of silence, and the agent
# speaks 5 words a second (the greeting, 6 words, plays for 1.2 s).
SCRIPT = AgentScript(
    realtime=False,
    speech_onset=0.1,
    end_of_turn=0.3,
    words_per_second=5,
    calls=[
        ScriptedCall("order", "lookup_order", {"order_id": "A123"}, reply="Your order: {content}")
    ],
)
UTTERANCE = 0.3  # seconds of speech


async def start(
    nursery: trio.Nursery,
    script: AgentScript = SCRIPT,
    *,
    greeting: str | None = "Thanks for calling. How can I help?",
    **options: Any,
) -> tuple[service.PhoneAgentServer, FakeDeepgram, str]:
    fake = FakeDeepgram(agent_script=script)
    await nursery.start(fake.serve)
    server = service.PhoneAgentServer(
        service.default_settings(greeting=greeting), connect={"base_url": fake.url}, **options
    )
    port = await nursery.start(server.serve)
    return server, fake, f"ws://127.0.0.1:{port}/"


Behaviour = Callable[[SimulatedCall], Awaitable[None]]


async def hear_greeting_then_speak(call: SimulatedCall) -> None:
    await call.wait_for_marks(1)  # the greeting played to its end
    call.say(speech(UTTERANCE))
    await call.wait_for_marks(2)  # the answer too


async def test_a_whole_call(nursery: trio.Nursery) -> None:
    server, fake, url = await start(nursery)
    caller = SimulatedCall(custom_parameters={"customer": "42"})
    with trio.fail_after(10):
        await caller.run(url, hear_greeting_then_speak)
    assert caller.close_code == 1000
    assert caller.marks_echoed == ["reply-1", "reply-2"]
    assert caller.clears == 0
    assert caller.played_bytes == caller.media_bytes > 8000  # more than a second heard
    (call,) = server.finished
    assert not server.active
    assert (call.end_reason, call.error) == ("stop", None)
    assert (call.stream_sid, call.call_sid) == (caller.stream_sid, caller.call_sid)
    assert call.custom_parameters == {"customer": "42"}
    assert call.marks_sent == call.marks_heard == ["reply-1", "reply-2"]
    assert call.agent_bytes == caller.media_bytes
    assert call.caller_bytes > 0 and call.caller_bytes % 160 == 0
    assert call.transcript == [
        ("assistant", "Thanks for calling. How can I help?"),
        ("user", "Hello, can you hear me?"),
        ("assistant", "Hi! How can I help you?"),
    ]
    (session,) = fake.sessions
    with trio.fail_after(2):
        await session.wait_closed()  # the agent connection was closed, not left open
    settings = session.received[0].json()["audio"]
    assert settings["input"] == {"encoding": "mulaw", "sample_rate": 8000}
    assert settings["output"]["encoding"] == "mulaw"
    assert server.statistics.completed == 1


async def test_barge_in_clears_twilios_buffer(nursery: trio.Nursery) -> None:
    server, _, url = await start(nursery)

    async def interrupt_the_greeting(call: SimulatedCall) -> None:
        await call.wait_for_media()  # the greeting is playing
        call.say(speech(UTTERANCE))
        await call.until(lambda: call.clears >= 1)
        await call.wait_for_marks(2)  # the cut-off greeting's, then the answer's

    caller = SimulatedCall()
    with trio.fail_after(10):
        await caller.run(url, interrupt_the_greeting)
    assert caller.clears == 1
    assert caller.played_bytes < caller.media_bytes  # some of the greeting was dropped
    (call,) = server.finished
    assert call.clears == 1
    assert call.marks_cleared == ["reply-1"]  # the caller did not hear it all
    assert call.marks_heard == ["reply-2"]
    assert call.transcript[-1] == ("assistant", "Hi! How can I help you?")


async def test_a_tool_runs_during_the_call(nursery: trio.Nursery) -> None:
    script = AgentScript(
        realtime=False,
        speech_onset=0.1,
        end_of_turn=0.3,
        words_per_second=10,
        user_lines=["Where is my order A123?"],
        calls=SCRIPT.calls,
    )
    server, _, url = await start(nursery, script, greeting=None)

    async def ask(call: SimulatedCall) -> None:
        call.say(speech(UTTERANCE))
        await call.wait_for_marks(1)

    with trio.fail_after(10):
        await SimulatedCall().run(url, ask)
    (call,) = server.finished
    (result,) = call.tool_results
    assert (result.call.name, result.status) == ("lookup_order", "ok")
    assert '"status":"shipped"' in result.content
    assert call.transcript[-1][0] == "assistant"
    assert "shipped" in call.transcript[-1][1]
    assert call.marks_heard == ["reply-1"]


async def test_fifty_concurrent_calls_all_complete(nursery: trio.Nursery) -> None:
    script = AgentScript(realtime=False, speech_onset=0.1, end_of_turn=0.3, words_per_second=10)
    server, fake, url = await start(nursery, script, greeting=None, max_calls=50)
    callers = [SimulatedCall(stream_sid=f"MZ{n:032d}", call_sid=f"CA{n:032d}") for n in range(50)]

    async def one_turn(call: SimulatedCall) -> None:
        call.say(speech(UTTERANCE))
        await call.wait_for_marks(1)

    with trio.fail_after(20):
        async with trio.open_nursery() as calls:
            for caller in callers:
                calls.start_soon(caller.run, url, one_turn)
    assert all(c.marks_echoed == ["reply-1"] and c.close_code == 1000 for c in callers)
    assert server.statistics.completed == 50
    assert (server.statistics.refused, server.statistics.failed) == (0, 0)
    assert not server.active
    assert {c.stream_sid for c in server.finished} == {c.stream_sid for c in callers}
    with trio.fail_after(5):
        for session in fake.sessions:
            await session.wait_closed()


async def test_a_call_above_the_cap_is_refused(nursery: trio.Nursery) -> None:
    server, _, url = await start(nursery, max_calls=1)
    first = SimulatedCall()
    holding = trio.Event()
    release = trio.Event()

    async def hold(call: SimulatedCall) -> None:
        await call.wait_for_media()
        holding.set()
        await release.wait()

    async with trio.open_nursery() as calls:
        calls.start_soon(first.run, url, hold)
        await holding.wait()
        with pytest.raises(trio_websocket.ConnectionRejected) as refused:
            await SimulatedCall().run(url, hold)
        release.set()
    assert refused.value.status_code == 503
    assert refused.value.body is not None and b"try again later" in refused.value.body
    assert server.statistics.refused == 1
    assert server.statistics.completed == 1
    assert first.close_code == 1000


async def test_shutdown_ends_calls_within_the_grace_period(nursery: trio.Nursery) -> None:
    fake = FakeDeepgram(agent_script=SCRIPT)
    await nursery.start(fake.serve)
    server = service.PhoneAgentServer(
        service.default_settings(), grace=0.5, connect={"base_url": fake.url}
    )
    stubborn, polite = SimulatedCall(), SimulatedCall()
    shutting_down = trio.Event()

    async def stay_on_the_line(call: SimulatedCall) -> None:
        await call.until(lambda: call.hung_up)

    async def hang_up_soon(call: SimulatedCall) -> None:
        await shutting_down.wait()
        await trio.sleep(0.1)

    with trio.fail_after(10):
        async with trio.open_nursery() as serving:
            port = await serving.start(server.serve)
            url = f"ws://127.0.0.1:{port}/"
            serving.start_soon(stubborn.run, url, stay_on_the_line)
            serving.start_soon(polite.run, url, hang_up_soon)
            await stubborn.wait_for_media()
            await polite.wait_for_media()
            began = trio.current_time()
            server.shutdown()
            shutting_down.set()
            with pytest.raises(OSError, match="connect"):  # no longer listening
                await SimulatedCall().run(url, stay_on_the_line)
        # serve() returned, and both calls ended
        elapsed = trio.current_time() - began
    assert 0.5 <= elapsed < 2.5
    assert stubborn.close_code == 1001
    assert polite.close_code == 1000
    reasons = sorted(c.end_reason for c in server.finished)
    assert reasons == ["shutdown", "stop"]
    assert server.statistics.ended_at_shutdown == 1
    assert not server.active
    with trio.fail_after(2):
        for session in fake.sessions:
            await session.wait_closed()


async def test_a_protocol_error_fails_that_call_only(nursery: trio.Nursery) -> None:
    server, _, url = await start(nursery)
    async with connect(url) as ws:
        await ws.send_message('{"event": "media", "media": {"payload": ""}}')
        with pytest.raises(trio_websocket.ConnectionClosed):
            await ws.get_message()
    with trio.fail_after(2):
        while not server.finished:  # noqa: ASYNC110 (the server has no event for it)
            await trio.sleep(0.01)
    (call,) = server.finished
    assert call.error is not None and "'media' before 'start'" in call.error
    assert server.statistics.failed == 1
