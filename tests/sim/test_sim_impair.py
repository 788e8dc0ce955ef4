"""Seeded impairments: reproducible, and close to the configured rates."""

from __future__ import annotations

import itertools
import math
import random
from collections.abc import Callable

import pytest

from tests.sim.fakes import Recorder
from tests.sim.harness import Impairment, Network
from tests.sim.impair import plan_delivery

A = ("192.0.2.1", 1000)
B = ("192.0.2.2", 2000)


def _blast(seed: int, imp: Impairment, n: int, gap: float = 0.001) -> tuple[Network, Recorder]:
    """Send ``n`` numbered datagrams from A to B, one every ``gap`` seconds."""
    net = Network(seed=seed, impairment=imp)
    a = net.attach(Recorder(), {0: A}, name="a")
    b = net.attach(Recorder(), {0: B}, name="b")

    def sender(i: int) -> Callable[[float], None]:
        return lambda now: a.queue(0, B, b"\x00\x01" + i.to_bytes(4, "big"))

    for i in range(n):
        net.call_at(i * gap, sender(i))
    net.run()
    return net, b


def _order(b: Recorder) -> list[int]:
    return [int.from_bytes(d[2:], "big") for _, _, _, d in b.received]


def test_impairment_validation() -> None:
    with pytest.raises(ValueError):
        Impairment(loss=1.5)
    with pytest.raises(ValueError):
        Impairment(delay=-1.0)


def test_same_seed_same_run() -> None:
    imp = Impairment(loss=0.2, delay=0.05, jitter=0.03, reorder=0.1, duplicate=0.1)
    n1, b1 = _blast(42, imp, 500)
    n2, b2 = _blast(42, imp, 500)
    assert b1.received == b2.received
    assert [(r.dropped, r.arrive_at) for r in n1.trace] == [(r.dropped, r.arrive_at) for r in n2.trace]
    _, b3 = _blast(43, imp, 500)
    assert b3.received != b1.received


@pytest.mark.parametrize("loss", [0.05, 0.3, 0.5])
def test_loss_rate(loss: float) -> None:
    n = 10_000
    net, b = _blast(1, Impairment(loss=loss), n)
    lost = len(net.packets(dropped="loss"))
    sigma = math.sqrt(n * loss * (1 - loss))
    assert abs(lost - n * loss) < 4 * sigma
    assert lost + len(b.received) == n


def test_fixed_delay() -> None:
    net, b = _blast(1, Impairment(delay=0.123), 10, gap=0.5)
    for rec in net.trace:
        assert rec.arrive_at is not None
        assert rec.arrive_at - rec.sent_at == pytest.approx(0.123)
    assert _order(b) == list(range(10))


def test_jitter_bounded_and_fifo_without_reordering() -> None:
    net, b = _blast(3, Impairment(delay=0.05, jitter=0.04), 2000)
    delays = [r.arrive_at - r.sent_at for r in net.trace if r.arrive_at is not None]
    assert min(delays) >= 0.05
    # FIFO may add a little queueing on top of the jitter, never more than it.
    assert max(delays) <= 0.05 + 0.04 + 1e-9
    assert len({round(d, 6) for d in delays}) > 100
    assert _order(b) == list(range(2000))


def test_reordering() -> None:
    _, b = _blast(5, Impairment(delay=0.01, reorder=0.1, reorder_delay=0.05), 2000)
    order = _order(b)
    assert sorted(order) == list(range(2000))
    inversions = sum(1 for x, y in itertools.pairwise(order) if x > y)
    assert 100 < inversions < 300


def test_duplication() -> None:
    n = 5000
    net, b = _blast(9, Impairment(duplicate=0.1, delay=0.01), n)
    dups = [r for r in net.trace if r.duplicate]
    assert abs(len(dups) - 0.1 * n) < 4 * math.sqrt(n * 0.1 * 0.9)
    assert len(b.received) == n + len(dups)
    assert set(_order(b)) == set(range(n))


def test_path_impairment_overrides_default() -> None:
    net = Network(seed=1, impairment=Impairment(delay=0.01))
    net.set_impairment(Impairment(delay=0.2), between=(A[0], "192.0.2.3"))
    a = net.attach(Recorder(), {0: A})
    b = net.attach(Recorder(), {0: B})
    c = net.attach(Recorder(), {0: ("192.0.2.3", 3000)})
    a.queue(0, B, b"\x00\x01")
    a.queue(0, ("192.0.2.3", 3000), b"\x00\x01")
    net.run()
    assert b.received[0][0] == pytest.approx(0.01)
    assert c.received[0][0] == pytest.approx(0.2)


def test_plan_delivery_draws_nothing_on_a_perfect_path() -> None:
    rng = random.Random(1)
    state = rng.getstate()
    assert len(plan_delivery(Impairment(delay=0.1), rng)) == 1
    assert rng.getstate() == state


def test_packet_counts_leave_out_duplicates_unless_asked() -> None:
    net, b = _blast(2, Impairment(duplicate=0.5), 200)
    assert len(net.packets(sender="a")) == 200
    assert len(net.packets(duplicates=True)) == len(b.received) > 200


def test_one_way_path_impairment() -> None:
    net = Network(seed=1)
    net.set_impairment(Impairment(loss=1.0), between=(B[0], A[0]), one_way=True)
    a = net.attach(Recorder(), {0: A})
    b = net.attach(Recorder(), {0: B})
    a.queue(0, B, b"\x00\x01")
    b.queue(0, A, b"\x00\x01")
    net.run()
    assert len(b.received) == 1 and a.received == []
    assert net.packets(sender=b)[0].dropped == "loss"
