"""NAT models following RFC 4787 (NAT behavioural requirements for UDP).

A :class:`Nat` owns one public IP.  Hosts placed behind it use private
addresses; datagrams they send to the outside get an external (public) source
address chosen by the *mapping* behaviour (RFC 4787 §4.1), and datagrams
arriving from outside pass or are dropped according to the *filtering*
behaviour (RFC 4787 §5).  Mappings may time out (§4.3), can be flushed to
simulate a NAT reboot or rebinding, and hairpinning (§6) is optional.
"""

from __future__ import annotations

import enum
import logging
from dataclasses import dataclass, field
from typing import Any

from icekit.types import Address

__all__ = ["Behavior", "Mapping", "Nat"]

logger = logging.getLogger(__name__)


class Behavior(enum.Enum):
    """RFC 4787 mapping (§4.1) and filtering (§5) behaviours."""

    ENDPOINT_INDEPENDENT = "endpoint-independent"
    ADDRESS_DEPENDENT = "address-dependent"
    ADDRESS_AND_PORT_DEPENDENT = "address-and-port-dependent"


EIM = Behavior.ENDPOINT_INDEPENDENT
ADM = Behavior.ADDRESS_DEPENDENT
APDM = Behavior.ADDRESS_AND_PORT_DEPENDENT

# Part of a mapping's key that depends on the destination (empty for EIM).
_DestKey = tuple[()] | tuple[str] | tuple[str, int]


@dataclass
class Mapping:
    """One NAT binding from an internal address to an external one."""

    internal: Address
    external: Address
    dest_key: _DestKey
    created: float
    last_used: float
    #: Every destination the internal endpoint has sent to through this mapping;
    #: address-(and-port-)dependent filtering admits only these (RFC 4787 §5).
    contacted: set[Address] = field(default_factory=set)


class Nat:
    """A UDP NAT with RFC 4787 behaviours.

    ``mapping`` and ``filtering`` take a :class:`Behavior`.  ``mapping_timeout``
    (seconds, ``None`` = never) expires a mapping that carried no outbound
    traffic for that long (RFC 4787 §4.3, REQ-6: outbound refreshes; inbound
    refreshes too only if ``refresh_on_inbound``).  New external ports are
    taken from ``port_base`` upwards in steps of ``port_step`` and are never
    reused, so a flushed mapping comes back on a new port.  With
    ``port_preservation`` the NAT first tries the internal port (RFC 4787
    §4.2.1).  ``hairpin`` lets internal hosts reach each other through the
    public address (RFC 4787 §6, external source address as REQ-9 asks).
    """

    def __init__(
        self,
        public_ip: str,
        *,
        mapping: Behavior = EIM,
        filtering: Behavior = EIM,
        mapping_timeout: float | None = None,
        hairpin: bool = False,
        port_base: int = 40000,
        port_step: int = 1,
        port_preservation: bool = False,
        refresh_on_inbound: bool = False,
        name: str | None = None,
    ) -> None:
        if port_step < 1:
            raise ValueError("port_step must be at least 1")
        if not 0 < port_base < 65536:
            raise ValueError("port_base must be a valid UDP port")
        self.public_ip = public_ip
        self.mapping = mapping
        self.filtering = filtering
        self.mapping_timeout = mapping_timeout
        self.hairpin = hairpin
        self.port_step = port_step
        self.port_preservation = port_preservation
        self.refresh_on_inbound = refresh_on_inbound
        self.name = name or f"nat({public_ip})"
        self._next_port = port_base
        self._by_key: dict[tuple[Address, _DestKey], Mapping] = {}
        self._by_port: dict[int, Mapping] = {}
        self._used_ports: set[int] = set()

    # -- presets (classic names, for readability of scenarios) ---------------

    @classmethod
    def full_cone(cls, public_ip: str, **kw: Any) -> Nat:
        """Endpoint-independent mapping and filtering."""
        return cls(public_ip, mapping=EIM, filtering=EIM, **kw)

    @classmethod
    def restricted_cone(cls, public_ip: str, **kw: Any) -> Nat:
        """Endpoint-independent mapping, address-dependent filtering."""
        return cls(public_ip, mapping=EIM, filtering=ADM, **kw)

    @classmethod
    def port_restricted_cone(cls, public_ip: str, **kw: Any) -> Nat:
        """Endpoint-independent mapping, address-and-port-dependent filtering."""
        return cls(public_ip, mapping=EIM, filtering=APDM, **kw)

    @classmethod
    def symmetric(cls, public_ip: str, **kw: Any) -> Nat:
        """Address-and-port-dependent mapping and filtering."""
        return cls(public_ip, mapping=APDM, filtering=APDM, **kw)

    # -- behaviour -------------------------------------------------------------

    def _dest_key(self, dest: Address) -> _DestKey:
        # RFC 4787 §4.1: which part of the destination selects the mapping.
        if self.mapping is EIM:
            return ()
        if self.mapping is ADM:
            return (dest[0],)
        return (dest[0], dest[1])

    def _expired(self, m: Mapping, now: float) -> bool:
        return self.mapping_timeout is not None and now - m.last_used >= self.mapping_timeout

    def _drop_mapping(self, m: Mapping) -> None:
        self._by_key.pop((m.internal, m.dest_key), None)
        self._by_port.pop(m.external[1], None)

    def _expire(self, now: float) -> None:
        if self.mapping_timeout is None:
            return
        for m in [m for m in self._by_port.values() if self._expired(m, now)]:
            logger.debug("%s: mapping %s -> %s expired", self.name, m.internal, m.external)
            self._drop_mapping(m)

    def _allocate_port(self, internal_port: int) -> int:
        if self.port_preservation and internal_port not in self._used_ports:
            self._used_ports.add(internal_port)
            return internal_port
        while True:
            port = self._next_port
            self._next_port += self.port_step
            if self._next_port > 65535:
                self._next_port = 1024
            if port not in self._used_ports:
                self._used_ports.add(port)
                return port
            if len(self._used_ports) >= 65535 - 1024:
                raise AssertionError(f"{self.name}: out of external ports")

    def outbound(self, now: float, internal: Address, dest: Address) -> Address:
        """Translate a datagram from ``internal`` to ``dest``; return its external source.

        Creates the mapping if needed and refreshes it (RFC 4787 REQ-6).
        """
        self._expire(now)
        key = (internal, self._dest_key(dest))
        m = self._by_key.get(key)
        if m is None:
            port = self._allocate_port(internal[1])
            m = Mapping(internal, (self.public_ip, port), key[1], now, now)
            self._by_key[key] = m
            self._by_port[port] = m
            logger.debug("%s: new mapping %s -> %s (for %s)", self.name, internal, m.external, dest)
        m.last_used = now
        m.contacted.add(dest)
        return m.external

    def inbound(self, now: float, src: Address, external_port: int) -> tuple[Address | None, str]:
        """Filter a datagram from ``src`` to our public IP at ``external_port``.

        Returns ``(internal address, "")`` if it passes, else ``(None, reason)``
        with reason ``"nat-no-mapping"`` or ``"nat-filtered"``.
        """
        self._expire(now)
        m = self._by_port.get(external_port)
        if m is None:
            return None, "nat-no-mapping"
        if not self._permits(m, src):
            return None, "nat-filtered"
        if self.refresh_on_inbound:
            m.last_used = now
        return m.internal, ""

    def _permits(self, m: Mapping, src: Address) -> bool:
        # RFC 4787 §5: filtering of unsolicited inbound datagrams.
        if self.filtering is EIM:
            return True
        if self.filtering is ADM:
            return any(d[0] == src[0] for d in m.contacted)
        return src in m.contacted

    def lookup(self, now: float, internal: Address, dest: Address) -> Address | None:
        """The external address ``internal`` would use towards ``dest``, if mapped."""
        self._expire(now)
        m = self._by_key.get((internal, self._dest_key(dest)))
        return None if m is None else m.external

    def mappings(self, now: float | None = None) -> list[Mapping]:
        """The live mappings (expired ones removed first if ``now`` is given)."""
        if now is not None:
            self._expire(now)
        return list(self._by_port.values())

    def flush(self, internal: Address | None = None) -> None:
        """Forget every mapping (or only those of ``internal``), as a reboot would.

        External ports are not reused, so the next outbound datagram of an
        internal endpoint gets a new external address (NAT rebinding).
        """
        doomed = [m for m in self._by_port.values() if internal is None or m.internal == internal]
        logger.debug("%s: flushing %d mappings", self.name, len(doomed))
        for m in doomed:
            self._drop_mapping(m)

    def __repr__(self) -> str:
        return (
            f"Nat({self.public_ip!r}, mapping={self.mapping.value}, "
            f"filtering={self.filtering.value}, hairpin={self.hairpin})"
        )
