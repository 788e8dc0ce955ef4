"""Scenarios: role conflicts, ICE-lite, aggressive nomination, renomination."""

from __future__ import annotations

import pytest

from icekit.ice import IceConfig
from icekit.ice import events as ev
from tests.ice.ice_fakes import AggressivePeer
from tests.ice.ice_helpers import (
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
from tests.sim.harness import Impairment, Network


@pytest.mark.parametrize("controlling", [True, False])
def test_role_conflict(controlling: bool) -> None:
    net = Network(seed=5, impairment=Impairment(delay=0.02))
    a = host_peer(11, controlling, [("192.0.2.1", 5000)], tie_breaker=100, name="A")
    b = host_peer(12, controlling, [("192.0.2.2", 6000)], tie_breaker=200, name="B")
    attach(net, a, b)
    exchange(a, b)
    a.agent.start(net.now)
    b.agent.start(net.now)
    net.run(until=lambda: both_connected(a.agent, b.agent), max_time=10)
    # RFC 8445 §7.3.1.1: the larger tie-breaker ends up controlling.
    assert b.agent.controlling and not a.agent.controlling
    agree(a.agent, b.agent)
    switched = a.agent if controlling else b.agent
    assert [e.controlling for e in net.events_of(switched, ev.RoleChanged)] == [not controlling]
    # Exactly one 487 (Role Conflict) was sent, by the side that kept its role.
    errors = net.packets(stun_class="error")
    assert len(errors) == 1
    assert errors[0].sender == ("B" if controlling else "A")
    no_internal_errors(a.agent, b.agent)


def test_lite_peer() -> None:
    net = Network(seed=6, impairment=Impairment(delay=0.02))
    a = host_peer(13, False, [("192.0.2.1", 5000)], name="A")
    b = host_peer(14, False, [("192.0.2.2", 6000)], config=IceConfig(lite=True), name="B")
    attach(net, a, b)
    exchange(a, b)
    a.agent.set_remote_lite(True)  # we must control against a lite peer
    assert a.agent.controlling
    a.agent.start(net.now)
    b.agent.start(net.now)
    net.run(until=lambda: both_connected(a.agent, b.agent), max_time=5)
    assert types_of(b.agent) == ("host", "host")
    agree(a.agent, b.agent)
    # One check, one nomination; the lite side only answers them.
    assert len(net.packets(sender="A", stun_class="request")) == 2
    assert len(net.packets(sender="B", stun_class="success")) == 2
    assert len(net.trace) == 4
    net.advance(20)  # consent runs from A only; B keeps answering
    assert net.packets(sender="B", stun_class="request") == []
    assert both_connected(a.agent, b.agent)
    # The full agent checks, nominates and keeps consent; the lite one answers.
    assert len(net.packets(sender="A", stun_class="request")) >= 5
    no_internal_errors(a.agent, b.agent)


def test_aggressive_nominating_peer() -> None:
    net = Network(seed=7, impairment=Impairment(delay=0.02))
    b = host_peer(15, False, [("192.0.2.2", 6000), ("192.0.2.4", 6001)], name="B")
    fake = AggressivePeer(16, "fakeufrag", "fakepasswordfakepassword",
                          cand(("192.0.2.1", 5000)))
    net.attach(fake, {0: ("192.0.2.1", 5000)}, name="F")
    attach(net, b)
    b.agent.set_remote_credentials(fake.ufrag, fake.pwd)
    for c, sid in b.candidates:
        b.agent.add_local_candidate(c, sid)
    b.agent.add_remote_candidate(fake.local)
    fake.set_remote(b.agent.local_ufrag, b.agent.local_pwd, [("192.0.2.4", 6001),
                                                            ("192.0.2.2", 6000)])
    b.agent.start(net.now)
    fake.start(net.now, spacing=0.3)  # the worse pair is nominated first
    net.run(until=lambda: len(fake.succeeded) == 2 and b.agent.selected_pair is not None,
            max_time=5)
    net.advance(1)
    # Both pairs were nominated; the highest-priority one is kept (RFC 5245 §8.1.1).
    sp = b.agent.selected_pair
    assert sp is not None and sp.local.addr == ("192.0.2.2", 6000)
    assert len(net.events_of(b.agent, ev.SelectedPairChanged)) == 2
    no_internal_errors(b.agent)


@pytest.mark.parametrize("renomination", [True, False])
def test_renomination_to_a_better_pair(renomination: bool) -> None:
    net = Network(seed=8, impairment=Impairment(delay=0.02))
    a = host_peer(17, True, [("192.0.2.1", 5000)],
                  config=IceConfig(renomination=renomination), name="A")
    b = host_peer(18, False, [("192.0.2.2", 6000), ("192.0.2.4", 6001)], name="B")
    attach(net, a, b)
    a.agent.set_remote_credentials(b.agent.local_ufrag, b.agent.local_pwd)
    b.agent.set_remote_credentials(a.agent.local_ufrag, a.agent.local_pwd)
    for p in (a, b):
        for c, sid in p.candidates:
            p.agent.add_local_candidate(c, sid)
    for c, _ in a.candidates:
        b.agent.add_remote_candidate(c)
    better, worse = b.candidates[0][0], b.candidates[1][0]
    assert better.priority > worse.priority
    a.agent.add_remote_candidate(worse)  # the better one trickles in late
    a.agent.start(net.now)
    b.agent.start(net.now)
    net.run(until=lambda: both_connected(a.agent, b.agent), max_time=5)
    assert a.agent.selected_pair is not None
    assert a.agent.selected_pair.remote.addr == worse.addr
    net.call_later(1.0, lambda now: a.agent.add_remote_candidate(better, now=now))
    net.advance(3)
    expected = better if renomination else worse
    pa, pb = a.agent.selected_pair, b.agent.selected_pair
    assert pa is not None and pb is not None
    assert pa.remote.addr == expected.addr
    assert pb.local.addr == expected.addr
    agree(a.agent, b.agent)
    changes = len(net.events_of(b.agent, ev.SelectedPairChanged))
    assert changes == (2 if renomination else 1)
    no_internal_errors(a.agent, b.agent)


def test_make_agent_is_deterministic() -> None:
    assert make_agent(1, True).local_ufrag == make_agent(1, True).local_ufrag
