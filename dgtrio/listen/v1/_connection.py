"""Listen v1: live transcription over ``/v1/listen``."""

from __future__ import annotations

import math
from collections.abc import AsyncGenerator, AsyncIterable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from functools import partial
from typing import Any, Unpack, cast, overload

from typing_extensions import TypeVar

from ..._codec import UnknownMessage, encode_message, encode_query
from ..._connection import Connection
from ..._engine import Adapter, ApiSpec, ConnectOptions, Engine, check_options, open_connection
from ..._errors import ConfigureFailed
from ..._reconnect import (
    ConnectionEvent,
    ReconnectPolicy,
    check_replayable,
)
from ..._validate import check_timeout
from ...audio._format import check_format
from .._timeline import shift_v1
from ._messages import (
    CLOSE_STREAM_FRAME,
    CODEC,
    KEEPALIVE_FRAME,
    Configure,
    Finalize,
    ListenV1ConfigureFailure,
    ListenV1ConfigureSuccess,
    ListenV1Error,
    ListenV1Message,
    ListenV1Metadata,
    ListenV1Results,
)
from ._options import ListenV1Options
from ._utterances import Utterance, UtteranceAggregator

__all__ = ["ListenV1Connection", "open_listen"]

LISTEN_V1: ApiSpec[ListenV1Message] = ApiSpec(
    name="listen v1",
    path="/v1/listen",
    codec=CODEC,
    keepalive_frame=KEEPALIVE_FRAME,
    end_of_audio_frame=CLOSE_STREAM_FRAME,
    ends_with_summary=True,
)


ListenV1Event = ListenV1Message | ConnectionEvent
"""What a Listen v1 connection with ``reconnect=`` yields besides ``UnknownMessage``."""

E = TypeVar("E", bound=ListenV1Event, default=ListenV1Message)

# A Finalize's results end where the audio sent before it ends; timestamps are
# rounded, so a result may end this much later and still be the answer to it.
_FINALIZE_SLACK = 0.05


def _is_configure_reply(message: ListenV1Event | UnknownMessage) -> bool:
    if isinstance(message, ListenV1ConfigureSuccess | ListenV1ConfigureFailure):
        return True
    # Servers of late 2026 refused keyterm updates with an Error instead.
    code = message.code if isinstance(message, ListenV1Error) else None
    return code is not None and ("keyterm" in code.lower() or "configure" in code.lower())


class ListenV1Adapter(Adapter[E]):
    """What Listen v1 messages mean to the engine (sans-io)."""

    def __init__(self, channels: int) -> None:
        self._channels = channels
        # Where each channel's final results end, in stream seconds (reconnect=).
        self._finals: dict[int, float] = {}

    def rebase(self, message: E | UnknownMessage, offset: float) -> E | UnknownMessage:
        return cast("E | UnknownMessage", shift_v1(message, offset))

    def audio_done(self, message: E | UnknownMessage) -> float | None:
        # Final results cover the audio up to their end, channel by channel; the
        # metadata comes once the server has finished the whole stream.
        if isinstance(message, ListenV1Results) and message.is_final:
            self._finals[message.channel_index[0] if message.channel_index else 0] = (
                message.start + message.duration
            )
            if len(self._finals) == self._channels:
                return min(self._finals.values())
        elif isinstance(message, ListenV1Metadata):
            return math.inf
        return None


class ListenV1Connection(Connection[E]):
    """A live transcription stream: send audio, iterate typed results.

    Messages: :class:`ListenV1Results` (interim and final), :class:`ListenV1Metadata`
    (once, at the end), :class:`ListenV1UtteranceEnd`, :class:`ListenV1SpeechStarted`,
    :class:`ListenV1ConfigureSuccess`/:class:`ListenV1ConfigureFailure`,
    :class:`ListenV1Error`, and :class:`~dgtrio.UnknownMessage` for anything newer;
    with ``reconnect=``, :class:`~dgtrio.Reconnecting` and :class:`~dgtrio.Reconnected`
    (the type says so: ``ListenV1Connection[ListenV1Message | ConnectionEvent]``;
    ``ListenV1Connection`` alone is the connection without ``reconnect=``).

    To end the stream without losing the last transcripts, call :meth:`close_stream`
    and keep iterating: the final results and the metadata arrive, then the iteration
    ends normally.
    """

    def __init__(self, engine: Engine[E], *, options: ListenV1Options) -> None:
        super().__init__(engine)
        self.options = options
        """The options this stream was opened with."""
        self._channels = (options.channels or 1) if options.multichannel else 1
        # Per channel, where the audio ended when the last Finalize that covered it
        # was queued, in stream seconds (raw audio only).
        self._finalized: dict[int, float] = {}
        engine.attach(ListenV1Adapter(self._channels), input_format=options.audio_format)

    async def send_audio(self, data: bytes | bytearray | memoryview) -> None:
        """Queue one frame of audio, in the encoding the stream was opened with.

        Waits only while ``max_queued_frames`` frames are already queued.

        Raises:
            AudioFormatError: an empty frame, or one that splits a sample of raw PCM.
            ConnectionClosed: the connection has ended (the typed reason).
            trio.ClosedResourceError: after ``close_stream()`` or ``aclose()``.
        """
        await self._engine.send_audio(data)

    async def keep_alive(self) -> None:
        """Send a ``KeepAlive`` now. Rarely needed: the connection sends one whenever
        nothing went out for ``keepalive_interval``."""
        await self._engine.send(KEEPALIVE_FRAME)

    async def finalize(self, channel: int | None = None) -> None:
        """Ask the server to transcribe the audio it holds now (all channels, or one).

        The answer, if any, is a final :class:`ListenV1Results` with ``from_finalize``;
        see :meth:`finalize_and_wait` to receive it as a return value.

        Raises:
            ValueError: ``channel`` is not a channel of this stream (channels are
                finalized one by one only with ``multichannel=True``).
            trio.ClosedResourceError: after ``close_stream()`` or ``aclose()``.
        """
        frame = self._finalize_frame(channel)
        await self._engine.send(frame)
        self._note_finalize(channel)

    async def finalize_and_wait(
        self, channel: int | None = None, *, timeout: float = 2.0
    ) -> list[ListenV1Results]:
        """Send ``Finalize`` and return the ``from_finalize`` results it produced.

        Waits for one result per channel concerned, at most ``timeout`` seconds: the
        server sends none when it held (almost) no audio, and then this returns
        ``[]``. The results are delivered to the iterator as well.

        Each call gets its own results: those of an earlier ``Finalize`` (one sent by
        :meth:`finalize`, or by a call that was cancelled or timed out) end before
        this one's audio does, and are never returned here.

        Raises:
            ValueError: ``channel`` is not a channel of this stream.
            trio.ClosedResourceError: after ``close_stream()`` or ``aclose()``.
        """
        check_timeout(timeout)
        frame = self._finalize_frame(channel)
        want = 1
        if channel is None and self.options.multichannel:
            want = self.options.channels or 1
        # Each channel's results end between where the last Finalize covering it
        # left off and where this one is sent (raw audio only: otherwise the stream
        # position is unknown, and replies are taken in order).
        after, at = dict(self._finalized), self._position()

        def result(message: E | UnknownMessage) -> tuple[int, float] | None:
            """The channel and end of ``message``, if a from_finalize result for us."""
            if not (isinstance(message, ListenV1Results) and message.from_finalize):
                return None
            index = message.channel_index[0] if message.channel_index else 0
            if channel is not None and index != channel:
                return None
            return index, message.start + message.duration

        def is_reply(message: E | UnknownMessage) -> bool:
            found = result(message)
            if found is None:
                return False
            index, end = found
            earlier = after.get(index)
            return (earlier is None or end > earlier + _FINALIZE_SLACK) and (
                at is None or end <= at + _FINALIZE_SLACK
            )

        def is_later(message: E | UnknownMessage) -> bool:
            found = result(message)  # a later Finalize's: this one had nothing to answer
            return found is not None and at is not None and found[1] > at + _FINALIZE_SLACK

        waiter = self._engine.requests.expect(is_reply, want=want, ended_by=is_later)
        await self._engine.requests.send_for(waiter, frame)
        # Audio queued meanwhile (another task) went out before this Finalize.
        at = self._note_finalize(channel)
        replies = await self._engine.requests.collect(waiter, timeout)
        return [reply for reply in replies if isinstance(reply, ListenV1Results)]

    def _finalize_frame(self, channel: int | None) -> str:
        if channel is not None:
            channels = self._channels
            if isinstance(channel, bool) or not isinstance(channel, int):
                raise TypeError(f"channel is an int, not {type(channel).__name__}")
            if not 0 <= channel < channels:
                raise ValueError(
                    f"channel {channel} is not a channel of this stream: it has "
                    + (
                        f"channels 0 to {channels - 1}"
                        if channels > 1
                        else "one (set multichannel=True to finalize channels one by one)"
                    )
                )
        self._engine.check_streaming("Finalize")
        return encode_message(Finalize(channel))

    def _note_finalize(self, channel: int | None) -> float | None:
        """A Finalize was queued: note where the audio of the channels it covers ends."""
        position = self._position()
        if position is not None:
            for index in range(self._channels) if channel is None else (channel,):
                self._finalized[index] = position
        return position

    def _position(self) -> float | None:
        """Where the audio queued so far ends, in stream seconds (raw audio only)."""
        fmt = self.options.audio_format
        return None if fmt is None else fmt.duration(self._engine.audio_queued)

    async def configure(
        self,
        *,
        keyterms: Sequence[str] | None = None,
        features: Mapping[str, Any] | None = None,
        timeout: float = 10.0,
    ) -> ListenV1ConfigureSuccess:
        """Change keyterms or features mid-stream and wait for the server's answer.

        Args:
            keyterms: replaces the whole keyterm list (``[]`` clears it; ``None``
                keeps it).
            features: feature flags to change, e.g. ``{"numerals": True}``.
            timeout: seconds to wait for ``ConfigureSuccess``/``ConfigureFailure``.

        Raises:
            ConfigureFailed: the server refused (``code`` says why).
            AcknowledgementTimeout: no answer within ``timeout``.
        """
        check_timeout(timeout)
        if isinstance(keyterms, str):
            raise TypeError("keyterms takes a list of strings, not one string")
        self._engine.check_streaming("Configure")
        message = Configure(
            None if keyterms is None else tuple(keyterms),
            None if features is None else dict(features),
        )
        frame = encode_message(message)
        reply = await self._engine.requests.reply(
            frame, _is_configure_reply, what="answer to Configure", timeout=timeout
        )
        if isinstance(reply, ListenV1ConfigureSuccess):
            self._engine.reapply(frame)  # a new socket is configured the same way
            return reply
        if isinstance(reply, ListenV1ConfigureFailure):
            raise ConfigureFailed(reply.code, reply.description, message=reply)
        assert isinstance(reply, ListenV1Error)
        raise ConfigureFailed(reply.code, reply.description, message=reply)

    async def close_stream(self) -> None:
        """Tell the server that no more audio will come.

        It transcribes what it holds, sends the final results and the metadata, then
        closes normally: keep iterating to receive them. Idempotent.
        """
        await self._engine.close_stream()

    async def utterances(self) -> AsyncGenerator[Utterance, None]:
        """Iterate the connection, yielding whole utterances as they end.

        ::

            async for utterance in conn.utterances():
                print(f"[{utterance.start:.1f}s] {utterance.transcript}")

        Final segments are joined until ``speech_final`` or ``UtteranceEnd``; when the
        stream ends, what is still open comes last. Other messages are consumed:
        feed an :class:`UtteranceAggregator` from your own loop to see them too.
        """
        aggregator = UtteranceAggregator()
        async for message in self:
            for utterance in aggregator.feed(message):
                yield utterance
        for utterance in aggregator.flush():
            yield utterance


@overload
def open_listen(
    options: ListenV1Options | None = None,
    *,
    audio: AsyncIterable[bytes] | None = None,
    close_stream_on_end: bool = True,
    keepalive_interval: float | None = 5.0,
    reconnect: None = None,
    **connect: Unpack[ConnectOptions],
) -> AbstractAsyncContextManager[ListenV1Connection[ListenV1Message]]: ...


@overload
def open_listen(
    options: ListenV1Options | None = None,
    *,
    audio: AsyncIterable[bytes] | None = None,
    close_stream_on_end: bool = True,
    keepalive_interval: float | None = 5.0,
    reconnect: ReconnectPolicy,
    **connect: Unpack[ConnectOptions],
) -> AbstractAsyncContextManager[ListenV1Connection[ListenV1Event]]: ...


def open_listen(
    options: ListenV1Options | None = None,
    *,
    audio: AsyncIterable[bytes] | None = None,
    close_stream_on_end: bool = True,
    keepalive_interval: float | None = 5.0,
    reconnect: ReconnectPolicy | None = None,
    **connect: Unpack[ConnectOptions],
) -> AbstractAsyncContextManager[ListenV1Connection[Any]]:
    """Open a live transcription stream (``/v1/listen``).

    ::

        options = dgtrio.ListenV1Options(encoding="linear16", sample_rate=16000,
                                         interim_results=True)
        async with dgtrio.open_listen(options, audio=source) as conn:
            async for message in conn:
                if isinstance(message, dgtrio.ListenV1Results):
                    print(message.transcript)

    Args:
        options: the query parameters; default ``ListenV1Options()`` (nova-3).
        audio: an async iterable of audio frames to stream: a microphone, a file
            source, your own generator. A source with a ``format`` (every
            ``dgtrio.audio`` source) must match the options' encoding, sample rate
            and channels. Without it, call ``send_audio``.
        close_stream_on_end: when ``audio`` ends, send ``CloseStream``, so that
            iteration runs to the final results and ends. ``False`` keeps the
            stream open (for more audio from ``send_audio``).
        keepalive_interval: send ``KeepAlive`` when nothing went out for this many
            seconds, so that pauses in the audio do not close the stream (Deepgram
            closes after ~10 s); ``None`` disables it.
        reconnect: replace a lost socket (see :class:`~dgtrio.ReconnectPolicy`),
            replaying the audio not yet covered by final results; later timestamps
            continue the stream's. Needs a raw ``encoding`` and ``sample_rate``.
        **connect: credentials, ``base_url`` and the other :class:`ConnectOptions`.

    Raises (on entering the block):
        ConfigurationError: missing credentials, unsafe settings, or ``reconnect``
            without raw audio.
        AudioFormatError: ``audio`` has a format the options do not declare.
        HandshakeRejected: the server refused (401, 429, ...); ConnectTimeout;
            ConnectError.
    """
    options = check_options(options, ListenV1Options)
    check_format("the audio source", audio, options.audio_format, "ListenV1Options")
    check_replayable(reconnect, options.audio_format, "ListenV1Options")
    return open_connection(
        partial(ListenV1Connection, options=options),
        LISTEN_V1,
        encode_query(options),
        connect,
        opener=open_listen,
        options_class=ListenV1Options,
        audio=audio,
        close_stream_on_end=close_stream_on_end,
        keepalive_interval=keepalive_interval,
        reconnect=reconnect,
    )
