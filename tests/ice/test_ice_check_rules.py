"""Rules of checks, responses, nomination and consent, driven by hand (RFC corner cases).

Each test drives one agent directly, playing the peer by hand.
"""

from __future__ import annotations

import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from icekit.ice import ConnectionState, IceAgent, IceConfig, PairState
from icekit.ice import events as ev
from icekit.stun import Attr, Message, MessageClass, Method, short_term_key
from tests.ice.ice_helpers import cand, make_agent
from tests.ice.ice_wire import (
    ERROR,
    INDICATION,
    REQUEST,
    SUCCESS,
    answer,
    check,
    drain,
    drain_events,
    requests_in,
    signed,
    tlv,
)

LOCAL = ("192.0.2.1", 5000)
PEER = ("192.0.2.9", 7000)
R_UFRAG, R_PWD = "peerufrag", "peerpasswordpeerpassword"
R_KEY = short_term_key(R_PWD)


def _agent(controlling: bool = True, config: IceConfig | None = None,
           tie_breaker: int = 1000) -> IceAgent:
    agent = make_agent(3, controlling, config, tie_breaker=tie_breaker)
    agent.add_local_candidate(cand(LOCAL), 0)
    agent.set_remote_credentials(R_UFRAG, R_PWD)
    drain_events(agent)
    return agent


def _connected(config: IceConfig | None = None) -> tuple[IceAgent, float]:
    """A controlling agent with the host pair LOCAL -> PEER selected; returns (agent, now)."""
    agent = _agent(config=config)
    agent.add_remote_candidate(cand(PEER))
    agent.start(0.0)
    (t, msg), = requests_in(drain(agent))
    answer(agent, 0.01, t, msg, R_PWD, LOCAL)
    agent.handle_timeout(0.05)
    (t, msg), = requests_in(drain(agent))
    assert Attr.USE_CANDIDATE in msg
    answer(agent, 0.06, t, msg, R_PWD, LOCAL)
    assert agent.selected_pair is not None
    drain_events(agent)
    return agent, 0.06


def _no_internal_error(agent: IceAgent) -> None:
    assert agent.stats.dropped["internal_error"] == 0, agent.stats


# -- malformed attribute values (attacker input must never hit the catch-all) --


def test_malformed_username_in_unauthenticated_request() -> None:
    agent = _agent()
    # SOFTWARE pads the request so the answer is not larger than it.
    data = signed(REQUEST, b"u" * 12, tlv(0x0006, b"\xff\xfe\xfd\xfc")
                  + tlv(0x8022, b"s" * 32), None)
    agent.handle_stun(1.0, 0, PEER, data)
    _no_internal_error(agent)
    reply = Message.decode(drain(agent)[0].data)
    # RFC 8489 §6.3.1: a malformed request gets 400, unsigned (not authenticated).
    assert reply.msg_class == MessageClass.ERROR and reply.get(Attr.ERROR_CODE)[0] == 400
    assert not reply.has_integrity
    assert agent.stats.dropped["malformed"] == 1


def test_malformed_priority_in_authenticated_request() -> None:
    agent = _agent()
    attrs = (tlv(Attr.USERNAME, f"{agent.local_ufrag}:{R_UFRAG}".encode())
             + tlv(Attr.PRIORITY, b"\x01\x02\x03")
             + tlv(Attr.ICE_CONTROLLED, b"\x00" * 8))
    data = signed(REQUEST, b"p" * 12, attrs, short_term_key(agent.local_pwd))
    agent.handle_stun(1.0, 0, PEER, data)
    _no_internal_error(agent)
    reply = Message.decode(drain(agent)[0].data)
    assert reply.get(Attr.ERROR_CODE)[0] == 400
    assert reply.verify_integrity(short_term_key(agent.local_pwd))
    assert drain_events(agent) == []  # no prflx learned from a bad request


def test_malformed_mapped_address_in_authenticated_response() -> None:
    agent = _agent()
    agent.add_remote_candidate(cand(PEER))
    agent.start(0.0)
    (_t, msg), = requests_in(drain(agent))
    data = signed(SUCCESS, msg.transaction_id, tlv(Attr.XOR_MAPPED_ADDRESS, b"\x00\x07\x00"),
                  R_KEY)
    agent.handle_stun(0.01, 0, PEER, data)
    _no_internal_error(agent)
    assert agent.stats.dropped["malformed"] == 1
    assert not agent.pairs[0].valid


def _setup_for_fuzz(setup: str) -> tuple[IceAgent, float]:
    if setup == "connected":
        return _connected()
    if setup == "restarted":
        agent, now = _connected()
        agent.restart(now, "newufrag", "newpasswordnewpassword")
        agent.set_remote_credentials(R_UFRAG, R_PWD, now=now)
        return agent, now
    agent = _agent(controlling=False, config=IceConfig(lite=setup == "lite"))
    agent.add_remote_candidate(cand(PEER))
    agent.start(0.0)
    return agent, 0.0


_ATTR_TYPES = [Attr.USERNAME, Attr.PRIORITY, Attr.ICE_CONTROLLING, Attr.ICE_CONTROLLED,
               Attr.USE_CANDIDATE, Attr.NOMINATION, Attr.XOR_MAPPED_ADDRESS,
               Attr.ERROR_CODE, Attr.UNKNOWN_ATTRIBUTES, Attr.MAPPED_ADDRESS,
               Attr.SOFTWARE, 0x0031, 0x8031]


@settings(max_examples=400, deadline=None, derandomize=True)
@given(kind=st.sampled_from(["request", "success", "error", "indication"]),
       good_username=st.booleans(),
       attrs=st.lists(st.tuples(st.sampled_from(_ATTR_TYPES), st.binary(max_size=24)),
                      max_size=6),
       sign=st.sampled_from(["right", "wrong", "none"]),
       src_is_peer=st.booleans(),
       setup=st.sampled_from(["connected", "controlled", "lite", "restarted"]))
def test_fuzz_signed_garbage(kind: str, good_username: bool,
                             attrs: list[tuple[int, bytes]], sign: str,
                             src_is_peer: bool, setup: str) -> None:
    """Correctly signed (or mis-signed) messages with arbitrary attribute values."""
    agent, now = _setup_for_fuzz(setup)
    agent.add_remote_candidate(cand(("192.0.2.10", 7001)), now=now)
    out = requests_in(drain(agent))
    body = b""
    if kind == "request" and good_username:
        body += tlv(Attr.USERNAME, f"{agent.local_ufrag}:{R_UFRAG}".encode())
    body += b"".join(tlv(a, v) for a, v in attrs)
    if kind == "request":
        key = short_term_key(agent.local_pwd)
        tid = b"q" * 12
        msg_type = REQUEST
    else:
        key = R_KEY
        tid = out[0][1].transaction_id if out else b"s" * 12
        msg_type = {"success": SUCCESS, "error": ERROR, "indication": INDICATION}[kind]
    keyed = {"right": key, "wrong": b"wrong", "none": None}[sign]
    data = signed(msg_type, tid, body, keyed)
    src = PEER if src_is_peer else ("192.0.2.10", 7001)
    agent.handle_stun(now + 0.01, 0, src, data)
    agent.handle_timeout(now + 1.0)
    agent.handle_timeout(now + 40.0)
    _no_internal_error(agent)
    if sign != "right":
        # Nothing unauthenticated changes the selected pair or the role.
        assert agent.controlling == (setup in ("connected", "restarted"))
        assert all(not isinstance(e, (ev.RoleChanged, ev.RemoteCandidateAdded,
                                      ev.LocalCandidateAdded)) for e in drain_events(agent))


# -- responses ------------------------------------------------------------------


def test_success_with_unknown_required_attribute_fails_the_check() -> None:
    agent = _agent()
    agent.add_remote_candidate(cand(PEER))
    agent.start(0.0)
    (t, msg), = requests_in(drain(agent))
    answer(agent, 0.01, t, msg, R_PWD, LOCAL, extra=(0x0031, b"zzzz"))
    # RFC 8489 §6.3.3: unknown comprehension-required attributes in a success
    # response: the transaction has failed.
    pair = agent.pairs[0]
    assert not pair.valid and pair.state is PairState.FAILED
    assert not agent.is_valid_source(0, PEER)
    assert agent.stats.dropped["unknown_attributes"] == 1


def test_cancelled_transaction_still_accepts_a_late_response() -> None:
    agent = _agent()
    agent.add_remote_candidate(cand(PEER))
    agent.start(0.0)
    (t1, m1), = requests_in(drain(agent))
    # The peer's check cancels ours (§7.3.1.4) and triggers a new one.
    agent.handle_stun(0.1, 0, PEER, check(agent, R_UFRAG, tid=b"c" * 12, controlling=False))
    (_t2, m2), = requests_in(drain(agent))
    assert m2.transaction_id != m1.transaction_id
    # §7.3.1.4: a cancelled transaction is not retransmitted, but a response
    # is awaited for the whole transaction timeout (here beyond the first RTO).
    agent.handle_timeout(1.0)
    assert [m.transaction_id for _, m in requests_in(drain(agent))] == [m2.transaction_id]
    answer(agent, 1.2, t1, m1, R_PWD, LOCAL)
    assert agent.stats.dropped["unmatched_response"] == 0
    assert agent.pairs[0].valid


def test_role_conflict_487_switches_and_retries_with_new_role() -> None:
    agent = _agent(tie_breaker=10)
    agent.add_remote_candidate(cand(PEER))
    agent.start(0.0)
    (_t, msg), = requests_in(drain(agent))
    assert Attr.ICE_CONTROLLING in msg
    err = Message(Method.BINDING, MessageClass.ERROR, msg.transaction_id)
    err.add(Attr.ERROR_CODE, (487, "Role Conflict"))
    agent.handle_stun(0.01, 0, PEER, err.encode(integrity_key=R_KEY, fingerprint=True))
    # RFC 8445 §7.2.5.1: switch role, and retry the pair as a triggered check.
    assert not agent.controlling
    assert ev.RoleChanged(False) in drain_events(agent)
    agent.handle_timeout(0.05)
    (t2, retry), = requests_in(drain(agent))
    assert t2.dest == PEER and Attr.ICE_CONTROLLED in retry
    # A 487 to the retry (sent as controlled) switches back: §7.2.5.1 keys
    # the switch on the role the failed request carried.
    err = Message(Method.BINDING, MessageClass.ERROR, retry.transaction_id)
    err.add(Attr.ERROR_CODE, (487, "Role Conflict"))
    agent.handle_stun(0.06, 0, PEER, err.encode(integrity_key=R_KEY, fingerprint=True))
    assert agent.controlling


def test_controlled_use_candidate_before_the_pair_succeeded() -> None:
    agent = _agent(controlling=False)
    agent.add_remote_candidate(cand(PEER))
    agent.start(0.0)
    _first, = requests_in(drain(agent))
    agent.handle_stun(0.02, 0, PEER, check(agent, R_UFRAG, tid=b"n" * 12, use_candidate=True))
    assert agent.selected_pair is None  # not valid yet: remembered (§7.3.1.5)
    agent.handle_timeout(0.05)
    (t2, m2), = requests_in(drain(agent))  # the triggered check
    answer(agent, 0.06, t2, m2, R_PWD, LOCAL)
    sp = agent.selected_pair
    assert sp is not None and sp.remote.addr == PEER
    assert agent.state is ConnectionState.CONNECTED


def test_valid_pair_uses_mapped_local_but_sends_from_the_base() -> None:
    agent = _agent()
    agent.add_remote_candidate(cand(PEER))
    agent.start(0.0)
    (t, msg), = requests_in(drain(agent))
    natted = ("198.51.100.7", 40000)
    answer(agent, 0.01, t, msg, R_PWD, natted)
    added = [e for e in drain_events(agent) if isinstance(e, ev.LocalCandidateAdded)]
    assert len(added) == 1 and added[0].candidate.addr == natted
    # §7.2.5.3.1: priority is the PRIORITY the check carried; base is the host.
    assert added[0].candidate.priority == msg.get(Attr.PRIORITY)
    assert added[0].candidate.related_address == LOCAL[0]
    agent.handle_timeout(0.05)
    (t, msg), = requests_in(drain(agent))
    assert t.socket_id == 0  # the nomination goes out from the base
    answer(agent, 0.06, t, msg, R_PWD, natted)
    sp = agent.selected_pair
    assert sp is not None and sp.local.addr == natted and str(sp.local.type) == "prflx"
    assert sp.socket_id == 0
    # No second local prflx for the same mapped address.
    assert [c.addr for c in agent.local_candidates] == [LOCAL, natted]


def test_binding_indication_is_counted_and_ignored() -> None:
    agent, now = _connected()
    agent.handle_stun(now, 0, PEER, signed(INDICATION, b"i" * 12, b"", None))
    assert agent.stats.dropped["indication"] == 1 and drain(agent) == []


# -- consent (RFC 7675) -------------------------------------------------------------


def test_consent_lost_means_nothing_more_is_sent_on_the_pair() -> None:
    agent, now = _connected()
    agent.handle_timeout(now + 31.0)  # no consent response ever
    agent.handle_timeout(now + 31.0)
    assert agent.state is ConnectionState.FAILED and agent.selected_pair is None
    drain(agent)
    # RFC 7675 §5.1: cease transmission on the 5-tuple; the credentials may
    # not be used there again. A check from the peer changes nothing.
    agent.handle_stun(now + 32.0, 0, PEER, check(agent, R_UFRAG, tid=b"k" * 12,
                                                 controlling=False))
    for t in (32.0, 32.1, 33.0, 40.0):
        agent.handle_timeout(now + t)
    assert drain(agent) == []
    assert agent.state is ConnectionState.FAILED
    assert agent.stats.dropped["consent_lost"] == 1


def test_consent_requests_use_fresh_transaction_ids() -> None:
    agent, now = _connected()
    tids = []
    t = now
    for _ in range(5):
        deadline = agent.poll_timeout()
        assert deadline is not None
        t = deadline
        agent.handle_timeout(t)
        for tr, msg in requests_in(drain(agent)):
            if msg.transaction_id in tids:
                continue  # a retransmission of the same request
            tids.append(msg.transaction_id)
            answer(agent, t + 0.01, tr, msg, R_PWD, LOCAL)
    assert len(tids) == len(set(tids)) >= 3
    assert agent.state is ConnectionState.CONNECTED


# -- check list ---------------------------------------------------------------------


def test_highest_priority_pair_of_a_foundation_is_checked_first() -> None:
    agent = _agent()
    low = cand(("192.0.2.9", 7000), local_pref=100)
    high = cand(("192.0.2.9", 7001), local_pref=60000)
    assert low.foundation == high.foundation
    agent.add_remote_candidate(low)
    agent.add_remote_candidate(high)
    agent.start(0.0)
    # RFC 8445 §6.1.2.6: of the pairs sharing a foundation, the one with the
    # highest priority is unfrozen (Waiting), the others stay Frozen.
    (t, _), = requests_in(drain(agent))
    assert t.dest == high.addr
    states = {p.remote.addr: p.state for p in agent.pairs}
    assert states[low.addr] is PairState.FROZEN


def test_pac_timer_starts_with_the_remote_credentials() -> None:
    agent = make_agent(3, True)
    agent.add_local_candidate(cand(LOCAL), 0)
    agent.set_local_end_of_candidates()
    agent.start(0.0)
    agent.set_remote_credentials(R_UFRAG, R_PWD, now=20.0)
    # RFC 8863 §3: the timer starts once the remote credentials are known.
    agent.handle_timeout(45.0)
    assert agent.state is ConnectionState.CHECKING
    deadline = agent.poll_timeout()
    assert deadline == pytest.approx(59.5)
    agent.handle_timeout(deadline)
    assert agent.state is ConnectionState.FAILED


def test_struct_helper_roundtrip() -> None:
    data = signed(SUCCESS, b"t" * 12, tlv(Attr.XOR_MAPPED_ADDRESS,
                                         struct.pack("!BBH4s", 0, 1, 0x2112 ^ 80,
                                                     bytes([192 ^ 0x21, 0 ^ 0x12, 2 ^ 0xA4,
                                                            1 ^ 0x42]))), R_KEY)
    msg = Message.decode(data)
    assert msg.verify_integrity(R_KEY) and msg.get(Attr.XOR_MAPPED_ADDRESS) == ("192.0.2.1", 80)


def test_controlled_not_completed_while_a_better_pair_is_frozen() -> None:
    agent = _agent(controlling=False)
    p = cand(("192.0.2.9", 7000), local_pref=40000)
    q2 = cand(("192.0.2.10", 7000), local_pref=100)
    q = cand(("192.0.2.10", 7001), local_pref=65000)
    assert q.foundation == q2.foundation != p.foundation
    agent.add_remote_candidate(p)
    agent.add_remote_candidate(q2)
    agent.start(0.0)
    (tp, mp), = requests_in(drain(agent))
    agent.handle_timeout(0.05)
    (tq2, _), = requests_in(drain(agent))
    assert tp.dest == p.addr and tq2.dest == q2.addr
    agent.add_remote_candidate(q, now=0.06)  # its foundation is busy: Frozen
    assert {x.remote.addr: x.state for x in agent.pairs}[q.addr] is PairState.FROZEN
    agent.set_local_end_of_candidates(now=0.06)
    agent.set_remote_end_of_candidates(now=0.06)
    answer(agent, 0.07, tp, mp, R_PWD, LOCAL)
    agent.handle_stun(0.08, 0, p.addr, check(agent, R_UFRAG, tid=b"u" * 12,
                                             use_candidate=True))
    sp = agent.selected_pair
    assert sp is not None and sp.remote.addr == p.addr
    # The Frozen pair q outranks the selected one and may still succeed (and
    # be nominated by a renominating or aggressive peer): not "completed".
    assert agent.state is ConnectionState.CONNECTED


def test_stale_renomination_does_not_win_when_its_pair_succeeds_late() -> None:
    agent = _agent(controlling=False)
    x = cand(("192.0.2.9", 7000), local_pref=40000)
    y = cand(("192.0.2.10", 7000), local_pref=30000)
    agent.add_remote_candidate(x)
    agent.add_remote_candidate(y)
    agent.start(0.0)
    drain(agent)
    # The peer renominates: first x (1), then y (2), before either pair is valid.
    agent.handle_stun(0.01, 0, x.addr, check(agent, R_UFRAG, tid=b"1" * 12,
                                             use_candidate=True, nomination=1))
    agent.handle_stun(0.02, 0, y.addr, check(agent, R_UFRAG, tid=b"2" * 12,
                                             use_candidate=True, nomination=2))
    sent = []
    for t in (0.05, 0.1, 0.15, 0.2):
        agent.handle_timeout(t)
        sent += requests_in(drain(agent))
    by_dest = {tr.dest: (tr, m) for tr, m in sent}
    ty, my = by_dest[y.addr]
    answer(agent, 0.3, ty, my, R_PWD, LOCAL)
    sp = agent.selected_pair
    assert sp is not None and sp.remote.addr == y.addr
    tx_, mx = by_dest[x.addr]
    answer(agent, 0.31, tx_, mx, R_PWD, LOCAL)
    # draft-thatcher-ice-renomination: the highest NOMINATION value wins.
    sp = agent.selected_pair
    assert sp is not None and sp.remote.addr == y.addr


def test_late_error_to_an_older_check_does_not_fail_a_valid_pair() -> None:
    agent = _agent()
    agent.add_remote_candidate(cand(PEER))
    agent.start(0.0)
    (_t1, m1), = requests_in(drain(agent))
    agent.handle_stun(0.1, 0, PEER, check(agent, R_UFRAG, tid=b"c" * 12, controlling=False))
    (t2, m2), = requests_in(drain(agent))
    answer(agent, 0.12, t2, m2, R_PWD, LOCAL)
    pair = agent.pairs[0]
    assert pair.valid
    # The first (cancelled) check is answered late with an error: the pair
    # has succeeded since, so the stale outcome changes nothing.
    err = Message(Method.BINDING, MessageClass.ERROR, m1.transaction_id)
    err.add(Attr.ERROR_CODE, (400, "Bad Request"))
    agent.handle_stun(0.13, 0, PEER, err.encode(integrity_key=R_KEY, fingerprint=True))
    assert pair.valid and pair.state is PairState.SUCCEEDED
    assert agent.is_valid_source(0, PEER)


def test_failed_pair_is_retried_by_an_incoming_check() -> None:
    agent = _agent()
    agent.add_remote_candidate(cand(PEER))
    agent.start(0.0)
    t = 0.0
    while agent.pairs[0].state is not PairState.FAILED:
        deadline = agent.poll_timeout()
        assert deadline is not None and deadline < 20
        t = deadline
        agent.handle_timeout(t)
    assert t == pytest.approx(15.5)  # seven transmissions, then failure
    drain(agent)
    # RFC 8445 §7.3.1.4: a check on a Failed pair puts it back to Waiting and
    # queues a triggered check, which goes out at once.
    agent.handle_stun(t + 1, 0, PEER, check(agent, R_UFRAG, tid=b"f" * 12, controlling=False))
    sent = drain(agent)
    assert [Message.decode(x.data).msg_class for x in sent] == [MessageClass.SUCCESS,
                                                                MessageClass.REQUEST]
    assert agent.pairs[0].state is PairState.IN_PROGRESS


def test_lite_agent_fails_after_pac_when_the_peer_never_checks() -> None:
    agent = _agent(controlling=False, config=IceConfig(lite=True))
    agent.add_remote_candidate(cand(PEER))
    agent.start(0.0)
    assert drain(agent) == []  # a lite agent sends no checks
    # RFC 8863 §3: the PAC timer bounds the wait; a lite agent has pairs but
    # will never check them itself, so they are not "pending work".
    deadline = agent.poll_timeout()
    assert deadline == pytest.approx(39.5)
    agent.handle_timeout(deadline)
    assert agent.state is ConnectionState.FAILED


def test_no_busy_wakeups_while_a_frozen_sibling_waits_for_its_foundation() -> None:
    agent = _agent()
    agent.add_remote_candidate(cand(("192.0.2.9", 7000), local_pref=60000))
    agent.add_remote_candidate(cand(("192.0.2.9", 7001), local_pref=100))
    agent.start(0.0)
    assert len(requests_in(drain(agent))) == 1
    # The other pair is Frozen behind the In-Progress one (same foundation):
    # nothing is due until the first retransmission at 0.5 s.  (It used to
    # answer "Ta from now", then "now" forever: a busy loop in the driver.)
    wakeups = []
    t = 0.0
    while t < 0.5:
        deadline = agent.poll_timeout()
        assert deadline is not None
        wakeups.append(deadline)
        t = deadline
        agent.handle_timeout(t)
        assert len(wakeups) < 5, wakeups
    assert wakeups == [pytest.approx(0.5)]


def test_pair_limit_with_eleven_by_eleven_candidates() -> None:
    from tests.ice.ice_helpers import attach, both_connected, exchange, host_peer
    from tests.sim.harness import Impairment, Network

    net = Network(seed=9, impairment=Impairment(delay=0.01))
    a = host_peer(51, True, [(f"192.0.2.{i + 1}", 5000) for i in range(11)], name="A")
    b = host_peer(52, False, [(f"198.51.100.{i + 1}", 6000) for i in range(11)], name="B")
    attach(net, a, b)
    exchange(a, b)
    a.agent.start(net.now)
    b.agent.start(net.now)
    # RFC 8445 §6.1.2.5: 121 possible pairs, at most 100 kept (the best ones).
    assert len(a.agent.pairs) == len(b.agent.pairs) == 100
    net.run(until=lambda: both_connected(a.agent, b.agent), max_time=5)
    sp = a.agent.selected_pair
    assert sp is not None and sp.local.addr == ("192.0.2.1", 5000)
    assert sp.remote.addr == ("198.51.100.1", 6000)
    net.advance(20)
    for p in (a, b):
        assert len(p.agent.pairs) <= 100
        _no_internal_error(p.agent)
