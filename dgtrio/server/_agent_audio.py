"""The voice agent's audio: the user's turns, cut from the client's audio by their
loudness, and the agent's speech, sent in the format the settings ask for."""

from __future__ import annotations

import struct
from collections.abc import Iterator

import attrs

from .._codec import SAMPLE_WIDTH
from ._sound import LoudnessWindows

__all__ = ["FRAME_SECONDS", "AgentOutput", "AgentSpeech", "AgentTurn", "TurnTaking", "frames"]

FRAME_SECONDS = 0.1  # the agent's audio frames
_WINDOW_SECONDS = 0.02  # speech detection looks at the input in windows this long
_LEAD_IN = 0.3  # seconds of audio kept before the speech that started a turn
_KEEP = 2.0  # seconds of audio held while nobody speaks

# The output encodings the server sends as samples: bytes per sample, WAV format tag.
_PCM = {"linear16": (2, 1), "mulaw": (1, 7), "alaw": (1, 6)}
# Stands in for compressed audio, which the server cannot encode.
_FILLER = bytes(range(251))


@attrs.frozen
class AgentOutput:
    """``audio.output`` of a session's settings: the format the agent speaks in.

    The bitrate is 48 kbit/s unless the settings give one.
    """

    encoding: str = "linear16"
    sample_rate: int = 24000
    bitrate: int = 48000
    container: str = "none"

    @property
    def pcm(self) -> bool:
        """Whether the agent's speech is sent as samples (``linear16``, ``mulaw`` or
        ``alaw``). The server cannot encode the compressed encodings: for those it
        sends filler bytes at the bitrate, as long as the speech lasts."""
        return self.encoding in _PCM


@attrs.frozen
class AgentSpeech:
    """What the agent says, as audio: ``audio`` in the output's encoding and sample
    rate, and how many ``seconds`` it lasts. When the output is not
    :attr:`~dgtrio.server.AgentOutput.pcm` only the length counts (leave ``audio``
    empty)."""

    audio: bytes
    seconds: float


@attrs.frozen
class AgentTurn:
    """A user's turn, as the server heard it end: what its ears are given.

    ``audio`` is the client's audio from a little before the speech began to the end
    of the turn, in the input's ``encoding`` and ``sample_rate`` (PCM or G.711:
    compressed input is never heard as speech). ``number`` counts the session's turns
    from 0, interrupted ones included.
    """

    number: int
    audio: bytes
    encoding: str
    sample_rate: int


def frames(output: AgentOutput, speech: AgentSpeech) -> list[bytes]:
    """``speech`` as the frames to send, 100 ms each: its audio (with a WAV header for
    ``container: wav``), or as many filler bytes as it lasts for a compressed encoding."""
    audio = speech.audio
    if output.pcm:
        width, wav_format = _PCM[output.encoding]
        rate = output.sample_rate
        frame = width * max(1, round(rate * FRAME_SECONDS))
        header = b""
        if output.container == "wav":
            header = struct.pack(
                "<4sI4s4sIHHIIHH4sI",
                *(b"RIFF", 36 + len(audio), b"WAVE", b"fmt ", 16, wav_format, 1, rate),
                *(rate * width, width, 8 * width, b"data", len(audio)),
            )
    else:
        size = round(speech.seconds * output.bitrate / 8)
        audio = (_FILLER * (size // len(_FILLER) + 1))[:size]
        frame, header = max(1, round(output.bitrate / 8 * FRAME_SECONDS)), b""
    pieces = [audio[i : i + frame] for i in range(0, max(len(audio), 1), frame)]
    pieces[0] = header + pieces[0]
    return pieces


class TurnTaking:
    """Whether the user is speaking, from the loudness of the client's audio, in
    windows of audio time; and the audio of each turn.

    Once windows have been louder than ``threshold`` (RMS, as a fraction of full
    scale) for ``onset`` seconds, the user started speaking; ``end_of_turn`` seconds
    of quieter audio end the turn. The audio is held from a little before the speech
    began, and only a couple of seconds of it while nobody speaks.
    """

    def __init__(
        self,
        encoding: str,
        sample_rate: int,
        *,
        threshold: float,
        onset: float,
        end_of_turn: float,
    ) -> None:
        self._encoding = encoding
        self._rate = sample_rate
        self._width = SAMPLE_WIDTH.get(encoding)  # None: compressed, never heard
        self._windows = LoudnessWindows(encoding, sample_rate, _WINDOW_SECONDS)
        self._threshold = threshold
        self._onset = round(onset * sample_rate)
        self._end = round(end_of_turn * sample_rate)
        self._lead_in = round(_LEAD_IN * sample_rate)
        self._keep = round(_KEEP * sample_rate)
        self.speaking = False
        """Whether the user is speaking: a turn began and has not ended."""
        self._loud = 0  # samples of continuous speech
        self._quiet = 0  # samples since the user's speech
        self._turns = 0
        self._held = bytearray()  # the input audio, from sample _held_from on
        self._held_from = 0
        self._position = 0  # samples looked at (windowed) so far
        self._turn_start = 0

    def feed(self, data: bytes) -> Iterator[AgentTurn | None]:
        """Take the client's audio; for each change it makes, None when the user
        starts speaking, or the turn when it ends."""
        if self._width is None:
            return
        self._held += data
        samples = self._windows.samples
        for loud in self._windows.feed(data, self._threshold):
            self._position += samples
            if loud:
                self._loud += samples
                self._quiet = 0
                if not self.speaking and self._loud >= self._onset:
                    self.speaking = True
                    start = self._position - self._loud - self._lead_in
                    self._turn_start = max(self._held_from, start)
                    yield None
            else:
                self._loud = 0
                if self.speaking:
                    self._quiet += samples
                    if self._quiet >= self._end:
                        yield self.end()
            if not self.speaking and self._position - self._held_from > 2 * self._keep:
                self._forget(self._position - self._keep)  # now and then, not per window

    def end(self) -> AgentTurn:
        """End the user's turn (silence, or ``ForceEndTurn``): its audio."""
        self.speaking = False
        self._loud = self._quiet = 0
        assert self._width is not None  # a turn began: the encoding is heard
        start = max(0, self._turn_start - self._held_from) * self._width
        end = max(0, self._position - self._held_from) * self._width
        turn = AgentTurn(self._turns, bytes(self._held[start:end]), self._encoding, self._rate)
        self._turns += 1
        self._forget(self._position)
        return turn

    def _forget(self, before: int) -> None:
        """Let the held audio before sample ``before`` go."""
        assert self._width is not None
        if before <= self._held_from or not self._held:
            return
        drop = min(len(self._held) // self._width, before - self._held_from)
        del self._held[: drop * self._width]
        self._held_from += drop
