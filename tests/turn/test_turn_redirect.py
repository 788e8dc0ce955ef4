"""Where a 300 Try Alternate may send the client (RFC 8489 §10, issue: SSRF).

A redirect is followed only to an address of the class the server itself is
in (loopback, private, link-local, public); unspecified, multicast and
reserved addresses never; ``allow_redirect_across_scopes`` lifts the class rule.
"""

from __future__ import annotations

from typing import Any

import pytest

from icekit.stun import Attr
from icekit.turn import TurnClient, TurnClientConfig, TurnState, events
from icekit.turn.permissions import redirect_allowed
from tests.turn.scripted import PASSWORD, USERNAME, ScriptedServer, drain_events


def redirected(server: tuple[str, int] | None, alternate: tuple[str, int],
               **options: Any) -> list[events.Event]:
    config = TurnClientConfig(username=USERNAME, password=PASSWORD, **options)
    client = TurnClient(config, server=server)
    scripted = ScriptedServer(client)
    client.allocate(0.0)
    scripted.error(0.0, scripted.take(), 300, (Attr.ALTERNATE_SERVER, alternate))
    return drain_events(client)


@pytest.mark.parametrize(
    "server, alternate",
    [
        ("127.0.0.1", "127.0.0.2"),  # the test suite's loopback coturn
        ("10.0.0.1", "192.168.7.7"),
        ("198.51.100.1", "203.0.113.5"),
        ("::1", "::1"),
    ],
)
def test_redirect_within_the_same_class_is_followed(server: str, alternate: str) -> None:
    assert redirected((server, 3478), (alternate, 3479)) == [
        events.AllocationRedirected((alternate, 3479))
    ]


@pytest.mark.parametrize(
    "server, alternate",
    [
        ("198.51.100.1", "169.254.169.254"),  # cloud metadata service
        ("198.51.100.1", "192.168.1.1"),
        ("198.51.100.1", "127.0.0.1"),
        ("10.0.0.1", "127.0.0.1"),
        ("198.51.100.1", "fd00::1"),
        ("198.51.100.1", "0.0.0.0"),
        ("198.51.100.1", "224.0.0.1"),
        ("198.51.100.1", "255.255.255.255"),
    ],
)
def test_redirect_to_another_class_is_refused(server: str, alternate: str) -> None:
    (event,) = redirected((server, 3478), (alternate, 3478))
    assert isinstance(event, events.AllocationFailed) and event.error.code == 300
    assert "refused" in str(event.error) and alternate in str(event.error)


def test_option_allows_a_redirect_across_classes() -> None:
    got = redirected(("198.51.100.1", 3478), ("192.168.1.1", 3478),
                     allow_redirect_across_scopes=True)
    assert got == [events.AllocationRedirected(("192.168.1.1", 3478))]
    # Never to an address that is no server at all.
    (event,) = redirected(("198.51.100.1", 3478), ("0.0.0.0", 3478),
                          allow_redirect_across_scopes=True)
    assert isinstance(event, events.AllocationFailed)


def test_unknown_server_may_redirect_to_public_addresses_only() -> None:
    assert redirect_allowed(None, "203.0.113.5")
    assert not redirect_allowed(None, "169.254.169.254")


def test_the_client_follows_the_redirected_server() -> None:
    config = TurnClientConfig(username=USERNAME, password=PASSWORD)
    client = TurnClient(config, server=("127.0.0.1", 3478))
    scripted = ScriptedServer(client)
    client.allocate(0.0)
    scripted.error(0.0, scripted.take(), 300, (Attr.ALTERNATE_SERVER, ("127.0.0.2", 3478)))
    assert client.server == ("127.0.0.2", 3478) and client.state is TurnState.IDLE
