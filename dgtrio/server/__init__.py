"""Deepgram's realtime protocol, served: the one server behind the fake and the local
engine.

:class:`DeepgramServer` does the handshake, authentication, routing, sessions and
faults; each socket's protocol (what a client may send when, what the server must
answer, its timers and close codes) is served once, here, and what it hears, thinks
and says comes from the brains passed in: :class:`~dgtrio.testing.FakeDeepgram` is
this server with scripted brains, :class:`~dgtrio.local.LocalDeepgram` with real
recognition and speech.
"""

from ._agent_audio import AgentOutput as AgentOutput
from ._agent_audio import AgentSpeech as AgentSpeech
from ._agent_audio import AgentTurn as AgentTurn
from ._agent_brains import AgentEars as AgentEars
from ._agent_brains import AgentFunctions as AgentFunctions
from ._agent_brains import AgentMind as AgentMind
from ._agent_brains import AgentVoice as AgentVoice
from ._agent_script import AgentScript as AgentScript
from ._agent_script import ScriptedCall as ScriptedCall
from ._agent_script import ScriptedMind as ScriptedMind
from ._agent_v1 import AgentV1Endpoint as AgentV1Endpoint
from ._faults import Fault as Fault
from ._faults import FaultKind as FaultKind
from ._listen_v1 import Ears as Ears
from ._listen_v1 import ListenV1Endpoint as ListenV1Endpoint
from ._listen_v1 import ListenV1Settings as ListenV1Settings
from ._listen_v1 import ListenV1Stream as ListenV1Stream
from ._listen_v2 import FluxEars as FluxEars
from ._listen_v2 import FluxHearing as FluxHearing
from ._listen_v2 import FluxScript as FluxScript
from ._listen_v2 import FluxWord as FluxWord
from ._listen_v2 import ListenV2Endpoint as ListenV2Endpoint
from ._listen_v2 import ListenV2Settings as ListenV2Settings
from ._server import DeepgramServer as DeepgramServer
from ._server import Endpoint as Endpoint
from ._server import Rejection as Rejection
from ._session import RecordedFrame as RecordedFrame
from ._session import Session as Session
from ._speak_v1 import SpeakV1Endpoint as SpeakV1Endpoint
from ._speak_v2 import SpeakV2Endpoint as SpeakV2Endpoint
from ._speech import SpeakLimits as SpeakLimits
from ._voice import SpeechSettings as SpeechSettings
from ._voice import Utterance as Utterance
from ._voice import Voice as Voice
from ._voice import cut_at_word as cut_at_word

__all__ = [
    "AgentEars",
    "AgentFunctions",
    "AgentMind",
    "AgentOutput",
    "AgentScript",
    "AgentSpeech",
    "AgentTurn",
    "AgentV1Endpoint",
    "AgentVoice",
    "DeepgramServer",
    "Ears",
    "Endpoint",
    "Fault",
    "FaultKind",
    "FluxEars",
    "FluxHearing",
    "FluxScript",
    "FluxWord",
    "ListenV1Endpoint",
    "ListenV1Settings",
    "ListenV1Stream",
    "ListenV2Endpoint",
    "ListenV2Settings",
    "RecordedFrame",
    "Rejection",
    "ScriptedCall",
    "ScriptedMind",
    "Session",
    "SpeakLimits",
    "SpeakV1Endpoint",
    "SpeakV2Endpoint",
    "SpeechSettings",
    "Utterance",
    "Voice",
    "cut_at_word",
]
