"""Attacker traffic on the simulated network changes nothing (RFC 8445 §7.3, §7.2.5)."""

from __future__ import annotations

import random

import pytest

from icekit.ice import ConnectionState
from icekit.ice import events as ev
from icekit.stun import Attr, Message, MessageClass, Method, short_term_key
from tests.ice.ice_helpers import (
    Peer,
    attach,
    both_connected,
    exchange,
    host_peer,
    no_internal_errors,
)
from tests.sim.harness import Impairment, Network

A_ADDR = ("192.0.2.1", 5000)
B_ADDR = ("192.0.2.2", 6000)
EVIL = ("198.51.100.66", 4444)


def _setup(seed: int) -> tuple[Network, Peer, Peer]:
    net = Network(seed=seed, impairment=Impairment(delay=0.02))
    a = host_peer(41, True, [A_ADDR], name="A")
    b = host_peer(42, False, [B_ADDR], name="B")
    attach(net, a, b)
    exchange(a, b, eoc=False)
    return net, a, b


def _request(username: str, key: bytes, tid: bytes, *, controlling: bool = True) -> bytes:
    msg = Message(Method.BINDING, MessageClass.REQUEST, tid)
    msg.add(Attr.USERNAME, username)
    msg.add(Attr.PRIORITY, 0x7E0000FF)
    msg.add(Attr.ICE_CONTROLLING if controlling else Attr.ICE_CONTROLLED, 1 << 63)
    msg.add(Attr.USE_CANDIDATE, None)
    return msg.encode(integrity_key=key)


def _attack(net: Network, a: Peer, b: Peer, rng: random.Random) -> None:
    """One round of every kind of forged datagram, towards both agents."""
    for victim, peer, vaddr, paddr in ((a, b, A_ADDR, B_ADDR), (b, a, B_ADDR, A_ADDR)):
        ufrag = f"{victim.agent.local_ufrag}:{peer.agent.local_ufrag}"
        # Spoofed success responses to every transaction seen on the wire,
        # from the real peer address, signed with a wrong key.
        for rec in net.packets(sender=victim.name, stun_class="request")[-3:]:
            tid = rec.data[8:20]
            resp = Message(Method.BINDING, MessageClass.SUCCESS, tid)
            resp.add(Attr.XOR_MAPPED_ADDRESS, EVIL)
            net.inject(paddr, vaddr, resp.encode(integrity_key=b"wrong key"))
            unsigned = Message(Method.BINDING, MessageClass.SUCCESS, tid)
            unsigned.add(Attr.XOR_MAPPED_ADDRESS, EVIL)
            net.inject(paddr, vaddr, unsigned.encode())
            err = Message(Method.BINDING, MessageClass.ERROR, tid)
            err.add(Attr.ERROR_CODE, (487, "Role Conflict"))
            net.inject(paddr, vaddr, err.encode())
        # Responses nobody asked for.
        stray = Message(Method.BINDING, MessageClass.SUCCESS, rng.randbytes(12))
        stray.add(Attr.XOR_MAPPED_ADDRESS, EVIL)
        net.inject(EVIL, vaddr, stray.encode(integrity_key=short_term_key(peer.agent.local_pwd)))
        # Requests: wrong USERNAME, wrong integrity, none at all.
        net.inject(EVIL, vaddr, _request("nobody:" + peer.agent.local_ufrag,
                                         short_term_key(victim.agent.local_pwd),
                                         rng.randbytes(12)))
        net.inject(EVIL, vaddr, _request(ufrag, b"not the password", rng.randbytes(12)))
        net.inject(EVIL, vaddr, _request(ufrag, b"", rng.randbytes(12))[:-32])
        # Garbage that looks like STUN by its first byte, and pure garbage.
        net.inject(EVIL, vaddr, bytes([rng.randrange(4)]) + rng.randbytes(rng.randrange(60)))
        net.inject(paddr, vaddr, b"\x00\x01\x00\x00\x21\x12\xa4\x42" + rng.randbytes(12))


def _run(seed: int, attack: bool) -> tuple[Network, Peer, Peer]:
    net, a, b = _setup(seed)
    rng = random.Random(seed)
    if attack:
        for t in (0.0, 0.01, 0.03, 0.05, 0.08, 1.0, 5.0, 9.0):
            net.call_at(t, lambda now: _attack(net, a, b, rng))
    a.agent.start(net.now)
    b.agent.start(net.now)
    net.run(until=lambda: both_connected(a.agent, b.agent), max_time=5)
    net.advance(15)
    return net, a, b


@pytest.mark.parametrize("seed", range(3))
def test_attacker_traffic_changes_nothing(seed: int) -> None:
    _clean_net, ca, cb = _run(seed, attack=False)
    net, a, b = _run(seed, attack=True)
    for clean, attacked in ((ca, a), (cb, b)):
        assert attacked.agent.selected_pair == clean.agent.selected_pair
        assert attacked.agent.state is ConnectionState.CONNECTED
        # No candidate learned from the attacker, no role switch.
        assert net.events_of(attacked.agent, ev.RemoteCandidateAdded) == []
        assert net.events_of(attacked.agent, ev.LocalCandidateAdded) == []
        assert net.events_of(attacked.agent, ev.RoleChanged) == []
        assert not attacked.agent.is_valid_source(0, EVIL)
        dropped = attacked.agent.stats.dropped
        for reason in ("bad_integrity", "bad_username", "unmatched_response", "malformed",
                       "bad_request"):
            assert dropped[reason] > 0, (reason, dropped)
    # Only the authenticated peers' datagrams reached the agents' logic:
    # nothing was ever sent to the attacker but error responses.
    to_evil = net.packets(dst=EVIL)
    assert to_evil and all(r.stun is not None and r.stun[1] == "error" for r in to_evil)
    no_internal_errors(a.agent, b.agent)
