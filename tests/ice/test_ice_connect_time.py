"""Connect time: nothing on the critical path waits for a Ta slot.

Exact virtual-time bounds with the default Ta (50 ms): a host-host connect
on a 1 ms RTT network takes two round trips (check, then nomination).
"""

from __future__ import annotations

import pytest

from icekit.ice import IceAgent
from icekit.ice import events as ev
from tests.ice.ice_helpers import (
    Peer,
    agree,
    attach,
    both_connected,
    cand,
    exchange,
    host_peer,
    no_internal_errors,
)
from tests.sim.harness import Impairment, Network

RTT = 0.001


def _connected_at(net: Network, agent: IceAgent) -> float:
    """Virtual time at which ``agent`` first reported a selected pair."""
    times = [t for t, e in net.timed_events_of(agent) if isinstance(e, ev.SelectedPairChanged)]
    assert times, "never selected a pair"
    return times[0]


def _host_pair(net: Network) -> tuple[Peer, Peer]:
    a = host_peer(41, True, [("192.0.2.1", 5000)], name="A")
    b = host_peer(42, False, [("192.0.2.2", 6000)], name="B")
    attach(net, a, b)
    return a, b


def test_host_host_connects_in_two_round_trips() -> None:
    net = Network(seed=41, impairment=Impairment(delay=RTT / 2))
    a, b = _host_pair(net)
    exchange(a, b)
    a.agent.start(net.now)
    b.agent.start(net.now)
    net.run(until=lambda: both_connected(a.agent, b.agent), max_time=5)
    agree(a.agent, b.agent)
    assert a.agent.config.ta == pytest.approx(0.05)  # the default
    # A's check is answered at 1 RTT and the nomination goes out with it; B
    # selects on receiving it (its own check made the pair valid), A on its
    # answer.  Before, the nomination waited for A's next Ta slot (50 ms).
    assert _connected_at(net, b.agent) == pytest.approx(1.5 * RTT)
    assert _connected_at(net, a.agent) == pytest.approx(2 * RTT)
    assert max(_connected_at(net, a.agent), _connected_at(net, b.agent)) < 0.01
    # The nomination did not use up A's Ta slot: no other request was sent.
    requests = net.packets(sender="A", stun_class="request")
    assert [r.sent_at for r in requests] == pytest.approx([0.0, RTT])
    no_internal_errors(a.agent, b.agent)


def test_controlled_side_checks_a_nominated_pair_at_once() -> None:
    # B's first ordinary check goes to an address of A that does not answer,
    # so B's next Ta slot is at 50 ms.  A's check reaches B and queues a
    # triggered check; A's nomination follows before B's pair is valid: B
    # checks that pair at once instead of waiting for the slot.
    net = Network(seed=43, impairment=Impairment(delay=RTT / 2))
    a, b = _host_pair(net)
    exchange(a, b, candidates=False, eoc=False)
    a.agent.add_remote_candidate(b.candidates[0][0])
    b.agent.add_remote_candidate(cand(("192.0.2.99", 7000), local_pref=65535))
    b.agent.add_remote_candidate(cand(("192.0.2.1", 5000), local_pref=1))
    b.agent.start(net.now)
    a.agent.start(net.now)
    net.run(until=lambda: both_connected(a.agent, b.agent), max_time=5)
    agree(a.agent, b.agent)
    first_b = net.packets(sender="B", stun_class="request")[0]
    assert first_b.dst == ("192.0.2.99", 7000)  # the dead address went first
    assert _connected_at(net, a.agent) == pytest.approx(2 * RTT)
    # Nomination reaches B at 1.5 RTT; B's own check of the pair is answered
    # one RTT later.
    assert _connected_at(net, b.agent) == pytest.approx(2.5 * RTT)
    no_internal_errors(a.agent, b.agent)


def test_controlling_side_checks_the_path_the_peer_proved_at_once() -> None:
    # Mirror image: A's first check goes to a dead address of B, so A's next
    # Ta slot is at 50 ms.  B's check on the working pair reaches A: with no
    # valid pair yet, A's triggered check of that pair goes out at once, and
    # its success lets A nominate.
    net = Network(seed=47, impairment=Impairment(delay=RTT / 2))
    a, b = _host_pair(net)
    exchange(a, b, candidates=False, eoc=False)
    a.agent.add_remote_candidate(cand(("192.0.2.99", 7000), local_pref=65535))
    a.agent.add_remote_candidate(cand(("192.0.2.2", 6000), local_pref=1))
    b.agent.add_remote_candidate(a.candidates[0][0])
    a.agent.start(net.now)
    b.agent.start(net.now)
    net.run(until=lambda: both_connected(a.agent, b.agent), max_time=5)
    agree(a.agent, b.agent)
    assert net.packets(sender="A", stun_class="request")[0].dst == ("192.0.2.99", 7000)
    # B's check arrives at 0.5 RTT; A's check of the pair is answered at
    # 1.5 RTT; the nomination reaches B at 2 RTT and is answered at 2.5 RTT.
    assert _connected_at(net, b.agent) == pytest.approx(2 * RTT)
    assert _connected_at(net, a.agent) == pytest.approx(2.5 * RTT)
    no_internal_errors(a.agent, b.agent)


def test_new_pairs_are_still_paced() -> None:
    # The nomination is out of band, but new pairs are still paced by Ta.
    net = Network(seed=44, impairment=Impairment(delay=RTT / 2))
    a = host_peer(45, True, [("192.0.2.1", 5000), ("192.0.2.3", 5001)], name="A")
    b = host_peer(46, False, [("192.0.2.2", 6000)], name="B")
    attach(net, a, b)
    exchange(a, b)
    a.agent.start(net.now)
    b.agent.start(net.now)
    net.run(until=lambda: both_connected(a.agent, b.agent), max_time=5)
    net.advance(0.2)
    ordinary = [r.sent_at for r in net.packets(sender="A", stun_class="request")
                if r.sent_at < 0.2]
    # Check of pair 1 at 0, its nomination at 1 RTT, then nothing new is due
    # before the Ta slot at 50 ms.
    assert all(t == pytest.approx(0.0) or t == pytest.approx(RTT) or t >= 0.05 - 1e-9
               for t in ordinary)
