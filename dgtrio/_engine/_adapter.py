"""What one API's messages mean to the engine: the sans-io adapter protocol."""

from __future__ import annotations

from typing import Generic, TypeVar

from .._codec import UnknownMessage

__all__ = ["Adapter"]

M = TypeVar("M")


class Adapter(Generic[M]):
    """An API's answers to the engine's questions about its messages; no I/O.

    The defaults suit an API that neither reconnects nor plays speech. Each API
    subclasses this in its own package, and is unit-tested without a socket.
    """

    sequence_gaps: int = 0
    """Times the server's message numbering skipped or went back (Flux numbers its
    messages); reported by ``statistics()``."""

    def on_message(self, message: M | UnknownMessage) -> None:
        """See every decoded message first, in the reader, before it is queued."""

    def rebase(self, message: M | UnknownMessage, offset: float) -> M | UnknownMessage:
        """``message`` from a socket that replaced a lost one, as if the first socket
        had served the whole stream: its audio begins ``offset`` seconds in."""
        return message

    def audio_done(self, message: M | UnknownMessage) -> float | None:
        """The stream seconds ``message`` says the server is done with (``math.inf``:
        all of it, the stream is finished), or ``None``."""
        return None

    def socket_changed(self) -> None:
        """A new socket is about to serve the stream."""

    def audible(self) -> bool:
        """Whether speech arriving now is to be delivered and played."""
        return True
