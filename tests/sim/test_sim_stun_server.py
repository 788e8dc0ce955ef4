"""The simulated STUN server reports the NAT-mapped source."""

from __future__ import annotations

from icekit.stun import Attr, Message, MessageClass, Method
from tests.sim.fakes import Recorder
from tests.sim.harness import Nat, Network
from tests.sim.stun_server import StunServer

CLIENT = ("10.0.0.2", 5000)
SERVER = ("203.0.113.10", 3478)


def _net() -> tuple[Network, Recorder, StunServer]:
    net = Network(seed=1)
    nat = net.add_nat(Nat.symmetric("198.51.100.1"))
    net.add_host(CLIENT[0], behind=nat)
    client = net.attach(Recorder(), {0: CLIENT}, name="client")
    server = net.attach(StunServer(), {0: SERVER}, name="stun")
    return net, client, server


def test_binding_response_carries_the_reflexive_address() -> None:
    net, client, server = _net()
    req = Message(Method.BINDING, MessageClass.REQUEST)
    client.queue(0, SERVER, req.encode(fingerprint=True))
    net.run(lambda: bool(client.received), max_time=1.0)
    resp = Message.decode(client.received[0][3])
    assert resp.msg_class == MessageClass.SUCCESS
    assert resp.transaction_id == req.transaction_id
    mapped = resp.get(Attr.XOR_MAPPED_ADDRESS)
    assert mapped == net.reflexive_address(CLIENT, SERVER) == ("198.51.100.1", 40000)
    assert server.requests == [(0.0, 0, mapped)]


def test_garbage_and_other_methods() -> None:
    net, client, server = _net()
    client.queue(0, SERVER, b"\x00\x01\x00\x00garbage-garbage-garb")
    client.queue(0, SERVER, Message(Method.BINDING, MessageClass.INDICATION).encode())
    client.queue(0, SERVER, Message(Method.ALLOCATE, MessageClass.REQUEST).encode())
    net.run(max_time=1.0)
    assert server.ignored == 2
    (_, _, _, data), = client.received
    assert Message.decode(data).get(Attr.ERROR_CODE)[0] == 400
