"""``python -m dgtrio.testing serve``: run the fake Deepgram server as a process."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

import trio

from ._listen import ListenScript
from ._server import FakeDeepgram


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m dgtrio.testing", description="A fake Deepgram server on loopback."
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    serve = commands.add_parser("serve", help="serve until interrupted, printing the URL")
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (127.0.0.1)")
    serve.add_argument("--port", type=int, default=0, help="port (0: pick a free one)")
    serve.add_argument("--api-key", help="accept only this API key (default: any)")
    serve.add_argument(
        "--transcript", type=Path, help="a text file the Listen v1 fake 'hears' instead"
    )
    args = parser.parse_args(argv)
    script = ListenScript(args.transcript.read_text()) if args.transcript else ListenScript()
    fake = FakeDeepgram(api_key=args.api_key, listen_script=script, host=args.host, port=args.port)

    async def run() -> None:
        async with trio.open_nursery() as nursery:
            await nursery.start(fake.serve)
            print(fake.url, flush=True)

    try:
        trio.run(run)
    except KeyboardInterrupt:
        return 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
