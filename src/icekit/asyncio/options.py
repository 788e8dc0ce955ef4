"""Agent options: validation, defaults and the network-type filter.

:func:`make_options` turns the keyword arguments of :class:`icekit.Agent` into a
frozen :class:`AgentOptions`, raising :class:`~icekit.errors.ConfigError` (or
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
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from ..candidate import CandidateType
from ..errors import ConfigError, CredentialsError
from ..ice.config import MIN_TA
from .srflx import TlsOptions

if TYPE_CHECKING:
    from ..ice.config import IceConfig

__all__ = [
    "AgentOptions",
    "IPAddress",
    "IPFilter",
    "InterfaceFilter",
    "NetworkType",
    "check_handler",
    "check_remote_credentials",
    "core_config",
    "generate_pwd",
    "generate_ufrag",
    "make_options",
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

# RFC 8839 §5.4: ice-char = ALPHA / DIGIT / "+" / "/".
_ICE_CHARS = frozenset(string.ascii_letters + string.digits + "+/")
# Generated credentials use letters only, so they survive any signalling.
_GEN_CHARS = string.ascii_letters


def validate_ufrag(ufrag: str, *, what: str = "ufrag") -> str:
    """Check an ice-ufrag: 4 to 256 ice-chars (RFC 8839 §5.4)."""
    return _validate_ice_chars(ufrag, 4, what)


def validate_pwd(pwd: str, *, what: str = "pwd") -> str:
    """Check an ice-pwd: 22 to 256 ice-chars (RFC 8839 §5.4)."""
    return _validate_ice_chars(pwd, 22, what)


def _validate_ice_chars(value: object, minimum: int, what: str) -> str:
    if not isinstance(value, str):
        raise CredentialsError(f"{what} must be a str, not {type(value).__name__}")
    if not minimum <= len(value) <= 256:
        raise CredentialsError(
            f"{what} must be {minimum} to 256 characters long (RFC 8839 §5.4), got {len(value)}"
        )
    bad = set(value) - _ICE_CHARS
    if bad:
        shown = "".join(sorted(bad))[:8]
        raise CredentialsError(f"{what} may only contain A-Z a-z 0-9 + / (RFC 8839 §5.4), got {shown!r}")
    return value


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


@dataclass(frozen=True)
class AgentOptions:
    """Validated agent options; see ``docs/configuration.md`` for each."""

    network_types: tuple[NetworkType, ...]
    urls: tuple[Any, ...]
    candidate_types: tuple[CandidateType, ...]
    local_ufrag: str | None
    local_pwd: str | None
    include_loopback: bool
    include_link_local: bool
    interface_filter: InterfaceFilter | None
    ip_filter: IPFilter | None
    port_min: int
    port_max: int
    check_interval: float | None
    disconnected_timeout: float | None
    failed_timeout: float | None
    keepalive_interval: float | None
    host_acceptance_min_wait: float | None
    srflx_acceptance_min_wait: float | None
    prflx_acceptance_min_wait: float | None
    relay_acceptance_min_wait: float | None
    lite: bool
    receive_buffer_size: int
    max_datagram_size: int
    stun_gather_timeout: float
    turn_tls: TlsOptions | None = None
    max_remote_prflx: int | None = None


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


def make_options(
    *,
    network_types: Iterable[NetworkType | str] | None = None,
    urls: Iterable[Any] | None = None,
    candidate_types: Iterable[CandidateType | str] | None = None,
    local_ufrag: str | None = None,
    local_pwd: str | None = None,
    include_loopback: bool = False,
    include_link_local: bool = False,
    interface_filter: InterfaceFilter | None = None,
    ip_filter: IPFilter | None = None,
    port_min: int = 0,
    port_max: int = 0,
    check_interval: float | None = None,
    disconnected_timeout: float | None = None,
    failed_timeout: float | None = None,
    keepalive_interval: float | None = None,
    host_acceptance_min_wait: float | None = None,
    srflx_acceptance_min_wait: float | None = None,
    prflx_acceptance_min_wait: float | None = None,
    relay_acceptance_min_wait: float | None = None,
    lite: bool = False,
    receive_buffer_size: int = 1024,
    max_datagram_size: int = 8192,
    stun_gather_timeout: float = 5.0,
    turn_tls: TlsOptions | None = None,
    max_remote_prflx: int | None = None,
) -> AgentOptions:
    """Validate the agent's keyword options and fill in defaults."""
    if network_types is None:
        nets: tuple[NetworkType, ...] = SUPPORTED_NETWORK_TYPES
    else:
        nets = _enum_tuple("network_types", network_types, NetworkType)
        if not nets:
            raise ConfigError("network_types is empty: nothing could be gathered")
        unsupported = [str(n) for n in nets if n not in SUPPORTED_NETWORK_TYPES]
        if unsupported:
            raise ConfigError(f"network types not supported yet: {', '.join(unsupported)}")

    if candidate_types is None:
        ctypes: tuple[CandidateType, ...] = (CandidateType.HOST, CandidateType.SRFLX, CandidateType.RELAY)
    else:
        ctypes = _enum_tuple("candidate_types", candidate_types, CandidateType)
        if not ctypes:
            raise ConfigError("candidate_types is empty: nothing could be gathered")
        if CandidateType.PRFLX in ctypes:
            raise ConfigError("candidate_types: peer-reflexive candidates are learned, not gathered")

    if urls is None:
        url_list: tuple[Any, ...] = ()
    elif isinstance(urls, (str, bytes)):
        raise ConfigError("urls must be a list of STUN/TURN URIs, not a single string")
    else:
        from .servers import parse_urls

        url_list = parse_urls(urls)
        if url_list and CandidateType.SRFLX not in ctypes and CandidateType.RELAY not in ctypes:
            raise ConfigError("urls are useless when candidate_types has neither srflx nor relay")

    for flag_name, flag in (
        ("include_loopback", include_loopback),
        ("include_link_local", include_link_local),
        ("lite", lite),
    ):
        if not isinstance(flag, bool):
            raise ConfigError(f"{flag_name} must be True or False, got {flag!r}")
    if lite and ctypes != (CandidateType.HOST,):
        raise ConfigError("lite agents gather host candidates only: pass candidate_types=[CandidateType.HOST]")

    for fname, func in (("interface_filter", interface_filter), ("ip_filter", ip_filter)):
        if func is not None and not callable(func):
            raise ConfigError(f"{fname} must be callable")

    pmin = _port("port_min", port_min)
    pmax = _port("port_max", port_max)
    if pmax and pmin > pmax:
        raise ConfigError(f"port_min {pmin} is above port_max {pmax}")
    if pmin and not pmax:
        pmax = 65535

    if local_ufrag is not None:
        validate_ufrag(local_ufrag, what="local_ufrag")
    if local_pwd is not None:
        validate_pwd(local_pwd, what="local_pwd")

    timers = {
        "check_interval": _duration("check_interval", check_interval, allow_zero=False),
        "disconnected_timeout": _duration("disconnected_timeout", disconnected_timeout, allow_zero=False),
        "failed_timeout": _duration("failed_timeout", failed_timeout),
        "keepalive_interval": _duration("keepalive_interval", keepalive_interval, allow_zero=False),
    }
    ta = timers["check_interval"]
    if ta is not None and ta < MIN_TA:
        raise ConfigError(f"check_interval must be at least {MIN_TA} s (RFC 8445 §14.2), got {ta!r}")

    if isinstance(receive_buffer_size, bool) or not isinstance(receive_buffer_size, int) or receive_buffer_size < 1:
        raise ConfigError(f"receive_buffer_size must be a positive number of datagrams, got {receive_buffer_size!r}")
    if (
        isinstance(max_datagram_size, bool)
        or not isinstance(max_datagram_size, int)
        or not 576 <= max_datagram_size <= 65536
    ):
        raise ConfigError(f"max_datagram_size must be an int from 576 to 65536, got {max_datagram_size!r}")
    gather_timeout = _duration("stun_gather_timeout", stun_gather_timeout, allow_zero=False)
    assert gather_timeout is not None
    if turn_tls is not None and not isinstance(turn_tls, TlsOptions):
        raise ConfigError(
            f"turn_tls must be an icekit.asyncio.srflx.TlsOptions, not {type(turn_tls).__name__}"
        )

    if max_remote_prflx is not None and (
        isinstance(max_remote_prflx, bool) or not isinstance(max_remote_prflx, int) or max_remote_prflx < 1
    ):
        raise ConfigError(f"max_remote_prflx must be a positive int, got {max_remote_prflx!r}")

    return AgentOptions(
        network_types=nets,
        urls=url_list,
        candidate_types=ctypes,
        local_ufrag=local_ufrag,
        local_pwd=local_pwd,
        include_loopback=include_loopback,
        include_link_local=include_link_local,
        interface_filter=interface_filter,
        ip_filter=ip_filter,
        port_min=pmin,
        port_max=pmax,
        check_interval=timers["check_interval"],
        disconnected_timeout=timers["disconnected_timeout"],
        failed_timeout=timers["failed_timeout"],
        keepalive_interval=timers["keepalive_interval"],
        host_acceptance_min_wait=_duration("host_acceptance_min_wait", host_acceptance_min_wait),
        srflx_acceptance_min_wait=_duration("srflx_acceptance_min_wait", srflx_acceptance_min_wait),
        prflx_acceptance_min_wait=_duration("prflx_acceptance_min_wait", prflx_acceptance_min_wait),
        relay_acceptance_min_wait=_duration("relay_acceptance_min_wait", relay_acceptance_min_wait),
        lite=lite,
        receive_buffer_size=receive_buffer_size,
        max_datagram_size=max_datagram_size,
        stun_gather_timeout=gather_timeout,
        turn_tls=turn_tls,
        max_remote_prflx=max_remote_prflx,
    )


def core_config(options: AgentOptions) -> IceConfig:
    """Translate the agent options into the sans-IO core's :class:`IceConfig`.

    Mapping: ``check_interval`` is Ta, ``keepalive_interval`` the consent
    check interval (RFC 7675 §5.1), ``disconnected_timeout`` plus
    ``failed_timeout`` the consent timeout, the four acceptance waits the
    per-type nomination waits, ``max_remote_prflx`` the cap on learned
    peer-reflexive candidates. Options left at None keep the core's defaults.
    """
    from ..ice.config import IceConfig

    kwargs: dict[str, Any] = {"lite": options.lite}
    if options.check_interval is not None:
        kwargs["ta"] = options.check_interval
    if options.keepalive_interval is not None:
        kwargs["consent_interval"] = options.keepalive_interval
    defaults = IceConfig()
    if options.disconnected_timeout is not None:
        kwargs["disconnected_timeout"] = options.disconnected_timeout
    if options.failed_timeout is not None or options.disconnected_timeout is not None:
        # failed_timeout counts from the disconnection, so moving one moves
        # the consent timeout too (failed_timeout keeps its default of
        # consent_timeout - disconnected_timeout).
        disconnected = options.disconnected_timeout
        if disconnected is None:
            disconnected = defaults.disconnected_timeout
        failed = options.failed_timeout
        if failed is None:
            failed = defaults.consent_timeout - defaults.disconnected_timeout
        kwargs["consent_timeout"] = disconnected + failed
    if options.max_remote_prflx is not None:
        kwargs["max_remote_prflx"] = options.max_remote_prflx
    for kind in ("host", "srflx", "prflx", "relay"):
        wait = getattr(options, f"{kind}_acceptance_min_wait")
        if wait is not None:
            kwargs[f"nomination_wait_{kind}"] = wait
    return IceConfig(**kwargs)
