"""The fake Voice Agent v1 server (``/v1/agent/converse``), faithful to protocol.md section 5.

It has no speech recognition, language model or voice, so it follows an
:class:`AgentScript`: what the user "says" when the energy of the client's audio rises
and falls, what the agent answers and which functions it calls. Everything else
follows the protocol: ``Welcome`` first; ``Settings`` must be the first client message
and comes only once, and is checked against the API spec (an error names the
offending field the way Deepgram does); ``Update*`` messages are checked and
acknowledged; user turns, injected agent messages, barge-in and client- or server-side
function calls produce Deepgram's message sequences; the agent's audio follows
``audio.output`` and lasts as long as its words take to say; and a client that sends
nothing for ``client_timeout`` seconds gets ``CLIENT_MESSAGE_TIMEOUT``.

Think Live (``agent.think_live``, or ``UpdateThink_Live``) is simulated in part: the
user's frustration (the script's cues) gives ``FrustrationDetected``, and a dynamic
``InjectAgentMessage`` is spoken as a ``filler`` line. Backchannels, presence checks
and the filler lines of outstanding function calls are not simulated, but their
settings are checked as Deepgram documents them.
"""

from __future__ import annotations

import itertools
import json
import struct
import uuid
from collections import deque
from collections.abc import Awaitable, Callable, Mapping, Sequence
from functools import partial
from typing import Any, get_args

import attrs
import trio

from .._codec import AudioEncoding
from ..server import Session
from ..server._common import Query, check_hearing, parse_message
from ..server._sound import LoudnessWindows
from ._sound import FILLER, PCM_OUTPUT, tone

__all__ = ["AgentScript", "AgentV1Fake", "ScriptedCall"]


def _check_template(template: str, name: str) -> None:
    try:
        template.format(**{name: ""})
    except (KeyError, IndexError, ValueError) as exc:
        raise ValueError(f"{template!r}: the only placeholder allowed is {{{name}}}") from exc


@attrs.frozen
class ScriptedCall:
    """A function the agent calls when the user's words contain ``when`` (any case).

    The call is made only if the session's think settings declare ``function``. One
    declared without an ``endpoint`` runs on the client: the fake sends a
    ``FunctionCallRequest`` with ``client_side: true`` and waits for the client's
    ``FunctionCallResponse``. One with an ``endpoint`` runs on the server: the fake
    answers it itself with ``server_result``. Either way the agent then says
    ``reply``, with ``{content}`` replaced by the function's result.
    """

    when: str
    function: str
    arguments: Mapping[str, Any]
    reply: str = "{content}"
    server_result: str = '{"ok": true}'

    def __attrs_post_init__(self) -> None:
        if not self.when.strip() or not self.function:
            raise ValueError("a scripted call needs a trigger and a function name")
        json.dumps(self.arguments)  # TypeError now, not mid-session, for non-JSON arguments
        _check_template(self.reply, "content")


@attrs.frozen
class AgentScript:
    """What the fake voice agent hears, answers and calls.

    The fake detects speech from the client's audio: once frames have been louder
    than ``speech_threshold`` (RMS, as a fraction of full scale) for ``speech_onset``
    seconds of audio, the user started speaking; ``end_of_turn`` seconds of quieter
    audio end the turn, which the fake "hears" as the next of ``user_lines`` (cycling).
    ``InjectUserMessage`` makes a user turn of its text.

    To a user turn the agent makes the first of ``calls`` whose ``when`` the text
    contains and whose function the settings declare; otherwise it answers
    ``replies[key]`` for the first key the text contains (ignoring case), or
    ``default_reply`` with ``{text}`` replaced by what it heard. It speaks at
    ``words_per_second``, paced in real time when ``realtime`` (else as fast as the
    socket takes the audio). A client-side call unanswered for ``function_timeout``
    seconds gives a ``FUNCTION_CALL_FAILED`` warning and a reply without its result.

    With Think Live on, a user turn containing one of ``frustration_cues`` (ignoring
    case) is answered after a ``FrustrationDetected``: its ``count`` grows by one each
    time, and ``escalated`` is true from ``frustration_max_count`` on (3 when the
    settings leave it out; 0 sends none). A dynamic ``InjectAgentMessage`` makes the
    agent say ``filler_line``. ``ForceEndTurn`` while the user speaks ends the turn
    at once; otherwise there is no turn to end, and nothing happens.
    """

    user_lines: Sequence[str] = (
        "Hello, can you hear me?",
        "What's the weather like in Paris today?",
        "Thank you, goodbye.",
    )
    replies: Mapping[str, str] = attrs.field(
        factory=lambda: {"hello": "Hi! How can I help you?", "thank": "You're welcome. Goodbye!"}
    )
    default_reply: str = "I heard you say: {text}"
    calls: Sequence[ScriptedCall] = (
        ScriptedCall(
            "weather", "get_weather", {"city": "Paris"}, reply="Here is the weather: {content}"
        ),
    )
    frustration_cues: Sequence[str] = ("ridiculous", "useless", "frustrat", "not what i asked")
    filler_line: str = "One moment, please."
    words_per_second: float = 2.5
    speech_threshold: float = 0.02
    speech_onset: float = 0.2
    end_of_turn: float = 0.8
    function_timeout: float = 30.0
    realtime: bool = True

    def __attrs_post_init__(self) -> None:
        check_hearing(
            self.user_lines,
            "user_lines",
            self.speech_threshold,
            self.words_per_second,
            self.speech_onset,
            self.end_of_turn,
            self.function_timeout,
        )
        _check_template(self.default_reply, "text")
        if isinstance(self.frustration_cues, str) or not all(
            isinstance(cue, str) and cue.strip() for cue in self.frustration_cues
        ):
            raise ValueError("frustration_cues is a list of non-empty strings")
        if not self.filler_line.strip():
            raise ValueError("filler_line is blank: the agent would have nothing to say")


# --- Checking client messages against the API spec -------------------------------------

Check = Callable[[Any], bool]
# (dotted key, check, required): a key is only looked at when its parent object is
# there, so "audio.input.encoding" is required only when "audio.input" is given.
Fields = tuple[tuple[str, Check, bool], ...]
REQUIRED, OPTIONAL = True, False

_INPUT_ENCODINGS = get_args(AudioEncoding)
_OUTPUT_ENCODINGS = ("linear16", "mulaw", "alaw", "mp3", "opus", "flac", "aac")


class _Invalid(Exception):
    """A client message field that does not match the API spec, named by its path."""

    def __init__(self, path: str) -> None:
        super().__init__(path)
        self.path = path


def _is_str(value: Any) -> bool:
    return isinstance(value, str)


def _is_bool(value: Any) -> bool:
    return isinstance(value, bool)


def _is_object(value: Any) -> bool:
    return isinstance(value, dict)


def _is_list(value: Any) -> bool:
    return isinstance(value, list)


def _is_str_list(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(item, str) for item in value)


def _is_positive_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


def _is_count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _is_probability(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and 0 <= value <= 1


def _one_of(*choices: str) -> Check:
    return lambda value: value in choices


def _is_agent(value: Any) -> bool:
    """An agent object, or the UUID of an agent stored with Deepgram."""
    if isinstance(value, dict):
        return True
    try:
        uuid.UUID(value)
    except (TypeError, ValueError, AttributeError):
        return False
    return True


_SETTINGS: Fields = (
    ("audio", _is_object, REQUIRED),
    ("audio.input", _is_object, OPTIONAL),
    ("audio.input.encoding", _one_of(*_INPUT_ENCODINGS), REQUIRED),
    ("audio.input.sample_rate", _is_positive_int, REQUIRED),
    ("audio.output", _is_object, OPTIONAL),
    ("audio.output.encoding", _one_of(*_OUTPUT_ENCODINGS), OPTIONAL),
    ("audio.output.sample_rate", _is_positive_int, OPTIONAL),
    ("audio.output.bitrate", _is_positive_int, OPTIONAL),
    ("audio.output.container", _one_of("none", "wav", "ogg"), OPTIONAL),
    ("agent", _is_agent, REQUIRED),
    ("tags", _is_str_list, OPTIONAL),
    ("experimental", _is_bool, OPTIONAL),
    ("mip_opt_out", _is_bool, OPTIONAL),
    ("flags", _is_object, OPTIONAL),
    ("flags.history", _is_bool, OPTIONAL),
)
_LISTEN: Fields = (
    ("listen.provider", _is_object, REQUIRED),
    ("listen.provider.type", _is_str, REQUIRED),
    ("listen.provider.version", _one_of("v1", "v2"), OPTIONAL),
    ("listen.provider.model", _is_str, OPTIONAL),
)
_THINK_LIVE: Fields = (
    ("think_live.provider", _is_object, REQUIRED),
    ("think_live.provider.type", _one_of("deepgram"), REQUIRED),
    ("think_live.provider.version", _one_of("v1"), REQUIRED),
    ("think_live.provider.agent_backchannel_sensitivity", _is_probability, OPTIONAL),
    ("think_live.provider.presence_check_max_count", _is_count, OPTIONAL),
    ("think_live.provider.presence_check_interval_ms", _is_count, OPTIONAL),
    ("think_live.provider.frustration_max_count", _is_count, OPTIONAL),
    ("think_live.provider.restricted_terms", _is_str_list, OPTIONAL),
)
_AGENT: Fields = (
    ("language", _is_str, OPTIONAL),
    ("listen", _is_object, OPTIONAL),
    *_LISTEN,
    ("think_live", _is_object, OPTIONAL),
    *_THINK_LIVE,
    ("greeting", _is_str, OPTIONAL),
)
_THINK: Fields = (
    ("provider", _is_object, REQUIRED),
    ("provider.type", _is_str, REQUIRED),
    ("provider.model", _is_str, REQUIRED),
    ("endpoint", _is_object, OPTIONAL),
    ("endpoint.url", _is_str, REQUIRED),
    ("prompt", _is_str, OPTIONAL),
    ("functions", _is_list, OPTIONAL),
)
_FUNCTION: Fields = (
    ("name", _is_str, REQUIRED),
    ("description", _is_str, OPTIONAL),
    ("parameters", _is_object, OPTIONAL),
    ("endpoint", _is_object, OPTIONAL),
    ("endpoint.url", _is_str, REQUIRED),
    ("defer_until_eot", _is_bool, OPTIONAL),
    ("initial_agent_filler", _is_bool, OPTIONAL),
    ("agent_filler_max_count", _is_count, OPTIONAL),
    ("agent_filler_interval_ms", _is_count, OPTIONAL),
)
_FILLERS = ("initial_agent_filler", "agent_filler_max_count", "agent_filler_interval_ms")
_SPEAK: Fields = (
    ("provider", _is_object, REQUIRED),
    ("provider.type", _is_str, REQUIRED),
    ("endpoint", _is_object, OPTIONAL),
    ("endpoint.url", _is_str, REQUIRED),
)
_SPEAK_PROVIDERS: dict[str, Fields] = {
    "deepgram": (("provider.model", _is_str, REQUIRED),),
    "open_ai": (("provider.model", _is_str, REQUIRED), ("provider.voice", _is_str, REQUIRED)),
    "eleven_labs": (("provider.model_id", _is_str, REQUIRED),),
    "cartesia": (
        ("provider.model_id", _is_str, REQUIRED),
        ("provider.voice", _is_object, REQUIRED),
        ("provider.voice.mode", _is_str, REQUIRED),
        ("provider.voice.id", _is_str, REQUIRED),
    ),
    "aws_polly": (
        ("provider.voice", _is_str, REQUIRED),
        ("provider.language", _is_str, REQUIRED),
        ("provider.engine", _is_str, REQUIRED),
        ("provider.credentials", _is_object, REQUIRED),
    ),
}
_INJECT_USER: Fields = (("content", _is_str, REQUIRED),)
_INJECT_AGENT: Fields = (
    ("message", _is_str, REQUIRED),
    ("behavior", _one_of("default", "queue", "interrupt"), OPTIONAL),
)
_INJECT_DYNAMIC: Fields = (
    ("is_dynamic", lambda value: value is True, REQUIRED),
    ("behavior", _one_of("default", "queue", "interrupt"), OPTIONAL),
)
_FUNCTION_RESPONSE: Fields = (
    ("id", _is_str, REQUIRED),
    ("name", _is_str, REQUIRED),
    ("content", _is_str, REQUIRED),
)
_UPDATE_PROMPT: Fields = (("prompt", _is_str, REQUIRED),)
_UPDATE_LISTEN: Fields = (("listen", _is_object, REQUIRED),)
_UPDATE_THINK_LIVE: Fields = (("think_live", _is_object, REQUIRED), *_THINK_LIVE)


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _check(obj: Any, path: str, fields: Fields) -> None:
    """Check the object at ``path`` against ``fields``; raise :class:`_Invalid`."""
    if not isinstance(obj, dict):
        raise _Invalid(path)
    for key, check, required in fields:
        *parents, name = key.split(".")
        parent: Any = obj
        for part in parents:
            parent = parent.get(part) if isinstance(parent, dict) else None
        if not isinstance(parent, dict):
            continue
        value = parent.get(name)
        if (value is None and required) or (value is not None and not check(value)):
            raise _Invalid(_join(path, key))


def _required(message: Mapping[str, Any], key: str) -> Any:
    if message.get(key) is None:
        raise _Invalid(key)
    return message[key]


def _check_listen(parent: dict[str, Any], path: str) -> None:
    """``listen`` in ``parent``: a provider type, and a model for v2 (Flux)."""
    _check(parent, path, _LISTEN)
    provider = (parent.get("listen") or {}).get("provider") or {}
    if provider.get("version") == "v2" and provider.get("model") is None:
        raise _Invalid(_join(path, "listen.provider.model"))


def _items(value: Any, path: str) -> list[tuple[str, Any]]:
    """A provider's settings: one object, or a list of them in fallback order."""
    if isinstance(value, list):
        return [(f"{path}[{index}]", item) for index, item in enumerate(value)]
    return [(path, value)]


def _check_think(value: Any, path: str, *, think_live: bool) -> dict[str, dict[str, Any]]:
    """Check think settings; the functions they declare, by name.

    Deepgram refuses a function's filler field without Think Live, and a filler
    interval outside 1000-60000 ms unless ``agent_filler_max_count`` is 0.
    """
    functions: dict[str, dict[str, Any]] = {}
    for item_path, item in _items(value, path):
        _check(item, item_path, _THINK)
        for index, function in enumerate(item.get("functions") or []):
            where = f"{item_path}.functions[{index}]"
            _check(function, where, _FUNCTION)
            filler = next((name for name in _FILLERS if function.get(name) is not None), None)
            if filler is not None and not think_live:
                raise _Invalid(f"{where}.{filler}")
            interval = function.get("agent_filler_interval_ms")
            ignored = function.get("agent_filler_max_count") == 0
            if interval is not None and not ignored and not 1000 <= interval <= 60000:
                raise _Invalid(f"{where}.agent_filler_interval_ms")
            functions.setdefault(function["name"], function)
    return functions


def _check_speak(value: Any, path: str) -> None:
    for item_path, item in _items(value, path):
        _check(item, item_path, _SPEAK)
        _check(item, item_path, _SPEAK_PROVIDERS.get(item["provider"]["type"], ()))


def _check_settings(
    message: dict[str, Any],
) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    """Check a ``Settings`` message; its agent and the functions that declares.

    A stored agent (a UUID) is known to the fake as one without functions or greeting.
    """
    _check(message, "", _SETTINGS)
    agent = message["agent"]
    if not isinstance(agent, dict):
        return {}, {}
    _check(agent, "agent", _AGENT)
    _check_listen(agent, "agent")
    functions = {}
    if agent.get("think") is not None:
        think_live = agent.get("think_live") is not None
        functions = _check_think(agent["think"], "agent.think", think_live=think_live)
        for path, item in _items(agent["think"], "agent.think"):
            # Deepgram's think-fast needs the Model Improvement Program.
            provider = (item["provider"]["type"], item["provider"]["model"])
            if message.get("mip_opt_out") is True and provider == ("deepgram", "think-fast"):
                raise _Invalid(f"{path}.provider.model")
    if agent.get("speak") is not None:
        _check_speak(agent["speak"], "agent.speak")
    return agent, functions


def _field_error(path: str) -> str:
    return f"Error parsing client message. Check the {path} field against the API spec."


# --- Audio ----------------------------------------------------------------------------

_FRAME_SECONDS = 0.1  # the agent's audio frames
_WINDOW_SECONDS = 0.02  # speech detection looks at the input in windows this long
# Seconds the agent "spent" thinking and synthesising, for the latency messages.
_TTT_LATENCY = 0.42
_TTS_LATENCY = 0.31


@attrs.frozen
class _Output:
    """``audio.output`` of the session's settings; 48 kbit/s unless a bitrate is given."""

    encoding: str = "linear16"
    sample_rate: int = 24000
    bitrate: int = 48000
    container: str = "none"

    def frames(self, seconds: float) -> list[bytes]:
        """``seconds`` of agent speech (the tone) as the frames to send, 100 ms each."""
        pcm = tone(seconds, self.encoding, self.sample_rate) if self.encoding in PCM_OUTPUT else b""
        return self.pack(pcm, seconds)

    def pack(self, audio: bytes, seconds: float) -> list[bytes]:
        """Speech as the frames to send, 100 ms each: ``audio`` in a PCM encoding
        (with a WAV header for ``container: wav``), or ``seconds`` of filler bytes
        standing in for a compressed encoding."""
        if self.encoding in PCM_OUTPUT:
            _, width, wav_format = PCM_OUTPUT[self.encoding]
            rate = self.sample_rate
            frame = width * max(1, round(rate * _FRAME_SECONDS))
            header = b""
            if self.container == "wav":
                header = struct.pack(
                    "<4sI4s4sIHHIIHH4sI",
                    *(b"RIFF", 36 + len(audio), b"WAVE", b"fmt ", 16, wav_format, 1, rate),
                    *(rate * width, width, 8 * width, b"data", len(audio)),
                )
        else:
            size = round(seconds * self.bitrate / 8)
            audio = (FILLER * (size // len(FILLER) + 1))[:size]
            frame, header = max(1, round(self.bitrate / 8 * _FRAME_SECONDS)), b""
        frames = [audio[i : i + frame] for i in range(0, max(len(audio), 1), frame)]
        frames[0] = header + frames[0]
        return frames


# --- The session ----------------------------------------------------------------------

_MISSING = object()
_ACKS = {
    "UpdatePrompt": "PromptUpdated",
    "UpdateSpeak": "SpeakUpdated",
    "UpdateThink": "ThinkUpdated",
    "UpdateListen": "ListenUpdated",
    "UpdateThink_Live": "ThinkLiveUpdated",
}
_FRUSTRATION_MAX_COUNT = 3  # the fake's server default (Deepgram's is not documented)


class AgentV1Fake:
    """One Voice Agent v1 session of the fake server.

    The agent's activity (a user turn, or a speech) runs as jobs, one after the other,
    in their own task, so that the session keeps reading client frames meanwhile; an
    interruption (barge-in, a new user turn, ``InjectAgentMessage`` with
    ``interrupt``) cancels the running job and drops the queued ones.
    """

    def __init__(self, script: AgentScript, client_timeout: float) -> None:
        self._script = script
        self._client_timeout = client_timeout
        self._settings_applied = False
        self._input_rate = 24000
        self._output = _Output()
        self._history = True
        self._functions: dict[str, dict[str, Any]] = {}
        self._think_live: dict[str, Any] | None = None  # the provider, when on
        self._frustrations = 0
        self._jobs: deque[Callable[[], Awaitable[None]]] = deque()
        self._job_added = trio.Event()
        self._job_scope: trio.CancelScope | None = None
        self._speaking = False
        self._pending: dict[str, trio.MemorySendChannel[str]] = {}
        self._call_count = itertools.count(1)
        self._lines = itertools.cycle(script.user_lines)
        self._windows = LoudnessWindows("linear16", 24000, _WINDOW_SECONDS)
        self._loud_samples = 0  # of continuous speech
        self._quiet_samples = 0  # since the user's speech
        self._user_speaking = False

    def check(self, query: Query) -> tuple[str, str] | None:
        """Accept every upgrade: the agent takes its configuration from ``Settings``."""
        return None

    async def run(self, session: Session) -> None:
        """``Welcome``, then the client's frames until either side closes."""
        self._session = session
        self._last_activity = trio.current_time()
        await self._send({"type": "Welcome", "request_id": session.request_id})
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._watchdog)
            nursery.start_soon(self._run_jobs)
            try:
                # After a fatal error the fake has closed, and receive() returns None.
                while (frame := await session.receive()) is not None:
                    self._last_activity = trio.current_time()
                    await self._on_frame(frame)
            finally:
                nursery.cancel_scope.cancel()

    async def _send(self, message: Mapping[str, Any] | bytes) -> None:
        """Send a message or audio frame, whole (a cancelled job stops before it)."""
        await self._session.send_whole(message)

    async def _error(self, code: str, description: str) -> None:
        await self._send({"type": "Error", "description": description, "code": code})

    async def _fatal(self, code: str, description: str) -> None:
        await self._error(code, description)
        await self._session.close(1000)

    async def _watchdog(self) -> None:
        while True:
            due = self._last_activity + self._client_timeout
            if trio.current_time() < due:
                await trio.sleep_until(due)
                continue
            await self._fatal(
                "CLIENT_MESSAGE_TIMEOUT",
                "We did not receive audio or a KeepAlive within the expected time",
            )
            return

    async def _on_frame(self, frame: str | bytes) -> None:
        if isinstance(frame, bytes):
            if self._settings_applied:
                await self._on_audio(frame)
            else:
                await self._fatal(
                    "NON_SETTINGS_MESSAGE_BEFORE_SETTINGS",
                    "Received binary audio before Settings.",
                )
            return
        message = parse_message(frame)
        if message is None:
            await self._error(
                "UNPARSABLE_CLIENT_MESSAGE",
                "Could not parse client message: expected a JSON object with a type.",
            )
        elif message["type"] == "Settings" and not self._settings_applied:
            await self._on_settings(message)
        elif not self._settings_applied:
            await self._fatal(
                "NON_SETTINGS_MESSAGE_BEFORE_SETTINGS",
                f"Received a {message['type']} message before Settings.",
            )
        else:
            try:
                await self._on_message(message)
            except _Invalid as exc:
                configures = message["type"] in _ACKS
                code = "INVALID_SETTINGS" if configures else "UNPARSABLE_CLIENT_MESSAGE"
                await self._error(code, _field_error(exc.path))

    async def _on_settings(self, message: dict[str, Any]) -> None:
        try:
            agent, self._functions = _check_settings(message)
        except _Invalid as exc:
            await self._fatal("INVALID_SETTINGS", _field_error(exc.path))
            return
        source = message["audio"].get("input") or {}
        self._input_rate = source.get("sample_rate", 24000)
        self._windows = LoudnessWindows(
            source.get("encoding", "linear16"), self._input_rate, _WINDOW_SECONDS
        )
        output = message["audio"].get("output") or {}
        self._output = _Output(
            encoding=output.get("encoding") or "linear16",
            sample_rate=output.get("sample_rate") or 24000,
            bitrate=output.get("bitrate") or 48000,
            container=output.get("container") or "none",
        )
        self._history = (message.get("flags") or {}).get("history") is not False
        self._think_live = (agent.get("think_live") or {}).get("provider")
        self._settings_applied = True
        await self._send({"type": "SettingsApplied"})
        if agent.get("greeting"):
            self._enqueue(partial(self._speak, agent["greeting"]))

    async def _on_message(self, message: dict[str, Any]) -> None:
        """A client message after Settings; raises :class:`_Invalid` for a bad field."""
        kind = message["type"]
        match kind:
            case "KeepAlive":
                pass
            case "Settings":
                await self._error(
                    "SETTINGS_ALREADY_APPLIED", "Settings can only be sent once per session."
                )
            case "UpdatePrompt":
                _check(message, "", _UPDATE_PROMPT)  # the fake's replies ignore prompts
            case "UpdateSpeak":
                _check_speak(_required(message, "speak"), "speak")
            case "UpdateThink":
                think = _required(message, "think")
                live = self._think_live is not None
                self._functions = _check_think(think, "think", think_live=live)
            case "UpdateListen":
                _check(message, "", _UPDATE_LISTEN)
                _check_listen(message, "")
            case "UpdateThink_Live":
                _check(message, "", _UPDATE_THINK_LIVE)
                self._think_live = message["think_live"]["provider"]
            case "ForceEndTurn":
                if self._user_speaking:
                    self._end_turn()
            case "__customToThinkProvider":
                # The fake's think provider echoes what it is sent.
                content = message.get("content", _MISSING)
                if content is _MISSING:
                    raise _Invalid("content")
                await self._send({"type": "__customFromThinkProvider", "content": content})
            case "InjectUserMessage":
                _check(message, "", _INJECT_USER)
                self._interrupt()
                self._enqueue(partial(self._respond, message["content"]))
            case "InjectAgentMessage":
                await self._inject_agent_message(message)
            case "FunctionCallResponse":
                _check(message, "", _FUNCTION_RESPONSE)
                waiter = self._pending.pop(message["id"], None)
                if waiter is None:
                    await self._error(
                        "UNPARSABLE_CLIENT_MESSAGE",
                        f"FunctionCallResponse id {message['id']!r} matches no pending "
                        "function call.",
                    )
                else:
                    waiter.send_nowait(message["content"])
            case _:
                await self._error(
                    "UNPARSABLE_CLIENT_MESSAGE", f"Unknown client message type {kind!r}."
                )
        if kind in _ACKS:
            await self._send({"type": _ACKS[kind]})

    async def _inject_agent_message(self, message: dict[str, Any]) -> None:
        """Say the message, or with ``is_dynamic`` a filler line of Think Live's, unless
        refused."""
        dynamic = message.get("is_dynamic") is not None
        _check(message, "", _INJECT_DYNAMIC if dynamic else _INJECT_AGENT)
        if dynamic and self._think_live is None:
            await self._send(
                {"type": "InjectionRefused", "message": "Think Live is off: set agent.think_live."}
            )
            return
        behavior = message.get("behavior") or "default"
        if behavior == "interrupt":
            self._interrupt()
        elif behavior == "default" and self._user_speaking:
            await self._send({"type": "InjectionRefused", "message": "The user is speaking."})
            return
        elif behavior == "default" and (self._jobs or self._job_scope is not None):
            await self._send(
                {"type": "InjectionRefused", "message": "The agent is speaking or thinking."}
            )
            return
        if dynamic:
            self._enqueue(partial(self._speak, self._script.filler_line, "filler"))
        else:
            self._enqueue(partial(self._speak, message["message"]))

    # --- Hearing the user ------------------------------------------------------------

    async def _on_audio(self, data: bytes) -> None:
        """Follow the loudness of the user's audio, in windows of audio time."""
        for loud in self._windows.feed(data, self._script.speech_threshold):
            await self._on_window(loud, self._windows.samples)

    async def _on_window(self, loud: bool, samples: int) -> None:
        script, rate = self._script, self._input_rate
        if loud:
            self._loud_samples += samples
            self._quiet_samples = 0
            if not self._user_speaking and self._loud_samples >= round(script.speech_onset * rate):
                self._user_speaking = True
                if self._speaking:
                    self._interrupt()  # barge-in: the agent falls silent, without AgentAudioDone
                await self._send({"type": "UserStartedSpeaking"})
            return
        self._loud_samples = 0
        if self._user_speaking:
            self._quiet_samples += samples
            if self._quiet_samples >= round(script.end_of_turn * rate):
                self._end_turn()

    def _end_turn(self) -> None:
        """The user's turn ends (silence or ``ForceEndTurn``): the agent answers what
        it heard (:meth:`_heard`)."""
        self._user_speaking = False
        self._loud_samples = self._quiet_samples = 0
        self._interrupt()
        self._enqueue(self._heard())

    def _heard(self) -> Callable[[], Awaitable[None]]:
        """The job that answers the turn just ended: the next of the script's lines."""
        return partial(self._respond, next(self._lines))

    # --- The agent's jobs ------------------------------------------------------------

    def _enqueue(self, job: Callable[[], Awaitable[None]]) -> None:
        self._jobs.append(job)
        self._job_added.set()

    def _interrupt(self) -> None:
        self._jobs.clear()
        if self._job_scope is not None:
            self._job_scope.cancel()

    async def _run_jobs(self) -> None:
        while True:
            if not self._jobs:
                self._job_added = trio.Event()
                await self._job_added.wait()
                continue
            # No checkpoint between taking a job and publishing its scope: the agent is
            # never seen idle while it has work.
            job = self._jobs.popleft()
            with trio.CancelScope() as self._job_scope:
                await job()
            self._job_scope = None

    async def _say(self, role: str, text: str, behavior: str = "default") -> None:
        await self._send(
            {
                "type": "ConversationText",
                "role": role,
                "content": text,
                "conversational_behavior": behavior,
            }
        )
        if self._history:
            await self._send({"type": "History", "role": role, "content": text})

    async def _respond(self, text: str) -> None:
        """A user turn: what was heard, any frustration, the agent's thought, any
        call, the reply."""
        await self._say("user", text)
        lowered = text.lower()
        if self._think_live is not None and any(
            cue.lower() in lowered for cue in self._script.frustration_cues
        ):
            await self._frustrated()
        await self._send({"type": "AgentThinking", "content": f"The user said: {text}"})
        call = next(
            (
                c
                for c in self._script.calls
                if c.when.lower() in lowered and c.function in self._functions
            ),
            None,
        )
        content = None if call is None else await self._call(call)
        if call is not None and content is not None:
            reply = call.reply.format(content=content)
        else:
            reply = await self._reply(text)
        await self._speak(reply)

    async def _reply(self, text: str) -> str:
        """The reply to ``text`` when no function is called: the script's."""
        await trio.lowlevel.checkpoint()
        lowered = text.lower()
        return next(
            (r for key, r in self._script.replies.items() if key.lower() in lowered),
            self._script.default_reply.format(text=text),
        )

    async def _call(self, call: ScriptedCall) -> str | None:
        """Make ``call`` where its declaration says; its result, or None when the
        client did not answer in time."""
        client_side = self._functions[call.function].get("endpoint") is None
        call_id = f"call_{next(self._call_count)}_{uuid.uuid4().hex[:8]}"
        request = {
            "id": call_id,
            "name": call.function,
            "arguments": json.dumps(dict(call.arguments)),
            "client_side": client_side,
        }
        await self._send({"type": "FunctionCallRequest", "functions": [request]})
        if client_side:
            try:
                content = await self._client_result(call_id)
            except trio.Cancelled:
                # Interrupted (the user spoke): the call is withdrawn, as Deepgram does.
                with trio.CancelScope(shield=True):
                    cancelled = [{"id": call_id, "name": call.function}]
                    await self._session.send_json(
                        {"type": "FunctionCallCancelled", "functions": cancelled}
                    )
                raise
            if content is None:
                await self._send(
                    {
                        "type": "Warning",
                        "code": "FUNCTION_CALL_FAILED",
                        "description": f"No FunctionCallResponse for {call.function} within "
                        f"{self._script.function_timeout:g} s.",
                    }
                )
                return None
        else:
            content = call.server_result
            await self._send(
                {
                    "type": "FunctionCallResponse",
                    "id": call_id,
                    "name": call.function,
                    "content": content,
                }
            )
        if self._history:
            calls = [{**request, "response": content}]
            await self._send({"type": "History", "function_calls": calls})
        return content

    async def _client_result(self, call_id: str) -> str | None:
        """The client's ``FunctionCallResponse`` content, or None after the timeout."""
        send, receive = trio.open_memory_channel[str](1)
        self._pending[call_id] = send
        try:
            with trio.move_on_after(self._script.function_timeout):
                return await receive.receive()
            return None
        finally:
            self._pending.pop(call_id, None)

    async def _frustrated(self) -> None:
        """Think Live heard frustration: ``FrustrationDetected``, unless turned off."""
        assert self._think_live is not None
        most = self._think_live.get("frustration_max_count")
        if most is None:  # left out, or null
            most = _FRUSTRATION_MAX_COUNT
        if most == 0:
            return
        self._frustrations += 1
        count = self._frustrations
        await self._send(
            {"type": "FrustrationDetected", "count": count, "escalated": count >= most}
        )

    async def _speech(self, text: str) -> list[bytes]:
        """``text`` spoken, as the frames to send: the tone, as long as the words take."""
        await trio.lowlevel.checkpoint()
        return self._output.frames(max(0.5, len(text.split()) / self._script.words_per_second))

    async def _speak(self, text: str, behavior: str = "default") -> None:
        """The agent says ``text``: its transcript, latencies, audio and ``AgentAudioDone``."""
        await self._say("assistant", text, behavior)
        self._speaking = True
        try:
            await self._send(
                {
                    "type": "AgentStartedSpeaking",
                    "total_latency": _TTT_LATENCY + _TTS_LATENCY,
                    "tts_latency": _TTS_LATENCY,
                    "ttt_latency": _TTT_LATENCY,
                }
            )
            await self._send(
                {
                    "type": "LatencyReport",
                    "ttt_token_latency": _TTT_LATENCY - 0.05,
                    "ttt_text_latency": _TTT_LATENCY,
                    "tts_latency": _TTS_LATENCY,
                    "total_latency": _TTT_LATENCY + _TTS_LATENCY,
                }
            )
            start = trio.current_time()
            for index, frame in enumerate(await self._speech(text)):
                if self._script.realtime:  # as if synthesised live: one frame per 100 ms
                    await trio.sleep_until(start + index * _FRAME_SECONDS)
                await self._send(frame)
            await self._send({"type": "AgentAudioDone"})
        finally:
            self._speaking = False
