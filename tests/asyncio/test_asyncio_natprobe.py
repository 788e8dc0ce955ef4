"""``icekit.probe_nat`` and ``icekit nat-probe`` on loopback.

A scripted RFC 5780 server listens on two loopback addresses and two ports;
it fakes the NAT by the mapped address it reports (one port per server
address or per address and port) and by the answers it drops (filtering), so
every classification branch runs without a NAT.  coturn with RFC 5780 off
must give "inconclusive".
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import subprocess
import sys
from collections.abc import AsyncIterator

import pytest

import icekit
from icekit.cli import main
from icekit.stun import Attr, Message, MessageClass, Method
from tests.asyncio.helpers import run, unbuffered_env
from tests.turn.coturn import coturn_server

IPS = ("127.0.0.1", "127.0.0.2")
Address = tuple[str, int]


class FakeServer(asyncio.DatagramProtocol):
    """One of the four sockets of the scripted RFC 5780 server."""

    def __init__(self, owner: Rfc5780Server, local: Address) -> None:
        self.owner, self.local = owner, local
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: Address) -> None:
        self.owner.answer(self.local, data, (addr[0], addr[1]))


class Rfc5780Server:
    """*mapping*: how the reported port depends on the server address asked;
    *filtering*: which changed sources are dropped; *honour_change*: False
    answers CHANGE-REQUEST from the address asked."""

    def __init__(self, mapping: str, filtering: str, honour_change: bool = True,
                 other: bool = True, lossy: bool = False) -> None:
        self.mapping, self.filtering = mapping, filtering
        self.lossy = lossy
        self.seen: set[bytes] = set()
        self.honour_change, self.other = honour_change, other
        self.sockets: dict[Address, FakeServer] = {}
        self.ports: tuple[int, int] = (0, 0)

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        ports: list[int] = []
        for _ in range(2):
            for attempt in range(20):
                port = 0
                opened: list[FakeServer] = []
                try:
                    for ip in IPS:
                        _, proto = await loop.create_datagram_endpoint(
                            lambda ip=ip: FakeServer(self, (ip, 0)), local_addr=(ip, port))
                        assert proto.transport is not None
                        port = proto.transport.get_extra_info("sockname")[1]
                        proto.local = (ip, port)
                        opened.append(proto)
                except OSError:
                    for proto in opened:
                        assert proto.transport is not None
                        proto.transport.close()
                    continue
                for proto in opened:
                    self.sockets[proto.local] = proto
                ports.append(port)
                break
        assert len(ports) == 2
        self.ports = (ports[0], ports[1])

    def close(self) -> None:
        for proto in self.sockets.values():
            if proto.transport is not None:
                proto.transport.close()

    @property
    def url(self) -> str:
        return f"stun:{IPS[0]}:{self.ports[0]}"

    def answer(self, local: Address, data: bytes, src: Address) -> None:
        request = Message.decode(data)
        if self.lossy and request.transaction_id not in self.seen:
            self.seen.add(request.transaction_id)
            return  # the first copy of every request is lost: the retransmission must do
        change = request.get(Attr.CHANGE_REQUEST) or 0
        ip_i, port_i = IPS.index(local[0]), self.ports.index(local[1])
        if self.honour_change:
            ip_i ^= bool(change & 0x04)
            port_i ^= bool(change & 0x02)
        source = (IPS[ip_i], self.ports[port_i])
        if source[0] != local[0] and self.filtering != "endpoint-independent":
            return  # an address-dependent filter drops a new source address
        if source[1] != local[1] and self.filtering == "address-and-port-dependent":
            return
        offset = {"endpoint-independent": 0, "address-dependent": IPS.index(local[0]),
                  "address-and-port-dependent": 2 * IPS.index(local[0]) + self.ports.index(local[1])}
        mapped = ("192.0.2.1", 40000 + offset[self.mapping])
        response = Message(Method.BINDING, MessageClass.SUCCESS, transaction_id=request.transaction_id)
        response.add(Attr.XOR_MAPPED_ADDRESS, mapped)
        if self.other:
            response.add(Attr.OTHER_ADDRESS, (IPS[1], self.ports[1]))
            response.add(Attr.RESPONSE_ORIGIN, source)
        transport = self.sockets[source].transport
        assert transport is not None
        transport.sendto(response.encode(fingerprint=True), src)


@contextlib.asynccontextmanager
async def rfc5780_server(**options: object) -> AsyncIterator[Rfc5780Server]:
    server = Rfc5780Server(**options)  # type: ignore[arg-type]
    try:
        await server.start()
        yield server
    finally:
        server.close()


BEHAVIOURS = ["endpoint-independent", "address-dependent", "address-and-port-dependent"]


@pytest.mark.parametrize("mapping", BEHAVIOURS)
@pytest.mark.parametrize("filtering", BEHAVIOURS)
def test_probe_classifies_mapping_and_filtering(mapping: str, filtering: str) -> None:
    async def go() -> icekit.NatProbeResult:
        async with rfc5780_server(mapping=mapping, filtering=filtering) as server:
            return await icekit.probe_nat(server.url, timeout=1.5)

    result = run(go())
    assert result.mapping.value == mapping
    assert result.filtering.value == filtering
    assert result.mapped is not None and result.mapped[0] == "192.0.2.1"
    assert result.local[0] == "127.0.0.1"
    assert result.other_address is not None and result.other_address[0] == "127.0.0.2"
    assert result.hairpinning is False  # nothing listens at the fake mapped address
    expected = (icekit.NatVerdict.DIRECT_LIKELY if mapping == "endpoint-independent"
                else icekit.NatVerdict.TURN_NEEDED)
    assert result.verdict is expected


def test_retransmissions_recover_lost_requests() -> None:
    async def go() -> icekit.NatProbeResult:
        async with rfc5780_server(mapping="address-dependent", filtering="address-dependent",
                                  lossy=True) as server:
            return await icekit.probe_nat(server.url, timeout=1.5)

    result = run(go())
    assert (result.mapping, result.filtering) == (icekit.NatBehaviour.ADDRESS_DEPENDENT,
                                                  icekit.NatBehaviour.ADDRESS_DEPENDENT)


def test_server_ignoring_change_request_is_inconclusive() -> None:
    async def go() -> icekit.NatProbeResult:
        async with rfc5780_server(mapping="endpoint-independent", filtering="endpoint-independent",
                                  honour_change=False) as server:
            return await icekit.probe_nat(server.url, timeout=1.5)

    result = run(go())
    assert result.filtering is icekit.NatBehaviour.INCONCLUSIVE
    assert any("CHANGE-REQUEST" in note for note in result.notes)


def test_no_answer_at_all_is_inconclusive() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as silent:
        silent.bind(("127.0.0.1", 0))  # bound, never read: requests vanish
        port = silent.getsockname()[1]
        result = run(icekit.probe_nat(f"stun:127.0.0.1:{port}", timeout=0.6))
    assert result.verdict is icekit.NatVerdict.INCONCLUSIVE
    assert result.mapped is None
    assert "no answer" in result.summary


def test_cli_without_rfc5780_says_so_and_exits_three(capsys: pytest.CaptureFixture[str]) -> None:
    with coturn_server(tls=False) as coturn:
        assert main(["nat-probe", f"stun:{coturn.host}:{coturn.port}", "--timeout", "2"]) == 3
        lines = capsys.readouterr().out.splitlines()
        assert lines[-1].startswith("inconclusive: server lacks RFC 5780")
        assert "mapping:" in lines[-2] or any(line.startswith("mapping:") for line in lines)
        assert main(["nat-probe", f"stun:{coturn.host}:{coturn.port}", "--json"]) == 3
        record = json.loads(capsys.readouterr().out)
        assert record["verdict"] == "inconclusive"
        assert record["mapped"][0] == "127.0.0.1"
        assert record["other_address"] is None


def test_cli_exit_codes_match_the_verdict(capsys: pytest.CaptureFixture[str]) -> None:
    async def go(mapping: str) -> int:
        async with rfc5780_server(mapping=mapping, filtering="endpoint-independent") as server:
            args = main.__globals__["_parser"]().parse_args(["nat-probe", server.url, "--timeout", "1.5"])
            code: int = await main.__globals__["run_nat_probe"](args)
            return code

    assert run(go("endpoint-independent")) == 0
    assert capsys.readouterr().out.splitlines()[-1].startswith("direct peer-to-peer likely")
    assert run(go("address-and-port-dependent")) == 2
    assert capsys.readouterr().out.splitlines()[-1].startswith("TURN needed")


@pytest.mark.parametrize("argv", [
    ["nat-probe", "stun:"], ["nat-probe", "turn:x"], ["nat-probe", "stun:127.0.0.1", "--timeout", "0"],
    ["nat-probe", "stun:no-such-host.invalid"],
])
def test_cli_errors_exit_one_with_one_line(argv: list[str]) -> None:
    proc = subprocess.run([sys.executable, "-m", "icekit.cli", *argv], capture_output=True, text=True,
                          timeout=30, env=unbuffered_env())
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert proc.stdout == ""
    output = proc.stderr.strip().splitlines()
    assert len(output) == 1 and "Traceback" not in output[0]
