"""FakeDeepgram: the protocol server with scripted brains."""

from __future__ import annotations

import ssl
from collections.abc import Callable, Mapping, Sequence

from .._validate import check_value
from ..server import (
    AgentScript,
    DeepgramServer,
    Endpoint,
    Fault,
    FluxScript,
    ListenV1Endpoint,
    ListenV2Endpoint,
    SpeakV1Endpoint,
    SpeakV2Endpoint,
)
from ._agent_v1 import agent_v1_fake
from ._listen_v1 import ListenScript, ScriptedEars
from ._listen_v2 import ScriptedFluxEars
from ._speech import SpeakScript, ToneVoice, speak_limits

__all__ = ["FakeDeepgram"]


class FakeDeepgram(DeepgramServer):
    """A protocol-faithful fake of Deepgram's realtime APIs on loopback.

    ::

        fake = FakeDeepgram()
        async with trio.open_nursery() as nursery:
            await nursery.start(fake.serve)
            async with dgtrio.open_listen(base_url=fake.url) as conn: ...

    Args:
        api_key: when set, only ``Token <api_key>`` (or the ``token, <api_key>``
            subprotocol) is accepted; when ``None``, any credential or none.
        access_token: when set, ``Bearer <access_token>`` is accepted too.
        listen_script: what Listen v1 "hears" (see :class:`ListenScript`).
        idle_timeout: seconds without audio or KeepAlive before Listen v1 closes
            with 1011 ``NET-0001``.
        agent_script: what the Voice Agent v1 fake hears, answers and calls (see
            :class:`AgentScript`).
        agent_client_timeout: seconds without any client frame before Voice Agent v1
            sends ``Error`` ``CLIENT_MESSAGE_TIMEOUT`` and closes with 1000.
        speak_script: how the text-to-speech fakes (Aura, Flux) synthesise (see
            :class:`SpeakScript`).
        flux_script: what the Flux (Listen v2) fake hears and when turns end (see
            :class:`FluxScript`).
        faults: failures to inject into every session (see :class:`Fault`);
            :meth:`fault_next` adds some to the next session only.
        host, port: where to listen; port 0 picks a free one.
        ssl_context: serve ``wss://`` with this server-side TLS context.

    The scripts are read as each session starts: changing one changes the sessions
    that follow.
    """

    def __init__(
        self,
        *,
        api_key: str | None = None,
        access_token: str | None = None,
        listen_script: ListenScript | None = None,
        idle_timeout: float = 10.0,
        agent_script: AgentScript | None = None,
        agent_client_timeout: float = 10.0,
        speak_script: SpeakScript | None = None,
        flux_script: FluxScript | None = None,
        faults: Sequence[Fault] = (),
        host: str = "127.0.0.1",
        port: int = 0,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        super().__init__(
            api_key=api_key,
            access_token=access_token,
            idle_timeout=idle_timeout,
            agent_client_timeout=agent_client_timeout,
            faults=faults,
            host=host,
            port=port,
            ssl_context=ssl_context,
        )
        owner = type(self).__name__
        check_value(owner, "listen_script", listen_script, ListenScript | None)
        check_value(owner, "agent_script", agent_script, AgentScript | None)
        check_value(owner, "speak_script", speak_script, SpeakScript | None)
        check_value(owner, "flux_script", flux_script, FluxScript | None)
        self.listen_script = listen_script or ListenScript()
        self.agent_script = agent_script or AgentScript()
        self.speak_script = speak_script or SpeakScript()
        self.flux_script = flux_script or FluxScript()

    def endpoint(self, path: str) -> Endpoint | None:
        build = _ROUTES.get(path)
        return None if build is None else build(self)


# Each path the fake serves, built from the fake's settings as a session starts.
_ROUTES: Mapping[str, Callable[[FakeDeepgram], Endpoint]] = {
    "/v1/listen": lambda fake: ListenV1Endpoint(
        ScriptedEars(fake.listen_script), fake.idle_timeout
    ),
    "/v2/listen": lambda fake: ListenV2Endpoint(
        fake.flux_script, ScriptedFluxEars(fake.flux_script)
    ),
    "/v1/speak": lambda fake: SpeakV1Endpoint(
        ToneVoice(fake.speak_script), speak_limits(fake.speak_script)
    ),
    "/v2/speak": lambda fake: SpeakV2Endpoint(
        ToneVoice(fake.speak_script), speak_limits(fake.speak_script)
    ),
    "/v1/agent/converse": lambda fake: agent_v1_fake(fake.agent_script, fake.agent_client_timeout),
}
