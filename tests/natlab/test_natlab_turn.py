"""coturn in the lab: STUN server-reflexive mappings and TURN allocations per NAT type."""

from __future__ import annotations

import pytest

from tests.natlab.conftest import LabFactory
from tests.natlab.lab import SideSpec
from tests.natlab.nat import Mapping, NatType
from tests.natlab.turnd import missing_turnserver

pytestmark = [
    pytest.mark.netns,
    pytest.mark.coturn,
    pytest.mark.skipif(missing_turnserver() is not None, reason=str(missing_turnserver())),
]


@pytest.mark.parametrize("nat", list(NatType), ids=str)
def test_stun_binding_shows_the_mapping_behaviour(natlab: LabFactory, nat: NatType) -> None:
    lab = natlab(nat, NatType.NONE, turn=True)
    side = lab.sides[0]
    result = lab.stun_binding(side, "udp")
    mapped = result["mapped"]
    assert isinstance(mapped, list) and len(mapped) == 2 and None not in mapped, result
    # One local socket asked coturn on both lab addresses (RFC 4787 §4.1).
    assert {m[0] for m in mapped} == {side.public_addr}
    if nat.mapping is Mapping.ENDPOINT_INDEPENDENT:
        assert mapped[0] == mapped[1]
    else:
        assert mapped[0][1] != mapped[1][1]


@pytest.mark.parametrize("transport", ["udp", "tcp", "tls"])
def test_turn_allocation_from_behind_a_nat(natlab: LabFactory, transport: str) -> None:
    lab = natlab(NatType.PORT_RESTRICTED, NatType.SYMMETRIC, turn=True)
    assert lab.turn is not None
    for side in lab.sides:
        result = lab.turn_allocate(side, transport)
        assert "error" not in result, (result, lab.turn.read_log()[-2000:])
        relayed, mapped = result["relayed"], result["mapped"]
        assert isinstance(relayed, list) and isinstance(mapped, list)
        assert relayed[0] == lab.turn.addrs[0]
        assert mapped[0] == side.public_addr


@pytest.mark.parametrize("transport", ["tcp", "tls"])
def test_turn_over_tcp_and_tls_passes_a_udp_blocking_router(
    natlab: LabFactory, transport: str
) -> None:
    lab = natlab(SideSpec(NatType.PORT_RESTRICTED, udp_blocked=True), NatType.NONE, turn=True)
    side = lab.sides[0]
    result = lab.turn_allocate(side, transport)
    assert "error" not in result, result
    assert result["mapped"][0] == side.public_addr  # type: ignore[index]
    assert lab.stun_binding(side, transport)["mapped"][0][0] == side.public_addr  # type: ignore[index]


def test_relay_to_relay_through_the_lab_server(natlab: LabFactory) -> None:
    lab = natlab(NatType.SYMMETRIC, NatType.SYMMETRIC, turn=True)
    assert lab.turn is not None
    result = lab.stun_client(
        lab.sides[0], "relay-pair", "--server", f"{lab.turn.addrs[0]}:{lab.turn.port}",
        "--user", lab.turn.username, "--password", lab.turn.password,
    )
    assert "error" not in result, (result, lab.turn.read_log()[-2000:])
    relays = result["relays"]
    assert isinstance(relays, list)
    relay_a, relay_b = relays
    assert result["b_got"] == [relay_a, "a-to-b"]
    assert result["a_got"] == [relay_b, "b-to-a"]
