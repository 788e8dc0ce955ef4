"""Candidate pairs (RFC 8445 §6.1.2)."""

from __future__ import annotations

from ..candidate import Candidate, pair_priority
from ..types import Address
from .states import PairState

__all__ = ["STATE_INDEX", "TYPE_RANK", "CandidatePair", "PairKey"]

#: A pair is identified by the local socket (its base) and the remote address:
#: after RFC 8445 §6.1.2.4 replaces server-reflexive local candidates by their
#: base, two pairs with the same key are redundant.
PairKey = tuple[int, Address]

#: Position of each state in a check list's per-state counts (a list: a
#: dict of five entries costs twice the memory, once per agent).
STATE_INDEX = {state: i for i, state in enumerate(PairState)}

#: Rank of candidate types for nomination waits: the "worse" end of a pair decides.
TYPE_RANK = {"host": 0, "srflx": 1, "prflx": 2, "relay": 3}


def _type_name(candidate: Candidate) -> str:
    return str(getattr(candidate.type, "value", candidate.type)).lower()


class CandidatePair:
    """One local/remote pairing and everything the check list knows about it."""

    __slots__ = ("foundation", "key", "local", "nominated", "ordinary_blocked", "owner_counts",
                 "priority", "remote", "remote_nominated", "remote_nomination", "socket_id",
                 "state", "transaction_id", "valid", "valid_at")

    def __init__(self, local: Candidate, remote: Candidate, socket_id: int,
                 controlling: bool) -> None:
        self.local = local
        self.remote = remote
        self.socket_id = socket_id
        self.key: PairKey = (socket_id, (remote.address, remote.port))
        #: Per-state pair counts of the check list holding this pair, kept up
        #: to date by :meth:`set_state` (``None`` outside a list).
        self.owner_counts: list[int] | None = None
        #: The pair state (RFC 8445 §6.1.2.6); read freely, change it only
        #: through :meth:`set_state` so the check list's counts stay right.
        self.state = PairState.FROZEN
        self.foundation = f"{local.foundation}/{remote.foundation}"
        #: The pair has succeeded a check (it is on the valid list, §7.2.5.3.2).
        self.valid = False
        self.valid_at: float | None = None
        #: Nominated: both sides agreed on it (§8.1.1, §7.3.1.5).
        self.nominated = False
        #: Controlled side: USE-CANDIDATE arrived before the pair was valid.
        self.remote_nominated = False
        #: Highest NOMINATION value the peer sent for this pair (renomination).
        self.remote_nomination: int | None = None
        #: Transaction id of the check in flight, if any.
        self.transaction_id: bytes | None = None
        #: Set by the agent when ordinary checks of this pair are pointless.
        self.ordinary_blocked = False
        self.priority = 0
        self.update_priority(controlling)

    def set_state(self, value: PairState) -> None:
        """Change :attr:`state`, keeping the owning check list's counts."""
        counts = self.owner_counts
        if counts is not None:
            counts[STATE_INDEX[self.state]] -= 1
            counts[STATE_INDEX[value]] += 1
        self.state = value

    def update_priority(self, controlling: bool) -> None:
        """Recompute :attr:`priority` for the agent's current role."""
        if controlling:
            self.priority = pair_priority(self.local.priority, self.remote.priority)
        else:
            self.priority = pair_priority(self.remote.priority, self.local.priority)

    @property
    def type_name(self) -> str:
        """The worse candidate type of the pair (decides the nomination wait)."""
        return max(_type_name(self.local), _type_name(self.remote),
                   key=lambda name: TYPE_RANK.get(name, 3))

    def __repr__(self) -> str:
        return (f"CandidatePair({_type_name(self.local)} {self.local.address}:"
                f"{self.local.port} -> {_type_name(self.remote)} "
                f"{self.remote.address}:{self.remote.port} {self.state} "
                f"sock={self.socket_id} prio={self.priority}"
                f"{' valid' if self.valid else ''}{' nominated' if self.nominated else ''})")
