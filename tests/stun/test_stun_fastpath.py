"""The decoder's and encoder's fast paths give the same results as the slow ones."""

from __future__ import annotations

import enum
import pickle
import struct

import pytest

from icekit.errors import StunEncodeError, StunFingerprintError
from icekit.stun import Attr, Message, MessageClass, Method

KEY = b"9nq7yWqL1XTLcEVRbZ7zvyIH"
TXID = bytes(range(12))


def test_empty_message_decodes_again_through_the_cache() -> None:
    data = Message(Method.BINDING, MessageClass.SUCCESS, TXID).encode(fingerprint=False)
    for _ in range(3):
        msg = Message.decode(data)
        assert msg.attributes == [] and msg.transaction_id == TXID


def test_cached_layout_still_checks_fingerprint_and_size() -> None:
    msg = Message(Method.BINDING, MessageClass.REQUEST, TXID)
    msg.add(Attr.USERNAME, "a:b").add(Attr.PRIORITY, 7)
    data = msg.encode(integrity_key=KEY)
    Message.decode(data)  # now cached
    bad = data[:-1] + bytes([data[-1] ^ 1])
    with pytest.raises(StunFingerprintError):
        Message.decode(bad)
    # Same type, length field and cookie, but a different header word.
    other = bytearray(data)
    other[20:24] = struct.pack("!HH", Attr.SOFTWARE, 3)
    with pytest.raises(StunFingerprintError):
        Message.decode(bytes(other))


def test_other_transaction_ids_and_values_through_the_cache() -> None:
    for i in range(5):
        txid = bytes([i]) * 12
        msg = Message(Method.BINDING, MessageClass.SUCCESS, txid)
        msg.add(Attr.XOR_MAPPED_ADDRESS, (f"192.0.2.{i + 1}", 1000 + i))
        decoded = Message.decode(msg.encode(integrity_key=KEY))
        assert decoded.transaction_id == txid
        assert decoded.get(Attr.XOR_MAPPED_ADDRESS) == (f"192.0.2.{i + 1}", 1000 + i)
        assert decoded.get(int(Attr.XOR_MAPPED_ADDRESS)) == (
            f"192.0.2.{i + 1}",
            1000 + i,
        )
        assert decoded.verify_integrity(KEY)
        assert not decoded.verify_integrity(KEY[:-1])


def test_decoded_message_can_be_extended_and_reencoded() -> None:
    msg = Message(Method.BINDING, MessageClass.REQUEST, TXID).add(Attr.PRIORITY, 5)
    decoded = Message.decode(msg.encode(integrity_key=KEY))
    decoded.add(Attr.USE_CANDIDATE)
    assert Attr.USE_CANDIDATE in decoded and decoded.get(Attr.PRIORITY) == 5
    again = Message.decode(decoded.encode(integrity_key=KEY))
    assert again.get(Attr.USE_CANDIDATE) is None and Attr.USE_CANDIDATE in again
    assert again.verify_integrity(KEY)


def test_flag_attribute_rejects_a_value() -> None:
    msg = Message(Method.BINDING, MessageClass.REQUEST, TXID).add(
        Attr.USE_CANDIDATE, []
    )
    with pytest.raises(StunEncodeError, match="USE-CANDIDATE"):
        msg.encode()


@pytest.mark.parametrize("cls", [Attr, Method, MessageClass])
def test_hot_enums_behave_like_plain_enums(cls: type[enum.IntEnum]) -> None:
    assert isinstance(cls, enum.EnumMeta)
    for name in dir(cls):
        assert getattr(cls, name) == type.__getattribute__(cls, name)
    member = next(iter(cls))
    assert cls(int(member)) is member and cls[member.name] is member
    assert getattr(cls, member.name) is member
    assert pickle.loads(pickle.dumps(member)) is member
    assert not hasattr(cls, "NO_SUCH_MEMBER")
    with pytest.raises(ValueError):
        cls(0x7777)
