"""G.711 mu-law and A-law, to and from 16-bit PCM: exact, table driven.

The encoders are the ITU reference algorithms (as in Sun's ``g711.c`` and the
standard library's former ``audioop``); the tests compare every one of the 65536
16-bit samples and 256 codes with those references.
"""

from __future__ import annotations

import sys
from array import array
from functools import cache
from typing import Literal

__all__ = ["G711", "LAWS", "alaw_encode", "from_linear16", "to_linear16", "ulaw_encode"]

G711 = Literal["mulaw", "alaw"]
LAWS: tuple[G711, ...] = ("mulaw", "alaw")


def ulaw_encode(sample: int) -> int:
    """A 16-bit sample as a G.711 mu-law code."""
    mask = 0xFF
    value = sample >> 2
    if value < 0:
        value, mask = -value, 0x7F
    value = min(value, 8159) + 0x21
    segment = value.bit_length() - 6  # segment s holds values below 2 ** (6 + s)
    if segment > 7:
        return 0x7F ^ mask
    return ((segment << 4) | ((value >> (segment + 1)) & 0x0F)) ^ mask


def alaw_encode(sample: int) -> int:
    """A 16-bit sample as a G.711 A-law code."""
    value = sample >> 3
    mask = 0xD5
    if value < 0:
        value, mask = -value - 1, 0x55
    segment = max(value.bit_length() - 5, 0)  # segment s holds values below 2 ** (5 + s)
    return ((segment << 4) | ((value >> max(segment, 1)) & 0x0F)) ^ mask


def _ulaw_decode(code: int) -> int:
    inverted = ~code & 0xFF
    magnitude = (((inverted & 0x0F) << 3) + 0x84) << ((inverted & 0x70) >> 4)
    return 0x84 - magnitude if inverted & 0x80 else magnitude - 0x84


def _alaw_decode(code: int) -> int:
    value = code ^ 0x55
    magnitude = (value & 0x0F) << 4
    segment = (value & 0x70) >> 4
    magnitude = magnitude + 8 if segment == 0 else (magnitude + 0x108) << (segment - 1)
    return magnitude if value & 0x80 else -magnitude


ULAW = [_ulaw_decode(code) for code in range(256)]
"""The 16-bit sample of each mu-law code."""
ALAW = [_alaw_decode(code) for code in range(256)]
"""The 16-bit sample of each A-law code."""
_DECODE = {"mulaw": ULAW, "alaw": ALAW}
_ENCODE = {"mulaw": ulaw_encode, "alaw": alaw_encode}


@cache
def _encoder_table(law: G711) -> bytes:
    """The code of every 16-bit sample, indexed by the sample as unsigned (64 KiB)."""
    encode = _ENCODE[law]
    return bytes(encode(u - 0x10000 if u & 0x8000 else u) for u in range(0x10000))


def _check_law(law: str) -> None:
    if law not in LAWS:
        raise ValueError(f"G.711 law must be 'mulaw' or 'alaw', not {law!r}")


def to_linear16(data: bytes | bytearray | memoryview, law: G711) -> bytes:
    """G.711 ``law`` codes as 16-bit little-endian PCM (two bytes per code)."""
    _check_law(law)
    samples = array("h", map(_DECODE[law].__getitem__, bytes(data)))
    if sys.byteorder == "big":
        samples.byteswap()
    return samples.tobytes()


def from_linear16(data: bytes | bytearray | memoryview, law: G711) -> bytes:
    """16-bit little-endian PCM as G.711 ``law`` codes (one byte per sample).

    Raises:
        ValueError: an odd number of bytes (a split sample).
    """
    _check_law(law)
    if len(data) % 2:
        raise ValueError(f"{len(data)} bytes of 16-bit PCM: a sample is split")
    samples = array("H", bytes(data))
    if sys.byteorder == "big":
        samples.byteswap()
    return bytes(map(_encoder_table(law).__getitem__, samples))
