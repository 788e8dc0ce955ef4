"""The sans-IO ICE agent (RFC 8445, RFC 8838, RFC 7675, RFC 8863).

:class:`IceAgent` never touches a socket or a clock: every input carries
``now`` and every output is pulled (``poll_transmit``, ``poll_timeout``,
``poll_event``).  See ``docs/core.md`` for how to drive it.
"""

from __future__ import annotations

import logging
import random

from ..candidate import Candidate, CandidateType
from ..errors import (
    ClosedError,
    CredentialsError,
    FailureReason,
    IcekitError,
    InvalidStateError,
)
from ..stun import IntegrityKey, Message, MessageClass, Method
from ..types import Address
from . import events
from .candidates import AddrKey, LocalCandidates, RemoteCandidates, addr_key
from .check import ROLE_SWITCH_LIMIT, CheckRejected, ParsedCheck, Role, parse_check
from .checker import Checker, Kind, Transaction
from .checklist import CheckList
from .config import IceConfig
from .consent import Consent
from .failure import FailureLog
from .messages import build_error, build_success
from .pair import CandidatePair, PairKey
from .progress import best_valid, connection_state, next_deadline, nomination_choice
from .records import (
    Credentials,
    IceStats,
    SelectedPair,
    Transmit,
    ice_key,
    validate_pwd,
    validate_ufrag,
)
from .replay import ReplayGuard
from .states import ConnectionState, GatheringState, PairState

__all__ = ["ROLE_SWITCH_LIMIT", "IceAgent", "IceStats", "SelectedPair", "Transmit"]

logger = logging.getLogger(__name__)


class IceAgent:
    """One ICE agent for a single component (RFC 8445), sans-IO.

    ``controlling`` is the initial role (see :meth:`set_controlling`);
    ``tie_breaker`` the 64-bit role conflict tie-breaker (drawn from ``rng``
    if omitted); ``rng`` is the only source of randomness (transaction ids,
    consent jitter).

    After :meth:`close` every API call raises
    :class:`~icekit.errors.ClosedError` and changes nothing; datagrams and
    timeouts are ignored (they can race with the close), the ``poll_*``
    methods return ``None`` once the events queued up to the close are read.
    """

    # Over 30 attributes give a plain instance a full-size dict (~1.5 KiB).
    __slots__ = ("_checklist", "_checks", "_closed", "_consent", "_consent_lost",
                 "_creds", "_deadline", "_deadline_stale", "_dirty", "_events", "_gathering",
                 "_local", "_local_eoc", "_lost_key", "_now", "_old_creds", "_pac_start",
                 "_remote", "_remote_eoc", "_remote_nomination_max", "_replay", "_rng", "_role",
                 "_rtt", "_selected", "_selected_generation", "_started", "_state",
                 "_transmits", "_valid_sources", "_why", "config", "stats")

    def __init__(self, config: IceConfig | None = None, *, controlling: bool = False,
                 local_ufrag: str, local_pwd: str, tie_breaker: int | None = None,
                 rng: random.Random | None = None) -> None:
        validate_ufrag(local_ufrag, what="local ufrag")
        validate_pwd(local_pwd, what="local pwd")
        self.config = config if config is not None else IceConfig()
        self._rng: random.Random = rng if rng is not None else random.SystemRandom()
        # RFC 8445 §6.1.1: a lite agent is controlled (against a full peer).
        self._role = Role(controlling and not self.config.lite,
                          tie_breaker if tie_breaker is not None else self._rng.getrandbits(64))
        self._creds = Credentials(0, local_ufrag, local_pwd)
        #: Credentials of the generation the selected pair was found with,
        #: kept during an ICE restart until a new pair is selected.
        self._old_creds: Credentials | None = None
        self._now = float("-inf")
        self._started = False
        #: RFC 8863 §3: when the PAC timer started (checks started and the
        #: remote credentials known); ``None`` until then.
        self._pac_start: float | None = None
        self._closed = False
        self._state = ConnectionState.NEW
        self._gathering = GatheringState.NEW
        self._local = LocalCandidates()
        self._remote = RemoteCandidates(self.config)
        self._replay = ReplayGuard()
        self._remote_eoc = False
        self._local_eoc = False
        self.stats = IceStats()
        self._checklist = CheckList(self.config.max_pairs, self.stats.dropped)
        self._remote_nomination_max = -1
        self._selected: CandidatePair | None = None
        self._selected_generation = 0
        self._consent: Consent | None = None
        self._consent_lost = False
        #: The pair key (5-tuple) consent was lost on: nothing more goes there.
        self._lost_key: PairKey | None = None
        self._rtt: float | None = None
        self._valid_sources: set[PairKey] = set()
        # Lists: a few items at a time, and an empty deque costs ~600 bytes.
        self._events: list[events.Event] = []
        self._transmits: list[Transmit] = []
        #: State changed without a ``now``: run at the next handle_timeout.
        self._dirty = False
        #: Cache of :meth:`poll_timeout`, recomputed after each input.
        self._deadline: float | None = None
        self._deadline_stale = True
        #: Evidence for :attr:`failure_reason`, and the reason once failed.
        self._why = FailureLog()
        self._checks = Checker(self.config, self._rng, self._checklist, self._local,
                               self.stats, self._transmits, self._why)

    # -- public properties ------------------------------------------------

    @property
    def controlling(self) -> bool:
        """Whether the agent currently has the controlling role."""
        return self._role.controlling

    @property
    def tie_breaker(self) -> int:
        """The 64-bit role-conflict tie-breaker (RFC 8445 §7.1.3)."""
        return self._role.tie_breaker

    @property
    def local_ufrag(self) -> str:
        """The current local username fragment."""
        return self._creds.local_ufrag

    @property
    def local_pwd(self) -> str:
        """The current local password."""
        return self._creds.local_pwd

    @property
    def state(self) -> ConnectionState:
        """The connection state."""
        return self._state

    @property
    def failure_reason(self) -> FailureReason | None:
        """Why the state is ``FAILED`` (see docs/core.md); ``None`` in any other state."""
        return self._why.reason if self._state is ConnectionState.FAILED else None

    @property
    def gathering_state(self) -> GatheringState:
        """The gathering state (driven by the candidate calls)."""
        return self._gathering

    @property
    def selected_pair(self) -> SelectedPair | None:
        """The pair application data goes over; ``None`` before and after consent."""
        pair = self._selected
        if pair is None or self._consent_lost or self._closed:
            return None
        return SelectedPair(pair.local, pair.remote, pair.socket_id)

    @property
    def pairs(self) -> list[CandidatePair]:
        """The check list, highest priority first (read-only use)."""
        return list(self._checklist.ordered())

    @property
    def local_candidates(self) -> list[Candidate]:
        """Local candidates, including learned peer-reflexive ones."""
        return [c for c, _ in self._local.all]

    @property
    def remote_candidates(self) -> list[Candidate]:
        """Remote candidates, including learned peer-reflexive ones."""
        return list(self._remote.values())

    def is_valid_source(self, socket_id: int, src: Address) -> bool:
        """May application data from ``src`` on ``socket_id`` be accepted (O(1))?"""
        return (socket_id, src) in self._valid_sources

    def set_controlling(self, controlling: bool) -> None:
        """Choose the role before :meth:`start`; a lite agent stays controlled.

        Pair priorities follow the role (RFC 8445 §6.1.2.3).  Raises
        :class:`~icekit.errors.InvalidStateError` once started.
        """
        self._check_open()
        if self._started:
            raise InvalidStateError("the role can only be set before start()")
        self._set_role(controlling and not self.config.lite, event=False)

    # -- candidates and credentials --------------------------------------

    def add_local_candidate(self, candidate: Candidate, socket_id: int, *,
                            now: float | None = None) -> None:
        """Add a gathered local candidate sent and received through ``socket_id``."""
        self._check_open()
        if self._gathering is GatheringState.NEW:
            self._set_gathering(GatheringState.GATHERING)
        if not self._local.add(candidate, socket_id):
            return
        if candidate.type is CandidateType.PRFLX:
            return  # §7.2.5.3.1: peer-reflexive local candidates are not paired
        for remote in self._remote.values():
            self._form_pair(candidate, socket_id, remote)
        self._after_change(now)

    def set_local_end_of_candidates(self, *, now: float | None = None) -> None:
        """Local gathering is complete."""
        self._check_open()
        self._local_eoc = True
        self._set_gathering(GatheringState.COMPLETE)
        self._after_change(now)

    def add_remote_candidate(self, candidate: Candidate, *, now: float | None = None) -> bool:
        """Add a remote candidate; allowed at any time (Trickle ICE, RFC 8838).

        Returns True if the candidate is stored (or already known), False if
        it is ignored (other component, unresolved host name, port 0) or
        dropped beyond ``IceConfig.max_remote_candidates``.
        """
        self._check_open()
        if (candidate.component != 1 or candidate.is_hostname
                or (candidate.port == 0 and candidate.transport == "udp")):
            # Host names (mDNS) must be resolved by the I/O layer first.
            logger.debug("ignoring remote candidate %s", candidate)
            return False
        key = addr_key(candidate.transport, candidate.address, candidate.port)
        existing = self._remote.get(key)
        if existing is not None:
            if existing.type is CandidateType.PRFLX and candidate.type is not CandidateType.PRFLX:
                self._replace_prflx(key, existing, candidate)
                self._after_change(now)
            return True
        if not self._remote.add(key, candidate):
            self.stats.dropped["remote_candidate_limit"] += 1
            return False
        for local, socket_id in self._local.pairable():
            self._form_pair(local, socket_id, candidate)
        self._after_change(now)
        return True

    def set_remote_credentials(self, ufrag: str, pwd: str, *,
                               now: float | None = None) -> None:
        """Set the peer's ufrag and pwd for the current generation."""
        self._check_open()
        if not ufrag or not pwd:
            raise CredentialsError("remote ICE ufrag and pwd must not be empty")
        creds = self._creds
        if creds.remote_ufrag is not None and (creds.remote_ufrag, creds.remote_pwd) != (ufrag, pwd):
            raise InvalidStateError("remote credentials changed: call restart() first")
        creds.remote_ufrag = ufrag
        creds.remote_pwd = pwd
        creds.remote_key = ice_key(pwd)
        self._after_change(now)

    def set_remote_end_of_candidates(self, *, now: float | None = None) -> None:
        """The peer has sent all its candidates (RFC 8838 §13)."""
        self._check_open()
        self._remote_eoc = True
        self._after_change(now)

    def set_remote_lite(self, lite: bool = True, *, now: float | None = None) -> None:
        """The peer is an ICE-lite agent: we must control and only we check."""
        self._check_open()
        if lite and not self._role.controlling and not self.config.lite:
            self._set_role(True)
        self._after_change(now)

    # -- driving -----------------------------------------------------------

    def start(self, now: float) -> None:
        """Begin connectivity checks; the first one goes out at once."""
        self._check_open()
        if self._started:
            raise InvalidStateError("the agent has already been started")
        self._advance(now)
        self._started = True
        self._run(self._now)

    def restart(self, now: float, ufrag: str, pwd: str) -> None:
        """ICE restart (RFC 8445 §9): new local credentials and a new check list.

        The selected pair, if any, keeps carrying data (and consent) with the
        old credentials until a new pair is selected.  Set the new remote
        credentials and candidates afterwards.
        """
        self._check_open()
        validate_ufrag(ufrag, what="local ufrag")
        validate_pwd(pwd, what="local pwd")
        self._advance(now)
        old = self._creds
        self._creds = Credentials(old.generation + 1, ufrag, pwd)
        if self._selected is not None and not self._consent_lost:
            if self._selected_generation == old.generation:
                self._old_creds = old
        else:
            self._selected = None
            self._consent = None
            self._old_creds = None
        self._checks.restart()
        self._checklist.clear()
        self._remote.clear()
        self._remote_eoc = False
        self._remote_nomination_max = -1
        self._role.conflict_switches = 0
        self._why.reset()
        self._consent_lost = False
        self._lost_key = None
        self._valid_sources = {self._selected.key} if self._selected is not None else set()
        self._pac_start = None
        self._run(self._now)

    def close(self, now: float) -> None:
        """Stop everything; no more transmissions or timers."""
        if self._closed:
            return
        self._advance(now)
        self._closed = True
        self._checks.clear()
        self._checklist.clear()
        self._transmits.clear()
        self._valid_sources.clear()
        self._replay.clear()
        self._consent = None
        self._set_state(ConnectionState.CLOSED)

    def handle_stun(self, now: float, socket_id: int, src: Address, data: bytes) -> None:
        """A STUN datagram arrived on ``socket_id`` from ``src``.  Never raises."""
        if self._closed:
            self.stats.dropped["closed"] += 1
            return
        self._now = max(self._now, now)  # _advance, inlined on the per-datagram path
        self._deadline_stale = True
        try:
            self._on_datagram(socket_id, src, data)
            self._run(self._now)
        except Exception:
            logger.exception("internal error handling a datagram from %s", src)
            self.stats.dropped["internal_error"] += 1

    def handle_timeout(self, now: float) -> None:
        """Time has advanced to ``now``: retransmit, pace checks, run timers."""
        if self._closed:
            return
        self._advance(now)
        self._run(self._now)

    def poll_transmit(self) -> Transmit | None:
        """The next datagram to send, or ``None``."""
        return self._transmits.pop(0) if self._transmits else None

    def poll_event(self) -> events.Event | None:
        """The next event, or ``None``."""
        return self._events.pop(0) if self._events else None

    def poll_timeout(self) -> float | None:
        """The next absolute deadline at which to call :meth:`handle_timeout`."""
        if self._closed:
            return None
        if self._dirty and self._started:
            return self._now
        # Drivers ask after every input; the answer only changes when an
        # input is processed, so it is computed once per input.
        if self._deadline_stale:
            self._deadline = self._compute_deadline()
            self._deadline_stale = False
        return self._deadline

    def _compute_deadline(self) -> float | None:
        checks = self._checks
        work = self._can_check() and (self._checklist.triggered or self._ordinary_candidate_exists())
        nomination = self._nomination_candidate()
        return next_deadline(
            self._now, self.config, self._state,
            (checks.next_deadline(), checks.next_check_at if work else None,
             nomination[1] if nomination is not None else None),
            self._consent if not self._consent_lost and not self.config.lite else None,
            self._pac_start if self._selected is None else None)

    # -- internals: plumbing ----------------------------------------------

    def _check_open(self) -> None:
        if self._closed:
            raise ClosedError("the ICE agent is closed")

    def _advance(self, now: float) -> None:
        # Time never runs backwards inside the core, whatever the caller does.
        self._now = max(self._now, now)

    def _emit(self, event: events.Event) -> None:
        self._events.append(event)

    def _set_state(self, state: ConnectionState) -> None:
        if state is not self._state:
            logger.debug("connection state %s -> %s", self._state, state)
            self._state = state
            self._emit(events.ConnectionStateChanged(state, self.failure_reason))

    def _set_gathering(self, state: GatheringState) -> None:
        if state is not self._gathering:
            self._gathering = state
            self._emit(events.GatheringStateChanged(state))

    def _set_role(self, controlling: bool, *, event: bool = True) -> None:
        if not self._role.switch(controlling):
            return
        logger.debug("role switch: controlling=%s", controlling)
        for pair in self._checklist.ordered():
            pair.update_priority(controlling)
        self._checklist.resort()
        self._checks.nominating = None
        if event:
            self._emit(events.RoleChanged(controlling))

    def _current_selected(self) -> CandidatePair | None:
        """The selected pair if it belongs to this generation (not pre-restart)."""
        if self._selected_generation != self._creds.generation:
            return None
        return self._selected

    def _after_change(self, now: float | None = None) -> None:
        # Without ``now`` the work waits for the next handle_timeout: the
        # deadline becomes "at once" (poll_timeout returns the last known time).
        if self._closed:
            return
        self._deadline_stale = True
        if now is None:
            self._dirty = True
            return
        self._advance(now)
        self._run(self._now)

    # -- pairs -------------------------------------------------------------

    def _form_pair(self, local: Candidate, socket_id: int, remote: Candidate) -> None:
        pair = self._checklist.form(local, socket_id, remote, self._role.controlling)
        if pair is not None:
            self._block_if_pointless(pair)

    def _replace_prflx(self, key: AddrKey, old: Candidate, new: Candidate) -> None:
        # RFC 8838 §11.4: the signalled candidate replaces the peer-reflexive one.
        self._remote.replace(key, new)
        self._checklist.replace_remote(old, new, self._role.controlling)
        if self._selected is not None and self._selected.remote is old:
            self._selected.remote = new
        for local, socket_id in self._local.pairable():
            self._form_pair(local, socket_id, new)

    def _block_if_pointless(self, pair: CandidatePair) -> None:
        selected = self._current_selected()
        if selected is not None and pair.priority <= selected.priority:
            pair.ordinary_blocked = True

    # -- the scheduler -------------------------------------------------------

    def _can_check(self) -> bool:
        # RFC 7675 §5.1: after consent is lost nothing is checked until a restart.
        return (self._started and not self._closed and not self.config.lite
                and self._creds.remote_key is not None and not self._consent_lost)

    def _ordinary_allowed(self) -> bool:
        # After selection, only pairs that could replace the selected one are
        # worth checking: the controlled side (the peer may renominate) or a
        # renominating controlling side.
        if self._current_selected() is None:
            return True
        return not self._role.controlling or self.config.renomination

    def _ordinary_candidate_exists(self) -> bool:
        # A lite agent never checks its pairs: they are no pending work.
        return (not self.config.lite and self._ordinary_allowed()
                and self._checklist.has_ordinary_work())

    def _run(self, now: float) -> None:
        """Do everything due at ``now``, in the order the RFCs imply."""
        self._dirty = False
        self._deadline_stale = True
        if (self._pac_start is None and self._started
                and self._creds.remote_key is not None):
            self._pac_start = now
        checks = self._checks
        for pair in checks.expire(now):
            self._fail_pair(pair)
        if self._role.controlling and checks.nominating is None:  # else nothing to nominate
            self._maybe_nominate(now)
        if now >= checks.next_check_at and self._can_check():
            checks.paced(now, self._creds, self._role, self._ordinary_allowed())
        if self._consent is not None:
            self._run_consent(now)
        self._update_state(now)

    def _validate(self, pair: CandidatePair) -> None:
        """RFC 8445 §7.2.5.3.2: ``pair`` succeeded and is on the valid list."""
        pair.set_state(PairState.SUCCEEDED)
        if not pair.valid:
            pair.valid = True
            pair.valid_at = self._now
            self._valid_sources.add(pair.key)

    def _fail_pair(self, pair: CandidatePair) -> None:
        logger.debug("pair failed: %r", pair)
        pair.set_state(PairState.FAILED)
        if pair is self._checks.nominating:
            self._checks.nominating = None
        if pair.valid and pair is not self._selected:
            pair.valid = False
            self._valid_sources.discard(pair.key)

    # -- nomination (RFC 8445 §8.1.1) -----------------------------------------

    def _nomination_candidate(self) -> tuple[CandidatePair, float] | None:
        """The pair the controlling side would nominate and when."""
        # Without a valid source no pair is valid (every valid pair's key is one).
        if (not self._role.controlling or self.config.lite or self._checks.nominating is not None
                or self._consent_lost or not self._valid_sources):
            return None
        return nomination_choice(self._checklist, self._current_selected(), self.config,
                                 self._now)

    def _maybe_nominate(self, now: float) -> None:
        found = self._nomination_candidate()
        if found is None or found[1] > now:
            return
        logger.debug("nominating %r", found[0])
        self._checks.nominate(now, found[0], self._creds, self._role, self._can_check())

    def _check_now(self, pair: CandidatePair) -> None:
        if self._can_check():
            self._checks.check_now(self._now, pair, self._creds, self._role)

    def _select(self, pair: CandidatePair) -> None:
        if pair is self._selected:
            return
        logger.debug("selected %r", pair)
        pair.nominated = True
        self._selected = pair
        self._selected_generation = self._creds.generation
        self._old_creds = None
        self._consent = Consent(self.config, self._rng, self._now, self._rtt)
        self._consent_lost = False
        self._valid_sources = {p.key for p in self._checklist.ordered() if p.valid}
        self._valid_sources.add(pair.key)
        for other in self._checklist.ordered():
            self._block_if_pointless(other)
        self._emit(events.SelectedPairChanged(pair.local, pair.remote, pair.socket_id))

    # -- consent (RFC 7675) ---------------------------------------------------

    def _run_consent(self, now: float) -> None:
        consent = self._consent
        pair = self._selected
        if consent is None or pair is None or self._consent_lost or self.config.lite:
            return
        if consent.expired(now):
            # RFC 7675 §5.1: consent lost, the connection failed: cease
            # transmission on the 5-tuple (no retransmissions, no checks, no
            # answers there) until a restart.
            logger.info("consent lost on %r", pair)
            self._consent_lost = True
            self._lost_key = pair.key
            self._valid_sources.clear()
            self._checks.clear()
            self._checklist.triggered.clear()
            return
        if now >= consent.next_send:
            creds = self._old_creds if self._old_creds is not None else self._creds
            if creds.remote_key is not None and creds.remote_ufrag is not None:
                self._checks.send_consent(now, pair, creds, self._role)
            consent.on_sent(now)

    # -- state ----------------------------------------------------------------

    def _checks_pending(self) -> bool:
        checks = self._checks
        return bool(self._checklist.triggered or checks.nominating is not None
                    or checks.has_live_check() or self._ordinary_candidate_exists()
                    or (self._role.controlling and best_valid(self._checklist) is not None))

    def _update_state(self, now: float) -> None:
        if self._closed:
            return
        state = connection_state(
            now, self.config, self._checklist, self._role.controlling, self._started,
            self._selected, self._consent, self._consent_lost, self._old_creds is not None,
            self._remote_eoc and self._local_eoc, self._pac_start, self._checks_pending)
        state = self._why.judge(state, self._state, self._checklist.ordered(),
                                consent_lost=self._consent_lost, remote_candidates=len(self._remote))
        if state is None:
            return
        if state is ConnectionState.COMPLETED and self._state is not state:
            self._set_state(ConnectionState.CONNECTED)  # on the way, as the W3C states do
        self._set_state(state)

    # -- incoming STUN (RFC 8445 §7.3 requests, §7.2.5 responses) -------------

    def _on_datagram(self, socket_id: int, src: Address, data: bytes) -> None:
        try:
            msg = Message.decode(data)
        except (IcekitError, ValueError):
            self.stats.dropped["malformed"] += 1
            return
        if msg.method != Method.BINDING:
            self.stats.dropped["not_binding"] += 1
        elif msg.msg_class == MessageClass.REQUEST:
            self._on_request((socket_id, src), msg)
        elif msg.msg_class == MessageClass.INDICATION:
            self.stats.dropped["indication"] += 1  # keepalives (RFC 8445 §11)
        else:
            self._on_response(socket_id, src, msg)

    def _reply_error(self, source: PairKey, msg: Message, code: int, key: IntegrityKey | None,
                     unknown: tuple[int, ...] = ()) -> None:
        data = build_error(msg.transaction_id, code, key, unknown)
        raw = msg.raw
        if key is None and raw is not None and len(data) > len(raw):
            return  # unsigned and larger than the request: no amplification
        self.stats.errors_sent += 1
        self._transmits.append(Transmit(source[0], source[1], data))

    def _on_request(self, source: PairKey, msg: Message) -> None:
        self.stats.requests_received += 1
        check = parse_check(msg, self._creds, self._old_creds)
        if isinstance(check, ParsedCheck) or check.key is not None:  # authenticated
            if self._consent_lost and self._lost_key == source:
                # RFC 7675 §5.1: consent lost: cease transmission on the 5-tuple.
                self.stats.dropped["consent_lost"] += 1
                return
            if not self._replay.accept(msg.transaction_id, source, self._now):
                # The transaction came from another source: a replay.  No
                # answer (no reflection), no state change (docs/core.md).
                self.stats.dropped["replayed_request"] += 1
                return
        if isinstance(check, CheckRejected):
            self.stats.dropped[check.reason] += 1
            self._why.peer_rejected += check.code == 401  # bad USERNAME or integrity
            self._reply_error(source, msg, check.code, check.key, check.unknown)
            return
        creds = check.creds
        socket_id, src = source
        self._why.peer_ok += creds is self._creds
        if creds is not self._creds:
            # The old generation during an ICE restart: keep the old path alive.
            self._respond(source, msg, creds)
            return
        role = self._role
        if check.peer_controlling == role.controlling and (  # RFC 8445 §7.3.1.1
                not role.should_switch(creds.local_ufrag, check.tie_breaker, check.peer_ufrag,
                                       self.config.lite)
                or not self._switch_for_conflict(not role.controlling)):
            self._reply_error(source, msg, 487, creds.local_key)
            return
        self._respond(source, msg, creds)
        base = self._local.bases.get(socket_id)
        if base is None:
            self.stats.dropped["unknown_socket"] += 1
            return
        remote = self._remote.get((base.transport, src[0], src[1]))
        if remote is None:
            remote = self._remote.learn(base.transport, src, check.priority)
            if remote is None:
                # Answered (above) but not learned: see IceConfig.max_remote_prflx.
                self.stats.dropped["prflx_limit"] += 1
                return
            self._emit(events.RemoteCandidateAdded(remote))
        pair = self._checklist.get(source)
        if pair is None:
            pair = CandidatePair(base, remote, socket_id, role.controlling)
            pair.key = source
            if self._checklist.add(pair)[0] is not pair:
                return
        nomination = check.nomination
        if self.config.lite:
            # A lite agent sends no checks: an authenticated check proves the
            # path and USE-CANDIDATE selects it (RFC 8445 §7.3.1.5).  Once a
            # pair is selected only a renomination (a NOMINATION above all
            # seen) validates another: no replay, however old, moves it.
            current = self._current_selected()
            if (current is not None and pair is not current
                    and (nomination is None or nomination <= self._remote_nomination_max)):
                return
            self._validate(pair)
        else:
            in_flight = pair.state is PairState.IN_PROGRESS
            self._checks.trigger(pair)
            if role.controlling and not self._valid_sources and not in_flight:
                # Nothing valid yet and our own check of this pair is not
                # under way (its answer would still count): this check's
                # success is what lets us nominate.
                self._check_now(pair)
        if role.controlling or not (check.use_candidate or nomination is not None):
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

    def _on_remote_nomination(self, pair: CandidatePair, nomination: int | None) -> None:
        """Controlled side: the pair is valid and the peer nominated it (§7.3.1.5)."""
        current = self._current_selected()
        # Renomination: the latest NOMINATION wins; RFC 5245 aggressive
        # nomination: the highest-priority nominated pair wins.
        if (current is None or current is pair or nomination is not None
                or pair.priority > current.priority):
            self._select(pair)

    def _switch_for_conflict(self, controlling: bool) -> bool:
        """Switch role for a conflict; False past :data:`ROLE_SWITCH_LIMIT` (counted)."""
        if self._role.conflict_switches >= ROLE_SWITCH_LIMIT:
            self.stats.dropped["role_switch_limit"] += 1
            self._why.role_limit = True
            return False
        self._role.conflict_switches += 1
        self.stats.role_switches += 1
        self._set_role(controlling)
        return True

    def _respond(self, source: PairKey, msg: Message, creds: Credentials) -> None:
        self.stats.responses_sent += 1
        data = build_success(msg.transaction_id, source[1], creds.local_key)
        self._transmits.append(Transmit(source[0], source[1], data))

    def _on_response(self, socket_id: int, src: Address, msg: Message) -> None:
        found = self._checks.match(msg, self._creds, self._old_creds)
        if found is None:
            return
        tx, value, fails = found
        pair = tx.pair
        asymmetric = src != tx.dest or socket_id != tx.socket_id
        if asymmetric or msg.unknown_required:
            # RFC 8445 §7.2.5.2.1: the response must come back the way it
            # went; RFC 8489 §6.3.3: unknown comprehension-required
            # attributes fail the transaction.
            self.stats.dropped["asymmetric_response" if asymmetric else "unknown_attributes"] += 1
            if fails:
                self._fail_pair(pair)
            return
        if tx.transmissions == 1:
            sample = self._now - tx.sent_at
            self._rtt = sample if self._rtt is None else 0.875 * self._rtt + 0.125 * sample
        if msg.msg_class == MessageClass.ERROR:
            self._on_error_response(tx, value, fails)
        elif tx.kind is Kind.CONSENT:
            if pair is self._selected and self._consent is not None:
                self._consent.rtt = self._rtt
                self._consent.on_response(self._now)
        elif self._checklist.get(pair.key) is not pair:
            return  # the pair belongs to a check list discarded by a restart
        elif not isinstance(value, tuple):
            self.stats.dropped["bad_response"] += 1
            if fails:
                self._fail_pair(pair)
        else:
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
            if tx.role_epoch == self._role.epoch:
                if not self._switch_for_conflict(not tx.controlling):
                    if fails:
                        self._fail_pair(pair)
                    return
            else:
                self.stats.dropped["stale_role_conflict"] += 1
            if fails:  # not when a newer check of the pair is under way
                self._checklist.enqueue_triggered(pair)
            return
        logger.debug("error %s on %r", code, pair)
        if fails:
            self._fail_pair(pair)

    def _on_success(self, tx: Transaction, pair: CandidatePair, mapped: Address) -> None:
        local, new = self._local.mapped(pair.local.transport, mapped, pair.socket_id,
                                        pair.local, tx.priority)
        if new:
            self._emit(events.LocalCandidateAdded(local))
        if local is not pair.local and pair is not self._selected:
            # §7.2.5.3.2: the valid pair has the mapped address as local.
            pair.local = local
            pair.update_priority(self._role.controlling)
            self._checklist.resort()
        self._validate(pair)
        self._checklist.unfreeze_foundation(pair.foundation)
        if pair is self._selected and self._consent is not None:
            self._consent.on_response(self._now)
        if self._role.controlling:
            if tx.use_candidate and tx.controlling:
                if pair is self._checks.nominating:
                    self._checks.nominating = None
                self._select(pair)
        elif pair.remote_nominated:
            pair.remote_nominated = False
            value = pair.remote_nomination
            # Renomination: a NOMINATION superseded while this pair was
            # still being checked no longer counts; the highest value wins.
            if value is None or value >= self._remote_nomination_max:
                self._on_remote_nomination(pair, value)
