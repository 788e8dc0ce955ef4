"""ICE candidates: the model, the SDP ``candidate-attribute`` grammar, priorities
and foundations.

The text form follows RFC 8839 §5.1 (with the RFC 6544 ``tcptype`` extension)::

    candidate-attribute = "candidate" ":" foundation SP component-id SP
                          transport SP priority SP connection-address SP
                          port SP "typ" SP cand-type
                          [SP "raddr" SP connection-address SP "rport" SP port]
                          *(SP extension-att-name SP extension-att-value)

:meth:`Candidate.unmarshal` accepts the attribute with or without the
``candidate:`` / ``a=candidate:`` prefix; :meth:`Candidate.marshal` writes it
back without the prefix (``"1 1 udp 2130706431 10.0.0.1 5000 typ host"``).
Every problem with the text raises :class:`~icekit.errors.CandidateError`.

Priorities follow RFC 8445 §5.1.2 (TCP: RFC 6544 §4.2; address families
interleaved as RFC 8421 §4 advises) and foundations RFC 8445 §5.1.1.3.
"""

from __future__ import annotations

import enum
import ipaddress
import re
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from .errors import CandidateError
from .types import Address

__all__ = [
    "RELAY_TRANSPORT_RANK",
    "TYPE_PREFERENCES",
    "Candidate",
    "CandidateType",
    "TCPType",
    "candidate_priority",
    "canonical_host",
    "compute_foundation",
    "compute_priority",
    "local_preferences",
    "pair_priority",
    "relay_local_preference",
    "tcp_local_preference",
    "type_preference",
]


class CandidateType(str, enum.Enum):
    """The ``typ`` of a candidate (RFC 8445 §5.1.1)."""

    HOST = "host"
    SRFLX = "srflx"
    PRFLX = "prflx"
    RELAY = "relay"

    def __str__(self) -> str:
        return self.value


class TCPType(str, enum.Enum):
    """The RFC 6544 ``tcptype`` of a TCP candidate."""

    ACTIVE = "active"
    PASSIVE = "passive"
    SO = "so"

    def __str__(self) -> str:
        return self.value


# --- lexical rules (ASCII only: str.isdigit() and int() accept far more) ----

# RFC 8839 §5.1: ice-char = ALPHA / DIGIT / "+" / "/"
_FOUNDATION_RE = re.compile(r"[A-Za-z0-9+/]{1,32}")
_DIGITS_RE = re.compile(r"[0-9]{1,10}")
# RFC 3261 token, used for extension-att-name.
_TOKEN_RE = re.compile(r"[A-Za-z0-9\-.!%*_+`'~]+")
# extension-att-value = *VCHAR (visible ASCII).
_VCHAR_RE = re.compile(r"[\x21-\x7e]+")
_IPV4_CHARS_RE = re.compile(r"[0-9.]+")
_OCTET = r"(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
_IPV4_RE = re.compile(rf"{_OCTET}(?:\.{_OCTET}){{3}}")
_SCOPE_RE = re.compile(r"[A-Za-z0-9_.\-]+")
# A DNS name: mDNS ``<uuid>.local`` names and ordinary FQDNs (RFC 8839 allows both).
_LABEL = r"[A-Za-z0-9_](?:[A-Za-z0-9_\-]{0,61}[A-Za-z0-9_])?"
_HOSTNAME_RE = re.compile(rf"{_LABEL}(?:\.{_LABEL})*\.?")

_TRANSPORTS = ("udp", "tcp")
_TYPES = {t.value: t for t in CandidateType}
_TCPTYPES = {t.value: t for t in TCPType}

_IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def _parse_ip(value: str) -> _IPAddress | None:
    """Return the IP address ``value`` spells, ``None`` for a host name.

    Raises :class:`ValueError` for text that is neither (a malformed IP
    literal, or characters no host name may contain). An IPv6 zone
    (``%eth0``) is checked but not part of the result.
    """
    if ":" in value:
        addr, sep, scope = value.partition("%")
        if sep and not _SCOPE_RE.fullmatch(scope):
            raise ValueError(f"bad IPv6 zone in {value!r}")
        return ipaddress.IPv6Address(addr)
    if _IPV4_CHARS_RE.fullmatch(value):
        return ipaddress.IPv4Address(value)
    if len(value) <= 253 and _HOSTNAME_RE.fullmatch(value):
        return None
    raise ValueError(f"{value!r} is neither an IP address nor a host name")


def _validate_address(value: object, field: str) -> None:
    """Like :func:`_check_address` without building an object (the common IPv4
    case is a single regular expression match)."""
    if isinstance(value, str) and _IPV4_RE.fullmatch(value):
        return
    _check_address(value, field)


def _check_address(value: object, field: str) -> _IPAddress | None:
    if not isinstance(value, str) or not value:
        raise CandidateError(
            f"candidate {field}: expected a non-empty string, got {value!r}"
        )
    try:
        return _parse_ip(value)
    except ValueError as exc:  # ipaddress errors are ValueError subclasses
        raise CandidateError(
            f"candidate {field}: invalid address {value!r} ({exc})"
        ) from None


def _check_int(value: object, field: str, low: int, high: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise CandidateError(f"candidate {field}: expected an integer, got {value!r}")
    if not low <= value <= high:
        raise CandidateError(f"candidate {field}: {value} is out of range {low}-{high}")
    return value


def _parse_int(token: str, field: str) -> int:
    if not _DIGITS_RE.fullmatch(token):
        raise CandidateError(f"candidate {field}: {token!r} is not a decimal number")
    return int(token)


def canonical_host(host: str) -> str:
    """Text that compares equal for equal addresses (``2001:DB8::1`` = ``2001:db8::0:1``).

    IPv6 literals are compressed (a zone is dropped); anything else is
    lowercased without a trailing dot (a valid IPv4 literal is unchanged).
    """
    if ":" in host:
        try:
            ip = _parse_ip(host)
        except ValueError:
            ip = None
        if ip is not None:
            return ip.compressed
    canonical = host.lower().rstrip(".")
    return host if canonical == host else canonical  # no copy kept per key


@dataclass(frozen=True, slots=True)
class Candidate:
    """An ICE candidate (RFC 8445 §5.1.1), immutable and hashable.

    Build new ones with :func:`dataclasses.replace`. ``address`` is kept as
    given (an IPv4 or IPv6 literal without brackets, or a host name such as an
    mDNS ``*.local`` name); use :attr:`key` to compare candidates by transport
    address regardless of how the address is spelled.
    """

    foundation: str
    component: int
    transport: str  #: ``"udp"`` or ``"tcp"`` (lowercase)
    priority: int
    address: str
    port: int
    type: CandidateType
    related_address: str | None = None
    related_port: int | None = None
    tcptype: TCPType | None = None
    #: Extension attributes as ``(name, value)`` pairs, in order
    #: (``generation``, ``ufrag``, ``network-id``, ``network-cost``, unknown ones).
    extensions: tuple[tuple[str, str], ...] = ()

    def __post_init__(self) -> None:
        # Validate and normalize every field, so that every Candidate marshals
        # to text that unmarshals back to an equal Candidate.
        if not isinstance(self.foundation, str) or not _FOUNDATION_RE.fullmatch(
            self.foundation
        ):
            raise CandidateError(
                f"candidate foundation: {self.foundation!r} is not 1-32 ice-chars "
                "(letters, digits, '+', '/')"
            )
        _check_int(self.component, "component", 1, 256)
        transport = self.transport.lower() if isinstance(self.transport, str) else None
        if transport not in _TRANSPORTS:
            raise CandidateError(
                f"candidate transport: {self.transport!r} is not supported (udp or tcp)"
            )
        object.__setattr__(self, "transport", transport)
        _check_int(self.priority, "priority", 0, 0xFFFFFFFF)
        _validate_address(self.address, "address")
        _check_int(self.port, "port", 0, 65535)
        ctype = _TYPES.get(self.type.lower()) if isinstance(self.type, str) else None
        if ctype is None:
            raise CandidateError(
                f"candidate type: {self.type!r} is not one of host, srflx, prflx, relay"
            )
        object.__setattr__(self, "type", ctype)
        if (self.related_address is None) != (self.related_port is None):
            raise CandidateError(
                "candidate raddr/rport: related address and port must be given together"
            )
        if self.related_address is not None:
            _validate_address(self.related_address, "related address (raddr)")
            _check_int(self.related_port, "related port (rport)", 0, 65535)
        if self.tcptype is not None:
            tcptype = (
                _TCPTYPES.get(self.tcptype.lower())
                if isinstance(self.tcptype, str)
                else None
            )
            if tcptype is None:
                raise CandidateError(
                    f"candidate tcptype: {self.tcptype!r} is not one of active, passive, so"
                )
            if transport != "tcp":
                raise CandidateError(
                    "candidate tcptype: only TCP candidates have a tcptype"
                )
            object.__setattr__(self, "tcptype", tcptype)
        object.__setattr__(self, "extensions", _check_extensions(self.extensions))

    # --- text form ---------------------------------------------------------

    @classmethod
    def unmarshal(cls, text: str) -> Candidate:
        """Parse a ``candidate-attribute`` (RFC 8839 §5.1, RFC 6544 §4.5).

        Accepts ``"candidate:..."``, ``"a=candidate:..."`` or the bare value,
        with an optional trailing CRLF; transport, ``typ`` values and keywords
        are case-insensitive. Raises :class:`CandidateError` naming the field
        and the problem for anything else.
        """
        if not isinstance(text, str):
            raise CandidateError(
                f"candidate: expected a string, got {type(text).__name__}"
            )
        value = text[:-2] if text.endswith("\r\n") else text.rstrip("\r\n")
        value = value.removeprefix("a=")
        if value[:10].lower() == "candidate:":
            value = value[10:]
        tokens = value.split()
        if len(tokens) < 8:
            raise CandidateError(
                f"candidate: {len(tokens)} fields, need at least 8 "
                "(foundation component transport priority address port typ type)"
            )
        if tokens[6].lower() != "typ":
            raise CandidateError(
                f"candidate: expected 'typ' as 7th field, got {tokens[6]!r}"
            )
        related_address: str | None = None
        related_port: int | None = None
        tcptype: str | None = None
        extensions: list[tuple[str, str]] = []
        tail = tokens[8:]
        if len(tail) % 2:
            raise CandidateError(f"candidate extension {tail[-1]!r}: missing value")
        # raddr/rport precede extensions in RFC 8839 but some stacks put them
        # later; accept them anywhere, once.
        for i in range(0, len(tail), 2):
            name, val = tail[i], tail[i + 1]
            lname = name.lower()
            if lname == "raddr":
                if related_address is not None:
                    raise CandidateError("candidate raddr: given twice")
                related_address = val
            elif lname == "rport":
                if related_port is not None:
                    raise CandidateError("candidate rport: given twice")
                related_port = _parse_int(val, "related port (rport)")
            elif lname == "tcptype":
                if tcptype is not None:
                    raise CandidateError("candidate tcptype: given twice")
                tcptype = val
            else:
                extensions.append((name, val))
        return cls(
            foundation=tokens[0],
            component=_parse_int(tokens[1], "component"),
            transport=tokens[2],
            priority=_parse_int(tokens[3], "priority"),
            address=tokens[4],
            port=_parse_int(tokens[5], "port"),
            type=tokens[7],  # type: ignore[arg-type]  # normalized in __post_init__
            related_address=related_address,
            related_port=related_port,
            tcptype=tcptype,  # type: ignore[arg-type]
            extensions=tuple(extensions),
        )

    def marshal(self, prefix: bool = False) -> str:
        """Return the ``candidate-attribute`` value, ``"candidate:"``-prefixed if asked."""
        parts = [
            self.foundation,
            str(self.component),
            self.transport,
            str(self.priority),
            self.address,
            str(self.port),
            "typ",
            self.type.value,
        ]
        if self.related_address is not None:
            parts += ["raddr", self.related_address, "rport", str(self.related_port)]
        if self.tcptype is not None:
            parts += ["tcptype", self.tcptype.value]
        for name, val in self.extensions:
            parts += [name, val]
        text = " ".join(parts)
        return "candidate:" + text if prefix else text

    def __str__(self) -> str:
        return self.marshal()

    # --- helpers -----------------------------------------------------------

    @property
    def addr(self) -> Address:
        """The transport address ``(address, port)``."""
        return (self.address, self.port)

    @property
    def related_addr(self) -> Address | None:
        """``(raddr, rport)`` or ``None``."""
        if self.related_address is None or self.related_port is None:
            return None
        return (self.related_address, self.related_port)

    @property
    def ip(self) -> _IPAddress | None:
        """The address as an :mod:`ipaddress` object, ``None`` for a host name."""
        return _check_address(self.address, "address")

    @property
    def is_ipv6(self) -> bool:
        """True for an IPv6 literal address."""
        return ":" in self.address

    @property
    def is_ipv4(self) -> bool:
        """True for an IPv4 literal address."""
        return ":" not in self.address and bool(_IPV4_CHARS_RE.fullmatch(self.address))

    @property
    def is_hostname(self) -> bool:
        """True when the address is a host name rather than an IP literal."""
        return not (self.is_ipv6 or self.is_ipv4)

    @property
    def is_mdns(self) -> bool:
        """True for an mDNS host name (``*.local``) as browsers use to hide IPs."""
        return self.is_hostname and self.address.lower().rstrip(".").endswith(".local")

    @property
    def network_type(self) -> str | None:
        """``"udp4"``, ``"udp6"``, ``"tcp4"`` or ``"tcp6"``; ``None`` for a host name."""
        if self.is_ipv6:
            return self.transport + "6"
        if self.is_ipv4:
            return self.transport + "4"
        return None

    @property
    def key(self) -> tuple[int, str, str, int, CandidateType]:
        """Identity of the candidate: component, transport, canonical address, port, type.

        Two candidates with the same key are the same candidate as far as
        pairing goes, whatever their priority, foundation or extensions.
        """
        return (
            self.component,
            self.transport,
            canonical_host(self.address),
            self.port,
            self.type,
        )

    def extension(self, name: str) -> str | None:
        """The value of the first extension attribute called ``name``, or ``None``."""
        for key, val in self.extensions:
            if key == name:
                return val
        return None

    def _int_extension(self, name: str) -> int | None:
        val = self.extension(name)
        if val is None or not _DIGITS_RE.fullmatch(val):
            return None
        return int(val)

    @property
    def generation(self) -> int | None:
        """The ``generation`` extension as an int, if present and numeric."""
        return self._int_extension("generation")

    @property
    def ufrag(self) -> str | None:
        """The ``ufrag`` extension, if present."""
        return self.extension("ufrag")

    @property
    def network_id(self) -> int | None:
        """The ``network-id`` extension as an int, if present and numeric."""
        return self._int_extension("network-id")

    @property
    def network_cost(self) -> int | None:
        """The ``network-cost`` extension as an int, if present and numeric."""
        return self._int_extension("network-cost")


def _check_extensions(value: object) -> tuple[tuple[str, str], ...]:
    if not isinstance(value, (tuple, list)):
        raise CandidateError(
            f"candidate extensions: expected a sequence of pairs, got {value!r}"
        )
    out: list[tuple[str, str]] = []
    for item in value:
        if not isinstance(item, (tuple, list)) or len(item) != 2:
            raise CandidateError(
                f"candidate extensions: {item!r} is not a (name, value) pair"
            )
        name, val = item
        if not isinstance(name, str) or not _TOKEN_RE.fullmatch(name):
            raise CandidateError(f"candidate extension name: {name!r} is not a token")
        if name.lower() in ("raddr", "rport", "tcptype", "typ"):
            raise CandidateError(f"candidate extension name: {name!r} is reserved")
        if not isinstance(val, str) or not _VCHAR_RE.fullmatch(val):
            raise CandidateError(
                f"candidate extension {name}: value {val!r} is not visible ASCII"
            )
        out.append((name, val))
    return tuple(out)


# --- priorities ---------------------------------------------------------------

#: RFC 8445 §5.1.2.2 recommended type preferences.
TYPE_PREFERENCES: dict[CandidateType, int] = {
    CandidateType.HOST: 126,
    CandidateType.PRFLX: 110,
    CandidateType.SRFLX: 100,
    CandidateType.RELAY: 0,
}


def type_preference(ctype: CandidateType | str) -> int:
    """The RFC 8445 §5.1.2.2 type preference of ``ctype``."""
    found = _TYPES.get(str(ctype).lower())
    if found is None:
        raise CandidateError(
            f"candidate type: {ctype!r} is not one of host, srflx, prflx, relay"
        )
    return TYPE_PREFERENCES[found]


def compute_priority(
    type_pref: int | CandidateType, local_pref: int, component: int
) -> int:
    """RFC 8445 §5.1.2.1: ``2^24·type_pref + 2^8·local_pref + (256 − component)``.

    ``type_pref`` may be a :class:`CandidateType` (its recommended preference).
    """
    if isinstance(type_pref, CandidateType):
        type_pref = TYPE_PREFERENCES[type_pref]
    _check_int(type_pref, "type preference", 0, 126)
    _check_int(local_pref, "local preference", 0, 65535)
    _check_int(component, "component", 1, 256)
    return (type_pref << 24) + (local_pref << 8) + (256 - component)


def candidate_priority(
    ctype: CandidateType | str, local_pref: int = 65535, component: int = 1
) -> int:
    """Priority of a candidate of type ``ctype`` with the recommended type preference."""
    return compute_priority(type_preference(ctype), local_pref, component)


def _family_rank(ip: _IPAddress) -> int:
    """Lower is better, within one address family (RFC 8421 §4, RFC 6724 §2.1).

    Addresses RFC 8421 says to avoid or rank low (IPv4-mapped/compatible,
    6to4, Teredo, site-local, link-local) come after ordinary ones.
    """
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None or ip.packed[:12] == bytes(12):
            return 3  # IPv4-mapped / IPv4-compatible
        if ip.teredo is not None or ip.sixtofour is not None:
            return 2
        if ip.is_site_local or ip.is_link_local:
            return 1
        return 0
    return 1 if ip.is_link_local else 0


def local_preferences(
    addresses: Sequence[str], *, top: int = 65535, prefer_ipv6: bool = True
) -> list[int]:
    """Distinct local preferences for the local IP ``addresses``, in input order.

    ``addresses`` is ordered best first (e.g. by interface). Following RFC 8421
    §4 the two address families are interleaved (IPv6, IPv4, IPv6, ... when
    ``prefer_ipv6``), so that neither family starves the other's checks if it
    is broken; within a family, order is kept except that deprecated kinds
    (IPv4-mapped, 6to4, Teredo, site- and link-local) go last. The best address
    gets ``top`` and each next one one less, so every address gets its own
    preference (RFC 8445 §5.1.2.1). Use ``top=8191`` for the RFC 6544
    ``other-pref`` of TCP candidates.
    """
    _check_int(top, "local preference", 0, 65535)
    if len(addresses) > top + 1:
        raise CandidateError(
            f"local preference: {len(addresses)} addresses do not fit under {top}"
        )
    v6: list[tuple[int, int]] = []
    v4: list[tuple[int, int]] = []
    for index, text in enumerate(addresses):
        ip = _check_address(text, "local address")
        if ip is None:
            raise CandidateError(
                f"local address: {text!r} is a host name, not an IP address"
            )
        (v6 if ip.version == 6 else v4).append((_family_rank(ip), index))
    v6.sort()
    v4.sort()
    first, second = (v6, v4) if prefer_ipv6 else (v4, v6)
    order: list[int] = []
    for i in range(max(len(first), len(second))):
        if i < len(first):
            order.append(first[i][1])
        if i < len(second):
            order.append(second[i][1])
    prefs = [0] * len(addresses)
    for position, index in enumerate(order):
        prefs[index] = top - position
    return prefs


# RFC 6544 §4.2 recommended direction preferences.
_DIRECTION_PREF_HOST = {TCPType.ACTIVE: 6, TCPType.PASSIVE: 4, TCPType.SO: 2}
_DIRECTION_PREF_NAT = {TCPType.SO: 6, TCPType.ACTIVE: 4, TCPType.PASSIVE: 2}


def tcp_local_preference(
    tcptype: TCPType | str, other_pref: int = 8191, *, nat_assisted: bool = False
) -> int:
    """RFC 6544 §4.2 local preference of a TCP candidate: ``2^13·direction-pref + other-pref``.

    Direction preferences: host, UDP-tunneled and relayed candidates rank
    active 6, passive 4, so 2; NAT-assisted and server-reflexive ones
    (``nat_assisted=True``) rank so 6, active 4, passive 2. ``other_pref``
    (0-8191) tells apart candidates with equal direction, e.g. from
    :func:`local_preferences` with ``top=8191``.
    """
    found = _TCPTYPES.get(str(tcptype).lower())
    if found is None:
        raise CandidateError(
            f"candidate tcptype: {tcptype!r} is not one of active, passive, so"
        )
    _check_int(other_pref, "other-pref", 0, 8191)
    table = _DIRECTION_PREF_NAT if nat_assisted else _DIRECTION_PREF_HOST
    return (table[found] << 13) + other_pref


#: Rank of the transport to the TURN server: UDP > TCP > TLS/DTLS.
RELAY_TRANSPORT_RANK: dict[str, int] = {"udp": 3, "tcp": 2, "tls": 1, "dtls": 1}


def relay_local_preference(turn_transport: str, other_pref: int = 16383) -> int:
    """Local preference of a relayed candidate: ``2^14·rank + other_pref``.

    The rank comes from the transport used to reach the TURN server (UDP 3,
    TCP 2, TLS and DTLS 1), so a relay reached over UDP always beats one
    reached over TCP, which beats TLS: the extra hop and head-of-line
    blocking cost more the further down. ``other_pref`` (0-16383) tells apart
    relays with the same transport.
    """
    rank = RELAY_TRANSPORT_RANK.get(str(turn_transport).lower())
    if rank is None:
        raise CandidateError(
            f"relay transport: {turn_transport!r} is not one of udp, tcp, tls, dtls"
        )
    _check_int(other_pref, "other-pref", 0, 16383)
    return (rank << 14) + other_pref


def pair_priority(controlling: int, controlled: int) -> int:
    """RFC 8445 §6.1.2.3 pair priority: ``2^32·min(G,D) + 2·max(G,D) + (G>D ? 1 : 0)``.

    ``controlling`` (G) is the priority of the controlling agent's candidate,
    ``controlled`` (D) the controlled agent's.
    """
    low, high = (
        (controlling, controlled)
        if controlling < controlled
        else (controlled, controlling)
    )
    return (low << 32) + 2 * high + (1 if controlling > controlled else 0)


# --- foundations ----------------------------------------------------------------


def compute_foundation(
    ctype: CandidateType | str,
    base_ip: str,
    server_ip: str | None,
    transport: str,
) -> str:
    """A foundation per RFC 8445 §5.1.1.3.

    Candidates of the same type, whose bases have the same IP address, learned
    from STUN/TURN servers with the same IP address (``None`` for host
    candidates) over the same transport get the same foundation; different
    inputs get different ones (up to CRC-32 collisions). The result is a
    decimal string of at most 10 digits, stable across runs and processes.
    Addresses are compared as addresses (``2001:DB8::1`` equals ``2001:db8::1``).
    """
    found = _TYPES.get(str(ctype).lower())
    if found is None:
        raise CandidateError(
            f"candidate type: {ctype!r} is not one of host, srflx, prflx, relay"
        )
    _check_address(base_ip, "base address")
    parts: Iterable[str] = (
        found.value,
        canonical_host(base_ip),
        "" if server_ip is None else canonical_host(server_ip),
        str(transport).lower(),
    )
    if server_ip is not None:
        _check_address(server_ip, "server address")
    return str(zlib.crc32("|".join(parts).encode("ascii")))
