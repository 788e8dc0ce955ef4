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
    "DatagramTooLargeError",
    "FramingError",
    "IceError",
    "IcekitError",
    "InvalidStateError",
    "ServerError",
    "ServerUnreachableError",
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


class InvalidStateError(IcekitError):
    """The call is not allowed in the object's current state (e.g. dial twice)."""


class ClosedError(IcekitError):
    """The agent, connection or client is closed."""


class DatagramTooLargeError(IcekitError, ValueError):
    """A datagram is larger than the path can carry (``max_datagram_size``,
    the socket's limit, or what fits into a TURN message or a TCP frame)."""


class ServerError(IcekitError):
    """A STUN or TURN server could not be used.

    :attr:`code` is the STUN error code the server answered with, or ``None``
    when the failure is local (no answer, DNS, connection, TLS).
    """

    def __init__(self, message: str, code: int | None = None) -> None:
        super().__init__(message)
        self.code = code


class ServerUnreachableError(ServerError):
    """No usable answer from the server: its name did not resolve, the
    connection or TLS handshake failed, or no response came in time."""


class TurnError(ServerError):
    """A TURN (or STUN Binding) exchange failed on the server's word.

    :attr:`code` is the error code the server sent (401, 437, 486, ...), or
    ``None`` when its answer was unusable (e.g. a success without an address).
    """


class IceError(IcekitError):
    """A problem with the ICE agent."""


class ConnectionFailedError(IceError):
    """ICE failed: no candidate pair could be used, or consent was lost."""
