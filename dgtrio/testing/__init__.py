"""A protocol-faithful fake Deepgram server, for tests and demos without a key.

Run it in your own nursery (``await nursery.start(fake.serve)``), as a pytest fixture
(``pytest_plugins = ["dgtrio.testing.pytest_plugin"]`` gives ``fake_deepgram``), or
as a process: ``python -m dgtrio.testing serve --port 8080``.
"""

from ..server import AgentScript as AgentScript
from ..server import Fault as Fault
from ..server import FaultKind as FaultKind
from ..server import FluxScript as FluxScript
from ..server import RecordedFrame as RecordedFrame
from ..server import Rejection as Rejection
from ..server import ScriptedCall as ScriptedCall
from ..server import Session as FakeSession
from ._listen_v1 import ListenScript as ListenScript
from ._process import fake_server_process as fake_server_process
from ._pyaudio import FakeDevice as FakeDevice
from ._pyaudio import FakePyAudio as FakePyAudio
from ._pyaudio import FakeStream as FakeStream
from ._server import FakeDeepgram as FakeDeepgram
from ._speech import SpeakScript as SpeakScript

__all__ = [
    "AgentScript",
    "FakeDeepgram",
    "FakeDevice",
    "FakePyAudio",
    "FakeSession",
    "FakeStream",
    "Fault",
    "FaultKind",
    "FluxScript",
    "ListenScript",
    "RecordedFrame",
    "Rejection",
    "ScriptedCall",
    "SpeakScript",
    "fake_server_process",
]
