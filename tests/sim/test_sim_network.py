"""Routing, firewall, data hook, injection and the trace."""

from __future__ import annotations

import pytest

from tests.sim.fakes import Echo, Pinger, Pong, Recorder
from tests.sim.harness import Impairment, Nat, Network

A = ("192.0.2.1", 1000)
B = ("192.0.2.2", 2000)
STUN_PING = b"\x00\x01ping"


def test_public_delivery_and_trace() -> None:
    net = Network(impairment=Impairment(delay=0.02))
    echo = net.attach(Echo(), {0: B}, name="echo")
    pinger = net.attach(Pinger(0, B, interval=1.0, count=3), {0: A}, name="pinger")
    net.run(lambda: len(pinger.pongs) == 3)
    assert net.now == pytest.approx(2.04)
    assert [p.rtt for p in pinger.pongs] == pytest.approx([0.04] * 3)
    assert net.events_of(pinger) == pinger.pongs
    assert net.events_of(pinger, Pong) == pinger.pongs
    assert [t for t, _ in net.timed_events_of(pinger)] == pytest.approx([0.04, 1.04, 2.04])
    assert len(net.packets(sender=pinger, stun_class="request", method=1)) == 3
    assert len(net.packets(sender="echo", receiver="pinger", stun_class="success")) == 3
    assert len(net.packets(src=A, dst=B)) == 3
    assert net.packets(since=2.0, stun_class="request")[0].sent_at == 2.0
    assert all(r.delivered and r.dropped is None for r in net.trace)
    assert len(echo.received) == 3
    assert "pinger" in net.dump_trace(last=1)


def test_firewall_blocks_both_directions_and_can_be_lifted() -> None:
    net = Network()
    net.attach(Echo(), {0: B}, name="echo")
    pinger = net.attach(Pinger(0, B, interval=1.0, count=4), {0: A}, name="pinger")
    net.set_firewall(A[0])
    net.run(max_time=1.5)
    net.set_firewall(A[0], blocked=False)
    net.set_firewall(B[0])
    net.run(max_time=1.0)
    net.set_firewall(B[0], blocked=False)
    net.run(max_time=2.0)
    assert [p.n for p in pinger.pongs] == [3]
    assert [r.dropped for r in net.packets(dropped="firewall")] == ["firewall"] * 3


def test_unbound_port_and_unknown_address() -> None:
    net = Network()
    a = net.attach(Recorder(), {0: A})
    net.attach(Recorder(), {0: B})
    a.queue(0, (B[0], 9), STUN_PING)
    a.queue(0, ("203.0.113.99", 9), STUN_PING)
    net.run()
    assert [r.dropped for r in net.trace] == ["unbound", "no-route"]


def test_data_hook_gets_non_stun_payloads() -> None:
    net = Network()
    got: list[tuple[float, int, tuple[str, int], bytes]] = []
    a = net.attach(Recorder(), {0: A})
    b = net.attach(Recorder(), {7: B}, on_data=lambda now, sid, src, data: got.append((now, sid, src, data)))
    a.queue(0, B, b"hello")
    a.queue(0, B, STUN_PING)
    net.run()
    assert got == [(0.0, 7, A, b"hello")]
    assert [d for _, _, _, d in b.received] == [STUN_PING]
    net.on_data(b, None)
    a.queue(0, B, b"again")
    net.run()
    assert net.trace[-1].dropped == "no-data-handler"


def test_all_to_stun_delivers_garbage_to_handle_stun() -> None:
    net = Network()
    b = net.attach(Recorder(), {0: B}, all_to_stun=True)
    net.inject(A, B, b"\xffgarbage")
    net.run()
    assert b.received == [(0.0, 0, A, b"\xffgarbage")]


def test_inject_spoofed_source() -> None:
    net = Network()
    nat = net.add_nat(Nat.full_cone("198.51.100.1"))
    net.add_host("10.0.0.2", behind=nat)
    victim = net.attach(Recorder(), {0: ("10.0.0.2", 5000)})
    server = net.attach(Recorder(), {0: B})
    mapped = net.reflexive_address(("10.0.0.2", 5000), B)
    rec = net.inject(("203.0.113.66", 1), mapped, STUN_PING)
    net.run()
    assert rec.injected and rec.delivered
    assert victim.sources() == [("203.0.113.66", 1)]
    # An attacker on the LAN reaches private addresses directly.
    net.inject(("10.0.0.99", 4), ("10.0.0.2", 5000), STUN_PING, behind=nat)
    net.run()
    assert victim.sources()[-1] == ("10.0.0.99", 4)
    assert server.received == []


def test_send_from_endpoint_socket_goes_through_nat() -> None:
    net = Network()
    nat = net.add_nat("198.51.100.1")
    net.add_host("10.0.0.2", behind=nat)
    a = net.attach(Recorder(), {3: ("10.0.0.2", 5000)})
    b = net.attach(Recorder(), {0: B})
    net.send(a, 3, B, b"\x00\x01x")
    net.run()
    assert b.sources() == [("198.51.100.1", 40000)]
    assert net.address_of(a, 3) == ("10.0.0.2", 5000)


def test_call_at_runs_in_order_and_rejects_the_past() -> None:
    net = Network()
    seen: list[tuple[str, float]] = []
    net.call_at(2.0, lambda now: seen.append(("b", now)))
    net.call_at(1.0, lambda now: seen.append(("a", now)))
    net.call_later(2.0, lambda now: seen.append(("c", now)))
    net.run()
    assert seen == [("a", 1.0), ("b", 2.0), ("c", 2.0)]
    with pytest.raises(AssertionError):
        net.call_at(1.0, lambda now: None)


def test_attach_errors_and_detach() -> None:
    net = Network()
    a = net.attach(Recorder(), {0: A})
    with pytest.raises(AssertionError):
        net.attach(a, {1: ("192.0.2.9", 1)})
    with pytest.raises(AssertionError):
        net.attach(Recorder(), {0: A})
    nat1 = net.add_nat("198.51.100.1")
    nat2 = net.add_nat("198.51.100.2")
    h1 = net.add_host("10.0.0.2", behind=nat1)
    net.add_host("10.0.0.2", behind=nat2)
    with pytest.raises(AssertionError):
        net.attach(Recorder(), {0: ("10.0.0.2", 1)})  # ambiguous
    net.attach(Recorder(), {0: (h1, 1)})
    with pytest.raises(AssertionError):
        net.add_nat("198.51.100.1")
    b = net.attach(Recorder(), {0: B})
    net.detach(b)
    a.queue(0, B, STUN_PING)
    net.run()
    assert net.trace[-1].dropped == "unbound"
    with pytest.raises(AssertionError):
        net.events_of(b)


def test_sending_on_an_unbound_socket_fails_the_test() -> None:
    net = Network()
    a = net.attach(Recorder(), {0: A})
    a.queue(5, B, STUN_PING)
    with pytest.raises(AssertionError, match="unbound socket 5"):
        net.run()


def test_call_every() -> None:
    net = Network()
    a = net.attach(Recorder(), {0: A}, name="a")
    got: list[float] = []
    net.attach(Recorder(), {0: B}, on_data=lambda now, sid, src, data: got.append(now))
    net.call_every(0.5, lambda now: net.send(a, 0, B, b"data"), start=1.0, count=4)
    net.run(max_time=None)
    assert got == [1.0, 1.5, 2.0, 2.5]
    ticks: list[float] = []
    net.call_every(1.0, ticks.append)
    net.advance(3.5)
    assert ticks == [2.5, 3.5, 4.5, 5.5]
