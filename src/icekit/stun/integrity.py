"""STUN credentials and integrity: keys, HMACs, FINGERPRINT, OpaqueString, NONCE cookies.

* Short-term credentials: key = OpaqueString(password) (RFC 8489 §9.1.1).
* Long-term credentials: key = MD5 or SHA-256 of
  ``username ":" OpaqueString(realm) ":" OpaqueString(password)`` (RFC 8489 §9.2.2).
* USERHASH = SHA-256(OpaqueString(username) ":" OpaqueString(realm)) (RFC 8489 §14.4).
* FINGERPRINT = CRC-32 of the message XOR 0x5354554e (RFC 8489 §14.7).
* The NONCE cookie ``obMatJos2`` followed by 24 base64-encoded security
  feature bits (RFC 8489 §9.2).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import unicodedata
from collections.abc import Callable

from ..errors import CredentialsError, StunParseError
from .constants import PasswordAlgorithm, SecurityFeature

__all__ = [
    "NONCE_COOKIE",
    "IntegrityKey",
    "hmac_sha1",
    "hmac_sha256",
    "long_term_key",
    "make_nonce",
    "nonce_security_features",
    "opaque_string",
    "short_term_key",
    "userhash",
]

# --------------------------------------------------------------------------
# HMAC (RFC 2104) on top of hashlib: keyed inner/outer states computed once per
# IntegrityKey and copied per message, about twice as fast as ``hmac.new``.
# Only those two: each hashlib state also holds ~300 bytes of OpenSSL memory,
# and a state per header shape saved no time (one 8-byte update costs what
# the lookup did).
# --------------------------------------------------------------------------

_IPAD = bytes(x ^ 0x36 for x in range(256))
_OPAD = bytes(x ^ 0x5C for x in range(256))
_States = tuple["hashlib._Hash", "hashlib._Hash"]


def _keyed_states(key: bytes, factory: Callable[[bytes], hashlib._Hash]) -> _States:
    if len(key) > 64:  # RFC 2104 §2: long keys are hashed first
        key = factory(key).digest()
    block = key.ljust(64, b"\x00")
    return factory(block.translate(_IPAD)), factory(block.translate(_OPAD))


class IntegrityKey:
    """A STUN integrity key with its HMAC states computed once (RFC 2104).

    ``Message.encode(integrity_key=...)``, ``Message.verify_integrity()``,
    :func:`hmac_sha1` and :func:`hmac_sha256` take one wherever they take key
    bytes; plain bytes work too but redo the key setup on every call. Build one
    per credential, e.g. ``IntegrityKey(short_term_key(pwd))``, and drop it
    with the credential. ``repr()`` never shows the key.
    """

    __slots__ = ("_sha256", "key", "sha1_inner", "sha1_outer")

    def __init__(self, key: bytes | bytearray | memoryview) -> None:
        if not isinstance(key, (bytes, bytearray, memoryview)):
            raise CredentialsError(f"an integrity key is bytes, not {type(key).__name__}")
        self.key = bytes(key)  #: the HMAC key bytes
        #: The keyed HMAC-SHA1 inner and outer states (copy before use).
        self.sha1_inner, self.sha1_outer = _keyed_states(self.key, hashlib.sha1)
        self._sha256: _States | None = None

    def __repr__(self) -> str:
        return "IntegrityKey(<hidden>)"

    def sha256_states(self) -> _States:
        """The keyed HMAC-SHA256 states (copy before use)."""
        if self._sha256 is None:
            self._sha256 = _keyed_states(self.key, hashlib.sha256)
        return self._sha256


KeyLike = bytes | IntegrityKey


def _hmac(states: _States, parts: tuple[bytes, ...]) -> bytes:
    inner = states[0].copy()
    for part in parts:
        inner.update(part)
    outer = states[1].copy()
    outer.update(inner.digest())
    return outer.digest()


def hmac_sha1(key: KeyLike, *parts: bytes) -> bytes:
    """HMAC-SHA1 of the concatenation of ``parts`` (20 bytes)."""
    obj = key if isinstance(key, IntegrityKey) else IntegrityKey(key)
    return _hmac((obj.sha1_inner, obj.sha1_outer), parts)


def hmac_sha256(key: KeyLike, *parts: bytes) -> bytes:
    """HMAC-SHA256 of the concatenation of ``parts`` (32 bytes)."""
    return _hmac((key if isinstance(key, IntegrityKey) else IntegrityKey(key)).sha256_states(), parts)


# --------------------------------------------------------------------------
# RFC 8265 §4.2 OpaqueString profile of the PRECIS FreeformClass (RFC 8264).
# --------------------------------------------------------------------------

# RFC 5892 §2.6 exceptions, as RFC 8264 §9.6 applies them.
_EXCEPTION_PVALID = frozenset((0x00DF, 0x03C2, 0x06FD, 0x06FE, 0x0F0B, 0x3007))
_EXCEPTION_DISALLOWED = frozenset(
    (0x0640, 0x07FA, 0x302E, 0x302F, 0x3031, 0x3032, 0x3033, 0x3034, 0x3035, 0x303B)
)
# Default_Ignorable_Code_Point (Unicode DerivedCoreProperties), which RFC 8264
# §9.13 (PrecisIgnorableProperties) disallows.
_DEFAULT_IGNORABLE: tuple[tuple[int, int], ...] = (
    (0x00AD, 0x00AD),
    (0x034F, 0x034F),
    (0x061C, 0x061C),
    (0x115F, 0x1160),
    (0x17B4, 0x17B5),
    (0x180B, 0x180F),
    (0x200B, 0x200F),
    (0x202A, 0x202E),
    (0x2060, 0x206F),
    (0x3164, 0x3164),
    (0xFE00, 0xFE0F),
    (0xFEFF, 0xFEFF),
    (0xFFA0, 0xFFA0),
    (0xFFF0, 0xFFF8),
    (0x1BCA0, 0x1BCA3),
    (0x1D173, 0x1D17A),
    (0xE0000, 0xE0FFF),
)
# RFC 8264 §9.9 OldHangulJamo (Hangul_Syllable_Type L, V or T).
_OLD_HANGUL_JAMO: tuple[tuple[int, int], ...] = (
    (0x1100, 0x11FF),
    (0xA960, 0xA97C),
    (0xD7B0, 0xD7C6),
    (0xD7CB, 0xD7FB),
)
# General categories the FreeformClass accepts (RFC 8264 §4.3.1, §9.1, §9.17-9.20).
_FREEFORM_CATEGORIES = frozenset(
    (
        "Ll", "Lu", "Lo", "Nd", "Lm", "Mn", "Mc",  # LetterDigits
        "Lt", "Nl", "No", "Me",  # OtherLetterDigits
        "Zs",  # Spaces
        "Sm", "Sc", "Sk", "So",  # Symbols
        "Pc", "Pd", "Ps", "Pe", "Pi", "Pf", "Po",  # Punctuation
    )
)  # fmt: skip
_ZWNJ, _ZWJ = 0x200C, 0x200D


def _in_ranges(cp: int, ranges: tuple[tuple[int, int], ...]) -> bool:
    return any(lo <= cp <= hi for lo, hi in ranges)


def _freeform_allowed(text: str, index: int) -> bool:
    """Is the code point at ``text[index]`` allowed by the FreeformClass (RFC 8264 §8)?"""
    ch = text[index]
    cp = ord(ch)
    if 0x21 <= cp <= 0x7E or cp == 0x20:
        return True
    if cp in _EXCEPTION_PVALID:
        return True
    if cp in _EXCEPTION_DISALLOWED:
        return False
    category = unicodedata.category(ch)
    if category == "Cn":  # unassigned or noncharacter
        return False
    if cp in (_ZWNJ, _ZWJ):
        # RFC 5892 Appendix A.1/A.2 CONTEXTJ: allowed after a virama.
        return index > 0 and unicodedata.combining(text[index - 1]) == 9
    if _in_ranges(cp, _OLD_HANGUL_JAMO) or _in_ranges(cp, _DEFAULT_IGNORABLE):
        return False
    # Remaining CONTEXTO exceptions (RFC 5892 §2.6) are accepted without their
    # context rules: they are rare in passwords and harmless inside an HMAC key.
    return category in _FREEFORM_CATEGORIES


def opaque_string(text: str) -> str:
    """Prepare and enforce ``text`` with the RFC 8265 §4.2 OpaqueString profile.

    Non-ASCII spaces become U+0020, the result is NFC-normalised, and code
    points the PRECIS FreeformClass disallows (controls, default-ignorable
    code points such as U+00AD, unassigned ones, …) raise
    :class:`~icekit.errors.CredentialsError`, as does an empty result.
    """
    if not isinstance(text, str):
        raise CredentialsError(
            f"OpaqueString input must be str, not {type(text).__name__}"
        )
    # Fast path: printable ASCII is PVALID and NFC already.
    if text.isascii() and text and all(0x20 <= ord(c) <= 0x7E for c in text):
        return text
    # Additional mapping rule: non-ASCII spaces (Zs) map to U+0020.
    mapped = "".join(
        " " if ord(c) > 0x7F and unicodedata.category(c) == "Zs" else c for c in text
    )
    prepared = unicodedata.normalize("NFC", mapped)
    if not prepared:
        raise CredentialsError("OpaqueString: the string is empty")
    for i, ch in enumerate(prepared):
        if not _freeform_allowed(prepared, i):
            raise CredentialsError(
                f"OpaqueString: code point U+{ord(ch):04X} at position {i} is not allowed"
            )
    return prepared


# --------------------------------------------------------------------------
# Keys.
# --------------------------------------------------------------------------

TextOrBytes = str | bytes


def _prepared_bytes(value: TextOrBytes, what: str) -> bytes:
    if isinstance(value, bytes):
        return value  # already prepared by the caller
    if isinstance(value, str):
        return opaque_string(value).encode("utf-8")
    raise CredentialsError(f"{what} must be str or bytes, not {type(value).__name__}")


def short_term_key(password: TextOrBytes) -> bytes:
    """The HMAC key of the short-term credential mechanism (RFC 8489 §9.1.1).

    ``password`` as ``str`` is prepared with OpaqueString; ``bytes`` are used
    unchanged. ICE passwords (ice-chars) are their own key. Wrap the result
    in :class:`IntegrityKey` to sign and verify with cached HMAC states.
    """
    return _prepared_bytes(password, "password")


def long_term_key(
    username: TextOrBytes,
    realm: TextOrBytes,
    password: TextOrBytes,
    algorithm: int = PasswordAlgorithm.MD5,
) -> bytes:
    """The HMAC key of the long-term credential mechanism (RFC 8489 §9.2.2).

    ``algorithm`` is a :class:`PasswordAlgorithm`: MD5 gives a 16-byte key,
    SHA-256 a 32-byte one. ``username`` is used as sent in USERNAME; realm and
    password (as ``str``) are prepared with OpaqueString.
    """
    if isinstance(username, str):
        user = username.encode("utf-8")
    elif isinstance(username, bytes):
        user = username
    else:
        raise CredentialsError(
            f"username must be str or bytes, not {type(username).__name__}"
        )
    material = b":".join(
        (user, _prepared_bytes(realm, "realm"), _prepared_bytes(password, "password"))
    )
    if algorithm == PasswordAlgorithm.MD5:
        # MD5 is what the protocol mandates here, not a security choice of ours.
        return hashlib.md5(material, usedforsecurity=False).digest()
    if algorithm == PasswordAlgorithm.SHA256:
        return hashlib.sha256(material).digest()
    raise CredentialsError(f"unsupported password algorithm 0x{algorithm:04x}")


def userhash(username: TextOrBytes, realm: TextOrBytes) -> bytes:
    """USERHASH value: SHA-256(OpaqueString(username) ":" OpaqueString(realm)) (RFC 8489 §14.4)."""
    return hashlib.sha256(
        _prepared_bytes(username, "username") + b":" + _prepared_bytes(realm, "realm")
    ).digest()


# --------------------------------------------------------------------------
# NONCE cookie (RFC 8489 §9.2).
# --------------------------------------------------------------------------

#: Prefix marking a nonce that carries security feature bits (RFC 8489 §9.2).
NONCE_COOKIE = "obMatJos2"


def make_nonce(features: SecurityFeature | int, opaque: str) -> str:
    """Build a NONCE: the cookie, the 24 feature bits in 4 base64 characters, then ``opaque``."""
    bits = int(features)
    if not 0 <= bits < 1 << 24:
        raise CredentialsError(f"security feature bits out of range: 0x{bits:x}")
    encoded = base64.b64encode(bits.to_bytes(3, "big")).decode("ascii")
    return NONCE_COOKIE + encoded + opaque


def nonce_security_features(nonce: str) -> SecurityFeature | None:
    """The security feature bits of a NONCE, or ``None`` if it has no cookie.

    A nonce that starts with the cookie but whose next four characters are not
    base64 raises :class:`~icekit.errors.StunParseError`.
    """
    if not nonce.startswith(NONCE_COOKIE):
        return None
    field = nonce[len(NONCE_COOKIE) : len(NONCE_COOKIE) + 4]
    try:
        raw = base64.b64decode(field.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError, ValueError):
        raw = b""
    if len(raw) != 3:
        raise StunParseError(f"NONCE cookie: bad security feature field {field!r}")
    return SecurityFeature(int.from_bytes(raw, "big"))
