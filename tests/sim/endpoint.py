"""The protocol the simulated network drives.

Any object with these five methods can be attached to a
:class:`tests.sim.network.Network`: the sans-IO ICE agent, the simulated STUN
server, or a small fake written for a test.  The simulator does not import the
ICE core, so the protocol is spelled out here as :class:`typing.Protocol`
classes.
"""

from __future__ import annotations

from typing import NamedTuple, Protocol

from icekit.types import Address

__all__ = ["Endpoint", "SimTransmit", "TransmitLike"]


class TransmitLike(Protocol):
    """A datagram an endpoint wants sent: local socket, destination and bytes.

    ``icekit.ice.Transmit`` and :class:`SimTransmit` both fit.
    """

    @property
    def socket_id(self) -> int:
        """The endpoint's local socket the datagram leaves from."""
        ...

    @property
    def dest(self) -> Address:
        """Where the datagram is addressed."""
        ...

    @property
    def data(self) -> bytes:
        """The UDP payload."""
        ...


class Endpoint(Protocol):
    """A sans-IO endpoint: inputs carry ``now``, outputs are polled."""

    def handle_stun(self, now: float, socket_id: int, src: Address, data: bytes) -> None:
        """A datagram arrived on ``socket_id`` from ``src``."""
        ...

    def handle_timeout(self, now: float) -> None:
        """The deadline last returned by :meth:`poll_timeout` has passed."""
        ...

    def poll_transmit(self) -> TransmitLike | None:
        """The next datagram to send, or ``None``."""
        ...

    def poll_timeout(self) -> float | None:
        """The next absolute deadline, or ``None`` for no deadline."""
        ...

    def poll_event(self) -> object | None:
        """The next event for the application, or ``None``."""
        ...


class SimTransmit(NamedTuple):
    """A plain :class:`TransmitLike` for fake endpoints written in tests."""

    socket_id: int
    dest: Address
    data: bytes
