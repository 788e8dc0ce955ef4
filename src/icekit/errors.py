"""The icekit exception hierarchy.

Every error icekit raises on purpose derives from :class:`IcekitError`. Parsers of
wire data and text raise only the subclasses below, never ``IndexError``,
``struct.error``, ``UnicodeDecodeError``, ``KeyError`` or a bare ``ValueError``.
The parse errors also derive from :class:`ValueError`, so code that already
catches ``ValueError`` keeps working.
"""

from __future__ import annotations

from collections.abc import Sequence

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
    "StunEncodeError",
    "StunError",
    "StunFingerprintError",
    "StunIntegrityError",
    "StunParseError",
    "StunUnknownAttributesError",
    "TurnError",
    "URIError",
]


class IcekitError(Exception):
    """Base class of every error raised by icekit."""


class StunError(IcekitError):
    """A problem with STUN data or a STUN exchange."""


class StunParseError(StunError, ValueError):
    """Bytes that are not a well-formed STUN message or attribute."""


class StunEncodeError(StunError, ValueError):
    """A value that cannot be encoded into a STUN message (e.g. port 70000)."""


class StunIntegrityError(StunError):
    """MESSAGE-INTEGRITY(-SHA256) is missing or does not match the key."""


class StunFingerprintError(StunParseError):
    """FINGERPRINT does not match the message."""


class StunUnknownAttributesError(StunError):
    """The message carries comprehension-required attributes we do not know.

    A server or agent answers such a request with 420 (Unknown Attribute),
    listing :attr:`attributes` in UNKNOWN-ATTRIBUTES (RFC 8489 §7.3.1).
    """

    def __init__(self, attributes: Sequence[int]) -> None:
        self.attributes = tuple(attributes)
        names = ", ".join(f"0x{a:04x}" for a in self.attributes)
        super().__init__(f"unknown comprehension-required attributes: {names}")


class FramingError(IcekitError, ValueError):
    """Malformed ChannelData or RFC 4571 stream framing."""


class URIError(IcekitError, ValueError):
    """A STUN or TURN URI (RFC 7064 / RFC 7065) that cannot be parsed."""


class CandidateError(IcekitError, ValueError):
    """An ICE candidate string or field that is not valid (RFC 8839 §5.1)."""


class CredentialsError(IcekitError, ValueError):
    """An ICE ufrag/pwd or TURN credential that breaks the rules."""


class ConfigError(IcekitError, ValueError):
    """An agent option with a value icekit cannot use."""


class TurnError(IcekitError):
    """A TURN allocation or request failed.

    :attr:`code` is the STUN error code the server sent (or ``None`` for a
    local failure such as a timeout).
    """

    def __init__(self, message: str, code: int | None = None) -> None:
        super().__init__(message)
        self.code = code


class IceError(IcekitError):
    """A problem with the ICE agent."""


class InvalidStateError(IceError):
    """The call is not allowed in the agent's current state (e.g. dial twice)."""


class ClosedError(IceError):
    """The agent or connection is closed."""


class ConnectionFailedError(IceError):
    """ICE failed: no candidate pair could be used, or consent was lost."""
