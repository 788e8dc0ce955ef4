"""NAT behaviour discovery (RFC 5780 §4) over UDP: :func:`probe_nat`.

Against a STUN server that supports RFC 5780 (its answers carry
OTHER-ADDRESS, and it honours CHANGE-REQUEST), the probe classifies the NAT
in RFC 4787 terms:

* mapping (RFC 5780 §4.3) from one socket: Test I to the primary address,
  Test II to the alternate IP and primary port, Test III to the alternate IP
  and port; the same mapped address for I and II is endpoint-independent,
  for II and III address-dependent, else address-and-port-dependent; a
  mapped address equal to the local one is no NAT;
* filtering (§4.4) from a second, fresh socket (the mapping tests opened
  the NAT towards the alternate address, which would hide address-dependent
  filtering): Binding with CHANGE-REQUEST "change IP and port" answered is
  endpoint-independent, "change port" answered is address-dependent, neither
  is address-and-port-dependent;
* hairpinning (§4.5): a request sent to our own mapped address comes back.

Every request is retransmitted on an RFC 8489 §6.2.1 schedule scaled to the
*timeout*; a missing answer where one is needed, a server that ignores
CHANGE-REQUEST or lacks OTHER-ADDRESS makes the result inconclusive, with a
note saying why, rather than a guess.
"""

from __future__ import annotations

import asyncio
import dataclasses
import enum
import logging
import secrets
import socket
from typing import Any

from ..errors import ConfigError, IcekitError, StunParseError
from ..stun import Attr, Message, MessageClass, Method
from ..turn.transaction import ClientTransaction, TransactionConfig
from ..uri import URI
from .driver import Driver
from .servers import parse_server, resolve

__all__ = ["NatBehaviour", "NatProbeResult", "NatVerdict", "probe_nat"]

logger = logging.getLogger(__name__)

Address = tuple[str, int]

_CHANGE_IP = 0x04  # RFC 5780 §7.2
_CHANGE_PORT = 0x02


class NatBehaviour(str, enum.Enum):
    """A mapping or filtering behaviour (RFC 4787 §4.1, §5)."""

    ENDPOINT_INDEPENDENT = "endpoint-independent"
    ADDRESS_DEPENDENT = "address-dependent"
    ADDRESS_AND_PORT_DEPENDENT = "address-and-port-dependent"
    NO_NAT = "no NAT"  # mapping only: the mapped address is the local one
    INCONCLUSIVE = "inconclusive"

    def __str__(self) -> str:
        return self.value


class NatVerdict(str, enum.Enum):
    """What the mapping behaviour means for ICE.

    An endpoint-independent mapping (or none) gives one server-reflexive
    address valid towards every peer, so hole punching works with most peers.
    An address(-and-port)-dependent mapping gives each peer a port nobody can
    learn in advance: a direct path exists only when the peer's NAT does not
    filter by port (RFC 4787 §5), so plan on a TURN relay.
    """

    DIRECT_LIKELY = "direct peer-to-peer likely"
    TURN_NEEDED = "TURN needed"
    INCONCLUSIVE = "inconclusive"

    def __str__(self) -> str:
        return self.value


@dataclasses.dataclass(frozen=True)
class NatProbeResult:
    """What :func:`probe_nat` found; ``notes`` say why anything is inconclusive."""

    server: Address
    local: Address
    mapped: Address | None
    other_address: Address | None
    mapping: NatBehaviour
    filtering: NatBehaviour
    hairpinning: bool | None  # None: not tested (no NAT, or no mapping known)
    verdict: NatVerdict
    notes: tuple[str, ...] = ()

    @property
    def summary(self) -> str:
        """The one-line verdict, with the reason when inconclusive."""
        if self.verdict is NatVerdict.INCONCLUSIVE and self.notes:
            return f"{self.verdict}: {self.notes[0]}"
        if self.verdict is NatVerdict.TURN_NEEDED:
            return (f"{self.verdict}: the mapping is {self.mapping}, so direct paths exist only to "
                    "peers whose NAT does not filter by port")
        return f"{self.verdict}: the mapping is {self.mapping}"

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able dict (addresses as ``[ip, port]``)."""
        return {
            "server": list(self.server), "local": list(self.local),
            "mapped": list(self.mapped) if self.mapped else None,
            "other_address": list(self.other_address) if self.other_address else None,
            "mapping": self.mapping.value, "filtering": self.filtering.value,
            "hairpinning": self.hairpinning, "verdict": self.verdict.value,
            "summary": self.summary, "notes": list(self.notes),
        }


class _Request:
    """One STUN request on the RFC 8489 §6.2.1 schedule (sans-IO; for :class:`Driver`)."""

    def __init__(self, data: bytes, tid: bytes, config: TransactionConfig, now: float) -> None:
        self.tid = tid
        self._tx = ClientTransaction(tid, data, reliable=False, config=config)
        self._tx.start(now)
        self.answer: tuple[bytes, Address] | None = None
        self._event: bool | None = None  # True: answered, False: timed out

    def handle_data(self, data: bytes, src: Address) -> None:
        if self.answer is None:
            self.answer = (data, src)
            self._tx.complete()
            self._event = True

    def poll_transmit(self) -> bytes | None:
        return self._tx.poll_transmit()

    def poll_event(self) -> bool | None:
        event, self._event = self._event, None
        return event

    def poll_timeout(self) -> float | None:
        return None if self.answer is not None else self._tx.poll_timeout()

    def handle_timeout(self, now: float) -> None:
        self._tx.handle_timeout(now)
        if self._tx.timed_out and self.answer is None and self._event is None:
            self._event = False


class _Socket(asyncio.DatagramProtocol):
    """A UDP socket whose datagrams go to the request with their transaction id."""

    def __init__(self) -> None:
        self.transport: asyncio.DatagramTransport | None = None
        self.waiting: dict[bytes, _Request] = {}
        self.drivers: dict[bytes, Driver[bytes, bool]] = {}

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: Any) -> None:
        request = self.waiting.get(bytes(data[8:20])) if len(data) >= 20 else None
        if request is not None:
            request.handle_data(data, (str(addr[0]), int(addr[1])))
            self.drivers[request.tid].after_input()

    async def ask(self, dest: Address, config: TransactionConfig, bound: float,
                  change: int = 0, hairpin: bool = False) -> tuple[Message | None, Address | None]:
        """Send one Binding request; the decoded answer and its source, or ``(None, None)``."""
        loop = asyncio.get_running_loop()
        tid = secrets.token_bytes(12)
        message = Message(Method.BINDING, MessageClass.REQUEST, transaction_id=tid)
        if change:
            message.add(Attr.CHANGE_REQUEST, change)
        request = _Request(message.encode(fingerprint=True), tid, config, loop.time())
        done: asyncio.Future[bool] = loop.create_future()

        def on_event(answered: bool) -> None:
            if not done.done():
                done.set_result(answered)

        assert self.transport is not None
        transport = self.transport
        def send(data: bytes) -> None:
            try:
                transport.sendto(data, dest)
            except OSError as exc:  # e.g. no route to our own mapped address
                logger.debug("nat-probe: cannot send to %s: %s", _fmt(dest), exc)

        driver: Driver[bytes, bool] = Driver(loop, request, send, on_event)
        self.waiting[tid], self.drivers[tid] = request, driver
        try:
            driver.after_input()
            try:
                await asyncio.wait_for(done, bound)
            except asyncio.TimeoutError:
                pass
        finally:
            driver.close()
            del self.waiting[tid], self.drivers[tid]
        if request.answer is None:
            return None, None
        data, src = request.answer
        if hairpin:
            return Message(Method.BINDING, MessageClass.REQUEST, transaction_id=tid), src
        try:
            answer = Message.decode(data)
        except IcekitError as exc:
            logger.debug("nat-probe: undecodable answer from %s: %s", src, exc)
            return None, src
        return (answer if answer.msg_class == MessageClass.SUCCESS else None), src


def _address(message: Message | None, attr: int) -> Address | None:
    if message is None:
        return None
    try:
        value = message.get(attr)
    except StunParseError:
        return None
    return (str(value[0]), int(value[1])) if isinstance(value, tuple) else None


def _local_ip(family: int, server: Address) -> str:
    """The source address the routing table picks towards *server* (no packet sent)."""
    with socket.socket(family, socket.SOCK_DGRAM) as probe:
        probe.connect(server)
        return str(probe.getsockname()[0])


async def probe_nat(server: str | URI, *, timeout: float = 5.0,
                    local: Address | None = None) -> NatProbeResult:
    """Discover the NAT's mapping and filtering behaviour (RFC 5780 §4) via *server*.

    *server* is a ``stun:`` URL, a :class:`~icekit.uri.URI` or a host name
    (port 3478); the probe takes at most about *timeout* seconds.  *local*
    binds the mapping socket (default: the address the route to the server
    uses, any port).  Raises :class:`~icekit.errors.ConfigError` for a bad
    server and :class:`~icekit.errors.ServerUnreachableError` when its name
    does not resolve; every other outcome, including no answer at all, is a
    :class:`NatProbeResult` (inconclusive where the answers do not decide).
    """
    uri, _ = parse_server(server, "udp")
    if uri.scheme != "stun":
        raise ConfigError(f"nat-probe needs a stun: server over UDP, not {uri}")
    primary = (await resolve(uri.host, uri.port or 3478))[0]
    family = socket.AF_INET6 if ":" in primary[0] else socket.AF_INET
    loop = asyncio.get_running_loop()
    step = timeout / 3  # at most three requests one after the other on each socket
    rto = min(0.5, step / 24)
    # RFC 8489 §6.2.1 schedule, scaled so one request gives up within *step*.
    config = TransactionConfig(rto=rto, rc=7, rm=4, max_rto=4 * rto)
    bound = step + rto
    local_ip = local[0] if local else _local_ip(family, primary)
    sockets: list[_Socket] = []
    try:
        for bind in (local or (local_ip, 0), (local_ip, 0)):
            _, proto = await loop.create_datagram_endpoint(_Socket, local_addr=bind, family=family)
            sockets.append(proto)
        a, b = sockets
        assert a.transport is not None
        sock = a.transport.get_extra_info("sockname")
        local_addr = (str(sock[0]), int(sock[1]))
        mapping_task = asyncio.ensure_future(_mapping(a, primary, local_addr, config, bound))
        filtering_task = asyncio.ensure_future(_filtering(b, primary, config, bound))
        try:
            mapped, other, mapping, hairpin, notes = await mapping_task
            filtering, filter_notes = await filtering_task
        finally:
            for task in (mapping_task, filtering_task):
                task.cancel()
            await asyncio.gather(mapping_task, filtering_task, return_exceptions=True)
    finally:
        for proto in sockets:
            if proto.transport is not None:
                proto.transport.close()
    if other is None:  # Test I failed or found no RFC 5780 support: that note says it all
        filtering, filter_notes = NatBehaviour.INCONCLUSIVE, []
    notes += filter_notes
    if mapping is NatBehaviour.INCONCLUSIVE:
        verdict = NatVerdict.INCONCLUSIVE
    elif mapping in (NatBehaviour.ENDPOINT_INDEPENDENT, NatBehaviour.NO_NAT):
        verdict = NatVerdict.DIRECT_LIKELY
    else:
        verdict = NatVerdict.TURN_NEEDED
    return NatProbeResult(primary, local_addr, mapped, other, mapping, filtering, hairpin,
                          verdict, tuple(notes))


async def _mapping(
    sock: _Socket, primary: Address, local: Address, config: TransactionConfig, bound: float,
) -> tuple[Address | None, Address | None, NatBehaviour, bool | None, list[str]]:
    """RFC 5780 §4.3 (and §4.5 hairpinning): mapped, other, mapping, hairpinning, notes."""
    inconclusive = NatBehaviour.INCONCLUSIVE
    answer, _ = await sock.ask(primary, config, bound)
    mapped = _address(answer, Attr.XOR_MAPPED_ADDRESS) or _address(answer, Attr.MAPPED_ADDRESS)
    if mapped is None:
        return None, None, inconclusive, None, [f"no answer from {_fmt(primary)} (UDP blocked or server down)"]
    other = _address(answer, Attr.OTHER_ADDRESS)
    if other is None:
        return mapped, None, inconclusive, None, [
            "server lacks RFC 5780 (no OTHER-ADDRESS in its answer): use one that supports NAT discovery"]
    if mapped == local:
        return mapped, other, NatBehaviour.NO_NAT, None, []
    # §4.5, alongside the mapping tests: our own request sent to our mapped
    # address comes back through the NAT.
    hairpin = asyncio.ensure_future(sock.ask(mapped, config, bound, hairpin=True))
    try:
        mapping, notes = await _mapping_tests(sock, primary, mapped, other, config, bound)
        echoed, _ = await hairpin
    finally:
        hairpin.cancel()
    return mapped, other, mapping, echoed is not None, notes


async def _mapping_tests(sock: _Socket, primary: Address, mapped: Address, other: Address,
                         config: TransactionConfig, bound: float) -> tuple[NatBehaviour, list[str]]:
    """RFC 5780 §4.3 Tests II and III, given Test I's mapped and other addresses."""
    if other[0] == primary[0]:
        return NatBehaviour.INCONCLUSIVE, ["the server's alternate address has the same IP"]
    answer, _ = await sock.ask((other[0], primary[1]), config, bound)
    mapped2 = _address(answer, Attr.XOR_MAPPED_ADDRESS)
    if mapped2 is None:
        return NatBehaviour.INCONCLUSIVE, [f"no answer from the alternate address {other[0]}"]
    if mapped2 == mapped:
        return NatBehaviour.ENDPOINT_INDEPENDENT, []
    answer, _ = await sock.ask(other, config, bound)
    mapped3 = _address(answer, Attr.XOR_MAPPED_ADDRESS)
    if mapped3 is None:
        return NatBehaviour.INCONCLUSIVE, [f"no answer from the alternate address {_fmt(other)}"]
    if mapped3 == mapped2:
        return NatBehaviour.ADDRESS_DEPENDENT, []
    return NatBehaviour.ADDRESS_AND_PORT_DEPENDENT, []


async def _filtering(sock: _Socket, primary: Address, config: TransactionConfig,
                     bound: float) -> tuple[NatBehaviour, list[str]]:
    """RFC 5780 §4.4 from a socket that has only talked to the primary address."""
    inconclusive = NatBehaviour.INCONCLUSIVE
    answer, _ = await sock.ask(primary, config, bound)
    if answer is None:
        return inconclusive, [f"no answer from {_fmt(primary)} to the filtering test"]
    if _address(answer, Attr.OTHER_ADDRESS) is None:
        return inconclusive, []
    answer, src = await sock.ask(primary, config, bound, change=_CHANGE_IP | _CHANGE_PORT)
    if answer is not None:
        if src is None or src[0] == primary[0] or src[1] == primary[1]:
            return inconclusive, ["the server ignored CHANGE-REQUEST (answered from the address asked)"]
        return NatBehaviour.ENDPOINT_INDEPENDENT, []
    answer, src = await sock.ask(primary, config, bound, change=_CHANGE_PORT)
    if answer is not None:
        if src is None or src[1] == primary[1]:
            return inconclusive, ["the server ignored CHANGE-REQUEST (answered from the port asked)"]
        return NatBehaviour.ADDRESS_DEPENDENT, []
    return NatBehaviour.ADDRESS_AND_PORT_DEPENDENT, []


def _fmt(addr: Address) -> str:
    return f"[{addr[0]}]:{addr[1]}" if ":" in addr[0] else f"{addr[0]}:{addr[1]}"
