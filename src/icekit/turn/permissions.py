"""Bookkeeping of TURN permissions and channel bindings (RFC 8656 §9, §12).

Pure data and timer arithmetic: the :class:`~icekit.turn.client.TurnClient`
sends the requests; these tables say what exists, what is in flight, and when
each entry must be refreshed.
"""

from __future__ import annotations

import collections
import dataclasses
import ipaddress
from collections.abc import Iterator

from ..framing import CHANNEL_MAX, CHANNEL_MIN
from ..types import Address

__all__ = [
    "Channel",
    "ChannelTable",
    "Permission",
    "address_scope",
    "redirect_allowed",
    "refresh_delay",
    "relay_reaches",
]

def refresh_delay(lifetime: float) -> float:
    """Seconds after a grant at which to refresh something living *lifetime* s.

    RFC 8656 §8 and §9 suggest refreshing about a minute before expiry, which
    leaves room for a full UDP retransmission schedule (39.5 s); for short
    lifetimes (tests, or a stingy server) we refresh at half-life instead.
    """
    return max(lifetime / 2.0, lifetime - 60.0)


# Address blocks a relay on a public address cannot normally reach: RFC 1918
# private, RFC 6598 shared (carrier-grade NAT) and RFC 4193 unique local.
_PRIVATE_NETS = tuple(
    ipaddress.ip_network(net)
    for net in (
        "10.0.0.0/8",
        "172.16.0.0/12",
        "192.168.0.0/16",
        "100.64.0.0/10",
        "fc00::/7",
    )
)


def address_scope(ip: str) -> str:
    """``"loopback"``, ``"link-local"``, ``"private"`` or ``"public"`` for an IP.

    "private" means RFC 1918, RFC 6598 (shared address space) or RFC 4193
    (unique local); anything else that parses is "public" (documentation
    ranges included: they stand for public addresses in tests).  A string
    that is not an IP address counts as public (the server decides).
    """
    try:
        address = ipaddress.ip_address(ip.split("%", 1)[0])
    except ValueError:
        return "public"
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    if address.is_loopback:
        return "loopback"
    if address.is_link_local:
        return "link-local"
    if any(address in net for net in _PRIVATE_NETS):
        return "private"
    return "public"


def relay_reaches(relayed_ip: str, peer_ip: str) -> bool:
    """Whether a relay on *relayed_ip* can plausibly reach *peer_ip*.

    A relayed address on loopback reaches loopback peers only: the kernel
    will not route from a loopback source to any other address.  Otherwise a
    peer is reachable when it is public or of the same scope as the relayed
    address; a relay on a public
    address does not reach private, link-local or loopback peers.  Relaying
    there anyway is not harmless: a server without a route to such an
    address fails the send, and coturn then drops the whole allocation (the
    client sees 438 and 400 to every later request, RFC 8656 §7.3 437 to
    Refresh).
    """
    relayed = address_scope(relayed_ip)
    peer = address_scope(peer_ip)
    if relayed == "loopback":
        return peer == "loopback"
    return peer == "public" or peer == relayed


def redirect_allowed(server_ip: str | None, alternate_ip: str, *, across_scopes: bool = False) -> bool:
    """Whether a 300 Try Alternate from *server_ip* may send us to *alternate_ip*.

    ALTERNATE-SERVER (RFC 8489 §10) is the server's word, possibly unsigned
    (the first Allocate is): followed anywhere it would let a server, or
    anyone who saw the transaction id, aim our requests at loopback services,
    a private network or 169.254.169.254.  So the alternate must be of the
    server's own :func:`address_scope` (an unknown server counts as public),
    unless *across_scopes*; unspecified, multicast and reserved addresses
    are never servers.
    """
    try:
        alternate = ipaddress.ip_address(alternate_ip.split("%", 1)[0])
    except ValueError:
        return False
    if alternate.is_unspecified or alternate.is_multicast:
        return False
    if alternate.version == 4 and alternate.is_reserved:  # 240.0.0.0/4, broadcast
        return False
    original = "public" if server_ip is None else address_scope(server_ip)
    return across_scopes or address_scope(alternate_ip) == original


@dataclasses.dataclass
class Permission:
    """A permission for one peer IP address (RFC 8656 §9)."""

    peer_ip: str
    installed: bool = False
    in_flight: bool = False
    failed: bool = False
    #: refused locally: the relay cannot reach this peer (see :func:`relay_reaches`)
    refused: bool = False
    refresh_at: float | None = None
    #: data waiting for the first CreatePermission to succeed: (data, peer)
    pending: collections.deque[tuple[bytes, Address]] = dataclasses.field(
        default_factory=collections.deque
    )


@dataclasses.dataclass
class Channel:
    """A channel binding between a channel number and a peer (RFC 8656 §12)."""

    number: int
    peer: Address
    bound: bool = False
    in_flight: bool = False
    failed: bool = False
    refresh_at: float | None = None


class ChannelTable:
    """Channel numbers by peer and peers by channel number."""

    def __init__(self) -> None:
        self.by_peer: dict[Address, Channel] = {}
        self.by_number: dict[int, Channel] = {}
        self._next = CHANNEL_MIN

    def get_or_create(self, peer: Address) -> Channel | None:
        """The channel for *peer*, creating one with a fresh number (``None``
        when all 4096 numbers are taken)."""
        channel = self.by_peer.get(peer)
        if channel is not None:
            return channel
        number = self._free_number()
        if number is None:
            return None
        channel = Channel(number=number, peer=peer)
        self.by_peer[peer] = channel
        self.by_number[number] = channel
        return channel

    def remove(self, channel: Channel) -> None:
        """Forget *channel* (its number may be reused)."""
        self.by_peer.pop(channel.peer, None)
        self.by_number.pop(channel.number, None)

    def _free_number(self) -> int | None:
        for _ in range(CHANNEL_MAX - CHANNEL_MIN + 1):
            number = self._next
            self._next = CHANNEL_MIN if number >= CHANNEL_MAX else number + 1
            if number not in self.by_number:
                return number
        return None

    def __iter__(self) -> Iterator[Channel]:
        return iter(list(self.by_peer.values()))
