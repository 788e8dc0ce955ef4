"""The agent's STUN handling, driven directly: requests, responses, errors, misuse."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from icekit.errors import ClosedError, CredentialsError, InvalidStateError
from icekit.ice import ConnectionState, GatheringState, IceAgent, Transmit
from icekit.ice import events as ev
from icekit.stun import Attr, Message, MessageClass, Method, short_term_key
from tests.ice.ice_helpers import cand, make_agent

PEER = ("192.0.2.9", 7000)
LOCAL = ("192.0.2.1", 5000)
R_UFRAG, R_PWD = "peerufrag", "peerpasswordpeerpassword"


def _agent(controlling: bool = True, tie_breaker: int = 1000) -> IceAgent:
    agent = make_agent(1, controlling, tie_breaker=tie_breaker)
    agent.add_local_candidate(cand(LOCAL), 0)
    agent.set_remote_credentials(R_UFRAG, R_PWD)
    assert agent.poll_event() == ev.GatheringStateChanged(GatheringState.GATHERING)
    return agent


def _drain(agent: IceAgent) -> list[Transmit]:
    out = []
    while (tx := agent.poll_transmit()) is not None:
        out.append(tx)
    return out


def _events(agent: IceAgent) -> list[object]:
    out: list[object] = []
    while (e := agent.poll_event()) is not None:
        out.append(e)
    return out


def _request(agent: IceAgent, *, username: str | None = None, key: bytes | None = None,
             priority: int | None = 0x6E0000FF, controlling: bool | None = False,
             tie_breaker: int = 5, use_candidate: bool = False,
             extra: tuple[int, bytes] | None = None, tid: bytes = b"r" * 12) -> bytes:
    msg = Message(Method.BINDING, MessageClass.REQUEST, tid)
    if username is None:
        username = f"{agent.local_ufrag}:{R_UFRAG}"
    if username:
        msg.add(Attr.USERNAME, username)
    if priority is not None:
        msg.add(Attr.PRIORITY, priority)
    if controlling is not None:
        msg.add(Attr.ICE_CONTROLLING if controlling else Attr.ICE_CONTROLLED, tie_breaker)
    if use_candidate:
        msg.add(Attr.USE_CANDIDATE, None)
    if extra is not None:
        msg.add(*extra)
    return msg.encode(integrity_key=short_term_key(agent.local_pwd) if key is None else key)


def _only_reply(agent: IceAgent) -> Message:
    out = _drain(agent)
    replies = [Message.decode(t.data) for t in out if t.data[0:2] != b"\x00\x01"]
    assert len(replies) == 1, out
    return replies[0]


def test_check_request_attributes() -> None:
    agent = _agent(controlling=True, tie_breaker=0x1234)
    agent.add_remote_candidate(cand(PEER))
    agent.start(0.0)
    out = _drain(agent)
    assert len(out) == 1 and out[0].dest == PEER and out[0].socket_id == 0
    msg = Message.decode(out[0].data)  # FINGERPRINT verified by decode
    assert msg.msg_class == MessageClass.REQUEST
    assert msg.get(Attr.USERNAME) == f"{R_UFRAG}:{agent.local_ufrag}"
    # RFC 8445 §7.1.1: prflx type preference, the base's local preference.
    assert msg.get(Attr.PRIORITY) == (110 << 24) | (65535 << 8) | 255
    assert msg.get(Attr.ICE_CONTROLLING) == 0x1234
    assert Attr.USE_CANDIDATE not in msg
    assert msg.verify_integrity(short_term_key(R_PWD))
    assert agent.poll_timeout() == pytest.approx(0.5)  # RTO, nothing else pending


def test_success_response_and_prflx() -> None:
    agent = _agent()
    agent.handle_stun(1.0, 0, PEER, _request(agent))
    reply = _only_reply(agent)
    assert reply.msg_class == MessageClass.SUCCESS
    assert reply.transaction_id == b"r" * 12
    assert reply.get(Attr.XOR_MAPPED_ADDRESS) == PEER
    assert reply.verify_integrity(short_term_key(agent.local_pwd))
    added = [e for e in _events(agent) if isinstance(e, ev.RemoteCandidateAdded)]
    assert len(added) == 1 and added[0].candidate.addr == PEER
    assert str(added[0].candidate.type) == "prflx"
    assert added[0].candidate.priority == 0x6E0000FF
    assert not agent.is_valid_source(0, PEER)  # not valid before our own check succeeds


@pytest.mark.parametrize("case,code,reason", [
    ("no_username", 400, "bad_request"),
    ("no_integrity", 400, "bad_request"),
    ("wrong_ufrag", 401, "bad_username"),
    ("wrong_key", 401, "bad_integrity"),
    ("no_priority", 400, "bad_request"),
    ("no_role", 400, "bad_request"),
    ("unknown_attr", 420, "unknown_attributes"),
])
def test_error_responses(case: str, code: int, reason: str) -> None:
    agent = _agent()
    if case == "no_username":
        data = _request(agent, username="")
    elif case == "no_integrity":
        msg = Message(Method.BINDING, MessageClass.REQUEST, b"r" * 12)
        msg.add(Attr.USERNAME, f"{agent.local_ufrag}:{R_UFRAG}")
        msg.add(Attr.PRIORITY, 1)
        msg.add(Attr.ICE_CONTROLLED, 1)
        data = msg.encode()
    elif case == "wrong_ufrag":
        data = _request(agent, username=f"other:{R_UFRAG}")
    elif case == "wrong_key":
        data = _request(agent, key=b"not the key")
    elif case == "no_priority":
        data = _request(agent, priority=None)
    elif case == "no_role":
        data = _request(agent, controlling=None)
    else:
        data = _request(agent, extra=(0x0031, b"abcd"))
    agent.handle_stun(1.0, 0, PEER, data)
    reply = _only_reply(agent)
    assert reply.msg_class == MessageClass.ERROR
    assert reply.get(Attr.ERROR_CODE)[0] == code
    assert agent.stats.dropped[reason] == 1
    # RFC 8489 §9.1.3: no integrity on errors to unauthenticated requests.
    assert reply.has_integrity == (code not in (400, 401) or case in ("no_priority", "no_role"))
    if code == 420:
        assert reply.get(Attr.UNKNOWN_ATTRIBUTES) == (0x0031,)
    assert _events(agent) == []  # nothing learned
    assert agent.controlling


def test_role_conflict_487_when_our_tie_breaker_wins() -> None:
    agent = _agent(controlling=True, tie_breaker=1000)
    agent.handle_stun(1.0, 0, PEER, _request(agent, controlling=True, tie_breaker=999))
    reply = _only_reply(agent)
    assert reply.get(Attr.ERROR_CODE)[0] == 487 and reply.verify_integrity(
        short_term_key(agent.local_pwd))
    assert agent.controlling


def test_role_switch_when_their_tie_breaker_wins() -> None:
    agent = _agent(controlling=True, tie_breaker=1000)
    agent.handle_stun(1.0, 0, PEER, _request(agent, controlling=True, tie_breaker=1001))
    assert _only_reply(agent).msg_class == MessageClass.SUCCESS
    assert not agent.controlling
    assert ev.RoleChanged(False) in _events(agent)


def test_controlled_conflict() -> None:
    agent = _agent(controlling=False, tie_breaker=1000)
    agent.handle_stun(1.0, 0, PEER, _request(agent, controlling=False, tie_breaker=1001))
    assert _only_reply(agent).get(Attr.ERROR_CODE)[0] == 487
    agent.handle_stun(1.0, 0, PEER, _request(agent, controlling=False, tie_breaker=999))
    assert _only_reply(agent).msg_class == MessageClass.SUCCESS
    assert agent.controlling


def test_response_with_bad_integrity_or_wrong_source_changes_nothing() -> None:
    agent = _agent()
    agent.add_remote_candidate(cand(PEER))
    agent.start(0.0)
    req = Message.decode(_drain(agent)[0].data)
    resp = Message(Method.BINDING, MessageClass.SUCCESS, req.transaction_id)
    resp.add(Attr.XOR_MAPPED_ADDRESS, LOCAL)
    agent.handle_stun(0.01, 0, PEER, resp.encode(integrity_key=b"bad"))
    assert agent.stats.dropped["bad_integrity"] == 1
    assert agent.pairs[0].state.value == "in-progress"
    # Authenticated but from elsewhere: RFC 8445 §7.2.5.2.1 fails the pair.
    good = resp.encode(integrity_key=short_term_key(R_PWD))
    agent.handle_stun(0.02, 0, ("192.0.2.10", 7000), good)
    assert agent.pairs[0].state.value == "failed"
    assert agent.selected_pair is None


def test_successful_check_selects_and_validates_source() -> None:
    agent = _agent()
    agent.add_remote_candidate(cand(PEER))
    agent.start(0.0)
    req = Message.decode(_drain(agent)[0].data)
    resp = Message(Method.BINDING, MessageClass.SUCCESS, req.transaction_id)
    resp.add(Attr.XOR_MAPPED_ADDRESS, LOCAL)
    agent.handle_stun(0.01, 0, PEER, resp.encode(integrity_key=short_term_key(R_PWD)))
    assert agent.is_valid_source(0, PEER) and not agent.is_valid_source(1, PEER)
    # Host pair, nothing better pending: the nomination goes out at once,
    # with the response that made the pair valid, not in the next Ta slot.
    nom = Message.decode(_drain(agent)[0].data)
    assert Attr.USE_CANDIDATE in nom
    resp = Message(Method.BINDING, MessageClass.SUCCESS, nom.transaction_id)
    resp.add(Attr.XOR_MAPPED_ADDRESS, LOCAL)
    agent.handle_stun(0.06, 0, PEER, resp.encode(integrity_key=short_term_key(R_PWD)))
    assert agent.selected_pair is not None and agent.selected_pair.remote.addr == PEER
    assert agent.state is ConnectionState.CONNECTED


def test_api_misuse() -> None:
    with pytest.raises(CredentialsError):
        IceAgent(controlling=True, local_ufrag="abc", local_pwd="x" * 22)
    with pytest.raises(CredentialsError):
        IceAgent(controlling=True, local_ufrag="abcd", local_pwd="short")
    agent = _agent()
    agent.start(0.0)
    with pytest.raises(InvalidStateError):
        agent.start(0.0)
    with pytest.raises(InvalidStateError):
        agent.set_remote_credentials("other", "otherpasswordotherpassword")
    agent.set_remote_credentials(R_UFRAG, R_PWD)  # the same again is fine
    agent.close(1.0)
    assert agent.state is ConnectionState.CLOSED and agent.poll_timeout() is None
    with pytest.raises(ClosedError):
        agent.add_remote_candidate(cand(PEER))
    agent.handle_stun(2.0, 0, PEER, b"\x00\x01")  # ignored, never raises
    agent.handle_timeout(3.0)


def test_default_rng_and_tie_breaker() -> None:
    a = IceAgent(controlling=True, local_ufrag="abcd", local_pwd="p" * 22)
    b = IceAgent(controlling=True, local_ufrag="abcd", local_pwd="p" * 22)
    assert a.tie_breaker != b.tie_breaker


def test_mdns_and_foreign_candidates_are_ignored() -> None:
    agent = _agent()
    from icekit.candidate import Candidate
    agent.add_remote_candidate(Candidate.unmarshal(
        "1 1 udp 2122262783 2b8a7c5e-1111-4c5e-9c3e-2a1b3c4d5e6f.local 5000 typ host"))
    agent.add_remote_candidate(cand(("2001:db8::1", 5000)))  # no IPv6 local candidate
    assert agent.pairs == []


@settings(max_examples=300, deadline=None, derandomize=True)
@given(data=st.binary(max_size=200), flips=st.lists(st.integers(0, 10_000), max_size=4))
def test_fuzz_never_raises(data: bytes, flips: list[int]) -> None:
    agent = _agent()
    agent.add_remote_candidate(cand(PEER))
    agent.start(0.0)
    valid = bytearray(_request(agent, use_candidate=True, tid=random.Random(1).randbytes(12)))
    for f in flips:
        valid[f % len(valid)] ^= 1 << (f % 8)
    for blob in (data, bytes(valid), b"\x00\x01" + data):
        agent.handle_stun(0.1, 0, PEER, blob)
        agent.handle_stun(0.1, 0, ("203.0.113.99", 1), blob)
    agent.handle_timeout(0.2)
    assert agent.stats.dropped["internal_error"] == 0


def test_unsigned_errors_are_never_larger_than_the_request() -> None:
    # The smallest request that earns an unsigned 400 is a bare 20-byte
    # header; the 400 would be 48 bytes (2.4x).  Unsigned errors go out only
    # when they are not larger than the request (docs/deviations.md).
    agent = _agent()
    bare = Message(Method.BINDING, MessageClass.REQUEST, b"r" * 12).encode(fingerprint=False)
    assert len(bare) == 20
    agent.handle_stun(1.0, 0, PEER, bare)
    assert _drain(agent) == []
    assert agent.stats.dropped["bad_request"] == 1
    cases = [bare + b"", _request(agent, username=""), _request(agent, key=b"not the key"),
             _request(agent, username=f"other:{R_UFRAG}"),
             _request(agent, username="x:y", priority=None, controlling=None)]
    for data in cases:
        agent.handle_stun(1.0, 0, PEER, data)
        for t in _drain(agent):
            assert len(t.data) <= len(data), (len(t.data), len(data))


def test_401_reason_phrase() -> None:
    agent = _agent()
    agent.handle_stun(1.0, 0, PEER, _request(agent, key=b"not the key"))
    reply = _only_reply(agent)
    assert reply.get(Attr.ERROR_CODE) == (401, "Unauthenticated")  # RFC 8489 §14.8


_AFTER_CLOSE = {
    "local_eoc": lambda a: a.set_local_end_of_candidates(now=2.0),
    "local_eoc_no_now": lambda a: a.set_local_end_of_candidates(),
    "remote_eoc": lambda a: a.set_remote_end_of_candidates(now=2.0),
    "remote_lite": lambda a: a.set_remote_lite(now=2.0),
    "add_local": lambda a: a.add_local_candidate(cand(("192.0.2.1", 5001)), 1, now=2.0),
    "add_remote": lambda a: a.add_remote_candidate(cand(("192.0.2.9", 7001)), now=2.0),
    "remote_creds": lambda a: a.set_remote_credentials(R_UFRAG, R_PWD, now=2.0),
    "set_controlling": lambda a: a.set_controlling(False),
    "start": lambda a: a.start(2.0),
    "restart": lambda a: a.restart(2.0, "newufrag", "newpasswordnewpassword"),
}


@pytest.mark.parametrize("call", list(_AFTER_CLOSE.values()), ids=list(_AFTER_CLOSE))
def test_setters_after_close_raise_and_queue_nothing(call: object) -> None:
    """Issue 9: after close() an API call raises ClosedError and changes nothing."""
    agent = _agent(controlling=False)
    agent.add_remote_candidate(cand(PEER))
    agent.close(1.0)
    assert _events(agent)[-1] == ev.ConnectionStateChanged(ConnectionState.CLOSED)
    before = (agent.gathering_state, agent.controlling, agent.state)
    with pytest.raises(ClosedError):
        call(agent)  # type: ignore[operator]
    assert (agent.gathering_state, agent.controlling, agent.state) == before
    assert agent.poll_event() is None and agent.poll_transmit() is None
    assert agent.poll_timeout() is None
    agent.handle_timeout(3.0)  # the clock and the network are ignored, never raise
    agent.handle_stun(3.0, 0, PEER, b"\x00\x01")
    assert agent.poll_event() is None and agent.poll_transmit() is None
