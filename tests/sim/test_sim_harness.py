"""The run loop: virtual time, termination, and the livelock guard."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.sim.clock import VirtualClock
from tests.sim.fakes import Echo, Pinger, Pong, Recorder
from tests.sim.harness import Impairment, Nat, Network, SimTransmit

A = ("192.0.2.1", 1000)
B = ("192.0.2.2", 2000)


class StuckTimer(Recorder):
    """Wants to be woken at t=1 forever: a livelock."""

    def poll_timeout(self) -> float | None:
        return 1.0


class PastDeadline(Recorder):
    """Returns a deadline in the past once, then none."""

    def __init__(self) -> None:
        super().__init__()
        self.woken: list[float] = []

    def handle_timeout(self, now: float) -> None:
        self.woken.append(now)

    def poll_timeout(self) -> float | None:
        return None if self.woken else 0.5


class Reflector(Recorder):
    """Sends every datagram straight back: two of them ping-pong forever."""

    def handle_stun(self, now: float, socket_id: int, src: tuple[str, int], data: bytes) -> None:
        super().handle_stun(now, socket_id, src, data)
        self.queue(socket_id, src, data)


def test_virtual_clock_never_goes_backwards() -> None:
    clock = VirtualClock(10.0)
    clock.advance_to(10.0)
    clock.advance_to(12.5)
    assert clock.now == 12.5 and clock.elapsed == 2.5
    with pytest.raises(AssertionError, match="backwards"):
        clock.advance_to(12.0)


def test_run_returns_elapsed_and_advance_is_exact() -> None:
    net = Network(start=100.0)
    net.attach(Echo(), {0: B})
    p = net.attach(Pinger(0, B, interval=1.0, count=3, start=100.0), {0: A})
    assert net.run(lambda: len(p.pongs) == 1) == 0.0  # no delay configured
    net.advance(0.25)
    assert net.now == 100.25
    net.run(max_time=None)  # until idle
    assert net.now == 102.0 and len(p.pongs) == 3


def test_until_not_met_in_time_fails_with_context() -> None:
    net = Network()
    net.attach(Recorder(), {0: B}, name="silent")
    p = net.attach(Pinger(0, B, interval=1.0, count=100), {0: A}, name="pinger")

    def got_a_pong() -> bool:
        return bool(p.pongs)

    with pytest.raises(AssertionError, match="got_a_pong") as info:
        net.run(got_a_pong, max_time=5.0)
    assert "pinger" in str(info.value) and "last datagrams" in str(info.value)
    assert net.now == 5.0


def test_idle_before_condition_fails() -> None:
    net = Network()
    net.attach(Recorder(), {0: A})
    with pytest.raises(AssertionError, match="idle"):
        net.run(lambda: False)


def test_livelock_guard_stuck_deadline() -> None:
    net = Network()
    net.attach(StuckTimer(), {0: A}, name="stuck")
    with pytest.raises(AssertionError, match="livelock.*without the clock advancing"):
        net.run(lambda: False, max_steps_per_instant=50)
    assert net.now == 1.0


def test_livelock_guard_zero_delay_ping_pong() -> None:
    net = Network()
    a = net.attach(Reflector(), {0: A})
    net.attach(Reflector(), {0: B})
    a.queue(0, B, b"\x00\x01")
    with pytest.raises(AssertionError, match="livelock"):
        net.run(max_steps_per_instant=100)


def test_total_step_bound() -> None:
    net = Network(impairment=Impairment(delay=0.001))
    a = net.attach(Reflector(), {0: A})
    net.attach(Reflector(), {0: B})
    a.queue(0, B, b"\x00\x01")
    with pytest.raises(AssertionError, match="more than 500 steps"):
        net.run(max_steps=500, max_time=None)


def test_flood_of_transmits_trips_the_guard() -> None:
    class Flood(Recorder):
        def poll_transmit(self) -> SimTransmit | None:
            return SimTransmit(0, B, b"\x00\x01")

    net = Network(drain_limit=1000)
    net.attach(Flood(), {0: A})
    with pytest.raises(AssertionError, match="datagrams at once"):
        net.run()


def test_past_deadline_is_handled_now() -> None:
    net = Network(start=2.0)
    ep = net.attach(PastDeadline(), {0: A})
    net.run(max_time=1.0)
    assert ep.woken == [2.0]


class MonotonicProbe(Pinger):
    """A pinger that checks every ``now`` it is given is not earlier than the last."""

    def __init__(self, dest: tuple[str, int], interval: float, count: int, start: float = 0.0) -> None:
        super().__init__(0, dest, interval=interval, count=count, start=start)
        self.times: list[float] = []

    def _see(self, now: float) -> None:
        assert not self.times or now >= self.times[-1]
        self.times.append(now)

    def handle_stun(self, now: float, socket_id: int, src: tuple[str, int], data: bytes) -> None:
        self._see(now)
        super().handle_stun(now, socket_id, src, data)

    def handle_timeout(self, now: float) -> None:
        self._see(now)
        super().handle_timeout(now)


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 2**32),
    loss=st.floats(0.0, 0.5),
    delay=st.floats(0.0, 0.3),
    jitter=st.floats(0.0, 0.2),
    reorder=st.floats(0.0, 0.5),
    duplicate=st.floats(0.0, 0.3),
    behind_nat=st.booleans(),
)
def test_time_is_monotonic_under_any_impairment(
    seed: int, loss: float, delay: float, jitter: float, reorder: float, duplicate: float, behind_nat: bool
) -> None:
    imp = Impairment(loss=loss, delay=delay, jitter=jitter, reorder=reorder, duplicate=duplicate)
    net = Network(seed=seed, impairment=imp)
    src = A
    if behind_nat:
        nat = net.add_nat(Nat.port_restricted_cone("198.51.100.1"))
        net.add_host("10.0.0.2", behind=nat)
        src = ("10.0.0.2", 1000)
    net.attach(Echo(), {0: B})
    p1 = net.attach(MonotonicProbe(B, 0.05, 40), {0: src})
    p2 = net.attach(MonotonicProbe(B, 0.07, 30, start=0.01), {0: (src[0], 1001)})
    last = net.now
    while net.run(max_time=0.1) > 0 and net.now < 10.0:
        assert net.now >= last
        last = net.now
    assert p1.times and p2.times
    # Nothing is delivered before it was sent.
    assert all(r.arrive_at is not None and r.arrive_at >= r.sent_at for r in net.trace if r.delivered)


def test_checks_run_after_every_step_and_deadlines_are_recorded() -> None:
    net = Network(impairment=Impairment(delay=0.01))
    net.attach(Echo(), {0: B})
    p = net.attach(Pinger(0, B, interval=1.0, count=3), {0: A})
    seen: list[float] = []
    net.add_check(seen.append)
    net.run(lambda: len(p.pongs) == 3)
    assert seen == sorted(seen) and len(seen) == net.steps + 1
    assert [d for _, d in net.deadlines_of(p)] == [0.0, 1.0, 2.0, None]

    def fail(now: float) -> None:
        raise AssertionError(f"invariant broken at {now}")

    net.add_check(fail)
    with pytest.raises(AssertionError, match="invariant broken"):
        net.run(max_time=1.0)


def test_run_until_event() -> None:
    net = Network(impairment=Impairment(delay=0.01))
    net.attach(Echo(), {0: B})
    p = net.attach(Pinger(0, B, interval=1.0, count=3), {0: A}, name="pinger")
    first = net.run_until_event(p, Pong)
    assert first.n == 0 and net.now == pytest.approx(0.02)
    third = net.run_until_event(p, Pong, lambda e: e.n == 2)
    assert third.n == 2 and net.now == pytest.approx(2.02)
    with pytest.raises(AssertionError, match="pinger emits Pong"):
        net.run_until_event(p, Pong, max_time=10.0)


_DETERMINISM_SCRIPT = """
import hashlib
from tests.sim.fakes import Echo, Pinger
from tests.sim.harness import Impairment, Nat, Network
net = Network(seed=11, impairment=Impairment(loss=0.2, delay=0.05, jitter=0.05, reorder=0.2, duplicate=0.2))
nat = net.add_nat(Nat.symmetric("198.51.100.1", mapping_timeout=3.0))
net.add_host("10.0.0.2", behind=nat)
net.attach(Echo(), {0: ("203.0.113.5", 3478), 1: ("203.0.113.6", 3478)})
net.attach(Pinger(0, ("203.0.113.5", 3478), interval=0.3, count=50), {0: ("10.0.0.2", 1)})
net.attach(Pinger(0, ("203.0.113.6", 3478), interval=4.0, count=5), {0: ("10.0.0.2", 2)})
net.run(max_time=None)
print(hashlib.sha256(net.dump_trace().encode()).hexdigest())
"""


def test_runs_do_not_depend_on_hash_seed() -> None:
    import os
    import subprocess
    import sys

    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    digests = set()
    for hash_seed in ("1", "2"):
        env = dict(os.environ, PYTHONHASHSEED=hash_seed)
        out = subprocess.run([sys.executable, "-c", _DETERMINISM_SCRIPT], cwd=root, env=env,
                             capture_output=True, text=True, check=True, timeout=60)
        digests.add(out.stdout.strip())
    assert len(digests) == 1
