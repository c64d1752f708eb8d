"""Speak v1: streaming text-to-speech over ``/v1/speak``."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from functools import partial
from typing import Unpack

import trio

from ..._codec import UnknownMessage, encode_message, encode_query
from ..._engine import (
    ApiSpec,
    ConnectOptions,
    Engine,
    Waiter,
    check_options,
    open_connection,
)
from ..._validate import check_positive_int, check_timeout
from ...audio._format import AudioSink, check_format
from .._common import SpeechConnection, SpeechMute, UtteranceAudio, check_text
from .._limits import FlushLimiter, FlushLimitWarning
from ._messages import (
    CLEAR_FRAME,
    CLOSE_FRAME,
    CODEC,
    FLUSH_FRAME,
    Speak,
    SpeakV1Audio,
    SpeakV1Cleared,
    SpeakV1Error,
    SpeakV1Flushed,
    SpeakV1Message,
)
from ._options import SpeakV1Options

__all__ = ["SpeakV1Connection", "open_speak"]

SPEAK_V1: ApiSpec[SpeakV1Message] = ApiSpec(
    name="speak v1",
    path="/v1/speak",
    codec=CODEC,
    end_of_audio_frame=CLOSE_FRAME,
    fatal_error=SpeakV1Error,
    speech=SpeakV1Audio,
)

Message = SpeakV1Message | UnknownMessage


def _is_flushed(message: Message) -> bool:
    return isinstance(message, SpeakV1Flushed)


def _is_cleared(message: Message) -> bool:
    return isinstance(message, SpeakV1Cleared)


class SpeakV1Adapter(SpeechMute[SpeakV1Message]):
    """Speech is muted while a silence holds: a :meth:`SpeakV1Connection.clear`
    until its ``Cleared``, an utterance left early until its ``Flushed`` (sans-io).

    ``speech_queued`` counts the speech frames the engine queued so far."""

    def __init__(self, speech_queued: Callable[[], int]) -> None:
        super().__init__(speech_queued, _is_cleared)


class SpeakV1Connection(SpeechConnection[SpeakV1Message, SpeakV1Audio]):
    """A text-to-speech stream: send text, iterate typed audio and events.

    Messages: :class:`SpeakV1Audio` (the speech, in ``options.encoding`` at
    ``options.sample_rate``), :class:`SpeakV1Metadata` (when the connection opens),
    :class:`SpeakV1Flushed`, :class:`SpeakV1Cleared`, :class:`SpeakV1Warning`, and
    :class:`~dgtrio.UnknownMessage` for anything newer. A :class:`SpeakV1Error` is
    fatal: iteration raises :class:`~dgtrio.ServerError` after it.

    Text is buffered by the server until a flush: :meth:`speak` then :meth:`flush`
    (iterating in another task), or :meth:`utterance` for both in one loop.
    :meth:`clear` stops the speech at once (barge-in); :meth:`close` lets the
    server finish, after which iteration ends. Audio received before a clear, and
    the rest of an utterance left early, are never delivered
    (:attr:`audio_frames_discarded` counts them).
    """

    def __init__(
        self, engine: Engine[SpeakV1Message], *, options: SpeakV1Options, flush_limit: int | None
    ) -> None:
        super().__init__(engine, SpeakV1Adapter(lambda: engine.speech_queued), SpeakV1Audio)
        self.options = options
        """The options this stream was opened with."""
        self._limiter = FlushLimiter(flush_limit) if flush_limit is not None else None

    # -- sending -----------------------------------------------------------------------------

    async def speak(self, text: str) -> None:
        """Add ``text`` to the server's buffer; it is spoken at the next flush.

        Raises:
            ValueError: empty text, or more than ``MAX_SPEAK_CHARACTERS`` (2000).
            TypeError: not a string.
            ConnectionClosed: the connection has ended (the typed reason).
            trio.ClosedResourceError: after :meth:`close` or ``aclose()``.
        """
        check_text(text)
        self._engine.check_streaming("text")
        await self._engine.send(encode_message(Speak(text)))

    async def _start_flush(self) -> Waiter[Message]:
        """Send ``Flush`` (within the rate limit) and return the waiter for its reply."""
        self._engine.check_streaming("text")
        if self._limiter is not None:
            delay = self._limiter.delay(trio.current_time())
            if delay > 0:
                warnings.warn(
                    f"more than {self._limiter.limit} flushes in {self._limiter.window:g} s: "
                    f"this one waits {delay:.1f} s so that Deepgram does not ignore it",
                    FlushLimitWarning,
                    stacklevel=3,
                )
                await trio.sleep(delay)
            self._limiter.record(trio.current_time())
        # A Cleared ends the wait: the clear dropped this flush's audio.
        waiter = self._engine.requests.expect(_is_flushed, ended_by=_is_cleared)
        await self._engine.requests.send_for(waiter, FLUSH_FRAME)
        return waiter

    async def flush(self, *, timeout: float = 30.0) -> int | None:
        """Have the buffered text spoken now, and wait until all its audio was sent.

        Iterate the connection in another task meanwhile: the audio arrives there.
        More than ``flush_limit`` flushes per minute wait their turn, with a
        :class:`FlushLimitWarning`, instead of being ignored by Deepgram.

        Returns:
            the ``sequence_id`` of the ``Flushed``, or ``None`` if a :meth:`clear`
            dropped this flush's audio first.

        Raises:
            AcknowledgementTimeout: no ``Flushed`` within ``timeout`` seconds.
            ConnectionClosed, ServerError: the connection ended first.
        """
        check_timeout(timeout)
        waiter = await self._start_flush()
        replies = await self._engine.requests.collect(waiter, timeout)
        if replies:
            reply = replies[0]
            assert isinstance(reply, SpeakV1Flushed)
            return reply.sequence_id
        if waiter.ended is not None:
            return None
        raise self._engine.requests.timeout_error("Flushed", timeout)

    async def clear(self, *, timeout: float = 10.0) -> int:
        """Stop speaking at once: drop the buffered text and the audio not yet played.

        Audio already received but not yet taken from the connection is discarded
        too, so the next :class:`SpeakV1Audio` the iteration yields is new speech.

        Returns:
            the ``sequence_id`` of the ``Cleared``.

        Raises:
            AcknowledgementTimeout: no ``Cleared`` within ``timeout`` seconds.
        """
        check_timeout(timeout)
        self._engine.check_streaming("text")
        if self._engine.speaker is not None:
            self._engine.speaker.clear()
        waiter = self._engine.requests.expect(_is_cleared)
        self._silence(waiter)
        try:
            await self._engine.requests.send_for(waiter, CLEAR_FRAME)
            replies = await self._engine.requests.collect(waiter, timeout)
        finally:
            self._unsilence(waiter)
        if not replies:
            raise self._engine.requests.timeout_error("Cleared", timeout)
        reply = replies[0]
        assert isinstance(reply, SpeakV1Cleared)
        return reply.sequence_id

    async def close(self) -> None:
        """Finish gracefully: the server speaks what is buffered, sends the rest of the
        audio, then closes; keep iterating to receive it. Idempotent."""
        await self._engine.close_stream()

    def utterance(
        self, text: str | None = None, *, timeout: float = 10.0
    ) -> UtteranceAudio[SpeakV1Message, SpeakV1Audio]:
        """Speak ``text`` (if given) and what is buffered; iterate the audio until its
        ``Flushed``.

        ::

            async for audio in tts.utterance("Hello there!"):
                wav.write(audio.data)

        Nothing is sent until the iteration starts. Other messages that arrive
        meanwhile are kept for the next ``receive()``. The iteration also ends when a
        :meth:`clear` drops the audio. Left early (``break``, an error, a timeout,
        ``aclose()``), the rest of this utterance's audio is dropped up to its
        ``Flushed``: it never reaches the next utterance, nor ``receive()``.

        Raises (from the iteration):
            AcknowledgementTimeout: no message for ``timeout`` seconds.
            ConnectionClosed, ServerError: the connection ended first.
        """
        check_timeout(timeout)
        if text is not None:
            check_text(text)
        return UtteranceAudio(self, partial(self._start_utterance, text), timeout, "Flushed")

    async def _start_utterance(self, text: str | None) -> Waiter[Message]:
        if text is not None:
            await self.speak(text)
        return await self._start_flush()


def open_speak(
    options: SpeakV1Options | None = None,
    *,
    speaker: AudioSink | None = None,
    flush_limit: int | None = 20,
    **connect: Unpack[ConnectOptions],
) -> AbstractAsyncContextManager[SpeakV1Connection]:
    """Open a streaming text-to-speech connection (``/v1/speak``).

    ::

        async with dgtrio.open_speak(dgtrio.SpeakV1Options(model="aura-2-thalia-en")) as tts:
            async for audio in tts.utterance("Hello, world."):
                play(audio.data)
            await tts.close()

    Args:
        options: the voice and audio format; default ``SpeakV1Options()``
            (aura-2-thalia-en, linear16 at 24 kHz).
        speaker: plays the speech as it arrives (e.g. a
            :class:`~dgtrio.audio.Speaker` in the options' format), and is cleared
            by :meth:`~SpeakV1Connection.clear`. The audio is still iterated.
        flush_limit: flushes per 60 s allowed before :meth:`~SpeakV1Connection.flush`
            waits its turn (Deepgram ignores flushes beyond 20); ``None`` disables
            the limiter.
        **connect: credentials, ``base_url`` and the other :class:`ConnectOptions`.

    Raises (on entering the block):
        ConfigurationError: missing credentials or unsafe settings.
        AudioFormatError: ``speaker`` plays another format than the options'.
        HandshakeRejected: the server refused (401, 429, ...); ConnectTimeout;
            ConnectError.
    """
    options = check_options(options, SpeakV1Options)
    if flush_limit is not None:
        check_positive_int("", "flush_limit", flush_limit)
    check_format("the speaker", speaker, options.audio_format, "SpeakV1Options")
    return open_connection(
        partial(SpeakV1Connection, options=options, flush_limit=flush_limit),
        SPEAK_V1,
        encode_query(options),
        connect,
        opener=open_speak,
        options_class=SpeakV1Options,
        speaker=speaker,
    )
