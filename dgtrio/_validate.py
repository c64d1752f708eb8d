"""Checking values against their type annotations, before any I/O (sans-io).

Every options class calls :func:`check_fields` first thing in ``__attrs_post_init__``:
each field is checked against its annotation (``int | None``, ``Sequence[str]``,
``Literal[...]``, ``Mapping[str, float]``...) and against the range its metadata sets
(:func:`positive`, :func:`at_least`, :func:`between`). A failure is a
:class:`~dgtrio.ConfigurationError` that names the class and the field, shows the value
and says what was expected::

    ListenV1Options.sample_rate must be a positive integer, not '16000' (str)
    ListenV1Options.encoding 'wav' is not one of 'linear16', 'linear32', ...
    ListenV1Options.keyterm takes a list of non-empty strings, not one string ('hi')
    ListenV1Options.tag entries must be non-empty strings, not '' (str)
    ListenV1Options.keywords['snuffle'] must be a number, not '2' (str)

Beyond ``isinstance``: a bool is not a number (``True`` is no sample rate); an int is
a float; a float is finite; a string is non-empty (``""`` names nothing); a string is
not a list of strings. Values of :data:`SECRET_NAMES` are never shown.
"""

from __future__ import annotations

import difflib
import inspect
import math
import reprlib
from collections.abc import Callable, Mapping, Sequence
from functools import cache
from types import NoneType, UnionType
from typing import Any, Literal, TypeGuard, Union, get_args, get_origin, get_type_hints

import attrs

from ._codec import QueryValue
from ._errors import ConfigurationError

__all__ = [
    "SECRET_NAMES",
    "at_least",
    "between",
    "check_fields",
    "check_keywords",
    "check_positive_int",
    "check_positive_number",
    "check_timeout",
    "check_value",
    "positive",
    "refuse_unknown",
]

SECRET_NAMES = frozenset({"api_key", "access_token", "auth_token"})
"""Names whose values no error message shows."""

_RULE = "dgtrio.rule"  # the key of a field's range in its attrs metadata

_Scalar = str | float | bool
# ``QueryValue`` lets lists and mappings hold ``Any``; the query encoder turns only
# scalars into text, so that is what ``extra_query`` is checked against: a string, a
# number, a bool, a list of those or a mapping to those (or None: leave it out).
_QUERY_VALUE: Any = _Scalar | Sequence[_Scalar] | Mapping[str, _Scalar] | None

_repr = reprlib.Repr()
_repr.maxstring = _repr.maxother = 60  # enough to recognise a value, not a page of it


@attrs.frozen
class _Rule:
    """A range for a number, and optionally the whole requirement in words."""

    low: float | None = None
    high: float | None = None
    above_zero: bool = False
    text: str | None = None

    def admits(self, number: float) -> bool:
        if self.above_zero and number <= 0:
            return False
        if self.low is not None and number < self.low:
            return False
        return self.high is None or number <= self.high

    def describe(self, integer: bool) -> str:
        noun = "integer" if integer else "number"
        if self.above_zero:
            return f"a positive {noun}"
        if self.high is None:
            return f"{'an' if integer else 'a'} {noun} of at least {self.low:g}"
        # "between" leads, as in the messages users have already seen.
        return f"between {self.low:g} and {self.high:g}" + (" (an integer)" if integer else "")


def positive(*, text: str | None = None) -> Mapping[str, Any]:
    """A field's metadata (or ``check_value``'s ``rule``): greater than 0.

    ``text`` replaces the generated requirement in messages, verb included
    (``"is milliseconds (>= 0) or False"``); the same holds for the other rules.
    """
    return {_RULE: _Rule(above_zero=True, text=text)}


def at_least(low: float, *, text: str | None = None) -> Mapping[str, Any]:
    """A field's metadata (or ``check_value``'s ``rule``): ``low`` or more."""
    return {_RULE: _Rule(low=low, text=text)}


def between(low: float, high: float, *, text: str | None = None) -> Mapping[str, Any]:
    """A field's metadata (or ``check_value``'s ``rule``): ``low`` to ``high``, inclusive."""
    return {_RULE: _Rule(low=low, high=high, text=text)}


def on_grid(value: float, step: float) -> bool:
    """Whether ``value`` is a whole number of ``step`` (up to rounding)."""
    steps = value / step
    return math.isclose(steps, round(steps), abs_tol=1e-6)


def check_value(
    owner: str,
    name: str,
    value: object,
    annotation: object,
    rule: Mapping[str, Any] | None = None,
) -> None:
    """Raise :class:`~dgtrio.ConfigurationError` unless ``value`` fits ``annotation``.

    Args:
        owner: the class the value is for (``"ListenV1Options"``), or ``""`` for a
            keyword argument; messages name ``owner.name`` (or ``name``).
        name: the field or keyword.
        value: what was given.
        annotation: a type as ``typing.get_type_hints`` returns it: ``int``,
            ``float | None``, ``Literal["a", "b"]``, ``Sequence[str]``,
            ``Mapping[str, float]``, unions of those, a class, or ``Any``.
        rule: a range for the numbers in ``annotation``: what :func:`positive`,
            :func:`at_least` or :func:`between` return (also a field's metadata).

    Raises:
        ConfigurationError: ``value`` does not fit; the message names ``owner.name``
            and shows the value (only its type for :data:`SECRET_NAMES`).
        TypeError: ``annotation`` is of a form this module cannot check (a bug in
            the caller, not a user error).
    """
    checked = rule.get(_RULE) if rule else None
    if _admits(value, annotation, checked):
        return
    where = f"{owner}.{name}" if owner else name
    raise ConfigurationError(_problem(where, value, annotation, checked, name in SECRET_NAMES))


def check_fields(instance: attrs.AttrsInstance) -> None:
    """Check every field of an attrs instance against its annotation and metadata.

    Call it first in ``__attrs_post_init__``, so that the checks after it may
    trust the types. Raises :class:`~dgtrio.ConfigurationError` for the first
    field that does not fit.
    """
    owner = type(instance).__name__
    for name, alias, annotation, rule, optional in _fields(type(instance)):
        value = getattr(instance, name)
        if value is None and optional:
            continue  # most options are unset: the quick way past them
        check_value(owner, alias, value, annotation, rule)


def check_keywords(
    owner: str,
    values: Mapping[str, object],
    schema: type,
    rules: Mapping[str, Mapping[str, Any]] | None = None,
) -> None:
    """Check keyword arguments against a ``TypedDict``'s annotations.

    Args:
        owner: the function, for the unknown-keyword message (``"open_listen"``).
        values: the keywords given.
        schema: the ``TypedDict`` that declares them.
        rules: extra ranges by keyword, e.g. ``{"connect_timeout": positive()}``.

    Raises:
        TypeError: a keyword ``schema`` does not declare (as Python does for a
            function's unknown keyword).
        ConfigurationError: a value that does not fit.
    """
    hints = _hints(schema)
    for name, value in values.items():
        if name not in hints:
            raise TypeError(f"{owner}() got an unexpected keyword argument {name!r}")
        check_value("", name, value, hints[name], (rules or {}).get(name))


def refuse_unknown(
    opener: Callable[..., object],
    given: Mapping[str, object],
    schema: type,
    options_class: type | None = None,
) -> None:
    """Refuse a keyword that ``opener`` (an ``open_*`` function) does not take, whose
    ``**keywords`` are declared by the ``TypedDict`` ``schema``, saying where it
    belongs: a field of ``options_class``, or the nearest name (``did you mean``).
    ``**keywords`` would otherwise swallow it silently. Raises ``TypeError``, as
    Python does for a function's unknown keyword; values are never shown."""
    known = _hints(schema)
    unknown = [name for name in given if name not in known]
    if not unknown:
        return
    name, function = unknown[0], opener.__name__
    text = f"{function}() got an unexpected keyword argument {name!r}"
    fields = [field.name for field in attrs.fields(options_class)] if options_class else []
    if name in fields:
        assert options_class is not None
        owner = options_class.__name__
        text += f": {name} is a field of {owner}: {function}({owner}({name}=...))"
    else:
        own = [
            parameter.name
            for parameter in inspect.signature(opener).parameters.values()
            if parameter.kind is not parameter.VAR_KEYWORD
        ]
        close = difflib.get_close_matches(name, [*own, *known, *fields], n=1)
        if close:
            text += f"; did you mean {close[0]!r}?"
    raise TypeError(text)


def check_timeout(value: object, name: str = "timeout") -> None:
    """Refuse a ``timeout`` that is not a positive number of seconds (``math.inf``:
    no limit), before anything is sent."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"{name} is a number of seconds, not {type(value).__name__}")
    if not value > 0:  # NaN too
        raise ValueError(f"{name} must be a positive number of seconds, not {value!r}")


def check_json(value: object, name: str) -> None:
    """Refuse what is not a JSON value, before anything is sent: JSON has null, true and
    false, numbers (finite), strings, arrays (a list or tuple) and objects (a mapping
    with string keys). The error names the part: ``content['rows'][2]``.

    Raises:
        TypeError: a value of another type (bytes, a set, a date...), or a key that
            is not a string.
        ValueError: NaN or an infinity (which JSON cannot say).
    """
    if value is None or isinstance(value, str | int):  # bool is an int
        return
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"{name} is {value}, which JSON cannot say")
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            check_json(item, f"{name}[{index}]")
    elif isinstance(value, Mapping):
        for key, item in value.items():
            if not isinstance(key, str):
                raise TypeError(f"{name} has the key {key!r}: JSON keys are strings")
            check_json(item, f"{name}[{key!r}]")
    else:
        raise TypeError(f"{name} is {type(value).__name__}, not a JSON value")


def check_positive_number(owner: str, name: str, value: object, *, optional: bool = False) -> None:
    """A finite int or float above 0 (or ``None`` if ``optional``); see :func:`check_value`."""
    check_value(owner, name, value, float | None if optional else float, positive())


def check_positive_int(owner: str, name: str, value: object, *, optional: bool = False) -> None:
    """An int above 0, not a bool (or ``None`` if ``optional``); see :func:`check_value`."""
    check_value(owner, name, value, int | None if optional else int, positive())


@cache
def _hints(schema: type) -> Mapping[str, Any]:
    """A ``TypedDict``'s resolved annotations, once per schema (not per ``open_*`` call)."""
    return get_type_hints(schema)


@cache
def _fields(cls: type) -> tuple[tuple[str, str, Any, Mapping[str, Any], bool], ...]:
    """(name, alias, annotation, metadata, takes None) of each field, once per class:
    the annotations are strings (``from __future__``) until resolved."""
    hints = get_type_hints(cls)
    return tuple(
        (field.name, field.alias, hint, field.metadata, NoneType in _members(hint))
        for field in attrs.fields(cls)
        if field.init
        for hint in [hints[field.name]]
    )


@cache
def _members(annotation: Any) -> tuple[Any, ...]:
    """The alternatives of a union (the annotation itself if it is not one)."""
    if annotation == QueryValue:
        annotation = _QUERY_VALUE
    if get_origin(annotation) in (Union, UnionType):
        return get_args(annotation)
    return (annotation,)


def _is_number(value: object, kind: type) -> TypeGuard[float]:
    # bool subclasses int, but True is no sample rate; an int is fine for a float.
    if isinstance(value, bool):
        return False
    if kind is int:
        return isinstance(value, int)
    return isinstance(value, int | float) and math.isfinite(value)


def _is_literal(value: object, choices: tuple[Any, ...]) -> bool:
    # 1 == True, so a choice matches only a value of its own kind (or a subclass,
    # such as a StrEnum member).
    return any(
        isinstance(value, type(choice))
        and isinstance(value, bool) == isinstance(choice, bool)
        and value == choice
        for choice in choices
    )


def _is_list(value: object) -> TypeGuard[Sequence[object]]:
    return isinstance(value, Sequence) and not isinstance(value, str | bytes | bytearray)


def _admits(value: object, annotation: Any, rule: _Rule | None = None) -> bool:
    members = _members(annotation)
    if len(members) > 1:
        return any(_admits(value, member, rule) for member in members)
    origin, args = get_origin(annotation), get_args(annotation)
    if annotation is Any:
        return True
    if annotation is NoneType:
        return value is None
    if annotation is bool:
        return isinstance(value, bool)
    if annotation in (int, float):
        return _is_number(value, annotation) and (rule is None or rule.admits(value))
    if annotation is str:
        return isinstance(value, str) and value != ""
    if origin is Literal:
        return _is_literal(value, args)
    if origin is Sequence:
        return _is_list(value) and all(_admits(item, args[0]) for item in value)
    if origin is Mapping:
        return isinstance(value, Mapping) and all(
            _admits(key, args[0]) and _admits(item, args[1]) for key, item in value.items()
        )
    if isinstance(annotation, type) and not args:
        return isinstance(value, annotation)
    raise TypeError(f"dgtrio cannot check values against {annotation!r}")


def _problem(where: str, value: object, annotation: Any, rule: _Rule | None, secret: bool) -> str:
    """What is wrong with a value that ``_admits`` refused, as an error message."""
    members = [m for m in _members(annotation) if m is not NoneType]
    # A list or mapping of the right shape: point at the entry at fault.
    for member in members:
        origin, args = get_origin(member), get_args(member)
        if origin is Sequence and _is_list(value):
            for item in value:
                if _admits(item, args[0]):
                    continue
                if get_origin(args[0]) is Literal:
                    return f"{where} entry {_repr.repr(item)} is not one of {_choices(args[0])}"
                return f"{where} entries must be {_noun(args[0], plural=True)}, not {_given(item)}"
        if origin is Mapping and isinstance(value, Mapping):
            for key, item in value.items():
                if not _admits(key, args[0]):
                    return f"{where} keys must be {_noun(args[0], plural=True)}, not {_given(key)}"
                if not _admits(item, args[1]):
                    return _problem(f"{where}[{key!r}]", item, args[1], None, secret)
    if all(get_origin(m) is Literal for m in members) and not secret:
        return f"{where} {_repr.repr(value)} is not one of {_choices(*members)}"
    shown = _given(value, secret)
    if isinstance(value, str) and not secret and any(get_origin(m) is Sequence for m in members):
        shown = f"one string ({_repr.repr(value)})"
    if rule is not None and rule.text is not None:
        return f"{where} {rule.text}, not {shown}"
    # Lists and mappings "take" values; everything else "must be" one.
    collections = all(get_origin(m) in (Sequence, Mapping) for m in members)
    verb = "takes" if collections else "must be"
    return f"{where} {verb} {_noun(annotation, rule)}, not {shown}"


def _given(value: object, secret: bool = False) -> str:
    if secret:
        return f"*** ({type(value).__name__})"
    if value is None:
        return "None"
    if isinstance(value, float) and not math.isfinite(value):
        return f"{value!r} (not finite)"
    return f"{_repr.repr(value)} ({type(value).__name__})"


def _choices(*literals: Any) -> str:
    return _join([repr(choice) for literal in literals for choice in get_args(literal)])


def _join(words: list[str]) -> str:
    return words[0] if len(words) == 1 else f"{', '.join(words[:-1])} or {words[-1]}"


_WORDS: Mapping[Any, tuple[str, str]] = {  # singular, plural
    Any: ("anything", "anything"),
    bool: ("True or False", "booleans"),
    int: ("an integer", "integers"),
    float: ("a number", "numbers"),
    str: ("a non-empty string", "non-empty strings"),
}


def _noun(annotation: Any, rule: _Rule | None = None, *, plural: bool = False) -> str:
    """``annotation`` in words: "a positive integer", "non-empty strings"..."""
    if annotation == QueryValue:  # in full, it would fill a line
        if plural:
            return "strings, numbers or booleans, or lists or mappings of those"
        return "a string, number or boolean, or a list or mapping of those"
    members = [m for m in _members(annotation) if m is not NoneType]
    if len(members) > 1:
        words: list[str] = []
        for member in members:
            single = member is bool and not plural
            words += ["True", "False"] if single else [_noun(member, rule, plural=plural)]
        return _join(words)
    # None is left out: it means "not set", which goes without saying.
    annotation = members[0] if members else annotation
    origin, args = get_origin(annotation), get_args(annotation)
    if annotation in (int, float) and rule is not None and not plural:
        return rule.describe(integer=annotation is int)
    if annotation in _WORDS:
        return _WORDS[annotation][plural]
    if origin is Literal:
        return _choices(annotation) if plural else f"one of {_choices(annotation)}"
    if origin is Sequence:
        return f"{'lists' if plural else 'a list'} of {_noun(args[0], plural=True)}"
    if origin is Mapping:
        key, item = (_noun(arg, plural=True) for arg in args)
        return f"{'mappings' if plural else 'a mapping'} of {key} to {item}"
    name = getattr(annotation, "__name__", repr(annotation))
    return f"instances of {name}" if plural else f"an instance of {name}"
