"""Start and stop kafkaish servers for the compatibility runs.

A compat run uses two servers per client:

* ``main``: auto-creates topics, in memory, default limits;
* ``strict``: ``--no-auto-create-topics``, a small ``--message-max-bytes``
  (``STRICT_MESSAGE_MAX_BYTES``) and a SASL user, for the error and SASL scenarios.

A server is ready when it prints ``kafkaish ready on HOST:PORT``; its log goes
to a file so that a failing scenario can be matched with what the server said.
"""
from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
READY = re.compile(r"kafkaish ready on (\S+):(\d+)")
STRICT_MESSAGE_MAX_BYTES = 100_000
SASL_USER, SASL_PASSWORD = "compat", "compat-secret"  # the strict server's SASL user (authentication is optional)
STRICT_FLAGS = ("--no-auto-create-topics", "--message-max-bytes", str(STRICT_MESSAGE_MAX_BYTES),
                "--sasl-user", f"{SASL_USER}:{SASL_PASSWORD}")

# kafka-python's integration tests expect the broker its own CI runs
# (kafka-python servers/resources/default/kafka.properties): node id 0 (CreatePartitions
# assignments name broker 0), num.partitions=4, group.initial.rebalance.delay.ms=0 and
# group.min.session.timeout.ms=1000 (test_group uses a 3 s session timeout).
SUITE_FLAGS = ("--node-id", "0", "--default-partitions", "4", "--group-initial-rebalance-delay-ms", "0")
SUITE_ENV = {"KAFKAISH_GROUP_MIN_SESSION_TIMEOUT_MS": "1000"}


class ServerStartError(RuntimeError):
    """kafkaish exited or did not print its ready line in time."""


@dataclass
class Server:
    """One running ``python -m kafkaish serve`` process."""

    name: str
    flags: tuple[str, ...]
    log_path: Path
    env: dict[str, str] = field(default_factory=dict)  # extra KAFKAISH_* settings
    proc: subprocess.Popen | None = None
    host: str = ""
    port: int = 0
    _pump: threading.Thread | None = field(default=None, repr=False)

    @property
    def bootstrap(self) -> str:
        return f"{self.host}:{self.port}"

    def start(self, timeout: float = 30.0) -> "Server":
        cmd = [sys.executable, "-m", "kafkaish", "serve", "--port", "0", "--in-memory", *self.flags]
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = open(self.log_path, "w", encoding="utf-8", errors="replace")
        log.write("$ " + " ".join(cmd) + "\n")
        log.flush()
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, text=True, bufsize=1, cwd=REPO,
                                     env={**os.environ, **self.env})
        ready = threading.Event()

        def pump() -> None:
            # Copy the server's output to its log for the whole run, noting the ready line.
            assert self.proc is not None and self.proc.stdout is not None
            for line in self.proc.stdout:
                log.write(line)
                log.flush()
                match = READY.search(line)
                if match and not ready.is_set():
                    self.host, self.port = match.group(1), int(match.group(2))
                    ready.set()
            log.close()
            ready.set()  # process ended: unblock the waiter

        self._pump = threading.Thread(target=pump, name=f"kafkaish-{self.name}-log", daemon=True)
        self._pump.start()
        deadline = time.monotonic() + timeout
        while not ready.wait(0.1):
            if time.monotonic() > deadline:
                self.stop()
                raise ServerStartError(f"{self.name}: no ready line within {timeout:.0f}s (see {self.log_path})")
        if not self.port:
            code = self.proc.wait()
            raise ServerStartError(f"{self.name}: kafkaish exited with {code} before it was ready "
                                   f"(see {self.log_path}): {tail(self.log_path)}")
        if self.host in ("0.0.0.0", "::", ""):
            self.host = "127.0.0.1"
        return self

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self._pump is not None:
            self._pump.join(2)


def tail(path: Path, lines: int = 5) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return ""
    return " | ".join(text[-lines:])


def start_pair(log_dir: Path, prefix: str, extra_flags: tuple[str, ...] = (),
               extra_env: dict[str, str] | None = None) -> tuple[Server, Server]:
    """Start the ``main`` and ``strict`` servers a client run needs."""
    env = extra_env or {}
    main = Server(f"{prefix}-main", extra_flags, log_dir / f"{prefix}.server-main.log", env).start()
    try:
        strict = Server(f"{prefix}-strict", STRICT_FLAGS + extra_flags,
                        log_dir / f"{prefix}.server-strict.log", env).start()
    except Exception:
        main.stop()
        raise
    return main, strict


def env_for_servers(main: Server, strict: Server) -> dict[str, str]:
    """Environment variables through which a scenario runner finds its servers."""
    env = dict(os.environ)
    env.update({
        "COMPAT_BOOTSTRAP": main.bootstrap,
        "COMPAT_STRICT_BOOTSTRAP": strict.bootstrap,
        "COMPAT_BROKER_MAX_BYTES": str(STRICT_MESSAGE_MAX_BYTES),
        "COMPAT_SASL_USER": SASL_USER,
        "COMPAT_SASL_PASSWORD": SASL_PASSWORD,
        "PYTHONUNBUFFERED": "1",
        "COMPAT_PYTHON": sys.executable,  # for kafkajs/scenarios.js to run wire_probe.py
    })
    return env
