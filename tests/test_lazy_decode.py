"""Words built on first read: the same messages, the same errors, as eager decoding.

Every decoded frame is compared field by field (types too) with what the eager codec
builds from it, on recorded traffic, the benchmark's frames and generated ones; bad
frames must fail while decoding with today's exact texts.
"""

from __future__ import annotations

import copy
import json
import pickle
from typing import Any, get_args

import attrs
import cattrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import dgtrio
from bench.decode import FLUX_FRAME, V1_FRAME
from dgtrio._codec import Codec, lazy_fields
from dgtrio.agent._messages import CODEC as AGENT
from dgtrio.agent._messages import AgentV1Audio, AgentV1Message
from dgtrio.listen._timeline import shift_v1, shift_v2
from dgtrio.listen.v1._messages import CODEC as V1
from dgtrio.listen.v1._messages import ListenV1Alternative, ListenV1Message
from dgtrio.listen.v2._messages import CODEC as V2
from dgtrio.listen.v2._messages import ListenV2Message
from dgtrio.testing import FakeDeepgram

from .conftest import RECORDED

EAGER = {
    codec.api: Codec(codec.api, get_args(union), lazy=False)
    for codec, union in ((V1, ListenV1Message), (V2, ListenV2Message))
}
LAZY = {V1.api: V1, V2.api: V2}


def assert_same(lazy: Any, eager: Any, path: str = "$") -> None:
    """The same value, field by field, ``raw`` included, down to each leaf's type."""
    assert type(lazy) is type(eager), path
    if attrs.has(type(lazy)):
        for field in attrs.fields(type(lazy)):
            name = field.name
            assert_same(getattr(lazy, name), getattr(eager, name), f"{path}.{name}")
    elif isinstance(lazy, tuple):
        assert len(lazy) == len(eager), path
        for i, (one, other) in enumerate(zip(lazy, eager, strict=True)):
            assert_same(one, other, f"{path}[{i}]")
    else:
        both_nan = isinstance(lazy, float) and lazy != lazy and eager != eager
        assert lazy == eager or both_nan, path


def decode_both(api: str, frame: str) -> tuple[Any, Any]:
    """The frame decoded lazily and eagerly (a message, or the error raised)."""
    found: list[Any] = []
    for codec in (LAZY[api], EAGER[api]):
        try:
            found.append(codec.decode(frame))
        except dgtrio.MessageDecodeError as exc:
            found.append(exc)
    return found[0], found[1]


def assert_decodes_alike(api: str, frame: str) -> Any:
    """Lazy and eager decoding agree on ``frame``: the same error text, or the same
    message, equal, with the same ``repr``, surviving pickling alike."""
    lazy, eager = decode_both(api, frame)
    if isinstance(eager, dgtrio.MessageDecodeError):
        assert isinstance(lazy, dgtrio.MessageDecodeError)
        assert (str(lazy), lazy.frame) == (str(eager), frame)
        return None
    # Equality, repr and pickling each read the words: compare on fresh decodes. A
    # message holding a NaN (Deepgram's "NaN" is a float to Python) equals no other
    # decode of its frame, even an eager one: it is compared field by field instead
    # (assert_same takes NaN for NaN).
    if EAGER[api].decode(frame) == eager:
        assert LAZY[api].decode(frame) == eager
    assert repr(LAZY[api].decode(frame)) == repr(eager)
    assert_same(pickle.loads(pickle.dumps(LAZY[api].decode(frame))), eager)
    assert_same(lazy, eager)
    return lazy


def unbuilt(alternative: Any, name: str = "words") -> bool:
    """Whether a lazy field still holds its raw JSON (reads the slot, not the field)."""
    slot = vars(type(alternative))[name]._slot
    return type(slot.__get__(alternative)).__name__ == "_Deferred"


def recorded_frames(api: str) -> list[str]:
    return [
        line
        for path in sorted((RECORDED / api).glob("*.jsonl"))
        for line in path.read_text().splitlines()
        if line.strip()
    ]


def test_recorded_traffic_decodes_as_eagerly() -> None:
    frames = recorded_frames("listen_v1")
    assert frames
    for frame in [*frames, V1_FRAME]:
        message = V1.decode(frame)
        assert isinstance(message, dgtrio.ListenV1Results)
        assert unbuilt(message.channel.alternatives[0])
        assert_decodes_alike(V1.api, frame)
        # An independent eager reference: cattrs' own hooks, on the same JSON.
        plain = cattrs.Converter(forbid_extra_keys=False)
        assert message == plain.structure(json.loads(frame), dgtrio.ListenV1Results)
    flux = V2.decode(FLUX_FRAME)
    assert isinstance(flux, dgtrio.ListenV2TurnInfo) and unbuilt(flux)
    assert len(assert_decodes_alike(V2.api, FLUX_FRAME).words) == 15


def test_recorded_agent_traffic_has_nothing_lazy_and_decodes_as_before() -> None:
    classes = [cls for cls in get_args(AgentV1Message) if cls is not AgentV1Audio]
    eager = Codec(AGENT.api, classes, binary=AgentV1Audio, lazy=False)
    frames = recorded_frames("agent_v1")
    assert frames
    for frame in frames:
        message = AGENT.decode(frame)
        assert message == eager.decode(frame)
        assert_same(message, AGENT.decode(frame))


def test_reading_one_field_builds_only_that_one() -> None:
    results = V1.decode(V1_FRAME)
    assert isinstance(results, dgtrio.ListenV1Results)
    alternative = results.channel.alternatives[0]
    assert results.transcript.startswith("Our fathers")
    assert unbuilt(alternative)
    words = results.words
    assert not unbuilt(alternative)
    assert results.words is words  # built once, kept
    assert [word.punctuated_word for word in words[:3]] == ["Our", "fathers", "brought"]


def test_the_model_behaves_as_before() -> None:
    results = V1.decode(V1_FRAME)
    eager = EAGER[V1.api].decode(V1_FRAME)
    assert isinstance(results, dgtrio.ListenV1Results)
    assert isinstance(eager, dgtrio.ListenV1Results)
    alternative = results.channel.alternatives[0]
    assert hash(alternative) == hash(eager.channel.alternatives[0])
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        alternative.words = ()  # type: ignore[misc]
    assert_same(copy.deepcopy(V1.decode(V1_FRAME)), eager)
    assert_same(attrs.evolve(V1.decode(V1_FRAME)), eager)
    changed = attrs.evolve(alternative, words=eager.words[:1])
    assert changed.words == eager.words[:1] and alternative.words == eager.words
    # Built by hand, nothing is deferred; the class attribute is still there.
    by_hand = ListenV1Alternative("hi", 0.9, eager.words)
    assert by_hand.words is eager.words
    assert attrs.fields(ListenV1Alternative).words.default == ()
    assert ListenV1Alternative("", 0.0).words == ()


def test_timestamps_shift_alike_after_a_reconnect() -> None:
    for seconds in (0.0, 12.5):
        lazy = shift_v1(V1.decode(V1_FRAME), seconds)
        assert_same(lazy, shift_v1(EAGER[V1.api].decode(V1_FRAME), seconds))
        assert isinstance(lazy, dgtrio.ListenV1Results)
        assert lazy.words[0].start == 17.0 + seconds
        flux = shift_v2(V2.decode(FLUX_FRAME), seconds, turns=2, sequence=5)
        eager = shift_v2(EAGER[V2.api].decode(FLUX_FRAME), seconds, turns=2, sequence=5)
        assert_same(flux, eager)


def test_a_lazy_field_needs_a_slotted_class_and_a_tuple_of_primitives() -> None:
    @attrs.define(slots=False)
    class Open:
        words: tuple[int, ...] = ()

    with pytest.raises(TypeError, match="not a field of a slotted class"):
        lazy_fields("words")(Open)
    with pytest.raises(TypeError, match="not a field of a slotted class"):
        lazy_fields("missing")(ListenV1Alternative)

    @lazy_fields("alternatives")
    @attrs.frozen
    class Nested:
        TYPE = "Nested"
        alternatives: tuple[ListenV1Alternative, ...]

    with pytest.raises(TypeError, match="a lazy field must be a tuple of a class of primitives"):
        Codec("test", [Nested])


# -- bad frames: the same errors, while decoding --------------------------------------------


def _word(text: str, start: float) -> dict[str, Any]:
    return {"word": text, "start": start, "end": start + 0.25, "confidence": 0.9}


RESULTS: dict[str, Any] = {
    "type": "Results",
    "channel_index": [0, 1],
    "duration": 1.0,
    "start": 0.0,
    "channel": {
        "alternatives": [
            {
                "transcript": "a b c",
                "confidence": 0.9,
                "words": [_word("a", 0.0), _word("b", 0.25), _word("c", 0.5)],
            }
        ]
    },
    "metadata": {"request_id": "r"},
}
TURN: dict[str, Any] = {
    "type": "TurnInfo",
    "request_id": "r",
    "sequence_id": 3,
    "event": "Update",
    "turn_index": 0,
    "audio_window_start": 0.0,
    "audio_window_end": 1.0,
    "transcript": "a b",
    "words": [
        {"word": "a", "confidence": 0.9},
        {"word": "b", "confidence": 0.8, "start": 0.5, "end": 0.7},
    ],
}
_GONE = object()
WORDS = ("channel", "alternatives", 0, "words")


def changed(base: dict[str, Any], path: tuple[Any, ...], value: Any) -> str:
    """``base`` as a frame, with the value at ``path`` replaced (or removed: ``_GONE``)."""
    data = copy.deepcopy(base)
    *parents, last = path
    parent = data
    for key in parents:
        parent = parent[key]
    if value is _GONE:
        del parent[last]
    else:
        parent[last] = value
    return json.dumps(data)


def _v1_fields(index: int, *fields: tuple[str, str]) -> str:
    return "; ".join(
        f"{problem} @ $.channel.alternatives[0].words[{index}].{name}" for name, problem in fields
    )


_EVERY_REQUIRED = [
    ("word", "invalid value for type, expected str"),
    ("start", "invalid value for type, expected float"),
    ("end", "invalid value for type, expected float"),
    ("confidence", "invalid value for type, expected float"),
]
_FLOAT = "invalid value for type, expected float"

# What the eager decoder said for each frame, recorded before words became lazy.
BAD_FRAMES = [
    (RESULTS, (*WORDS, 2, "start"), "soon", _v1_fields(2, ("start", _FLOAT))),
    (RESULTS, (*WORDS, 2, "confidence"), None, _v1_fields(2, ("confidence", _FLOAT))),
    (RESULTS, (*WORDS, 2, "end"), _GONE, _v1_fields(2, ("end", "required field missing"))),
    (RESULTS, (*WORDS, 1, "word"), _GONE, _v1_fields(1, ("word", "required field missing"))),
    (
        RESULTS,
        (*WORDS, 2, "speaker"),
        "x",
        _v1_fields(2, ("speaker", "invalid value for type, expected int | None")),
    ),
    (
        RESULTS,
        (*WORDS, 0, "speaker_confidence"),
        {},
        _v1_fields(0, ("speaker_confidence", "invalid value for type, expected float | None")),
    ),
    (RESULTS, (*WORDS, 0), "hello", _v1_fields(0, *_EVERY_REQUIRED)),
    (RESULTS, (*WORDS, 0), [1], _v1_fields(0, *_EVERY_REQUIRED)),
    (
        RESULTS,
        (*WORDS, 0),
        None,
        "invalid value for type, expected ListenV1Word @ $.channel.alternatives[0].words[0]",
    ),
    # cattrs reads a string as a list of its characters, and an object as its keys.
    (RESULTS, WORDS, "hello", "; ".join(_v1_fields(i, *_EVERY_REQUIRED) for i in range(5))),
    (RESULTS, WORDS, {"a": 1}, _v1_fields(0, *_EVERY_REQUIRED)),
    (
        RESULTS,
        WORDS,
        None,
        "invalid value for type, expected tuple @ $.channel.alternatives[0].words",
    ),
    (TURN, ("words", 1, "confidence"), "x", f"{_FLOAT} @ $.words[1].confidence"),
    (TURN, ("words", 0, "word"), _GONE, "required field missing @ $.words[0].word"),
    (TURN, ("words",), 3, "invalid value for type, expected tuple @ $.words"),
    (
        TURN,
        ("words", 1, "start"),
        [],
        "invalid value for type, expected float | None @ $.words[1].start",
    ),
]


@pytest.mark.parametrize(("base", "path", "value", "expected"), BAD_FRAMES)
def test_bad_words_fail_while_decoding_with_the_same_text(
    base: dict[str, Any], path: tuple[Any, ...], value: Any, expected: str
) -> None:
    frame = changed(base, path, value)
    codec = V1 if base is RESULTS else V2
    with pytest.raises(dgtrio.MessageDecodeError) as info:
        codec.decode(frame)
    tag = base["type"]
    assert str(info.value) == (
        f"{codec.api}: invalid {tag} message: {expected}; frame starts {frame[:200]!r}"
    )
    assert info.value.frame == frame
    assert assert_decodes_alike(codec.api, frame) is None


@pytest.mark.parametrize(
    ("path", "value", "read"),
    [
        ((*WORDS, 2, "start"), "2.5", lambda word: word.start == 2.5),
        ((*WORDS, 2, "start"), 2, lambda word: type(word.start) is float),
        ((*WORDS, 2, "speaker"), 1.7, lambda word: word.speaker == 1),
        ((*WORDS, 2, "speaker"), "4", lambda word: word.speaker == 4),
        ((*WORDS, 2, "word"), 5, lambda word: word.word == "5"),
        ((*WORDS, 2, "punctuated_word"), [1], lambda word: word.punctuated_word == "[1]"),
        ((*WORDS, 2, "language"), None, lambda word: word.language is None),
        ((*WORDS, 2, "new_key"), {"x": []}, lambda word: word.word == "c"),
    ],
)
def test_odd_words_that_decoded_still_decode_alike(
    path: tuple[Any, ...], value: Any, read: Any
) -> None:
    message = assert_decodes_alike(V1.api, changed(RESULTS, path, value))
    assert read(message.words[2])


async def test_a_bad_word_fails_in_its_place_in_the_stream(
    fake: FakeDeepgram, connect: dgtrio.ConnectOptions
) -> None:
    good = json.loads(V1_FRAME)
    bad = changed(RESULTS, (*WORDS, 2, "start"), "soon")
    async with dgtrio.open_listen(**connect) as conn:
        session = (await fake.wait_for_sessions())[0]
        await session.send_json(good)
        await session.send_text(bad)
        await session.send_json(good)
        first = await conn.receive()
        with pytest.raises(dgtrio.MessageDecodeError, match=r"words\[2\]\.start") as info:
            await conn.receive()
        assert info.value.frame == bad
        assert conn.statistics().decode_errors == 1
        last = await conn.receive()
        assert first == last == EAGER[V1.api].decode(V1_FRAME)


# -- generated frames ----------------------------------------------------------------------

_INT64 = st.integers(-(2**63), 2**63 - 1)
_JSON_LEAF = st.none() | st.booleans() | _INT64 | st.floats(allow_nan=False, allow_infinity=False)
_ANY = st.recursive(
    _JSON_LEAF | st.text(max_size=4) | st.sampled_from(["2.5", " 7 ", "1e3", "nan", "x"]),
    lambda inner: st.lists(inner, max_size=2) | st.dictionaries(st.text(max_size=3), inner),
    max_leaves=4,
)
_NUMBER = st.floats(0, 1e4) | st.integers(0, 10**6)


def _spoilt(word: dict[str, Any], key: str, value: Any) -> dict[str, Any]:
    """``word`` with one key removed (``_GONE``), or set to any JSON value."""
    if value is _GONE:
        return {name: item for name, item in word.items() if name != key}
    return word | {key: value}


def _words(fields: dict[str, st.SearchStrategy[Any]], optional: set[str]) -> Any:
    """Lists of words: well-formed, or with a key missing, extra or of any type."""
    required = {name: value for name, value in fields.items() if name not in optional}
    good = st.fixed_dictionaries(
        required, optional={name: fields[name] | st.none() for name in optional}
    )
    spoilt = st.builds(_spoilt, good, st.sampled_from([*fields, "extra"]), st.just(_GONE) | _ANY)
    return st.lists(good, max_size=6) | st.lists(good | spoilt | _ANY, max_size=4) | _ANY


_V1_WORD = {
    "word": st.text(max_size=5),
    "start": _NUMBER,
    "end": _NUMBER,
    "confidence": _NUMBER,
    "punctuated_word": st.text(max_size=5),
    "speaker": st.integers(0, 4),
    "speaker_confidence": _NUMBER,
    "language": st.sampled_from(["en", "fr"]),
}
_V2_WORD = {"word": st.text(max_size=5), "confidence": _NUMBER, "start": _NUMBER, "end": _NUMBER}


@settings(max_examples=300, deadline=None)
@given(
    words=st.lists(
        _words(_V1_WORD, {"punctuated_word", "speaker", "speaker_confidence", "language"}),
        min_size=1,
        max_size=2,
    ),
    extra=st.dictionaries(st.sampled_from(["tag", "entities", "future"]), _ANY, max_size=2),
)
def test_generated_results_decode_alike(words: list[Any], extra: dict[str, Any]) -> None:
    data = copy.deepcopy(RESULTS) | extra
    template = data["channel"]["alternatives"][0]
    data["channel"]["alternatives"] = [template | {"words": each} for each in words]
    assert_decodes_alike(V1.api, json.dumps(data))


@settings(max_examples=200, deadline=None)
@given(words=_words(_V2_WORD, {"start", "end"}))
def test_generated_turns_decode_alike(words: Any) -> None:
    assert_decodes_alike(V2.api, json.dumps(TURN | {"words": words}))
