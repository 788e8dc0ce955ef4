"""The asyncio ICE agent: sockets, clock and user callbacks around the sans-IO core.

:class:`Agent` owns one :class:`~icekit.ice.IceAgent` and drives it: every
datagram, timer expiry or API call is one input, after which the agent sends
whatever the core wants sent, hands its events to the user's handlers and
re-arms a single timer at the core's next deadline.

Example::

    async with icekit.Agent(network_types=[icekit.NetworkType.UDP4]) as agent:
        agent.on_candidate(lambda c: signal(c.marshal() if c else None))
        await agent.gather_candidates()
        conn = await agent.dial(remote_ufrag, remote_pwd)
        await conn.write(b"hello")
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import random
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any

from ..candidate import Candidate, CandidateType
from ..errors import (
    ClosedError,
    ConfigError,
    ConnectionFailedError,
    FailureReason,
    InvalidStateError,
    ServerError,
)
from ..ice import IceAgent, IceConfig, Transmit, events
from ..ice.states import ConnectionState
from ..types import Address
from ..uri import URI
from .conn import Conn
from .driver import Driver
from .gather import (
    LocalAddress,
    bind_udp,
    host_candidate,
    host_candidates,
    local_addresses,
)
from .handlers import Notifier
from .options import (
    AgentOptions,
    InterfaceFilter,
    IPFilter,
    NetworkType,
    check_handler,
    check_remote_credentials,
    generate_pwd,
    generate_ufrag,
    validate_pwd,
    validate_ufrag,
)
from .relay import TurnRelay
from .servers import (
    UNUSABLE_STUNS,
    ServerFailure,
    SrflxGatherer,
    TlsOptions,
    open_relay_socket,
    srflx_candidates,
    stun_urls,
    turn_urls,
    unusable_stun_urls,
)
from .udp import UdpEndpoint

if TYPE_CHECKING:
    from typing_extensions import Self

__all__ = ["Agent"]

logger = logging.getLogger(__name__)

CandidateHandler = Callable[[Candidate | None], Any]
StateHandler = Callable[[ConnectionState], Any]
PairHandler = Callable[[Candidate, Candidate], Any]
ServerErrorHandler = Callable[[ServerFailure], Any]
#: ``factory(config, *, controlling, local_ufrag, local_pwd, tie_breaker, rng)``
#: builds the sans-IO core an agent drives (:class:`~icekit.ice.IceAgent`
#: unless a test or instrumentation passes another).
CoreFactory = Callable[..., IceAgent]

_CONNECTED = (ConnectionState.CONNECTED, ConnectionState.COMPLETED)
#: One OS-backed generator for every agent: tie-breakers, transaction ids and
#: consent jitter need unpredictability, and a per-agent Mersenne Twister
#: would cost 2.5 KiB each.
_RNG = random.SystemRandom()
#: STUN datagrams kept from before dial/accept (aioice keeps 100).
EARLY_STUN_LIMIT = 64


def _default_core(config: IceConfig, **kwargs: Any) -> IceAgent:
    return IceAgent(config, **kwargs)


class Agent:
    """An ICE agent for one data stream with one component, over UDP.

    All options are keywords; see ``docs/configuration.md``. The agent binds
    to the running event loop on its first coroutine call.
    """

    __slots__ = (
        "_closed",
        "_closed_notified",
        "_conn",
        "_connected",
        "_core",
        "_driver",
        "_early_stun",
        "_endpoints",
        "_failures",
        "_fast_endpoint",
        "_gathered",
        "_gathering_done",
        "_local_candidates",
        "_loop",
        "_next_socket_id",
        "_notifier",
        "_on_candidate",
        "_on_pair",
        "_on_server_error",
        "_on_state",
        "_options",
        "_oversize",
        "_pwd",
        "_remote_credentials",
        "_selected",
        "_srflx",
        "_started",
        "_state",
        "_tasks",
        "_ufrag",
        "dropped_invalid_source",
    )

    def __init__(
        self,
        *,
        network_types: Sequence[NetworkType | str] | None = None,
        urls: Sequence[Any] | None = None,
        candidate_types: Sequence[CandidateType | str] | None = None,
        local_ufrag: str | None = None,
        local_pwd: str | None = None,
        include_loopback: bool = False,
        include_link_local: bool = False,
        interface_filter: InterfaceFilter | None = None,
        ip_filter: IPFilter | None = None,
        port_min: int = 0,
        port_max: int = 0,
        check_interval: float | None = None,
        disconnected_timeout: float | None = None,
        failed_timeout: float | None = None,
        keepalive_interval: float | None = None,
        host_acceptance_min_wait: float | None = None,
        srflx_acceptance_min_wait: float | None = None,
        prflx_acceptance_min_wait: float | None = None,
        relay_acceptance_min_wait: float | None = None,
        lite: bool = False,
        receive_buffer_size: int = 1024,
        max_datagram_size: int = 8192,
        stun_gather_timeout: float = 5.0,
        turn_tls: TlsOptions | None = None,
        max_remote_prflx: int | None = None,
        max_remote_candidates: int | None = None,
        core_factory: CoreFactory | None = None,
    ) -> None:
        # The keywords are exactly AgentOptions' fields, with the same
        # defaults (tests/asyncio keeps the two lists equal): validate once.
        given = dict(locals())
        del given["self"], given["core_factory"]
        self._options = AgentOptions(**given)
        self._ufrag = self._options.local_ufrag or generate_ufrag()
        self._pwd = self._options.local_pwd or generate_pwd()
        factory = core_factory if core_factory is not None else _default_core
        self._core: IceAgent = factory(self._options.ice_config(), controlling=False,
                                       local_ufrag=self._ufrag, local_pwd=self._pwd,
                                       tie_breaker=_RNG.getrandbits(64), rng=_RNG)
        self._driver: Driver[Transmit, events.Event] | None = None
        # Lists created on first use (an agent usually needs neither).
        self._early_stun: list[tuple[int, Address, bytes]] | None = None
        self._gathering_done = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._endpoints: dict[int, UdpEndpoint | TurnRelay] = {}
        self._next_socket_id = 1
        self._conn = Conn(self, self._options.receive_buffer_size, self._options.max_datagram_size)
        self._state = ConnectionState.NEW
        self._local_candidates: list[Candidate] = []
        self._selected: tuple[Candidate, Candidate] | None = None
        self._remote_credentials: tuple[str, str] | None = None
        self._gathered = False
        self._started = False
        self._closed = False
        self._closed_notified = False
        self._connected: asyncio.Future[None] | None = None
        #: Server gathering tasks; created on first use (an empty set is 216 bytes).
        self._tasks: set[asyncio.Task[Any]] | None = None
        # Handlers and the in-order notification queue.
        self._on_candidate: CandidateHandler | None = None
        self._on_state: StateHandler | None = None
        self._on_pair: PairHandler | None = None
        self._on_server_error: ServerErrorHandler | None = None
        self._failures: list[ServerFailure] | None = None
        self._notifier = Notifier(self._get_loop)
        # Fast path for application data: the last source the core accepted,
        # forgotten after every input to the core (validity can only change then).
        self._fast_endpoint: UdpEndpoint | None = None
        self._srflx: SrflxGatherer | None = None
        #: Application datagrams dropped because their source was not valid.
        self.dropped_invalid_source = 0
        self._oversize = 0

    # -- construction helpers --------------------------------------------

    def _get_loop(self) -> asyncio.AbstractEventLoop:
        """The event loop this agent lives on (bound on first use)."""
        loop = self._loop
        if loop is None:
            loop = self._loop = asyncio.get_running_loop()
            self._driver = Driver(loop, self._core, self._transmit, self._handle_event,
                                  before=self._forget_fast_path)
        return loop

    def _own_loop(self) -> asyncio.AbstractEventLoop:
        """The running loop, which must be the one the agent is bound to."""
        loop = self._get_loop()
        if loop is not asyncio.get_running_loop():
            # Its sockets and timers live on the other loop: nothing would
            # ever be read here (e.g. one asyncio.run() per call).
            raise InvalidStateError("the agent belongs to another event loop; use it from one loop only")
        return loop

    # -- handlers ----------------------------------------------------------

    def on_candidate(self, handler: CandidateHandler | None) -> None:
        """Set ``handler(candidate)``, called for each local candidate; ``None`` ends gathering."""
        self._on_candidate = check_handler(handler)

    def on_connection_state_change(self, handler: StateHandler | None) -> None:
        """Set ``handler(state)``, called with each new :class:`ConnectionState`."""
        self._on_state = check_handler(handler)

    def on_selected_candidate_pair_change(self, handler: PairHandler | None) -> None:
        """Set ``handler(local, remote)``, called when the selected pair changes."""
        self._on_pair = check_handler(handler)

    def on_server_error(self, handler: ServerErrorHandler | None) -> None:
        """Set ``handler(failure)``, called with a :class:`ServerFailure` for each
        STUN/TURN server that gave no candidate, or whose relay was lost later.

        The failure names the server (URL without credentials) and the reason.
        """
        self._on_server_error = check_handler(handler)

    # -- read-only state ---------------------------------------------------

    @property
    def gathering_failures(self) -> list[ServerFailure]:
        """The STUN/TURN server failures seen so far (also relays lost after gathering)."""
        return list(self._failures or ())

    @property
    def dropped_oversize(self) -> int:
        """Received datagrams dropped for being longer than ``max_datagram_size``."""
        return self._oversize + sum(e.datagrams_truncated for e in self._endpoints.values()
                                    if isinstance(e, UdpEndpoint))

    @property
    def connection_state(self) -> ConnectionState:
        """The current connection state."""
        return self._state

    @property
    def closed(self) -> bool:
        """True once :meth:`close` was called (or a cancelled dial/accept closed it)."""
        return self._closed

    @property
    def options(self) -> AgentOptions:
        """The validated options."""
        return self._options

    @property
    def core(self) -> IceAgent:
        """The sans-IO core (for statistics and debugging)."""
        return self._core

    def get_local_user_credentials(self) -> tuple[str, str]:
        """Our ``(ufrag, pwd)`` to signal to the peer."""
        return self._ufrag, self._pwd

    def get_remote_user_credentials(self) -> tuple[str, str] | None:
        """The peer's ``(ufrag, pwd)`` once known."""
        return self._remote_credentials

    def get_local_candidates(self) -> list[Candidate]:
        """The local candidates gathered so far."""
        return list(self._local_candidates)

    def get_remote_candidates(self) -> list[Candidate]:
        """The remote candidates the agent pairs: signalled and learned (peer-reflexive).

        Candidates the core refused (over ``max_remote_candidates``, another
        component, unresolved host names) are not listed.
        """
        return self._core.remote_candidates

    def get_selected_candidate_pair(self) -> tuple[Candidate, Candidate] | None:
        """``(local, remote)`` of the selected pair, or None."""
        return self._selected

    # -- driving the core ----------------------------------------------------

    def _after_input(self) -> None:
        """Flush the core's outputs after any input: transmits, events, timer."""
        self._get_loop()
        assert self._driver is not None
        self._driver.after_input()

    def _forget_fast_path(self) -> None:
        # Validity of sources can only change on an input to the core.
        if self._fast_endpoint is not None:
            self._fast_endpoint.set_fast_path(None)
            self._fast_endpoint = None

    def _transmit(self, transmit: Transmit) -> None:
        endpoint = self._endpoints.get(transmit.socket_id)
        if endpoint is not None:
            endpoint.sendto(transmit.data, transmit.dest)

    def _on_stun(self, socket_id: int, src: Address, data: bytes) -> None:
        loop = self._loop
        if loop is None or self._closed:
            return
        srflx = self._srflx
        if srflx is not None and srflx.handle_stun(data, src):
            return  # a STUN server's answer to our gathering
        if not self._started:
            # Our role is unknown until dial/accept: a check answered now could
            # settle a role conflict the wrong way. Keep early checks and hand
            # them to the core at the start; the peer's transactions are still
            # open then, so the answers are not late (RFC 8445 §7.3 allows
            # answering checks before our own checks begin).
            if self._early_stun is None:
                self._early_stun = []
            if len(self._early_stun) < EARLY_STUN_LIMIT:
                self._early_stun.append((socket_id, src, data))
            return
        self._core.handle_stun(loop.time(), socket_id, src, data)
        self._after_input()

    def _on_data(self, socket_id: int, src: Address, data: bytes) -> None:
        # RFC 8445 §11: accept data only from a valid pair. Once a source is
        # known valid its endpoint feeds the Conn directly, until the next
        # input to the core (validity can only change then).
        if self._core.is_valid_source(socket_id, src):
            endpoint = self._endpoints.get(socket_id)
            if isinstance(endpoint, UdpEndpoint):
                if self._fast_endpoint is not None and self._fast_endpoint is not endpoint:
                    self._fast_endpoint.set_fast_path(None)
                endpoint.set_fast_path(src, self._conn._feed)
                self._fast_endpoint = endpoint
            elif len(data) > self._options.max_datagram_size:
                # A relayed datagram arrives whole; the same limit as a
                # socket read applies (delivered whole or not at all).
                self._oversize += 1
                return
            self._conn._feed(data)
        else:
            self.dropped_invalid_source += 1

    def _handle_event(self, event: events.Event) -> None:
        if isinstance(event, events.ConnectionStateChanged):
            self._set_state(event.state, event.reason)
        elif isinstance(event, events.SelectedPairChanged):
            self._selected = (event.local, event.remote)
            endpoint = self._endpoints.get(event.socket_id)
            remote = event.remote.addr  # one tuple, kept by the Conn twice
            if isinstance(endpoint, TurnRelay):
                # RFC 8656 §12: a channel carries the selected pair's data with
                # a 4-byte header instead of a 36-byte Send indication.
                endpoint.bind_channel(remote)
            self._conn._set_path(endpoint, remote, event.local.addr, remote)
            self._notifier.notify(self._on_pair, event.local, event.remote)
            self._maybe_connected()
        elif isinstance(event, events.RoleChanged):
            logger.debug("role conflict resolved: controlling=%s", event.controlling)

    def _set_state(self, state: ConnectionState, reason: FailureReason | None = None) -> None:
        if state == self._state:
            return
        self._state = state
        if state == ConnectionState.CLOSED:
            if self._closed_notified:
                return
            self._closed_notified = True
        self._notifier.notify(self._on_state, state)
        if state in _CONNECTED:
            self._maybe_connected()
        elif state == ConnectionState.FAILED:
            error = ConnectionFailedError(reason=reason)
            self._conn._set_error(error)
            self._resolve_connected(error)

    def _maybe_connected(self) -> None:
        if self._state in _CONNECTED and self._selected is not None:
            self._resolve_connected(None)

    def _resolve_connected(self, error: BaseException | None) -> None:
        fut = self._connected
        if fut is None or fut.done():
            return
        if error is None:
            fut.set_result(None)
        else:
            fut.set_exception(error)

    # -- gathering -----------------------------------------------------------

    async def gather_candidates(self) -> None:
        """Gather local candidates; each is passed to the ``on_candidate`` handler.

        Host candidates exist when this returns; ``on_candidate(None)`` follows
        when gathering is complete. Raises :class:`InvalidStateError` if called
        twice without :meth:`restart`.
        """
        self._check_open()
        if self._gathered:
            raise InvalidStateError("candidates were already gathered; call restart() before gathering again")
        loop = self._own_loop()
        self._gathered = True
        options = self._options
        stun = stun_urls(options.urls) if CandidateType.SRFLX in options.candidate_types else []
        turn = turn_urls(options.urls) if CandidateType.RELAY in options.candidate_types else []
        want_hosts = CandidateType.HOST in options.candidate_types
        if CandidateType.SRFLX in options.candidate_types:
            for uri in unusable_stun_urls(options.urls):
                self._report_failure(ServerFailure(str(uri), None, ConfigError(UNUSABLE_STUNS)))
        hosts: list[tuple[UdpEndpoint, int]] = []
        if want_hosts or stun:
            addresses = local_addresses(options)
            if not addresses:
                # A typo in a filter would otherwise gather nothing in silence.
                logger.warning(
                    "no local address is left for %s after the filters (include_loopback=%s, "
                    "include_link_local=%s, interface_filter=%s, ip_filter=%s): no host socket",
                    "/".join(str(n) for n in options.network_types), options.include_loopback,
                    options.include_link_local, "set" if options.interface_filter else "none",
                    "set" if options.ip_filter else "none")
            for local, pref in host_candidates(addresses):
                endpoint = self._endpoint_for(local)
                if endpoint is None:
                    sock = bind_udp(local, options.port_min, options.port_max, _RNG)
                    if sock is None:
                        continue
                    endpoint = UdpEndpoint(
                        loop,
                        sock,
                        self._new_socket_id(),
                        self._on_stun,
                        self._on_data,
                        max_datagram_size=options.max_datagram_size,
                    )
                    self._endpoints[endpoint.socket_id] = endpoint
                hosts.append((endpoint, pref))
                if want_hosts:
                    self._add_local(host_candidate(local, endpoint.local_addr[1], pref), endpoint.socket_id)
        if stun or turn:
            # Server candidates trickle in as they come; gathering completes
            # when every server answered or timed out.
            task = loop.create_task(self._gather_servers(hosts, stun, turn))
            if self._tasks is None:
                self._tasks = set()
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        else:
            self._end_gathering()

    def _new_socket_id(self) -> int:
        socket_id = self._next_socket_id
        self._next_socket_id += 1
        return socket_id

    def _add_local(self, candidate: Candidate, socket_id: int) -> None:
        """Hand a gathered candidate to the core and trickle it."""
        self._local_candidates.append(candidate)
        self._core.add_local_candidate(candidate, socket_id)
        self._after_input()
        self._notifier.notify(self._on_candidate, candidate)

    def _end_gathering(self) -> None:
        if not self._local_candidates:
            logger.warning("gathering produced no candidate: the peer has nothing to connect to "
                           "(see the warnings and gathering_failures above)")
        self._gathering_done = True
        self._core.set_local_end_of_candidates()
        self._after_input()
        self._notifier.notify(self._on_candidate, None)

    async def _gather_servers(self, hosts: list[tuple[UdpEndpoint, int]], stun: list[URI], turn: list[URI]) -> None:
        jobs: list[Awaitable[None]] = []
        if stun and hosts:
            jobs.append(self._gather_srflx(hosts, stun))
        families = [("ipv4" if net == NetworkType.UDP4 else "ipv6") for net in self._options.network_types]
        for uri in turn:
            for family in families:
                jobs.append(self._gather_relay(uri, family))
        for result in await asyncio.gather(*jobs, return_exceptions=True):
            # A bug in one server's gathering must not keep on_candidate(None)
            # from ever coming: log it and finish with what the others gave.
            if isinstance(result, Exception):
                logger.error("gathering from a server failed", exc_info=result)
        if not self._closed:
            self._end_gathering()

    async def _gather_srflx(self, hosts: list[tuple[UdpEndpoint, int]], urls: list[URI]) -> None:
        gatherer = SrflxGatherer()
        self._srflx = gatherer
        try:
            found, failures = await srflx_candidates(gatherer, hosts, urls, self._options.stun_gather_timeout)
        finally:
            if self._srflx is gatherer:  # a restart may have started another
                self._srflx = None
            gatherer.close()
        for failure in failures:
            self._report_failure(failure)
        for candidate, socket_id in found:
            if not self._closed:
                self._add_local(candidate, socket_id)

    async def _gather_relay(self, uri: URI, family: str) -> None:
        options = self._options
        relay = await open_relay_socket(
            uri, self._new_socket_id(), family, options.stun_gather_timeout, tls=options.turn_tls
        )
        if isinstance(relay, ServerFailure):
            self._report_failure(relay)
            return
        if self._closed:
            relay.close()
            return
        relay.set_callbacks(self._on_stun, self._on_data)

        def lost(error: ServerError) -> None:
            # The allocation died after gathering (server gone, refresh
            # refused): consent freshness takes the pairs down; say why.
            self._report_failure(ServerFailure(str(uri), family, error))

        relay.on_error = lost
        self._endpoints[relay.socket_id] = relay
        candidate = relay.candidate()
        ctypes = options.candidate_types
        if CandidateType.HOST not in ctypes and CandidateType.SRFLX not in ctypes:
            # Relay-only: the related address (our mapped address, RFC 8839
            # §5.1) would expose what the user asked to hide; browsers send
            # "raddr 0.0.0.0 rport 0" in this mode (RFC 8828 §5.2).
            unspecified = "::" if ":" in candidate.address else "0.0.0.0"
            candidate = dataclasses.replace(candidate, related_address=unspecified, related_port=0)
        self._add_local(candidate, relay.socket_id)

    def _report_failure(self, failure: ServerFailure) -> None:
        if self._closed:
            return
        if self._failures is None:
            self._failures = []
        self._failures.append(failure)
        self._notifier.notify(self._on_server_error, failure)

    def _endpoint_for(self, local: LocalAddress) -> UdpEndpoint | None:
        # After an ICE restart the sockets stay open (the old selected pair
        # keeps carrying data, RFC 8445 §9): gathering again reuses them.
        for endpoint in self._endpoints.values():
            if isinstance(endpoint, UdpEndpoint) and endpoint.local_addr[0] == local.host and not endpoint.closed:
                return endpoint
        return None

    # -- remote side ---------------------------------------------------------

    def add_remote_candidate(self, candidate: Candidate) -> None:
        """Add a remote candidate; allowed any time, before or after dial/accept."""
        self._check_open()
        if not isinstance(candidate, Candidate):
            raise TypeError("add_remote_candidate() takes an icekit.Candidate; use Candidate.unmarshal(text)")
        self._core.add_remote_candidate(candidate)  # bounded: see IceConfig.max_remote_candidates
        self._input_done()

    def set_remote_end_of_candidates(self) -> None:
        """Tell the agent the peer has no more candidates (RFC 8838 §4.4)."""
        self._check_open()
        self._core.set_remote_end_of_candidates()
        self._input_done()

    def set_remote_credentials(self, ufrag: str, pwd: str) -> None:
        """Set the peer's ufrag and pwd (done by :meth:`dial`/:meth:`accept`; needed after a restart)."""
        self._check_open()
        check_remote_credentials(ufrag, pwd)
        self._remote_credentials = (ufrag, pwd)
        self._core.set_remote_credentials(ufrag, pwd)
        self._input_done()

    def _input_done(self) -> None:
        # Sync API calls may come before the agent is bound to a loop; the
        # outputs then wait for the first input made from inside the loop.
        if self._loop is None:
            try:
                self._get_loop()
            except RuntimeError:
                return
        self._after_input()

    # -- connecting ----------------------------------------------------------

    async def dial(self, remote_ufrag: str, remote_pwd: str) -> Conn:
        """Connect as the controlling agent; return the :class:`Conn` once connected."""
        return await self._connect(True, remote_ufrag, remote_pwd)

    async def accept(self, remote_ufrag: str, remote_pwd: str) -> Conn:
        """Connect as the controlled agent; return the :class:`Conn` once connected."""
        return await self._connect(False, remote_ufrag, remote_pwd)

    async def _connect(self, controlling: bool, ufrag: str, pwd: str) -> Conn:
        self._check_open()
        if self._started:
            raise InvalidStateError("dial() or accept() was already called on this agent")
        check_remote_credentials(ufrag, pwd)
        loop = self._own_loop()
        self._started = True
        # The role is known now: the core has seen no STUN yet (early checks
        # wait in _early_stun), so it may still take either role.
        self._core.set_controlling(controlling)
        self._remote_credentials = (ufrag, pwd)
        self._core.set_remote_credentials(ufrag, pwd)
        self._connected = loop.create_future()
        now = loop.time()
        self._core.start(now)
        early, self._early_stun = self._early_stun, None
        for socket_id, src, data in early or ():
            self._core.handle_stun(now, socket_id, src, data)
        self._after_input()
        try:
            await self._connected
        except asyncio.CancelledError:
            # Never leave a half-open agent behind (issue: cancellation of
            # dial/accept): a cancelled connect closes the agent.
            self._shutdown()
            raise
        return self._conn

    # -- restart and close ---------------------------------------------------

    async def restart(self, ufrag: str | None = None, pwd: str | None = None) -> None:
        """ICE restart (RFC 8445 §9): new credentials, candidates gathered again.

        Server gathering still in progress is stopped. Call
        :meth:`gather_candidates` afterwards and :meth:`set_remote_credentials`
        with the peer's new credentials; the selected pair keeps carrying data
        until the new generation selects one.
        """
        self._check_open()
        new_ufrag = validate_ufrag(ufrag, what="ufrag") if ufrag is not None else generate_ufrag()
        new_pwd = validate_pwd(pwd, what="pwd") if pwd is not None else generate_pwd()
        loop = self._own_loop()
        if self._tasks:
            # Server gathering of the old generation must stop: it would end
            # the new generation's gathering and add stale candidates.
            tasks = list(self._tasks)
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            self._check_open()
        self._ufrag, self._pwd = new_ufrag, new_pwd
        self._core.restart(loop.time(), new_ufrag, new_pwd)
        self._conn._clear_failure()
        self._early_stun = None  # checks for the old credentials
        self._gathered = False
        self._gathering_done = False
        self._local_candidates = []
        self._after_input()

    def _check_open(self) -> None:
        if self._closed:
            raise ClosedError("the agent is closed")

    def _shutdown(self) -> None:
        """Close synchronously: core, timer, sockets, waiters (idempotent)."""
        if self._closed:
            return
        loop = self._loop
        if loop is not None:
            try:
                self._core.close(loop.time())
                self._after_input()
            except Exception:
                logger.exception("closing the ICE core failed")
        self._closed = True
        if self._driver is not None:
            self._driver.close()
        if self._gathered and not self._gathering_done:
            # Gathering ends here too: on_candidate(None) is the promise that
            # no candidate follows, which the application may be waiting on.
            self._gathering_done = True
            self._notifier.notify(self._on_candidate, None)
        self._oversize = self.dropped_oversize  # the endpoints' counts outlive them
        for endpoint in self._endpoints.values():
            endpoint.close()
        self._endpoints.clear()
        for task in self._tasks or ():
            task.cancel()
        error = ClosedError("the agent is closed")
        self._conn._set_error(error)
        self._resolve_connected(error)
        if self._connected is not None and self._connected.done() and not self._connected.cancelled():
            self._connected.exception()  # mark retrieved: nobody may be awaiting it
        if self._state != ConnectionState.CLOSED:
            if loop is None:
                self._state = ConnectionState.CLOSED
                self._closed_notified = True
            else:
                self._set_state(ConnectionState.CLOSED)

    async def close(self) -> None:
        """Stop every timer, task and socket; the state becomes closed (handler fired once)."""
        self._shutdown()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._notifier.flush()

    async def __aenter__(self) -> Self:
        self._get_loop()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    def __repr__(self) -> str:
        return f"<icekit.Agent ufrag={self._ufrag} state={self._state}>"
