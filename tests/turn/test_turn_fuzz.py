"""Whatever the server sends, the sans-IO clients never raise."""

from __future__ import annotations

import struct

from hypothesis import given, settings
from hypothesis import strategies as st

from icekit.turn import BindingClient
from tests.turn.scripted import ScriptedServer, drain_events, make_client

COOKIE = b"\x21\x12\xa4\x42"


@st.composite
def stun_like(draw: st.DrawFn) -> bytes:
    """Bytes shaped like STUN: a valid header, then arbitrary attributes."""
    message_type = draw(
        st.sampled_from(
            [0x0101, 0x0111, 0x0103, 0x0113, 0x0117, 0x0104, 0x0109, 0x0119]
        )
    )
    # Ids 1 and 2 are the settled Allocates, 3 the ChannelBind still in flight.
    tid = draw(st.sampled_from([n.to_bytes(12, "big") for n in (0, 1, 2, 3)]))
    attrs = b""
    for attr_type, value in draw(
        st.lists(
            st.tuples(
                st.sampled_from(
                    [
                        0x0009,
                        0x000D,
                        0x0012,
                        0x0013,
                        0x0014,
                        0x0015,
                        0x0016,
                        0x0020,
                        0x8002,
                        0x8023,
                        0x0008,
                        0x8028,
                        0x7777,
                    ]
                ),
                st.binary(max_size=24),
            ),
            max_size=6,
        )
    ):
        attrs += (
            struct.pack("!HH", attr_type, len(value)) + value + bytes(-len(value) % 4)
        )
    return struct.pack("!HH", message_type, len(attrs)) + COOKIE + tid + attrs


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(st.binary(max_size=64), stun_like()), max_size=8))
def test_turn_client_never_raises(datagrams: list[bytes]) -> None:
    client = make_client()
    server = ScriptedServer(client)
    server.allocate(0.0)
    client.bind_channel(0.0, ("192.0.2.1", 1))
    for i, data in enumerate(datagrams):
        client.handle_data(1.0 + i, data)
        client.handle_timeout(1.0 + i)
    drain_events(client)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(st.binary(max_size=64), stun_like()), max_size=8))
def test_binding_client_never_raises(datagrams: list[bytes]) -> None:
    client = BindingClient(id_source=lambda n: (1).to_bytes(n, "big"))
    client.start(0.0)
    for data in datagrams:
        client.handle_data(0.5, data)
    client.poll_event()
