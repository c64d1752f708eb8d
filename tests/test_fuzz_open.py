"""Every ``open_*`` driven with random keywords and values, against the fake server.

Each call either raises ``TypeError`` or :class:`~dgtrio.ConfigurationError` at once,
before any I/O (the fake sees no connection), or opens a connection whose block runs
and ends within a deadline: no hang, no raw error from deep inside.
"""

from __future__ import annotations

import inspect
import math
import ssl
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

import pytest
import trio
import trio.lowlevel
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

import dgtrio
from dgtrio import agent as ag
from dgtrio.testing import AgentScript, FakeDeepgram

from .conftest import API_KEY, agent_settings

pytestmark = pytest.mark.timeout(120)

SETTINGS = agent_settings()

CONNECT = set(dgtrio.ConnectOptions.__annotations__)
OPENERS: dict[str, Callable[..., AbstractAsyncContextManager[Any]]] = {
    "listen": dgtrio.open_listen,
    "flux": dgtrio.open_flux_listen,
    "speak": dgtrio.open_speak,
    "agent": lambda **kw: dgtrio.open_agent(SETTINGS, **kw),
}

SIGNATURES: dict[str, Callable[..., object]] = {
    "listen": dgtrio.open_listen,
    "flux": dgtrio.open_flux_listen,
    "speak": dgtrio.open_speak,
    "agent": dgtrio.open_agent,
}
TAKES = {
    api: set(inspect.signature(opener).parameters) - {"connect", "settings"} | CONNECT
    for api, opener in SIGNATURES.items()
}

JUNK = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-5, max_value=100_000),
    st.floats(allow_nan=True, allow_infinity=True, width=32),
    st.sampled_from([math.nan, math.inf, -math.inf, 0.0, -1.0]),
    st.text(max_size=5),
    st.lists(st.integers(), max_size=2),
    st.just(dgtrio.ListenV1Options()),
    st.just(dgtrio.ReconnectPolicy()),
)
SECONDS = st.floats(min_value=0.05, max_value=60)
COUNT = st.integers(min_value=1, max_value=1000)

# Each keyword with values that work, and (through JUNK) values that must be refused.
KEYWORDS: dict[str, st.SearchStrategy[Any]] = {
    # ConnectOptions (base_url and the credentials are fixed: they reach the fake)
    "ssl_context": st.sampled_from([None, ssl.create_default_context()]),
    "allow_insecure": st.booleans(),
    "connect_timeout": SECONDS,
    "close_timeout": SECONDS,
    "send_timeout": SECONDS,
    "stall_timeout": st.none() | SECONDS,
    "max_buffered_messages": COUNT,
    "max_queued_frames": COUNT,
    "max_message_size": st.integers(min_value=1024, max_value=1 << 24),
    # the openers' own (each taken by some of them only)
    "close_stream_on_end": st.booleans(),
    "keepalive_interval": st.none() | SECONDS,
    "reconnect": st.none() | st.just(dgtrio.ReconnectPolicy()),
    "flush_limit": st.none() | COUNT,
    "settings_timeout": SECONDS,
    "tools": st.none() | st.just(ag.ToolRegistry()),
    # what users coming from other SDKs pass
    "model": st.just("nova-3"),
    "apikey": st.just("secret"),
    "voice": st.just("aura-2-thalia-en"),
    "sample_rate": st.just(16000),
    "tool": st.just(ag.ToolRegistry()),
}


@st.composite
def keywords(draw: st.DrawFn) -> dict[str, Any]:
    names = draw(st.lists(st.sampled_from(sorted(KEYWORDS)), max_size=3, unique=True))
    # Mostly values that work, so that most calls go on to connect.
    return {name: draw(JUNK if draw(st.integers(0, 4)) == 0 else KEYWORDS[name]) for name in names}


@settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(
    api=st.sampled_from(list(OPENERS)),
    keywords=keywords(),
)
async def test_open_either_refuses_at_once_or_works_without_hanging(
    api: str, keywords: dict[str, Any]
) -> None:
    # Each example runs in a trio run of its own: the fake too.
    fake = FakeDeepgram(api_key=API_KEY, agent_script=AgentScript(realtime=False))
    async with trio.open_nursery() as nursery:
        await nursery.start(fake.serve)
        await _open(fake, api, keywords)
        nursery.cancel_scope.cancel()


async def _open(fake: FakeDeepgram, api: str, keywords: dict[str, Any]) -> None:
    unknown = set(keywords) - TAKES[api]
    refused: Exception | None = None
    try:
        manager = OPENERS[api](base_url=fake.url, api_key=API_KEY, **keywords)
    except (TypeError, dgtrio.ConfigurationError, dgtrio.AudioFormatError) as exc:
        refused = exc
    if refused is not None:
        assert fake.sessions == []  # refused before any I/O
        # An unknown keyword is named, unless a bad value of a known one came first.
        named = any(repr(name) in str(refused) for name in unknown)
        assert not unknown or named or set(keywords) & TAKES[api]
        event(f"refused: {type(refused).__name__}")
        return
    assert not unknown, f"{sorted(unknown)} taken silently"
    with trio.fail_after(10):  # real seconds: a hang fails here
        try:
            async with manager as conn:
                await trio.lowlevel.checkpoint()
                assert conn.statistics().state in ("open", "closing", "closed")
        except dgtrio.DeepgramError as exc:
            event(f"failed: {type(exc).__name__}")  # typed, and on time
        else:
            event("worked")
