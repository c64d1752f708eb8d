"""examples/phone_agent: the shop's tools and per-call settings on dgtrio.phone, and
the program itself, stopped by SIGTERM."""

from __future__ import annotations

import signal
import subprocess
import sys

import pytest
import trio

from dgtrio.phone import EndCause, PhoneAgentServer
from dgtrio.phone.testing import SimulatedCall, speech
from dgtrio.testing import FakeDeepgram

from .conftest import ROOT
from .test_phone import PUBLIC, TOKEN, hearing, wait_finished

sys.path.insert(0, str(ROOT / "examples"))
from phone_agent import service

pytestmark = pytest.mark.timeout(30)


async def test_the_shop_looks_up_the_callers_order(nursery: trio.Nursery) -> None:
    fake = FakeDeepgram(agent_script=hearing("Where is my order A123?", words_per_second=10))
    await nursery.start(fake.serve)
    server = PhoneAgentServer(
        public_url=PUBLIC,
        auth_token=TOKEN,
        settings_for=service.settings_for,
        tools=service.shop_tools(),
        connect={"base_url": fake.url},
    )
    port = await nursery.start(server.serve)

    async def ask(call: SimulatedCall) -> None:
        await call.wait_for_marks(1)  # the greeting
        call.say(speech(0.3))
        await call.wait_for_marks(2)

    caller = SimulatedCall(
        auth_token=TOKEN, public_url=PUBLIC, custom_parameters={"customer": "42"}
    )
    with trio.fail_after(10):
        await caller.run(f"ws://127.0.0.1:{port}/phone", ask)
    await wait_finished(server)
    (call,) = server.finished
    assert call.cause == EndCause.CALLER_HUNG_UP
    (result,) = call.tool_results
    assert '"carrier":"UPS"' in result.content
    prompt = fake.sessions[0].received[0].json()["agent"]["think"]["prompt"]
    assert "customer 42" in prompt
    declared = {
        f["name"] for f in fake.sessions[0].received[0].json()["agent"]["think"]["functions"]
    }
    assert declared == {"get_time", "lookup_order", "end_call"}


def test_the_program_serves_until_sigterm() -> None:
    process = subprocess.Popen(
        [
            sys.executable,
            str(ROOT / "examples/phone_agent/service.py"),
            "--public-url",
            PUBLIC,
            "--port",
            "0",
        ],
        stderr=subprocess.PIPE,
        text=True,
        env={"PATH": "/usr/bin:/bin", "TWILIO_AUTH_TOKEN": TOKEN},
    )
    assert process.stderr is not None
    try:
        lines = []
        for line in process.stderr:
            lines.append(line)
            if line.startswith("serving "):
                break
        process.send_signal(signal.SIGTERM)
        rest = process.communicate(timeout=20)[1]
    finally:
        process.kill()
    assert process.returncode == 0
    assert "the scripted fake agent answers" in "".join(lines)
    assert "done: ServerStatistics(accepted=0" in rest
