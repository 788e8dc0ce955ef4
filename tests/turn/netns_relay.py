"""Two TURN relays through coturn inside a private network namespace.

Run by ``test_turn_forgotten_allocation.py`` as
``ip netns exec <ns> python3 -m tests.turn.netns_relay --host <addr> ...``:
the namespace (made by the test) has only its own addresses, so a peer
address outside them is unroutable for the server, as a peer's private host
address is for a TURN server on a public address.

The scenario is the NAT lab's relay-to-relay case in miniature: relay A
sends to a peer's private address, then A and B exchange data through their
relayed addresses, then A asks for one more permission.  It prints one JSON
line: what each relay received, A's events and A's error, if any.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from typing import Any

from icekit.asyncio.relay import TurnRelay
from icekit.asyncio.servers import open_relay
from icekit.errors import ServerError
from icekit.turn import events
from tests.turn.coturn import relay_options, start_coturn

#: A private peer address with no route in the namespace.
PRIVATE_PEER = ("192.168.77.7", 9)


class Side:
    """One relay and what happened to it."""

    def __init__(self, relay: TurnRelay) -> None:
        self.relay = relay
        self.received: list[bytes] = []
        self.events: list[str] = []
        self.error: ServerError | None = None
        self.changed = asyncio.Event()
        relay.on_receive = self._on_receive
        relay.on_event = self._on_event
        relay.on_error = self._on_error

    def _on_receive(self, data: bytes, peer: Any) -> None:
        self.received.append(data)
        self.changed.set()

    def _on_event(self, event: events.Event) -> None:
        self.events.append(type(event).__name__)
        self.changed.set()

    def _on_error(self, error: ServerError) -> None:
        self.error = error
        self.changed.set()

    async def wait(self, done: Any, bound: float) -> bool:
        """Wait until ``done()`` is true (or an error); False after *bound* s."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + bound
        while not done() and self.error is None:
            remaining = deadline - loop.time()
            if remaining <= 0:
                return False
            self.changed.clear()
            try:
                await asyncio.wait_for(self.changed.wait(), remaining)
            except asyncio.TimeoutError:
                return False
        return bool(done())


async def scenario(args: argparse.Namespace) -> dict[str, Any]:
    """Run the exchange against a coturn on ``args.host``; return the findings."""
    with start_coturn(host=args.host, tls=False) as server:
        options = relay_options(timeout=args.bound, relay_private_peers=args.private_peers)
        address, user, pwd = (server.host, server.port), server.username, server.password
        a = Side(await open_relay(address, user, pwd, transport=args.transport, options=options))
        b = Side(await open_relay(address, user, pwd, transport=args.transport, options=options))
        try:
            # 1. A checks the peer's private address (ICE pairs a relayed
            #    candidate with every remote candidate, host ones included).
            a.relay.sendto(b"to-private", PRIVATE_PEER)
            await a.wait(
                lambda: {"PermissionCreated", "PermissionFailed"} & set(a.events),
                args.bound,
            )
            # 2. Relay to relay, both ways, until both got data (or A failed):
            #    each round waits on the next arrival, bounded.
            loop = asyncio.get_running_loop()
            deadline = loop.time() + args.bound
            while (not a.received or not b.received) and a.error is None:
                if loop.time() > deadline:
                    break
                a.relay.sendto(b"a-to-b", b.relay.relayed_address)
                b.relay.sendto(b"b-to-a", a.relay.relayed_address)
                await a.wait(lambda: bool(a.received), 0.3)
            # 3. One more permission on A (as further ICE checks would ask);
            #    a failure makes the client check its allocation (an error).
            created = a.events.count("PermissionCreated")
            a.relay.create_permission(args.extra_peer)
            await a.wait(
                lambda: a.events.count("PermissionCreated") > created, args.bound
            )
            log = server.read_log()
            return {
                "a_received": [d.decode() for d in a.received],
                "b_received": [d.decode() for d in b.received],
                "a_events": a.events,
                "a_error": str(a.error) if a.error else None,
                "a_error_code": a.error.code if a.error else None,
                "server_dropped_allocation": "reason: general" in log,
                "has_extra_permission": a.relay.has_permission(args.extra_peer),
            }
        finally:
            a.relay.close()
            b.relay.close()


def main(argv: list[str] | None = None) -> int:
    """Parse the options, run the scenario, print its JSON line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", required=True)
    parser.add_argument("--extra-peer", required=True)
    parser.add_argument("--transport", choices=("udp", "tcp"), default="udp")
    parser.add_argument("--private-peers", action="store_true")
    parser.add_argument("--bound", type=float, default=10.0)
    args = parser.parse_args(argv)
    result = asyncio.run(scenario(args))
    sys.stdout.write(json.dumps(result) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
