"""The public surface: re-exports, docstrings, no private leaks."""

from __future__ import annotations

import inspect

import dgtrio
import dgtrio.agent
import dgtrio.audio
import dgtrio.listen
import dgtrio.phone
import dgtrio.phone.testing
import dgtrio.speak
import dgtrio.testing

PUBLIC = [
    dgtrio,
    dgtrio.listen,
    dgtrio.speak,
    dgtrio.agent,
    dgtrio.audio,
    dgtrio.testing,
    dgtrio.phone,
    dgtrio.phone.testing,
]


def _public_names(module: object) -> list[str]:
    return [name for name in vars(module) if not name.startswith("_")]


def test_subpackages_are_reexported_at_the_top() -> None:
    for name in _public_names(dgtrio.listen):
        if name[0].isupper() or name.startswith("open_"):
            assert getattr(dgtrio, name) is getattr(dgtrio.listen, name)
    # The speak package's messages and entry points (Aura and Flux); its flush limiter
    # and text helpers stay there.
    speak = [
        n for n in _public_names(dgtrio.speak) if n.startswith(("SpeakV1", "SpeakV2", "open_"))
    ]
    for name in [*speak, "FlushLimitWarning", "UtteranceAudio"]:
        assert getattr(dgtrio, name) is getattr(dgtrio.speak, name), name
    assert {"open_speak", "open_flux_speak", "SpeakV2Connection", "SpeakV2Options"} <= set(speak)
    assert len([n for n in speak if n.startswith("SpeakV2")]) == 21
    assert not hasattr(dgtrio, "split_text") and not hasattr(dgtrio, "FlushLimiter")
    assert issubclass(dgtrio.FlushLimitWarning, UserWarning)
    # The agent's messages and entry points; its settings classes stay in dgtrio.agent.
    top = ["open_agent", "AgentConnection", "AgentMessage", "ToolRegistry", "ToolResult"]
    for name in _public_names(dgtrio.agent):
        if name.startswith("AgentV1") or name in top:
            assert getattr(dgtrio, name) is getattr(dgtrio.agent, name), name


def test_every_public_name_is_documented() -> None:
    for module in PUBLIC:
        for name in _public_names(module):
            obj = getattr(module, name)
            if inspect.isclass(obj) or inspect.isfunction(obj):
                assert inspect.getdoc(obj), f"{module.__name__}.{name} has no docstring"


def test_exception_tree() -> None:
    errors = [
        v
        for v in vars(dgtrio).values()
        if inspect.isclass(v) and issubclass(v, BaseException) and not issubclass(v, Warning)
    ]
    assert all(issubclass(e, dgtrio.DeepgramError) for e in errors)
    assert issubclass(dgtrio.ConnectTimeout, TimeoutError)
    assert issubclass(dgtrio.AcknowledgementTimeout, TimeoutError)
    assert issubclass(dgtrio.ConfigurationError, ValueError)
    assert issubclass(dgtrio.AudioFormatError, ValueError)
    for rejected in (dgtrio.RateLimited, dgtrio.AuthenticationFailed, dgtrio.InvalidRequest):
        assert issubclass(rejected, dgtrio.HandshakeRejected)
    assert issubclass(dgtrio.SettingsError, dgtrio.ConfigurationError)
    assert dgtrio.InterruptIgnored.__mro__[1] is dgtrio.DeepgramError
    for closed in (
        dgtrio.IdleTimeout,
        dgtrio.ServerTimeout,
        dgtrio.ServerFailure,
        dgtrio.AudioDecodeError,
        dgtrio.MessageRejected,
        dgtrio.MessageTooLarge,
        dgtrio.ConnectionLost,
    ):
        assert issubclass(closed, dgtrio.ConnectionClosed)


def test_importing_dgtrio_needs_no_audio_backend() -> None:
    import subprocess
    import sys

    # In a fresh interpreter: other tests here open devices, which imports PyAudio.
    code = "import sys, dgtrio, dgtrio.audio, dgtrio.testing; print('pyaudio' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout == "False\n"


def test_only_the_phone_service_needs_the_phone_extra() -> None:
    import subprocess
    import sys

    code = (
        "import sys, dgtrio, dgtrio.cli, dgtrio.testing; print('prometheus_client' in sys.modules)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout == "False\n"


def test_version() -> None:
    from importlib.metadata import version

    assert dgtrio.__version__ == version("dgtrio")


def test_the_openers_follow_one_naming_rule() -> None:
    """``open_[flux_]listen``, ``open_[flux_]speak``, ``open_agent``; ``open_flux`` is
    the earlier name of ``open_flux_listen``, the same function."""
    openers = {name for name in _public_names(dgtrio) if name.startswith("open_")}
    assert openers == {
        "open_listen",
        "open_flux_listen",
        "open_flux",
        "open_flux_speak",
        "open_speak",
        "open_agent",
    }
    assert dgtrio.open_flux is dgtrio.open_flux_listen
    assert dgtrio.open_flux_listen.__name__ == "open_flux_listen"
