"""Property-based round trips of every attribute type and of whole messages."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from icekit.stun import Attr, Message, MessageClass, Method
from icekit.stun.layout import Layout as _Layout
from tests.stun import strategies as s

INTEGRITY = (Attr.MESSAGE_INTEGRITY, Attr.MESSAGE_INTEGRITY_SHA256, Attr.FINGERPRINT)


def _without_integrity(attrs: list[tuple[int, Any]]) -> list[tuple[int, Any]]:
    return [(t, v) for t, v in attrs if t not in INTEGRITY]


@given(
    st.sampled_from(sorted(s.VALUES)).flatmap(
        lambda t: st.tuples(st.just(t), s.VALUES[t])
    ),
    s.transaction_ids,
)
def test_every_attribute_round_trips(attr_value: tuple[int, Any], txid: bytes) -> None:
    attr, value = attr_value
    msg = Message(Method.BINDING, MessageClass.REQUEST, txid).add(attr, value)
    decoded = Message.decode(msg.encode())
    assert decoded.get(attr) == value
    assert decoded.get_all(attr) == [value]
    assert (attr in decoded) is True


@settings(max_examples=300)
@given(
    s.messages(),
    st.one_of(st.none(), st.binary(min_size=1, max_size=80)),
    st.one_of(st.none(), st.binary(min_size=1, max_size=80)),
    st.sampled_from([16, 20, 24, 28, 32]),
    st.booleans(),
)
def test_messages_round_trip(
    msg: Message,
    key: bytes | None,
    key256: bytes | None,
    length: int,
    fingerprint: bool,
) -> None:
    data = msg.encode(
        integrity_key=key,
        integrity_sha256_key=key256,
        sha256_length=length,
        fingerprint=fingerprint,
    )
    assert len(data) % 4 == 0
    decoded = Message.decode(data)
    assert decoded.method == msg.method
    assert decoded.msg_class == msg.msg_class
    assert decoded.transaction_id == msg.transaction_id
    assert _without_integrity(decoded.attributes) == msg.attributes
    assert decoded.unknown_required == msg.unknown_required
    if key256 is not None:
        assert decoded.verify_integrity(key256)
    elif key is not None:
        assert decoded.verify_integrity(key)
    else:
        assert not decoded.verify_integrity(b"anything")
    assert (Attr.FINGERPRINT in decoded) is fingerprint
    # A second decode goes through the layout cache and must agree.
    again = Message.decode(data)
    assert again.attributes == decoded.attributes
    fresh = _Layout(data, (data[0] << 8) | data[1])
    assert fresh.order == again._layout.order  # type: ignore[union-attr]
    # Re-encoding a decoded message gives the same bytes.
    assert decoded.encode(key, fingerprint, key256, length) == data
