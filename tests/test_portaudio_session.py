"""The process's one PortAudio: reference counting from any number of threads (on
fakes), devices without ``backend=`` sharing it, and a stress run of concurrent
opens, closes and listings on the real sound card, in a subprocess so that a crash
inside PortAudio is a failed test, not a dead test run.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
import types
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import trio

import dgtrio
from dgtrio.audio import _portaudio, list_devices, open_microphone, open_speaker
from dgtrio.audio._portaudio import PortAudioSession
from dgtrio.testing import FakePyAudio, FakeStream

from .conftest import ROOT


class Tracker:
    """A session whose backends are :class:`TrackedPyAudio`, watching that no two
    threads are ever inside an initialisation or a termination at once."""

    def __init__(self, *, failures: int = 0, pause: float = 0.0) -> None:
        self.session = PortAudioSession(self.factory)
        self.made: list[TrackedPyAudio] = []
        self.most_inside = 0  # threads seen at once in the factory or a terminate
        self.overlaps = 0  # backends made while another was still alive
        self.unlocked = 0  # stream opens and closes without the session's lock
        self._failures = failures
        self._pause = pause  # widens the window a race would need
        self._inside = 0
        self._lock = threading.Lock()

    @contextmanager
    def inside(self) -> Iterator[None]:
        with self._lock:
            self._inside += 1
            self.most_inside = max(self.most_inside, self._inside)
        try:
            time.sleep(self._pause)
            yield
        finally:
            with self._lock:
                self._inside -= 1

    def factory(self) -> TrackedPyAudio:
        with self.inside():
            if self._failures:
                self._failures -= 1
                raise dgtrio.AudioUnavailable("no PortAudio today")
            if any(not backend.terminated for backend in self.made):
                self.overlaps += 1
            backend = TrackedPyAudio(self)
            self.made.append(backend)
            return backend

    def check_locked(self) -> None:
        if not self.session.lock.locked():
            self.unlocked += 1


class TrackedPyAudio(FakePyAudio):
    """A :class:`FakePyAudio` that counts its terminations."""

    def __init__(self, tracker: Tracker) -> None:
        super().__init__(speed=None)
        self.tracker = tracker
        self.terminations = 0

    def terminate(self) -> None:
        with self.tracker.inside():
            self.terminations += 1
            super().terminate()


@pytest.fixture
def tracker(monkeypatch: pytest.MonkeyPatch) -> Tracker:
    """A tracked session in place of the process's PortAudio, for devices opened
    without ``backend=``; every fake stream's open and close is checked for its lock."""
    tracker = Tracker()
    monkeypatch.setattr(_portaudio, "PORTAUDIO", tracker.session)
    open_, close = FakePyAudio.open, FakeStream.close

    def checked_open(backend: FakePyAudio, *args: Any, **kwargs: Any) -> FakeStream:
        tracker.check_locked()
        return open_(backend, *args, **kwargs)

    def checked_close(stream: FakeStream) -> None:
        tracker.check_locked()
        close(stream)

    monkeypatch.setattr(FakePyAudio, "open", checked_open)
    monkeypatch.setattr(FakeStream, "close", checked_close)
    return tracker


# -- reference counting -----------------------------------------------------------------------


def test_users_share_one_backend_which_the_last_one_terminates() -> None:
    tracker = Tracker()
    session = tracker.session
    held = [session.acquire() for _ in range(5)]
    (backend,) = tracker.made
    assert held == [backend] * 5 and session.users == 5
    for _ in range(4):
        session.release()
    assert not backend.terminated and session.users == 1
    session.release()
    assert backend.terminations == 1 and session.users == 0
    # The next user initialises it again.
    assert session.acquire() is not backend
    again = tracker.made[1]
    assert len(tracker.made) == 2 and not again.terminated
    session.release()
    assert again.terminations == 1 and backend.terminations == 1
    with pytest.raises(RuntimeError, match="released more than acquired"):
        session.release()
    assert session.users == 0


def test_a_failing_initialisation_leaves_no_user_and_the_next_one_tries_again() -> None:
    tracker = Tracker(failures=2)
    session = tracker.session
    for _ in range(2):
        with pytest.raises(dgtrio.AudioUnavailable, match="no PortAudio today"):
            session.acquire()
        assert session.users == 0 and not tracker.made
    session.acquire()
    (backend,) = tracker.made
    assert session.users == 1
    session.release()
    assert backend.terminations == 1


def test_a_failing_termination_still_ends_the_session() -> None:
    class Failing(FakePyAudio):
        def terminate(self) -> None:
            super().terminate()
            raise OSError(-9999, "Unanticipated host error")

    made: list[FakePyAudio] = []

    def factory() -> FakePyAudio:
        made.append(Failing())
        return made[-1]

    session = PortAudioSession(factory)
    session.acquire()
    with pytest.raises(OSError, match="Unanticipated host error"):
        session.release()
    assert session.users == 0
    session.acquire()  # a new one, not the broken one
    assert len(made) == 2 and not made[1].terminated


def test_use_holds_the_shared_backend_or_leaves_a_given_one_alone() -> None:
    tracker = Tracker()
    session = tracker.session
    with session.use() as shared:
        assert tracker.made == [shared] and session.users == 1
    assert tracker.made[0].terminated and session.users == 0
    mine = FakePyAudio()
    with session.use(mine) as given:
        assert given is mine and session.users == 0
    assert not mine.terminated and len(tracker.made) == 1


def test_threads_racing_never_initialise_or_terminate_twice() -> None:
    tracker = Tracker(pause=0.0005)
    session = tracker.session
    threads, rounds = 16, 40
    barrier = threading.Barrier(threads, timeout=10)
    errors: list[BaseException] = []

    def user() -> None:
        try:
            for _ in range(rounds):
                barrier.wait()  # all at once, every round: the count often falls to zero
                backend = session.acquire()
                try:
                    assert isinstance(backend, TrackedPyAudio) and not backend.terminated
                finally:
                    session.release()
        except BaseException as exc:
            errors.append(exc)
            barrier.abort()

    workers = [threading.Thread(target=user) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=30)
    assert not errors, errors
    assert session.users == 0 and tracker.made
    assert tracker.most_inside == 1 and tracker.overlaps == 0
    assert [backend.terminations for backend in tracker.made] == [1] * len(tracker.made)


# -- devices without backend= share the session --------------------------------------------


async def test_devices_opened_together_share_one_portaudio_until_the_last_closes(
    tracker: Tracker,
) -> None:
    async with (
        open_microphone(16000, frame_ms=10) as mic,
        open_speaker(16000) as speaker,
    ):
        (backend,) = tracker.made
        assert tracker.session.users == 2
        assert [d.name for d in await list_devices()] == ["Fake Microphone", "Fake Speaker"]
        assert tracker.session.users == 2 and tracker.made == [backend]
        await speaker.play(bytes(320))
        assert len(await mic.receive()) == 320
    assert backend.terminations == 1 and tracker.session.users == 0
    assert len(backend.streams) == 2 and not backend.open_streams
    assert tracker.unlocked == 0


async def test_many_tasks_opening_and_listing_at_once(tracker: Tracker) -> None:

    async def use(kind: int) -> None:
        for _ in range(5):
            if kind == 0:
                async with open_microphone(16000, frame_ms=10) as mic:
                    await mic.receive()
            elif kind == 1:
                async with open_speaker(16000) as speaker:
                    await speaker.play(bytes(320))
            else:
                assert await list_devices()

    async with trio.open_nursery() as nursery:
        for i in range(12):
            nursery.start_soon(use, i % 3)
    assert tracker.session.users == 0 and tracker.overlaps == 0 and tracker.most_inside == 1
    assert [backend.terminations for backend in tracker.made] == [1] * len(tracker.made)
    assert sum(len(backend.streams) for backend in tracker.made) == 40
    assert not any(backend.open_streams for backend in tracker.made)
    assert tracker.unlocked == 0


async def test_a_device_that_fails_to_open_gives_portaudio_back(tracker: Tracker) -> None:
    with pytest.raises(dgtrio.AudioDeviceError, match="no input device named like 'nothing'"):
        async with open_microphone(device="nothing"):
            pass
    (backend,) = tracker.made
    assert backend.terminations == 1 and tracker.session.users == 0


async def test_a_missing_portaudio_is_tried_again_by_the_next_open(
    tracker: Tracker, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tracker, "_failures", 1)
    with pytest.raises(dgtrio.AudioUnavailable):
        async with open_speaker():
            pass
    assert tracker.session.users == 0
    async with open_speaker() as speaker:
        assert speaker.device.name == "Fake Speaker"
    (backend,) = tracker.made
    assert backend.terminations == 1


async def test_an_injected_backend_stays_the_callers(tracker: Tracker) -> None:
    mine = FakePyAudio(speed=None)
    async with open_microphone(16000, backend=mine), open_speaker(16000, backend=mine):
        assert tracker.session.users == 0
        assert await list_devices(backend=mine)
    assert not tracker.made and not mine.terminated and not mine.open_streams
    # Its opens and closes still take the lock: PortAudio's state is per process.
    assert tracker.unlocked == 0


async def test_portaudio_failing_to_initialise_is_a_device_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def broken() -> None:
        raise OSError(-9999, "Unanticipated host error")

    monkeypatch.setitem(sys.modules, "pyaudio", types.SimpleNamespace(PyAudio=broken))
    monkeypatch.setattr(_portaudio, "PORTAUDIO", PortAudioSession(_portaudio.load_pyaudio))
    with pytest.raises(dgtrio.AudioDeviceError, match="initialising PortAudio") as info:
        await list_devices()
    assert info.value.code == -9999


# -- the real sound card --------------------------------------------------------------------

# Run by a fresh interpreter: PortAudio's races end in abort() or SIGSEGV.
STRESS = """
import sys
import trio
from pyaudio import _portaudio as pa
from dgtrio.audio import list_devices, open_microphone, open_speaker

ROUNDS, TASKS = 10, 8
done = dict.fromkeys(["microphone", "speaker", "listing", "frame"], 0)


async def use_a_device(kind):
    if kind == 0:
        # Closed before its first read, which a PulseAudio monitor takes ~2 s to serve.
        async with open_microphone(16000, frame_ms=10):
            pass
        done["microphone"] += 1
    elif kind == 1:
        async with open_speaker(16000, block_ms=10) as speaker:
            await speaker.play(bytes(320))
        done["speaker"] += 1
    else:
        assert await list_devices()
        done["listing"] += 1


async def churn(rounds):
    # Every round starts all its tasks at once and ends with no device in use, so
    # PortAudio is initialised (and terminated) again, from many threads at once.
    for r in range(rounds):
        async with trio.open_nursery() as nursery:
            for i in range(TASKS):
                nursery.start_soon(use_a_device, (i + r) % 3)


async def record_while_churning():
    # Opens, closes and listings while a microphone reads, on a live PortAudio.
    async with open_microphone(16000, frame_ms=20) as mic:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(churn, 1000)
            async for _ in mic:
                done["frame"] += 1
                if done["frame"] == 10:
                    nursery.cancel_scope.cancel()
                    break


def terminated():
    try:
        pa.get_device_count()
    except OSError as exc:
        return exc.args[0] == -10000  # paNotInitialized
    return False


trio.run(churn, ROUNDS)
assert terminated(), "PortAudio is still initialised after the first run"
trio.run(record_while_churning)
assert terminated(), "PortAudio is still initialised after the second run"
print(" ".join(f"{name}={count}" for name, count in done.items()))
"""


NOISE = (
    "ALSA lib ",
    "Cannot connect to server ",
    "jack server is not running",
    "JackShmReadWritePtr::",
)


@pytest.mark.timeout(60)
@pytest.mark.usefixtures("sound_card")
def test_concurrent_opens_closes_and_listings_on_the_sound_card() -> None:
    done = subprocess.run(
        [sys.executable, "-c", STRESS],
        capture_output=True,
        text=True,
        timeout=45,
        cwd=ROOT,
    )
    # Every initialisation probes ALSA and JACK, which print pages of harmless lines.
    stderr = "\n".join(line for line in done.stderr.splitlines() if not line.startswith(NOISE))
    how = (
        f"killed by {signal.Signals(-done.returncode).name}"
        if done.returncode < 0
        else f"exit status {done.returncode}"
    )
    assert done.returncode == 0, f"{how}; stderr:\n{stderr[-4000:]}"
    counts = dict(item.split("=") for item in done.stdout.split())
    assert int(counts["microphone"]) >= 26 and int(counts["speaker"]) >= 26
    assert int(counts["listing"]) >= 26 and int(counts["frame"]) == 10
