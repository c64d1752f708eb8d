"""Deepgram's streaming text-to-speech socket (v1)."""

from ._connection import SpeakV1Connection as SpeakV1Connection
from ._connection import UtteranceAudio as UtteranceAudio
from ._connection import open_speak as open_speak
from ._limits import MAX_SPEAK_CHARACTERS as MAX_SPEAK_CHARACTERS
from ._limits import FlushLimiter as FlushLimiter
from ._limits import FlushLimitWarning as FlushLimitWarning
from ._messages import SpeakV1Audio as SpeakV1Audio
from ._messages import SpeakV1Cleared as SpeakV1Cleared
from ._messages import SpeakV1Error as SpeakV1Error
from ._messages import SpeakV1Flushed as SpeakV1Flushed
from ._messages import SpeakV1Message as SpeakV1Message
from ._messages import SpeakV1Metadata as SpeakV1Metadata
from ._messages import SpeakV1Warning as SpeakV1Warning
from ._options import SpeakV1Encoding as SpeakV1Encoding
from ._options import SpeakV1Options as SpeakV1Options
