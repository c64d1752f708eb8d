"""Deepgram's realtime protocol, served: the one server behind the fake and the local
engine.

:class:`DeepgramServer` does the handshake, authentication, routing, sessions and
faults; each socket's protocol (what a client may send when, what the server must
answer, its timers and close codes) is served once, here, and what it hears, thinks
and says comes from the brains passed in: :class:`~dgtrio.testing.FakeDeepgram` is
this server with scripted brains, :class:`~dgtrio.local.LocalDeepgram` with real
recognition and speech.
"""

from ._faults import Fault as Fault
from ._faults import FaultKind as FaultKind
from ._listen_v1 import Ears as Ears
from ._listen_v1 import ListenV1 as ListenV1
from ._listen_v1 import ListenV1Settings as ListenV1Settings
from ._listen_v1 import ListenV1Stream as ListenV1Stream
from ._server import DeepgramServer as DeepgramServer
from ._server import Endpoint as Endpoint
from ._server import Rejection as Rejection
from ._session import RecordedFrame as RecordedFrame
from ._session import Session as Session

__all__ = [
    "DeepgramServer",
    "Ears",
    "Endpoint",
    "Fault",
    "FaultKind",
    "ListenV1",
    "ListenV1Settings",
    "ListenV1Stream",
    "RecordedFrame",
    "Rejection",
    "Session",
]
