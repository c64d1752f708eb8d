"""``dgtrio phone`` as a process: signals sent by PID, workers sharing a port, and
the configurations it refuses to run with, against its in-process fake agent."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
import trio

from dgtrio.phone.testing import SimulatedCall

from .test_phone import PUBLIC, TOKEN, get, stay_on_the_line

pytestmark = pytest.mark.timeout(60)

LISTENING = re.compile(rb"Twilio Media Streams on ws://127\.0\.0\.1:(\d+)")


class Service:
    """A ``dgtrio phone`` process, its port, and everything it wrote to stderr."""

    def __init__(self, process: trio.Process) -> None:
        self.process = process
        self.port = 0
        self.stderr = b""
        self._lines = trio.Event()

    async def read(self) -> None:
        assert self.process.stderr is not None
        async for chunk in self.process.stderr:
            self.stderr += chunk
            self._lines.set()
            self._lines = trio.Event()

    async def wait_for(self, pattern: re.Pattern[bytes]) -> re.Match[bytes]:
        while (found := pattern.search(self.stderr)) is None:
            await self._lines.wait()
        return found

    def signal(self, signum: int = signal.SIGTERM) -> None:
        os.kill(self.process.pid, signum)

    def statistics(self) -> list[dict[str, object]]:
        return [json.loads(line) for line in re.findall(rb"done: (\{.*\})", self.stderr)]


@asynccontextmanager
async def service(*args: str, token: str = TOKEN) -> AsyncIterator[Service]:
    command = [sys.executable, "-m", "dgtrio.cli", "phone", "--port", "0", *args]
    command += ["--public-url", PUBLIC, "--engine", "fake"]
    env = {**os.environ, "TWILIO_AUTH_TOKEN": token}
    process = await trio.lowlevel.open_process(command, stderr=subprocess.PIPE, env=env)
    running = Service(process)
    try:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(running.read)
            with trio.fail_after(20):
                running.port = int((await running.wait_for(LISTENING)).group(1))
            yield running
            with trio.fail_after(20):
                await process.wait()
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


def caller(**options: object) -> SimulatedCall:
    return SimulatedCall(auth_token=TOKEN, public_url=PUBLIC, **options)  # type: ignore[arg-type]


async def call_in_progress(nursery: trio.Nursery, running: Service) -> SimulatedCall:
    """A caller who stays on the line, once the greeting plays."""
    sim = caller()
    nursery.start_soon(sim.run, f"ws://127.0.0.1:{running.port}/phone", stay_on_the_line)
    with trio.fail_after(10):
        await sim.wait_for_media()
    return sim


async def test_phone_sigterm_drains_the_calls_in_progress(nursery: trio.Nursery) -> None:
    async with service("--grace", "1") as running:
        sim = await call_in_progress(nursery, running)
        began = trio.current_time()
        running.signal()
        with trio.fail_after(10):
            await sim.until(lambda: sim.hung_up)
        ended = trio.current_time() - began
    assert running.process.returncode == 0
    assert sim.close_code == 1001
    assert 1.0 <= ended < 6  # the grace, then the agent's close and the socket's
    (statistics,) = running.statistics()
    assert statistics["ended_at_shutdown"] == 1
    assert statistics["causes"] == {"shutdown": 1}
    assert b"SIGTERM: no new calls; 1 in progress get 1 s" in running.stderr


async def test_phone_a_second_sigterm_ends_the_calls_at_once(nursery: trio.Nursery) -> None:
    async with service("--grace", "30") as running:
        sim = await call_in_progress(nursery, running)
        running.signal()
        with trio.fail_after(5):
            while (await get(running.port, "/readyz"))[0] != 503:  # noqa: ASYNC110 (draining)
                await trio.sleep(0.05)
        began = trio.current_time()
        running.signal()
        with trio.fail_after(10):
            await sim.until(lambda: sim.hung_up)
        ended = trio.current_time() - began
    assert running.process.returncode == 0
    assert sim.close_code == 1001  # at once, and still cleanly
    assert ended < 4
    assert running.statistics()[0]["causes"] == {"shutdown": 1}
    assert b"SIGTERM again: ending 1 calls now" in running.stderr


async def test_phone_workers_share_the_port_and_their_metrics() -> None:
    calls_made = 20
    async with service("--workers", "2") as running:
        with trio.fail_after(20):
            while running.stderr.count(b"Twilio Media Streams on") < 2:
                await running.wait_for(LISTENING)
                await trio.sleep(0.05)

        async def hang_up_at_once(call: SimulatedCall) -> None:
            await call.wait_for_media()

        url = f"ws://127.0.0.1:{running.port}/phone"
        with trio.fail_after(30):
            async with trio.open_nursery() as calls:
                for number in range(calls_made):
                    calls.start_soon(caller(call_sid=f"CA{number}").run, url, hang_up_at_once)
        # Each worker counts its own calls; any worker's /metrics sums them all.
        with trio.fail_after(10):
            while True:
                _, _, metrics = await get(running.port, "/metrics")
                if (
                    f'dgtrio_phone_calls_total{{cause="caller_hung_up"}} {calls_made}.0'.encode()
                    in metrics
                ):
                    break
                await trio.sleep(0.05)
        running.signal()
    assert running.process.returncode == 0
    done = running.statistics()
    # The kernel shared the calls out (all 20 to one worker: a chance of 2 in 2**20),
    # so the sum in /metrics came from both.
    accepted = sorted(int(str(s["accepted"])) for s in done)
    assert len(accepted) == 2 and accepted[0] > 0 and sum(accepted) == calls_made


@pytest.mark.parametrize(
    ("args", "env", "message"),
    [
        (["--engine", "deepgram"], {}, "--engine deepgram needs DEEPGRAM_API_KEY"),
        (["--engine", "fake"], {"TWILIO_AUTH_TOKEN": ""}, "without its auth token"),
        (["--engine", "fake", "--public-url", "https://x/p"], {}, "wss://HOST/PATH"),
        (["--engine", "fake", "--public-url", "wss://x/p?a=1"], {}, "<Parameter>"),
        (["--engine", "fake", "--grace", "-1"], {}, "--grace"),
        (["--engine", "fake", "--workers", "0"], {}, "--workers"),
        (["--engine", "fake", "--base-url", "wss://x"], {}, "--base-url is for"),
    ],
)
def test_phone_refuses_to_run_as_asked_in_one_line(
    args: list[str], env: dict[str, str], message: str
) -> None:
    command = [sys.executable, "-m", "dgtrio.cli", "phone", "--public-url", PUBLIC, *args]
    given = {**os.environ, "TWILIO_AUTH_TOKEN": TOKEN, **env}
    done = subprocess.run(command, capture_output=True, text=True, env=given, timeout=30)
    assert done.returncode == 2
    (line,) = done.stderr.splitlines()
    assert line.startswith("dgtrio phone: error: ") and message in line
    assert TOKEN not in done.stderr


async def test_phone_insecure_mode_runs_and_says_so(nursery: trio.Nursery) -> None:
    async with service("--insecure-no-signature", token="") as running:
        sim = SimulatedCall()  # no signature at all

        async def hang_up_at_once(call: SimulatedCall) -> None:
            await call.wait_for_media()

        with trio.fail_after(10):
            await sim.run(f"ws://127.0.0.1:{running.port}/phone", hang_up_at_once)
        running.signal()
    assert b"X-Twilio-Signature is NOT checked" in running.stderr
    assert running.statistics()[0]["accepted"] == 1


async def test_phone_a_worker_that_dies_stops_the_others() -> None:
    # Serving on with fewer cores would hide the loss: the whole ends, and the
    # orchestrator replaces it.
    async with service("--workers", "2") as running:
        with trio.fail_after(20):
            while len(pids := re.findall(rb"\(pid (\d+)\)", running.stderr)) < 2:
                await running.wait_for(LISTENING)
                await trio.sleep(0.05)
        os.kill(int(pids[0]), signal.SIGKILL)
    assert running.process.returncode == 1
    assert b"ended on its own (-9): stopping the others" in running.stderr
    assert len(running.statistics()) == 1  # the other drained and said so
