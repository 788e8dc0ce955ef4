"""Scenarios: trickle, peer-reflexive candidates and NAT traversal."""

from __future__ import annotations

import pytest

from icekit.candidate import CandidateType
from icekit.ice import ConnectionState
from icekit.ice import events as ev
from tests.ice.ice_helpers import (
    Peer,
    agree,
    attach,
    both_connected,
    cand,
    exchange,
    host_peer,
    make_agent,
    no_internal_errors,
    types_of,
)
from tests.sim.harness import Impairment, Nat, Network

STUN_SERVER = ("203.0.113.1", 3478)


def test_trickle_late_candidates_either_side() -> None:
    net = Network(seed=9, impairment=Impairment(delay=0.02))
    a = host_peer(21, True, [("192.0.2.1", 5000)], name="A")
    b = host_peer(22, False, [("192.0.2.2", 6000)], name="B")
    attach(net, a, b)
    exchange(a, b, candidates=False, eoc=False)
    a.agent.start(net.now)
    b.agent.start(net.now)
    net.call_at(1.0, lambda now: a.agent.add_remote_candidate(b.candidates[0][0], now=now))
    net.call_at(1.5, lambda now: b.agent.add_remote_candidate(a.candidates[0][0], now=now))
    net.run(until=lambda: both_connected(a.agent, b.agent), max_time=5)
    # A's check at t=1 reached B before B knew A's candidate: B learned it as
    # prflx, then the signalled candidate replaced it (RFC 8838 §11.4).
    assert types_of(a.agent) == ("host", "host")
    assert a.agent.state is ConnectionState.CONNECTED  # no end-of-candidates yet
    assert net.now == pytest.approx(1.08)  # A's nomination answered, 2 RTT
    net.advance(1.0)
    assert types_of(b.agent) == ("host", "host")
    assert [c.type for c in b.agent.remote_candidates] == [CandidateType.HOST]
    added = net.events_of(b.agent, ev.RemoteCandidateAdded)
    assert [str(e.candidate.type) for e in added] == ["prflx"]
    agree(a.agent, b.agent)


def test_check_before_candidate_prflx() -> None:
    net = Network(seed=10, impairment=Impairment(delay=0.02))
    a = host_peer(23, True, [("192.0.2.1", 5000)], name="A")
    b = host_peer(24, False, [("192.0.2.2", 6000)], name="B")
    attach(net, a, b)
    exchange(a, b, candidates=False)
    a.agent.add_remote_candidate(b.candidates[0][0])
    a.agent.set_remote_end_of_candidates()
    a.agent.start(net.now)
    b.agent.start(net.now)
    net.run(until=lambda: both_connected(a.agent, b.agent), max_time=5)
    assert types_of(b.agent) == ("host", "prflx")
    prflx = b.agent.selected_pair.remote  # type: ignore[union-attr]
    # RFC 8445 §7.3.1.3: the prflx priority is the PRIORITY of the check.
    assert prflx.priority >> 24 == 110
    assert types_of(a.agent) == ("host", "host")
    no_internal_errors(a.agent, b.agent)


def _natted(net: Network, seed: int, controlling: bool, host: tuple[str, int], nat: Nat,
            name: str, srflx: bool = True) -> Peer:
    net.add_host(host[0], behind=nat)
    agent = make_agent(seed, controlling)
    cands = [(cand(host), 0)]
    if srflx:
        mapped = net.reflexive_address(host, STUN_SERVER)
        cands.append((cand(mapped, "srflx", related=host), 0))
    return Peer(agent, {0: host}, cands, name)


def test_both_behind_eim_nats_with_srflx() -> None:
    net = Network(seed=11, impairment=Impairment(delay=0.02))
    na = net.add_nat(Nat.port_restricted_cone("198.51.100.1"))
    nb = net.add_nat(Nat.port_restricted_cone("198.51.100.2"))
    a = _natted(net, 25, True, ("10.0.0.2", 5000), na, "A")
    b = _natted(net, 26, False, ("10.0.1.2", 6000), nb, "B")
    attach(net, a, b)
    exchange(a, b)
    a.agent.start(net.now)
    b.agent.start(net.now)
    net.run(until=lambda: both_connected(a.agent, b.agent), max_time=10)
    assert types_of(a.agent) == ("srflx", "srflx")
    assert types_of(b.agent) == ("srflx", "srflx")
    agree(a.agent, b.agent)
    no_internal_errors(a.agent, b.agent)


def test_symmetric_vs_full_cone_via_prflx() -> None:
    net = Network(seed=12, impairment=Impairment(delay=0.02))
    na = net.add_nat(Nat.symmetric("198.51.100.1"))
    nb = net.add_nat(Nat.full_cone("198.51.100.2"))
    a = _natted(net, 27, True, ("10.0.0.2", 5000), na, "A")
    b = _natted(net, 28, False, ("10.0.1.2", 6000), nb, "B")
    attach(net, a, b)
    exchange(a, b)
    a.agent.start(net.now)
    b.agent.start(net.now)
    net.run(until=lambda: both_connected(a.agent, b.agent), max_time=10)
    assert types_of(a.agent) == ("prflx", "srflx")
    assert types_of(b.agent) == ("srflx", "prflx")
    agree(a.agent, b.agent)
    assert len(net.events_of(a.agent, ev.LocalCandidateAdded)) == 1
    no_internal_errors(a.agent, b.agent)


@pytest.mark.parametrize("eoc", [True, False])
def test_symmetric_vs_symmetric_fails_in_bounded_time(eoc: bool) -> None:
    net = Network(seed=13, impairment=Impairment(delay=0.02))
    na = net.add_nat(Nat.symmetric("198.51.100.1"))
    nb = net.add_nat(Nat.symmetric("198.51.100.2"))
    a = _natted(net, 29, True, ("10.0.0.2", 5000), na, "A")
    b = _natted(net, 30, False, ("10.0.1.2", 6000), nb, "B")
    attach(net, a, b)
    exchange(a, b, eoc=eoc)
    a.agent.start(net.now)
    b.agent.start(net.now)
    failed = lambda: (a.agent.state is ConnectionState.FAILED
                      and b.agent.state is ConnectionState.FAILED)
    elapsed = net.run(until=failed, max_time=60)
    if eoc:
        # Every pair timed out: 7 transmissions, RTO 0.5 s doubling, capped at 3 s.
        assert 15.0 < elapsed < 16.5
    else:
        # RFC 8863 §3: no failure before the 39.5 s PAC timer without end-of-candidates.
        assert elapsed == pytest.approx(39.5)
    assert a.agent.selected_pair is None
    assert a.agent.poll_timeout() is None and b.agent.poll_timeout() is None
    sent = len(net.trace)
    net.advance(30)
    assert len(net.trace) == sent  # nothing more is sent after failure
    no_internal_errors(a.agent, b.agent)
