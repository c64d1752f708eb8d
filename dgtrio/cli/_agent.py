"""``dgtrio agent``: a conversation with Deepgram's voice agent (/v1/agent/converse),
spoken (microphone and speaker) or typed (``--text``)."""

from __future__ import annotations

import argparse
import datetime
from typing import Literal, TextIO

import trio

from dgtrio import (
    AgentV1AgentAudioDone,
    AgentV1ConversationText,
    AgentV1Error,
    AgentV1FunctionCallRequest,
    AgentV1FunctionCallResponse,
    AgentV1Settings,
    AgentV1UserStartedSpeaking,
    AgentV1Warning,
    ToolRegistry,
    ToolResult,
    open_agent,
)
from dgtrio.agent import (
    AgentConfig,
    AudioConfig,
    AudioInput,
    AudioOutput,
    DeepgramListenV1,
    DeepgramSpeak,
    Listen,
    OpenAiThink,
    Speak,
    Think,
)
from dgtrio.audio import open_microphone, open_speaker

from ._common import (
    BASE_URL_HELP,
    Command,
    Console,
    add_audio_arguments,
    base_url,
    on_first_interrupt,
    run_with_fake,
)

__all__ = ["add_agent"]

_PROMPT = "You are a friendly assistant. Answer in one or two short sentences."


def add_agent(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """The ``agent`` command."""
    parser = commands.add_parser(
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
    parser.add_argument("--text", action="store_true", help="type instead of speaking")
    add_audio_arguments(parser, input_device=True, output_device=True)
    parser.add_argument("--prompt", default=_PROMPT, help="the agent's system prompt")
    parser.add_argument("--think-model", default="gpt-4o-mini", help="OpenAI model")
    parser.add_argument("--voice", default="aura-2-thalia-en", help="Deepgram voice model")
    parser.add_argument("--greeting", help="what the agent says first")
    parser.add_argument("--base-url", type=base_url, help=BASE_URL_HELP)
    parser.set_defaults(
        handler=Command(_agent, check=_check, uses_audio=lambda args: not args.text)
    )


def _check(args: argparse.Namespace) -> str | None:
    if not args.text:
        return None
    ignored = [
        flag
        for flag, value in (
            ("--device", args.device),
            ("--output-device", args.output_device),
            ("--seconds", args.seconds),
        )
        if value is not None
    ]
    return f"--text uses no sound device: drop {', '.join(ignored)}" if ignored else None


def _agent_settings(
    args: argparse.Namespace, greeting: str | None, output: AudioOutput
) -> AgentV1Settings:
    """The CLI's agent: the microphone's 16 kHz in, ``output`` out."""
    return AgentV1Settings(
        agent=AgentConfig(
            listen=Listen(provider=DeepgramListenV1(model="nova-3")),
            think=Think(provider=OpenAiThink(model=args.think_model), prompt=args.prompt),
            speak=Speak(provider=DeepgramSpeak(model=args.voice, version=_version(args.voice))),
            greeting=greeting,
        ),
        audio=AudioConfig(input=AudioInput(encoding="linear16", sample_rate=16000), output=output),
    )


def _version(voice: str) -> Literal["v2"] | None:
    """Flux TTS voices (``flux-*``) are version v2 of Deepgram's speak provider."""
    return "v2" if voice.startswith("flux-") else None


def _agent_tools() -> ToolRegistry:
    tools = ToolRegistry(timeout=5)

    @tools.register
    async def get_time() -> str:
        """The current local date and time."""
        return datetime.datetime.now().astimezone().strftime("%H:%M on %A %d %B %Y (%Z)")

    return tools


async def _agent(args: argparse.Namespace, console: Console) -> None:
    if not args.text:
        await run_with_fake(
            args.base_url,
            console.err,
            lambda base_url: _talk(args, base_url, console.out, console.err),
            spoken_agent=True,
        )
        return
    # Text mode plays nothing: the smallest audio is the cheapest to receive.
    settings = _agent_settings(args, args.greeting, AudioOutput(encoding="mulaw", sample_rate=8000))
    await run_with_fake(
        args.base_url,
        console.err,
        lambda base_url: _converse(settings, args.greeting, base_url, console.inp, console.out),
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
                on_first_interrupt,
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
