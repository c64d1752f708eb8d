"""Deepgram's speech-to-text sockets: live transcription (v1) and Flux (v2)."""

from .v1._connection import ListenV1Connection as ListenV1Connection
from .v1._connection import open_listen as open_listen
from .v1._messages import ListenV1Alternative as ListenV1Alternative
from .v1._messages import ListenV1Channel as ListenV1Channel
from .v1._messages import ListenV1ConfigureFailure as ListenV1ConfigureFailure
from .v1._messages import ListenV1ConfigureSuccess as ListenV1ConfigureSuccess
from .v1._messages import ListenV1DiarizeInfo as ListenV1DiarizeInfo
from .v1._messages import ListenV1Entity as ListenV1Entity
from .v1._messages import ListenV1Error as ListenV1Error
from .v1._messages import ListenV1Message as ListenV1Message
from .v1._messages import ListenV1Metadata as ListenV1Metadata
from .v1._messages import ListenV1ModelInfo as ListenV1ModelInfo
from .v1._messages import ListenV1Results as ListenV1Results
from .v1._messages import ListenV1ResultsMetadata as ListenV1ResultsMetadata
from .v1._messages import ListenV1Search as ListenV1Search
from .v1._messages import ListenV1SearchHit as ListenV1SearchHit
from .v1._messages import ListenV1SpeechStarted as ListenV1SpeechStarted
from .v1._messages import ListenV1UtteranceEnd as ListenV1UtteranceEnd
from .v1._messages import ListenV1Word as ListenV1Word
from .v1._options import ListenV1Encoding as ListenV1Encoding
from .v1._options import ListenV1Options as ListenV1Options
from .v1._utterances import Utterance as Utterance
from .v1._utterances import UtteranceAggregator as UtteranceAggregator
from .v2._connection import ListenV2Connection as ListenV2Connection
from .v2._connection import open_flux as open_flux
from .v2._connection import open_flux_listen as open_flux_listen
from .v2._messages import ListenV2ConfigureFailure as ListenV2ConfigureFailure
from .v2._messages import ListenV2ConfigureSuccess as ListenV2ConfigureSuccess
from .v2._messages import ListenV2Connected as ListenV2Connected
from .v2._messages import ListenV2Error as ListenV2Error
from .v2._messages import ListenV2Message as ListenV2Message
from .v2._messages import ListenV2TurnEvent as ListenV2TurnEvent
from .v2._messages import ListenV2TurnInfo as ListenV2TurnInfo
from .v2._messages import ListenV2Warning as ListenV2Warning
from .v2._messages import ListenV2Word as ListenV2Word
from .v2._options import ListenV2Encoding as ListenV2Encoding
from .v2._options import ListenV2Options as ListenV2Options
from .v2._options import ListenV2Thresholds as ListenV2Thresholds
from .v2._turns import FluxTurn as FluxTurn
from .v2._turns import FluxTurnEvent as FluxTurnEvent
from .v2._turns import FluxTurnTracker as FluxTurnTracker
from .v2._turns import FluxTurnTrigger as FluxTurnTrigger

__all__ = [
    "FluxTurn",
    "FluxTurnEvent",
    "FluxTurnTracker",
    "FluxTurnTrigger",
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
    "Utterance",
    "UtteranceAggregator",
    "open_flux",
    "open_flux_listen",
    "open_listen",
]
