"""The ``dgtrio`` command line: ``transcribe FILE``, ``agent --text``, ``speak TEXT -o FILE``.

Without credentials and without ``--base-url`` it starts the fake Deepgram server
in-process and says so, so the command works offline, out of the box.
"""

from __future__ import annotations

import argparse
import datetime
import os
import sys
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import TextIO

import orjson
import trio

from ._auth import resolve_credentials
from ._codec import UnknownMessage
from ._errors import DeepgramError
from ._tasks import raise_collapsed
from .agent import (
    AgentConfig,
    AgentV1AgentAudioDone,
    AgentV1ConversationText,
    AgentV1Error,
    AgentV1FunctionCallRequest,
    AgentV1FunctionCallResponse,
    AgentV1Settings,
    AgentV1Warning,
    AudioConfig,
    AudioInput,
    AudioOutput,
    DeepgramListenV1,
    DeepgramSpeak,
    Listen,
    OpenAiThink,
    Speak,
    Think,
    ToolRegistry,
    ToolResult,
    open_agent,
)
from .audio import WavSource, write_wav
from .listen import (
    ListenV1Message,
    ListenV1Metadata,
    ListenV1Options,
    ListenV1Results,
    open_listen,
)
from .speak import SpeakV1Options, open_speak

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
    transcribe.add_argument("--base-url", help=_BASE_URL_HELP)
    agent = commands.add_parser(
        "agent",
        help="talk with Deepgram's voice agent",
        description="Hold a conversation with Deepgram's voice agent "
        "(/v1/agent/converse). With --text, type lines and read the agent's replies and "
        "tool calls; the agent can call get_time, a local tool. Credentials as for "
        "transcribe; without them a built-in fake agent is used.",
    )
    agent.add_argument("--text", action="store_true", help="type instead of speaking")
    agent.add_argument("--prompt", default=_PROMPT, help="the agent's system prompt")
    agent.add_argument("--think-model", default="gpt-4o-mini", help="OpenAI model")
    agent.add_argument("--voice", default="aura-2-thalia-en", help="Deepgram voice model")
    agent.add_argument("--greeting", help="what the agent says first")
    agent.add_argument("--base-url", help=_BASE_URL_HELP)
    speak = commands.add_parser(
        "speak",
        help="synthesise speech into a WAV file",
        description="Stream TEXT to Deepgram's text-to-speech (/v1/speak) and write the "
        "audio to a WAV file as it arrives. Credentials as for transcribe; without them "
        "a built-in fake server is used (it speaks a tone as long as the words).",
    )
    speak.add_argument("text", help="what to say")
    speak.add_argument("-o", "--output", type=Path, required=True, help="the WAV file to write")
    speak.add_argument("--voice", default="aura-2-thalia-en", help="an Aura voice model")
    speak.add_argument(
        "--encoding", choices=["linear16", "mulaw", "alaw"], default="linear16", help="(linear16)"
    )
    speak.add_argument("--sample-rate", type=int, default=24000, help="Hz (24000)")
    speak.add_argument("--speed", type=float, help="speaking rate, 0.7 to 1.5")
    speak.add_argument("--play", action="store_true", help="also play it on the speaker")
    speak.add_argument("--base-url", help=_BASE_URL_HELP)
    return parser


_BASE_URL_HELP = "server URL: a regional or self-hosted Deepgram, or a fake"
_PROMPT = "You are a friendly assistant. Answer in one or two short sentences."


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
    source = WavSource(args.file, speed=1.0 if args.realtime else None)  # checked first
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

    async def stream(base_url: str | None) -> None:
        async with open_listen(options, audio=source, base_url=base_url) as conn:
            async for message in conn:
                printer.show(message)
                if isinstance(message, ListenV1Metadata) and not args.json:
                    err.write(
                        f"dgtrio: {message.duration:.2f} s of audio transcribed "
                        f"(request id {message.request_id})\n"
                    )
        printer.finish()

    await _run_with_fake(args, err, stream)


async def _run_with_fake(
    args: argparse.Namespace, err: TextIO, run: Callable[[str | None], Awaitable[None]]
) -> None:
    """Run ``run(base_url)``, with the fake server when there are no credentials."""
    try:
        async with trio.open_nursery() as nursery:
            base_url = args.base_url
            if base_url is None and resolve_credentials(None, None) is None:
                base_url = await _start_fake(nursery, args)
                err.write(
                    f"dgtrio: no DEEPGRAM_API_KEY set, so using the built-in fake Deepgram "
                    f"server at {base_url} (it follows a script; it does not understand you)\n"
                )
            await run(base_url)
            nursery.cancel_scope.cancel()  # stops the fake server, if one runs
    except BaseExceptionGroup as group:
        raise_collapsed(group)


async def _start_fake(nursery: trio.Nursery, args: argparse.Namespace) -> str:
    from .testing import AgentScript, FakeDeepgram, ListenScript, ScriptedCall

    script = ListenScript()
    if args.command == "transcribe":
        reference = args.file.with_suffix(".txt")
        if reference.is_file():
            script = ListenScript(reference.read_text())
    agent_script = AgentScript(
        realtime=False,
        calls=[ScriptedCall("time", "get_time", {}, reply="It is {content}.")],
    )
    fake = FakeDeepgram(listen_script=script, agent_script=agent_script)
    await nursery.start(fake.serve)
    return fake.url


def _agent_tools() -> ToolRegistry:
    tools = ToolRegistry(timeout=5)

    @tools.register
    async def get_time() -> str:
        """The current local date and time."""
        return datetime.datetime.now().astimezone().strftime("%H:%M on %A %d %B %Y (%Z)")

    return tools


async def _agent(args: argparse.Namespace, inp: TextIO, out: TextIO, err: TextIO) -> None:
    if not args.text:
        raise SystemExit("dgtrio agent: voice needs the microphone; use --text for now")
    settings = AgentV1Settings(
        agent=AgentConfig(
            listen=Listen(provider=DeepgramListenV1(model="nova-3")),
            think=Think(provider=OpenAiThink(model=args.think_model), prompt=args.prompt),
            speak=Speak(provider=DeepgramSpeak(model=args.voice)),
            greeting=args.greeting,
        ),
        # Text mode plays nothing: the smallest audio is the cheapest to receive.
        audio=AudioConfig(
            input=AudioInput(encoding="linear16", sample_rate=16000),
            output=AudioOutput(encoding="mulaw", sample_rate=8000),
        ),
    )
    await _run_with_fake(
        args, err, lambda base_url: _converse(settings, args.greeting, base_url, inp, out)
    )


async def _converse(
    settings: AgentV1Settings, greeting: str | None, base_url: str | None, inp: TextIO, out: TextIO
) -> None:
    """Send each typed line; after each, show everything up to the reply's audio end."""
    turn_done = trio.Event()
    echo = not inp.isatty()  # piped input: show it, so that the output reads as a dialogue

    def show(text: str) -> None:
        out.write(text + "\n")
        out.flush()

    async with open_agent(settings, tools=_agent_tools(), base_url=base_url) as agent:

        async def print_messages() -> None:
            nonlocal turn_done
            async for message in agent:
                if isinstance(message, AgentV1ConversationText) and message.role == "assistant":
                    show(f"agent: {message.content}")
                elif isinstance(message, AgentV1FunctionCallRequest):
                    for call in message.functions:
                        where = "local" if call.client_side else "server"
                        show(f"  [{where} tool] {call.name}({call.arguments})")
                elif isinstance(message, ToolResult):
                    show(f"  [{message.status}] {message.content}")
                elif isinstance(message, AgentV1FunctionCallResponse):
                    show(f"  [server] {message.content}")
                elif isinstance(message, AgentV1Warning | AgentV1Error):
                    show(f"  [{type(message).__name__[7:].lower()}] {message.description}")
                elif isinstance(message, AgentV1AgentAudioDone):
                    turn_done.set()

        async with trio.open_nursery() as nursery:
            nursery.start_soon(print_messages)
            if greeting:
                with trio.move_on_after(60):
                    await turn_done.wait()
            async for line in trio.wrap_file(inp):
                if text := line.strip():
                    if echo:
                        show(f"you: {text}")
                    turn_done = trio.Event()
                    await agent.inject_user_message(text)
                    with trio.move_on_after(60):
                        await turn_done.wait()
            nursery.cancel_scope.cancel()


async def _speak(args: argparse.Namespace, err: TextIO) -> None:
    if args.play:
        raise SystemExit("dgtrio speak: --play needs the speaker, which is not available yet")
    options = SpeakV1Options(  # checked before connecting
        model=args.voice, encoding=args.encoding, sample_rate=args.sample_rate, speed=args.speed
    )

    async def synthesise(base_url: str | None) -> None:
        async with open_speak(options, base_url=base_url) as tts:
            seconds = await write_wav(
                args.output,
                tts.utterance(args.text),
                encoding=options.encoding,
                sample_rate=options.sample_rate,
            )
            request_id = tts.request_id
        err.write(f"dgtrio: wrote {seconds:.2f} s to {args.output} (request id {request_id})\n")

    await _run_with_fake(args, err, synthesise)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    args = _parser().parse_args(argv)
    try:
        if args.command == "agent":
            trio.run(_agent, args, sys.stdin, sys.stdout, sys.stderr)
        elif args.command == "speak":
            trio.run(_speak, args, sys.stderr)
        else:
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
