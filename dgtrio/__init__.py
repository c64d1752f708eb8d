"""dgtrio: a trio-native client for Deepgram's realtime WebSocket APIs.

::

    async with dgtrio.open_listen(dgtrio.ListenV1Options(...), audio=source) as conn:
        async for message in conn:
            ...

    async with dgtrio.open_agent(settings, audio=microphone, tools=tools) as agent:
        async for message in agent:
            ...

    async with dgtrio.open_speak(dgtrio.SpeakV1Options(model="aura-2-thalia-en")) as tts:
        async for audio in tts.utterance("Hello!"):
            ...

    async with dgtrio.open_flux_speak(dgtrio.SpeakV2Options(model="flux-haley-en")) as tts:
        async for audio in tts.turn("Hello!"):
            ...
"""

from ._auth import check_base_url as check_base_url
from ._auth import credentials_configured as credentials_configured
from ._codec import UnknownMessage as UnknownMessage
from ._connection import ConnectionStatistics as ConnectionStatistics
from ._connection import ConnectOptions as ConnectOptions
from ._errors import AcknowledgementTimeout as AcknowledgementTimeout
from ._errors import AudioDecodeError as AudioDecodeError
from ._errors import AudioDeviceError as AudioDeviceError
from ._errors import AudioFormatError as AudioFormatError
from ._errors import AudioUnavailable as AudioUnavailable
from ._errors import AuthenticationFailed as AuthenticationFailed
from ._errors import ConfigurationError as ConfigurationError
from ._errors import ConfigureFailed as ConfigureFailed
from ._errors import ConnectError as ConnectError
from ._errors import ConnectionClosed as ConnectionClosed
from ._errors import ConnectionLost as ConnectionLost
from ._errors import ConnectTimeout as ConnectTimeout
from ._errors import DeepgramError as DeepgramError
from ._errors import FrameTooLarge as FrameTooLarge
from ._errors import HandshakeRejected as HandshakeRejected
from ._errors import IdleTimeout as IdleTimeout
from ._errors import InjectionRefused as InjectionRefused
from ._errors import InternalError as InternalError
from ._errors import InterruptIgnored as InterruptIgnored
from ._errors import InvalidRequest as InvalidRequest
from ._errors import MessageDecodeError as MessageDecodeError
from ._errors import MessageRejected as MessageRejected
from ._errors import MessageTooLarge as MessageTooLarge
from ._errors import MissingCredentials as MissingCredentials
from ._errors import PermissionDenied as PermissionDenied
from ._errors import RateLimited as RateLimited
from ._errors import ReconnectFailed as ReconnectFailed
from ._errors import SendTimeout as SendTimeout
from ._errors import ServerError as ServerError
from ._errors import ServerFailure as ServerFailure
from ._errors import ServerStalled as ServerStalled
from ._errors import ServerTimeout as ServerTimeout
from ._errors import SettingsError as SettingsError
from ._reconnect import ConnectionEvent as ConnectionEvent
from ._reconnect import Reconnected as Reconnected
from ._reconnect import Reconnecting as Reconnecting
from ._reconnect import ReconnectPolicy as ReconnectPolicy
from ._version import __version__ as __version__
from .agent import AgentConnection as AgentConnection
from .agent import AgentMessage as AgentMessage
from .agent import AgentV1AgentAudioDone as AgentV1AgentAudioDone
from .agent import AgentV1AgentStartedSpeaking as AgentV1AgentStartedSpeaking
from .agent import AgentV1AgentThinking as AgentV1AgentThinking
from .agent import AgentV1Audio as AgentV1Audio
from .agent import AgentV1ConversationText as AgentV1ConversationText
from .agent import AgentV1CustomFromThinkProvider as AgentV1CustomFromThinkProvider
from .agent import AgentV1Error as AgentV1Error
from .agent import AgentV1FrustrationDetected as AgentV1FrustrationDetected
from .agent import AgentV1FunctionCallCancelled as AgentV1FunctionCallCancelled
from .agent import AgentV1FunctionCallHistory as AgentV1FunctionCallHistory
from .agent import AgentV1FunctionCallRequest as AgentV1FunctionCallRequest
from .agent import AgentV1FunctionCallResponse as AgentV1FunctionCallResponse
from .agent import AgentV1History as AgentV1History
from .agent import AgentV1InjectionRefused as AgentV1InjectionRefused
from .agent import AgentV1LatencyReport as AgentV1LatencyReport
from .agent import AgentV1ListenUpdated as AgentV1ListenUpdated
from .agent import AgentV1Message as AgentV1Message
from .agent import AgentV1PromptUpdated as AgentV1PromptUpdated
from .agent import AgentV1Settings as AgentV1Settings
from .agent import AgentV1SettingsApplied as AgentV1SettingsApplied
from .agent import AgentV1SpeakUpdated as AgentV1SpeakUpdated
from .agent import AgentV1ThinkLiveUpdated as AgentV1ThinkLiveUpdated
from .agent import AgentV1ThinkUpdated as AgentV1ThinkUpdated
from .agent import AgentV1UserStartedSpeaking as AgentV1UserStartedSpeaking
from .agent import AgentV1Warning as AgentV1Warning
from .agent import AgentV1Welcome as AgentV1Welcome
from .agent import ToolRegistry as ToolRegistry
from .agent import ToolResult as ToolResult
from .agent import open_agent as open_agent
from .listen import FluxTurn as FluxTurn
from .listen import FluxTurnEvent as FluxTurnEvent
from .listen import FluxTurnTracker as FluxTurnTracker
from .listen import FluxTurnTrigger as FluxTurnTrigger
from .listen import ListenV1Alternative as ListenV1Alternative
from .listen import ListenV1Channel as ListenV1Channel
from .listen import ListenV1ConfigureFailure as ListenV1ConfigureFailure
from .listen import ListenV1ConfigureSuccess as ListenV1ConfigureSuccess
from .listen import ListenV1Connection as ListenV1Connection
from .listen import ListenV1DiarizeInfo as ListenV1DiarizeInfo
from .listen import ListenV1Encoding as ListenV1Encoding
from .listen import ListenV1Entity as ListenV1Entity
from .listen import ListenV1Error as ListenV1Error
from .listen import ListenV1Message as ListenV1Message
from .listen import ListenV1Metadata as ListenV1Metadata
from .listen import ListenV1ModelInfo as ListenV1ModelInfo
from .listen import ListenV1Options as ListenV1Options
from .listen import ListenV1Results as ListenV1Results
from .listen import ListenV1ResultsMetadata as ListenV1ResultsMetadata
from .listen import ListenV1Search as ListenV1Search
from .listen import ListenV1SearchHit as ListenV1SearchHit
from .listen import ListenV1SpeechStarted as ListenV1SpeechStarted
from .listen import ListenV1UtteranceEnd as ListenV1UtteranceEnd
from .listen import ListenV1Word as ListenV1Word
from .listen import ListenV2ConfigureFailure as ListenV2ConfigureFailure
from .listen import ListenV2ConfigureSuccess as ListenV2ConfigureSuccess
from .listen import ListenV2Connected as ListenV2Connected
from .listen import ListenV2Connection as ListenV2Connection
from .listen import ListenV2Encoding as ListenV2Encoding
from .listen import ListenV2Error as ListenV2Error
from .listen import ListenV2Message as ListenV2Message
from .listen import ListenV2Options as ListenV2Options
from .listen import ListenV2Thresholds as ListenV2Thresholds
from .listen import ListenV2TurnEvent as ListenV2TurnEvent
from .listen import ListenV2TurnInfo as ListenV2TurnInfo
from .listen import ListenV2Warning as ListenV2Warning
from .listen import ListenV2Word as ListenV2Word
from .listen import Utterance as Utterance
from .listen import UtteranceAggregator as UtteranceAggregator
from .listen import open_flux as open_flux
from .listen import open_flux_listen as open_flux_listen
from .listen import open_listen as open_listen
from .speak import FlushLimitWarning as FlushLimitWarning
from .speak import SpeakV1Audio as SpeakV1Audio
from .speak import SpeakV1Cleared as SpeakV1Cleared
from .speak import SpeakV1Connection as SpeakV1Connection
from .speak import SpeakV1Encoding as SpeakV1Encoding
from .speak import SpeakV1Error as SpeakV1Error
from .speak import SpeakV1Flushed as SpeakV1Flushed
from .speak import SpeakV1Message as SpeakV1Message
from .speak import SpeakV1Metadata as SpeakV1Metadata
from .speak import SpeakV1Options as SpeakV1Options
from .speak import SpeakV1Warning as SpeakV1Warning
from .speak import SpeakV2Audio as SpeakV2Audio
from .speak import SpeakV2ConfigureApplied as SpeakV2ConfigureApplied
from .speak import SpeakV2ConfigureFailure as SpeakV2ConfigureFailure
from .speak import SpeakV2ConfigureFailureCode as SpeakV2ConfigureFailureCode
from .speak import SpeakV2ConfigureSuccess as SpeakV2ConfigureSuccess
from .speak import SpeakV2Connected as SpeakV2Connected
from .speak import SpeakV2Connection as SpeakV2Connection
from .speak import SpeakV2ControlsApplied as SpeakV2ControlsApplied
from .speak import SpeakV2Encoding as SpeakV2Encoding
from .speak import SpeakV2Error as SpeakV2Error
from .speak import SpeakV2ErrorCode as SpeakV2ErrorCode
from .speak import SpeakV2Flushed as SpeakV2Flushed
from .speak import SpeakV2Message as SpeakV2Message
from .speak import SpeakV2Options as SpeakV2Options
from .speak import SpeakV2SessionMetadata as SpeakV2SessionMetadata
from .speak import SpeakV2SpeechInterrupted as SpeakV2SpeechInterrupted
from .speak import SpeakV2SpeechMetadata as SpeakV2SpeechMetadata
from .speak import SpeakV2SpeechStarted as SpeakV2SpeechStarted
from .speak import SpeakV2TurnMetadata as SpeakV2TurnMetadata
from .speak import SpeakV2Warning as SpeakV2Warning
from .speak import SpeakV2WarningCode as SpeakV2WarningCode
from .speak import UtteranceAudio as UtteranceAudio
from .speak import open_flux_speak as open_flux_speak
from .speak import open_speak as open_speak

__all__ = [
    "AcknowledgementTimeout",
    "AgentConnection",
    "AgentMessage",
    "AgentV1AgentAudioDone",
    "AgentV1AgentStartedSpeaking",
    "AgentV1AgentThinking",
    "AgentV1Audio",
    "AgentV1ConversationText",
    "AgentV1CustomFromThinkProvider",
    "AgentV1Error",
    "AgentV1FrustrationDetected",
    "AgentV1FunctionCallCancelled",
    "AgentV1FunctionCallHistory",
    "AgentV1FunctionCallRequest",
    "AgentV1FunctionCallResponse",
    "AgentV1History",
    "AgentV1InjectionRefused",
    "AgentV1LatencyReport",
    "AgentV1ListenUpdated",
    "AgentV1Message",
    "AgentV1PromptUpdated",
    "AgentV1Settings",
    "AgentV1SettingsApplied",
    "AgentV1SpeakUpdated",
    "AgentV1ThinkLiveUpdated",
    "AgentV1ThinkUpdated",
    "AgentV1UserStartedSpeaking",
    "AgentV1Warning",
    "AgentV1Welcome",
    "AudioDecodeError",
    "AudioDeviceError",
    "AudioFormatError",
    "AudioUnavailable",
    "AuthenticationFailed",
    "ConfigurationError",
    "ConfigureFailed",
    "ConnectError",
    "ConnectOptions",
    "ConnectTimeout",
    "ConnectionClosed",
    "ConnectionEvent",
    "ConnectionLost",
    "ConnectionStatistics",
    "DeepgramError",
    "FlushLimitWarning",
    "FluxTurn",
    "FluxTurnEvent",
    "FluxTurnTracker",
    "FluxTurnTrigger",
    "FrameTooLarge",
    "HandshakeRejected",
    "IdleTimeout",
    "InjectionRefused",
    "InternalError",
    "InterruptIgnored",
    "InvalidRequest",
    "ListenV1Alternative",
    "ListenV1Channel",
    "ListenV1ConfigureFailure",
    "ListenV1ConfigureSuccess",
    "ListenV1Connection",
    "ListenV1DiarizeInfo",
    "ListenV1Encoding",
    "ListenV1Entity",
    "ListenV1Error",
    "ListenV1Message",
    "ListenV1Metadata",
    "ListenV1ModelInfo",
    "ListenV1Options",
    "ListenV1Results",
    "ListenV1ResultsMetadata",
    "ListenV1Search",
    "ListenV1SearchHit",
    "ListenV1SpeechStarted",
    "ListenV1UtteranceEnd",
    "ListenV1Word",
    "ListenV2ConfigureFailure",
    "ListenV2ConfigureSuccess",
    "ListenV2Connected",
    "ListenV2Connection",
    "ListenV2Encoding",
    "ListenV2Error",
    "ListenV2Message",
    "ListenV2Options",
    "ListenV2Thresholds",
    "ListenV2TurnEvent",
    "ListenV2TurnInfo",
    "ListenV2Warning",
    "ListenV2Word",
    "MessageDecodeError",
    "MessageRejected",
    "MessageTooLarge",
    "MissingCredentials",
    "PermissionDenied",
    "RateLimited",
    "ReconnectFailed",
    "ReconnectPolicy",
    "Reconnected",
    "Reconnecting",
    "SendTimeout",
    "ServerError",
    "ServerFailure",
    "ServerStalled",
    "ServerTimeout",
    "SettingsError",
    "SpeakV1Audio",
    "SpeakV1Cleared",
    "SpeakV1Connection",
    "SpeakV1Encoding",
    "SpeakV1Error",
    "SpeakV1Flushed",
    "SpeakV1Message",
    "SpeakV1Metadata",
    "SpeakV1Options",
    "SpeakV1Warning",
    "SpeakV2Audio",
    "SpeakV2ConfigureApplied",
    "SpeakV2ConfigureFailure",
    "SpeakV2ConfigureFailureCode",
    "SpeakV2ConfigureSuccess",
    "SpeakV2Connected",
    "SpeakV2Connection",
    "SpeakV2ControlsApplied",
    "SpeakV2Encoding",
    "SpeakV2Error",
    "SpeakV2ErrorCode",
    "SpeakV2Flushed",
    "SpeakV2Message",
    "SpeakV2Options",
    "SpeakV2SessionMetadata",
    "SpeakV2SpeechInterrupted",
    "SpeakV2SpeechMetadata",
    "SpeakV2SpeechStarted",
    "SpeakV2TurnMetadata",
    "SpeakV2Warning",
    "SpeakV2WarningCode",
    "ToolRegistry",
    "ToolResult",
    "UnknownMessage",
    "Utterance",
    "UtteranceAggregator",
    "UtteranceAudio",
    "check_base_url",
    "credentials_configured",
    "open_agent",
    "open_flux",
    "open_flux_listen",
    "open_flux_speak",
    "open_listen",
    "open_speak",
]
