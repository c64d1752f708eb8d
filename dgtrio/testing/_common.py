"""Small helpers shared by the fake server's behaviours."""

from __future__ import annotations

from collections.abc import Mapping

Query = Mapping[str, list[str]]


def param(query: Query, name: str, default: str | None = None) -> str | None:
    """The last value of a query parameter, or ``default``."""
    values = query.get(name)
    return values[-1] if values else default


def flag(query: Query, name: str) -> bool:
    """A boolean query parameter: present and ``true``."""
    return param(query, name) == "true"
