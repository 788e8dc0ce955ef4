"""Host candidate sources: local addresses from ``ifaddr`` and UDP sockets on them.

:func:`local_addresses` lists the addresses the agent may gather on, after the
network-type, loopback, link-local, interface and IP filters.
:func:`bind_udp` opens one UDP socket on such an address, honouring the port
range with a random start and a linear probe that wraps around (as pion does).
"""

from __future__ import annotations

import errno
import ipaddress
import logging
import random
import socket
from dataclasses import dataclass

import ifaddr

from ..candidate import (
    Candidate,
    CandidateType,
    compute_foundation,
    compute_priority,
    local_preferences,
)
from .options import AgentOptions, IPAddress, NetworkType

__all__ = ["LocalAddress", "bind_udp", "host_candidate", "host_candidates", "local_addresses"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class LocalAddress:
    """One address of a local interface that passed the filters."""

    interface: str
    ip: IPAddress
    scope_id: int
    network_type: NetworkType

    @property
    def host(self) -> str:
        """The address as text, without a zone."""
        return str(self.ip)

    @property
    def family(self) -> int:
        """``socket.AF_INET`` or ``socket.AF_INET6``."""
        return socket.AF_INET6 if self.ip.version == 6 else socket.AF_INET


def _enumerate() -> list[tuple[str, IPAddress, int]]:
    out: list[tuple[str, IPAddress, int]] = []
    for adapter in ifaddr.get_adapters():
        for entry in adapter.ips:
            raw = entry.ip
            try:
                if isinstance(raw, tuple):
                    ip: IPAddress = ipaddress.IPv6Address(raw[0].split("%", 1)[0])
                    scope = int(raw[2])
                else:
                    ip = ipaddress.IPv4Address(raw)
                    scope = 0
            except ValueError:
                continue
            out.append((str(adapter.name), ip, scope))
    return out


def local_addresses(options: AgentOptions) -> list[LocalAddress]:
    """The local addresses to gather host candidates on, in a stable order.

    Filters, in order: network type (UDP4/UDP6), loopback (only with
    ``include_loopback``), IPv6 link-local (only with ``include_link_local``),
    unspecified and multicast addresses, then the user's ``interface_filter``
    and ``ip_filter``. A filter that raises drops the address and is logged.
    """
    wanted = set(options.network_types)
    result: list[LocalAddress] = []
    seen: set[IPAddress] = set()
    for name, ip, scope in _enumerate():
        net = NetworkType.UDP6 if ip.version == 6 else NetworkType.UDP4
        if net not in wanted or ip in seen:
            continue
        if ip.is_loopback and not options.include_loopback:
            continue
        if ip.is_unspecified or ip.is_multicast:
            continue
        if ip.version == 6 and ip.is_link_local and not options.include_link_local:
            continue
        # IPv4-mapped and 6to4/Teredo-style addresses are not usable host
        # candidates of their own (RFC 8445 §5.1.1.1).
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            continue
        if not _passes(options, name, ip):
            continue
        seen.add(ip)
        result.append(LocalAddress(name, ip, scope if ip.version == 6 and ip.is_link_local else 0, net))
    return result


def _passes(options: AgentOptions, name: str, ip: IPAddress) -> bool:
    try:
        if options.interface_filter is not None and not options.interface_filter(name):
            return False
        if options.ip_filter is not None and not options.ip_filter(ip):
            return False
    except Exception:  # a user callback must not break gathering
        logger.exception("address filter raised for %s %s; skipping it", name, ip)
        return False
    return True


def bind_udp(
    local: LocalAddress,
    port_min: int = 0,
    port_max: int = 0,
    rng: random.Random | None = None,
) -> socket.socket | None:
    """Open a non-blocking UDP socket bound to ``local``.

    With a port range, start at a random port in it and probe upwards,
    wrapping, until a bind succeeds. Returns None (and logs) when no port is
    free or the address cannot be bound.
    """
    family = local.family
    if port_max == 0:
        ports: list[int] = [0]
    else:
        span = port_max - port_min + 1
        start = (rng or random.SystemRandom()).randrange(span)
        ports = [port_min + (start + i) % span for i in range(span)]
    sock = socket.socket(family, socket.SOCK_DGRAM)
    try:
        sock.setblocking(False)
        if family == socket.AF_INET6:
            # Keep the two families apart: an IPv6 socket must not receive
            # IPv4-mapped traffic.
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        for port in ports:
            addr: tuple[object, ...]
            if family == socket.AF_INET6:
                addr = (local.host, port, 0, local.scope_id)
            else:
                addr = (local.host, port)
            try:
                sock.bind(addr)
            except OSError as exc:
                if exc.errno in (errno.EADDRINUSE, errno.EACCES) and len(ports) > 1:
                    continue
                logger.warning("cannot bind UDP %s port %d: %s", local.host, port, exc)
                sock.close()
                return None
            return sock
        logger.warning("no free UDP port in %d-%d on %s", port_min, port_max, local.host)
    except BaseException:
        sock.close()
        raise
    sock.close()
    return None


def host_candidates(addresses: list[LocalAddress]) -> list[tuple[LocalAddress, int]]:
    """Pair each address with a distinct local preference (RFC 8445 §5.1.2.1, RFC 8421 §4)."""
    prefs = local_preferences([a.host for a in addresses])
    return list(zip(addresses, prefs))


def host_candidate(local: LocalAddress, port: int, local_pref: int) -> Candidate:
    """The UDP host candidate for a socket bound to ``local``:``port``."""
    return Candidate(
        foundation=compute_foundation(CandidateType.HOST, local.host, None, "udp"),
        component=1,
        transport="udp",
        priority=compute_priority(CandidateType.HOST, local_pref, 1),
        address=local.host,
        port=port,
        type=CandidateType.HOST,
    )
