"""Agent options: validation, defaults and the network-type filter.

:class:`AgentOptions` validates the keyword arguments of :class:`icekit.Agent`
and fills in defaults, raising :class:`~icekit.errors.ConfigError` (or
:class:`~icekit.errors.CredentialsError` for ufrag/pwd) with a message that names
the option.
"""

from __future__ import annotations

import enum
import ipaddress
import math
import secrets
import string
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from ..candidate import CandidateType
from ..errors import ConfigError, CredentialsError
from ..ice.config import MIN_TA, IceConfig
from ..ice.records import validate_pwd, validate_ufrag
from .servers import TlsOptions

__all__ = [
    "AgentOptions",
    "IPAddress",
    "IPFilter",
    "InterfaceFilter",
    "NetworkType",
    "check_handler",
    "check_remote_credentials",
    "generate_pwd",
    "generate_ufrag",
    "validate_pwd",
    "validate_ufrag",
]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
#: ``interface_filter(name) -> keep?``; name as the OS spells it (``"eth0"``).
InterfaceFilter = Callable[[str], bool]
#: ``ip_filter(address) -> keep?``.
IPFilter = Callable[[IPAddress], bool]


class NetworkType(enum.Enum):
    """A candidate's transport and address family (pion's NetworkType)."""

    UDP4 = "udp4"
    UDP6 = "udp6"
    TCP4 = "tcp4"
    TCP6 = "tcp6"

    def __str__(self) -> str:
        return self.value

    @property
    def is_udp(self) -> bool:
        """True for UDP4 and UDP6."""
        return self in (NetworkType.UDP4, NetworkType.UDP6)

    @property
    def is_ipv6(self) -> bool:
        """True for UDP6 and TCP6."""
        return self in (NetworkType.UDP6, NetworkType.TCP6)


#: Network types this release can gather and connect over.
SUPPORTED_NETWORK_TYPES = (NetworkType.UDP4, NetworkType.UDP6)

# Generated credentials use letters only, so they survive any signalling.
_GEN_CHARS = string.ascii_letters


def check_remote_credentials(ufrag: str, pwd: str) -> None:
    """Check the peer's ufrag and pwd given to dial/accept (RFC 8839 §5.4)."""
    if not ufrag:
        raise CredentialsError("the remote ufrag is empty")
    if not pwd:
        raise CredentialsError("the remote pwd is empty")
    validate_ufrag(ufrag, what="remote ufrag")
    validate_pwd(pwd, what="remote pwd")


_Handler = TypeVar("_Handler")


def check_handler(handler: _Handler) -> _Handler:
    """Return ``handler`` if it is callable or None; raise TypeError otherwise.

    Checked when set: a non-callable would only fail later, inside the event loop.
    """
    if handler is not None and not callable(handler):
        raise TypeError(f"a handler must be callable or None, not {type(handler).__name__}")
    return handler


def generate_ufrag() -> str:
    """A random 16-letter ufrag (about 91 bits)."""
    return "".join(secrets.choice(_GEN_CHARS) for _ in range(16))


def generate_pwd() -> str:
    """A random 32-letter pwd (about 182 bits)."""
    return "".join(secrets.choice(_GEN_CHARS) for _ in range(32))


def _duration(name: str, value: object, *, allow_zero: bool = True) -> float | None:
    """A duration in seconds, or None for "use the core's default"."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigError(f"{name} must be a number of seconds, not {type(value).__name__}")
    seconds = float(value)
    if math.isnan(seconds) or math.isinf(seconds) or seconds < 0 or (seconds == 0 and not allow_zero):
        lowest = "zero or more" if allow_zero else "more than zero"
        raise ConfigError(f"{name} must be {lowest} seconds, got {value!r}")
    return seconds


def _enum_tuple(name: str, values: Iterable[Any], kind: type[enum.Enum]) -> tuple[Any, ...]:
    if isinstance(values, (str, bytes)) or not hasattr(values, "__iter__"):
        raise ConfigError(f"{name} must be a list of {kind.__name__}")
    out: list[Any] = []
    for value in values:
        if isinstance(value, kind):
            item = value
        elif isinstance(value, str):
            try:
                item = kind(value.lower())
            except ValueError:
                choices = ", ".join(str(m.value) for m in kind)
                raise ConfigError(f"unknown {name} value {value!r} (choose from {choices})") from None
        else:
            raise ConfigError(f"{name} values must be {kind.__name__}, not {type(value).__name__}")
        if item not in out:
            out.append(item)
    return tuple(out)


def _port(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 65535:
        raise ConfigError(f"{name} must be an int from 0 to 65535, got {value!r}")
    return value


def _positive_int(name: str, value: object, lowest: int = 1, highest: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < lowest or (
            highest is not None and value > highest):
        bounds = f"from {lowest} to {highest}" if highest is not None else f">= {lowest}"
        raise ConfigError(f"{name} must be an int {bounds}, got {value!r}")
    return value


_DEFAULT_CANDIDATE_TYPES = (CandidateType.HOST, CandidateType.SRFLX, CandidateType.RELAY)


@dataclass(frozen=True, slots=True)
class AgentOptions:
    """The agent's options, validated on construction; see ``docs/configuration.md``.

    ``icekit.Agent(**kwargs)`` builds one of these from its keywords (the
    same names and defaults), so both accept exactly the same values:
    lists or tuples of enum members or their names for ``network_types``,
    ``candidate_types``, and URIs or URI strings for ``urls``.  Bad values
    raise :class:`~icekit.errors.ConfigError` (or
    :class:`~icekit.errors.CredentialsError` for ufrag/pwd) naming the option.
    ``None`` for a timer keeps the core's default.  ``repr()`` hides
    ``local_pwd``.
    """

    network_types: tuple[NetworkType, ...] = SUPPORTED_NETWORK_TYPES
    urls: tuple[Any, ...] = ()
    candidate_types: tuple[CandidateType, ...] = _DEFAULT_CANDIDATE_TYPES
    local_ufrag: str | None = None
    local_pwd: str | None = field(default=None, repr=False)
    include_loopback: bool = False
    include_link_local: bool = False
    interface_filter: InterfaceFilter | None = None
    ip_filter: IPFilter | None = None
    port_min: int = 0
    port_max: int = 0
    check_interval: float | None = None
    disconnected_timeout: float | None = None
    failed_timeout: float | None = None
    keepalive_interval: float | None = None
    host_acceptance_min_wait: float | None = None
    srflx_acceptance_min_wait: float | None = None
    prflx_acceptance_min_wait: float | None = None
    relay_acceptance_min_wait: float | None = None
    lite: bool = False
    receive_buffer_size: int = 1024
    max_datagram_size: int = 8192
    stun_gather_timeout: float = 5.0
    turn_tls: TlsOptions | None = None
    max_remote_prflx: int | None = None
    max_remote_candidates: int | None = None

    def __post_init__(self) -> None:
        def put(name: str, value: object) -> None:
            object.__setattr__(self, name, value)  # normalise a frozen field

        # None (the Agent's keyword default) means the default, like leaving it out.
        nets: tuple[NetworkType, ...] = SUPPORTED_NETWORK_TYPES
        if self.network_types is not None:
            nets = _enum_tuple("network_types", self.network_types, NetworkType)
        if not nets:
            raise ConfigError("network_types is empty: nothing could be gathered")
        unsupported = [str(n) for n in nets if n not in SUPPORTED_NETWORK_TYPES]
        if unsupported:
            raise ConfigError(f"network types not supported yet: {', '.join(unsupported)}")
        put("network_types", nets)

        ctypes: tuple[CandidateType, ...] = _DEFAULT_CANDIDATE_TYPES
        if self.candidate_types is not None:
            ctypes = _enum_tuple("candidate_types", self.candidate_types, CandidateType)
        if not ctypes:
            raise ConfigError("candidate_types is empty: nothing could be gathered")
        if CandidateType.PRFLX in ctypes:
            raise ConfigError("candidate_types: peer-reflexive candidates are learned, not gathered")
        put("candidate_types", ctypes)

        urls = self.urls
        if urls is None:
            urls = ()
        if isinstance(urls, (str, bytes)):
            raise ConfigError("urls must be a list of STUN/TURN URIs, not a single string")
        from .servers import parse_urls

        url_list = parse_urls(urls)
        if url_list and CandidateType.SRFLX not in ctypes and CandidateType.RELAY not in ctypes:
            raise ConfigError("urls are useless when candidate_types has neither srflx nor relay")
        put("urls", url_list)

        for flag in ("include_loopback", "include_link_local", "lite"):
            if not isinstance(getattr(self, flag), bool):
                raise ConfigError(f"{flag} must be True or False, got {getattr(self, flag)!r}")
        if self.lite and ctypes != (CandidateType.HOST,):
            raise ConfigError("lite agents gather host candidates only: pass candidate_types=[CandidateType.HOST]")
        for name in ("interface_filter", "ip_filter"):
            if getattr(self, name) is not None and not callable(getattr(self, name)):
                raise ConfigError(f"{name} must be callable")

        pmin = _port("port_min", self.port_min)
        pmax = _port("port_max", self.port_max)
        if pmax and pmin > pmax:
            raise ConfigError(f"port_min {pmin} is above port_max {pmax}")
        if pmin and not pmax:
            put("port_max", 65535)

        if self.local_ufrag is not None:
            validate_ufrag(self.local_ufrag, what="local_ufrag")
        if self.local_pwd is not None:
            validate_pwd(self.local_pwd, what="local_pwd")

        for name in ("check_interval", "disconnected_timeout", "keepalive_interval"):
            put(name, _duration(name, getattr(self, name), allow_zero=False))
        for name in ("failed_timeout", "host_acceptance_min_wait", "srflx_acceptance_min_wait",
                     "prflx_acceptance_min_wait", "relay_acceptance_min_wait"):
            put(name, _duration(name, getattr(self, name)))
        ta = self.check_interval
        if ta is not None and ta < MIN_TA:
            raise ConfigError(f"check_interval must be at least {MIN_TA} s (RFC 8445 §14.2), got {ta!r}")
        put("stun_gather_timeout", _duration("stun_gather_timeout", self.stun_gather_timeout,
                                             allow_zero=False))

        _positive_int("receive_buffer_size", self.receive_buffer_size)
        _positive_int("max_datagram_size", self.max_datagram_size, 576, 65536)
        if self.turn_tls is not None and not isinstance(self.turn_tls, TlsOptions):
            raise ConfigError(f"turn_tls must be an icekit.TlsOptions, not {type(self.turn_tls).__name__}")
        for name in ("max_remote_prflx", "max_remote_candidates"):
            if getattr(self, name) is not None:
                _positive_int(name, getattr(self, name))

    def ice_config(self) -> IceConfig:
        """These options translated into the sans-IO core's :class:`IceConfig`.

        Mapping: ``check_interval`` is Ta, ``keepalive_interval`` the consent
        check interval (RFC 7675 §5.1), ``disconnected_timeout`` plus
        ``failed_timeout`` the consent timeout, the four acceptance waits the
        per-type nomination waits, ``max_remote_prflx`` and
        ``max_remote_candidates`` the caps on remote candidates.  Options left at None keep the core's defaults.
        """
        kwargs: dict[str, Any] = {"lite": self.lite}
        if self.check_interval is not None:
            kwargs["ta"] = self.check_interval
        if self.keepalive_interval is not None:
            kwargs["consent_interval"] = self.keepalive_interval
        defaults = IceConfig()
        if self.disconnected_timeout is not None:
            kwargs["disconnected_timeout"] = self.disconnected_timeout
        if self.failed_timeout is not None or self.disconnected_timeout is not None:
            # failed_timeout counts from the disconnection, so moving one moves
            # the consent timeout too (failed_timeout keeps its default of
            # consent_timeout - disconnected_timeout).
            disconnected = self.disconnected_timeout
            if disconnected is None:
                disconnected = defaults.disconnected_timeout
            failed = self.failed_timeout
            if failed is None:
                failed = defaults.consent_timeout - defaults.disconnected_timeout
            kwargs["consent_timeout"] = disconnected + failed
        for name in ("max_remote_prflx", "max_remote_candidates"):
            if getattr(self, name) is not None:
                kwargs[name] = getattr(self, name)
        for kind in ("host", "srflx", "prflx", "relay"):
            wait = getattr(self, f"{kind}_acceptance_min_wait")
            if wait is not None:
                kwargs[f"nomination_wait_{kind}"] = wait
        return IceConfig(**kwargs)
