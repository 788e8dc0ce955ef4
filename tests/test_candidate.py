"""Candidate model and RFC 8839 §5.1 grammar: real-world strings, errors, helpers."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from icekit.candidate import Candidate, CandidateType, TCPType
from icekit.errors import CandidateError

# Candidate strings in the shapes browsers and ICE stacks emit them (addresses
# from the documentation ranges, mDNS names made up).
CHROME = [
    (
        "candidate:3442447574 1 udp 2122260223 192.168.1.23 54400 typ host "
        "generation 0 ufrag EsAw network-id 1 network-cost 10"
    ),
    (
        "candidate:1467250027 1 udp 2122260223 1f4712db-ea17-4bcf-a596-105139dfd8bf.local "
        "54400 typ host generation 0 ufrag EsAw network-id 1"
    ),
    (
        "candidate:2657402962 1 tcp 1518280447 192.168.1.23 9 typ host tcptype active "
        "generation 0 ufrag EsAw network-id 1"
    ),
    (
        "candidate:4233069003 1 tcp 1518280447 192.168.1.23 50001 typ host tcptype passive "
        "generation 0 ufrag EsAw network-id 1 network-cost 10"
    ),
    (
        "candidate:1876313031 1 udp 2122129151 2001:db8:85a3::8a2e:370:7334 54401 typ host "
        "generation 0 ufrag EsAw network-id 2 network-cost 10"
    ),
    (
        "candidate:842163049 1 udp 1686052607 203.0.113.7 54400 typ srflx "
        "raddr 192.168.1.23 rport 54400 generation 0 ufrag EsAw network-id 1 network-cost 10"
    ),
    (
        "candidate:842163049 1 udp 1686052607 203.0.113.7 54400 typ srflx "
        "raddr 0.0.0.0 rport 0 generation 0 ufrag EsAw network-id 1 network-cost 10"
    ),
    (
        "candidate:3745464706 1 udp 41885439 198.51.100.20 61234 typ relay "
        "raddr 203.0.113.7 rport 54400 generation 0 ufrag EsAw network-id 1 network-cost 10"
    ),
    "candidate:1876313031 2 udp 2122129150 2001:db8::1 54402 typ host generation 0",
]
FIREFOX = [
    "candidate:0 1 UDP 2122252543 192.168.1.23 50001 typ host",
    "candidate:0 1 UDP 2122187007 3b0e6b58-0f1d-4b5a-9a9c-1c2d4e5f6a7b.local 56742 typ host",
    "candidate:1 1 UDP 1686052863 203.0.113.7 50001 typ srflx raddr 192.168.1.23 rport 50001",
    "candidate:2 1 TCP 2105524479 192.168.1.23 9 typ host tcptype active",
    "candidate:3 1 UDP 92217343 198.51.100.20 53227 typ relay raddr 203.0.113.7 rport 53227",
    "candidate:4 1 UDP 2122121471 2001:db8::5efe:1 50002 typ host",
]
SAFARI = [
    (
        "candidate:2451913573 1 udp 2113937151 c1b7a2f4-5e6d-4c3b-8a9f-0e1d2c3b4a59.local "
        "61234 typ host generation 0 ufrag Zq4P network-cost 999"
    ),
    (
        "candidate:842163049 1 udp 1677729535 203.0.113.7 61234 typ srflx raddr 0.0.0.0 "
        "rport 0 generation 0 ufrag Zq4P network-cost 999"
    ),
]
PION = [
    "candidate:1966762134 1 udp 2130706431 192.168.1.23 57732 typ host",
    "candidate:233762139 1 udp 1694498815 203.0.113.7 57732 typ srflx raddr 0.0.0.0 rport 57732",
    "candidate:2810230154 1 tcp 1671430143 192.168.1.23 8443 typ host tcptype passive",
    (
        "candidate:3452125537 1 udp 16777215 198.51.100.20 50020 typ relay "
        "raddr 203.0.113.7 rport 50020"
    ),
    "candidate:1966762134 1 udp 2130706431 fd00:1234::abcd 57733 typ host",
]
LIBNICE = [
    "candidate:1 1 UDP 2013266431 192.168.1.23 46554 typ host",
    "candidate:3 1 UDP 1677722111 203.0.113.7 46554 typ srflx raddr 192.168.1.23 rport 46554",
    "candidate:5 1 TCP 1015023871 192.168.1.23 9 typ host tcptype active",
    "candidate:6 1 TCP 1010828543 192.168.1.23 43075 typ host tcptype passive",
    "candidate:7 1 TCP 1006633215 192.168.1.23 52101 typ host tcptype so",
    "candidate:8 1 UDP 8331007 198.51.100.20 49152 typ relay raddr 203.0.113.7 rport 46554",
]
ALL = CHROME + FIREFOX + SAFARI + PION + LIBNICE


def _normalized(text: str) -> str:
    """The text as marshal() writes it: no prefix, lowercase transport."""
    fields = text.removeprefix("candidate:").split(" ")
    fields[2] = fields[2].lower()
    return " ".join(fields)


@pytest.mark.parametrize("text", ALL)
def test_real_world_round_trip(text: str) -> None:
    cand = Candidate.unmarshal(text)
    assert cand.marshal() == _normalized(text)
    assert cand.marshal(prefix=True) == "candidate:" + _normalized(text)
    assert Candidate.unmarshal(cand.marshal()) == cand
    assert Candidate.unmarshal("a=" + text + "\r\n") == cand
    assert Candidate.unmarshal(text.removeprefix("candidate:")) == cand
    assert cand.transport in ("udp", "tcp")
    assert hash(cand) == hash(Candidate.unmarshal(text))


def test_chrome_fields() -> None:
    cand = Candidate.unmarshal(CHROME[0])
    assert cand.foundation == "3442447574"
    assert cand.component == 1
    assert cand.transport == "udp"
    assert cand.priority == 2122260223
    assert cand.addr == ("192.168.1.23", 54400)
    assert cand.type is CandidateType.HOST
    assert str(cand.type) == "host"
    assert cand.related_addr is None
    assert cand.extensions == (
        ("generation", "0"),
        ("ufrag", "EsAw"),
        ("network-id", "1"),
        ("network-cost", "10"),
    )
    assert cand.generation == 0
    assert cand.ufrag == "EsAw"
    assert cand.network_id == 1
    assert cand.network_cost == 10
    assert cand.network_type == "udp4"
    assert cand.is_ipv4 and not cand.is_ipv6 and not cand.is_mdns


def test_mdns_kept_as_given() -> None:
    cand = Candidate.unmarshal(CHROME[1])
    assert cand.address == "1f4712db-ea17-4bcf-a596-105139dfd8bf.local"
    assert cand.is_mdns and cand.is_hostname
    assert cand.ip is None
    assert cand.network_type is None


def test_tcp_active_port_9() -> None:
    cand = Candidate.unmarshal(FIREFOX[3])
    assert cand.transport == "tcp"
    assert cand.port == 9
    assert cand.tcptype is TCPType.ACTIVE
    assert str(cand.tcptype) == "active"
    so = Candidate.unmarshal(LIBNICE[4])
    assert so.tcptype is TCPType.SO


def test_ipv6() -> None:
    cand = Candidate.unmarshal(CHROME[4])
    assert cand.is_ipv6
    assert cand.network_type == "udp6"
    assert cand.address == "2001:db8:85a3::8a2e:370:7334"


def test_srflx_related() -> None:
    cand = Candidate.unmarshal(FIREFOX[2])
    assert cand.type is CandidateType.SRFLX
    assert cand.related_addr == ("192.168.1.23", 50001)


def test_raddr_after_extensions_accepted() -> None:
    cand = Candidate.unmarshal(
        "candidate:1 1 udp 100 203.0.113.7 5000 typ srflx generation 0 "
        "raddr 10.0.0.1 rport 4000"
    )
    assert cand.related_addr == ("10.0.0.1", 4000)
    assert cand.extensions == (("generation", "0"),)


def test_unknown_extensions_preserved_in_order() -> None:
    text = "1 1 udp 1 10.0.0.1 1 typ host zzz 1 generation 3 x-custom a/b=c zzz 2"
    cand = Candidate.unmarshal(text)
    assert cand.extensions == (
        ("zzz", "1"),
        ("generation", "3"),
        ("x-custom", "a/b=c"),
        ("zzz", "2"),
    )
    assert cand.marshal() == text
    assert cand.extension("zzz") == "1"
    assert cand.extension("nope") is None


def test_case_insensitive_keywords() -> None:
    cand = Candidate.unmarshal("CANDIDATE:1 1 Udp 1 10.0.0.1 1 TYP HOST")
    assert cand.type is CandidateType.HOST
    assert cand.marshal() == "1 1 udp 1 10.0.0.1 1 typ host"


def test_pion_marshal_format() -> None:
    cand = Candidate(
        foundation="1",
        component=1,
        transport="udp",
        priority=2130706431,
        address="10.0.0.1",
        port=5000,
        type=CandidateType.HOST,
    )
    assert cand.marshal() == "1 1 udp 2130706431 10.0.0.1 5000 typ host"
    relay = dataclasses.replace(
        cand,
        transport="tcp",
        type=CandidateType.RELAY,
        related_address="203.0.113.7",
        related_port=4000,
        tcptype=TCPType.PASSIVE,
        extensions=(("generation", "0"),),
    )
    assert relay.marshal() == (
        "1 1 tcp 2130706431 10.0.0.1 5000 typ relay raddr 203.0.113.7 rport 4000 "
        "tcptype passive generation 0"
    )


def test_key_compares_addresses_not_spelling() -> None:
    a = Candidate.unmarshal("1 1 udp 10 2001:DB8::1 5000 typ host")
    b = Candidate.unmarshal("2 1 UDP 20 2001:db8:0::1 5000 typ host generation 0")
    assert a != b
    assert a.key == b.key
    assert a.address == "2001:DB8::1"  # kept as given


def test_frozen_and_hashable() -> None:
    cand = Candidate.unmarshal(PION[0])
    with pytest.raises(dataclasses.FrozenInstanceError):
        cand.port = 1  # type: ignore[misc]
    assert {cand: 1}[Candidate.unmarshal(PION[0])] == 1


def test_constructor_normalizes_strings() -> None:
    loose: list[Any] = ["srflx", "10.0.0.2", 7, "so", [("k", "v")]]
    cand = Candidate("a+/", 2, "TCP", 5, "10.0.0.1", 9, *loose)
    assert cand.transport == "tcp"
    assert cand.type is CandidateType.SRFLX
    assert cand.tcptype is TCPType.SO
    assert cand.extensions == (("k", "v"),)


BAD = [
    ("", "need at least 8"),
    ("candidate:", "need at least 8"),
    ("1 1 udp 1 10.0.0.1 1 type host", "'typ'"),
    ("1 1 udp 1 10.0.0.1 1 typ", "need at least 8"),
    ("1 1 udp 1 10.0.0.1 1 typ hots", "type"),
    ("1 1 udp 1 10.0.0.1 1 typ host generation", "missing value"),
    ("123456789012345678901234567890123 1 udp 1 10.0.0.1 1 typ host", "foundation"),
    ("a-b 1 udp 1 10.0.0.1 1 typ host", "foundation"),
    ("1 0 udp 1 10.0.0.1 1 typ host", "component"),
    ("1 257 udp 1 10.0.0.1 1 typ host", "component"),
    ("1 1000 udp 1 10.0.0.1 1 typ host", "component"),
    ("1 x udp 1 10.0.0.1 1 typ host", "component"),
    ("1 1 sctp 1 10.0.0.1 1 typ host", "transport"),
    ("1 1 udp 4294967296 10.0.0.1 1 typ host", "priority"),
    ("1 1 udp 12345678901 10.0.0.1 1 typ host", "priority"),
    ("1 1 udp -1 10.0.0.1 1 typ host", "priority"),
    ("1 1 udp 1_0 10.0.0.1 1 typ host", "priority"),
    ("1 1 udp \u0661 10.0.0.1 1 typ host", "priority"),
    ("1 1 udp 1 10.0.0.256 1 typ host", "address"),
    ("1 1 udp 1 10.0.0 1 typ host", "address"),
    ("1 1 udp 1 2001:db8:::1 1 typ host", "address"),
    ("1 1 udp 1 [2001:db8::1] 1 typ host", "address"),
    ("1 1 udp 1 bad_host!.local 1 typ host", "address"),
    ("1 1 udp 1 10.0.0.1 65536 typ host", "port"),
    ("1 1 udp 1 10.0.0.1 +1 typ host", "port"),
    ("1 1 udp 1 10.0.0.1 1 typ srflx raddr 10.0.0.2", "raddr/rport"),
    ("1 1 udp 1 10.0.0.1 1 typ srflx rport 5", "raddr/rport"),
    ("1 1 udp 1 10.0.0.1 1 typ srflx raddr 1.2.3.4 rport 1 raddr 1.2.3.4", "twice"),
    ("1 1 udp 1 10.0.0.1 1 typ srflx raddr 1.2.3.4 rport x", "rport"),
    ("1 1 udp 1 10.0.0.1 1 typ srflx raddr nope! rport 1", "raddr"),
    ("1 1 udp 1 10.0.0.1 1 typ host tcptype active", "only TCP"),
    ("1 1 tcp 1 10.0.0.1 1 typ host tcptype sideways", "tcptype"),
    ("1 1 tcp 1 10.0.0.1 1 typ host tcptype so tcptype so", "twice"),
    ("1 1 udp 1 10.0.0.1 1 typ host gen\u00e9ration 0", "extension name"),
    ("1 1 udp 1 10.0.0.1 1 typ host generation \u00e9", "visible ASCII"),
]


@pytest.mark.parametrize(("text", "problem"), BAD)
def test_bad_input_names_the_problem(text: str, problem: str) -> None:
    with pytest.raises(CandidateError, match=problem.replace("(", r"\(")):
        Candidate.unmarshal(text)


def test_not_a_string() -> None:
    with pytest.raises(CandidateError):
        Candidate.unmarshal(b"1 1 udp 1 10.0.0.1 1 typ host")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("foundation", ""),
        ("component", True),
        ("component", 1.0),
        ("transport", None),
        ("priority", -1),
        ("address", ""),
        ("port", 70000),
        ("type", "bogus"),
        ("related_port", 5),
        ("tcptype", "active"),
        ("extensions", (("generation",),)),
        ("extensions", (("raddr", "1.2.3.4"),)),
        ("extensions", "x"),
    ],
)
def test_constructor_rejects(field: str, value: object) -> None:
    base = Candidate.unmarshal(PION[0])
    changes: dict[str, Any] = {field: value}
    with pytest.raises(CandidateError):
        dataclasses.replace(base, **changes)


def test_error_is_value_error() -> None:
    with pytest.raises(ValueError):
        Candidate.unmarshal("nonsense")
