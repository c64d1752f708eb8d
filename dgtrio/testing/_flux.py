"""The fake Flux server (``/v2/listen``): being written."""

from __future__ import annotations

from typing import TYPE_CHECKING

import attrs

from ._common import Query

if TYPE_CHECKING:
    from ._server import FakeSession

__all__ = ["FluxScript", "ListenV2Fake"]


@attrs.frozen
class FluxScript:
    """What the fake Flux server hears."""


class ListenV2Fake:
    def __init__(self, script: FluxScript) -> None:
        self._script = script

    def check(self, query: Query) -> tuple[str, str] | None:
        return None

    async def run(self, session: FakeSession) -> None:
        raise NotImplementedError
