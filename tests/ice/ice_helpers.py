"""Helpers for the ICE core tests: agents, candidates and a connected pair."""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from icekit.candidate import (
    Candidate,
    CandidateType,
    candidate_priority,
    compute_foundation,
)
from icekit.ice import ConnectionState, IceAgent, IceConfig
from icekit.ice import events as ev
from icekit.types import Address
from tests.sim.harness import Network


def cand(addr: Address, typ: str = "host", *, local_pref: int = 65535,
         related: Address | None = None, transport: str = "udp") -> Candidate:
    """A UDP candidate of type ``typ`` at ``addr`` with a realistic priority."""
    ctype = CandidateType(typ)
    base_ip = related[0] if related is not None else addr[0]
    server = None if ctype is CandidateType.HOST else "203.0.113.1"
    return Candidate(
        foundation=compute_foundation(ctype, base_ip, server, transport),
        component=1, transport=transport,
        priority=candidate_priority(ctype, local_pref),
        address=addr[0], port=addr[1], type=ctype,
        related_address=related[0] if related else None,
        related_port=related[1] if related else None)


_ALPHABET = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+/"


def creds(rng: random.Random) -> tuple[str, str]:
    """A random (ufrag, pwd) that satisfies RFC 8445 §5.3."""
    ufrag = "".join(rng.choice(_ALPHABET) for _ in range(8))
    pwd = "".join(rng.choice(_ALPHABET) for _ in range(24))
    return ufrag, pwd


def make_agent(seed: int, controlling: bool, config: IceConfig | None = None,
               tie_breaker: int | None = None) -> IceAgent:
    """A deterministic agent."""
    rng = random.Random(seed)
    ufrag, pwd = creds(rng)
    return IceAgent(config or IceConfig(), controlling=controlling, local_ufrag=ufrag,
                    local_pwd=pwd, tie_breaker=tie_breaker, rng=rng)


@dataclass
class Peer:
    """An agent with its sockets (socket_id -> local address) and candidates."""

    agent: IceAgent
    sockets: dict[int, Address]
    candidates: list[tuple[Candidate, int]] = field(default_factory=list)
    name: str = ""


def host_peer(seed: int, controlling: bool, addrs: list[Address], *,
              config: IceConfig | None = None, tie_breaker: int | None = None,
              name: str = "") -> Peer:
    """A peer with one host candidate per address (socket ids 0, 1, ...)."""
    agent = make_agent(seed, controlling, config, tie_breaker)
    sockets = dict(enumerate(addrs))
    cands = [(cand(a, local_pref=65535 - i), i) for i, a in enumerate(addrs)]
    return Peer(agent, sockets, cands, name)


def exchange(a: Peer, b: Peer, *, candidates: bool = True, eoc: bool = True) -> None:
    """Signal credentials (and candidates, end-of-candidates) both ways."""
    a.agent.set_remote_credentials(b.agent.local_ufrag, b.agent.local_pwd)
    b.agent.set_remote_credentials(a.agent.local_ufrag, a.agent.local_pwd)
    for p in (a, b):
        for c, sid in p.candidates:
            p.agent.add_local_candidate(c, sid)
        if eoc:
            p.agent.set_local_end_of_candidates()
    if candidates:
        for src, dst in ((a, b), (b, a)):
            for c, _ in src.candidates:
                dst.agent.add_remote_candidate(c)
            if eoc:
                dst.agent.set_remote_end_of_candidates()


def attach(net: Network, *peers: Peer) -> None:
    """Attach the peers' agents to the simulated network."""
    for p in peers:
        net.attach(p.agent, p.sockets, name=p.name or f"ep{id(p)}")


def both_connected(a: IceAgent, b: IceAgent) -> bool:
    """Both have a selected pair and a connected/completed state."""
    ok = (ConnectionState.CONNECTED, ConnectionState.COMPLETED)
    return a.state in ok and b.state in ok and a.selected_pair is not None \
        and b.selected_pair is not None


def types_of(agent: IceAgent) -> tuple[str, str]:
    """(local type, remote type) of the selected pair."""
    sp = agent.selected_pair
    assert sp is not None
    return str(sp.local.type), str(sp.remote.type)


def agree(a: IceAgent, b: IceAgent) -> None:
    """Both sides selected the same path (each side's local is the other's remote)."""
    pa, pb = a.selected_pair, b.selected_pair
    assert pa is not None and pb is not None
    assert pa.local.addr == pb.remote.addr or pa.local.type is CandidateType.HOST
    assert pb.local.addr == pa.remote.addr or pb.local.type is CandidateType.HOST


def states(net: Network, agent: IceAgent) -> list[str]:
    """The connection states ``agent`` went through, in order."""
    return [str(e.state) for e in net.events_of(agent, ev.ConnectionStateChanged)]


def no_internal_errors(*agents: IceAgent) -> None:
    """The catch-all in handle_stun never fired."""
    for a in agents:
        assert a.stats.dropped["internal_error"] == 0, a.stats
