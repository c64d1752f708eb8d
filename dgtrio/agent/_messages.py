"""Voice agent messages, server and client, as attrs classes (sans-io).

Field names are the wire names. Structuring is lenient: unknown keys are ignored
(``raw`` keeps them) and fields the server may leave out default to ``None``; only a
missing essential field (a function call's ``id``, a text's ``content``) or a
mistyped value makes a frame undecodable.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar, Literal

import attrs
import orjson

from .._codec import Codec, encode_message, raw_field, to_json

__all__ = [
    "AgentV1AgentAudioDone",
    "AgentV1AgentStartedSpeaking",
    "AgentV1AgentThinking",
    "AgentV1Audio",
    "AgentV1ConversationText",
    "AgentV1CustomFromThinkProvider",
    "AgentV1Error",
    "AgentV1FrustrationDetected",
    "AgentV1FunctionCallCancelled",
    "AgentV1FunctionCallHistory",
    "AgentV1FunctionCallRequest",
    "AgentV1FunctionCallResponse",
    "AgentV1History",
    "AgentV1InjectionRefused",
    "AgentV1LatencyReport",
    "AgentV1ListenUpdated",
    "AgentV1Message",
    "AgentV1PromptUpdated",
    "AgentV1SettingsApplied",
    "AgentV1SpeakUpdated",
    "AgentV1ThinkLiveUpdated",
    "AgentV1ThinkUpdated",
    "AgentV1UserStartedSpeaking",
    "AgentV1Warning",
    "AgentV1Welcome",
    "CancelledCall",
    "ConversationalBehavior",
    "FunctionCall",
    "FunctionCallRecord",
]

Role = Literal["user", "assistant"]
ConversationalBehavior = Literal["default", "backchannel", "presence_check", "filler"]
"""What kind of utterance a ``ConversationText`` is; newer servers may send others."""


@attrs.frozen
class AgentV1Audio:
    """A binary frame of the agent's speech, in the ``audio.output`` format."""

    data: bytes = attrs.field(repr=lambda data: f"<{len(data)} bytes>")


@attrs.frozen
class AgentV1Welcome:
    """The server's first message; ``request_id`` identifies the session."""

    TYPE: ClassVar[str] = "Welcome"

    request_id: str
    raw: Mapping[str, Any] = raw_field()


@attrs.frozen
class AgentV1SettingsApplied:
    """The ``Settings`` were accepted: the conversation can start."""

    TYPE: ClassVar[str] = "SettingsApplied"

    raw: Mapping[str, Any] = raw_field()


@attrs.frozen
class AgentV1ConversationText:
    """What the user said (transcribed) or what the agent is about to say.

    ``languages`` and ``languages_hinted`` come with user text from multilingual
    Flux listen models. ``conversational_behavior`` says what kind of utterance it is
    (:data:`ConversationalBehavior`): with Think Live on, the agent also speaks
    ``backchannel`` ("mhmm" while the user holds the floor), ``presence_check``
    (after a long silence) and ``filler`` (while a function call is outstanding)
    lines; otherwise it is always ``default``, which is also assumed when an older
    server leaves it out.
    """

    TYPE: ClassVar[str] = "ConversationText"

    role: Role
    content: str
    languages: tuple[str, ...] | None = None
    languages_hinted: tuple[str, ...] | None = None
    conversational_behavior: str = "default"
    raw: Mapping[str, Any] = raw_field()


@attrs.frozen
class AgentV1UserStartedSpeaking:
    """The user began to speak: stop playing the agent's audio (barge-in)."""

    TYPE: ClassVar[str] = "UserStartedSpeaking"

    raw: Mapping[str, Any] = raw_field()


@attrs.frozen
class AgentV1AgentThinking:
    """The agent's reasoning text, from models that share it."""

    TYPE: ClassVar[str] = "AgentThinking"

    content: str = ""
    raw: Mapping[str, Any] = raw_field()


@attrs.frozen
class FunctionCall:
    """One function the agent's LLM wants called.

    ``client_side`` calls are the client's to answer with a ``FunctionCallResponse``
    carrying the same ``id``; others the server runs itself.
    """

    id: str
    name: str
    arguments: str
    """The arguments as the LLM wrote them: a JSON object, as text."""
    client_side: bool
    thought_signature: str | None = None

    def parsed_arguments(self) -> dict[str, Any]:
        """``arguments`` decoded. Raises ``ValueError`` unless it is a JSON object."""
        value = orjson.loads(self.arguments or "{}")
        if not isinstance(value, dict):
            raise ValueError(f"arguments are not a JSON object: {self.arguments[:100]!r}")
        return value


@attrs.frozen
class AgentV1FunctionCallRequest:
    """The agent asks for one or more function calls (answer the ``client_side`` ones)."""

    TYPE: ClassVar[str] = "FunctionCallRequest"

    functions: tuple[FunctionCall, ...]
    raw: Mapping[str, Any] = raw_field()


@attrs.frozen
class AgentV1FunctionCallResponse:
    """A function's result: from the server for a function it ran itself, or sent by
    the client for a ``client_side`` call (then ``id`` must be the request's)."""

    TYPE: ClassVar[str] = "FunctionCallResponse"

    name: str
    content: str
    id: str | None = None
    raw: Mapping[str, Any] = raw_field()


@attrs.frozen
class CancelledCall:
    """A function call the server no longer wants answered."""

    id: str
    name: str | None = None


@attrs.frozen
class AgentV1FunctionCallCancelled:
    """The server withdrew function calls (e.g. the user spoke): send no response."""

    TYPE: ClassVar[str] = "FunctionCallCancelled"

    functions: tuple[CancelledCall, ...]
    raw: Mapping[str, Any] = raw_field()


@attrs.frozen
class AgentV1AgentStartedSpeaking:
    """The agent's audio for a reply begins; latencies in seconds."""

    TYPE: ClassVar[str] = "AgentStartedSpeaking"

    total_latency: float | None = None
    tts_latency: float | None = None
    ttt_latency: float | None = None
    raw: Mapping[str, Any] = raw_field()


@attrs.frozen
class AgentV1AgentAudioDone:
    """The server has sent all the audio of the agent's reply."""

    TYPE: ClassVar[str] = "AgentAudioDone"

    raw: Mapping[str, Any] = raw_field()


@attrs.frozen
class AgentV1LatencyReport:
    """Where a reply's time went, in seconds (fields the server did not measure are
    ``None``)."""

    TYPE: ClassVar[str] = "LatencyReport"

    stt_latency: float | None = None
    ttt_token_latency: float | None = None
    ttt_text_latency: float | None = None
    ttt_tool_latency: float | None = None
    ttt_thinking_latency: float | None = None
    tts_latency: float | None = None
    total_latency: float | None = None
    raw: Mapping[str, Any] = raw_field()


@attrs.frozen
class AgentV1PromptUpdated:
    """An ``UpdatePrompt`` was applied."""

    TYPE: ClassVar[str] = "PromptUpdated"

    raw: Mapping[str, Any] = raw_field()


@attrs.frozen
class AgentV1SpeakUpdated:
    """An ``UpdateSpeak`` was applied."""

    TYPE: ClassVar[str] = "SpeakUpdated"

    raw: Mapping[str, Any] = raw_field()


@attrs.frozen
class AgentV1ThinkUpdated:
    """An ``UpdateThink`` was applied."""

    TYPE: ClassVar[str] = "ThinkUpdated"

    raw: Mapping[str, Any] = raw_field()


@attrs.frozen
class AgentV1ListenUpdated:
    """An ``UpdateListen`` was applied."""

    TYPE: ClassVar[str] = "ListenUpdated"

    raw: Mapping[str, Any] = raw_field()


@attrs.frozen
class AgentV1ThinkLiveUpdated:
    """An ``UpdateThink_Live`` was applied."""

    TYPE: ClassVar[str] = "ThinkLiveUpdated"

    raw: Mapping[str, Any] = raw_field()


@attrs.frozen
class AgentV1FrustrationDetected:
    """Think Live heard the user grow frustrated.

    ``count`` is the number of these in the session so far, from 1; ``escalated``
    turns true once it reaches ``frustration_max_count`` of the Think Live settings:
    the moment to hand the user to a person, say.
    """

    TYPE: ClassVar[str] = "FrustrationDetected"

    count: int
    escalated: bool
    raw: Mapping[str, Any] = raw_field()


@attrs.frozen
class AgentV1CustomFromThinkProvider:
    """A payload of your own think provider's endpoint, passed through as it came
    (the answer channel of ``send_custom_to_think_provider``)."""

    TYPE: ClassVar[str] = "__customFromThinkProvider"

    content: Any
    """Any JSON value."""
    raw: Mapping[str, Any] = raw_field()


@attrs.frozen
class AgentV1InjectionRefused:
    """An ``InjectAgentMessage`` was refused (someone was mid-turn)."""

    TYPE: ClassVar[str] = "InjectionRefused"

    message: str = ""
    raw: Mapping[str, Any] = raw_field()


@attrs.frozen
class AgentV1History:
    """One conversation turn, for the record (``flags.history``).

    Also an item of ``AgentConfig.context``: pass a session's history back in to
    resume the conversation on a new connection.
    """

    TYPE: ClassVar[str] = "History"

    role: Role
    content: str
    raw: Mapping[str, Any] = raw_field()


@attrs.frozen
class FunctionCallRecord:
    """A function call and its response, as the conversation history keeps it."""

    id: str
    name: str
    client_side: bool
    arguments: str
    response: str
    thought_signature: str | None = None


@attrs.frozen
class AgentV1FunctionCallHistory:
    """Function calls and their responses, for the record (the other ``History``
    shape); also usable in ``AgentConfig.context``."""

    TYPE: ClassVar[str] = "History"
    VARIANT_KEY: ClassVar[str] = "function_calls"

    function_calls: tuple[FunctionCallRecord, ...]
    raw: Mapping[str, Any] = raw_field()


@attrs.frozen
class AgentV1Error:
    """A fatal error report; the server usually closes the session after it.

    Codes include ``INVALID_SETTINGS``, ``CLIENT_MESSAGE_TIMEOUT``,
    ``UNPARSABLE_CLIENT_MESSAGE``, ``NON_SETTINGS_MESSAGE_BEFORE_SETTINGS``,
    ``SETTINGS_ALREADY_APPLIED``, ``FAILED_TO_SPEAK``, ``INTERNAL_SERVER_ERROR``
    (servers of 2025 sent some without a code).
    """

    TYPE: ClassVar[str] = "Error"

    description: str = ""
    code: str | None = None
    raw: Mapping[str, Any] = raw_field()


@attrs.frozen
class AgentV1Warning:
    """A non-fatal problem, e.g. ``PROMPT_TOO_LONG`` or ``FUNCTION_CALL_FAILED``."""

    TYPE: ClassVar[str] = "Warning"

    description: str = ""
    code: str | None = None
    raw: Mapping[str, Any] = raw_field()


AgentV1Message = (
    AgentV1Audio
    | AgentV1Welcome
    | AgentV1SettingsApplied
    | AgentV1ConversationText
    | AgentV1UserStartedSpeaking
    | AgentV1AgentThinking
    | AgentV1FunctionCallRequest
    | AgentV1FunctionCallResponse
    | AgentV1FunctionCallCancelled
    | AgentV1AgentStartedSpeaking
    | AgentV1AgentAudioDone
    | AgentV1LatencyReport
    | AgentV1PromptUpdated
    | AgentV1SpeakUpdated
    | AgentV1ThinkUpdated
    | AgentV1ListenUpdated
    | AgentV1ThinkLiveUpdated
    | AgentV1FrustrationDetected
    | AgentV1CustomFromThinkProvider
    | AgentV1InjectionRefused
    | AgentV1History
    | AgentV1FunctionCallHistory
    | AgentV1Error
    | AgentV1Warning
)
"""Every voice agent server message (the connection also yields ``UnknownMessage``)."""

CODEC: Codec[AgentV1Message] = Codec(
    "agent v1",
    [
        AgentV1Welcome,
        AgentV1SettingsApplied,
        AgentV1ConversationText,
        AgentV1UserStartedSpeaking,
        AgentV1AgentThinking,
        AgentV1FunctionCallRequest,
        AgentV1FunctionCallResponse,
        AgentV1FunctionCallCancelled,
        AgentV1AgentStartedSpeaking,
        AgentV1AgentAudioDone,
        AgentV1LatencyReport,
        AgentV1PromptUpdated,
        AgentV1SpeakUpdated,
        AgentV1ThinkUpdated,
        AgentV1ListenUpdated,
        AgentV1ThinkLiveUpdated,
        AgentV1FrustrationDetected,
        AgentV1CustomFromThinkProvider,
        AgentV1InjectionRefused,
        AgentV1History,
        AgentV1FunctionCallHistory,
        AgentV1Error,
        AgentV1Warning,
    ],
    binary=AgentV1Audio,
)


# -- client messages (settings in _settings.py) --------------------------------------------


@attrs.frozen
class KeepAlive:
    TYPE: ClassVar[str] = "KeepAlive"


@attrs.frozen
class UpdatePrompt:
    TYPE: ClassVar[str] = "UpdatePrompt"
    prompt: str


@attrs.frozen
class UpdateSpeak:
    TYPE: ClassVar[str] = "UpdateSpeak"
    speak: Any


@attrs.frozen
class UpdateThink:
    TYPE: ClassVar[str] = "UpdateThink"
    think: Any


@attrs.frozen
class UpdateListen:
    TYPE: ClassVar[str] = "UpdateListen"
    listen: Any


@attrs.frozen
class InjectUserMessage:
    TYPE: ClassVar[str] = "InjectUserMessage"
    content: str


@attrs.frozen
class InjectAgentMessage:
    TYPE: ClassVar[str] = "InjectAgentMessage"
    message: str
    behavior: str | None = None


@attrs.frozen
class InjectDynamicAgentMessage:
    TYPE: ClassVar[str] = "InjectAgentMessage"
    behavior: str | None = None
    is_dynamic: bool = True


@attrs.frozen
class UpdateThinkLive:
    TYPE: ClassVar[str] = "UpdateThink_Live"
    think_live: Any


@attrs.frozen
class ForceEndTurn:
    TYPE: ClassVar[str] = "ForceEndTurn"


@attrs.frozen
class CustomToThinkProvider:
    TYPE: ClassVar[str] = "__customToThinkProvider"
    content: Any

    def to_json(self) -> dict[str, Any]:
        # content is sent even when it is null (the JSON value, not an unset field).
        return {"type": self.TYPE, "content": to_json(self.content)}


KEEPALIVE_FRAME = encode_message(KeepAlive())
FORCE_END_TURN_FRAME = encode_message(ForceEndTurn())
