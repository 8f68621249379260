"""Embed a kafkaish broker in a test process.

    with run_broker(in_memory=True) as kb:
        producer = KafkaProducer(bootstrap_servers=kb.bootstrap)
        kb.broker.storage.topics()          # inspect state
        kb.control(lambda req: FaultAction.CLOSE, api_key=ApiKey.PRODUCE)  # inject a fault (a function)
        kb.faults.add(api="Produce", error="NOT_LEADER_OR_FOLLOWER", times=1)  # or a rule
        kb.inspect.topic("t"); kb.clock.advance(61_000); kb.reset(); kb.snapshot(path)

``ServerProcess`` is the other way: ``python -m kafkaish serve ...`` as a subprocess, started
once its ``kafkaish ready on HOST:PORT`` line is printed (for restarts, crashes and signals).

The broker runs on its own event loop in a daemon thread, on 127.0.0.1 and a free port
unless told otherwise. ``call(fn)`` runs ``fn`` on the broker's loop thread (use it for
anything that touches broker state while clients are connected). ``freeze()``/``advance(ms)``
control the broker's clock from the test thread. ``add_broker(node_id=2)`` starts another
broker with its own node id and listener over the same storage and coordinators.
``run_broker(admin_port=0)`` also serves the admin HTTP control plane (``kb.admin_url``); the
Python control API (``faults``, ``inspect``, ``clock``, ``reset``, ``snapshot``, ``restore``,
``down``/``up``) is ``kafkaish.control.api``.

Listeners: ``run_broker(listeners=["PLAINTEXT://127.0.0.1:0", "SASL_SSL://127.0.0.1:0"], ...)``;
``kb.listeners`` maps each listener name to its "host:port" (``kb.bootstrap`` is the first's).
``ServerProcess`` fills ``listeners`` likewise from the ``kafkaish listener ...`` lines.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any, TypeVar

from kafkaish.broker import Broker, FaultAction
from kafkaish.config import load_settings
from kafkaish.control.api import ControlAPI
from kafkaish.server import KafkaishServer, start_admin, start_servers

T = TypeVar("T")

__all__ = ["EmbeddedBroker", "FaultAction", "ServerProcess", "ServerStartError", "run_broker"]


class EmbeddedBroker(ControlAPI):
    def __init__(self, **settings: Any) -> None:
        settings.setdefault("host", "127.0.0.1")
        settings.setdefault("port", 0)
        if "data_dir" not in settings:
            settings.setdefault("in_memory", True)
        self.settings = load_settings(**settings)
        self.broker: Broker | None = None
        self.host = self.settings.host
        self.port = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._stop: asyncio.Event | None = None
        self._error: BaseException | None = None
        self._servers: list[KafkaishServer] = []
        self.added_listeners: dict[int, dict[str, str]] = {}  # node id -> its listeners, for add_broker
        self.listeners: dict[str, str] = {}  # listener name -> "host:port"

    @property
    def bootstrap(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def admin_url(self) -> str | None:
        """The admin HTTP control plane's URL (with ``admin_port`` set), else None."""
        return self.broker.admin_url if self.broker is not None else None

    def start(self) -> "EmbeddedBroker":
        ready = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(ready,), name="kafkaish-broker", daemon=True)
        self._thread.start()
        ready.wait(30)
        if self._error is not None:
            raise RuntimeError("embedded broker failed to start") from self._error
        return self

    def _run(self, ready: threading.Event) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            loop.run_until_complete(self._main(ready))
        except BaseException as e:  # noqa: BLE001 - surfaced to start()
            self._error = e
            ready.set()
        finally:
            _finish(loop)

    async def _main(self, ready: threading.Event) -> None:
        self._stop = asyncio.Event()
        self.broker = Broker(self.settings)
        self._servers.extend(await start_servers(self.broker))
        server = self._servers[0]
        self.host, self.port = server.host, server.port
        self.listeners = _bound(server)
        admin = await start_admin(self.broker, server.host)
        ready.set()
        try:
            await self._stop.wait()
        finally:
            if admin is not None:
                await admin.close()
            for s in reversed(self._servers):
                await s.close()
            self.broker.close()

    def call(self, fn: Callable[[], T], timeout: float = 30) -> T:
        """Run ``fn()`` on the broker's event loop thread and return its result."""
        assert self._loop is not None

        async def run() -> T:
            return fn()

        return asyncio.run_coroutine_threadsafe(run(), self._loop).result(timeout)

    def freeze(self) -> int:
        """Stop the broker's clock (every timer and Fetch long poll waits for ``advance``)."""
        return self.call(lambda: self._broker().clock.freeze())

    def advance(self, ms: int) -> int:
        """Move the broker's clock forward; what became due runs at once."""
        return self.call(lambda: self._broker().clock.advance(ms))

    def add_broker(self, **settings: Any) -> str:
        """Start another broker over this one's storage, clock and coordinators; returns its bootstrap.

        It has its own Settings (give it another ``node_id``) and listener, and runs on this loop.
        """
        assert self._loop is not None
        merged = {**self.settings.model_dump(exclude_unset=True), "port": 0, **settings}

        async def start() -> str:
            other = Broker(load_settings(**merged), shared=self._broker().shared)
            server = KafkaishServer(other)
            self._servers.append(server)
            host, port = await server.start()
            self.added_listeners[other.node_id] = _bound(server)
            return f"{host}:{port}"

        return asyncio.run_coroutine_threadsafe(start(), self._loop).result(30)

    @property
    def bootstraps(self) -> dict[int, str]:
        """node id -> "host:port" of every broker of the cluster (``brokers=N``, ``add_broker``)."""
        return {s.broker.node_id: f"{s.host}:{s.port}" for s in self._servers}
    def sessions(self) -> list[tuple[str, str, bool]]:
        """(listener, principal, authenticated) of every open connection, of every broker."""
        return self.call(lambda: [(c.session.listener, c.session.principal, c.session.authenticated)
                                  for server in self._servers for c in server.connections.values()])

    def _broker(self) -> Broker:
        assert self.broker is not None
        return self.broker

    def control(self, fn: Callable[[Any], Any], api_key: int | None = None, *, keep: bool = False) -> None:
        """Fault injection: see ``Broker.control``."""
        self.call(lambda: self.broker.control(fn, api_key, keep=keep))  # type: ignore[union-attr]

    def stop(self) -> None:
        if self._loop is None or self._stop is None:
            return
        with contextlib.suppress(RuntimeError, concurrent.futures.TimeoutError):
            self._loop.call_soon_threadsafe(self._stop.set)
        if self._thread is not None:
            self._thread.join(30)

    def __enter__(self) -> "EmbeddedBroker":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _finish(loop: asyncio.AbstractEventLoop) -> None:
    """Close ``loop`` as ``asyncio.run`` does: cancel the tasks still pending (a connection, a topic
    change whose client left) and let them end first. A task left pending was destroyed later by
    the garbage collector, in whatever thread and call it interrupted; its "Event loop is closed"
    report is formatted there, and on Python 3.11 that formatting parses source (``ast.parse`` for
    the traceback's carets), which broke an ``ast.parse`` it interrupted (pytest rewriting a module
    it imported): "SystemError: AST constructor recursion depth mismatch"."""
    try:
        tasks = [t for t in asyncio.all_tasks(loop) if not t.done()]
        for task in tasks:
            task.cancel()
        if tasks:
            loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.run_until_complete(loop.shutdown_default_executor())
    finally:
        loop.close()


def _bound(server: KafkaishServer) -> dict[str, str]:
    return {l.spec.name: f"{l.spec.host or '127.0.0.1'}:{l.port}" for l in server.listeners}


@contextlib.contextmanager
def run_broker(**settings: Any) -> Iterator[EmbeddedBroker]:
    """Start an embedded broker for the duration of the block."""
    kb = EmbeddedBroker(**settings)
    kb.start()
    try:
        yield kb
    finally:
        kb.stop()


READY = re.compile(r"kafkaish ready on (\S+):(\d+)")
ADMIN = re.compile(r"kafkaish admin on (\S+)")
LISTENER = re.compile(r"kafkaish listener ([A-Za-z0-9_-]+)://(\S*):(\d+)")


class ServerStartError(RuntimeError):
    """kafkaish exited, or did not print its ready line in time."""


class ServerProcess:
    """``python -m kafkaish serve ARGS`` as a subprocess (``--port 0`` unless ARGS name a port).

    ``start()`` returns once the server printed ``kafkaish ready on HOST:PORT``. Its output is read
    for its whole life (so a chatty server never blocks on a full pipe), kept in ``lines`` and,
    with ``log_path``, copied to that file. ``stop(sig)`` returns the exit code.
    """

    def __init__(self, *args: str, env: dict[str, str] | None = None, log_path: str | Path | None = None,
                 cwd: str | Path | None = None, echo: Callable[[str], None] | None = None) -> None:
        self.args = list(args) if "--port" in args else ["--port", "0", *args]
        self.env = {**os.environ, **(env or {})}
        self.log_path = Path(log_path) if log_path is not None else None
        self.cwd = cwd
        self.echo = echo  # called with every output line (e.g. to show warnings)
        self.proc: subprocess.Popen[str] | None = None
        self.host = ""
        self.port = 0
        self.lines: list[str] = []
        self.listeners: dict[str, str] = {}  # listener name -> "host:port" (servers with listeners)
        self._ready = threading.Event()
        self._pump: threading.Thread | None = None

    @property
    def bootstrap(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def admin_url(self) -> str:
        """The admin HTTP control plane's URL (``kafkaish admin on URL``), "" when off."""
        return next((m.group(1) for line in self.lines if (m := ADMIN.match(line))), "")

    @property
    def command(self) -> list[str]:
        return [sys.executable, "-m", "kafkaish", "serve", *self.args]

    @property
    def output(self) -> str:
        return "".join(self.lines)

    def start(self, timeout: float = 30) -> "ServerProcess":
        log = open(self.log_path, "w", encoding="utf-8", errors="replace") if self.log_path else None
        if log is not None:
            log.write("$ " + " ".join(self.command) + "\n")
        self.proc = subprocess.Popen(self.command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, text=True, bufsize=1, env=self.env, cwd=self.cwd)
        self._pump = threading.Thread(target=self._read, args=(self.proc.stdout, log), daemon=True,
                                      name="kafkaish-server-output")
        self._pump.start()
        deadline = time.monotonic() + timeout
        while not self._ready.wait(0.1):
            if time.monotonic() > deadline:
                self.stop()
                raise ServerStartError(f"no ready line within {timeout:.0f} s:\n{self.output}")
        if not self.port:
            code = self.proc.wait()
            raise ServerStartError(f"kafkaish exited with {code} before it was ready:\n{self.output}")
        return self

    def _read(self, stream: IO[str] | None, log: IO[str] | None) -> None:
        assert stream is not None
        for line in stream:
            self.lines.append(line)
            if log is not None:
                log.write(line)
                log.flush()
            if self.echo is not None:
                self.echo(line)
            listener = LISTENER.search(line)
            if listener:
                host = listener.group(2).strip("[]")
                host = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
                self.listeners[listener.group(1)] = f"{host}:{listener.group(3)}"
            match = READY.search(line)
            if match and not self._ready.is_set():
                host = match.group(1)
                self.host = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
                self.port = int(match.group(2))
                self._ready.set()
        if log is not None:
            log.close()
        self._ready.set()  # the process ended: unblock start()

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self, sig: int | None = None, timeout: float = 30) -> int:
        """Terminate (or send ``sig``) and wait; kills after ``timeout``. Returns the exit code."""
        assert self.proc is not None
        if self.proc.poll() is None:
            if sig is None:
                self.proc.terminate()
            else:
                self.proc.send_signal(sig)
        try:
            code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            code = self.proc.wait()
        if self._pump is not None:
            self._pump.join(5)
        return code

    def __enter__(self) -> "ServerProcess":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        if self.alive():
            self.stop()
