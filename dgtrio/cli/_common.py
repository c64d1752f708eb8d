"""What the commands share: their streams, argument types, the fake server when there
are no credentials, and the first Ctrl-C as a way to stop."""

from __future__ import annotations

import argparse
import math
import signal
import threading
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

import attrs
import trio

import dgtrio

if TYPE_CHECKING:
    from dgtrio.server import DeepgramServer
    from dgtrio.testing import FakeDeepgram

__all__ = [
    "BASE_URL_HELP",
    "Command",
    "Console",
    "add_audio_arguments",
    "base_url",
    "leaves",
    "on_first_interrupt",
    "one_exception",
    "positive_float",
    "positive_int",
    "run_with_fake",
]


@attrs.frozen
class Console:
    """The standard streams, as a command sees them."""

    inp: TextIO
    out: TextIO
    err: TextIO


def _never(args: argparse.Namespace) -> bool:
    return False


def _no_problem(args: argparse.Namespace) -> str | None:
    return None


@attrs.frozen
class Command:
    """A subcommand, set on its parser as ``set_defaults(handler=Command(...))``.

    Attributes:
        run: the command, run by ``trio.run``.
        check: what is wrong with a combination of arguments the command would
            silently ignore (argparse's usage error, exit 2), or ``None``.
        uses_audio: whether PortAudio will probe the devices, whose native libraries
            write to stderr.
    """

    run: Callable[[argparse.Namespace, Console], Awaitable[None]]
    check: Callable[[argparse.Namespace], str | None] = _no_problem
    uses_audio: Callable[[argparse.Namespace], bool] = _never


BASE_URL_HELP = "server URL: a regional or self-hosted Deepgram, or a fake"


def add_audio_arguments(
    parser: argparse.ArgumentParser,
    *,
    input_device: bool = False,
    output_device: bool = False,
    seconds: bool = True,
) -> None:
    """``--device``, ``--output-device`` and ``--seconds``, as a command takes them."""
    device_help = "index or (part of a) name, as `dgtrio devices` lists them; default: the system's"
    if input_device:
        parser.add_argument("--device", type=_device, help=f"the microphone: {device_help}")
    if output_device:
        parser.add_argument("--output-device", type=_device, help=f"the speaker: {device_help}")
    if seconds:
        parser.add_argument(
            "--seconds",
            type=positive_float,
            help="stop after this many seconds of audio (default: Ctrl-C)",
        )


# argparse ``type=`` functions: a bad value becomes argparse's usage error (exit 2)
# before anything starts, instead of a traceback from deep inside a command.


def _device(text: str) -> int | str:
    return int(text) if text.isdigit() else text


def positive_float(text: str) -> float:
    """A number above zero (and finite)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 0 < value < math.inf:  # written so that NaN fails too
        raise argparse.ArgumentTypeError(f"must be a positive number, not {text}")
    return value


def positive_int(text: str) -> int:
    """A whole number above zero."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive whole number, not {text}")
    return value


def base_url(text: str) -> str:
    """A base URL the connections take; checked now, parsed again when connecting."""
    try:
        dgtrio.check_base_url(text)
    except ValueError as exc:  # ConfigurationError: its messages never show user info
        raise argparse.ArgumentTypeError(str(exc) or "not a URL") from None
    return text


async def on_first_interrupt(
    stop: Callable[[], object],
    note: str,
    err: TextIO,
    *,
    task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
) -> None:
    """The first Ctrl-C calls ``stop()`` (a normal end: the microphone stops and the
    last results come, or the conversation ends); leaving the signal receiver restores
    trio's handler, so the second Ctrl-C interrupts as usual (exit 130). For
    ``nursery.start``: started once the receiver is up, so that a Ctrl-C right after
    the command said how to stop it is caught."""
    if threading.current_thread() is not threading.main_thread():
        task_status.started()
        return  # signals reach the main thread only
    with trio.open_signal_receiver(signal.SIGINT) as signals:
        task_status.started()
        async for _ in signals:
            err.write(f"\ndgtrio: {note}\n")
            stop()
            break
    await trio.sleep_forever()


async def run_with_fake(
    base_url: str | None,
    err: TextIO,
    run: Callable[[str | None], Awaitable[None]],
    *,
    transcript: Path | None = None,
    spoken_agent: bool = False,
    engine: str = "fake",
) -> None:
    """Run ``run(base_url)``; with neither a base URL nor credentials, against the fake
    Deepgram server, or the local engine, started here for the time ``run`` takes.

    Args:
        transcript: a text file the Listen fake "hears" instead of its own script, if
            the file exists.
        spoken_agent: the agent fake answers as a spoken conversation does, in real time.
        engine: ``"fake"``, or ``"local"`` (Listen recognises the audio, offline).
    """
    async with trio.open_nursery() as nursery:
        if base_url is None and not dgtrio.credentials_configured():
            # Built (its transcript read, its model loaded) before anything runs that
            # a blocking read could hold up.
            local = engine == "local"
            fake = _local() if local else _fake(transcript, spoken_agent)
            await nursery.start(fake.serve)
            base_url = fake.url
            what = (
                f"dgtrio's local engine at {base_url} (it recognises the audio, offline, "
                "with Whisper tiny.en)"
                if local
                else f"the built-in fake Deepgram server at {base_url} (it follows a "
                "script; it does not understand you)"
            )
            err.write(f"dgtrio: no DEEPGRAM_API_KEY set, so using {what}\n")
        await run(base_url)
        nursery.cancel_scope.cancel()  # stops the fake server, if one runs


def _local() -> DeepgramServer:
    from dgtrio.local import LocalDeepgram  # on this path only: it loads a model

    return LocalDeepgram()


def _fake(transcript: Path | None, spoken_agent: bool) -> FakeDeepgram:
    # Imported here, on the one path that serves the fake: the command line itself
    # never loads the test server.
    from dgtrio.testing import AgentScript, FakeDeepgram, ListenScript, ScriptedCall

    script = ListenScript()
    if transcript is not None and transcript.is_file():
        text = _read_text(transcript)
        try:
            script = ListenScript(text)
        except ValueError as exc:  # e.g. no words: say which file the fake read
            raise ValueError(f"{transcript} (the fake's transcript): {exc}") from None
    agent_script = AgentScript(
        realtime=spoken_agent,
        # The agent command's local tool, so that the fake's agent calls it.
        calls=[ScriptedCall("time", "get_time", {}, reply="It is {content}.")],
    )
    return FakeDeepgram(listen_script=script, agent_script=agent_script)


def _read_text(path: Path) -> str:
    """A UTF-8 text file; a file that is not UTF-8 is an error naming it."""
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ValueError(f"{path}: not UTF-8 text ({exc.reason})") from None


def one_exception(exc: BaseException) -> BaseException | None:
    """The one exception ``exc`` stands for: itself, or, for a group from the commands'
    nurseries, the Ctrl-C in it, else its only exception; ``None`` for several
    failures at once (a bug)."""
    if not isinstance(exc, BaseExceptionGroup):
        return exc
    found = list(dict.fromkeys(leaves(exc)))  # tasks may raise one stored error each
    for leaf in found:
        if isinstance(leaf, KeyboardInterrupt):
            return leaf
    return found[0] if len(found) == 1 else None


def leaves(exc: BaseException) -> Iterator[BaseException]:
    """The exceptions inside ``exc``, groups flattened (``exc`` itself if no group)."""
    if isinstance(exc, BaseExceptionGroup):
        for inner in exc.exceptions:
            yield from leaves(inner)
    else:
        yield exc
