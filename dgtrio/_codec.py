"""Turning frames into typed messages and options into query strings (no I/O, no trio).

Every API package builds one :class:`Codec` from its message classes. Decoding is a
dict lookup on the JSON ``type`` and one cattrs structure function generated per
class, once. Unknown types become :class:`UnknownMessage`; failures become
:class:`~dgtrio.MessageDecodeError` with the frame attached. The decoded JSON object is
kept, untouched, as the message's ``raw``. Fields marked with :func:`lazy_fields` (the
words of a transcript) are checked while decoding and built when first read.

(cattrs' ``configure_tagged_union`` would do the dispatch too, but it copies each
payload to pop the tag and grows a table entry per unknown tag; a plain dict keeps the
raw JSON whole and the hot path short.)
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from functools import partial
from types import MappingProxyType, MemberDescriptorType, UnionType
from typing import Any, Generic, Literal, TypeVar, Union, get_args, get_origin
from urllib.parse import urlencode

import attrs
import cattrs
import orjson
from cattrs.gen import make_dict_structure_fn, override

from ._errors import MessageDecodeError

__all__ = [
    "EMPTY_RAW",
    "SAMPLE_WIDTH",
    "AudioEncoding",
    "Codec",
    "UnknownMessage",
    "encode_message",
    "encode_query",
    "lazy_fields",
    "raw_field",
    "to_json",
]

EMPTY_RAW: Mapping[str, Any] = MappingProxyType({})

AudioEncoding = Literal[
    "linear16",
    "linear32",
    "flac",
    "alaw",
    "mulaw",
    "amr-nb",
    "amr-wb",
    "opus",
    "ogg-opus",
    "speex",
    "g729",
]
"""The encodings Deepgram accepts for streamed audio (listen, and the agent's input)."""

# Bytes per sample of the uncompressed encodings: raw frames must hold whole samples.
SAMPLE_WIDTH: Mapping[str, int] = {"linear16": 2, "linear32": 4, "alaw": 1, "mulaw": 1}


def raw_field() -> Any:
    """The ``raw`` field every server message ends with: the JSON object as received.

    Not part of equality or ``repr``; messages built by hand get an empty mapping.
    """
    return attrs.field(default=EMPTY_RAW, eq=False, repr=False, kw_only=True)


@attrs.frozen
class UnknownMessage:
    """A server message whose ``type`` this version of dgtrio does not model.

    Nothing is dropped: ``raw`` is the whole JSON object, ``type`` its tag (``None``
    if the object had none). Newer Deepgram servers send such messages first.
    """

    type: str | None
    raw: Mapping[str, Any] = attrs.field(eq=False)


C = TypeVar("C", bound=type)


def lazy_fields(*names: str) -> Callable[[C], C]:
    """Class decorator, placed above ``@attrs.frozen``: the named fields, each a
    ``tuple[X, ...]`` of a class of primitive fields (words, fifteen to a message), are
    built on first read when a :class:`Codec` decodes them.

    Nothing else changes: equality, ``repr``, hashing, pickling and ``attrs.evolve``
    read the field as any code does, which builds it. Decoding checks the raw values
    at once, so a frame that eager decoding would refuse is refused just the same, in
    its place; the values are built later, from the message's ``raw``, by the very
    function eager decoding uses (so ``raw`` must stay as it was received).
    """

    def install(cls: C) -> C:
        for name in names:
            slot = cls.__dict__.get(name)
            if not isinstance(slot, MemberDescriptorType):
                raise TypeError(f"{cls.__qualname__}.{name} is not a field of a slotted class")
            setattr(cls, name, _LazyField(slot))
        return cls

    return install


class _Deferred:
    """A lazy field's value until it is first read: how to build it, and from what."""

    __slots__ = ("structure", "type", "values")

    def __init__(self, structure: Callable[[Any, Any], Any], values: Any, type_: Any) -> None:
        self.structure = structure
        self.values = values
        self.type = type_


class _LazyField:
    """Stands in front of a field's slot: a first read builds a deferred value and stores
    it in the slot, so every later read (and every attrs method) sees the built value."""

    __slots__ = ("_slot",)

    def __init__(self, slot: MemberDescriptorType) -> None:
        self._slot = slot

    def __get__(self, instance: Any, owner: Any = None) -> Any:
        if instance is None:
            return self
        value = self._slot.__get__(instance, owner)
        if type(value) is _Deferred:
            value = value.structure(value.values, value.type)
            self._slot.__set__(instance, value)
        return value

    def __set__(self, instance: Any, value: Any) -> None:
        self._slot.__set__(instance, value)


def _lazy_names(cls: type) -> list[str]:
    return [name for name, value in vars(cls).items() if type(value) is _LazyField]


M = TypeVar("M", covariant=True)
_Entry = tuple[type[M], Callable[[Any, Any], M], bool, list[tuple[str, "_Entry[M]"]]]


def _converter(lazy: bool = True) -> cattrs.Converter:
    # Lenient by design: unknown keys are ignored so that new server fields never
    # break decoding; only a missing required field or a mistyped value fails.
    converter = cattrs.Converter(detailed_validation=False, forbid_extra_keys=False)
    # cattrs' generic hooks for ``X | None`` and ``tuple[X, ...]`` look X's hook up
    # again for every value; these look it up once, when the class's function is
    # generated. A Results message with 15 words decodes about twice as fast.
    converter.register_structure_hook_factory(_is_optional, partial(_optional_hook, converter))
    converter.register_structure_hook_factory(_is_tuple_of, partial(_tuple_hook, converter))
    converter.register_structure_hook_factory(_is_flat, _flat_hook)
    if lazy:
        converter.register_structure_hook_factory(
            lambda type_: attrs.has(type_) and bool(_lazy_names(type_)),
            lambda cls: make_dict_structure_fn(cls, converter, **_lazy_overrides(converter, cls)),
        )
    return converter


def _lazy_overrides(converter: cattrs.Converter, cls: type) -> dict[str, Any]:
    """cattrs overrides that defer the lazy fields of ``cls`` (see :func:`lazy_fields`)."""
    attrs.resolve_types(cls)
    fields = attrs.fields_dict(cls)
    return {
        name: override(struct_hook=_deferring_hook(converter, fields[name].type))
        for name in _lazy_names(cls)
    }


def _deferring_hook(converter: cattrs.Converter, type_: Any) -> Callable[[Any, Any], Any]:
    """The structure function of a lazy ``tuple[X, ...]`` field: raw values that surely
    build are kept for later; any others are built now, by the eager function, which
    fails (or, for a numeric string, succeeds) exactly as eager decoding does."""
    inner = get_args(type_)[0] if _is_tuple_of(type_) else None
    if inner is None or not _is_flat(inner):
        raise TypeError(f"a lazy field must be a tuple of a class of primitives, not {type_}")
    eager = converter.get_structure_hook(type_)
    builds = _flat_check(inner)

    def structure(values: Any, _: Any) -> Any:
        if builds(values):
            return _Deferred(eager, values, type_)
        return eager(values, type_)

    return structure


_PRIMITIVES = (str, int, float, bool)


def _flat_field(field: attrs.Attribute[Any]) -> type | None:
    """The primitive a field holds, if it is one or an optional one defaulting to None."""
    if field.type in _PRIMITIVES and field.default is attrs.NOTHING:
        return field.type
    if _is_optional(field.type) and field.default is None:
        inner = _optional_inner(field.type)
        return inner if inner in _PRIMITIVES else None
    return None


def _is_flat(type_: Any) -> bool:
    if not attrs.has(type_):
        return False
    attrs.resolve_types(type_)  # annotations may still be strings (``from __future__``)
    return all(field.init and _flat_field(field) for field in attrs.fields(type_))


def _flat_hook(cls: type) -> Callable[[Any, Any], Any]:
    """A structure function for a class of primitive fields (a word of a transcript,
    fifteen to a message), each field converted in place. A slotted class with
    nothing to run at init (no validator, converter or ``__attrs_post_init__``) gets
    its slots filled directly, about twice as fast as its frozen ``__init__`` (which
    goes through ``object.__setattr__``), and the same object; others get one
    constructor call, about twice as fast as cattrs' general form."""
    values = {}
    for field in attrs.fields(cls):
        kind = _flat_field(field)
        assert kind is not None
        if field.default is attrs.NOTHING:
            values[field.name] = f"{kind.__name__}(o[{field.name!r}])"
        else:
            values[field.name] = (
                f"None if (v := get({field.name!r})) is None else {kind.__name__}(v)"
            )
    namespace: dict[str, Any] = {"cls": cls, "new": object.__new__}
    if _fills_slots(cls):
        lines = [f"    set_{name}(made, {value})" for name, value in values.items()]
        namespace.update({f"set_{name}": getattr(cls, name).__set__ for name in values})
        body = "    made = new(cls)\n" + "\n".join(lines) + "\n    return made\n"
    else:
        args = ", ".join(f"{field.alias}={values[field.name]}" for field in attrs.fields(cls))
        body = f"    return cls({args})\n"
    source = "def structure(o, _):\n    get = o.get\n" + body
    exec(compile(source, f"<dgtrio structure {cls.__qualname__}>", "exec"), namespace)
    hook: Callable[[Any, Any], Any] = namespace["structure"]
    return hook


def _fills_slots(cls: type) -> bool:
    """Whether instances of ``cls`` are complete once every field's slot is set."""
    return not hasattr(cls, "__attrs_post_init__") and all(
        isinstance(getattr(cls, field.name, None), MemberDescriptorType)
        and field.validator is None
        and field.converter is None
        for field in attrs.fields(cls)
    )


# JSON values (as orjson gives them: integers within 64 bits, floats finite) that
# ``float()`` and ``int()`` always take; ``str()`` and ``bool()`` take every value.
_NUMBERS = frozenset({int, float, bool})
_NUMBERS_OR_NONE = _NUMBERS | {type(None)}


def _flat_check(cls: type) -> Callable[[Any], bool]:
    """A predicate, generated for a class of primitive fields, true of a JSON list that
    :func:`_flat_hook` surely builds every item of: a list of objects with every
    required key, and numbers (or null where optional) for numeric fields. It builds
    nothing, so checking a word costs a fraction of building it. False says only "not
    surely": such values are built at once, by the hook, to fail or not as it does."""
    tests = ["type(o) is dict"]
    for field in attrs.fields(cls):
        kind = _flat_field(field)
        required = field.default is attrs.NOTHING
        if kind in (int, float):
            numbers = "numbers" if required else "numbers_or_none"
            tests.append(f"type(o.get({field.name!r})) in {numbers}")
        elif required:
            tests.append(f"{field.name!r} in o")
    source = (
        "def check(values):\n"
        "    if type(values) is not list:\n"
        "        return False\n"
        "    for o in values:\n"
        f"        if not ({' and '.join(tests)}):\n"
        "            return False\n"
        "    return True\n"
    )
    namespace: dict[str, Any] = {"numbers": _NUMBERS, "numbers_or_none": _NUMBERS_OR_NONE}
    exec(compile(source, f"<dgtrio check {cls.__qualname__}>", "exec"), namespace)
    check: Callable[[Any], bool] = namespace["check"]
    return check


def _is_optional(type_: Any) -> bool:
    args = get_args(type_)
    return get_origin(type_) in (Union, UnionType) and len(args) == 2 and type(None) in args


def _optional_inner(type_: Any) -> Any:
    """``X`` of ``X | None``."""
    return next(arg for arg in get_args(type_) if arg is not type(None))


def _optional_hook(converter: cattrs.Converter, type_: Any) -> Callable[[Any, Any], Any]:
    inner = _optional_inner(type_)
    structure = converter.get_structure_hook(inner)
    return lambda value, _: None if value is None else structure(value, inner)


def _is_tuple_of(type_: Any) -> bool:
    args = get_args(type_)
    return get_origin(type_) is tuple and len(args) == 2 and args[1] is Ellipsis


def _tuple_hook(converter: cattrs.Converter, type_: Any) -> Callable[[Any, Any], Any]:
    inner = get_args(type_)[0]
    structure = converter.get_structure_hook(inner)

    def structure_tuple(values: Any, _: Any) -> tuple[Any, ...]:
        if isinstance(values, list | tuple):
            return tuple([structure(value, inner) for value in values])
        # Deepgram's schema allows one string where a list of strings goes (Flux's
        # ConfigureSuccess.keyterms): it is a list of one, never one of characters.
        if isinstance(values, str) and inner is str:
            return (values,)
        raise TypeError(f"expected a list, not {type(values).__name__}")

    return structure_tuple


class Codec(Generic[M]):
    """Decodes one API's server frames into its message classes.

    Args:
        api: a short name for error texts, e.g. ``"listen v1"``.
        messages: the server message classes, each with a ``TYPE`` class variable.
            Classes that share a ``TYPE`` tell their shapes apart by a key: each but
            one (the default) names it in ``VARIANT_KEY`` and is chosen when the
            object has it. A ``WIRE_ALIASES`` mapping (old wire name -> field) lets
            a class take fields under names the server used before.
        binary: builds the message for a binary frame; ``None`` when the API's
            server never sends binary frames (then one is a decode error).
        lazy: build the fields marked with :func:`lazy_fields` on first read (the
            default); ``False`` builds everything while decoding.
    """

    def __init__(
        self,
        api: str,
        messages: Iterable[type[M]],
        *,
        binary: Callable[[bytes], M] | None = None,
        lazy: bool = True,
    ) -> None:
        self.api = api
        self._lazy = lazy
        self._converter = _converter(lazy)
        self._binary = binary
        # tag -> (class, structure hook, keeps raw, [(key, variant entry)...]); all
        # that decoding a message needs, looked up once.
        self._hooks: dict[str, _Entry[M]] = {}
        classes = list(messages)
        for cls in classes:
            if not hasattr(cls, "VARIANT_KEY"):
                self._hooks[cls.TYPE] = self._entry(cls)  # type: ignore[attr-defined]
        for cls in classes:
            if hasattr(cls, "VARIANT_KEY"):
                variants = self._hooks[cls.TYPE][3]  # type: ignore[attr-defined]
                variants.append((cls.VARIANT_KEY, self._entry(cls)))  # type: ignore[attr-defined]

    def _entry(self, cls: type[M]) -> _Entry[M]:
        has_raw = any(field.name == "raw" for field in attrs.fields(cls))  # type: ignore[arg-type]
        hook = self._message_hook(cls, has_raw)
        aliases: Mapping[str, str] | None = getattr(cls, "WIRE_ALIASES", None)
        if aliases:
            hook = _with_aliases(hook, aliases)
        return (cls, hook, has_raw, [])

    def _message_hook(self, cls: type[M], has_raw: bool) -> Callable[[Any, Any], M]:
        overrides = _lazy_overrides(self._converter, cls) if self._lazy else {}
        if has_raw:
            overrides["raw"] = override(omit=True)
        hook: Callable[[Any, Any], M] = make_dict_structure_fn(cls, self._converter, **overrides)
        self._converter.register_structure_hook(cls, hook)
        return hook

    def decode(self, frame: str | bytes) -> M | UnknownMessage:
        """Decode one frame. Raises :class:`MessageDecodeError` if it cannot be."""
        if isinstance(frame, bytes):
            if self._binary is None:
                raise MessageDecodeError(
                    f"{self.api}: unexpected binary frame of {len(frame)} bytes", frame=frame
                )
            return self._binary(frame)
        try:
            data = orjson.loads(frame)
        except orjson.JSONDecodeError as exc:
            raise MessageDecodeError(f"{self.api}: not JSON ({exc})", frame=frame) from exc
        if not isinstance(data, dict):
            raise MessageDecodeError(f"{self.api}: not a JSON object", frame=frame)
        tag = data.get("type")
        entry = self._hooks.get(tag) if isinstance(tag, str) else None
        if entry is None:
            return UnknownMessage(tag if isinstance(tag, str) else None, data)
        for key, variant in entry[3]:
            if key in data:
                entry = variant
                break
        cls, hook, has_raw, _ = entry
        try:
            message = hook(data, cls)
        except Exception as exc:
            raise MessageDecodeError(
                f"{self.api}: invalid {tag} message: {_explain(cls, data, has_raw)}",
                frame=frame,
            ) from exc
        if has_raw:
            # Frozen attrs instances are set this way by attrs itself; the raw dict is
            # attached after structuring so that cattrs never has to look for it.
            object.__setattr__(message, "raw", data)
        return message


def _with_aliases(
    hook: Callable[[Any, Any], M], aliases: Mapping[str, str]
) -> Callable[[Any, Any], M]:
    """A structure hook that also takes older wire names for fields (``WIRE_ALIASES``,
    old name -> field name), for servers that have used both."""

    def structure(data: Any, cls: Any) -> M:
        if any(old in data for old in aliases):
            data = dict(data)
            for old, new in aliases.items():
                if old in data:
                    data.setdefault(new, data.pop(old))
        return hook(data, cls)

    return structure


def _explain(cls: type, data: Any, has_raw: bool) -> str:
    """Re-structure with detailed validation, only on the failure path, for a message
    that names the field (``$.channel.alternatives[0].words[2].start``)."""
    detailed = cattrs.Converter(detailed_validation=True)
    if has_raw:
        detailed.register_structure_hook(
            cls, make_dict_structure_fn(cls, detailed, raw=override(omit=True))
        )
    try:
        detailed.structure(data, cls)
    except Exception as exc:
        return "; ".join(cattrs.transform_error(exc))
    return "structure failed"  # pragma: no cover - the fast path failed, so this fails


def to_json(value: Any) -> Any:
    """The JSON value of a client message or any part of one.

    An attrs instance becomes an object: its ``TYPE`` class variable first, as
    ``type``, then its fields, leaving out those that are ``None`` (unset optionals
    are not sent) and ``raw`` (what a server message was received as). Tuples and
    lists become arrays, mappings objects; other values pass as they are. A class
    with a ``to_json`` method says itself what it is sent as.
    """
    cls = type(value)
    if hasattr(cls, "to_json"):
        return value.to_json()
    if attrs.has(cls):
        tag = getattr(cls, "TYPE", None)
        data: dict[str, Any] = {} if tag is None else {"type": tag}
        for field in attrs.fields(cls):
            item = getattr(value, field.name)
            if item is not None and field.name != "raw":
                data[field.name] = to_json(item)
        return data
    if isinstance(value, tuple | list):
        return [to_json(item) for item in value]
    if isinstance(value, Mapping):
        return {key: to_json(item) for key, item in value.items()}
    return value


def encode_message(message: Any) -> str:
    """JSON text for a client message (see :func:`to_json`)."""
    return orjson.dumps(to_json(message)).decode()


QueryValue = str | int | float | bool | Sequence[Any] | Mapping[str, Any] | None


def _query_values(value: QueryValue) -> list[str]:
    if value is None:
        return []
    if isinstance(value, bool):
        return ["true" if value else "false"]
    if isinstance(value, int | float | str):
        return [str(value)]
    if isinstance(value, Mapping):
        # Deepgram's key:value parameters (extra, replace, keywords) repeat as k:v.
        return [f"{key}:{item}" for key, item in value.items()]
    return [text for item in value for text in _query_values(item)]


def encode_query(options: Any) -> str:
    """Encode an attrs options object as Deepgram's query string.

    ``None`` is omitted, booleans are ``true``/``false``, lists repeat the parameter,
    mappings become repeated ``key:value`` strings. The options' ``extra_query``
    mapping adds parameters this version does not know, and overrides same-named ones.
    """
    params: dict[str, QueryValue] = {
        field.name: getattr(options, field.name)
        for field in attrs.fields(type(options))
        if field.name != "extra_query"
    }
    params.update(getattr(options, "extra_query", None) or {})
    pairs = [(name, text) for name, value in params.items() for text in _query_values(value)]
    return urlencode(pairs)
