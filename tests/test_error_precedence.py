"""Which exception leaves a connection's block when the user's code and a background
task both fail: the user's own (with the task's failure as its ``__context__``), unless
one of them is a KeyboardInterrupt."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import trio

import dgtrio
from dgtrio import ConnectOptions
from dgtrio.testing import FakeDeepgram

LINEAR16 = dgtrio.ListenV1Options(encoding="linear16", sample_rate=16000)


class UserError(Exception):
    """The user's own exception."""


class Source:
    """Audio that streams until cancelled, then fails to close with ``on_close``: the
    feeder task fails while the user's exception is cancelling it."""

    def __init__(self, on_close: BaseException) -> None:
        self.on_close = on_close
        self.streaming = trio.Event()

    async def frames(self) -> AsyncIterator[bytes]:
        try:
            yield bytes(640)
            self.streaming.set()
            await trio.sleep_forever()
        finally:
            raise self.on_close


async def test_the_users_exception_wins_over_a_task_failing_with_it(
    fake: FakeDeepgram, connect: ConnectOptions
) -> None:
    source = Source(OSError("the device failed to close"))
    error = UserError("the user's")
    with pytest.raises(UserError) as caught:
        async with dgtrio.open_listen(LINEAR16, audio=source.frames(), **connect):
            await source.streaming.wait()
            raise error
    assert caught.value is error
    context = caught.value.__context__
    assert isinstance(context, BaseExceptionGroup)
    assert context.exceptions == (source.on_close,)
    assert fake.sessions[0].client_close == (1000, "")


async def test_the_users_exception_keeps_its_own_context_after_the_tasks_failure(
    fake: FakeDeepgram, connect: ConnectOptions
) -> None:
    source = Source(OSError("the device failed to close"))
    error = UserError("the user's")
    with pytest.raises(UserError) as caught:
        async with dgtrio.open_listen(LINEAR16, audio=source.frames(), **connect):
            await source.streaming.wait()
            try:
                raise KeyError("missing")
            except KeyError:
                raise error  # noqa: B904 (the context is the point)
    assert caught.value is error
    context = caught.value.__context__
    assert isinstance(context, BaseExceptionGroup)
    failure, own = context.exceptions
    assert failure is source.on_close
    assert isinstance(own, KeyError) and own.args == ("missing",)


async def test_a_keyboard_interrupt_in_a_task_wins_over_the_users_exception(
    fake: FakeDeepgram, connect: ConnectOptions
) -> None:
    source = Source(KeyboardInterrupt())
    with pytest.raises(KeyboardInterrupt) as caught:
        async with dgtrio.open_listen(LINEAR16, audio=source.frames(), **connect):
            await source.streaming.wait()
            raise UserError("the user's")
    assert caught.value is source.on_close
