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
