"""A toy stand-in for the sans-IO ICE core, for testing the asyncio plumbing alone.

It follows the :class:`icekit.ice.IceAgent` call protocol but its "checks" are
tiny messages with a STUN-range first byte (so the I/O layer routes them to
``handle_stun``): ``\\x00Q<ufrag>`` asks, ``\\x00R<ufrag>`` answers. Each side
checks every local/remote pair every 20 ms after ``start``; the first answer
selects that pair and moves the state to connected. Used with
``Agent(core_factory=FakeCore)`` so the tests of the
asyncio layer do not depend on the real core's progress.
"""

from __future__ import annotations

import collections
import random
from dataclasses import dataclass
from typing import Any

from icekit.candidate import Candidate, CandidateType
from icekit.ice import events
from icekit.ice.states import ConnectionState
from icekit.types import Address

__all__ = ["FakeCore", "FakeTransmit"]


@dataclass(frozen=True)
class FakeTransmit:
    """What ``poll_transmit`` returns."""

    socket_id: int
    dest: Address
    data: bytes


class FakeCore:
    """Just enough of an ICE agent to connect two hosts on loopback."""

    def __init__(self, config: Any, *, controlling: bool, local_ufrag: str, local_pwd: str,
                 tie_breaker: int, rng: random.Random) -> None:
        self.controlling = controlling
        self.ufrag = local_ufrag
        self.remote_ufrag: str | None = None
        self.local: list[tuple[Candidate, int]] = []
        self.remote: list[Candidate] = []
        self.out: collections.deque[FakeTransmit] = collections.deque()
        self.events: collections.deque[Any] = collections.deque()
        self.state = ConnectionState.NEW
        self.started = False
        self.deadline: float | None = None
        self.selected: tuple[Candidate, Candidate, int] | None = None

    # inputs
    def add_local_candidate(self, candidate: Candidate, socket_id: int) -> None:
        self.local.append((candidate, socket_id))

    def set_local_end_of_candidates(self) -> None:
        pass

    def add_remote_candidate(self, candidate: Candidate) -> bool:
        self.remote.append(candidate)
        return True

    @property
    def remote_candidates(self) -> list[Candidate]:
        return list(self.remote)

    def set_controlling(self, controlling: bool) -> None:
        assert not self.started, "the role is set before start()"
        self.controlling = controlling

    def set_remote_credentials(self, ufrag: str, pwd: str) -> None:
        self.remote_ufrag = ufrag

    def set_remote_end_of_candidates(self) -> None:
        pass

    def start(self, now: float) -> None:
        self.started = True
        self._set(ConnectionState.CHECKING)
        self.handle_timeout(now)

    def handle_timeout(self, now: float) -> None:
        if not self.started or self.state != ConnectionState.CHECKING:
            self.deadline = None
            return
        for cand, sid in self.local:
            for rem in self.remote:
                if cand.is_ipv6 == rem.is_ipv6:
                    self.out.append(FakeTransmit(sid, rem.addr, b"\x00Q" + self.ufrag.encode()))
        self.deadline = now + 0.02

    def handle_stun(self, now: float, socket_id: int, src: Address, data: bytes) -> None:
        if data[:2] == b"\x00Q":
            self.out.append(FakeTransmit(socket_id, src, b"\x00R" + self.ufrag.encode()))
        elif data[:2] == b"\x00R" and self.started and self.selected is None:
            local = next(c for c, s in self.local if s == socket_id)
            remote = next((r for r in self.remote if r.addr == src), None)
            if remote is None:
                remote = Candidate(foundation="1", component=1, transport="udp", priority=1,
                                   address=src[0], port=src[1], type=CandidateType.PRFLX)
                self.remote.append(remote)
            self.selected = (local, remote, socket_id)
            self.events.append(events.SelectedPairChanged(local, remote, socket_id))
            self._set(ConnectionState.CONNECTED)

    def _set(self, state: ConnectionState) -> None:
        self.state = state
        self.events.append(events.ConnectionStateChanged(state))

    def is_valid_source(self, socket_id: int, src: Address) -> bool:
        return self.selected is not None and self.selected[2] == socket_id and self.selected[1].addr == src

    def restart(self, now: float, ufrag: str, pwd: str) -> None:
        self.ufrag = ufrag
        self.local.clear()
        self.remote.clear()

    def close(self, now: float) -> None:
        if self.state != ConnectionState.CLOSED:
            self._set(ConnectionState.CLOSED)
        self.deadline = None

    # outputs
    def poll_transmit(self) -> FakeTransmit | None:
        return self.out.popleft() if self.out else None

    def poll_event(self) -> Any:
        return self.events.popleft() if self.events else None

    def poll_timeout(self) -> float | None:
        return self.deadline
