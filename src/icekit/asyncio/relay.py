"""A TURN relayed "socket" on asyncio: the driver of :class:`icekit.turn.TurnClient`.

:func:`open_relay` connects to a TURN server over UDP, TCP or TLS
(``turns:``), allocates a relayed address and returns a :class:`TurnRelay`.
The relay behaves like a UDP socket bound to the relayed address:
:meth:`TurnRelay.sendto` sends to a peer (creating the permission for its IP
on first use), received datagrams go to a callback ``(data, peer)``, and
:meth:`TurnRelay.bind_channel` switches a peer to ChannelData.  It also has
the shape of the agent's UDP endpoints (``socket_id``, ``local_addr``,
``set_callbacks(on_stun, on_data)``, ``sendto``, ``close``) so the ICE agent
can use it as one more socket.

The sans-IO client gets ``now`` from the event loop's clock; stream
connections are cut into STUN and ChannelData messages with
:class:`icekit.framing.TurnStreamDecoder`.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
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
from ..errors import ConfigError, FramingError, IcekitError, TurnError
from ..turn import TransactionConfig, TurnClient, TurnClientConfig, TurnState, events
from ..types import Address
from ..uri import URI
from .srflx import TlsOptions, make_ssl_context, resolve

__all__ = [
    "DatagramCallback",
    "ReceiveCallback",
    "RelayFailure",
    "ServerFailure",
    "TurnRelay",
    "gather_relay",
    "open_relay",
]

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


class _UdpLink:
    """A connected, non-blocking UDP socket to the server, read in batches.

    The stock datagram transport reads one datagram per wake-up; relayed
    media arrives in bursts, so this reads up to :data:`_READ_BATCH` at once.
    """

    def __init__(self, relay: TurnRelay, server: Address) -> None:
        self.relay = relay
        self.loop = asyncio.get_running_loop()
        family = socket.AF_INET6 if ":" in server[0] else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_DGRAM)
        try:
            sock.setblocking(False)
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, _RCVBUF)
            sock.connect(server)  # UDP: sets the peer, no packet is sent
        except OSError as exc:
            sock.close()
            raise TurnError(
                f"cannot open a UDP socket to {server[0]}:{server[1]}: {exc}"
            ) from None
        self.sock: socket.socket | None = sock
        #: datagrams dropped because the kernel send buffer was full
        self.send_drops = 0
        self.loop.add_reader(sock.fileno(), self._readable)

    def _readable(self) -> None:
        sock = self.sock
        if sock is None:
            return
        handle = self.relay._on_server_message
        for _ in range(_READ_BATCH):
            try:
                data = sock.recv(_MAX_DATAGRAM)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                # ICMP errors (server gone): the transactions time out on their own.
                logger.debug("TURN UDP link error: %s", exc)
                return
            handle(data)
            if self.sock is None:  # closed by a callback
                return

    def send(self, data: bytes) -> None:
        sock = self.sock
        if sock is None:
            return
        try:
            sock.send(data)
        except (BlockingIOError, InterruptedError):
            # UDP semantics: drop; requests are retransmitted (RFC 8489 §6.2.1).
            self.send_drops += 1
        except OSError as exc:
            logger.debug("TURN UDP send failed: %s", exc)

    def close(self) -> None:
        sock = self.sock
        if sock is not None:
            self.sock = None
            self.loop.remove_reader(sock.fileno())
            sock.close()


class _StreamLink(asyncio.Protocol):
    """A TCP or TLS connection to the server (RFC 8656 §12.5 framing)."""

    def __init__(self, relay: TurnRelay) -> None:
        self.relay = relay
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
            self.relay._on_link_lost(TurnError(f"TURN stream framing lost: {exc}"))
            self.close()
            return
        for frame in frames:
            self.relay._on_server_message(frame)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.closing:
            reason = f": {exc}" if exc else ""
            self.relay._on_link_lost(
                TurnError(f"TURN server closed the connection{reason}")
            )

    def send(self, data: bytes) -> None:
        transport = self.transport
        if transport is None or transport.is_closing():
            return
        # Relayed data keeps UDP semantics: when the connection cannot keep
        # up, datagrams are dropped instead of queueing without bound.
        # Requests are never dropped (over TCP they are not retransmitted).
        if transport.get_write_buffer_size() > _STREAM_BUFFER_LIMIT and (
            data[0] >= 0x40 or data[:2] == _SEND_INDICATION
        ):
            self.send_drops += 1
            return
        transport.write(data)

    def close(self) -> None:
        self.closing = True
        if self.transport is not None:
            self.transport.close()


class TurnRelay:
    """A TURN allocation used like a UDP socket bound to the relayed address.

    Create one with :func:`open_relay`.  Callbacks are called from the event
    loop and must not raise (exceptions are logged and dropped).
    """

    def __init__(
        self,
        client: TurnClient,
        *,
        server: Address,
        transport: str,
        server_name: str | None,
        ssl_context: _ssl.SSLContext | None,
        socket_id: int = -1,
        on_receive: ReceiveCallback | None = None,
    ) -> None:
        self._loop = asyncio.get_running_loop()
        self.client = client
        #: the TURN server address currently used
        self.server = server
        #: "udp", "tcp" or "tls"
        self.transport = transport
        #: the id the ICE agent knows this relay by (``-1`` when unused)
        self.socket_id = socket_id
        self.on_receive: ReceiveCallback | None = on_receive
        #: called once with a :class:`TurnError` if the allocation is lost
        self.on_error: Callable[[TurnError], None] | None = None
        self.error: TurnError | None = None
        #: observer of every client event (refreshes, permissions, ...)
        self.on_event: Callable[[events.Event], None] | None = None
        self._server_name = server_name
        self._ssl = ssl_context
        self._on_stun: DatagramCallback | None = None
        self._on_data: DatagramCallback | None = None
        self._link: _UdpLink | _StreamLink | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at: float | None = None
        self._allocated: asyncio.Future[None] = self._loop.create_future()
        self._closed_event = asyncio.Event()
        self._closed = False
        self._redirecting = False
        #: datagrams relayed in each direction
        self.packets_sent = 0
        self.packets_received = 0

    # -- public API ---------------------------------------------------------------

    @property
    def relayed_address(self) -> Address:
        """The relayed transport address (XOR-RELAYED-ADDRESS)."""
        if self.client.relayed is None:
            raise TurnError("no allocation")
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
            foundation=compute_foundation(
                CandidateType.RELAY, relayed[0], self.server[0], "udp"
            ),
            component=component,
            transport="udp",
            priority=compute_priority(CandidateType.RELAY, local_pref, component),
            address=relayed[0],
            port=relayed[1],
            type=CandidateType.RELAY,
            related_address=mapped[0] if mapped else None,
            related_port=mapped[1] if mapped else None,
        )

    def set_callbacks(
        self, on_stun: DatagramCallback, on_data: DatagramCallback
    ) -> None:
        """Agent-style callbacks ``(socket_id, peer, data)``: STUN (first
        byte 0-3, RFC 7983) to *on_stun*, everything else to *on_data*."""
        self._on_stun = on_stun
        self._on_data = on_data

    def sendto(self, data: bytes, addr: Address) -> bool:
        """Relay *data* to *addr*; False if it was dropped (closed, or too
        much waiting for the peer's permission)."""
        if self._closed:
            return False
        client = self.client
        accepted = client.send_to(self._loop.time(), data, addr)
        if accepted:
            self.packets_sent += 1
        # Fast path: the datagram is the only output (no timer change).
        out = client.poll_transmit()
        link = self._link
        while out is not None:
            if link is not None:
                link.send(out)
            out = client.poll_transmit()
        self._after_input()
        return accepted

    def create_permission(self, peer_ip: str) -> None:
        """Install a permission for *peer_ip* ahead of traffic (RFC 8656 §9)."""
        if not self._closed:
            self.client.create_permission(self._loop.time(), peer_ip)
            self._service()

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
        except TurnError as exc:  # e.g. all 4096 channel numbers in use
            logger.info("TURN ChannelBind to %s not possible: %s", peer, exc)
            return False
        self._service()
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
            self._service()
            try:
                await asyncio.wait_for(self._closed_event.wait(), timeout)
            except asyncio.TimeoutError:
                logger.info(
                    "TURN server %s did not confirm the deallocation", self.server
                )
        self.close()

    def close(self) -> None:
        """Close at once (sends the Deallocate once, does not wait for it)."""
        if self._closed:
            return
        if self.client.state is TurnState.ALLOCATED:
            self.client.close(self._loop.time())
            self._flush()
        self._closed = True
        self._cancel_timer()
        if self._link is not None:
            self._link.close()
            self._link = None
        if not self._allocated.done():
            self._allocated.set_exception(TurnError("TURN relay closed"))
            self._allocated.exception()  # retrieved: nobody may be waiting
        self._closed_event.set()

    def __repr__(self) -> str:
        state = "closed" if self._closed else self.client.state.value
        return f"<TurnRelay {self.transport} {self.server} relayed={self.client.relayed} {state}>"

    # -- connection -------------------------------------------------------------------

    async def _connect(self, server: Address) -> None:
        loop = self._loop
        self.server = server
        if self.transport == "udp":
            self._link = _UdpLink(self, server)
        else:
            try:
                _, stream = await loop.create_connection(
                    lambda: _StreamLink(self),
                    server[0],
                    server[1],
                    ssl=self._ssl,
                    server_hostname=(self._server_name or server[0])
                    if self._ssl
                    else None,
                )
            except (OSError, _ssl.SSLError) as exc:
                raise TurnError(
                    f"cannot connect to TURN server {server[0]}:{server[1]} "
                    f"over {self.transport}: {exc}"
                ) from None
            self._link = stream

    async def _allocate(self) -> None:
        for attempt in range(1, _MISMATCH_ATTEMPTS + 1):
            await self._connect(self.server)
            self.client.allocate(self._loop.time())
            self._service()
            try:
                await self._allocated
                return
            except TurnError as exc:
                if exc.code != 437 or attempt == _MISMATCH_ATTEMPTS or self._closed:
                    raise
            # RFC 8656 §7.3: 437 means the server thinks our 5-tuple is in
            # use; retry from another client address (a new socket or
            # connection) with a fresh client and transaction.
            logger.info("TURN server %s: 437, retrying from a new address", self.server)
            if self._link is not None:
                self._link.close()
                self._link = None
            self._cancel_timer()
            self.client = TurnClient(self.client.config, server=self.server)
            self._allocated = self._loop.create_future()

    # -- pump -------------------------------------------------------------------------

    def _on_server_message(self, data: bytes) -> None:
        if self._closed and self.client.state is not TurnState.CLOSING:
            return
        if data and 0x40 <= data[0] <= 0x4F:
            # ChannelData (RFC 7983 range 64-79): relayed data, no state change.
            received = self.client.receive_channel_data(data)
            if received is not None:
                self.packets_received += 1
                self._deliver(received[1], received[0])
            return
        self.client.handle_data(self._loop.time(), data)
        self._service()

    def _on_link_lost(self, error: TurnError) -> None:
        if self._closed:
            return
        logger.info("%s", error)
        if self._redirecting:
            return  # the old connection closing under a redirect
        # The allocation dies with its TCP/TLS connection (RFC 8656 §3.1):
        # stop the timers, nothing more can be sent.
        self._closed = True
        self._cancel_timer()
        self._link = None
        if not self._allocated.done():
            self._allocated.set_exception(error)
        else:
            self._report_error(error)
        self._closed_event.set()

    def _flush(self) -> None:
        link = self._link
        while (data := self.client.poll_transmit()) is not None:
            if link is not None:
                link.send(data)

    def _service(self) -> None:
        self._flush()
        self._after_input()

    def _after_input(self) -> None:
        client = self.client
        while (event := client.poll_event()) is not None:
            self._dispatch(event)
        deadline = client.poll_timeout()
        if deadline is None:
            self._cancel_timer()
        elif self._timer_at is None or deadline < self._timer_at:
            # Only re-arm when the deadline moved earlier; a timer that fires
            # early finds nothing due and re-arms for the real deadline.
            self._cancel_timer()
            self._timer_at = deadline
            self._timer = self._loop.call_at(deadline, self._on_timer)

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer = None
        self._timer_at = None

    def _on_timer(self) -> None:
        self._timer = None
        self._timer_at = None
        self.client.handle_timeout(self._loop.time())
        self._service()

    def _dispatch(self, event: events.Event) -> None:
        if self.on_event is not None and not isinstance(event, events.DataReceived):
            try:
                self.on_event(event)
            except Exception:
                logger.exception("TURN relay event callback raised")
        if isinstance(event, events.DataReceived):
            self.packets_received += 1
            self._deliver(event.data, event.peer)
        elif isinstance(event, events.AllocationSucceeded):
            logger.info(
                "TURN allocation on %s: relayed %s, lifetime %d s",
                self.server,
                event.relayed,
                event.lifetime,
            )
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
            if self._on_stun is not None and data and data[0] < 4:
                self._on_stun(self.socket_id, peer, data)
            elif self._on_data is not None:
                self._on_data(self.socket_id, peer, data)
            elif self.on_receive is not None:
                self.on_receive(data, peer)
        except Exception:  # a user callback must not break the relay
            logger.exception("TURN relay receive callback raised")

    def _report_error(self, error: TurnError) -> None:
        if self.error is not None:
            return
        self.error = error
        logger.warning("TURN relay via %s lost: %s", self.server, error)
        if self.on_error is not None:
            try:
                self.on_error(error)
            except Exception:
                logger.exception("TURN relay error callback raised")

    async def _redirect(self, alternate: Address) -> None:
        # RFC 8489 §10: same transport, new server; the client allows one hop.
        logger.info("TURN server %s redirects to %s", self.server, alternate)
        self._redirecting = True
        try:
            if self._link is not None:
                self._link.close()
                self._link = None
            await self._connect(alternate)
        except TurnError as exc:
            if not self._allocated.done():
                self._allocated.set_exception(exc)
            return
        finally:
            self._redirecting = False
        if self._closed:
            return
        self.client.allocate(self._loop.time())
        self._service()


async def open_relay(
    server: str | Address | URI,
    *,
    username: str | None = None,
    password: str | None = None,
    port: int | None = None,
    transport: str = "udp",
    family: str | None = None,
    lifetime: int = 600,
    timeout: float = 10.0,
    ssl_context: _ssl.SSLContext | None = None,
    cafile: str | None = None,
    verify: bool = True,
    server_name: str | None = None,
    on_receive: ReceiveCallback | None = None,
    socket_id: int = -1,
    permission_lifetime: float = 300.0,
    channel_lifetime: float = 600.0,
    transaction: TransactionConfig | None = None,
    use_userhash: bool = False,
    software: str | None = "icekit",
    relay_private_peers: bool = False,
    tls: TlsOptions | None = None,
) -> TurnRelay:
    """Connect to a TURN server and allocate a relayed address.

    *server* is a ``turn:``/``turns:`` URL (``?transport=tcp`` selects TCP;
    ``turns:`` is TLS), an ``icekit.uri.URI`` (its username/password are
    used when not given here), a host name or address (with *port*), or an
    ``(host, port)`` tuple.  *transport* (``"udp"``, ``"tcp"``, ``"tls"``)
    applies to the last two forms.  *family* (``"ipv4"``/``"ipv6"``) asks
    for a relayed address of that family (REQUESTED-ADDRESS-FAMILY) and
    also picks the server address family.  TLS verifies the certificate
    unless ``verify=False``; *cafile* / *ssl_context* customise it.

    *tls* gives all TLS settings at once (:class:`~icekit.asyncio.srflx.TlsOptions`;
    it replaces *ssl_context*, *cafile*, *verify* and *server_name*).
    *relay_private_peers* lets the relay send to private, link-local and
    loopback peers even from a public relayed address (refused locally by
    default, see :func:`icekit.turn.permissions.relay_reaches`).

    Resolution, connection and the Allocate exchange are bounded by
    *timeout*.  Raises :class:`~icekit.errors.TurnError` (``.code`` holds the
    server's error code, e.g. 401, 441, 486, 508) on failure.
    """
    if tls is not None:
        ssl_context, cafile, verify = tls.ssl_context, tls.cafile, tls.verify
        server_name = tls.server_name or server_name
    host, port_, transport, username, password = _parse_server(
        server, port, transport, username, password
    )
    if username is None or password is None:
        raise ConfigError("a TURN server needs a username and a password")
    if transport not in ("udp", "tcp", "tls"):
        raise ConfigError(f"transport must be 'udp', 'tcp' or 'tls', not {transport!r}")
    families = {
        None: (socket.AF_INET, socket.AF_INET6),
        "ipv4": (socket.AF_INET,),
        "ipv6": (socket.AF_INET6, socket.AF_INET),
    }[family]
    config = TurnClientConfig(
        username=username,
        password=password,
        reliable=transport != "udp",
        lifetime=lifetime,
        family=family,
        use_userhash=use_userhash,
        permission_lifetime=permission_lifetime,
        channel_lifetime=channel_lifetime,
        transaction=transaction or TransactionConfig(),
        software=software,
        relay_private_peers=relay_private_peers,
    )
    context = (
        make_ssl_context(ssl_context=ssl_context, cafile=cafile, verify=verify)
        if transport == "tls"
        else None
    )
    relay: TurnRelay | None = None

    async def run() -> TurnRelay:
        nonlocal relay
        addresses = await resolve(host, port_, families=families, transport=transport)
        relay = TurnRelay(
            TurnClient(config, server=addresses[0]),
            server=addresses[0],
            transport=transport,
            server_name=server_name or host,
            ssl_context=context,
            socket_id=socket_id,
            on_receive=on_receive,
        )
        await relay._allocate()
        return relay

    try:
        return await asyncio.wait_for(run(), timeout)
    except asyncio.TimeoutError:
        if relay is not None:
            relay.close()
        raise TurnError(
            f"TURN server {host}:{port_} ({transport}) gave no allocation within {timeout} s"
        ) from None
    except BaseException:
        if relay is not None:
            relay.close()
        raise


@dataclasses.dataclass(frozen=True)
class ServerFailure:
    """A STUN or TURN server that gave no candidate, or lost its relay.

    :param server: the server's URL without credentials (``turn:host:port?transport=tcp``).
    :param family: ``"ipv4"``, ``"ipv6"`` or ``None`` when not family-specific.
    :param error: why; a :class:`~icekit.errors.TurnError` carries the
        server's error code in ``.code`` (401 bad credentials, 486 quota...),
        ``None`` for local failures (timeout, unreachable, TLS refused).
    """

    server: str
    family: str | None
    error: IcekitError

    @property
    def code(self) -> int | None:
        """The STUN error code the server answered with, if any."""
        return self.error.code if isinstance(self.error, TurnError) else None

    def __str__(self) -> str:
        family = f" ({self.family})" if self.family else ""
        return f"{self.server}{family}: {self.error}"


#: What :func:`gather_relay` returns for a TURN server that gave no relay.
RelayFailure = ServerFailure


async def gather_relay(
    server: URI,
    *,
    socket_id: int,
    family: str | None,
    timeout: float,
    tls: TlsOptions | None = None,
    relay_private_peers: bool = False,
) -> TurnRelay | RelayFailure:
    """:func:`open_relay` for candidate gathering: never raises for a bad server.

    A server that refuses the credentials, does not answer in *timeout*
    seconds, refuses the connection or fails TLS gives a :class:`RelayFailure`
    (also logged) so the agent can report it and still end gathering.
    """
    try:
        return await open_relay(
            server,
            socket_id=socket_id,
            family=family,
            timeout=timeout,
            tls=tls,
            relay_private_peers=relay_private_peers,
        )
    except IcekitError as exc:
        failure = RelayFailure(str(server), family, exc)
    except OSError as exc:  # e.g. no usable address family on this host
        failure = RelayFailure(str(server), family, TurnError(f"{exc}"))
    logger.warning("%s", failure)
    return failure


def _parse_server(
    server: object,
    port: int | None,
    transport: str,
    username: str | None,
    password: str | None,
) -> tuple[str, int, str, str | None, str | None]:
    if isinstance(server, str) and server.split(":", 1)[0].lower() in ("turn", "turns"):
        server = URI.parse(server)
    if isinstance(server, URI):
        kind = "tls" if server.is_secure else server.effective_transport
        return (
            server.host,
            server.port,
            kind,
            username if username is not None else server.username,
            password if password is not None else server.password,
        )
    if isinstance(server, tuple):
        return str(server[0]), int(server[1]), transport, username, password
    if isinstance(server, str):
        return server, port if port is not None else 3478, transport, username, password
    raise ConfigError(f"not a TURN server: {server!r}")
