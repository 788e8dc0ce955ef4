"""Configuration of the ICE agent core: timers, limits and policies."""

from __future__ import annotations

import math
from dataclasses import dataclass, fields

from ..errors import ConfigError

__all__ = ["IceConfig"]


#: The smallest pacing interval RFC 8445 §14.2 allows, in seconds.
MIN_TA = 0.005


@dataclass(frozen=True, slots=True)
class IceConfig:
    """Options of :class:`~icekit.ice.IceAgent`; every field has a usable default.

    Times are seconds.  Construction validates every value and raises
    :class:`~icekit.errors.ConfigError` naming the bad field.
    """

    #: Pacing of ordinary and triggered checks (RFC 8445 §14.2, default 50 ms).
    ta: float = 0.05
    #: Upper bound on the number of candidate pairs (RFC 8445 §6.1.2.5).
    max_pairs: int = 100
    #: Upper bound on remote peer-reflexive candidates learned from checks
    #: (RFC 8445 §7.3.1.3), a quarter of ``max_pairs``: checks from further
    #: unknown sources are answered but teach nothing and trigger no check
    #: (``dropped["prflx_limit"]``), and learned pairs never fill the check
    #: list (signalled candidates always find room, see docs/core.md).
    max_remote_prflx: int = 25
    #: Upper bound on remote candidates, signalled and learned.  An honest
    #: peer signals tens (interfaces x types x transports); 2000 leaves wide
    #: headroom while bounding memory (~0.5 MB).  Beyond it
    #: ``add_remote_candidate`` drops the candidate and returns False.
    max_remote_candidates: int = 2000
    #: Floor of the check retransmission timeout (RFC 8445 §14.3: 500 ms).
    rto_min: float = 0.5
    #: Ceiling of the doubled retransmission timeout (see docs/deviations.md).
    rto_max: float = 3.0
    #: Transmissions of one connectivity check before the pair fails.
    max_check_transmissions: int = 7
    #: How long the best valid pair may be beaten by a still-pending better
    #: pair before the controlling agent nominates it, by the worse candidate
    #: type of the pair.  Host pairs are nominated at once.
    nomination_wait_host: float = 0.0
    nomination_wait_srflx: float = 0.15
    nomination_wait_prflx: float = 0.15
    nomination_wait_relay: float = 0.5
    #: Send NOMINATION (draft-thatcher-ice-renomination) so the controlling
    #: agent may move to a better pair after the first nomination.
    renomination: bool = False
    #: Local ICE-lite mode: answer checks only, never send any (RFC 8445 §2.5).
    lite: bool = False
    #: Consent freshness (RFC 7675 §5.1): mean interval and relative jitter.
    consent_interval: float = 5.0
    consent_jitter: float = 0.2
    #: Consent is lost this long after the last authenticated response.
    consent_timeout: float = 30.0
    #: The state turns disconnected this long without an authenticated response.
    disconnected_timeout: float = 5.0
    #: Patiently awaiting connectivity (RFC 8863 §3): no failure before this
    #: long after the start unless the remote end-of-candidates is known.
    pac_timeout: float = 39.5

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, bool):
                continue
            if f.type == "int":
                if not isinstance(value, int) or value < 1:
                    raise ConfigError(f"IceConfig.{f.name} must be >= 1, got {value!r}")
                continue
            if not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
                raise ConfigError(
                    f"IceConfig.{f.name} must be a finite number >= 0, got {value!r}"
                )
        for name in ("ta", "rto_min", "consent_interval", "consent_timeout",
                     "disconnected_timeout"):
            if getattr(self, name) <= 0:
                raise ConfigError(f"IceConfig.{name} must be > 0, got {getattr(self, name)!r}")
        # RFC 8445 §14.2: Ta MUST NOT be less than 5 ms.
        if self.ta < MIN_TA:
            raise ConfigError(f"IceConfig.ta must be >= {MIN_TA} s (RFC 8445 §14.2), got {self.ta!r}")
        if self.rto_max < self.rto_min:
            raise ConfigError("IceConfig.rto_max must be >= rto_min")
        if not self.consent_jitter < 1:
            raise ConfigError("IceConfig.consent_jitter must be < 1")
        if self.consent_timeout < self.disconnected_timeout:
            raise ConfigError("IceConfig.consent_timeout must be >= disconnected_timeout")

    def nomination_wait(self, type_name: str) -> float:
        """The nomination wait for a candidate type name (``"host"`` …)."""
        return {
            "host": self.nomination_wait_host,
            "srflx": self.nomination_wait_srflx,
            "prflx": self.nomination_wait_prflx,
            "relay": self.nomination_wait_relay,
        }.get(type_name, self.nomination_wait_relay)
