"""A UDP endpoint that reads and writes its own non-blocking socket.

The stock asyncio datagram transport calls ``recvfrom(256 KiB)`` for every
datagram, which makes the default event loop receive several times slower than
it could. :class:`UdpEndpoint` instead registers the socket with
``loop.add_reader`` and drains up to :data:`READ_BATCH` datagrams per wake-up
into small buffers, and sends with ``sock.sendto`` directly. When the kernel
send buffer is full, datagrams wait in a bounded queue flushed by
``loop.add_writer``; writers may await :meth:`UdpEndpoint.drain` for back-pressure.

Each received datagram is passed to one of two callbacks, chosen by its first
byte (RFC 7983 §7): 0-3 is STUN, everything else goes to the data callback.
The endpoint works with the default loop and with uvloop.
"""

from __future__ import annotations

import array
import asyncio
import collections
import errno
import logging
import socket
from collections.abc import Callable

from ..demux import STUN_FIRST_BYTE
from ..errors import DatagramTooLargeError
from ..types import Address

try:  # FIONREAD tells whether another datagram waits, without an EAGAIN exception.
    import fcntl
    import termios

    _ioctl: Callable[..., int] | None = fcntl.ioctl
    _FIONREAD: int = termios.FIONREAD
except (ImportError, AttributeError):  # pragma: no cover - not on POSIX
    _ioctl = None
    _FIONREAD = 0

__all__ = ["DEFAULT_MAX_DATAGRAM", "READ_BATCH", "DatagramCallback", "UdpEndpoint"]

logger = logging.getLogger(__name__)

#: ``callback(socket_id, source, data)``.
DatagramCallback = Callable[[int, Address, bytes], None]

#: Datagrams read per wake-up before yielding back to the event loop.
READ_BATCH = 64
#: Largest datagram read without truncation (pion uses the same receive MTU).
DEFAULT_MAX_DATAGRAM = 8192
#: SO_RCVBUF asked for (bytes); 0 keeps the system default.
DEFAULT_SOCKET_BUFFER = 1 << 20
#: Datagrams queued while the kernel send buffer is full.
DEFAULT_SEND_QUEUE = 512


class UdpEndpoint:
    """One bound UDP socket, owned and read by this object.

    ``socket_id`` is the integer the ICE core knows this socket by. Received
    STUN goes to ``on_stun`` and everything else to ``on_data``; both are
    called synchronously from the reader, so they must be quick and must not
    raise.
    """

    __slots__ = (
        "_closed",
        "_drain_waiters",
        "_fast_feed",
        "_fast_src",
        "_fd",
        "_ipv6",
        "_loop",
        "_max_size",
        "_on_data",
        "_on_stun",
        "_pending",
        "_queue",
        "_queue_limit",
        "_singles",
        "_sock",
        "_writing",
        "datagrams_received",
        "datagrams_sent",
        "datagrams_truncated",
        "local_addr",
        "send_dropped",
        "send_errors",
        "socket_id",
    )

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        sock: socket.socket,
        socket_id: int,
        on_stun: DatagramCallback,
        on_data: DatagramCallback,
        *,
        max_datagram_size: int = DEFAULT_MAX_DATAGRAM,
        send_queue_limit: int = DEFAULT_SEND_QUEUE,
        receive_buffer: int = DEFAULT_SOCKET_BUFFER,
    ) -> None:
        sock.setblocking(False)
        if receive_buffer:
            # A larger kernel buffer absorbs bursts while the loop is busy
            # (the kernel caps it at net.core.rmem_max).
            try:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
            except OSError:
                pass
        self._loop = loop
        self._sock = sock
        self._fd = sock.fileno()
        self.socket_id = socket_id
        name = sock.getsockname()
        #: The bound address of the socket (host, port).
        self.local_addr: Address = (name[0], name[1])
        self._on_stun = on_stun
        self._on_data = on_data
        self._max_size = max_datagram_size
        self._ipv6 = sock.family == socket.AF_INET6
        self._pending = array.array("i", [0])
        self._singles = 0
        # Fast path for application data from a source already known valid:
        # straight into the receive buffer, skipping the agent.
        self._fast_src: Address | None = None
        self._fast_feed: Callable[[bytes], None] | None = None
        # Created on first use: most endpoints never see a full send buffer.
        self._queue: collections.deque[tuple[bytes, Address]] | None = None
        self._queue_limit = send_queue_limit
        self._writing = False
        self._drain_waiters: list[asyncio.Future[None]] | None = None  # on first use
        self._closed = False
        #: Counters, for statistics and tests.
        self.datagrams_received = 0
        self.datagrams_sent = 0
        self.send_dropped = 0
        self.send_errors = 0
        #: Datagrams longer than ``max_datagram_size``: dropped, never delivered cut short.
        self.datagrams_truncated = 0
        loop.add_reader(self._fd, self._read_ready)

    @property
    def closed(self) -> bool:
        """True once :meth:`close` was called."""
        return self._closed

    def set_fast_path(self, src: Address | None, feed: Callable[[bytes], None] | None = None) -> None:
        """Deliver data from ``src`` straight to ``feed`` (None: stop doing so)."""
        self._fast_src = src
        self._fast_feed = feed

    def set_callbacks(self, on_stun: DatagramCallback, on_data: DatagramCallback) -> None:
        """Replace the receive callbacks (e.g. when a TURN client takes over)."""
        self._on_stun = on_stun
        self._on_data = on_data

    # -- receiving -------------------------------------------------------

    def _read_ready(self) -> None:
        # Hot path: keep the per-datagram work to a recvfrom, a first-byte
        # test and one call.
        recvfrom = self._sock.recvfrom
        size = self._max_size
        # One byte more than allowed: a datagram that fills it was longer
        # than max_datagram_size and the kernel cut it short.
        room = size + 1
        sid = self.socket_id
        on_stun = self._on_stun
        on_data = self._on_data
        ipv6 = self._ipv6
        is_stun = STUN_FIRST_BYTE  # RFC 7983 §7: first byte 0-3 goes to on_stun
        count = 0
        try:
            while count < READ_BATCH:
                try:
                    data, addr = recvfrom(room)
                except (BlockingIOError, InterruptedError):
                    break
                except OSError as exc:
                    # ICMP errors (e.g. port unreachable) surface here on Linux;
                    # they say nothing ICE can use. Reading the error clears
                    # it; the loop calls again if datagrams are waiting.
                    logger.debug("recvfrom on %s: %s", self.local_addr, exc)
                    break
                count += 1
                if len(data) > size:
                    self.datagrams_truncated += 1
                    continue
                if ipv6:
                    host = addr[0]
                    if "%" in host:
                        host = host.split("%", 1)[0]
                    addr = (host, addr[1])
                if data and is_stun[data[0]]:
                    on_stun(sid, addr, data)
                elif addr == self._fast_src:
                    self._fast_feed(data)  # type: ignore[misc]
                else:
                    on_data(sid, addr, data)
                if self._closed:
                    break
                if count == 1 and _ioctl is not None:
                    # Does another datagram wait? FIONREAD is cheaper than a
                    # failing recvfrom. Request/response traffic brings one
                    # datagram per wake-up: after a few such wake-ups in a
                    # row, stop after one without asking (the socket stays
                    # readable if more is waiting, so the loop calls again)
                    # and ask only every 8th time, to notice a burst.
                    singles = self._singles + 1
                    self._singles = singles
                    if singles > 4 and singles & 7:
                        break
                    _ioctl(self._fd, _FIONREAD, self._pending, True)
                    if not self._pending[0]:
                        break
        finally:
            if count > 1:
                self._singles = 0
            self.datagrams_received += count

    # -- sending ---------------------------------------------------------

    def sendto(self, data: bytes, addr: Address) -> bool:
        """Send one datagram; never blocks.

        Returns False when the datagram was dropped (endpoint closed, queue
        full or a socket error); True when sent or queued.  Raises
        :class:`~icekit.errors.DatagramTooLargeError` when the socket refuses
        its size (EMSGSIZE): no retry could send it.
        """
        if self._closed:
            return False
        if self._queue:
            return self._enqueue(data, addr)
        try:
            self._sock.sendto(data, addr)
        except (BlockingIOError, InterruptedError):
            return self._enqueue(data, addr)
        except OSError as exc:
            if exc.errno == errno.EMSGSIZE:
                raise DatagramTooLargeError(
                    f"a datagram of {len(data)} bytes is too large for a UDP socket to {addr[0]}"
                ) from None
            # Unreachable networks, unsupported families and the like: ICE
            # treats a lost datagram the same way.
            self.send_errors += 1
            logger.debug("sendto %s from %s: %s", addr, self.local_addr, exc)
            return False
        self.datagrams_sent += 1
        return True

    @property
    def send_queue_size(self) -> int:
        """Datagrams waiting for the kernel send buffer."""
        return len(self._queue) if self._queue else 0

    def _enqueue(self, data: bytes, addr: Address) -> bool:
        queue = self._queue
        if queue is None:
            queue = self._queue = collections.deque()
        if len(queue) >= self._queue_limit:
            self.send_dropped += 1
            return False
        queue.append((data, addr))
        if not self._writing:
            self._writing = True
            self._loop.add_writer(self._fd, self._write_ready)
        return True

    def _write_ready(self) -> None:
        queue = self._queue
        sendto = self._sock.sendto
        while queue:
            data, addr = queue[0]
            try:
                sendto(data, addr)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                self.send_errors += 1
                logger.debug("sendto %s from %s: %s", addr, self.local_addr, exc)
            else:
                self.datagrams_sent += 1
            queue.popleft()
        self._writing = False
        self._loop.remove_writer(self._fd)
        self._wake_drainers()

    async def drain(self) -> None:
        """Wait until queued datagrams have been handed to the kernel."""
        if not self._queue or self._closed:
            return
        fut: asyncio.Future[None] = self._loop.create_future()
        if self._drain_waiters is None:
            self._drain_waiters = []
        self._drain_waiters.append(fut)
        try:
            await fut
        finally:
            if self._drain_waiters is not None and fut in self._drain_waiters:
                self._drain_waiters.remove(fut)

    def _wake_drainers(self) -> None:
        waiters, self._drain_waiters = self._drain_waiters, None
        for fut in waiters or ():
            if not fut.done():
                fut.set_result(None)

    # -- closing ---------------------------------------------------------

    def close(self) -> None:
        """Stop reading, drop queued datagrams and close the socket."""
        if self._closed:
            return
        self._closed = True
        if not self._loop.is_closed():
            self._loop.remove_reader(self._fd)
            if self._writing:
                self._loop.remove_writer(self._fd)
        self._writing = False
        self._fast_src = None
        self._fast_feed = None
        self._queue = None
        self._wake_drainers()
        self._sock.close()

    def __repr__(self) -> str:
        state = "closed" if self._closed else "open"
        return f"<UdpEndpoint id={self.socket_id} {self.local_addr[0]}:{self.local_addr[1]} {state}>"
