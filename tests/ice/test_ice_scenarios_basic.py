"""Scenarios on the simulated network: direct paths and impairments."""

from __future__ import annotations

import pytest

from icekit.ice import ConnectionState, IceAgent
from tests.ice.ice_helpers import (
    Peer,
    agree,
    attach,
    both_connected,
    exchange,
    host_peer,
    no_internal_errors,
    states,
    types_of,
)
from tests.sim.harness import Impairment, Network


def _pair(net: Network, seed: int = 1) -> tuple[Peer, Peer]:
    a = host_peer(seed, True, [("192.0.2.1", 5000)], name="A")
    b = host_peer(seed + 1000, False, [("192.0.2.2", 6000)], name="B")
    attach(net, a, b)
    exchange(a, b)
    return a, b


def _start(net: Network, *agents: IceAgent) -> None:
    for agent in agents:
        agent.start(net.now)


def test_host_host_exact_messages() -> None:
    net = Network(seed=1, impairment=Impairment(delay=0.01))
    a, b = _pair(net)
    _start(net, a.agent, b.agent)
    net.run(until=lambda: both_connected(a.agent, b.agent), max_time=5)
    assert types_of(a.agent) == ("host", "host")
    assert types_of(b.agent) == ("host", "host")
    agree(a.agent, b.agent)
    # Both send their first check at t=0; each cancels its in-progress check
    # on the other's request (RFC 8445 §7.3.1.4) but the late response still
    # makes the pair valid, so the only further request is A's nomination.
    assert len(net.packets(sender="A", stun_class="request")) == 2
    assert len(net.packets(sender="B", stun_class="request")) == 1
    assert len(net.packets(sender="A", stun_class="success")) == 1
    assert len(net.packets(sender="B", stun_class="success")) == 2
    # The nomination goes out with the first success (0.02), not a Ta later.
    assert net.now == pytest.approx(0.04)  # nomination answered at 0.04
    assert states(net, a.agent) == ["checking", "connected", "completed"]
    assert states(net, b.agent) == ["checking", "connected", "completed"]
    no_internal_errors(a.agent, b.agent)


def test_host_host_first_check_at_once_then_paced() -> None:
    net = Network(seed=2, impairment=Impairment(delay=0.5))
    a = host_peer(3, True, [("192.0.2.1", 5000), ("192.0.2.3", 5001)], name="A")
    b = host_peer(4, False, [("192.0.2.2", 6000), ("192.0.2.4", 6001)], name="B")
    attach(net, a, b)
    exchange(a, b)
    _start(net, a.agent)
    net.run(max_time=0.2)
    sent = [r.sent_at for r in net.packets(sender="A", stun_class="request")]
    # Ta = 50 ms pacing of the four pairs; the first goes out at t=0.
    assert sent == pytest.approx([0.0, 0.05, 0.1, 0.15])


def test_checks_arrive_before_the_peer_starts() -> None:
    net = Network(seed=3, impairment=Impairment(delay=0.02))
    a, b = _pair(net, 7)
    _start(net, a.agent)
    net.call_at(1.0, b.agent.start)
    net.run(until=lambda: both_connected(a.agent, b.agent), max_time=5)
    agree(a.agent, b.agent)
    # B answered before it started, but sent nothing of its own until t=1.
    assert min(r.sent_at for r in net.packets(sender="B", stun_class="request")) == 1.0
    assert net.now == pytest.approx(1.04)  # B's own check answered


@pytest.mark.parametrize("seed", range(5))
def test_loss_30_percent(seed: int) -> None:
    net = Network(seed=seed, impairment=Impairment(delay=0.02, loss=0.3))
    a, b = _pair(net, seed * 10 + 1)
    _start(net, a.agent, b.agent)
    net.run(until=lambda: both_connected(a.agent, b.agent), max_time=30)
    assert types_of(a.agent) == ("host", "host")
    agree(a.agent, b.agent)
    no_internal_errors(a.agent, b.agent)


@pytest.mark.parametrize("seed", range(3))
def test_rtt_300ms_with_jitter(seed: int) -> None:
    net = Network(seed=seed, impairment=Impairment(delay=0.15, jitter=0.05))
    a, b = _pair(net, seed + 100)
    _start(net, a.agent, b.agent)
    elapsed = net.run(until=lambda: both_connected(a.agent, b.agent), max_time=10)
    assert types_of(b.agent) == ("host", "host")
    agree(a.agent, b.agent)
    # No retransmission was needed: RTO (500 ms) exceeds the RTT.
    assert a.agent.stats.retransmissions == 0
    assert elapsed < 1.5


@pytest.mark.parametrize("seed", range(3))
def test_duplication_and_reordering(seed: int) -> None:
    imp = Impairment(delay=0.02, jitter=0.03, duplicate=0.5, reorder=0.3, reorder_delay=0.1)
    net = Network(seed=seed, impairment=imp)
    a, b = _pair(net, seed + 200)
    _start(net, a.agent, b.agent)
    net.run(until=lambda: both_connected(a.agent, b.agent), max_time=10)
    agree(a.agent, b.agent)
    net.advance(12)  # consent rounds with duplicates keep the state up
    assert a.agent.state is ConnectionState.COMPLETED
    assert b.agent.state is ConnectionState.COMPLETED
    assert len(net.events_of(a.agent)) == len(set(map(repr, net.events_of(a.agent))))
    no_internal_errors(a.agent, b.agent)
