"""Twilio Media Streams, sans-io: the events Twilio sends, the ones this side sends,
and the signature on the upgrade. Nothing here does I/O.

Sources: Twilio, *Media Streams - WebSocket Messages* and *TwiML Voice: <Stream>*;
*Webhooks security* for ``X-Twilio-Signature`` (the facts used are listed in
``docs/phone.rst``).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import attrs

__all__ = [
    "FRAME_BYTES",
    "SAMPLE_RATE",
    "Dtmf",
    "Mark",
    "Media",
    "Other",
    "Start",
    "Stop",
    "TwilioEvent",
    "TwilioProtocolError",
    "check_public_url",
    "clear",
    "mark",
    "media",
    "parse",
    "signature_matches",
    "twilio_signature",
]

SAMPLE_RATE = 8000  # audio/x-mulaw, 8000 Hz, mono, both ways
FRAME_BYTES = 160  # Twilio sends 20 ms of it per media event
_FORMAT = {"encoding": "audio/x-mulaw", "sampleRate": SAMPLE_RATE, "channels": 1}
_DEFAULT_PORTS = {"wss": 443, "https": 443, "ws": 80, "http": 80}


class TwilioProtocolError(Exception):
    """The telephony side sent something this server cannot follow."""


@attrs.frozen
class Start:
    """``start``: the stream's ids, tracks and the ``<Parameter>``s of the ``<Stream>``."""

    stream_sid: str
    call_sid: str
    account_sid: str
    tracks: tuple[str, ...]
    custom_parameters: Mapping[str, str]


@attrs.frozen
class Media:
    """``media``: 20 ms of the caller's mu-law (``track`` ``inbound``)."""

    audio: bytes
    track: str


@attrs.frozen
class Mark:
    """``mark``: Twilio played the audio sent before the mark of this name (or a
    ``clear`` dropped it)."""

    name: str


@attrs.frozen
class Dtmf:
    """``dtmf``: the caller pressed a key."""

    digit: str


@attrs.frozen
class Stop:
    """``stop``: the call ended, or the stream was stopped."""


@attrs.frozen
class Other:
    """``connected``, or an event newer than this module: ignored."""

    kind: str


TwilioEvent = Start | Media | Mark | Dtmf | Stop | Other


def parse(message: str | bytes) -> TwilioEvent:
    """One Media Streams message.

    Raises:
        TwilioProtocolError: not a JSON event, a ``start`` whose media format is not
            mu-law at 8 kHz mono or that has no ``streamSid``, or a ``media`` event
            whose payload is not base64.
    """
    event = _json(message)
    kind = event["event"]
    body = event.get(kind)
    body = body if isinstance(body, dict) else {}
    if kind == "media":
        try:
            audio = base64.b64decode(str(body.get("payload") or ""), validate=True)
        except binascii.Error:
            raise TwilioProtocolError("a media payload that is not base64") from None
        return Media(audio, str(body.get("track") or "inbound"))
    if kind == "mark":
        return Mark(str(body.get("name") or ""))
    if kind == "dtmf":
        return Dtmf(str(body.get("digit") or ""))
    if kind == "stop":
        return Stop()
    if kind == "start":
        return _start(event, body)
    return Other(kind)


def _json(message: str | bytes) -> dict[str, Any]:
    if isinstance(message, bytes):
        raise TwilioProtocolError("a binary frame: Twilio sends JSON text")
    try:
        event = json.loads(message)
    except ValueError:
        raise TwilioProtocolError(f"not JSON: {message[:80]!r}") from None
    if not isinstance(event, dict) or not isinstance(event.get("event"), str):
        raise TwilioProtocolError(f"not a Media Streams event: {message[:80]!r}")
    return event


def _start(event: Mapping[str, Any], body: Mapping[str, Any]) -> Start:
    media_format = body.get("mediaFormat") or {}
    if not isinstance(media_format, dict) or any(
        media_format.get(key, value) != value for key, value in _FORMAT.items()
    ):
        raise TwilioProtocolError(f"unsupported mediaFormat {media_format}: mu-law 8 kHz mono")
    stream_sid = str(event.get("streamSid") or body.get("streamSid") or "")
    if not stream_sid:
        raise TwilioProtocolError("'start' without a streamSid")
    parameters = body.get("customParameters") or {}
    return Start(
        stream_sid=stream_sid,
        call_sid=str(body.get("callSid") or ""),
        account_sid=str(body.get("accountSid") or ""),
        tracks=tuple(str(track) for track in body.get("tracks") or ("inbound",)),
        custom_parameters=(
            {str(k): str(v) for k, v in parameters.items()} if isinstance(parameters, dict) else {}
        ),
    )


def media(stream_sid: str, audio: bytes) -> str:
    """Audio for the caller: mu-law at 8 kHz, no header."""
    payload = base64.b64encode(audio).decode("ascii")
    return json.dumps({"event": "media", "streamSid": stream_sid, "media": {"payload": payload}})


def mark(stream_sid: str, name: str) -> str:
    """A mark after the audio sent so far: Twilio echoes it once that has played."""
    return json.dumps({"event": "mark", "streamSid": stream_sid, "mark": {"name": name}})


def clear(stream_sid: str) -> str:
    """Drop the audio Twilio still buffers (barge-in); the marks waiting come back."""
    return json.dumps({"event": "clear", "streamSid": stream_sid})


# -- the signature on the upgrade --------------------------------------------------------


def twilio_signature(auth_token: str, url: str, params: Mapping[str, str] | None = None) -> str:
    """``X-Twilio-Signature`` for a request to ``url``: base64 of the HMAC-SHA1, keyed
    with the account's auth token, of the URL followed by the POST parameters sorted
    by name (none for a WebSocket upgrade)."""
    given = params or {}
    data = url + "".join(name + given[name] for name in sorted(given))
    digest = hmac.new(auth_token.encode(), data.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode("ascii")


def signature_matches(auth_token: str, url: str, signature: str | None) -> bool:
    """Whether ``signature`` is Twilio's for ``url``, compared in constant time.

    As Twilio's own validators do, the URL is tried with and without its scheme's
    default port (a proxy may add or drop it)."""
    if not signature:
        return False
    given = signature.encode()
    matches = [
        hmac.compare_digest(twilio_signature(auth_token, candidate).encode(), given)
        for candidate in _with_and_without_port(url)
    ]
    return any(matches)


def _with_and_without_port(url: str) -> list[str]:
    parts = urlsplit(url)
    default = _DEFAULT_PORTS.get(parts.scheme)
    host = parts.hostname or ""
    host = f"[{host}]" if ":" in host else host
    if parts.port is None and default is not None:
        other = parts._replace(netloc=f"{host}:{default}")
    elif parts.port == default:
        other = parts._replace(netloc=host)
    else:
        return [url]
    return [url, urlunsplit(other)]


def check_public_url(url: str) -> str:
    """``url`` if Twilio can be given it as a ``<Stream url>``.

    Raises:
        ValueError: not ``ws://`` or ``wss://`` with a host, or with a query string
            or fragment (``<Stream>`` takes none: use ``<Parameter>``).
    """
    if not isinstance(url, str):
        raise TypeError(f"public_url must be a string, not {type(url).__name__}")
    parts = urlsplit(url)
    if parts.scheme not in ("ws", "wss") or not parts.hostname:
        raise ValueError(f"public_url must be wss://HOST/PATH, not {url!r}")
    if parts.query or parts.fragment:
        raise ValueError(
            "public_url takes no query string or fragment (Twilio's <Stream> allows "
            "none): pass values as <Parameter>s, which arrive in customParameters"
        )
    return url
