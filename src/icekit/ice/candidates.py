"""The agent's candidate sets: local ones by socket, remote ones with their caps.

Every lookup is a dict access, so the work per received datagram does not
grow with the number of candidates.
"""

from __future__ import annotations

import logging

from ..candidate import Candidate, CandidateType, canonical_host, compute_foundation
from ..types import Address
from .config import IceConfig

__all__ = ["AddrKey", "LocalCandidates", "RemoteCandidates", "addr_key"]

logger = logging.getLogger(__name__)

#: (transport, canonical host, port).
AddrKey = tuple[str, str, int]


def addr_key(transport: str, host: str, port: int) -> AddrKey:
    """The lookup key of a candidate address, however its host is spelled."""
    return (transport, canonical_host(host), port)


class LocalCandidates:
    """Local candidates, including learned peer-reflexive ones, and socket bases."""

    __slots__ = ("_by_addr", "all", "bases")

    def __init__(self) -> None:
        self.all: list[tuple[Candidate, int]] = []
        self._by_addr: dict[AddrKey, tuple[Candidate, int]] = {}
        #: The base (host or relayed candidate) of each socket.
        self.bases: dict[int, Candidate] = {}

    def add(self, candidate: Candidate, socket_id: int) -> bool:
        """Store ``candidate`` sent through ``socket_id``; False if known or not component 1."""
        key = addr_key(candidate.transport, candidate.address, candidate.port)
        if key in self._by_addr or candidate.component != 1:
            return False
        self.all.append((candidate, socket_id))
        self._by_addr[key] = (candidate, socket_id)
        if candidate.type in (CandidateType.HOST, CandidateType.RELAY) or socket_id not in self.bases:
            self.bases[socket_id] = candidate
        return True

    def pairable(self) -> list[tuple[Candidate, int]]:
        """Candidates to pair (§7.2.5.3.1: peer-reflexive local ones are not)."""
        return [(c, s) for c, s in self.all if c.type is not CandidateType.PRFLX]

    def mapped(self, transport: str, mapped: Address, socket_id: int,
               checked: Candidate, priority: int) -> tuple[Candidate, bool]:
        """The local candidate a check's mapped address names, and whether it is new.

        RFC 8445 §7.2.5.3.1: an address no local candidate of the socket has
        becomes a local peer-reflexive candidate with the PRIORITY sent.
        """
        key = addr_key(transport, mapped[0], mapped[1])
        found = self._by_addr.get(key)
        if found is not None and found[1] == socket_id:
            return found[0], False
        base = self.bases.get(socket_id, checked)
        local = Candidate(
            foundation=compute_foundation(CandidateType.PRFLX, base.address, None, transport),
            component=1, transport=transport, priority=priority,
            address=mapped[0], port=mapped[1], type=CandidateType.PRFLX,
            related_address=base.address, related_port=base.port)
        self.all.append((local, socket_id))
        self._by_addr[key] = (local, socket_id)
        return local, True


class RemoteCandidates:
    """Remote candidates, signalled and learned, within the config's caps."""

    __slots__ = ("_by_addr", "_config", "_prflx", "_serial", "_warned")

    def __init__(self, config: IceConfig) -> None:
        self._config = config
        self._by_addr: dict[AddrKey, Candidate] = {}
        #: Candidates of type prflx (counted, so no request scans the set).
        self._prflx = 0
        self._serial = 0
        self._warned = False

    def __len__(self) -> int:
        return len(self._by_addr)

    def values(self) -> list[Candidate]:
        """Every remote candidate."""
        return list(self._by_addr.values())

    def get(self, key: AddrKey) -> Candidate | None:
        """The candidate at ``key``, or ``None``."""
        return self._by_addr.get(key)

    def add(self, key: AddrKey, candidate: Candidate) -> bool:
        """Store a signalled candidate; False (warned once) over the cap."""
        limit = self._config.max_remote_candidates
        if len(self._by_addr) >= limit:
            if not self._warned:
                self._warned = True
                logger.warning("more than %d remote candidates: dropping the rest", limit)
            return False
        self._store(key, candidate)
        return True

    def learn(self, transport: str, src: Address, priority: int) -> Candidate | None:
        """RFC 8445 §7.3.1.3: a peer-reflexive candidate for ``src``; ``None`` over the caps."""
        if (self._prflx >= self._config.max_remote_prflx
                or len(self._by_addr) >= self._config.max_remote_candidates):
            return None
        self._serial += 1
        remote = Candidate(foundation=f"prflx{self._serial}", component=1,
                           transport=transport, priority=priority, address=src[0],
                           port=src[1], type=CandidateType.PRFLX)
        self._store((transport, src[0], src[1]), remote)
        return remote

    def replace(self, key: AddrKey, new: Candidate) -> None:
        """RFC 8838 §11.4: a signalled candidate replaces the learned one at ``key``."""
        if self._by_addr[key].type is CandidateType.PRFLX:
            self._prflx -= 1
        self._store(key, new)

    def clear(self) -> None:
        """Forget every candidate (ICE restart)."""
        self._by_addr.clear()
        self._prflx = 0

    def _store(self, key: AddrKey, candidate: Candidate) -> None:
        self._by_addr[key] = candidate
        if candidate.type is CandidateType.PRFLX:
            self._prflx += 1
