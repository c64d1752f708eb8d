"""The Flux TTS socket (``/v2/speak``), faithful to protocol.md section 9 and to the
official SDK's models and documentation (newer than the schema).

The server speaks each turn with the :class:`~._voice.Voice` it is given, in the
requested format; the voice says how long the audio lasts and, when interrupted, where
in the turn's text the audio heard ends. The protocol:

- The upgrade is refused with HTTP 400 for what Deepgram refuses: no ``model``, an
  Aura voice (``V1_MODEL_ON_V2_SPEAK_ENDPOINT``), a model not shaped
  ``flux-{voice}-{language}``, an encoding or sample rate the socket does not
  stream, a parameter it does not know (batch-only ones included), a bad ``speed``
  (``SPEED_OUT_OF_RANGE``, ``SPEED_INCREMENT_INVALID``, ``SPEED_NOT_SUPPORTED``) or
  ``expressivity`` (``EXPRESSIVITY_OUT_OF_RANGE``, ``EXPRESSIVITY_INCREMENT_INVALID``).
- ``Connected`` comes first. The first ``Speak`` opens a turn, later ones add to it;
  one turn is active at a time, and text after a ``Flush`` opens a turn that waits
  behind it. The active turn gets ``SpeechStarted`` (``speech_id`` ``dg_sp_`` and
  12 hex digits), and its audio streams as its text arrives (whole chunks until it
  is flushed). Flushed: ``Flushed``, the rest of its audio, ``SpeechMetadata``. A
  ``Flush`` with no turn to end gets ``Warning`` ``NO_ACTIVE_SPEECH``; a turn of
  whitespace and punctuation gets ``NO_SYNTHESIZABLE_TEXT`` and a zero-length
  ``SpeechMetadata``.
- ``Interrupt`` stops the audio, drops the turns waiting, and after
  :attr:`~._speech.SpeakLimits.interrupt_seconds` answers ``SpeechInterrupted``
  about the active turn (else the last one spoken): with a ``playback_offset``, its
  text split where that much of its audio had played (where the voice says, at a
  word boundary), and the session's audio total rebased onto the offset; without
  one, the server's own total. It is ignored with a ``Warning`` before any audio
  (``NO_AUDIO_GENERATED``), while the one before is handled
  (``INTERRUPT_IN_PROGRESS``), or for an offset that does not advance past the last
  one (``INVALID_INTERRUPT_OFFSET``).
- ``Configure`` sets ``speed`` (``ConfigureSuccess`` with the configuration set so
  far) or is refused (``ConfigureFailure``): out of 0.5 to 1.5, off the 0.05 grid,
  a voice without speed control (not English), or a speed other than 1 while a
  waiting turn carries a pronunciation control. A new speed applies to the text
  that comes after it.
- Inline pronunciation controls (``\\{"word": ..., "pronounce": ...\\}``) are
  counted in ``controls_applied`` and billed as their word; one on a session whose
  speed is not 1, or any pause marker, is a fatal ``Error`` ``DATA-0002``.
- ``Close``: the turns are finished (the open one without a ``Flushed``), then
  ``SessionMetadata``, then close 1000.
- Fatal errors are an ``Error`` message, then a close with the TTS close code:
  ``MESSAGE-0000`` (not JSON, an unknown type or a mistyped field; 1003),
  ``DATA-0000`` (a binary frame or a malformed ``playback_offset``; 1008),
  ``DATA-0002`` (1008), ``BIG-0000`` (text over ``max_characters``; 1009).
"""

from __future__ import annotations

import math
import re
import secrets
from collections.abc import Mapping
from typing import Any

import attrs
import trio

from .._validate import check_value
from ..audio import AudioFormat
from ._common import MODEL_VERSION, Query, check_brain, model_uuid, param, parse_message
from ._session import Session
from ._speech import SpeakLimits, check_output, number
from ._voice import SpeechSettings, Utterance, Voice

__all__ = ["SpeakV2Endpoint"]

_SAMPLE_RATES: dict[str, tuple[str, ...]] = {
    "linear16": ("24000", "8000", "16000", "32000", "44100", "48000"),
    "mulaw": ("8000", "16000"),
    "alaw": ("8000", "16000"),
}
_QUERY = frozenset(
    {"model", "encoding", "sample_rate", "speed", "expressivity", "mip_opt_out", "tag"}
)
_CLIENT_TYPES = frozenset({"Speak", "Flush", "Interrupt", "Configure", "Close"})
_MODEL = re.compile(r"flux-[a-z0-9]+(?:-[a-z0-9]+)*-([a-z0-9]+)")
_SPEED_LANGUAGES = ("en",)  # Flux TTS voice controls are available in English
_SPEEDS = (0.5, 1.5)
_PAUSE = re.compile(r"\\\{pause:[^{}\\]*\\\}|\{pause:\{duration_ms:[^{}]*\}\}")
_PRONUNCIATION = re.compile(
    r'\\\{"word":\s*"((?:[^"\\]|\\.)*)",\s*"pronounce":\s*"(?:[^"\\]|\\.)*"\\\}'
)
_IGNORED = {
    "NO_AUDIO_GENERATED": "No audio has been generated yet; nothing to interrupt.",
    "INTERRUPT_IN_PROGRESS": "An earlier Interrupt is still being processed.",
    "INVALID_INTERRUPT_OFFSET": "playback_offset must advance past the previous interrupt.",
}
# Fatal errors: the Error message's code and description, and the close code.
_FATAL: dict[str, tuple[str, int]] = {
    "MESSAGE-0000": ("The message could not be parsed.", 1003),
    "DATA-0000": ("The message contained an invalid command.", 1008),
    "DATA-0002": ("", 1008),
    "BIG-0000": ("The message was too large to process.", 1009),
}


class _Fatal(Exception):
    def __init__(self, code: str, description: str = "") -> None:
        super().__init__(code)
        self.code = code
        self.description = description or _FATAL[code][0]


def _speed_problem(value: float, language: str) -> tuple[str, str] | None:
    """Why a speed is refused (a ``ConfigureFailure`` or 400 code, and a text)."""
    if language not in _SPEED_LANGUAGES:
        return "SPEED_NOT_SUPPORTED", f"Voices in {language!r} have no speed control."
    low, high = _SPEEDS
    if not low <= value <= high:
        return "SPEED_OUT_OF_RANGE", f"speed must be between {low:g} and {high:g}."
    if not math.isclose(value * 20, round(value * 20), abs_tol=1e-6):
        return "SPEED_INCREMENT_INVALID", "speed must be a multiple of 0.05."
    return None


def _billable(text: str) -> tuple[str, int]:
    """The text as billed and spoken (each pronunciation control as its word), and the
    number of pronunciation controls."""
    return _PRONUNCIATION.subn(lambda match: match.group(1), text)


def _words(text: str) -> str:
    """The words Flux says for a text: each pronunciation control as its word, and
    nothing for a text of whitespace and punctuation."""
    spoken = _billable(text)[0]
    return spoken if any(c.isalnum() for c in spoken) else ""


@attrs.define(eq=False)
class _Turn:
    """One turn: its text, and its utterance in the session's voice."""

    utterance: Utterance
    texts: list[str] = attrs.Factory(list)
    flushed: bool = False  # by a Flush (a Close finishes it without)
    flushed_sent: bool = False
    speech_id: str | None = None  # once active
    start_sample: int = 0  # the session's sample count when it became active
    start_ms: float = 0.0  # where its audio begins in the session's audio
    speakable: bool = False  # some text so far had words to say
    pronunciations: int = 0

    @property
    def text(self) -> str:
        return "".join(self.texts)


@attrs.frozen
class _Interruption:
    """An ``Interrupt`` accepted, for the worker to answer: its offset, and the turn."""

    offset: int | None
    turn: _Turn


class SpeakV2Endpoint:
    """One Flux TTS session of the server, speaking with ``voice`` within ``limits``.

    The session's task reads client frames and answers what is immediate
    (warnings, ``Configure``, fatal errors); a worker task synthesises the active
    turn and answers interrupts, so that reading never waits for synthesis.
    """

    def __init__(self, voice: Voice, limits: SpeakLimits | None = None) -> None:
        check_brain(type(self).__name__, "voice", voice, Voice)
        check_value(type(self).__name__, "limits", limits, SpeakLimits | None)
        self._voice = voice
        self._limits = limits or SpeakLimits()
        self._turns: list[_Turn] = []  # the active one first
        self._last: _Turn | None = None  # the last turn spoken to its end
        self._changed = trio.Event()  # the worker looks again
        self._interruption: _Interruption | None = None  # accepted, not answered
        self._synthesis: trio.CancelScope | None = None
        self._closing = False
        self._baseline: int | None = None  # where the last interrupt put playback
        self._samples = 0  # the session's audio samples sent
        # The session's audio position: where the audio generated so far ends, in
        # ms, counted from the session's sample count at the last rebase.
        self._rebase_ms = 0.0
        self._rebase_sample = 0
        self._input_characters = 0
        self._billable_characters = 0

    def check(self, query: Query) -> tuple[str, str] | None:
        """Refuse the upgrade as Deepgram does for bad parameters (HTTP 400)."""
        unknown = sorted(set(query) - _QUERY)
        if unknown:
            return (
                "INVALID_QUERY_PARAMETER",
                f"Unknown query parameter {unknown[0]!r}: the streaming connection takes "
                f"{', '.join(sorted(_QUERY))}.",
            )
        model = param(query, "model")
        if model is None:
            return "INVALID_QUERY_PARAMETER", "model is required on every /v2/speak connection."
        if model.startswith("aura"):
            return "V1_MODEL_ON_V2_SPEAK_ENDPOINT", f"Model {model} requires /v1/speak."
        shape = _MODEL.fullmatch(model)
        if shape is None:
            return (
                "INVALID_QUERY_PARAMETER",
                f"Invalid model {model!r}: Flux voices are flux-{{voice}}-{{language}}.",
            )
        problem = check_output(query, _SAMPLE_RATES)
        if problem is not None:
            return problem
        speed = param(query, "speed")
        if speed is not None:
            value = number(speed)
            if value is None:
                return "INVALID_QUERY_PARAMETER", f"Invalid speed {speed!r}."
            problem = _speed_problem(value, shape.group(1))
            if problem is not None:
                return problem
        expressivity = param(query, "expressivity")
        if expressivity is not None:
            value = number(expressivity)
            if value is None:
                return "INVALID_QUERY_PARAMETER", f"Invalid expressivity {expressivity!r}."
            if not -2 <= value <= 2:
                return "EXPRESSIVITY_OUT_OF_RANGE", "expressivity must be between -2 and 2."
            if value != int(value):
                return "EXPRESSIVITY_INCREMENT_INVALID", "expressivity must be a whole number."
        return None

    # -- the session -------------------------------------------------------------------------

    async def run(self, session: Session) -> None:
        """``Connected``, then the client's frames until either side closes."""
        self._session = session
        query = session.query
        model = param(query, "model") or ""
        encoding = param(query, "encoding", "linear16") or "linear16"
        rate = int(param(query, "sample_rate", _SAMPLE_RATES[encoding][0]) or 0)
        self._format = AudioFormat(encoding, rate)  # type: ignore[arg-type] # checked
        self._settings = SpeechSettings(self._format, self._limits.chunk_samples(rate), _words)
        speed = param(query, "speed")
        self._speed_set = speed is not None  # Configure reports what was set
        self._speed = number(speed) or 1.0
        match = _MODEL.fullmatch(model)
        self._language = match.group(1) if match else ""
        await self._send(
            {
                "type": "Connected",
                "request_id": session.request_id,
                "model_name": model,
                "model_version": MODEL_VERSION,
                "model_uuids": [model_uuid(model)],
            }
        )
        fatal: _Fatal | None = None
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._work)
            try:
                closing = await self._serve()
            except _Fatal as exc:
                fatal, closing = exc, False
            if not closing:
                nursery.cancel_scope.cancel()  # the worker's frame being sent goes out whole
        if fatal is not None:
            await self._send(
                {"type": "Error", "code": fatal.code, "description": fatal.description}
            )
            await session.close(_FATAL[fatal.code][1], fatal.code)
        elif closing:
            await session.close(1000)

    async def _send(self, message: Mapping[str, Any] | bytes) -> None:
        """Send a message or audio chunk, whole (a cancelled worker stops before it)."""
        await self._session.send_whole(message)

    async def _send_audio(self, chunk: bytes) -> None:
        """Send an audio chunk of the voice's, whole, counting its samples."""
        await self._session.send_whole(chunk)
        self._samples += len(chunk) // self._format.sample_width

    async def _warn(self, code: str, description: str) -> None:
        await self._send({"type": "Warning", "code": code, "description": description})

    def _wake(self) -> None:
        self._changed.set()
        self._changed = trio.Event()

    async def _serve(self) -> bool:
        """Handle client frames; True when the client sent ``Close``."""
        while (frame := await self._session.receive()) is not None:
            if isinstance(frame, bytes):
                raise _Fatal("DATA-0000", "Binary frames are not accepted on /v2/speak.")
            message = parse_message(frame)
            kind = None if message is None else message["type"]
            if message is None or kind not in _CLIENT_TYPES:
                raise _Fatal("MESSAGE-0000")
            if kind == "Speak":
                self._speak(message)
            elif kind == "Flush":
                await self._flush()
            elif kind == "Interrupt":
                await self._interrupt(message)
            elif kind == "Configure":
                await self._configure(message)
            else:
                self._closing = True
                self._wake()
                return True
        return False

    def _speak(self, message: Mapping[str, Any]) -> None:
        text = message.get("text")
        if not isinstance(text, str):
            raise _Fatal("MESSAGE-0000")
        if len(text) > self._limits.max_characters:
            raise _Fatal("BIG-0000")
        if _PAUSE.search(text):
            raise _Fatal(
                "DATA-0002",
                "Inline pause controls are supported on batch requests only; "
                "remove the pause marker from streaming text.",
            )
        spoken, pronunciations = _billable(text)
        if pronunciations and self._speed != 1.0:
            raise _Fatal(
                "DATA-0002",
                "Pronunciation controls cannot be combined with a speed other than 1.0.",
            )
        if not self._turns or self._turns[-1].flushed:
            self._turns.append(_Turn(self._voice.utterance(self._settings)))
        turn = self._turns[-1]
        turn.texts.append(text)
        turn.pronunciations += pronunciations
        self._input_characters += len(text)
        self._billable_characters += len(spoken)
        turn.utterance.add(text, self._speed)  # spoken at the speed in force now
        turn.speakable = turn.speakable or bool(_words(turn.text))
        self._wake()

    async def _flush(self) -> None:
        if not self._turns or self._turns[-1].flushed:
            await self._warn(
                "NO_ACTIVE_SPEECH", "There is no active turn. The request will be ignored."
            )
            return
        turn = self._turns[-1]
        turn.flushed = True
        if turn.speech_id is not None and not turn.flushed_sent:
            # The active turn is speaking: Flushed goes out now, between its audio
            # chunks, not once the audio under way is done.
            turn.flushed_sent = True
            await self._send({"type": "Flushed", "speech_id": turn.speech_id})
        self._wake()

    async def _interrupt(self, message: Mapping[str, Any]) -> None:
        offset: int | None = None
        playback = message.get("playback_offset")
        if playback is not None:
            value = playback.get("value") if isinstance(playback, dict) else None
            if (
                not isinstance(playback, dict)
                or playback.get("type") != "time_ms"
                or isinstance(value, bool)
                or not isinstance(value, int)
                or value < 0
            ):
                raise _Fatal("DATA-0000", "playback_offset must be {type: time_ms, value: ms}.")
            offset = value
        if self._interruption is not None:
            code = "INTERRUPT_IN_PROGRESS"
        elif not self._samples:
            code = "NO_AUDIO_GENERATED"
        elif offset is not None and self._baseline is not None and offset <= self._baseline:
            code = "INVALID_INTERRUPT_OFFSET"
        else:
            active = self._turns[0] if self._turns and self._turns[0].speech_id else None
            turn = active or self._last
            assert turn is not None  # audio was generated: some turn spoke it
            self._interruption = _Interruption(offset, turn)
            self._turns.clear()  # the active turn is cancelled, those waiting dropped
            if self._synthesis is not None:
                self._synthesis.cancel()
            self._wake()
            return
        await self._warn(code, _IGNORED[code])

    async def _configure(self, message: Mapping[str, Any]) -> None:
        speed = message.get("speed")
        if speed is not None:
            if isinstance(speed, bool) or not isinstance(speed, int | float):
                raise _Fatal("MESSAGE-0000")
            problem = _speed_problem(speed, self._language)
            if problem is None and speed != 1 and any(t.pronunciations for t in self._turns[1:]):
                problem = (
                    "CONTROL_COMBINATION_INVALID",
                    "A queued turn carries a pronunciation control: flush it before setting speed.",
                )
            if problem is not None:
                code, description = problem
                failure: dict[str, Any] = {
                    "type": "ConfigureFailure",
                    "code": code,
                    "field": "speed",
                    "description": description,
                }
                if code != "SPEED_NOT_SUPPORTED":  # a property of the voice: no value
                    failure["value"] = speed
                await self._send(failure)
                return
            self._speed, self._speed_set = float(speed), True
        applied = {"speed": self._speed} if self._speed_set else {}
        await self._send({"type": "ConfigureSuccess", "applied": applied})

    # -- the worker ------------------------------------------------------------------------

    @property
    def _position_ms(self) -> float:
        """Where the session's audio generated so far ends."""
        return self._rebase_ms + self._ms(self._samples - self._rebase_sample)

    def _ms(self, samples: int) -> float:
        return samples * 1000 / self._format.sample_rate

    async def _work(self) -> None:
        """Synthesise the active turn and answer interrupts until the session ends."""
        while True:
            changed = self._changed
            if self._interruption is not None:
                await self._answer(self._interruption)
                self._interruption = None
                continue
            if not self._turns:
                if self._closing:
                    await self._send(
                        {
                            "type": "SessionMetadata",
                            "total_audio_duration_ms": round(self._position_ms),
                            "total_input_character_count": self._input_characters,
                            "total_billable_character_count": self._billable_characters,
                        }
                    )
                    return
                await changed.wait()
                continue
            with trio.CancelScope() as self._synthesis:
                if not await self._synthesise(self._turns[0]):
                    await changed.wait()
            self._synthesis = None

    async def _synthesise(self, turn: _Turn) -> bool:
        """Speak what can be spoken of the active turn now, and finish it if it is
        ended; whether there was anything to do."""
        if turn.speech_id is None:
            turn.speech_id = f"dg_sp_{secrets.token_hex(6)}"
            turn.start_sample, turn.start_ms = self._samples, self._position_ms
            await self._send({"type": "SpeechStarted", "speech_id": turn.speech_id})
        ending = turn.flushed or self._closing
        if turn.flushed and not turn.flushed_sent:
            turn.flushed_sent = True
            await self._send({"type": "Flushed", "speech_id": turn.speech_id})
        if await turn.utterance.say(ending, self._send_audio):
            return True
        if not ending:
            return False
        if not turn.speakable:
            await self._warn("NO_SYNTHESIZABLE_TEXT", "The turn's text has nothing to speak.")
        await self._send({"type": "SpeechMetadata", **self._turn_metadata(turn, None)})
        self._turns.remove(turn)
        self._last = turn
        return True

    def _turn_metadata(self, turn: _Turn, played_ms: float | None) -> dict[str, Any]:
        """A turn's billing and timing: its audio (``played_ms`` of it, if given)."""
        produced = self._ms(self._samples - turn.start_sample)
        if turn is self._last:  # other turns were spoken since: its own audio only
            produced = turn.utterance.duration_ms()
        spoken = _billable(turn.text)[0]
        return {
            "speech_id": turn.speech_id,
            "audio_duration_ms": round(produced if played_ms is None else played_ms),
            "input_character_count": len(turn.text),
            "billable_character_count": len(spoken),
            "controls_applied": {
                "pronunciations_applied": turn.pronunciations,
                "breaks_applied": 0,
                "pronunciation_warnings": 0,
            },
        }

    async def _answer(self, interruption: _Interruption) -> None:
        """``SpeechInterrupted`` for an interrupt (the audio has stopped)."""
        await trio.sleep(self._limits.interrupt_seconds)
        total = self._position_ms
        offset, turn = interruption.offset, interruption.turn
        played = total if offset is None else offset
        answer: dict[str, Any] = {"type": "SpeechInterrupted", "audio_played_ms": round(played)}
        heard = None
        if offset is not None:
            heard = min(max(offset - turn.start_ms, 0.0), turn.utterance.duration_ms())
            cut = turn.utterance.heard(heard)
            answer["text_spoken"] = turn.text[:cut]
            answer["text_remaining"] = turn.text[cut:]
        answer["metadata"] = self._turn_metadata(turn, heard)
        # The session's audio is now what the client played; later audio follows it.
        self._rebase_ms, self._rebase_sample = played, self._samples
        self._last = turn
        self._baseline = round(played)
        await self._send(answer)
