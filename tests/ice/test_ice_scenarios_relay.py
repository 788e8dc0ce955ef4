"""Scenarios: relayed candidates, nomination waits, dual stack.

A relay candidate is, to the core, just another local socket; here it is a
socket bound on a public address, standing in for a TURN allocation.
"""

from __future__ import annotations

import pytest

from icekit.ice import ConnectionState, IceConfig
from icekit.ice import events as ev
from tests.ice.ice_helpers import (
    Peer,
    agree,
    attach,
    both_connected,
    cand,
    exchange,
    make_agent,
    no_internal_errors,
    types_of,
)
from tests.sim.harness import Impairment, Nat, Network

STUN_SERVER = ("203.0.113.1", 3478)
RELAY = ("203.0.113.50", 50000)


def test_symmetric_nats_connect_through_a_relay() -> None:
    net = Network(seed=14, impairment=Impairment(delay=0.02))
    na = net.add_nat(Nat.symmetric("198.51.100.1"))
    nb = net.add_nat(Nat.symmetric("198.51.100.2"))
    net.add_host("10.0.0.2", behind=na)
    net.add_host("10.0.1.2", behind=nb)
    a = Peer(make_agent(51, True), {0: ("10.0.0.2", 5000), 1: RELAY},
             [(cand(("10.0.0.2", 5000)), 0),
              (cand(RELAY, "relay", related=("198.51.100.1", 40000)), 1)], "A")
    b = Peer(make_agent(52, False), {0: ("10.0.1.2", 6000)},
             [(cand(("10.0.1.2", 6000)), 0),
              (cand(net.reflexive_address(("10.0.1.2", 6000), STUN_SERVER), "srflx",
                    related=("10.0.1.2", 6000)), 0)], "B")
    attach(net, a, b)
    exchange(a, b)
    a.agent.start(net.now)
    b.agent.start(net.now)
    net.run(until=lambda: both_connected(a.agent, b.agent), max_time=20)
    assert types_of(a.agent) == ("relay", "prflx")
    assert types_of(b.agent) == ("prflx", "relay")
    agree(a.agent, b.agent)
    no_internal_errors(a.agent, b.agent)


@pytest.mark.parametrize("host_delay,expect", [(0.15, "host"), (2.0, "relay")])
def test_relay_pair_waits_for_a_better_pair(host_delay: float, expect: str) -> None:
    net = Network(seed=15, impairment=Impairment(delay=0.01))
    a = Peer(make_agent(53, True), {0: ("192.0.2.1", 5000), 1: RELAY},
             [(cand(("192.0.2.1", 5000)), 0),
              (cand(RELAY, "relay", related=("192.0.2.1", 5000)), 1)], "A")
    b = Peer(make_agent(54, False), {0: ("192.0.2.2", 6000)},
             [(cand(("192.0.2.2", 6000)), 0)], "B")
    attach(net, a, b)
    net.set_impairment(Impairment(delay=host_delay), between=("192.0.2.1", "192.0.2.2"))
    exchange(a, b)
    a.agent.start(net.now)
    b.agent.start(net.now)
    elapsed = net.run(until=lambda: both_connected(a.agent, b.agent), max_time=20)
    assert types_of(a.agent)[0] == expect
    # Only one nomination: the relay pair was given 500 ms to be beaten.
    assert len(net.events_of(a.agent, ev.SelectedPairChanged)) == 1
    if expect == "host":
        assert elapsed < 1.0
    else:
        # The host check cannot answer within 500 ms: the relay pair goes.
        assert 0.5 < elapsed < 1.0
    agree(a.agent, b.agent)


def test_dual_stack_pairs_by_family() -> None:
    net = Network(seed=16, impairment=Impairment(delay=0.01))
    a = Peer(make_agent(55, True), {0: ("192.0.2.1", 5000), 1: ("2001:db8::1", 5000)},
             [(cand(("2001:db8::1", 5000), local_pref=65535), 1),
              (cand(("192.0.2.1", 5000), local_pref=65534), 0)], "A")
    b = Peer(make_agent(56, False), {0: ("192.0.2.2", 6000), 1: ("2001:db8::2", 6000)},
             [(cand(("2001:db8::2", 6000), local_pref=65535), 1),
              (cand(("192.0.2.2", 6000), local_pref=65534), 0)], "B")
    attach(net, a, b)
    exchange(a, b)
    assert len(a.agent.pairs) == 2  # no cross-family pairs
    a.agent.start(net.now)
    b.agent.start(net.now)
    net.run(until=lambda: both_connected(a.agent, b.agent), max_time=5)
    sp = a.agent.selected_pair
    assert sp is not None and sp.remote.addr == ("2001:db8::2", 6000)
    agree(a.agent, b.agent)
    net.advance(2)
    assert a.agent.state is ConnectionState.COMPLETED


def test_lite_agent_with_relay_free_config_keeps_defaults() -> None:
    cfg = IceConfig(lite=True)
    agent = make_agent(57, True, cfg)
    assert not agent.controlling  # RFC 8445 §6.1.1: lite agents are controlled


def test_pair_limit_with_many_candidates() -> None:
    net = Network(seed=17, impairment=Impairment(delay=0.01))
    a_addrs = [(f"192.0.2.{i + 1}", 5000) for i in range(12)]
    b_addrs = [(f"198.51.100.{i + 1}", 6000) for i in range(12)]
    a = Peer(make_agent(58, True), dict(enumerate(a_addrs)),
             [(cand(x, local_pref=65535 - i), i) for i, x in enumerate(a_addrs)], "A")
    b = Peer(make_agent(59, False), dict(enumerate(b_addrs)),
             [(cand(x, local_pref=65535 - i), i) for i, x in enumerate(b_addrs)], "B")
    attach(net, a, b)
    exchange(a, b)
    # 144 possible pairs, RFC 8445 §6.1.2.5 limit of 100: the best ones stay.
    assert len(a.agent.pairs) == 100
    a.agent.start(net.now)
    b.agent.start(net.now)
    net.run(until=lambda: both_connected(a.agent, b.agent), max_time=5)
    sp = a.agent.selected_pair
    assert sp is not None
    assert (sp.local.addr, sp.remote.addr) == (a_addrs[0], b_addrs[0])
    agree(a.agent, b.agent)
    no_internal_errors(a.agent, b.agent)
