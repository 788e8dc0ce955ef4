"""STUN/TURN URIs (RFC 7064, RFC 7065): parsing, printing, errors, fuzzing.

Set ``ICEKIT_FUZZ_LONG=1`` for the long fuzz run (1,000,000 mutations).
"""

from __future__ import annotations

import os
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from icekit.errors import URIError
from icekit.uri import URI

LONG = os.environ.get("ICEKIT_FUZZ_LONG") == "1"
# The long run takes minutes per test: lift the suite-wide timeout.
pytestmark = [pytest.mark.timeout(0)] if LONG else []


@pytest.mark.parametrize(
    ("text", "scheme", "host", "port", "transport", "effective", "canonical"),
    [
        ("stun:stun.l.example.com", "stun", "stun.l.example.com", 3478, None, "udp", None),
        ("stun:stun.example.com:19302", "stun", "stun.example.com", 19302, None, "udp", None),
        ("stuns:example.org", "stuns", "example.org", 5349, None, "tcp", None),
        ("turn:192.0.2.1", "turn", "192.0.2.1", 3478, None, "udp", None),
        ("turn:192.0.2.1:3479?transport=tcp", "turn", "192.0.2.1", 3479, "tcp", "tcp", None),
        ("turn:[2001:db8::1]:3478?transport=udp", "turn", "2001:db8::1", 3478, "udp", "udp", None),
        ("turns:[2001:db8::1]", "turns", "2001:db8::1", 5349, None, "tcp", None),
        ("turns:turn.example.net:443?transport=tcp", "turns", "turn.example.net", 443, "tcp",
         "tcp", None),
        ("turns:turn.example.net?transport=udp", "turns", "turn.example.net", 5349, "udp",
         "udp", None),
        ("TURN:Example.COM?Transport=UDP", "turn", "Example.COM", 3478, "udp", "udp",
         "turn:Example.COM:3478?transport=udp"),
    ],
)  # fmt: skip
def test_parse(
    text: str,
    scheme: str,
    host: str,
    port: int,
    transport: str | None,
    effective: str,
    canonical: str | None,
) -> None:
    uri = URI.parse(text)
    assert (uri.scheme, uri.host, uri.port, uri.transport) == (
        scheme,
        host,
        port,
        transport,
    )
    assert uri.effective_transport == effective
    assert uri.addr == (host, port)
    assert URI.parse(str(uri)) == uri
    if canonical is not None:
        assert str(uri) == canonical


def test_str_always_has_port() -> None:
    assert str(URI.parse("stun:example.com")) == "stun:example.com:3478"
    assert str(URI.parse("turns:[::1]")) == "turns:[::1]:5349"
    assert str(URI.parse("turn:h:1?transport=tcp")) == "turn:h:1?transport=tcp"


def test_credentials() -> None:
    uri = URI.parse("turn:turn.example.com", username="alice", password="s3cret")
    assert uri.username == "alice"
    assert uri.password == "s3cret"
    assert "s3cret" not in repr(uri)
    assert "s3cret" not in str(uri)
    assert uri.is_turn and not uri.is_secure
    assert URI.parse("stuns:x.org").is_secure


def test_constructor() -> None:
    uri = URI("TURNS", "turn.example.com", transport="TCP")
    assert uri.scheme == "turns"
    assert uri.port == 5349
    assert uri.transport == "tcp"
    with pytest.raises(URIError, match="port"):
        URI("stun", "h", 70000)
    with pytest.raises(URIError, match="transport"):
        URI("stun", "h", transport="udp")
    with pytest.raises(URIError, match="username"):
        URI("turn", "h", username=b"x")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("", "no scheme"),
        ("example.com", "no scheme"),
        ("http://example.com", "scheme"),
        ("stun", "no scheme"),
        ("stun:", "host"),
        ("stun::3478", "host"),
        ("stun://example.com", "'//'"),
        ("stun:example.com?transport=udp", "no query"),
        ("stuns:example.com?transport=tcp", "no query"),
        ("turn:example.com?transport=sctp", "transport"),
        ("turn:example.com?transport=", "empty"),
        ("turn:example.com?foo=bar", "unknown parameter"),
        ("turn:example.com?transport", "unknown parameter"),
        ("turn:example.com?transport=udp&transport=tcp", "only one"),
        ("turn:example.com:0", "port"),
        ("turn:example.com:65536", "port"),
        ("turn:example.com:", "port"),
        ("turn:example.com:abc", "port"),
        ("turn:example.com:+1", "port"),
        ("turn:example.com:\u0661", "port"),
        ("turn:2001:db8::1", "brackets"),
        ("turn:[2001:db8::1", "']'"),
        ("turn:[example.com]", "brackets"),
        ("turn:[2001:db8::1]x", "unexpected"),
        ("turn:[2001:db8:::1]", "IPv6"),
        ("turn:[fe80::1%eth0]", "zone"),
        ("turn:300.1.1.1", "IPv4"),
        ("turn:exa mple.com", "host name"),
        ("turn:user@example.com", "user information"),
        ("turn:example.com#frag", "fragment"),
        ("turn:-bad-.com", "host name"),
    ],
)
def test_errors(text: str, problem: str) -> None:
    with pytest.raises(URIError, match=problem):
        URI.parse(text)


def test_not_a_string() -> None:
    with pytest.raises(URIError):
        URI.parse(None)  # type: ignore[arg-type]


def test_error_is_value_error() -> None:
    with pytest.raises(ValueError):
        URI.parse("nope")


hosts = st.one_of(
    st.ip_addresses(v=4).map(str),
    st.ip_addresses(v=6).map(str),
    st.from_regex(r"[a-z]([a-z0-9-]{0,8}[a-z0-9])?(\.[a-z]{2,6}){0,2}", fullmatch=True),
)


@st.composite
def uris(draw: st.DrawFn) -> URI:
    scheme = draw(st.sampled_from(["stun", "stuns", "turn", "turns"]))
    transport = None
    if scheme.startswith("turn"):
        transport = draw(st.sampled_from([None, "udp", "tcp"]))
    return URI(scheme, draw(hosts), draw(st.integers(0, 65535)), transport)


@settings(max_examples=300 if not LONG else 5_000, deadline=None)
@given(uris())
def test_round_trip(uri: URI) -> None:
    assert URI.parse(str(uri)) == uri
    assert str(URI.parse(str(uri))) == str(uri)


def _check(text: str) -> None:
    try:
        uri = URI.parse(text)
    except URIError:
        return
    assert URI.parse(str(uri)) == uri


@settings(max_examples=1000 if not LONG else 20_000, deadline=None)
@given(st.text(max_size=60))
def test_random_text(text: str) -> None:
    _check(text)


@settings(max_examples=500 if not LONG else 20_000, deadline=None)
@given(
    st.sampled_from(["stun:", "stuns:", "turn:", "turns:", "TuRn:"]),
    st.text(alphabet="[]:.?=&@#%/abcdeftransportudp0123456789 \u0661", max_size=40),
)
def test_scheme_plus_noise(scheme: str, rest: str) -> None:
    _check(scheme + rest)


_SEEDS = [
    "stun:stun.example.com:19302",
    "turn:[2001:db8::1]:3478?transport=udp",
    "turns:turn.example.net:443?transport=tcp",
    "turn:192.0.2.1",
]
_JUNK = ["[", "]", ":", "?", "=", "/", "%", "@", " ", "0", "99999", "\u00e9", "::"]


def test_mutations() -> None:
    rng = random.Random(7065)
    for _ in range(1_000_000 if LONG else 20_000):
        text = rng.choice(_SEEDS)
        for _ in range(rng.randrange(1, 4)):
            pos = rng.randrange(len(text) + 1)
            op = rng.randrange(3)
            if op == 0:
                text = text[:pos] + text[pos + rng.randrange(1, 4) :]
            elif op == 1:
                text = text[:pos] + rng.choice(_JUNK) + text[pos:]
            else:
                text = text[:pos]
        _check(text)
