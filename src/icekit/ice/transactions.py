"""Client transactions of the core: retransmission and timeout bookkeeping.

Checks follow RFC 8445 §14.3: the first RTO is MAX(500 ms, Ta * (Num-Waiting
+ Num-In-Progress)); it doubles per retransmission (RFC 8489 §6.2.1) up to a
ceiling, and the transaction times out one (capped) RTO after the last
transmission.
"""

from __future__ import annotations

import enum

from ..types import Address
from .pair import CandidatePair

__all__ = ["Kind", "Transaction", "initial_rto"]


class Kind(enum.Enum):
    """What a transaction is for."""

    CHECK = "check"
    CONSENT = "consent"


def initial_rto(ta: float, active_pairs: int, rto_min: float) -> float:
    """RFC 8445 §14.3: RTO = MAX(500 ms, Ta * (Num-Waiting + Num-In-Progress))."""
    return max(rto_min, ta * active_pairs)


class Transaction:
    """One outstanding Binding request."""

    __slots__ = (
        "cancelled",
        "controlling",
        "data",
        "deadline",
        "dest",
        "generation",
        "kind",
        "max_transmissions",
        "pair",
        "priority",
        "role_epoch",
        "rto",
        "rto_max",
        "sent_at",
        "socket_id",
        "tid",
        "transmissions",
        "use_candidate",
    )

    def __init__(self, tid: bytes, kind: Kind, pair: CandidatePair, data: bytes,
                 now: float, rto: float, rto_max: float, max_transmissions: int,
                 *, controlling: bool, use_candidate: bool, priority: int, generation: int, role_epoch: int = 0) -> None:
        self.tid = tid
        self.kind = kind
        self.pair = pair
        self.socket_id = pair.socket_id
        self.dest: Address = pair.key[1]
        self.data = data
        self.rto = rto
        self.rto_max = rto_max
        self.transmissions = 1
        self.max_transmissions = max_transmissions
        self.sent_at = now
        self.deadline = now + min(rto, rto_max)
        #: §7.3.1.4: a cancelled check is not retransmitted and its timeout
        #: does not fail the pair, but a late response is still accepted.
        self.cancelled = False
        #: Role when the request was sent (§7.2.5.1 compares it on a 487).
        self.controlling = controlling
        #: How many role switches preceded the request: a 487 answering a
        #: request sent before the latest switch is stale (§7.2.5.1).
        self.role_epoch = role_epoch
        self.use_candidate = use_candidate
        #: PRIORITY we sent: a local prflx learned from the response gets it.
        self.priority = priority
        #: Credential generation (ICE restarts) the request was signed with.
        self.generation = generation

    def retransmit_due(self) -> bool:
        """Whether the deadline means "send again" rather than "give up"."""
        return not self.cancelled and self.transmissions < self.max_transmissions

    def cancel(self) -> None:
        """RFC 8445 §7.3.1.4: stop retransmitting but await a response until
        the transaction would have timed out (its timeout then fails nothing)."""
        if self.cancelled:
            return
        self.cancelled = True
        end = self.deadline
        for n in range(self.transmissions + 1, self.max_transmissions + 1):
            end += min(self.rto * (1 << (n - 1)), self.rto_max)
        self.deadline = end

    def on_retransmit(self, now: float) -> None:
        """Account one more transmission and schedule the next deadline."""
        self.transmissions += 1
        wait = min(self.rto * (1 << (self.transmissions - 1)), self.rto_max)
        self.deadline = now + wait
