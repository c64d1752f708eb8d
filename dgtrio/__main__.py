"""The ``dgtrio`` command line: ``transcribe FILE``, ``mic``, ``agent``, ``speak TEXT``,
``devices``.

Without credentials and without ``--base-url`` it starts the fake Deepgram server
in-process and says so, so the command works offline, out of the box.

Exit status: 0 on success (and when Ctrl-C ends ``mic`` or a spoken ``agent``
conversation, the documented way to stop them); 2 for a bad argument (argparse's usage
line and one ``dgtrio: error:`` line); 1 for any other failure, reported as one line
``dgtrio: error: <message>`` on stderr; 130 when Ctrl-C interrupts anything else.
"""

from __future__ import annotations

import argparse
import datetime
import errno
import math
import os
import re
import signal
import stat
import sys
import tempfile
import threading
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import AsyncExitStack, contextmanager, nullcontext
from pathlib import Path
from typing import TextIO

import orjson
import trio

from ._auth import resolve_base_url, resolve_credentials
from ._codec import UnknownMessage
from ._errors import DeepgramError
from ._reconnect import ConnectionEvent, Reconnected, Reconnecting, ReconnectPolicy
from ._tasks import raise_collapsed
from ._version import __version__
from .agent import (
    AgentConfig,
    AgentV1AgentAudioDone,
    AgentV1ConversationText,
    AgentV1Error,
    AgentV1FunctionCallRequest,
    AgentV1FunctionCallResponse,
    AgentV1Settings,
    AgentV1UserStartedSpeaking,
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
from .audio import (
    AudioFormat,
    WavSource,
    list_devices,
    open_microphone,
    open_speaker,
    write_wav,
)
from .listen import (
    ListenV1Message,
    ListenV1Metadata,
    ListenV1Options,
    ListenV1Results,
    open_listen,
)
from .speak import MAX_SPEAK_CHARACTERS, SpeakV1Options, open_speak

__all__ = ["main"]


def _parser() -> tuple[argparse.ArgumentParser, dict[str, argparse.ArgumentParser]]:
    """The top-level parser, and each command's (for errors in its own usage)."""
    parser = argparse.ArgumentParser(
        prog="dgtrio", description="Deepgram's realtime APIs from the command line."
    )
    parser.add_argument("--version", action="version", version=f"dgtrio {__version__}")
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
    _add_listen_arguments(transcribe)
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
    transcribe.add_argument("--base-url", type=_base_url, help=_BASE_URL_HELP)
    mic = commands.add_parser(
        "mic",
        help="live captions from the microphone",
        description="Stream the microphone to Deepgram's live transcription (/v1/listen) "
        "and print transcripts as they arrive. Ctrl-C stops the microphone and waits for "
        "the last results (press it twice to quit at once). Credentials as for "
        "transcribe; without them a built-in fake server is used.",
    )
    _add_listen_arguments(mic)
    mic.add_argument("--sample-rate", type=_positive_int, default=16000, help="Hz (16000)")
    _add_audio_arguments(mic, input_device=True)
    mic.add_argument("--base-url", type=_base_url, help=_BASE_URL_HELP)
    agent = commands.add_parser(
        "agent",
        help="talk with Deepgram's voice agent",
        description="Hold a conversation with Deepgram's voice agent "
        "(/v1/agent/converse): speak into the microphone and hear it on the speaker; "
        "talking over the agent interrupts it; Ctrl-C ends the conversation (press it "
        "twice to quit at once). With --text, type lines instead and read "
        "the replies. The agent can call get_time, a local tool. Credentials as for "
        "transcribe; without them a built-in fake agent is used (it hears loudness, "
        "not words, and speaks a tone).",
    )
    agent.add_argument("--text", action="store_true", help="type instead of speaking")
    _add_audio_arguments(agent, input_device=True, output_device=True)
    agent.add_argument("--prompt", default=_PROMPT, help="the agent's system prompt")
    agent.add_argument("--think-model", default="gpt-4o-mini", help="OpenAI model")
    agent.add_argument("--voice", default="aura-2-thalia-en", help="Deepgram voice model")
    agent.add_argument("--greeting", help="what the agent says first")
    agent.add_argument("--base-url", type=_base_url, help=_BASE_URL_HELP)
    speak = commands.add_parser(
        "speak",
        help="synthesise speech into a WAV file",
        description="Stream TEXT to Deepgram's text-to-speech (/v1/speak) and write the "
        "audio to a WAV file as it arrives (an existing file is replaced only once the "
        "speech is complete). Text longer than one message takes is sent in pieces cut "
        "between sentences. Credentials as for transcribe; without them a built-in fake "
        "server is used (it speaks a tone as long as the words).",
    )
    speak.add_argument("text", type=_text, help="what to say")
    speak.add_argument("-o", "--output", type=Path, help="the WAV file to write")
    speak.add_argument("--voice", default="aura-2-thalia-en", help="an Aura voice model")
    speak.add_argument(
        "--encoding", choices=["linear16", "mulaw", "alaw"], default="linear16", help="(linear16)"
    )
    speak.add_argument("--sample-rate", type=_positive_int, default=24000, help="Hz (24000)")
    speak.add_argument("--speed", type=float, help="speaking rate, 0.7 to 1.5")
    speak.add_argument("--play", action="store_true", help="play it on the speaker")
    _add_audio_arguments(speak, output_device=True, seconds=False)
    speak.add_argument("--base-url", type=_base_url, help=_BASE_URL_HELP)
    commands.add_parser(
        "devices",
        help="list the microphones and speakers",
        description="List the sound devices PortAudio sees, with the index and name "
        "that --device and --output-device take.",
    )
    return parser, commands.choices


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


def _add_audio_arguments(
    parser: argparse.ArgumentParser,
    *,
    input_device: bool = False,
    output_device: bool = False,
    seconds: bool = True,
) -> None:
    device_help = "index or (part of a) name, as `dgtrio devices` lists them; default: the system's"
    if input_device:
        parser.add_argument("--device", type=_device, help=f"the microphone: {device_help}")
    if output_device:
        parser.add_argument("--output-device", type=_device, help=f"the speaker: {device_help}")
    if seconds:
        parser.add_argument(
            "--seconds",
            type=_positive_float,
            help="stop after this many seconds of audio (default: Ctrl-C)",
        )


def _check_combinations(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Refuse options that the chosen mode would silently ignore (argparse's exit 2)."""
    if args.command == "speak":
        if args.output is None and not args.play:
            parser.error("say where the speech goes: -o FILE.wav, --play, or both")
        if args.output_device is not None and not args.play:
            parser.error("--output-device needs --play")
    if args.command == "agent" and args.text:
        ignored = [
            flag
            for flag, value in (
                ("--device", args.device),
                ("--output-device", args.output_device),
                ("--seconds", args.seconds),
            )
            if value is not None
        ]
        if ignored:
            parser.error(f"--text uses no sound device: drop {', '.join(ignored)}")


# argparse ``type=`` functions: a bad value becomes argparse's usage error (exit 2)
# before anything starts, instead of a traceback from deep inside a command.


def _device(text: str) -> int | str:
    return int(text) if text.isdigit() else text


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 0 < value < math.inf:  # written so that NaN fails too
        raise argparse.ArgumentTypeError(f"must be a positive number, not {text}")
    return value


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive whole number, not {text}")
    return value


def _text(text: str) -> str:
    if not text.strip():
        raise argparse.ArgumentTypeError("there is nothing to say: the text is empty")
    return text


def _base_url(text: str) -> str:
    """Check the URL now; the connection parses it again."""
    try:
        resolve_base_url(text)
    except ValueError as exc:  # ConfigurationError, or urlsplit's own (e.g. a bad [IPv6])
        # resolve_base_url's messages never show user info; urlsplit's do not show the URL.
        raise argparse.ArgumentTypeError(str(exc) or "not a URL") from None
    return text


_BASE_URL_HELP = "server URL: a regional or self-hosted Deepgram, or a fake"
_PROMPT = "You are a friendly assistant. Answer in one or two short sentences."


class _Printer:
    """Shows transcripts: interim results overwrite one line on a terminal; a
    reconnection is noted on ``err``."""

    def __init__(self, out: TextIO, err: TextIO, *, as_json: bool) -> None:
        self._out = out
        self._err = err
        self._json = as_json
        self._tty = out.isatty()
        self._pending = False  # an interim line is on screen

    def show(self, message: ListenV1Message | ConnectionEvent | UnknownMessage) -> None:
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
        self._clear()
        self._out.flush()


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


async def _transcribe(args: argparse.Namespace, out: TextIO, err: TextIO) -> None:
    source = WavSource(args.file, speed=1.0 if args.realtime else None)  # checked first
    options = _listen_options(args, source.format)
    printer = _Printer(out, err, as_json=args.json)

    async def stream(base_url: str | None) -> None:
        async with open_listen(
            options, audio=source, reconnect=ReconnectPolicy(), base_url=base_url
        ) as conn:
            async for message in conn:
                printer.show(message)
                if isinstance(message, ListenV1Metadata) and not args.json:
                    err.write(
                        f"dgtrio: {message.duration:.2f} s of audio transcribed "
                        f"(request id {message.request_id})\n"
                    )
        printer.finish()

    await _run_with_fake(args, err, stream)


async def _mic(args: argparse.Namespace, out: TextIO, err: TextIO) -> None:
    options = _listen_options(args, AudioFormat("linear16", args.sample_rate))
    printer = _Printer(out, err, as_json=args.json)

    async def stream(base_url: str | None) -> None:
        async with (
            open_microphone(args.sample_rate, device=args.device) as mic,
            trio.open_nursery() as nursery,
        ):
            await nursery.start(
                _on_first_interrupt,
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

    await _run_with_fake(args, err, stream)


async def _on_first_interrupt(
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
            text = _read_text(reference)
            try:
                script = ListenScript(text)
            except ValueError as exc:  # e.g. no words: say which file the fake read
                raise ValueError(f"{reference} (the fake's transcript): {exc}") from None
    agent_script = AgentScript(
        realtime=args.command == "agent" and not args.text,
        calls=[ScriptedCall("time", "get_time", {}, reply="It is {content}.")],
    )
    fake = FakeDeepgram(listen_script=script, agent_script=agent_script)
    await nursery.start(fake.serve)
    return fake.url


def _agent_settings(
    args: argparse.Namespace, greeting: str | None, output: AudioOutput
) -> AgentV1Settings:
    """The CLI's agent: the microphone's 16 kHz in, ``output`` out."""
    return AgentV1Settings(
        agent=AgentConfig(
            listen=Listen(provider=DeepgramListenV1(model="nova-3")),
            think=Think(provider=OpenAiThink(model=args.think_model), prompt=args.prompt),
            speak=Speak(provider=DeepgramSpeak(model=args.voice)),
            greeting=greeting,
        ),
        audio=AudioConfig(input=AudioInput(encoding="linear16", sample_rate=16000), output=output),
    )


def _agent_tools() -> ToolRegistry:
    tools = ToolRegistry(timeout=5)

    @tools.register
    async def get_time() -> str:
        """The current local date and time."""
        return datetime.datetime.now().astimezone().strftime("%H:%M on %A %d %B %Y (%Z)")

    return tools


async def _agent(args: argparse.Namespace, inp: TextIO, out: TextIO, err: TextIO) -> None:
    if not args.text:
        await _run_with_fake(args, err, lambda base_url: _talk(args, base_url, out, err))
        return
    # Text mode plays nothing: the smallest audio is the cheapest to receive.
    settings = _agent_settings(args, args.greeting, AudioOutput(encoding="mulaw", sample_rate=8000))
    await _run_with_fake(
        args, err, lambda base_url: _converse(settings, args.greeting, base_url, inp, out)
    )


async def _talk(args: argparse.Namespace, base_url: str | None, out: TextIO, err: TextIO) -> None:
    """A spoken conversation: microphone in, speaker out, barge-in by talking."""
    greeting = args.greeting or "Hello! What can I do for you?"
    settings = _agent_settings(args, greeting, AudioOutput(encoding="linear16", sample_rate=24000))
    async with (
        open_microphone(16000, device=args.device) as mic,
        open_speaker(24000, device=args.output_device) as speaker,
    ):
        # The nursery's scope is the conversation: Ctrl-C (how one without --seconds
        # ends, a normal end) or the --seconds deadline cancels it, and only it: the
        # microphone and the speaker still close as after any conversation.
        async with trio.open_nursery() as nursery:
            await nursery.start(
                _on_first_interrupt,
                nursery.cancel_scope.cancel,
                "ending the conversation (Ctrl-C again quits)",
                err,
            )
            err.write(f"dgtrio: talk into {mic.device}; the agent speaks on {speaker.device}\n")
            async with open_agent(
                settings, audio=mic, speaker=speaker, tools=_agent_tools(), base_url=base_url
            ) as agent:
                if args.seconds is not None:
                    nursery.cancel_scope.deadline = trio.current_time() + args.seconds
                async for message in agent:
                    _show_agent_message(message, out)
            nursery.cancel_scope.cancel()  # the agent ended the conversation
        speaker.clear()  # leaving: stop talking


def _show_agent_message(message: object, out: TextIO) -> None:
    if isinstance(message, AgentV1ConversationText):
        out.write(f"{message.role}: {message.content}\n")
    elif isinstance(message, AgentV1UserStartedSpeaking):
        out.write("  (you speak)\n")
    elif isinstance(message, ToolResult):
        out.write(f"  [{message.status}] {message.call.name}: {message.content}\n")
    elif isinstance(message, AgentV1Warning | AgentV1Error):
        out.write(_notice(message) + "\n")
    out.flush()


def _notice(message: AgentV1Warning | AgentV1Error) -> str:
    """``  [warning] description`` (or ``[error]``), as both agent modes show it."""
    return f"  [{message.TYPE.lower()}] {message.description}"


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
                    show(_notice(message))
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


# Where long text is cut: after a sentence's end (or a line break), else between
# words; the whitespace stays with the piece before, so the pieces join up to the text.
_SENTENCE_BREAK = re.compile(r"""(?:[.!?\u2026]["'\u201d\u2019)\]]*\s+|\n\s*)(?=\S)""")
_WORD_BREAK = re.compile(r"\s+(?=\S)")


def _split_text(text: str, limit: int = MAX_SPEAK_CHARACTERS) -> list[str]:
    """``text`` in pieces of at most ``limit`` characters that join up to it, cut at
    the last sentence boundary that fits, else the last word boundary, else anywhere
    (a "word" longer than ``limit``)."""
    pieces: list[str] = []
    start = 0
    while len(text) - start > limit:
        end = start + limit
        cut = end
        for boundary in (_SENTENCE_BREAK, _WORD_BREAK):
            # endpos is one past the piece so that the lookahead sees the next character.
            found = [match.end() for match in boundary.finditer(text, start, end + 1)]
            if found:
                cut = found[-1]
                break
        pieces.append(text[start:cut])
        start = cut
    pieces.append(text[start:])
    return pieces


@contextmanager
def _replacing(target: Path | None) -> Iterator[Path | None]:
    """A new temporary file beside ``target``, renamed over it only if the block
    succeeds and removed otherwise, so that a failure never leaves ``target``
    truncated or half-written. Creating it first also checks, before anything is
    synthesised, that the directory exists and takes files. ``None``: no file."""
    if target is None:
        yield None
        return
    if target.is_dir():
        raise IsADirectoryError(errno.EISDIR, "is a directory, not a file", str(target))
    final = Path(os.path.realpath(target))  # through a symlink, as open() would write
    try:
        try:
            mode = stat.S_IMODE(final.stat().st_mode)  # a replaced file keeps its mode
        except FileNotFoundError:
            umask = os.umask(0)  # the only way to read it; nothing else creates files now
            os.umask(umask)
            mode = 0o666 & ~umask
        fd, name = tempfile.mkstemp(dir=final.parent, prefix=f".{final.name}.", suffix=".part")
    except OSError as exc:  # name the file asked for, not the temporary one
        raise OSError(exc.errno, exc.strerror, str(target)) from None
    os.close(fd)
    temp = Path(name)
    try:
        yield temp
        temp.chmod(mode)  # mkstemp made it private (0600)
        os.replace(temp, final)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise


async def _speak(args: argparse.Namespace, err: TextIO) -> None:
    options = SpeakV1Options(  # checked before connecting
        model=args.voice, encoding=args.encoding, sample_rate=args.sample_rate, speed=args.speed
    )
    # Deepgram closes the socket on a longer Speak, so long text goes in pieces,
    # spoken as one utterance by the single flush after them.
    pieces = _split_text(args.text)
    seconds = 0.0
    request_id: str | None = None
    where: list[str] = []

    async def synthesise(base_url: str | None, wav: Path | None) -> None:
        nonlocal seconds, request_id
        async with AsyncExitStack() as stack:
            speaker = None
            if args.play:
                speaker = await stack.enter_async_context(
                    open_speaker(
                        options.sample_rate, encoding=options.encoding, device=args.output_device
                    )
                )
                where.append(str(speaker.device))
            tts = await stack.enter_async_context(
                open_speak(options, speaker=speaker, base_url=base_url)
            )
            for piece in pieces:
                await tts.speak(piece)
            if wav is None:
                received = sum([len(audio.data) async for audio in tts.utterance()])
                seconds = received / options.audio_format.bytes_per_second
            else:
                seconds = await write_wav(
                    wav,
                    tts.utterance(),
                    encoding=options.encoding,
                    sample_rate=options.sample_rate,
                )
            request_id = tts.request_id
            if speaker is not None:
                await speaker.drain()

    with _replacing(args.output) as wav:
        await _run_with_fake(args, err, lambda base_url: synthesise(base_url, wav))
    if args.output is not None:
        where.insert(0, str(args.output))
    err.write(
        f"dgtrio: {seconds:.2f} s of speech to {' and '.join(where)} (request id {request_id})\n"
    )


async def _devices(out: TextIO) -> None:
    found = await list_devices()
    out.write(f"{'#':>3}  {'in':>3} {'out':>3}  {'rate':>6}  name\n")
    for device in found:
        pairs = (("input", device.is_default_input), ("output", device.is_default_output))
        defaults = [kind for kind, is_default in pairs if is_default]
        marks = f"  (default {' and '.join(defaults)})" if defaults else ""
        out.write(
            f"{device.index:>3}  {device.max_input_channels:>3} {device.max_output_channels:>3}  "
            f"{device.default_sample_rate:>6.0f}  {device.name} [{device.host_api}]{marks}\n"
        )


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


def _read_text(path: Path) -> str:
    """A UTF-8 text file; a file that is not UTF-8 is an error naming it."""
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ValueError(f"{path}: not UTF-8 text ({exc.reason})") from None


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status (see the module docstring).

    Raises:
        SystemExit: from argparse, for ``--help``, ``--version`` and bad arguments.
    """
    parser, command_parsers = _parser()
    args = parser.parse_args(argv)
    _check_combinations(command_parsers[args.command], args)
    uses_audio = (
        args.command in ("mic", "devices")
        or (args.command == "agent" and not args.text)
        or (args.command == "speak" and args.play)
    )
    try:
        with _native_stderr_hushed() if uses_audio else nullcontext():
            if args.command == "agent":
                trio.run(_agent, args, sys.stdin, sys.stdout, sys.stderr)
            elif args.command == "speak":
                trio.run(_speak, args, sys.stderr)
            elif args.command == "mic":
                trio.run(_mic, args, sys.stdout, sys.stderr)
            elif args.command == "devices":
                trio.run(_devices, sys.stdout)
            else:
                trio.run(_transcribe, args, sys.stdout, sys.stderr)
    except KeyboardInterrupt:
        return 130  # the shell's convention for SIGINT; the ^C says why
    except BrokenPipeError:
        # The reader went away (e.g. `| head`): stop quietly, as Unix tools do.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except (DeepgramError, OSError, ValueError, TypeError) as exc:
        # What a user can cause (bad input, files, devices, the network, the server),
        # as one line; anything else is a bug, and its traceback is the report.
        sys.stdout.flush()
        sys.stderr.write(f"dgtrio: error: {_describe(exc)}\n")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
