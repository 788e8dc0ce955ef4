"""Raw STUN builders for the core's tests: hand-signed messages.

The codec refuses to encode malformed attribute values, so these helpers lay
out the bytes themselves and add a correct MESSAGE-INTEGRITY and FINGERPRINT,
which lets tests send *authenticated* garbage to an agent.
"""

from __future__ import annotations

import hashlib
import hmac
import random
import struct
import zlib

from icekit.ice import IceAgent, IceConfig, Transmit
from icekit.stun import Attr, Message, MessageClass, Method, short_term_key
from icekit.types import Address

MAGIC = 0x2112A442
REQUEST, SUCCESS, ERROR, INDICATION = 0x0001, 0x0101, 0x0111, 0x0011


def tlv(attr: int, value: bytes) -> bytes:
    """One attribute, padded to a multiple of 4 bytes."""
    pad = (-len(value)) % 4
    return struct.pack("!HH", attr, len(value)) + value + b"\x00" * pad


def signed(msg_type: int, tid: bytes, attrs: bytes, key: bytes | None, *,
           fingerprint: bool = True) -> bytes:
    """A STUN message with ``attrs`` then MESSAGE-INTEGRITY (if ``key``) and FINGERPRINT."""
    body = attrs
    if key is not None:
        header = struct.pack("!HHI", msg_type, len(body) + 24, MAGIC) + tid
        mac = hmac.new(key, header + body, hashlib.sha1).digest()
        body += struct.pack("!HH", 0x0008, 20) + mac
    if fingerprint:
        header = struct.pack("!HHI", msg_type, len(body) + 8, MAGIC) + tid
        crc = (zlib.crc32(header + body) ^ 0x5354554E) & 0xFFFFFFFF
        body += struct.pack("!HHI", 0x8028, 4, crc)
    return struct.pack("!HHI", msg_type, len(body), MAGIC) + tid + body


def drain(agent: IceAgent) -> list[Transmit]:
    """Every pending transmission of ``agent``."""
    out = []
    while (t := agent.poll_transmit()) is not None:
        out.append(t)
    return out


def drain_events(agent: IceAgent) -> list[object]:
    """Every pending event of ``agent``."""
    out: list[object] = []
    while (e := agent.poll_event()) is not None:
        out.append(e)
    return out


def requests_in(out: list[Transmit]) -> list[tuple[Transmit, Message]]:
    """The Binding requests among ``out``, decoded."""
    found = []
    for t in out:
        msg = Message.decode(t.data)
        if msg.msg_class == MessageClass.REQUEST:
            found.append((t, msg))
    return found


def answer(agent: IceAgent, now: float, t: Transmit, msg: Message, pwd: str,
           mapped: Address, *, src: Address | None = None, socket_id: int | None = None,
           extra: tuple[int, object] | None = None) -> None:
    """Deliver a success response to the request ``msg`` that ``agent`` sent as ``t``."""
    resp = Message(Method.BINDING, MessageClass.SUCCESS, msg.transaction_id)
    resp.add(Attr.XOR_MAPPED_ADDRESS, mapped)
    if extra is not None:
        resp.add(*extra)
    agent.handle_stun(now, t.socket_id if socket_id is None else socket_id,
                      t.dest if src is None else src,
                      resp.encode(integrity_key=short_term_key(pwd), fingerprint=True))


def check(agent: IceAgent, remote_ufrag: str, *, tid: bytes, priority: int = 0x6E0000FF,
          controlling: bool = True, tie_breaker: int = 5, use_candidate: bool = False,
          nomination: int | None = None) -> bytes:
    """A valid connectivity check towards ``agent`` from a peer ``remote_ufrag``."""
    msg = Message(Method.BINDING, MessageClass.REQUEST, tid)
    msg.add(Attr.USERNAME, f"{agent.local_ufrag}:{remote_ufrag}")
    msg.add(Attr.PRIORITY, priority)
    msg.add(Attr.ICE_CONTROLLING if controlling else Attr.ICE_CONTROLLED, tie_breaker)
    if use_candidate:
        msg.add(Attr.USE_CANDIDATE, None)
    if nomination is not None:
        msg.add(Attr.NOMINATION, nomination)
    return msg.encode(integrity_key=short_term_key(agent.local_pwd), fingerprint=True)


#: The peer of :func:`listening_agent`.
PEER_UFRAG, PEER_PWD = "peerufrag", "peerpasswordpeerpassword"


def listening_agent(config: IceConfig, local: Address, remote: Address | None = None) -> IceAgent:
    """A controlled agent with one host candidate on socket 0 that knows its
    peer's credentials (and, if given, one remote host candidate)."""
    from tests.ice.ice_helpers import cand

    agent = IceAgent(config, controlling=False, local_ufrag="localufrag",
                     local_pwd="localpasswordlocalpassword", tie_breaker=1,
                     rng=random.Random(7))
    agent.add_local_candidate(cand(local), 0)
    agent.set_remote_credentials(PEER_UFRAG, PEER_PWD)
    if remote is not None:
        agent.add_remote_candidate(cand(remote))
    return agent


def captured_check(agent: IceAgent, n: int = 0) -> bytes:
    """The peer's n-th genuine nominating check as an attacker would capture it
    (each with its own transaction id)."""
    return check(agent, PEER_UFRAG, tid=n.to_bytes(12, "big"), tie_breaker=99,
                 use_candidate=True)
