"""TURN benchmark: icekit's TURN client against aioice's, through one coturn.

Run with ``python3 bench/bench_turn.py`` from the repository root (needs
coturn's ``turnserver``, openssl and aioice); ``--quick`` for a smoke run,
``--json FILE`` to keep the raw figures. Measured on loopback:

* allocate: time from "open the relay" to "relayed address known" (the
  401 + Allocate exchange), median of several allocations; icekit over TCP
  and TLS too;
* gather: an agent configured relay-only, from ``gather_candidates()`` to the
  end of gathering (icekit's ``Agent``; aioice's ``Connection`` with the
  relay transport policy; aioice gathers on the machine's interfaces);
* throughput, over UDP with a channel binding (ChannelData), datagrams of
  1,200 bytes between the relay and a plain UDP socket:

  - ``up burst``: the client sends as fast as it can (yielding to the loop
    every 64 datagrams); the socket counts what arrives until 0.3 s of silence;
  - ``up`` / ``down`` windowed: at most 32 datagrams in flight (coturn's
    relay socket drops larger bursts), the next window leaves when the
    previous one arrived (or after 1 s), so the figure is the rate the whole
    path sustains without loss, in each direction.

One coturn server serves both clients, everything runs in one process (the
server is another), and each figure comes from one run: on a shared machine
treat them as indications.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from icekit.asyncio.servers import RelayOptions, TlsOptions, open_relay
from tests.turn.coturn import CoturnServer, start_coturn

Address = tuple[str, int]
SIZE = 1200
WINDOW = 32
SILENCE = 0.3
PAYLOAD = bytes(SIZE)


class Counter:
    """Counts datagrams; wakes a waiter once a target count is reached."""

    def __init__(self) -> None:
        self.count = 0
        self.last = 0.0
        self.target = 0
        self.reached = asyncio.Event()

    def hit(self, *_: object) -> None:
        self.count += 1
        self.last = time.perf_counter()
        if self.count >= self.target:
            self.reached.set()

    async def wait_for(self, target: int, bound: float) -> None:
        self.target = target
        if self.count >= target:
            return
        self.reached.clear()
        try:
            await asyncio.wait_for(self.reached.wait(), bound)
        except asyncio.TimeoutError:
            pass

    async def settle(self) -> None:
        start = time.perf_counter()
        while True:
            await asyncio.sleep(SILENCE / 3)
            now = time.perf_counter()
            if self.count and now - self.last > SILENCE:
                return
            if not self.count and now - start > 5:
                return


def figures(received: int, sent: int, elapsed: float) -> dict[str, float]:
    elapsed = max(elapsed, 1e-9)
    return {
        "received": received,
        "sent": sent,
        "loss": 1 - received / sent if sent else 0.0,
        "datagrams_per_s": received / elapsed,
        "mbit_per_s": received * SIZE * 8 / elapsed / 1e6,
    }


async def burst(
    send: Callable[[], None], counter: Counter, count: int
) -> dict[str, float]:
    base = counter.count
    t0 = time.perf_counter()
    for i in range(count):
        send()
        if i % 64 == 63:
            await asyncio.sleep(0)
    await counter.settle()
    return figures(counter.count - base, count, counter.last - t0)


async def windowed(
    send: Callable[[], None], counter: Counter, count: int
) -> dict[str, float]:
    start = counter.count
    lost = 0
    sent = 0
    t0 = time.perf_counter()
    while sent < count:
        n = min(WINDOW, count - sent)
        for _ in range(n):
            send()
        sent += n
        expected = start + sent - lost
        await counter.wait_for(expected, 1.0)
        if counter.count < expected:  # lost ones must not stall the next windows
            lost += expected - counter.count
    elapsed = time.perf_counter() - t0
    return figures(min(counter.count - start, count), count, elapsed)


class Peer:
    """A plain UDP socket on loopback, read with add_reader."""

    def __init__(
        self, loop: asyncio.AbstractEventLoop, on_datagram: Callable[..., None]
    ):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.setblocking(False)
        self.addr: Address = self.sock.getsockname()
        self.loop = loop
        self.on_datagram = on_datagram
        loop.add_reader(self.sock.fileno(), self._readable)

    def _readable(self) -> None:
        for _ in range(64):
            try:
                data, addr = self.sock.recvfrom(65535)
            except BlockingIOError:
                return
            self.on_datagram(data, addr)

    def send_to(self, target: Address) -> Callable[[], None]:
        sock = self.sock

        def send() -> None:
            try:
                sock.sendto(PAYLOAD, target)
            except BlockingIOError:
                pass

        return send

    def close(self) -> None:
        self.loop.remove_reader(self.sock.fileno())
        self.sock.close()


async def measure(
    send_up: Callable[[], None],
    up: Counter,
    send_down: Callable[[], None],
    down: Counter,
    count: int,
) -> dict[str, Any]:
    return {
        "up burst": await burst(send_up, up, count),
        "up": await windowed(send_up, up, count),
        "down": await windowed(send_down, down, count),
    }


# -- icekit ----------------------------------------------------------------------------


async def icekit_allocate(
    server: CoturnServer, transport: str, rounds: int
) -> list[float]:
    times = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        relay = await open_relay(
            server.url(transport), server.username, server.password,
            options=RelayOptions(tls=TlsOptions(cafile=server.cert_file)),
        )
        times.append(time.perf_counter() - t0)
        await relay.aclose()
    return times


async def icekit_throughput(server: CoturnServer, count: int) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    relay = await open_relay(server.url("udp"), server.username, server.password)
    up, down = Counter(), Counter()
    peer = Peer(loop, up.hit)
    relay.on_receive = down.hit
    ready = asyncio.Event()
    relay.on_event = lambda _e: ready.set()
    relay.bind_channel(peer.addr)
    while relay.channel_for(peer.addr) is None:
        await asyncio.wait_for(ready.wait(), 5)
        ready.clear()
    try:

        def send_up() -> None:
            relay.sendto(PAYLOAD, peer.addr)

        return await measure(
            send_up, up, peer.send_to(relay.relayed_address), down, count
        )
    finally:
        peer.close()
        await relay.aclose()


async def icekit_gather(
    server: CoturnServer, transport: str, rounds: int
) -> list[float]:
    """Agent-level: gather_candidates() until on_candidate(None), relay only."""
    from icekit.asyncio.agent import Agent
    from icekit.uri import URI

    uri = URI.parse(server.url(transport), server.username, server.password)
    times = []
    for _ in range(rounds):
        agent = Agent(
            network_types=["udp4"],
            include_loopback=True,
            interface_filter=lambda name: name == "lo",
            urls=[uri],
            candidate_types=["relay"],
        )
        done = asyncio.Event()

        def on_candidate(candidate: object, done: asyncio.Event = done) -> None:
            if candidate is None:
                done.set()

        agent.on_candidate(on_candidate)
        t0 = time.perf_counter()
        await agent.gather_candidates()
        await asyncio.wait_for(done.wait(), 10)
        times.append(time.perf_counter() - t0)
        await agent.close()
    return times


async def aioice_gather(server: CoturnServer, rounds: int) -> list[float]:
    import aioice

    times = []
    for _ in range(rounds):
        connection = aioice.Connection(
            ice_controlling=True,
            turn_server=(server.host, server.port),
            turn_username=server.username,
            turn_password=server.password,
            use_ipv6=False,
            transport_policy=aioice.TransportPolicy.RELAY,
        )
        t0 = time.perf_counter()
        await connection.gather_candidates()
        times.append(time.perf_counter() - t0)
        await connection.close()
    return times


# -- aioice ----------------------------------------------------------------------------


async def aioice_allocate(server: CoturnServer, rounds: int) -> list[float]:
    from aioice.turn import create_turn_endpoint

    times = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        transport, _ = await create_turn_endpoint(
            asyncio.DatagramProtocol,
            (server.host, server.port),
            server.username,
            server.password,
        )
        times.append(time.perf_counter() - t0)
        transport.close()
        await asyncio.sleep(0.05)  # let the Refresh(0) go out
    return times


async def aioice_throughput(server: CoturnServer, count: int) -> dict[str, Any]:
    from aioice.turn import create_turn_endpoint

    loop = asyncio.get_running_loop()
    up, down = Counter(), Counter()

    class Proto(asyncio.DatagramProtocol):
        def datagram_received(self, data: bytes, addr: Any) -> None:
            down.hit()

    transport, _ = await create_turn_endpoint(
        Proto, (server.host, server.port), server.username, server.password
    )
    peer = Peer(loop, up.hit)
    try:
        # aioice binds a channel on the first send and waits for it.
        transport.sendto(b"warm-up", peer.addr)
        await up.wait_for(1, 5.0)

        def send_up() -> None:
            transport.sendto(PAYLOAD, peer.addr)

        relayed = transport.get_extra_info("sockname")
        return await measure(send_up, up, peer.send_to(relayed), down, count)
    finally:
        peer.close()
        transport.close()
        await asyncio.sleep(0.05)


# -- main ------------------------------------------------------------------------------


def summary(times: list[float]) -> dict[str, float]:
    return {"median_ms": statistics.median(times) * 1e3, "min_ms": min(times) * 1e3}


async def run(server: CoturnServer, quick: bool) -> dict[str, Any]:
    rounds = 3 if quick else 15
    count = 5_000 if quick else 50_000
    results: dict[str, Any] = {"allocate": {}, "throughput": {}}
    results["allocate"]["icekit-udp"] = summary(
        await icekit_allocate(server, "udp", rounds)
    )
    results["allocate"]["aioice-udp"] = summary(await aioice_allocate(server, rounds))
    results["allocate"]["icekit-tcp"] = summary(
        await icekit_allocate(server, "tcp", rounds)
    )
    results["allocate"]["icekit-tls"] = summary(
        await icekit_allocate(server, "tls", rounds)
    )
    try:
        gather_udp = await icekit_gather(server, "udp", rounds)
    except ImportError:  # the asyncio Agent is not there
        pass
    else:
        results["gather"] = {"icekit-udp": summary(gather_udp)}
        results["gather"]["aioice-udp"] = summary(await aioice_gather(server, rounds))
    results["throughput"]["icekit"] = await icekit_throughput(server, count)
    results["throughput"]["aioice"] = await aioice_throughput(server, count)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="short smoke run")
    parser.add_argument("--json", help="write the raw figures to this file")
    args = parser.parse_args()
    with start_coturn() as server:
        results = asyncio.run(run(server, args.quick))
    print("time to allocate a relay (ms, median / min):")
    for name, timing in results["allocate"].items():
        print(f"  {name:12s} {timing['median_ms']:7.2f} / {timing['min_ms']:7.2f}")
    if "gather" in results:
        print("time to gather a relay candidate, relay only (ms, median / min):")
        for name, timing in results["gather"].items():
            print(f"  {name:12s} {timing['median_ms']:7.2f} / {timing['min_ms']:7.2f}")
    print(f"throughput through coturn, UDP, ChannelData, {SIZE}-byte datagrams:")
    for name, modes in results["throughput"].items():
        for mode, r in modes.items():
            print(
                f"  {name:7s} {mode:9s} {r['datagrams_per_s']:9.0f} datagrams/s "
                f"{r['mbit_per_s']:7.1f} Mbit/s  loss {r['loss'] * 100:5.1f}%"
            )
    if args.json:
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump(results, fh, indent=2)


if __name__ == "__main__":
    main()
