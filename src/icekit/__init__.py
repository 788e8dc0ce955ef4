"""icekit: Interactive Connectivity Establishment (RFC 8445) for Python."""

from __future__ import annotations

from .asyncio import Agent, AgentOptions, Conn, NetworkType
from .asyncio.natprobe import NatBehaviour, NatProbeResult, NatVerdict, probe_nat
from .asyncio.servers import ServerFailure, TlsOptions
from .candidate import Candidate, CandidateType, TCPType
from .errors import (
    CandidateError,
    ClosedError,
    ConfigError,
    ConnectionFailedError,
    CredentialsError,
    DatagramTooLargeError,
    FailureReason,
    FramingError,
    IceError,
    IcekitError,
    InvalidStateError,
    ServerError,
    ServerUnreachableError,
    StunEncodeError,
    StunError,
    StunFingerprintError,
    StunIntegrityError,
    StunParseError,
    StunUnknownAttributesError,
    TurnError,
    URIError,
)
from .ice import ConnectionState, GatheringState
from .uri import URI

__version__ = "0.1.0"

__all__ = [
    "URI",
    "Agent",
    "AgentOptions",
    "Candidate",
    "CandidateError",
    "CandidateType",
    "ClosedError",
    "ConfigError",
    "Conn",
    "ConnectionFailedError",
    "ConnectionState",
    "CredentialsError",
    "DatagramTooLargeError",
    "FailureReason",
    "FramingError",
    "GatheringState",
    "IceError",
    "IcekitError",
    "InvalidStateError",
    "NatBehaviour",
    "NatProbeResult",
    "NatVerdict",
    "NetworkType",
    "ServerError",
    "ServerFailure",
    "ServerUnreachableError",
    "StunEncodeError",
    "StunError",
    "StunFingerprintError",
    "StunIntegrityError",
    "StunParseError",
    "StunUnknownAttributesError",
    "TCPType",
    "TlsOptions",
    "TurnError",
    "URIError",
    "__version__",
    "probe_nat",
]
