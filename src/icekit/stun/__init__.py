"""STUN message codec (RFC 8489, interoperable with RFC 5389 peers).

Build a message, add typed attributes, encode with optional MESSAGE-INTEGRITY,
MESSAGE-INTEGRITY-SHA256 and FINGERPRINT; decode received bytes lazily and
verify integrity in constant time. See ``docs/stun.md``.
"""

from __future__ import annotations

from .attributes import attr_name
from .constants import (
    CHANGE_IP,
    CHANGE_PORT,
    ERROR_REASONS,
    FINGERPRINT_XOR,
    HEADER_LENGTH,
    MAGIC_COOKIE,
    AddressFamily,
    Attr,
    ErrorCode,
    MessageClass,
    Method,
    PasswordAlgorithm,
    SecurityFeature,
)
from .integrity import (
    NONCE_COOKIE,
    IntegrityKey,
    hmac_sha1,
    hmac_sha256,
    long_term_key,
    make_nonce,
    nonce_security_features,
    opaque_string,
    short_term_key,
    userhash,
)
from .message import Message, is_stun

__all__ = [
    "CHANGE_IP",
    "CHANGE_PORT",
    "ERROR_REASONS",
    "FINGERPRINT_XOR",
    "HEADER_LENGTH",
    "MAGIC_COOKIE",
    "NONCE_COOKIE",
    "AddressFamily",
    "Attr",
    "ErrorCode",
    "IntegrityKey",
    "Message",
    "MessageClass",
    "Method",
    "PasswordAlgorithm",
    "SecurityFeature",
    "attr_name",
    "hmac_sha1",
    "hmac_sha256",
    "is_stun",
    "long_term_key",
    "make_nonce",
    "nonce_security_features",
    "opaque_string",
    "short_term_key",
    "userhash",
]
