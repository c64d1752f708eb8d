"""The voice agent's script: the rules a server without a language model replies by,
and calls the client's functions by.

:class:`AgentScript` is defined here, not beside the scripted server, because both
servers follow it: :class:`~dgtrio.testing.FakeDeepgram` for everything its agent
hears, says and does, and :class:`~dgtrio.local.LocalDeepgram` for its turn-taking and
its function calls (and its replies, unless it is given ``think``).
:class:`ScriptedMind` is its rules as an :class:`~dgtrio.server.AgentMind`.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import attrs
import trio

from ._common import check_hearing

if TYPE_CHECKING:
    from ._agent_brains import AgentFunctions

__all__ = ["AgentScript", "ScriptedCall", "ScriptedMind"]


def _check_template(template: str, name: str) -> None:
    try:
        template.format(**{name: ""})
    except (KeyError, IndexError, ValueError) as exc:
        raise ValueError(f"{template!r}: the only placeholder allowed is {{{name}}}") from exc


@attrs.frozen
class ScriptedCall:
    """A function the agent calls when the user's words contain ``when`` (any case).

    The call is made only if the session's think settings declare ``function``. One
    declared without an ``endpoint`` runs on the client: the server sends a
    ``FunctionCallRequest`` with ``client_side: true`` and waits for the client's
    ``FunctionCallResponse``. One with an ``endpoint`` runs on the server: the server
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
    """What the scripted voice agent hears, answers and calls.

    The server detects speech from the client's audio: once frames have been louder
    than ``speech_threshold`` (RMS, as a fraction of full scale) for ``speech_onset``
    seconds of audio, the user started speaking; ``end_of_turn`` seconds of quieter
    audio end the turn, which :class:`~dgtrio.testing.FakeDeepgram` "hears" as the next
    of ``user_lines`` (cycling).
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


class ScriptedMind:
    """An :class:`~dgtrio.server.AgentMind` that follows an :class:`AgentScript`'s rules.

    A user turn containing a call's ``when`` makes the first such call whose function
    the settings declare, and the call's ``reply`` says its result. Otherwise (or when
    the client did not answer the call in time) ``think`` gives the reply; without
    it, the script's ``replies`` by keyword, or its ``default_reply``. ``think`` is how
    a server with a real mind keeps the script's function calls.
    """

    def __init__(
        self, script: AgentScript, think: Callable[[str], Awaitable[str]] | None = None
    ) -> None:
        self._script = script
        self._think = think or self._scripted_reply

    async def reply(self, text: str, functions: AgentFunctions) -> str:
        """The agent's answer to ``text``, after the function call the rules make."""
        lowered = text.lower()
        call = next(
            (
                c
                for c in self._script.calls
                if c.when.lower() in lowered and c.function in functions.declared
            ),
            None,
        )
        if call is not None:
            content = await functions.call(
                call.function, call.arguments, server_result=call.server_result
            )
            if content is not None:
                return call.reply.format(content=content)
        return await self._think(text)

    async def _scripted_reply(self, text: str) -> str:
        await trio.lowlevel.checkpoint()
        lowered = text.lower()
        return next(
            (r for key, r in self._script.replies.items() if key.lower() in lowered),
            self._script.default_reply.format(text=text),
        )
