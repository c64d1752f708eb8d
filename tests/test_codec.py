"""Sans-io: decoding server messages, encoding client messages and query strings."""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import parse_qsl

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

import dgtrio
from dgtrio._codec import encode_message, encode_query
from dgtrio.audio import AudioFormat
from dgtrio.listen.v1._messages import CODEC, Configure, Finalize, KeepAlive

from .conftest import RECORDED

RESULTS = {
    "type": "Results",
    "channel_index": [0, 1],
    "duration": 1.5,
    "start": 2.25,
    "is_final": True,
    "speech_final": True,
    "from_finalize": False,
    "channel": {
        "alternatives": [
            {
                "transcript": "Hello there.",
                "confidence": 0.97,
                "words": [
                    {
                        "word": "hello",
                        "start": 2.3,
                        "end": 2.6,
                        "confidence": 0.99,
                        "punctuated_word": "Hello",
                        "speaker": 0,
                        "language": "en",
                    },
                    {"word": "there", "start": 2.7, "end": 3.1, "confidence": 0.95},
                ],
                "languages": ["en"],
            }
        ],
        "search": [
            {
                "query": "hello",
                "hits": [{"confidence": 0.9, "start": 2.3, "end": 2.6, "snippet": "hello"}],
            }
        ],
    },
    "metadata": {
        "request_id": "req-1",
        "model_uuid": "m-1",
        "model_info": {"name": "general", "version": "1", "arch": "nova-3"},
        "extra": {"call": "42"},
    },
    "entities": [
        {
            "label": "GREETING",
            "value": "hello",
            "raw_value": "hello",
            "confidence": 0.8,
            "start_word": 0,
            "end_word": 1,
        }
    ],
    "a_field_from_the_future": {"nested": True},
}


def _decode(message: dict[str, object]) -> object:
    return CODEC.decode(json.dumps(message))


def test_results_decode_every_nested_field() -> None:
    results = _decode(RESULTS)
    assert isinstance(results, dgtrio.ListenV1Results)
    assert results.transcript == "Hello there."
    assert results.channel_index == (0, 1)
    assert results.end == pytest.approx(3.75)
    assert [w.word for w in results.words] == ["hello", "there"]
    first = results.words[0]
    assert (first.punctuated_word, first.speaker, first.language) == ("Hello", 0, "en")
    assert results.words[1].punctuated_word is None
    assert results.channel.alternatives[0].languages == ("en",)
    assert results.channel.search is not None
    assert results.channel.search[0].hits[0].snippet == "hello"
    assert results.metadata.model_info == dgtrio.ListenV1ModelInfo("general", "1", "nova-3")
    assert results.metadata.extra == {"call": "42"}
    assert results.entities is not None and results.entities[0].label == "GREETING"
    # Nothing is lost: the raw JSON keeps fields this version does not model.
    assert results.raw["a_field_from_the_future"] == {"nested": True}
    assert results.raw == RESULTS


@pytest.mark.parametrize(
    ("message", "cls"),
    [
        (
            {
                "type": "Metadata",
                "transaction_key": "deprecated",
                "request_id": "r",
                "sha256": "ab",
                "created": "2024-08-29T22:37:55.202Z",
                "duration": 3.5,
                "channels": 1,
                "models": ["m"],
                "model_info": {"m": {"name": "n", "version": "v", "arch": "a"}},
            },
            dgtrio.ListenV1Metadata,
        ),
        (
            {"type": "UtteranceEnd", "channel": [0, 1], "last_word_end": 2.4},
            dgtrio.ListenV1UtteranceEnd,
        ),
        (
            {"type": "SpeechStarted", "channel": [0, 1], "timestamp": 0.3},
            dgtrio.ListenV1SpeechStarted,
        ),
        (
            {"type": "ConfigureSuccess", "request_id": "r", "keyterms": ["a", "b"]},
            dgtrio.ListenV1ConfigureSuccess,
        ),
        (
            {
                "type": "ConfigureFailure",
                "request_id": "r",
                "code": "CONFIGURE_KEYTERMS_NOT_SUPPORTED",
                "description": "no",
            },
            dgtrio.ListenV1ConfigureFailure,
        ),
        (
            {"type": "Error", "variant": "SchemaError", "description": "bad", "message": "{}"},
            dgtrio.ListenV1Error,
        ),
    ],
)
def test_every_server_message_decodes_to_its_class(
    message: dict[str, object], cls: type[object]
) -> None:
    decoded = _decode(message)
    assert type(decoded) is cls
    assert decoded.raw == message  # type: ignore[attr-defined]


def test_metadata_fields() -> None:
    metadata = _decode(
        {
            "type": "Metadata",
            "request_id": "r",
            "duration": 3.5,
            "channels": 2,
            "model_info": {"m": {"name": "n"}},
        }
    )
    assert isinstance(metadata, dgtrio.ListenV1Metadata)
    assert (metadata.duration, metadata.channels, metadata.transaction_key) == (
        3.5,
        2,
        "deprecated",
    )
    assert metadata.model_info == {"m": dgtrio.ListenV1ModelInfo(name="n")}


@pytest.mark.parametrize("path", sorted((RECORDED / "listen_v1").glob("*.jsonl")), ids=str)
def test_recorded_listen_traffic_decodes(path: Path) -> None:
    lines = [line for line in path.read_text().splitlines() if line.strip()]
    assert lines
    for line in lines:
        message = CODEC.decode(line)
        assert isinstance(message, dgtrio.ListenV1Results)
        assert message.raw == json.loads(line)
        assert message.transcript
        assert all(w.end >= w.start for w in message.words)


def test_unknown_types_keep_their_json() -> None:
    unknown = CODEC.decode('{"type": "FutureThing", "x": [1, 2]}')
    assert unknown == dgtrio.UnknownMessage("FutureThing", {"type": "FutureThing", "x": [1, 2]})
    untyped = CODEC.decode('{"hello": 1}')
    assert isinstance(untyped, dgtrio.UnknownMessage) and untyped.type is None


@pytest.mark.parametrize(
    ("frame", "expected"),
    [
        ("not json", "not JSON"),
        ("[1, 2]", "not a JSON object"),
        (b"\x00\x01", "unexpected binary frame of 2 bytes"),
        ('{"type": "Results", "duration": "long"}', "$.duration"),
        ('{"type": "UtteranceEnd", "channel": [0, 1]}', "$.last_word_end"),
    ],
)
def test_undecodable_frames_raise_a_typed_error(frame: str | bytes, expected: str) -> None:
    with pytest.raises(dgtrio.MessageDecodeError) as info:
        CODEC.decode(frame)
    assert expected in str(info.value)
    assert info.value.frame == frame


def test_client_messages_are_compact_json_without_nones() -> None:
    assert json.loads(encode_message(KeepAlive())) == {"type": "KeepAlive"}
    assert json.loads(encode_message(Finalize())) == {"type": "Finalize"}
    assert json.loads(encode_message(Finalize(1))) == {"type": "Finalize", "channel": 1}
    configure = json.loads(encode_message(Configure(("a",), {"numerals": True})))
    assert configure == {"type": "Configure", "keyterms": ["a"], "features": {"numerals": True}}
    assert json.loads(encode_message(Configure(()))) == {"type": "Configure", "keyterms": []}


def test_query_encoding_follows_deepgram_conventions() -> None:
    options = dgtrio.ListenV1Options(
        model="nova-3",
        encoding="linear16",
        sample_rate=16000,
        channels=2,
        multichannel=True,
        interim_results=True,
        endpointing=False,
        utterance_end_ms=1000,
        keyterm=["customer service", "Deepgram"],
        redact=["pci", "ssn"],
        replace={"foo": "bar"},
        extra={"call_id": "42"},
        keywords={"snuffleupagus": 2.5},
        tag=["t1", "t2"],
        search=["refund"],
        smart_format=False,
    )
    pairs = parse_qsl(encode_query(options))
    assert pairs == [
        ("model", "nova-3"),
        ("encoding", "linear16"),
        ("sample_rate", "16000"),
        ("channels", "2"),
        ("multichannel", "true"),
        ("interim_results", "true"),
        ("endpointing", "false"),
        ("utterance_end_ms", "1000"),
        ("smart_format", "false"),
        ("redact", "pci"),
        ("redact", "ssn"),
        ("keyterm", "customer service"),
        ("keyterm", "Deepgram"),
        ("keywords", "snuffleupagus:2.5"),
        ("search", "refund"),
        ("replace", "foo:bar"),
        ("extra", "call_id:42"),
        ("tag", "t1"),
        ("tag", "t2"),
    ]
    assert dict(pairs)["keyterm"] == "Deepgram"
    assert encode_query(dgtrio.ListenV1Options(redact=True)) == "model=nova-3&redact=true"


def test_query_encoding_exact_order_and_escaping() -> None:
    query = encode_query(
        dgtrio.ListenV1Options(model=None, keyterm=["a b", "c&d"], extra={"k": "v=1"})
    )
    assert query == "keyterm=a+b&keyterm=c%26d&extra=k%3Av%3D1"


def test_extra_query_adds_and_overrides() -> None:
    options = dgtrio.ListenV1Options(extra_query={"model": "nova-2", "new_flag": True, "x": [1, 2]})
    assert parse_qsl(encode_query(options)) == [
        ("model", "nova-2"),
        ("new_flag", "true"),
        ("x", "1"),
        ("x", "2"),
    ]


@given(
    keyterms=st.lists(st.text(min_size=1).filter(lambda s: "\x00" not in s), max_size=5),
    tags=st.lists(st.text(min_size=1), max_size=3),
)
def test_list_parameters_round_trip(keyterms: list[str], tags: list[str]) -> None:
    query = encode_query(dgtrio.ListenV1Options(model=None, keyterm=keyterms, tag=tags))
    pairs = parse_qsl(query, keep_blank_values=True)
    assert [v for k, v in pairs if k == "keyterm"] == keyterms
    assert [v for k, v in pairs if k == "tag"] == tags


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"model": "flux-general-en"}, "open_flux_listen"),
        ({"encoding": "linear16"}, "encoding and sample_rate go together"),
        ({"sample_rate": 16000}, "encoding and sample_rate go together"),
        ({"encoding": "wav", "sample_rate": 8000}, "encoding 'wav' is not one of"),
        ({"sample_rate": 0, "encoding": "linear16"}, "sample_rate must be a positive integer"),
        ({"channels": True}, "channels must be a positive integer"),
        ({"endpointing": True}, "endpointing is milliseconds"),
        ({"utterance_end_ms": 500, "interim_results": True}, "at least 1000"),
        ({"utterance_end_ms": 1000}, "needs interim_results=True"),
        ({"redact": ["pci", "zip"]}, "unknown redact values: ['zip']"),
        ({"keyterm": "one string"}, "keyterm takes a list"),
        ({"tag": [""]}, "tag entries must be non-empty"),
        ({"extra": {"a:b": "c"}}, "extra keys cannot contain ':'"),
        ({"diarize_model": "v2"}, "diarize_model"),
    ],
)
def test_options_are_validated_before_connecting(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(dgtrio.ConfigurationError, match=message.replace("[", r"\[")):
        dgtrio.ListenV1Options(**kwargs)  # type: ignore[arg-type]


def test_options_derive_the_raw_audio_format() -> None:
    assert dgtrio.ListenV1Options().audio_format is None
    linear16 = dgtrio.ListenV1Options(encoding="linear16", sample_rate=16000, channels=2)
    assert linear16.audio_format == AudioFormat("linear16", 16000, 2)
    assert (linear16.audio_format.frame_size, linear16.audio_format.bytes_per_second) == (4, 64000)
    mulaw = dgtrio.ListenV1Options(encoding="mulaw", sample_rate=8000)
    assert mulaw.audio_format == AudioFormat("mulaw", 8000)
    assert dgtrio.ListenV1Options(encoding="opus", sample_rate=48000).audio_format is None
    assert dgtrio.ListenV2Options(encoding="linear32", sample_rate=8000).audio_format == (
        AudioFormat("linear32", 8000)
    )
    assert dgtrio.SpeakV1Options(encoding="alaw", sample_rate=8000).audio_format == (
        AudioFormat("alaw", 8000)
    )


@pytest.mark.parametrize("path", sorted((RECORDED / "listen_v1").glob("*.jsonl")), ids=str)
def test_the_fast_structure_hooks_agree_with_cattrs(path: Path) -> None:
    """The codec's own hooks (flat classes, optionals, tuples) build exactly what
    cattrs' general ones build, on real traffic."""
    import cattrs

    from dgtrio.listen.v1._messages import CODEC, ListenV1Results, ListenV1Word

    plain = cattrs.Converter(detailed_validation=False, forbid_extra_keys=False)
    for line in path.read_text().splitlines():
        data = json.loads(line)
        if data.get("type") != "Results":
            continue
        decoded = CODEC.decode(line)
        assert decoded == plain.structure(data, ListenV1Results)
        assert all(type(word) is ListenV1Word for word in decoded.words)


def test_flat_classes_convert_check_and_take_keywords() -> None:
    from dgtrio._codec import _converter

    @attrs.frozen(kw_only=True)
    class Flat:
        name: str
        at: float
        count: int | None = None
        on: bool | None = None

    structure = _converter().get_structure_hook(Flat)
    assert structure.__name__ == "structure"  # the codec's own, not cattrs'
    assert structure({"name": "a", "at": 1, "count": 2.0, "extra": []}, Flat) == Flat(
        name="a", at=1.0, count=2
    )
    assert structure({"name": 5, "at": "2.5", "on": 1}, Flat) == Flat(name="5", at=2.5, on=True)
    with pytest.raises(KeyError):
        structure({"name": "a"}, Flat)
    with pytest.raises(TypeError):
        structure({"name": "a", "at": None}, Flat)


@attrs.frozen
class _Plain:
    word: str
    start: float
    speaker: int | None = None


@attrs.frozen
class _Checked:
    word: str = attrs.field(validator=attrs.validators.min_len(1))


@attrs.frozen
class _Finished:
    word: str

    def __attrs_post_init__(self) -> None:
        pass


def test_flat_classes_with_init_logic_are_built_by_their_constructor() -> None:
    from dgtrio._codec import _fills_slots, _flat_hook

    for cls in (_Plain, _Checked, _Finished):
        attrs.resolve_types(cls)
    assert _fills_slots(_Plain)
    assert not _fills_slots(_Checked) and not _fills_slots(_Finished)
    built = _flat_hook(_Plain)({"word": "hi", "start": 1, "speaker": 2}, _Plain)
    assert built == _Plain("hi", 1.0, 2) and type(built.start) is float
    assert hash(built) == hash(_Plain("hi", 1.0, 2))
    with pytest.raises(ValueError, match="Length of 'word' must be >= 1"):
        _flat_hook(_Checked)({"word": ""}, _Checked)  # the validator ran
