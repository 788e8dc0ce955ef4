"""Events the sans-IO STUN binding and TURN clients hand to their driver.

All are frozen dataclasses, pulled with ``poll_event()``.
"""

from __future__ import annotations

import dataclasses

from ..errors import ServerError
from ..types import Address

__all__ = [
    "AllocationFailed",
    "AllocationLost",
    "AllocationRedirected",
    "AllocationRefreshed",
    "AllocationSucceeded",
    "BindingFailed",
    "BindingSucceeded",
    "ChannelBindFailed",
    "ChannelBound",
    "Closed",
    "DataReceived",
    "Event",
    "PermissionCreated",
    "PermissionFailed",
]


@dataclasses.dataclass(frozen=True)
class Event:
    """Base class of the TURN and binding client events."""


@dataclasses.dataclass(frozen=True)
class BindingSucceeded(Event):
    """A Binding response arrived: *mapped* is our server-reflexive address."""

    mapped: Address
    #: seconds between the first transmission and the response
    rtt: float


@dataclasses.dataclass(frozen=True)
class BindingFailed(Event):
    """The Binding request failed (timeout or error response)."""

    error: ServerError


@dataclasses.dataclass(frozen=True)
class AllocationSucceeded(Event):
    """The server granted an allocation (RFC 8656 §7.3)."""

    relayed: Address
    mapped: Address | None
    lifetime: int


@dataclasses.dataclass(frozen=True)
class AllocationFailed(Event):
    """Allocate failed for good; :attr:`error.code` is the STUN error code."""

    error: ServerError


@dataclasses.dataclass(frozen=True)
class AllocationRedirected(Event):
    """300 Try Alternate (RFC 8489 §10): allocate again at *server*.

    The driver opens a connection to *server* (same transport) and calls
    ``allocate()`` again; a second redirect is an :class:`AllocationFailed`.
    """

    server: Address


@dataclasses.dataclass(frozen=True)
class AllocationRefreshed(Event):
    """A Refresh succeeded; the allocation now lives *lifetime* more seconds."""

    lifetime: int


@dataclasses.dataclass(frozen=True)
class AllocationLost(Event):
    """An established allocation is gone (refresh failed, 437, or expired)."""

    error: ServerError


@dataclasses.dataclass(frozen=True)
class PermissionCreated(Event):
    """The first CreatePermission for *peer_ip* succeeded (RFC 8656 §9)."""

    peer_ip: str


@dataclasses.dataclass(frozen=True)
class PermissionFailed(Event):
    """CreatePermission (or its refresh) for *peer_ip* failed."""

    peer_ip: str
    error: ServerError


@dataclasses.dataclass(frozen=True)
class ChannelBound(Event):
    """ChannelBind for *peer* succeeded: data now goes as ChannelData (RFC 8656 §12)."""

    peer: Address
    channel: int


@dataclasses.dataclass(frozen=True)
class ChannelBindFailed(Event):
    """ChannelBind (or its refresh) for *peer* failed; Send indications go on."""

    peer: Address
    error: ServerError


@dataclasses.dataclass(frozen=True)
class DataReceived(Event):
    """Data relayed from *peer* (a Data indication or ChannelData)."""

    peer: Address
    data: bytes


@dataclasses.dataclass(frozen=True)
class Closed(Event):
    """The client is closed (the Deallocate completed, failed or was skipped)."""
