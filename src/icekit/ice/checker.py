"""The Binding requests we send: checks and consent requests.

:class:`Checker` paces ordinary and triggered checks (RFC 8445 §6.1.4.2,
§7.3.1.4, §14.2), sends the nominating request (§8.1.1) and consent
requests (RFC 7675 §5.1), retransmits them (§14.3), matches responses to
them (§7.2.5) and reports the checks that timed out.  The agent says, at
each call, which credentials and role to sign with; whether checking is
allowed at all is its decision.

A :class:`Transaction`'s RTO (:func:`initial_rto`) doubles per
retransmission (RFC 8489 §6.2.1) up to a ceiling; it times out one (capped)
RTO after the last transmission.
"""

from __future__ import annotations

import enum
import random
from collections.abc import Sequence

from ..errors import StunParseError
from ..stun import Attr, Message, MessageClass
from ..types import Address
from .candidates import LocalCandidates
from .check import Role
from .checklist import CheckList
from .config import IceConfig
from .failure import FailureLog
from .messages import build_request
from .pair import CandidatePair
from .records import Credentials, IceStats, Transmit
from .states import PairState

__all__ = ["Checker", "Kind", "Transaction", "initial_rto"]

#: RFC 8445 §5.1.2.2 recommended type preference of peer-reflexive candidates.
_PRFLX_TYPE_PREF = 110
#: Transmissions of one consent request (RFC 7675 leaves retransmission open).
_CONSENT_TRANSMISSIONS = 4
_NOTHING: tuple[CandidatePair, ...] = ()


class Kind(enum.Enum):
    """What a transaction is for."""

    CHECK = "check"
    CONSENT = "consent"


def initial_rto(ta: float, active_pairs: int, rto_min: float) -> float:
    """RFC 8445 §14.3: RTO = MAX(500 ms, Ta * (Num-Waiting + Num-In-Progress))."""
    return max(rto_min, ta * active_pairs)


class Transaction:
    """One outstanding Binding request."""

    __slots__ = ("cancelled", "controlling", "data", "deadline", "dest", "generation", "kind",
                 "max_transmissions", "pair", "priority", "role_epoch", "rto", "rto_max",
                 "sent_at", "socket_id", "tid", "transmissions", "use_candidate")

    def __init__(self, tid: bytes, kind: Kind, pair: CandidatePair, data: bytes,
                 now: float, rto: float, rto_max: float, max_transmissions: int,
                 *, controlling: bool, use_candidate: bool, priority: int, generation: int,
                 role_epoch: int = 0) -> None:
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
            end += self._wait(n)
        self.deadline = end

    def on_retransmit(self, now: float) -> None:
        """Account one more transmission and schedule the next deadline."""
        self.transmissions += 1
        self.deadline = now + self._wait(self.transmissions)

    def _wait(self, transmission: int) -> float:
        # RFC 8445 §14.3 / RFC 8489 §6.2.1: the RTO doubles, capped at rto_max.
        return min(self.rto * (1 << (transmission - 1)), self.rto_max)


class Checker:
    """Our requests in flight and the pacing of new ones."""

    __slots__ = ("_checklist", "_config", "_due_at", "_local", "_log", "_nomination_value",
                 "_rng", "_stats", "_transmits", "_tx", "_urgent_at", "next_check_at",
                 "nominating")

    def __init__(self, config: IceConfig, rng: random.Random, checklist: CheckList,
                 local: LocalCandidates, stats: IceStats, transmits: list[Transmit],
                 log: FailureLog) -> None:
        self._config = config
        self._log = log
        self._rng = rng
        self._checklist = checklist
        self._local = local
        self._stats = stats
        self._transmits = transmits
        self._tx: dict[bytes, Transaction] = {}
        #: No deadline of a request in flight is earlier (deadlines only move later).
        self._due_at = float("inf")
        #: When the next paced check may go out (one per Ta, RFC 8445 §14.2).
        self.next_check_at = float("-inf")
        #: When a check on the critical path may next skip the pacing (see check_now).
        self._urgent_at = float("-inf")
        #: The pair whose next check carries USE-CANDIDATE (controlling side).
        self.nominating: CandidatePair | None = None
        self._nomination_value = 0

    def restart(self) -> None:
        """ICE restart: forget the checks of the old generation (consent requests stay)."""
        for tx in list(self._tx.values()):
            if tx.kind is Kind.CHECK:
                del self._tx[tx.tid]
        self.nominating = None
        self._nomination_value = 0
        self.next_check_at = float("-inf")

    def clear(self) -> None:
        """Forget every request in flight (close, consent lost)."""
        self._tx.clear()
        self._due_at = float("inf")

    def has_live_check(self) -> bool:
        """Whether a connectivity check that is not cancelled is in flight."""
        for tx in self._tx.values():  # a loop: cheaper than any() on a few items
            if tx.kind is Kind.CHECK and not tx.cancelled:
                return True
        return False

    def next_deadline(self) -> float | None:
        """Earliest retransmission or timeout deadline."""
        earliest = None
        for tx in self._tx.values():
            if earliest is None or tx.deadline < earliest:
                earliest = tx.deadline
        return earliest

    def paced(self, now: float, creds: Credentials, role: Role, ordinary: bool) -> None:
        """The paced slot: the next triggered check, else (``ordinary``) an ordinary one."""
        if now < self.next_check_at:
            return
        checklist = self._checklist
        pair = checklist.pop_triggered()
        # A pair that succeeded while queued needs no triggered check,
        # unless the check is our nomination.
        while (pair is not None and pair.state is PairState.SUCCEEDED
               and pair is not self.nominating):
            pair = checklist.pop_triggered()
        use_candidate = False
        if pair is not None:
            use_candidate = pair is self.nominating
        elif ordinary:
            pair = checklist.next_ordinary()
        if pair is not None:
            self.send(now, pair, creds, role, use_candidate)
            self.next_check_at = now + self._config.ta

    def nominate(self, now: float, pair: CandidatePair, creds: Credentials, role: Role,
                 send: bool) -> None:
        """RFC 8445 §8.1.1: check ``pair`` again with USE-CANDIDATE.

        The nominating request is sent like a triggered check, and at once
        (``send``) rather than in the next Ta slot: it reuses a 5-tuple that
        has just worked, so it creates no new NAT binding for pacing (§14.2)
        to protect.  It does not take the Ta slot of the next new check (see
        docs/deviations.md).
        """
        self.nominating = pair
        triggered = self._checklist.triggered
        if pair in triggered:
            triggered.remove(pair)
        if send:
            self.send(now, pair, creds, role, True)
        else:
            triggered.insert(0, pair)

    def check_now(self, now: float, pair: CandidatePair, creds: Credentials, role: Role) -> None:
        """Send the queued triggered check of ``pair`` now: it is on the critical path.

        Two triggered checks stand between the agents and a selected pair:
        on the controlled side, that of a pair the peer nominated before it
        was valid here (RFC 8445 §7.3.1.5), and on the controlling side,
        while no pair is valid yet, that of a pair the peer's check just
        came over (its success lets us nominate).  Both reuse the 5-tuple the
        peer has just used, so they go out at once instead of after the
        checks queued before them and the Ta pacing; at most one such check
        per Ta, so replayed requests cannot speed up our sending.
        """
        triggered = self._checklist.triggered
        if now < self._urgent_at or pair not in triggered:
            return
        triggered.remove(pair)
        self._urgent_at = now + self._config.ta
        self.send(now, pair, creds, role, False)

    def trigger(self, pair: CandidatePair) -> None:
        """RFC 8445 §7.3.1.4: queue the triggered check for an incoming request."""
        if pair.state is PairState.SUCCEEDED:
            return
        if pair.state is PairState.IN_PROGRESS and pair.transaction_id is not None:
            tx = self._tx.get(pair.transaction_id)
            if tx is not None:
                tx.cancel()
        self._checklist.enqueue_triggered(pair)

    def send(self, now: float, pair: CandidatePair, creds: Credentials, role: Role,
             use_candidate: bool) -> None:
        """Send a check on ``pair`` (RFC 8445 §7.2.4), cancelling the one in flight."""
        config = self._config
        nomination: int | None = None
        if use_candidate and config.renomination:
            self._nomination_value += 1
            nomination = self._nomination_value
        if pair.transaction_id is not None:
            previous = self._tx.get(pair.transaction_id)
            if previous is not None:
                previous.cancel()
        rto = initial_rto(config.ta, self._checklist.count_active(), config.rto_min)
        tx = self._transaction(now, Kind.CHECK, pair, creds, role, rto,
                               config.max_check_transmissions, use_candidate, nomination)
        pair.transaction_id = tx.tid
        if pair.state is not PairState.SUCCEEDED:
            pair.set_state(PairState.IN_PROGRESS)
        self._stats.requests_sent += 1

    def send_consent(self, now: float, pair: CandidatePair, creds: Credentials,
                     role: Role) -> None:
        """A consent request on the selected pair (RFC 7675 §5.1)."""
        self._transaction(now, Kind.CONSENT, pair, creds, role, self._config.rto_min,
                          _CONSENT_TRANSMISSIONS, False, None)
        self._stats.consent_requests_sent += 1

    def _transaction(self, now: float, kind: Kind, pair: CandidatePair, creds: Credentials,
                     role: Role, rto: float, transmissions: int, use_candidate: bool,
                     nomination: int | None) -> Transaction:
        assert creds.remote_key is not None and creds.remote_ufrag is not None
        tid = self._rng.randbytes(12)
        base = self._local.bases.get(pair.socket_id, pair.local)
        # RFC 8445 §7.1.1: PRIORITY as if the check created a prflx candidate:
        # §5.1.2.1 with the prflx type preference, the base's local
        # preference and component 1 (compute_priority, without its checks).
        priority = (_PRFLX_TYPE_PREF << 24) + (base.priority & 0xFFFF00) + 255
        data = build_request(tid, f"{creds.remote_ufrag}:{creds.local_ufrag}",
                             creds.remote_key, priority, role.controlling,
                             role.tie_breaker, use_candidate, nomination)
        tx = Transaction(tid, kind, pair, data, now, rto, self._config.rto_max, transmissions,
                         controlling=role.controlling, use_candidate=use_candidate,
                         priority=priority, generation=creds.generation, role_epoch=role.epoch)
        self._tx[tid] = tx
        self._due_at = min(self._due_at, tx.deadline)
        self._transmits.append(Transmit(pair.socket_id, tx.dest, data))
        return tx

    def match(self, msg: Message, creds: Credentials,
              old_creds: Credentials | None) -> tuple[Transaction, object, bool] | None:
        """RFC 8445 §7.2.5: the transaction an authenticated response answers.

        Returns the transaction (now finished), the response's ERROR-CODE or
        XOR-MAPPED-ADDRESS, and whether a failed outcome fails the pair;
        ``None`` if the response is dropped (counted in ``stats.dropped``).
        """
        dropped = self._stats.dropped
        tx = self._tx.get(msg.transaction_id)
        if tx is None:
            dropped["unmatched_response"] += 1
            return None
        signer = creds if tx.generation == creds.generation else old_creds
        if signer is None or signer.generation != tx.generation or signer.remote_key is None:
            dropped["stale_response"] += 1
            return None
        if not msg.has_integrity or not msg.verify_integrity(signer.remote_key):
            dropped["bad_integrity"] += 1
            if tx.kind is Kind.CHECK and _is_401(msg):
                # RFC 8489 §9.1.3: the peer rejects our credentials.  Its
                # 401 is unsigned: the check still takes a signed answer
                # until its current timeout (a forged 401 cannot beat the
                # real answer), but is not sent again, since the peer
                # rejects every copy.  Remembered as the reason
                # (FailureLog.certain).
                tx.max_transmissions = tx.transmissions
                self._log.rejected.add(tx.pair.key)
            return None
        try:
            value = msg.get(Attr.ERROR_CODE if msg.msg_class == MessageClass.ERROR
                            else Attr.XOR_MAPPED_ADDRESS)
        except StunParseError:
            # Signed but malformed: treat like a corrupted datagram and let
            # the transaction run on.
            dropped["malformed"] += 1
            return None
        del self._tx[tx.tid]
        self._stats.responses_received += 1
        self._log.answers += 1
        pair = tx.pair
        current = pair.transaction_id == tx.tid
        if current:
            pair.transaction_id = None
        # Whether a failed outcome fails the pair: not when a newer check of
        # the pair is in flight, nor for a late answer to an older check of
        # a pair that has succeeded since, nor after a restart.
        fails = (tx.kind is Kind.CHECK and self._checklist.get(pair.key) is pair
                 and (current or (pair.transaction_id is None and not pair.valid)))
        return tx, value, fails

    def expire(self, now: float) -> Sequence[CandidatePair]:
        """Retransmit what is due; return the pairs whose current check timed out."""
        if now < self._due_at:
            return _NOTHING
        failed: list[CandidatePair] = []
        due = [tx for tx in self._tx.values() if tx.deadline <= now]
        if len(due) > 1:
            due.sort(key=lambda tx: (tx.deadline, tx.tid))  # oldest deadline first
        for tx in due:
            if tx.retransmit_due():
                tx.on_retransmit(now)
                self._stats.retransmissions += 1
                self._transmits.append(Transmit(tx.socket_id, tx.dest, tx.data))
                continue
            del self._tx[tx.tid]
            if tx.kind is Kind.CONSENT or tx.cancelled:
                continue
            pair = tx.pair
            if pair.transaction_id == tx.tid:
                pair.transaction_id = None
                failed.append(pair)
        earliest = self.next_deadline()
        self._due_at = earliest if earliest is not None else float("inf")
        return failed


def _is_401(msg: Message) -> bool:
    if msg.msg_class != MessageClass.ERROR:
        return False
    try:
        error = msg.get(Attr.ERROR_CODE)
    except StunParseError:
        return False
    return isinstance(error, tuple) and error[0] == 401
