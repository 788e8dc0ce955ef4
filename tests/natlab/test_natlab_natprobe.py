"""``icekit nat-probe`` classifies each of the lab's five NAT behaviours.

The lab's coturn listens on both server addresses with RFC 5780 on (its
answers carry OTHER-ADDRESS; it honours CHANGE-REQUEST), and the command runs
in a side's host namespace, as a user behind that NAT would run it.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.natlab.conftest import LabFactory
from tests.natlab.nat import Mapping, NatType

pytestmark = pytest.mark.netns

PROBE_TIMEOUT = 4.0  # seconds the command may take (its own bound)
EXIT = {"direct peer-to-peer likely": 0, "TURN needed": 2}


@pytest.mark.parametrize("nat", list(NatType), ids=str)
def test_nat_probe_classifies_the_lab_nat(natlab: LabFactory, nat: NatType) -> None:
    lab = natlab(nat, nat, turn=True)
    assert lab.turn is not None
    side = lab.sides[0]
    argv = [sys.executable, "-m", "icekit.cli", "nat-probe", lab.turn.stun_urls()[0],
            "--json", "--timeout", str(PROBE_TIMEOUT)]
    proc = lab.start(side.host, argv)
    try:
        out, err = proc.communicate(timeout=PROBE_TIMEOUT + 30)
    finally:
        lab.processes.stop(proc)
        lab.processes.procs.remove(proc)
    assert out.strip(), err.decode(errors="replace")
    result = json.loads(out)
    context = f"{result} / coturn log tail: {lab.turn.read_log()[-2000:]}"
    if nat is NatType.NONE:
        assert result["mapping"] == "no NAT", context
        assert result["hairpinning"] is None
    else:
        assert result["mapping"] == nat.mapping.value, context
        assert isinstance(result["hairpinning"], bool)
    assert result["filtering"] == nat.filtering.value, context
    assert result["mapped"][0] == side.public_addr
    assert result["local"][0] == side.host_addr
    assert result["other_address"][0] == lab.turn.addrs[1]
    expected = "TURN needed" if nat.mapping is not Mapping.ENDPOINT_INDEPENDENT else "direct peer-to-peer likely"
    assert result["verdict"] == expected, context
    assert proc.returncode == EXIT[expected]
