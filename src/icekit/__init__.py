"""icekit: Interactive Connectivity Establishment (RFC 8445) for Python."""

from __future__ import annotations

from .errors import (
    CandidateError,
    ClosedError,
    ConfigError,
    ConnectionFailedError,
    CredentialsError,
    FramingError,
    IceError,
    IcekitError,
    InvalidStateError,
    StunError,
    StunFingerprintError,
    StunIntegrityError,
    StunParseError,
    StunUnknownAttributesError,
    TurnError,
    URIError,
)

__version__ = "0.1.0"

__all__ = [
    "CandidateError",
    "ClosedError",
    "ConfigError",
    "ConnectionFailedError",
    "CredentialsError",
    "FramingError",
    "IceError",
    "IcekitError",
    "InvalidStateError",
    "StunError",
    "StunFingerprintError",
    "StunIntegrityError",
    "StunParseError",
    "StunUnknownAttributesError",
    "TurnError",
    "URIError",
    "__version__",
]
