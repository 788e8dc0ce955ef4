"""Failures that say why: ``IceAgent.failure_reason`` for each cause.

Each scenario runs on the simulated network; the reason is decided by the
core when it declares failure, and a 401 on every pair fails at once rather
than after the PAC timer (RFC 8863 §3).
"""

from __future__ import annotations

import pytest

from icekit.errors import FailureReason
from icekit.ice import ConnectionState, IceAgent, IceConfig
from icekit.ice import events as ev
from icekit.ice.agent import ROLE_SWITCH_LIMIT
from icekit.stun import Attr, Message, MessageClass, Method, short_term_key
from tests.ice.ice_helpers import (
    Peer,
    attach,
    both_connected,
    exchange,
    host_peer,
    no_internal_errors,
)
from tests.ice.ice_wire import drain
from tests.ice.test_ice_role_loop import LOCAL, PEER, R_PWD, _agent, _request
from tests.sim.harness import Impairment, Network

PAC = IceConfig().pac_timeout
WRONG_PWD = "wrongpasswordwrongpassword"


def _peers(net: Network, b_addr: tuple[str, int] = ("192.0.2.2", 6000)) -> tuple[Peer, Peer]:
    a = host_peer(1, True, [("192.0.2.1", 5000)], name="A")
    b = host_peer(2, False, [b_addr], name="B")
    attach(net, a, b)
    return a, b


def _wrong_pwd(a: Peer, b: Peer, wrong: str = "pwd") -> None:
    """Signal as :func:`exchange` without end-of-candidates, but give A a wrong pwd
    (or ufrag) for B."""
    if wrong == "pwd":
        a.agent.set_remote_credentials(b.agent.local_ufrag, WRONG_PWD)
    else:
        a.agent.set_remote_credentials("wrongufrag", b.agent.local_pwd)
    b.agent.set_remote_credentials(a.agent.local_ufrag, a.agent.local_pwd)
    for src, dst in ((a, b), (b, a)):
        for c, sid in src.candidates:
            src.agent.add_local_candidate(c, sid)
            dst.agent.add_remote_candidate(c)


def _failed(agent: IceAgent) -> bool:
    return agent.state is ConnectionState.FAILED


def _start(net: Network, *peers: Peer) -> None:
    for p in peers:
        p.agent.start(net.now)


def test_not_failed_has_no_reason() -> None:
    net = Network(seed=1, impairment=Impairment(delay=0.01))
    a, b = _peers(net)
    exchange(a, b)
    assert a.agent.failure_reason is None
    _start(net, a, b)
    net.run(until=lambda: both_connected(a.agent, b.agent), max_time=5)
    assert a.agent.failure_reason is None and b.agent.failure_reason is None


def test_no_remote_candidates() -> None:
    net = Network(seed=2, impairment=Impairment(delay=0.01))
    a, b = _peers(net)
    exchange(a, b, candidates=False)
    _start(net, a, b)
    net.run(until=lambda: _failed(a.agent), max_time=PAC + 1)
    assert net.now >= PAC  # no end-of-candidates: the PAC timer runs out
    assert a.agent.failure_reason is FailureReason.NO_REMOTE_CANDIDATES


def test_no_compatible_pairs() -> None:
    net = Network(seed=3, impairment=Impairment(delay=0.01))
    a, b = _peers(net, ("2001:db8::2", 6000))
    exchange(a, b)
    _start(net, a, b)
    net.run(until=lambda: _failed(a.agent) and _failed(b.agent), max_time=5)
    assert a.agent.failure_reason is FailureReason.NO_COMPATIBLE_PAIRS
    assert b.agent.failure_reason is FailureReason.NO_COMPATIBLE_PAIRS
    # The event carries the reason too (only for FAILED).
    changes = net.events_of(a.agent, ev.ConnectionStateChanged)
    assert [(str(e.state), e.reason) for e in changes] == [
        ("failed", FailureReason.NO_COMPATIBLE_PAIRS)]


def test_no_response() -> None:
    net = Network(seed=4, impairment=Impairment(delay=0.01))
    a, b = _peers(net)
    exchange(a, b)
    net.set_firewall("192.0.2.2")  # B never hears A, nor A B
    _start(net, a, b)
    net.run(until=lambda: _failed(a.agent), max_time=PAC + 1)
    assert a.agent.stats.requests_sent > 0
    assert a.agent.failure_reason is FailureReason.NO_RESPONSE


@pytest.mark.parametrize("wrong", ["pwd", "ufrag"])
def test_wrong_remote_pwd_fails_fast_and_both_sides_say_why(wrong: str) -> None:
    # A was given the wrong pwd for B; no end-of-candidates, so only the
    # certainty of a 401 on every pair makes A fail before the PAC timer.
    net = Network(seed=5, impairment=Impairment(delay=0.01))
    a, b = _peers(net)
    _wrong_pwd(a, b, wrong)
    _start(net, a, b)
    net.run(until=lambda: _failed(a.agent), max_time=PAC / 2)
    assert a.agent.failure_reason is FailureReason.CREDENTIALS_REJECTED
    # B's own checks succeed, but no check of A's authenticates: B, the
    # controlled side, waits for a nomination until the PAC timer.
    net.run(until=lambda: _failed(b.agent), max_time=PAC + 1)
    assert b.agent.failure_reason is FailureReason.PEER_CREDENTIALS_WRONG
    no_internal_errors(a.agent, b.agent)


def test_one_pair_answering_401_is_not_enough() -> None:
    # Two pairs: one reaches a stranger's agent (401), the other is silent
    # and still being checked: no fail-fast while that pair may succeed.
    net = Network(seed=6, impairment=Impairment(delay=0.01))
    a, b = _peers(net)
    _wrong_pwd(a, b)
    _start(net, a)  # B answers (401) without being started
    net.run(until=lambda: _failed(a.agent), max_time=PAC / 2)
    assert a.agent.failure_reason is FailureReason.CREDENTIALS_REJECTED
    t_fast = net.now
    # The same with a second, silent remote candidate: wait for the PAC timer.
    net2 = Network(seed=6, impairment=Impairment(delay=0.01))
    a2, b2 = _peers(net2)
    _wrong_pwd(a2, b2)
    silent = host_peer(9, False, [("192.0.2.77", 7000)], name="S")
    a2.agent.add_remote_candidate(silent.candidates[0][0])
    a2.agent.start(net2.now)
    net2.run(until=lambda: _failed(a2.agent), max_time=PAC + 1)
    assert net2.now >= PAC > t_fast
    assert a2.agent.failure_reason is FailureReason.CREDENTIALS_REJECTED


def test_role_conflict() -> None:
    agent = _agent(controlling=True, tie_breaker=1000)
    agent.set_remote_end_of_candidates()
    agent.set_local_end_of_candidates()
    agent.start(0.0)
    drain(agent)
    for i in range(10):  # a peer contradicting itself past the switch limit
        claim_controlling = agent.controlling
        tb = 2000 if claim_controlling else 10
        agent.handle_stun(0.01 * (i + 1), 0, PEER,
                          _request(agent, claim_controlling, tb, bytes([i]) * 12))
        drain(agent)
    assert agent.stats.role_switches == ROLE_SWITCH_LIMIT
    _run_until_failed(agent, 0.1)
    assert agent.failure_reason is FailureReason.ROLE_CONFLICT


def test_consent_lost() -> None:
    net = Network(seed=7, impairment=Impairment(delay=0.01))
    a, b = _peers(net)
    exchange(a, b)
    _start(net, a, b)
    net.run(until=lambda: both_connected(a.agent, b.agent), max_time=5)
    net.set_firewall("192.0.2.2")
    net.run(until=lambda: _failed(a.agent), max_time=40)
    assert a.agent.failure_reason is FailureReason.CONSENT_LOST


def test_restart_clears_the_reason() -> None:
    net = Network(seed=8, impairment=Impairment(delay=0.01))
    a, b = _peers(net, ("2001:db8::2", 6000))
    exchange(a, b)
    _start(net, a)
    net.run(until=lambda: _failed(a.agent), max_time=5)
    assert a.agent.failure_reason is FailureReason.NO_COMPATIBLE_PAIRS
    a.agent.restart(net.now, "newufrag", "newpasswordnewpassword")
    assert a.agent.state is not ConnectionState.FAILED
    assert a.agent.failure_reason is None


def _answer(tid: bytes, *, code: int | None) -> bytes:
    if code is not None:  # an unsigned error, as a peer rejecting our credentials sends
        msg = Message(Method.BINDING, MessageClass.ERROR, tid)
        msg.add(Attr.ERROR_CODE, (code, "Unauthorized"))
        return msg.encode()
    msg = Message(Method.BINDING, MessageClass.SUCCESS, tid)
    msg.add(Attr.XOR_MAPPED_ADDRESS, LOCAL)
    return msg.encode(integrity_key=short_term_key(R_PWD))


def _first_check(agent: IceAgent) -> bytes:
    agent.start(0.0)
    (check,) = drain(agent)
    return check.data[8:20]


def test_401_stops_retransmissions_and_fails_the_pair_at_its_timeout() -> None:
    agent = _agent(controlling=True)
    tid = _first_check(agent)
    agent.handle_stun(0.01, 0, PEER, _answer(tid, code=401))
    now = 0.01
    while not _failed(agent) and now < 5:
        deadline = agent.poll_timeout()
        assert deadline is not None
        now = max(now, deadline)
        agent.handle_timeout(now)
        assert drain(agent) == []  # no retransmission after the 401
    assert now <= IceConfig().rto_min + 1e-9  # the first RTO, not the 39.5 s PAC timer
    assert agent.failure_reason is FailureReason.CREDENTIALS_REJECTED


def test_a_forged_401_does_not_beat_a_signed_answer() -> None:
    agent = _agent(controlling=True)
    tid = _first_check(agent)
    agent.handle_stun(0.01, 0, PEER, _answer(tid, code=401))
    agent.handle_stun(0.02, 0, PEER, _answer(tid, code=None))
    assert agent.pairs[0].valid
    assert agent.state is not ConnectionState.FAILED


def _run_until_failed(agent: IceAgent, now: float) -> None:
    while not _failed(agent) and now < PAC + 1:
        deadline = agent.poll_timeout()
        assert deadline is not None
        now = max(now, deadline)
        agent.handle_timeout(now)
        drain(agent)


def test_not_nominated() -> None:
    # Our check succeeds, but the controlling peer never nominates.
    agent = _agent(controlling=False)
    tid = _first_check(agent)
    agent.handle_stun(0.01, 0, PEER, _answer(tid, code=None))
    assert agent.pairs[0].valid
    _run_until_failed(agent, 0.01)
    assert agent.failure_reason is FailureReason.NOT_NOMINATED


def test_checks_failed_for_other_answers() -> None:
    agent = _agent(controlling=True)
    agent.set_remote_end_of_candidates()
    agent.set_local_end_of_candidates()
    tid = _first_check(agent)
    msg = Message(Method.BINDING, MessageClass.ERROR, tid)
    msg.add(Attr.ERROR_CODE, (500, "Server Error"))
    agent.handle_stun(0.01, 0, PEER, msg.encode(integrity_key=short_term_key(R_PWD)))
    _run_until_failed(agent, 0.01)
    assert agent.failure_reason is FailureReason.CHECKS_FAILED
