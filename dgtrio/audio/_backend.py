"""What dgtrio uses of PyAudio, as protocols: the real module or a fake fits them.

The only module that imports ``pyaudio`` is ``_portaudio.py``; everything else types
against these protocols, so that a fake (``dgtrio.testing.FakePyAudio``) can stand in
for the sound card in tests.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

__all__ = ["PA_INT16", "PA_INT32", "PyAudioBackend", "PyAudioStream"]

# PortAudio's sample formats (``pyaudio.paInt16``...), fixed by its C API.
PA_INT16 = 8
PA_INT32 = 2


class PyAudioStream(Protocol):
    """The part of ``pyaudio.PyAudio.Stream`` dgtrio calls, always from one thread at a time."""

    def read(self, num_frames: int, exception_on_overflow: bool = True) -> bytes: ...

    def write(
        self, frames: bytes, num_frames: int | None = None, exception_on_underflow: bool = False
    ) -> None: ...

    def get_write_available(self) -> int: ...

    def stop_stream(self) -> None: ...

    def close(self) -> None: ...


class PyAudioBackend(Protocol):
    """The part of ``pyaudio.PyAudio`` dgtrio calls. Errors are ``OSError(code, text)``
    with PortAudio's error codes, as PyAudio raises them."""

    def get_device_count(self) -> int: ...

    def get_device_info_by_index(self, device_index: int) -> Mapping[str, Any]: ...

    def get_default_input_device_info(self) -> Mapping[str, Any]: ...

    def get_default_output_device_info(self) -> Mapping[str, Any]: ...

    def get_host_api_info_by_index(self, host_api_index: int) -> Mapping[str, Any]: ...

    def open(
        self,
        rate: int,
        channels: int,
        format: int,
        input: bool = False,
        output: bool = False,
        input_device_index: int | None = None,
        output_device_index: int | None = None,
        frames_per_buffer: int = ...,
        start: bool = True,
    ) -> PyAudioStream: ...

    def terminate(self) -> None: ...
