"""Flux (``/v2/listen``, Listen v2), served as protocol.md section 3 has it.

Turns are taken by loudness, the same for every brain: the RMS level of 20 ms windows
of the client's audio. Loud audio for ``speech_onset`` seconds starts a turn, enough
quiet ends it (:class:`FluxScript` sets the levels and pauses). What the user said in
a turn comes from the :class:`FluxEars` passed in. Everything else follows the
protocol and is driven by the audio received (its bytes, encoding and sample rate),
never by the clock: ``Connected`` comes first and ``sequence_id`` counts every message;
``TurnInfo`` events follow Flux's state machine (an ``Update`` for each
``update_interval`` seconds of audio without a state change, ``StartOfTurn``,
``EagerEndOfTurn`` and ``TurnResumed`` only when ``eager_eot_threshold`` is set,
``EndOfTurn`` triggered by the model, by ``eot_timeout_ms`` or by ``ForceEndTurn``);
``Configure`` is checked, acknowledged and changes what follows; ``CloseStream``
reports the audio not yet reported and closes without a status; a malformed or unknown
message is a fatal ``Error``. The handshake is refused (HTTP 400) for the query
parameters Deepgram refuses, and for a stream the ears cannot hear. Opus and
containerized audio cannot be heard: they count as silence at a nominal 32 kbit/s.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from typing import Any, Literal, Protocol

import attrs
import trio

from .._codec import SAMPLE_WIDTH
from .._validate import check_value
from ._common import Query, check_brain, check_hearing, flag, param, parse_message
from ._session import Session
from ._sound import LoudnessWindows

__all__ = [
    "FluxEars",
    "FluxHearing",
    "FluxScript",
    "FluxWord",
    "ListenV2Endpoint",
    "ListenV2Settings",
]

_MULTI = "flux-general-multi"
_MODELS = ("flux-general-en", _MULTI)
_ENCODINGS = ("linear16", "linear32", "mulaw", "alaw", "opus", "ogg-opus")
_REDACT = ("numbers", "aggressive_numbers")
_BOOLEANS = ("profanity_filter", "numerals", "mip_opt_out")
# Each threshold's valid range, and whether it is a whole number.
_RANGES: dict[str, tuple[float, float, bool]] = {
    "eot_threshold": (0.5, 1.0, False),
    "eager_eot_threshold": (0.3, 0.9, False),
    "eot_timeout_ms": (500, 60000, True),
}
_WINDOW_SECONDS = 0.02  # the server hears the audio in windows this long
_COMPRESSED_BYTES_PER_SECOND = 4000  # the nominal rate of audio the server cannot decode


@attrs.frozen
class FluxScript:
    """What the Flux server hears, and how much audio its turns take.

    A turn starts once the client's audio has been louder than ``speech_threshold``
    (RMS, as a fraction of full scale, in 20 ms windows) for ``speech_onset`` seconds.
    The scripted ears (:class:`~dgtrio.testing.FakeDeepgram`'s) hear the user "say"
    the next of ``turns`` (one sentence each, cycling): a word for each
    ``1 / words_per_second`` seconds of loud audio, the first as the turn starts, up to
    the sentence's end, punctuated and cased as written; ears that recognise speech
    ignore both. ``end_of_turn_silence`` seconds of quiet end the turn
    (``trigger: "model"``), unless ``eot_threshold`` is 1.0 or ``eot_timeout_ms`` is
    shorter (``trigger: "timeout"``). When ``eager_eot_threshold`` is set,
    ``eager_silence`` seconds of quiet give an ``EagerEndOfTurn``, and speech after it
    a ``TurnResumed``. An ``Update`` reports each ``update_interval`` seconds of audio
    in which the state did not change.

    ``end_of_turn_confidence`` is 0 while the user speaks and rises linearly with the
    quiet after speech: it reaches ``eager_eot_threshold`` (when set) after
    ``eager_silence`` and ``eot_threshold`` after ``end_of_turn_silence``, and stays
    there.
    """

    turns: Sequence[str] = (
        "Hi, I'd like to check on my order.",
        "It was supposed to arrive on Monday.",
        "Thanks, that's all I needed.",
    )
    words_per_second: float = 2.5
    speech_threshold: float = 0.02
    speech_onset: float = 0.1
    update_interval: float = 0.25
    eager_silence: float = 0.3
    end_of_turn_silence: float = 0.6

    def __attrs_post_init__(self) -> None:
        check_hearing(
            self.turns,
            "turns",
            self.speech_threshold,
            self.words_per_second,
            self.speech_onset,
            self.update_interval,
            self.eager_silence,
            self.end_of_turn_silence,
        )
        if self.eager_silence >= self.end_of_turn_silence:
            raise ValueError("eager_silence must be shorter than end_of_turn_silence")


# --- Settings: from the query, then Configure -----------------------------------------


class _Invalid(Exception):
    """A refused setting: Deepgram's code for it, and a description."""

    def __init__(self, code: str, description: str) -> None:
        super().__init__(description)
        self.code = code
        self.description = description


@attrs.frozen
class ListenV2Settings:
    """What a Flux client configured, checked (the query, then ``Configure``);
    Deepgram's defaults for the rest."""

    model: str = "flux-general-en"
    encoding: str | None = None
    """None: audio in a container, which says how it is encoded."""
    sample_rate: int | None = None
    eot_threshold: float = 0.7
    eager_eot_threshold: float | None = None
    eot_timeout_ms: int = 5000
    keyterms: tuple[str, ...] = ()
    language_hints: tuple[str, ...] = ()
    numerals: bool = False


def _with_thresholds(settings: ListenV2Settings, values: Mapping[str, float]) -> ListenV2Settings:
    """``settings`` with the thresholds in ``values`` changed; checked together."""
    settings = attrs.evolve(
        settings,
        eot_threshold=values.get("eot_threshold", settings.eot_threshold),
        eager_eot_threshold=values.get("eager_eot_threshold", settings.eager_eot_threshold),
        eot_timeout_ms=int(values.get("eot_timeout_ms", settings.eot_timeout_ms)),
    )
    eager, eot = settings.eager_eot_threshold, settings.eot_threshold
    if eager is not None and eager > eot:
        raise _Invalid(
            "INVALID_EAGER_EOT_THRESHOLD",
            f"eager_eot_threshold ({eager:g}) must not be above eot_threshold ({eot:g}).",
        )
    return settings


def _thresholds(settings: ListenV2Settings) -> dict[str, float]:
    """The thresholds in force, as ``ConfigureSuccess`` reports them."""
    current: dict[str, float] = {
        "eot_threshold": settings.eot_threshold,
        "eot_timeout_ms": settings.eot_timeout_ms,
    }
    if settings.eager_eot_threshold is not None:
        current["eager_eot_threshold"] = settings.eager_eot_threshold
    return current


def _threshold(name: str, value: Any) -> float:
    """``value`` if it is a number in the range of threshold ``name``; else _Invalid."""
    low, high, whole = _RANGES[name]
    number = value if isinstance(value, int | float) and not isinstance(value, bool) else None
    # NaN fails the range test, so int() below never sees it.
    if number is None or not low <= number <= high or (whole and number != int(number)):
        kind = "an integer" if whole else "a number"
        raise _Invalid(
            f"INVALID_{name.upper()}", f"{name} must be {kind} from {low:g} to {high:g}: {value!r}"
        )
    return int(number) if whole else float(number)


def _query_number(name: str, text: str) -> Any:
    """A query value as the number it spells, or the text itself (which _threshold refuses)."""
    if _RANGES[name][2]:
        return int(text) if text.isdigit() else text
    try:
        return float(text)
    except ValueError:
        return text


def _bad_query(description: str) -> _Invalid:
    return _Invalid("INVALID_QUERY_PARAMETER", description)


def _check_query(query: Query) -> ListenV2Settings:
    """The settings the query asks for; raises :class:`_Invalid` where Deepgram refuses."""
    model = param(query, "model")
    if not model:
        raise _bad_query("model is required: flux-general-en or flux-general-multi.")
    if model not in _MODELS:
        if model.startswith("flux"):
            raise _bad_query(
                f"Unknown Flux model {model}: use flux-general-en or flux-general-multi."
            )
        raise _bad_query(f"Model {model} is not a Flux model: use it on /v1/listen.")
    encoding = param(query, "encoding")
    if encoding is not None and encoding not in _ENCODINGS:
        raise _bad_query(f"Invalid encoding {encoding}: Flux takes {', '.join(_ENCODINGS)}.")
    rate = param(query, "sample_rate")
    if rate is not None and not (rate.isdigit() and int(rate) > 0):
        raise _bad_query(f"Invalid sample_rate {rate}: a positive integer is required.")
    if encoding is not None and rate is None:
        raise _bad_query(f"sample_rate is required with encoding={encoding}.")
    for name in _BOOLEANS:
        value = param(query, name)
        if value is not None and value not in ("true", "false"):
            raise _bad_query(f"Invalid {name} {value}: use true or false.")
    for value in query.get("redact", []):
        if value not in _REDACT:
            raise _bad_query(f"Invalid redact {value}: Flux redacts numbers or aggressive_numbers.")
    hints = query.get("language_hint", [])
    if hints and model != _MULTI:
        raise _bad_query(f"language_hint is only supported by {_MULTI}.")
    if not all(hint.strip() for hint in hints):
        raise _bad_query("language_hint must not be empty.")
    try:
        values = {
            name: _threshold(name, _query_number(name, text))
            for name in _RANGES
            if (text := param(query, name)) is not None
        }
        settings = _with_thresholds(ListenV2Settings(), values)
    except _Invalid as exc:
        raise _bad_query(exc.description) from None
    return attrs.evolve(
        settings,
        model=model,
        encoding=encoding,
        sample_rate=None if rate is None else int(rate),
        keyterms=tuple(query.get("keyterm", [])),
        language_hints=tuple(hints),
        numerals=flag(query, "numerals"),
    )


def _configured(settings: ListenV2Settings, message: Mapping[str, Any]) -> ListenV2Settings:
    """``settings`` changed by a ``Configure`` message; raises :class:`_Invalid`."""
    thresholds = message.get("thresholds")
    if thresholds is not None:
        if not isinstance(thresholds, dict):
            raise _Invalid("INVALID_THRESHOLDS", "thresholds must be an object.")
        settings = _with_thresholds(
            settings,
            {
                name: _threshold(name, thresholds[name])
                for name in _RANGES
                if thresholds.get(name) is not None
            },
        )
    keyterms = message.get("keyterms")
    if keyterms is not None:
        if isinstance(keyterms, str):
            keyterms = [keyterms]
        if not isinstance(keyterms, list) or not all(isinstance(k, str) for k in keyterms):
            raise _Invalid("INVALID_KEYTERMS", "keyterms must be a string or a list of strings.")
        # Keyterms replace the previous ones; they are not merged.
        settings = attrs.evolve(settings, keyterms=tuple(keyterms))
    hints = message.get("language_hints")
    if hints is not None:
        if settings.model != _MULTI:
            raise _Invalid(
                "LANGUAGE_HINTS_NOT_SUPPORTED", f"language_hints require the {_MULTI} model."
            )
        if not isinstance(hints, list) or not all(isinstance(h, str) and h.strip() for h in hints):
            raise _Invalid(
                "INVALID_LANGUAGE_HINTS", "language_hints must be a list of non-empty strings."
            )
        settings = attrs.evolve(settings, language_hints=tuple(hints))
    numerals = message.get("numerals")
    if numerals is not None:
        if not isinstance(numerals, bool):
            raise _Invalid("INVALID_NUMERALS", "numerals must be true or false.")
        settings = attrs.evolve(settings, numerals=numerals)
    return settings


# --- The ears -------------------------------------------------------------------------


@attrs.frozen
class FluxWord:
    """A word the user said, as a ``TurnInfo`` reports it: times are seconds of the
    stream."""

    word: str
    start: float
    end: float
    confidence: float


FluxHearing = Literal["latest", "final", "closing"]
"""What the server asks a turn's words for: ``"latest"`` for a ``StartOfTurn``,
``Update`` or ``TurnResumed`` (the words heard so far, at once); ``"final"`` for an
``EagerEndOfTurn`` or ``EndOfTurn`` (every word up to its end: the transcript the client
acts on); ``"closing"`` for the ``Update`` that ``CloseStream`` sends for a turn left
open (every word of its speech)."""


class FluxEars(Protocol):
    """What the Flux server makes of the user's words: one per session.

    The server takes the turns (by loudness, the same for every brain, so that turns
    follow the protocol whoever hears the words) and tells the ears what it hears; the
    ears tell it the words of the turn. :mod:`dgtrio.testing`'s read them from a
    :class:`FluxScript`, :mod:`dgtrio.local`'s recognise them.

    :meth:`refusal` is asked at the handshake; then :meth:`open`, and for each frame
    of audio :meth:`hear`, then as its windows are heard :meth:`speech`,
    :meth:`turn_started`, :meth:`words` and :meth:`turn_ended`, then :meth:`heard`.
    Positions are samples at the stream's rate (bytes for audio the server cannot
    decode), counted from the stream's start, so that timing does not drift with float
    rounding.
    """

    def refusal(self, settings: ListenV2Settings) -> str | None:
        """Why these ears cannot hear a stream with ``settings`` (the handshake is
        refused with it), or None."""
        ...

    def open(self, settings: ListenV2Settings, rate: int, nursery: trio.Nursery) -> None:
        """The session starts: positions are samples at ``rate`` per second; work in
        ``nursery`` runs in the background until the session ends."""
        ...

    def hear(self, audio: bytes) -> None:
        """Audio as the client sent it, before the server hears its windows: ears that
        decode it hold it for the words the server will ask for."""
        ...

    def speech(self, start: int, end: int, spoken: int) -> None:
        """A loud window, from ``start`` to ``end``; ``spoken``: the loud samples since
        the turn's speech began, before it (0: a run of speech that may start a turn
        begins here)."""
        ...

    def heard(self, pending: int) -> None:
        """The audio last given to :meth:`hear` is heard, and what it brought is sent.
        No turn to come starts before ``pending`` (where a run of speech too short to
        start one yet began, or else where the audio heard ends); in a turn it is the
        turn's start. Ears that hold audio may let go of what no turn needs."""
        ...

    def turn_started(self, start: int) -> None:
        """``StartOfTurn``: the turn's speech began at ``start``."""
        ...

    async def words(self, end: int, hearing: FluxHearing) -> Sequence[FluxWord]:
        """The words of the turn, up to ``end`` (see :data:`FluxHearing`). An
        ``EagerEndOfTurn`` without words is not sent (a cough is no reason to start
        replying), nor another before more speech."""
        ...

    def turn_ended(self) -> None:
        """``EndOfTurn`` was sent: what follows is the next turn's."""
        ...


# --- The session ----------------------------------------------------------------------


class ListenV2Endpoint:
    """Flux (``/v2/listen``) for one session: the protocol and its turn-taking, with
    the words from ``ears``.

    While an ``EagerEndOfTurn`` stands (no speech since), its words are the turn's:
    the ``Update`` and ``EndOfTurn`` that follow repeat them, as Flux promises.

    Args:
        script: the levels and pauses that take turns (see :class:`FluxScript`).
        ears: what the user says in them.
    """

    def __init__(self, script: FluxScript, ears: FluxEars) -> None:
        check_value(type(self).__name__, "script", script, FluxScript)
        check_brain(type(self).__name__, "ears", ears, FluxEars)
        self._script = script
        self._ears = ears

    def check(self, query: Query) -> tuple[str, str] | None:
        """Refuse the upgrade as Deepgram does for bad parameters (HTTP 400), or as
        the ears do for a stream they cannot hear."""
        try:
            self._settings = _check_query(query)  # the session starts with these
        except _Invalid as exc:
            return exc.code, exc.description
        refusal = self._ears.refusal(self._settings)
        if refusal is not None:
            return "INVALID_QUERY_PARAMETER", refusal
        return None

    async def run(self, session: Session) -> None:
        """``Connected``, then the client's frames until either side closes."""
        self._setup(session)
        async with trio.open_nursery() as nursery:
            self._ears.open(self._settings, self._rate, nursery)
            await self._serve()
            nursery.cancel_scope.cancel()

    async def _serve(self) -> None:
        session = self._session
        await self._send({"type": "Connected", "request_id": session.request_id})
        while (frame := await session.receive()) is not None:
            if isinstance(frame, bytes):
                await self._on_audio(frame)
                continue
            message = parse_message(frame)
            kind = None if message is None else message["type"]
            if message is not None and kind == "Configure":
                await self._configure(message)
            elif kind == "ForceEndTurn":
                if self._in_turn:  # without a turn in progress there is nothing to end
                    await self._end_turn(self._received, "manual")
            elif kind == "CloseStream":
                await self._close_stream()
                return
            else:
                problem = "not a JSON object with a type" if kind is None else f"type {kind!r}"
                await self._send(
                    {
                        "type": "Error",
                        "code": "UNPARSABLE_CLIENT_MESSAGE",
                        "description": f"Could not parse client message: {problem}.",
                    }
                )
                await session.close(1011)
                return

    def _setup(self, session: Session) -> None:
        self._session = session
        encoding = self._settings.encoding or ""
        width = SAMPLE_WIDTH.get(encoding)
        self._loudness: LoudnessWindows | None = None
        if width is None:
            # Opus or a container: counted as quiet bytes, so that Updates still flow.
            self._width, self._rate = 1, _COMPRESSED_BYTES_PER_SECOND
            self._window = round(self._rate * _WINDOW_SECONDS)
        else:
            self._width, self._rate = width, self._settings.sample_rate or 0
            self._loudness = LoudnessWindows(encoding, self._rate, _WINDOW_SECONDS)
            self._window = self._loudness.samples
        self._sequence = itertools.count()
        self._bytes = 0  # of audio received
        self._heard = 0  # samples cut into windows and heard
        self._reported = 0  # where the last TurnInfo's audio window ended
        self._turn_index = 0
        self._in_turn = False  # StartOfTurn was sent, EndOfTurn not yet
        self._eager = False  # EagerEndOfTurn was sent, and there was no speech since
        self._eager_words: Sequence[FluxWord] = ()  # its words
        self._declined = False  # an EagerEndOfTurn had no words: none till speech
        self._start = 0  # where the turn's speech (or a run of loud windows) began
        self._loud = 0  # samples of loud audio since then
        self._quiet = 0  # samples of quiet since the last loud window

    def _samples(self, seconds: float) -> int:
        return round(seconds * self._rate)

    def _seconds(self, samples: int) -> float:
        return round(samples / self._rate, 3)

    @property
    def _received(self) -> int:
        return self._bytes // self._width

    async def _send(self, message: Mapping[str, Any]) -> None:
        await self._session.send_json({**message, "sequence_id": next(self._sequence)})

    # --- Hearing ---------------------------------------------------------------------

    async def _on_audio(self, data: bytes) -> None:
        """Hear ``data`` window by window, sending what each window brings, in order."""
        self._ears.hear(data)
        self._bytes += len(data)
        if self._loudness is not None:
            windows = list(self._loudness.feed(data, self._script.speech_threshold))
        else:
            windows = [False] * (self._received // self._window - self._heard // self._window)
        for loud in windows:
            start, end = self._heard, self._heard + self._window
            # An Update due exactly at the window's end waits for the window: a state
            # change there replaces it.
            await self._updates(end, inclusive=False)
            self._heard = end
            await self._on_window(loud, start, end)
        await self._updates(self._received, inclusive=True)
        self._ears.heard(self._start if self._loud else self._heard)

    async def _updates(self, limit: int, *, inclusive: bool) -> None:
        """An ``Update`` for each interval of audio before ``limit`` not yet reported."""
        interval = self._samples(self._script.update_interval)
        while (due := self._reported + interval) < limit or (inclusive and due == limit):
            await self._turn_info("Update", due)

    async def _on_window(self, loud: bool, start: int, end: int) -> None:
        size = end - start
        if loud:
            self._declined = False
            if not self._in_turn and self._loud == 0:
                self._start = start
            self._ears.speech(start, end, self._loud)
            self._loud += size
            self._quiet = 0
            if not self._in_turn and self._loud >= self._samples(self._script.speech_onset):
                self._in_turn = True
                self._ears.turn_started(self._start)
                await self._turn_info("StartOfTurn", end)
            elif self._eager:
                self._eager, self._eager_words = False, ()
                await self._turn_info("TurnResumed", end)
            return
        self._quiet += size
        if not self._in_turn:
            self._loud = 0  # too short a sound to start a turn
            return
        trigger = self._end_trigger()
        if trigger is not None:
            await self._end_turn(end, trigger)
        elif self._eager_due():
            words = await self._ears.words(end, "final")
            if not words:
                self._declined = True
                return
            self._eager, self._eager_words = True, words
            await self._turn_info("EagerEndOfTurn", end)

    def _end_trigger(self) -> str | None:
        """What ends the turn after the quiet so far, if anything does."""
        settings = self._settings
        model_on = settings.eot_threshold < 1.0  # 1.0 turns the model's end of turn off
        if model_on and self._quiet >= self._samples(self._script.end_of_turn_silence):
            return "model"
        if self._quiet >= self._samples(settings.eot_timeout_ms / 1000):
            return "timeout"
        return None

    def _eager_due(self) -> bool:
        return (
            self._settings.eager_eot_threshold is not None
            and not self._eager
            and not self._declined
            and self._quiet >= self._samples(self._script.eager_silence)
        )

    async def _end_turn(self, end: int, trigger: str) -> None:
        await self._turn_info("EndOfTurn", end, trigger, "final")
        self._ears.turn_ended()
        self._turn_index += 1
        self._in_turn = self._eager = False
        self._eager_words = ()
        self._loud = 0

    def _confidence(self) -> float:
        """How sure the server is that the turn is over: rises with the quiet (see
        :class:`FluxScript`)."""
        if self._quiet == 0:
            return 0.0
        settings = self._settings
        knots = [(0, 0.0)]
        if settings.eager_eot_threshold is not None:
            knots.append((self._samples(self._script.eager_silence), settings.eager_eot_threshold))
        knots.append((self._samples(self._script.end_of_turn_silence), settings.eot_threshold))
        for (x0, y0), (x1, y1) in itertools.pairwise(knots):
            if self._quiet <= x1:  # and above x0, so x1 > x0
                return round(y0 + (y1 - y0) * (self._quiet - x0) / (x1 - x0), 3)
        return settings.eot_threshold

    async def _words(self, end: int, hearing: FluxHearing) -> Sequence[FluxWord]:
        if not self._in_turn:
            return ()
        if self._eager:  # its words stand until speech resumes
            return self._eager_words
        return await self._ears.words(end, hearing)

    async def _turn_info(
        self, event: str, end: int, trigger: str | None = None, hearing: FluxHearing = "latest"
    ) -> None:
        """A ``TurnInfo`` for the audio up to ``end``: the turn's, or since the last one."""
        words = await self._words(end, hearing)
        message: dict[str, Any] = {
            "type": "TurnInfo",
            "request_id": self._session.request_id,
            "event": event,
            "turn_index": self._turn_index,
            "audio_window_start": self._seconds(self._start if self._in_turn else self._reported),
            "audio_window_end": self._seconds(end),
            "transcript": " ".join(word.word for word in words),
            "words": [
                {"word": w.word, "confidence": w.confidence, "start": w.start, "end": w.end}
                for w in words
            ],
            "end_of_turn_confidence": self._confidence(),
        }
        if trigger is not None:
            message["trigger"] = trigger
        if self._settings.model == _MULTI and words:
            message["languages"] = ["en"]  # the only language the server's ears hear
        if self._settings.language_hints:
            message["languages_hinted"] = list(self._settings.language_hints)
        self._reported = end
        await self._send(message)

    # --- Client messages -------------------------------------------------------------

    async def _configure(self, message: Mapping[str, Any]) -> None:
        try:
            settings = _configured(self._settings, message)
        except _Invalid as exc:
            await self._send(
                {
                    "type": "ConfigureFailure",
                    "request_id": self._session.request_id,
                    "code": exc.code,
                    "description": exc.description,
                }
            )
            return
        self._settings = settings
        reply: dict[str, Any] = {
            "type": "ConfigureSuccess",
            "request_id": self._session.request_id,
            "thresholds": _thresholds(settings),
            "keyterms": list(settings.keyterms),
            "numerals": settings.numerals,
        }
        if settings.model == _MULTI:
            reply["language_hints"] = list(settings.language_hints)
        await self._send(reply)

    async def _close_stream(self) -> None:
        """The pending ``Update`` (no ``EndOfTurn``, no summary), then a close without
        a status, as Flux does."""
        if self._received > self._reported:
            await self._turn_info("Update", self._received, hearing="closing")
        await self._session.close(1005)
