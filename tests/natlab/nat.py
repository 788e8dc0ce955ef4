"""NAT behaviours of the lab (RFC 4787 terms) and their nftables rule sets.

Linux ``masquerade`` keeps the host's source port whenever the resulting
tuple is free, so with one host behind a router it maps endpoint-independently
(RFC 4787 §4.1); conntrack only lets replies of existing flows in, which is
address-and-port-dependent filtering (§5).  The other behaviours are built on
top of that:

* full cone / restricted (endpoint-independent or address-dependent
  filtering): every outbound UDP packet records, in dynamic nftables maps, its
  mapped port -> the host's (address, port), and (mapped port, remote
  address); an inbound packet that starts a new flow to a recorded mapped port
  is DNATed back to the host: always (full cone), or only when the host has
  sent to that remote address from that mapping (restricted);
* symmetric (address-and-port-dependent mapping): ``masquerade fully-random``
  picks a random port for every new flow, hence per destination;
* UDP blocked: the router forwards no UDP at all (TCP still passes).

Unsolicited inbound UDP to the router itself is dropped in the input hook,
before conntrack confirms an entry for it: a confirmed entry would occupy the
mapped port's tuple and make the next outbound flow to that peer get another
port (Linux's well-known hole-punching breakage).
"""

from __future__ import annotations

import enum

__all__ = [
    "Filtering",
    "Mapping",
    "NatType",
    "direct_path_exists",
    "host_firewall",
    "router_ruleset",
]

TABLE = "iknat"
MAPPING_LIFETIME = 120  # seconds an idle EIF/ADF mapping stays open (RFC 4787 REQ-5: >= 2 min)


class Mapping(str, enum.Enum):
    """RFC 4787 §4.1 mapping behaviour."""

    ENDPOINT_INDEPENDENT = "endpoint-independent"
    ADDRESS_DEPENDENT = "address-dependent"
    ADDRESS_AND_PORT_DEPENDENT = "address-and-port-dependent"

    def __str__(self) -> str:
        return self.value


class Filtering(str, enum.Enum):
    """RFC 4787 §5 filtering behaviour."""

    ENDPOINT_INDEPENDENT = "endpoint-independent"
    ADDRESS_DEPENDENT = "address-dependent"
    ADDRESS_AND_PORT_DEPENDENT = "address-and-port-dependent"

    def __str__(self) -> str:
        return self.value


class NatType(str, enum.Enum):
    """The five lab behaviours; the value is the name used in test ids."""

    FULL_CONE = "full-cone"
    RESTRICTED = "restricted"
    PORT_RESTRICTED = "port-restricted"
    SYMMETRIC = "symmetric"
    NONE = "none"

    def __str__(self) -> str:
        return self.value

    @property
    def mapping(self) -> Mapping:
        """The mapping behaviour the probe must observe."""
        if self is NatType.SYMMETRIC:
            return Mapping.ADDRESS_AND_PORT_DEPENDENT
        return Mapping.ENDPOINT_INDEPENDENT

    @property
    def filtering(self) -> Filtering:
        """The filtering behaviour the probe must observe."""
        if self in (NatType.FULL_CONE, NatType.NONE):
            return Filtering.ENDPOINT_INDEPENDENT
        if self is NatType.RESTRICTED:
            return Filtering.ADDRESS_DEPENDENT
        return Filtering.ADDRESS_AND_PORT_DEPENDENT

    @property
    def translates(self) -> bool:
        """Whether a router translates addresses (all but ``none``)."""
        return self is not NatType.NONE


def direct_path_exists(a: NatType, b: NatType) -> bool:
    """Whether UDP hole punching can connect a host behind *a* with one behind *b*.

    A side with endpoint-independent mapping has one public address for every
    peer (its server-reflexive candidate); a symmetric side reaches a peer from
    a port nobody could learn in advance, so its packets only get through a
    peer NAT whose filtering does not look at the source port (RFC 4787 §5:
    endpoint-independent or address-dependent filtering); two symmetric sides
    never meet.
    """
    if a is NatType.SYMMETRIC and b is NatType.SYMMETRIC:
        return False
    if NatType.SYMMETRIC in (a, b):
        other = b if a is NatType.SYMMETRIC else a
        return other.filtering is not Filtering.ADDRESS_AND_PORT_DEPENDENT
    return True


def router_ruleset(nat: NatType, *, pub: str, lan: str, udp_blocked: bool = False) -> str:
    """The nftables rule set of a NAT router (*pub*/*lan*: interface names)."""
    if not nat.translates:
        raise ValueError("a 'none' side has no router")
    masq = "masquerade fully-random" if nat is NatType.SYMMETRIC else "masquerade"
    dnat = ""
    learn = ""
    if nat in (NatType.FULL_CONE, NatType.RESTRICTED):
        # Only packets of flows the host started (original direction) teach the maps.
        learn = f"""
    oifname "{pub}" meta l4proto udp ct direction original \\
      update @portmap {{ ct reply proto-dst : ct original ip saddr . ct original proto-src }}
    oifname "{pub}" meta l4proto udp ct direction original \\
      update @contacted {{ ct reply proto-dst . ip daddr }}"""
        match = "udp dport . ip saddr @contacted " if nat is NatType.RESTRICTED else ""
        dnat = f"""
    iifname "{pub}" meta l4proto udp {match}dnat ip to udp dport map @portmap"""
    block = """
    meta l4proto udp drop""" if udp_blocked else ""
    return f"""\
table ip {TABLE} {{
  map portmap {{
    type inet_service : ipv4_addr . inet_service
    flags dynamic,timeout
    timeout {MAPPING_LIFETIME}s
  }}
  set contacted {{
    type inet_service . ipv4_addr
    flags dynamic,timeout
    timeout {MAPPING_LIFETIME}s
  }}
  chain inbound {{
    type nat hook prerouting priority dstnat; policy accept;{dnat}
  }}
  chain outbound {{
    type nat hook postrouting priority srcnat; policy accept;
    oifname "{pub}" {masq}
  }}
  chain learn {{
    type filter hook postrouting priority srcnat + 100; policy accept;{learn}
  }}
  chain forward {{
    type filter hook forward priority filter; policy accept;{block}
    iifname "{pub}" ct state established,related accept
    iifname "{pub}" ct status dnat accept
    iifname "{pub}" drop
  }}
  chain input {{
    type filter hook input priority filter; policy accept;
    iifname "{pub}" meta l4proto udp drop
  }}
}}
"""


def host_firewall(dev: str) -> str:
    """Rules that block UDP on a host's own uplink (UDP blocked without a router)."""
    return f"""\
table ip {TABLE} {{
  chain output {{
    type filter hook output priority filter; policy accept;
    oifname "{dev}" meta l4proto udp drop
  }}
  chain input {{
    type filter hook input priority filter; policy accept;
    iifname "{dev}" meta l4proto udp drop
  }}
}}
"""


REMAP_PORTS = "1024-1999"  # below every host's ephemeral range, so a new mapping always differs


def remap_commands(pub: str) -> str:
    """nft commands making the NAT pick new, different ports for new flows."""
    return (
        f"flush chain ip {TABLE} outbound\n"
        f'add rule ip {TABLE} outbound oifname "{pub}" meta l4proto {{ tcp, udp }} '
        f"masquerade to :{REMAP_PORTS}\n"
        f'add rule ip {TABLE} outbound oifname "{pub}" masquerade\n'
    ) + flush_state_commands()


def flush_state_commands() -> str:
    """nft commands that forget every learned EIF/ADF mapping."""
    return f"flush map ip {TABLE} portmap\nflush set ip {TABLE} contacted\n"
