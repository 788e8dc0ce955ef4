"""Priorities (RFC 8445 §5.1.2, RFC 8421 §4, RFC 6544 §4.2) and foundations (§5.1.1.3)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from icekit.candidate import (
    TYPE_PREFERENCES,
    Candidate,
    CandidateType,
    TCPType,
    candidate_priority,
    compute_foundation,
    compute_priority,
    local_preferences,
    pair_priority,
    relay_local_preference,
    tcp_local_preference,
    type_preference,
)
from icekit.errors import CandidateError


def test_type_preferences() -> None:
    assert TYPE_PREFERENCES == {
        CandidateType.HOST: 126,
        CandidateType.PRFLX: 110,
        CandidateType.SRFLX: 100,
        CandidateType.RELAY: 0,
    }
    assert type_preference("srflx") == 100
    with pytest.raises(CandidateError):
        type_preference("bogus")


def test_compute_priority_formula() -> None:
    assert compute_priority(126, 65535, 1) == 2130706431  # pion's host priority
    assert compute_priority(CandidateType.HOST, 65535, 1) == 2130706431
    assert compute_priority(0, 0, 256) == 0
    assert compute_priority(110, 1234, 2) == (110 << 24) + (1234 << 8) + 254
    assert candidate_priority("relay", 65535, 1) == 16777215
    assert candidate_priority(CandidateType.SRFLX) == 1694498815
    # The real strings decompose the same way.
    chrome = Candidate.unmarshal(
        "candidate:3442447574 1 udp 2122260223 192.168.1.23 54400 typ host"
    )
    assert chrome.priority == compute_priority(126, 32542, 1)


@pytest.mark.parametrize(
    ("args", "field"),
    [
        ((127, 0, 1), "type preference"),
        ((-1, 0, 1), "type preference"),
        ((0, 65536, 1), "local preference"),
        ((0, 0, 0), "component"),
        ((0, 0, 257), "component"),
    ],
)
def test_compute_priority_ranges(args: tuple[int, int, int], field: str) -> None:
    with pytest.raises(CandidateError, match=field):
        compute_priority(*args)


def test_pair_priority() -> None:
    g, d = 2130706431, 1694498815
    assert pair_priority(g, d) == (d << 32) + 2 * g + 1
    assert pair_priority(d, g) == (d << 32) + 2 * g
    assert pair_priority(g, g) == (g << 32) + 2 * g
    # 2^32, not 2^32 - 1: the maximum does not overlap the minimum's bits.
    assert pair_priority(1, 0) == 3
    assert pair_priority(1, 2) == (1 << 32) + 4
    # Swapping roles changes only the tie bit.
    assert pair_priority(g, d) - pair_priority(d, g) == 1


def test_local_preferences_interleave_families() -> None:
    addrs = ["192.168.1.2", "10.0.0.2", "2001:db8::1", "2001:db8::2", "172.16.0.1"]
    prefs = local_preferences(addrs)
    assert len(set(prefs)) == len(addrs)
    order = [a for _, a in sorted(zip(prefs, addrs), reverse=True)]
    assert order == [
        "2001:db8::1",
        "192.168.1.2",
        "2001:db8::2",
        "10.0.0.2",
        "172.16.0.1",
    ]
    assert max(prefs) == 65535


def test_local_preferences_prefer_ipv4_option() -> None:
    prefs = local_preferences(["2001:db8::1", "192.0.2.1"], prefer_ipv6=False)
    assert prefs == [65534, 65535]


def test_local_preferences_demotes_deprecated_kinds() -> None:
    addrs = [
        "fe80::1",
        "2002:c000:204::1",
        "::ffff:192.0.2.1",
        "2001:db8::1",
        "192.0.2.1",
    ]
    prefs = local_preferences(addrs, top=8191)
    order = [a for _, a in sorted(zip(prefs, addrs), reverse=True)]
    assert order == [
        "2001:db8::1",
        "192.0.2.1",
        "fe80::1",
        "2002:c000:204::1",
        "::ffff:192.0.2.1",
    ]
    assert max(prefs) == 8191


def test_local_preferences_single_family_and_errors() -> None:
    assert local_preferences(["10.0.0.1", "10.0.0.2"]) == [65535, 65534]
    assert local_preferences([]) == []
    with pytest.raises(CandidateError, match="host name"):
        local_preferences(["example.local"])
    with pytest.raises(CandidateError):
        local_preferences(["10.0.0.1"] * 3, top=1)


def test_tcp_local_preference_rfc6544() -> None:
    assert tcp_local_preference(TCPType.ACTIVE, 0) == 6 << 13
    assert tcp_local_preference("passive", 0) == 4 << 13
    assert tcp_local_preference("so", 0) == 2 << 13
    assert tcp_local_preference("so", 0, nat_assisted=True) == 6 << 13
    assert tcp_local_preference("active", 0, nat_assisted=True) == 4 << 13
    assert tcp_local_preference("passive", 0, nat_assisted=True) == 2 << 13
    assert tcp_local_preference("active") == (6 << 13) + 8191
    with pytest.raises(CandidateError, match="other-pref"):
        tcp_local_preference("active", 8192)
    with pytest.raises(CandidateError, match="tcptype"):
        tcp_local_preference("sideways")
    # Direction dominates other-pref.
    assert tcp_local_preference("passive", 8191) < tcp_local_preference("active", 0)


def test_relay_local_preference_ranks_turn_transport() -> None:
    udp = relay_local_preference("udp", 0)
    tcp = relay_local_preference("TCP", 16383)
    tls = relay_local_preference("tls", 16383)
    assert udp > tcp > tls
    assert relay_local_preference("dtls", 5) == relay_local_preference("tls", 5)
    assert relay_local_preference("udp") == 65535
    with pytest.raises(CandidateError):
        relay_local_preference("sctp")
    with pytest.raises(CandidateError):
        relay_local_preference("udp", 16384)


def test_foundation_equal_when_rules_match() -> None:
    a = compute_foundation(CandidateType.SRFLX, "192.168.1.2", "198.51.100.1", "udp")
    b = compute_foundation("srflx", "192.168.1.2", "198.51.100.1", "UDP")
    assert a == b
    assert a.isdigit() and 1 <= len(a) <= 10
    # Same IP spelled differently.
    assert compute_foundation("host", "2001:DB8::1", None, "udp") == compute_foundation(
        "host", "2001:db8:0:0::1", None, "udp"
    )
    # The foundation is a valid candidate foundation.
    Candidate(a, 1, "udp", 1, "10.0.0.1", 1, CandidateType.SRFLX, "10.0.0.2", 2)


@pytest.mark.parametrize(
    "other",
    [
        ("host", "192.168.1.2", "198.51.100.1", "udp"),  # type differs
        ("srflx", "192.168.1.3", "198.51.100.1", "udp"),  # base IP differs
        ("srflx", "192.168.1.2", "198.51.100.2", "udp"),  # server differs
        ("srflx", "192.168.1.2", "198.51.100.1", "tcp"),  # transport differs
        ("srflx", "192.168.1.2", None, "udp"),
    ],
)
def test_foundation_differs(other: tuple[str, str, str | None, str]) -> None:
    a = compute_foundation("srflx", "192.168.1.2", "198.51.100.1", "udp")
    assert compute_foundation(*other) != a


def test_foundation_is_stable() -> None:
    # A fixed value: foundations must not change between runs or versions
    # casually, peers compare them within a session only but logs compare too.
    assert compute_foundation("host", "10.0.0.1", None, "udp") == compute_foundation(
        "host", "10.0.0.1", None, "udp"
    )
    with pytest.raises(CandidateError):
        compute_foundation("bogus", "10.0.0.1", None, "udp")
    with pytest.raises(CandidateError):
        compute_foundation("host", "not an ip", None, "udp")


prios = st.integers(1, 2**31 - 1)


@given(prios, prios, prios, prios)
def test_pair_priority_orders_by_min_then_max(
    g1: int, d1: int, g2: int, d2: int
) -> None:
    a, b = pair_priority(g1, d1), pair_priority(g2, d2)
    key1 = (min(g1, d1), max(g1, d1), g1 > d1)
    key2 = (min(g2, d2), max(g2, d2), g2 > d2)
    assert (a < b) == (key1 < key2)
    assert (a == b) == (key1 == key2)
    assert a < 2**63


@given(
    st.integers(0, 126),
    st.integers(0, 65535),
    st.integers(1, 256),
    st.integers(0, 126),
    st.integers(0, 65535),
    st.integers(1, 256),
)
def test_priority_fields_dominate_in_order(
    t1: int, l1: int, c1: int, t2: int, l2: int, c2: int
) -> None:
    p1, p2 = compute_priority(t1, l1, c1), compute_priority(t2, l2, c2)
    assert 0 <= p1 < 2**32
    assert (p1 < p2) == ((t1, l1, -c1) < (t2, l2, -c2))


@given(st.lists(st.ip_addresses().map(str), unique=True, max_size=30))
def test_local_preferences_distinct(addrs: list[str]) -> None:
    prefs = local_preferences(addrs)
    assert len(set(prefs)) == len(addrs)
    assert all(0 <= p <= 65535 for p in prefs)
    # Families alternate from the top while both have addresses left.
    order = [a for _, a in sorted(zip(prefs, addrs), reverse=True)]
    fams = [":" in a for a in order]
    n = 2 * min(fams.count(True), fams.count(False))
    assert fams[:n] == [i % 2 == 0 for i in range(n)]
