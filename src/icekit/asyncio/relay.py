"""A TURN relayed "socket" on asyncio, and the links to STUN/TURN servers.

:class:`TurnRelay` drives one :class:`icekit.turn.TurnClient` (through the
shared :class:`~icekit.asyncio.driver.Driver`) and behaves like a UDP socket
bound to the relayed address: :meth:`TurnRelay.sendto` sends to a peer
(creating the permission for its IP on first use), received datagrams go to
a callback ``(data, peer)``, and :meth:`TurnRelay.bind_channel` switches a
peer to ChannelData.  It also has the shape of the agent's UDP endpoints
(``socket_id``, ``local_addr``, ``set_callbacks(on_stun, on_data)``,
``sendto``, ``close``) so the ICE agent can use it as one more socket.
Open one with :func:`icekit.asyncio.servers.open_relay`.

:func:`connect` opens the link to a server: a connected UDP socket read in
batches, or a TCP/TLS connection cut into STUN and ChannelData messages by
:class:`icekit.framing.TurnStreamDecoder` (RFC 8656 §12.5).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import ssl as _ssl
from collections.abc import Callable
from typing import cast

from .. import framing
from ..candidate import (
    Candidate,
    CandidateType,
    compute_foundation,
    compute_priority,
    relay_local_preference,
)
from ..demux import is_channel_data, is_stun_candidate
from ..errors import (
    ClosedError,
    FramingError,
    InvalidStateError,
    ServerError,
    ServerUnreachableError,
    TurnError,
)
from ..turn import TurnClient, TurnState, events
from ..types import Address
from .driver import Driver

__all__ = ["DatagramCallback", "ReceiveCallback", "StreamLink", "TurnRelay", "UdpLink", "connect"]

logger = logging.getLogger(__name__)

#: Datagrams read from the server per wake-up.
_READ_BATCH = 64
#: Largest datagram read from the server (a whole UDP payload).
_MAX_DATAGRAM = 65535
#: Receive buffer asked for on the UDP link (bursts of relayed data).
_RCVBUF = 1 << 20
#: Bytes queued on a TCP/TLS connection beyond which relayed data is dropped.
_STREAM_BUFFER_LIMIT = 1 << 20
#: Message type of a Send indication (RFC 8656 §10): method 0x006, class indication.
_SEND_INDICATION = b"\x00\x16"
#: Client addresses tried after 437 Allocation Mismatch (RFC 8656 §7.3).
_MISMATCH_ATTEMPTS = 3

#: ``callback(data, peer)`` for data relayed from a peer.
ReceiveCallback = Callable[[bytes, Address], None]
#: ``callback(socket_id, peer, data)``, the agent's endpoint callback shape.
DatagramCallback = Callable[[int, Address, bytes], None]
#: ``on_message(data)``: one STUN message or ChannelData frame from the server.
MessageCallback = Callable[[bytes], None]


class UdpLink:
    """A connected, non-blocking UDP socket to a server, read in batches.

    The stock datagram transport reads one datagram per wake-up; relayed
    media arrives in bursts, so this reads up to :data:`_READ_BATCH` at once.
    """

    def __init__(self, server: Address, on_message: MessageCallback,
                 local_addr: Address | None = None) -> None:
        self.on_message = on_message
        self.loop = asyncio.get_running_loop()
        family = socket.AF_INET6 if ":" in server[0] else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_DGRAM)
        try:
            sock.setblocking(False)
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, _RCVBUF)
            if local_addr is not None:
                sock.bind(local_addr)
            sock.connect(server)  # UDP: sets the peer, no packet is sent
        except OSError as exc:
            sock.close()
            raise ServerUnreachableError(
                f"cannot open a UDP socket to {server[0]}:{server[1]}: {exc}"
            ) from None
        self.sock: socket.socket | None = sock
        #: datagrams dropped because the kernel send buffer was full
        self.send_drops = 0
        self.loop.add_reader(sock.fileno(), self._readable)

    def _readable(self) -> None:
        for _ in range(_READ_BATCH):
            sock = self.sock
            if sock is None:  # closed by a callback
                return
            try:
                data = sock.recv(_MAX_DATAGRAM)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                # ICMP errors (server gone): the transactions time out on their own.
                logger.debug("UDP link to the server: %s", exc)
                return
            self.on_message(data)

    def send(self, data: bytes) -> None:
        """Send one datagram; dropped (and counted) when the kernel buffer is full."""
        sock = self.sock
        if sock is None:
            return
        try:
            sock.send(data)
        except (BlockingIOError, InterruptedError):
            # UDP semantics: drop; requests are retransmitted (RFC 8489 §6.2.1).
            self.send_drops += 1
        except OSError as exc:
            logger.debug("UDP send to the server failed: %s", exc)

    def close(self) -> None:
        """Close the socket (idempotent)."""
        sock = self.sock
        if sock is not None:
            self.sock = None
            self.loop.remove_reader(sock.fileno())
            sock.close()


class StreamLink(asyncio.Protocol):
    """A TCP or TLS connection to a server (RFC 8656 §12.5 framing).

    ``on_lost(error)`` is called once when the connection ends or its framing
    is lost, unless :meth:`close` ended it.
    """

    def __init__(self, on_message: MessageCallback,
                 on_lost: Callable[[ServerError], None]) -> None:
        self.on_message = on_message
        self.on_lost = on_lost
        self.transport: asyncio.Transport | None = None
        self.decoder = framing.TurnStreamDecoder()
        self.closing = False
        #: datagrams dropped because the connection's send buffer was full
        self.send_drops = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        try:
            frames = self.decoder.feed(data)
        except FramingError as exc:
            self._lost(ServerUnreachableError(f"stream framing to the server lost: {exc}"))
            self.close()
            return
        for frame in frames:
            self.on_message(frame)

    def connection_lost(self, exc: Exception | None) -> None:
        reason = f": {exc}" if exc else ""
        self._lost(ServerUnreachableError(f"the server closed the connection{reason}"))

    def _lost(self, error: ServerError) -> None:
        if not self.closing:
            self.closing = True
            self.on_lost(error)

    def send(self, data: bytes) -> None:
        """Write one message; relayed data is dropped (and counted) when the
        connection cannot keep up, requests never (over TCP they are not
        retransmitted)."""
        transport = self.transport
        if transport is None or transport.is_closing():
            return
        if transport.get_write_buffer_size() > _STREAM_BUFFER_LIMIT and (
            is_channel_data(data) or data[:2] == _SEND_INDICATION
        ):
            self.send_drops += 1
            return
        transport.write(data)

    def close(self) -> None:
        """Close the connection (idempotent); ``on_lost`` is not called."""
        self.closing = True
        if self.transport is not None:
            self.transport.close()


async def connect(server: Address, transport: str, on_message: MessageCallback,
                  on_lost: Callable[[ServerError], None], *,
                  ssl_context: _ssl.SSLContext | None = None, server_name: str | None = None,
                  local_addr: Address | None = None) -> UdpLink | StreamLink:
    """Open the link to *server* over ``"udp"``, ``"tcp"`` or ``"tls"``
    (*ssl_context* required for TLS); :class:`ServerUnreachableError` on failure."""
    if transport == "udp":
        return UdpLink(server, on_message, local_addr)
    loop = asyncio.get_running_loop()
    try:
        _, link = await loop.create_connection(
            lambda: StreamLink(on_message, on_lost), server[0], server[1],
            ssl=ssl_context, local_addr=local_addr,
            server_hostname=(server_name or server[0]) if ssl_context else None,
        )
    except (OSError, _ssl.SSLError) as exc:
        raise ServerUnreachableError(
            f"cannot connect to {server[0]}:{server[1]} over {transport}: {exc}"
        ) from None
    return link


class TurnRelay:
    """A TURN allocation used like a UDP socket bound to the relayed address.

    Callbacks are called from the event loop and must not raise (exceptions
    are logged and dropped).
    """

    def __init__(self, client: TurnClient, *, server: Address, transport: str,
                 server_name: str | None = None, ssl_context: _ssl.SSLContext | None = None,
                 socket_id: int = -1) -> None:
        self._loop = asyncio.get_running_loop()
        self.client = client
        #: the TURN server address currently used
        self.server = server
        #: "udp", "tcp" or "tls"
        self.transport = transport
        #: the id the ICE agent knows this relay by (``-1`` when unused)
        self.socket_id = socket_id
        #: ``callback(data, peer)`` for relayed data (when no agent callbacks are set)
        self.on_receive: ReceiveCallback | None = None
        #: called once with the error if the allocation is lost
        self.on_error: Callable[[ServerError], None] | None = None
        self.error: ServerError | None = None
        #: observer of every client event (refreshes, permissions, ...)
        self.on_event: Callable[[events.Event], None] | None = None
        self._server_name = server_name
        self._ssl = ssl_context
        self._on_stun: DatagramCallback | None = None
        self._on_data: DatagramCallback | None = None
        self._link: UdpLink | StreamLink | None = None
        self._driver: Driver[bytes, events.Event] = Driver(
            self._loop, client, self._send, self._dispatch
        )
        self._allocated: asyncio.Future[None] = self._loop.create_future()
        self._closed_event = asyncio.Event()
        self._closed = False
        #: datagrams relayed in each direction
        self.packets_sent = 0
        self.packets_received = 0

    # -- public API ---------------------------------------------------------------

    @property
    def relayed_address(self) -> Address:
        """The relayed transport address (XOR-RELAYED-ADDRESS)."""
        if self.client.relayed is None:
            raise InvalidStateError("no allocation")
        return self.client.relayed

    @property
    def mapped_address(self) -> Address | None:
        """Our address as the server saw it (XOR-MAPPED-ADDRESS), if sent."""
        return self.client.mapped

    @property
    def local_addr(self) -> Address:
        """The relayed address (the "bound" address of this socket)."""
        return self.relayed_address

    @property
    def closed(self) -> bool:
        """True once :meth:`close` ran or the allocation was lost."""
        return self._closed

    @property
    def send_drops(self) -> int:
        """Datagrams dropped because the link to the server could not keep up."""
        return self._link.send_drops if self._link is not None else 0

    @property
    def lifetime(self) -> int | None:
        """Seconds the server last granted the allocation."""
        return self.client.lifetime

    def candidate(self, component: int = 1, other_pref: int = 16383) -> Candidate:
        """The relayed candidate of this allocation (RFC 8445 §5.1.1.2).

        Its priority ranks relays reached over UDP above TCP above TLS
        (:func:`icekit.candidate.relay_local_preference`); its related
        address is the mapped address the server saw (RFC 8839 §5.1), and its
        foundation depends on the TURN server's IP (RFC 8445 §5.1.1.3).
        """
        relayed = self.relayed_address
        mapped = self.mapped_address
        local_pref = relay_local_preference(self.transport, other_pref)
        return Candidate(
            foundation=compute_foundation(CandidateType.RELAY, relayed[0], self.server[0], "udp"),
            component=component,
            transport="udp",
            priority=compute_priority(CandidateType.RELAY, local_pref, component),
            address=relayed[0],
            port=relayed[1],
            type=CandidateType.RELAY,
            related_address=mapped[0] if mapped else None,
            related_port=mapped[1] if mapped else None,
        )

    def set_callbacks(self, on_stun: DatagramCallback, on_data: DatagramCallback) -> None:
        """Agent-style callbacks ``(socket_id, peer, data)``: STUN (RFC 7983)
        to *on_stun*, everything else to *on_data*."""
        self._on_stun = on_stun
        self._on_data = on_data

    def sendto(self, data: bytes, addr: Address) -> bool:
        """Relay *data* to *addr*; False if it was dropped (closed, or too
        much waiting for the peer's permission)."""
        if self._closed:
            return False
        accepted = self.client.send_to(self._loop.time(), data, addr)
        if accepted:
            self.packets_sent += 1
        self._driver.after_input()
        return accepted

    def create_permission(self, peer_ip: str) -> None:
        """Install a permission for *peer_ip* ahead of traffic (RFC 8656 §9)."""
        if not self._closed:
            self.client.create_permission(self._loop.time(), peer_ip)
            self._driver.after_input()

    def bind_channel(self, peer: Address) -> bool:
        """Bind a channel to *peer*: ChannelData from then on (RFC 8656 §11).

        Meant for the peer of the selected pair when this relay is its local
        candidate; Send indications carry the data until the server confirms
        the binding, and the binding is refreshed while the relay lives.
        Never raises: returns False when the relay cannot bind (closed, not
        allocated, or the peer unreachable from the relay; the reason comes
        as a :class:`~icekit.turn.events.ChannelBindFailed` to :attr:`on_event`).
        """
        if self._closed or self.client.state is not TurnState.ALLOCATED:
            return False
        try:
            self.client.bind_channel(self._loop.time(), peer)
        except InvalidStateError as exc:  # e.g. all 4096 channel numbers in use
            logger.info("TURN ChannelBind to %s not possible: %s", peer, exc)
            return False
        self._driver.after_input()
        return self.client.reaches(peer[0])

    def has_permission(self, peer_ip: str) -> bool:
        """True once the server confirmed a permission for *peer_ip*."""
        return self.client.has_permission(peer_ip)

    def channel_for(self, peer: Address) -> int | None:
        """The bound channel number of *peer*, if any."""
        return self.client.channel_for(peer)

    async def aclose(self, timeout: float = 2.0) -> None:
        """Deallocate (Refresh LIFETIME 0), waiting at most *timeout* s, then close."""
        if self._closed:
            return
        if self.client.state is TurnState.ALLOCATED:
            self.client.close(self._loop.time())
            self._driver.after_input()
            try:
                await asyncio.wait_for(self._closed_event.wait(), timeout)
            except asyncio.TimeoutError:
                logger.info("TURN server %s did not confirm the deallocation", self.server)
        self.close()

    def close(self) -> None:
        """Close at once (sends the Deallocate once, does not wait for it)."""
        if self._closed:
            return
        if self.client.state is TurnState.ALLOCATED:
            self.client.close(self._loop.time())
            self._driver.after_input()
        self._closed = True
        self._driver.close()
        self._close_link()
        if not self._allocated.done():
            self._allocated.set_exception(ClosedError("TURN relay closed"))
            self._allocated.exception()  # retrieved: nobody may be waiting
        self._closed_event.set()

    def __repr__(self) -> str:
        state = "closed" if self._closed else self.client.state.value
        return f"<TurnRelay {self.transport} {self.server} relayed={self.client.relayed} {state}>"

    # -- allocation -------------------------------------------------------------------

    async def allocate(self) -> None:
        """Connect and allocate; raises :class:`~icekit.errors.ServerError` on failure.

        A 437 answer is retried from a new client address (RFC 8656 §7.3:
        the server thinks our 5-tuple is in use), :data:`_MISMATCH_ATTEMPTS`
        addresses in all.
        """
        for attempt in range(1, _MISMATCH_ATTEMPTS + 1):
            await self._start(self.server)
            try:
                await self._allocated
                return
            except TurnError as exc:
                if exc.code != 437 or attempt == _MISMATCH_ATTEMPTS or self._closed:
                    raise
            logger.info("TURN server %s: 437, retrying from a new address", self.server)
            self._close_link()
            self._driver.close()
            self.client = TurnClient(self.client.config, server=self.server)
            self._driver = Driver(self._loop, self.client, self._send, self._dispatch)
            self._allocated = self._loop.create_future()

    async def _start(self, server: Address) -> None:
        self.server = server
        self._link = await connect(server, self.transport, self._on_server_message,
                                   self._on_link_lost, ssl_context=self._ssl,
                                   server_name=self._server_name)
        if self._closed:
            self._close_link()
            return
        self.client.allocate(self._loop.time())
        self._driver.after_input()

    async def _redirect(self, alternate: Address) -> None:
        # RFC 8489 §10: same transport, new server; the client bounds the hops
        # and the address scopes (icekit.turn.permissions.redirect_allowed).
        logger.info("TURN server %s redirects to %s", self.server, alternate)
        self._close_link()
        try:
            await self._start(alternate)
        except ServerError as exc:
            if not self._allocated.done():
                self._allocated.set_exception(exc)

    # -- pump -------------------------------------------------------------------------

    def _send(self, data: bytes) -> None:
        if self._link is not None:
            self._link.send(data)

    def _close_link(self) -> None:
        if self._link is not None:
            self._link.close()
            self._link = None

    def _on_server_message(self, data: bytes) -> None:
        if self._closed and self.client.state is not TurnState.CLOSING:
            return
        now = self._loop.time()
        if is_channel_data(data):
            # Relayed data, no state change: the fast path.
            received = self.client.receive_channel_data(now, data)
            if received is not None:
                self.packets_received += 1
                self._deliver(received[1], received[0])
            return
        self.client.handle_data(now, data)
        self._driver.after_input()

    def _on_link_lost(self, error: ServerError) -> None:
        if self._closed:
            return
        logger.info("TURN server %s: %s", self.server, error)
        # The allocation dies with its TCP/TLS connection (RFC 8656 §3.1):
        # stop the timers, nothing more can be sent.
        self._closed = True
        self._driver.close()
        self._link = None
        if not self._allocated.done():
            self._allocated.set_exception(error)
        else:
            self._report_error(error)
        self._closed_event.set()

    def _dispatch(self, event: events.Event) -> None:
        if isinstance(event, events.DataReceived):
            self.packets_received += 1
            self._deliver(event.data, event.peer)
            return
        if self.on_event is not None:
            try:
                self.on_event(event)
            except Exception:
                logger.exception("TURN relay event callback raised")
        if isinstance(event, events.AllocationSucceeded):
            logger.info("TURN allocation on %s: relayed %s, lifetime %d s",
                        self.server, event.relayed, event.lifetime)
            if not self._allocated.done():
                self._allocated.set_result(None)
        elif isinstance(event, events.AllocationFailed):
            if not self._allocated.done():
                self._allocated.set_exception(event.error)
        elif isinstance(event, events.AllocationRedirected):
            asyncio.ensure_future(self._redirect(event.server))
        elif isinstance(event, events.AllocationLost):
            # Nothing can be relayed any more: release the socket and timers
            # (the state is FAILED, so close() sends no Deallocate).
            self._report_error(event.error)
            self._loop.call_soon(self.close)
        elif isinstance(event, (events.PermissionFailed, events.ChannelBindFailed)):
            logger.info("%s", event.error)
        elif isinstance(event, events.Closed):
            self._closed_event.set()

    def _deliver(self, data: bytes, peer: Address) -> None:
        try:
            if self._on_stun is not None and is_stun_candidate(data):
                self._on_stun(self.socket_id, peer, data)
            elif self._on_data is not None:
                self._on_data(self.socket_id, peer, data)
            elif self.on_receive is not None:
                self.on_receive(data, peer)
        except Exception:  # a user callback must not break the relay
            logger.exception("TURN relay receive callback raised")

    def _report_error(self, error: ServerError) -> None:
        if self.error is not None:
            return
        self.error = error
        logger.warning("TURN relay via %s lost: %s", self.server, error)
        if self.on_error is not None:
            try:
                self.on_error(error)
            except Exception:
                logger.exception("TURN relay error callback raised")
