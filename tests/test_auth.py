"""Credentials, base URLs, handshake failures, and keeping the key secret."""

from __future__ import annotations

import logging
import traceback

import pytest
import trio
import trio.testing
import trio_websocket

import dgtrio
from dgtrio._auth import (
    BaseURL,
    Credentials,
    check_credentials,
    resolve_base_url,
    resolve_credentials,
)
from dgtrio._transport import _retry_after
from dgtrio.testing import FakeDeepgram

from .conftest import API_KEY, frames, pcm16, tcp_listener, tls_pair


def test_credentials_precedence() -> None:
    env = {"DEEPGRAM_API_KEY": "env-key", "DEEPGRAM_ACCESS_TOKEN": "env-token"}
    assert resolve_credentials("arg-key", None, env) == Credentials("Token", "arg-key")
    assert resolve_credentials(None, "arg-token", env) == Credentials("Bearer", "arg-token")
    assert resolve_credentials(None, None, env) == Credentials("Bearer", "env-token")
    assert resolve_credentials(None, None, {"DEEPGRAM_API_KEY": "k"}) == Credentials("Token", "k")
    assert resolve_credentials(None, None, {}) is None
    with pytest.raises(dgtrio.ConfigurationError, match="not both"):
        resolve_credentials("k", "t", {})
    with pytest.raises(dgtrio.ConfigurationError, match="empty"):
        resolve_credentials("", None, {})
    with pytest.raises(dgtrio.ConfigurationError, match="whitespace"):
        resolve_credentials(" k\n", None, {})


def test_credentials_never_show_the_secret() -> None:
    credentials = Credentials("Token", API_KEY)
    for text in (repr(credentials), str(credentials), f"{credentials}", repr([credentials])):
        assert API_KEY not in text
        assert "***" in text
    assert credentials.authorization() == f"Token {API_KEY}".encode()


@pytest.mark.parametrize(
    ("base_url", "agent", "expected"),
    [
        (None, False, BaseURL(True, "api.deepgram.com", 443)),
        (None, True, BaseURL(True, "agent.deepgram.com", 443)),
        ("api.eu.deepgram.com", True, BaseURL(True, "api.eu.deepgram.com", 443)),
        (
            "https://dg.example.com:8443/proxy/",
            False,
            BaseURL(True, "dg.example.com", 8443, "/proxy"),
        ),
        ("http://127.0.0.1:8080", False, BaseURL(False, "127.0.0.1", 8080)),
        ("ws://[::1]:9000", False, BaseURL(False, "::1", 9000)),
    ],
)
def test_base_url_forms(base_url: str | None, agent: bool, expected: BaseURL) -> None:
    assert resolve_base_url(base_url, agent=agent, environ={}) == expected


def test_base_url_from_environment_serves_every_api() -> None:
    env = {"DEEPGRAM_BASE_URL": "wss://api.au.deepgram.com"}
    assert resolve_base_url(None, agent=True, environ=env).host == "api.au.deepgram.com"
    assert resolve_base_url("ws://localhost:1", environ=env).host == "localhost"


def test_socket_urls() -> None:
    assert BaseURL(True, "api.deepgram.com", 443).url("/v1/listen", "a=1") == (
        "wss://api.deepgram.com/v1/listen?a=1"
    )
    assert BaseURL(False, "::1", 9000, "/dg").url("/v1/listen") == "ws://[::1]:9000/dg/v1/listen"


@pytest.mark.parametrize(
    ("base_url", "message"),
    [
        ("ftp://x", "must be ws://"),
        ("wss://host/?q=1", "no query"),
        ("wss://user:pw@host", "user info"),
        ("wss://:443", "no host"),
        ("wss://host:99999", "invalid port"),
    ],
)
def test_bad_base_urls(base_url: str, message: str) -> None:
    with pytest.raises(dgtrio.ConfigurationError, match=message):
        resolve_base_url(base_url, environ={})


@pytest.mark.parametrize(
    ("base_url", "message"),
    [
        (
            123,
            "base_url must be a URL such as 'wss://api.eu.deepgram.com', not a value of type int",
        ),
        (b"wss://host", "base_url must be a URL such as"),
        ("", "base_url must be a URL such as 'wss://api.eu.deepgram.com', not an empty string"),
        ("wss//nohost", "base_url must look like wss://host[:port][/prefix], not 'wss//nohost'"),
        ("wss:/host", "base_url must look like wss://host"),
        ("wss://", "base_url has no host: 'wss://'"),
        ("wss://my host", "base_url must look like wss://host"),
        ("wss://a..b", "base_url must look like wss://host"),
        ("wss://[::1", "base_url must look like wss://host"),
        ("wss://host/a//b", "base_url must look like wss://host"),
        ("wss://host:0", "base_url has an invalid port"),
        ("wss://host:port", "base_url has an invalid port"),
        ("wss://host?", "no query, fragment or user info"),
        ("wss://host#frag", "no query, fragment or user info"),
        ("wss://@host", "no query, fragment or user info"),
    ],
)
def test_malformed_base_urls_are_refused_by_name(base_url: object, message: str) -> None:
    with pytest.raises(dgtrio.ConfigurationError) as info:
        resolve_base_url(base_url, environ={})  # type: ignore[arg-type]
    assert message in str(info.value)


def test_base_url_checks_name_the_environment_variable() -> None:
    with pytest.raises(dgtrio.ConfigurationError, match=r"^DEEPGRAM_BASE_URL must look like"):
        resolve_base_url(None, environ={"DEEPGRAM_BASE_URL": "wss//nohost"})
    # http and https stay accepted, as ws and wss (a proxy's URL is often written so).
    assert resolve_base_url("http://x", environ={}) == BaseURL(False, "x", 80)


@pytest.mark.parametrize(
    "base_url",
    [
        f"wss://user:{API_KEY}@host",
        f"ftp://user:{API_KEY}@host",
        f"wss://host/?token={API_KEY}",
        f"ftp://host/#{API_KEY}",
        f"wss:/{API_KEY}@host",
        f"wss://{API_KEY}@[::1",
        API_KEY.encode(),
    ],
)
def test_base_url_errors_never_show_a_credential(base_url: object) -> None:
    with pytest.raises(dgtrio.ConfigurationError) as info:
        resolve_base_url(base_url, environ={})  # type: ignore[arg-type]
    assert API_KEY not in str(info.value)


@pytest.mark.parametrize(
    ("api_key", "access_token", "environ", "message"),
    [
        (123, None, {}, "api_key must be a string, not int"),
        (None, b"x", {}, "access_token must be a string, not bytes"),
        (f"{API_KEY} x", None, {}, "api_key holds a space, a control or a non-ASCII character"),
        (f"a\r\nX-Injected: {API_KEY}", None, {}, "api_key holds a space"),
        (f"{API_KEY}\u00e9", None, {}, "api_key holds a space, a control or a non-ASCII"),
        (None, None, {"DEEPGRAM_API_KEY": f" {API_KEY}"}, "DEEPGRAM_API_KEY is empty or has"),
        (None, None, {"DEEPGRAM_ACCESS_TOKEN": "a b"}, "DEEPGRAM_ACCESS_TOKEN holds a space"),
    ],
)
def test_bad_credentials_are_refused_by_name_without_the_secret(
    api_key: object, access_token: object, environ: dict[str, str], message: str
) -> None:
    with pytest.raises(dgtrio.ConfigurationError) as info:
        resolve_credentials(api_key, access_token, environ)  # type: ignore[arg-type]
    assert str(info.value).startswith(message)
    assert API_KEY not in str(info.value)
    shown = traceback.TracebackException.from_exception(info.value, capture_locals=True)
    for frame in shown.stack:  # dgtrio's frames: the test's own hold the key, of course
        if "/dgtrio/" in frame.filename:
            assert API_KEY not in repr(frame.locals)


def test_credentials_configured_answers_as_open_would(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DEEPGRAM_ACCESS_TOKEN", raising=False)
    monkeypatch.setenv("DEEPGRAM_API_KEY", "")  # empty: as if unset
    assert dgtrio.credentials_configured() is False
    monkeypatch.setenv("DEEPGRAM_ACCESS_TOKEN", "token")
    assert dgtrio.credentials_configured() is True
    monkeypatch.delenv("DEEPGRAM_ACCESS_TOKEN")
    monkeypatch.setenv("DEEPGRAM_API_KEY", " secret-key")
    with pytest.raises(dgtrio.ConfigurationError, match="DEEPGRAM_API_KEY is empty") as raised:
        dgtrio.credentials_configured()
    assert "secret-key" not in str(raised.value)


def test_check_base_url_refuses_what_open_would() -> None:
    dgtrio.check_base_url("api.eu.deepgram.com")
    dgtrio.check_base_url("ws://127.0.0.1:8080/prefix")
    with pytest.raises(dgtrio.ConfigurationError, match=r"^base_url must be ws://.*'ftp://x'$"):
        dgtrio.check_base_url("ftp://x")


def test_check_base_url_misuse_is_refused_without_showing_secrets() -> None:
    with pytest.raises(dgtrio.ConfigurationError, match="not a value of type int"):
        dgtrio.check_base_url(443)  # type: ignore[arg-type]
    with pytest.raises(dgtrio.ConfigurationError, match="not an empty string"):
        dgtrio.check_base_url("")
    with pytest.raises(dgtrio.ConfigurationError, match="no query, fragment or user info") as info:
        dgtrio.check_base_url("wss://user:hunter2@api.deepgram.com")
    assert "hunter2" not in str(info.value)
    with pytest.raises(TypeError):
        dgtrio.check_base_url(url="wss://api.deepgram.com", api_key="k")  # type: ignore[call-arg]


def test_allow_insecure_must_be_a_bool() -> None:
    with pytest.raises(dgtrio.ConfigurationError, match="allow_insecure must be True or False"):
        check_credentials(BaseURL(True, "api.deepgram.com", 443), None, allow_insecure="no")  # type: ignore[arg-type]


def test_credential_guards() -> None:
    key = Credentials("Token", "k")
    hosted = BaseURL(True, "api.deepgram.com", 443)
    with pytest.raises(dgtrio.MissingCredentials, match="DEEPGRAM_API_KEY"):
        check_credentials(hosted, None, allow_insecure=False)
    check_credentials(hosted, key, allow_insecure=False)
    check_credentials(BaseURL(False, "10.0.0.5", 80), None, allow_insecure=False)  # self-hosted
    with pytest.raises(dgtrio.ConfigurationError, match=r"unencrypted ws:// to dg\.internal"):
        check_credentials(BaseURL(False, "dg.internal", 80), key, allow_insecure=False)
    check_credentials(BaseURL(False, "dg.internal", 80), key, allow_insecure=True)
    for host in ("localhost", "127.0.0.1", "127.5.6.7", "::1"):
        check_credentials(BaseURL(False, host, 80), key, allow_insecure=False)


async def test_missing_credentials_fail_before_any_network() -> None:
    with pytest.raises(dgtrio.MissingCredentials):
        async with dgtrio.open_listen():
            pass  # pragma: no cover


async def test_insecure_credentials_are_refused_before_any_network() -> None:
    with pytest.raises(dgtrio.ConfigurationError, match="allow_insecure=True"):
        async with dgtrio.open_listen(base_url="ws://dg.example.com", api_key="k"):
            pass  # pragma: no cover


async def test_api_key_and_token_reach_the_server(
    fake: FakeDeepgram, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake.access_token = "jwt-123"
    async with dgtrio.open_listen(base_url=fake.url, api_key=API_KEY):
        pass
    async with dgtrio.open_listen(base_url=fake.url, access_token="jwt-123"):
        pass
    monkeypatch.setenv("DEEPGRAM_API_KEY", API_KEY)
    monkeypatch.setenv("DEEPGRAM_BASE_URL", fake.url)
    async with dgtrio.open_listen():
        pass
    assert [s.auth for s in fake.sessions] == ["Token", "Bearer", "Token"]
    assert fake.sessions[0].headers["authorization"] == "Token ***"
    assert fake.sessions[0].headers["user-agent"].startswith("dgtrio/")


async def test_wrong_key_is_authentication_failed(fake: FakeDeepgram) -> None:
    with pytest.raises(dgtrio.AuthenticationFailed) as info:
        async with dgtrio.open_listen(base_url=fake.url, api_key="wrong"):
            pass  # pragma: no cover
    error = info.value
    assert error.status == 401
    assert error.dg_error == "Invalid credentials."
    assert error.request_id and error.request_id in str(error)
    assert '"err_code": "INVALID_AUTH"' in error.body
    assert error.url.startswith(fake.url + "/v1/listen?")
    assert not fake.sessions


async def test_the_fake_accepts_the_subprotocol_form(fake: FakeDeepgram) -> None:
    async with trio_websocket.open_websocket_url(
        f"{fake.url}/v1/listen", subprotocols=["token", API_KEY]
    ) as ws:
        assert ws.subprotocol == "token"
        await ws.send_message('{"type":"CloseStream"}')
        assert '"Metadata"' in await ws.get_message()
    assert fake.sessions[0].auth == "subprotocol"
    assert API_KEY not in repr(fake.sessions[0].headers)


async def test_rate_limit_carries_retry_after(fake: FakeDeepgram) -> None:
    fake.reject_next(429, retry_after=3)
    with pytest.raises(dgtrio.RateLimited) as info:
        async with dgtrio.open_listen(base_url=fake.url, api_key=API_KEY):
            pass  # pragma: no cover
    assert (info.value.status, info.value.retry_after) == (429, 3.0)
    assert "retry after 3 s" in str(info.value)
    async with dgtrio.open_listen(base_url=fake.url, api_key=API_KEY):  # the next one works
        pass


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (403, dgtrio.PermissionDenied),
        (500, dgtrio.HandshakeRejected),
        (503, dgtrio.HandshakeRejected),
    ],
)
async def test_other_statuses(fake: FakeDeepgram, status: int, error: type[Exception]) -> None:
    fake.reject_next(status, dg_error="nope")
    with pytest.raises(error) as info:
        async with dgtrio.open_listen(base_url=fake.url, api_key=API_KEY):
            pass  # pragma: no cover
    assert type(info.value) is error
    assert isinstance(info.value, dgtrio.HandshakeRejected)
    assert (info.value.status, info.value.dg_error) == (status, "nope")


async def test_refused_options_are_invalid_request(fake: FakeDeepgram) -> None:
    options = dgtrio.ListenV1Options(extra_query={"encoding": "wav", "sample_rate": 8000})
    with pytest.raises(dgtrio.InvalidRequest, match="Invalid encoding: wav"):
        async with dgtrio.open_listen(options, base_url=fake.url, api_key=API_KEY):
            pass  # pragma: no cover


async def test_connect_timeout(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    async def never_answer(stream: trio.SocketStream) -> None:
        await trio.sleep_forever()

    port = await tcp_listener(nursery, never_answer)
    start = trio.current_time()
    with pytest.raises(dgtrio.ConnectTimeout, match="within 2 s"):
        async with dgtrio.open_listen(base_url=f"ws://127.0.0.1:{port}", connect_timeout=2):
            pass  # pragma: no cover
    assert trio.current_time() - start == pytest.approx(2)


async def test_socket_closed_mid_handshake_fails_at_once(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    async def hang_up(stream: trio.SocketStream) -> None:
        await stream.receive_some()
        await stream.aclose()

    port = await tcp_listener(nursery, hang_up)
    start = trio.current_time()
    with pytest.raises(dgtrio.ConnectError, match="closed the connection during the handshake"):
        async with dgtrio.open_listen(base_url=f"ws://127.0.0.1:{port}"):
            pass  # pragma: no cover
    assert trio.current_time() == start  # not a timeout


async def test_connection_refused(nursery: trio.Nursery) -> None:
    port = await tcp_listener(nursery, trio.sleep_forever)  # type: ignore[arg-type]
    nursery.cancel_scope.cancel()
    await trio.testing.wait_all_tasks_blocked()
    with pytest.raises(dgtrio.ConnectError, match=r"cannot connect to ws://127\.0\.0\.1"):
        async with dgtrio.open_listen(base_url=f"ws://127.0.0.1:{port}"):
            pass  # pragma: no cover


async def test_tls_is_verified(nursery: trio.Nursery) -> None:
    """A plain TCP peer behind wss:// fails the TLS handshake with a clear error."""

    async def not_tls(stream: trio.SocketStream) -> None:
        await stream.send_all(b"HTTP/1.1 400 Bad Request\r\n\r\n")
        await stream.aclose()

    port = await tcp_listener(nursery, not_tls)
    with pytest.raises(dgtrio.ConnectError, match=r"cannot connect to wss://127\.0\.0\.1") as info:
        async with dgtrio.open_listen(base_url=f"wss://127.0.0.1:{port}", api_key="k"):
            pass  # pragma: no cover
    assert "SSL" in str(info.value)


async def test_wss_verifies_certificates_and_takes_a_custom_context(
    nursery: trio.Nursery,
) -> None:
    server_context, client_context = tls_pair()
    fake = FakeDeepgram(ssl_context=server_context)
    await nursery.start(fake.serve)
    assert fake.url.startswith("wss://")
    with pytest.raises(dgtrio.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
        async with dgtrio.open_listen(base_url=fake.url, api_key="k"):
            pass  # pragma: no cover
    async with dgtrio.open_listen(
        base_url=fake.url, api_key="k", ssl_context=client_context
    ) as conn:
        await conn.close_stream()
        assert [type(m) async for m in conn] == [dgtrio.ListenV1Metadata]
    assert len(fake.sessions) == 1


@pytest.mark.parametrize("pace", [0.02, 0.0], ids=["real-time", "burst"])
async def test_a_wss_stream_carries_audio_and_results_both_ways(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock, pace: float
) -> None:
    """dgtrio's own TLS (sans-io, under the WebSocket protocol): frames written at
    once (real time) and queued and joined (a burst) arrive intact, and the server's
    results (after its session tickets) come back."""
    server_context, client_context = tls_pair()
    fake = FakeDeepgram(ssl_context=server_context)
    await nursery.start(fake.serve)
    audio = pcm16(3.0)
    options = dgtrio.ListenV1Options(encoding="linear16", sample_rate=16000)
    async with dgtrio.open_listen(
        options, base_url=fake.url, api_key="k", ssl_context=client_context
    ) as conn:
        for frame in frames(audio):
            await conn.send_audio(frame)
            await trio.sleep(pace)
        await conn.close_stream()
        received = [message async for message in conn]
    assert fake.sessions[0].audio == audio
    assert any(isinstance(m, dgtrio.ListenV1Results) for m in received)
    assert isinstance(received[-1], dgtrio.ListenV1Metadata)
    stats = conn.statistics()
    assert stats.audio_frames_sent == 150 and stats.frames_unsent == 0
    # Real time: each frame its own message; a burst: joined.
    assert (stats.audio_messages_sent == 150) is (pace > 0)


async def test_the_key_never_leaks(fake: FakeDeepgram, caplog: pytest.LogCaptureFixture) -> None:
    """Everything a user or operator can see, at DEBUG, over a session and a failure."""
    caplog.set_level(logging.DEBUG)
    seen: list[str] = []
    async with dgtrio.open_listen(base_url=fake.url, api_key=API_KEY) as conn:
        await conn.send_audio(b"RIFF....WAVE")
        seen += [repr(conn), str(conn.statistics()), repr(conn.options)]
        session = (await fake.wait_for_sessions())[0]
        await session.close(1011, "NET-0000")
        with pytest.raises(dgtrio.ServerTimeout) as closed:
            await conn.receive()
    seen += [str(closed.value), repr(closed.value)]
    fake.api_key = "another-key"
    with pytest.raises(dgtrio.AuthenticationFailed) as rejected:
        async with dgtrio.open_listen(base_url=fake.url, api_key=API_KEY):
            pass  # pragma: no cover
    seen += [str(rejected.value), repr(rejected.value), rejected.value.body, rejected.value.url]
    seen += [record.getMessage() for record in caplog.records]
    seen += [repr(s) + repr(s.headers) + repr(s.query) for s in fake.sessions]
    assert any("dgtrio" in record.name for record in caplog.records)  # logging was on
    assert any(record.levelno == logging.DEBUG for record in caplog.records)
    for text in seen:
        assert API_KEY not in text


async def test_the_key_is_not_in_traceback_locals(fake: FakeDeepgram) -> None:
    fake.api_key = "another-key"
    with pytest.raises(dgtrio.AuthenticationFailed) as info:
        async with dgtrio.open_listen(base_url=fake.url, api_key=API_KEY):
            pass  # pragma: no cover
    shown = traceback.TracebackException.from_exception(info.value, capture_locals=True)
    assert API_KEY not in "".join(shown.format())


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("3", 3.0),
        ("0.5", 0.5),
        ("-2", 0.0),
        ("soon", None),
        ("", None),
        ("Wed, 21 Oct 2099 07:28:00 -0000", "future"),
        ("Wed, 21 Oct 2015 07:28:00 GMT", 0.0),
        ("Wed, 21 Oct 99999 07:28:00 GMT", None),
    ],
)
def test_retry_after_forms(header: str, expected: float | str | None) -> None:
    seconds = _retry_after(header)
    if expected == "future":
        assert seconds is not None and seconds > 1e9
    else:
        assert seconds == expected
