"""Candidates from STUN and TURN servers (RFC 8445 §5.1.1.2).

:func:`parse_urls` validates the agent's ``urls`` option;
:func:`srflx_candidates` runs Binding requests from the agent's host sockets
(through :class:`~icekit.asyncio.srflx.SrflxGatherer`) and turns the answers
into server-reflexive candidates; :func:`open_relay_socket` allocates one TURN
relay (:func:`~icekit.asyncio.relay.open_relay`) for the agent to use as one
more socket. A server that fails (refused credentials, no answer, TLS
refused) never fails the agent: it costs at most the gathering timeout and
comes back as a :class:`ServerFailure`, which the agent reports.
"""

from __future__ import annotations

import logging
import socket
from collections.abc import Iterable, Sequence

from ..candidate import Candidate, CandidateType, compute_foundation, compute_priority
from ..errors import ConfigError, IcekitError, TurnError, URIError
from ..types import Address
from ..uri import URI
from .relay import ServerFailure, TurnRelay, gather_relay
from .srflx import SrflxGatherer, SrflxResult, TlsOptions, resolve, unique_srflx
from .udp import UdpEndpoint

__all__ = [
    "UNUSABLE_STUNS",
    "ServerFailure",
    "open_relay_socket",
    "parse_urls",
    "srflx_candidates",
    "stun_urls",
    "turn_urls",
    "unusable_stun_urls",
]

logger = logging.getLogger(__name__)


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
            raise ConfigError(f"urls: {uri} needs a username and a password (URI(..., username=, password=))")
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


def _family(host: str) -> int:
    return socket.AF_INET6 if ":" in host else socket.AF_INET


async def srflx_candidates(
    gatherer: SrflxGatherer,
    endpoints: Sequence[tuple[UdpEndpoint, int]],
    urls: Sequence[URI],
    timeout: float,
) -> tuple[list[tuple[Candidate, int]], list[ServerFailure]]:
    """Server-reflexive candidates for ``(endpoint, local preference)`` pairs.

    Each host socket asks every STUN server of its address family; the agent
    routes the answers to ``gatherer``. Redundant results (mapped address
    equal to the base, duplicates) are dropped (RFC 8445 §5.1.3). A server
    that answered none of the sockets of a family (or could not be resolved)
    is one :class:`ServerFailure`.
    """
    servers: dict[tuple[URI, int], list[Address]] = {}
    failures: list[ServerFailure] = []
    by_base: dict[Address, tuple[int, int]] = {}
    for endpoint, pref in endpoints:
        family = _family(endpoint.local_addr[0])
        by_base[endpoint.local_addr] = (endpoint.socket_id, pref)
        for uri in urls:
            key = (uri, family)
            if key not in servers:
                try:
                    servers[key] = await resolve(uri.host, uri.port, families=(family,))
                except TurnError as exc:
                    logger.info("STUN server %s: %s", uri, exc)
                    failures.append(ServerFailure(str(uri), _family_name(family), exc))
                    servers[key] = []
            for server in servers[key][:1]:
                gatherer.start(endpoint.sendto, endpoint.local_addr, server)
    results = await gatherer.results(timeout)
    failures.extend(_srflx_failures(servers, results))
    out: list[tuple[Candidate, int]] = []
    for result in unique_srflx(results):
        assert result.mapped is not None
        found = by_base.get(result.base)
        if found is None:
            continue
        socket_id, pref = found
        base_host, base_port = result.base
        candidate = Candidate(
            foundation=compute_foundation(CandidateType.SRFLX, base_host, result.server[0], "udp"),
            component=1,
            transport="udp",
            priority=compute_priority(CandidateType.SRFLX, pref, 1),
            address=result.mapped[0],
            port=result.mapped[1],
            type=CandidateType.SRFLX,
            related_address=base_host,
            related_port=base_port,
        )
        out.append((candidate, socket_id))
    return out, failures


def _family_name(family: int) -> str:
    return "ipv6" if family == socket.AF_INET6 else "ipv4"


def _srflx_failures(
    servers: dict[tuple[URI, int], list[Address]], results: Sequence[SrflxResult]
) -> list[ServerFailure]:
    """One failure per (server, family) whose every Binding request failed."""
    out: list[ServerFailure] = []
    for (uri, family), addresses in servers.items():
        if not addresses:
            continue  # already reported: the name did not resolve
        mine = [r for r in results if r.server == addresses[0]]
        if not mine or any(r.ok for r in mine):
            continue
        error: IcekitError = mine[0].error or TurnError("no Binding response")
        out.append(ServerFailure(str(uri), _family_name(family), error))
    return out


async def open_relay_socket(
    uri: URI,
    socket_id: int,
    family: str,
    timeout: float,
    tls: TlsOptions | None = None,
) -> TurnRelay | ServerFailure:
    """Allocate a relay of ``family`` (``"ipv4"``/``"ipv6"``) on ``uri``.

    Never raises for a bad server: returns a :class:`ServerFailure` instead
    (refused credentials, no answer within ``timeout``, TLS refused...).
    ``tls`` configures certificate checks for ``turns:`` servers.
    """
    try:
        return await gather_relay(uri, socket_id=socket_id, family=family, timeout=timeout, tls=tls)
    except (ConfigError, OSError) as exc:  # gather_relay reports the rest
        logger.warning("TURN server %s (%s): %s", uri, family, exc)
        error = exc if isinstance(exc, IcekitError) else TurnError(str(exc))
        return ServerFailure(str(uri), family, error)
