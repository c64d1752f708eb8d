"""Audio for the connections: microphone and speaker (PortAudio through PyAudio, in
trio worker threads), WAV/raw/stream sources framed and paced, WAV writing, G.711.

Nothing here imports PyAudio until a device is opened; install it with
``pip install 'dgtrio[audio]'`` and the system's PortAudio library.
"""

from ._format import AudioFormat as AudioFormat
from ._format import AudioSink as AudioSink
from ._format import RawEncoding as RawEncoding
from ._g711 import from_linear16 as from_linear16
from ._g711 import to_linear16 as to_linear16
from ._microphone import Microphone as Microphone
from ._microphone import MicrophoneStatistics as MicrophoneStatistics
from ._microphone import open_microphone as open_microphone
from ._portaudio import AudioDevice as AudioDevice
from ._portaudio import list_devices as list_devices
from ._sources import RawSource as RawSource
from ._sources import StreamSource as StreamSource
from ._sources import WavSource as WavSource
from ._speaker import Speaker as Speaker
from ._speaker import SpeakerStatistics as SpeakerStatistics
from ._speaker import open_speaker as open_speaker
from ._wav import WavWriter as WavWriter
from ._wav import write_wav as write_wav

__all__ = [
    "AudioDevice",
    "AudioFormat",
    "AudioSink",
    "Microphone",
    "MicrophoneStatistics",
    "RawEncoding",
    "RawSource",
    "Speaker",
    "SpeakerStatistics",
    "StreamSource",
    "WavSource",
    "WavWriter",
    "from_linear16",
    "list_devices",
    "open_microphone",
    "open_speaker",
    "to_linear16",
    "write_wav",
]
