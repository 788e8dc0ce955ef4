"""Bounds on what a peer (or an attacker replaying its checks) can make the core store.

* Learned peer-reflexive pairs cannot crowd signalled candidates out of the
  check list (RFC 8445 §6.1.2.5 pruning, with learned prflx pairs first).
* Remote candidates are capped (``IceConfig.max_remote_candidates``).
* The work per received request does not grow with the number of candidates.
"""

from __future__ import annotations

import logging
import sys
from types import FrameType
from typing import Any

import pytest

from icekit.candidate import CandidateType
from icekit.errors import ConfigError
from icekit.ice import IceAgent, IceConfig
from icekit.stun import Message, MessageClass
from tests.ice.ice_helpers import cand
from tests.ice.ice_wire import (
    captured_check,
    drain,
    listening_agent,
)

LOCAL = ("192.0.2.1", 5000)


def _run(agent: IceAgent, now: float, until: float) -> list[tuple[str, int]]:
    """Drive ``agent`` by its deadlines; the destinations of the requests it sent."""
    dests = []
    while True:
        dests += [t.dest for t in drain(agent)
                  if Message.decode(t.data).msg_class == MessageClass.REQUEST]
        deadline = agent.poll_timeout()
        if deadline is None or deadline > until:
            return dests
        now = max(now, deadline)
        agent.handle_timeout(now)


# -- item: a replay fills the check list --------------------------------------

@pytest.mark.parametrize("config", [IceConfig(), IceConfig(max_remote_prflx=100, max_pairs=100)],
                         ids=["defaults", "prflx_cap_equals_pair_limit"])
@pytest.mark.parametrize("typ", ["host", "relay"])
def test_signalled_candidate_gets_a_pair_after_a_replay_flood(config: IceConfig,
                                                              typ: str) -> None:
    agent = listening_agent(config, LOCAL)
    agent.start(0.0)
    for i in range(100):
        agent.handle_stun(0.001 * i, 0, ("198.51.100.1", 10000 + i), captured_check(agent, i))
    drain(agent)
    learned = min(100, config.max_remote_prflx)
    late = cand(("192.0.2.9", 7000), typ, related=LOCAL if typ == "relay" else None)
    agent.add_remote_candidate(late, now=0.2)
    assert any(p.remote.addr == late.addr for p in agent.pairs)
    assert late.addr in _run(agent, 0.2, 30.0)  # and it is checked
    # Every pair formed is in the list or counted as discarded.
    dropped = agent.stats.dropped
    assert len(agent.pairs) + dropped["pair_evicted"] + dropped["pair_limit"] == learned + 1
    assert len(agent.pairs) <= config.max_pairs


def test_prflx_cap_is_well_below_the_pair_limit() -> None:
    config = IceConfig()
    assert config.max_remote_prflx <= config.max_pairs // 4


# -- item: remote candidates are bounded ---------------------------------------

def test_remote_candidates_are_capped(caplog: pytest.LogCaptureFixture) -> None:
    agent = listening_agent(IceConfig(max_remote_candidates=10), LOCAL)
    cands = [cand(("192.0.2.50", 7000 + i)) for i in range(15)]
    with caplog.at_level(logging.WARNING, logger="icekit.ice"):
        results = [agent.add_remote_candidate(c) for c in cands]
    assert results == [True] * 10 + [False] * 5
    assert agent.add_remote_candidate(cands[0]) is True  # known already
    assert len(agent.remote_candidates) == 10
    assert agent.stats.dropped["remote_candidate_limit"] == 5
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1


def test_default_remote_candidate_limit() -> None:
    assert 1000 <= IceConfig().max_remote_candidates <= 5000
    with pytest.raises(ConfigError):
        IceConfig(max_remote_candidates=0)


def _events_per_request(n_remote: int) -> int:
    """Python-level trace events to handle one check from a new source."""
    agent = listening_agent(IceConfig(max_remote_candidates=5100), LOCAL)
    for i in range(n_remote):
        agent.add_remote_candidate(cand((f"10.{i // 250}.{i % 250}.1", 7000)))
    agent.start(0.0)
    for i in range(3):  # warm up: the same code paths as measured below
        agent.handle_stun(1.0, 0, ("198.51.100.1", 20000 + i), captured_check(agent, i))
    drain(agent)
    data = captured_check(agent, 99)
    count = 0

    def tracer(frame: FrameType, event: str, arg: Any) -> Any:
        nonlocal count
        count += 1
        return tracer

    sys.settrace(tracer)
    try:
        agent.handle_stun(1.0, 0, ("198.51.100.2", 30000), data)
    finally:
        sys.settrace(None)
    assert any(c.type is CandidateType.PRFLX and c.port == 30000
               for c in agent.remote_candidates)
    return count


def test_per_request_work_does_not_grow_with_remote_candidates() -> None:
    # Both lists are full (100 pairs); only the number of remote candidates differs.
    small, large = _events_per_request(500), _events_per_request(5000)
    assert large <= small * 1.05 + 50, (small, large)
