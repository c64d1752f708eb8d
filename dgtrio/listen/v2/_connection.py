"""Flux: turn-based transcription over ``/v2/listen``."""

from __future__ import annotations

import logging
from collections.abc import AsyncGenerator, AsyncIterable, Sequence
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
from .._timeline import shift_v2
from ._messages import (
    CLOSE_STREAM_FRAME,
    CODEC,
    Configure,
    ForceEndTurn,
    ListenV2ConfigureFailure,
    ListenV2ConfigureSuccess,
    ListenV2Error,
    ListenV2Message,
    ListenV2TurnInfo,
)
from ._options import ListenV2Options, ListenV2Thresholds
from ._turns import FluxTurn, FluxTurnTracker

__all__ = ["ListenV2Connection", "open_flux", "open_flux_listen"]

log = logging.getLogger("dgtrio")

LISTEN_V2: ApiSpec[ListenV2Message] = ApiSpec(
    name="listen v2",
    path="/v2/listen",
    codec=CODEC,
    end_of_audio_frame=CLOSE_STREAM_FRAME,
    # Flux closes without a status after CloseStream: the normal end.
    end_of_stream_close_codes=frozenset({1005}),
    fatal_error=ListenV2Error,
)
FORCE_END_TURN_FRAME = encode_message(ForceEndTurn())

ListenV2Event = ListenV2Message | ConnectionEvent
"""What a Flux connection with ``reconnect=`` yields besides ``UnknownMessage``."""

E = TypeVar("E", bound=ListenV2Event, default=ListenV2Message)


def _is_configure_reply(message: ListenV2Event | UnknownMessage) -> bool:
    return isinstance(message, ListenV2ConfigureSuccess | ListenV2ConfigureFailure)


class ListenV2Adapter(Adapter[E]):
    """What Flux messages mean to the engine (sans-io): turns end the audio they
    cover, and a new socket's turns and message numbers continue the stream's."""

    def __init__(self) -> None:
        self._next_sequence = 0
        # With reconnect=: turns ended so far, and what a new socket's turn and
        # message numbers are shifted by.
        self._next_turn = 0
        self._turn_offset = 0
        self._sequence_offset = 0

    def socket_changed(self) -> None:
        # The new socket starts where the last ended turn did: its turn 0 is the next
        # turn of the stream, its message 0 the next message.
        self._turn_offset = self._next_turn
        self._sequence_offset = self._next_sequence

    def rebase(self, message: E | UnknownMessage, offset: float) -> E | UnknownMessage:
        shifted = shift_v2(message, offset, turns=self._turn_offset, sequence=self._sequence_offset)
        return cast("E | UnknownMessage", shifted)

    def audio_done(self, message: E | UnknownMessage) -> float | None:
        # A turn's end is final: the audio up to it is done with. Within a turn,
        # nothing is: a new socket must hear the turn from its start.
        if isinstance(message, ListenV2TurnInfo) and message.event == "EndOfTurn":
            self._next_turn = message.turn_index + 1
            return message.audio_window_end
        return None

    def on_message(self, message: E | UnknownMessage) -> None:
        sequence = getattr(message, "sequence_id", None)
        if sequence is None and isinstance(message, UnknownMessage):
            sequence = message.raw.get("sequence_id")
        if not isinstance(sequence, int):
            return
        if sequence != self._next_sequence:
            self.sequence_gaps += 1
            log.warning(
                "listen v2: message %d came where %d was due: %s",
                sequence,
                self._next_sequence,
                "messages were lost" if sequence > self._next_sequence else "out of order",
            )
        self._next_sequence = sequence + 1


class ListenV2Connection(Connection[E]):
    """A Flux stream: send audio, iterate turn events.

    Messages: :class:`ListenV2Connected` (first), :class:`ListenV2TurnInfo` (the
    turn's transcript and events), :class:`ListenV2ConfigureSuccess` /
    :class:`ListenV2ConfigureFailure`, :class:`ListenV2Warning`, and
    :class:`~dgtrio.UnknownMessage` for anything newer (and with ``reconnect=``,
    :class:`~dgtrio.Reconnecting`/:class:`~dgtrio.Reconnected`). A :class:`ListenV2Error` is
    fatal: iteration raises :class:`~dgtrio.ServerError` after it. For whole turns,
    iterate :meth:`turns` instead.

    To end, call :meth:`close_stream` and keep iterating: the last ``Update``s
    arrive, then the iteration ends (Flux sends no ``EndOfTurn`` for the open turn;
    :meth:`turns` yields it as an ``EndOfStream`` turn).

    With ``reconnect=`` the type says that events come too:
    ``ListenV2Connection[ListenV2Message | ConnectionEvent]``.
    """

    def __init__(self, engine: Engine[E], *, options: ListenV2Options) -> None:
        super().__init__(engine)
        self.options = options
        """The options this stream was opened with."""
        engine.attach(ListenV2Adapter(), input_format=options.audio_format)

    async def send_audio(self, data: bytes | bytearray | memoryview) -> None:
        """Queue one frame of audio, in the encoding the stream was opened with.

        Raises:
            AudioFormatError: an empty frame, or one that splits a sample of raw PCM.
            ConnectionClosed, ServerError: the connection has ended (the typed reason).
            trio.ClosedResourceError: after ``close_stream()`` or ``aclose()``.
        """
        await self._engine.send_audio(data)

    async def configure(
        self,
        *,
        thresholds: ListenV2Thresholds | None = None,
        keyterms: Sequence[str] | None = None,
        language_hints: Sequence[str] | None = None,
        numerals: bool | None = None,
        timeout: float = 10.0,
    ) -> ListenV2ConfigureSuccess:
        """Change end-of-turn thresholds, keyterms, language hints or numeral
        formatting mid-stream (what is left ``None`` is kept).

        Args:
            thresholds: the thresholds to change (``None`` fields are kept).
            keyterms: replaces the keyterm list (``[]`` clears it).
            language_hints: replaces the language hints (``flux-general-multi``).
            numerals: write numbers as digits ("nine" as "9") in the transcripts
                that follow, or stop doing so.
            timeout: seconds to wait for the server's answer.

        Returns:
            the ``ConfigureSuccess``: the settings now in force.

        Raises:
            ConfigureFailed: the server refused (``code`` says why); nothing changed.
            AcknowledgementTimeout: no answer within ``timeout``.
            ConfigurationError: a threshold out of its documented range.
            TypeError: a list given as one string, or ``numerals`` not a bool.
        """
        check_timeout(timeout)
        if numerals is not None and not isinstance(numerals, bool):
            raise TypeError(f"numerals is True or False, not {numerals!r}")
        for name, value in (("keyterms", keyterms), ("language_hints", language_hints)):
            if isinstance(value, str):
                raise TypeError(f"{name} takes a list of strings, not one string")
        if thresholds is not None and not isinstance(thresholds, ListenV2Thresholds):
            raise TypeError(
                f"thresholds must be ListenV2Thresholds, not {type(thresholds).__name__}"
            )
        self._engine.check_streaming("Configure")
        message = Configure(
            thresholds,
            None if keyterms is None else tuple(keyterms),
            None if language_hints is None else tuple(language_hints),
            numerals,
        )
        frame = encode_message(message)
        reply = await self._engine.requests.reply(
            frame, _is_configure_reply, what="answer to Configure", timeout=timeout
        )
        if isinstance(reply, ListenV2ConfigureFailure):
            raise ConfigureFailed(reply.code, reply.description, message=reply)
        assert isinstance(reply, ListenV2ConfigureSuccess)
        self._engine.reapply(frame)  # a new socket is configured the same way
        return reply

    async def force_end_turn(self) -> None:
        """End the current turn now; Flux answers with ``EndOfTurn`` (trigger
        ``manual``), e.g. when the user pressed a button.

        Raises:
            trio.ClosedResourceError: after ``close_stream()`` or ``aclose()``.
        """
        self._engine.check_streaming("ForceEndTurn")
        await self._engine.send(FORCE_END_TURN_FRAME)

    async def close_stream(self) -> None:
        """Tell the server that no more audio will come.

        It transcribes what it holds and sends the last updates, then closes
        (without a status, which ends the iteration normally). Idempotent.
        """
        await self._engine.close_stream()

    async def turns(self, *, eager: bool = False) -> AsyncGenerator[FluxTurn, None]:
        """Iterate the connection, yielding each turn as it ends.

        ::

            async for turn in flux.turns():
                print(turn.turn_index, turn.transcript)

        Args:
            eager: also yield ``EagerEndOfTurn`` and ``TurnResumed`` turns (needs
                ``eager_eot_threshold``), to start replies early.

        When the stream ends with a turn still open (Flux sends no ``EndOfTurn`` for
        it), that turn comes last, as an ``EndOfStream`` turn, if anything was said.

        Other messages are consumed; feed a :class:`FluxTurnTracker` from your own
        loop to see them too.
        """
        tracker = FluxTurnTracker(eager=eager)
        async for message in self:
            turn = tracker.feed(message)
            if turn is not None:
                yield turn
        last = tracker.flush()
        if last is not None:
            yield last


@overload
def open_flux_listen(
    options: ListenV2Options | None = None,
    *,
    audio: AsyncIterable[bytes] | None = None,
    close_stream_on_end: bool = True,
    reconnect: None = None,
    **connect: Unpack[ConnectOptions],
) -> AbstractAsyncContextManager[ListenV2Connection[ListenV2Message]]: ...


@overload
def open_flux_listen(
    options: ListenV2Options | None = None,
    *,
    audio: AsyncIterable[bytes] | None = None,
    close_stream_on_end: bool = True,
    reconnect: ReconnectPolicy,
    **connect: Unpack[ConnectOptions],
) -> AbstractAsyncContextManager[ListenV2Connection[ListenV2Event]]: ...


def open_flux_listen(
    options: ListenV2Options | None = None,
    *,
    audio: AsyncIterable[bytes] | None = None,
    close_stream_on_end: bool = True,
    reconnect: ReconnectPolicy | None = None,
    **connect: Unpack[ConnectOptions],
) -> AbstractAsyncContextManager[ListenV2Connection[Any]]:
    """Open a Flux turn-based transcription stream (``/v2/listen``).

    ::

        options = dgtrio.ListenV2Options(encoding="linear16", sample_rate=16000)
        async with dgtrio.open_flux_listen(options, audio=source) as flux:
            async for turn in flux.turns():
                print(turn.transcript)

    Args:
        options: the query parameters; default ``ListenV2Options()``
            (flux-general-en).
        audio: an async iterable of audio frames to stream (a microphone, a file
            source, a generator); a source with a ``format`` must match the options.
            Without it, call ``send_audio``.
        close_stream_on_end: when ``audio`` ends, send ``CloseStream``, so that
            iteration runs to the last updates and ends; ``False`` keeps the stream
            open.
        reconnect: replace a lost socket (see :class:`~dgtrio.ReconnectPolicy`),
            replaying the audio since the last ``EndOfTurn``: the open turn is heard
            again from its start, with its turn index. Later audio windows, turn
            indices and sequence ids continue the stream's.
        **connect: credentials, ``base_url`` and the other :class:`ConnectOptions`.

    Flux has no keepalive: to hold the stream through a pause, send silence.

    Raises (on entering the block):
        ConfigurationError: missing credentials, unsafe settings, or ``reconnect``
            without raw audio.
        AudioFormatError: ``audio`` has a format the options do not declare.
        HandshakeRejected: the server refused (401, 429, ...); ConnectTimeout;
            ConnectError.
    """
    options = check_options(options, ListenV2Options)
    check_format("the audio source", audio, options.audio_format, "ListenV2Options")
    check_replayable(reconnect, options.audio_format, "ListenV2Options")
    return open_connection(
        partial(ListenV2Connection, options=options),
        LISTEN_V2,
        encode_query(options),
        connect,
        opener=open_flux_listen,
        options_class=ListenV2Options,
        audio=audio,
        close_stream_on_end=close_stream_on_end,
        reconnect=reconnect,
    )


open_flux = open_flux_listen
"""The earlier name of :func:`open_flux_listen`, kept: the same function."""
