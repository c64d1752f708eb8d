"""Audio sources and sinks for the connections: WAV files, framed and paced."""

from ._files import AudioFormat as AudioFormat
from ._files import PcmEncoding as PcmEncoding
from ._files import WavSource as WavSource
from ._wav import WavEncoding as WavEncoding
from ._wav import WavWriter as WavWriter
from ._wav import write_wav as write_wav
