"""Audio sources for the connections: WAV files, framed and paced."""

from ._files import AudioFormat as AudioFormat
from ._files import PcmEncoding as PcmEncoding
from ._files import WavSource as WavSource
