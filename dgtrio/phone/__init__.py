"""A phone line's voice agent: Twilio Media Streams in, one dgtrio agent per call.

::

    server = dgtrio.phone.PhoneAgentServer(
        public_url="wss://calls.example.com/phone",
        auth_token=os.environ["TWILIO_AUTH_TOKEN"],
        settings_for=settings_for_the_tenant,  # (call) -> AgentV1Settings
        tools=tools,
    )
    async with trio.open_nursery() as nursery:
        await nursery.start(server.serve, "0.0.0.0", 8080)

or from the command line, ``dgtrio phone --public-url wss://HOST/PATH``. Needs the
``phone`` extra (``pip install 'dgtrio[phone]'``: prometheus-client and h11).

Every upgrade is checked against Twilio's ``X-Twilio-Signature`` before an agent
session opens; dead peers end calls on both sides (no ``media`` for
``media_timeout``; the agent's stall watchdog); an agent failure plays an apology;
this side hangs up only once the caller heard the agent's last words (bounded);
each call ends with an :class:`EndCause`, logged in one line and counted in
``/metrics``.
"""

from ._bridge import DtmfHook as DtmfHook
from ._bridge import SettingsHook as SettingsHook
from ._call import Call as Call
from ._call import EndCause as EndCause
from ._call import current_call as current_call
from ._defaults import apology_clip as apology_clip
from ._defaults import default_settings as default_settings
from ._defaults import end_call_tool as end_call_tool
from ._defaults import inject_digit as inject_digit
from ._server import PhoneAgentServer as PhoneAgentServer
from ._server import ServerStatistics as ServerStatistics
from ._twilio import TwilioProtocolError as TwilioProtocolError
from ._twilio import twilio_signature as twilio_signature

__all__ = [
    "Call",
    "DtmfHook",
    "EndCause",
    "PhoneAgentServer",
    "ServerStatistics",
    "SettingsHook",
    "TwilioProtocolError",
    "apology_clip",
    "current_call",
    "default_settings",
    "end_call_tool",
    "inject_digit",
    "twilio_signature",
]
