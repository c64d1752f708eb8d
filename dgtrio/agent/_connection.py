"""The voice agent: a conversation over ``/v1/agent/converse``."""

from __future__ import annotations

from collections.abc import AsyncIterable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from functools import partial
from typing import Any, Literal, TypeVar, Unpack

import orjson

from .._codec import UnknownMessage, encode_message, to_json
from .._connection import Connection
from .._engine import ApiSpec, ConnectOptions, Engine, open_connection, server_error
from .._errors import ConfigurationError, InjectionRefused, SettingsError
from .._validate import check_json, check_positive_number, check_timeout, check_value
from ..audio._format import AudioFormat, AudioSink, check_format, raw_format
from ._messages import (
    CODEC,
    FORCE_END_TURN_FRAME,
    KEEPALIVE_FRAME,
    AgentV1Audio,
    AgentV1ConversationText,
    AgentV1Error,
    AgentV1InjectionRefused,
    AgentV1ListenUpdated,
    AgentV1Message,
    AgentV1PromptUpdated,
    AgentV1SettingsApplied,
    AgentV1SpeakUpdated,
    AgentV1ThinkLiveUpdated,
    AgentV1ThinkUpdated,
    AgentV1UserStartedSpeaking,
    AgentV1Warning,
    CustomToThinkProvider,
    InjectAgentMessage,
    InjectDynamicAgentMessage,
    InjectUserMessage,
    UpdateListen,
    UpdatePrompt,
    UpdateSpeak,
    UpdateThink,
    UpdateThinkLive,
)
from ._settings import (
    AgentV1Settings,
    DeepgramListenV1,
    DeepgramListenV2,
    DeepgramThinkLive,
    Listen,
    ListenProvider,
    Speak,
    Think,
    ThinkLive,
    filler_field,
    settings_part,
)
from ._tools import ToolRegistry, ToolResult, ToolRunner

__all__ = ["AgentConnection", "AgentMessage", "open_agent"]

AgentMessage = AgentV1Message | ToolResult
"""What iterating an agent connection yields (besides ``UnknownMessage``)."""

AGENT_V1: ApiSpec[AgentMessage] = ApiSpec(
    name="agent v1",
    path="/v1/agent/converse",
    codec=CODEC,
    agent_host=True,
    keepalive_frame=KEEPALIVE_FRAME,
    fatal_error=AgentV1Error,
    speech=AgentV1Audio,
    barge_in=AgentV1UserStartedSpeaking,
    quiet=True,
)

A = TypeVar("A", bound=AgentMessage)  # an acknowledgement


class AgentConnection(Connection[AgentMessage]):
    """A voice agent conversation: send the user's audio, iterate what happens.

    Messages: :class:`AgentV1Audio` (the agent's speech), ``Welcome`` and
    ``SettingsApplied`` first, then ``ConversationText``, ``UserStartedSpeaking``
    (stop playback), ``AgentThinking``, ``FunctionCallRequest``,
    ``AgentStartedSpeaking``, ``AgentAudioDone``, ``History``, ``Warning``, with Think
    Live ``FrustrationDetected``... (every ``AgentV1*`` class), :class:`ToolResult`
    for each call the tool registry answered, and :class:`~dgtrio.UnknownMessage` for
    anything newer.

    An ``Error`` the server follows with a close ends the iteration with
    :class:`~dgtrio.ServerError` (its ``code`` and ``description``).
    """

    def __init__(
        self,
        engine: Engine[AgentMessage],
        *,
        settings: AgentV1Settings | Mapping[str, Any],
        settings_frame: str,
        tools: ToolRegistry | None,
        settings_timeout: float,
        input_format: AudioFormat | None,
        without_think_live: bool,
    ) -> None:
        super().__init__(engine)
        self.settings = settings
        """The settings this conversation was opened with (as given)."""
        self._without_think_live = without_think_live  # known to be off
        self._tools = tools
        self._settings_timeout = settings_timeout
        self._settings_frame = settings_frame  # the tools declared in it
        self._calls = ToolRunner(engine, tools)  # answers the client-side function calls
        engine.attach(
            self._calls,
            input_format=input_format,
            opening=self._open_session,
            delivers=True,  # tool results
        )

    async def _open_session(self) -> None:
        """Send ``Settings`` (the first client message) and wait for the verdict."""
        await self._acknowledged(
            self._settings_frame, AgentV1SettingsApplied, self._settings_timeout
        )

    # -- sends -------------------------------------------------------------------------------

    async def send_audio(self, data: bytes | bytearray | memoryview) -> None:
        """Queue one frame of the user's audio, in the ``audio.input`` format.

        Raises:
            AudioFormatError: an empty frame, or one that splits a PCM sample.
            ConnectionClosed, ServerError: the conversation has ended (why).
        """
        await self._engine.send_audio(data)

    async def keep_alive(self) -> None:
        """Send a ``KeepAlive`` now. Rarely needed: one goes out whenever nothing
        was sent for ``keepalive_interval``."""
        await self._engine.send(KEEPALIVE_FRAME)

    async def inject_user_message(self, content: str) -> None:
        """Say ``content`` to the agent as if the user had spoken it.

        Raises:
            TypeError: ``content`` is not a string. ValueError: it is blank.
        """
        _check_text("content", content)
        await self._engine.send(encode_message(InjectUserMessage(content)))

    async def inject_agent_message(
        self,
        message: str,
        *,
        behavior: Literal["default", "queue", "interrupt"] | None = None,
        timeout: float = 10.0,
    ) -> AgentV1ConversationText:
        """Make the agent say ``message``, and wait until it is accepted.

        Args:
            behavior: ``"default"`` (refused while the user or the agent is mid-turn),
                ``"queue"`` (after the current turn) or ``"interrupt"``.
            timeout: seconds to wait for the agent to take it up (a queued message
                waits for the current turn).

        Returns:
            The agent's ``ConversationText`` carrying the message.

        Raises:
            InjectionRefused: the agent refused it.
            AcknowledgementTimeout: neither within ``timeout``.
        """
        _check_text("message", message)
        check_timeout(timeout)
        _check_behavior(behavior)
        text = message.strip()

        def is_answer(reply: AgentMessage | UnknownMessage) -> bool:
            return _is_refusal(reply) or (
                isinstance(reply, AgentV1ConversationText)
                and reply.role == "assistant"
                and reply.content.strip() == text
            )

        frame = encode_message(InjectAgentMessage(message, behavior))
        reply = await self._engine.requests.reply(
            frame, is_answer, what="answer to InjectAgentMessage", timeout=timeout
        )
        return _accepted(reply)

    async def inject_dynamic_agent_message(
        self,
        *,
        behavior: Literal["default", "queue", "interrupt"] | None = None,
        timeout: float = 10.0,
    ) -> AgentV1ConversationText:
        """Have Think Live say a filler line of its own making ("One moment..."), and
        wait until it is accepted.

        Args:
            behavior: as for :meth:`inject_agent_message`.
            timeout: seconds to wait for the agent to take it up.

        Returns:
            The agent's next ``filler`` ``ConversationText``: this line. Deepgram does
            not tie its answer to the request, and Think Live says filler lines of its
            own while a function with filler settings runs: injected then, the line
            returned may be the function's.

        Raises:
            ConfigurationError: the conversation has no Think Live (``agent.think_live``).
            InjectionRefused: the agent refused it.
            AcknowledgementTimeout: neither within ``timeout``.
        """
        if self._without_think_live:
            raise ConfigurationError(
                f"inject_dynamic_agent_message() {_NO_THINK_LIVE}: set agent.think_live"
            )
        _check_behavior(behavior)
        check_timeout(timeout)

        def is_answer(reply: AgentMessage | UnknownMessage) -> bool:
            return _is_refusal(reply) or (
                isinstance(reply, AgentV1ConversationText)
                and reply.role == "assistant"
                and reply.conversational_behavior == "filler"
            )

        frame = encode_message(InjectDynamicAgentMessage(behavior))
        reply = await self._engine.requests.reply(
            frame, is_answer, what="answer to InjectAgentMessage", timeout=timeout
        )
        return _accepted(reply)

    async def force_end_turn(self) -> None:
        """End the user's turn now, as if they had stopped speaking: the agent answers
        what it heard so far (a push-to-talk button, say). The server sends no
        acknowledgement; the agent's reply follows as usual.

        Raises:
            ConnectionClosed, ServerError: the conversation has ended (why).
            trio.ClosedResourceError: after the block or ``aclose()``.
        """
        await self._engine.send(FORCE_END_TURN_FRAME)

    async def send_custom_to_think_provider(self, content: Any) -> None:
        """Send ``content``, any JSON value, as it is to your think provider's endpoint
        (``__customToThinkProvider``); what it sends back arrives as
        :class:`AgentV1CustomFromThinkProvider` messages. No acknowledgement comes.

        Raises:
            TypeError: ``content``, or a part of it, is not JSON (bytes, a set, a
                key that is not a string...).
            ValueError: a NaN or infinite number in it.
            ConnectionClosed, ServerError: the conversation has ended (why).
            trio.ClosedResourceError: after the block or ``aclose()``.
        """
        check_json(content, "content")
        await self._engine.send(encode_message(CustomToThinkProvider(content)))

    async def update_prompt(self, prompt: str, *, timeout: float = 5.0) -> AgentV1PromptUpdated:
        """Change the system prompt (Deepgram adds it to the current one); waits for
        ``PromptUpdated``."""
        _check_text("prompt", prompt)
        return await self._acknowledged(
            encode_message(UpdatePrompt(prompt)), AgentV1PromptUpdated, timeout
        )

    async def update_speak(
        self, speak: Speak | Sequence[Speak] | Mapping[str, Any], *, timeout: float = 5.0
    ) -> AgentV1SpeakUpdated:
        """Change the agent's voice (one, or several in fallback order); waits for
        ``SpeakUpdated``.

        Raises:
            TypeError: ``speak`` is none of these (a voice's name alone, say).
        """
        _check_part("speak", speak, Speak)
        value = tuple(speak) if isinstance(speak, Sequence) else speak
        return await self._acknowledged(
            encode_message(UpdateSpeak(value)), AgentV1SpeakUpdated, timeout
        )

    async def update_think(
        self, think: Think | Sequence[Think] | Mapping[str, Any], *, timeout: float = 5.0
    ) -> AgentV1ThinkUpdated:
        """Replace the LLM configuration (one, or several in fallback order); waits
        for ``ThinkUpdated``. The tool registry's functions are declared again.

        Raises:
            TypeError: ``think`` is none of these (a model's name alone, say).
            SettingsError: a function's filler field in a conversation without Think
                Live.
        """
        _check_part("think", think, Think)
        value = _think_json(
            to_json(tuple(think) if isinstance(think, Sequence) else think), self._tools
        )
        if self._without_think_live:
            _refuse_fillers(value)
        return await self._acknowledged(
            encode_message(UpdateThink(value)), AgentV1ThinkUpdated, timeout
        )

    async def update_think_live(
        self,
        think_live: ThinkLive | DeepgramThinkLive | Mapping[str, Any],
        *,
        timeout: float = 5.0,
    ) -> AgentV1ThinkLiveUpdated:
        """Replace the Think Live settings (``agent.think_live``); waits for
        ``ThinkLiveUpdated``.

        Args:
            think_live: a :class:`ThinkLive`, its provider, or its JSON form (checked
                as :meth:`AgentV1Settings.from_dict` checks settings).
            timeout: seconds to wait for the acknowledgement.

        Deepgram does not say whether a conversation opened without Think Live may
        turn it on this way; if the server refuses, its ``Error`` is raised.

        Raises:
            TypeError: ``think_live`` is none of these.
            SettingsError: its JSON form does not fit Deepgram's schema (the path).
            ServerError: the server refused it (``code``, ``description``).
            AcknowledgementTimeout: no ``ThinkLiveUpdated`` within ``timeout``.
            trio.ClosedResourceError: after the block or ``aclose()``.
        """
        if isinstance(think_live, DeepgramThinkLive):
            think_live = ThinkLive(provider=think_live)
        elif isinstance(think_live, Mapping):
            think_live = settings_part(think_live, ThinkLive, "think_live")
        elif not isinstance(think_live, ThinkLive):
            raise TypeError(
                "think_live must be ThinkLive, DeepgramThinkLive or a mapping, "
                f"not {type(think_live).__name__}"
            )
        check_timeout(timeout)
        frame = encode_message(UpdateThinkLive(think_live))
        # On once applied, which a call cut short cannot tell: no longer known off.
        self._without_think_live = False
        return await self._acknowledged(frame, AgentV1ThinkLiveUpdated, timeout)

    async def update_listen(
        self, listen: Listen | ListenProvider | Mapping[str, Any], *, timeout: float = 5.0
    ) -> AgentV1ListenUpdated:
        """Change the speech-to-text settings (e.g. Flux thresholds or keyterms);
        waits for ``ListenUpdated``.

        The model and language can be changed mid-session; keyterms only for Flux
        (``DeepgramListenV2``) models, as Deepgram documents.

        Raises:
            SettingsError: keyterms for a Nova (``DeepgramListenV1``) provider.
        """
        if not isinstance(listen, Listen | Mapping | DeepgramListenV1 | DeepgramListenV2):
            raise TypeError(
                f"listen must be Listen, a listen provider or a mapping, "
                f"not {type(listen).__name__}"
            )
        value = listen if isinstance(listen, Listen | Mapping) else Listen(provider=listen)
        provider = value.provider if isinstance(value, Listen) else value.get("provider")
        nova_keyterms = None  # Flux (v2) may change its keyterms
        if isinstance(provider, DeepgramListenV1):
            nova_keyterms = provider.keyterms
        elif isinstance(provider, Mapping) and provider.get("version", "v1") == "v1":
            nova_keyterms = provider.get("keyterms")  # v1 unless it says, as in Settings
        if nova_keyterms:
            raise SettingsError(
                "listen.provider.keyterms",
                "keyterms can only be updated mid-session for Flux (v2) models; "
                "a Nova model takes them in the Settings the conversation opens with",
                field="keyterms",
            )
        return await self._acknowledged(
            encode_message(UpdateListen(value)), AgentV1ListenUpdated, timeout
        )

    async def _acknowledged(self, frame: str, ack: type[A], timeout: float) -> A:
        """Send ``frame`` and return its ``ack``; an ``Error`` instead raises it."""
        check_timeout(timeout)
        reply = await self._engine.requests.reply(
            frame,
            lambda reply: isinstance(reply, ack | AgentV1Error),
            what=ack.TYPE,  # type: ignore[attr-defined]
            timeout=timeout,
        )
        if isinstance(reply, AgentV1Error):
            raise server_error(reply)
        assert isinstance(reply, ack)
        return reply

    async def send_function_call_response(
        self, call_id: str, content: Any, *, name: str | None = None
    ) -> None:
        """Answer a client-side function call that no registered tool handles.

        Args:
            call_id: the ``id`` of the call, from the ``FunctionCallRequest``.
            content: the result: a string is sent as it is, anything else as JSON.
            name: the function's name; default: the one requested.

        Raises:
            ValueError: no call with this id is waiting for an answer (never asked,
                answered already, withdrawn, or answered by the tool registry), or
                ``name`` is not the requested one.
        """
        await self._calls.answer(call_id, content, name)

    async def send_json(self, message: Mapping[str, Any]) -> None:
        """Send any JSON message as it is: for features newer than this library.

        Raises:
            TypeError: ``message`` is not a mapping, or cannot be encoded as JSON.
            ValueError: it has no string ``type``.
        """
        if not isinstance(message, Mapping):
            raise TypeError(f"send_json() takes a mapping, not {type(message).__name__}")
        if not isinstance(message.get("type"), str):
            raise ValueError("a client message needs a string 'type'")
        await self._engine.send(orjson.dumps(dict(message)).decode())


_NO_THINK_LIVE = "needs Think Live, which this conversation does not have"


def _check_behavior(behavior: object) -> None:
    if behavior not in (None, "default", "queue", "interrupt"):
        raise ValueError(f"behavior is 'default', 'queue' or 'interrupt', not {behavior!r}")


def _is_refusal(reply: AgentMessage | UnknownMessage) -> bool:
    """Whether ``reply`` refuses an ``InjectAgentMessage``."""
    if isinstance(reply, AgentV1Warning):  # how servers of 2025 refused
        return (reply.code or "").startswith("INJECT_AGENT_MESSAGE")
    return isinstance(reply, AgentV1InjectionRefused)


def _accepted(reply: AgentMessage | UnknownMessage) -> AgentV1ConversationText:
    """The agent's text that took up an injection; raises its refusal."""
    if isinstance(reply, AgentV1ConversationText):
        return reply
    assert isinstance(reply, AgentV1InjectionRefused | AgentV1Warning)
    reason = reply.message if isinstance(reply, AgentV1InjectionRefused) else reply.description
    raise InjectionRefused(reason, message=reply)


def _check_text(name: str, value: object) -> None:
    if not isinstance(value, str):
        raise TypeError(f"{name} is a string, not {type(value).__name__}")
    if not value.strip():
        raise ValueError(f"{name} is blank: the agent would have nothing to take")


def _audio_json(settings: Mapping[str, Any], direction: str) -> Mapping[str, Any]:
    """``audio.input`` or ``audio.output`` of the ``Settings`` JSON ({} if unset)."""
    return (settings.get("audio") or {}).get(direction) or {}


def _formats(settings: Mapping[str, Any]) -> tuple[AudioFormat | None, AudioFormat | None]:
    """The raw formats of the user's audio and of the agent's speech, if raw.

    Unset, both are linear16 at 24 kHz: the server's defaults.
    """
    given = _audio_json(settings, "input")
    heard = raw_format(given.get("encoding", "linear16"), given.get("sample_rate", 24000))
    spoken = _audio_json(settings, "output")
    said = None
    if spoken.get("container") in (None, "none"):
        said = raw_format(spoken.get("encoding") or "linear16", spoken.get("sample_rate") or 24000)
    return heard, said


def _settings_json(
    settings: AgentV1Settings | Mapping[str, Any], tools: ToolRegistry | None
) -> dict[str, Any]:
    """The ``Settings`` message, with the registry's functions declared."""
    if isinstance(settings, AgentV1Settings):
        data: dict[str, Any] = to_json(settings)
    else:
        data = {**settings, "type": "Settings"}
    agent = data.get("agent")
    # A stored agent (an id) must declare the registry's functions itself.
    if tools and isinstance(agent, Mapping):
        if agent.get("think") is None:
            raise ConfigurationError("tools are declared in agent.think: set it")
        data["agent"] = {**agent, "think": _think_json(agent["think"], tools)}
        if _without_think_live(data):
            _refuse_fillers(data["agent"]["think"], "agent.think")
    return data


def _check_part(name: str, value: object, cls: type) -> None:
    """Refuse what is neither a ``cls``, a sequence of them, nor a mapping (JSON)."""
    if isinstance(value, str | bytes) or not isinstance(value, cls | Sequence | Mapping):
        raise TypeError(
            f"{name} must be {cls.__name__}, a list of them or a mapping, "
            f"not {type(value).__name__}"
        )


def _refuse_fillers(think: Any, path: str = "think") -> None:
    """Refuse a filler field in ``think`` (JSON) of a conversation without Think Live."""
    field = filler_field(think, path)
    if field is not None:
        raise SettingsError(field, f"{_NO_THINK_LIVE} (agent.think_live)", field=field)


def _without_think_live(settings: Mapping[str, Any]) -> bool:
    """Whether the ``Settings`` JSON leaves Think Live off (a stored agent may not)."""
    agent = settings.get("agent")
    return isinstance(agent, Mapping) and agent.get("think_live") is None


def _think_json(think: Any, tools: ToolRegistry | None) -> Any:
    """``think`` (an object or a fallback list) with the registry's functions added."""
    if not tools:
        return think
    if isinstance(think, list):
        return [_think_json(item, tools) for item in think]
    declared = list(think.get("functions") or ())
    taken = {function.get("name") for function in declared} & {tool.name for tool in tools}
    if taken:
        raise ConfigurationError(
            f"{', '.join(sorted(taken))}: declared in think.functions and registered as a tool"
        )
    return {**think, "functions": declared + [to_json(tool.function) for tool in tools]}


def open_agent(
    settings: AgentV1Settings | Mapping[str, Any],
    *,
    audio: AsyncIterable[bytes] | None = None,
    speaker: AudioSink | None = None,
    tools: ToolRegistry | None = None,
    keepalive_interval: float | None = 8.0,
    settings_timeout: float = 10.0,
    **connect: Unpack[ConnectOptions],
) -> AbstractAsyncContextManager[AgentConnection]:
    """Open a voice agent conversation (``/v1/agent/converse``).

    ::

        async with dgtrio.open_agent(settings, audio=microphone, tools=tools) as agent:
            async for message in agent:
                if isinstance(message, dgtrio.AgentV1Audio):
                    await speaker.play(message.data)

    ``Settings`` is the first message sent; the block starts once the server has
    applied them (``Welcome`` and ``SettingsApplied`` are still the first messages
    iterated). Audio from ``audio`` waits until then.

    Args:
        settings: an :class:`AgentV1Settings`, or the JSON object itself (sent as it
            is, unchecked: for settings newer than this library).
        audio: an async iterable of audio frames in the ``audio.input`` format, e.g.
            a microphone. When it ends, the conversation goes on (keepalives resume).
        tools: async functions the agent may call: declared in every
            ``agent.think`` and answered automatically (see :class:`ToolRegistry`).
        keepalive_interval: send ``KeepAlive`` when nothing went out for this many
            seconds (Deepgram closes a silent conversation); ``None`` disables it.
        settings_timeout: seconds to wait for ``SettingsApplied``.
        **connect: credentials, ``base_url`` and the other :class:`ConnectOptions`.

    Raises (on entering the block):
        SettingsError, ConfigurationError: settings that cannot work.
        ServerError: the server refused the settings (``code``, ``description``).
        AcknowledgementTimeout: no ``SettingsApplied`` within ``settings_timeout``.
        HandshakeRejected, ConnectTimeout, ConnectError: as for every API.
    """
    if not isinstance(settings, AgentV1Settings | Mapping):
        raise TypeError(
            f"settings must be AgentV1Settings or a mapping, not {type(settings).__name__}"
        )
    check_value("", "tools", tools, ToolRegistry | None)
    check_positive_number("", "settings_timeout", settings_timeout)
    # Built now: configuration errors are raised before connecting.
    data = _settings_json(settings, tools)
    heard, said = _formats(data)
    check_format("the audio source", audio, heard, "the settings' audio.input")
    check_format("the speaker", speaker, said, "the settings' audio.output")
    return open_connection(
        partial(
            AgentConnection,
            settings=settings,
            settings_frame=orjson.dumps(data).decode(),
            input_format=heard,
            without_think_live=_without_think_live(data),
            tools=tools,
            settings_timeout=settings_timeout,
        ),
        AGENT_V1,
        "",
        connect,
        opener=open_agent,
        options_class=AgentV1Settings,
        audio=audio,
        speaker=speaker,
        keepalive_interval=keepalive_interval,
    )
