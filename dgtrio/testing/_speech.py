"""The fake's text-to-speech: how it synthesises (:class:`SpeakScript`), and its
voice, a tone as long as the words would take to say (:class:`ToneVoice`)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import attrs
import trio

from ..server import SpeakLimits, SpeechSettings, cut_at_word
from ._sound import tone

__all__ = ["SpeakScript", "ToneVoice", "speak_limits"]


@attrs.frozen
class SpeakScript:
    """How the fake text-to-speech servers (Aura ``/v1/speak``, Flux ``/v2/speak``)
    synthesise.

    A text of N characters (surrounding whitespace aside) lasts
    ``N / characters_per_second`` seconds at speed 1 (the ``speed`` parameter divides
    that). Its audio is sent in chunks of ``chunk_seconds`` (the last one shorter),
    each once it has been "synthesised", ``synthesis_speed`` times faster than real
    time (``None``: all at once). A ``Speak`` of more than ``max_characters`` closes
    the socket (``BIG-0000``).

    Aura only: a ``Flush`` beyond ``flush_limit`` accepted ones within
    ``flush_window`` seconds gets a ``Warning`` and is ignored. Flux only: handling an
    ``Interrupt`` takes ``interrupt_seconds``, during which another one is ignored
    with ``INTERRUPT_IN_PROGRESS``.
    """

    characters_per_second: float = 15.0
    chunk_seconds: float = 0.1
    synthesis_speed: float | None = 10.0
    max_characters: int = 2000
    flush_limit: int = 20
    flush_window: float = 60.0
    interrupt_seconds: float = 0.0

    def __attrs_post_init__(self) -> None:
        rates = [self.characters_per_second]
        if self.synthesis_speed is not None:
            rates.append(self.synthesis_speed)
        if not all(rate > 0 for rate in rates):  # written so that NaN fails too
            raise ValueError("rates and durations must be positive")
        speak_limits(self)  # the server's limits check the rest

    def audio_seconds(self, text: str, speed: float = 1.0) -> float:
        """How long the fake speaks ``text`` at ``speed``."""
        return len(text.strip()) / (self.characters_per_second * speed)


def speak_limits(script: SpeakScript) -> SpeakLimits:
    """The server's limits and timings a script sets (the rest is the tone's pace)."""
    return SpeakLimits(
        chunk_seconds=script.chunk_seconds,
        max_characters=script.max_characters,
        flush_limit=script.flush_limit,
        flush_window=script.flush_window,
        interrupt_seconds=script.interrupt_seconds,
    )


class ToneVoice:
    """The fake's voice in one session (a :class:`~dgtrio.server.Voice`): the fakes'
    220 Hz tone, for as long as each utterance's words would take to say
    (:meth:`SpeakScript.audio_seconds`, at the speed each text came with).

    The fake cannot synthesise speech; the tone stands in for it, in the session's
    format, in chunks that join into one continuous tone across the session. Each
    chunk leaves once it is "synthesised", ``synthesis_speed`` times faster than
    real time from when the server asks for it (``None``: at once), as a
    synthesiser's would.
    """

    def __init__(self, script: SpeakScript) -> None:
        self.characters_per_second = script.characters_per_second
        self.synthesis_speed = script.synthesis_speed
        self.samples = 0
        """Samples of the tone said in the session: where the next chunk's phase is."""

    def utterance(self, settings: SpeechSettings) -> ToneUtterance:
        return ToneUtterance(self, settings)


class ToneUtterance:
    """One utterance of the :class:`ToneVoice`: its audio is planned as its text
    arrives, each new character at the speed in force when it came; it is said in
    whole chunks until the utterance ends, when what is left goes out too."""

    def __init__(self, voice: ToneVoice, settings: SpeechSettings) -> None:
        self._voice = voice
        self._settings = settings
        self._text = ""
        self._planned_chars = 0  # characters planned so far ...
        self._planned_seconds = 0.0  # ... and their audio, at the speeds in force
        self._said = 0  # samples said

    def add(self, text: str, speed: float) -> None:
        self._text += text
        chars = len(self._settings.words(self._text).strip())
        if chars > self._planned_chars:
            rate = self._voice.characters_per_second * speed
            self._planned_seconds += (chars - self._planned_chars) / rate
            self._planned_chars = chars

    async def say(self, ending: bool, send: Callable[[bytes], Awaitable[None]]) -> bool:
        output, step = self._settings.format, self._settings.chunk_samples
        rate, speed = output.sample_rate, self._voice.synthesis_speed
        count = round(self._planned_seconds * rate) - self._said
        if not ending:
            count -= count % step  # whole chunks until the text is complete
        if count <= 0:
            return False
        start = trio.current_time()
        for first in range(0, count, step):
            size = min(step, count - first)
            if speed is not None:
                # A chunk leaves once its last sample is synthesised.
                await trio.sleep_until(start + (first + size) / (rate * speed))
            await send(tone(size / rate, output.encoding, rate, start=self._voice.samples))
            self._voice.samples += size
            self._said += size
        return True

    def duration_ms(self) -> float:
        """All of the utterance's audio, as planned."""
        return self._planned_seconds * 1000

    def heard(self, heard_ms: float) -> int:
        """In proportion to the utterance's duration."""
        duration = self.duration_ms()
        return cut_at_word(self._text, heard_ms / duration if duration else 1.0)
