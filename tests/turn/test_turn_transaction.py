"""RFC 8489 §6.2.1 retransmission schedule of the sans-IO client transaction."""

from __future__ import annotations

import pytest

from icekit.errors import ConfigError
from icekit.turn.transaction import (
    ClientTransaction,
    TransactionConfig,
    TransactionState,
)


def _drive(tx: ClientTransaction, until: float) -> list[float]:
    """Run the transaction on a virtual clock; return the times it sent."""
    sends: list[float] = []
    now = 0.0
    tx.start(now)
    while True:
        while tx.poll_transmit() is not None:
            sends.append(now)
        deadline = tx.poll_timeout()
        if deadline is None or deadline > until:
            return sends
        now = deadline
        tx.handle_timeout(now)


def test_udp_schedule_matches_rfc_8489_example() -> None:
    tx = ClientTransaction(b"x" * 12, b"req", reliable=False)
    sends = _drive(tx, until=100.0)
    # RFC 8489 §6.2.1: 0, 500, 1500, 3500, 7500, 15500, 31500 ms, then fail at 39500 ms.
    assert sends == [0.0, 0.5, 1.5, 3.5, 7.5, 15.5, 31.5]
    assert tx.state is TransactionState.TIMED_OUT
    assert tx.transmissions == 7


def test_udp_timeout_instant() -> None:
    tx = ClientTransaction(b"x" * 12, b"req", reliable=False)
    tx.start(10.0)
    now = 10.0
    while not tx.timed_out:
        tx.poll_transmit()
        deadline = tx.poll_timeout()
        assert deadline is not None
        now = deadline
        tx.handle_timeout(now)
    assert now == pytest.approx(10.0 + 39.5)
    assert TransactionConfig().total_timeout(reliable=False) == pytest.approx(39.5)


def test_reliable_single_timer() -> None:
    tx = ClientTransaction(b"x" * 12, b"req", reliable=True)
    sends = _drive(tx, until=100.0)
    assert sends == [0.0]
    assert tx.timed_out
    assert TransactionConfig().total_timeout(reliable=True) == 39.5


def test_configurable_schedule() -> None:
    cfg = TransactionConfig(rto=0.1, rc=3, rm=2)
    tx = ClientTransaction(b"x" * 12, b"req", reliable=False, config=cfg)
    sends = _drive(tx, until=100.0)
    assert sends == pytest.approx([0.0, 0.1, 0.3])
    assert cfg.total_timeout(reliable=False) == pytest.approx(0.5)


def test_max_rto_caps_interval() -> None:
    cfg = TransactionConfig(rto=0.5, rc=5, rm=1, max_rto=1.0)
    tx = ClientTransaction(b"x" * 12, b"req", reliable=False, config=cfg)
    assert _drive(tx, until=100.0) == pytest.approx([0.0, 0.5, 1.5, 2.5, 3.5])


def test_single_transmission() -> None:
    cfg = TransactionConfig(rto=0.2, rc=1, rm=3)
    tx = ClientTransaction(b"x" * 12, b"req", reliable=False, config=cfg)
    assert _drive(tx, until=100.0) == [0.0]
    assert tx.timed_out


def test_complete_stops_everything() -> None:
    tx = ClientTransaction(b"x" * 12, b"req", reliable=False)
    tx.start(0.0)
    assert tx.poll_transmit() == b"req"
    tx.handle_timeout(0.5)
    tx.complete()
    assert tx.poll_transmit() is None
    assert tx.poll_timeout() is None
    tx.handle_timeout(1000.0)
    assert tx.state is TransactionState.DONE


def test_cancel() -> None:
    tx = ClientTransaction(b"x" * 12, b"req", reliable=True)
    tx.start(0.0)
    tx.cancel()
    assert tx.poll_transmit() is None
    assert tx.poll_timeout() is None
    assert tx.state is TransactionState.CANCELLED


@pytest.mark.parametrize(
    "kwargs",
    [{"rto": 0}, {"rc": 0}, {"rm": 0}, {"ti": -1}, {"rto": 1.0, "max_rto": 0.5}],
)
def test_bad_config(kwargs: dict[str, float]) -> None:
    with pytest.raises(ConfigError):
        TransactionConfig(**kwargs)  # type: ignore[arg-type]
