"""Every option refuses a wrong type or value at construction, naming class and field."""

from __future__ import annotations

import enum
import math
import ssl
from collections.abc import Mapping, Sequence
from typing import Any, Literal, TypedDict, get_type_hints

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import dgtrio
from dgtrio._codec import QueryValue, encode_query
from dgtrio._validate import (
    at_least,
    between,
    check_keywords,
    check_positive_int,
    check_positive_number,
    check_value,
    positive,
)

V1 = dgtrio.ListenV1Options
V2 = dgtrio.ListenV2Options
TH = dgtrio.ListenV2Thresholds
SP = dgtrio.SpeakV1Options
RP = dgtrio.ReconnectPolicy
CLASSES: list[type[Any]] = [V1, V2, TH, SP, RP]

_V1_BOOLS = [
    "multichannel",
    "interim_results",
    "vad_events",
    "punctuate",
    "smart_format",
    "numerals",
    "profanity_filter",
    "dictation",
    "detect_entities",
    "diarize",
    "mip_opt_out",
]
_QUERY = "a string, number or boolean, or a list or mapping of those"
_LIST = "takes a list of non-empty strings"


def _names(cls: type[Any], fields: list[str]) -> list[tuple[type[Any], str]]:
    return [(cls, field) for field in fields]


def _common(cls: type[Any]) -> list[tuple[type[Any], str, object, str]]:
    """Rows for the fields every query-options class shares in form."""
    name = cls.__name__
    rows: list[tuple[type[Any], str, object, str]] = []
    for field in [f.name for f in attrs.fields(cls)]:
        hint = get_type_hints(cls)[field]
        if hint == bool | None:
            rows += [
                (cls, field, "yes", f"{name}.{field} must be True or False, not 'yes' (str)"),
                (cls, field, 1, f"{name}.{field} must be True or False, not 1 (int)"),
            ]
        elif hint == Sequence[str]:
            rows += [
                (cls, field, "x", f"{name}.{field} {_LIST}, not one string ('x')"),
                (
                    cls,
                    field,
                    ["ok", ""],
                    f"{name}.{field} entries must be non-empty strings, not ''",
                ),
            ]
    if "extra_query" in attrs.fields_dict(cls):
        rows += [
            (
                cls,
                "extra_query",
                "a=b",
                f"{name}.extra_query takes a mapping of non-empty strings to strings, numbers "
                "or booleans, or lists or mappings of those, not 'a=b' (str)",
            ),
            (
                cls,
                "extra_query",
                {"x": math.nan},
                f"{name}.extra_query['x'] must be {_QUERY}, not nan (not finite)",
            ),
            (cls, "extra_query", {"x": [None]}, f"{name}.extra_query['x'] entries must be"),
            (cls, "extra_query", {1: "v"}, f"{name}.extra_query keys must be non-empty strings"),
        ]
    return rows


# (class, field, bad value, a fragment of the message): a wrong type and a value out
# of range for every field of every options class (test_the_table_covers_every_field).
BAD: list[tuple[type[Any], str, object, str]] = [
    *_common(V1),
    (V1, "model", 123, "ListenV1Options.model must be a non-empty string, not 123 (int)"),
    (V1, "model", "", "ListenV1Options.model must be a non-empty string, not '' (str)"),
    (V1, "model", "flux-general-en", "ListenV1Options.model 'flux-general-en' is a Flux model"),
    (V1, "language", ["en"], "ListenV1Options.language must be a non-empty string, not ['en']"),
    (V1, "language", "", "ListenV1Options.language must be a non-empty string, not ''"),
    (V1, "version", 2, "ListenV1Options.version must be a non-empty string, not 2 (int)"),
    (V1, "version", "", "ListenV1Options.version must be a non-empty string, not ''"),
    (V1, "encoding", 16, "ListenV1Options.encoding 16 is not one of 'linear16', 'linear32'"),
    (V1, "encoding", "wav", "ListenV1Options.encoding 'wav' is not one of 'linear16'"),
    (V1, "sample_rate", "16000", "V1Options.sample_rate must be a positive integer, not '16000'"),
    (V1, "sample_rate", True, "ListenV1Options.sample_rate must be a positive integer, not True"),
    (V1, "sample_rate", 16000.0, "ListenV1Options.sample_rate must be a positive integer"),
    (V1, "sample_rate", 0, "ListenV1Options.sample_rate must be a positive integer, not 0 (int)"),
    (V1, "channels", 2.0, "ListenV1Options.channels must be a positive integer, not 2.0 (float)"),
    (V1, "channels", -1, "ListenV1Options.channels must be a positive integer, not -1 (int)"),
    (V1, "endpointing", "300", "V1Options.endpointing is milliseconds (an integer >= 0) or False"),
    (V1, "endpointing", True, "ListenV1Options.endpointing is milliseconds"),
    (V1, "endpointing", -1, "ListenV1Options.endpointing is milliseconds"),
    (V1, "utterance_end_ms", 1000.0, "utterance_end_ms must be an integer of at least 1000, not"),
    (
        V1,
        "utterance_end_ms",
        999,
        "ListenV1Options.utterance_end_ms must be an integer of at least",
    ),
    (V1, "diarize_model", 1, "ListenV1Options.diarize_model 1 is not one of 'latest' or 'v1'"),
    (V1, "diarize_model", "v2", "ListenV1Options.diarize_model 'v2' is not one of"),
    (V1, "redact", "pci", "ListenV1Options.redact must be True, False or a list of non-empty"),
    (V1, "redact", ["pci", "zip"], "ListenV1Options.redact: unknown redact values: ['zip']"),
    (V1, "redact", [1], "ListenV1Options.redact entries must be non-empty strings, not 1 (int)"),
    (V1, "keywords", 3, "ListenV1Options.keywords takes a mapping of non-empty strings to numbers"),
    (V1, "keywords", "w:2", "ListenV1Options.keywords takes a mapping"),
    (V1, "keywords", {"w": "2"}, "ListenV1Options.keywords['w'] must be a number, not '2' (str)"),
    (V1, "keywords", {"w": math.inf}, "ListenV1Options.keywords['w'] must be a number, not inf"),
    (V1, "keywords", ["w:2", 2], "ListenV1Options.keywords entries must be non-empty strings"),
    (V1, "replace", ["a:b"], "ListenV1Options.replace takes a mapping of non-empty strings to"),
    (V1, "replace", {"a:b": "c"}, "ListenV1Options.replace keys cannot contain ':'"),
    (V1, "replace", {"a": 1}, "ListenV1Options.replace['a'] must be a non-empty string, not 1"),
    (V1, "extra", {"k": 1}, "ListenV1Options.extra['k'] must be a non-empty string, not 1 (int)"),
    (V1, "extra", {"": "v"}, "ListenV1Options.extra keys must be non-empty strings, not ''"),
    (V1, "callback", b"https://x", "ListenV1Options.callback must be a non-empty string, not b'"),
    (V1, "callback", "", "ListenV1Options.callback must be a non-empty string, not ''"),
    (V1, "callback_method", 1, "ListenV1Options.callback_method 1 is not one of 'POST', 'GET'"),
    (V1, "callback_method", "post", "ListenV1Options.callback_method 'post' is not one of"),
    *_common(V2),
    (V2, "model", None, "ListenV2Options.model must be a non-empty string, not None"),
    (V2, "model", "", "ListenV2Options.model must be a non-empty string, not ''"),
    (V2, "model", "nova-3", "ListenV2Options.model 'nova-3' is not a Flux model"),
    (V2, "encoding", 1, "ListenV2Options.encoding 1 is not one of 'linear16', 'linear32'"),
    (V2, "encoding", "flac", "ListenV2Options.encoding 'flac' is not one of"),
    (V2, "sample_rate", "8000", "ListenV2Options.sample_rate must be a positive integer, not '"),
    (V2, "sample_rate", 0, "ListenV2Options.sample_rate must be a positive integer, not 0"),
    (V2, "redact", "numbers", "ListenV2Options.redact takes a list of 'numbers' or 'aggressive"),
    (V2, "redact", ["ssn"], "ListenV2Options.redact entry 'ssn' is not one of 'numbers' or"),
    (V2, "language_hint", ["en"], "ListenV2Options.language_hint needs model='flux-general-multi'"),
]
for _cls in (V2, TH):
    _name = _cls.__name__
    BAD += [
        (
            _cls,
            "eot_threshold",
            "0.7",
            f"{_name}.eot_threshold must be between 0.5 and 1, not '0.7'",
        ),
        (_cls, "eot_threshold", 0.4, f"{_name}.eot_threshold must be between 0.5 and 1, not 0.4"),
        (_cls, "eager_eot_threshold", True, f"{_name}.eager_eot_threshold must be between 0.3 and"),
        (_cls, "eager_eot_threshold", 0.95, f"{_name}.eager_eot_threshold must be between 0.3"),
        (_cls, "eot_timeout_ms", 1000.0, f"{_name}.eot_timeout_ms must be between 500 and 60000"),
        (_cls, "eot_timeout_ms", 100, f"{_name}.eot_timeout_ms must be between 500 and 60000 (an"),
    ]
BAD += [
    *_common(SP),
    (SP, "model", 1, "SpeakV1Options.model must be a non-empty string, not 1 (int)"),
    (SP, "model", "", "SpeakV1Options.model must be a non-empty string, not ''"),
    (SP, "model", "flux-thalia-en", "SpeakV1Options.model 'flux-thalia-en' is not an Aura voice"),
    (SP, "encoding", None, "SpeakV1Options.encoding None is not one of 'linear16', 'mulaw'"),
    (SP, "encoding", "mp3", "SpeakV1Options.encoding 'mp3' is not one of 'linear16', 'mulaw'"),
    (SP, "sample_rate", "24000", "SpeakV1Options.sample_rate must be a positive integer, not '"),
    (SP, "sample_rate", -8000, "SpeakV1Options.sample_rate must be a positive integer, not -8000"),
    (SP, "sample_rate", 44100, "sample_rate 44100 is not one of 8000, 16000, 24000"),
    (SP, "speed", "1", "SpeakV1Options.speed must be between 0.7 and 1.5, not '1' (str)"),
    (SP, "speed", 2.0, "SpeakV1Options.speed must be between 0.7 and 1.5, not 2.0 (float)"),
    (RP, "max_attempts", 2.5, "ReconnectPolicy.max_attempts must be a positive integer, not 2.5"),
    (RP, "max_attempts", 0, "ReconnectPolicy.max_attempts must be a positive integer, not 0"),
    (RP, "initial_backoff", "1", "ReconnectPolicy.initial_backoff must be a number of at least 0"),
    (RP, "initial_backoff", -1, "ReconnectPolicy.initial_backoff must be a number of at least 0"),
    (RP, "max_backoff", None, "ReconnectPolicy.max_backoff must be a number of at least 0, not"),
    (RP, "max_backoff", math.inf, "ReconnectPolicy.max_backoff must be a number of at least 0"),
    (RP, "multiplier", True, "ReconnectPolicy.multiplier must be a positive number, not True"),
    (RP, "multiplier", 0, "ReconnectPolicy.multiplier must be a positive number, not 0 (int)"),
    (RP, "jitter", "0.1", "ReconnectPolicy.jitter must be between 0 and 1, not '0.1' (str)"),
    (RP, "jitter", 1.5, "ReconnectPolicy.jitter must be between 0 and 1, not 1.5 (float)"),
    (RP, "stable_after", [1], "ReconnectPolicy.stable_after must be a number of at least 0"),
    (RP, "stable_after", -0.1, "ReconnectPolicy.stable_after must be a number of at least 0"),
    (RP, "replay_seconds", "30", "ReconnectPolicy.replay_seconds must be a positive number, not"),
    (RP, "replay_seconds", 0, "ReconnectPolicy.replay_seconds must be a positive number, not 0"),
    (RP, "replay_speed", "4", "ReconnectPolicy.replay_speed must be at least 1 (real time), or"),
    (RP, "replay_speed", 0.5, "ReconnectPolicy.replay_speed must be at least 1 (real time)"),
]


@pytest.mark.parametrize(
    ("cls", "field", "value", "message"),
    BAD,
    ids=[f"{cls.__name__}.{field}={value!r}" for cls, field, value, _ in BAD],
)
def test_bad_options_are_refused_by_name(
    cls: type[Any], field: str, value: object, message: str
) -> None:
    with pytest.raises(dgtrio.ConfigurationError) as info:
        cls(**{field: value})
    assert message in str(info.value)


def test_the_table_covers_every_field() -> None:
    """At least a wrong type and a value out of range (or empty) for every field."""
    for cls in CLASSES:
        for field in attrs.fields(cls):
            rows = [row for row in BAD if row[:2] == (cls, field.name)]
            assert len(rows) >= 2, f"{cls.__name__}.{field.name}"


def _junk() -> st.SearchStrategy[object]:
    scalars = (
        st.none()
        | st.booleans()
        | st.integers()
        | st.floats()
        | st.text(max_size=4)
        | st.binary(max_size=2)
        | st.just(object())
    )
    return st.recursive(
        scalars,
        lambda inner: (
            st.lists(inner, max_size=3)
            | st.tuples(inner)
            | st.dictionaries(st.text(max_size=3) | st.integers(), inner, max_size=3)
        ),
        max_leaves=6,
    )


_PLAUSIBLE = {
    "model": st.sampled_from(
        ["nova-3", "flux-general-en", "flux-general-multi", "aura-2-thalia-en"]
    ),
    "extra_query": st.dictionaries(st.text(max_size=3), _junk(), max_size=3),
}


def _value(cls: type[Any], field: str) -> st.SearchStrategy[object]:
    plausible = (
        _PLAUSIBLE[field] if field in _PLAUSIBLE else st.from_type(get_type_hints(cls)[field])
    )
    return st.one_of(_junk(), plausible)


@pytest.mark.parametrize("cls", CLASSES, ids=lambda cls: cls.__name__)
@settings(max_examples=100, deadline=None)
@given(data=st.data())
def test_any_keywords_construct_or_raise_configuration_error(
    cls: type[Any], data: st.DataObject
) -> None:
    fields = [field.name for field in attrs.fields(cls)]
    chosen = data.draw(st.lists(st.sampled_from(fields), unique=True, max_size=4))
    kwargs = {field: data.draw(_value(cls, field), label=field) for field in chosen}
    try:
        options = cls(**kwargs)
    except dgtrio.ConfigurationError:
        return
    if hasattr(options, "extra_query"):
        encode_query(options)  # what was accepted can be sent


def test_good_values_still_pass() -> None:
    class Encoding(enum.StrEnum):
        LINEAR16 = "linear16"

    options = V1(
        encoding=Encoding.LINEAR16,  # type: ignore[arg-type]
        sample_rate=16000,
        endpointing=False,
        keyterm={"a"},  # type: ignore[arg-type]  # any iterable but a string: a tuple
        tag=(t for t in ["x", "y"]),  # type: ignore[arg-type]
        keywords={"snuffle": 2},  # an int is a float
        extra_query={"x": [1, "a", 0.5, True], "m": {"k": "v"}, "model": None},
    )
    assert (options.keyterm, options.tag) == (("a",), ("x", "y"))
    assert "x=1&x=a&x=0.5&x=true&m=k%3Av" in encode_query(options)
    assert V1(endpointing=0).endpointing == 0
    assert RP(max_attempts=1, initial_backoff=0, jitter=1, replay_speed=None).jitter == 1
    assert TH(eot_threshold=1, eot_timeout_ms=500).eot_threshold == 1


def test_cross_field_rules_still_hold() -> None:
    with pytest.raises(dgtrio.ConfigurationError, match="encoding and sample_rate go together"):
        V1(encoding="linear16")
    with pytest.raises(dgtrio.ConfigurationError, match="needs interim_results=True"):
        V1(utterance_end_ms=1000)
    with pytest.raises(dgtrio.ConfigurationError, match=r"ListenV2Options\.eager_eot_threshold"):
        V2(eot_threshold=0.6, eager_eot_threshold=0.7)
    with pytest.raises(dgtrio.ConfigurationError, match=r"ListenV2Thresholds\.eager_eot_threshold"):
        TH(eot_threshold=0.6, eager_eot_threshold=0.7)
    with pytest.raises(dgtrio.ConfigurationError, match="for mulaw"):
        SP(encoding="mulaw", sample_rate=24000)


def test_long_values_are_shortened_in_messages() -> None:
    with pytest.raises(dgtrio.ConfigurationError) as info:
        V1(model=["x" * 10_000])  # type: ignore[arg-type]
    assert len(str(info.value)) < 200


class _Keywords(TypedDict, total=False):
    api_key: str | None
    ssl_context: ssl.SSLContext | None
    connect_timeout: float
    max_queued_frames: int
    mode: Literal["a", "b"]


def test_check_value_serves_keyword_arguments() -> None:
    check_keywords("open_x", {"connect_timeout": 1, "ssl_context": None, "api_key": "k"}, _Keywords)
    with pytest.raises(TypeError, match=r"open_x\(\) got an unexpected keyword argument 'timeout'"):
        check_keywords("open_x", {"timeout": 1}, _Keywords)
    with pytest.raises(dgtrio.ConfigurationError, match=r"^connect_timeout must be a positive"):
        check_keywords("open_x", {"connect_timeout": 0}, _Keywords, {"connect_timeout": positive()})
    with pytest.raises(dgtrio.ConfigurationError, match="ssl_context must be an instance of SSL"):
        check_keywords("open_x", {"ssl_context": "yes"}, _Keywords)
    with pytest.raises(dgtrio.ConfigurationError, match=r"^mode 'c' is not one of 'a' or 'b'$"):
        check_keywords("open_x", {"mode": "c"}, _Keywords)
    hints = get_type_hints(_Keywords)
    with pytest.raises(
        dgtrio.ConfigurationError, match=r"^X\.max_queued_frames must be an integer"
    ):
        check_value("X", "max_queued_frames", "32", hints["max_queued_frames"])


def test_secrets_are_never_shown() -> None:
    for name in ("api_key", "access_token"):
        with pytest.raises(dgtrio.ConfigurationError) as info:
            check_value("", name, b"sk-secret", str | None)
        assert "sk-secret" not in str(info.value)
        assert str(info.value) == f"{name} must be a non-empty string, not *** (bytes)"


def test_helpers_for_positive_numbers() -> None:
    check_positive_number("", "t", 0.5)
    check_positive_number("", "t", None, optional=True)
    check_positive_int("", "n", 1)
    for bad in (0, -1, math.nan, math.inf, True, "1", None):
        with pytest.raises(dgtrio.ConfigurationError, match=r"^t must be a positive number"):
            check_positive_number("", "t", bad)
    for bad in (0, 1.0, True, None):
        with pytest.raises(dgtrio.ConfigurationError, match=r"^n must be a positive integer"):
            check_positive_int("", "n", bad)
    check_value("", "x", 3, int, at_least(3))
    check_value("", "x", 0.5, float, between(0, 1))
    with pytest.raises(dgtrio.ConfigurationError, match=r"^x must be between 0 and 1, not 2"):
        check_value("", "x", 2, float, between(0, 1))


def test_unsupported_annotations_are_a_programming_error() -> None:
    with pytest.raises(TypeError, match="cannot check"):
        check_value("", "x", [1], list[int])


def test_query_values_are_checked_like_the_encoder_reads_them() -> None:
    hint = Mapping[str, QueryValue]
    check_value("", "q", {"a": "b", "n": 1, "f": 0.5, "t": True, "l": [1, "x"], "none": None}, hint)
    for bad in ({"a": [[1]]}, {"a": {"k": None}}, {"a": ""}, {"a": object()}):
        with pytest.raises(dgtrio.ConfigurationError, match=r"^q\['a'\]"):
            check_value("", "q", bad, hint)
