"""A scripted TURN server for unit tests of the sans-IO client.

Tests pull the client's requests with :meth:`ScriptedServer.take` and answer
them by hand with :meth:`success`, :meth:`error` or :meth:`challenge`, so
every branch of the client can be reached on a virtual clock.
"""

from __future__ import annotations

from typing import Any

from icekit.stun import (
    Attr,
    Message,
    MessageClass,
    Method,
    PasswordAlgorithm,
    long_term_key,
)
from icekit.turn import TurnClient, TurnClientConfig, events

USERNAME = "alice"
PASSWORD = "s3cret"
REALM = "example.org"
RELAYED = ("198.51.100.7", 50000)
MAPPED = ("203.0.113.9", 40000)


class ScriptedServer:
    """Answers a :class:`TurnClient`'s requests as a test dictates."""

    def __init__(
        self,
        client: TurnClient,
        *,
        realm: str = REALM,
        nonce: str = "nonce-1",
        algorithm: int = PasswordAlgorithm.MD5,
    ) -> None:
        self.client = client
        self.realm = realm
        self.nonce = nonce
        self.algorithm = algorithm
        self.sha256 = False

    @property
    def key(self) -> bytes:
        return long_term_key(USERNAME, self.realm, PASSWORD, self.algorithm)

    def take(self) -> Message:
        """The next message the client sent (it must have sent one)."""
        data = self.client.poll_transmit()
        assert data is not None, "the client sent nothing"
        return Message.decode(data)

    def take_raw(self) -> bytes:
        data = self.client.poll_transmit()
        assert data is not None, "the client sent nothing"
        return data

    def nothing_sent(self) -> bool:
        return self.client.poll_transmit() is None

    def _send(self, now: float, message: Message, sign: bool) -> None:
        if sign and self.sha256:
            data = message.encode(integrity_sha256_key=self.key)
        elif sign:
            data = message.encode(integrity_key=self.key)
        else:
            data = message.encode()
        self.client.handle_data(now, data)

    def success(
        self, now: float, request: Message, *attrs: tuple[int, Any], sign: bool = True
    ) -> None:
        response = Message(request.method, MessageClass.SUCCESS, request.transaction_id)
        for attr, value in attrs:
            response.add(attr, value)
        self._send(now, response, sign)

    def error(
        self,
        now: float,
        request: Message,
        code: int,
        *attrs: tuple[int, Any],
        reason: str = "",
        sign: bool | None = None,
    ) -> None:
        """An error answer; signed by default when the request was, except
        401 and 438 (RFC 8489 §9.2.4: answers after authentication carry
        MESSAGE-INTEGRITY)."""
        response = Message(request.method, MessageClass.ERROR, request.transaction_id)
        response.add(Attr.ERROR_CODE, (code, reason or "scripted"))
        for attr, value in attrs:
            response.add(attr, value)
        if sign is None:
            sign = request.has_integrity and code not in (401, 438)
        self._send(now, response, sign)

    def challenge(self, now: float, request: Message, *attrs: tuple[int, Any]) -> None:
        """401 with REALM and NONCE (RFC 8489 §9.2.3)."""
        self.error(
            now,
            request,
            401,
            (Attr.REALM, self.realm),
            (Attr.NONCE, self.nonce),
            *attrs,
        )

    def stale(self, now: float, request: Message, new_nonce: str) -> None:
        """438 with a new NONCE (RFC 8489 §9.2.5)."""
        self.nonce = new_nonce
        self.error(now, request, 438, (Attr.REALM, self.realm), (Attr.NONCE, new_nonce))

    def assert_signed(self, request: Message, nonce: str | None = None) -> None:
        """The request carries our credentials and a valid integrity."""
        assert request.get(Attr.USERNAME) == USERNAME
        assert request.get(Attr.REALM) == self.realm
        assert request.get(Attr.NONCE) == (nonce or self.nonce)
        assert request.verify_integrity(self.key)

    def allocate(self, now: float = 0.0, lifetime: int = 600) -> None:
        """Run the whole 401 + Allocate exchange to success."""
        self.client.allocate(now)
        first = self.take()
        assert first.method == Method.ALLOCATE
        self.challenge(now, first)
        second = self.take()
        self.assert_signed(second)
        self.success(
            now,
            second,
            (Attr.XOR_RELAYED_ADDRESS, RELAYED),
            (Attr.XOR_MAPPED_ADDRESS, MAPPED),
            (Attr.LIFETIME, lifetime),
        )


def make_client(**options: Any) -> TurnClient:
    """A client with the test credentials and deterministic transaction ids."""
    counter = iter(range(1, 1 << 30))

    def ids(n: int) -> bytes:
        return next(counter).to_bytes(n, "big")

    config = TurnClientConfig(username=USERNAME, password=PASSWORD, **options)
    return TurnClient(config, id_source=ids)


def drain_events(client: TurnClient) -> list[events.Event]:
    out: list[events.Event] = []
    while (event := client.poll_event()) is not None:
        out.append(event)
    return out
