"""Credentials and where to connect: API key or token, base URL, the plain-text guard.

Sans-io: reads the environment mapping it is given, never the network. The secret
lives only inside :class:`Credentials`, whose ``repr`` hides it; the header value is
built at the moment of the handshake and handed straight to the transport.
"""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Mapping
from typing import Literal
from urllib.parse import urlsplit

import attrs

from ._errors import ConfigurationError, MissingCredentials
from ._validate import check_value

__all__ = [
    "BaseURL",
    "Credentials",
    "check_base_url",
    "check_credentials",
    "credentials_configured",
    "resolve_base_url",
    "resolve_credentials",
]

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
        label = "the API key" if self.scheme == "Token" else "the access token"
        problem = _secret_problem(label, self._secret)
        if problem is not None:
            raise ConfigurationError(problem)

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


def _secret_problem(name: str, secret: object) -> str | None:
    """What is wrong with a credential, in words that never include it."""
    if not isinstance(secret, str):
        return f"{name} must be a string, not {type(secret).__name__}"
    if not secret or secret != secret.strip():
        return f"{name} is empty or has surrounding whitespace"
    # It goes into a header line: a space, a newline or a non-ASCII character in it
    # would break the handshake (or smuggle in a header), and no real key has one.
    if not all("!" <= char <= "~" for char in secret):
        return f"{name} holds a space, a control or a non-ASCII character"
    return None


def resolve_credentials(
    api_key: str | None,
    access_token: str | None,
    environ: Mapping[str, str] | None = None,
) -> Credentials | None:
    """Pick the credentials: explicit arguments first, then the environment.

    ``access_token``/``DEEPGRAM_ACCESS_TOKEN`` are sent as ``Bearer``,
    ``api_key``/``DEEPGRAM_API_KEY`` as ``Token``. Passing both arguments is an error;
    when only the environment has both, the short-lived access token wins.

    Raises:
        ConfigurationError: both arguments, or a credential that is not a string, is
            empty, or holds whitespace, control or non-ASCII characters. The message
            names where it came from (``api_key``, ``DEEPGRAM_API_KEY``...), never
            the credential.
    """
    if api_key is not None and access_token is not None:
        del api_key, access_token  # not in the traceback's locals
        raise ConfigurationError("pass api_key or access_token, not both")
    env = os.environ if environ is None else environ
    sources: tuple[tuple[str, Literal["Token", "Bearer"], object], ...] = (
        ("access_token", "Bearer", access_token),
        ("api_key", "Token", api_key),
        ("DEEPGRAM_ACCESS_TOKEN", "Bearer", env.get("DEEPGRAM_ACCESS_TOKEN") or None),
        ("DEEPGRAM_API_KEY", "Token", env.get("DEEPGRAM_API_KEY") or None),
    )
    for name, scheme, secret in sources:
        if secret is None:
            continue
        problem = _secret_problem(name, secret)
        if problem is not None:
            # Not in the traceback's locals:
            del api_key, access_token, environ, env, sources, secret
            raise ConfigurationError(problem)
        assert isinstance(secret, str)  # _secret_problem refuses anything else
        return Credentials(scheme, secret)
    return None


def credentials_configured() -> bool:
    """Whether ``open_*`` finds credentials in the environment when given neither
    ``api_key=`` nor ``access_token=``: ``DEEPGRAM_ACCESS_TOKEN`` or
    ``DEEPGRAM_API_KEY`` is set and not empty. For programs that fall back on the fake
    server (:mod:`dgtrio.testing`) without a key, as the ``dgtrio`` command line does.

    Raises:
        ConfigurationError: a variable that ``open_*`` would refuse (naming it, never
            showing its value).
    """
    return resolve_credentials(None, None) is not None


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

    ``https``/``http`` are accepted as ``wss``/``ws``, and a bare ``host[:port]`` as
    ``wss://``. The agent API defaults to ``agent.deepgram.com``; an explicit base URL
    (a regional host, self-hosted Deepgram or the fake server) serves every API, agent
    included.

    Raises:
        ConfigurationError: naming ``base_url`` (or ``DEEPGRAM_BASE_URL``) for a value
            that is not a non-empty string, another scheme, a missing or malformed
            host, port or path, a query, a fragment or user info. A message never
            shows user info, a query or a fragment, where a credential could be.
    """
    env = os.environ if environ is None else environ
    if base_url is not None:
        return _parse_base_url("base_url", base_url)
    if env.get("DEEPGRAM_BASE_URL"):
        return _parse_base_url("DEEPGRAM_BASE_URL", env["DEEPGRAM_BASE_URL"])
    return _parse_base_url("base_url", AGENT_BASE_URL if agent else API_BASE_URL)


def check_base_url(url: str) -> None:
    """Check ``url`` as ``open_*(base_url=url)`` would, without connecting: for
    configuration read up front, such as a command-line option.

    Raises:
        ConfigurationError: as ``open_*`` raises it for this ``base_url``.
    """
    resolve_base_url(url)


_SCHEMES = {"wss": True, "https": True, "ws": False, "http": False}  # scheme: secure
_SCHEME_WITHOUT_SLASHES = re.compile(r"[a-z][a-z0-9+.-]*:(?!\d)", re.IGNORECASE)  # "wss:/h"
_HOST_NAME = re.compile(r"[\w-]+(\.[\w-]+)*\.?")


def _parse_base_url(name: str, text: object) -> BaseURL:
    """Parse a base URL given as ``name``; every error names it and what is wrong."""
    if not isinstance(text, str) or not text:
        # The type only: whatever it is, it may hold user info (a credential).
        shown = "an empty string" if text == "" else f"a value of type {type(text).__name__}"
        raise ConfigurationError(
            f"{name} must be a URL such as 'wss://api.eu.deepgram.com', not {shown}"
        )
    # What messages may show: no query or fragment, nothing before an "@" (user info),
    # for a key could be there.
    shown = re.split(r"[?#]", text, maxsplit=1)[0]
    shown = repr(f"***@{shown.rpartition('@')[2]}" if "@" in shown else shown)
    expected = f"{name} must look like wss://host[:port][/prefix], not {shown}"
    if "://" not in text:
        if _SCHEME_WITHOUT_SLASHES.match(text):
            raise ConfigurationError(expected)
        text = f"wss://{text}"
    try:
        parts = urlsplit(text)
    except ValueError as exc:  # an unclosed IPv6 bracket
        raise ConfigurationError(f"{expected} ({exc})") from None
    if parts.scheme not in _SCHEMES:
        raise ConfigurationError(f"{name} must be ws://, wss://, http:// or https://: {shown}")
    if "?" in text or "#" in text or "@" in parts.netloc:
        raise ConfigurationError(
            f"{name} takes a scheme, host, optional port and path prefix only "
            "(no query, fragment or user info)"
        )
    host = parts.hostname
    if not host:
        raise ConfigurationError(f"{name} has no host: {shown}")
    if not (_HOST_NAME.fullmatch(host) or (":" in host and _is_ip_address(host))):
        raise ConfigurationError(expected)
    if "//" in parts.path or any(char.isspace() for char in parts.path):
        raise ConfigurationError(expected)  # e.g. "wss//host" read as host "wss"
    secure = _SCHEMES[parts.scheme]
    try:
        port = parts.port
    except ValueError:
        port = 0
    if port == 0:
        raise ConfigurationError(f"{name} has an invalid port: {shown}")
    return BaseURL(secure, host, port or (443 if secure else 80), parts.path.rstrip("/"))


def _is_ip_address(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def check_credentials(
    base: BaseURL, credentials: Credentials | None, *, allow_insecure: bool
) -> None:
    """Refuse what would fail or leak: no credentials for Deepgram's hosted API, or a
    credential in clear text (``ws://``) to a host that is not this machine."""
    check_value("", "allow_insecure", allow_insecure, bool)
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
