"""What both text-to-speech sockets share: the checks of text and formats, long text
cut into pieces, and the muting of speech nobody is to hear (audio from before an
Aura ``clear()`` or a Flux ``interrupt()``, the rest of an utterance left early)."""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Awaitable, Callable, Collection
from typing import Any, Generic, Protocol, TypeVar

import trio

from .._codec import UnknownMessage
from .._connection import Connection
from .._engine import Adapter, Engine, Waiter
from .._errors import ConfigurationError
from ._limits import MAX_SPEAK_CHARACTERS

__all__ = [
    "G711_SAMPLE_RATES",
    "SpeechConnection",
    "SpeechMute",
    "UtteranceAudio",
    "check_sample_rate",
    "check_text",
    "split_text",
]

G711_SAMPLE_RATES = (8000, 16000)
"""The sample rates both sockets produce mu-law and A-law at."""


def check_text(text: object, call: str = "speak()") -> None:
    """Refuse what one ``Speak`` message cannot carry: not a string, empty, or more
    than :data:`MAX_SPEAK_CHARACTERS` (the server would close the socket, losing the
    text buffered before it). ``call`` names the method in the message."""
    if not isinstance(text, str):
        raise TypeError(f"{call} takes a string, not {type(text).__name__}")
    if not text:
        raise ValueError(f"{call} needs some text")
    if len(text) > MAX_SPEAK_CHARACTERS:
        raise ValueError(
            f"{call} takes at most {MAX_SPEAK_CHARACTERS} characters per call "
            f"(Deepgram's limit), not {len(text)}: send longer text in pieces, e.g. "
            "sentence by sentence, then flush once"
        )


def check_sample_rate(encoding: str, sample_rate: int, linear16_rates: Collection[int]) -> None:
    """Refuse a sample rate the socket does not produce ``encoding`` at (mu-law and
    A-law: :data:`G711_SAMPLE_RATES`)."""
    rates = linear16_rates if encoding == "linear16" else G711_SAMPLE_RATES
    if sample_rate not in rates:
        # Unprefixed: the command line shows this message as it is.
        raise ConfigurationError(
            f"sample_rate {sample_rate!r} is not one of {', '.join(map(str, rates))} for {encoding}"
        )


# Where long text is cut: after a sentence's end (or a line break), else between
# words; the whitespace stays with the piece before, so the pieces join up to the text.
_SENTENCE_BREAK = re.compile(r"""(?:[.!?\u2026]["'\u201d\u2019)\]]*\s+|\n\s*)(?=\S)""")
_WORD_BREAK = re.compile(r"\s+(?=\S)")


def split_text(text: str, limit: int = MAX_SPEAK_CHARACTERS) -> list[str]:
    """``text`` in pieces of at most ``limit`` characters that join up to it, cut at
    the last sentence boundary that fits, else the last word boundary, else anywhere
    (a "word" longer than ``limit``)."""
    pieces: list[str] = []
    start = 0
    while len(text) - start > limit:
        end = start + limit
        cut = end
        for boundary in (_SENTENCE_BREAK, _WORD_BREAK):
            # endpos is one past the piece so that the lookahead sees the next character.
            found = [match.end() for match in boundary.finditer(text, start, end + 1)]
            if found:
                cut = found[-1]
                break
        pieces.append(text[start:cut])
        start = cut
    pieces.append(text[start:])
    return pieces


M = TypeVar("M")


class _Speech(Protocol):
    @property
    def data(self) -> bytes: ...


A = TypeVar("A", bound=_Speech)


class SpeechMute(Adapter[M]):
    """Speech is muted while a silence holds: a ``clear()`` or ``interrupt()`` until
    its answer, an utterance left early until its end (sans-io).

    ``speech_queued`` counts the speech frames the engine queued so far; a message
    for which ``cuts`` is true (``Cleared``, ``SpeechInterrupted``) says that the
    audio queued before it is stale."""

    def __init__(self, speech_queued: Callable[[], int], cuts: Callable[[Any], bool]) -> None:
        self._speech_queued = speech_queued
        self._cuts = cuts
        self.silences: list[Waiter[Any]] = []  # each holds until its reply
        self.audio_cutoff = 0  # speech frames taken below this count are dropped

    def audible(self) -> bool:
        if self.silences:
            self.silences = [waiter for waiter in self.silences if not waiter.done.is_set()]
        return not self.silences

    def on_message(self, message: M | UnknownMessage) -> None:
        if self._cuts(message):
            # Everything before it was audio nobody is to hear (even when the call
            # that asked for it gave up waiting).
            self.audio_cutoff = self._speech_queued()


class SpeechConnection(Connection[M], Generic[M, A]):
    """A text-to-speech connection whose audio can be silenced.

    Audio nobody is to hear is dropped on the way to the user: what arrives while a
    silence holds is never queued (the adapter mutes it), and what was queued before
    it started is dropped when taken. The inbox keeps the audio's order, so counting
    the frames queued (the engine's ``speech_queued``) and taken identifies them.
    """

    def __init__(self, engine: Engine[M], mute: SpeechMute[M], speech: type[A]) -> None:
        super().__init__(engine)
        self._mute = mute
        self._speech = speech
        # Messages an utterance loop took off the channel, for the next receive().
        self._held: deque[M | UnknownMessage] = deque()
        self._audio_taken = 0
        self._audio_discarded = 0
        self._utterance: Waiter[M | UnknownMessage] | None = None  # an open utterance's end
        engine.attach(mute)

    @property
    def audio_frames_discarded(self) -> int:
        """Audio frames received but dropped: a barge-in came after them, or the
        utterance they belonged to was left early."""
        return self._audio_discarded + self._engine.speech_muted

    async def receive(self) -> M | UnknownMessage:
        """The next message; audio from before a barge-in, and the rest of an
        utterance left early, are skipped."""
        if not self._engine.receiving:  # else the engine refuses this second receiver
            self._leave_utterance()
        if self._held:
            await trio.lowlevel.checkpoint()
            return self._held.popleft()
        return await self._next()

    async def _next(self) -> M | UnknownMessage:
        while True:
            # The engine's, not Connection.receive(), which only calls it: one
            # coroutine frame fewer per audio chunk (about 5 % of a TTS stream's time).
            message = await self._engine.receive()
            if isinstance(message, self._speech) and self._stale():
                continue
            return message

    def _stale(self) -> bool:
        """Count an audio frame taken from the inbox; whether it is to be dropped."""
        index = self._audio_taken
        self._audio_taken += 1
        if index < self._mute.audio_cutoff:
            self._audio_discarded += 1
            return True
        return False

    def _silence(self, waiter: Waiter[M | UnknownMessage]) -> None:
        """Drop the audio queued now, and what arrives until ``waiter`` has its reply.

        The inbox is emptied at once (its audio dropped, the rest kept in order): a
        full inbox stops the reader, and the reply must get through whatever the
        consumer is doing."""
        self._mute.audio_cutoff = self._engine.speech_queued
        self._mute.silences.append(waiter)
        self._engine.drain_inbox(
            keep=lambda item: not (isinstance(item, self._speech) and self._stale())
        )

    def _unsilence(self, waiter: Waiter[M | UnknownMessage]) -> None:
        """End the silence of a request that was not sent or not answered: the audio
        from now on is heard (an answer that comes late moves the cutoff again)."""
        if not waiter.replies and waiter in self._mute.silences:
            self._mute.silences.remove(waiter)
            self._mute.audio_cutoff = self._engine.speech_queued

    def _leave_utterance(self) -> None:
        """If an utterance was left before its end (a ``break``, a timeout, an error
        in the loop), drop the rest of its audio: it must not reach the next one.
        Called when the utterance's iteration fails or is closed, and, since a
        ``break`` leaves it without a word, by the next receive or utterance."""
        waiter, self._utterance = self._utterance, None
        if waiter is not None:
            self._silence(waiter)


class UtteranceAudio(Generic[M, A]):
    """The audio of one utterance (Aura's :meth:`~dgtrio.SpeakV1Connection.utterance`,
    Flux's :meth:`~dgtrio.SpeakV2Connection.turn`): an async iterator of audio
    messages that ends where the server says the utterance's audio is complete.

    The message that ended it is then :attr:`end_message`: Aura's ``Flushed`` (or the
    ``Cleared`` of a :meth:`~dgtrio.SpeakV1Connection.clear`), Flux's
    ``SpeechMetadata`` with the turn's billing and timing (or the
    ``SpeechInterrupted`` of an interrupt).

    An iterator, not an async generator, so that leaving it with ``break`` needs no
    ``aclosing()``: whatever is left of it is dropped as soon as the connection is
    used again (``aclose()`` drops it at once).
    """

    def __init__(
        self,
        connection: SpeechConnection[M, A],
        start: Callable[[], Awaitable[Waiter[Any]]],
        timeout: float,
        end: str,
    ) -> None:
        self._connection = connection
        self._start = start
        self._timeout = timeout
        self._end = end  # what ends it, for the timeout's message
        self._waiter: Waiter[Any] | None = None
        self._finished = False
        self.end_message: M | None = None
        """The message that ended the utterance; ``None`` until then, and for one
        left early."""

    def __aiter__(self) -> UtteranceAudio[M, A]:
        return self

    async def __anext__(self) -> A:
        conn = self._connection
        if self._finished:
            raise StopAsyncIteration
        try:
            if self._waiter is None:
                conn._leave_utterance()
                self._waiter = conn._utterance = await self._start()
            waiter = self._waiter
            while True:
                with trio.move_on_after(self._timeout) as wait:
                    message = await conn._next()
                if wait.cancelled_caught:
                    raise conn._engine.requests.timeout_error(
                        f"audio or {self._end}", self._timeout
                    )
                if isinstance(message, conn._speech):
                    return message
                if message is waiter.ended or any(message is r for r in waiter.replies):
                    conn._utterance = None  # heard to its end
                    self._finished = True
                    assert not isinstance(message, UnknownMessage)  # replies are known ones
                    self.end_message = message
                    raise StopAsyncIteration
                conn._held.append(message)
        except BaseException:
            self._leave()
            raise

    async def aclose(self) -> None:
        """Stop iterating: the rest of this utterance's audio is dropped."""
        self._leave()
        await trio.lowlevel.checkpoint()

    def _leave(self) -> None:
        self._finished = True
        if self._waiter is not None and self._connection._utterance is self._waiter:
            self._connection._leave_utterance()
