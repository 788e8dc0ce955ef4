"""Hypothesis strategies for STUN attribute values and messages."""

from __future__ import annotations

import socket
from typing import Any

from hypothesis import strategies as st

from icekit.stun import Attr, Message, MessageClass, Method


def _normalise(host: str) -> str:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    return socket.inet_ntop(family, socket.inet_pton(family, host))


hosts = st.one_of(st.ip_addresses(v=4), st.ip_addresses(v=6)).map(
    lambda a: _normalise(str(a))
)
addresses = st.tuples(hosts, st.integers(0, 0xFFFF))
u8 = st.integers(0, 0xFF)
u16 = st.integers(0, 0xFFFF)
u32 = st.integers(0, 0xFFFFFFFF)
u64 = st.integers(0, 2**64 - 1)
short_text = st.text(max_size=127).filter(lambda s: len(s.encode("utf-8")) <= 763)
username = st.text(max_size=200).filter(lambda s: len(s.encode("utf-8")) <= 508)
error_codes = st.tuples(st.integers(300, 699), st.text(max_size=127))

#: attribute type -> strategy of a valid typed value
VALUES: dict[int, st.SearchStrategy[Any]] = {
    Attr.MAPPED_ADDRESS: addresses,
    Attr.XOR_MAPPED_ADDRESS: addresses,
    Attr.XOR_PEER_ADDRESS: addresses,
    Attr.XOR_RELAYED_ADDRESS: addresses,
    Attr.ALTERNATE_SERVER: addresses,
    Attr.RESPONSE_ORIGIN: addresses,
    Attr.OTHER_ADDRESS: addresses,
    Attr.USERNAME: username,
    Attr.REALM: short_text,
    Attr.NONCE: short_text,
    Attr.SOFTWARE: short_text,
    Attr.ALTERNATE_DOMAIN: short_text,
    Attr.PRIORITY: u32,
    Attr.LIFETIME: u32,
    Attr.NOMINATION: u32,
    Attr.CONNECTION_ID: u32,
    Attr.CHANGE_REQUEST: u32,
    Attr.ICE_CONTROLLED: u64,
    Attr.ICE_CONTROLLING: u64,
    Attr.CHANNEL_NUMBER: u16,
    Attr.RESPONSE_PORT: u16,
    Attr.REQUESTED_TRANSPORT: u8,
    Attr.REQUESTED_ADDRESS_FAMILY: u8,
    Attr.ADDITIONAL_ADDRESS_FAMILY: u8,
    Attr.USE_CANDIDATE: st.none(),
    Attr.DONT_FRAGMENT: st.none(),
    Attr.EVEN_PORT: st.booleans(),
    Attr.DATA: st.binary(max_size=300),
    Attr.PADDING: st.binary(max_size=64),
    Attr.RESERVATION_TOKEN: st.binary(min_size=8, max_size=8),
    Attr.USERHASH: st.binary(min_size=32, max_size=32),
    Attr.ERROR_CODE: error_codes,
    Attr.ADDRESS_ERROR_CODE: st.tuples(
        u8, st.integers(300, 699), st.text(max_size=127)
    ),
    Attr.UNKNOWN_ATTRIBUTES: st.lists(u16, max_size=8).map(tuple),
    Attr.PASSWORD_ALGORITHM: u16,
    Attr.PASSWORD_ALGORITHMS: st.lists(u16, max_size=6).map(tuple),
    Attr.ICMP: st.tuples(u8, u8, u32),
}

_KNOWN = frozenset(int(a) for a in Attr)
unknown_types = u16.filter(lambda t: t not in _KNOWN)

#: (type, value) pairs of any kind, unknown types included
attributes = st.one_of(
    st.sampled_from(sorted(VALUES)).flatmap(lambda t: st.tuples(st.just(t), VALUES[t])),
    st.tuples(unknown_types, st.binary(max_size=40)),
)

methods = st.one_of(st.sampled_from(list(Method)), st.integers(0, 0xFFF))
classes = st.sampled_from(
    [
        MessageClass.REQUEST,
        MessageClass.INDICATION,
        MessageClass.SUCCESS,
        MessageClass.ERROR,
    ]
)
transaction_ids = st.binary(min_size=12, max_size=12)


@st.composite
def messages(draw: st.DrawFn, max_attributes: int = 8) -> Message:
    """A built message with random attributes."""
    msg = Message(draw(methods), draw(classes), draw(transaction_ids))
    for attr, value in draw(st.lists(attributes, max_size=max_attributes)):
        msg.add(attr, value)
    return msg
