"""Conn: the datagram connection an agent hands out once ICE has connected.

A :class:`Conn` behaves like a connected UDP socket: :meth:`Conn.read` returns
one application datagram received on a valid candidate pair (STUN never
reaches it) and :meth:`Conn.write` sends one datagram on the selected pair.
Received datagrams wait in a bounded buffer: when it is full the oldest is
dropped and counted in :attr:`Conn.dropped`, so a slow reader never blocks the
event loop nor makes memory grow without bound.
"""

from __future__ import annotations

import asyncio
import collections
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

from ..errors import (
    ClosedError,
    ConnectionFailedError,
    DatagramTooLargeError,
    IcekitError,
    InvalidStateError,
)
from ..types import Address
from .udp import UdpEndpoint

if TYPE_CHECKING:
    from .agent import Agent
    from .relay import TurnRelay

__all__ = ["Conn"]


class Conn:
    """One ICE component's datagram connection; obtained from ``Agent.dial``/``accept``.

    Example::

        conn = await agent.dial(remote_ufrag, remote_pwd)
        await conn.write(b"hello")
        reply = await conn.read()
        async for datagram in conn:   # until the agent closes
            ...
    """

    __slots__ = (
        "_agent",
        "_buffer",
        "_dest",
        "_endpoint",
        "_error",
        "_limit",
        "_local_addr",
        "_max_size",
        "_remote_addr",
        "_udp",
        "_waiters",
        "dropped",
        "received",
        "sent",
    )

    def __init__(self, agent: Agent, buffer_size: int, max_datagram_size: int) -> None:
        self._agent = agent
        self._max_size = max_datagram_size
        self._buffer: collections.deque[bytes] = collections.deque()
        self._limit = buffer_size
        # One future per pending read(), never shared: cancelling one reader
        # (e.g. by asyncio.wait_for) must not cancel the others.
        self._waiters: list[asyncio.Future[None]] = []
        self._error: IcekitError | None = None
        self._endpoint: UdpEndpoint | TurnRelay | None = None
        # The same endpoint when it is one of our UDP sockets (back-pressure).
        self._udp: UdpEndpoint | None = None
        self._dest: Address = ("", 0)
        self._local_addr: Address | None = None
        self._remote_addr: Address | None = None
        #: Datagrams dropped because the receive buffer was full.
        self.dropped = 0
        #: Datagrams delivered into the receive buffer.
        self.received = 0
        #: Datagrams handed to the socket by :meth:`write`.
        self.sent = 0

    # -- called by the agent ---------------------------------------------

    def _feed(self, data: bytes) -> None:
        """Queue one received datagram (hot path)."""
        buf = self._buffer
        if len(buf) >= self._limit:
            buf.popleft()
            self.dropped += 1
        buf.append(data)
        self.received += 1
        waiters = self._waiters
        if waiters:  # inlined _wake(): this is the per-datagram path
            for waiter in waiters:
                if not waiter.done():
                    waiter.set_result(None)
            waiters.clear()

    def _wake(self) -> None:
        waiters = self._waiters
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)
        waiters.clear()

    def _set_path(
        self,
        endpoint: UdpEndpoint | TurnRelay | None,
        dest: Address,
        local_addr: Address | None,
        remote_addr: Address | None,
    ) -> None:
        """Point writes at a new selected pair (None: no pair usable now)."""
        self._endpoint = endpoint
        self._udp = endpoint if isinstance(endpoint, UdpEndpoint) else None
        self._dest = dest
        if local_addr is not None:
            self._local_addr = local_addr
        if remote_addr is not None:
            self._remote_addr = remote_addr

    def _set_error(self, error: IcekitError) -> None:
        """Fail the connection: later calls raise ``error``; a pending read wakes."""
        if self._error is None or isinstance(error, ClosedError):
            self._error = error
        self._endpoint = None
        self._udp = None
        self._wake()

    def _clear_failure(self) -> None:
        """After an ICE restart a failed connection may work again."""
        if isinstance(self._error, ConnectionFailedError):
            self._error = None

    # -- public API ------------------------------------------------------

    @property
    def local_addr(self) -> Address | None:
        """Local address of the selected pair (None before one is selected)."""
        return self._local_addr

    @property
    def remote_addr(self) -> Address | None:
        """Remote address of the selected pair (None before one is selected)."""
        return self._remote_addr

    @property
    def closed(self) -> bool:
        """True once the agent closed or ICE failed."""
        return self._error is not None

    @property
    def buffered(self) -> int:
        """Datagrams received and not yet read."""
        return len(self._buffer)

    async def read(self) -> bytes:
        """Return the next received datagram, waiting for one if needed.

        Raises :class:`~icekit.errors.ClosedError` once the agent is closed
        (a pending read is woken by the close) and
        :class:`~icekit.errors.ConnectionFailedError` after ICE failed and the
        buffered datagrams have been read.
        """
        buf = self._buffer
        if buf and self._error is None:
            return buf.popleft()  # fast path: data waiting, connection fine
        while True:
            if buf:
                if isinstance(self._error, ClosedError):
                    raise self._error
                return buf.popleft()
            if self._error is not None:
                raise self._error
            waiter = self._agent._get_loop().create_future()
            self._waiters.append(waiter)
            try:
                await waiter
            except asyncio.CancelledError:
                # Forget it now: a polling reader (wait_for in a loop on an
                # idle connection) must not grow the list.
                if waiter in self._waiters:
                    self._waiters.remove(waiter)
                raise

    async def write(self, data: bytes) -> int:
        """Send ``data`` as one datagram on the selected pair; return its length.

        Waits only when the socket's send queue is backed up (back-pressure).
        A datagram longer than the agent's ``max_datagram_size``, or than the
        path can carry, raises :class:`~icekit.errors.DatagramTooLargeError`
        and is not sent (an icekit peer would drop it: it reads datagrams
        of at most its own ``max_datagram_size``).  A first byte of 0 to 3
        makes the datagram look like STUN to the peer, which then drops it
        (RFC 7983 §7).
        """
        if len(data) > self._max_size:
            raise DatagramTooLargeError(
                f"a datagram of {len(data)} bytes exceeds max_datagram_size ({self._max_size})"
            )
        endpoint = self._endpoint
        if endpoint is None:
            raise self._no_path_error()
        udp = self._udp
        if udp is not None and udp._queue:
            await udp.drain()
            endpoint = self._endpoint
            if endpoint is None:
                raise self._no_path_error()
        endpoint.sendto(data, self._dest)
        self.sent += 1
        return len(data)

    def _no_path_error(self) -> IcekitError:
        if self._error is not None:
            return self._error
        return InvalidStateError("no selected candidate pair: the agent is not connected")

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self

    async def __anext__(self) -> bytes:
        try:
            return await self.read()
        except ClosedError:
            raise StopAsyncIteration from None

    async def close(self) -> None:
        """Close the agent this connection belongs to (as pion's ``Conn.Close``)."""
        await self._agent.close()

    def __repr__(self) -> str:
        state = "closed" if self._error is not None else "open"
        return f"<Conn {self._local_addr} -> {self._remote_addr} {state}>"
