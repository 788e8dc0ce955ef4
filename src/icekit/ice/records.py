"""Plain records of the ICE core: outputs, counters, credentials, address helpers."""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from typing import NamedTuple

from ..candidate import Candidate
from ..errors import CredentialsError
from ..stun import IntegrityKey, short_term_key
from ..types import Address

__all__ = [
    "Credentials",
    "IceStats",
    "SelectedPair",
    "Transmit",
    "address_family",
    "ice_key",
    "tcp_compatible",
    "validate_pwd",
    "validate_ufrag",
]

_ICE_CHARS = re.compile(r"[A-Za-z0-9+/]+")


class Transmit(NamedTuple):
    """A datagram to send: through local socket ``socket_id`` to ``dest``."""

    socket_id: int
    dest: Address
    data: bytes


class SelectedPair(NamedTuple):
    """The pair carrying application data."""

    local: Candidate
    remote: Candidate
    socket_id: int


@dataclass(slots=True)
class IceStats:
    """Counters of the agent; :attr:`dropped` says what was dropped and why."""

    requests_sent: int = 0
    requests_received: int = 0
    responses_sent: int = 0
    responses_received: int = 0
    errors_sent: int = 0
    retransmissions: int = 0
    consent_requests_sent: int = 0
    #: Role switches made to resolve role conflicts (RFC 8445 §7.3.1.1, §7.2.5.1).
    role_switches: int = 0
    dropped: Counter[str] = field(default_factory=Counter)


class Credentials:
    """One generation of credentials (a new one per ICE restart)."""

    __slots__ = ("generation", "local_key", "local_prefix", "local_pwd", "local_ufrag",
                 "remote_key", "remote_pwd", "remote_ufrag")

    def __init__(self, generation: int, ufrag: str, pwd: str) -> None:
        self.generation = generation
        self.local_ufrag = ufrag
        self.local_pwd = pwd
        self.local_key = ice_key(pwd)
        self.local_prefix = ufrag + ":"
        self.remote_ufrag: str | None = None
        self.remote_pwd: str | None = None
        self.remote_key: IntegrityKey | None = None


def ice_key(pwd: str) -> IntegrityKey:
    """The short-term key of an ICE pwd (RFC 8489 §9.1.1) with its HMAC states set up once."""
    # ice-chars are printable ASCII, which OpaqueString leaves unchanged.
    return IntegrityKey(pwd.encode() if _ICE_CHARS.fullmatch(pwd) else short_term_key(pwd))


def validate_ufrag(ufrag: object, *, what: str = "ufrag") -> str:
    """Return ``ufrag`` if it is 4 to 256 ice-chars (RFC 8445 §5.3, RFC 8839 §5.4).

    Raises :class:`CredentialsError` naming ``what`` otherwise.
    """
    return _validate_ice_chars(ufrag, 4, what)


def validate_pwd(pwd: object, *, what: str = "pwd") -> str:
    """Return ``pwd`` if it is 22 to 256 ice-chars (RFC 8445 §5.3, RFC 8839 §5.4).

    Raises :class:`CredentialsError` naming ``what`` (never the value) otherwise.
    """
    return _validate_ice_chars(pwd, 22, what)


def _validate_ice_chars(value: object, minimum: int, what: str) -> str:
    if not isinstance(value, str):
        raise CredentialsError(f"{what} must be a str, not {type(value).__name__}")
    if not minimum <= len(value) <= 256:
        raise CredentialsError(
            f"{what} must be {minimum} to 256 characters long (RFC 8839 §5.4), got {len(value)}")
    if not _ICE_CHARS.fullmatch(value):
        raise CredentialsError(f"{what} may only contain A-Z a-z 0-9 + / (RFC 8839 §5.4)")
    return value


def address_family(host: str) -> int:
    """4 or 6: the IP family of an address literal."""
    return 6 if ":" in host else 4


def tcp_compatible(local: Candidate, remote: Candidate) -> bool:
    """Whether two candidates can form a pair by their RFC 6544 tcptype."""
    # RFC 6544 §6.2: active pairs with passive, S-O with S-O.
    if local.transport != "tcp":
        return True
    pairs = {("active", "passive"), ("passive", "active"), ("so", "so")}
    return (str(local.tcptype), str(remote.tcptype)) in pairs
