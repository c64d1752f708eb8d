"""ToolRegistry.error_content: what the LLM is told when a tool handler raises."""

from __future__ import annotations

import json
import logging
import math
from typing import Any

import pytest

import dgtrio
from dgtrio import agent as ag

CALL = ag.FunctionCall("call-1", "get_weather", '{"city": "Paris"}', True)
SECRET = "db password is hunter2"


class WeatherServiceDown(Exception):
    pass


def test_the_default_content_is_the_exception_type_and_text_as_json() -> None:
    registry = dgtrio.ToolRegistry()
    content = registry.error_content(CALL, WeatherServiceDown(f'{SECRET} ("quoted")'))
    # Byte for byte what the connection always sent: orjson's compact form.
    assert content == '{"error":"WeatherServiceDown: db password is hunter2 (\\"quoted\\")"}'
    assert json.loads(content) == {"error": f'WeatherServiceDown: {SECRET} ("quoted")'}


def test_an_exception_that_cannot_be_printed_is_named_by_its_type() -> None:
    class Unprintable(Exception):
        def __str__(self) -> str:
            raise RuntimeError("no")

    content = dgtrio.ToolRegistry().error_content(CALL, Unprintable())
    assert json.loads(content) == {"error": "Unprintable: <unprintable>"}


def test_redact_errors_sends_a_generic_text() -> None:
    registry = dgtrio.ToolRegistry(redact_errors=True)
    content = registry.error_content(CALL, WeatherServiceDown(SECRET))
    assert json.loads(content) == {"error": "get_weather failed"}
    assert "hunter2" not in content and "WeatherServiceDown" not in content


def test_on_error_chooses_the_content_from_the_call_and_the_exception() -> None:
    seen: list[tuple[ag.FunctionCall, Exception]] = []

    def on_error(call: ag.FunctionCall, exc: Exception) -> str:
        seen.append((call, exc))
        if isinstance(exc, LookupError):
            return "no such city"  # plain text is sent as it is
        return json.dumps({"error": f"{call.name} is unavailable", "retry": True})

    registry = dgtrio.ToolRegistry(on_error=on_error)
    missing, down = KeyError("Atlantis"), WeatherServiceDown(SECRET)
    assert registry.error_content(CALL, missing) == "no such city"
    assert json.loads(registry.error_content(CALL, down)) == {
        "error": "get_weather is unavailable",
        "retry": True,
    }
    assert seen == [(CALL, missing), (CALL, down)]


@pytest.mark.parametrize(
    "on_error",
    [
        lambda call, exc: 1 / 0,
        lambda call, exc: {"error": "not a string"},
        lambda call, exc: None,
    ],
    ids=["raises", "returns-a-dict", "returns-None"],
)
def test_a_broken_on_error_sends_the_generic_text_and_logs_a_warning(
    on_error: Any, caplog: pytest.LogCaptureFixture
) -> None:
    registry = dgtrio.ToolRegistry(on_error=on_error)
    with caplog.at_level(logging.WARNING, logger="dgtrio"):
        content = registry.error_content(CALL, WeatherServiceDown(SECRET))
    assert json.loads(content) == {"error": "get_weather failed"}
    assert [record.levelname for record in caplog.records] == ["WARNING"]
    assert "on_error" in caplog.records[0].getMessage()


def test_the_hooks_are_checked_when_the_registry_is_made() -> None:
    with pytest.raises(ValueError, match="not both"):
        dgtrio.ToolRegistry(on_error=lambda call, exc: "x", redact_errors=True)
    with pytest.raises(TypeError, match="on_error must be callable"):
        dgtrio.ToolRegistry(on_error="generic")  # type: ignore[arg-type]
    # A truthy non-bool would redact (or not) by accident.
    with pytest.raises(
        dgtrio.ConfigurationError,
        match=r"^ToolRegistry\.redact_errors must be True or False, not 'no' \(str\)$",
    ):
        dgtrio.ToolRegistry(redact_errors="no")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="timeout must be a positive number of seconds"):
        dgtrio.ToolRegistry(timeout=0)
    with pytest.raises(TypeError, match="timeout is a number of seconds, not str"):
        dgtrio.ToolRegistry(timeout="5")  # type: ignore[arg-type]
    registry = dgtrio.ToolRegistry()

    async def handler() -> str:
        return "ok"  # pragma: no cover

    with pytest.raises(ValueError, match="timeout must be a positive number of seconds"):
        registry.register(timeout=math.nan)(handler)
    assert list(registry) == []
