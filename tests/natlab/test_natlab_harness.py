"""The matrix harness itself (runner processes, pipe signalling, TURN URLs),
exercised with aioice on both sides so it is tested before icekit's agent
gathers STUN and TURN candidates."""

from __future__ import annotations

import importlib.util

import pytest

from tests.natlab.conftest import LabFactory
from tests.natlab.nat import NatType
from tests.natlab.scenario import connect_pair, turn_urls
from tests.natlab.turnd import missing_turnserver

_MISSING = missing_turnserver() or (
    None if importlib.util.find_spec("aioice") else "aioice is not installed"
)

pytestmark = [
    pytest.mark.netns,
    pytest.mark.coturn,
    pytest.mark.skipif(_MISSING is not None, reason=str(_MISSING)),
]


@pytest.mark.parametrize(
    "a,b",
    [(NatType.PORT_RESTRICTED, NatType.PORT_RESTRICTED), (NatType.FULL_CONE, NatType.SYMMETRIC)],
    ids=str,
)
def test_two_aioice_agents_connect_through_the_lab(
    natlab: LabFactory, a: NatType, b: NatType
) -> None:
    lab = natlab(a, b, turn=True)
    result = connect_pair(
        lab, impl_a="aioice", impl_b="aioice", server_args=turn_urls(lab, ("udp",)), timeout=20
    )
    assert result.connected, result.describe()
    assert result.exchanged is not None and result.exchanged["echoed"] == 5
    for proc in (result.a, result.b):
        texts = [e["candidate"] for e in proc.events if e["event"] == "candidate"]
        assert texts[-1] is None  # end of candidates
        kinds = {text.split()[7] for text in texts[:-1]}
        # Gathered through the lab's coturn: server-reflexive and relayed candidates.
        assert {"host", "srflx", "relay"} <= kinds, texts
    assert [e["event"] for e in result.a.events][-1] == "closed"


def test_a_runner_error_is_reported_not_hung(natlab: LabFactory) -> None:
    lab = natlab(NatType.NONE, NatType.NONE)
    # A TURN server nobody listens on and a bound of 2 s: gathering or connecting
    # must end with an event either way, never hang the test.
    result = connect_pair(
        lab, impl_a="aioice", impl_b="aioice",
        server_args=["--turn", "turn:203.0.113.99:3478?transport=udp", "--user", "u",
                     "--password", "p"],
        timeout=2,
    )
    events = [e["event"] for e in result.a.events]
    assert events and events[-1] in ("closed", "error"), result.a.events
