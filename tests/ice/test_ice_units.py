"""Unit tests of the core's pieces: config, states, pairs, check list, timers."""

from __future__ import annotations

import random

import pytest

from icekit.candidate import pair_priority
from icekit.errors import ConfigError
from icekit.ice import ConnectionState, GatheringState, IceConfig, PairState
from icekit.ice.checklist import CheckList
from icekit.ice.consent import Consent
from icekit.ice.pair import CandidatePair
from icekit.ice.checker import Kind, Transaction, initial_rto
from tests.ice.ice_helpers import cand


def test_state_names() -> None:
    assert [str(s) for s in ConnectionState] == [
        "new", "checking", "connected", "completed", "disconnected", "failed", "closed"]
    assert [str(s) for s in GatheringState] == ["new", "gathering", "complete"]
    assert str(PairState.IN_PROGRESS) == "in-progress"


def test_config_defaults() -> None:
    c = IceConfig()
    assert c.ta == 0.05 and c.max_pairs == 100 and c.pac_timeout == 39.5
    assert c.consent_interval == 5.0 and c.consent_timeout == 30.0
    assert c.disconnected_timeout == 5.0
    assert c.nomination_wait("host") == 0.0
    assert 0 < c.nomination_wait("srflx") < 0.5
    assert c.nomination_wait("relay") >= c.nomination_wait("prflx")


@pytest.mark.parametrize("kw", [
    {"ta": 0}, {"ta": -1.0}, {"ta": float("nan")}, {"ta": float("inf")}, {"max_pairs": 0},
    {"max_pairs": 1.5}, {"rto_min": 2.0, "rto_max": 1.0}, {"consent_jitter": 1.0},
    {"consent_timeout": 1.0}, {"nomination_wait_srflx": -0.1}, {"ta": "fast"},
])
def test_config_rejects(kw: dict[str, object]) -> None:
    with pytest.raises(ConfigError):
        IceConfig(**kw)  # type: ignore[arg-type]


def test_pair_priority_formula() -> None:
    # RFC 8445 §6.1.2.3, both ways round.
    for g, d in [(1, 2), (2, 1), (0x7E0000FF, 0x6E0000FF), (5, 5)]:
        assert pair_priority(g, d) == (min(g, d) << 32) + 2 * max(g, d) + (g > d)


def _pair(local_port: int, remote_port: int, socket_id: int = 0, typ: str = "host",
          remote_ip: str = "192.0.2.9") -> CandidatePair:
    return CandidatePair(cand(("192.0.2.1", local_port), typ), cand((remote_ip, remote_port)),
                         socket_id, controlling=True)


def test_checklist_prunes_redundant_pairs() -> None:
    cl = CheckList(100)
    host = _pair(5000, 6000)
    srflx = CandidatePair(cand(("198.51.100.1", 40000), "srflx", related=("192.0.2.1", 5000)),
                          cand(("192.0.2.9", 6000)), 0, controlling=True)
    stored, removed = cl.add(srflx)
    assert stored is srflx and removed == []
    # RFC 8445 §6.1.2.4: same base (socket) and remote -> keep the higher priority.
    stored, _ = cl.add(host)
    assert stored is srflx and len(cl) == 1
    assert srflx.local.type == "host" and srflx.priority == host.priority


def test_checklist_limit_keeps_highest_priority() -> None:
    cl = CheckList(3)
    pairs = [CandidatePair(cand(("192.0.2.1", 5000), local_pref=100 + i),
                           cand(("192.0.2.9", 6000 + i)), 0, controlling=True)
             for i in range(5)]
    for p in pairs:
        cl.add(p)
    assert len(cl) == 3
    assert [p.key[1][1] for p in cl] == [6004, 6003, 6002]


def test_checklist_frozen_until_foundation_unfreezes() -> None:
    cl = CheckList(100)
    p1 = _pair(5000, 6000)
    p2 = _pair(5000, 6001)  # same foundations (same types and base IPs)
    cl.add(p1)
    cl.add(p2)
    assert p1.foundation == p2.foundation
    first = cl.next_ordinary()
    assert first is not None and first.state is PairState.WAITING
    first.set_state(PairState.IN_PROGRESS)
    other = p2 if first is p1 else p1
    assert other.state is PairState.FROZEN
    assert cl.next_ordinary() is None  # §6.1.4.2: its foundation is busy
    first.set_state(PairState.SUCCEEDED)
    cl.unfreeze_foundation(first.foundation)  # §7.2.5.3.3
    assert str(other.state) == "waiting"
    assert cl.next_ordinary() is other


def test_checklist_unfreezes_when_nothing_waits() -> None:
    cl = CheckList(100)
    p1 = _pair(5000, 6000)
    p2 = _pair(5000, 6001)
    cl.add(p1)
    cl.add(p2)
    a = cl.next_ordinary()
    assert a is not None
    a.set_state(PairState.FAILED)
    b = cl.next_ordinary()
    assert b is not None and b is not a and b.state is PairState.WAITING


def test_triggered_queue_is_fifo_and_unique() -> None:
    cl = CheckList(100)
    p1, p2 = _pair(5000, 6000), _pair(5000, 6001)
    cl.add(p1)
    cl.add(p2)
    cl.enqueue_triggered(p2)
    cl.enqueue_triggered(p1)
    cl.enqueue_triggered(p2)
    assert cl.pop_triggered() is p2
    assert cl.pop_triggered() is p1
    assert cl.pop_triggered() is None


def test_rto_formula() -> None:
    # RFC 8445 §14.3: MAX(500 ms, Ta * (Num-Waiting + Num-In-Progress)).
    assert initial_rto(0.05, 3, 0.5) == 0.5
    assert initial_rto(0.05, 40, 0.5) == pytest.approx(2.0)


def test_retransmission_schedule() -> None:
    pair = _pair(5000, 6000)
    tx = Transaction(b"t" * 12, Kind.CHECK, pair, b"", 0.0, 0.5, 3.0, 7, controlling=True,
                     use_candidate=False, priority=1, generation=0)
    sends = [0.0]
    while tx.retransmit_due():
        now = tx.deadline
        tx.on_retransmit(now)
        sends.append(now)
    assert sends == pytest.approx([0.0, 0.5, 1.5, 3.5, 6.5, 9.5, 12.5])
    assert tx.deadline == pytest.approx(15.5)  # then the pair fails
    tx.cancelled = True
    assert not tx.retransmit_due()


def test_consent_timers() -> None:
    cfg = IceConfig()
    rng = random.Random(1)
    c = Consent(cfg, rng, now=100.0)
    intervals = []
    last = 100.0
    for _ in range(200):
        intervals.append(c.next_send - last)
        last = c.next_send
        c.on_sent(last)
        c.on_response(last + 0.05)
    # RFC 7675 §5.1: 5 s randomised by ±20 %.
    assert 4.0 <= min(intervals) and max(intervals) <= 6.0
    assert max(intervals) - min(intervals) > 1.0
    t = c.last_response
    assert c.expire_deadline() == t + 30.0
    assert c.disconnect_deadline() is None  # nothing pending
    c.on_sent(t + 5.5)
    assert c.disconnect_deadline() == pytest.approx(t + 6.5)  # 1 s grace for the answer
    assert not c.disconnected(t + 6.4) and c.disconnected(t + 6.5)
    assert c.expired(t + 30.0)


def test_tcp_pairing_rules() -> None:
    from icekit.candidate import Candidate, CandidateType
    from icekit.ice.records import tcp_compatible

    def tcp(tcptype: str) -> Candidate:
        return Candidate(foundation="1", component=1, transport="tcp", priority=1,
                         address="192.0.2.1", port=9, type=CandidateType.HOST,
                         tcptype=tcptype)  # type: ignore[arg-type]

    assert tcp_compatible(tcp("active"), tcp("passive"))
    assert tcp_compatible(tcp("passive"), tcp("active"))
    assert tcp_compatible(tcp("so"), tcp("so"))
    assert not tcp_compatible(tcp("active"), tcp("active"))
    assert not tcp_compatible(tcp("passive"), tcp("so"))


def test_ta_below_five_ms_is_refused() -> None:
    # RFC 8445 §14.2: Ta MUST NOT be less than 5 ms.
    from icekit.errors import ConfigError
    from icekit.ice import IceConfig

    IceConfig(ta=0.005)
    with pytest.raises(ConfigError, match="RFC 8445"):
        IceConfig(ta=0.001)
