"""STUN and TURN URIs (RFC 7064, RFC 7065).

::

    stunURI = ("stun" / "stuns") ":" host [ ":" port ]
    turnURI = ("turn" / "turns") ":" host [ ":" port ] [ "?transport=" transport ]

``host`` is an IPv4 address, an IPv6 literal in brackets, or a DNS name. The
default port is 3478 for ``stun``/``turn`` and 5349 for ``stuns``/``turns``.
A :class:`URI` also carries the optional TURN username and password, which
are not part of the text form. Every problem raises
:class:`~icekit.errors.URIError`.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field

from .errors import URIError
from .types import Address

__all__ = ["DEFAULT_PORTS", "SCHEMES", "URI"]

#: The four schemes (RFC 7064 §3.1, RFC 7065 §3.1).
SCHEMES = ("stun", "stuns", "turn", "turns")
#: Default port of each scheme (RFC 7064 §3.2, RFC 7065 §3.2).
DEFAULT_PORTS = {"stun": 3478, "turn": 3478, "stuns": 5349, "turns": 5349}
_TRANSPORTS = ("udp", "tcp")

_PORT_RE = re.compile(r"[0-9]{1,5}")
_IPV4_CHARS_RE = re.compile(r"[0-9.]+")
# RFC 3986 reg-name restricted to what a DNS name can hold.
_LABEL = r"[A-Za-z0-9_](?:[A-Za-z0-9_\-]{0,61}[A-Za-z0-9_])?"
_HOSTNAME_RE = re.compile(rf"{_LABEL}(?:\.{_LABEL})*\.?")


def _check_host(host: object) -> str:
    """Validate a host (no brackets) and return it unchanged."""
    if not isinstance(host, str) or not host:
        raise URIError(f"URI host: empty or not a string ({host!r})")
    if ":" in host:
        if "%" in host:
            raise URIError(
                f"URI host: IPv6 zone identifiers are not supported ({host!r})"
            )
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            raise URIError(f"URI host: invalid IPv6 address {host!r}") from None
    elif _IPV4_CHARS_RE.fullmatch(host):
        try:
            ipaddress.IPv4Address(host)
        except ValueError:
            raise URIError(f"URI host: invalid IPv4 address {host!r}") from None
    elif len(host) > 253 or not _HOSTNAME_RE.fullmatch(host):
        raise URIError(f"URI host: {host!r} is not a valid host name")
    return host


@dataclass(frozen=True, slots=True)
class URI:
    """A STUN or TURN server URI, immutable.

    ``port`` always holds a number (the scheme's default if the text had
    none); ``transport`` is ``"udp"``, ``"tcp"`` or ``None`` when the text did
    not say (see :attr:`effective_transport`). ``username`` and ``password``
    are the TURN credentials; they are not part of the text form and the
    password is left out of ``repr()``.
    """

    scheme: str
    host: str
    port: int = 0  #: 0 means "the scheme's default"
    transport: str | None = None
    username: str | None = None
    password: str | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        scheme = self.scheme.lower() if isinstance(self.scheme, str) else None
        if scheme not in SCHEMES:
            raise URIError(
                f"URI scheme: {self.scheme!r} is not one of stun, stuns, turn, turns"
            )
        object.__setattr__(self, "scheme", scheme)
        _check_host(self.host)
        if not isinstance(self.port, int) or isinstance(self.port, bool):
            raise URIError(f"URI port: expected an integer, got {self.port!r}")
        if self.port == 0:
            object.__setattr__(self, "port", DEFAULT_PORTS[scheme])
        elif not 1 <= self.port <= 65535:
            raise URIError(f"URI port: {self.port} is out of range 1-65535")
        if self.transport is not None:
            transport = (
                self.transport.lower() if isinstance(self.transport, str) else None
            )
            if transport not in _TRANSPORTS:
                raise URIError(
                    f"URI transport: {self.transport!r} is not supported (udp or tcp)"
                )
            if scheme in ("stun", "stuns"):
                # RFC 7064 has no transport parameter.
                raise URIError(f"URI transport: not allowed on {scheme}: URIs")
            object.__setattr__(self, "transport", transport)
        for name in ("username", "password"):
            value = getattr(self, name)
            if value is not None and not isinstance(value, str):
                raise URIError(
                    f"URI {name}: expected a string, got {type(value).__name__}"
                )

    @classmethod
    def parse(
        cls, text: str, username: str | None = None, password: str | None = None
    ) -> URI:
        """Parse ``stun:``, ``stuns:``, ``turn:`` or ``turns:`` URI text.

        The scheme and the transport value are case-insensitive. The optional
        ``username`` and ``password`` are stored on the result.
        """
        if not isinstance(text, str):
            raise URIError(f"URI: expected a string, got {type(text).__name__}")
        scheme, sep, rest = text.partition(":")
        if not sep:
            raise URIError(f"URI: no scheme in {text!r} (expected e.g. 'stun:host')")
        lscheme = scheme.lower()
        if lscheme not in SCHEMES:
            raise URIError(
                f"URI scheme: {scheme!r} is not one of stun, stuns, turn, turns"
            )
        if rest.startswith("//"):
            # RFC 7064/7065 URIs have no authority part: "stun:host", not "stun://host".
            raise URIError(
                f"URI: {text!r} has '//' after the scheme; write {scheme}:host"
            )
        hostport, qsep, query = rest.partition("?")
        if "@" in hostport:
            raise URIError(
                "URI: user information is not allowed (pass username/password apart)"
            )
        if "#" in rest:
            raise URIError("URI: fragments are not allowed")
        transport: str | None = None
        if qsep:
            if lscheme in ("stun", "stuns"):
                raise URIError(
                    f"URI query: {lscheme}: URIs take no query (got {query!r})"
                )
            key, eq, value = query.partition("=")
            if key.lower() != "transport" or not eq:
                raise URIError(
                    f"URI query: unknown parameter {query!r} (only transport=)"
                )
            if "&" in value or ";" in value:
                raise URIError(
                    f"URI query: only one transport parameter allowed ({query!r})"
                )
            if not value:
                raise URIError("URI transport: empty value")
            transport = value
        host, port = _split_hostport(hostport)
        return cls(lscheme, host, port, transport, username, password)

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        text = f"{self.scheme}:{host}:{self.port}"
        if self.transport is not None:
            text += f"?transport={self.transport}"
        return text

    @property
    def addr(self) -> Address:
        """``(host, port)``."""
        return (self.host, self.port)

    @property
    def is_turn(self) -> bool:
        """True for ``turn:`` and ``turns:``."""
        return self.scheme.startswith("turn")

    @property
    def is_secure(self) -> bool:
        """True for ``stuns:`` and ``turns:`` (TLS, or DTLS over UDP)."""
        return self.scheme.endswith("s")

    @property
    def effective_transport(self) -> str:
        """The transport to use: the explicit one, else TCP for ``stuns``/``turns``
        (TLS) and UDP for ``stun``/``turn`` (RFC 7065 §3.2)."""
        if self.transport is not None:
            return self.transport
        return "tcp" if self.is_secure else "udp"


def _split_hostport(text: str) -> tuple[str, int]:
    """Split ``host[:port]`` / ``[v6][:port]``; port 0 when absent."""
    if text.startswith("["):
        end = text.find("]")
        if end < 0:
            raise URIError(f"URI host: missing ']' in {text!r}")
        host, tail = text[1:end], text[end + 1 :]
        if ":" not in host:
            raise URIError(f"URI host: brackets hold an IPv6 address, got {host!r}")
        if tail and not tail.startswith(":"):
            raise URIError(f"URI: unexpected {tail!r} after ']'")
        port_text: str | None = tail[1:] if tail else None
    else:
        if text.count(":") > 1:
            raise URIError(f"URI host: IPv6 addresses need brackets ({text!r})")
        host, sep, rest = text.partition(":")
        port_text = rest if sep else None
    if not host:
        raise URIError("URI host: empty")
    port = 0
    if port_text is not None:
        if not _PORT_RE.fullmatch(port_text):
            raise URIError(f"URI port: {port_text!r} is not a number")
        port = int(port_text)
        if not 1 <= port <= 65535:
            raise URIError(f"URI port: {port} is out of range 1-65535")
    return host, port
