"""The icekit exception hierarchy.

Every error icekit raises on purpose derives from :class:`IcekitError`. Parsers of
wire data and text raise only the subclasses below, never ``IndexError``,
``struct.error``, ``UnicodeDecodeError``, ``KeyError`` or a bare ``ValueError``.
The parse errors also derive from :class:`ValueError`, so code that already
catches ``ValueError`` keeps working.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence

__all__ = [
    "CandidateError",
    "ClosedError",
    "ConfigError",
    "ConnectionFailedError",
    "CredentialsError",
    "DatagramTooLargeError",
    "FailureReason",
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


class FailureReason(enum.Enum):
    """Why ICE failed: :attr:`ConnectionFailedError.reason`.

    Each member's :attr:`hint` says what to check.
    """

    #: No remote candidate was ever added (or learned from a peer's check).
    NO_REMOTE_CANDIDATES = "no-remote-candidates"
    #: Remote candidates exist but none pairs with a local one (IP family,
    #: UDP/TCP, TCP type).
    NO_COMPATIBLE_PAIRS = "no-compatible-pairs"
    #: Checks were sent and never answered: the peer is unreachable or filtered.
    NO_RESPONSE = "no-response"
    #: The peer answered our checks with 401: the remote ufrag/pwd we were
    #: given are wrong (RFC 8445 §7.2.2, RFC 8489 §9.1.3).
    CREDENTIALS_REJECTED = "credentials-rejected"
    #: The peer's checks fail our USERNAME or MESSAGE-INTEGRITY: the peer has
    #: our ufrag/pwd wrong.
    PEER_CREDENTIALS_WRONG = "peer-credentials-wrong"
    #: A role conflict was not resolved within the role switch limit.
    ROLE_CONFLICT = "role-conflict"
    #: Our checks succeeded but the controlling peer never nominated a pair.
    NOT_NOMINATED = "not-nominated"
    #: Checks were answered, but no pair succeeded (mixed causes).
    CHECKS_FAILED = "checks-failed"
    #: Consent was lost after connecting (RFC 7675 §5.1).
    CONSENT_LOST = "consent-lost"

    @property
    def hint(self) -> str:
        """What happened and what to check, in one sentence."""
        return _HINTS[self]


_HINTS = {
    FailureReason.NO_REMOTE_CANDIDATES:
        "no remote candidate was received; check that the peer's candidates are signalled "
        "to this agent (add_remote_candidate)",
    FailureReason.NO_COMPATIBLE_PAIRS:
        "no remote candidate matches a local one; check the IP families (IPv4/IPv6) and "
        "transports (UDP/TCP) both sides gather (network_types)",
    FailureReason.NO_RESPONSE:
        "connectivity checks were sent but never answered; the peer is unreachable or "
        "filtered (firewall, NAT): check the addresses, or add a TURN server",
    FailureReason.CREDENTIALS_REJECTED:
        "the peer rejected our checks (401): the remote ufrag/pwd given to this agent are "
        "wrong; check the signalling of the peer's credentials",
    FailureReason.PEER_CREDENTIALS_WRONG:
        "the peer's checks fail our username or integrity check: the peer was given the "
        "wrong ufrag/pwd for this agent; check the signalling of our credentials",
    FailureReason.ROLE_CONFLICT:
        "the ICE role conflict was not resolved; check that one side dials and the other "
        "accepts",
    FailureReason.NOT_NOMINATED:
        "the peer was reached but never nominated a pair; check that one side dials "
        "(controlling) and the other accepts",
    FailureReason.CHECKS_FAILED:
        "every candidate pair failed its connectivity checks",
    FailureReason.CONSENT_LOST:
        "consent was lost after connecting: the peer stopped answering (gone, closed, "
        "or the path broke)",
}


class ConnectionFailedError(IceError):
    """ICE failed: no candidate pair could be used, or consent was lost.

    :attr:`reason` (a :class:`FailureReason`, or ``None`` when unknown) says
    why; the message says what to check.
    """

    def __init__(self, message: str | None = None, *,
                 reason: FailureReason | None = None) -> None:
        if message is None:
            message = f"ICE failed: {reason.hint}" if reason is not None else "ICE failed"
        super().__init__(message)
        self.reason = reason
