"""The lab's own tests: each NAT behaviour is what the probe observes.

Every lab is built in fresh network namespaces; the probe measures mapping and
filtering from two server addresses and ports (RFC 4787 §4.1, §5), and plain
UDP hole punching between the two hosts checks the table of which pairs have
a direct path at all.
"""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
import time

import pytest

from tests.natlab.conftest import LabFactory
from tests.natlab.lab import Lab, SideSpec, build_lab
from tests.natlab.nat import NatType, direct_path_exists, router_ruleset
from tests.natlab.netns import (
    NETNS_DIR,
    LabError,
    missing_requirements,
    run,
    sweep_stale,
)

pytestmark = pytest.mark.netns

ALL_PAIRS = list(itertools.combinations_with_replacement(list(NatType), 2))


def _exists(name: str) -> bool:
    return os.path.exists(os.path.join(NETNS_DIR, name))


@pytest.mark.parametrize("nat", list(NatType), ids=str)
def test_probe_observes_the_behaviour_built(natlab: LabFactory, nat: NatType) -> None:
    lab = natlab(nat, nat)
    for side in lab.sides:
        result = lab.probe(side)
        assert result["udp"] is True
        assert result["mapping"] == nat.mapping.value
        assert result["filtering"] == nat.filtering.value
        assert result["nat"] is nat.translates
        mapped = result["mapped"]
        assert isinstance(mapped, list)
        assert {m[0] for m in mapped} == {side.public_addr}
        if nat is NatType.SYMMETRIC:
            assert len({m[1] for m in mapped}) == 3  # a new port per destination
        else:
            # Masquerade keeps the host's port when it is free (one host per router).
            assert {m[1] for m in mapped} == {result["local"][1]}  # type: ignore[index]
        assert result["tcp"] is True


@pytest.mark.parametrize("a,b", ALL_PAIRS, ids=lambda n: str(n))
def test_hole_punching_matches_the_direct_path_table(
    natlab: LabFactory, a: NatType, b: NatType
) -> None:
    lab = natlab(a, b)
    expected = direct_path_exists(a, b)
    assert lab.punch(budget=1.5) == (expected, expected)


@pytest.mark.parametrize("nat", [NatType.PORT_RESTRICTED, NatType.NONE], ids=str)
def test_udp_blocked_lets_only_tcp_through(natlab: LabFactory, nat: NatType) -> None:
    lab = natlab(SideSpec(nat, udp_blocked=True), NatType.FULL_CONE)
    blocked, other = lab.sides
    result = lab.probe(blocked, attempts=1)
    assert result["udp"] is False
    assert result["tcp"] is True
    assert result["tcp_mapped"][0] == blocked.public_addr  # type: ignore[index]
    assert lab.probe(other)["udp"] is True


def test_a_wrong_lab_fails_verification(natlab_available: None) -> None:
    lab = Lab([SideSpec(NatType.PORT_RESTRICTED), SideSpec(NatType.SYMMETRIC)])
    try:
        lab.build()
        lab.verify()  # as built: passes
        router = lab.sides[0].router
        assert router is not None
        # Sabotage: side a now behaves as a full cone while claiming port-restricted.
        router.run("nft", "flush", "ruleset")
        router.nft(router_ruleset(NatType.FULL_CONE, pub="pub", lan="lan"))
        with pytest.raises(LabError, match="side a .*filtering endpoint-independent"):
            lab.verify()
    finally:
        lab.close()


def test_teardown_removes_namespaces_and_processes(natlab_available: None) -> None:
    with (
        pytest.raises(RuntimeError, match="scenario failed"),
        build_lab(NatType.FULL_CONE, NatType.SYMMETRIC) as lab,
    ):
        names = [ns.name for ns in lab.namespaces]
        pids = [p.pid for p in lab.processes.procs]
        assert names and pids and all(_exists(n) for n in names)
        raise RuntimeError("scenario failed")
    assert not any(_exists(n) for n in names)
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


def test_namespace_names_are_unique_per_lab(natlab: LabFactory) -> None:
    first = natlab(NatType.NONE, NatType.NONE)
    second = natlab(NatType.NONE, NatType.NONE)
    assert first.run_id != second.run_id
    assert not {ns.name for ns in first.namespaces} & {ns.name for ns in second.namespaces}


def test_sweep_removes_namespaces_of_dead_runs_only(natlab_available: None) -> None:
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    dead_pid = int(dead.stdout)
    stale = f"ik0badc0p{dead_pid}-s"
    ours = f"ik0badc1p{os.getpid()}-s"
    try:
        run(["ip", "netns", "add", stale])
        run(["ip", "netns", "add", ours])
        # A run that started before they were created must keep them...
        assert stale not in sweep_stale(run_started=0.0)
        # ...a later run removes the dead owner's, never a live owner's.
        removed = sweep_stale(run_started=time.time() + 1)
        assert stale in removed and ours not in removed
        assert not _exists(stale) and _exists(ours)
    finally:
        for name in (stale, ours):
            run(["ip", "netns", "delete", name], check=False)


def test_missing_requirements_is_none_here(natlab_available: None) -> None:
    assert missing_requirements() is None


def test_missing_requirements_names_what_is_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    assert "root" in str(missing_requirements())
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    monkeypatch.setenv("PATH", "")
    assert "`ip` (Debian package iproute2)" in str(missing_requirements())


@pytest.mark.parametrize("nat", [NatType.FULL_CONE, NatType.PORT_RESTRICTED], ids=str)
def test_remap_moves_new_mappings_to_other_ports(natlab: LabFactory, nat: NatType) -> None:
    lab = natlab(nat, NatType.NONE)
    side = lab.sides[0]
    lab.flush_nat(side)
    assert side.router is not None
    assert side.router.run("conntrack", "-C").strip() == "0"
    lab.remap_nat(side)
    result = lab.probe(side)
    mapped = result["mapped"]
    assert isinstance(mapped, list)
    assert all(1024 <= m[1] <= 1999 for m in mapped), mapped
    # Still the same behaviour, only on other ports.
    assert result["mapping"] == nat.mapping.value
    assert result["filtering"] == nat.filtering.value
