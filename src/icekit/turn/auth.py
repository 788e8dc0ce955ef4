"""The STUN long-term credential mechanism, client side (RFC 8489 §9.2).

:class:`LongTermAuth` remembers what the server told us in its 401 and 438
answers (REALM, NONCE, the NONCE cookie's security features and the
PASSWORD-ALGORITHMS it offers) and adds the matching attributes to every
request: USERNAME (or USERHASH), REALM, NONCE, PASSWORD-ALGORITHMS and
PASSWORD-ALGORITHM, then MESSAGE-INTEGRITY or MESSAGE-INTEGRITY-SHA256.
"""

from __future__ import annotations

import logging

from ..errors import StunParseError
from ..stun import (
    Attr,
    IntegrityKey,
    Message,
    long_term_key,
    nonce_security_features,
    userhash,
)
from ..stun.constants import PasswordAlgorithm, SecurityFeature

__all__ = ["LongTermAuth", "parse_nonce_features"]

logger = logging.getLogger(__name__)


def parse_nonce_features(nonce: str) -> SecurityFeature:
    """The security-feature bits of a NONCE cookie (RFC 8489 §9.2), else none."""
    try:
        features = nonce_security_features(nonce)
    except StunParseError:
        return SecurityFeature.NONE
    return features if features is not None else SecurityFeature.NONE


class LongTermAuth:
    """Client state of the long-term credential mechanism for one server."""

    def __init__(
        self, username: str, password: str, *, use_userhash: bool = False
    ) -> None:
        self.username = username
        self.password = password
        self.use_userhash = use_userhash
        self.realm: str | None = None
        self.nonce: str | None = None
        self.features = SecurityFeature.NONE
        #: PASSWORD-ALGORITHMS exactly as the server sent them (echoed back)
        self.offered: tuple[int, ...] | None = None
        self.algorithm = PasswordAlgorithm.MD5
        self._key: IntegrityKey | None = None

    @property
    def ready(self) -> bool:
        """True once a REALM and NONCE are known (requests can be signed)."""
        return self.realm is not None and self.nonce is not None

    @property
    def key(self) -> IntegrityKey | None:
        """The HMAC key for the current realm and algorithm (its HMAC states
        cached with it, for every request and response of the allocation)."""
        if self.realm is None:
            return None
        if self._key is None:
            self._key = IntegrityKey(long_term_key(
                self.username, self.realm, self.password, self.algorithm))
        return self._key

    def reset(self) -> None:
        """Forget the server's realm and nonce (a new server after a redirect)."""
        self.realm = None
        self.nonce = None
        self.features = SecurityFeature.NONE
        self.offered = None
        self.algorithm = PasswordAlgorithm.MD5
        self._key = None

    def learn(self, response: Message) -> bool:
        """Take REALM/NONCE/PASSWORD-ALGORITHMS from a 401 or 438 answer.

        Returns True if the answer changed something we send (a new nonce or
        realm), i.e. a retry with the new values makes sense.
        """
        realm = response.get(Attr.REALM)
        nonce = response.get(Attr.NONCE)
        changed = False
        if isinstance(realm, str) and realm != self.realm:
            self.realm = realm
            self._key = None
            changed = True
        if isinstance(nonce, str) and nonce != self.nonce:
            self.nonce = nonce
            self.features = parse_nonce_features(nonce)
            changed = True
        if SecurityFeature.PASSWORD_ALGORITHMS in self.features:
            offered = _algorithms(response.get(Attr.PASSWORD_ALGORITHMS))
            if offered is not None:
                self.offered = offered
                codes = offered
                # RFC 8489 §9.2.4: pick an offered algorithm we support; SHA-256 first.
                choice = (
                    PasswordAlgorithm.SHA256
                    if PasswordAlgorithm.SHA256 in codes
                    else PasswordAlgorithm.MD5
                )
                if choice != self.algorithm:
                    self.algorithm = choice
                    self._key = None
        return changed

    def apply(self, message: Message) -> None:
        """Add the credential attributes (not the integrity) to *message*."""
        if self.realm is None or self.nonce is None:
            return
        anonymous = (
            self.use_userhash and SecurityFeature.USERNAME_ANONYMITY in self.features
        )
        if anonymous:
            # RFC 8489 §14.4: USERHASH = SHA-256(username ":" realm).
            message.add(Attr.USERHASH, self.userhash())
        else:
            message.add(Attr.USERNAME, self.username)
        message.add(Attr.REALM, self.realm)
        message.add(Attr.NONCE, self.nonce)
        if self.offered is not None:
            message.add(Attr.PASSWORD_ALGORITHMS, self.offered)
            message.add(Attr.PASSWORD_ALGORITHM, int(self.algorithm))

    @property
    def sha256_integrity(self) -> bool:
        """Use MESSAGE-INTEGRITY-SHA256 (RFC 8489 §9.2.4: when the server
        announced the password-algorithms feature)."""
        return (
            SecurityFeature.PASSWORD_ALGORITHMS in self.features
            and self.offered is not None
        )

    def userhash(self) -> bytes:
        """The USERHASH value for the current realm (RFC 8489 §14.4)."""
        assert self.realm is not None
        return userhash(self.username, self.realm)

    def encode(self, message: Message, *, fingerprint: bool = True) -> bytes:
        """Encode *message* with credentials and integrity when we have a nonce."""
        if not self.ready:
            return message.encode(fingerprint=fingerprint)
        self.apply(message)
        return _encode_signed(message, self.key, self.sha256_integrity, fingerprint)

    def verify(self, response: Message) -> bool:
        """Check the integrity of a response to a signed request: False when
        it is missing or wrong (RFC 8489 §9.2.5; a 401/438 challenge carries
        none and is the caller's one exception)."""
        key = self.key
        return key is not None and response.has_integrity and bool(response.verify_integrity(key))


def _algorithms(value: object) -> tuple[int, ...] | None:
    if not isinstance(value, tuple) or not value:
        return None
    return tuple(int(item) for item in value)


def _encode_signed(
    message: Message, key: IntegrityKey | None, sha256: bool, fingerprint: bool
) -> bytes:
    if sha256:
        return message.encode(integrity_sha256_key=key, fingerprint=fingerprint)
    return message.encode(integrity_key=key, fingerprint=fingerprint)
