"""Replayed checks: captured signed requests sent again from other sources.

The same transaction id from a second source is a replay: dropped
unanswered.  Distinct captured checks (a sniffer collects one per consent
interval) each from a new source would teach a remote peer-reflexive
candidate (RFC 8445 §7.3.1.3) and trigger a check of up to seven
transmissions towards it: the number of learned candidates is capped
(``IceConfig.max_remote_prflx``) and the pair limit bounds the checks that
can be in flight.
"""

from __future__ import annotations

import pytest

from icekit.candidate import CandidateType
from icekit.ice import IceAgent, IceConfig
from icekit.stun import Attr, Message, MessageClass, Method, short_term_key
from tests.ice.ice_wire import (
    PEER_UFRAG,
    captured_check,
    drain,
    listening_agent,
)

LOCAL = ("192.0.2.1", 5000)
PEER = ("192.0.2.9", 7000)


def _run(agent: IceAgent, until: float) -> list[tuple[float, tuple[str, int], bytes]]:
    """Drive ``agent`` by its deadlines until ``until``; what it sent, with times."""
    sent = []
    now = 0.0
    while True:
        sent += [(now, t.dest, t.data) for t in drain(agent)]
        deadline = agent.poll_timeout()
        if deadline is None or deadline > until:
            return sent
        now = max(now, deadline)
        agent.handle_timeout(now)


@pytest.mark.parametrize(("cap", "max_pairs"), [(100, 100), (10, 100), (100, 20)])
def test_replayed_check_from_spoofed_sources_is_bounded(cap: int, max_pairs: int) -> None:
    agent = listening_agent(IceConfig(max_remote_prflx=cap, max_pairs=max_pairs), LOCAL, PEER)
    agent.start(0.0)
    spoofed = [(f"198.51.100.{i // 200 + 1}", 10000 + i) for i in range(300)]
    answers = 0
    requests: list[tuple[float, tuple[str, int]]] = []
    for i, src in enumerate(spoofed):
        now = 0.001 * i
        agent.handle_timeout(now)
        agent.handle_stun(now, 0, src, captured_check(agent, i))
        for t in drain(agent):
            msg = Message.decode(t.data)
            if msg.msg_class == MessageClass.REQUEST:
                requests.append((now, t.dest))
            elif t.dest == src:
                answers += 1
    requests += [(at, dest) for at, dest, data in _run(agent, 120.0)
                 if Message.decode(data).msg_class == MessageClass.REQUEST]
    # Every replay is answered (a stateless 1:1 reply, RFC 8445 §7.3.1)...
    assert answers == len(spoofed)
    # ...but only `cap` sources are learned; the rest are counted.
    prflx = [c for c in agent.remote_candidates if c.type is CandidateType.PRFLX]
    assert len(prflx) == cap
    assert agent.stats.dropped["prflx_limit"] == len(spoofed) - cap
    assert len(agent.pairs) <= max_pairs
    # The work towards the spoofed sources is bounded by the smaller limit,
    # at most max_check_transmissions each, and ends.
    to_spoofed = [dest for _, dest in requests if dest != PEER]
    learned = min(cap, max_pairs)
    assert len(set(to_spoofed)) <= learned
    assert len(to_spoofed) <= learned * agent.config.max_check_transmissions
    assert agent.stats.dropped["internal_error"] == 0


def test_replays_stay_paced() -> None:
    # New checks towards the replayed sources go out no faster than one per
    # Ta, plus at most one out-of-slot check per Ta for a nominated pair.
    agent = listening_agent(IceConfig(), LOCAL, PEER)
    agent.start(0.0)
    drain(agent)
    firsts: dict[tuple[str, int], float] = {}
    for i in range(100):
        now = 0.0001 * i
        agent.handle_stun(now, 0, ("198.51.100.1", 20000 + i), captured_check(agent, i))
        for t in drain(agent):
            if Message.decode(t.data).msg_class == MessageClass.REQUEST:
                firsts.setdefault(t.dest, now)
    for at, dest, data in _run(agent, 1.0):
        if Message.decode(data).msg_class == MessageClass.REQUEST:
            firsts.setdefault(dest, at)
    # In 1 s with Ta = 50 ms: the start slot plus 20 paced and 20 urgent.
    assert len(firsts) <= 2 * (1.0 / agent.config.ta) + 2


def test_config_rejects_a_bad_cap() -> None:
    from icekit.errors import ConfigError
    with pytest.raises(ConfigError):
        IceConfig(max_remote_prflx=0)


# -- replayed transaction ids (RFC 8445 §7.3.1.5, §8.2) ------------------------

def _fresh_check(agent: IceAgent, tid: bytes, *, use_candidate: bool = False) -> bytes:
    msg = Message(Method.BINDING, MessageClass.REQUEST, tid)
    msg.add(Attr.USERNAME, f"{agent.local_ufrag}:{PEER_UFRAG}")
    msg.add(Attr.PRIORITY, 0x6E0000FF)
    msg.add(Attr.ICE_CONTROLLING, 99)
    if use_candidate:
        msg.add(Attr.USE_CANDIDATE, None)
    return msg.encode(integrity_key=short_term_key(agent.local_pwd))


@pytest.mark.parametrize("lite", [False, True])
def test_same_transaction_from_another_source_is_a_replay(lite: bool) -> None:
    agent = listening_agent(IceConfig(lite=lite), LOCAL, PEER)
    agent.start(0.0)
    drain(agent)
    data = _fresh_check(agent, b"t" * 12)
    agent.handle_stun(0.1, 0, PEER, data)
    assert [t.dest for t in drain(agent) if t.dest == PEER]
    # A retransmission from the same source is answered again.
    agent.handle_stun(0.2, 0, PEER, data)
    assert [t for t in drain(agent) if t.dest == PEER]
    evil = ("198.51.100.66", 4444)
    agent.handle_stun(0.3, 0, evil, data)
    assert drain(agent) == []  # nothing answered, nothing checked
    assert agent.stats.dropped["replayed_request"] == 1
    assert not agent.is_valid_source(0, evil)
    assert all(c.addr != evil for c in agent.remote_candidates)
    assert agent.stats.dropped["internal_error"] == 0


def test_replay_record_is_bounded_in_count_and_time() -> None:
    from icekit.ice.replay import REPLAY_RECORDS, REPLAY_WINDOW
    agent = listening_agent(IceConfig(), LOCAL, PEER)
    agent.start(0.0)
    now = 0.0
    for i in range(REPLAY_RECORDS + 50):
        now += 0.001
        agent.handle_stun(now, 0, PEER, _fresh_check(agent, i.to_bytes(12, "big")))
    assert len(agent._replay) == REPLAY_RECORDS
    agent.handle_stun(now + REPLAY_WINDOW + 1, 0, PEER, _fresh_check(agent, b"z" * 12))
    assert len(agent._replay) == 1


def test_replay_guard_forgets_only_entries_older_than_the_window() -> None:
    from icekit.ice.replay import REPLAY_WINDOW, ReplayGuard
    guard = ReplayGuard()
    a, b = (0, ("192.0.2.9", 1)), (0, ("192.0.2.9", 2))
    assert guard.accept(b"1", a, 0.0) and guard.accept(b"2", a, 10.0)
    assert guard.accept(b"1", a, 1.0)  # a retransmission from the same source
    assert not guard.accept(b"1", b, REPLAY_WINDOW - 1)  # remembered: a replay
    assert guard.accept(b"1", b, REPLAY_WINDOW + 0.5)  # forgotten after the window
    assert len(guard) == 2
    assert not guard.accept(b"2", b, REPLAY_WINDOW + 1)  # younger: still remembered
    guard.clear()
    assert len(guard) == 0 and guard.accept(b"2", b, REPLAY_WINDOW + 2)
