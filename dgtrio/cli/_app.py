"""The ``dgtrio`` parser and ``main()``: one command run by ``trio.run``, and what its
failures become (one line on stderr and an exit status)."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, nullcontext

import trio

from dgtrio import DeepgramError, __version__

from ._agent import add_agent
from ._common import Command, Console, one_exception
from ._devices import add_devices
from ._listen import add_mic, add_transcribe
from ._speak import add_speak

__all__ = ["main"]

_PHONE_EXTRA = "pip install 'dgtrio[phone]'"


def _parser() -> tuple[argparse.ArgumentParser, dict[str, argparse.ArgumentParser]]:
    """The top-level parser, and each command's (for errors in its own usage)."""
    parser = argparse.ArgumentParser(
        prog="dgtrio", description="Deepgram's realtime APIs from the command line."
    )
    parser.add_argument("--version", action="version", version=f"dgtrio {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for add in (add_transcribe, add_mic, add_agent, add_speak, add_devices):
        add(commands)
    # Listed here; `main` hands `dgtrio serve ...` to its own parser (`_serve`).
    commands.add_parser(
        "serve", help="serve the fake Deepgram, or the local engine, on loopback", add_help=False
    )
    commands.add_parser(
        "phone", help="serve a voice agent to phone calls (Twilio Media Streams)", add_help=False
    )
    return parser, commands.choices


def main(argv: Sequence[str] | None = None, *, prog: str = "dgtrio") -> int:
    """Run the command line as ``prog``; returns the exit status (see :mod:`dgtrio.cli`).

    Raises:
        SystemExit: from argparse, for ``--help``, ``--version`` and bad arguments.
    """
    given = list(sys.argv[1:] if argv is None else argv)
    if given[:1] == ["serve"]:  # a server, not a client
        from ._serve import main as serve  # loaded on this path only

        return serve(given, prog=prog)
    if given[:1] == ["phone"]:  # a service, with the phone extra's dependencies
        try:
            from ._phone import main as phone
        except ImportError as exc:
            sys.stderr.write(f"dgtrio phone: error: {exc.name} is missing: {_PHONE_EXTRA}\n")
            return 1
        return phone(given[1:])
    parser, command_parsers = _parser()
    args = parser.parse_args(given)
    command: Command = args.handler
    problem = command.check(args)
    if problem is not None:
        command_parsers[args.command].error(problem)
    try:
        with _native_stderr_hushed() if command.uses_audio(args) else nullcontext():
            # The streams as they are now: hushing replaced sys.stderr.
            trio.run(command.run, args, Console(sys.stdin, sys.stdout, sys.stderr))
    except BaseException as exc:
        error = one_exception(exc)
        if isinstance(error, KeyboardInterrupt):
            return 130  # the shell's convention for SIGINT; the ^C says why
        if isinstance(error, BrokenPipeError):
            # The reader went away (e.g. `| head`): stop quietly, as Unix tools do.
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            return 1
        if isinstance(error, DeepgramError | OSError | ValueError | TypeError):
            # What a user can cause (bad input, files, devices, the network, the
            # server), as one line; anything else is a bug, and its traceback is the
            # report.
            sys.stdout.flush()
            sys.stderr.write(f"dgtrio: error: {_describe(error)}\n")
            return 1
        raise
    return 0


@contextmanager
def _native_stderr_hushed() -> Iterator[None]:
    """Silence what C libraries write to the process's stderr while PortAudio probes
    devices (ALSA and JACK print pages of it on most Linux machines); Python's own
    ``sys.stderr`` keeps writing to the real one."""
    if sys.stderr is not sys.__stderr__ or sys.stderr is None:
        yield  # already redirected (e.g. captured by a test): leave it alone
        return
    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    original = sys.stderr
    try:
        os.dup2(devnull, 2)
        sys.stderr = open(saved, "w", buffering=1, closefd=False)  # noqa: SIM115
        yield
    finally:
        sys.stderr.flush()
        sys.stderr = original
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def _describe(exc: BaseException) -> str:
    """``exc`` as one line: ``path: reason`` for a plain OSError, else its message."""
    if (
        isinstance(exc, OSError)
        and not isinstance(exc, DeepgramError)
        and exc.strerror
        and exc.filename is not None
    ):
        text = f"{exc.filename}: {exc.strerror}"
    else:
        text = str(exc) or type(exc).__name__
    return " ".join(text.split())  # a message with line breaks still fits on one line
