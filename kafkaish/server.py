"""The asyncio TCP server: the only module that touches sockets.

Each connection is served like Kafka's SocketServer serves it: requests are decoded by
a ``ServerCodec`` and handled one at a time in arrival order (Kafka mutes a channel until
its response is sent), so responses leave in request order even when a Fetch long-polls.
Bad bytes close only that connection, with a log line; other clients keep being served.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import os
import socket
from typing import Any

from kafkaish.broker import Broker, FaultAction
from kafkaish.wire.codec import ServerCodec
from kafkaish.wire.errors import ProtocolError

log = logging.getLogger("kafkaish.server")
TICK_S = 0.05
MAINTENANCE_S = 1.0


class KafkaishServer:
    def __init__(self, broker: Broker, host: str | None = None, port: int | None = None) -> None:
        self.broker = broker
        self.host = broker.config.host if host is None else host
        self.port = broker.config.port if port is None else port
        self._server: asyncio.base_events.Server | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._conns: set[asyncio.StreamWriter] = set()
        self._ids = itertools.count(1)

    async def start(self) -> tuple[str, int]:
        self._server = await asyncio.start_server(self._serve_connection, self.host, self.port,
                                                  reuse_address=True, limit=1 << 20)
        sock = self._server.sockets[0]
        self.port = sock.getsockname()[1]
        if not self.broker.config.advertised_port:
            self.broker.advertised_port = self.port
        self._spawn(self._ticker())
        self._spawn(self._maintenance())
        log.info("listening on %s:%d (advertised %s:%d)", self.host, self.port,
                 self.broker.advertised_host, self.broker.advertised_port)
        return self.host, self.port

    def _spawn(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for w in list(self._conns):
            w.close()
        for t in list(self._tasks):
            t.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()

    async def _ticker(self) -> None:
        while True:
            await asyncio.sleep(TICK_S)
            self.broker.tick()

    async def _maintenance(self) -> None:
        # Retention runs on Kafka's LogManager schedule: first after log.initial.task.delay.ms,
        # then every log.retention.check.interval.ms; compaction, rolls and fsyncs every second.
        config = self.broker.config
        next_retention = self.broker.now_ms() + config.log_initial_task_delay_ms
        while True:
            await asyncio.sleep(min(MAINTENANCE_S, config.log_retention_check_interval_ms / 1000))
            now = self.broker.now_ms()
            retention = now >= next_retention
            if retention:
                next_retention = now + config.log_retention_check_interval_ms
            try:
                await asyncio.to_thread(self.broker.storage.run_maintenance, now, retention)
            except Exception:
                log.exception("storage maintenance failed")

    async def _serve_connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        conn_id = next(self._ids)
        peer = writer.get_extra_info("peername") or ("?", 0)
        host = str(peer[0])
        sock = writer.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._conns.add(writer)
        codec = ServerCodec(self.broker.supported_versions, self.broker.config.socket_request_max_bytes)
        try:
            await self._serve(reader, writer, codec, host, conn_id)
        except ProtocolError as e:
            log.warning("closing connection %d from %s:%s: %s", conn_id, host, peer[1], e)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("internal error on connection %d from %s; closing it", conn_id, host)
        finally:
            self._conns.discard(writer)
            self.broker.connection_closed(conn_id)
            writer.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                     codec: ServerCodec, host: str, conn_id: int) -> None:
        while True:
            data = await reader.read(1 << 16)
            if not data:
                if codec.pending_bytes:
                    log.warning("connection %d from %s closed mid-frame (%d bytes of a truncated request)",
                                conn_id, host, codec.pending_bytes)
                return
            codec.receive_data(data)
            while (request := codec.next_request()) is not None:
                response = await self.broker.dispatch(request, host, conn_id)
                if response is None or response is FaultAction.DROP:
                    continue
                if response is FaultAction.CLOSE:
                    log.info("closing connection %d from %s on request (%s)", conn_id, host,
                             self.broker.api_name(request.api_key))
                    return
                version = 0 if request.unsupported_version else None
                await self._write(writer, ServerCodec.encode_response(request, response, version))

    async def _write(self, writer: asyncio.StreamWriter, parts: list[Any]) -> None:
        for part in parts:
            if isinstance(part, (bytes, bytearray, memoryview)):
                writer.write(part)
                continue
            chunks: list[Any] = []
            part.write_to(chunks)
            for chunk in chunks:
                if isinstance(chunk, (bytes, bytearray, memoryview)):
                    writer.write(chunk)
                else:
                    await self._sendfile(writer, *chunk)
        await writer.drain()

    @staticmethod
    async def _sendfile(writer: asyncio.StreamWriter, fd: int, offset: int, count: int) -> None:
        """Send a file region with sendfile(2) where the OS can; read it otherwise."""
        await writer.drain()
        loop = asyncio.get_running_loop()
        with os.fdopen(os.dup(fd), "rb") as f:
            sent = await loop.sendfile(writer.transport, f, offset, count)
        if sent != count:
            raise ConnectionError(f"sendfile sent {sent} of {count} bytes")


async def serve(broker: Broker, ready: Any = None, stop: asyncio.Event | None = None) -> None:
    """Run until ``stop`` is set; ``ready(host, port)`` is called once listening."""
    server = KafkaishServer(broker)
    host, port = await server.start()
    if ready is not None:
        ready(host, port)
    try:
        await (stop.wait() if stop is not None else asyncio.Event().wait())
    finally:
        await server.close()
        broker.close()
