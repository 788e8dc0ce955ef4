"""Entry point of the simulated network: import everything from here.

Status: usable since 2026-11-29 20:00 UTC; the API below is stable.

Usage::

    from tests.sim.harness import Network, Nat, Impairment, Behavior

    net = Network(seed=1, impairment=Impairment(delay=0.025))  # 50 ms RTT
    nat = net.add_nat(Nat.symmetric("198.51.100.1"))            # or Nat(ip, mapping=..., filtering=...)
    net.add_host("10.0.0.2", behind=nat)                        # private host
    a = net.attach(agent_a, {0: ("10.0.0.2", 5000)}, name="A")  # socket_id -> local address
    b = net.attach(agent_b, {0: ("203.0.113.7", 6000)}, name="B")  # unknown IP = public host
    srflx = net.reflexive_address(("10.0.0.2", 5000), ("203.0.113.1", 3478))
    net.call_at(1.0, lambda now: agent_b.add_remote_candidate(late))  # trickle, at t=1 s
    net.run(until=lambda: agent_a.selected_pair is not None, max_time=30.0)
    net.events_of(agent_a, ConnectionStateChanged)              # polled events, in order
    net.packets(sender="A", stun_class="request")                # the packet trace, filtered
    net.set_firewall("203.0.113.7")                             # B's host drops all UDP
    net.advance(5.0)                                             # exactly 5 s of virtual time
    net.add_check(lambda now: check_invariants(agent_a, agent_b))  # after every step
    net.attach(StunServer(), {0: ("203.0.113.1", 3478)})         # real Binding exchanges
    net.attach(x, {...}, on_data=lambda now, sid, src, data: ...)  # non-STUN payloads
    net.send(agent_a, 0, dest, b"app data")                      # send from A's socket 0 now
    net.call_every(0.02, lambda now: net.send(agent_a, 0, dest, b"x"), count=100)
    ev = net.run_until_event(agent_a, ConnectionStateChanged, lambda e: str(e.state) == "failed")
    net.inject(("203.0.113.66", 1), dest, b"garbage")            # forged source, public segment

Endpoints need only ``handle_stun``, ``handle_timeout``, ``poll_transmit``,
``poll_timeout`` and ``poll_event`` (see :class:`Endpoint`).

``run`` raises :class:`AssertionError` (with the last datagrams and events)
if ``until`` is not true within ``max_time`` virtual seconds, if nothing is
left to do, or on livelock (too many steps at one instant, or in total).
See ``docs/simulation.md`` for the full guide.
"""

from __future__ import annotations

from .clock import VirtualClock
from .endpoint import Endpoint, SimTransmit, TransmitLike
from .impair import PERFECT, Impairment
from .nat import Behavior, Mapping, Nat
from .network import DataHandler, Host, Network
from .stun_server import StunServer
from .trace import ERROR, INDICATION, REQUEST, SUCCESS, PacketRecord, stun_kind

EIM = Behavior.ENDPOINT_INDEPENDENT
ADM = Behavior.ADDRESS_DEPENDENT
APDM = Behavior.ADDRESS_AND_PORT_DEPENDENT

__all__ = [
    "ADM",
    "APDM",
    "EIM",
    "ERROR",
    "INDICATION",
    "PERFECT",
    "REQUEST",
    "SUCCESS",
    "Behavior",
    "DataHandler",
    "Endpoint",
    "Host",
    "Impairment",
    "Mapping",
    "Nat",
    "Network",
    "PacketRecord",
    "SimTransmit",
    "StunServer",
    "TransmitLike",
    "VirtualClock",
    "stun_kind",
]
