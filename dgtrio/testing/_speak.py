"""The fake Speak v1 server (``/v1/speak``): being written."""

from __future__ import annotations

from typing import TYPE_CHECKING

import attrs

from ._common import Query

if TYPE_CHECKING:
    from ._server import FakeSession

__all__ = ["SpeakScript", "SpeakV1Fake"]


@attrs.frozen
class SpeakScript:
    """How the fake Speak v1 server synthesises."""


class SpeakV1Fake:
    def __init__(self, script: SpeakScript) -> None:
        self._script = script

    def check(self, query: Query) -> tuple[str, str] | None:
        return None

    async def run(self, session: FakeSession) -> None:
        raise NotImplementedError
