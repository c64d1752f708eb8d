"""Background tasks for context managers, and the one exception their failures stand for.

trio nurseries raise exception groups; a library's hidden nursery must not turn the
user's own ``ValueError`` into a group, nor wrap its own typed errors in one.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import NoReturn

import trio

from ._errors import InternalError, leaves

__all__ = ["open_tasks", "raise_collapsed"]


@asynccontextmanager
async def open_tasks() -> AsyncIterator[trio.Nursery]:
    """A nursery for a context manager's background tasks, around its ``yield``.

    What escapes is one plain exception (see :func:`raise_collapsed`): the user's own
    exception as it was raised, or the typed error of a failed task.
    """
    user_error: BaseException | None = None
    try:
        async with trio.open_nursery() as nursery:
            try:
                yield nursery
            except BaseException as exc:
                user_error = exc  # raised as it is, even an exception group
                raise
    except BaseExceptionGroup as group:
        raise_collapsed(group, keep=user_error)


def _collapse(
    group: BaseExceptionGroup[BaseException], keep: BaseException | None
) -> BaseException:
    """The one exception a group from the hidden nurseries stands for.

    ``keep`` (the user's own exception) stands for its own leaves and is raised as
    it is, even if it is a group (trio rebuilds groups it passes through, so leaves,
    not the group object, identify it). Cancellations are noise unless alone (the
    user's block sees one when a task's failure cancels it); KeyboardInterrupt wins
    over everything. Then the user's exception wins over internal failures, which
    become its ``__context__``; one internal failure alone is raised as itself;
    several at once are a bug, raised as ``InternalError``.
    """
    found = list({id(exc): exc for exc in leaves(group)}.values())
    if keep is not None:
        own = {id(exc) for exc in leaves(keep)}
        found = [keep, *(exc for exc in found if id(exc) not in own)]
    real = [exc for exc in found if not _is_cancellation(exc)]
    for exc in real:
        if isinstance(exc, KeyboardInterrupt):
            return exc
    if not real:
        return found[0]
    if real[0] is keep:
        if len(real) > 1:
            _chain_internal(keep, real[1:])
        return keep
    if len(real) == 1:
        return real[0]
    error = InternalError(
        f"{len(real)} failures at once: " + "; ".join(f"{type(e).__name__}: {e}" for e in real)
    )
    error.__cause__ = group
    return error


def _is_cancellation(exc: BaseException) -> bool:
    return all(isinstance(leaf, trio.Cancelled) for leaf in leaves(exc))


def _chain_internal(user_error: BaseException, internal: list[BaseException]) -> None:
    """Attach internal failures to the user's exception as its ``__context__``.

    This is trio-websocket's rule (``open_websocket`` in 0.12's ``_impl.py``): it sets
    ``user_error.__context__`` to a ``BaseExceptionGroup`` of the internal exceptions
    plus the context the user's exception already had (unless suppressed), and
    clears ``__suppress_context__`` so that the traceback shows them.
    """
    members = internal.copy()
    context = user_error.__context__
    if context is not None and not user_error.__suppress_context__:
        members.append(context)
    user_error.__context__ = BaseExceptionGroup(
        "internal failures while the user's exception propagated", members
    )
    user_error.__suppress_context__ = False


def raise_collapsed(
    group: BaseExceptionGroup[BaseException], *, keep: BaseException | None = None
) -> NoReturn:
    """Raise the one exception ``group`` from hidden nurseries stands for (see
    :func:`_collapse`), keeping that exception's own ``__context__``, not the group
    being handled. ``keep`` is the user's own exception: it is never looked into,
    even if it is a group, and it is raised over internal failures, which become
    its ``__context__`` (KeyboardInterrupt still wins over it)."""
    exc = _collapse(group, keep)
    context = exc.__context__
    try:
        raise exc
    finally:
        exc.__context__ = context
        del exc, context
