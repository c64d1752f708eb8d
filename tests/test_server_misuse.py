"""Misuse of the protocol server's public calls: each refused with a clear, typed error
before anything listens or is sent; two serves at once; cancellation mid-call."""

from __future__ import annotations

import ssl
from typing import Any

import pytest
import trio
import trio.testing

import dgtrio
from dgtrio.server import (
    AgentScript,
    AgentV1Endpoint,
    DeepgramServer,
    Fault,
    FluxScript,
    ListenV1Endpoint,
    ListenV2Endpoint,
    SpeakV1Endpoint,
    SpeakV2Endpoint,
)
from dgtrio.testing import FakeDeepgram


@pytest.mark.parametrize(
    ("keywords", "message"),
    [
        ({"api_key": 123}, r"DeepgramServer\.api_key must be"),
        ({"api_key": ""}, r"DeepgramServer\.api_key"),
        ({"access_token": b"t"}, r"DeepgramServer\.access_token must be"),
        ({"idle_timeout": 0}, r"DeepgramServer\.idle_timeout"),
        ({"idle_timeout": "10"}, r"DeepgramServer\.idle_timeout"),
        ({"agent_client_timeout": -1.0}, r"DeepgramServer\.agent_client_timeout"),
        ({"agent_client_timeout": float("nan")}, r"DeepgramServer\.agent_client_timeout"),
        ({"faults": ["abort"]}, r"DeepgramServer\.faults"),
        ({"host": None}, r"DeepgramServer\.host"),
        ({"port": 70000}, r"DeepgramServer\.port"),
        ({"port": True}, r"DeepgramServer\.port"),
        ({"ssl_context": "tls"}, r"DeepgramServer\.ssl_context"),
    ],
)
def test_the_servers_options_are_checked(keywords: dict[str, Any], message: str) -> None:
    with pytest.raises(dgtrio.ConfigurationError, match=message):
        DeepgramServer(**keywords)


def test_a_secret_is_never_shown_in_the_error() -> None:
    with pytest.raises(dgtrio.ConfigurationError) as caught:
        DeepgramServer(api_key=["sk-secret"])  # type: ignore[arg-type]
    assert "sk-secret" not in str(caught.value)


def test_an_unknown_keyword_is_refused() -> None:
    with pytest.raises(TypeError, match="idle_timeuot"):
        FakeDeepgram(idle_timeuot=3)  # type: ignore[call-arg]


@pytest.mark.parametrize(
    ("keywords", "message"),
    [
        ({"listen_script": "Hello."}, r"FakeDeepgram\.listen_script"),
        ({"agent_script": {}}, r"FakeDeepgram\.agent_script"),
        ({"speak_script": 15.0}, r"FakeDeepgram\.speak_script"),
        ({"flux_script": AgentScript()}, r"FakeDeepgram\.flux_script"),
        ({"port": -1}, r"FakeDeepgram\.port"),
    ],
)
def test_the_fakes_options_are_checked(keywords: dict[str, Any], message: str) -> None:
    with pytest.raises(dgtrio.ConfigurationError, match=message):
        FakeDeepgram(**keywords)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda fake: fake.reject_next(200), r"reject_next\.status"),
        (lambda fake: fake.reject_next("429"), r"reject_next\.status"),
        (lambda fake: fake.reject_next(429, retry_after=-1), r"reject_next\.retry_after"),
        (lambda fake: fake.reject_next(429, count=0), r"reject_next\.count"),
        (lambda fake: fake.reject_next(429, body=b"{}"), r"reject_next\.body"),
        (lambda fake: fake.fault_next("abort"), r"fault_next\.faults"),
    ],
)
def test_scripted_refusals_and_faults_are_checked(call: Any, message: str) -> None:
    fake = FakeDeepgram()
    with pytest.raises(dgtrio.ConfigurationError, match=message):
        call(fake)
    fake.reject_next(429, count=2)  # what a refused call leaves: nothing queued but this
    fake.fault_next(Fault("abort"))


def test_the_url_is_refused_before_serving() -> None:
    with pytest.raises(RuntimeError, match="not serving yet"):
        _ = FakeDeepgram().url


async def test_two_serves_at_once_are_refused_and_the_first_goes_on(
    nursery: trio.Nursery,
) -> None:
    fake = FakeDeepgram()
    await nursery.start(fake.serve)
    with pytest.raises(RuntimeError, match="serving already"):
        await fake.serve()
    async with dgtrio.open_listen(base_url=fake.url) as conn:  # still serving
        await conn.close_stream()
        assert isinstance([m async for m in conn][-1], dgtrio.ListenV1Metadata)


async def test_a_server_serves_again_once_stopped() -> None:
    fake = FakeDeepgram()
    async with trio.open_nursery() as nursery:
        await nursery.start(fake.serve)
        nursery.cancel_scope.cancel()
    async with trio.open_nursery() as nursery:
        await nursery.start(fake.serve)
        async with dgtrio.open_listen(base_url=fake.url) as conn:
            await conn.close_stream()
        nursery.cancel_scope.cancel()
    assert len(fake.sessions) == 1


async def test_a_cancelled_wait_for_sessions_leaves_the_next_its_own_answer(
    nursery: trio.Nursery,
) -> None:
    fake = FakeDeepgram()
    await nursery.start(fake.serve)
    with pytest.raises(dgtrio.ConfigurationError, match=r"wait_for_sessions\.count"):
        await fake.wait_for_sessions(0)
    with trio.move_on_after(0.05) as waited:
        await fake.wait_for_sessions()
    assert waited.cancelled_caught
    async with dgtrio.open_listen(base_url=fake.url) as conn:
        sessions = await fake.wait_for_sessions()
        assert len(sessions) == 1
        await conn.close_stream()


class NotEars:
    def hear(self) -> None: ...


# What a caller without a type checker may pass (typed Any: the misuse is the point).
NOT_EARS: Any = NotEars()
NOTHING: Any = None
A_TEXT: Any = "script"


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: ListenV1Endpoint(NOT_EARS, 10), r"ListenV1Endpoint\.ears must implement Ears"),
        (lambda: ListenV1Endpoint(NOTHING, 10), r"ListenV1Endpoint\.ears.*NoneType has no"),
        (lambda: ListenV2Endpoint(FluxScript(), NOT_EARS), r"ListenV2Endpoint\.ears"),
        (lambda: ListenV2Endpoint(A_TEXT, NOTHING), r"ListenV2Endpoint\.script"),
        (lambda: SpeakV1Endpoint(NOT_EARS), r"SpeakV1Endpoint\.voice must implement Voice"),
        (lambda: SpeakV2Endpoint(NOT_EARS), r"SpeakV2Endpoint\.voice"),
        (
            lambda: AgentV1Endpoint(
                AgentScript(), 10, ears=NOT_EARS, mind=NOT_EARS, voice=NOT_EARS
            ),
            r"AgentV1Endpoint\.mind must implement AgentMind: NotEars has no reply",
        ),
        (
            lambda: AgentV1Endpoint(AgentScript(), 0, ears=NOT_EARS, mind=NOT_EARS, voice=NOT_EARS),
            r"AgentV1Endpoint\.client_timeout",
        ),
    ],
)
def test_an_endpoint_refuses_a_brain_that_cannot_do_its_part(build: Any, message: str) -> None:
    with pytest.raises(dgtrio.ConfigurationError, match=message):
        build()


def test_a_listen_endpoint_refuses_a_bad_idle_timeout() -> None:
    fake = FakeDeepgram()
    endpoint = fake.endpoint("/v1/listen")
    assert isinstance(endpoint, ListenV1Endpoint)
    with pytest.raises(dgtrio.ConfigurationError, match="idle_timeout"):
        ListenV1Endpoint(endpoint.ears, float("inf"))


def test_an_ssl_context_is_taken() -> None:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    assert FakeDeepgram(ssl_context=context).ssl_context is context
