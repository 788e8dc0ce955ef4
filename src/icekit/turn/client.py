"""A sans-IO TURN client (RFC 8656) for one allocation on one server.

Inputs: :meth:`TurnClient.handle_data` (one STUN message or ChannelData
frame from the server connection), :meth:`TurnClient.handle_timeout` and the
commands :meth:`allocate`, :meth:`create_permission`, :meth:`bind_channel`,
:meth:`send_to`, :meth:`refresh` and :meth:`close`.  Outputs:
:meth:`poll_transmit` (bytes for the server), :meth:`poll_timeout` and
:meth:`poll_event` (see :mod:`icekit.turn.events`).  No sockets, no clock:
every call carries ``now``.

Behaviour worth knowing:

* Long-term credentials (RFC 8489 §9.2): the first Allocate goes without
  credentials; the 401 gives REALM and NONCE and the request is repeated.
  A 438 (Stale Nonce) on *any* request is retried with the new nonce.
* 300 (Try Alternate) is followed once, through :class:`AllocationRedirected`.
* Data to a peer goes as a Send indication until a channel is bound to it,
  then as ChannelData (padded to 4 bytes on stream transports, RFC 8656 §12.5).
  Sending to a peer without a permission creates one first and holds the
  data (bounded) until the server confirms it.
* The allocation, permissions and channels are refreshed before they expire
  (see :func:`~icekit.turn.permissions.refresh_delay`); :meth:`close` sends a
  Refresh with LIFETIME 0 (RFC 8656 §7.4).
* Peers a relay on a public address cannot reach (private, link-local,
  loopback; see :func:`~icekit.turn.permissions.relay_reaches`) are refused
  locally with :class:`PermissionFailed` unless ``relay_private_peers``:
  relaying there makes coturn drop the whole allocation.
* An allocation the server has forgotten is detected: a 437 to any request
  ends it; a CreatePermission/ChannelBind failing with 400, 438 or a timeout
  makes the client check the allocation with a Refresh, whose 437 ends in
  :class:`AllocationLost` instead of endless failing requests.
"""

from __future__ import annotations

import collections
import dataclasses
import enum
import logging
import secrets
from collections.abc import Callable

from ..demux import is_channel_data, is_stun_candidate
from ..errors import (
    ConfigError,
    DatagramTooLargeError,
    FramingError,
    IcekitError,
    InvalidStateError,
    ServerError,
    ServerUnreachableError,
    StunParseError,
    TurnError,
)
from ..framing import decode_channel_data, encode_channel_data
from ..stun import Attr, Message, MessageClass, Method
from ..stun.constants import ERROR_REASONS, AddressFamily
from ..types import Address
from . import events
from .auth import LongTermAuth
from .permissions import (
    Channel,
    ChannelTable,
    Permission,
    redirect_allowed,
    refresh_delay,
    relay_reaches,
)
from .transaction import ClientTransaction, TransactionConfig

__all__ = ["TurnClient", "TurnClientConfig", "TurnState"]

logger = logging.getLogger(__name__)

#: Largest payload relayed in one Send indication or ChannelData message:
#: what fits, with a Send indication's headers (under 64 bytes), into one UDP
#: datagram to an IPv4 server (65,507 bytes) or one RFC 4571 frame.
MAX_RELAYED_PAYLOAD = 65_000

#: RFC 8656 §14.7: REQUESTED-TRANSPORT protocol number for UDP.
_PROTO_UDP = 17

#: Failures of CreatePermission/ChannelBind that may mean the server has lost
#: the allocation (``None``: no answer; a 437 says so outright).  coturn
#: answers 438 and then 400 on a 5-tuple whose allocation it dropped.
_SUSPICIOUS = frozenset({400, 438, None})
#: Seconds during which a successful check of the allocation stands.
_VERIFY_INTERVAL = 5.0


@dataclasses.dataclass(frozen=True)
class TurnClientConfig:
    """Options of a :class:`TurnClient`.

    :param username: long-term credential user name.
    :param password: long-term credential password.
    :param reliable: True when the connection to the server is TCP or TLS
        (no retransmissions, ChannelData padding).
    :param lifetime: allocation lifetime to request, seconds (RFC 8656 §7.2).
    :param family: ``"ipv4"`` or ``"ipv6"`` to send REQUESTED-ADDRESS-FAMILY
        (RFC 8656 §7.2); ``None`` leaves the server's default (IPv4).
    :param use_userhash: send USERHASH instead of USERNAME when the server's
        nonce announces username anonymity (RFC 8489 §9.2.4).
    :param permission_lifetime: permission lifetime the server applies
        (RFC 8656 §9: 300 s; servers do not tell).
    :param channel_lifetime: channel binding lifetime (RFC 8656 §12: 600 s).
    :param transaction: retransmission parameters.
    :param max_nonce_retries: consecutive 438 retries of one request.
    :param pending_limit: datagrams held per peer IP while its permission
        is being created.
    :param software: SOFTWARE attribute value (``None``: none).
    :param fingerprint: add FINGERPRINT to requests.
    :param allow_redirect_across_scopes: follow a 300 Try Alternate to an
        address of another scope than the server's (loopback, private,
        link-local, public; see :func:`~icekit.turn.permissions.redirect_allowed`);
        off by default: a redirect must not aim the client at internal services.
    :param relay_private_peers: also relay to private, link-local and
        loopback peer addresses when the relayed address is not of that
        kind (see :func:`~icekit.turn.permissions.relay_reaches`); off by
        default because such peers are unreachable from a public relay and
        a failed send there can cost the whole allocation.
    """

    username: str
    password: str = dataclasses.field(repr=False)  # never shown (logs, tracebacks)
    reliable: bool = False
    lifetime: int = 600
    family: str | None = None
    use_userhash: bool = False
    permission_lifetime: float = 300.0
    channel_lifetime: float = 600.0
    transaction: TransactionConfig = dataclasses.field(
        default_factory=TransactionConfig
    )
    max_nonce_retries: int = 3
    pending_limit: int = 32
    software: str | None = "icekit"
    fingerprint: bool = True
    relay_private_peers: bool = False
    allow_redirect_across_scopes: bool = False

    def __post_init__(self) -> None:
        if self.family not in (None, "ipv4", "ipv6"):
            raise ConfigError(
                f"family must be 'ipv4', 'ipv6' or None, not {self.family!r}"
            )
        if any(v <= 0 for v in (self.lifetime, self.permission_lifetime, self.channel_lifetime)):
            raise ConfigError("TURN lifetimes must be positive")


class TurnState(enum.Enum):
    """Life cycle of a :class:`TurnClient`."""

    IDLE = "idle"
    ALLOCATING = "allocating"
    ALLOCATED = "allocated"
    CLOSING = "closing"
    CLOSED = "closed"
    FAILED = "failed"


@dataclasses.dataclass
class _Request:
    """A request and the context needed to re-send it (401/438 retries)."""

    kind: str  # "allocate", "refresh", "permission", "channel", "close"
    method: Method
    attributes: list[tuple[Attr, object]]
    peer_ip: str | None = None
    channel: Channel | None = None
    lifetime: int | None = None
    nonce_retries: int = 0
    auth_retried: bool = False
    tx: ClientTransaction | None = None
    signed: bool = False


class TurnClient:
    """One TURN allocation, driven by the caller's I/O (see module docs)."""

    def __init__(
        self,
        config: TurnClientConfig,
        *,
        server: Address | None = None,
        id_source: Callable[[int], bytes] = secrets.token_bytes,
    ) -> None:
        self.config = config
        #: the server's address, when known: it bounds where a 300 may lead
        self.server = server
        self.state = TurnState.IDLE
        self.relayed: Address | None = None
        self.mapped: Address | None = None
        self.lifetime: int | None = None
        self._id_source = id_source
        self._auth = LongTermAuth(
            config.username, config.password, use_userhash=config.use_userhash
        )
        self._requests: dict[bytes, _Request] = {}
        self._transmits: collections.deque[bytes] = collections.deque()
        self._events: collections.deque[events.Event] = collections.deque()
        self._permissions: dict[str, Permission] = {}
        self._channels = ChannelTable()
        self._refresh_at: float | None = None
        self._expires_at: float | None = None
        self._refresh_in_flight = False
        self._redirected = False
        #: a Refresh checking that the server still has the allocation
        self._verifying = False
        self._verified_at: float | None = None
        #: how many 438 (Stale Nonce) answers were retried
        self.stale_nonces = 0
        # poll_timeout() is cached between inputs that can move a deadline,
        # so the per-datagram path (send_to, ChannelData in) stays cheap.
        self._deadline: float | None = None
        self._deadline_valid = False

    # ------------------------------------------------------------------
    # Outputs
    # ------------------------------------------------------------------

    def poll_transmit(self) -> bytes | None:
        """Next bytes to send to the server (one message or ChannelData frame)."""
        return self._transmits.popleft() if self._transmits else None

    def poll_event(self) -> events.Event | None:
        """Next event, or ``None``."""
        return self._events.popleft() if self._events else None

    def poll_timeout(self) -> float | None:
        """When :meth:`handle_timeout` must next be called (absolute time)."""
        if not self._deadline_valid:
            self._deadline = self._compute_deadline()
            self._deadline_valid = True
        return self._deadline

    def _compute_deadline(self) -> float | None:
        deadlines = [r.tx.poll_timeout() for r in self._requests.values() if r.tx is not None]
        if self.state is TurnState.ALLOCATED:
            if not self._refresh_in_flight:
                deadlines.append(self._refresh_at)
            deadlines.append(self._expires_at)
            deadlines += [e.refresh_at for e in (*self._permissions.values(), *self._channels)
                          if not e.in_flight]
        return min((d for d in deadlines if d is not None), default=None)

    # ------------------------------------------------------------------
    # Commands
    # ------------------------------------------------------------------

    def allocate(self, now: float) -> None:
        """Send the Allocate request (RFC 8656 §7.1)."""
        if self.state not in (TurnState.IDLE,):
            raise InvalidStateError(f"allocate() in state {self.state.value}")
        self.state = TurnState.ALLOCATING
        attributes: list[tuple[Attr, object]] = [
            (Attr.REQUESTED_TRANSPORT, _PROTO_UDP),
            (Attr.LIFETIME, self.config.lifetime),
        ]
        if self.config.family is not None:
            family = AddressFamily.IPV6 if self.config.family == "ipv6" else AddressFamily.IPV4
            attributes.append((Attr.REQUESTED_ADDRESS_FAMILY, int(family)))
        self._start(now, _Request("allocate", Method.ALLOCATE, attributes))

    def refresh(self, now: float) -> None:
        """Refresh the allocation now (it is also done automatically)."""
        if self.state is not TurnState.ALLOCATED or self._refresh_in_flight:
            return
        self._refresh_in_flight = True
        lifetime = self.config.lifetime
        self._start(now, _Request("refresh", Method.REFRESH, [(Attr.LIFETIME, lifetime)],
                                  lifetime=lifetime))

    def create_permission(self, now: float, peer_ip: str) -> None:
        """Install (or keep) a permission for *peer_ip* (RFC 8656 §9)."""
        permission = self._permissions.get(peer_ip)
        if permission is None:
            permission = Permission(peer_ip)
            self._permissions[peer_ip] = permission
        elif permission.installed or permission.in_flight or permission.refused:
            return
        permission.failed = False
        if self.state is TurnState.ALLOCATED:
            self._send_permission(now, permission)

    def reaches(self, peer_ip: str) -> bool:
        """Whether this relay may send to *peer_ip* (see ``relay_private_peers``)."""
        if self.config.relay_private_peers or self.relayed is None:
            return True
        return relay_reaches(self.relayed[0], peer_ip)

    def bind_channel(self, now: float, peer: Address) -> None:
        """Bind a channel to *peer* (RFC 8656 §11); ChannelData follows success."""
        if self.state is not TurnState.ALLOCATED:
            raise InvalidStateError(f"bind_channel() in state {self.state.value}")
        if not self.reaches(peer[0]):
            self._events.append(
                events.ChannelBindFailed(peer, _unreachable_error(peer[0]))
            )
            return
        channel = self._channels.get_or_create(peer)
        if channel is None:
            raise InvalidStateError("all 4096 channel numbers are in use")
        if channel.bound or channel.in_flight:
            return
        channel.failed = False
        self._send_channel_bind(now, channel)

    def send_to(self, now: float, data: bytes, peer: Address) -> bool:
        """Relay *data* to *peer*; returns False when it had to be dropped.

        Raises :class:`~icekit.errors.DatagramTooLargeError` for more than
        :data:`MAX_RELAYED_PAYLOAD` bytes: no message could carry it.
        """
        if len(data) > MAX_RELAYED_PAYLOAD:
            raise DatagramTooLargeError(
                f"a datagram of {len(data)} bytes is more than a TURN relay carries "
                f"({MAX_RELAYED_PAYLOAD})")
        if self.state is not TurnState.ALLOCATED:
            return False
        channel = self._channels.by_peer.get(peer)
        if channel is not None and channel.bound:
            # RFC 8656 §12.4; §12.5: padded to 4 bytes over TCP/TLS.
            self._transmits.append(
                encode_channel_data(channel.number, data, self.config.reliable)
            )
            return True
        permission = self._permissions.get(peer[0])
        if permission is not None and permission.installed:
            self._transmits.append(self._send_indication(data, peer))
            return True
        if permission is None or (permission.failed and not permission.in_flight):
            self.create_permission(now, peer[0])
            permission = self._permissions[peer[0]]
            if permission.refused:
                return False
        if len(permission.pending) >= self.config.pending_limit:
            return False
        permission.pending.append((data, peer))
        return True

    def receive_channel_data(
        self, now: float, data: bytes
    ) -> tuple[Address, bytes] | None:
        """Decode a ChannelData frame from the server: ``(peer, payload)``.

        The fast path for relayed data: no event is queued (``handle_data``
        would queue :class:`DataReceived`). ``None`` for a malformed frame or
        a channel number we did not bind (RFC 8656 §12.6: discarded).
        """
        try:
            number, payload = decode_channel_data(data)
        except FramingError:
            return None
        channel = self._channels.by_number.get(number)
        return None if channel is None else (channel.peer, payload)

    def has_permission(self, peer_ip: str) -> bool:
        """True once the server confirmed a permission for *peer_ip*."""
        permission = self._permissions.get(peer_ip)
        return permission is not None and permission.installed

    def channel_for(self, peer: Address) -> int | None:
        """The bound channel number for *peer*, if any."""
        channel = self._channels.by_peer.get(peer)
        return channel.number if channel is not None and channel.bound else None

    def close(self, now: float) -> None:
        """Deallocate (Refresh with LIFETIME 0, RFC 8656 §7.4), then :class:`Closed`."""
        self._deadline_valid = False
        if self.state in (TurnState.CLOSING, TurnState.CLOSED):
            return
        was_allocated = self.state is TurnState.ALLOCATED
        self._abandon_requests()
        if was_allocated:
            self.state = TurnState.CLOSING
            self._start(
                now, _Request("close", Method.REFRESH, [(Attr.LIFETIME, 0)], lifetime=0)
            )
        else:
            self._finish_close()

    # ------------------------------------------------------------------
    # Inputs
    # ------------------------------------------------------------------

    def handle_data(self, now: float, data: bytes) -> None:
        """One message from the server: a STUN message or a ChannelData frame."""
        if is_channel_data(data):
            self._handle_channel_data(now, data)
            return
        if not is_stun_candidate(data):
            logger.debug("ignoring non-STUN, non-ChannelData bytes from the server")
            return
        try:
            message = Message.decode(data)
        except IcekitError as exc:
            logger.debug("dropping malformed STUN from the TURN server: %s", exc)
            return
        if message.msg_class == MessageClass.INDICATION:
            if message.method == Method.DATA:
                self._handle_data_indication(message)
            return
        if message.msg_class not in (MessageClass.SUCCESS, MessageClass.ERROR):
            return
        request = self._requests.get(message.transaction_id)
        if request is None:
            return  # a late answer to a retransmission we already settled
        try:
            # RFC 8489 §9.2.5: once a request is signed, anyone who saw its
            # transaction id could forge an unsigned answer; only a 401/438
            # challenge may come unsigned, and it is used as a challenge only.
            error = message.get(Attr.ERROR_CODE) if message.msg_class == MessageClass.ERROR else None
            code, reason = error if isinstance(error, tuple) else (0, "")
            if code in (401, 438):
                self._challenge(now, request, message, code, reason)
                return
        except StunParseError:
            code = 0
        if request.signed and not self._auth.verify(message):
            logger.info("TURN response without valid MESSAGE-INTEGRITY ignored")
            return
        self._settle(request)
        try:
            if message.msg_class == MessageClass.SUCCESS:
                self._on_success(now, request, message)
            else:
                self._on_error(now, request, code, reason, message)
        except StunParseError as exc:
            # A malformed attribute value (values are decoded lazily).
            error = TurnError(f"TURN {_describe(request)}: malformed answer: {exc}")
            self._fail(now, request, error)

    def handle_timeout(self, now: float) -> None:
        """Run retransmissions, refreshes and expiries that are due at *now*."""
        self._deadline_valid = False
        for tid, request in list(self._requests.items()):
            tx = request.tx
            if tx is None:
                continue
            tx.handle_timeout(now)
            self._drain(tx)
            if tx.timed_out:
                del self._requests[tid]
                what = request.kind if request.kind != "channel" else "ChannelBind"
                self._fail(
                    now, request, ServerUnreachableError(f"TURN {what} request timed out")
                )
        if self.state is not TurnState.ALLOCATED:
            return
        if self._expires_at is not None and now >= self._expires_at:
            self._lose(
                ServerUnreachableError("TURN allocation expired before it could be refreshed")
            )
            return
        if self._refresh_at is not None and now >= self._refresh_at:
            self.refresh(now)
        for permission in [p for p in self._permissions.values() if _due(p, now)]:
            self._send_permission(now, permission)
        for channel in [c for c in self._channels if _due(c, now)]:
            self._send_channel_bind(now, channel)

    # ------------------------------------------------------------------
    # Requests
    # ------------------------------------------------------------------

    def _start(self, now: float, request: _Request) -> None:
        self._deadline_valid = False
        tid = self._id_source(12)
        message = Message(request.method, MessageClass.REQUEST, transaction_id=tid)
        if self.config.software is not None:
            message.add(Attr.SOFTWARE, self.config.software)
        for attr, value in request.attributes:
            message.add(attr, value)
        request.signed = self._auth.ready
        data = self._auth.encode(message, fingerprint=self.config.fingerprint)
        tx = ClientTransaction(
            tid, data, reliable=self.config.reliable, config=self.config.transaction
        )
        request.tx = tx
        self._requests[tid] = request
        tx.start(now)
        self._drain(tx)

    def _drain(self, tx: ClientTransaction) -> None:
        while (data := tx.poll_transmit()) is not None:
            self._transmits.append(data)

    def _send_permission(self, now: float, permission: Permission) -> None:
        if not self.reaches(permission.peer_ip):
            # Refused here, once: never sent to the server (module docs).
            permission.refused = True
            permission.failed = True
            permission.refresh_at = None
            permission.pending.clear()
            error = _unreachable_error(permission.peer_ip)
            logger.info("%s", error)
            self._events.append(events.PermissionFailed(permission.peer_ip, error))
            return
        permission.in_flight = True
        attributes: list[tuple[Attr, object]] = [(Attr.XOR_PEER_ADDRESS, (permission.peer_ip, 0))]
        self._start(now, _Request("permission", Method.CREATE_PERMISSION, attributes,
                                  peer_ip=permission.peer_ip))

    def _send_channel_bind(self, now: float, channel: Channel) -> None:
        channel.in_flight = True
        attributes: list[tuple[Attr, object]] = [(Attr.CHANNEL_NUMBER, channel.number),
                                                 (Attr.XOR_PEER_ADDRESS, channel.peer)]
        self._start(now, _Request("channel", Method.CHANNEL_BIND, attributes, channel=channel))

    def _send_indication(self, data: bytes, peer: Address) -> bytes:
        # RFC 8656 §10.1: Send indications carry no credentials.
        message = Message(
            Method.SEND, MessageClass.INDICATION, transaction_id=self._id_source(12)
        )
        message.add(Attr.XOR_PEER_ADDRESS, peer)
        message.add(Attr.DATA, data)
        return message.encode(fingerprint=self.config.fingerprint)

    # ------------------------------------------------------------------
    # Responses
    # ------------------------------------------------------------------

    def _on_success(self, now: float, request: _Request, message: Message) -> None:
        kind = request.kind
        if kind == "allocate":
            relayed = message.get(Attr.XOR_RELAYED_ADDRESS)
            if not isinstance(relayed, tuple):
                self._fail(
                    now, request, TurnError("Allocate success without relayed address")
                )
                return
            lifetime = message.get(Attr.LIFETIME)
            if not isinstance(lifetime, int):
                lifetime = self.config.lifetime  # RFC 8656 §7.3 requires it; be lenient
            mapped = message.get(Attr.XOR_MAPPED_ADDRESS)
            self.relayed = relayed
            self.mapped = mapped if isinstance(mapped, tuple) else None
            self.state = TurnState.ALLOCATED
            self._set_lifetime(now, lifetime)
            self._events.append(
                events.AllocationSucceeded(relayed, self.mapped, lifetime)
            )
            # Permissions asked for before the allocation existed.
            for wanted in self._permissions.values():
                if not wanted.in_flight and not wanted.installed:
                    self._send_permission(now, wanted)
        elif kind == "refresh":
            self._refresh_in_flight = False
            if self._verifying:
                self._verifying = False
                self._verified_at = now
            lifetime = message.get(Attr.LIFETIME)
            granted = lifetime if isinstance(lifetime, int) else self.config.lifetime
            if self.state is TurnState.ALLOCATED:
                self._set_lifetime(now, granted)
                self._events.append(events.AllocationRefreshed(granted))
        elif kind == "permission":
            assert request.peer_ip is not None
            permission = self._permissions.get(request.peer_ip)
            if permission is None:
                return
            first = not permission.installed
            permission.in_flight = False
            self._install_permission(now, permission)
            if first:
                self._events.append(events.PermissionCreated(permission.peer_ip))
        elif kind == "channel":
            channel = request.channel
            assert channel is not None
            first = not channel.bound
            channel.in_flight = False
            channel.bound = True
            channel.refresh_at = now + refresh_delay(self.config.channel_lifetime)
            # RFC 8656 §12.2: a ChannelBind also installs/refreshes the permission.
            implied = self._permissions.setdefault(
                channel.peer[0], Permission(channel.peer[0])
            )
            if not implied.in_flight:
                self._install_permission(now, implied)
            if first:
                self._events.append(events.ChannelBound(channel.peer, channel.number))
        elif kind == "close":
            self._finish_close()

    def _on_error(self, now: float, request: _Request, code: int, reason: str,
                  message: Message) -> None:
        if code == 300 and request.kind == "allocate":
            alternate = message.get(Attr.ALTERNATE_SERVER)
            allowed = isinstance(alternate, tuple) and redirect_allowed(
                self.server[0] if self.server else None,
                alternate[0],
                across_scopes=self.config.allow_redirect_across_scopes,
            )
            if isinstance(alternate, tuple) and not allowed:
                reason = f"redirect to {alternate[0]} refused (another address scope)"
            if not self._redirected and allowed:
                # RFC 8489 §10 / RFC 8656 §7.4: try the alternate, only once.
                assert isinstance(alternate, tuple)
                self._redirected = True
                self.server = alternate
                self._auth.reset()
                self.state = TurnState.IDLE
                self._events.append(events.AllocationRedirected(alternate))
                return
        self._fail(now, request, _refused(request, code, reason))
        if code == 437 and request.kind in ("permission", "channel"):
            # RFC 8656 §7.3: the server has no allocation for our 5-tuple.
            self._lose(_allocation_lost(f"{_describe(request)} answered 437 allocation mismatch"))

    def _challenge(self, now: float, request: _Request, message: Message, code: int,
                   reason: str) -> None:
        """A 401 or 438 (RFC 8489 §9.2.5): learn REALM/NONCE and repeat the
        request, a bounded number of times, else give up on it."""
        if code == 401 and not request.auth_retried:
            # Once per request: a second 401 means wrong credentials.
            changed = self._auth.learn(message)
            retry = self._auth.ready and (not request.signed or changed)
            request.auth_retried = retry
        else:
            retry = code == 438 and request.nonce_retries < self.config.max_nonce_retries
            if retry:  # a new nonce (RFC 8656 §7): repeat whatever the request was
                self._auth.learn(message)
                request.nonce_retries += 1
                self.stale_nonces += 1
        if retry:
            self._settle(request)
            self._retry(now, request)
        elif request.kind == "allocate":
            # No allocation to lose: a refused Allocate fails now (wrong
            # credentials are told at once, not after the timeout).
            self._settle(request)
            self._fail(now, request, _refused(request, code, reason))
        else:
            # Unsigned, so possibly forged: it must not fail a request of a
            # live allocation; the transaction goes on (or times out).
            logger.info("TURN %s: %d not acted upon", _describe(request), code)

    def _settle(self, request: _Request) -> None:
        assert request.tx is not None
        del self._requests[request.tx.transaction_id]
        self._deadline_valid = False
        request.tx.complete()

    def _retry(self, now: float, request: _Request) -> None:
        request.tx = None
        self._start(now, request)

    def _fail(self, now: float, request: _Request, error: ServerError) -> None:
        kind = request.kind
        logger.info("%s", error)
        if kind == "allocate":
            self.state = TurnState.FAILED
            self._drop_pending()
            self._events.append(events.AllocationFailed(error))
        elif kind == "refresh":
            self._refresh_in_flight = False
            if self._verifying and error.code == 437:
                error = _allocation_lost(f"a check after a failed request got {error}")
            self._verifying = False
            if self.state is TurnState.ALLOCATED:
                self._lose(error)
        elif kind == "permission":
            assert request.peer_ip is not None
            permission = self._permissions.get(request.peer_ip)
            if permission is not None:
                permission.in_flight = False
                permission.installed = False
                permission.failed = True
                permission.refresh_at = None
                permission.pending.clear()
            self._events.append(events.PermissionFailed(request.peer_ip, error))
            self._verify_allocation(now, error)
        elif kind == "channel":
            channel = request.channel
            assert channel is not None
            channel.in_flight = False
            channel.failed = True
            self._channels.remove(channel)
            self._events.append(events.ChannelBindFailed(channel.peer, error))
            self._verify_allocation(now, error)
        elif kind == "close":
            self._finish_close()

    # ------------------------------------------------------------------
    # Helpers
    # ------------------------------------------------------------------

    def _verify_allocation(self, now: float, cause: ServerError) -> None:
        """Check with a Refresh that the server still has the allocation.

        A server that dropped the allocation (coturn does, e.g. after its
        relay failed to send to an unroutable peer) treats our 5-tuple as a
        new client: a new nonce (438) and then 400 to CreatePermission and
        ChannelBind.  Its answer to a Refresh is unambiguous: 437 (RFC 8656
        §7.3), which ends in :class:`AllocationLost`.
        """
        if cause.code not in _SUSPICIOUS or self.state is not TurnState.ALLOCATED:
            return
        if self._refresh_in_flight:
            return
        if self._verified_at is not None and now - self._verified_at < _VERIFY_INTERVAL:
            return
        logger.info("checking the TURN allocation after: %s", cause)
        self._verifying = True
        self.refresh(now)

    def _set_lifetime(self, now: float, lifetime: int) -> None:
        self._deadline_valid = False
        self.lifetime = lifetime
        self._expires_at = now + lifetime
        # Refresh on the shorter of what we asked for and what was granted
        # (a server may grant more than asked, RFC 8656 §7.2).
        self._refresh_at = now + refresh_delay(min(lifetime, self.config.lifetime))

    def _install_permission(self, now: float, permission: Permission) -> None:
        self._deadline_valid = False
        permission.installed = True
        permission.failed = False
        permission.refresh_at = now + refresh_delay(self.config.permission_lifetime)
        while permission.pending:
            data, peer = permission.pending.popleft()
            self.send_to(now, data, peer)

    def _lose(self, error: ServerError) -> None:
        self._deadline_valid = False
        self.state = TurnState.FAILED
        self._abandon_requests()
        self._events.append(events.AllocationLost(error))

    def _abandon_requests(self) -> None:
        """Cancel every request in flight and drop the data held for permissions."""
        for request in self._requests.values():
            if request.tx is not None:
                request.tx.cancel()
        self._requests.clear()
        self._drop_pending()

    def _drop_pending(self) -> None:
        for permission in self._permissions.values():
            permission.pending.clear()

    def _finish_close(self) -> None:
        self._deadline_valid = False
        self.state = TurnState.CLOSED
        self._events.append(events.Closed())

    def _handle_channel_data(self, now: float, data: bytes) -> None:
        received = self.receive_channel_data(now, data)
        if received is None:
            logger.debug("dropping ChannelData: malformed or unknown channel")
            return
        self._events.append(events.DataReceived(*received))

    def _handle_data_indication(self, message: Message) -> None:
        try:
            peer = message.get(Attr.XOR_PEER_ADDRESS)
            payload = message.get(Attr.DATA)
        except StunParseError as exc:
            logger.debug("dropping malformed Data indication: %s", exc)
            return
        if isinstance(peer, tuple) and isinstance(payload, (bytes, bytearray)):
            self._events.append(events.DataReceived(peer, bytes(payload)))


def _due(entry: Permission | Channel, now: float) -> bool:
    """A permission or channel whose refresh is due and not yet sent."""
    return entry.refresh_at is not None and now >= entry.refresh_at and not entry.in_flight


def _unreachable_error(peer_ip: str) -> ServerError:
    return ServerError(
        f"TURN peer {peer_ip} is not reachable from the relayed address "
        "(private, link-local or loopback; relay_private_peers=True allows it)"
    )


def _allocation_lost(detail: str) -> TurnError:
    return TurnError(f"TURN allocation lost: the server no longer knows it ({detail})", 437)


def _refused(request: _Request, code: int, reason: str) -> TurnError:
    text = ERROR_REASONS.get(code, "error").lower()
    if code == 401:
        text += " (wrong username or password)"
    reason = reason.replace("\x00", "").strip()  # coturn pads with NULs
    detail = f"{text}: {reason}" if reason else text
    return TurnError(f"TURN {_describe(request)} failed: {code} {detail}", code)


def _describe(request: _Request) -> str:
    if request.kind == "permission":
        return f"CreatePermission for {request.peer_ip}"
    if request.kind == "channel" and request.channel is not None:
        return f"ChannelBind for {request.channel.peer[0]}:{request.channel.peer[1]}"
    return {"allocate": "Allocate", "refresh": "Refresh", "close": "Deallocate"}[
        request.kind
    ]
