"""Fuzzing the decoders: whatever a server sends, decoding gives a message, an
``UnknownMessage`` or the typed ``MessageDecodeError``, never another exception; and
over a socket a bad frame never ends the connection."""

from __future__ import annotations

import json
from typing import Any

import orjson
import trio
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import dgtrio
from dgtrio._codec import Codec, UnknownMessage
from dgtrio._errors import MessageDecodeError
from dgtrio.agent._messages import CODEC as AGENT
from dgtrio.listen.v1._messages import CODEC as LISTEN
from dgtrio.listen.v2._messages import CODEC as FLUX
from dgtrio.speak.v1._messages import CODEC as SPEAK
from dgtrio.testing import FakeDeepgram

from .conftest import API_KEY, RECORDED, collect

CODECS: dict[str, Codec[Any]] = {"listen": LISTEN, "flux": FLUX, "speak": SPEAK, "agent": AGENT}


def _recorded(name: str) -> list[dict[str, Any]]:
    """Real server messages, where recorded traffic has them."""
    folder = {"listen": "listen_v1", "agent": "agent_v1"}.get(name)
    if folder is None:
        return []
    paths = sorted((RECORDED / folder).glob("*.jsonl"))
    return [json.loads(line) for path in paths for line in path.read_text().splitlines()]


RECORDED_MESSAGES = {name: _recorded(name) for name in CODECS}
# What the fuzzer mutates: the real messages, and a bare one of every type.
SAMPLES = {
    name: RECORDED_MESSAGES[name] + [{"type": tag} for tag in codec._hooks]
    for name, codec in CODECS.items()
}
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=8,
)


@st.composite
def mutated(draw: st.DrawFn, base: dict[str, Any]) -> dict[str, Any]:
    """``base`` with keys dropped, values replaced (at any depth) and keys added."""
    message: dict[str, Any] = json.loads(json.dumps(base))
    for _ in range(draw(st.integers(0, 4))):
        target = message
        # Walk into nested objects (and the first item of lists) a random depth.
        while draw(st.booleans()):
            children = [v for v in target.values() if isinstance(v, dict)]
            children += [
                v[0]
                for v in target.values()
                if isinstance(v, list) and v and isinstance(v[0], dict)
            ]
            if not children:
                break
            target = draw(st.sampled_from(children))
        action = draw(st.sampled_from(["drop", "replace", "add"]))
        keys = sorted(target)
        if action == "add" or not keys:
            target[draw(st.text(max_size=6))] = draw(JSON)
        elif action == "drop":
            del target[draw(st.sampled_from(keys))]
        else:
            target[draw(st.sampled_from(keys))] = draw(JSON)
    return message


@st.composite
def server_frames(draw: st.DrawFn, api: str) -> str:
    """A text frame a server might send: a mutated message, or any text at all."""
    if draw(st.integers(0, 9)) == 0:
        return draw(st.text(max_size=40))
    return json.dumps(draw(mutated(draw(st.sampled_from(SAMPLES[api])))))


def _decodes_or_says_why(codec: Codec[Any], frame: str | bytes) -> object:
    try:
        message = codec.decode(frame)
    except MessageDecodeError as exc:
        error = exc
    else:
        assert (
            isinstance(message, UnknownMessage)
            or hasattr(type(message), "TYPE")
            or (isinstance(frame, bytes))
        )
        return message
    assert error.frame == frame
    return error
    assert (
        isinstance(message, UnknownMessage)
        or hasattr(type(message), "TYPE")
        or isinstance(frame, bytes)
    )
    return message


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_decoding_gives_a_message_or_the_typed_error(data: st.DataObject) -> None:
    api = data.draw(st.sampled_from(sorted(CODECS)))
    _decodes_or_says_why(CODECS[api], data.draw(server_frames(api)))


@settings(max_examples=100, deadline=None)
@given(api=st.sampled_from(sorted(CODECS)), payload=st.binary(max_size=64))
def test_binary_frames_are_audio_or_the_typed_error(api: str, payload: bytes) -> None:
    message = _decodes_or_says_why(CODECS[api], payload)
    if api in ("speak", "agent"):
        assert message.data == payload  # type: ignore[attr-defined]
    else:
        assert isinstance(message, MessageDecodeError)


def test_every_recorded_message_still_decodes_exactly() -> None:
    for name in ("listen", "agent"):
        for sample in RECORDED_MESSAGES[name]:
            message = CODECS[name].decode(orjson.dumps(sample).decode())
            assert message.raw == sample


@settings(max_examples=15, deadline=None)
@given(frames=st.lists(server_frames("listen"), min_size=1, max_size=4))
def test_bad_frames_never_end_a_connection(frames: list[str]) -> None:
    """Over a socket: every frame arrives as a message or a MessageDecodeError, in
    order, and the connection then ends normally."""

    async def scenario() -> list[object]:
        async with trio.open_nursery() as nursery:
            fake = FakeDeepgram(api_key=API_KEY)
            await nursery.start(fake.serve)
            seen: list[object] = []
            with trio.fail_after(10):
                async with dgtrio.open_listen(base_url=fake.url, api_key=API_KEY) as conn:
                    (session,) = await fake.wait_for_sessions()
                    for frame in frames:
                        await session.send_text(frame)
                    await conn.close_stream()
                    await collect(conn, seen)
            nursery.cancel_scope.cancel()
        return seen

    seen = trio.run(scenario)
    assert isinstance(seen[-1], dgtrio.ListenV1Metadata)  # the normal end, after them all
    first = seen[: len(frames)]
    for frame, item in zip(frames, first, strict=True):
        if isinstance(item, MessageDecodeError):
            assert item.frame == frame
        else:
            assert item.raw == orjson.loads(frame)  # type: ignore[attr-defined]
