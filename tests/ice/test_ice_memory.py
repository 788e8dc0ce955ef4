"""Memory of a connected agent: a coarse bound that catches accidental growth.

Not a benchmark (bench/bench_conn.py measures RSS per pair): traced bytes
are deterministic for a given Python.  A connected core holds ~4.4 KiB on
CPython 3.11 (7.5 KiB before the memory work of issue 9, 10 KiB with an
HMAC state per message shape); the bound catches that kind of growth (a
state per shape, eager containers, a lost ``__slots__``) with room to spare.
"""

from __future__ import annotations

import gc
import os
import tracemalloc

import icekit
from tests.ice.ice_helpers import attach, both_connected, exchange, host_peer
from tests.sim.harness import Network

#: Bytes one connected core may hold.
BOUND_PER_AGENT = 8 * 1024
PAIRS = 40


def test_connected_core_stays_small() -> None:
    # Only what the package allocates (not the simulator around it).
    filters = [tracemalloc.Filter(True, os.path.join(os.path.dirname(icekit.__file__), "*"))]
    tracemalloc.start()
    try:
        before = tracemalloc.take_snapshot().filter_traces(filters)
        keep = []
        for i in range(PAIRS):
            net = Network(seed=i)
            a = host_peer(2 * i, True, [("192.0.2.1", 5000)], name="A")
            b = host_peer(2 * i + 1, False, [("192.0.2.2", 6000)], name="B")
            attach(net, a, b)
            exchange(a, b)
            a.agent.start(net.now)
            b.agent.start(net.now)
            net.run(until=lambda: both_connected(a.agent, b.agent), max_time=5)
            net.run(max_time=net.now + 12)  # a few consent rounds
            assert both_connected(a.agent, b.agent)
            keep.append((a.agent, b.agent))
        gc.collect()
        after = tracemalloc.take_snapshot().filter_traces(filters)
    finally:
        tracemalloc.stop()
    grown = sum(stat.size_diff for stat in after.compare_to(before, "filename"))
    per_agent = grown / (2 * PAIRS)
    assert per_agent < BOUND_PER_AGENT, f"{per_agent:.0f} bytes per connected agent"
    assert len(keep) == PAIRS
