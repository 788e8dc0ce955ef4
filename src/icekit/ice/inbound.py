"""Incoming STUN for the ICE agent: requests (RFC 8445 §7.3) and responses (§7.2.5).

:class:`InboundMixin` is one half of :class:`~icekit.ice.IceAgent`; it reads
and changes the agent's state, which is declared here for the type checker.
Nothing an attacker sends changes anything before it is authenticated.
"""

from __future__ import annotations

import logging

from ..candidate import Candidate, CandidateType, compute_foundation
from ..errors import IcekitError, StunParseError
from ..stun import Attr, Message, MessageClass, Method
from ..types import Address
from . import events
from .checklist import CheckList
from .config import IceConfig
from .consent import Consent
from .messages import build_error, build_success, has_attr
from .pair import CandidatePair, PairKey
from .records import Credentials, IceStats, canon_host
from .states import PairState
from .transactions import Kind, Transaction, TransactionTable

__all__ = ["InboundMixin"]

logger = logging.getLogger(__name__)

#: Role switches allowed per ICE generation.  Against a peer with a fixed
#: tie-breaker one switch always suffices (roles only move towards the
#: winner); the bound stops a peer whose role claims keep contradicting
#: each other from making us switch, and check, for ever.
ROLE_SWITCH_LIMIT = 4


class InboundMixin:
    """Handling of received STUN messages (mixed into the agent)."""

    # -- agent state this half uses (owned and initialised by IceAgent) -----
    config: IceConfig
    stats: IceStats
    _creds: Credentials
    _old_creds: Credentials | None
    _controlling: bool
    _tie_breaker: int
    _role_epoch: int
    _conflict_switches: int
    _now: float
    _checklist: CheckList
    _tx: TransactionTable
    _socket_base: dict[int, Candidate]
    _local: list[tuple[Candidate, int]]
    _local_by_addr: dict[tuple[str, str, int], tuple[Candidate, int]]
    _remote: dict[tuple[str, str, int], Candidate]
    _prflx_serial: int
    _selected: CandidatePair | None
    _consent: Consent | None
    _rtt: float | None
    _valid_sources: set[PairKey]
    _remote_nomination_max: int
    _nominating: CandidatePair | None
    _consent_lost: bool
    _lost_key: PairKey | None

    def _send(self, socket_id: int, dest: Address, data: bytes) -> None:
        raise NotImplementedError

    def _emit(self, event: events.Event) -> None:
        raise NotImplementedError

    def _set_role(self, controlling: bool) -> None:
        raise NotImplementedError

    def _current_selected(self) -> CandidatePair | None:
        raise NotImplementedError

    def _select(self, pair: CandidatePair) -> None:
        raise NotImplementedError

    def _fail_pair(self, pair: CandidatePair) -> None:
        raise NotImplementedError

    def _check_now(self, pair: CandidatePair) -> None:
        raise NotImplementedError

    # -- peer-reflexive and nomination helpers ---------------------------------

    def _remote_for(self, transport: str, src: Address, priority: int) -> Candidate | None:
        """The remote candidate at ``src``, learned as prflx if new; ``None`` over the cap."""
        key = (transport, src[0], src[1])
        remote = self._remote.get(key)
        if remote is None:
            prflx = sum(1 for c in self._remote.values() if c.type is CandidateType.PRFLX)
            if prflx >= self.config.max_remote_prflx:
                return None
            # RFC 8445 §7.3.1.3: learn a peer-reflexive remote candidate.
            self._prflx_serial += 1
            remote = Candidate(foundation=f"prflx{self._prflx_serial}", component=1,
                               transport=transport, priority=priority, address=src[0],
                               port=src[1], type=CandidateType.PRFLX)
            self._remote[key] = remote
            self._emit(events.RemoteCandidateAdded(remote))
        return remote

    def _on_remote_nomination(self, pair: CandidatePair, nomination: int | None) -> None:
        """Controlled side: the pair is valid and the peer nominated it (§7.3.1.5)."""
        current = self._current_selected()
        if current is None or current is pair:
            self._select(pair)
        elif nomination is not None:
            self._select(pair)  # renomination: the latest NOMINATION wins
        elif pair.priority > current.priority:
            # RFC 5245 aggressive nomination: the highest-priority nominated pair wins.
            self._select(pair)

    # -- role conflicts (RFC 8445 §7.3.1.1, §7.2.5.1) --------------------------

    def _wins_role_conflict(self, peer_tie_breaker: int, peer_ufrag: str) -> bool:
        """Whether we keep our role in a conflict with this peer.

        §7.3.1.1 compares tie-breakers with ">=" on both sides, so equal
        tie-breakers make both sides win (both controlling: each answers
        487, both switch, and again for ever).  Breaking the tie with the
        ufrags, which both sides know, gives one winner, the same on both.
        """
        return (self._tie_breaker, self._creds.local_ufrag) > (peer_tie_breaker, peer_ufrag)

    def _may_switch_role(self) -> bool:
        if self._conflict_switches < ROLE_SWITCH_LIMIT:
            return True
        self.stats.dropped["role_switch_limit"] += 1
        return False

    def _switch_role_for_conflict(self, controlling: bool) -> None:
        self._conflict_switches += 1
        self.stats.role_switches += 1
        self._set_role(controlling)

    # -- incoming STUN --------------------------------------------------------

    def _handle_stun(self, socket_id: int, src: Address, data: bytes) -> None:
        try:
            msg = Message.decode(data)
        except (IcekitError, ValueError):
            self.stats.dropped["malformed"] += 1
            return
        if msg.method != Method.BINDING:
            self.stats.dropped["not_binding"] += 1
            return
        cls = msg.msg_class
        if cls == MessageClass.REQUEST:
            self._on_request(socket_id, src, msg)
        elif cls == MessageClass.INDICATION:
            self.stats.dropped["indication"] += 1  # keepalives (RFC 8445 §11)
        else:
            self._on_response(socket_id, src, msg)

    def _reply_error(self, socket_id: int, src: Address, msg: Message, code: int,
                     key: bytes | None, unknown: tuple[int, ...] = ()) -> None:
        self.stats.errors_sent += 1
        self._send(socket_id, src, build_error(msg.transaction_id, code, key, unknown))

    def _on_request(self, socket_id: int, src: Address, msg: Message) -> None:
        self.stats.requests_received += 1
        try:
            username = msg.get(Attr.USERNAME)
        except StunParseError:
            # RFC 8489 §6.3.1: a malformed request gets 400 (unsigned: not
            # authenticated).  Attribute values are decoded lazily, so every
            # read of attacker input is guarded like this one.
            self.stats.dropped["malformed"] += 1
            self._reply_error(socket_id, src, msg, 400, None)
            return
        if not isinstance(username, str) or not msg.has_integrity:
            # RFC 8489 §9.1.3: no USERNAME or MESSAGE-INTEGRITY -> 400.
            self.stats.dropped["bad_request"] += 1
            self._reply_error(socket_id, src, msg, 400, None)
            return
        creds = self._creds
        if not username.startswith(creds.local_prefix):
            old = self._old_creds
            if old is None or not username.startswith(old.local_prefix):
                self.stats.dropped["bad_username"] += 1
                self._reply_error(socket_id, src, msg, 401, None)
                return
            creds = old
        if not msg.verify_integrity(creds.local_key):
            self.stats.dropped["bad_integrity"] += 1
            self._reply_error(socket_id, src, msg, 401, None)
            return
        # Authenticated from here on (RFC 8445 §7.3: nothing changes before).
        if self._consent_lost and self._lost_key == (socket_id, src):
            # RFC 7675 §5.1: consent lost: cease transmission on the 5-tuple.
            self.stats.dropped["consent_lost"] += 1
            return
        unknown = msg.unknown_required
        if unknown:
            self.stats.dropped["unknown_attributes"] += 1
            self._reply_error(socket_id, src, msg, 420, creds.local_key, tuple(unknown))
            return
        try:
            priority = msg.get(Attr.PRIORITY)
            ctl = msg.get(Attr.ICE_CONTROLLING)
            ced = msg.get(Attr.ICE_CONTROLLED)
            nomination = msg.get(Attr.NOMINATION)
        except StunParseError:
            self.stats.dropped["malformed"] += 1
            self._reply_error(socket_id, src, msg, 400, creds.local_key)
            return
        if not isinstance(priority, int) or (ctl is None) == (ced is None):
            self.stats.dropped["bad_request"] += 1
            self._reply_error(socket_id, src, msg, 400, creds.local_key)
            return
        if creds is not self._creds:
            # The old generation during an ICE restart: keep the old path alive.
            self._respond(socket_id, src, msg, creds)
            return
        # RFC 8445 §7.3.1.1: role conflicts.
        peer_ufrag = username[len(creds.local_prefix):]
        if self._controlling and ctl is not None:
            if self._wins_role_conflict(ctl, peer_ufrag) or not self._may_switch_role():
                self._reply_error(socket_id, src, msg, 487, creds.local_key)
                return
            self._switch_role_for_conflict(False)
        elif not self._controlling and ced is not None:
            if (self._wins_role_conflict(ced, peer_ufrag) and not self.config.lite
                    and self._may_switch_role()):
                self._switch_role_for_conflict(True)
            else:
                self._reply_error(socket_id, src, msg, 487, creds.local_key)
                return
        self._respond(socket_id, src, msg, creds)
        base = self._socket_base.get(socket_id)
        if base is None:
            self.stats.dropped["unknown_socket"] += 1
            return
        remote = self._remote_for(base.transport, src, priority)
        if remote is None:
            # Answered (above) but not learned: see IceConfig.max_remote_prflx.
            self.stats.dropped["prflx_limit"] += 1
            return
        key: PairKey = (socket_id, src)
        pair = self._checklist.get(key)
        if pair is None:
            new = CandidatePair(base, remote, socket_id, self._controlling)
            new.key = key
            pair, _removed = self._checklist.add(new)
            if pair is None:
                self.stats.dropped["pair_limit"] += 1
                return
        use_candidate = has_attr(msg, Attr.USE_CANDIDATE)
        if not isinstance(nomination, int):
            nomination = None
        if self.config.lite:
            # A lite agent sends no checks: an authenticated check proves the
            # path, and USE-CANDIDATE selects it (RFC 8445 §7.3.1.5 for lite).
            if not pair.valid:
                pair.valid = True
                pair.valid_at = self._now
                pair.set_state(PairState.SUCCEEDED)
                self._valid_sources.add(pair.key)
        else:
            in_flight = pair.state is PairState.IN_PROGRESS
            self._trigger(pair)
            if self._controlling and not self._valid_sources and not in_flight:
                # Nothing valid yet and our own check of this pair is not
                # under way (its answer would still count): this check's
                # success is what lets us nominate.
                self._check_now(pair)
        if self._controlling or not (use_candidate or nomination is not None):
            return
        if nomination is not None:
            if nomination <= self._remote_nomination_max:
                return
            self._remote_nomination_max = nomination
            pair.remote_nomination = nomination
        if pair.valid and pair.state is PairState.SUCCEEDED:
            self._on_remote_nomination(pair, nomination)
        else:
            pair.remote_nominated = True
            self._check_now(pair)

    def _trigger(self, pair: CandidatePair) -> None:
        """RFC 8445 §7.3.1.4: the triggered check for an incoming request."""
        if pair.state is PairState.SUCCEEDED:
            return
        if pair.state is PairState.IN_PROGRESS and pair.transaction_id is not None:
            tx = self._tx.get(pair.transaction_id)
            if tx is not None:
                tx.cancel()
        self._checklist.enqueue_triggered(pair)

    def _respond(self, socket_id: int, src: Address, msg: Message, creds: Credentials) -> None:
        self.stats.responses_sent += 1
        self._send(socket_id, src, build_success(msg.transaction_id, src, creds.local_key))

    def _on_response(self, socket_id: int, src: Address, msg: Message) -> None:
        tx = self._tx.get(msg.transaction_id)
        if tx is None:
            self.stats.dropped["unmatched_response"] += 1
            return
        creds = self._creds if tx.generation == self._creds.generation else self._old_creds
        if creds is None or creds.generation != tx.generation or creds.remote_key is None:
            self.stats.dropped["stale_response"] += 1
            return
        if (not msg.has_integrity
                or not msg.verify_integrity(creds.remote_key)):
            self.stats.dropped["bad_integrity"] += 1
            return
        is_error = msg.msg_class == MessageClass.ERROR
        try:
            value = msg.get(Attr.ERROR_CODE if is_error else Attr.XOR_MAPPED_ADDRESS)
        except StunParseError:
            # Signed but malformed: treat like a corrupted datagram and let
            # the transaction run on.
            self.stats.dropped["malformed"] += 1
            return
        self._tx.pop(tx.tid)
        self.stats.responses_received += 1
        pair = tx.pair
        current = pair.transaction_id == tx.tid
        if current:
            pair.transaction_id = None
        # Whether a failed outcome fails the pair: not when a newer check of
        # the pair is in flight, nor for a late answer to an older check of
        # a pair that has succeeded since, nor after a restart.
        fails = (tx.kind is Kind.CHECK and self._checklist.get(pair.key) is pair
                 and (current or (pair.transaction_id is None and not pair.valid)))
        # RFC 8445 §7.2.5.2.1: the response must come back the way it went.
        if src != tx.dest or socket_id != tx.socket_id:
            self.stats.dropped["asymmetric_response"] += 1
            if fails:
                self._fail_pair(pair)
            return
        if msg.unknown_required:
            # RFC 8489 §6.3.3 / §6.3.4: a response with unknown
            # comprehension-required attributes is discarded and the
            # transaction has failed.
            self.stats.dropped["unknown_attributes"] += 1
            if fails:
                self._fail_pair(pair)
            return
        if tx.transmissions == 1:
            sample = self._now - tx.sent_at
            self._rtt = sample if self._rtt is None else 0.875 * self._rtt + 0.125 * sample
        if is_error:
            self._on_error_response(tx, value, fails)
            return
        if tx.kind is Kind.CONSENT:
            if pair is self._selected and self._consent is not None:
                self._consent.rtt = self._rtt
                self._consent.on_response(self._now)
            return
        if self._checklist.get(pair.key) is not pair:
            return  # the pair belongs to a check list discarded by a restart
        if not isinstance(value, tuple):
            self.stats.dropped["bad_response"] += 1
            if fails:
                self._fail_pair(pair)
            return
        self._on_success(tx, pair, value)

    def _on_error_response(self, tx: Transaction, error: object, fails: bool) -> None:
        code = error[0] if isinstance(error, tuple) else 0
        pair = tx.pair
        if tx.kind is Kind.CONSENT:
            return
        if code == 487:
            # RFC 8445 §7.2.5.1: switch role, unless the request was sent
            # before a switch (then the 487 is stale: the role it objects to
            # is gone), and retry in the current role.
            if tx.role_epoch == self._role_epoch:
                if not self._may_switch_role():
                    if fails:
                        self._fail_pair(pair)
                    return
                self._switch_role_for_conflict(not tx.controlling)
            else:
                self.stats.dropped["stale_role_conflict"] += 1
            if fails:  # not when a newer check of the pair is under way
                self._checklist.enqueue_triggered(pair)
            return
        logger.debug("error %s on %r", code, pair)
        if fails:
            self._fail_pair(pair)

    def _on_success(self, tx: Transaction, pair: CandidatePair, mapped: Address) -> None:
        transport = pair.local.transport
        found = self._local_by_addr.get((transport, canon_host(mapped[0]), mapped[1]))
        if found is not None and found[1] == pair.socket_id:
            local = found[0]
        else:
            # RFC 8445 §7.2.5.3.1: a local peer-reflexive candidate.
            base = self._socket_base.get(pair.socket_id, pair.local)
            local = Candidate(
                foundation=compute_foundation(CandidateType.PRFLX, base.address, None, transport),
                component=1, transport=transport, priority=tx.priority,
                address=mapped[0], port=mapped[1], type=CandidateType.PRFLX,
                related_address=base.address, related_port=base.port)
            key = (transport, canon_host(mapped[0]), mapped[1])
            self._local.append((local, pair.socket_id))
            self._local_by_addr[key] = (local, pair.socket_id)
            self._emit(events.LocalCandidateAdded(local))
        if local is not pair.local and pair is not self._selected:
            # §7.2.5.3.2: the valid pair has the mapped address as local.
            pair.local = local
            pair.update_priority(self._controlling)
            self._checklist.resort()
        pair.set_state(PairState.SUCCEEDED)
        if not pair.valid:
            pair.valid = True
            pair.valid_at = self._now
            self._valid_sources.add(pair.key)
        self._checklist.unfreeze_foundation(pair.foundation)
        if pair is self._selected and self._consent is not None:
            self._consent.on_response(self._now)
        if self._controlling:
            if tx.use_candidate and tx.controlling:
                if pair is self._nominating:
                    self._nominating = None
                self._select(pair)
        elif pair.remote_nominated:
            pair.remote_nominated = False
            value = pair.remote_nomination
            # Renomination: a NOMINATION superseded while this pair was
            # still being checked no longer counts; the highest value wins.
            if value is None or value >= self._remote_nomination_max:
                self._on_remote_nomination(pair, value)
