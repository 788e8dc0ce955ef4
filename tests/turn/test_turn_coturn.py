"""STUN and TURN clients against a real coturn server on loopback."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import ssl
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

import pytest

from icekit.asyncio.relay import TurnRelay
from icekit.asyncio.servers import (
    SrflxGatherer,
    TlsOptions,
    discover_srflx,
    open_relay,
    resolve,
    unique_srflx,
)
from icekit.errors import ConfigError, ServerError, ServerUnreachableError, TurnError
from icekit.stun import Message
from icekit.turn import TransactionConfig, events
from icekit.types import Address
from icekit.uri import URI
from tests.turn.coturn import CoturnServer, coturn_server, free_port, relay_options
from tests.turn.udp_proxy import UdpProxy

pytestmark = pytest.mark.coturn

T = TypeVar("T")
# Every test is bounded: no scenario here needs more than a few seconds.
BOUND = 30.0
TRANSPORTS = ["udp", "tcp", "tls"]


def run(coro: Coroutine[Any, Any, T], bound: float = BOUND) -> T:
    return asyncio.run(asyncio.wait_for(coro, bound))


async def wait_until(
    predicate: Callable[[], bool], event: asyncio.Event, bound: float
) -> None:
    """Wait (bounded) until *predicate* holds, re-checking whenever *event* fires."""

    async def loop() -> None:
        while not predicate():
            await event.wait()
            event.clear()

    await asyncio.wait_for(loop(), bound)


class Peer:
    """A plain UDP socket on loopback standing in for a remote peer."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.setblocking(False)
        self.addr: Address = self.sock.getsockname()

    async def recv(self, bound: float = 5.0) -> tuple[bytes, Address]:
        loop = asyncio.get_running_loop()
        got: asyncio.Future[tuple[bytes, Address]] = loop.create_future()

        def readable() -> None:
            try:
                data, addr = self.sock.recvfrom(65535)
            except BlockingIOError:
                return
            if not got.done():
                got.set_result((data, (addr[0], addr[1])))

        loop.add_reader(self.sock.fileno(), readable)
        try:
            return await asyncio.wait_for(got, bound)
        finally:
            loop.remove_reader(self.sock.fileno())

    def close(self) -> None:
        self.sock.close()


class Inbox:
    """Collects what a relay receives, with an event to wait on."""

    def __init__(self, relay: TurnRelay) -> None:
        self.items: list[tuple[bytes, Address]] = []
        self.events: list[events.Event] = []
        self.changed = asyncio.Event()
        relay.on_receive = self._on_receive
        relay.on_event = self._on_event

    def _on_receive(self, data: bytes, peer: Address) -> None:
        self.items.append((data, peer))
        self.changed.set()

    def _on_event(self, event: events.Event) -> None:
        self.events.append(event)
        self.changed.set()

    async def get(self, bound: float = 5.0) -> tuple[bytes, Address]:
        await wait_until(lambda: bool(self.items), self.changed, bound)
        return self.items.pop(0)

    def count(self, kind: type[events.Event]) -> int:
        return sum(1 for e in self.events if isinstance(e, kind))


async def relay_for(server: CoturnServer, transport: str, **options: Any) -> TurnRelay:
    return await open_relay(server.url(transport), server.username, server.password,
                            options=relay_options(cafile=server.cert_file, **options))


# -- STUN (server-reflexive) -------------------------------------------------------------


def test_srflx_udp_from_own_socket(coturn: CoturnServer) -> None:
    async def main() -> None:
        port = free_port()
        mapped = await discover_srflx(
            (coturn.host, coturn.port), local_addr=("127.0.0.1", port)
        )
        # On loopback the reflexive address is the socket's own address.
        assert mapped == ("127.0.0.1", port)
        assert await discover_srflx(f"stun:{coturn.host}:{coturn.port}") is not None

    run(main())


@pytest.mark.parametrize("transport", ["tcp", "tls"])
def test_srflx_over_streams(coturn: CoturnServer, transport: str) -> None:
    async def main() -> None:
        port = coturn.tls_port if transport == "tls" else coturn.port
        mapped = await discover_srflx(
            (coturn.host, port), transport=transport, tls=TlsOptions(cafile=coturn.cert_file)
        )
        assert mapped[0] == "127.0.0.1"
        url = f"stuns:{coturn.host}:{coturn.tls_port}"
        if transport == "tls":
            assert (await discover_srflx(url, tls=TlsOptions(cafile=coturn.cert_file)))[
                0
            ] == "127.0.0.1"

    run(main())


def test_srflx_tls_verifies_certificate_by_default(coturn: CoturnServer) -> None:
    async def main() -> None:
        with pytest.raises(ServerUnreachableError, match="certificate|CERTIFICATE"):
            await discover_srflx(
                (coturn.host, coturn.tls_port), transport="tls", timeout=10
            )
        # Explicitly skipping verification works (test servers only).
        mapped = await discover_srflx(
            (coturn.host, coturn.tls_port), transport="tls", tls=TlsOptions(verify=False)
        )
        assert mapped[0] == "127.0.0.1"

    run(main())


def test_srflx_first_request_dropped_is_retransmitted(coturn: CoturnServer) -> None:
    async def main() -> None:
        proxy = await UdpProxy((coturn.host, coturn.port), lambda i, _d: i == 0).start()
        loop = asyncio.get_running_loop()
        gatherer = SrflxGatherer()
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.bind(("127.0.0.1", 0))
        sock.setblocking(False)
        base = sock.getsockname()

        def readable() -> None:
            try:
                data, src = sock.recvfrom(2048)
            except BlockingIOError:
                return
            assert gatherer.handle_stun(data, src)

        loop.add_reader(sock.fileno(), readable)
        try:
            gatherer.start(
                lambda data, addr: sock.sendto(data, addr), base, proxy.address
            )
            # A second server answers directly (loopback: mapped == base).
            gatherer.start(
                lambda data, addr: sock.sendto(data, addr),
                base,
                (coturn.host, coturn.port),
            )
            results = await gatherer.results(timeout=10.0)
        finally:
            loop.remove_reader(sock.fileno())
            sock.close()
            proxy.close()
        via_proxy, direct = results
        assert via_proxy.ok and direct.ok
        assert proxy.dropped == 1 and len(proxy.seen) == 2
        # Both requests are the same transaction (RFC 8489 §6.2.1).
        assert proxy.seen[0] == proxy.seen[1]
        assert (
            Message.decode(proxy.seen[0]).transaction_id
            == Message.decode(proxy.seen[1]).transaction_id
        )
        # The proxy's upstream socket is what coturn saw.
        assert via_proxy.mapped != base and via_proxy.mapped is not None
        assert direct.mapped == base
        # Deduplication drops the srflx equal to its host candidate.
        assert unique_srflx(results) == [via_proxy]
        assert unique_srflx(results + [via_proxy]) == [via_proxy]

    run(main())


def test_srflx_unreachable_server_times_out_within_bound() -> None:
    async def main() -> None:
        # A bound socket that never answers.
        silent = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        silent.bind(("127.0.0.1", 0))
        try:
            with pytest.raises(ServerUnreachableError, match="did not answer within 0.5 s"):
                await discover_srflx(silent.getsockname(), timeout=0.5)
            gatherer = SrflxGatherer(config=TransactionConfig(rto=0.05, rc=3, rm=2))
            out = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            try:
                gatherer.start(
                    lambda d, a: out.sendto(d, a),
                    ("127.0.0.1", 1),
                    silent.getsockname(),
                )
                (result,) = await gatherer.results(timeout=10.0)
            finally:
                out.close()
            assert not result.ok and result.error is not None
            assert "timed out after 3 attempts" in str(result.error)
        finally:
            silent.close()

    run(main())


# -- TURN allocations ----------------------------------------------------------------------


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_allocate_and_relay_to_udp_peer(coturn: CoturnServer, transport: str) -> None:
    async def main() -> None:
        relay = await relay_for(coturn, transport)
        peer = Peer()
        inbox = Inbox(relay)
        try:
            assert relay.relayed_address[0] == "127.0.0.1"
            assert (
                relay.mapped_address is not None
                and relay.mapped_address[0] == "127.0.0.1"
            )
            assert relay.lifetime == 600
            # Send indications (the permission is created on first use).
            assert relay.sendto(b"ping-1", peer.addr)
            data, src = await peer.recv()
            assert (data, src) == (b"ping-1", relay.relayed_address)
            peer.sock.sendto(b"pong-1", relay.relayed_address)
            assert await inbox.get() == (b"pong-1", peer.addr)
            assert inbox.count(events.PermissionCreated) == 1
            # Then a channel (RFC 8656 §12): ChannelData both ways.
            relay.bind_channel(peer.addr)
            await wait_until(
                lambda: relay.channel_for(peer.addr) is not None, inbox.changed, 5.0
            )
            for size in (1, 2, 3, 4, 5, 1200):  # odd sizes exercise TCP padding
                payload = bytes([size % 251]) * size
                relay.sendto(payload, peer.addr)
                assert await peer.recv() == (payload, relay.relayed_address)
                peer.sock.sendto(payload[::-1], relay.relayed_address)
                assert await inbox.get() == (payload[::-1], peer.addr)
        finally:
            await relay.aclose()
            peer.close()
        assert relay.closed
        assert inbox.count(events.Closed) == 1  # the Deallocate was answered

    run(main())


@pytest.mark.parametrize(
    ("a_transport", "b_transport"), [("udp", "udp"), ("tcp", "tls")]
)
def test_two_allocations_relay_to_each_other(
    coturn: CoturnServer, a_transport: str, b_transport: str
) -> None:
    async def main() -> None:
        a = await relay_for(coturn, a_transport)
        b = await relay_for(coturn, b_transport)
        inbox_a, inbox_b = Inbox(a), Inbox(b)
        try:
            # Both sides need a permission for the other's relayed IP.
            b.create_permission(a.relayed_address[0])
            await wait_until(
                lambda: b.has_permission("127.0.0.1"), inbox_b.changed, 5.0
            )
            a.sendto(b"a->b", b.relayed_address)
            assert await inbox_b.get() == (b"a->b", a.relayed_address)
            b.sendto(b"b->a", a.relayed_address)
            assert await inbox_a.get() == (b"b->a", b.relayed_address)
            a.bind_channel(b.relayed_address)
            b.bind_channel(a.relayed_address)
            await wait_until(
                lambda: a.channel_for(b.relayed_address) is not None,
                inbox_a.changed,
                5.0,
            )
            await wait_until(
                lambda: b.channel_for(a.relayed_address) is not None,
                inbox_b.changed,
                5.0,
            )
            for i in range(20):
                a.sendto(b"x%d" % i, b.relayed_address)
                assert await inbox_b.get() == (b"x%d" % i, a.relayed_address)
                b.sendto(b"y%d" % i, a.relayed_address)
                assert await inbox_a.get() == (b"y%d" % i, b.relayed_address)
        finally:
            await a.aclose()
            await b.aclose()

    run(main())


def test_uri_object_credentials(coturn: CoturnServer) -> None:
    async def main() -> None:
        uri = URI.parse(
            coturn.url("tcp"), username=coturn.username, password=coturn.password
        )
        relay = await open_relay(uri, options=relay_options(timeout=10.0))
        try:
            assert relay.transport == "tcp"
        finally:
            await relay.aclose()

    run(main())


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_wrong_credentials_clear_error(coturn: CoturnServer, transport: str) -> None:
    async def main() -> None:
        with pytest.raises(TurnError) as info:
            await open_relay(coturn.url(transport), username=coturn.username, password="not-the-password", options=relay_options(cafile=coturn.cert_file, timeout=10.0))
        assert info.value.code == 401
        assert "401" in str(info.value) and "Allocate" in str(info.value)

    run(main())


def test_ipv6_relay_refused_on_ipv4_only_server(coturn: CoturnServer) -> None:
    async def main() -> None:
        with pytest.raises(TurnError) as info:
            await open_relay((coturn.host, coturn.port), username=coturn.username, password=coturn.password, options=relay_options(family="ipv6", timeout=10.0))
        assert info.value.code == 440

    run(main())


def test_tls_verification(coturn: CoturnServer) -> None:
    async def main() -> None:
        kwargs: dict[str, Any] = {
            "username": coturn.username,
            "password": coturn.password,
        }
        with pytest.raises(ServerUnreachableError, match="certificate|CERTIFICATE"):
            await open_relay(coturn.url("tls"), **kwargs, options=relay_options(timeout=10.0))
        relay = await open_relay(coturn.url("tls"), **kwargs, options=relay_options(verify=False, timeout=10.0))
        await relay.aclose()
        context = ssl.create_default_context(cafile=coturn.cert_file)
        relay = await open_relay(coturn.url("tls"), **kwargs, options=relay_options(ssl_context=context, timeout=10.0))
        await relay.aclose()

    run(main())


@pytest.mark.parametrize("transport", ["udp", "tcp"])
def test_unreachable_server_times_out_within_bound(transport: str) -> None:
    async def main() -> None:
        # UDP: a socket that never answers; TCP: a listener that never speaks.
        kind = socket.SOCK_DGRAM if transport == "udp" else socket.SOCK_STREAM
        silent = socket.socket(socket.AF_INET, kind)
        silent.bind(("127.0.0.1", 0))
        if transport == "tcp":
            silent.listen(1)
        try:
            with pytest.raises(ServerUnreachableError, match="no allocation within 0.5 s"):
                await open_relay(silent.getsockname(), transport=transport, username="u", password="p", options=relay_options(timeout=0.5))
            # With a short retransmission schedule the transaction itself gives up.
            with pytest.raises(ServerUnreachableError, match="timed out") as info:
                await open_relay(silent.getsockname(), transport=transport, username="u", password="p", options=relay_options(timeout=10.0, transaction=TransactionConfig(rto=0.05, rc=3, rm=2, ti=0.3)))
            assert info.value.code is None
        finally:
            silent.close()

    run(main())


def test_refused_tcp_connection_is_a_clear_error() -> None:
    async def main() -> None:
        port = free_port()
        with pytest.raises(ServerUnreachableError, match="cannot connect"):
            await open_relay(("127.0.0.1", port), transport="tcp", username="u", password="p", options=relay_options(timeout=5.0))

    run(main())


def test_try_alternate_server_followed() -> None:
    with coturn_server() as target:
        alternate = f"{target.host}:{target.port}"
        with coturn_server(alternate_server=alternate, tls=False) as front:

            async def main() -> None:
                relay = await relay_for(front, "udp")
                peer = Peer()
                try:
                    assert relay.server == (target.host, target.port)
                    relay.sendto(b"via alternate", peer.addr)
                    assert await peer.recv() == (
                        b"via alternate",
                        relay.relayed_address,
                    )
                finally:
                    await relay.aclose()
                    peer.close()

            run(main())


def test_allocation_quota_486() -> None:
    with coturn_server(extra_args=("--user-quota", "1")) as server:

        async def main() -> None:
            first = await relay_for(server, "udp")
            try:
                with pytest.raises(TurnError) as info:
                    await relay_for(server, "tcp")
                assert info.value.code == 486
                assert "quota" in str(info.value)
            finally:
                await first.aclose()

        run(main())


def test_refreshes_and_stale_nonces_keep_traffic_flowing() -> None:
    # coturn 4.6.1 grants allocations at least 600 s and keeps permissions for
    # 300 s whatever its options say, so the client is told to use short
    # lifetimes itself (refresh every 0.5 s) while coturn rotates its nonce
    # every second: Refresh, CreatePermission and ChannelBind all meet 438s.
    with coturn_server(stale_nonce=1, tls=False) as server:

        async def main() -> None:
            options: dict[str, Any] = {
                "lifetime": 1,
                "permission_lifetime": 1.0,
                "channel_lifetime": 1.0,
            }
            relay = await relay_for(server, "udp", **options)
            peer = Peer()
            inbox = Inbox(relay)
            try:
                relay.sendto(b"first", peer.addr)
                assert (await peer.recv())[0] == b"first"
                relay.bind_channel(peer.addr)
                rounds = 0
                # Several refresh periods of every kind, with data both ways.
                while (
                    inbox.count(events.AllocationRefreshed) < 6
                    or relay.client.stale_nonces < 3
                ):
                    rounds += 1
                    payload = b"round %d" % rounds
                    relay.sendto(payload, peer.addr)
                    assert await peer.recv() == (payload, relay.relayed_address)
                    peer.sock.sendto(payload, relay.relayed_address)
                    assert await inbox.get() == (payload, peer.addr)
                    await asyncio.wait_for(inbox.changed.wait(), 5.0)
                    inbox.changed.clear()
                assert relay.error is None
                assert relay.channel_for(peer.addr) is not None
                assert inbox.count(events.AllocationLost) == 0
                assert inbox.count(events.PermissionFailed) == 0
                assert inbox.count(events.ChannelBindFailed) == 0
                assert "438" in server.read_log()
            finally:
                await relay.aclose()
                peer.close()

        run(main(), bound=60.0)


def test_server_stopped_reports_loss_over_tcp() -> None:
    with coturn_server(tls=False) as server:
        lost: list[ServerError] = []

        async def main() -> None:
            relay = await relay_for(server, "tcp")
            gone = asyncio.Event()

            def on_error(error: ServerError) -> None:
                lost.append(error)
                gone.set()

            relay.on_error = on_error
            os.kill(server.pid, signal.SIGKILL)
            await asyncio.wait_for(gone.wait(), 10.0)
            relay.close()

        run(main())
        assert lost and "closed the connection" in str(lost[0])


def test_hostnames_resolved_and_verified(coturn: CoturnServer) -> None:
    async def main() -> None:
        # "localhost" is resolved asynchronously (IPv4 asked for); over TLS the
        # certificate is checked against the name (its SAN holds DNS:localhost).
        mapped = await discover_srflx(
            f"stun:localhost:{coturn.port}", families=(socket.AF_INET,)
        )
        assert mapped[0] == "127.0.0.1"
        relay = await open_relay(f"turns:localhost:{coturn.tls_port}", username=coturn.username, password=coturn.password, options=relay_options(cafile=coturn.cert_file, family="ipv4", timeout=10.0))
        try:
            assert relay.server == ("127.0.0.1", coturn.tls_port)
            assert relay.transport == "tls"
        finally:
            await relay.aclose()

    run(main())


def test_resolve_families() -> None:
    async def main() -> None:
        assert await resolve("127.0.0.1", 1) == [("127.0.0.1", 1)]
        assert await resolve("::1", 2) == [("::1", 2)]
        with pytest.raises(ServerUnreachableError, match="family"):
            await resolve("::1", 2, families=(socket.AF_INET,))

    run(main())


def test_ipv6_relayed_address() -> None:
    # RFC 8656 §7.2: REQUESTED-ADDRESS-FAMILY asks an IPv4-reached server for
    # an IPv6 relayed address; data then flows to an IPv6 peer on ::1.
    with coturn_server(ipv6=True, tls=False) as server:

        async def main() -> None:
            relay = await open_relay((server.host, server.port), username=server.username, password=server.password, options=relay_options(family="ipv6", timeout=10.0))
            peer = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
            peer.bind(("::1", 0))
            peer.setblocking(False)
            inbox = Inbox(relay)
            try:
                assert relay.server == (server.host, server.port)
                assert relay.relayed_address[0] == "::1"
                peer_addr = peer.getsockname()[:2]
                relay.sendto(b"over ipv6", peer_addr)
                loop = asyncio.get_running_loop()
                got: asyncio.Future[bytes] = loop.create_future()

                def readable() -> None:
                    if not got.done():
                        got.set_result(peer.recv(2048))

                loop.add_reader(peer.fileno(), readable)
                try:
                    assert await asyncio.wait_for(got, 5.0) == b"over ipv6"
                finally:
                    loop.remove_reader(peer.fileno())
                peer.sendto(b"back", relay.relayed_address)
                assert await inbox.get() == (b"back", peer_addr)
            finally:
                peer.close()
                await relay.aclose()

        run(main())


def test_bad_ca_file_is_a_config_error() -> None:
    async def main() -> None:
        with pytest.raises(ConfigError, match="CA file"):
            await open_relay("turns:127.0.0.1:1", username="u", password="p", options=relay_options(cafile="/nonexistent/ca.pem", timeout=5.0))
        with pytest.raises(ConfigError, match="username and a password"):
            await open_relay("turn:127.0.0.1:1", options=relay_options(timeout=5.0))
        with pytest.raises(ConfigError, match="transport"):
            await open_relay(
                ("127.0.0.1", 1), transport="sctp", username="u", password="p"
            )

    run(main())


def test_allocate_survives_lost_requests_and_responses(coturn: CoturnServer) -> None:
    # Lose the first Allocate (upstream) and the first success (downstream):
    # RFC 8489 §6.2.1 retransmissions carry the exchange; coturn answers the
    # retransmitted Allocate from its transaction cache.
    async def main() -> None:
        proxy = await UdpProxy(
            (coturn.host, coturn.port),
            drop=lambda i, _d: i == 0,
            drop_down=lambda i, d: i == 1,
        ).start()
        try:
            relay = await open_relay(proxy.address, username=coturn.username, password=coturn.password, options=relay_options(transaction=TransactionConfig(rto=0.1), timeout=10.0))
            peer = Peer()
            try:
                relay.sendto(b"after losses", peer.addr)
                assert await peer.recv() == (b"after losses", relay.relayed_address)
            finally:
                peer.close()
                await relay.aclose()
            assert proxy.dropped == 1 and proxy.dropped_down == 1
            methods = [Message.decode(d).msg_class for d in proxy.seen_down[:3]]
            assert methods[1] == methods[2]  # the same success, sent twice
        finally:
            proxy.close()

    run(main())
