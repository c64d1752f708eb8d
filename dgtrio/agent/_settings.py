"""The voice agent's ``Settings`` message, as attrs classes (sans-io).

Every class validates on construction what Deepgram's schema requires and the
documented ranges, raising :class:`~dgtrio.SettingsError` that names the field
(``OpenAiThink.temperature``). :meth:`AgentV1Settings.from_dict` builds the same
classes from JSON-shaped data (a config file, a stored agent) and names the field by
its full path (``agent.think[1].provider.temperature``); like Deepgram's own parser, it
refuses keys it does not know rather than drop them (a misspelt ``promt`` would lose
the prompt). Optional fields default to ``None`` and are then left out of the message:
the server applies its defaults.

Model names are not checked against a list (Deepgram adds models often); closed sets
(encodings, containers, reasoning modes) are.
"""

from __future__ import annotations

import difflib
import re
import uuid
from collections.abc import Callable, Mapping, Sequence
from typing import Any, ClassVar, Literal, TypeVar, get_args, get_origin

import attrs
import cattrs
from cattrs.errors import AttributeValidationNote, IterableValidationNote
from cattrs.gen import make_dict_structure_fn

from .._codec import AudioEncoding, to_json
from .._errors import SettingsError
from .._validate import on_grid
from ..speak.v2._options import SPEED_STEP
from ._messages import AgentV1FunctionCallHistory, AgentV1History

__all__ = [
    "AgentConfig",
    "AgentV1Settings",
    "AnthropicThink",
    "AudioConfig",
    "AudioInput",
    "AudioOutput",
    "AwsBedrockThink",
    "AwsCredentials",
    "AwsPollySpeak",
    "CartesiaSpeak",
    "CartesiaVoice",
    "Context",
    "CustomProvider",
    "DeepgramListenV1",
    "DeepgramListenV2",
    "DeepgramSpeak",
    "DeepgramThink",
    "DeepgramThinkLive",
    "ElevenLabsSpeak",
    "Endpoint",
    "Flags",
    "Function",
    "FunctionEndpoint",
    "GoogleThink",
    "GroqThink",
    "InputEncoding",
    "Listen",
    "ListenProvider",
    "OpenAiSpeak",
    "OpenAiThink",
    "OutputEncoding",
    "Speak",
    "SpeakProvider",
    "Think",
    "ThinkLive",
    "ThinkProvider",
]

InputEncoding = AudioEncoding
OutputEncoding = Literal["linear16", "mulaw", "alaw", "mp3", "opus", "flac", "aac"]
Container = Literal["none", "wav", "ogg"]
ReasoningMode = Literal["none", "minimal", "low", "medium", "high"]
PollyEngine = Literal["generative", "long-form", "standard", "neural"]

T = TypeVar("T")


# -- validators: each names the class and field it guards -----------------------------------


def _problem(instance: object, field: str, problem: str) -> SettingsError:
    return SettingsError(f"{type(instance).__name__}.{field}", problem, field=field)


def _one_of(choices: Any) -> Callable[[Any, attrs.Attribute[Any], Any], None]:
    allowed = get_args(choices)

    def check(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
        if value is not None and value not in allowed:
            expected = ", ".join(allowed)
            raise _problem(instance, attribute.name, f"{value!r} is not one of {expected}")

    return check


def _number(
    low: float | None = None, high: float | None = None, *, integer: bool = False
) -> Callable[[Any, attrs.Attribute[Any], Any], None]:
    def check(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
        if value is None:
            return
        kinds = (int,) if integer else (int, float)
        if isinstance(value, bool) or not isinstance(value, kinds):
            kind = "an integer" if integer else "a number"
            raise _problem(instance, attribute.name, f"must be {kind}, not {value!r}")
        if (low is not None and value < low) or (high is not None and value > high):
            if high is None:
                limits = f"at least {low:g}"
            elif low is None:
                limits = f"at most {high:g}"
            else:
                limits = f"between {low:g} and {high:g}"
            raise _problem(instance, attribute.name, f"must be {limits}, not {value!r}")

    return check


def _text(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if value is not None and (not isinstance(value, str) or not value.strip()):
        raise _problem(instance, attribute.name, f"must be a non-empty string, not {value!r}")


def _texts(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if value is not None and (
        not isinstance(value, tuple) or not all(isinstance(item, str) for item in value)
    ):
        raise _problem(instance, attribute.name, "must be a list of strings")


def _flag(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if value is not None and not isinstance(value, bool):
        raise _problem(instance, attribute.name, f"must be true or false, not {value!r}")


def _instance_of(*classes: type) -> Callable[[Any, attrs.Attribute[Any], Any], None]:
    def check(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
        items = value if isinstance(value, tuple) else (value,)
        if value is not None and not all(isinstance(item, classes) for item in items):
            names = " or ".join(cls.__name__ for cls in classes)
            raise _problem(instance, attribute.name, f"must be {names}, not {value!r}")

    return check


def _tuple(value: Any) -> Any:
    """Lists (and other sequences, not strings) become tuples: settings are frozen."""
    if isinstance(value, Sequence) and not isinstance(value, str | tuple):
        return tuple(value)
    return value


def _hidden_headers(headers: Mapping[str, str] | None) -> str:
    # Endpoint headers usually carry the LLM or TTS vendor's API key.
    return "None" if headers is None else f"<{len(headers)} header(s): {', '.join(headers)}>"


def _field(validator: Any = None, *, repr: Any = True) -> Any:
    return attrs.field(default=None, validator=validator, repr=repr)


# -- audio -----------------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class AudioInput:
    """The format of the audio the client sends (``audio.input``)."""

    encoding: InputEncoding = attrs.field(default="linear16", validator=_one_of(InputEncoding))
    sample_rate: int = attrs.field(default=24000, validator=_number(1, 192000, integer=True))


@attrs.frozen(kw_only=True)
class AudioOutput:
    """The format of the agent's speech (``audio.output``); unset: linear16, no
    container, the server's rate."""

    encoding: OutputEncoding | None = _field(_one_of(OutputEncoding))
    sample_rate: int | None = _field(_number(1, 192000, integer=True))
    bitrate: int | None = _field(_number(1, integer=True))
    container: Container | None = _field(_one_of(Container))


@attrs.frozen(kw_only=True)
class AudioConfig:
    """``audio``: input and output formats."""

    input: AudioInput | None = attrs.field(factory=AudioInput, validator=_instance_of(AudioInput))
    output: AudioOutput | None = _field(_instance_of(AudioOutput))


# -- listen ----------------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class DeepgramListenV1:
    """Speech-to-text with a Nova model (``listen.provider``, version v1)."""

    TYPE: ClassVar[str] = "deepgram"

    version: Literal["v1"] = attrs.field(default="v1", validator=_one_of(Literal["v1"]))
    model: str | None = _field(_text)
    language: str | None = _field(_text)
    keyterms: tuple[str, ...] | None = attrs.field(default=None, converter=_tuple, validator=_texts)
    smart_format: bool | None = _field(_flag)


@attrs.frozen(kw_only=True)
class DeepgramListenV2:
    """Speech-to-text with a Flux model (``listen.provider``, version v2)."""

    TYPE: ClassVar[str] = "deepgram"

    model: str = attrs.field(validator=_text)
    version: Literal["v2"] = attrs.field(default="v2", validator=_one_of(Literal["v2"]))
    language_hints: tuple[str, ...] | None = attrs.field(
        default=None, converter=_tuple, validator=_texts
    )
    """Languages to bias ``flux-general-multi`` toward (BCP-47 codes). From JSON, the
    deprecated singular ``language_hint`` (one code or a list) is taken as this, as
    Deepgram's SDK takes it."""
    eot_threshold: float | None = _field(_number(0.5, 1.0))
    """1.0 leaves ending turns to ``eot_timeout_ms`` and ``force_end_turn()``."""
    eager_eot_threshold: float | None = _field(_number(0.3, 0.9))
    eot_timeout_ms: int | None = _field(_number(500, 60000, integer=True))
    keyterms: tuple[str, ...] | None = attrs.field(default=None, converter=_tuple, validator=_texts)

    def __attrs_post_init__(self) -> None:
        eager, final = self.eager_eot_threshold, self.eot_threshold
        if eager is not None and final is not None and eager > final:
            raise _problem(self, "eager_eot_threshold", "must not exceed eot_threshold")
        if self.language_hints and self.model != "flux-general-multi":
            raise _problem(self, "language_hints", "only apply to model 'flux-general-multi'")


ListenProvider = DeepgramListenV1 | DeepgramListenV2


@attrs.frozen(kw_only=True)
class Listen:
    """``agent.listen``: how the agent hears."""

    provider: ListenProvider = attrs.field(
        validator=_instance_of(DeepgramListenV1, DeepgramListenV2)
    )


# -- think -----------------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class AwsCredentials:
    """AWS credentials for Bedrock or Polly; secrets are kept out of ``repr``."""

    type: Literal["sts", "iam"] = attrs.field(validator=_one_of(Literal["sts", "iam"]))
    region: str = attrs.field(validator=_text)
    access_key_id: str = attrs.field(validator=_text, repr=False)
    secret_access_key: str = attrs.field(validator=_text, repr=False)
    session_token: str | None = _field(_text, repr=False)

    def __attrs_post_init__(self) -> None:
        if self.type == "sts" and self.session_token is None:
            raise _problem(self, "session_token", "required with type 'sts'")


@attrs.frozen(kw_only=True)
class OpenAiThink:
    """OpenAI (or any Chat Completions-compatible endpoint) as the agent's LLM."""

    TYPE: ClassVar[str] = "open_ai"

    model: str = attrs.field(validator=_text)
    temperature: float | None = _field(_number(0, 2))
    reasoning_mode: ReasoningMode | None = _field(_one_of(ReasoningMode))
    version: str | None = _field(_text)


@attrs.frozen(kw_only=True)
class AnthropicThink:
    """Anthropic as the agent's LLM."""

    TYPE: ClassVar[str] = "anthropic"

    model: str = attrs.field(validator=_text)
    temperature: float | None = _field(_number(0, 1))
    version: str | None = _field(_text)


@attrs.frozen(kw_only=True)
class GoogleThink:
    """Google Gemini as the agent's LLM."""

    TYPE: ClassVar[str] = "google"

    model: str = attrs.field(validator=_text)
    temperature: float | None = _field(_number(0, 2))
    version: str | None = _field(_text)


@attrs.frozen(kw_only=True)
class GroqThink:
    """Groq as the agent's LLM (needs ``Think.endpoint``)."""

    TYPE: ClassVar[str] = "groq"

    model: str = attrs.field(validator=_text)
    temperature: float | None = _field(_number(0, 2))
    reasoning_mode: ReasoningMode | None = _field(_one_of(ReasoningMode))
    version: str | None = _field(_text)


@attrs.frozen(kw_only=True)
class AwsBedrockThink:
    """AWS Bedrock as the agent's LLM (needs ``Think.endpoint``)."""

    TYPE: ClassVar[str] = "aws_bedrock"

    model: str = attrs.field(validator=_text)
    temperature: float | None = _field(_number(0, 2))
    credentials: AwsCredentials | None = _field(_instance_of(AwsCredentials))


@attrs.frozen(kw_only=True)
class DeepgramThink:
    """A Deepgram-hosted LLM as the agent's (Early Access): ``think-fast`` or
    ``phonellm-mini-alpha-2-fp8``.

    ``think-fast`` needs the Model Improvement Program: settings with
    ``mip_opt_out=True`` refuse it. ``voice_prompt_opt_out=True`` sends your prompt
    unchanged, without the spoken-style instructions ``think-fast`` puts first.
    """

    TYPE: ClassVar[str] = "deepgram"

    model: str = attrs.field(validator=_text)
    temperature: float | None = _field(_number(0, 2))
    reasoning_mode: ReasoningMode | None = _field(_one_of(ReasoningMode))
    """Leave unset (or ``none``) for a voice: higher modes put reasoning in the spoken reply."""
    voice_prompt_opt_out: bool | None = _field(_flag)
    version: Literal["v1"] | None = _field(_one_of(Literal["v1"]))


@attrs.frozen
class CustomProvider:
    """A provider this version of dgtrio does not model, sent as ``{"type": type,
    **fields}``: a way to use a new Deepgram feature before dgtrio knows it."""

    type: str = attrs.field(validator=_text)
    fields: Mapping[str, Any] = attrs.field(factory=dict)

    def to_json(self) -> dict[str, Any]:
        """The provider object as sent: ``type`` and the fields, side by side."""
        return {"type": self.type, **self.fields}


ThinkProvider = (
    OpenAiThink
    | AnthropicThink
    | GoogleThink
    | GroqThink
    | AwsBedrockThink
    | DeepgramThink
    | CustomProvider
)
_THINK_PROVIDERS: tuple[type, ...] = get_args(ThinkProvider)


@attrs.frozen(kw_only=True)
class Endpoint:
    """A custom LLM or TTS endpoint; its headers are kept out of ``repr``."""

    url: str = attrs.field(validator=_text)
    headers: Mapping[str, str] | None = _field(repr=_hidden_headers)


@attrs.frozen(kw_only=True)
class FunctionEndpoint:
    """Where the server calls a function itself (then it is not client-side)."""

    url: str = attrs.field(validator=_text)
    method: str | None = _field(_text)
    headers: Mapping[str, str] | None = _field(repr=_hidden_headers)


_FUNCTION_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")
_FILLER_INTERVAL_MS = (1000, 60000)
_NEEDS_THINK_LIVE = "needs Think Live: set agent.think_live, or leave it out"
FILLER_FIELDS = ("initial_agent_filler", "agent_filler_max_count", "agent_filler_interval_ms")
"""The fields of a function that need Think Live (``agent.think_live``)."""


@attrs.frozen(kw_only=True)
class Function:
    """A function the LLM may call. Without ``endpoint`` it is client-side: the
    server sends a ``FunctionCallRequest`` and the client answers it."""

    name: str = attrs.field()
    description: str | None = _field(_text)
    parameters: Mapping[str, Any] | None = _field()
    endpoint: FunctionEndpoint | None = _field(_instance_of(FunctionEndpoint))
    defer_until_eot: bool | None = _field(_flag)
    """Hold the call until the user's turn is confirmed instead of dispatching it
    speculatively (for actions that cannot be undone); the server's default is false."""
    initial_agent_filler: bool | None = _field(_flag)
    """Needs Think Live: say one short filler line once the call is dispatched and the
    user's turn confirmed, if its result has not come yet."""
    agent_filler_max_count: int | None = _field(_number(0, integer=True))
    """Needs Think Live: how many more filler lines the agent may say while the call
    is outstanding (0: none)."""
    agent_filler_interval_ms: int | None = _field(_number(0, integer=True))
    """Needs Think Live: silence before each further filler line, counted from when the
    agent last stopped speaking: 1000 to 60000 ms, unless ``agent_filler_max_count``
    is 0 (then it is ignored, and any value goes)."""

    @name.validator
    def _check_name(self, attribute: attrs.Attribute[str], value: Any) -> None:
        if not isinstance(value, str) or not _FUNCTION_NAME.fullmatch(value):
            raise _problem(self, "name", f"must be 1-64 of A-Z a-z 0-9 _ -, not {value!r}")

    @parameters.validator
    def _check_parameters(self, attribute: attrs.Attribute[Any], value: Any) -> None:
        if value is None:
            return
        if not isinstance(value, Mapping) or value.get("type", "object") != "object":
            raise _problem(self, "parameters", 'must be a JSON schema of "type": "object"')

    def __attrs_post_init__(self) -> None:
        # Deepgram: out of range is accepted only when agent_filler_max_count is 0.
        interval, (low, high) = self.agent_filler_interval_ms, _FILLER_INTERVAL_MS
        ignored = self.agent_filler_max_count == 0
        if interval is not None and not ignored and not low <= interval <= high:
            raise _problem(
                self,
                "agent_filler_interval_ms",
                f"must be between {low} and {high} unless agent_filler_max_count is 0, "
                f"not {interval}",
            )


@attrs.frozen(kw_only=True)
class Think:
    """``agent.think``: the LLM, its prompt and the functions it may call."""

    provider: ThinkProvider = attrs.field(validator=_instance_of(*_THINK_PROVIDERS))
    endpoint: Endpoint | None = _field(_instance_of(Endpoint))
    functions: tuple[Function, ...] | None = attrs.field(
        default=None, converter=_tuple, validator=_instance_of(Function)
    )
    prompt: str | None = _field()
    context_length: Literal["max"] | int | float | None = _field()

    def __attrs_post_init__(self) -> None:
        if isinstance(self.provider, GroqThink | AwsBedrockThink) and self.endpoint is None:
            raise _problem(self, "endpoint", f"required with provider {self.provider.TYPE!r}")
        if self.prompt is not None and not isinstance(self.prompt, str):
            raise _problem(self, "prompt", f"must be a string, not {self.prompt!r}")
        names = [function.name for function in self.functions or ()]
        for name in names:
            if names.count(name) > 1:
                raise _problem(self, "functions", f"{name!r} is declared twice")
        length = self.context_length
        if length is not None:
            if length != "max" and (
                isinstance(length, bool) or not isinstance(length, int | float) or length <= 0
            ):
                raise _problem(self, "context_length", f'must be "max" or > 0, not {length!r}')
            if self.endpoint is None:
                raise _problem(self, "context_length", "only applies with a custom endpoint")


def _indexed(path: str, value: Any) -> list[tuple[str, Any]]:
    """``value`` with its path: one item at ``path``, each of a list at ``path[i]``."""
    if isinstance(value, list | tuple):
        return [(f"{path}[{index}]", item) for index, item in enumerate(value)]
    return [] if value is None else [(path, value)]


def filler_field(think: Any, path: str = "think") -> str | None:
    """The path of the first filler field (:data:`FILLER_FIELDS`) set in ``think``,
    the JSON of one think object or a fallback list, e.g.
    ``think[1].functions[0].agent_filler_max_count``; ``None`` if none is set."""
    for at, item in _indexed(path, think):
        functions = item.get("functions") if isinstance(item, Mapping) else None
        for where, function in _indexed(f"{at}.functions", functions):
            for name in FILLER_FIELDS:
                if isinstance(function, Mapping) and function.get(name) is not None:
                    return f"{where}.{name}"
    return None


# -- think live ------------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class DeepgramThinkLive:
    """Deepgram's Think Live model (``think_live.provider``, the only one), which runs
    beside the LLM of ``agent.think``: it backchannels ("mhmm") while the user talks,
    checks on a user gone silent, fills the wait for a function's result and sends
    ``FrustrationDetected``. Unset fields take the server's defaults.
    """

    TYPE: ClassVar[str] = "deepgram"

    version: Literal["v1"] = attrs.field(default="v1", validator=_one_of(Literal["v1"]))
    agent_backchannel_sensitivity: float | None = _field(_number(0, 1))
    """How likely the agent is to backchannel while the user speaks, a probability
    (higher: more often); 0 turns backchannels off."""
    presence_check_max_count: int | None = _field(_number(0, integer=True))
    """How many times the agent prompts a silent user before it stays silent; 0
    turns presence checks off."""
    presence_check_interval_ms: int | None = _field(_number(0, integer=True))
    """Milliseconds between presence checks. Deepgram floors the first at 3000: lower
    values behave as 3000."""
    frustration_max_count: int | None = _field(_number(0, integer=True))
    """The ``FrustrationDetected`` count at which ``escalated`` turns true; 0 sends
    none."""
    restricted_terms: tuple[str, ...] | None = attrs.field(
        default=None, converter=_tuple, validator=_texts
    )
    """Words the Think Live model will not say, a phrase per item (your LLM is not
    bound by them)."""


@attrs.frozen(kw_only=True)
class ThinkLive:
    """``agent.think_live``: Think Live is on with it, off without it (an Early Access
    feature: projects not enrolled get ``UNPARSABLE_CLIENT_MESSAGE``)."""

    provider: DeepgramThinkLive = attrs.field(validator=_instance_of(DeepgramThinkLive))


# -- speak -----------------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class DeepgramSpeak:
    """Deepgram text-to-speech: Aura (``aura-*`` voices, version v1, the default) or
    Flux TTS (``flux-*`` voices, version v2)."""

    TYPE: ClassVar[str] = "deepgram"

    model: str = attrs.field(validator=_text)
    version: Literal["v1", "v2"] | None = _field(_one_of(Literal["v1", "v2"]))
    speed: float | None = _field(_number(0.5, 1.5))
    """The pace: Aura takes 0.7 to 1.5, Flux TTS 0.5 to 1.5 in steps of 0.05."""
    expressivity: int | None = _field(_number(-2, 2, integer=True))
    """Flux TTS only: -2 (calm) to 2 (animated); 0, the voice's own, is the only
    value Deepgram validates for production."""

    def __attrs_post_init__(self) -> None:
        flux = self.version == "v2"
        if self.model.startswith("aura-" if flux else "flux-"):
            family, version = ("an Aura", "v1") if flux else ("a Flux TTS", "v2")
            raise _problem(
                self, "version", f"{self.model!r} is {family} voice: set version={version!r}"
            )
        speed = self.speed
        if speed is not None and not flux and speed < 0.7:
            raise _problem(self, "speed", f"must be between 0.7 and 1.5 for Aura, not {speed}")
        if speed is not None and flux and not on_grid(speed, SPEED_STEP):
            message = f"must be a multiple of {SPEED_STEP:g} for Flux TTS, not {speed}"
            raise _problem(self, "speed", message)
        if self.expressivity is not None and not flux:
            raise _problem(self, "expressivity", 'only applies to Flux TTS (version="v2")')


@attrs.frozen(kw_only=True)
class ElevenLabsSpeak:
    """ElevenLabs text-to-speech (needs ``Speak.endpoint``)."""

    TYPE: ClassVar[str] = "eleven_labs"

    model_id: str = attrs.field(validator=_text)
    language: str | None = _field(_text)
    language_code: str | None = _field(_text)
    version: str | None = _field(_text)


@attrs.frozen(kw_only=True)
class CartesiaVoice:
    """A Cartesia voice."""

    mode: str = attrs.field(validator=_text)
    id: str = attrs.field(validator=_text)


@attrs.frozen(kw_only=True)
class CartesiaSpeak:
    """Cartesia text-to-speech (needs ``Speak.endpoint``)."""

    TYPE: ClassVar[str] = "cartesia"

    model_id: str = attrs.field(validator=_text)
    voice: CartesiaVoice = attrs.field(validator=_instance_of(CartesiaVoice))
    language: str | None = _field(_text)
    volume: float | None = _field(_number(0.5, 2.0))
    version: str | None = _field(_text)


@attrs.frozen(kw_only=True)
class OpenAiSpeak:
    """OpenAI text-to-speech (needs ``Speak.endpoint``)."""

    TYPE: ClassVar[str] = "open_ai"

    model: str = attrs.field(validator=_text)
    voice: str = attrs.field(validator=_text)
    version: str | None = _field(_text)


@attrs.frozen(kw_only=True)
class AwsPollySpeak:
    """AWS Polly text-to-speech (needs ``Speak.endpoint``)."""

    TYPE: ClassVar[str] = "aws_polly"

    voice: str = attrs.field(validator=_text)
    language: str = attrs.field(validator=_text)
    engine: PollyEngine = attrs.field(validator=_one_of(PollyEngine))
    credentials: AwsCredentials = attrs.field(validator=_instance_of(AwsCredentials))
    language_code: str | None = _field(_text)


SpeakProvider = (
    DeepgramSpeak | ElevenLabsSpeak | CartesiaSpeak | OpenAiSpeak | AwsPollySpeak | CustomProvider
)
_SPEAK_PROVIDERS: tuple[type, ...] = get_args(SpeakProvider)


@attrs.frozen(kw_only=True)
class Speak:
    """``agent.speak``: the agent's voice."""

    provider: SpeakProvider = attrs.field(validator=_instance_of(*_SPEAK_PROVIDERS))
    endpoint: Endpoint | None = _field(_instance_of(Endpoint))

    def __attrs_post_init__(self) -> None:
        kind = (
            self.provider.type if isinstance(self.provider, CustomProvider) else self.provider.TYPE
        )
        if kind != "deepgram" and self.endpoint is None:
            raise _problem(self, "endpoint", f"required with provider {kind!r}")
        if self.endpoint is not None:
            scheme = self.endpoint.url.partition("://")[0].lower()
            allowed = ("https", "wss") if kind == "eleven_labs" else ("https",)
            if scheme not in allowed:
                raise _problem(self, "endpoint", f"URL scheme must be {' or '.join(allowed)}")


# -- the agent -------------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class Context:
    """Earlier conversation to continue from: ``History`` messages of a session."""

    messages: tuple[AgentV1History | AgentV1FunctionCallHistory, ...] = attrs.field(
        converter=_tuple, validator=_instance_of(AgentV1History, AgentV1FunctionCallHistory)
    )


@attrs.frozen(kw_only=True)
class AgentConfig:
    """``agent``: what the agent hears with, thinks with and speaks with."""

    listen: Listen | None = _field(_instance_of(Listen))
    think: Think | tuple[Think, ...] | None = attrs.field(
        default=None, converter=_tuple, validator=_instance_of(Think)
    )
    """One LLM, or several in fallback order."""
    think_live: ThinkLive | None = _field(_instance_of(ThinkLive))
    """Deepgram's Think Live model beside the LLM; off when unset."""
    speak: Speak | tuple[Speak, ...] | None = attrs.field(
        default=None, converter=_tuple, validator=_instance_of(Speak)
    )
    """One voice, or several in fallback order (unset: Flux TTS ``flux-kit-en``)."""
    greeting: str | None = _field(_text)
    context: Context | None = _field(_instance_of(Context))
    language: str | None = _field(_text)
    """Deprecated by Deepgram: set the listen and speak providers' language."""

    def __attrs_post_init__(self) -> None:
        # Deepgram answers a filler field without Think Live with INVALID_SETTINGS
        # and closes the session.
        field = None if self.think_live else filler_field(to_json(self.think))
        if field is not None:
            raise SettingsError(f"AgentConfig.{field}", _NEEDS_THINK_LIVE, field=field)


@attrs.frozen(kw_only=True)
class Flags:
    """``flags``: ``history=False`` stops ``History`` messages."""

    history: bool | None = _field(_flag)


@attrs.frozen(kw_only=True)
class AgentV1Settings:
    """The ``Settings`` message that configures a voice agent session.

    ::

        settings = AgentV1Settings(
            agent=AgentConfig(
                listen=Listen(provider=DeepgramListenV1(model="nova-3")),
                think=Think(provider=OpenAiThink(model="gpt-4o-mini"), prompt="Be brief."),
                speak=Speak(provider=DeepgramSpeak(model="aura-2-thalia-en")),
                greeting="Hello! How can I help?",
            ),
            audio=AudioConfig(input=AudioInput(sample_rate=16000)),
        )

    ``agent`` may instead be the id of an agent configuration stored with Deepgram.
    """

    TYPE: ClassVar[str] = "Settings"

    agent: AgentConfig | str = attrs.field()
    audio: AudioConfig = attrs.field(factory=AudioConfig, validator=_instance_of(AudioConfig))
    tags: tuple[str, ...] | None = attrs.field(default=None, converter=_tuple, validator=_texts)
    experimental: bool | None = _field(_flag)
    mip_opt_out: bool | None = _field(_flag)
    flags: Flags | None = _field(_instance_of(Flags))

    @agent.validator
    def _check_agent(self, attribute: attrs.Attribute[Any], value: Any) -> None:
        if isinstance(value, AgentConfig):
            return
        try:
            uuid.UUID(value)
        except (TypeError, ValueError, AttributeError):
            raise _problem(
                self, "agent", f"must be an AgentConfig or a stored agent's id, not {value!r}"
            ) from None

    def __attrs_post_init__(self) -> None:
        if not self.mip_opt_out or not isinstance(self.agent, AgentConfig):
            return
        for at, think in _indexed("agent.think", self.agent.think):
            provider = think.provider
            if isinstance(provider, DeepgramThink) and provider.model == "think-fast":
                field = f"{at}.provider.model"
                problem = (
                    "think-fast needs the Model Improvement Program, which mip_opt_out "
                    "leaves: use phonellm-mini-alpha-2-fp8"
                )
                raise SettingsError(f"AgentV1Settings.{field}", problem, field=field)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> AgentV1Settings:
        """Settings from their JSON form (as sent on the wire, ``type`` optional).

        Every object is checked for keys this version of dgtrio does not know, at
        every level, as Deepgram's parser does: the error names the nearest known key
        (``agent.think.promt: unknown key; did you mean prompt?``). Settings newer
        than this version of dgtrio can be given to :func:`~dgtrio.open_agent` as a
        mapping, which is sent unchecked. A provider of a ``type`` dgtrio does not
        know becomes a :class:`CustomProvider`, its keys passed through unchecked.
        Deprecated forms Deepgram's SDK still takes are taken as it takes them (Flux's
        ``language_hint`` as ``language_hints``).

        Raises:
            SettingsError: naming the field by its path, e.g. ``agent.think.provider.model``.
        """
        return _structure(data, cls)

    @property
    def input_format(self) -> AudioInput:
        """The format of the audio the client sends (the server's default if unset)."""
        return self.audio.input or AudioInput()


# -- from JSON-shaped data -------------------------------------------------------------------


def _as_is(value: Any, _: Any) -> Any:
    """Primitives are taken as they are (``"16000"`` is not an integer): the classes'
    validators judge them and name the field."""
    return value


def _literal_or_mapping(kind: Any) -> bool:
    origin: Any = get_origin(kind)
    return origin is Literal or origin is Mapping


def _strings(value: Any, _: Any) -> tuple[Any, ...]:
    if not isinstance(value, list | tuple):
        raise TypeError(f"must be a list of strings, not {value!r}")
    return tuple(value)


def _not_an_object(value: Any) -> SettingsError:
    # No field: the value itself is wrong, and cattrs' notes already name where it is.
    return SettingsError("$", f"must be an object, not {value!r}")


def _modelled(providers: tuple[type, ...]) -> tuple[type, ...]:
    """The provider classes dgtrio models (all but :class:`CustomProvider`)."""
    return tuple(cls for cls in providers if cls is not CustomProvider)


def _by_type(providers: tuple[type, ...], converter: cattrs.Converter) -> Callable[[Any], Any]:
    """A provider union, told apart by ``type``; unknown types become CustomProvider."""
    known = {cls.TYPE: cls for cls in _modelled(providers)}  # type: ignore[attr-defined]

    def structure(value: Any) -> Any:
        if not isinstance(value, Mapping):
            raise _not_an_object(value)
        if not isinstance(value.get("type"), str):
            raise SettingsError("type", "a provider needs a string type", field="type")
        cls = known.get(value["type"])
        if cls is None:
            fields = {key: item for key, item in value.items() if key != "type"}
            return CustomProvider(type=value["type"], fields=fields)
        return converter.structure(value, cls)

    return structure


def _listen_provider(converter: cattrs.Converter) -> Callable[[Any], ListenProvider]:
    """v1 or v2 by ``version``; without one, v2-only fields mean v2 (as Deepgram's SDK
    infers it)."""
    v2_only = {
        "eot_threshold",
        "eager_eot_threshold",
        "eot_timeout_ms",
        "language_hints",
        "language_hint",
    }

    def structure(value: Any) -> ListenProvider:
        if not isinstance(value, Mapping):
            raise _not_an_object(value)
        version = value.get("version")
        if version == "v2" or (version is None and v2_only & value.keys()):
            return converter.structure(_language_hints(value), DeepgramListenV2)
        return converter.structure(value, DeepgramListenV1)

    return structure


def _language_hints(provider: Mapping[str, Any]) -> Mapping[str, Any]:
    """A Flux provider with its deprecated ``language_hint`` (one language or a list)
    as ``language_hints``, the SDK's own conversion. Both at once are refused (the SDK
    would drop ``language_hint`` without a word)."""
    if "language_hint" not in provider:
        return provider
    data = dict(provider)
    hint = data.pop("language_hint")
    if "language_hints" in data:
        problem = "give language_hints only (language_hint is its deprecated form)"
        raise SettingsError("language_hint", problem, field="language_hint")
    if isinstance(hint, str):
        data["language_hints"] = [hint]
    elif isinstance(hint, list) and all(isinstance(item, str) for item in hint):
        data["language_hints"] = hint
    elif hint is not None:
        problem = f"must be a language or a list of them, not {hint!r}"
        raise SettingsError("language_hint", problem, field="language_hint")
    return data


# -- unknown keys ------------------------------------------------------------------------------

_ENDPOINT = (
    "did you mean endpoint.{key}? (url, method and headers go in endpoint; "
    "a function without one is called client-side)"
)

# Keys Deepgram knows (its SDK 7 models) or knew (older forms), each with what to do.
_HINTS: dict[tuple[type, str], str] = {
    (AgentConfig, "messages"): "did you mean context.messages? (agent.messages is the old place)",
    (Think, "instructions"): "did you mean prompt? (instructions is its old name)",
    (Function, "url"): _ENDPOINT.format(key="url"),
    (Function, "method"): _ENDPOINT.format(key="method"),
    (Function, "headers"): _ENDPOINT.format(key="headers"),
}


def _keys(*classes: type) -> frozenset[str]:
    """The keys of the JSON objects of ``classes``: their fields, and ``type`` for
    the tagged ones (``raw`` is what a server message was received as, never sent)."""
    keys = {field.name for cls in classes for field in attrs.fields(cls)}
    keys.update("type" for cls in classes if hasattr(cls, "TYPE"))
    keys.discard("raw")
    return frozenset(keys)


# Keys that belong one level down: agent.listen.model was the early access form, and
# Deepgram's recorded reply to it was only "check the agent.listen.model field".
_NESTED: dict[type, tuple[tuple[str, frozenset[str]], ...]] = {
    AgentV1Settings: (("agent", _keys(AgentConfig)), ("audio", _keys(AudioConfig))),
    AudioConfig: (("input", _keys(AudioInput)), ("output", _keys(AudioOutput))),
    Listen: (("provider", _keys(DeepgramListenV1, DeepgramListenV2)),),
    ThinkLive: (("provider", _keys(DeepgramThinkLive)),),
    Think: (("provider", _keys(*_modelled(_THINK_PROVIDERS))), ("endpoint", _keys(Endpoint))),
    Speak: (("provider", _keys(*_modelled(_SPEAK_PROVIDERS))), ("endpoint", _keys(Endpoint))),
}


def _unknown_key(cls: type, key: str, known: frozenset[str]) -> str:
    """Why ``key`` is refused in an object of ``cls``, and the nearest known key."""
    hint = _HINTS.get((cls, key))
    if hint is not None:
        return f"unknown key; {hint}"
    close = difflib.get_close_matches(key, sorted(known), n=1)
    if close:
        return f"unknown key; did you mean {close[0]}?"
    for child, keys in _NESTED.get(cls, ()):
        if key in keys:
            return f"unknown key; did you mean {child}.{key}?"
    if cls is AgentConfig and key in _keys(AgentV1Settings):
        return f"unknown key; {key} belongs at the top level of the settings, not in agent"
    return f"unknown key; known keys: {', '.join(sorted(known))}"


def _strict(cls: type[T], converter: cattrs.Converter) -> Callable[[Any, Any], T]:
    """Structure ``cls`` from an object with none but its own keys (and a right
    ``type``), as Deepgram's parser accepts it."""
    structure = make_dict_structure_fn(cls, converter)
    known = _keys(cls)
    tag = getattr(cls, "TYPE", None)

    def hook(value: Any, _: Any) -> T:
        if not isinstance(value, Mapping):
            raise _not_an_object(value)
        # Unknown keys first: a misspelt required key ("modle") is better reported as
        # the typo than as the key it was meant to be missing.
        for key in value:
            if key not in known:
                name = key if isinstance(key, str) else repr(key)
                problem = _unknown_key(cls, name, known)
                raise SettingsError(f"{cls.__name__}.{name}", problem, field=name)
        if tag is not None and value.get("type", tag) != tag:
            problem = f"must be {tag!r}, not {value['type']!r}"
            raise SettingsError(f"{cls.__name__}.type", problem, field="type")
        return structure(value, cls)

    return hook


def _settings_converter() -> cattrs.Converter:
    converter = cattrs.Converter(detailed_validation=True)

    def hook(kind: Any, structure: Callable[[Any], Any]) -> None:
        converter.register_structure_hook(kind, lambda value, _: structure(value))

    def optional(structure: Callable[[Any], Any]) -> Callable[[Any], Any]:
        return lambda value: None if value is None else structure(value)

    def one_or_many(cls: type[T]) -> Callable[[Any], T | tuple[T, ...]]:
        def structure(value: Any) -> T | tuple[T, ...]:
            if isinstance(value, list | tuple):
                return converter.structure(value, tuple[cls, ...])  # type: ignore[valid-type]
            return converter.structure(value, cls)

        return structure

    converter.register_structure_hook_factory(attrs.has, lambda cls: _strict(cls, converter))
    for kind in (str, int, float, bool):
        converter.register_structure_hook(kind, _as_is)
    converter.register_structure_hook_func(_literal_or_mapping, _as_is)
    converter.register_structure_hook_func(lambda t: t == tuple[str, ...], _strings)
    hook(Literal["max"] | int | float | None, lambda value: value)
    hook(ThinkProvider, _by_type(_THINK_PROVIDERS, converter))
    hook(SpeakProvider, _by_type(_SPEAK_PROVIDERS, converter))
    hook(ListenProvider, _listen_provider(converter))
    hook(Think | tuple[Think, ...] | None, optional(one_or_many(Think)))
    hook(Speak | tuple[Speak, ...] | None, optional(one_or_many(Speak)))
    hook(
        AgentConfig | str,
        lambda value: value if isinstance(value, str) else converter.structure(value, AgentConfig),
    )
    hook(
        AgentV1History | AgentV1FunctionCallHistory,
        lambda value: converter.structure(
            value,
            AgentV1FunctionCallHistory
            if isinstance(value, Mapping) and "function_calls" in value
            else AgentV1History,
        ),
    )
    return converter


_CONVERTER = _settings_converter()


def settings_part(data: Mapping[str, Any], cls: type[T], path: str) -> T:
    """A part of the settings (``ThinkLive``...) from its JSON form, checked as
    :meth:`AgentV1Settings.from_dict` checks settings; errors name the field under
    ``path`` (``think_live.provider.version``)."""
    if not isinstance(data, Mapping):
        raise SettingsError(path, f"must be an object, not {type(data).__name__}")
    return _structure(data, cls, path)


def _structure(data: Mapping[str, Any], cls: type[T], root: str = "") -> T:
    if not isinstance(data, Mapping):
        raise SettingsError("$", f"settings must be an object, not {type(data).__name__}")
    try:
        return _CONVERTER.structure(data, cls)
    except Exception as exc:
        path, problem = _locate(exc, root)
        raise SettingsError(path or "$", problem) from exc


def _locate(exc: BaseException, path: str) -> tuple[str, str]:
    """The path and description of the first failure in a cattrs error tree.

    cattrs' notes name every attribute and index on the way down, so a
    :class:`SettingsError` adds only its ``field``: the key *within* the object that
    raised it (``None`` when the object itself is wrong). Adding its ``path`` too
    once made ``agent.listen.provider.provider``.
    """
    for note in getattr(exc, "__notes__", ()):
        if isinstance(note, AttributeValidationNote):
            path = f"{path}.{note.name}" if path else note.name
        elif isinstance(note, IterableValidationNote):
            path = f"{path}[{note.index}]"
    if isinstance(exc, cattrs.BaseValidationError) and exc.exceptions:
        return _locate(exc.exceptions[0], path)
    if isinstance(exc, SettingsError):
        if exc.field is None:
            return path, exc.problem
        return (f"{path}.{exc.field}" if path else exc.field), exc.problem
    if isinstance(exc, KeyError):
        return path, "required"
    return path, str(exc)
