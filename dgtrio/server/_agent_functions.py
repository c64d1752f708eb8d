"""The voice agent's function calls, as the protocol makes them: the server's side of
:class:`~dgtrio.server.AgentFunctions`."""

from __future__ import annotations

import itertools
import json
import uuid
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import trio

from ._session import Session

__all__ = ["FunctionCalls"]


class FunctionCalls:
    """The functions a session's think settings declare, and the calls to them.

    The mind decides what to call; this makes the call as Deepgram does: a
    ``FunctionCallRequest``; then, for a function declared without an ``endpoint``,
    the client runs it and answers ``FunctionCallResponse`` (within ``timeout``
    seconds, else a ``FUNCTION_CALL_FAILED`` warning); for one with an endpoint
    Deepgram would call that, which the server cannot, so it answers itself, with
    the result the mind gives. Then the call goes into the history (``record``).
    """

    def __init__(
        self,
        session: Session,
        timeout: float,
        record: Callable[[Mapping[str, Any]], Awaitable[None]],
    ) -> None:
        self.declared: Mapping[str, Mapping[str, Any]] = {}
        """The declared functions by name (set from ``Settings`` and ``UpdateThink``)."""
        self._session = session
        self._timeout = timeout
        self._record = record
        self._pending: dict[str, trio.MemorySendChannel[str]] = {}
        self._count = itertools.count(1)

    async def call(
        self, name: str, arguments: Mapping[str, Any], *, server_result: str = '{"ok": true}'
    ) -> str | None:
        """Call the declared function ``name`` where its declaration says; its result,
        or None when the client did not answer in time."""
        client_side = self.declared[name].get("endpoint") is None
        call_id = f"call_{next(self._count)}_{uuid.uuid4().hex[:8]}"
        request = {
            "id": call_id,
            "name": name,
            "arguments": json.dumps(dict(arguments)),
            "client_side": client_side,
        }
        await self._session.send_whole({"type": "FunctionCallRequest", "functions": [request]})
        if client_side:
            try:
                content = await self._client_result(call_id)
            except trio.Cancelled:
                # Interrupted (the user spoke): the call is withdrawn, as Deepgram does.
                with trio.CancelScope(shield=True):
                    cancelled = [{"id": call_id, "name": name}]
                    await self._session.send_json(
                        {"type": "FunctionCallCancelled", "functions": cancelled}
                    )
                raise
            if content is None:
                await self._session.send_whole(
                    {
                        "type": "Warning",
                        "code": "FUNCTION_CALL_FAILED",
                        "description": f"No FunctionCallResponse for {name} within "
                        f"{self._timeout:g} s.",
                    }
                )
                return None
        else:
            content = server_result
            await self._session.send_whole(
                {"type": "FunctionCallResponse", "id": call_id, "name": name, "content": content}
            )
        await self._record({"function_calls": [{**request, "response": content}]})
        return content

    def answer(self, call_id: str, content: str) -> bool:
        """The client's ``FunctionCallResponse``: whether a call was waiting for it."""
        waiter = self._pending.pop(call_id, None)
        if waiter is None:
            return False
        waiter.send_nowait(content)
        return True

    async def _client_result(self, call_id: str) -> str | None:
        """The client's ``FunctionCallResponse`` content, or None after the timeout."""
        send, receive = trio.open_memory_channel[str](1)
        self._pending[call_id] = send
        try:
            with trio.move_on_after(self._timeout):
                return await receive.receive()
            return None
        finally:
            self._pending.pop(call_id, None)
