"""A minimal RFC 5245 aggressive-nominating peer, as aioice and old stacks behave.

It is controlling, puts USE-CANDIDATE on every check it sends, answers every
authenticated request and retransmits until answered.  Written for tests only.
"""

from __future__ import annotations

import random
from collections import deque

from icekit.candidate import Candidate
from icekit.stun import Attr, Message, MessageClass, Method, short_term_key
from icekit.types import Address
from tests.sim.harness import SimTransmit


class AggressivePeer:
    """Sends USE-CANDIDATE on every check to every remote candidate (one socket)."""

    def __init__(self, seed: int, ufrag: str, pwd: str, local: Candidate) -> None:
        self.rng = random.Random(seed)
        self.ufrag, self.pwd = ufrag, pwd
        self.local = local
        self.remote_ufrag = ""
        self.remote_key = b""
        self.remotes: list[Address] = []
        self.out: deque[SimTransmit] = deque()
        self.pending: dict[bytes, tuple[Address, float, int]] = {}
        self.succeeded: list[Address] = []
        self.next_at: float | None = None

    def set_remote(self, ufrag: str, pwd: str, remotes: list[Address]) -> None:
        self.remote_ufrag = ufrag
        self.remote_key = short_term_key(pwd)
        self.remotes = list(remotes)

    def start(self, now: float, spacing: float = 0.02) -> None:
        for i, dest in enumerate(self.remotes):
            self._check(now + spacing * i, dest, send_now=(i == 0))

    def _check(self, at: float, dest: Address, send_now: bool) -> None:
        tid = self.rng.randbytes(12)
        self.pending[tid] = (dest, at if not send_now else at + 0.5, 0)
        if send_now:
            self._send(tid, dest)

    def _send(self, tid: bytes, dest: Address) -> None:
        msg = Message(Method.BINDING, MessageClass.REQUEST, tid)
        msg.add(Attr.USERNAME, f"{self.remote_ufrag}:{self.ufrag}")
        msg.add(Attr.PRIORITY, 0x6E0000FF)
        msg.add(Attr.ICE_CONTROLLING, 0xFFFFFFFFFFFFFFFF)
        msg.add(Attr.USE_CANDIDATE, None)
        self.out.append(SimTransmit(0, dest, msg.encode(integrity_key=self.remote_key)))

    # -- endpoint protocol ----------------------------------------------------

    def handle_stun(self, now: float, socket_id: int, src: Address, data: bytes) -> None:
        msg = Message.decode(data)
        if msg.msg_class == MessageClass.REQUEST:
            assert msg.verify_integrity(short_term_key(self.pwd))
            resp = Message(Method.BINDING, MessageClass.SUCCESS, msg.transaction_id)
            resp.add(Attr.XOR_MAPPED_ADDRESS, src)
            self.out.append(SimTransmit(0, src, resp.encode(short_term_key(self.pwd))))
        elif msg.transaction_id in self.pending:
            dest, _, _ = self.pending.pop(msg.transaction_id)
            if msg.msg_class == MessageClass.SUCCESS:
                self.succeeded.append(dest)

    def handle_timeout(self, now: float) -> None:
        for tid, (dest, at, n) in list(self.pending.items()):
            if at <= now:
                if n >= 6:
                    del self.pending[tid]
                    continue
                self._send(tid, dest)
                self.pending[tid] = (dest, now + 0.5, n + 1)

    def poll_transmit(self) -> SimTransmit | None:
        return self.out.popleft() if self.out else None

    def poll_timeout(self) -> float | None:
        times = [at for _, at, _ in self.pending.values()]
        return min(times) if times else None

    def poll_event(self) -> object | None:
        return None
