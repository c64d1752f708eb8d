"""``python -m bench.decode``: what decoding one server frame costs, in microseconds,
with words built eagerly and lazily, against the official deepgram-sdk, in one process.

Each case decodes the same text frame over and over and reads what a consumer reads:
only the transcript, or every word. The frames are a Listen v1 ``Results`` (the
benchmark peer's, 1.9 KB with 15 words) and a Flux ``TurnInfo`` with as many words.
The decoders:

- ``eager``: dgtrio's codec building every word while decoding (``lazy=False``);
- ``lazy``: dgtrio's codec as shipped, words built on first read;
- ``sdk``: what the SDK's socket client runs per message, ``json.loads`` then
  ``construct_type`` over its union of server messages;
- ``sdk validate``: pydantic's ``model_validate`` of the SDK's message class.

Cases take turns within each run, so that a busy machine slows them all alike; the
table shows each case's median over ``--runs`` with the range of the runs.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, get_args

import orjson

from dgtrio._codec import Codec
from dgtrio.listen.v1._messages import ListenV1Message
from dgtrio.listen.v2._messages import ListenV2Message

from .peer import RESULTS_FRAME_JSON

V1_FRAME = RESULTS_FRAME_JSON.decode()
_FLUX_WORDS = orjson.loads(RESULTS_FRAME_JSON)["channel"]["alternatives"][0]["words"]
FLUX_FRAME = orjson.dumps(
    {
        "type": "TurnInfo",
        "request_id": "e1985d01-b8bc-42ab-a16a-e7a8419c07f2",
        "sequence_id": 42,
        "event": "Update",
        "turn_index": 3,
        "audio_window_start": 17.0,
        "audio_window_end": 20.6,
        "transcript": " ".join(word["punctuated_word"] for word in _FLUX_WORDS),
        "words": [
            {"word": w["punctuated_word"], "confidence": w["confidence"]} for w in _FLUX_WORDS
        ],
        "end_of_turn_confidence": 0.02,
    }
).decode()

Decoder = Callable[[str], Any]


def _v1_transcript(message: Any) -> object:
    return message.channel.alternatives[0].transcript


def _v1_words(message: Any) -> object:
    return [word.word for word in message.channel.alternatives[0].words]


def _flux_transcript(message: Any) -> object:
    return message.transcript


def _flux_words(message: Any) -> object:
    return [word.word for word in message.words]


def _sdk_decoders() -> dict[str, tuple[Decoder, Decoder]]:
    """Per API, the SDK's receive path and its pydantic validation."""
    from deepgram.core.unchecked_base_model import construct_type
    from deepgram.listen.v1.socket_client import V1SocketClientResponse
    from deepgram.listen.v1.types import ListenV1Results
    from deepgram.listen.v2.socket_client import V2SocketClientResponse
    from deepgram.listen.v2.types import ListenV2TurnInfo

    def receive(union: Any) -> Decoder:
        return lambda frame: construct_type(type_=union, object_=json.loads(frame))

    def validate(model: Any) -> Decoder:
        return lambda frame: model.model_validate(json.loads(frame))

    return {
        "listen v1": (receive(V1SocketClientResponse), validate(ListenV1Results)),
        "flux": (receive(V2SocketClientResponse), validate(ListenV2TurnInfo)),
    }


DECODERS = ("eager", "lazy", "sdk", "sdk validate")


def cases() -> dict[tuple[str, str, str], Callable[[], object]]:
    """Every case, by (frame, what is read, decoder): a call that decodes and reads."""
    sdk = _sdk_decoders()
    apis: list[tuple[str, str, Any, Decoder, Decoder]] = [
        ("listen v1", V1_FRAME, ListenV1Message, _v1_transcript, _v1_words),
        ("flux", FLUX_FRAME, ListenV2Message, _flux_transcript, _flux_words),
    ]
    found: dict[tuple[str, str, str], Callable[[], object]] = {}
    for api, frame, union, transcript, words in apis:
        decoders: dict[str, Decoder] = {
            "eager": Codec(api, get_args(union), lazy=False).decode,
            "lazy": Codec(api, get_args(union)).decode,
            "sdk": sdk[api][0],
            "sdk validate": sdk[api][1],
        }
        for reads, read in (("transcript", transcript), ("every word", words)):
            for name, decode in decoders.items():
                found[api, reads, name] = _case(decode, read, frame)
    return found


def _case(decode: Decoder, read: Callable[[Any], object], frame: str) -> Callable[[], object]:
    def run() -> object:
        return read(decode(frame))

    return run


def measure(count: int, runs: int) -> dict[tuple[str, str, str], list[float]]:
    """Microseconds per message of every case, one value per run."""
    found = cases()
    for case in found.values():
        case()  # builds and caches what the first call builds (cattrs, pydantic)
    micros: dict[tuple[str, str, str], list[float]] = {key: [] for key in found}
    loop = range(count)
    for _ in range(runs):
        for key, case in found.items():
            started = time.perf_counter()
            for _ in loop:
                case()
            micros[key].append((time.perf_counter() - started) / count * 1e6)
    return micros


def table(micros: dict[tuple[str, str, str], list[float]]) -> list[str]:
    """The results as Markdown: a row per frame and reading, a column per decoder."""

    def cell(values: list[float]) -> str:
        return f"{statistics.median(values):.1f} ({min(values):.1f}-{max(values):.1f})"

    lines = [
        "| frame | reads | " + " | ".join(DECODERS) + " | lazy vs eager | lazy vs sdk |",
        "|---|---|" + "---|" * (len(DECODERS) + 2),
    ]
    rows = dict.fromkeys((api, reads) for api, reads, _ in micros)
    for api, reads in rows:
        median = {name: statistics.median(micros[api, reads, name]) for name in DECODERS}
        cells = [cell(micros[api, reads, name]) for name in DECODERS]
        ratios = [f"{median[name] / median['lazy']:.2f}x" for name in ("eager", "sdk")]
        lines.append(f"| {api} | {reads} | " + " | ".join(cells + ratios) + " |")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.decode", description=__doc__)
    parser.add_argument("--count", type=int, default=3000, help="messages per case and run")
    parser.add_argument("--runs", type=int, default=9)
    parser.add_argument("--json", type=Path, help="also write every run's value here")
    args = parser.parse_args(argv)
    micros = measure(args.count, args.runs)
    python = sys.version.split()[0]
    print(f"µs per message, median (range) of {args.runs} runs of {args.count}; Python {python}")
    print("\n".join(table(micros)))
    if args.json:
        report = {" / ".join(key): values for key, values in micros.items()}
        args.json.write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
