"""Host address enumeration, filters and port-range binding."""

from __future__ import annotations

import ipaddress
import logging
import socket
from types import SimpleNamespace

import pytest

from icekit import Agent, Candidate
from icekit.asyncio.gather import (
    LocalAddress,
    bind_udp,
    host_candidate,
    host_candidates,
    local_addresses,
)
from icekit.asyncio.options import AgentOptions, NetworkType
from icekit.candidate import CandidateType

from .helpers import gather_all, loopback_agent, run


def _fake_adapters() -> list[SimpleNamespace]:
    def ip(value: object) -> SimpleNamespace:
        return SimpleNamespace(ip=value)

    return [
        SimpleNamespace(name="lo", ips=[ip("127.0.0.1"), ip(("::1", 0, 0))]),
        SimpleNamespace(
            name="eth0",
            ips=[ip("192.0.2.10"), ip(("2001:db8::10", 0, 0)), ip(("fe80::1", 0, 4))],
        ),
        SimpleNamespace(name="wg0", ips=[ip("10.9.0.1")]),
    ]


@pytest.fixture
def adapters(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("ifaddr.get_adapters", _fake_adapters)


def _hosts(**options: object) -> list[str]:
    return [a.host for a in local_addresses(AgentOptions(**options))]  # type: ignore[arg-type]


@pytest.mark.usefixtures("adapters")
def test_defaults_skip_loopback_and_link_local() -> None:
    assert _hosts() == ["192.0.2.10", "2001:db8::10", "10.9.0.1"]


@pytest.mark.usefixtures("adapters")
def test_filters() -> None:
    assert _hosts(network_types=[NetworkType.UDP4]) == ["192.0.2.10", "10.9.0.1"]
    assert _hosts(network_types=["udp6"], include_link_local=True) == ["2001:db8::10", "fe80::1"]
    assert _hosts(include_loopback=True, network_types=["udp4"]) == ["127.0.0.1", "192.0.2.10", "10.9.0.1"]
    assert _hosts(interface_filter=lambda name: name != "wg0") == ["192.0.2.10", "2001:db8::10"]
    assert _hosts(ip_filter=lambda ip: ip in ipaddress.ip_network("192.0.2.0/24")) == ["192.0.2.10"]


@pytest.mark.usefixtures("adapters")
def test_link_local_keeps_its_scope() -> None:
    found = local_addresses(AgentOptions(network_types=["udp6"], include_link_local=True))
    assert [(a.host, a.scope_id) for a in found] == [("2001:db8::10", 0), ("fe80::1", 4)]


@pytest.mark.usefixtures("adapters")
def test_raising_filter_drops_the_address(caplog: pytest.LogCaptureFixture) -> None:
    def bad(name: str) -> bool:
        raise RuntimeError("boom")

    assert _hosts(interface_filter=bad) == []
    assert "boom" in caplog.text


def _lo4() -> LocalAddress:
    return LocalAddress("lo", ipaddress.IPv4Address("127.0.0.1"), 0, NetworkType.UDP4)


def test_bind_ephemeral_port() -> None:
    sock = bind_udp(_lo4())
    assert sock is not None
    try:
        assert sock.getsockname()[0] == "127.0.0.1"
        assert sock.getblocking() is False
    finally:
        sock.close()


def test_bind_port_range_probes_past_busy_ports() -> None:
    # Hold a small range except one port, then ask for that range.
    holders: list[socket.socket] = []
    try:
        base = None
        for _ in range(20):
            probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            probe.bind(("127.0.0.1", 0))
            start = probe.getsockname()[1]
            probe.close()
            if start + 3 > 65535:
                continue
            try:
                for port in range(start, start + 3):
                    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                    holders.append(s)
                    s.bind(("127.0.0.1", port))
            except OSError:
                for s in holders:
                    s.close()
                holders.clear()
                continue
            base = start
            break
        if base is None:
            pytest.skip("could not reserve a run of free ports")
        free = holders.pop(1)
        free.close()
        for _ in range(5):
            sock = bind_udp(_lo4(), base, base + 2)
            assert sock is not None
            try:
                assert sock.getsockname()[1] == base + 1
            finally:
                sock.close()
        holders.append(socket.socket(socket.AF_INET, socket.SOCK_DGRAM))
        holders[-1].bind(("127.0.0.1", base + 1))
        assert bind_udp(_lo4(), base, base + 2) is None
    finally:
        for s in holders:
            s.close()


def test_host_candidates_have_distinct_priorities() -> None:
    addrs = [
        LocalAddress("eth0", ipaddress.ip_address("192.0.2.1"), 0, NetworkType.UDP4),
        LocalAddress("eth0", ipaddress.ip_address("2001:db8::1"), 0, NetworkType.UDP6),
        LocalAddress("eth1", ipaddress.ip_address("198.51.100.1"), 0, NetworkType.UDP4),
    ]
    cands = [host_candidate(a, 5000 + i, pref) for i, (a, pref) in enumerate(host_candidates(addrs))]
    assert len({c.priority for c in cands}) == 3
    assert all(c.type == CandidateType.HOST and c.transport == "udp" and c.component == 1 for c in cands)
    assert cands[0].foundation != cands[2].foundation


def test_gathering_nothing_is_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    # An ip_filter that keeps nothing (a typo, say) used to gather nothing silently.
    async def main() -> list[Candidate | None]:
        async with Agent(ip_filter=lambda ip: False) as agent:
            return await gather_all(agent, 5)

    with caplog.at_level(logging.WARNING, logger="icekit"):
        seen = run(main())
    assert seen == [None]
    messages = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("no local address is left" in m and "ip_filter=set" in m for m in messages)
    assert any("gathering produced no candidate" in m for m in messages)


def test_gathering_something_warns_of_nothing(caplog: pytest.LogCaptureFixture) -> None:
    async def main() -> list[Candidate | None]:
        async with loopback_agent() as agent:
            return await gather_all(agent, 5)

    with caplog.at_level(logging.WARNING, logger="icekit"):
        seen = run(main())
    assert seen[-1] is None and len(seen) >= 2
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
