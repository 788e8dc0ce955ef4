"""Benchmark of the sans-IO ICE core (not a test).

Run from the repository root::

    python3 bench/bench_core.py

Prints the CPU time of (a) one complete host-host connection, both agents,
from the first candidate to both connected, on the simulated network and in a
bare direct-delivery loop (the core alone), (b) a 100-pair connection (10 host
candidates on each side, only the lowest-priority pair works, every other
pair has to time out) with its virtual connect time, and (c) one consent
round (a Binding request and its response) on an established pair.
"""

from __future__ import annotations

import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from icekit.candidate import Candidate, CandidateType, candidate_priority
from icekit.ice import ConnectionState, IceAgent, IceConfig
from tests.sim.harness import Impairment, Network

A_ADDR = ("192.0.2.1", 5000)
B_ADDR = ("192.0.2.2", 6000)
OK = (ConnectionState.CONNECTED, ConnectionState.COMPLETED)


def _host(addr: tuple[str, int], foundation: str) -> Candidate:
    return Candidate(
        foundation=foundation,
        component=1,
        transport="udp",
        priority=candidate_priority(CandidateType.HOST),
        address=addr[0],
        port=addr[1],
        type=CandidateType.HOST,
    )


def _agents(seed: int) -> tuple[IceAgent, IceAgent]:
    rng_a, rng_b = random.Random(seed), random.Random(seed + 1)
    a = IceAgent(
        IceConfig(),
        controlling=True,
        local_ufrag="ufragA" + str(seed % 10),
        local_pwd="passwordpasswordpasswA" + str(seed % 10),
        rng=rng_a,
    )
    b = IceAgent(
        IceConfig(),
        controlling=False,
        local_ufrag="ufragB" + str(seed % 10),
        local_pwd="passwordpasswordpasswB" + str(seed % 10),
        rng=rng_b,
    )
    return a, b


def _signal(a: IceAgent, b: IceAgent, now: float) -> None:
    ca, cb = _host(A_ADDR, "1"), _host(B_ADDR, "2")
    a.add_local_candidate(ca, 0, now=now)
    b.add_local_candidate(cb, 0, now=now)
    a.set_remote_credentials(b.local_ufrag, b.local_pwd, now=now)
    b.set_remote_credentials(a.local_ufrag, a.local_pwd, now=now)
    a.add_remote_candidate(cb, now=now)
    b.add_remote_candidate(ca, now=now)
    a.start(now)
    b.start(now)


def _connected(a: IceAgent, b: IceAgent) -> bool:
    return a.state in OK and b.state in OK


def connection_in_simulator(n: int) -> float:
    """CPU seconds per connection, simulator included."""
    total = 0.0
    for i in range(n):
        net = Network(seed=i, impairment=Impairment(delay=0.01))
        a, b = _agents(i)
        net.attach(a, {0: A_ADDR}, name="A")
        net.attach(b, {0: B_ADDR}, name="B")
        t0 = time.process_time()
        _signal(a, b, net.now)
        net.run(until=lambda a=a, b=b: _connected(a, b), max_time=5)  # type: ignore[misc]
        total += time.process_time() - t0
    return total / n


def connection_direct(n: int) -> float:
    """CPU seconds per connection with instant delivery and no simulator."""
    total = 0.0
    for i in range(n):
        a, b = _agents(i)
        routes = ((a, A_ADDR, b), (b, B_ADDR, a))
        t0 = time.process_time()
        now = 0.0
        _signal(a, b, now)
        while not _connected(a, b):
            moved = False
            for agent, src, peer in routes:
                tx = agent.poll_transmit()
                while tx is not None:
                    peer.handle_stun(now, 0, src, tx.data)
                    moved = True
                    tx = agent.poll_transmit()
            if not moved:
                deadlines = [
                    t for t in (a.poll_timeout(), b.poll_timeout()) if t is not None
                ]
                now = max(now, min(deadlines))
                a.handle_timeout(now)
                b.handle_timeout(now)
        total += time.process_time() - t0
    return total / n


def _many(addr_base: str, port: int, count: int) -> list[tuple[Candidate, tuple[str, int]]]:
    out = []
    for i in range(count):
        addr = (f"{addr_base}{i + 1}", port)
        cand = Candidate(
            foundation=f"{port}x{i}",
            component=1,
            transport="udp",
            priority=candidate_priority(CandidateType.HOST, 65535 - i),
            address=addr[0],
            port=addr[1],
            type=CandidateType.HOST,
        )
        out.append((cand, addr))
    return out


def connection_100_pairs(n: int, side: int = 10) -> tuple[float, float]:
    """CPU seconds per connection and virtual seconds to connect, 10 x 10 pairs.

    Every host but the two holding the lowest-priority candidates drops all
    UDP, so only the worst of the 100 pairs works.
    """
    total = 0.0
    elapsed = 0.0
    for i in range(n):
        net = Network(seed=i, impairment=Impairment(delay=0.01))
        a, b = _agents(i)
        ca, cb = _many("192.0.2.", 5000, side), _many("198.51.100.", 6000, side)
        net.attach(a, {k: addr for k, (_, addr) in enumerate(ca)}, name="A")
        net.attach(b, {k: addr for k, (_, addr) in enumerate(cb)}, name="B")
        for _, addr in ca[:-1] + cb[:-1]:
            net.set_firewall(addr[0])
        t0 = time.process_time()
        now = net.now
        for agent, mine, theirs, peer in ((a, ca, cb, b), (b, cb, ca, a)):
            for k, (cand, _) in enumerate(mine):
                agent.add_local_candidate(cand, k, now=now)
            agent.set_local_end_of_candidates(now=now)
            agent.set_remote_credentials(peer.local_ufrag, peer.local_pwd, now=now)
            for cand, _ in theirs:
                agent.add_remote_candidate(cand, now=now)
            agent.set_remote_end_of_candidates(now=now)
        a.start(now)
        b.start(now)
        elapsed += net.run(until=lambda a=a, b=b: _connected(a, b), max_time=60)  # type: ignore[misc]
        total += time.process_time() - t0
        sp = a.selected_pair
        assert sp is not None and sp.local.addr == ca[-1][1] and sp.remote.addr == cb[-1][1]
    return total / n, elapsed / n


def consent_round(rounds: int) -> float:
    """CPU seconds per consent round (request + response) on an established pair."""
    net = Network(seed=99, impairment=Impairment(delay=0.01))
    a, b = _agents(99)
    net.attach(a, {0: A_ADDR}, name="A")
    net.attach(b, {0: B_ADDR}, name="B")
    _signal(a, b, net.now)
    net.run(until=lambda: _connected(a, b), max_time=5)
    before = a.stats.consent_requests_sent + b.stats.consent_requests_sent
    t0 = time.process_time()
    net.advance(rounds * 2.5)  # both sides send one request per ~5 s
    cpu = time.process_time() - t0
    done = a.stats.consent_requests_sent + b.stats.consent_requests_sent - before
    assert a.state in OK and b.state in OK
    return cpu / done


def main() -> None:
    connection_in_simulator(20)  # warm up
    sim = connection_in_simulator(300)
    direct = connection_direct(300)
    many_cpu, many_virtual = connection_100_pairs(10)
    consent = consent_round(2000)
    print(f"host-host connection, simulator included: {sim * 1e6:8.0f} µs CPU")
    print(f"host-host connection, core only:          {direct * 1e6:8.0f} µs CPU")
    print(f"100 pairs, only the worst works, with sim: {many_cpu * 1e3:7.1f} ms CPU,"
          f" connected after {many_virtual:.2f} s virtual")
    print(f"consent round (request + response):       {consent * 1e6:8.0f} µs CPU")


if __name__ == "__main__":
    main()
