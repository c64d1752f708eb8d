"""The local engine: Deepgram's realtime protocol, served on loopback, recognising
speech for real and offline (``pip install 'dgtrio[local]'``).

Importing :mod:`dgtrio` never imports this package's heavy dependencies; importing
this package does not either: they load when a :class:`LocalDeepgram` is built.
"""

from ._agent_v1 import Think as Think
from ._models import LocalEngineUnavailable as LocalEngineUnavailable
from ._recognizer import RecognizedWord as RecognizedWord
from ._recognizer import Recognizer as Recognizer
from ._server import LocalDeepgram as LocalDeepgram
from ._synthesizer import Synthesizer as Synthesizer

__all__ = [
    "LocalDeepgram",
    "LocalEngineUnavailable",
    "RecognizedWord",
    "Recognizer",
    "Synthesizer",
    "Think",
]
