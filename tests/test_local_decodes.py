"""The local engine's shared decodes (dgtrio.local._decodes): finals before interims,
interims skipped rather than run late, cancelled callers out of the queue.

No model: a stand-in decode blocks its worker thread until the test lets it finish,
so the order is the test's; only orders and counts are checked, never times.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import trio
import trio.testing

from dgtrio.local._decodes import SKIPPED, Decodes, Skipped


class Gates:
    """Stand-in decodes: ``decode(name)`` notes that it started, then blocks its
    worker thread until ``release(name)``, and returns ``name``."""

    def __init__(self) -> None:
        self.started: list[str] = []
        self._running: dict[str, trio.Event] = {}
        self._gates: dict[str, threading.Event] = {}

    def _gate(self, name: str) -> threading.Event:
        return self._gates.setdefault(name, threading.Event())

    def _running_event(self, name: str) -> trio.Event:
        return self._running.setdefault(name, trio.Event())

    def decode(self, name: str) -> str:
        self.started.append(name)
        trio.from_thread.run_sync(self._running_event(name).set)
        self._gate(name).wait(timeout=20)  # a test that goes wrong fails, never hangs
        return name

    async def running(self, name: str) -> None:
        await self._running_event(name).wait()

    def release(self, name: str) -> None:
        self._gate(name).set()


async def _into(results: dict[str, Any], name: str, call: Callable[[], Any]) -> None:
    results[name] = await call()


class Gone:
    """Calls cancelled together, each in its own cancel scope."""

    def __init__(self) -> None:
        self._scopes: list[trio.CancelScope] = []

    async def run(self, results: dict[str, Any], name: str, call: Callable[[], Any]) -> None:
        with trio.CancelScope() as scope:
            self._scopes.append(scope)
            await _into(results, name, call)

    def cancel(self) -> None:
        for scope in self._scopes:
            scope.cancel()


async def test_a_final_goes_before_a_waiting_interim_which_is_skipped() -> None:
    decodes, gates = Decodes(), Gates()
    results: dict[str, Any] = {}
    async with trio.open_nursery() as nursery:
        nursery.start_soon(_into, results, "a", lambda: decodes.interim("A", gates.decode, "a"))
        await gates.running("a")
        nursery.start_soon(_into, results, "b", lambda: decodes.interim("B", gates.decode, "b"))
        await trio.testing.wait_all_tasks_blocked()
        assert decodes.waiting == (0, 1)
        nursery.start_soon(_into, results, "c", lambda: decodes.final(gates.decode, "c"))
        await trio.testing.wait_all_tasks_blocked()
        # The final waits for the interim under way, and the waiting interim gave way.
        assert results == {"b": SKIPPED}
        assert decodes.waiting == (1, 0)
        gates.release("a")
        await gates.running("c")
        gates.release("c")
    assert gates.started == ["a", "c"]
    assert results == {"a": "a", "b": SKIPPED, "c": "c"}
    assert isinstance(results["b"], Skipped)
    assert (decodes.decoded, decodes.skipped) == (2, 1)
    assert decodes.waiting == (0, 0)


async def test_finals_run_in_arrival_order_before_interims() -> None:
    decodes, gates = Decodes(), Gates()
    results: dict[str, Any] = {}
    async with trio.open_nursery() as nursery:
        nursery.start_soon(_into, results, "f1", lambda: decodes.final(gates.decode, "f1"))
        await gates.running("f1")
        for name in ("f2", "f3"):
            nursery.start_soon(_into, results, name, lambda n=name: decodes.final(gates.decode, n))
            await trio.testing.wait_all_tasks_blocked()
        # An interim that would run after waiting finals is skipped at once.
        assert await decodes.interim("A", gates.decode, "i") is SKIPPED
        for name in ("f1", "f2", "f3"):
            await gates.running(name)
            gates.release(name)
    assert gates.started == ["f1", "f2", "f3"]
    assert results == {"f1": "f1", "f2": "f2", "f3": "f3"}
    # Free again: an interim runs at once.
    gates.release("j")
    assert await decodes.interim("A", gates.decode, "j") == "j"
    assert (decodes.decoded, decodes.skipped) == (4, 1)


async def test_interims_run_in_turn_and_a_newer_one_of_a_stream_replaces_its_older() -> None:
    decodes, gates = Decodes(), Gates()
    results: dict[str, Any] = {}
    async with trio.open_nursery() as nursery:
        nursery.start_soon(_into, results, "a1", lambda: decodes.interim("A", gates.decode, "a1"))
        await gates.running("a1")
        for name, key in (("b1", "B"), ("c1", "C"), ("b2", "B")):
            nursery.start_soon(
                _into, results, name, lambda n=name, k=key: decodes.interim(k, gates.decode, n)
            )
            await trio.testing.wait_all_tasks_blocked()
        assert results == {"b1": SKIPPED}  # B's newer interim took its place
        for name in ("a1", "c1", "b2"):
            await gates.running(name)
            gates.release(name)
    assert gates.started == ["a1", "c1", "b2"]
    assert results == {"a1": "a1", "b1": SKIPPED, "c1": "c1", "b2": "b2"}


async def test_a_cancelled_waiter_leaves_the_queue_and_the_next_gets_its_own_answer() -> None:
    decodes, gates = Decodes(), Gates()
    results: dict[str, Any] = {}
    async with trio.open_nursery() as nursery:
        nursery.start_soon(_into, results, "a", lambda: decodes.final(gates.decode, "a"))
        await gates.running("a")
        gone = Gone()
        nursery.start_soon(gone.run, results, "b", lambda: decodes.final(gates.decode, "b"))
        nursery.start_soon(gone.run, results, "i", lambda: decodes.interim("I", gates.decode, "i"))
        await trio.testing.wait_all_tasks_blocked()
        nursery.start_soon(_into, results, "c", lambda: decodes.final(gates.decode, "c"))
        await trio.testing.wait_all_tasks_blocked()
        assert decodes.waiting == (2, 0)  # b and c; i gave way to them
        gone.cancel()
        await trio.testing.wait_all_tasks_blocked()
        assert decodes.waiting == (1, 0)  # c
        gates.release("a")
        await gates.running("c")
        gates.release("c")
    assert gates.started == ["a", "c"]
    assert results == {"a": "a", "i": SKIPPED, "c": "c"}
    assert decodes.waiting == (0, 0)
    gates.release("d")
    assert await decodes.final(gates.decode, "d") == "d"  # and the recogniser is free


async def test_a_cancelled_waiting_interim_leaves_the_queue() -> None:
    decodes, gates = Decodes(), Gates()
    results: dict[str, Any] = {}
    async with trio.open_nursery() as nursery:
        nursery.start_soon(_into, results, "a", lambda: decodes.interim("A", gates.decode, "a"))
        await gates.running("a")
        gone = Gone()
        nursery.start_soon(gone.run, results, "b", lambda: decodes.interim("B", gates.decode, "b"))
        nursery.start_soon(_into, results, "c", lambda: decodes.interim("C", gates.decode, "c"))
        await trio.testing.wait_all_tasks_blocked()
        assert decodes.waiting == (0, 2)
        gone.cancel()
        await trio.testing.wait_all_tasks_blocked()
        assert decodes.waiting == (0, 1)
        gates.release("a")
        await gates.running("c")
        gates.release("c")
    assert gates.started == ["a", "c"]
    assert results == {"a": "a", "c": "c"}


async def test_two_lanes_run_two_decodes_at_once_and_a_final_takes_the_first_free() -> None:
    decodes, gates = Decodes(lanes=2), Gates()
    results: dict[str, Any] = {}
    with trio.fail_after(5):  # one lane only: "b" would not start
        await _two_lanes(decodes, gates, results)
    assert gates.started in (["a", "b", "f", "d"], ["b", "a", "f", "d"])
    assert results == {"a": "a", "b": "b", "c": SKIPPED, "f": "f", "d": "d"}
    assert (decodes.decoded, decodes.skipped) == (4, 1)
    assert decodes.waiting == (0, 0)


async def _two_lanes(decodes: Decodes, gates: Gates, results: dict[str, Any]) -> None:
    async with trio.open_nursery() as nursery:
        nursery.start_soon(_into, results, "a", lambda: decodes.interim("A", gates.decode, "a"))
        nursery.start_soon(_into, results, "b", lambda: decodes.interim("B", gates.decode, "b"))
        await gates.running("a")
        await gates.running("b")  # both at once: neither waited for the other
        nursery.start_soon(_into, results, "c", lambda: decodes.interim("C", gates.decode, "c"))
        await trio.testing.wait_all_tasks_blocked()
        nursery.start_soon(_into, results, "f", lambda: decodes.final(gates.decode, "f"))
        await trio.testing.wait_all_tasks_blocked()
        # Both lanes busy: the final waits, and the waiting interim gave way to it.
        assert results == {"c": SKIPPED}
        assert decodes.waiting == (1, 0)
        gates.release("b")
        await gates.running("f")
        # One lane is f's, the other a's: a new interim waits for one of them.
        nursery.start_soon(_into, results, "d", lambda: decodes.interim("D", gates.decode, "d"))
        await trio.testing.wait_all_tasks_blocked()
        assert decodes.waiting == (0, 1)
        gates.release("a")
        await gates.running("d")
        gates.release("f")
        gates.release("d")
