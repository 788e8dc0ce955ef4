"""A minimal driver running the sans-IO ICE core on a TURN relay (tests only)."""

from __future__ import annotations

import asyncio
from typing import Any

from icekit.asyncio.relay import TurnRelay
from icekit.ice import ConnectionState, IceAgent, events
from icekit.types import Address

SOCKET_ID = 7


class RelayedCore:
    """Minimal driver: one ICE core whose only socket is a TURN relay."""

    def __init__(self, core: IceAgent, relay: TurnRelay) -> None:
        self.loop = asyncio.get_running_loop()
        self.core = core
        self.relay = relay
        self.timer: asyncio.TimerHandle | None = None
        self.changed = asyncio.Event()
        self.received: list[tuple[bytes, Address]] = []
        self.states: list[ConnectionState] = []
        relay.socket_id = SOCKET_ID
        relay.set_callbacks(self._on_stun, self._on_data)
        core.add_local_candidate(relay.candidate(), SOCKET_ID)
        core.set_local_end_of_candidates()

    def _on_stun(self, socket_id: int, src: Address, data: bytes) -> None:
        self.core.handle_stun(self.loop.time(), socket_id, src, data)
        self.pump()

    def _on_data(self, socket_id: int, src: Address, data: bytes) -> None:
        if self.core.is_valid_source(socket_id, src):
            self.received.append((data, src))
            self.changed.set()

    def pump(self) -> None:
        core = self.core
        while (transmit := core.poll_transmit()) is not None:
            assert transmit.socket_id == SOCKET_ID
            self.relay.sendto(transmit.data, transmit.dest)
        while (event := core.poll_event()) is not None:
            if isinstance(event, events.ConnectionStateChanged):
                self.states.append(event.state)
            if isinstance(event, events.SelectedPairChanged):
                # RFC 8656 §12: the selected pair's peer gets a channel.
                self.relay.bind_channel(event.remote.addr)
            self.changed.set()
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        deadline = core.poll_timeout()
        if deadline is not None:
            self.timer = self.loop.call_at(deadline, self._on_timer)

    def _on_timer(self) -> None:
        self.timer = None
        self.core.handle_timeout(self.loop.time())
        self.pump()

    def send(self, data: bytes) -> None:
        pair = self.core.selected_pair
        assert pair is not None
        self.relay.sendto(data, pair.remote.addr)

    async def wait(self, predicate: Any, bound: float = 15.0) -> None:
        async def loop() -> None:
            while not predicate():
                await self.changed.wait()
                self.changed.clear()

        await asyncio.wait_for(loop(), bound)

    def stop(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
        self.core.close(self.loop.time())
