"""Deepgram's streaming text-to-speech sockets: Aura (v1) and Flux (v2)."""

from ._common import UtteranceAudio as UtteranceAudio
from ._common import split_text as split_text
from ._limits import MAX_SPEAK_CHARACTERS as MAX_SPEAK_CHARACTERS
from ._limits import FlushLimiter as FlushLimiter
from ._limits import FlushLimitWarning as FlushLimitWarning
from .v1._connection import SpeakV1Connection as SpeakV1Connection
from .v1._connection import open_speak as open_speak
from .v1._messages import SpeakV1Audio as SpeakV1Audio
from .v1._messages import SpeakV1Cleared as SpeakV1Cleared
from .v1._messages import SpeakV1Error as SpeakV1Error
from .v1._messages import SpeakV1Flushed as SpeakV1Flushed
from .v1._messages import SpeakV1Message as SpeakV1Message
from .v1._messages import SpeakV1Metadata as SpeakV1Metadata
from .v1._messages import SpeakV1Warning as SpeakV1Warning
from .v1._options import SpeakV1Encoding as SpeakV1Encoding
from .v1._options import SpeakV1Options as SpeakV1Options
from .v2._connection import SpeakV2Connection as SpeakV2Connection
from .v2._connection import open_flux_speak as open_flux_speak
from .v2._messages import SpeakV2Audio as SpeakV2Audio
from .v2._messages import SpeakV2ConfigureApplied as SpeakV2ConfigureApplied
from .v2._messages import SpeakV2ConfigureFailure as SpeakV2ConfigureFailure
from .v2._messages import SpeakV2ConfigureFailureCode as SpeakV2ConfigureFailureCode
from .v2._messages import SpeakV2ConfigureSuccess as SpeakV2ConfigureSuccess
from .v2._messages import SpeakV2Connected as SpeakV2Connected
from .v2._messages import SpeakV2ControlsApplied as SpeakV2ControlsApplied
from .v2._messages import SpeakV2Error as SpeakV2Error
from .v2._messages import SpeakV2ErrorCode as SpeakV2ErrorCode
from .v2._messages import SpeakV2Flushed as SpeakV2Flushed
from .v2._messages import SpeakV2Message as SpeakV2Message
from .v2._messages import SpeakV2SessionMetadata as SpeakV2SessionMetadata
from .v2._messages import SpeakV2SpeechInterrupted as SpeakV2SpeechInterrupted
from .v2._messages import SpeakV2SpeechMetadata as SpeakV2SpeechMetadata
from .v2._messages import SpeakV2SpeechStarted as SpeakV2SpeechStarted
from .v2._messages import SpeakV2TurnMetadata as SpeakV2TurnMetadata
from .v2._messages import SpeakV2Warning as SpeakV2Warning
from .v2._messages import SpeakV2WarningCode as SpeakV2WarningCode
from .v2._options import SpeakV2Encoding as SpeakV2Encoding
from .v2._options import SpeakV2Options as SpeakV2Options

__all__ = [
    "MAX_SPEAK_CHARACTERS",
    "FlushLimitWarning",
    "FlushLimiter",
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
    "UtteranceAudio",
    "open_flux_speak",
    "open_speak",
    "split_text",
]
