"""The ``dgtrio`` command line: ``dgtrio transcribe FILE``.

Without credentials and without ``--base-url`` it starts the fake Deepgram server
in-process and says so, so the command works offline, out of the box.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

import orjson
import trio

from ._auth import resolve_credentials
from ._codec import UnknownMessage
from ._connection import raise_collapsed
from ._errors import DeepgramError
from .audio import WavSource
from .listen import (
    ListenV1Message,
    ListenV1Metadata,
    ListenV1Options,
    ListenV1Results,
    open_listen,
)

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="dgtrio", description="Deepgram's realtime APIs from the command line."
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    transcribe = commands.add_parser(
        "transcribe",
        help="stream a WAV file to live transcription and print the transcripts",
        description="Stream a 16- or 32-bit PCM WAV file to Deepgram's live "
        "transcription (/v1/listen), printing interim and final transcripts as they "
        "arrive. Credentials: DEEPGRAM_API_KEY or DEEPGRAM_ACCESS_TOKEN; without "
        "either (and without --base-url) a built-in fake server is used.",
    )
    transcribe.add_argument("file", type=Path, help="a PCM WAV file")
    transcribe.add_argument("--model", default="nova-3", help="model (default: nova-3)")
    transcribe.add_argument("--language", help="language code, e.g. en-US or multi")
    transcribe.add_argument(
        "--interim",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="show interim results (default: on)",
    )
    pacing = transcribe.add_mutually_exclusive_group()
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
    transcribe.add_argument(
        "--json", action="store_true", help="print every server message as one JSON line"
    )
    transcribe.add_argument(
        "--base-url", help="server URL: a regional or self-hosted Deepgram, or a fake"
    )
    return parser


class _Printer:
    """Shows transcripts: interim results overwrite one line on a terminal."""

    def __init__(self, out: TextIO, *, as_json: bool) -> None:
        self._out = out
        self._json = as_json
        self._tty = out.isatty()
        self._pending = False  # an interim line is on screen

    def show(self, message: ListenV1Message | UnknownMessage) -> None:
        if self._json:
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
        self._clear()
        self._out.flush()


async def _transcribe(args: argparse.Namespace, out: TextIO, err: TextIO) -> None:
    source = WavSource(args.file, speed=1.0 if args.realtime else None)
    fmt = source.format
    options = ListenV1Options(
        model=args.model,
        language=args.language,
        encoding=fmt.encoding,
        sample_rate=fmt.sample_rate,
        channels=fmt.channels,
        interim_results=args.interim,
        punctuate=True,
        smart_format=True,
    )
    printer = _Printer(out, as_json=args.json)
    try:
        async with trio.open_nursery() as nursery:
            base_url = args.base_url
            if base_url is None and resolve_credentials(None, None) is None:
                base_url = await _start_fake(nursery, args.file)
                err.write(
                    f"dgtrio: no DEEPGRAM_API_KEY set, so using the built-in fake Deepgram "
                    f"server at {base_url} (it replays a script; it does not recognise speech)\n"
                )
            async with open_listen(options, audio=source, base_url=base_url) as conn:
                async for message in conn:
                    printer.show(message)
                    if isinstance(message, ListenV1Metadata) and not args.json:
                        err.write(
                            f"dgtrio: {message.duration:.2f} s of audio transcribed "
                            f"(request id {message.request_id})\n"
                        )
            printer.finish()
            nursery.cancel_scope.cancel()  # stops the fake server, if one runs
    except BaseExceptionGroup as group:
        raise_collapsed(group)


async def _start_fake(nursery: trio.Nursery, audio: Path) -> str:
    from .testing import FakeDeepgram, ListenScript

    reference = audio.with_suffix(".txt")
    script = ListenScript(reference.read_text()) if reference.is_file() else ListenScript()
    fake = FakeDeepgram(listen_script=script)
    await nursery.start(fake.serve)
    return fake.url


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    args = _parser().parse_args(argv)
    try:
        trio.run(_transcribe, args, sys.stdout, sys.stderr)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # The reader went away (e.g. `| head`): stop quietly, as Unix tools do.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except (DeepgramError, OSError) as exc:
        sys.stdout.flush()
        sys.stderr.write(f"dgtrio: error: {exc}\n")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
