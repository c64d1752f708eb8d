"""``dgtrio transcribe FILE`` and ``dgtrio mic``: live transcription (/v1/listen)."""

from __future__ import annotations

import argparse
import bisect
import statistics
from collections.abc import AsyncIterable, AsyncIterator
from pathlib import Path
from typing import TextIO

import orjson
import trio

from dgtrio import (
    ConnectionEvent,
    ListenV1Message,
    ListenV1Metadata,
    ListenV1Options,
    ListenV1Results,
    Reconnected,
    Reconnecting,
    ReconnectPolicy,
    UnknownMessage,
    open_listen,
)
from dgtrio.audio import AudioFormat, WavSource, open_microphone

from ._common import (
    BASE_URL_HELP,
    Command,
    Console,
    add_audio_arguments,
    base_url,
    on_first_interrupt,
    positive_int,
    run_with_fake,
)

__all__ = ["Printer", "SpeedMeter", "add_mic", "add_transcribe"]


def add_transcribe(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """The ``transcribe`` command."""
    parser = commands.add_parser(
        "transcribe",
        help="stream a WAV file to live transcription and print the transcripts",
        description="Stream a 16- or 32-bit PCM WAV file to Deepgram's live "
        "transcription (/v1/listen), printing interim and final transcripts as they "
        "arrive. Credentials: DEEPGRAM_API_KEY or DEEPGRAM_ACCESS_TOKEN; without "
        "either (and without --base-url) a built-in fake server is used.",
    )
    parser.add_argument("file", type=Path, help="a PCM WAV file")
    _add_listen_arguments(parser)
    pacing = parser.add_mutually_exclusive_group()
    pacing.add_argument(
        "--realtime",
        dest="realtime",
        action="store_true",
        default=True,
        help="send audio at real-time speed, as a live source would (default)",
    )
    pacing.add_argument(
        "--fast", dest="realtime", action="store_false", help="send audio as fast as possible"
    )
    parser.add_argument("--base-url", type=base_url, help=BASE_URL_HELP)
    parser.set_defaults(handler=Command(_transcribe))


def add_mic(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """The ``mic`` command."""
    parser = commands.add_parser(
        "mic",
        help="live captions from the microphone",
        description="Stream the microphone to Deepgram's live transcription (/v1/listen) "
        "and print transcripts as they arrive. Ctrl-C stops the microphone and waits for "
        "the last results (press it twice to quit at once). Credentials as for "
        "transcribe; without them a built-in fake server is used.",
    )
    _add_listen_arguments(parser)
    parser.add_argument("--sample-rate", type=positive_int, default=16000, help="Hz (16000)")
    add_audio_arguments(parser, input_device=True)
    parser.add_argument("--base-url", type=base_url, help=BASE_URL_HELP)
    parser.set_defaults(handler=Command(_mic, uses_audio=lambda args: True))


def _add_listen_arguments(parser: argparse.ArgumentParser) -> None:
    """What ``transcribe`` and ``mic`` ask of live transcription (see ``_listen_options``)."""
    parser.add_argument("--model", default="nova-3", help="model (default: nova-3)")
    parser.add_argument("--language", help="language code, e.g. en-US or multi")
    parser.add_argument(
        "--interim",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="show interim results (default: on)",
    )
    parser.add_argument(
        "--json", action="store_true", help="print every server message as one JSON line"
    )
    parser.add_argument(
        "--engine",
        choices=("fake", "local"),
        default="fake",
        help="without credentials, the built-in server: fake (scripted, the default) or "
        "local (recognises the audio, offline; pip install 'dgtrio[local]')",
    )


def _listen_options(args: argparse.Namespace, fmt: AudioFormat) -> ListenV1Options:
    return ListenV1Options(
        model=args.model,
        language=args.language,
        encoding=fmt.encoding,
        sample_rate=fmt.sample_rate,
        channels=fmt.channels,
        interim_results=args.interim,
        punctuate=True,
        smart_format=True,
    )


class Printer:
    """Shows transcripts: interim results overwrite one line on a terminal; a
    reconnection is noted on ``err``."""

    def __init__(self, out: TextIO, err: TextIO, *, as_json: bool) -> None:
        self._out = out
        self._err = err
        self._json = as_json
        self._tty = out.isatty()
        self._pending = False  # an interim line is on screen

    def show(self, message: ListenV1Message | ConnectionEvent | UnknownMessage) -> None:
        """Print what ``message`` says (with ``as_json``: the whole message)."""
        if isinstance(message, Reconnecting):
            self._err.write(
                f"dgtrio: {message.error}; reconnecting in {message.delay:.1f} s "
                f"(attempt {message.attempt})\n"
            )
        elif isinstance(message, Reconnected):
            self._err.write(
                f"dgtrio: reconnected after {message.outage:.1f} s, replaying "
                f"{message.replay:.1f} s of audio (request id {message.request_id})\n"
            )
        elif self._json:
            self._out.write(orjson.dumps(dict(message.raw)).decode() + "\n")
        elif isinstance(message, ListenV1Results) and message.transcript:
            self._results(message)
        self._out.flush()

    def _results(self, message: ListenV1Results) -> None:
        span = f"[{message.start:7.2f} - {message.end:7.2f}]"
        if message.is_final:
            self._clear()
            self._out.write(f"{span} {message.transcript}\n")
        elif self._tty:
            self._clear()
            self._out.write(f"\x1b[2m{span} {message.transcript}\x1b[0m")
            self._pending = True
        else:
            self._out.write(f"{span} ~ {message.transcript}\n")

    def _clear(self) -> None:
        if self._pending:
            self._out.write("\r\x1b[2K")
            self._pending = False

    def finish(self) -> None:
        """Leave no interim line on screen."""
        self._clear()
        self._out.flush()


class SpeedMeter:
    """How fast a file was recognised: when each frame of its audio went to the
    connection, and when each final came back (on trio's clock)."""

    def __init__(self, fmt: AudioFormat) -> None:
        self._format = fmt
        self._offsets: list[float] = []  # audio seconds handed over, after each frame
        self._times: list[float] = []  # ... and when
        self._latencies: list[float] = []

    async def frames(self, source: AsyncIterable[bytes]) -> AsyncIterator[bytes]:
        """``source``'s frames, each timed as it is handed over."""
        sent = 0
        async for frame in source:
            sent += len(frame)
            self._offsets.append(self._format.duration(sent))
            self._times.append(trio.current_time())
            yield frame

    def final(self, end: float) -> None:
        """A final whose audio ends ``end`` seconds into the stream arrived now: its
        latency is the time since that audio was handed over."""
        if not self._times:
            return
        index = min(bisect.bisect_left(self._offsets, end - 1e-6), len(self._times) - 1)
        self._latencies.append(trio.current_time() - self._times[index])

    def summary(self, duration: float, *, paced: bool) -> str:
        """One line: ``duration`` seconds of audio recognised at N x real time (audio
        seconds per wall second, from the first frame to now) and the finals' latency."""
        wall = trio.current_time() - self._times[0] if self._times else 0.0
        speed = f"{duration / wall:.2f}x real time" if wall > 0 else "once"
        pacing = "sent at real time" if paced else "sent unpaced"
        if self._latencies:
            finals = (
                f"finals {statistics.median(self._latencies):.2f} s median, "
                f"{max(self._latencies):.2f} s max after their audio was sent"
            )
        else:
            finals = "no finals"
        return (
            f"dgtrio: recognised at {speed} ({duration:.2f} s of audio in {wall:.2f} s, "
            f"{pacing}); {finals}"
        )


async def _transcribe(args: argparse.Namespace, console: Console) -> None:
    source = WavSource(args.file, speed=1.0 if args.realtime else None)  # checked first
    options = _listen_options(args, source.format)
    printer = Printer(console.out, console.err, as_json=args.json)
    meter = SpeedMeter(source.format)

    async def stream(base_url: str | None) -> None:
        async with open_listen(
            options, audio=meter.frames(source), reconnect=ReconnectPolicy(), base_url=base_url
        ) as conn:
            async for message in conn:
                printer.show(message)
                if isinstance(message, ListenV1Results) and message.is_final and message.transcript:
                    meter.final(message.end)
                if isinstance(message, ListenV1Metadata) and not args.json:
                    console.err.write(
                        f"dgtrio: {message.duration:.2f} s of audio transcribed "
                        f"(request id {message.request_id})\n"
                        f"{meter.summary(message.duration, paced=args.realtime)}\n"
                    )
        printer.finish()

    await run_with_fake(
        args.base_url,
        console.err,
        stream,
        transcript=args.file.with_suffix(".txt"),
        engine=args.engine,
    )


async def _mic(args: argparse.Namespace, console: Console) -> None:
    options = _listen_options(args, AudioFormat("linear16", args.sample_rate))
    printer = Printer(console.out, console.err, as_json=args.json)
    err = console.err

    async def stream(base_url: str | None) -> None:
        async with (
            open_microphone(args.sample_rate, device=args.device) as mic,
            trio.open_nursery() as nursery,
        ):
            await nursery.start(
                on_first_interrupt,
                mic.stop,
                "stopping; waiting for the last results (Ctrl-C again quits)",
                err,
            )
            err.write(f"dgtrio: listening to {mic.device} (Ctrl-C to stop)\n")
            source = mic if args.seconds is None else mic.take(args.seconds)
            async with open_listen(
                options, audio=source, reconnect=ReconnectPolicy(), base_url=base_url
            ) as conn:
                async for message in conn:
                    printer.show(message)
            printer.finish()
            stats = mic.statistics()
            err.write(
                f"dgtrio: {stats.frames_captured * mic.frame_ms / 1000:.1f} s captured, "
                f"{stats.frames_dropped} frames dropped\n"
            )
            nursery.cancel_scope.cancel()

    await run_with_fake(args.base_url, err, stream, engine=args.engine)
