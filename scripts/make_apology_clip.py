"""Make dgtrio/phone/apology.ulaw, the clip a caller hears when the agent fails:
hibari's voice (``pip install 'dgtrio[local]'``), mu-law at 8 kHz as Twilio plays it.

    .venv/bin/python scripts/make_apology_clip.py ["another sentence"]

Run once; the clip is committed (a service must not need the local engine to apologise).
"""

from __future__ import annotations

import sys
from pathlib import Path

from dgtrio.local._synthesizer import Synthesizer, encode

TEXT = "I'm sorry, something went wrong on our side. Please call again in a moment."
CLIP = Path(__file__).resolve().parent.parent / "dgtrio" / "phone" / "apology.ulaw"


def main() -> None:
    text = sys.argv[1] if len(sys.argv) > 1 else TEXT
    audio = encode(Synthesizer().synthesize(text), "mulaw", 8000)
    CLIP.write_bytes(audio)
    print(f"{CLIP}: {len(audio)} bytes, {len(audio) / 8000:.2f} s: {text!r}")


if __name__ == "__main__":
    main()
