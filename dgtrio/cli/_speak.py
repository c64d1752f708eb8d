"""``dgtrio speak TEXT``: text-to-speech (Aura's /v1/speak, or Flux's /v2/speak) into a
WAV file, to the speaker, or both."""

from __future__ import annotations

import argparse
import errno
import os
import stat
import tempfile
from collections.abc import Iterator
from contextlib import AsyncExitStack, contextmanager
from pathlib import Path

from dgtrio import (
    SpeakV1Audio,
    SpeakV1Message,
    SpeakV1Options,
    SpeakV2Audio,
    SpeakV2Message,
    SpeakV2Options,
    UtteranceAudio,
    open_flux_speak,
    open_speak,
)
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
        description="Stream TEXT to Deepgram's text-to-speech and write the audio to a WAV "
        "file as it arrives (an existing file is replaced only once the speech is "
        "complete). Aura voices use /v1/speak; Flux voices (flux-..., or --flux) use "
        "/v2/speak. Text longer than one message takes is sent in pieces cut between "
        "sentences. Credentials as for transcribe; without them a built-in fake server "
        "is used (it speaks a tone as long as the words).",
    )
    parser.add_argument("text", type=_text, help="what to say")
    parser.add_argument("-o", "--output", type=Path, help="the WAV file to write")
    parser.add_argument(
        "--voice",
        help=f"a voice model: Aura ({_AURA_VOICE}, the default) or Flux (flux-..., "
        f"{_FLUX_VOICE} with --flux)",
    )
    parser.add_argument(
        "--flux",
        action="store_true",
        help="use Flux TTS (/v2/speak); the default when the voice is flux-...",
    )
    parser.add_argument(
        "--encoding", choices=["linear16", "mulaw", "alaw"], default="linear16", help="(linear16)"
    )
    parser.add_argument("--sample-rate", type=positive_int, default=24000, help="Hz (24000)")
    parser.add_argument(
        "--speed", type=float, help="speaking rate: Aura 0.7 to 1.5, Flux 0.5 to 1.5 by 0.05"
    )
    parser.add_argument(
        "--expressivity",
        type=int,
        choices=range(-2, 3),
        metavar="{-2..2}",
        help="Flux only: from calm (-2) to animated (2)",
    )
    parser.add_argument("--play", action="store_true", help="play it on the speaker")
    add_audio_arguments(parser, output_device=True, seconds=False)
    parser.add_argument("--base-url", type=base_url, help=BASE_URL_HELP)
    parser.set_defaults(handler=Command(_speak, check=_check, uses_audio=lambda args: args.play))


def _text(text: str) -> str:
    if not text.strip():
        raise argparse.ArgumentTypeError("there is nothing to say: the text is empty")
    return text


_AURA_VOICE = "aura-2-thalia-en"
_FLUX_VOICE = "flux-haley-en"


def _is_flux(args: argparse.Namespace) -> bool:
    return bool(args.flux or (args.voice or "").startswith("flux-"))


def _check(args: argparse.Namespace) -> str | None:
    if args.output is None and not args.play:
        return "say where the speech goes: -o FILE.wav, --play, or both"
    if args.output_device is not None and not args.play:
        return "--output-device needs --play"
    if args.flux and args.voice is not None and not args.voice.startswith("flux-"):
        return f"--flux needs a Flux voice (flux-...), not {args.voice}"
    if args.expressivity is not None and not _is_flux(args):
        return "--expressivity needs a Flux voice (or --flux)"
    return None


def _options(args: argparse.Namespace) -> SpeakV1Options | SpeakV2Options:
    """The options the arguments ask for, checked before connecting."""
    if _is_flux(args):
        return SpeakV2Options(
            model=args.voice or _FLUX_VOICE,
            encoding=args.encoding,
            sample_rate=args.sample_rate,
            speed=args.speed,
            expressivity=args.expressivity,
        )
    return SpeakV1Options(
        model=args.voice or _AURA_VOICE,
        encoding=args.encoding,
        sample_rate=args.sample_rate,
        speed=args.speed,
    )


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
    options = _options(args)
    # Deepgram closes the socket on a longer Speak, so long text goes in pieces,
    # spoken as one utterance (Flux: one turn) by the single flush after them.
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
            audio: (
                UtteranceAudio[SpeakV1Message, SpeakV1Audio]
                | UtteranceAudio[SpeakV2Message, SpeakV2Audio]
            )
            if isinstance(options, SpeakV2Options):
                flux = await stack.enter_async_context(
                    open_flux_speak(options, speaker=speaker, base_url=base_url)
                )
                for piece in pieces:
                    await flux.speak(piece)
                audio, request_id = flux.turn(), flux.request_id
            else:
                aura = await stack.enter_async_context(
                    open_speak(options, speaker=speaker, base_url=base_url)
                )
                for piece in pieces:
                    await aura.speak(piece)
                audio, request_id = aura.utterance(), aura.request_id
            if wav is None:
                received = sum([len(chunk.data) async for chunk in audio])
                seconds = received / options.audio_format.bytes_per_second
            else:
                seconds = await write_wav(
                    wav, audio, encoding=options.encoding, sample_rate=options.sample_rate
                )
            if speaker is not None:
                await speaker.drain()

    with _replacing(args.output) as wav:
        await run_with_fake(args.base_url, console.err, lambda base_url: synthesise(base_url, wav))
    if args.output is not None:
        where.insert(0, str(args.output))
    console.err.write(
        f"dgtrio: {seconds:.2f} s of speech to {' and '.join(where)} (request id {request_id})\n"
    )
