"""The asyncio TCP server: the only module that touches sockets.

Theory of operation. Each accepted socket gets a ``Connection`` (an ``asyncio.Protocol``)
and one task that serves its requests one at a time in arrival order, as Kafka's
SocketServer does (a channel is muted until its response is sent), so responses leave in
request order even when a Fetch long-polls.

- The protocol keeps reading while a request is being handled, so a disconnect is seen at
  once: ``connection_lost`` cancels the task, which cancels whatever request is parked
  (Fetch long poll, JoinGroup, SyncGroup, any waiter) and releases its memory and socket.
  Handlers are therefore cancel-safe: they await only waits whose cancellation changes
  nothing, or shield the work that must finish.
- Bytes read ahead while a request is in flight stay small: above ``SMALL_PENDING`` the
  connection stops reading until its request completes (Kafka's muting), and a connection
  buffering big frames waits while the others fill the ``queued.max.request.bytes`` pool.
- A broker has one or more listeners (``kafkaish.listeners``), each PLAINTEXT, SSL,
  SASL_PLAINTEXT or SASL_SSL; SSL ones wrap the connection in TLS (``kafkaish.tls``) before
  ``connection_made``, in a task of its own so a slow handshake never holds the acceptor.
- On SASL listeners a connection is unauthenticated until SaslAuthenticate succeeds: until
  then only ApiVersions and SaslHandshake, then SaslAuthenticate, are served; any other
  request closes the connection unanswered, as Kafka's SaslServerAuthenticator does
  ("Unexpected Kafka request of type ... during SASL handshake"), and so does a failed SASL
  step once its error is answered. That is the one check per request (``authenticated``).
- During a SASL exchange (and before authentication on SASL listeners) frames are limited to
  ``sasl.server.max.receive.size``.
- ``connections.max.idle.ms`` closes connections that neither sent nor received anything
  for that long (Kafka's Selector idle expiry); ``max.connections`` and
  ``max.connections.per.ip`` are enforced at accept. When the process is out of file
  descriptors the acceptor backs off and says so once per interval.
- Bad bytes close only that connection, with a rate-limited log line.
"""

from __future__ import annotations

import asyncio
import errno
import itertools
import logging
import os
import re
import socket
import ssl
import time
from dataclasses import dataclass, field
from typing import Any

from kafkaish.broker import Broker, FaultAction
from kafkaish.listeners import ListenerSpec, Session
from kafkaish.registry import ResponseAt
from kafkaish.server_limits import SMALL_PENDING, ConnectionQuotas, RateLimitedLog, RequestMemory
from kafkaish.wire.codec import Request, ServerCodec
from kafkaish.wire.errors import ProtocolError
from kafkaish.wire.messages import ApiKey
from kafkaish.wire.zerocopy import FileSpan, RecordsView

log = logging.getLogger("kafkaish.server")
TICK_S = 0.05
MAINTENANCE_S = 1.0
ACCEPT_BACKOFF_S = 0.1  # retry accept() this often while out of file descriptors
_OUT_OF_FDS = {errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM}
_SASL_KEYS = (ApiKey.SASL_HANDSHAKE, ApiKey.SASL_AUTHENTICATE)
# What an unauthenticated connection on a SASL listener may send, by SASL stage
_PRE_AUTH = {"handshake": (ApiKey.API_VERSIONS, ApiKey.SASL_HANDSHAKE), "authenticate": (ApiKey.SASL_AUTHENTICATE,)}
SSL_HANDSHAKE_TIMEOUT_S = 10.0
_BYTES = (bytes, bytearray, memoryview)
WRITE_CHUNK = 256 * 1024
PAUSED_CHECK_S = 0.25
_TCP_PEER_GONE = {7, 8}  # TCP_CLOSE, TCP_CLOSE_WAIT (linux/tcp_states.h)


@dataclass(eq=False)
class Listener:
    """One listener of a server: what it is, its TLS context and its bound sockets."""

    spec: ListenerSpec
    ssl_context: ssl.SSLContext | None = None
    sockets: list[socket.socket] = field(default_factory=list)
    port: int = 0


def _constant(name: str) -> str:
    """"CreateTopics" -> "CREATE_TOPICS" (Kafka's ApiKeys names, as its log lines use)."""
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).upper()


class Connection(asyncio.BufferedProtocol):
    """One client connection: frames in, responses out, in order."""

    def __init__(self, server: KafkaishServer, conn_id: int, host: str, port: int,
                 listener: Listener | None = None) -> None:
        self.server = server
        self.conn_id = conn_id
        self.host = host
        self.port = port
        self.listener = listener or server.listeners[0]
        self.session = Session.for_listener(self.listener.spec)
        settings = server.broker.settings
        limit = settings.sasl_server_max_receive_size if not self.session.authenticated else settings.socket_request_max_bytes
        self.codec = ServerCodec(server.broker.supported_versions, limit)
        self.transport: asyncio.Transport | None = None
        self.task: asyncio.Task[None] | None = None
        self.last_active = time.monotonic()
        self.closed = False
        self._data_waiter: asyncio.Future[None] | None = None
        self._drain_waiter: asyncio.Future[None] | None = None
        self._write_paused = False
        self._read_paused = False
        self._sending_file = False
        self._busy = False  # a request is being handled
        self._inflight = 0  # size of that request's frame
        self._accounted = 0  # bytes counted in the server's RequestMemory

    # ------------------------------------------------------------------ asyncio.BufferedProtocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        if self.listener.ssl_context is not None:
            from kafkaish.tls import principal

            self.session.principal = principal(transport.get_extra_info("peercert"))
        self.task = task = asyncio.get_running_loop().create_task(self._run())
        # The loop keeps only weak references to tasks: once the transport drops this protocol, a
        # cancelled task would otherwise be collected before it finishes ("Task was destroyed but
        # it is pending!", seen in fuzz runs). The server holds it until it is done.
        running = self.server.connection_tasks
        running.add(task)
        task.add_done_callback(running.discard)

    def get_buffer(self, sizehint: int) -> memoryview:
        # The socket reads straight into the frame buffer; a big frame gets its own buffer of
        # its exact size (wire.codec.FrameBuffer) if the request memory pool has room for it.
        self.codec.frame_budget = self.server.memory.room()
        return self.codec.get_buffer(sizehint)

    def buffer_updated(self, nbytes: int) -> None:
        self.codec.buffer_updated(nbytes)
        self._received()

    def data_received(self, data: bytes) -> None:  # transports without BufferedProtocol support
        self.codec.receive_data(data)
        self._received()

    def _received(self) -> None:
        self.last_active = time.monotonic()
        self._account()
        waiter = self._data_waiter
        if waiter is not None:
            self._data_waiter = None
            if not waiter.done():
                waiter.set_result(None)
        if self.codec.pending_bytes > SMALL_PENDING and (
                self._busy or not self.server.memory.may_grow(self, self._accounted)):
            self._pause_reading()

    def eof_received(self) -> bool:
        return False  # close: Kafka closes a channel whose peer shut down its side

    def connection_lost(self, exc: Exception | None) -> None:
        task = self.task
        if not self._busy and self.codec.pending_bytes and not self.closed:
            self.server.rejected.log(logging.WARNING, "mid-frame", "connection %d from %s closed mid-frame "
                                     "(%d bytes of a truncated request)", self.conn_id, self.host,
                                     self.codec.received_bytes)
        self._release()
        if task is not None and not task.done():
            task.cancel()  # cancels the parked request, if any

    def pause_writing(self) -> None:
        self._write_paused = True

    def resume_writing(self) -> None:
        self._write_paused = False
        waiter = self._drain_waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    # ------------------------------------------------------------------ flow control
    def _pause_reading(self) -> None:
        if self._read_paused or self.closed:
            return
        self._read_paused = True
        self.server.unread.add(self)
        assert self.transport is not None
        self.transport.pause_reading()
        if not self._busy:  # waiting for the pool
            self.server.memory.wait(self._maybe_resume)

    def _maybe_resume(self) -> None:
        if not self._read_paused or self.closed or self._sending_file:
            return
        memory = self.server.memory
        if self.codec.pending_bytes > SMALL_PENDING:
            if self._busy:
                return  # resumed when the request completes
            if not memory.may_grow(self, self._accounted):
                memory.wait(self._maybe_resume)
                return
        self._read_paused = False
        self.server.unread.discard(self)
        assert self.transport is not None
        self.transport.resume_reading()

    def _account(self) -> None:
        """Bring the pool's count for this connection to buffered + in-flight bytes."""
        now = self.codec.pending_bytes + self._inflight
        delta, self._accounted = now - self._accounted, now
        if delta:
            self.server.memory.change(delta)
        if self.codec.pending_bytes <= SMALL_PENDING:
            self.server.memory.release(self)

    async def _drain(self) -> None:
        if self._write_paused:
            waiter = self._drain_waiter = asyncio.get_running_loop().create_future()
            try:
                await waiter
            finally:
                self._drain_waiter = None

    # ------------------------------------------------------------------ serving
    async def _run(self) -> None:
        codec = self.codec
        try:
            while True:
                request = codec.next_request()
                if request is None:
                    self._account()
                    self._maybe_resume()
                    waiter = self._data_waiter = asyncio.get_running_loop().create_future()
                    await waiter
                    continue
                self._busy, self._inflight = True, request.size
                self._account()
                if not await self._handle(request):
                    return
                self._busy, self._inflight = False, 0
                self._account()
                self._maybe_resume()
                self.last_active = time.monotonic()
        except ProtocolError as e:
            self.server.rejected.log(logging.WARNING, "bad request", "closing connection %d from %s:%s: %s",
                                     self.conn_id, self.host, self.port, e)
        except asyncio.CancelledError:
            pass  # the connection was lost (its parked request goes with it) or the server is closing
        except OSError:
            pass  # the peer went away mid-write
        except Exception:
            log.exception("internal error on connection %d from %s; closing it", self.conn_id, self.host)
        finally:
            self.close()

    async def _handle(self, request: Request) -> bool:
        """Answer one request; False when the connection is to be closed."""
        broker = self.server.broker
        session = self.session
        if (session.expires_at_ms is not None and session.authenticated and request.api_key != ApiKey.SASL_HANDSHAKE
                and session.expired(broker.now_ms())):  # KIP-368: Kafka's Processor closes an expired channel
            self.server.rejected.log(logging.INFO, "reauth", "closing connection %d from %s on listener %s: its SASL "
                                     "session expired (connections.max.reauth.ms) before %s", self.conn_id, self.host,
                                     session.listener, _constant(broker.api_name(request.api_key)))
            return False
        if not session.authenticated and request.api_key not in _PRE_AUTH.get(session.sasl_stage, ()):
            self.server.rejected.log(logging.INFO, "pre-auth", "closing connection %d from %s on listener %s: "
                                     "Unexpected Kafka request of type %s during SASL %s", self.conn_id, self.host,
                                     session.listener, _constant(broker.api_name(request.api_key)),
                                     "authentication" if session.sasl_stage == "authenticate" else "handshake")
            return False
        start = time.perf_counter()
        response = await broker.dispatch(request, self.host, self.conn_id, session)
        if broker.stats is not None:
            broker.stats.request_done(request, response, start)
        if response is FaultAction.CLOSE:
            log.info("closing connection %d from %s on request (%s)", self.conn_id, self.host,
                     broker.api_name(request.api_key))
            return False
        if response is not None and response is not FaultAction.DROP:
            if isinstance(response, ResponseAt):  # a handler chose the version (KIP-511)
                await self._write(ServerCodec.encode_response(request, response.body, response.version))
            else:
                await self._write(ServerCodec.encode_response(request, response))
        if request.api_key in _SASL_KEYS:
            if session.close_after_response:  # a failed SASL step: Kafka answers, then closes
                log.info("closing connection %d from %s after a failed SASL %s", self.conn_id, self.host,
                         broker.api_name(request.api_key))
                return False
            self._sasl_frame_limit()
        return True

    def _sasl_frame_limit(self) -> None:
        """Frames of an unfinished SASL exchange, and of an unauthenticated SASL listener connection, are
        bounded (Kafka's sasl.server.max.receive.size)."""
        config = self.server.broker.settings
        sasl = self.server.broker.connection_state(self.conn_id).get("sasl")
        in_exchange = (sasl is not None and not sasl.done) or not self.session.authenticated
        self.codec.max_frame_size = (config.sasl_server_max_receive_size if in_exchange
                                     else config.socket_request_max_bytes)

    def peer_closed(self) -> bool:
        """Whether the peer has gone (FIN or RST) although nothing is being read (Linux TCP_INFO)."""
        sock = self.transport.get_extra_info("socket") if self.transport is not None else None
        if sock is None or not hasattr(socket, "TCP_INFO"):
            return False
        try:
            state = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 1)[0]
        except OSError:
            return True
        return state in _TCP_PEER_GONE

    async def _write(self, parts: list[bytes | RecordsView]) -> None:
        transport = self.transport
        assert transport is not None
        for part in parts:
            if isinstance(part, _BYTES):
                await self._write_bytes(part)
                continue
            chunks: list[bytes | FileSpan] = []
            part.write_to(chunks)
            for chunk in chunks:
                if isinstance(chunk, FileSpan):
                    await self._sendfile(chunk)
                else:
                    await self._write_bytes(chunk)
                if transport.is_closing():
                    raise ConnectionResetError("connection closed while writing")
        await self._drain()
        self.last_active = time.monotonic()

    async def _write_bytes(self, data: bytes | bytearray | memoryview) -> None:
        """Small parts go straight to the transport; big ones in slices with a drain between,
        so a slow reader holds the response once, not again in the transport's buffer."""
        assert self.transport is not None
        if len(data) <= WRITE_CHUNK:
            self.transport.write(data)
            return
        view = memoryview(data)
        for start in range(0, len(view), WRITE_CHUNK):
            self.transport.write(view[start : start + WRITE_CHUNK])
            await self._drain()
            if self.transport.is_closing():
                raise ConnectionResetError("connection closed while writing")

    async def _sendfile(self, span: FileSpan) -> None:
        """Send a file span with sendfile(2) where the OS can; read it otherwise."""
        fd, offset, count = span
        assert self.transport is not None
        loop = asyncio.get_running_loop()
        self._sending_file = True
        self.server.unread.add(self)  # sendfile pauses reading: a slow reader's leaving is polled for
        try:
            with os.fdopen(os.dup(fd), "rb") as f:
                sent = await loop.sendfile(self.transport, f, offset, count)
        except NotImplementedError:  # uvloop has no loop.sendfile: read and write the span a chunk at a time
            sent = 0
            while sent < count:
                data = os.pread(fd, min(WRITE_CHUNK, count - sent), offset + sent)
                if not data:
                    break
                self.transport.write(data)
                sent += len(data)
                await self._drain()
                if self.transport.is_closing():
                    raise ConnectionResetError("connection closed while writing") from None
        except OSError as e:
            # The loop's sendfile future holds ``e``, whose traceback holds the frames holding that
            # future and this response: a reference cycle that would keep the response (and its
            # segment fd) until the next GC. Drop the traceback and raise a fresh error.
            e.__traceback__ = None
            raise ConnectionResetError(f"sendfile: {e}") from None
        finally:
            self._sending_file = False
            if not self._read_paused:
                self.server.unread.discard(self)
        if sent != count:
            raise ConnectionError(f"sendfile sent {sent} of {count} bytes")

    # ------------------------------------------------------------------ closing
    def close(self) -> None:
        """Close the socket now (pending writes are flushed first) and release everything."""
        if self.transport is not None and not self.transport.is_closing():
            self.transport.close()
        self._release()

    def abort(self) -> None:
        if self.transport is not None:
            self.transport.abort()
        self._release()

    def _release(self) -> None:
        if self.closed:
            return
        self.closed = True
        self.server.unread.discard(self)
        self._inflight = 0
        self.server.memory.change(-self._accounted)
        self._accounted = 0
        self.server.memory.release(self)
        self.server.connection_released(self)


class KafkaishServer:
    """One broker's listeners and their connections; ``host``/``port`` override the first listener's address."""

    def __init__(self, broker: Broker, host: str | None = None, port: int | None = None) -> None:
        self.broker = broker
        config = broker.settings
        specs = list(broker.listener_specs)
        first = specs[0]
        specs[0] = ListenerSpec(first.name, first.protocol, first.host if host is None else host,
                                first.port if port is None else port)
        context = None
        if any(spec.uses_ssl for spec in specs):
            from kafkaish.tls import server_context

            context = server_context(config)
        self.listeners = [Listener(spec, context if spec.uses_ssl else None) for spec in specs]
        self.host, self.port = specs[0].host, specs[0].port
        self.memory = RequestMemory(config.queued_max_request_bytes)
        self.quotas = ConnectionQuotas(config.max_connections, config.max_connections_per_ip)
        self.rejected = RateLimitedLog(log)
        self.out_of_fds = RateLimitedLog(log, interval_s=10.0, burst=1)  # one line per 10 s
        self.connections: dict[int, Connection] = {}
        self.unread: set[Connection] = set()  # not being read: their disconnects are polled for
        self._sockets: list[socket.socket] = []
        self._tasks: set[asyncio.Task[Any]] = set()
        self.connection_tasks: set[asyncio.Task[None]] = set()  # strong references (see Connection)
        self._ids = itertools.count(1)
        self._closing = False
        self._acceptors: list[asyncio.Task[None]] = []
        self._up_later: asyncio.TimerHandle | None = None
        self._relisting = False

    async def start(self) -> tuple[str, int]:
        """Listen on every listener; (host, port) of the first."""
        await self._start_listening()
        self.broker.listeners.append(self)
        for listener in self.listeners:
            self.broker.listener_bound(listener.spec.name, listener.port)
        if self.broker.owns_shared:  # one ticker and maintenance per shared state (--brokers N)
            self._spawn(self._ticker())
            self._spawn(self._maintenance())
        self._spawn(self._watch_unread())
        if self.broker.settings.connections_max_idle_ms >= 0:
            self._spawn(self._expire_idle(self.broker.settings.connections_max_idle_ms / 1000))
        for listener in self.listeners:
            host, port = self.broker.endpoint(listener.spec.name)
            log.info("listening on %s (%s, advertised %s:%d)", listener.spec.url(listener.port),
                     listener.spec.protocol, host, port)
        return self.host, self.port

    async def _start_listening(self) -> None:
        """Bind every listener (again on the ports it had, after ``go_down``) and accept on it."""
        try:
            for listener in self.listeners:
                listener.sockets = await _listen(listener.spec.host, listener.port or listener.spec.port)
                listener.port = listener.sockets[0].getsockname()[1]
        except OSError:
            for listener in self.listeners:
                for sock in listener.sockets:
                    sock.close()
                listener.sockets = []
            raise
        self.port = self.listeners[0].port
        self._sockets = [sock for listener in self.listeners for sock in listener.sockets]
        self._acceptors = [asyncio.ensure_future(self._accept_loop(sock, listener))
                           for listener in self.listeners for sock in listener.sockets]
        for task in self._acceptors:
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    def _spawn(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # ------------------------------------------------------------------ broker down (fault injection)
    @property
    def down(self) -> bool:
        return not self._sockets

    def go_down(self, ms: int | None = None) -> None:
        """Act as a stopped broker: stop listening (connections are refused) and close every open
        connection; listen again on the same port after ``ms`` (None: when ``go_up`` is called)."""
        if self._up_later is not None:
            self._up_later.cancel()
            self._up_later = None
        if self._sockets:
            for task in self._acceptors:
                task.cancel()
            for sock in self._sockets:
                sock.close()
            self._sockets, self._acceptors = [], []
            log.info("listener %s:%d down%s", self.host, self.port, f" for {ms} ms" if ms is not None else "")
        for conn in list(self.connections.values()):
            conn.abort()
        if ms is not None:
            self._up_later = asyncio.get_running_loop().call_later(ms / 1000, self.go_up)

    def go_up(self) -> None:
        if self._up_later is not None:
            self._up_later.cancel()
            self._up_later = None
        if not self._sockets and not self._relisting and not self._closing:
            self._relisting = True
            self._spawn(self._relisten())

    async def _relisten(self) -> None:
        try:
            await self._start_listening()
            log.info("listener %s:%d up again", self.host, self.port)
        except OSError as e:  # the port was taken meanwhile: stay down, say why
            log.error("listener %s:%d cannot listen again: %s", self.host, self.port, e)
        finally:
            self._relisting = False

    async def close(self) -> None:
        self._closing = True
        if self in self.broker.listeners:
            self.broker.listeners.remove(self)
        if self._up_later is not None:
            self._up_later.cancel()
        for sock in self._sockets:
            sock.close()
        tasks = list(self._tasks)
        for t in tasks:
            t.cancel()
        conns = list(self.connections.values())
        conn_tasks = [c.task for c in conns if c.task is not None]
        for c in conns:
            c.abort()
        await asyncio.gather(*tasks, *conn_tasks, return_exceptions=True)
        await asyncio.sleep(0)  # let the transports' connection_lost callbacks run

    # ------------------------------------------------------------------ accepting
    async def _accept_loop(self, listener_socket: socket.socket, listener: Listener) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await self.quotas.wait_for_slot()
            try:
                sock, addr = await loop.sock_accept(listener_socket)
            except OSError as e:
                if self._closing:
                    return
                if e.errno in _OUT_OF_FDS:  # back off quietly; the fds come back as clients leave
                    self.out_of_fds.log(logging.WARNING, "accept", "cannot accept connections: %s (%d open); "
                                      "retrying every %.1f s", e.strerror, len(self.connections), ACCEPT_BACKOFF_S)
                    await asyncio.sleep(ACCEPT_BACKOFF_S)
                else:
                    log.warning("accept failed: %s", e)
                continue
            host, port = str(addr[0]), int(addr[1])
            if not self.quotas.try_add(host):
                self.rejected.log(logging.INFO, "per-ip", "closing connection from %s: max.connections.per.ip "
                                  "(%d) reached", host, self.quotas.max_per_ip)
                sock.close()
                continue
            conn = Connection(self, next(self._ids), host, port, listener)
            self.connections[conn.conn_id] = conn
            if listener.ssl_context is None:
                await self._connect(conn, sock)
            else:  # the TLS handshake runs in its own task: a slow client never holds the acceptor
                self._spawn(self._connect(conn, sock))

    async def _connect(self, conn: Connection, sock: socket.socket) -> None:
        loop = asyncio.get_running_loop()
        context = conn.listener.ssl_context
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)  # as Kafka's Acceptor
            if context is None:
                await loop.connect_accepted_socket(lambda: conn, sock)
            else:
                await loop.connect_accepted_socket(lambda: conn, sock, ssl=context,
                                                   ssl_handshake_timeout=SSL_HANDSHAKE_TIMEOUT_S)
        except (OSError, asyncio.TimeoutError) as e:
            if context is not None:  # Kafka logs failed TLS handshakes (SslTransportLayer) at INFO
                self.rejected.log(logging.INFO, "tls", "TLS handshake with %s on listener %s failed: %s",
                                  conn.host, conn.listener.spec.name, e)
            else:
                log.info("connection from %s failed at once: %s", conn.host, e)
            sock.close()
            conn.abort()

    def connection_released(self, conn: Connection) -> None:
        if self.connections.pop(conn.conn_id, None) is not None:
            self.quotas.remove(conn.host)
            self.broker.connection_closed(conn.conn_id)

    # ------------------------------------------------------------------ timers
    async def _expire_idle(self, idle_s: float) -> None:
        """Close connections idle for connections.max.idle.ms (Kafka's Selector idle expiry)."""
        period = min(1.0, max(idle_s / 4, 0.01))
        while True:
            await asyncio.sleep(period)
            deadline = time.monotonic() - idle_s
            for conn in [c for c in self.connections.values() if c.last_active < deadline]:
                log.debug("closing connection %d from %s: idle for more than %.0f ms", conn.conn_id,
                          conn.host, idle_s * 1000)
                conn.abort()

    async def _watch_unread(self) -> None:
        """A connection that is not being read (over the memory bound, read ahead while its request
        is handled, or in sendfile to a slow reader) cannot see its peer leave; ask the kernel."""
        while True:
            await asyncio.sleep(PAUSED_CHECK_S)
            for conn in [c for c in self.unread if c.peer_closed()]:
                log.debug("connection %d from %s closed by its peer while not being read", conn.conn_id, conn.host)
                if conn.task is not None:
                    conn.task.cancel()  # first: a sendfile in progress unregisters its writer
                conn.abort()

    async def _ticker(self) -> None:
        while True:
            await asyncio.sleep(TICK_S)
            self.broker.tick()

    async def _maintenance(self) -> None:
        # Retention runs on Kafka's LogManager schedule: first after log.initial.task.delay.ms,
        # then every log.retention.check.interval.ms; compaction, rolls and fsyncs every second.
        config = self.broker.settings
        next_retention = self.broker.now_ms() + config.log_initial_task_delay_ms
        while True:
            await asyncio.sleep(min(MAINTENANCE_S, config.log_retention_check_interval_ms / 1000))
            now = self.broker.now_ms()
            retention = now >= next_retention
            if retention:
                next_retention = now + config.log_retention_check_interval_ms
            try:
                await asyncio.to_thread(self.broker.storage.run_maintenance, now, retention)
            except OSError as e:
                if e.errno not in _OUT_OF_FDS:
                    log.exception("storage maintenance failed")
                else:  # retried next round; one line, not a traceback a second
                    self.out_of_fds.log(logging.WARNING, "maintenance", "storage maintenance skipped: %s", e)
            except Exception:
                log.exception("storage maintenance failed")


async def _listen(host: str, port: int, backlog: int = 100) -> list[socket.socket]:
    """Bound, listening, non-blocking sockets for every address of ``host`` (one port for all)."""
    loop = asyncio.get_running_loop()
    infos = await loop.getaddrinfo(host or None, port, family=socket.AF_UNSPEC, type=socket.SOCK_STREAM,
                                   flags=socket.AI_PASSIVE)
    socks: list[socket.socket] = []
    seen: set[tuple[int, Any]] = set()
    try:
        for family, type_, proto, _, addr in infos:
            if (family, addr) in seen:
                continue
            seen.add((family, addr))
            sock = socket.socket(family, type_, proto)
            socks.append(sock)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            if port == 0 and len(socks) > 1:  # every address on the port the first one got
                addr = (addr[0], socks[0].getsockname()[1], *addr[2:])
            sock.bind(addr)
            sock.listen(backlog)
            sock.setblocking(False)
    except OSError:
        for sock in socks:
            sock.close()
        raise
    return socks


async def start_servers(broker: Broker) -> list[KafkaishServer]:
    """Listen for ``broker`` and, with ``brokers`` N > 1, for the N-1 other brokers of its simulated
    cluster (``Broker.cluster_member``); the first server is ``broker``'s."""
    servers: list[KafkaishServer] = []
    try:
        for index in range(broker.settings.brokers):
            member = broker if index == 0 else broker.cluster_member(index)
            server = KafkaishServer(member)
            await server.start()
            servers.append(server)
    except BaseException:
        for server in reversed(servers):
            await server.close()
        raise
    return servers


async def serve(broker: Broker, ready: Any = None, stop: asyncio.Event | None = None) -> None:
    """Run until ``stop`` is set; ``ready(host, port, server)`` is called once listening (the first
    listener's address, and the first server, whose ``listeners`` hold every bound port)."""
    servers = await start_servers(broker)
    server = servers[0]
    host, port = server.host, server.port
    admin = await start_admin(broker, server.host)
    if ready is not None:
        ready(host, port, server)
    try:
        await (stop.wait() if stop is not None else asyncio.Event().wait())
    finally:
        if admin is not None:
            await admin.close()
        for server in reversed(servers):
            await server.close()
        broker.close()


async def start_admin(broker: Broker, host: str) -> Any:
    """Serve the admin HTTP control plane if ``admin_port`` is set (aiohttp is imported only then);
    sets ``broker.admin_url``. Returns the AdminServer or None."""
    if broker.settings.admin_port is None:
        return None
    from kafkaish.control.app import AdminServer

    admin = AdminServer(broker)
    broker.admin_url = await admin.start(host, broker.settings.admin_port)
    return admin
