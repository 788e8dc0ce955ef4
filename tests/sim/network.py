"""The deterministic simulated network.

A :class:`Network` holds hosts (on the public segment or behind a
:class:`~tests.sim.nat.Nat`), endpoints bound to local addresses on those
hosts, a queue of datagrams in flight and a :class:`~tests.sim.clock.VirtualClock`.
:meth:`Network.run` repeatedly jumps the clock to the earliest of: a scheduled
test action, a datagram arrival, an endpoint deadline; handles that one item;
then drains every endpoint's ``poll_transmit`` / ``poll_event`` queues.  Ties
at the same instant are broken deterministically (test actions first, then
datagrams in send order, then endpoint timeouts in attach order), and all
randomness comes from one ``random.Random(seed)``, so a run is a function of
its seed.
"""

from __future__ import annotations

import heapq
import logging
import random
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar, Union, overload

from icekit.types import Address

from .clock import VirtualClock
from .endpoint import Endpoint
from .impair import PERFECT, Impairment, plan_delivery
from .nat import Nat
from .trace import PacketRecord, is_stun_like

__all__ = ["DataHandler", "Host", "Network", "SocketSpec"]

logger = logging.getLogger(__name__)

#: ``handler(now, socket_id, src, data)`` for non-STUN payloads.
DataHandler = Callable[[float, int, Address, bytes], None]
#: A socket to bind: an address (its IP picks the host) or ``(Host, port)``.
SocketSpec = Union[Address, "tuple[Host, int]"]

E = TypeVar("E")
EP = TypeVar("EP", bound=Endpoint)
_Realm = Nat | None  # None is the public segment


@dataclass(eq=False)
class Host:
    """An IP address on a segment: public (``nat is None``) or behind ``nat``.

    Setting :attr:`udp_blocked` makes a firewall drop every datagram to or from
    the host.
    """

    ip: str
    nat: Nat | None = None
    name: str = ""
    udp_blocked: bool = False

    def __post_init__(self) -> None:
        if not self.name:
            self.name = self.ip


@dataclass(eq=False)
class _Attached:
    endpoint: Endpoint
    name: str
    sockets: dict[int, tuple[Host, Address]] = field(default_factory=dict)
    events: list[tuple[float, object]] = field(default_factory=list)
    data_handler: DataHandler | None = None
    all_to_stun: bool = False
    deadlines: list[tuple[float, float | None]] = field(default_factory=list)


@dataclass(eq=False)
class _InFlight:
    record: PacketRecord
    realm: _Realm  # segment the datagram travels on towards dst


class Network:
    """A simulated UDP network driven by a virtual clock.

    ``seed`` seeds the single random generator used for every impairment;
    ``impairment`` is the default for all paths (see :meth:`set_impairment`);
    ``start`` is the initial virtual time; an endpoint that returns more than
    ``drain_limit`` datagrams or events in one go fails the run (livelock).
    """

    def __init__(
        self,
        seed: int = 0,
        *,
        impairment: Impairment = PERFECT,
        start: float = 0.0,
        drain_limit: int = 100_000,
    ) -> None:
        self.drain_limit = drain_limit
        self.clock = VirtualClock(start)
        self.rng = random.Random(seed)
        #: Every datagram handled so far, in send order.
        self.trace: list[PacketRecord] = []
        self.default_impairment = impairment
        self._paths: dict[tuple[str, str], Impairment] = {}
        self._hosts: list[Host] = []
        self._nats: dict[str, Nat] = {}
        self._attached: dict[int, _Attached] = {}  # id(endpoint) -> record
        self._bound: dict[tuple[int, Address], tuple[_Attached, int, Host]] = {}
        self._flights: list[tuple[float, int, _InFlight]] = []
        self._calls: list[tuple[float, int, Callable[[float], object]]] = []
        self._fifo: dict[tuple[Address, Address], float] = {}
        self._seq = 0
        self._checks: list[Callable[[float], object]] = []
        self._deadlines: list[tuple[_Attached, float]] = []
        #: Steps taken by all :meth:`run` calls so far.
        self.steps = 0

    # -- topology ----------------------------------------------------------------

    @property
    def now(self) -> float:
        """Current virtual time in seconds."""
        return self.clock.now

    def add_nat(self, nat_or_ip: Nat | str, **kw: Any) -> Nat:
        """Add a NAT (a :class:`Nat`, or its public IP plus :class:`Nat` options)."""
        nat = nat_or_ip if isinstance(nat_or_ip, Nat) else Nat(nat_or_ip, **kw)
        if nat.public_ip in self._nats or any(h.ip == nat.public_ip and h.nat is None for h in self._hosts):
            raise AssertionError(f"public address {nat.public_ip} is already in use")
        self._nats[nat.public_ip] = nat
        return nat

    def add_host(self, ip: str, behind: Nat | None = None, *, name: str = "") -> Host:
        """Add a host with address ``ip``, public or behind the NAT ``behind``."""
        if behind is not None and behind.public_ip not in self._nats:
            self.add_nat(behind)
        if any(h.ip == ip and h.nat is behind for h in self._hosts):
            raise AssertionError(f"host {ip} already exists on that segment")
        if behind is None and ip in self._nats:
            raise AssertionError(f"{ip} is a NAT's public address")
        host = Host(ip, behind, name)
        self._hosts.append(host)
        return host

    def host(self, ip: str, behind: Nat | None = None) -> Host:
        """The host with address ``ip`` on the given segment (public by default)."""
        for h in self._hosts:
            if h.ip == ip and h.nat is behind:
                return h
        raise KeyError(ip)

    def _resolve(self, spec: SocketSpec, create: bool = True) -> tuple[Host, Address]:
        if isinstance(spec[0], Host):
            host, port = spec[0], int(spec[1])
            return host, (host.ip, port)
        ip, port = str(spec[0]), int(spec[1])
        matches = [h for h in self._hosts if h.ip == ip]
        if len(matches) > 1:
            raise AssertionError(f"{ip} exists on several segments; bind with (host, port)")
        if not matches and not create:
            raise AssertionError(f"no host has address {ip}; add_host() or attach() it first")
        host = matches[0] if matches else self.add_host(ip)
        return host, (ip, port)

    def attach(
        self,
        endpoint: EP,
        sockets: Mapping[int, SocketSpec],
        *,
        name: str = "",
        on_data: DataHandler | None = None,
        all_to_stun: bool = False,
    ) -> EP:
        """Bind ``endpoint``'s sockets (``socket_id -> address``) and drive it.

        An address whose IP is not a known host creates a public host.  STUN
        payloads (first byte 0-3, RFC 7983) go to ``handle_stun``; other payloads
        go to ``on_data`` if given, else to ``handle_stun`` when ``all_to_stun``
        is set, else they are recorded as dropped by ``"no-data-handler"``.
        Returns ``endpoint`` for chaining.
        """
        if id(endpoint) in self._attached:
            raise AssertionError(f"{name or endpoint!r} is already attached")
        att = _Attached(endpoint, name or f"ep{len(self._attached)}")
        att.data_handler = on_data
        att.all_to_stun = all_to_stun
        resolved = {sid: self._resolve(spec) for sid, spec in sockets.items()}
        keys = [(id(host.nat), addr) for host, addr in resolved.values()]
        for key in keys:
            if key in self._bound or keys.count(key) > 1:
                raise AssertionError(f"{key[1]} is already bound")
        for socket_id, (host, addr) in resolved.items():
            self._bound[(id(host.nat), addr)] = (att, socket_id, host)
            att.sockets[socket_id] = (host, addr)
        self._attached[id(endpoint)] = att
        return endpoint

    def detach(self, endpoint: object) -> None:
        """Unbind the endpoint's sockets and stop driving it."""
        att = self._att(endpoint)
        for host, addr in att.sockets.values():
            self._bound.pop((id(host.nat), addr), None)
        del self._attached[id(endpoint)]

    def on_data(self, endpoint: object, handler: DataHandler | None) -> None:
        """Set (or clear) the handler of ``endpoint``'s non-STUN payloads."""
        self._att(endpoint).data_handler = handler

    def set_firewall(self, host: Host | str, blocked: bool = True) -> None:
        """Block (or unblock) all UDP to and from a host (by object or public IP)."""
        h = host if isinstance(host, Host) else self._resolve((host, 0), create=False)[0]
        h.udp_blocked = blocked

    def set_impairment(
        self, imp: Impairment, between: tuple[str, str] | None = None, *, one_way: bool = False
    ) -> None:
        """Set the default impairment, or the one between two IPs.

        ``between=(x, y)`` covers both directions, or only x to y with
        ``one_way``.  The sending side is matched by the sender's local IP or
        its NAT's public IP, the receiving side by the destination IP as
        addressed (a NAT's public IP for a host behind one).
        """
        if between is None:
            self.default_impairment = imp
            return
        self._paths[between] = imp
        if not one_way:
            self._paths[(between[1], between[0])] = imp

    def address_of(self, endpoint: object, socket_id: int) -> Address:
        """The local address of one of an endpoint's sockets."""
        return self._att(endpoint).sockets[socket_id][1]

    def reflexive_address(self, host_addr: Address, server_addr: Address) -> Address:
        """The server-reflexive address ``host_addr`` gets when talking to ``server_addr``.

        Behind a NAT this creates (or refreshes) the mapping now, exactly as a
        Binding request to the server would, so the result is the srflx
        candidate a real gathering would find.  A public address maps to itself.
        The host must exist already (``add_host`` or ``attach``).
        """
        host, addr = self._resolve(host_addr, create=False)
        if host.nat is None:
            return addr
        return host.nat.outbound(self.now, addr, server_addr)

    # -- test actions ----------------------------------------------------------

    def call_at(self, when: float, fn: Callable[[float], object]) -> None:
        """Run ``fn(now)`` at virtual time ``when`` (a test action, e.g. trickle)."""
        if when < self.now:
            raise AssertionError(f"call_at({when}) is in the past (now {self.now})")
        self._seq += 1
        heapq.heappush(self._calls, (when, self._seq, fn))

    def call_later(self, delay: float, fn: Callable[[float], object]) -> None:
        """Run ``fn(now)`` ``delay`` seconds from now."""
        self.call_at(self.now + delay, fn)

    def call_every(
        self,
        interval: float,
        fn: Callable[[float], object],
        *,
        start: float | None = None,
        count: int | None = None,
    ) -> None:
        """Run ``fn(now)`` every ``interval`` seconds from ``start`` (default now).

        Stops after ``count`` calls if given; otherwise it keeps the network
        busy, so pair it with ``run(until=...)`` or ``advance()``.
        """
        if interval <= 0:
            raise AssertionError("call_every needs a positive interval")
        done = 0

        def tick(now: float) -> None:
            nonlocal done
            fn(now)
            done += 1
            if count is None or done < count:
                self.call_at(now + interval, tick)

        if count is None or count > 0:
            self.call_at(self.now if start is None else start, tick)

    def send(self, endpoint: object, socket_id: int, dest: Address, data: bytes) -> PacketRecord:
        """Send ``data`` from an endpoint's socket now, as if it had polled it."""
        att = self._att(endpoint)
        host, addr = att.sockets[socket_id]
        return self._send(att.name, host, addr, dest, bytes(data))

    def inject(self, src: Address, dst: Address, data: bytes, *, behind: Nat | None = None) -> PacketRecord:
        """Put a datagram with a forged source on a segment (public by default).

        It bypasses the sender's NAT and firewall: an attacker on the path.
        """
        return self._send("inject", None, src, dst, bytes(data), realm=behind, injected=True)

    def add_check(self, check: Callable[[float], object]) -> None:
        """Call ``check(now)`` after every step (and before the first one).

        Use it for invariants that must hold at all times, e.g. "at most one
        selected pair"; it fails the test by raising :class:`AssertionError`.
        """
        self._checks.append(check)

    # -- observation -------------------------------------------------------------

    @overload
    def events_of(self, endpoint: object) -> list[object]: ...

    @overload
    def events_of(self, endpoint: object, kind: type[E]) -> list[E]: ...

    def events_of(self, endpoint: object, kind: type[Any] | None = None) -> list[Any]:
        """Events polled from ``endpoint`` so far (only those of type ``kind`` if given)."""
        evs = [ev for _, ev in self._att(endpoint).events]
        return [ev for ev in evs if kind is None or isinstance(ev, kind)]

    def timed_events_of(self, endpoint: object) -> list[tuple[float, object]]:
        """``(time, event)`` pairs polled from ``endpoint`` so far."""
        return list(self._att(endpoint).events)

    def deadlines_of(self, endpoint: object) -> list[tuple[float, float | None]]:
        """``(time, deadline)`` each time ``endpoint``'s ``poll_timeout()`` changed."""
        return list(self._att(endpoint).deadlines)

    def packets(
        self,
        *,
        sender: object | None = None,
        receiver: object | None = None,
        src: Address | None = None,
        dst: Address | None = None,
        stun_class: str | None = None,
        method: int | None = None,
        delivered: bool | None = None,
        dropped: str | None = None,
        since: float | None = None,
        duplicates: bool = False,
    ) -> list[PacketRecord]:
        """Filter :attr:`trace`; ``sender``/``receiver`` take an endpoint or its name.

        ``stun_class`` is ``"request"``, ``"indication"``, ``"success"`` or
        ``"error"``; ``dropped`` is a drop reason.  The extra copies made by
        duplication are left out unless ``duplicates`` is true, so counts are
        of datagrams *sent*.
        """
        sname = self._name_of(sender)
        rname = self._name_of(receiver)
        out = []
        for r in self.trace:
            if r.duplicate and not duplicates:
                continue
            if sname is not None and r.sender != sname:
                continue
            if rname is not None and r.receiver != rname:
                continue
            if src is not None and r.src != src:
                continue
            if dst is not None and r.dst != dst:
                continue
            if since is not None and r.sent_at < since:
                continue
            if delivered is not None and r.delivered != delivered:
                continue
            if dropped is not None and r.dropped != dropped:
                continue
            if stun_class is not None or method is not None:
                kind = r.stun
                if kind is None:
                    continue
                if stun_class is not None and kind[1] != stun_class:
                    continue
                if method is not None and kind[0] != method:
                    continue
            out.append(r)
        return out

    def dump_trace(self, last: int | None = None) -> str:
        """The trace as text, one datagram a line (the last ``last`` only if given)."""
        recs = self.trace if last is None else self.trace[-last:]
        return "\n".join(str(r) for r in recs)

    # -- running -----------------------------------------------------------------

    def run(
        self,
        until: Callable[[], bool] | None = None,
        *,
        max_time: float | None = 300.0,
        max_steps: int = 1_000_000,
        max_steps_per_instant: int = 10_000,
    ) -> float:
        """Advance the simulation; return the virtual seconds that passed.

        With ``until``, stop as soon as ``until()`` is true (checked before the
        first step and after every step) and raise :class:`AssertionError` if it
        is not true within ``max_time`` virtual seconds or when nothing is left
        to do.  Without ``until``, run for exactly ``max_time`` seconds (or until
        idle if ``max_time`` is ``None``).  Either way, more than ``max_steps``
        steps in total, or more than ``max_steps_per_instant`` steps without the
        clock moving, fails with :class:`AssertionError` (livelock).
        """
        start = self.now
        end = None if max_time is None else start + max_time
        steps = 0
        same_instant = 0
        self._drain()
        while True:
            if until is not None and until():
                return self.now - start
            nxt = self._next_time()
            if nxt is None:
                if until is None:
                    if end is not None:
                        self.clock.advance_to(end)
                    return self.now - start
                self._fail(f"the network went idle before {_describe(until)} was true", start)
            assert nxt is not None
            when = max(nxt, self.now)
            if end is not None and when > end:
                self.clock.advance_to(end)
                if until is None:
                    return self.now - start
                self._fail(f"{_describe(until)} was not true within {max_time} s of virtual time", start)
            same_instant = same_instant + 1 if when == self.now else 0
            if same_instant > max_steps_per_instant:
                self._fail(f"livelock: more than {max_steps_per_instant} steps at t={self.now} "
                           "without the clock advancing", start)
            steps += 1
            if steps > max_steps:
                self._fail(f"livelock: more than {max_steps} steps", start)
            self.clock.advance_to(when)
            self.steps += 1
            self._step()
            self._drain()

    def advance(self, seconds: float) -> None:
        """Run for exactly ``seconds`` of virtual time."""
        self.run(max_time=seconds)

    def run_until_event(
        self,
        endpoint: object,
        kind: type[E],
        match: Callable[[E], bool] | None = None,
        *,
        max_time: float | None = 300.0,
    ) -> E:
        """Run until ``endpoint`` emits a new event of type ``kind`` (and ``match``).

        Returns that event; fails like :meth:`run` if none comes in time.
        Events already polled before the call do not count.
        """
        att = self._att(endpoint)
        seen = len(att.events)
        found: list[E] = []

        def arrived() -> bool:
            nonlocal seen
            for _, ev in att.events[seen:]:
                if isinstance(ev, kind) and (match is None or match(ev)):
                    found.append(ev)
                    return True
            seen = len(att.events)
            return False

        arrived.__name__ = f"{att.name} emits {kind.__name__}"
        self.run(arrived, max_time=max_time)
        return found[0]

    def _fail(self, why: str, start: float) -> None:
        lines = [f"{why} (started t={start}, now t={self.now}, {self.steps} steps)"]
        for att in self._attached.values():
            recent = ", ".join(repr(e) for _, e in att.events[-3:]) or "none"
            lines.append(f"  {att.name}: deadline {att.endpoint.poll_timeout()}, last events: {recent}")
        lines.append("  last datagrams:")
        lines.extend("    " + str(r) for r in self.trace[-10:])
        raise AssertionError("\n".join(lines))

    def _next_time(self) -> float | None:
        times: list[float] = []
        if self._calls:
            times.append(self._calls[0][0])
        if self._flights:
            times.append(self._flights[0][0])
        # Polled once per step; _step() reuses these (nothing runs in between).
        self._deadlines = []
        for att in self._attached.values():
            t = att.endpoint.poll_timeout()
            if not att.deadlines or att.deadlines[-1][1] != t:
                att.deadlines.append((self.now, t))
            if t is not None:
                times.append(t)
                self._deadlines.append((att, t))
        return min(times) if times else None

    def _step(self) -> None:
        """Handle exactly one item due now, in the documented tie order."""
        now = self.now
        if self._calls and self._calls[0][0] <= now:
            _, _, fn = heapq.heappop(self._calls)
            fn(now)
            return
        if self._flights and self._flights[0][0] <= now:
            _, _, flight = heapq.heappop(self._flights)
            self._arrive(flight)
            return
        for att, t in self._deadlines:
            if t <= now:
                att.endpoint.handle_timeout(now)
                return

    def _drain(self) -> None:
        limit = self.drain_limit
        for att in list(self._attached.values()):
            ep = att.endpoint
            for _ in range(limit):
                tx = ep.poll_transmit()
                if tx is None:
                    break
                if tx.socket_id not in att.sockets:
                    raise AssertionError(f"{att.name} sent on unbound socket {tx.socket_id}")
                host, addr = att.sockets[tx.socket_id]
                self._send(att.name, host, addr, (str(tx.dest[0]), int(tx.dest[1])), bytes(tx.data))
            else:
                self._fail(f"livelock: {att.name} produced more than {limit} datagrams at once", self.now)
            for _ in range(limit):
                ev = ep.poll_event()
                if ev is None:
                    break
                att.events.append((self.now, ev))
            else:
                self._fail(f"livelock: {att.name} produced more than {limit} events at once", self.now)
        for check in self._checks:
            check(self.now)

    # -- datagram path -----------------------------------------------------------

    def _send(
        self,
        sender: str,
        host: Host | None,
        src: Address,
        dst: Address,
        data: bytes,
        *,
        realm: _Realm = None,
        injected: bool = False,
    ) -> PacketRecord:
        self._seq += 1
        rec = PacketRecord(self._seq, self.now, src, dst, data, sender, injected=injected)
        self.trace.append(rec)
        if host is not None:
            realm = host.nat
            if host.udp_blocked:
                rec.dropped = "firewall"
                return rec
        wire_src = src
        if realm is not None and not self._on_segment(realm, dst[0]):
            # Leaving a private segment: the NAT translates the source (RFC 4787 §4).
            wire_src = realm.outbound(self.now, src, dst)
            if dst[0] == realm.public_ip and not realm.hairpin:
                rec.wire_src = wire_src
                rec.dropped = "hairpin"  # RFC 4787 §6: hairpinning not supported
                return rec
            if dst[0] != realm.public_ip:
                realm = None  # now on the public segment
        rec.wire_src = wire_src
        imp = (
            self._paths.get((src[0], dst[0]))
            or self._paths.get((wire_src[0], dst[0]))
            or self.default_impairment
        )
        plan = plan_delivery(imp, self.rng)
        if not plan:
            rec.dropped = "loss"
            return rec
        flow = (wire_src, dst)
        for i, d in enumerate(plan):
            r = rec
            if i > 0:
                self._seq += 1
                r = PacketRecord(self._seq, self.now, src, dst, data, sender, wire_src=wire_src,
                                 duplicate=True, injected=injected)
                self.trace.append(r)
            # Rounded to the nanosecond so that sums of round delays read as
            # round times in traces (0.09, not 0.09000000000000001).
            arrive = max(self.now, round(self.now + d.delay, 9))
            if d.fifo:
                arrive = max(arrive, self._fifo.get(flow, arrive))
                self._fifo[flow] = arrive
            r.arrive_at = arrive
            heapq.heappush(self._flights, (arrive, r.seq, _InFlight(r, realm)))
        return rec

    def _on_segment(self, realm: _Realm, ip: str) -> bool:
        return any(h.ip == ip and h.nat is realm for h in self._hosts)

    def _arrive(self, flight: _InFlight) -> None:
        rec = flight.record
        realm = flight.realm
        assert rec.wire_src is not None
        dst = rec.dst
        if realm is None and dst[0] in self._nats:
            nat = self._nats[dst[0]]
            internal, why = nat.inbound(self.now, rec.wire_src, dst[1])
            if internal is None:
                rec.dropped = why
                return
            realm, dst = nat, internal
        elif realm is not None and dst[0] == realm.public_ip:
            # Hairpinned datagram: filtered like any inbound one (RFC 4787 §6).
            internal, why = realm.inbound(self.now, rec.wire_src, dst[1])
            if internal is None:
                rec.dropped = why
                return
            dst = internal
        bound = self._bound.get((id(realm), dst))
        if bound is None:
            rec.dropped = "no-route" if not self._on_segment(realm, dst[0]) else "unbound"
            return
        att, socket_id, host = bound
        if host.udp_blocked:
            rec.dropped = "firewall"
            return
        rec.delivered_to = dst
        rec.receiver = att.name
        if is_stun_like(rec.data) or (att.data_handler is None and att.all_to_stun):
            att.endpoint.handle_stun(self.now, socket_id, rec.wire_src, rec.data)
        elif att.data_handler is not None:
            att.data_handler(self.now, socket_id, rec.wire_src, rec.data)
        else:
            rec.dropped = "no-data-handler"

    # -- helpers -------------------------------------------------------------------

    def _att(self, endpoint: object) -> _Attached:
        try:
            return self._attached[id(endpoint)]
        except KeyError:
            raise AssertionError(f"{endpoint!r} is not attached to this network") from None

    def _name_of(self, who: object | None) -> str | None:
        if who is None or isinstance(who, str):
            return who
        return self._att(who).name

    def endpoints(self) -> Iterable[object]:
        """The attached endpoints, in attach order."""
        return [a.endpoint for a in self._attached.values()]


def _describe(cond: Callable[[], bool]) -> str:
    name = str(getattr(cond, "__name__", ""))
    if " " in name:
        return name
    if name and name != "<lambda>":
        return f"condition {name}()"
    doc = getattr(cond, "__doc__", None)
    return f"condition {doc!r}" if doc else "the until() condition"
