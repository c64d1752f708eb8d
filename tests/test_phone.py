"""dgtrio.phone: the phone agent service, called by simulated Twilio callers over
loopback, against the fake voice agent. Real time: each call is short."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

import attrs
import pytest
import trio
import trio_websocket

import dgtrio
from dgtrio.phone import (
    Call,
    EndCause,
    PhoneAgentServer,
    current_call,
    default_settings,
    end_call_tool,
    twilio_signature,
)
from dgtrio.phone.testing import SimulatedCall, connect, speech
from dgtrio.testing import AgentScript, FakeDeepgram, Fault, ScriptedCall

pytestmark = pytest.mark.timeout(30)

TOKEN = "0123456789abcdef0123456789abcdef"
PUBLIC = "wss://calls.example.com/phone"
# Quick ears and a quick voice: a turn ends after 0.3 s of silence, and the agent
# speaks 5 words a second (the greeting, 6 words, plays for 1.2 s).
SCRIPT = AgentScript(
    realtime=False,
    speech_onset=0.1,
    end_of_turn=0.3,
    words_per_second=5,
    calls=[
        ScriptedCall("order", "lookup_order", {"order_id": "A123"}, reply="Your order: {content}"),
        ScriptedCall("goodbye", "end_call", {}, reply="Goodbye!"),
    ],
)
UTTERANCE = 0.3  # seconds of speech


def hearing(*user_lines: str, words_per_second: float = 5) -> AgentScript:
    """SCRIPT, hearing ``user_lines``, speaking at ``words_per_second``."""
    return attrs.evolve(SCRIPT, user_lines=user_lines, words_per_second=words_per_second)


GREETING = "Thanks for calling. How can I help?"


def tools() -> dgtrio.ToolRegistry:
    registry = dgtrio.ToolRegistry(timeout=5, redact_errors=True)

    @registry.register
    async def lookup_order(order_id: str) -> dict[str, str]:
        """The status of an order."""
        await trio.sleep(0.01)
        return {"order_id": order_id, "status": "shipped"}

    return end_call_tool(registry)


async def start(
    nursery: trio.Nursery,
    script: AgentScript = SCRIPT,
    *,
    greeting: str | None = GREETING,
    **options: Any,
) -> tuple[PhoneAgentServer, FakeDeepgram, str]:
    fake = FakeDeepgram(agent_script=script)
    await nursery.start(fake.serve)
    options.setdefault("settings_for", lambda call: default_settings(greeting=greeting))
    server = PhoneAgentServer(
        public_url=PUBLIC,
        auth_token=TOKEN,
        tools=tools(),
        connect={"base_url": fake.url},
        **options,
    )
    port = await nursery.start(server.serve)
    return server, fake, f"ws://127.0.0.1:{port}/phone"


def caller(**options: Any) -> SimulatedCall:
    options.setdefault("public_url", PUBLIC)
    return SimulatedCall(auth_token=TOKEN, **options)


Behaviour = Callable[[SimulatedCall], Awaitable[None]]


async def stay_on_the_line(call: SimulatedCall) -> None:
    """Until the server hangs up."""
    await call.until(lambda: call.hung_up)


async def hear_greeting_then_speak(call: SimulatedCall) -> None:
    await call.wait_for_marks(1)  # the greeting played to its end
    call.say(speech(UTTERANCE))
    await call.wait_for_marks(2)  # the answer too


async def get(port: int, path: str, method: str = "GET") -> tuple[int, dict[str, str], bytes]:
    """A plain HTTP request to the server: status, headers, body."""
    stream = await trio.open_tcp_stream("127.0.0.1", port)
    async with stream:
        await stream.send_all(f"{method} {path} HTTP/1.1\r\nhost: x\r\n\r\n".encode())
        data = b""
        while chunk := await stream.receive_some():
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    status_line, *lines = head.decode().split("\r\n")
    headers = dict(line.lower().split(": ", 1) for line in lines)
    return int(status_line.split()[1]), headers, body


async def eventually(condition: Callable[[], bool]) -> None:
    """Until ``condition()`` holds: for what has no event to wait on (the fake's
    records, the server's history)."""
    with trio.fail_after(10):
        while not condition():  # noqa: ASYNC110
            await trio.sleep(0.01)


async def wait_finished(server: PhoneAgentServer, count: int = 1) -> None:
    await eventually(lambda: len(server.finished) >= count)


# -- calls --------------------------------------------------------------------------------


async def test_phone_a_whole_call(nursery: trio.Nursery) -> None:
    server, fake, url = await start(nursery)
    sim = caller(custom_parameters={"customer": "42"})
    with trio.fail_after(10):
        await sim.run(url, hear_greeting_then_speak)
    assert sim.close_code == 1000
    assert sim.marks_echoed == ["reply-1", "reply-2"]
    assert sim.clears == 0
    assert sim.played_bytes == sim.media_bytes > 8000  # more than a second heard
    await wait_finished(server)
    (call,) = server.finished
    assert not server.active
    assert (call.cause, call.error) == (EndCause.CALLER_HUNG_UP, None)
    assert (call.stream_sid, call.call_sid) == (sim.stream_sid, sim.call_sid)
    assert call.account_sid == sim.account_sid
    assert call.custom_parameters == {"customer": "42"}
    assert call.marks_sent == call.marks_heard == ["reply-1", "reply-2"]
    assert call.agent_bytes == sim.media_bytes
    assert call.caller_bytes > 0 and call.caller_bytes % 160 == 0
    assert call.transcript == [
        ("assistant", GREETING),
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
    assert server.statistics.causes == {"caller_hung_up": 1}


async def test_phone_barge_in_clears_twilios_buffer(nursery: trio.Nursery) -> None:
    server, _, url = await start(nursery)

    async def interrupt_the_greeting(call: SimulatedCall) -> None:
        await call.wait_for_media()  # the greeting is playing
        call.say(speech(UTTERANCE))
        await call.until(lambda: call.clears >= 1)
        await call.wait_for_marks(2)  # the cut-off greeting's, then the answer's

    sim = caller()
    with trio.fail_after(10):
        await sim.run(url, interrupt_the_greeting)
    assert sim.clears == 1
    assert sim.played_bytes < sim.media_bytes  # some of the greeting was dropped
    await wait_finished(server)
    (call,) = server.finished
    assert call.clears == 1
    assert call.marks_cleared == ["reply-1"]  # the caller did not hear it all
    assert call.marks_heard == ["reply-2"]
    assert call.transcript[-1] == ("assistant", "Hi! How can I help you?")


async def test_phone_a_tool_runs_during_the_call(nursery: trio.Nursery) -> None:
    server, _, url = await start(
        nursery, hearing("Where is my order A123?", words_per_second=10), greeting=None
    )

    async def ask(call: SimulatedCall) -> None:
        call.say(speech(UTTERANCE))
        await call.wait_for_marks(1)

    with trio.fail_after(10):
        await caller().run(url, ask)
    await wait_finished(server)
    (call,) = server.finished
    (result,) = call.tool_results
    assert (result.call.name, result.status) == ("lookup_order", "ok")
    assert "shipped" in call.transcript[-1][1]
    assert call.marks_heard == ["reply-1"]


async def test_phone_fifty_concurrent_calls_all_complete(nursery: trio.Nursery) -> None:
    script = AgentScript(realtime=False, speech_onset=0.1, end_of_turn=0.3, words_per_second=10)
    server, fake, url = await start(nursery, script, greeting=None, max_calls=50)
    callers = [caller(stream_sid=f"MZ{n:032d}", call_sid=f"CA{n:032d}") for n in range(50)]

    async def one_turn(call: SimulatedCall) -> None:
        call.say(speech(UTTERANCE))
        await call.wait_for_marks(1)

    with trio.fail_after(20):
        async with trio.open_nursery() as calls:
            for sim in callers:
                calls.start_soon(sim.run, url, one_turn)
    assert all(c.marks_echoed == ["reply-1"] and c.close_code == 1000 for c in callers)
    await wait_finished(server, 50)
    assert server.statistics.completed == 50
    assert (server.statistics.refused, server.statistics.failed) == (0, 0)
    assert not server.active
    assert {c.stream_sid for c in server.finished} == {c.stream_sid for c in callers}
    with trio.fail_after(5):
        for session in fake.sessions:
            await session.wait_closed()


async def test_phone_per_call_settings_from_the_calls_parameters(nursery: trio.Nursery) -> None:
    asked: list[Call] = []

    async def settings_for(call: Call) -> dgtrio.agent.AgentV1Settings:
        asked.append(call)
        await trio.lowlevel.checkpoint()
        tenant = call.custom_parameters["tenant"]
        return default_settings(prompt=f"You answer for {tenant}.", greeting=None)

    _, fake, url = await start(nursery, settings_for=settings_for)

    async def hang_up_soon(call: SimulatedCall) -> None:
        await trio.sleep(0.2)

    with trio.fail_after(10):
        for tenant in ("acme", "globex"):
            sim = caller(custom_parameters={"tenant": tenant}, call_sid=f"CA-{tenant}")
            await sim.run(url, hang_up_soon)
    prompts = [s.received[0].json()["agent"]["think"]["prompt"] for s in fake.sessions]
    assert prompts == ["You answer for acme.", "You answer for globex."]
    assert [c.call_sid for c in asked] == ["CA-acme", "CA-globex"]


async def test_phone_keys_go_to_the_agent_as_user_messages(nursery: trio.Nursery) -> None:
    server, fake, url = await start(nursery, greeting=None)

    def injected() -> list[str]:
        texts = [f.json() for s in fake.sessions for f in s.received if f.is_text]
        return [m["content"] for m in texts if m["type"] == "InjectUserMessage"]

    async def press(call: SimulatedCall) -> None:
        for digit in "42":
            await call.press(digit)
        await eventually(lambda: len(injected()) == 2)

    with trio.fail_after(10):
        await caller().run(url, press)
    await wait_finished(server)
    (call,) = server.finished
    assert call.dtmf == ["4", "2"]
    assert injected() == [
        "(The caller pressed 4 on the keypad.)",
        "(The caller pressed 2 on the keypad.)",
    ]


async def test_phone_a_failing_keypad_hook_is_logged_and_the_call_goes_on(
    nursery: trio.Nursery, caplog: pytest.LogCaptureFixture
) -> None:
    async def broken(call: Call, digit: str, agent: dgtrio.AgentConnection) -> None:
        raise RuntimeError("the keypad hook broke")

    server, _, url = await start(nursery, on_dtmf=broken)

    async def press(call: SimulatedCall) -> None:
        await call.press("1")
        await hear_greeting_then_speak(call)

    with trio.fail_after(10), caplog.at_level(logging.ERROR, "dgtrio.phone"):
        await caller().run(url, press)
    await wait_finished(server)
    (call,) = server.finished
    assert call.cause == EndCause.CALLER_HUNG_UP
    assert call.marks_heard == ["reply-1", "reply-2"]
    (record,) = [r for r in caplog.records if "keypad hook" in r.getMessage()]
    assert record.exc_info is not None and "the keypad hook broke" in str(record.exc_info[1])


# -- who may call -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("signature", "why"),
    [
        (None, "no signature"),
        (twilio_signature("another account's token", PUBLIC), "another token"),
        (twilio_signature(TOKEN, "wss://attacker.example/phone"), "another URL"),
        ("", "empty"),
    ],
)
async def test_phone_an_unsigned_or_forged_upgrade_gets_403_and_no_agent_session(
    nursery: trio.Nursery, signature: str | None, why: str
) -> None:
    server, fake, url = await start(nursery)
    headers = [] if signature is None else [(b"x-twilio-signature", signature.encode())]
    with pytest.raises(trio_websocket.ConnectionRejected) as refused:
        async with connect(url, headers=headers) as ws:
            await ws.send_message('{"event": "connected"}')
    assert refused.value.status_code == 403, why
    assert fake.sessions == []  # no agent session opened
    assert server.statistics.refused == 1 and server.statistics.accepted == 0
    _, _, metrics = await get(server.port, "/metrics")
    assert b'dgtrio_phone_refused_total{reason="unauthorized"} 1.0' in metrics


async def test_phone_the_signature_may_name_the_default_port(nursery: trio.Nursery) -> None:
    # Twilio's validators accept the URL with and without its scheme's default port.
    server, _, url = await start(nursery)

    async def hang_up_soon(call: SimulatedCall) -> None:
        await call.wait_for_media()

    sim = caller(public_url="wss://calls.example.com:443/phone")
    with trio.fail_after(10):
        await sim.run(url, hang_up_soon)
    await wait_finished(server)
    assert server.finished[0].cause == EndCause.CALLER_HUNG_UP


async def test_phone_another_account_is_refused_before_the_agent(nursery: trio.Nursery) -> None:
    server, fake, url = await start(nursery, account_sid="AC" + "1" * 32)

    sim = caller(account_sid="AC" + "2" * 32)
    with trio.fail_after(10):
        await sim.run(url, stay_on_the_line)
    assert sim.close_code == 1008
    assert fake.sessions == []
    await wait_finished(server)
    assert server.finished[0].cause == EndCause.WRONG_ACCOUNT


async def test_phone_a_call_above_the_cap_is_refused(nursery: trio.Nursery) -> None:
    server, _, url = await start(nursery, max_calls=1)
    first = caller()
    holding = trio.Event()
    release = trio.Event()

    async def hold(call: SimulatedCall) -> None:
        await call.wait_for_media()
        holding.set()
        await release.wait()

    async with trio.open_nursery() as calls:
        calls.start_soon(first.run, url, hold)
        await holding.wait()
        assert (await get(server.port, "/readyz"))[0] == 503
        with pytest.raises(trio_websocket.ConnectionRejected) as refused:
            await caller().run(url, hold)
        release.set()
    assert refused.value.status_code == 503
    assert refused.value.body is not None and b"at capacity" in refused.value.body
    await wait_finished(server)
    assert server.statistics.refused == 1
    assert server.statistics.completed == 1
    assert first.close_code == 1000
    assert (await get(server.port, "/readyz"))[0] == 200


# -- dead peers and failures --------------------------------------------------------------


async def test_phone_a_half_open_agent_ends_the_call_with_an_apology(
    nursery: trio.Nursery,
) -> None:
    server, fake, url = await start(nursery, greeting=None)
    fake.fault_next(Fault("half_open", at=1.0))

    sim = caller()
    began = trio.current_time()
    with trio.fail_after(15):
        await sim.run(url, stay_on_the_line)
    await wait_finished(server)
    (call,) = server.finished
    assert call.cause == EndCause.AGENT_STALLED
    assert isinstance(call.error, dgtrio.ServerStalled)
    # the fault at 1 s, the stall 5 s after the last frame: ended within 10 s of it
    assert call.duration < 1.0 + 10
    assert sim.close_code == 1011
    clip = dgtrio.phone.apology_clip()
    assert sim.media_bytes == sim.played_bytes == len(clip)  # the apology, all heard
    assert sim.marks_echoed == ["reply-1"]
    assert trio.current_time() - began > len(clip) / 8000
    assert server.statistics.failed == 1


async def test_phone_an_agent_failure_is_apologised_for_and_logged(
    nursery: trio.Nursery, caplog: pytest.LogCaptureFixture
) -> None:
    server, fake, url = await start(nursery, greeting=None, apology=bytes(800))
    fake.fault_next(Fault("close", at=0.5, code=1011, reason="NET-0000"))

    sim = caller()
    with trio.fail_after(10), caplog.at_level(logging.INFO, "dgtrio.phone"):
        await sim.run(url, stay_on_the_line)
    await wait_finished(server)
    (call,) = server.finished
    assert call.cause == EndCause.AGENT_FAILED
    assert isinstance(call.error, dgtrio.ServerTimeout) and "NET-0000" in str(call.error)
    assert sim.media_bytes == sim.played_bytes == 800  # the (short) apology
    assert sim.close_code == 1011
    (line,) = [r for r in caplog.records if "ended:" in r.getMessage()]
    text = line.getMessage()
    assert f"callSid={sim.call_sid}" in text and f"streamSid={sim.stream_sid}" in text
    assert "cause=agent_failed" in text and "duration=" in text
    assert line.levelno == logging.WARNING
    assert line.exc_info is not None and line.exc_info[1] is call.error  # its traceback


async def test_phone_a_silent_caller_ends_the_call(nursery: trio.Nursery) -> None:
    server, fake, url = await start(nursery, greeting=None)
    silent_at: list[float] = []

    async def go_silent(call: SimulatedCall) -> None:
        await trio.sleep(0.5)
        silent_at.append(trio.current_time())
        call.go_silent()

    with trio.fail_after(15):
        await caller().run(url, go_silent)
    await wait_finished(server)
    (call,) = server.finished
    assert call.cause == EndCause.CALLER_SILENT
    ended = call.ended_at
    assert (
        ended is not None and 5.0 - 0.021 <= ended - silent_at[0] < 10
    )  # the last frame: 20 ms earlier
    with trio.fail_after(2):
        await fake.sessions[0].wait_closed()  # the agent session was closed too


async def test_phone_no_start_after_the_upgrade_ends_the_call(nursery: trio.Nursery) -> None:
    server, fake, url = await start(nursery, start_timeout=0.5)
    headers = [(b"x-twilio-signature", twilio_signature(TOKEN, PUBLIC).encode())]
    with trio.fail_after(5):
        async with connect(url, headers=headers) as ws:
            with pytest.raises(trio_websocket.ConnectionClosed):
                await ws.get_message()
    await wait_finished(server)
    (call,) = server.finished
    assert call.cause == EndCause.NO_START
    assert 0.5 <= call.duration < 3  # its start_timeout, not the default 5 s
    assert fake.sessions == []


async def test_phone_a_protocol_error_fails_that_call_only(nursery: trio.Nursery) -> None:
    server, fake, url = await start(nursery)
    headers = [(b"x-twilio-signature", twilio_signature(TOKEN, PUBLIC).encode())]
    async with connect(url, headers=headers) as ws:
        await ws.send_message('{"event": "media", "media": {"payload": ""}}')
        with pytest.raises(trio_websocket.ConnectionClosed) as closed:
            await ws.get_message()
    assert closed.value.reason is not None and closed.value.reason.code == 1008
    await wait_finished(server)
    (call,) = server.finished
    assert call.cause == EndCause.PROTOCOL_ERROR
    assert isinstance(call.error, dgtrio.phone.TwilioProtocolError)
    assert "'media' before 'start'" in str(call.error)
    assert server.statistics.failed == 1
    assert fake.sessions == []


# -- ending well --------------------------------------------------------------------------


async def test_phone_the_agent_ending_waits_for_the_goodbye_to_be_heard(
    nursery: trio.Nursery,
) -> None:
    # The agent closes 0.3 s into the 1.2 s greeting: the caller still hears it all,
    # and its mark comes back before this side hangs up.
    server, fake, url = await start(nursery)
    fake.fault_next(Fault("close", at=0.3, code=1000, reason=""))

    sim = caller()
    with trio.fail_after(10):
        await sim.run(url, stay_on_the_line)
    await wait_finished(server)
    (call,) = server.finished
    assert call.cause == EndCause.AGENT_CLOSED
    assert sim.marks_echoed == call.marks_heard == ["reply-1"]
    assert sim.played_bytes == sim.media_bytes == call.agent_bytes > 0
    assert sim.close_code == 1000


async def test_phone_the_end_call_tool_hangs_up_after_the_goodbye(nursery: trio.Nursery) -> None:
    server, _, url = await start(nursery, hearing("Thanks, goodbye."), greeting=None)

    async def say_goodbye(call: SimulatedCall) -> None:
        call.say(speech(UTTERANCE))
        await call.until(lambda: call.hung_up)

    sim = caller()
    with trio.fail_after(10):
        await sim.run(url, say_goodbye)
    await wait_finished(server)
    (call,) = server.finished
    assert call.cause == EndCause.AGENT_HUNG_UP
    assert [r.call.name for r in call.tool_results] == ["end_call"]
    assert call.transcript[-1] == ("assistant", "Goodbye!")
    assert sim.marks_echoed == ["reply-1"]  # the goodbye, heard to its end
    assert sim.played_bytes == sim.media_bytes > 0
    assert sim.close_code == 1000


def test_current_call_outside_a_call_is_a_clear_error() -> None:
    with pytest.raises(LookupError, match="tasks of a call"):
        current_call()


# -- operability ----------------------------------------------------------------------------


async def test_phone_health_readiness_and_metrics(nursery: trio.Nursery) -> None:
    server, _, url = await start(nursery)
    status, _, body = await get(server.port, "/healthz")
    assert (status, body) == (200, b"ok\n")
    status, _, body = await get(server.port, "/readyz")
    assert (status, body) == (200, b"ready\n")
    with trio.fail_after(10):
        await caller().run(url, hear_greeting_then_speak)
    status, headers, metrics = await get(server.port, "/metrics")
    assert status == 200 and headers["content-type"].startswith("text/plain; version=")
    text = metrics.decode()
    assert "dgtrio_phone_active_calls 0.0" in text
    assert 'dgtrio_phone_calls_total{cause="caller_hung_up"} 1.0' in text
    assert 'dgtrio_phone_calls_total{cause="agent_failed"} 0.0' in text
    assert 'dgtrio_phone_refused_total{reason="capacity"} 0.0' in text
    assert "dgtrio_phone_outbound_lateness_seconds_count" in text
    assert (await get(server.port, "/nowhere"))[0] == 404
    assert (await get(server.port, "/healthz", "POST"))[0] == 405
    status, _, body = await get(server.port, "/readyz", "HEAD")
    assert (status, body) == (200, b"")
    assert (await get(server.port, "/phone"))[0] == 404  # no upgrade: not a stream


async def test_phone_history_is_bounded(nursery: trio.Nursery) -> None:
    server, _, url = await start(nursery, history=2, greeting=None)

    async def hang_up(call: SimulatedCall) -> None:
        await trio.sleep(0.05)

    for number in range(4):
        with trio.fail_after(5):
            await caller(call_sid=f"CA{number}").run(url, hang_up)
    await wait_finished(server, 2)
    await eventually(lambda: server.statistics.completed == 4)
    assert [c.call_sid for c in server.finished] == ["CA2", "CA3"]
    assert server.statistics.completed == 4


# -- shutdown -------------------------------------------------------------------------------


async def test_phone_shutdown_drains_within_the_grace_period(nursery: trio.Nursery) -> None:
    fake = FakeDeepgram(agent_script=SCRIPT)
    await nursery.start(fake.serve)
    server = PhoneAgentServer(
        public_url=PUBLIC, auth_token=TOKEN, grace=0.5, connect={"base_url": fake.url}
    )
    stubborn, polite = caller(), caller()
    shutting_down = trio.Event()

    async def hang_up_soon(call: SimulatedCall) -> None:
        await shutting_down.wait()
        await trio.sleep(0.1)

    with trio.fail_after(10):
        async with trio.open_nursery() as serving:
            port = await serving.start(server.serve)
            url = f"ws://127.0.0.1:{port}/phone"
            serving.start_soon(stubborn.run, url, stay_on_the_line)
            serving.start_soon(polite.run, url, hang_up_soon)
            await stubborn.wait_for_media()
            await polite.wait_for_media()
            began = trio.current_time()
            server.shutdown()
            shutting_down.set()
            # Still answering while it drains: not ready, and no new calls.
            assert (await get(port, "/readyz"))[:3:2] == (503, b"draining\n")
            assert (await get(port, "/healthz"))[0] == 200
            with pytest.raises(trio_websocket.ConnectionRejected) as refused:
                await caller().run(url, stay_on_the_line)
            assert refused.value.status_code == 503
        elapsed = trio.current_time() - began  # serve() returned: both calls ended
    assert 0.5 <= elapsed < 4
    assert stubborn.close_code == 1001
    assert polite.close_code == 1000
    causes = sorted(c.cause for c in server.finished if c.cause is not None)
    assert causes == [EndCause.CALLER_HUNG_UP, EndCause.SHUTDOWN]
    assert server.statistics.ended_at_shutdown == 1
    assert not server.active
    with pytest.raises(OSError, match="connect"):  # serve() returned: no longer listening
        await trio.open_tcp_stream("127.0.0.1", port)


async def test_phone_a_second_shutdown_ends_the_calls_at_once(nursery: trio.Nursery) -> None:
    fake = FakeDeepgram(agent_script=SCRIPT)
    await nursery.start(fake.serve)
    server = PhoneAgentServer(
        public_url=PUBLIC, auth_token=TOKEN, grace=60, connect={"base_url": fake.url}
    )
    sim = caller()

    with trio.fail_after(10):
        async with trio.open_nursery() as serving:
            port = await serving.start(server.serve)
            serving.start_soon(sim.run, f"ws://127.0.0.1:{port}/phone", stay_on_the_line)
            await sim.wait_for_media()  # the greeting is playing
            server.shutdown()
            await trio.sleep(0.2)
            assert server.active  # the grace is 60 s
            began = trio.current_time()
            server.shutdown()
        elapsed = trio.current_time() - began
    assert elapsed < 2.5  # the agent's close and the socket's, no waiting for marks
    assert sim.close_code == 1001
    await wait_finished(server)
    assert server.finished[0].cause == EndCause.SHUTDOWN


# -- misuse ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "error", "match"),
    [
        ({"auth_token": None}, dgtrio.ConfigurationError, "insecure_no_signature"),
        ({"public_url": "wss://h/p?x=1"}, ValueError, "<Parameter>"),
        ({"public_url": "https://h/p"}, ValueError, "wss://HOST/PATH"),
        ({"public_url": 42}, TypeError, "public_url"),
        ({"max_calls": 0}, dgtrio.ConfigurationError, "max_calls"),
        ({"max_calls": 2.5}, dgtrio.ConfigurationError, "max_calls"),
        ({"grace": -1}, dgtrio.ConfigurationError, "grace"),
        ({"grace": float("inf")}, dgtrio.ConfigurationError, "grace"),
        ({"media_timeout": "5"}, dgtrio.ConfigurationError, "media_timeout"),
        ({"settings_for": "not callable"}, dgtrio.ConfigurationError, "settings_for"),
        ({"apology": "words"}, dgtrio.ConfigurationError, "apology"),
        ({"connect": {"base_uri": "ws://x"}}, TypeError, "base_uri"),
        ({"connect": {"stall_timeout": 0}}, dgtrio.ConfigurationError, "stall_timeout"),
        ({"auth_token": 123}, dgtrio.ConfigurationError, "auth_token"),
    ],
)
def test_phone_server_refuses_bad_arguments(
    options: dict[str, Any], error: type[Exception], match: str
) -> None:
    given: dict[str, Any] = {"public_url": PUBLIC, "auth_token": TOKEN, **options}
    with pytest.raises(error, match=match) as raised:
        PhoneAgentServer(**given)
    assert "123" not in str(raised.value)  # a token's value is never shown


async def test_phone_server_connect_refuses_bad_keywords_and_keeps_the_last_good(
    nursery: trio.Nursery,
) -> None:
    server = PhoneAgentServer(public_url=PUBLIC, auth_token=TOKEN, connect={"base_url": "ws://a"})
    with pytest.raises(TypeError, match="base_uri"):
        server.connect = {"base_uri": "ws://b"}  # type: ignore[typeddict-unknown-key]
    with pytest.raises(dgtrio.ConfigurationError, match="stall_timeout"):
        server.connect = {"stall_timeout": -1}
    assert server.connect == {"base_url": "ws://a"}
    server.connect = {"base_url": "ws://c", "api_key": "secret-key"}
    assert server.connect == {"base_url": "ws://c", "api_key": "secret-key"}
    assert "secret-key" not in repr(server)


async def test_phone_server_serves_once(nursery: trio.Nursery) -> None:
    server = PhoneAgentServer(public_url=PUBLIC, auth_token=TOKEN)
    await nursery.start(server.serve)
    with pytest.raises(RuntimeError, match="serves once"):
        await server.serve()
    server.shutdown()


def test_phone_server_keeps_the_token_out_of_its_repr() -> None:
    server = PhoneAgentServer(public_url=PUBLIC, auth_token=TOKEN)
    assert TOKEN not in repr(server)


async def test_phone_insecure_mode_is_said_loudly(
    nursery: trio.Nursery, caplog: pytest.LogCaptureFixture
) -> None:
    server = PhoneAgentServer(public_url=PUBLIC, insecure_no_signature=True)
    with caplog.at_level(logging.WARNING, "dgtrio.phone"):
        await nursery.start(server.serve)
    assert any("NOT checked" in r.getMessage() for r in caplog.records)
    server.shutdown()
