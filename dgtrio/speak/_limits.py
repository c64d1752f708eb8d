"""Deepgram's flush rate limit, kept on the client side (sans-io)."""

from __future__ import annotations

from collections import deque

__all__ = ["MAX_SPEAK_CHARACTERS", "FlushLimitWarning", "FlushLimiter"]

MAX_SPEAK_CHARACTERS = 2000
"""The most text one ``Speak`` message may carry: Deepgram's limit per text input.
The server closes the socket (1009 ``BIG-0000``) on a longer one, losing the text
buffered before it; :meth:`~dgtrio.SpeakV1Connection.speak` refuses it instead."""


class FlushLimitWarning(UserWarning):
    """Flushes came faster than Deepgram takes them; the next one waits its turn."""


class FlushLimiter:
    """Keeps flushes within ``limit`` per ``window`` seconds.

    Deepgram takes 20 ``Flush`` messages per 60 s and ignores the rest (with a
    ``Warning``): the audio of an ignored flush would come only with a later one.
    :meth:`delay` says how long the next flush must wait so that none is ignored;
    ``margin`` seconds are added for the time a frame takes to reach the server.
    """

    def __init__(self, limit: int = 20, window: float = 60.0, *, margin: float = 0.5) -> None:
        if limit < 1 or window <= 0 or margin < 0:
            raise ValueError("a flush limit needs limit >= 1, window > 0 and margin >= 0")
        self.limit = limit
        self.window = window
        self.margin = margin
        self._sent: deque[float] = deque()

    def delay(self, now: float) -> float:
        """Seconds from ``now`` until one more flush is within the limit (0: now)."""
        while self._sent and self._sent[0] + self.window + self.margin <= now:
            self._sent.popleft()
        if len(self._sent) < self.limit:
            return 0.0
        return self._sent[-self.limit] + self.window + self.margin - now

    def record(self, now: float) -> None:
        """Count a flush sent at ``now``."""
        self._sent.append(now)
