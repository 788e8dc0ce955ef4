"""STUN and TURN servers: everything the asyncio layer does with them.

* Server lists: :func:`parse_urls` validates the agent's ``urls`` option;
  :func:`stun_urls`, :func:`turn_urls` and :func:`unusable_stun_urls` sort them.
* One parser (:func:`parse_server`: URL, :class:`~icekit.uri.URI`, host or
  ``(host, port)``), one resolver (:func:`resolve`), one set of TLS settings
  (:class:`TlsOptions`) and one failure type (:class:`ServerFailure`).
* Server-reflexive addresses (RFC 8489 §6, RFC 8445 §5.1.1.2):
  :class:`SrflxGatherer` runs Binding requests from sockets the agent owns
  (their address is the candidate's base), :func:`srflx_candidates` turns
  the answers into candidates, :func:`discover_srflx` asks from a socket of
  its own (UDP, TCP or TLS).
* Relays (RFC 8656): :func:`open_relay` allocates one
  :class:`~icekit.asyncio.relay.TurnRelay` and raises on failure;
  :func:`open_relay_socket` is the gathering form, which never raises for a
  bad server.

A server that fails (refused credentials, no answer, TLS refused) never fails
the agent: it costs at most the gathering timeout and comes back as a
:class:`ServerFailure`. Failures without an answer from the server are
:class:`~icekit.errors.ServerUnreachableError`; the server's own error
answers are :class:`~icekit.errors.TurnError` with the code.
"""

from __future__ import annotations

import asyncio
import dataclasses
import ipaddress
import logging
import socket
import ssl as _ssl
from collections.abc import Callable, Iterable, Sequence
from typing import NamedTuple

from ..candidate import Candidate, CandidateType, compute_foundation, compute_priority
from ..errors import ConfigError, ServerError, ServerUnreachableError, URIError
from ..turn import (
    BindingClient,
    TransactionConfig,
    TurnClient,
    TurnClientConfig,
    events,
)
from ..types import Address
from ..uri import URI
from .driver import Driver
from .relay import TurnRelay, connect
from .udp import UdpEndpoint

__all__ = [
    "UNUSABLE_STUNS",
    "RelayOptions",
    "ServerFailure",
    "SrflxGatherer",
    "SrflxResult",
    "TlsOptions",
    "discover_srflx",
    "open_relay",
    "open_relay_socket",
    "parse_server",
    "parse_urls",
    "resolve",
    "srflx_candidates",
    "stun_urls",
    "turn_urls",
    "unique_srflx",
    "unusable_stun_urls",
]

logger = logging.getLogger(__name__)

#: Send function of a socket owned by the caller: ``send(data, destination)``.
SendFunction = Callable[[bytes, Address], object]

_TRANSPORTS = ("udp", "tcp", "tls")
_FAMILIES = {None: (socket.AF_INET, socket.AF_INET6), "ipv4": (socket.AF_INET,),
             "ipv6": (socket.AF_INET6, socket.AF_INET)}

# -- server lists ---------------------------------------------------------------------


def parse_urls(urls: Iterable[object]) -> tuple[URI, ...]:
    """Turn ``str`` or :class:`~icekit.uri.URI` items into URIs; ConfigError otherwise."""
    out: list[URI] = []
    for item in urls:
        if isinstance(item, URI):
            uri = item
        elif isinstance(item, str):
            try:
                uri = URI.parse(item)
            except URIError as exc:
                raise ConfigError(f"urls: {exc}") from None
        else:
            raise ConfigError(f"urls items must be str or icekit.uri.URI, not {type(item).__name__}")
        if uri.is_turn and (uri.username is None or uri.password is None):
            raise ConfigError(
                f"urls: {uri} needs a username and a password: "
                f"URI.parse({str(uri)!r}, username, password)")
        out.append(uri)
    return tuple(out)


def stun_urls(urls: Sequence[URI]) -> list[URI]:
    """The STUN servers reachable over UDP from the host sockets."""
    return [u for u in urls if not u.is_turn and not u.is_secure]


#: Why a ``stuns:`` URL gives no candidate.
UNUSABLE_STUNS = (
    "stuns: is not used for candidates: STUN over TLS learns the mapping of a "
    "TCP connection, not of the UDP socket a server-reflexive candidate would use"
)


def unusable_stun_urls(urls: Sequence[URI]) -> list[URI]:
    """``stuns:`` servers: the agent reports them instead of using them."""
    return [u for u in urls if not u.is_turn and u.is_secure]


def turn_urls(urls: Sequence[URI]) -> list[URI]:
    """The TURN servers."""
    return [u for u in urls if u.is_turn]


# -- one parser, one resolver, one TLS setting, one failure -----------------------------


def parse_server(server: str | URI | Address, transport: str = "udp", *,
                 turn: bool = False) -> tuple[URI, str]:
    """``(uri, transport)`` for a server given as a ``stun:``/``turn:`` URL
    (``stuns:``/``turns:`` are TLS), a :class:`~icekit.uri.URI`, a host name or
    address (port 3478) or an ``(host, port)`` tuple; *transport* (``"udp"``,
    ``"tcp"``, ``"tls"``) applies to the last two forms."""
    if isinstance(server, str) and server.split(":", 1)[0].lower() in ("stun", "stuns", "turn", "turns"):
        server = URI.parse(server)
    if isinstance(server, URI):
        return server, "tls" if server.is_secure else server.effective_transport
    if transport not in _TRANSPORTS:
        raise ConfigError(f"transport must be 'udp', 'tcp' or 'tls', not {transport!r}")
    host, port = server if isinstance(server, tuple) else (server, 3478)
    scheme = ("turn" if turn else "stun") + ("s" if transport == "tls" else "")
    try:
        uri = URI(scheme, str(host), int(port), "tcp" if turn and transport == "tcp" else None)
    except (URIError, TypeError, ValueError) as exc:
        raise ConfigError(f"not a server: {server!r} ({exc})") from None
    return uri, transport


async def resolve(host: str, port: int, *, families: Iterable[int] = (socket.AF_INET, socket.AF_INET6),
                  transport: str = "udp") -> list[Address]:
    """Resolve *host* asynchronously to ``(ip, port)`` pairs of the families asked for.

    IP literals are returned as they are (without a lookup). Raises
    :class:`~icekit.errors.ServerUnreachableError` when nothing usable comes back.
    """
    wanted = tuple(families)
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        pass
    else:
        if (socket.AF_INET6 if ip.version == 6 else socket.AF_INET) not in wanted:
            raise ServerUnreachableError(f"{host} is not of a requested address family")
        return [(str(ip), port)]
    sock_type = socket.SOCK_DGRAM if transport == "udp" else socket.SOCK_STREAM
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=sock_type)
    except (OSError, UnicodeError) as exc:
        raise ServerUnreachableError(f"cannot resolve {host!r}: {exc}") from None
    out: list[Address] = []
    for family, _, _, _, sockaddr in infos:
        addr = (str(sockaddr[0]).split("%", 1)[0], int(sockaddr[1]))
        if family in wanted and addr not in out:
            out.append(addr)
    if not out:
        raise ServerUnreachableError(f"{host!r} has no address of a requested family")
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
        """The TLS context: verifying by default; an unreadable CA file raises
        :class:`~icekit.errors.ConfigError`."""
        if self.ssl_context is not None:
            return self.ssl_context
        try:
            context = _ssl.create_default_context(cafile=self.cafile)
        except (OSError, _ssl.SSLError) as exc:
            raise ConfigError(f"cannot load the CA file {self.cafile!r}: {exc}") from None
        if not self.verify:
            context.check_hostname = False
            context.verify_mode = _ssl.CERT_NONE
        return context


@dataclasses.dataclass(frozen=True)
class ServerFailure:
    """A STUN or TURN server that gave no candidate, or lost its relay.

    :param server: the server's URL without credentials (``turn:host:port?transport=tcp``).
    :param family: ``"ipv4"``, ``"ipv6"`` or ``None`` when not family-specific.
    :param error: why: a :class:`~icekit.errors.TurnError` carries the
        server's error code (401 bad credentials, 486 quota...); a
        :class:`~icekit.errors.ServerUnreachableError` means no usable answer
        (timeout, unreachable, TLS refused); a
        :class:`~icekit.errors.ConfigError` a server icekit cannot use.
    """

    server: str
    family: str | None
    error: ServerError | ConfigError

    @property
    def code(self) -> int | None:
        """The STUN error code the server answered with, if any."""
        return self.error.code if isinstance(self.error, ServerError) else None

    def __str__(self) -> str:
        family = f" ({self.family})" if self.family else ""
        return f"{self.server}{family}: {self.error}"


def _family_name(host: str) -> str:
    return "ipv6" if ":" in host else "ipv4"


# -- server-reflexive addresses ---------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class SrflxResult:
    """The outcome of one Binding request sent from one local socket."""

    base: Address
    server: Address
    mapped: Address | None
    error: ServerError | None = None

    @property
    def ok(self) -> bool:
        """True when a mapped address was learned."""
        return self.mapped is not None


class _Probe(NamedTuple):
    binding: BindingClient
    driver: Driver[bytes, events.Event]
    done: asyncio.Future[SrflxResult]
    base: Address
    server: Address


class SrflxGatherer:
    """Binding requests sent from sockets owned by the caller.

    Call :meth:`start` once per (local socket, STUN server), route every STUN
    datagram received on those sockets to :meth:`handle_stun` (it returns
    True for the responses it consumed), and await :meth:`results`, bounded
    by *timeout*.
    """

    def __init__(self, *, config: TransactionConfig | None = None, software: str | None = None) -> None:
        self.config = config or TransactionConfig()
        self.software = software
        self._loop = asyncio.get_running_loop()
        self._probes: dict[bytes, _Probe] = {}

    def start(self, send: SendFunction, base: Address, server: Address) -> None:
        """Send a Binding request from the socket *send* writes to, towards *server*."""
        binding = BindingClient(config=self.config, software=self.software)
        done: asyncio.Future[SrflxResult] = self._loop.create_future()

        def transmit(data: bytes) -> None:
            try:
                send(data, server)
            except OSError as exc:  # e.g. no route: the timer gives up later
                logger.debug("Binding request to %s not sent: %s", server, exc)

        def on_event(event: events.Event) -> None:
            if isinstance(event, events.BindingFailed):
                logger.info("STUN server %s: %s", server, event.error)
                done.set_result(SrflxResult(base, server, None, event.error))
            elif isinstance(event, events.BindingSucceeded):
                done.set_result(SrflxResult(base, server, event.mapped))

        probe = _Probe(binding, Driver(self._loop, binding, transmit, on_event), done, base, server)
        self._probes[binding.transaction_id] = probe
        binding.start(self._loop.time())
        probe.driver.after_input()

    def handle_stun(self, data: bytes, src: Address) -> bool:
        """Feed a STUN datagram received on one of the sockets; True if ours."""
        probe = self._probes.get(bytes(data[8:20]))
        if probe is None or probe.done.done() or not probe.binding.handle_data(self._loop.time(), data):
            return False
        probe.driver.after_input()
        return True

    @property
    def pending(self) -> int:
        """Requests still waiting for an answer."""
        return sum(1 for p in self._probes.values() if not p.done.done())

    async def results(self, timeout: float) -> list[SrflxResult]:
        """Wait (at most *timeout* seconds) for every request; return all outcomes.

        Requests still unanswered at the deadline are reported as timed out.
        """
        if self._probes:
            await asyncio.wait([p.done for p in self._probes.values()], timeout=timeout)
        out = []
        for p in self._probes.values():
            if not p.done.done():
                error = ServerUnreachableError(f"no Binding response within the {timeout} s gathering timeout")
                p.done.set_result(SrflxResult(p.base, p.server, None, error))
            out.append(p.done.result())
        self.close()
        return out

    def close(self) -> None:
        """Stop every timer (idempotent)."""
        for p in self._probes.values():
            p.driver.close()
            if not p.done.done():
                p.done.cancel()


def unique_srflx(results: Sequence[SrflxResult]) -> list[SrflxResult]:
    """Successful results, without a srflx equal to its base and one per
    (base, mapped address) (RFC 8445 §5.1.3: redundant candidates are removed)."""
    seen: set[tuple[Address, Address]] = set()
    out = []
    for result in results:
        key = (result.base, result.mapped)
        if result.mapped is None or result.mapped == result.base or key in seen:
            continue
        seen.add(key)  # type: ignore[arg-type]  # mapped is not None here
        out.append(result)
    return out


async def srflx_candidates(gatherer: SrflxGatherer, endpoints: Sequence[tuple[UdpEndpoint, int]],
                           urls: Sequence[URI], timeout: float
                           ) -> tuple[list[tuple[Candidate, int]], list[ServerFailure]]:
    """Server-reflexive candidates for ``(endpoint, local preference)`` pairs.

    Each host socket asks every STUN server of its address family; the agent
    routes the answers to ``gatherer``. Redundant results (mapped address
    equal to the base, duplicates) are dropped (RFC 8445 §5.1.3). A server
    that answered none of the sockets of a family (or could not be resolved)
    is one :class:`ServerFailure`.
    """
    servers: dict[tuple[URI, str], list[Address]] = {}
    failures: list[ServerFailure] = []
    by_base: dict[Address, tuple[int, int]] = {}
    for endpoint, pref in endpoints:
        family = _family_name(endpoint.local_addr[0])
        by_base[endpoint.local_addr] = (endpoint.socket_id, pref)
        for uri in urls:
            key = (uri, family)
            if key not in servers:
                try:
                    servers[key] = await resolve(uri.host, uri.port, families=_FAMILIES[family][:1])
                except ServerError as exc:
                    logger.info("STUN server %s: %s", uri, exc)
                    failures.append(ServerFailure(str(uri), family, exc))
                    servers[key] = []
            for server in servers[key][:1]:
                gatherer.start(endpoint.sendto, endpoint.local_addr, server)
    results = await gatherer.results(timeout)
    for (uri, family), addresses in servers.items():
        # One failure per (server, family) whose every Binding request failed.
        mine = [r for r in results if addresses and r.server == addresses[0]]
        if mine and not any(r.ok for r in mine):
            failures.append(ServerFailure(str(uri), family, mine[0].error or ServerError("no Binding response")))
    out: list[tuple[Candidate, int]] = []
    for result in unique_srflx(results):
        assert result.mapped is not None
        found = by_base.get(result.base)
        if found is None:
            continue
        socket_id, pref = found
        candidate = Candidate(
            foundation=compute_foundation(CandidateType.SRFLX, result.base[0], result.server[0], "udp"),
            component=1,
            transport="udp",
            priority=compute_priority(CandidateType.SRFLX, pref, 1),
            address=result.mapped[0],
            port=result.mapped[1],
            type=CandidateType.SRFLX,
            related_address=result.base[0],
            related_port=result.base[1],
        )
        out.append((candidate, socket_id))
    return out, failures


async def discover_srflx(server: str | URI | Address, *, transport: str = "udp",
                         local_addr: Address | None = None, timeout: float = 5.0,
                         config: TransactionConfig | None = None, tls: TlsOptions | None = None,
                         families: Iterable[int] = (socket.AF_INET, socket.AF_INET6)) -> Address:
    """Ask a STUN server for our reflexive address from a socket of our own.

    *server* is anything :func:`parse_server` takes; *transport* is
    ``"udp"``, ``"tcp"`` or ``"tls"`` (``stuns:`` URLs are TLS, checked as
    *tls* says). The whole exchange (resolution, connection,
    retransmissions) is bounded by *timeout*. Raises
    :class:`~icekit.errors.ServerUnreachableError` without an answer and
    :class:`~icekit.errors.TurnError` for an error answer.
    """
    uri, transport = parse_server(server, transport)
    context = (tls or TlsOptions()).context() if transport == "tls" else None
    loop = asyncio.get_running_loop()
    finished: asyncio.Future[Address] = loop.create_future()

    def on_event(event: events.Event) -> None:
        if finished.done():
            return
        if isinstance(event, events.BindingSucceeded):
            finished.set_result(event.mapped)
        elif isinstance(event, events.BindingFailed):
            finished.set_exception(event.error)

    def on_lost(error: ServerError) -> None:
        if not finished.done():
            finished.set_exception(error)

    async def run() -> Address:
        target = (await resolve(uri.host, uri.port, families=families, transport=transport))[0]
        binding = BindingClient(reliable=transport != "udp", config=config)
        driver: Driver[bytes, events.Event] = Driver(loop, binding, lambda data: link.send(data), on_event)

        def on_message(data: bytes) -> None:
            if binding.handle_data(loop.time(), data):
                driver.after_input()

        link = await connect(target, transport, on_message, on_lost, ssl_context=context,
                             server_name=tls.server_name if tls and tls.server_name else uri.host,
                             local_addr=local_addr)
        try:
            binding.start(loop.time())
            driver.after_input()
            return await finished
        finally:
            driver.close()
            link.close()

    try:
        return await asyncio.wait_for(run(), timeout)
    except asyncio.TimeoutError:
        raise ServerUnreachableError(f"STUN server {uri.host}:{uri.port} did not answer within {timeout} s") from None


# -- relays ------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class RelayOptions:
    """How :func:`open_relay` opens a relay, beyond the server and credentials.

    :param family: ``"ipv4"``/``"ipv6"`` asks for a relayed address of that
        family (REQUESTED-ADDRESS-FAMILY) and picks the server's address family.
    :param timeout: bound on resolution, connection and the Allocate exchange.
    :param tls: certificate checks for ``turns:`` servers (verifying by default).
    :param socket_id: the id the ICE agent knows the relay by.
    :param client: the TURN client's settings (lifetimes, USERHASH,
        ``relay_private_peers``, ``allow_redirect_across_scopes``...): a
        :class:`~icekit.turn.TurnClientConfig` whose username, password,
        ``reliable`` and ``family`` :func:`open_relay` fills in.
    """

    family: str | None = None
    timeout: float = 10.0
    tls: TlsOptions | None = None
    socket_id: int = -1
    client: TurnClientConfig = dataclasses.field(default_factory=lambda: TurnClientConfig("", ""))


async def open_relay(server: str | URI | Address, username: str | None = None, password: str | None = None,
                     *, transport: str = "udp", options: RelayOptions | None = None) -> TurnRelay:
    """Connect to a TURN server and allocate a relayed address.

    *server* is anything :func:`parse_server` takes (a ``turn:``/``turns:``
    URL, an :class:`~icekit.uri.URI` whose credentials are used unless given
    here, a host name or an ``(host, port)`` tuple with *transport*).
    Raises :class:`~icekit.errors.TurnError` (``.code``: 401, 441, 486,
    508...) when the server refuses, :class:`~icekit.errors.ServerUnreachableError`
    without an answer (DNS, connection, TLS, timeout).
    """
    uri, transport = parse_server(server, transport, turn=True)
    options = options or RelayOptions()
    username = username if username is not None else uri.username
    password = password if password is not None else uri.password
    if not username or password is None:
        raise ConfigError("a TURN server needs a username and a password")
    config = dataclasses.replace(options.client, username=username, password=password,
                                 reliable=transport != "udp", family=options.family)
    tls = options.tls or TlsOptions()
    context = tls.context() if transport == "tls" else None
    relay: TurnRelay | None = None

    async def run() -> TurnRelay:
        nonlocal relay
        families = _FAMILIES[options.family]
        address = (await resolve(uri.host, uri.port, families=families, transport=transport))[0]
        relay = TurnRelay(TurnClient(config, server=address), server=address, transport=transport,
                          server_name=tls.server_name or uri.host, ssl_context=context,
                          socket_id=options.socket_id)
        await relay.allocate()
        return relay

    try:
        return await asyncio.wait_for(run(), options.timeout)
    except asyncio.TimeoutError:
        raise ServerUnreachableError(
            f"TURN server {uri.host}:{uri.port} ({transport}) gave no allocation within {options.timeout} s"
        ) from None
    except OSError as exc:  # e.g. no usable address family on this host
        raise ServerUnreachableError(f"TURN server {uri.host}:{uri.port}: {exc}") from None
    finally:
        if relay is not None and relay.client.relayed is None:
            relay.close()


async def open_relay_socket(uri: URI, socket_id: int, family: str, timeout: float,
                            tls: TlsOptions | None = None) -> TurnRelay | ServerFailure:
    """:func:`open_relay` for gathering: a relay of ``family`` on ``uri``, or the
    :class:`ServerFailure` (also logged) saying why not; never raises for a bad server."""
    try:
        return await open_relay(uri, options=RelayOptions(family, timeout, tls, socket_id))
    except (ServerError, ConfigError) as exc:
        failure = ServerFailure(str(uri), family, exc)
    logger.warning("%s", failure)
    return failure
