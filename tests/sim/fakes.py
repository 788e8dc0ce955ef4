"""Small fake endpoints for testing the simulator without the ICE core.

They speak just enough STUN (a bare 20-byte header, RFC 8489 §5) for the
network to classify their datagrams, and they follow the
:class:`~tests.sim.endpoint.Endpoint` protocol.
"""

from __future__ import annotations

import struct
from collections import deque
from dataclasses import dataclass

from icekit.types import Address

from .endpoint import SimTransmit
from .trace import stun_kind

__all__ = ["Echo", "Pinger", "Pong", "Recorder", "stun_header"]

_COOKIE = 0x2112A442
_BINDING_REQUEST = 0x0001
_BINDING_SUCCESS = 0x0101


def stun_header(msg_type: int, txid: bytes) -> bytes:
    """A STUN message with no attributes (``txid`` is 12 bytes)."""
    if len(txid) != 12:
        raise ValueError("a STUN transaction id is 12 bytes")
    return struct.pack("!HHI", msg_type, 0, _COOKIE) + txid


class Recorder:
    """Records every datagram it gets and sends what a test queues."""

    def __init__(self) -> None:
        self.received: list[tuple[float, int, Address, bytes]] = []
        self._out: deque[SimTransmit] = deque()

    def queue(self, socket_id: int, dest: Address, data: bytes) -> None:
        """Queue a datagram; it leaves at the network's next drain."""
        self._out.append(SimTransmit(socket_id, dest, data))

    def sources(self) -> list[Address]:
        """The source address of every datagram received, in order."""
        return [src for _, _, src, _ in self.received]

    def handle_stun(self, now: float, socket_id: int, src: Address, data: bytes) -> None:
        """Record the datagram."""
        self.received.append((now, socket_id, src, data))

    def handle_timeout(self, now: float) -> None:
        """Never called: a recorder has no deadline."""

    def poll_transmit(self) -> SimTransmit | None:
        """The next queued datagram."""
        return self._out.popleft() if self._out else None

    def poll_timeout(self) -> float | None:
        """No deadline."""
        return None

    def poll_event(self) -> object | None:
        """No events."""
        return None


class Echo(Recorder):
    """Answers every STUN-looking Binding request with a bare success response."""

    def handle_stun(self, now: float, socket_id: int, src: Address, data: bytes) -> None:
        """Record, and answer requests to their source."""
        super().handle_stun(now, socket_id, src, data)
        kind = stun_kind(data)
        if kind == (1, "request"):
            self.queue(socket_id, src, stun_header(_BINDING_SUCCESS, data[8:20]))


@dataclass(frozen=True)
class Pong:
    """Event: the answer to ping number ``n`` arrived after ``rtt`` seconds."""

    n: int
    rtt: float


class Pinger:
    """Sends ``count`` Binding-request-shaped pings, one every ``interval``.

    The first ping goes out at ``start``.  Each matching response produces a
    :class:`Pong` event.
    """

    def __init__(self, socket_id: int, dest: Address, *, interval: float = 1.0,
                 count: int = 10, start: float = 0.0) -> None:
        self.socket_id = socket_id
        self.dest = dest
        self.interval = interval
        self.count = count
        self.sent: list[float] = []
        self.pongs: list[Pong] = []
        self.timeouts_handled: list[float] = []
        self._next: float | None = start if count > 0 else None
        self._out: deque[SimTransmit] = deque()
        self._events: deque[Pong] = deque()
        self._answered: set[int] = set()

    def handle_stun(self, now: float, socket_id: int, src: Address, data: bytes) -> None:
        """Match a response to the ping it answers."""
        if stun_kind(data) != (1, "success"):
            return
        n = int.from_bytes(data[8:20], "big")
        if 0 <= n < len(self.sent) and n not in self._answered:
            self._answered.add(n)
            pong = Pong(n, now - self.sent[n])
            self.pongs.append(pong)
            self._events.append(pong)

    def handle_timeout(self, now: float) -> None:
        """Send every ping that is due."""
        self.timeouts_handled.append(now)
        while self._next is not None and self._next <= now:
            n = len(self.sent)
            self.sent.append(now)
            self._out.append(SimTransmit(self.socket_id, self.dest,
                                         stun_header(_BINDING_REQUEST, n.to_bytes(12, "big"))))
            self._next = self._next + self.interval if len(self.sent) < self.count else None

    def poll_transmit(self) -> SimTransmit | None:
        """The next ping to send."""
        return self._out.popleft() if self._out else None

    def poll_timeout(self) -> float | None:
        """When the next ping is due."""
        return self._next

    def poll_event(self) -> Pong | None:
        """The next :class:`Pong`."""
        return self._events.popleft() if self._events else None
