"""Link impairment in the lab: delay, loss and jitter from the userspace link.

This kernel has no ``sch_netem``; the lab bridges an impaired access link in
userspace (``impair.py``).  These tests check that it does what it is told,
and that TCP (checksums, segment sizes) survives the bridge.
"""

from __future__ import annotations

import json
import os
import sys

import pytest

from tests.natlab.conftest import LabFactory
from tests.natlab.lab import PROBE_PORTS, Impairment, SideSpec
from tests.natlab.nat import NatType

pytestmark = pytest.mark.netns

TRAFFIC = os.path.join(os.path.dirname(os.path.abspath(__file__)), "traffic.py")


def test_delay_is_added_in_each_direction(natlab: LabFactory) -> None:
    delay = 0.05
    lab = natlab(SideSpec(NatType.PORT_RESTRICTED, impairment=Impairment(delay=delay)),
                 NatType.NONE)
    side = lab.sides[0]
    server = f"{lab.server_addrs[0]}:{PROBE_PORTS[0]}"
    out = lab.finish(lab.start(side.host, [sys.executable, TRAFFIC, "rtt", "--server", server,
                                           "--count", "10"]))
    result = json.loads(out)
    assert result["lost"] == 0
    # A lower bound only: the link holds every packet at least `delay` each way.
    assert min(result["rtts"]) >= 2 * delay
    assert lab.link_stats(side)["delayed"] >= 20


def test_loss_drops_about_the_configured_share(natlab: LabFactory) -> None:
    lab = natlab(SideSpec(NatType.FULL_CONE, impairment=Impairment(loss=0.25, seed=7)),
                 NatType.NONE)
    side = lab.sides[0]
    server = f"{lab.server_addrs[0]}:{PROBE_PORTS[0]}"
    before = lab.link_stats(side)
    out = lab.finish(lab.start(side.host, [sys.executable, TRAFFIC, "burst", "--server", server,
                                           "--count", "200"]))
    result = json.loads(out)
    stats = lab.link_stats(side)
    ipv4 = stats["ipv4"] - before["ipv4"]
    dropped = stats["dropped"] - before["dropped"]
    assert ipv4 >= 200
    # Seeded: a fixed pattern; the bounds only say "about a quarter".
    assert 0.15 * ipv4 <= dropped <= 0.35 * ipv4
    # A round trip survives both crossings: (1 - 0.25)^2 of them, about 56 %.
    assert 0.35 * 200 <= result["answered"] <= 0.8 * 200


def test_impairment_can_change_while_running(natlab: LabFactory) -> None:
    lab = natlab(SideSpec(NatType.RESTRICTED, impairment=Impairment()), NatType.NONE)
    side = lab.sides[0]
    lab.set_impairment(side, Impairment(loss=1.0))
    probe = lab.probe(side, attempts=1)
    assert probe["udp"] is False
    lab.set_impairment(side, Impairment())
    assert lab.probe(side)["udp"] is True


def test_tcp_crosses_an_impaired_link_intact(natlab: LabFactory) -> None:
    lab = natlab(
        SideSpec(NatType.PORT_RESTRICTED, impairment=Impairment(loss=0.02, delay=0.005, seed=3)),
        NatType.NONE,
    )
    side = lab.sides[0]
    listen = f"{lab.server_addrs[0]}:5001"
    sink = lab.start(lab.server, [sys.executable, TRAFFIC, "sink", "--listen", listen])
    assert sink.stdout is not None
    assert sink.stdout.readline().strip() == b"ready"
    sent = json.loads(lab.finish(lab.start(
        side.host, [sys.executable, TRAFFIC, "send", "--server", listen, "--bytes", "300000"])))
    received = json.loads(lab.finish(sink))
    assert received == sent
    assert lab.link_stats(side)["checksummed"] > 0  # offloaded checksums were completed


def test_hole_punching_survives_loss_and_delay(natlab: LabFactory) -> None:
    impaired = SideSpec(NatType.PORT_RESTRICTED,
                        impairment=Impairment(loss=0.1, delay=0.1, jitter=0.01, seed=11))
    lab = natlab(impaired, impaired)
    assert lab.punch(budget=5.0) == (True, True)
