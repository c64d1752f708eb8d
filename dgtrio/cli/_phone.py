"""``dgtrio phone``: the phone agent service (:mod:`dgtrio.phone`) as a command.

One process serves calls until SIGTERM (or Ctrl-C): the first drains (no new calls,
``--grace`` for those in progress), a second ends the calls at once, each still
closed cleanly (1001); the statistics are printed either way. ``--workers N`` runs N
such processes on one port (``SO_REUSEPORT``) and passes the signals on to them.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from functools import partial
from types import FrameType
from typing import TYPE_CHECKING

import attrs
import trio

from dgtrio import ConfigurationError, ConnectOptions, ToolRegistry, credentials_configured
from dgtrio.phone import (
    PhoneAgentServer,
    SettingsHook,
    default_settings,
    end_call_tool,
)

if TYPE_CHECKING:
    from dgtrio.server import DeepgramServer

_PROG = "dgtrio phone"
_ENGINE_NOTICE = {
    "fake": "callers talk to dgtrio's scripted fake agent (it does not understand them)",
    "local": "callers talk to dgtrio's local engine (offline recognition and speech)",
}


def _say(line: str) -> None:
    """One line on stderr, in one write: the workers of ``--workers`` share the
    stream, and their lines must not mix."""
    sys.stderr.write(f"{_PROG}: {line}\n")
    sys.stderr.flush()


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=_PROG,
        description="Serve a voice agent to phone calls: Twilio Media Streams "
        "(<Connect><Stream>), one Deepgram agent per call.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--port", type=int, default=8080, help="port (0: any free one)")
    parser.add_argument(
        "--public-url",
        required=True,
        metavar="wss://HOST/PATH",
        help="the URL Twilio is given as <Stream url> (it signs the upgrade with it)",
    )
    parser.add_argument(
        "--twilio-auth-token",
        default=os.environ.get("TWILIO_AUTH_TOKEN"),
        metavar="TOKEN",
        help="the auth token that signs Twilio's requests (default: $TWILIO_AUTH_TOKEN; "
        "the variable keeps it out of the process list)",
    )
    parser.add_argument("--account-sid", metavar="AC...", help="serve this account's calls only")
    parser.add_argument(
        "--insecure-no-signature",
        action="store_true",
        help="serve without checking X-Twilio-Signature: anyone who reaches the port "
        "opens billed agent sessions",
    )
    parser.add_argument(
        "--engine",
        choices=("deepgram", "fake", "local"),
        default="deepgram",
        help="the agent: Deepgram's (needs DEEPGRAM_API_KEY), dgtrio's scripted fake, "
        "or the local engine (dgtrio[local])",
    )
    parser.add_argument("--base-url", help="Deepgram's URL: regional or self-hosted")
    parser.add_argument("--prompt", help="the agent's prompt")
    parser.add_argument("--greeting", help="what the agent says first ('' for nothing)")
    parser.add_argument("--max-calls", type=int, default=100, help="calls at once (per worker)")
    parser.add_argument(
        "--grace", type=float, help="seconds calls get to finish on SIGTERM (default: 15)"
    )
    parser.add_argument("--workers", type=int, default=1, help="processes sharing the port")
    parser.add_argument("--reuse-port", action="store_true", help=argparse.SUPPRESS)
    return parser


def main(argv: Sequence[str]) -> int:
    """Run ``dgtrio phone``; the exit status (2: a bad argument or configuration)."""
    args = _parser().parse_args(argv)
    problem = _problem(args)
    if problem is not None:
        _say(f"error: {problem}")
        return 2
    if args.workers > 1:
        return _supervise(args, list(argv))
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    try:
        server = PhoneAgentServer(
            public_url=args.public_url,
            auth_token=args.twilio_auth_token or None,
            insecure_no_signature=args.insecure_no_signature,
            account_sid=args.account_sid,
            settings_for=_settings(args),
            tools=end_call_tool(ToolRegistry(timeout=10, redact_errors=True)),
            max_calls=args.max_calls,
            **({} if args.grace is None else {"grace": args.grace}),
        )
    except (ConfigurationError, ValueError) as exc:
        _say(f"error: {exc}")
        return 2
    cannot_listen: list[OSError] = []
    try:
        trio.run(_serve, server, args)
    except* OSError as group:  # the port is taken, or the address is not this host's
        cannot_listen += [exc for exc in group.exceptions if isinstance(exc, OSError)]
    if cannot_listen:
        where = f"{args.host}:{args.port}"
        _say(f"error: cannot listen on {where}: {cannot_listen[0]}")
        return 1
    done = server.statistics
    summary = {**attrs.asdict(done), "causes": dict(done.causes)}
    _say(f"done: {json.dumps(summary)}")
    return 0


def _settings(args: argparse.Namespace) -> SettingsHook:
    """Every call's settings: the defaults, with ``--prompt`` and ``--greeting``."""
    settings = (
        default_settings(prompt=args.prompt)
        if args.greeting is None
        else default_settings(prompt=args.prompt, greeting=args.greeting or None)
    )
    return lambda call: settings


def _problem(args: argparse.Namespace) -> str | None:
    """What makes the command unable to run as asked, in one line."""
    if args.workers < 1 or args.max_calls < 1:
        return "--workers and --max-calls must be at least 1"
    if args.grace is not None and not 0 <= args.grace < float("inf"):
        return "--grace must be a finite number of seconds >= 0"
    if args.engine == "deepgram" and not credentials_configured():
        return (
            "--engine deepgram needs DEEPGRAM_API_KEY (or DEEPGRAM_ACCESS_TOKEN); "
            "--engine fake or --engine local run without Deepgram"
        )
    if args.engine != "deepgram" and args.base_url is not None:
        return f"--base-url is for --engine deepgram, not {args.engine}"
    if not args.twilio_auth_token and not args.insecure_no_signature:
        return (
            "Twilio's signatures cannot be checked without its auth token: set "
            "TWILIO_AUTH_TOKEN (or --twilio-auth-token), or pass --insecure-no-signature"
        )
    return None


async def _serve(server: PhoneAgentServer, args: argparse.Namespace) -> None:
    async with _agent(args) as connect, trio.open_nursery() as nursery:
        server.connect = connect
        port = await nursery.start(
            partial(server.run, args.host, args.port, reuse_port=args.reuse_port)
        )
        _say(
            f"Twilio Media Streams on ws://{args.host}:{port} for "
            f"{args.public_url}; /healthz /readyz /metrics (pid {os.getpid()})"
        )


@asynccontextmanager
async def _agent(args: argparse.Namespace) -> AsyncIterator[ConnectOptions]:
    """The agent's connection keywords; for ``fake`` and ``local``, its server, in
    this process, for as long as the block runs."""
    if args.engine == "deepgram":
        yield ConnectOptions(base_url=args.base_url) if args.base_url else ConnectOptions()
        return
    agent: DeepgramServer
    if args.engine == "local":
        from dgtrio.local import LocalDeepgram

        agent = LocalDeepgram()
    else:
        from dgtrio.testing import FakeDeepgram

        agent = FakeDeepgram()
    _say(f"--engine {args.engine}: {_ENGINE_NOTICE[args.engine]}")
    async with trio.open_nursery() as nursery:
        await nursery.start(agent.serve)
        yield ConnectOptions(base_url=agent.url, api_key="fake")
        nursery.cancel_scope.cancel()


# -- workers --------------------------------------------------------------------------------


def _supervise(args: argparse.Namespace, argv: list[str]) -> int:
    """Run ``args.workers`` processes on one port; pass SIGTERM and SIGINT on. A
    worker that ends on its own stops the others (exit status 1), so that the
    orchestrator replaces the whole, rather than serving on with fewer cores."""
    try:
        reserved = _reserve(args.host, args.port)  # held until the workers are done
    except OSError as exc:
        _say(f"error: cannot listen on {args.host}:{args.port}: {exc}")
        return 1
    port = reserved.getsockname()[1]
    metrics = tempfile.mkdtemp(prefix="dgtrio-phone-metrics-")
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": metrics}
    command = [sys.executable, "-m", "dgtrio.cli", "phone", *_without(argv, "--workers", "--port")]
    command += ["--workers", "1", "--port", str(port), "--reuse-port"]
    children: dict[int, subprocess.Popen[bytes]] = {}
    signalled = False

    def forward(signum: int, frame: FrameType | None) -> None:
        nonlocal signalled
        signalled = True
        for child in children.values():
            child.send_signal(signum)

    previous = {sig: signal.signal(sig, forward) for sig in (signal.SIGTERM, signal.SIGINT)}
    codes: list[int] = []
    try:
        for _ in range(args.workers):
            # Sessions of their own: a terminal's Ctrl-C reaches them once, through here.
            child = subprocess.Popen(command, env=env, start_new_session=True)
            children[child.pid] = child
        _say(f"{args.workers} workers on {args.host}:{port}")
        while len(codes) < len(children):
            pid, status = os.wait()
            codes.append(os.waitstatus_to_exitcode(status))
            if not signalled and len(codes) == 1:
                _say(f"worker {pid} ended on its own ({codes[0]}): stopping the others")
                forward(signal.SIGTERM, None)
                codes[0] = codes[0] or 1
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        reserved.close()
        shutil.rmtree(metrics, ignore_errors=True)
    return 0 if not any(codes) else 1


def _reserve(host: str, port: int) -> socket.socket:
    """A socket bound (not listening) with SO_REUSEPORT: the port, for the workers."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    return sock


def _without(argv: list[str], *options: str) -> list[str]:
    """``argv`` less ``options`` and their values (``--opt V`` or ``--opt=V``)."""
    kept: list[str] = []
    skip = False
    for arg in argv:
        if skip:
            skip = False
        elif arg in options:
            skip = True
        elif not any(arg.startswith(f"{option}=") for option in options):
            kept.append(arg)
    return kept
