"""Property and fuzz tests for candidates: round trips, and only CandidateError on bad text.

The normal run tries about 21,000 inputs (20,000 seeded mutations of real
candidate strings plus a few hundred hypothesis examples per property). Set
``ICEKIT_FUZZ_LONG=1`` for the long run: 1,000,000 mutations and 5,000
examples per property.
"""

from __future__ import annotations

import ipaddress
import os
import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from icekit.candidate import Candidate, CandidateType, TCPType
from icekit.errors import CandidateError
from tests.test_candidate import ALL

LONG = os.environ.get("ICEKIT_FUZZ_LONG") == "1"
# The long run takes minutes per test: lift the suite-wide timeout.
pytestmark = [pytest.mark.timeout(0)] if LONG else []
MUTATIONS = 1_000_000 if LONG else 20_000
EXAMPLES = 5_000 if LONG else 300

_ICE_CHARS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+/"
_TOKEN_CHARS = (
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-.!%*_+`'~"
)
_VCHARS = "".join(chr(c) for c in range(0x21, 0x7F))

addresses = st.one_of(
    st.ip_addresses(v=4).map(str),
    st.ip_addresses(v=6).map(str),
    st.from_regex(r"[a-z0-9]{1,12}(-[a-z0-9]{1,8}){0,4}\.local", fullmatch=True),
    st.from_regex(r"[a-z][a-z0-9-]{0,10}[a-z0-9](\.[a-z]{2,6}){1,2}", fullmatch=True),
)
ports = st.integers(0, 65535)
extension_names = st.text(_TOKEN_CHARS, min_size=1, max_size=12).filter(
    lambda n: n.lower() not in ("raddr", "rport", "tcptype", "typ")
)
extensions = st.lists(
    st.tuples(extension_names, st.text(_VCHARS, min_size=1, max_size=12)), max_size=5
).map(tuple)


@st.composite
def candidates(draw: st.DrawFn) -> Candidate:
    transport = draw(st.sampled_from(["udp", "tcp"]))
    related = draw(st.none() | st.tuples(addresses, ports))
    tcptype = (
        draw(st.none() | st.sampled_from(list(TCPType))) if transport == "tcp" else None
    )
    return Candidate(
        foundation=draw(st.text(_ICE_CHARS, min_size=1, max_size=32)),
        component=draw(st.integers(1, 256)),
        transport=transport,
        priority=draw(st.integers(0, 2**32 - 1)),
        address=draw(addresses),
        port=draw(ports),
        type=draw(st.sampled_from(list(CandidateType))),
        related_address=None if related is None else related[0],
        related_port=None if related is None else related[1],
        tcptype=tcptype,
        extensions=draw(extensions),
    )


@settings(max_examples=EXAMPLES, deadline=None)
@given(candidates())
def test_round_trip(cand: Candidate) -> None:
    text = cand.marshal()
    assert Candidate.unmarshal(text) == cand
    assert Candidate.unmarshal("a=" + cand.marshal(prefix=True) + "\r\n") == cand
    assert Candidate.unmarshal(text).marshal() == text
    assert cand.key == Candidate.unmarshal(text).key
    if cand.ip is not None:
        assert cand.ip == ipaddress.ip_address(cand.address)


def _check(text: str) -> None:
    try:
        cand = Candidate.unmarshal(text)
    except CandidateError:
        return
    # Whatever parses must round-trip.
    assert Candidate.unmarshal(cand.marshal()) == cand


@settings(
    max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
@given(st.text(max_size=200))
def test_random_text(text: str) -> None:
    _check(text)


_VOCAB = [
    "candidate:1", "1", "0", "257", "udp", "UDP", "tcp", "typ", "host", "srflx", "relay",
    "raddr", "rport", "tcptype", "active", "so", "10.0.0.1", "::1", "x.local", "65536",
    "4294967296", "generation", "-1", "", "\u00e9", "\x00", "[::1]", "1.2.3.4.5",
]  # fmt: skip


@settings(max_examples=EXAMPLES, deadline=None)
@given(st.lists(st.sampled_from(_VOCAB) | st.text(max_size=6), max_size=14))
def test_token_soup(tokens: list[str]) -> None:
    _check(" ".join(tokens))


_JUNK = [
    " ",
    "  ",
    ":",
    "%",
    ".",
    "-",
    "0",
    "9",
    "\r\n",
    "\t",
    "\u0661",
    "\u00a0",
    "\ud800",
    "a",
]


def _mutate(rng: random.Random, text: str) -> str:
    op = rng.randrange(7)
    pos = rng.randrange(len(text) + 1)
    if op == 0:  # delete a slice
        return text[:pos] + text[pos + rng.randrange(1, 6) :]
    if op == 1:  # insert junk
        return text[:pos] + rng.choice(_JUNK) + text[pos:]
    if op == 2:  # flip a character
        if not text:
            return text
        i = rng.randrange(len(text))
        return (
            text[:i]
            + chr(rng.randrange(0x110000) if rng.random() < 0.2 else rng.randrange(128))
            + text[i + 1 :]
        )
    tokens = text.split(" ")
    i = rng.randrange(len(tokens))
    if op == 3:  # drop a token
        del tokens[i]
    elif op == 4:  # duplicate a token
        tokens.insert(i, tokens[i])
    elif op == 5:  # swap two tokens
        j = rng.randrange(len(tokens))
        tokens[i], tokens[j] = tokens[j], tokens[i]
    else:  # truncate
        return text[:pos]
    return " ".join(tokens)


def test_mutations() -> None:
    rng = random.Random(8839)
    for n in range(MUTATIONS):
        text = rng.choice(ALL)
        for _ in range(1 + n % 4):
            text = _mutate(rng, text)
        _check(text)
