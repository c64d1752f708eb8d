"""A registry of async Python functions the voice agent's LLM may call (no I/O there),
and the runner that answers their calls in a conversation.

::

    tools = ToolRegistry()

    @tools.register
    async def get_weather(city: str, unit: Literal["celsius", "fahrenheit"] = "celsius") -> str:
        \"\"\"The current weather in a city.\"\"\"
        ...

    async with dgtrio.open_agent(settings, tools=tools) as agent: ...

The registry declares its functions in ``think.functions`` and the connection answers
every client-side call of one of them. The JSON schema of the parameters is derived
from the type hints (``Annotated[str, "description"]`` describes one) when it is not
given; the function's docstring is its description.

The connection's :class:`ToolRunner` sees each ``FunctionCallRequest`` as it is read,
runs the registered handler in a task of the connection, and answers the call once
(not at all if the server withdraws it first).

When a handler raises, the call is answered with :meth:`ToolRegistry.error_content`:
by default ``{"error": "ExcType: text"}``, which the LLM reads (and the LLM's vendor
receives). ``ToolRegistry(redact_errors=True)`` or ``ToolRegistry(on_error=...)``
keeps exception texts, which may carry internal details, out of the conversation.
"""

from __future__ import annotations

import enum
import inspect
import logging
import re
import types
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from typing import (
    Annotated,
    Any,
    Literal,
    TypeVar,
    Union,
    get_args,
    get_origin,
    get_type_hints,
    overload,
)

import attrs
import orjson
import trio

from .._codec import UnknownMessage, encode_message
from .._engine import Adapter, Engine
from .._errors import DeepgramError
from .._validate import check_timeout, check_value
from ._messages import (
    AgentV1FunctionCallCancelled,
    AgentV1FunctionCallRequest,
    AgentV1FunctionCallResponse,
    AgentV1Message,
    FunctionCall,
)
from ._settings import Function

__all__ = ["ErrorFormatter", "Tool", "ToolRegistry", "ToolResult", "ToolRunner", "ToolStatus"]

log = logging.getLogger("dgtrio")

Handler = Callable[..., Awaitable[Any]]
ErrorFormatter = Callable[[FunctionCall, Exception], str]
"""``(call, exception) -> content``: the ``FunctionCallResponse`` content that answers
a call whose handler raised (see :class:`ToolRegistry`)."""
ToolStatus = Literal["ok", "error", "timeout", "cancelled"]
H = TypeVar("H", bound=Handler)  # the decorated function, returned as it is


@attrs.frozen
class Tool:
    """One registered function: its declaration and its handler."""

    name: str
    description: str | None
    parameters: Mapping[str, Any]
    handler: Handler = attrs.field(repr=False)
    timeout: float
    defer_until_eot: bool | None = None
    initial_agent_filler: bool | None = None
    agent_filler_max_count: int | None = None
    agent_filler_interval_ms: int | None = None

    @property
    def function(self) -> Function:
        """The ``think.functions`` entry that declares this tool (client-side)."""
        return Function(
            name=self.name,
            description=self.description,
            parameters=self.parameters,
            defer_until_eot=self.defer_until_eot,
            initial_agent_filler=self.initial_agent_filler,
            agent_filler_max_count=self.agent_filler_max_count,
            agent_filler_interval_ms=self.agent_filler_interval_ms,
        )

    async def __call__(self, call: FunctionCall) -> str:
        """Run the handler on a call's arguments; its result as response content.

        A string is sent as it is; anything else as JSON.
        """
        result = await self.handler(**call.parsed_arguments())
        if isinstance(result, str):
            return result
        return orjson.dumps(result).decode()


@attrs.frozen
class ToolResult:
    """How the registry answered a function call (yielded by the agent connection).

    Attributes:
        call: the call, as the server asked for it.
        status: ``"ok"``, ``"error"`` (the handler raised), ``"timeout"`` or
            ``"cancelled"`` (the server withdrew the call; nothing was sent).
        content: the ``FunctionCallResponse`` content sent (``""`` if cancelled).
        error: the exception the handler raised, for ``"error"``.
        duration: seconds the handler ran.
    """

    call: FunctionCall
    status: ToolStatus
    content: str
    error: Exception | None = attrs.field(default=None, eq=False)
    duration: float = 0.0


class ToolRegistry:
    """Async functions the agent may call, answered automatically.

    A handler that raises does not end the conversation: its call is answered with
    :meth:`error_content`, by default ``{"error": "ValueError: no such city"}``. The
    LLM reads that text and the LLM's vendor receives it, so exception texts that may
    carry internal details (hosts, queries, account ids) can be kept out:

    ::

        tools = ToolRegistry(redact_errors=True)  # {"error": "get_weather failed"}

        def on_error(call: FunctionCall, exc: Exception) -> str:
            if isinstance(exc, LookupError):
                return json.dumps({"error": "not found"})
            return json.dumps({"error": f"{call.name} is unavailable, try later"})

        tools = ToolRegistry(on_error=on_error)

    Args:
        timeout: seconds a handler may run before the call is answered with a
            timeout error (per tool with ``register(timeout=...)``).
        on_error: ``(call, exception) -> content``: the content that answers a call
            whose handler raised, sent as it is (JSON or plain text). If it raises or
            returns something else than a string, the call is answered with the
            generic ``{"error": "<name> failed"}`` and a warning is logged: a broken
            formatter must neither end the conversation nor leak the text it was to
            hide. It is not called for a timeout.
        redact_errors: answer every failed call with ``{"error": "<name> failed"}``
            instead of the exception's type and text.

    Raises:
        TypeError: ``timeout`` is not a number. ValueError: it is not positive, or both
            ``on_error`` and ``redact_errors`` are given.
        ConfigurationError: ``redact_errors`` not a bool (a :class:`ValueError` too).
        TypeError: ``on_error`` not callable.
    """

    def __init__(
        self,
        *,
        timeout: float = 30.0,
        on_error: ErrorFormatter | None = None,
        redact_errors: bool = False,
    ) -> None:
        check_timeout(timeout)
        check_value("ToolRegistry", "redact_errors", redact_errors, bool)
        if on_error is not None and not callable(on_error):
            raise TypeError(f"on_error must be callable, not {on_error!r}")
        if on_error is not None and redact_errors:
            raise ValueError("pass on_error or redact_errors, not both")
        self.timeout = timeout
        # redact_errors is the formatter that tells nothing: one hook to call.
        self._on_error = _redacted if redact_errors else on_error
        self._tools: dict[str, Tool] = {}

    def error_content(self, call: FunctionCall, error: Exception) -> str:
        """The ``FunctionCallResponse`` content that answers ``call`` when its handler
        raised ``error``.

        By default ``{"error": "ExcType: text"}`` (JSON); with ``redact_errors``,
        ``{"error": "<name> failed"}``; with ``on_error``, what it returns (the
        generic text if it raises or returns no string). Never raises.
        """
        if self._on_error is None:
            return _error_json(_describe(error))
        try:
            content = self._on_error(call, error)
        except Exception as exc:
            # A broken formatter must neither end the conversation (the connection
            # answers the call with this) nor send the text it was meant to hide.
            log.warning("on_error failed for agent tool %s", call.name, exc_info=exc)
            return _generic_error(call)
        if not isinstance(content, str):
            log.warning("on_error returned %s, not a string", type(content).__name__)
            return _generic_error(call)
        return content

    @overload
    def register(self, handler: H) -> H: ...

    @overload
    def register(
        self,
        *,
        name: str | None = None,
        description: str | None = None,
        parameters: Mapping[str, Any] | None = None,
        timeout: float | None = None,
        defer_until_eot: bool | None = None,
        initial_agent_filler: bool | None = None,
        agent_filler_max_count: int | None = None,
        agent_filler_interval_ms: int | None = None,
    ) -> Callable[[H], H]: ...

    def register(
        self,
        handler: Handler | None = None,
        *,
        name: str | None = None,
        description: str | None = None,
        parameters: Mapping[str, Any] | None = None,
        timeout: float | None = None,
        defer_until_eot: bool | None = None,
        initial_agent_filler: bool | None = None,
        agent_filler_max_count: int | None = None,
        agent_filler_interval_ms: int | None = None,
    ) -> Any:
        """Register an async function, as ``@register`` or ``@register(name=...)``.

        Args:
            name: the name the LLM calls it by (default: the function's).
            description: what it does, for the LLM (default: the docstring's first
                paragraph).
            parameters: the JSON schema of its keyword arguments (default: derived
                from the type hints).
            timeout: seconds it may run (default: the registry's).
            defer_until_eot: hold calls until the user's turn is confirmed (for
                actions that cannot be undone); the other three are Think Live's
                filler lines while a call runs, as :class:`Function` declares them
                (a conversation without ``agent.think_live`` refuses them).

        Raises:
            TypeError: not an async function, hints that give no schema, or a
                ``timeout`` that is not a number.
            ValueError: the name is taken, or ``timeout`` is not positive.
            SettingsError: a declaration field of the wrong type or out of range.
        """
        if timeout is not None:
            check_timeout(timeout)

        def add(function: Handler) -> Handler:
            if not inspect.iscoroutinefunction(function):
                raise TypeError(f"{function!r} is not an async function")
            tool_name = name or function.__name__
            if tool_name in self._tools:
                raise ValueError(f"a tool named {tool_name!r} is registered already")
            summary, documented = _parse_docstring(function)
            tool = Tool(
                name=tool_name,
                description=description or summary,
                parameters=parameters or _schema(function, documented),
                handler=function,
                timeout=self.timeout if timeout is None else timeout,
                defer_until_eot=defer_until_eot,
                initial_agent_filler=initial_agent_filler,
                agent_filler_max_count=agent_filler_max_count,
                agent_filler_interval_ms=agent_filler_interval_ms,
            )
            tool.function  # noqa: B018 - validates the name and the schema now
            self._tools[tool_name] = tool
            return function

        return add if handler is None else add(handler)

    def functions(self) -> tuple[Function, ...]:
        """The ``think.functions`` entries for every registered tool."""
        return tuple(tool.function for tool in self._tools.values())

    def get(self, name: str) -> Tool | None:
        """The tool registered under ``name``, if any."""
        return self._tools.get(name)

    def __contains__(self, name: object) -> bool:
        return name in self._tools

    def __iter__(self) -> Iterator[Tool]:
        return iter(self._tools.values())

    def __len__(self) -> int:
        return len(self._tools)

    def __repr__(self) -> str:
        return f"<ToolRegistry {', '.join(self._tools) or 'empty'}>"


class ToolRunner(Adapter[AgentV1Message | ToolResult]):
    """Answers the client-side function calls of one conversation: a registered tool's
    in a task of the connection, exactly once unless the server withdraws the call;
    the others when :meth:`answer` is called (``send_function_call_response()``).

    It is the connection's adapter: it sees each message in the reader, before the
    message is queued, so a tool starts as soon as its call is read.
    """

    def __init__(
        self, engine: Engine[AgentV1Message | ToolResult], tools: ToolRegistry | None
    ) -> None:
        self._engine = engine
        self._tools = tools
        self._seen: set[str] = set()  # client-side call ids ever requested
        self._pending: dict[str, FunctionCall] = {}  # ... not answered yet
        self._scopes: dict[str, trio.CancelScope] = {}  # ... run by the registry

    def on_message(self, message: AgentV1Message | ToolResult | UnknownMessage) -> None:
        if isinstance(message, AgentV1FunctionCallRequest):
            for call in message.functions:
                if call.client_side and call.id not in self._seen:
                    self._seen.add(call.id)
                    self._pending[call.id] = call
                    tool = self._tools.get(call.name) if self._tools is not None else None
                    if tool is not None:
                        self._start(tool, call)
        elif isinstance(message, AgentV1FunctionCallCancelled):
            for cancelled in message.functions:
                self._pending.pop(cancelled.id, None)
                scope = self._scopes.get(cancelled.id)
                if scope is not None:
                    scope.cancel()

    async def answer(self, call_id: str, content: Any, name: str | None) -> None:
        """Answer a call no registered tool handles, as
        ``send_function_call_response()`` documents (the ``ValueError`` included)."""
        call = self._pending.get(call_id)
        if call is None or call_id in self._scopes:
            why = (
                "is answered by the tool registry"
                if call_id in self._scopes
                else "was answered or withdrawn already"
                if call_id in self._seen
                else "was never requested"
            )
            raise ValueError(f"function call {call_id!r} {why}")
        if name is not None and name != call.name:
            raise ValueError(f"function call {call_id!r} is for {call.name!r}, not {name!r}")
        text = content if isinstance(content, str) else orjson.dumps(content).decode()
        del self._pending[call_id]
        await self._respond(call, text)

    def _start(self, tool: Tool, call: FunctionCall) -> None:
        scope = self._scopes[call.id] = trio.CancelScope()
        self._engine.spawn(self._run, tool, call, scope)

    async def _run(self, tool: Tool, call: FunctionCall, scope: trio.CancelScope) -> None:
        """Run one handler and answer its call exactly once, unless withdrawn."""
        started = trio.current_time()
        status: ToolStatus = "cancelled"
        content, error = "", None
        with scope:
            try:
                with trio.fail_after(tool.timeout):
                    content = await tool(call)
                status = "ok"
            except trio.TooSlowError:
                status = "timeout"
                content = _error_json(f"{call.name} timed out after {tool.timeout:g} s")
            except Exception as exc:  # a failing tool must not end the conversation
                assert self._tools is not None  # the tool came from it
                status, content, error = "error", self._tools.error_content(call, exc), exc
                log.warning("agent tool %s failed", call.name, exc_info=exc)
            # Still inside the scope: a FunctionCallCancelled that arrives before the
            # response is queued means that no response is sent.
            self._pending.pop(call.id, None)
            try:
                await self._respond(call, content)
            except (DeepgramError, trio.ClosedResourceError):
                pass  # the connection has ended: receive() reports why
        del self._scopes[call.id]
        if scope.cancelled_caught:
            status, content = "cancelled", ""
        result = ToolResult(call, status, content, error, trio.current_time() - started)
        try:
            await self._engine.deliver(result)
        except (trio.ClosedResourceError, trio.BrokenResourceError):
            pass  # the connection has ended; nobody is listening

    async def _respond(self, call: FunctionCall, content: str) -> None:
        response = AgentV1FunctionCallResponse(name=call.name, content=content, id=call.id)
        await self._engine.send(encode_message(response))


def _error_json(text: str) -> str:
    return orjson.dumps({"error": text}).decode()


def _describe(error: Exception) -> str:
    """``ExcType: text``; the type alone if the exception cannot say what it is."""
    try:
        return f"{type(error).__name__}: {error}"
    except Exception:  # a broken __str__ must not end the conversation either
        return f"{type(error).__name__}: <unprintable>"


def _generic_error(call: FunctionCall) -> str:
    """What a failed call is answered with when the exception must not be told."""
    return _error_json(f"{call.name} failed")


def _redacted(call: FunctionCall, error: Exception) -> str:
    """The :data:`ErrorFormatter` of ``redact_errors=True``."""
    return _generic_error(call)


def _parse_docstring(function: Callable[..., Any]) -> tuple[str | None, dict[str, str]]:
    """The first paragraph, and the descriptions of an ``Args:`` section."""
    doc = inspect.getdoc(function)
    if not doc:
        return None, {}
    summary = " ".join(doc.split("\n\n", 1)[0].split())
    described: dict[str, str] = {}
    section = re.search(r"^(?:Args|Arguments|Parameters):\n((?:[ \t]+.*\n?)+)", doc, re.M)
    if section:
        current = None
        for line in section.group(1).splitlines():
            match = re.match(r"\s+(\w+)(?: \(.*?\))?:\s*(.*)", line)
            if match and len(line) - len(line.lstrip()) <= 4:
                current = match.group(1)
                described[current] = match.group(2)
            elif current:
                described[current] += " " + line.strip()
    return summary, described


def _schema(function: Callable[..., Any], described: Mapping[str, str]) -> dict[str, Any]:
    """A JSON schema of ``function``'s keyword arguments, from its type hints."""
    hints = get_type_hints(function, include_extras=True)
    properties: dict[str, Any] = {}
    required: list[str] = []
    for parameter in inspect.signature(function).parameters.values():
        if parameter.kind in (parameter.VAR_POSITIONAL, parameter.POSITIONAL_ONLY):
            raise TypeError(f"{function.__name__}: the LLM passes keyword arguments only")
        if parameter.kind is parameter.VAR_KEYWORD:
            raise TypeError(f"{function.__name__}: **{parameter.name} needs parameters=")
        if parameter.name not in hints:
            raise TypeError(f"{function.__name__}: annotate {parameter.name!r} or pass parameters=")
        schema, optional = _type_schema(hints[parameter.name], function.__name__)
        if parameter.name in described and "description" not in schema:
            schema["description"] = described[parameter.name]
        properties[parameter.name] = schema
        if parameter.default is parameter.empty and not optional:
            required.append(parameter.name)
    result: dict[str, Any] = {"type": "object", "properties": properties}
    if required:
        result["required"] = required
    return result


_SIMPLE = {str: "string", int: "integer", float: "number", bool: "boolean"}


def _type_schema(hint: Any, owner: str) -> tuple[dict[str, Any], bool]:
    """(schema, optional) for one annotation."""
    origin = get_origin(hint)
    if origin is Annotated:
        inner, *extras = get_args(hint)
        schema, optional = _type_schema(inner, owner)
        texts = [extra for extra in extras if isinstance(extra, str)]
        if texts:
            schema["description"] = texts[0]
        return schema, optional
    if origin in (Union, types.UnionType):
        members = [arg for arg in get_args(hint) if arg is not type(None)]
        if len(members) == 1:
            return _type_schema(members[0], owner)[0], True
        raise TypeError(f"{owner}: a union of {hint} gives no schema; pass parameters=")
    if hint in _SIMPLE:
        return {"type": _SIMPLE[hint]}, False
    if origin is Literal or (isinstance(hint, type) and issubclass(hint, enum.Enum)):
        values = list(get_args(hint)) if origin is Literal else [member.value for member in hint]
        kinds = {_SIMPLE.get(type(value)) for value in values}
        choices: dict[str, Any] = {"enum": values}
        if len(kinds) == 1 and None not in kinds:
            choices["type"] = kinds.pop()
        return choices, False
    if origin in (list, tuple, Sequence) or hint in (list, tuple):
        args = [arg for arg in get_args(hint) if arg is not Ellipsis]
        array: dict[str, Any] = {"type": "array"}
        if len(args) == 1:
            array["items"] = _type_schema(args[0], owner)[0]
        return array, False
    if origin in (dict, Mapping) or hint in (dict, Mapping):
        return {"type": "object"}, False
    raise TypeError(f"{owner}: no JSON schema for {hint!r}; pass parameters=")
