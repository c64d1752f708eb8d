"""Credentials and where to connect: API key or token, base URL, the plain-text guard.

Sans-io: reads the environment mapping it is given, never the network. The secret
lives only inside :class:`Credentials`, whose ``repr`` hides it; the header value is
built at the moment of the handshake and handed straight to the transport.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping
from typing import Literal
from urllib.parse import urlsplit

import attrs

from ._errors import ConfigurationError, MissingCredentials

__all__ = ["BaseURL", "Credentials", "check_credentials", "resolve_base_url", "resolve_credentials"]

API_BASE_URL = "wss://api.deepgram.com"
AGENT_BASE_URL = "wss://agent.deepgram.com"
_HOSTED_SUFFIX = ".deepgram.com"


@attrs.frozen(repr=False)
class Credentials:
    """An API key (``Token``) or a temporary access token (``Bearer``).

    The secret is never shown: ``repr`` prints ``'***'``.
    """

    scheme: Literal["Token", "Bearer"]
    _secret: str = attrs.field(alias="secret")

    def __attrs_post_init__(self) -> None:
        if not self._secret or self._secret != self._secret.strip():
            raise ConfigurationError(
                f"the {'API key' if self.scheme == 'Token' else 'access token'} is empty "
                "or has surrounding whitespace"
            )

    def authorization(self) -> bytes:
        """The ``Authorization`` header value; used once, at the handshake.

        A ``bytes`` whose ``repr`` hides the secret, for tracebacks that show locals.
        """
        return _SecretBytes(f"{self.scheme} {self._secret}".encode())

    def __repr__(self) -> str:
        return f"Credentials(scheme={self.scheme!r}, secret='***')"

    __str__ = __repr__


class _SecretBytes(bytes):
    def __repr__(self) -> str:
        return "b'***'"


def resolve_credentials(
    api_key: str | None,
    access_token: str | None,
    environ: Mapping[str, str] | None = None,
) -> Credentials | None:
    """Pick the credentials: explicit arguments first, then the environment.

    ``access_token``/``DEEPGRAM_ACCESS_TOKEN`` are sent as ``Bearer``,
    ``api_key``/``DEEPGRAM_API_KEY`` as ``Token``. Passing both arguments is an error;
    when only the environment has both, the short-lived access token wins.
    """
    if api_key is not None and access_token is not None:
        del api_key, access_token  # not in the traceback's locals
        raise ConfigurationError("pass api_key or access_token, not both")
    if access_token is not None:
        return Credentials("Bearer", access_token)
    if api_key is not None:
        return Credentials("Token", api_key)
    env = os.environ if environ is None else environ
    if env.get("DEEPGRAM_ACCESS_TOKEN"):
        return Credentials("Bearer", env["DEEPGRAM_ACCESS_TOKEN"])
    if env.get("DEEPGRAM_API_KEY"):
        return Credentials("Token", env["DEEPGRAM_API_KEY"])
    return None


@attrs.frozen
class BaseURL:
    """Where a connection goes: ``ws``/``wss``, host, port and an optional path prefix."""

    secure: bool
    host: str
    port: int
    prefix: str = ""

    @property
    def is_loopback(self) -> bool:
        """True for ``localhost`` and addresses in 127.0.0.0/8 or ``::1``."""
        if self.host == "localhost":
            return True
        try:
            return ipaddress.ip_address(self.host).is_loopback
        except ValueError:
            return False

    @property
    def is_hosted(self) -> bool:
        """True for Deepgram's own hosts (``*.deepgram.com``)."""
        return self.host == _HOSTED_SUFFIX[1:] or self.host.endswith(_HOSTED_SUFFIX)

    def url(self, path: str, query: str = "") -> str:
        """The full socket URL for an API path such as ``/v1/listen``."""
        scheme = "wss" if self.secure else "ws"
        default_port = 443 if self.secure else 80
        host = f"[{self.host}]" if ":" in self.host else self.host
        netloc = host if self.port == default_port else f"{host}:{self.port}"
        return f"{scheme}://{netloc}{self.resource(path, query)}"

    def resource(self, path: str, query: str = "") -> str:
        """The request target: prefix, API path and query string."""
        return f"{self.prefix}{path}?{query}" if query else f"{self.prefix}{path}"


def resolve_base_url(
    base_url: str | None,
    *,
    agent: bool = False,
    environ: Mapping[str, str] | None = None,
) -> BaseURL:
    """Parse ``base_url`` (or ``DEEPGRAM_BASE_URL``, or Deepgram's default host).

    ``https``/``http`` are accepted as ``wss``/``ws``. The agent API defaults to
    ``agent.deepgram.com``; an explicit base URL (a regional host, self-hosted Deepgram
    or the fake server) serves every API, agent included.
    """
    env = os.environ if environ is None else environ
    text = base_url or env.get("DEEPGRAM_BASE_URL") or (AGENT_BASE_URL if agent else API_BASE_URL)
    if "://" not in text:
        text = f"wss://{text}"
    parts = urlsplit(text)
    schemes = {"wss": True, "https": True, "ws": False, "http": False}
    if parts.scheme not in schemes:
        raise ConfigurationError(f"base_url must be ws://, wss://, http:// or https://: {text!r}")
    if parts.query or parts.fragment or parts.username or parts.password:
        raise ConfigurationError(
            "base_url takes a scheme, host, optional port and path prefix only "
            "(no query, fragment or user info)"
        )
    if not parts.hostname:
        raise ConfigurationError(f"base_url has no host: {text!r}")
    secure = schemes[parts.scheme]
    try:
        port = parts.port or (443 if secure else 80)
    except ValueError as exc:
        raise ConfigurationError(f"base_url has an invalid port: {text!r}") from exc
    return BaseURL(secure, parts.hostname, port, parts.path.rstrip("/"))


def check_credentials(
    base: BaseURL, credentials: Credentials | None, *, allow_insecure: bool
) -> None:
    """Refuse what would fail or leak: no credentials for Deepgram's hosted API, or a
    credential in clear text (``ws://``) to a host that is not this machine."""
    if credentials is None:
        if base.is_hosted:
            raise MissingCredentials(
                "no Deepgram credentials: pass api_key= or access_token=, or set "
                "DEEPGRAM_API_KEY or DEEPGRAM_ACCESS_TOKEN"
            )
        return
    if not base.secure and not base.is_loopback and not allow_insecure:
        raise ConfigurationError(
            f"refusing to send credentials over unencrypted ws:// to {base.host}; use "
            "wss://, or pass allow_insecure=True if this network is trusted"
        )
