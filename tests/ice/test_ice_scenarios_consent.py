"""Scenarios: consent freshness (RFC 7675) and ICE restart."""

from __future__ import annotations

import itertools
import random

import pytest

from icekit.ice import ConnectionState
from icekit.ice import events as ev
from tests.ice.ice_helpers import (
    Peer,
    agree,
    attach,
    both_connected,
    creds,
    exchange,
    host_peer,
    no_internal_errors,
    states,
)
from tests.sim.harness import Impairment, Network


def _connected(seed: int, eoc: bool = False) -> tuple[Network, Peer, Peer]:
    net = Network(seed=seed, impairment=Impairment(delay=0.02))
    a = host_peer(seed, True, [("192.0.2.1", 5000)], name="A")
    b = host_peer(seed + 1, False, [("192.0.2.2", 6000)], name="B")
    attach(net, a, b)
    exchange(a, b, eoc=eoc)
    a.agent.start(net.now)
    b.agent.start(net.now)
    net.run(until=lambda: both_connected(a.agent, b.agent), max_time=5)
    return net, a, b


def _time_of(net: Network, agent: object, state: ConnectionState, after: float = 0.0) -> float:
    for t, e in net.timed_events_of(agent):
        if isinstance(e, ev.ConnectionStateChanged) and e.state is state and t >= after:
            return t
    raise AssertionError(f"never {state}")


def test_consent_keeps_an_idle_connection_up() -> None:
    net, a, b = _connected(31)
    net.advance(120)
    assert states(net, a.agent) == ["checking", "connected"]
    assert states(net, b.agent) == ["checking", "connected"]
    # RFC 7675 §5.1: one request per 4-6 s from each side, no retransmissions.
    sent = a.agent.stats.consent_requests_sent
    assert 120 / 6 <= sent <= 120 / 4 + 1
    assert a.agent.stats.retransmissions == 0
    gaps = [r.sent_at for r in net.packets(sender="A", stun_class="request")][2:]
    assert all(4.0 - 1e-9 <= y - x <= 6.0 + 1e-9 for x, y in itertools.pairwise(gaps))


def test_consent_loss_disconnected_then_failed() -> None:
    net, a, b = _connected(33)
    silent_at = net.now
    net.set_firewall("192.0.2.2")  # B goes silent
    net.run(until=lambda: a.agent.state is ConnectionState.FAILED, max_time=40)
    t_disc = _time_of(net, a.agent, ConnectionState.DISCONNECTED)
    t_fail = _time_of(net, a.agent, ConnectionState.FAILED)
    assert 5.0 <= t_disc - silent_at <= 7.5
    assert t_fail - silent_at == pytest.approx(30.0, abs=0.1)
    # Consent lost: stop sending, nothing selected, no data accepted.
    assert a.agent.selected_pair is None
    assert not a.agent.is_valid_source(0, ("192.0.2.2", 6000))
    sent = len(net.packets(sender="A"))
    net.advance(60)
    assert len(net.packets(sender="A")) == sent
    assert a.agent.poll_timeout() is None
    no_internal_errors(a.agent, b.agent)


def test_consent_returns_before_failure() -> None:
    net, a, b = _connected(35)
    net.set_firewall("192.0.2.2")
    net.advance(10)
    assert str(a.agent.state) == "disconnected"
    assert a.agent.selected_pair is not None  # still trying, still the path
    net.set_firewall("192.0.2.2", blocked=False)
    net.run(until=lambda: a.agent.state is ConnectionState.CONNECTED, max_time=8)
    net.advance(60)
    assert states(net, a.agent) == ["checking", "connected", "disconnected", "connected"]
    assert a.agent.state is ConnectionState.CONNECTED
    assert b.agent.state is ConnectionState.CONNECTED


def test_application_data_does_not_refresh_consent() -> None:
    net, a, _b = _connected(37)
    # Block only STUN towards A: B's data would still flow, but only STUN counts.
    net.set_impairment(Impairment(loss=1.0), between=("192.0.2.1", "192.0.2.2"))
    net.advance(31)
    assert a.agent.state is ConnectionState.FAILED


@pytest.mark.parametrize("answer_delay", [0.1, 10.0])
def test_ice_restart_keeps_data_on_the_old_pair(answer_delay: float) -> None:
    net, a, b = _connected(39)
    rng = random.Random(5)
    received: list[float] = []
    sent: list[float] = []

    def on_data(now: float, socket_id: int, src: tuple[str, int], data: bytes) -> None:
        if b.agent.is_valid_source(socket_id, src):
            received.append(now)

    net.on_data(b.agent, on_data)

    def pump(now: float) -> None:
        sp = a.agent.selected_pair
        if sp is not None:
            net.send(a.agent, sp.socket_id, sp.remote.addr, b"\x80app")
            sent.append(now)
        if now < 20:
            net.call_later(0.1, pump)

    net.call_at(1.0, pump)
    a_new, b_new = creds(rng), creds(rng)

    def restart_a(now: float) -> None:
        a.agent.restart(now, *a_new)
        for c, sid in a.candidates:
            a.agent.add_local_candidate(c, sid, now=now)

    def offer_to_b(now: float) -> None:
        b.agent.restart(now, *b_new)
        b.agent.set_remote_credentials(*a_new, now=now)
        for c, _ in a.candidates:
            b.agent.add_remote_candidate(c, now=now)

    def answer_to_a(now: float) -> None:
        a.agent.set_remote_credentials(*b_new, now=now)
        for c, _ in b.candidates:
            a.agent.add_remote_candidate(c, now=now)

    net.call_at(2.0, restart_a)
    net.call_at(2.0 + answer_delay, offer_to_b)
    net.call_at(2.0 + answer_delay + 0.05, answer_to_a)
    net.advance(25)
    assert len(net.events_of(a.agent, ev.SelectedPairChanged)) == 2
    assert len(net.events_of(b.agent, ev.SelectedPairChanged)) == 2
    agree(a.agent, b.agent)
    # The old pair carried data until the new one took over: nothing was lost.
    assert len(sent) > 150 and len(received) == len(sent)
    assert states(net, a.agent) == ["checking", "connected"]
    assert states(net, b.agent) == ["checking", "connected"]
    assert a.agent.local_ufrag == a_new[0]
    no_internal_errors(a.agent, b.agent)


def test_restart_after_consent_loss_recovers() -> None:
    net, a, b = _connected(41)
    net.set_firewall("192.0.2.2")
    net.run(until=lambda: a.agent.state is ConnectionState.FAILED, max_time=40)
    net.set_firewall("192.0.2.2", blocked=False)
    rng = random.Random(9)
    a_new, b_new = creds(rng), creds(rng)
    now = net.now
    a.agent.restart(now, *a_new)
    b.agent.restart(now, *b_new)
    a.agent.set_remote_credentials(*b_new, now=now)
    b.agent.set_remote_credentials(*a_new, now=now)
    for src, dst in ((a, b), (b, a)):
        for c, _ in src.candidates:
            dst.agent.add_remote_candidate(c, now=now)
    net.run(until=lambda: both_connected(a.agent, b.agent), max_time=5)
    assert states(net, a.agent)[-3:] == ["failed", "checking", "connected"]
    agree(a.agent, b.agent)
