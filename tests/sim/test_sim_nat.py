"""RFC 4787 NAT behaviours of the simulator, probed like a STUN client would."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.sim.fakes import Recorder
from tests.sim.harness import ADM, APDM, EIM, Behavior, Nat, Network

CLIENT = ("10.0.0.2", 5000)
NAT_IP = "198.51.100.1"
S1 = ("203.0.113.10", 3478)
S1_OTHER_PORT = ("203.0.113.10", 3479)
S2 = ("203.0.113.20", 3478)
BEHAVIORS = [EIM, ADM, APDM]


def _setup(mapping: Behavior, filtering: Behavior, **kw: object) -> tuple[Network, Nat, Recorder, Recorder]:
    net = Network(seed=7)
    nat = net.add_nat(NAT_IP, mapping=mapping, filtering=filtering, **kw)
    net.add_host(CLIENT[0], behind=nat)
    client = net.attach(Recorder(), {0: CLIENT}, name="client")
    servers = net.attach(Recorder(), {0: S1, 1: S1_OTHER_PORT, 2: S2}, name="servers")
    return net, nat, client, servers


@pytest.mark.parametrize(("mapping", "filtering"), list(itertools.product(BEHAVIORS, BEHAVIORS)))
def test_mapping_behaviour(mapping: Behavior, filtering: Behavior) -> None:
    # RFC 4787 §4.1: which destinations share an external mapping.
    net, _, client, servers = _setup(mapping, filtering)
    for dest in (S1, S1_OTHER_PORT, S2):
        client.queue(0, dest, b"\x00\x01probe")
    net.run(max_time=1.0)
    seen = {sid: src for _, sid, src, _ in servers.received}
    assert set(seen) == {0, 1, 2}
    assert all(src[0] == NAT_IP for src in seen.values())
    if mapping is EIM:
        assert seen[0] == seen[1] == seen[2]
    elif mapping is ADM:
        assert seen[0] == seen[1] != seen[2]
    else:
        assert len({seen[0], seen[1], seen[2]}) == 3


@pytest.mark.parametrize(("mapping", "filtering"), list(itertools.product(BEHAVIORS, BEHAVIORS)))
def test_filtering_behaviour(mapping: Behavior, filtering: Behavior) -> None:
    # RFC 4787 §5: after the client talked to S1 only, who may reach its mapping?
    net, _, client, servers = _setup(mapping, filtering)
    client.queue(0, S1, b"\x00\x01probe")
    net.run(max_time=1.0)
    (_, _, mapped, _), = servers.received
    for sid in (0, 1, 2):
        servers.queue(sid, mapped, bytes([0, sid]))
    net.run(max_time=1.0)
    got = {data[1] for _, _, _, data in client.received}
    expected = {EIM: {0, 1, 2}, ADM: {0, 1}, APDM: {0}}[filtering]
    assert got == expected
    dropped = net.packets(sender="servers", dropped="nat-filtered")
    assert len(dropped) == 3 - len(expected)
    # The replies that pass come from the servers' real addresses.
    assert {src for _, _, src, _ in client.received} <= {S1, S1_OTHER_PORT, S2}


def test_unsolicited_inbound_has_no_mapping() -> None:
    net, _, client, servers = _setup(EIM, EIM)
    servers.queue(0, (NAT_IP, 40000), b"\x00\x01hello")
    net.run(max_time=1.0)
    assert client.received == []
    assert [r.dropped for r in net.trace] == ["nat-no-mapping"]


def test_private_address_is_unreachable_from_outside() -> None:
    net, _, client, servers = _setup(EIM, EIM)
    servers.queue(0, CLIENT, b"\x00\x01hello")
    net.run(max_time=1.0)
    assert client.received == []
    assert net.trace[0].dropped == "no-route"


def test_hosts_behind_the_same_nat_talk_directly() -> None:
    net, nat, client, _ = _setup(APDM, APDM)
    net.add_host("10.0.0.3", behind=nat)
    peer = net.attach(Recorder(), {0: ("10.0.0.3", 6000)}, name="peer")
    client.queue(0, ("10.0.0.3", 6000), b"\x00\x01lan")
    net.run(max_time=1.0)
    assert peer.sources() == [CLIENT]
    assert nat.mappings() == []


@pytest.mark.parametrize("hairpin", [False, True])
def test_hairpinning(hairpin: bool) -> None:
    # RFC 4787 §6: hairpinned datagrams carry the sender's external address (REQ-9).
    net, nat, client, _ = _setup(EIM, APDM, hairpin=hairpin)
    net.add_host("10.0.0.3", behind=nat)
    peer = net.attach(Recorder(), {0: ("10.0.0.3", 6000)}, name="peer")
    peer_ext = net.reflexive_address(("10.0.0.3", 6000), S1)
    client_ext = net.reflexive_address(CLIENT, S1)
    # Port-restricted filtering: the peer must have sent to the client's mapping first.
    peer.queue(0, client_ext, b"\x00\x01open")
    client.queue(0, peer_ext, b"\x00\x01hairpin")
    net.run(max_time=1.0)
    if hairpin:
        assert peer.sources() == [client_ext]
        assert client.sources() == [peer_ext]
    else:
        assert peer.received == [] and client.received == []
        assert [r.dropped for r in net.trace] == ["hairpin", "hairpin"]


def test_mapping_timeout_and_refresh() -> None:
    # RFC 4787 §4.3: outbound traffic refreshes, inbound does not (by default).
    net, _, client, servers = _setup(EIM, EIM, mapping_timeout=30.0)
    client.queue(0, S1, b"\x00\x01a")
    net.run(max_time=20.0)
    first = servers.sources()[0]
    client.queue(0, S1, b"\x00\x01b")  # refresh at t=20
    net.run(max_time=20.0)  # t=40: alive because of the refresh
    servers.queue(0, first, b"\x00\x01in")
    net.run(max_time=31.0)  # t=71: expired (inbound did not refresh)
    servers.queue(0, first, b"\x00\x01late")
    net.run(max_time=1.0)
    assert [d for _, _, _, d in client.received] == [b"\x00\x01in"]
    assert net.trace[-1].dropped == "nat-no-mapping"
    client.queue(0, S1, b"\x00\x01c")
    net.run(max_time=1.0)
    assert servers.sources()[-1] != first  # a new mapping on a new port


def test_refresh_on_inbound() -> None:
    net, _, client, servers = _setup(EIM, EIM, mapping_timeout=10.0, refresh_on_inbound=True)
    client.queue(0, S1, b"\x00\x01a")
    net.run(max_time=1.0)
    mapped = servers.sources()[0]
    for _ in range(5):
        net.advance(8.0)
        servers.queue(0, mapped, b"\x00\x01keep")
    net.run(max_time=1.0)
    assert len(client.received) == 5


def test_flush_rebinds_to_a_new_port() -> None:
    net, nat, client, servers = _setup(EIM, EIM)
    client.queue(0, S1, b"\x00\x01a")
    net.run(max_time=1.0)
    nat.flush()
    client.queue(0, S1, b"\x00\x01b")
    net.run(max_time=1.0)
    a, b = servers.sources()
    assert a[0] == b[0] == NAT_IP and a[1] != b[1]


def test_port_preservation_and_allocation() -> None:
    net, nat, client, servers = _setup(APDM, EIM, port_preservation=True, port_base=50000, port_step=2)
    for dest in (S1, S1_OTHER_PORT, S2):
        client.queue(0, dest, b"\x00\x01a")
    net.run(max_time=1.0)
    assert [p for _, p in servers.sources()] == [5000, 50000, 50002]
    assert len(nat.mappings()) == 3


def test_reflexive_address_helper() -> None:
    net, nat, _, _ = _setup(ADM, EIM)
    a = net.reflexive_address(CLIENT, S1)
    assert a == net.reflexive_address(CLIENT, S1_OTHER_PORT)
    assert a != net.reflexive_address(CLIENT, S2)
    assert nat.lookup(net.now, CLIENT, S1) == a
    assert net.reflexive_address(S2, S1) == S2  # public hosts map to themselves
    with pytest.raises(AssertionError, match="no host"):
        net.reflexive_address(("10.9.9.9", 1), S1)


def test_presets() -> None:
    assert (Nat.full_cone("192.0.2.1").mapping, Nat.full_cone("192.0.2.1").filtering) == (EIM, EIM)
    assert Nat.restricted_cone("192.0.2.1").filtering is ADM
    assert Nat.port_restricted_cone("192.0.2.1").filtering is APDM
    sym = Nat.symmetric("192.0.2.1")
    assert (sym.mapping, sym.filtering) == (APDM, APDM)


# -- property test against a reference model of RFC 4787 -----------------------

DESTS = [("203.0.113.10", 3478), ("203.0.113.10", 3479), ("203.0.113.20", 3478), ("203.0.113.20", 3479)]
_op = st.one_of(
    st.tuples(st.just("out"), st.integers(0, 3), st.just(0)),
    st.tuples(st.just("in"), st.integers(0, 3), st.integers(0, 3)),
)


def _key(behavior: Behavior, dest: tuple[str, int]) -> tuple[object, ...]:
    # RFC 4787 §4.1: the part of the destination that selects the mapping.
    return {EIM: (), ADM: (dest[0],), APDM: dest}[behavior]


@settings(max_examples=60, deadline=None)
@given(mapping=st.sampled_from(BEHAVIORS), filtering=st.sampled_from(BEHAVIORS),
       ops=st.lists(_op, max_size=25))
def test_nat_matches_rfc4787_model(mapping: Behavior, filtering: Behavior,
                                   ops: list[tuple[str, int, int]]) -> None:
    net = Network(seed=0)
    nat = net.add_nat(NAT_IP, mapping=mapping, filtering=filtering)
    net.add_host(CLIENT[0], behind=nat)
    client = net.attach(Recorder(), {0: CLIENT})
    servers = net.attach(Recorder(), dict(enumerate(DESTS)))
    external: dict[tuple[object, ...], tuple[str, int]] = {}  # mapping key -> external address
    contacted: dict[tuple[object, ...], list[tuple[str, int]]] = {}
    for op, i, j in ops:
        if op == "out":
            client.queue(0, DESTS[i], b"\x00\x01")
            net.run(max_time=0.1)
            seen = servers.received[-1]
            assert seen[1] == i
            k = _key(mapping, DESTS[i])
            assert external.setdefault(k, seen[2]) == seen[2]  # same key, same mapping
            contacted.setdefault(k, []).append(DESTS[i])
        else:
            k = _key(mapping, DESTS[i])
            if k not in external:
                continue
            before = len(client.received)
            servers.queue(j, external[k], b"\x00\x01")
            net.run(max_time=0.1)
            src = DESTS[j]
            allowed = {
                EIM: True,
                ADM: any(d[0] == src[0] for d in contacted[k]),
                APDM: src in contacted[k],
            }[filtering]
            assert (len(client.received) == before + 1) == allowed
    # Different keys never share an external address.
    assert len(set(external.values())) == len(external)


def test_flush_one_internal_endpoint_only() -> None:
    net, nat, _, _ = _setup(EIM, EIM)
    net.add_host("10.0.0.3", behind=nat)
    other = ("10.0.0.3", 5000)
    a1, b1 = net.reflexive_address(CLIENT, S1), net.reflexive_address(other, S1)
    nat.flush(CLIENT)
    assert net.reflexive_address(other, S1) == b1
    assert net.reflexive_address(CLIENT, S1) != a1


def test_ipv6_addresses() -> None:
    net = Network()
    a = net.attach(Recorder(), {0: ("2001:db8::1", 1000)})
    b = net.attach(Recorder(), {0: ("2001:db8::2", 2000)})
    a.queue(0, ("2001:db8::2", 2000), b"\x00\x01")
    net.run()
    assert b.sources() == [("2001:db8::1", 1000)]
