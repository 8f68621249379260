"""The two brokers a differential run compares: kafkaish and the reference Apache Kafka.

``start_kafkaish`` runs ``python -m kafkaish serve --port 0 --in-memory`` (compat/servers.py);
``start_reference`` runs ``/work/shared/reference-kafka/start.sh PORT DATA_DIR`` (one KRaft
node, Kafka's defaults) in a fresh temp data dir and waits until its port accepts
connections and answers ApiVersions. Both listen on 127.0.0.1 only.
"""
from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from servers import Server  # noqa: E402  (compat/servers.py)

REFERENCE_HOME = Path(os.environ.get("KAFKAISH_REFERENCE_KAFKA",
                                     Path(__file__).resolve().parents[3] / "shared" / "reference-kafka"))
if not (REFERENCE_HOME / "start.sh").exists():
    REFERENCE_HOME = Path("/work/shared/reference-kafka")


def reference_missing() -> str | None:
    """Why the reference Kafka cannot run here, or None."""
    if not (REFERENCE_HOME / "start.sh").exists():
        return f"no reference Kafka at {REFERENCE_HOME} (set KAFKAISH_REFERENCE_KAFKA)"
    if shutil.which("java") is None:
        return "java is not installed (the reference Kafka needs java 17)"
    return None


def _free_port_pair() -> int:
    """A port P with P and P+1 free (the reference's broker and controller listeners)."""
    for _ in range(50):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port >= 65535:
            continue
        with socket.socket() as s2:
            try:
                s2.bind(("127.0.0.1", port + 1))
            except OSError:
                continue
        return port
    raise RuntimeError("no free pair of ports")


@dataclass
class ReferenceKafka:
    """One ``start.sh`` process group (java), its temp data dir and log."""

    log_path: Path
    overrides: tuple[str, ...] = ()
    proc: subprocess.Popen | None = None
    port: int = 0
    data_dir: str = ""
    _log: object = field(default=None, repr=False)

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self, timeout: float = 90.0) -> "ReferenceKafka":
        self.port = _free_port_pair()
        self.data_dir = tempfile.mkdtemp(prefix="kafkaish-reference-")
        cmd = [str(REFERENCE_HOME / "start.sh"), str(self.port), self.data_dir]
        for item in self.overrides:
            cmd += ["--override", item]
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = open(self.log_path, "w", encoding="utf-8", errors="replace")
        self._log.write("$ " + " ".join(cmd) + "\n")
        self._log.flush()
        self.proc = subprocess.Popen(cmd, stdout=self._log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                self.stop()
                raise RuntimeError(f"reference Kafka exited with {self.proc.returncode} (see {self.log_path})")
            if _answers_api_versions(self.port):
                return self
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"reference Kafka did not start within {timeout:.0f}s (see {self.log_path})")

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)  # our own session: start.sh's java
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
            except ProcessLookupError:
                pass
        if self._log is not None:
            self._log.close()
            self._log = None
        if self.data_dir:
            shutil.rmtree(self.data_dir, ignore_errors=True)
            self.data_dir = ""


def _answers_api_versions(port: int) -> bool:
    """True once the broker answers an ApiVersions v0 request (not just accepts the socket)."""
    request = b"\x00\x12\x00\x00\x00\x00\x00\x01\x00\x04ping"
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2) as s:
            s.sendall(len(request).to_bytes(4, "big") + request)
            head = s.recv(4)
            return len(head) == 4
    except OSError:
        return False


def start_kafkaish(log_dir: Path, flags: tuple[str, ...] = ()) -> Server:
    return Server("differential-kafkaish", flags, log_dir / "differential.kafkaish.log").start()


def start_reference(log_dir: Path, overrides: tuple[str, ...] = ()) -> ReferenceKafka:
    return ReferenceKafka(log_dir / "differential.reference.log", overrides).start()
