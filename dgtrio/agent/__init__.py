"""Deepgram's voice agent: settings, messages, tools and the conversation."""

from ._connection import AgentConnection as AgentConnection
from ._connection import AgentMessage as AgentMessage
from ._connection import open_agent as open_agent
from ._messages import AgentV1AgentAudioDone as AgentV1AgentAudioDone
from ._messages import AgentV1AgentStartedSpeaking as AgentV1AgentStartedSpeaking
from ._messages import AgentV1AgentThinking as AgentV1AgentThinking
from ._messages import AgentV1Audio as AgentV1Audio
from ._messages import AgentV1ConversationText as AgentV1ConversationText
from ._messages import AgentV1CustomFromThinkProvider as AgentV1CustomFromThinkProvider
from ._messages import AgentV1Error as AgentV1Error
from ._messages import AgentV1FrustrationDetected as AgentV1FrustrationDetected
from ._messages import AgentV1FunctionCallCancelled as AgentV1FunctionCallCancelled
from ._messages import AgentV1FunctionCallHistory as AgentV1FunctionCallHistory
from ._messages import AgentV1FunctionCallRequest as AgentV1FunctionCallRequest
from ._messages import AgentV1FunctionCallResponse as AgentV1FunctionCallResponse
from ._messages import AgentV1History as AgentV1History
from ._messages import AgentV1InjectionRefused as AgentV1InjectionRefused
from ._messages import AgentV1LatencyReport as AgentV1LatencyReport
from ._messages import AgentV1ListenUpdated as AgentV1ListenUpdated
from ._messages import AgentV1Message as AgentV1Message
from ._messages import AgentV1PromptUpdated as AgentV1PromptUpdated
from ._messages import AgentV1SettingsApplied as AgentV1SettingsApplied
from ._messages import AgentV1SpeakUpdated as AgentV1SpeakUpdated
from ._messages import AgentV1ThinkLiveUpdated as AgentV1ThinkLiveUpdated
from ._messages import AgentV1ThinkUpdated as AgentV1ThinkUpdated
from ._messages import AgentV1UserStartedSpeaking as AgentV1UserStartedSpeaking
from ._messages import AgentV1Warning as AgentV1Warning
from ._messages import AgentV1Welcome as AgentV1Welcome
from ._messages import CancelledCall as CancelledCall
from ._messages import ConversationalBehavior as ConversationalBehavior
from ._messages import FunctionCall as FunctionCall
from ._messages import FunctionCallRecord as FunctionCallRecord
from ._settings import AgentConfig as AgentConfig
from ._settings import AgentV1Settings as AgentV1Settings
from ._settings import AnthropicThink as AnthropicThink
from ._settings import AudioConfig as AudioConfig
from ._settings import AudioInput as AudioInput
from ._settings import AudioOutput as AudioOutput
from ._settings import AwsBedrockThink as AwsBedrockThink
from ._settings import AwsCredentials as AwsCredentials
from ._settings import AwsPollySpeak as AwsPollySpeak
from ._settings import CartesiaSpeak as CartesiaSpeak
from ._settings import CartesiaVoice as CartesiaVoice
from ._settings import Context as Context
from ._settings import CustomProvider as CustomProvider
from ._settings import DeepgramListenV1 as DeepgramListenV1
from ._settings import DeepgramListenV2 as DeepgramListenV2
from ._settings import DeepgramSpeak as DeepgramSpeak
from ._settings import DeepgramThink as DeepgramThink
from ._settings import DeepgramThinkLive as DeepgramThinkLive
from ._settings import ElevenLabsSpeak as ElevenLabsSpeak
from ._settings import Endpoint as Endpoint
from ._settings import Flags as Flags
from ._settings import Function as Function
from ._settings import FunctionEndpoint as FunctionEndpoint
from ._settings import GoogleThink as GoogleThink
from ._settings import GroqThink as GroqThink
from ._settings import InputEncoding as InputEncoding
from ._settings import Listen as Listen
from ._settings import ListenProvider as ListenProvider
from ._settings import OpenAiSpeak as OpenAiSpeak
from ._settings import OpenAiThink as OpenAiThink
from ._settings import OutputEncoding as OutputEncoding
from ._settings import Speak as Speak
from ._settings import SpeakProvider as SpeakProvider
from ._settings import Think as Think
from ._settings import ThinkLive as ThinkLive
from ._settings import ThinkProvider as ThinkProvider
from ._tools import ErrorFormatter as ErrorFormatter
from ._tools import Tool as Tool
from ._tools import ToolRegistry as ToolRegistry
from ._tools import ToolResult as ToolResult
from ._tools import ToolStatus as ToolStatus

__all__ = [
    "AgentConfig",
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
    "AnthropicThink",
    "AudioConfig",
    "AudioInput",
    "AudioOutput",
    "AwsBedrockThink",
    "AwsCredentials",
    "AwsPollySpeak",
    "CancelledCall",
    "CartesiaSpeak",
    "CartesiaVoice",
    "Context",
    "ConversationalBehavior",
    "CustomProvider",
    "DeepgramListenV1",
    "DeepgramListenV2",
    "DeepgramSpeak",
    "DeepgramThink",
    "DeepgramThinkLive",
    "ElevenLabsSpeak",
    "Endpoint",
    "ErrorFormatter",
    "Flags",
    "Function",
    "FunctionCall",
    "FunctionCallRecord",
    "FunctionEndpoint",
    "GoogleThink",
    "GroqThink",
    "InputEncoding",
    "Listen",
    "ListenProvider",
    "OpenAiSpeak",
    "OpenAiThink",
    "OutputEncoding",
    "Speak",
    "SpeakProvider",
    "Think",
    "ThinkLive",
    "ThinkProvider",
    "Tool",
    "ToolRegistry",
    "ToolResult",
    "ToolStatus",
    "open_agent",
]
