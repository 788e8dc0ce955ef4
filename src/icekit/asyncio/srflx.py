"""Server-reflexive address discovery on asyncio (RFC 8489 §6, RFC 8445 §5.1.1.2).

Three layers, from the most integrated to the most standalone:

* :class:`SrflxGatherer` runs Binding requests from sockets someone else
  owns (the agent's host sockets, whose address is the srflx candidate's
  base): it sends through a ``send(data, server)`` function and is fed the
  STUN datagrams that arrive on those sockets through :meth:`handle_stun`.
* :func:`discover_srflx` opens its own UDP socket, TCP connection or TLS
  connection (``stuns:``) to a server and returns the mapped address.
* :func:`resolve` turns a URL host into addresses, asynchronously, for the
  address families asked for.

Requests follow the RFC 8489 §6.2.1 schedule (a lost datagram is
retransmitted) and everything is bounded by a gathering timeout.
"""

from __future__ import annotations

import asyncio
import dataclasses
import ipaddress
import logging
import socket
import ssl as _ssl
from collections.abc import Callable, Iterable, Sequence
from typing import Any, cast

from .. import framing
from ..errors import ConfigError, FramingError, TurnError
from ..turn import BindingClient, TransactionConfig, events
from ..types import Address
from ..uri import URI

__all__ = [
    "SrflxGatherer",
    "SrflxResult",
    "TlsOptions",
    "discover_srflx",
    "make_ssl_context",
    "resolve",
    "unique_srflx",
]

logger = logging.getLogger(__name__)

#: Send function of a socket owned by the caller: ``send(data, destination)``.
SendFunction = Callable[[bytes, Address], object]


async def resolve(
    host: str,
    port: int,
    *,
    families: Iterable[int] = (socket.AF_INET, socket.AF_INET6),
    transport: str = "udp",
) -> list[Address]:
    """Resolve *host* asynchronously to ``(ip, port)`` pairs of the families asked for.

    IP literals are returned as they are (without a lookup). Raises
    :class:`~icekit.errors.TurnError` when nothing usable comes back.
    """
    wanted = tuple(families)
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        pass
    else:
        family = socket.AF_INET6 if ip.version == 6 else socket.AF_INET
        if family not in wanted:
            raise TurnError(f"{host} is not of a requested address family")
        return [(str(ip), port)]
    loop = asyncio.get_running_loop()
    sock_type = socket.SOCK_DGRAM if transport == "udp" else socket.SOCK_STREAM
    try:
        infos = await loop.getaddrinfo(host, port, type=sock_type)
    except (OSError, UnicodeError) as exc:
        raise TurnError(f"cannot resolve {host!r}: {exc}") from None
    out: list[Address] = []
    for family, _, _, _, sockaddr in infos:
        if family in wanted:
            addr = (str(sockaddr[0]).split("%", 1)[0], int(sockaddr[1]))
            if addr not in out:
                out.append(addr)
    if not out:
        raise TurnError(f"{host!r} has no address of a requested family")
    return out


@dataclasses.dataclass(frozen=True)
class TlsOptions:
    """TLS settings for ``stuns:`` and ``turns:`` servers, passed as one value.

    :param cafile: extra trusted roots (PEM), e.g. a test server's certificate.
    :param ssl_context: a complete context; wins over *cafile* and *verify*.
    :param verify: False turns certificate and host name checks off (test
        servers only).
    :param server_name: the name to check the certificate against (SNI) when
        it differs from the URL's host.
    """

    cafile: str | None = None
    ssl_context: _ssl.SSLContext | None = None
    verify: bool = True
    server_name: str | None = None

    def context(self) -> _ssl.SSLContext:
        """The TLS context these options describe (see :func:`make_ssl_context`)."""
        return make_ssl_context(
            ssl_context=self.ssl_context, cafile=self.cafile, verify=self.verify
        )


def make_ssl_context(
    *,
    ssl_context: _ssl.SSLContext | None = None,
    cafile: str | None = None,
    verify: bool = True,
) -> _ssl.SSLContext:
    """The TLS context for ``stuns:``/``turns:``: verifying by default.

    *ssl_context* wins if given; *cafile* adds trusted roots (e.g. a test
    server's self-signed certificate); ``verify=False`` turns certificate
    and host name checks off (test servers only). An unreadable CA file
    raises :class:`~icekit.errors.ConfigError`.
    """
    if ssl_context is not None:
        return ssl_context
    try:
        context = _ssl.create_default_context(cafile=cafile)
    except (OSError, _ssl.SSLError) as exc:
        raise ConfigError(f"cannot load the CA file {cafile!r}: {exc}") from None
    if not verify:
        context.check_hostname = False
        context.verify_mode = _ssl.CERT_NONE
    return context


@dataclasses.dataclass(frozen=True)
class SrflxResult:
    """The outcome of one Binding request sent from one local socket."""

    base: Address
    server: Address
    mapped: Address | None
    error: TurnError | None = None

    @property
    def ok(self) -> bool:
        """True when a mapped address was learned."""
        return self.mapped is not None


class _Probe:
    def __init__(
        self, binding: BindingClient, send: SendFunction, base: Address, server: Address
    ):
        self.binding = binding
        self.send = send
        self.base = base
        self.server = server
        self.timer: asyncio.TimerHandle | None = None
        self.done: asyncio.Future[SrflxResult] = (
            asyncio.get_running_loop().create_future()
        )


class SrflxGatherer:
    """Binding requests sent from sockets owned by the caller.

    Call :meth:`start` once per (local socket, STUN server), route every STUN
    datagram received on those sockets to :meth:`handle_stun` (it returns
    True for the responses it consumed), and await :meth:`results`, bounded
    by *timeout*.
    """

    def __init__(
        self,
        *,
        config: TransactionConfig | None = None,
        software: str | None = None,
    ) -> None:
        self.config = config or TransactionConfig()
        self.software = software
        self._probes: dict[bytes, _Probe] = {}
        self._loop = asyncio.get_running_loop()

    def start(self, send: SendFunction, base: Address, server: Address) -> None:
        """Send a Binding request from the socket *send* writes to, towards *server*."""
        binding = BindingClient(config=self.config, software=self.software)
        probe = _Probe(binding, send, base, server)
        self._probes[binding.transaction_id] = probe
        binding.start(self._loop.time())
        self._service(probe)

    def handle_stun(self, data: bytes, src: Address) -> bool:
        """Feed a STUN datagram received on one of the sockets; True if ours."""
        if len(data) < 20:
            return False
        probe = self._probes.get(bytes(data[8:20]))
        if probe is None or probe.done.done():
            return False
        if not probe.binding.handle_data(self._loop.time(), data):
            return False
        self._service(probe)
        return True

    @property
    def pending(self) -> int:
        """Requests still waiting for an answer."""
        return sum(1 for p in self._probes.values() if not p.done.done())

    async def results(self, timeout: float) -> list[SrflxResult]:
        """Wait (at most *timeout* seconds) for every request; return all outcomes.

        Requests still unanswered at the deadline are reported as timed out.
        """
        futures = [p.done for p in self._probes.values()]
        if futures:
            await asyncio.wait(futures, timeout=timeout)
        out = []
        for probe in self._probes.values():
            if probe.done.done():
                out.append(probe.done.result())
            else:
                out.append(
                    SrflxResult(
                        probe.base,
                        probe.server,
                        None,
                        TurnError(
                            f"no Binding response within the {timeout} s gathering timeout"
                        ),
                    )
                )
        self.close()
        return out

    def close(self) -> None:
        """Stop every timer (idempotent)."""
        for probe in self._probes.values():
            if probe.timer is not None:
                probe.timer.cancel()
                probe.timer = None
            if not probe.done.done():
                probe.done.cancel()

    def _service(self, probe: _Probe) -> None:
        binding = probe.binding
        while (data := binding.poll_transmit()) is not None:
            try:
                probe.send(data, probe.server)
            except OSError as exc:  # e.g. no route: the timer gives up later
                logger.debug("Binding request to %s not sent: %s", probe.server, exc)
        while (event := binding.poll_event()) is not None:
            if probe.done.done():
                continue
            if isinstance(event, events.BindingSucceeded):
                probe.done.set_result(
                    SrflxResult(probe.base, probe.server, event.mapped)
                )
            elif isinstance(event, events.BindingFailed):
                logger.info("STUN server %s: %s", probe.server, event.error)
                probe.done.set_result(
                    SrflxResult(probe.base, probe.server, None, event.error)
                )
        if probe.timer is not None:
            probe.timer.cancel()
            probe.timer = None
        deadline = binding.poll_timeout()
        if deadline is not None and not probe.done.done():
            probe.timer = self._loop.call_at(deadline, self._on_timer, probe)

    def _on_timer(self, probe: _Probe) -> None:
        probe.timer = None
        probe.binding.handle_timeout(self._loop.time())
        self._service(probe)


def unique_srflx(results: Sequence[SrflxResult]) -> list[SrflxResult]:
    """Successful results, without a srflx equal to its base and one per
    (base, mapped address) (RFC 8445 §5.1.3: redundant candidates are removed)."""
    seen: set[tuple[Address, Address]] = set()
    out = []
    for result in results:
        if result.mapped is None or result.mapped == result.base:
            continue
        key = (result.base, result.mapped)
        if key in seen:
            continue
        seen.add(key)
        out.append(result)
    return out


class _UdpProtocol(asyncio.DatagramProtocol):
    def __init__(self, on_data: Callable[[bytes, Address], None]) -> None:
        self.on_data = on_data

    def datagram_received(self, data: bytes, addr: tuple[str | Any, ...]) -> None:
        self.on_data(data, (str(addr[0]), int(addr[1])))

    def error_received(self, exc: Exception) -> None:
        logger.debug("STUN UDP socket error: %s", exc)


class _StreamProtocol(asyncio.Protocol):
    def __init__(self, on_frame: Callable[[bytes], None]) -> None:
        self.on_frame = on_frame
        self.decoder = framing.TurnStreamDecoder()
        self.transport: asyncio.Transport | None = None
        self.lost: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        try:
            frames = self.decoder.feed(data)
        except FramingError as exc:
            logger.info("STUN stream framing lost: %s", exc)
            if self.transport is not None:
                self.transport.close()
            return
        for frame in frames:
            self.on_frame(frame)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.lost.done():
            self.lost.set_result(None)


async def discover_srflx(
    server: str | Address,
    *,
    port: int | None = None,
    transport: str = "udp",
    local_addr: Address | None = None,
    timeout: float = 5.0,
    config: TransactionConfig | None = None,
    ssl_context: _ssl.SSLContext | None = None,
    cafile: str | None = None,
    verify: bool = True,
    families: Iterable[int] = (socket.AF_INET, socket.AF_INET6),
) -> Address:
    """Ask a STUN server for our reflexive address from a socket of our own.

    *server* is a host name or address (with *port*), or an ``(host, port)``
    tuple, or a ``stun:``/``stuns:`` URL. *transport* is ``"udp"``,
    ``"tcp"`` or ``"tls"``. The whole exchange (resolution, connection,
    retransmissions) is bounded by *timeout*. Raises
    :class:`~icekit.errors.TurnError` on failure.
    """
    host, port, transport = _server_spec(server, port, transport)
    if transport not in ("udp", "tcp", "tls"):
        raise ConfigError(f"transport must be 'udp', 'tcp' or 'tls', not {transport!r}")
    try:
        return await asyncio.wait_for(
            _discover(
                host,
                port,
                transport,
                local_addr,
                config,
                ssl_context,
                cafile,
                verify,
                tuple(families),
            ),
            timeout,
        )
    except asyncio.TimeoutError:
        raise TurnError(
            f"STUN server {host}:{port} did not answer within {timeout} s"
        ) from None


def _server_spec(
    server: str | Address, port: int | None, transport: str
) -> tuple[str, int, str]:
    if isinstance(server, tuple):
        return server[0], server[1], transport
    if ":" in server and server.split(":", 1)[0].lower() in (
        "stun",
        "stuns",
        "turn",
        "turns",
    ):
        uri = URI.parse(server)
        kind = "tls" if uri.is_secure else uri.effective_transport
        return uri.host, uri.port, kind
    return server, port if port is not None else 3478, transport


async def _discover(
    host: str,
    port: int,
    transport: str,
    local_addr: Address | None,
    config: TransactionConfig | None,
    ssl_context: _ssl.SSLContext | None,
    cafile: str | None,
    verify: bool,
    families: tuple[int, ...],
) -> Address:
    loop = asyncio.get_running_loop()
    addresses = await resolve(host, port, families=families, transport=transport)
    target = addresses[0]
    binding = BindingClient(reliable=transport != "udp", config=config)
    finished: asyncio.Future[Address] = loop.create_future()
    timer: asyncio.TimerHandle | None = None
    send: Callable[[bytes], None]

    def service() -> None:
        nonlocal timer
        while (data := binding.poll_transmit()) is not None:
            send(data)
        while (event := binding.poll_event()) is not None:
            if finished.done():
                continue
            if isinstance(event, events.BindingSucceeded):
                finished.set_result(event.mapped)
            elif isinstance(event, events.BindingFailed):
                finished.set_exception(event.error)
        if timer is not None:
            timer.cancel()
        deadline = binding.poll_timeout()
        timer = loop.call_at(deadline, on_timer) if deadline is not None else None

    def on_timer() -> None:
        binding.handle_timeout(loop.time())
        service()

    def on_message(data: bytes) -> None:
        if binding.handle_data(loop.time(), data):
            service()

    closer: Callable[[], None]
    if transport == "udp":
        family = socket.AF_INET6 if ":" in target[0] else socket.AF_INET
        udp, _ = await loop.create_datagram_endpoint(
            lambda: _UdpProtocol(lambda data, _src: on_message(data)),
            local_addr=local_addr,
            remote_addr=target,
            family=family,
        )
        send = udp.sendto
        closer = udp.close
    else:
        context = (
            make_ssl_context(ssl_context=ssl_context, cafile=cafile, verify=verify)
            if transport == "tls"
            else None
        )
        try:
            stream, protocol = await loop.create_connection(
                lambda: _StreamProtocol(on_message),
                target[0],
                target[1],
                ssl=context,
                server_hostname=host if context is not None else None,
                local_addr=local_addr,
            )
        except (OSError, _ssl.SSLError) as exc:
            raise TurnError(
                f"cannot connect to STUN server {host}:{port}: {exc}"
            ) from None
        send = stream.write
        closer = stream.close

        def on_lost(_: asyncio.Future[None]) -> None:
            if not finished.done():
                finished.set_exception(TurnError("STUN server closed the connection"))

        protocol.lost.add_done_callback(on_lost)
    try:
        binding.start(loop.time())
        service()
        return await finished
    finally:
        if timer is not None:
            timer.cancel()
        closer()
