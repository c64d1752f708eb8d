"""Flux TTS: streaming, turn-based text-to-speech over ``/v2/speak``.

The five openers name their sockets: :func:`~dgtrio.open_listen` (``/v1/listen``),
:func:`~dgtrio.open_flux_listen` (``/v2/listen``, Flux speech-to-text),
:func:`~dgtrio.open_speak` (``/v1/speak``, Aura),
:func:`open_flux_speak` (``/v2/speak``, Flux text-to-speech) and
:func:`~dgtrio.open_agent`.

How the server's answers are told apart (Deepgram answers in order, but not every
answer is immediate):

- A turn ends with its ``SpeechMetadata`` (after its ``Flushed`` and the rest of its
  audio), or, cancelled, with a ``SpeechInterrupted``. Each ``Flush`` ends one turn,
  so the flushes' waiters take the ``SpeechMetadata`` messages in order, and a
  ``SpeechInterrupted`` ends the waits of the flushes sent before its ``Interrupt``
  (an interrupt cancels the active turn and the ones queued behind it).
- ``Flush`` is sent only while a turn is open (text was spoken since the last flush
  or interrupt), so its only answer is the turn's end: the server would answer any
  other ``Flush`` at once with ``NO_ACTIVE_SPEECH``, ahead of the earlier turns'
  ends, and nobody could say which request it was for.
- An ``Interrupt`` is answered by a ``SpeechInterrupted`` or, ignored, by one of the
  warnings in :data:`IGNORED_INTERRUPT`. ``INTERRUPT_IN_PROGRESS`` comes at once,
  while the interrupt before is being handled, so it never answers the oldest
  interrupt still waiting.
"""

from __future__ import annotations

from collections.abc import AsyncIterable
from contextlib import AbstractAsyncContextManager
from functools import partial
from typing import Unpack

import attrs
import trio

from ..._codec import UnknownMessage, encode_message, encode_query
from ..._engine import ApiSpec, ConnectOptions, Engine, Waiter, check_options, open_connection
from ..._errors import ConfigureFailed, InterruptIgnored
from ..._validate import check_timeout, check_value
from ...audio._format import AudioSink, check_format
from .._common import SpeechConnection, UtteranceAudio
from ._messages import (
    CLOSE_FRAME,
    CODEC,
    FLUSH_FRAME,
    Configure,
    Interrupt,
    PlaybackOffset,
    Speak,
    SpeakV2Audio,
    SpeakV2ConfigureFailure,
    SpeakV2ConfigureSuccess,
    SpeakV2Error,
    SpeakV2Message,
    SpeakV2SpeechInterrupted,
    SpeakV2SpeechMetadata,
    SpeakV2Warning,
)
from ._options import SpeakV2Options, check_speed
from ._playback import PlaybackClock, SpeakV2Adapter, is_interrupted
from ._text import check_stream, check_text, stream_tokens
from ._turns import IGNORED_INTERRUPT, SpeakV2Turns

__all__ = ["IGNORED_INTERRUPT", "SPEAK_V2", "SpeakV2Connection", "open_flux_speak"]

SPEAK_V2: ApiSpec[SpeakV2Message] = ApiSpec(
    name="speak v2",
    path="/v2/speak",
    codec=CODEC,
    end_of_audio_frame=CLOSE_FRAME,
    fatal_error=SpeakV2Error,
    speech=SpeakV2Audio,
)

Message = SpeakV2Message | UnknownMessage


def _ends_turn(message: Message) -> bool:
    return isinstance(message, SpeakV2SpeechMetadata)


def _is_configure_reply(message: Message) -> bool:
    return isinstance(message, SpeakV2ConfigureSuccess | SpeakV2ConfigureFailure)


class SpeakV2Connection(SpeechConnection[SpeakV2Message, SpeakV2Audio]):
    """A Flux text-to-speech stream: speak turns, iterate typed audio and events.

    Messages: :class:`SpeakV2Connected` (first), per turn
    :class:`SpeakV2SpeechStarted`, the turn's :class:`SpeakV2Audio` (in
    ``options.encoding`` at ``options.sample_rate``), :class:`SpeakV2Flushed` and
    :class:`SpeakV2SpeechMetadata` (or :class:`SpeakV2SpeechInterrupted`), then
    :class:`SpeakV2ConfigureSuccess` / :class:`SpeakV2ConfigureFailure`,
    :class:`SpeakV2Warning`, :class:`SpeakV2SessionMetadata` (last), and
    :class:`~dgtrio.UnknownMessage` for anything newer. A :class:`SpeakV2Error` is
    fatal: iteration raises :class:`~dgtrio.ServerError` after it.

    A turn is one answer: :meth:`speak` its text (or :meth:`speak_stream` an LLM's
    tokens) as it comes, and :meth:`flush` to end it; the server streams the audio
    as the text arrives. :meth:`turn` does both and iterates the audio in one loop.
    :meth:`interrupt` cancels the turn at once (barge-in) and says what the user
    heard; :meth:`configure` changes the speed; :meth:`close` lets the server finish,
    after which iteration ends. Audio received before an interrupt, and the rest of
    a turn left early, are never delivered (:attr:`audio_frames_discarded`).
    """

    def __init__(
        self,
        engine: Engine[SpeakV2Message],
        *,
        options: SpeakV2Options,
        clock: PlaybackClock | None,
    ) -> None:
        delivered = None if clock is None else (lambda: clock.delivered_ms)
        adapter = SpeakV2Adapter(lambda: engine.speech_queued, delivered)
        super().__init__(engine, adapter, SpeakV2Audio)
        self.options = options
        """The options this stream was opened with."""
        self._playback = adapter
        self._clock = clock
        self._turns = SpeakV2Turns()  # whether a turn is open; interrupts, flushes
        self._streams: set[trio.CancelScope] = set()  # speak_stream() calls running

    # -- sending -----------------------------------------------------------------------------

    async def speak(self, text: str) -> None:
        """Add ``text`` to the open turn (the first text after a flush opens a new
        one). The server speaks as the text arrives; :meth:`flush` ends the turn.

        Whitespace between pieces is sent as given: the server adds none.

        Raises:
            ValueError: empty text, more than ``MAX_SPEAK_CHARACTERS`` (2000), or an
                inline pause marker (batch-only: it would fail the connection).
            TypeError: not a string.
            ConnectionClosed, ServerError: the connection has ended (the typed reason).
            trio.ClosedResourceError: after :meth:`close` or ``aclose()``.
        """
        check_text(text, "speak()")
        await self._send_text(text)

    async def _send_text(self, text: str) -> None:
        self._engine.check_streaming("text")  # speak_stream() too, once close() was called
        mark = self._turns.speaking()
        try:
            await self._engine.send(encode_message(Speak(text)))
        except BaseException:
            self._turns.unsent_text(mark)
            raise

    async def flush(self, *, timeout: float = 30.0) -> SpeakV2SpeechMetadata | None:
        """End the turn, and wait until all its audio was sent.

        Iterate the connection in another task meanwhile: the audio arrives there.

        Returns:
            the turn's :class:`SpeakV2SpeechMetadata` (its billing and timing), or
            ``None`` when no turn was ended: nothing was spoken since the last flush
            (nothing is sent then), or an :meth:`interrupt` cancelled the turn.

        Raises:
            AcknowledgementTimeout: the turn did not end within ``timeout`` seconds.
            ConnectionClosed, ServerError: the connection ended first.
            trio.ClosedResourceError: after :meth:`close` or ``aclose()``.
        """
        check_timeout(timeout)
        self._engine.check_streaming("text")
        deadline = trio.current_time() + timeout
        waiter = await self._start_flush(deadline, timeout)
        if waiter is None:
            return None
        self._turns.flushed.append(waiter)
        left = max(0.0, deadline - trio.current_time())  # the Flush may have waited to go out
        replies = await self._engine.requests.collect(waiter, left)
        if replies:
            reply = replies[0]
            assert isinstance(reply, SpeakV2SpeechMetadata)
            return reply
        if waiter.ended is not None:
            return None
        raise self._engine.requests.timeout_error("SpeechMetadata", timeout)

    async def _start_flush(self, deadline: float, timeout: float) -> Waiter[Message] | None:
        """Send ``Flush`` if a turn is open; the waiter for the turn's end, or None.

        Interrupts still unanswered are waited for first: an ignored one leaves the
        turn open, an accepted one cancelled it."""
        await self._settle_interrupts(deadline, timeout)
        self._engine.check_streaming("text")  # close() may have come meanwhile
        mark = self._turns.end_turn()
        if mark is None:
            await trio.lowlevel.checkpoint()
            return None
        waiter = self._engine.requests.expect(_ends_turn, ended_by=is_interrupted)
        try:
            await self._engine.requests.send_for(waiter, FLUSH_FRAME)
        except BaseException:
            self._turns.unsent_flush(mark)
            raise
        return waiter

    async def interrupt(
        self, playback_offset_ms: int | None = None, *, timeout: float = 10.0
    ) -> SpeakV2SpeechInterrupted:
        """Cancel the turn being spoken (barge-in), and learn what the user heard.

        The speaker (``open_flux_speak(speaker=...)``) is cleared at once; audio
        already received but not yet taken from the connection is dropped, and so is
        what the server sent before it stopped, so the next :class:`SpeakV2Audio`
        the iteration yields is new speech. Running :meth:`speak_stream` calls stop
        (and return ``None``). The next :meth:`speak` opens a new turn.

        Cancelled before it starts, it does nothing. Cancelled while its
        ``Interrupt`` waits behind other frames to go out, nothing is sent and the
        turn goes on, but the speaker was cleared and the audio received until then
        dropped all the same.

        Args:
            playback_offset_ms: how much of the session's audio the user heard, in
                ms from the start of the session (not of the turn); it must be past
                where the last interrupt put playback. With it, the server splits
                the turn's text into ``text_spoken`` and ``text_remaining``. Without
                it, the offset is taken from the speaker when there is one: what it
                was given since the last interrupt, less what it dropped unplayed
                (none when it played nothing since; a sink whose ``clear()`` returns
                no number is taken to have played all it was given). Without either,
                no offset is sent: the server reports its own total of audio
                generated, and no text split.
            timeout: seconds to wait for the answer.

        Returns:
            the :class:`SpeakV2SpeechInterrupted`.

        Raises:
            InterruptIgnored: the server ignored it (a ``Warning`` answered: no audio
                generated yet, an offset that did not advance, or another interrupt in
                progress, which ends the turn itself); audio is delivered again from
                the answer on (what came while it was pending was dropped).
            ValueError: ``playback_offset_ms`` negative, or not past the last one.
            TypeError: ``playback_offset_ms`` not an int.
            AcknowledgementTimeout: no answer within ``timeout`` seconds.
            ConnectionClosed, ServerError: the connection ended first.
            trio.ClosedResourceError: after :meth:`close` or ``aclose()``.
        """
        check_timeout(timeout)
        bound = self._turns.check_offset(playback_offset_ms, self._playback.baseline_ms)
        offset = playback_offset_ms
        self._engine.check_streaming("Interrupt")
        await trio.lowlevel.checkpoint_if_cancelled()  # cancelled already: nothing happens
        for stream in self._streams:
            stream.cancel()  # their text belongs to the turn being cancelled
        if self._clock is not None:
            unplayed = self._clock.clear()  # stop the sound now, whatever the server says
            if offset is None:
                offset = self._playback.position_ms(unplayed or 0.0)
                if offset is not None and bound is not None and offset <= bound:
                    offset = None  # nothing played since: let the server say where it is
        record = self._turns.interrupt(offset, self._engine.requests.expect)
        waiter = record.waiter
        self._silence(waiter)
        frame = encode_message(Interrupt(None if offset is None else PlaybackOffset(offset)))
        try:
            try:
                await self._engine.requests.send_for(waiter, frame)
            except BaseException:
                self._turns.unsent_interrupt(record)
                raise
            replies = await self._engine.requests.collect(waiter, timeout)
        finally:
            self._unsilence(waiter)  # not sent, or not answered: the audio is heard again
        self._turns.settle()
        if not replies:
            raise self._engine.requests.timeout_error("SpeechInterrupted", timeout)
        reply = replies[0]
        if isinstance(reply, SpeakV2Warning):
            raise InterruptIgnored(reply.code, reply.description, message=reply)
        assert isinstance(reply, SpeakV2SpeechInterrupted)
        return reply

    async def _settle_interrupts(self, deadline: float, timeout: float) -> None:
        """Wait until every interrupt sent has its answer, then apply the answers."""
        while (pending := self._turns.unsettled()) is not None:
            with trio.move_on_at(deadline) as wait:
                await pending.waiter.done.wait()
            if wait.cancelled_caught:
                raise self._engine.requests.timeout_error("answer to an earlier Interrupt", timeout)
        self._turns.settle()

    async def configure(self, *, speed: float, timeout: float = 10.0) -> SpeakV2ConfigureSuccess:
        """Change the speaking rate mid-session; it applies from the next segment.

        Args:
            speed: 0.5 to 1.5, in steps of 0.05 (a voice may publish a narrower
                range; voices without speed control refuse any). A speed other than
                1 cannot be combined with pronunciation controls in the text.
            timeout: seconds to wait for the server's answer.

        Returns:
            the ``ConfigureSuccess``: the configuration now in force.

        Raises:
            ConfigureFailed: the server refused (``code``: ``SPEED_OUT_OF_RANGE``,
                ``SPEED_NOT_SUPPORTED``, ``CONTROL_COMBINATION_INVALID``...; ``field``,
                ``value``); the previous speed stays.
            ConfigurationError: a speed that is no number, outside 0.5 to 1.5, or off
                the 0.05 grid.
            AcknowledgementTimeout: no answer within ``timeout`` seconds.
            ConnectionClosed, ServerError: the connection ended first.
            trio.ClosedResourceError: after :meth:`close` or ``aclose()``.
        """
        check_timeout(timeout)
        check_value("", "speed", speed, float, attrs.fields(SpeakV2Options).speed.metadata)
        check_speed("", speed)
        self._engine.check_streaming("Configure")
        frame = encode_message(Configure(float(speed)))
        reply = await self._engine.requests.reply(
            frame, _is_configure_reply, what="answer to Configure", timeout=timeout
        )
        if isinstance(reply, SpeakV2ConfigureFailure):
            raise ConfigureFailed(
                reply.code, reply.description, message=reply, field=reply.field, value=reply.value
            )
        assert isinstance(reply, SpeakV2ConfigureSuccess)
        return reply

    async def close(self) -> None:
        """Finish gracefully: the server speaks what it holds, sends the rest of the
        audio and a :class:`SpeakV2SessionMetadata`, then closes; keep iterating to
        receive it. Idempotent."""
        await self._engine.close_stream()

    # -- streaming text ------------------------------------------------------------------

    async def speak_stream(
        self,
        tokens: AsyncIterable[str],
        *,
        flush: bool = True,
        batch_seconds: float = 0.05,
        timeout: float = 30.0,
    ) -> SpeakV2SpeechMetadata | None:
        """Speak text as it is produced (an LLM's tokens), as one turn.

        ::

            async with trio.open_nursery() as nursery:
                nursery.start_soon(play_audio, tts)  # iterates the connection
                metadata = await tts.speak_stream(llm.stream(prompt))

        The first token goes out at once; then the tokens that arrive within
        ``batch_seconds`` go out joined, as one ``Speak`` (an LLM writes dozens a
        second; the server needs no sentence boundaries, it places its own, and
        holding text back for one would delay the speech). Joined text longer than
        one message takes is cut between sentences or words. Tokens are sent as they
        are: keep the whitespace the LLM put between them.

        An :meth:`interrupt` from another task stops it (the rest of the tokens is
        not read, no flush is sent) and it returns ``None``. Cancelled, or failing
        (the tokens' iterator raised, or a token was no string), the text sent so
        far stays in the open turn: :meth:`flush` or :meth:`interrupt` ends it. The
        token iterator is left where it stopped.

        Args:
            tokens: an async iterable of strings; empty ones are skipped.
            flush: end the turn after the last token and wait for its end.
            batch_seconds: how long tokens are gathered after a send (0: each token
                is sent as it comes).
            timeout: for the flush, as in :meth:`flush`.

        Returns:
            what :meth:`flush` returns (``None`` with ``flush=False``, or when no
            text came, or an interrupt stopped it).

        Raises:
            TypeError: ``tokens`` is not an async iterable, or yielded a non-string.
            ConfigurationError: ``flush`` not a bool, ``batch_seconds`` not a number.
            ValueError: a batch holds an inline pause marker (not sent), or a
                negative ``batch_seconds``.
            trio.BusyResourceError: another task is running ``speak_stream()``.
            AcknowledgementTimeout, ConnectionClosed, ServerError: as :meth:`flush`.
            trio.ClosedResourceError: after :meth:`close` or ``aclose()``.
        """
        check_stream(tokens, flush, batch_seconds)
        check_timeout(timeout)
        self._engine.check_streaming("text")
        if self._streams:
            raise trio.BusyResourceError(
                "speak_stream() is running in another task: one turn's text at a time"
            )
        with trio.CancelScope() as stream:
            self._streams.add(stream)
            try:
                await stream_tokens(tokens, batch_seconds, self._send_text)
                return await self.flush(timeout=timeout) if flush else None
            finally:
                self._streams.discard(stream)
        return None  # an interrupt() stopped it

    def turn(
        self, text: str | None = None, *, timeout: float = 10.0
    ) -> UtteranceAudio[SpeakV2Message, SpeakV2Audio]:
        """Speak ``text`` (if given) and end the turn; iterate its audio until its
        ``SpeechMetadata``.

        ::

            async for audio in tts.turn("Hello there!"):
                wav.write(audio.data)

        Nothing is sent until the iteration starts; the text spoken before (with
        :meth:`speak`) is part of the turn. Other messages that arrive meanwhile are
        kept for the next ``receive()``. The iteration also ends when an
        :meth:`interrupt` cancels the turn. Left early (``break``, an error, a
        timeout, ``aclose()``), the rest of this turn's audio is dropped: it never
        reaches the next turn, nor ``receive()``. Start a turn once the one before
        has ended: audio arriving while it is iterated is taken as its own.

        Raises (from the iteration):
            ValueError: no text given, and none spoken since the last flush.
            trio.BusyResourceError: a turn flushed before has not ended yet.
            AcknowledgementTimeout: no message for ``timeout`` seconds.
            ConnectionClosed, ServerError: the connection ended first.
        """
        check_timeout(timeout)
        if text is not None:
            check_text(text, "turn()")
        return UtteranceAudio(
            self, partial(self._start_turn, text, timeout), timeout, "SpeechMetadata"
        )

    async def _start_turn(self, text: str | None, timeout: float) -> Waiter[Message]:
        if self._turns.flush_pending():
            raise trio.BusyResourceError(
                "turn(): a turn flushed before has not ended yet, and its audio would be "
                "taken as this one's: await its flush(), or iterate until its SpeechMetadata"
            )
        if text is not None:
            await self.speak(text)
        self._engine.check_streaming("text")
        waiter = await self._start_flush(trio.current_time() + timeout, timeout)
        if waiter is None:
            raise ValueError("turn() has nothing to say: no text, and none spoken since")
        return waiter


def open_flux_speak(
    options: SpeakV2Options | None = None,
    *,
    speaker: AudioSink | None = None,
    **connect: Unpack[ConnectOptions],
) -> AbstractAsyncContextManager[SpeakV2Connection]:
    """Open a Flux streaming text-to-speech connection (``/v2/speak``): turn-based,
    interruptible, for voice agents.

    ::

        options = dgtrio.SpeakV2Options(model="flux-haley-en")
        async with dgtrio.open_flux_speak(options, speaker=speaker) as tts:
            async for audio in tts.turn("Hello, world."):
                ...
            await tts.close()

    (``open_speak`` opens Aura's ``/v1/speak``; see the module for the five
    openers' names.)

    Args:
        options: the voice and audio format; default ``SpeakV2Options()``
            (flux-haley-en, linear16 at 24 kHz).
        speaker: plays the speech as it arrives (e.g. a
            :class:`~dgtrio.audio.Speaker` in the options' format); it is cleared by
            :meth:`~SpeakV2Connection.interrupt`, which also takes the playback
            offset from it. The audio is still iterated.
        **connect: credentials, ``base_url`` and the other :class:`ConnectOptions`.

    Flux TTS closes a session with no client message for 60 s (``NET-0004``).

    Raises (on entering the block):
        ConfigurationError: missing credentials or unsafe settings.
        AudioFormatError: ``speaker`` plays another format than the options'.
        TypeError: ``speaker`` is no audio sink (``play`` and ``clear``).
        HandshakeRejected: the server refused (an Aura voice, 401, 429...);
            ConnectTimeout; ConnectError.
    """
    options = check_options(options, SpeakV2Options)
    clock: PlaybackClock | None = None
    if speaker is not None:
        if not all(callable(getattr(speaker, name, None)) for name in ("play", "clear")):
            raise TypeError(
                f"speaker must be an audio sink (play() and clear()), not {type(speaker).__name__}"
            )
        check_format("the speaker", speaker, options.audio_format, "SpeakV2Options")
        clock = PlaybackClock(speaker, options.audio_format)
    return open_connection(
        partial(SpeakV2Connection, options=options, clock=clock),
        SPEAK_V2,
        encode_query(options),
        connect,
        opener=open_flux_speak,
        options_class=SpeakV2Options,
        speaker=clock,
    )
