"""ICE-lite agents cannot be hijacked by replaying a captured check.

A lite agent sends no checks, so an authenticated request is all it has as
proof of a path.  A captured nominating request, replayed from another
address, must neither make that address valid nor move the selected pair to
it, however high the PRIORITY it carries (prflx 110 beats a signalled srflx
100).  See docs/core.md, "Replayed requests".
"""

from __future__ import annotations

from icekit.ice import IceConfig
from icekit.ice import events as ev
from icekit.stun import Attr, Message
from tests.ice.ice_helpers import (
    Peer,
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

A_HOST = ("10.0.0.2", 5000)
B_ADDR = ("192.0.2.2", 6000)
EVIL = ("203.0.113.66", 4444)
STUN_SERVER = ("203.0.113.1", 3478)


def _connected() -> tuple[Network, Peer, Peer]:
    """Full agent A behind a NAT (host + srflx), lite agent B, connected."""
    net = Network(seed=61, impairment=Impairment(delay=0.02))
    net.add_host(A_HOST[0], behind=net.add_nat(Nat.port_restricted_cone("198.51.100.1")))
    mapped = net.reflexive_address(A_HOST, STUN_SERVER)
    a = Peer(make_agent(62, True), {0: A_HOST},
             [(cand(A_HOST), 0), (cand(mapped, "srflx", related=A_HOST), 0)], "A")
    b = host_peer(63, False, [B_ADDR], config=IceConfig(lite=True), name="B")
    attach(net, a, b)
    exchange(a, b)
    a.agent.set_remote_lite(True)
    a.agent.start(net.now)
    b.agent.start(net.now)
    net.run(until=lambda: both_connected(a.agent, b.agent), max_time=5)
    assert types_of(b.agent) == ("host", "srflx")
    return net, a, b


def _captured_nomination(net: Network) -> bytes:
    for rec in net.packets(sender="A", stun_class="request"):
        if Attr.USE_CANDIDATE in Message.decode(rec.data):
            return rec.data
    raise AssertionError("no nominating request on the wire")


def _assert_not_hijacked(net: Network, b: Peer, before: object) -> None:
    assert b.agent.selected_pair == before
    assert not b.agent.is_valid_source(0, EVIL)
    assert all(not (p.valid and p.remote.addr == EVIL) for p in b.agent.pairs)
    assert len(net.events_of(b.agent, ev.SelectedPairChanged)) == 1
    no_internal_errors(b.agent)


def test_replayed_nomination_from_another_address_changes_nothing() -> None:
    net, _a, b = _connected()
    before = b.agent.selected_pair
    replay = _captured_nomination(net)
    net.inject(EVIL, B_ADDR, replay)
    net.advance(1.0)
    _assert_not_hijacked(net, b, before)
    # Dropped unanswered: the lite agent reflects nothing to the spoofed source.
    assert net.packets(dst=EVIL) == []
    assert b.agent.stats.dropped["replayed_request"] == 1


def test_replay_after_the_replay_window_still_changes_nothing() -> None:
    from icekit.ice.replay import REPLAY_WINDOW
    net, a, b = _connected()
    before = b.agent.selected_pair
    replay = _captured_nomination(net)
    net.advance(REPLAY_WINDOW + 5)  # the transaction id is forgotten by now
    net.inject(EVIL, B_ADDR, replay)
    net.advance(1.0)
    _assert_not_hijacked(net, b, before)
    assert both_connected(a.agent, b.agent)
