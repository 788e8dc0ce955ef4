"""Role conflicts always converge (RFC 8445 §7.3.1.1, §7.2.5.1).

The tie-breaker comparison must pick the same winner on both sides (also
when the two tie-breakers are equal), and a 487 answering a request sent
under an earlier role must not switch the role again.
"""

from __future__ import annotations

import random

import pytest

from icekit.ice import IceAgent, IceConfig
from icekit.ice import events as ev
from icekit.ice.agent import ROLE_SWITCH_LIMIT
from icekit.stun import Attr, Message, MessageClass, Method, short_term_key
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
from tests.ice.ice_wire import drain, drain_events
from tests.sim.harness import Impairment, Network

PEER = ("192.0.2.9", 7000)
LOCAL = ("192.0.2.1", 5000)
R_UFRAG, R_PWD = "peerufrag", "peerpasswordpeerpassword"


def _switches(net: Network, agent: IceAgent) -> int:
    return len(net.events_of(agent, ev.RoleChanged))


def _converged(net: Network, a: Peer, b: Peer) -> None:
    agree(a.agent, b.agent)
    assert a.agent.controlling != b.agent.controlling
    # Each side switches at most once: roles move towards the winner only.
    assert _switches(net, a.agent) <= 1 and _switches(net, b.agent) <= 1
    no_internal_errors(a.agent, b.agent)


@pytest.mark.parametrize("controlling", [True, False])
def test_equal_tie_breakers_converge(controlling: bool) -> None:
    # RFC 8445 §7.3.1.1 says ">=" on both sides: with equal tie-breakers both
    # would win (or both lose) and switch for ever.  The ufrags break the tie.
    net = Network(seed=61, impairment=Impairment(delay=0.005))
    a = host_peer(61, controlling, [("192.0.2.1", 5000)], tie_breaker=777, name="A")
    b = host_peer(62, controlling, [("192.0.2.2", 6000)], tie_breaker=777, name="B")
    attach(net, a, b)
    exchange(a, b)
    a.agent.start(net.now)
    b.agent.start(net.now)
    net.run(until=lambda: both_connected(a.agent, b.agent), max_time=10)
    _converged(net, a, b)
    winner = a if a.agent.local_ufrag > b.agent.local_ufrag else b
    assert winner.agent.controlling


def _agent(controlling: bool, tie_breaker: int = 1000) -> IceAgent:
    rng = random.Random(5)
    agent = IceAgent(IceConfig(), controlling=controlling, local_ufrag="localufrag",
                     local_pwd="localpasswordlocalpassword", tie_breaker=tie_breaker, rng=rng)
    agent.add_local_candidate(cand(LOCAL), 0)
    agent.set_remote_credentials(R_UFRAG, R_PWD)
    agent.add_remote_candidate(cand(PEER))
    return agent


def _request(agent: IceAgent, controlling: bool, tie_breaker: int, tid: bytes) -> bytes:
    msg = Message(Method.BINDING, MessageClass.REQUEST, tid)
    msg.add(Attr.USERNAME, f"{agent.local_ufrag}:{R_UFRAG}")
    msg.add(Attr.PRIORITY, 0x6E0000FF)
    msg.add(Attr.ICE_CONTROLLING if controlling else Attr.ICE_CONTROLLED, tie_breaker)
    return msg.encode(integrity_key=short_term_key(agent.local_pwd))


def _error_487(tid: bytes) -> bytes:
    msg = Message(Method.BINDING, MessageClass.ERROR, tid)
    msg.add(Attr.ERROR_CODE, (487, "Role Conflict"))
    return msg.encode(integrity_key=short_term_key(R_PWD))


def test_stale_487_after_role_swap_back_is_ignored() -> None:
    # A check goes out while controlling; two role switches later (a peer
    # whose requests disagree, e.g. one that replaced its agent) the agent is
    # controlling again when the 487 for that first check arrives.  It
    # answers a request sent under an earlier role: it must change nothing.
    agent = _agent(controlling=True, tie_breaker=1000)
    agent.start(0.0)
    first = [Message.decode(t.data) for t in drain(agent)]
    assert len(first) == 1 and Attr.ICE_CONTROLLING in first[0]
    agent.handle_stun(0.001, 0, PEER, _request(agent, True, 2000, b"a" * 12))
    assert not agent.controlling
    agent.handle_stun(0.002, 0, PEER, _request(agent, False, 10, b"b" * 12))
    assert agent.controlling
    drain(agent)
    drain_events(agent)
    agent.handle_stun(0.003, 0, PEER, _error_487(first[0].transaction_id))
    assert agent.controlling
    assert not [e for e in drain_events(agent) if isinstance(e, ev.RoleChanged)]


def test_487_for_the_current_role_switches_once() -> None:
    agent = _agent(controlling=True, tie_breaker=1000)
    agent.start(0.0)
    first = Message.decode(drain(agent)[0].data)
    agent.handle_stun(0.001, 0, PEER, _error_487(first.transaction_id))
    assert not agent.controlling
    # The pair is retried in the new role (RFC 8445 §7.2.5.1).
    agent.handle_timeout(0.05)
    retry = [Message.decode(t.data) for t in drain(agent)]
    assert retry and all(Attr.ICE_CONTROLLED in m for m in retry)
    # A second 487 for the same (old-role) request changes nothing.
    agent.handle_stun(0.06, 0, PEER, _error_487(first.transaction_id))
    assert not agent.controlling


def _early_peer(net: Network, seed: int, controlling: bool, tb: int, addr: tuple[str, int],
                name: str) -> Peer:
    return host_peer(seed, controlling, [addr], tie_breaker=tb, name=name)


@pytest.mark.parametrize("seed", range(40))
def test_random_role_conflicts_converge(seed: int) -> None:
    """Both roles claimed, checks crossing, early checks, loss, restarts."""
    rng = random.Random(seed)
    imp = Impairment(delay=rng.choice([0.001, 0.01, 0.05]), jitter=rng.choice([0.0, 0.02]),
                     loss=rng.choice([0.0, 0.1]), duplicate=rng.choice([0.0, 0.3]),
                     reorder=rng.choice([0.0, 0.3]), reorder_delay=0.05)
    net = Network(seed=seed, impairment=imp)
    same = rng.random() < 0.5
    tb_a = rng.getrandbits(64)
    tb_b = tb_a if rng.random() < 0.3 else rng.getrandbits(64)
    role_a = rng.random() < 0.5
    role_b = role_a if same else not role_a
    a = _early_peer(net, seed * 2 + 1, role_a, tb_a, ("192.0.2.1", 5000), "A")
    b = _early_peer(net, seed * 2 + 2, role_b, tb_b, ("192.0.2.2", 6000), "B")
    attach(net, a, b)
    exchange(a, b)
    a.agent.start(net.now)
    # B starts late: A's checks arrive (and may be answered) before.
    net.call_at(rng.choice([0.0, 0.02, 0.3]), b.agent.start)
    restart = rng.random() < 0.3
    if restart:
        def do_restart(now: float) -> None:
            for p, q in ((a, b), (b, a)):
                p.agent.restart(now, p.agent.local_ufrag[::-1], p.agent.local_pwd[::-1])
            for p, q in ((a, b), (b, a)):
                p.agent.set_remote_credentials(q.agent.local_ufrag, q.agent.local_pwd, now=now)
                for c, _ in q.candidates:
                    p.agent.add_remote_candidate(c, now=now)
        net.call_at(rng.choice([0.01, 0.06, 2.0]), do_restart)
    net.run(until=lambda: both_connected(a.agent, b.agent) and net.now > 2.5, max_time=40)
    agree(a.agent, b.agent)
    assert a.agent.controlling != b.agent.controlling
    assert _switches(net, a.agent) <= 1 and _switches(net, b.agent) <= 1
    no_internal_errors(a.agent, b.agent)


def test_indistinguishable_peers_stop_switching() -> None:
    # Same tie-breaker and same ufrag: no rule can pick a winner.  The number
    # of role switches per generation is bounded, so the agents end up
    # connected or failed instead of switching every Ta for ever.
    net = Network(seed=63, impairment=Impairment(delay=0.005))
    peers = []
    for seed, addr, name in ((63, ("192.0.2.1", 5000), "A"), (64, ("192.0.2.2", 6000), "B")):
        agent = IceAgent(IceConfig(), controlling=True, local_ufrag="sameufrag",
                         local_pwd=f"passwordof{name}0123456789abc", tie_breaker=5,
                         rng=random.Random(seed))
        peers.append(Peer(agent, {0: addr}, [(cand(addr), 0)], name))
    a, b = peers
    attach(net, a, b)
    exchange(a, b)
    a.agent.start(net.now)
    b.agent.start(net.now)
    done = ("failed", "connected", "completed")
    net.run(until=lambda: str(a.agent.state) in done and str(b.agent.state) in done,
            max_time=60)
    for p in (a, b):
        assert _switches(net, p.agent) == p.agent.stats.role_switches <= ROLE_SWITCH_LIMIT
    no_internal_errors(a.agent, b.agent)


def test_role_switch_limit_stops_a_contradicting_peer() -> None:
    # A peer that claims the winning role, then the losing one, and again:
    # we follow it ROLE_SWITCH_LIMIT times, then answer 487 and keep our role.
    agent = _agent(controlling=True, tie_breaker=1000)
    agent.start(0.0)
    drain(agent)
    for i in range(10):
        claim_controlling = agent.controlling
        tb = 2000 if claim_controlling else 10  # always the winning claim
        agent.handle_stun(0.01 * (i + 1), 0, PEER,
                          _request(agent, claim_controlling, tb, bytes([i]) * 12))
        drain(agent)
    assert agent.stats.role_switches == ROLE_SWITCH_LIMIT
    assert agent.stats.dropped["role_switch_limit"] == 10 - ROLE_SWITCH_LIMIT


@pytest.mark.parametrize("new_wins", [True, False])
def test_peer_that_replaced_its_agent_after_answering_early(new_wins: bool) -> None:
    # The reported failure: P's first agent answered Q's checks before its
    # role was decided and won Q over to controlling; P then replaced it by a
    # controlling agent with the same credentials but a new tie-breaker.  Q
    # sees two tie-breakers; it may switch once per tie-breaker, never more,
    # and must not keep switching every Ta.
    net = Network(seed=65, impairment=Impairment(delay=0.005))
    q = host_peer(65, False, [("192.0.2.2", 6000)], tie_breaker=1000, name="Q")
    p_addr = ("192.0.2.1", 5000)
    first = host_peer(66, False, [p_addr], tie_breaker=10, name="P1")
    attach(net, q, first)
    exchange(q, first)
    q.agent.start(net.now)
    net.run(until=lambda: q.agent.controlling, max_time=1)  # P1 lost: Q controls
    net.detach(first.agent)
    second_agent = IceAgent(IceConfig(), controlling=True, local_ufrag=first.agent.local_ufrag,
                            local_pwd=first.agent.local_pwd,
                            tie_breaker=5000 if new_wins else 500, rng=random.Random(67))
    second = Peer(second_agent, {0: p_addr}, first.candidates, "P2")
    attach(net, second)
    second_agent.set_remote_credentials(q.agent.local_ufrag, q.agent.local_pwd)
    for c, sid in second.candidates:
        second_agent.add_local_candidate(c, sid)
    second_agent.set_local_end_of_candidates()
    for c, _ in q.candidates:
        second_agent.add_remote_candidate(c)
    second_agent.set_remote_end_of_candidates()
    second_agent.start(net.now)
    net.advance(20)
    assert _switches(net, q.agent) == (2 if new_wins else 1)
    assert _switches(net, second_agent) == (0 if new_wins else 1)
    # Whatever happened, nobody is still fighting over the roles.
    late_errors = [r for r in net.packets(stun_class="error") if r.sent_at > 5]
    assert late_errors == []
    assert both_connected(q.agent, second_agent)
    agree(q.agent, second_agent)
    no_internal_errors(q.agent, second_agent)
