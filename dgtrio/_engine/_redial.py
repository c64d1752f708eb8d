"""Dialling with backoff: the first connection with ``reconnect=``, and every
replacement of a lost socket."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

import trio

from .._errors import ConnectError, DeepgramError
from .._reconnect import Reconnecting, ReconnectPolicy, retryable
from .._transport import Transport

__all__ = ["dial_with_backoff"]

log = logging.getLogger("dgtrio")


async def dial_with_backoff(
    dial: Callable[[], Awaitable[Transport]],
    policy: ReconnectPolicy,
    name: str,
    *,
    failures: int = 0,
    error: DeepgramError | None = None,
    announce: Callable[[Reconnecting], Awaitable[None]] | None = None,
) -> tuple[Transport | None, int, DeepgramError | None]:
    """Dial until a socket is up, as ``policy`` says.

    After ``error`` (none: dial at once), each attempt waits its backoff first and is
    announced; ``failures`` counts the attempts so far. Returns the socket (``None``
    once an error is not retryable or the attempts ran out), the attempts counted,
    and the last error (``None`` if the first dial worked).
    """
    while True:
        if error is not None:
            if not retryable(error) or failures >= policy.max_attempts:
                return None, failures, error
            failures += 1
            delay = policy.backoff(failures, retry_after=getattr(error, "retry_after", None))
            if announce is not None:
                await announce(Reconnecting(failures, delay, error))
            await trio.sleep(delay)
        try:
            return await dial(), failures, error
        except ConnectError as exc:
            log.info("%s: connection attempt %d: %s", name, failures + 1, exc)
            error = exc
