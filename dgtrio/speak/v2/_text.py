"""The text a Flux TTS connection sends: checked for inline pause markers, and an
LLM's tokens gathered into ``Speak`` texts as they come (``speak_stream()``)."""

from __future__ import annotations

import re
from collections.abc import AsyncIterable, Awaitable, Callable

import trio

from ..._tasks import open_tasks
from ..._validate import check_value
from .._common import check_text as check_speak_text
from .._common import split_text

__all__ = ["check_no_pause", "check_stream", "check_text", "stream_tokens"]

# Inline pause markers, as documented (\{pause:1s\}, \{pause:500ms\}, \{pause:500\},
# and the structured {pause:{duration_ms:500}}): batch-only; on the WebSocket one
# fails the connection with DATA-0002.
_PAUSE = re.compile(r"\\\{pause:[^{}\\]*\\\}|\{pause:\{duration_ms:[^{}]*\}\}")
_STREAM_BUFFER = 256  # tokens read ahead of the batch being sent (backpressure)


def check_text(text: object, call: str) -> None:
    """Refuse what ``speak()`` and ``turn()`` cannot send (``call`` names them)."""
    check_speak_text(text, call)
    assert isinstance(text, str)
    check_no_pause(text, call)


def check_no_pause(text: str, call: str) -> None:
    marker = _PAUSE.search(text)
    if marker is not None:
        raise ValueError(
            f"{call}: {marker.group()!r} is an inline pause marker, which Flux TTS takes "
            "in batch requests only: over the WebSocket it fails the connection (DATA-0002)"
        )


def check_stream(tokens: object, flush: bool, batch_seconds: float) -> None:
    """Refuse ``speak_stream()`` arguments it cannot work with (its timeout aside)."""
    if not isinstance(tokens, AsyncIterable):
        raise TypeError(
            "speak_stream() takes an async iterable of strings, "
            f"not {type(tokens).__name__}"
            + (": use speak() for one string" if isinstance(tokens, str) else "")
        )
    check_value("", "flush", flush, bool)
    check_value("", "batch_seconds", batch_seconds, float)
    if batch_seconds < 0:
        raise ValueError(f"batch_seconds must be 0 or more, not {batch_seconds!r}")


async def stream_tokens(
    tokens: AsyncIterable[str],
    batch_seconds: float,
    send_text: Callable[[str], Awaitable[None]],
) -> None:
    """Send ``tokens`` with ``send_text``: the first at once, then those that arrive
    within ``batch_seconds`` of a send joined (0: each as it comes), cut where one
    message would be too long."""
    if not batch_seconds:
        async for token in tokens:
            await _send_batch([token], send_text)
        return
    send, receive = trio.open_memory_channel[str](_STREAM_BUFFER)
    finished = trio.Event()
    async with open_tasks() as nursery:
        nursery.start_soon(_read_tokens, tokens, send, finished)
        async with receive:
            async for first in receive:
                batch = [first]
                while True:
                    try:
                        batch.append(receive.receive_nowait())
                    except (trio.WouldBlock, trio.EndOfChannel):
                        break
                await _send_batch(batch, send_text)
                with trio.move_on_after(batch_seconds):
                    await finished.wait()  # no wait for more once the tokens ended


async def _send_batch(tokens: list[str], send_text: Callable[[str], Awaitable[None]]) -> None:
    for token in tokens:
        if not isinstance(token, str):
            raise TypeError(f"speak_stream() takes strings, not {type(token).__name__}")
    text = "".join(tokens)
    if not text:
        return
    check_no_pause(text, "speak_stream()")
    for piece in split_text(text):
        await send_text(piece)


async def _read_tokens(
    tokens: AsyncIterable[str], send: trio.MemorySendChannel[str], finished: trio.Event
) -> None:
    try:
        async with send:
            async for token in tokens:
                if not isinstance(token, str):
                    raise TypeError(f"speak_stream() takes strings, not {type(token).__name__}")
                if token:
                    await send.send(token)
    finally:
        finished.set()
