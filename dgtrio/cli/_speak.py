"""``dgtrio speak TEXT``: text-to-speech (/v1/speak) into a WAV file, to the speaker, or
both."""

from __future__ import annotations

import argparse
import errno
import os
import stat
import tempfile
from collections.abc import Iterator
from contextlib import AsyncExitStack, contextmanager
from pathlib import Path

from dgtrio import SpeakV1Options, open_speak
from dgtrio.audio import open_speaker, write_wav
from dgtrio.speak import split_text

from ._common import (
    BASE_URL_HELP,
    Command,
    Console,
    add_audio_arguments,
    base_url,
    positive_int,
    run_with_fake,
)

__all__ = ["add_speak"]


def add_speak(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """The ``speak`` command."""
    parser = commands.add_parser(
        "speak",
        help="synthesise speech into a WAV file",
        description="Stream TEXT to Deepgram's text-to-speech (/v1/speak) and write the "
        "audio to a WAV file as it arrives (an existing file is replaced only once the "
        "speech is complete). Text longer than one message takes is sent in pieces cut "
        "between sentences. Credentials as for transcribe; without them a built-in fake "
        "server is used (it speaks a tone as long as the words).",
    )
    parser.add_argument("text", type=_text, help="what to say")
    parser.add_argument("-o", "--output", type=Path, help="the WAV file to write")
    parser.add_argument("--voice", default="aura-2-thalia-en", help="an Aura voice model")
    parser.add_argument(
        "--encoding", choices=["linear16", "mulaw", "alaw"], default="linear16", help="(linear16)"
    )
    parser.add_argument("--sample-rate", type=positive_int, default=24000, help="Hz (24000)")
    parser.add_argument("--speed", type=float, help="speaking rate, 0.7 to 1.5")
    parser.add_argument("--play", action="store_true", help="play it on the speaker")
    add_audio_arguments(parser, output_device=True, seconds=False)
    parser.add_argument("--base-url", type=base_url, help=BASE_URL_HELP)
    parser.set_defaults(handler=Command(_speak, check=_check, uses_audio=lambda args: args.play))


def _text(text: str) -> str:
    if not text.strip():
        raise argparse.ArgumentTypeError("there is nothing to say: the text is empty")
    return text


def _check(args: argparse.Namespace) -> str | None:
    if args.output is None and not args.play:
        return "say where the speech goes: -o FILE.wav, --play, or both"
    if args.output_device is not None and not args.play:
        return "--output-device needs --play"
    return None


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


async def _speak(args: argparse.Namespace, console: Console) -> None:
    options = SpeakV1Options(  # checked before connecting
        model=args.voice, encoding=args.encoding, sample_rate=args.sample_rate, speed=args.speed
    )
    # Deepgram closes the socket on a longer Speak, so long text goes in pieces,
    # spoken as one utterance by the single flush after them.
    pieces = split_text(args.text)
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
        await run_with_fake(args.base_url, console.err, lambda base_url: synthesise(base_url, wav))
    if args.output is not None:
        where.insert(0, str(args.output))
    console.err.write(
        f"dgtrio: {seconds:.2f} s of speech to {' and '.join(where)} (request id {request_id})\n"
    )
