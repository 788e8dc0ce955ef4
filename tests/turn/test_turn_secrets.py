"""No TURN object or log line shows the password or the long-term key (issue: secrets)."""

from __future__ import annotations

import asyncio
import logging

import pytest

from icekit.asyncio.servers import ServerFailure, open_relay_socket
from icekit.errors import ServerUnreachableError
from icekit.stun import PasswordAlgorithm, long_term_key
from icekit.turn import TurnClient, TurnClientConfig
from icekit.turn.auth import LongTermAuth
from icekit.uri import URI
from tests.turn.coturn import CoturnServer
from tests.turn.test_turn_coturn import Inbox, Peer, wait_until

SECRET = "pw-Zq81-secret"


def secrets_of(username: str, realm: str, password: str) -> list[str]:
    """The password and the key in every form a repr or a log could show."""
    out = [password]
    for algorithm in (PasswordAlgorithm.MD5, PasswordAlgorithm.SHA256):
        key = long_term_key(username, realm, password, algorithm)
        out += [key.hex(), repr(key)[2:-1]]
    return out


def test_reprs_hide_the_password_and_the_key() -> None:
    config = TurnClientConfig(username="alice", password=SECRET)
    auth = LongTermAuth("alice", SECRET)
    auth.realm, auth.nonce = "example.org", "n"
    assert auth.key is not None
    client = TurnClient(config)
    uri = URI.parse("turn:192.0.2.1:3478", "alice", SECRET)
    failure = ServerFailure(str(uri), "ipv4", ServerUnreachableError("no answer"))
    texts = [repr(config), str(config), repr(auth), repr(client), repr(uri), str(uri),
             repr(failure), str(failure)]
    for text in texts:
        for secret in secrets_of("alice", "example.org", SECRET):
            assert secret not in text, text
    assert "username='alice'" in repr(config) and "password" not in repr(config)


@pytest.mark.coturn
@pytest.mark.parametrize("transport", ["udp", "tcp"])
def test_debug_logs_of_a_turn_gather_hold_no_secret(
    coturn: CoturnServer, transport: str, caplog: pytest.LogCaptureFixture
) -> None:
    async def main() -> None:
        good = URI.parse(coturn.url(transport), coturn.username, coturn.password)
        bad = URI.parse(coturn.url(transport), coturn.username, SECRET)
        relay = await open_relay_socket(good, 1, "ipv4", 10.0)
        assert not isinstance(relay, ServerFailure)
        peer = Peer()
        inbox = Inbox(relay)
        try:
            relay.sendto(b"hello", peer.addr)
            assert (await peer.recv())[0] == b"hello"
            relay.bind_channel(peer.addr)
            await wait_until(lambda: relay.channel_for(peer.addr) is not None, inbox.changed, 5.0)
            relay.sendto(b"again", peer.addr)
            assert (await peer.recv())[0] == b"again"
        finally:
            peer.close()
            await relay.aclose()
        failure = await open_relay_socket(bad, 2, "ipv4", 10.0)
        assert isinstance(failure, ServerFailure) and failure.code == 401

    with caplog.at_level(logging.DEBUG, logger="icekit"):
        asyncio.run(asyncio.wait_for(main(), 30.0))
    assert caplog.records, "a gather logs something at DEBUG"
    logged = caplog.text + "".join(repr(r.args) for r in caplog.records)
    for secret in secrets_of(coturn.username, coturn.realm, coturn.password) + secrets_of(
        coturn.username, coturn.realm, SECRET
    ):
        assert secret not in logged
