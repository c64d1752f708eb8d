"""The server's voice: what its text-to-speech sockets say, and how long it lasts.

Aura (``/v1/speak``) and Flux TTS (``/v2/speak``) are served once, by the server: what a
client may send when, the answers, warnings, errors, limits, interrupts. What the
audio sounds like, and so how long it lasts and where in the text a listener stopped
hearing it, is a :class:`Voice`'s: the fake's scripted tone, or the local engine's
synthesised speech, behind the same small interface.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Protocol

import attrs

from ..audio import AudioFormat

__all__ = ["SpeechSettings", "Utterance", "Voice", "cut_at_word"]


@attrs.frozen
class SpeechSettings:
    """What a voice is told of its session, parsed by the socket: the audio the client
    asked for, the samples in a chunk of it, and how the socket's text reads.

    ``words`` gives the words to say for a piece of text as the client sent it (Aura:
    the text itself; Flux: each inline pronunciation control as its word, and nothing
    for a text without a letter or digit, which Flux does not speak). Positions a voice
    reports are in the text as sent, which the client sees again when interrupted.
    """

    format: AudioFormat
    chunk_samples: int
    words: Callable[[str], str]


class Utterance(Protocol):
    """One utterance of a :class:`Voice` (an Aura flush, a Flux turn): its text as it
    arrives, its audio as it is ready."""

    def add(self, text: str, speed: float) -> None:
        """More of the utterance's text, as the client sent it, to be spoken at
        ``speed`` (1: the voice's own pace; the speed in force when the text came)."""
        ...

    async def say(self, ending: bool, send: Callable[[bytes], Awaitable[None]]) -> bool:
        """Send what can be said now of the text added so far, as chunks of whole
        samples in the session's format, at most ``chunk_samples`` each; once the
        utterance is ``ending`` (no more text comes), what is left of it. Whether there
        was anything to say: the server calls again until there is not, so a voice may
        say a part per call (a sentence), and take the time synthesis takes. The
        server cancels a call to stop the audio; ``send`` sends a chunk whole or not
        at all."""
        ...

    def duration_ms(self) -> float:
        """The utterance's audio, in ms: its duration once other utterances were
        spoken since, and the most of it a listener can have heard when interrupted."""
        ...

    def heard(self, heard_ms: float) -> int:
        """Where the words heard in the first ``heard_ms`` of the utterance's audio end
        in its text (every text added, joined), at a word boundary (see
        :func:`cut_at_word`): the text before was spoken, the rest was not."""
        ...


class Voice(Protocol):
    """What a text-to-speech session sounds like: one voice per session (it may carry
    the session's state), speaking the utterances the socket's protocol starts, grows
    and ends."""

    def utterance(self, settings: SpeechSettings) -> Utterance:
        """A new utterance, with no text yet, spoken as ``settings`` say."""
        ...


def cut_at_word(text: str, fraction: float) -> int:
    """Where ``fraction`` of ``text`` ends, moved back to a word boundary: the text
    before it was heard, the rest (its space first) was not."""
    index = round(fraction * len(text))
    if index >= len(text):
        return len(text)
    return max(text.rfind(" ", 0, index + 1), 0)
