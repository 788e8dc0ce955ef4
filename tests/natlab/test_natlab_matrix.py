"""The NAT matrix: two icekit agents connect through every pair of lab NATs.

Each row builds a verified lab with coturn (STUN + TURN over UDP, TCP and TLS),
runs a controlling agent behind side a and a controlled one behind side b
(``agent_runner.py`` subprocesses in the host namespaces, signalling through
the test's pipes), exchanges data both ways and checks the selected pair:
direct (host / srflx / prflx) wherever plain UDP hole punching can connect the
two NATs, relayed only where it cannot (see ``nat.direct_path_exists``; the
lab's own tests check that table with raw sockets).

The module turns itself on once ``icekit.Agent`` exists with STUN and TURN
gathering; until then it is skipped with the reason.
"""

from __future__ import annotations

import itertools
import time

import pytest

from tests.natlab.conftest import LabFactory
from tests.natlab.lab import Impairment, SideSpec
from tests.natlab.nat import NatType, direct_path_exists
from tests.natlab.scenario import (
    AgentProcess,
    PairResult,
    connect_pair,
    is_relay,
    turn_urls,
)
from tests.natlab.turnd import missing_turnserver

_MISSING = missing_turnserver()

pytestmark = [
    pytest.mark.netns,
    pytest.mark.coturn,
    pytest.mark.skipif(_MISSING is not None, reason=str(_MISSING)),
]

ALL_PAIRS = list(itertools.combinations_with_replacement(list(NatType), 2))

#: Bound on gathering + connecting for one row on an unimpaired lab (seconds).
CONNECT_BOUND = 20.0
#: Bound with 10 % loss and 100 ms delay on both access links (seconds).
IMPAIRED_CONNECT_BOUND = 30.0
#: Consent timeouts used by the mapping-change rows (seconds).
DISCONNECTED_TIMEOUT = 2.0
FAILED_TIMEOUT = 6.0
KEEPALIVE_INTERVAL = 0.5
#: How long a valid relayed pair waits for a better one in rows that expect a
#: direct pair (seconds).  The default (0.5 s) makes "direct or relay" a race
#: a loaded machine or a lossy link can lose: the agent then, as designed,
#: settles on the relay.  These rows check that a direct pair is found, so the
#: relay only wins once no direct pair has validated for this long.
DIRECT_ROW_RELAY_WAIT = 10.0


def _relay_wait_args(kind: str) -> list[str]:
    """Agent arguments for a row expecting a pair of *kind*."""
    if kind == "relay":
        return []
    return ["--relay-acceptance-min-wait", str(DIRECT_ROW_RELAY_WAIT)]


def expected_kind(a: NatType, b: NatType) -> str:
    """The expected selected pair: "host", "direct" or "relay"."""
    if a is NatType.NONE and b is NatType.NONE:
        return "host"
    return "direct" if direct_path_exists(a, b) else "relay"


def check_pair(result: PairResult, kind: str) -> None:
    """Assert a connected pair of the *kind* expected, with data both ways."""
    assert result.connected, result.describe()
    assert result.exchanged is not None and result.exchanged.get("echoed") == 5, result.describe()
    local_a, local_b = result.local_a, result.local_b
    if kind == "relay":
        assert is_relay(local_a) or is_relay(local_b), result.describe()
    else:
        assert not is_relay(local_a) and not is_relay(local_b), result.describe()
    if kind == "host":
        assert local_a and local_a["type"] == "host", result.describe()
        assert local_b and local_b["type"] == "host", result.describe()


@pytest.mark.parametrize("a,b", ALL_PAIRS, ids=str)
def test_matrix(natlab: LabFactory, a: NatType, b: NatType) -> None:
    lab = natlab(a, b, turn=True)
    kind = expected_kind(a, b)
    result = connect_pair(lab, extra_args=_relay_wait_args(kind), timeout=CONNECT_BOUND)
    print(f"{a} x {b}: {result.describe()}")
    check_pair(result, kind)


@pytest.mark.parametrize("other", [NatType.PORT_RESTRICTED, NatType.NONE], ids=str)
def test_matrix_udp_blocked(natlab: LabFactory, other: NatType) -> None:
    lab = natlab(SideSpec(NatType.PORT_RESTRICTED, udp_blocked=True), other, turn=True)
    result = connect_pair(lab, timeout=CONNECT_BOUND)
    print(f"udp-blocked x {other}: {result.describe()}")
    check_pair(result, "relay")
    # Only TCP leaves side a: its end of the pair is a relay reached over TCP or TLS.
    assert is_relay(result.local_a), result.describe()
    proto = (result.local_a or {}).get("relay_protocol")
    assert proto in (None, "tcp", "tls"), result.describe()


def test_matrix_port_restricted_with_loss_and_delay(natlab: LabFactory) -> None:
    impaired = SideSpec(
        NatType.PORT_RESTRICTED, impairment=Impairment(loss=0.1, delay=0.1, jitter=0.01, seed=5)
    )
    lab = natlab(impaired, impaired, turn=True)
    result = connect_pair(
        lab, extra_args=_relay_wait_args("direct"), timeout=IMPAIRED_CONNECT_BOUND
    )
    print(f"port-restricted x port-restricted, 10 % loss, 100 ms: {result.describe()}")
    check_pair(result, "direct")


def _consent_args() -> list[str]:
    return [
        "--disconnected-timeout", str(DISCONNECTED_TIMEOUT),
        "--failed-timeout", str(FAILED_TIMEOUT),
        "--keepalive-interval", str(KEEPALIVE_INTERVAL),
    ]


def test_matrix_mapping_flushed_while_connected_recovers(natlab: LabFactory) -> None:
    lab = natlab(NatType.PORT_RESTRICTED, NatType.PORT_RESTRICTED, turn=True)
    result = connect_pair(
        lab, extra_args=_consent_args() + _relay_wait_args("direct"), timeout=CONNECT_BOUND,
        close=False,
    )
    check_pair(result, "direct")
    lab.flush_nat(lab.sides[0])
    lab.flush_nat(lab.sides[1])
    # Masquerade gives the same ports back on the next outbound packet: the
    # consent checks (RFC 7675) re-open the path and data flows again.
    result.a.send(cmd="exchange", count=5, timeout=FAILED_TIMEOUT)
    exchanged = result.a.wait_for("exchanged", timeout=FAILED_TIMEOUT + 10)
    assert exchanged.get("echoed") == 5, (exchanged, result.a.states())
    assert "failed" not in result.a.states() + result.b.states()
    _close(result)


def test_matrix_mapping_changed_while_connected_fails_in_time(natlab: LabFactory) -> None:
    lab = natlab(NatType.PORT_RESTRICTED, NatType.PORT_RESTRICTED, turn=True)
    # STUN only: no relay to fall back on, so the change must be noticed.
    assert lab.turn is not None
    result = connect_pair(
        lab, server_args=["--stun", lab.turn.stun_urls()[0]], extra_args=_consent_args(),
        timeout=CONNECT_BOUND, close=False,
    )
    check_pair(result, "direct")
    lab.remap_nat(lab.sides[0])  # side a's NAT now maps to other ports: the pair is dead
    bound = FAILED_TIMEOUT + DISCONNECTED_TIMEOUT + 5.0
    for proc in (result.a, result.b):
        assert _reaches_state(proc, "failed", bound), proc.states()
        states = proc.states()
        # RFC 8445 §8.3 / RFC 7675: disconnected first, then failed.
        assert states.index("disconnected") < states.index("failed"), states
    _close(result)


def _reaches_state(proc: AgentProcess, state: str, timeout: float) -> bool:
    """Whether *proc* reports *state* within *timeout* (counting states already seen)."""
    deadline = time.monotonic() + timeout
    while state not in proc.states():
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        event = proc.wait_for("state", timeout=left)
        if event["event"] != "state":  # timeout, error or exit: nothing more will come
            return state in proc.states()
    return True


def _close(result: PairResult) -> None:
    for proc in (result.a, result.b):
        if proc.proc.poll() is None and "closed" not in [e["event"] for e in proc.events]:
            proc.send(cmd="close")
            proc.wait_for("closed", timeout=10)


@pytest.mark.parametrize("icekit_side", ["controlling", "controlled"])
def test_matrix_interop_with_aioice(natlab: LabFactory, icekit_side: str) -> None:
    lab = natlab(NatType.PORT_RESTRICTED, NatType.PORT_RESTRICTED, turn=True)
    impl_a, impl_b = ("icekit", "aioice") if icekit_side == "controlling" else ("aioice", "icekit")
    # aioice takes one STUN and one TURN server: the first of each is used.
    result = connect_pair(
        lab, impl_a=impl_a, impl_b=impl_b, server_args=turn_urls(lab, ("udp",)),
        timeout=CONNECT_BOUND,
    )
    print(f"{impl_a} x {impl_b} (port-restricted both): {result.describe()}")
    assert result.connected, result.describe()
    assert result.exchanged is not None and result.exchanged.get("echoed") == 5
