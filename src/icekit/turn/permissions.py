"""Bookkeeping of TURN permissions and channel bindings (RFC 8656 §9, §12).

Pure data and timer arithmetic: the :class:`~icekit.turn.client.TurnClient`
sends the requests; these tables say what exists, what is in flight, and when
each entry must be refreshed.
"""

from __future__ import annotations

import collections
import dataclasses
from collections.abc import Iterator

from ..types import Address

__all__ = [
    "CHANNEL_MAX",
    "CHANNEL_MIN",
    "Channel",
    "ChannelTable",
    "Permission",
    "refresh_delay",
]

#: RFC 8656 §12: channel numbers 0x4000 through 0x4FFF.
CHANNEL_MIN = 0x4000
CHANNEL_MAX = 0x4FFF


def refresh_delay(lifetime: float) -> float:
    """Seconds after a grant at which to refresh something living *lifetime* s.

    RFC 8656 §8 and §9 suggest refreshing about a minute before expiry, which
    leaves room for a full UDP retransmission schedule (39.5 s); for short
    lifetimes (tests, or a stingy server) we refresh at half-life instead.
    """
    return max(lifetime / 2.0, lifetime - 60.0)


@dataclasses.dataclass
class Permission:
    """A permission for one peer IP address (RFC 8656 §9)."""

    peer_ip: str
    installed: bool = False
    in_flight: bool = False
    failed: bool = False
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
