"""Start and stop the reference Apache Kafka (``/work/shared/reference-kafka/start.sh``).

Used by the differential run (compat/differential) and by ``compat/run.py --target
reference``, which runs the client scenarios against a ``main`` broker (Kafka's defaults)
and a ``strict`` one matching kafkaish's strict server: no auto-creation,
``message.max.bytes=100000`` and the SASL user ``compat`` (PLAIN, SCRAM-SHA-256/512). Kafka
cannot offer SASL and plaintext on one listener as kafkaish does, so the strict broker has a
second listener, SASL_PLAINTEXT, whose address scenarios get as ``COMPAT_SASL_BOOTSTRAP``.
"""
from __future__ import annotations

import hashlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

REFERENCE_HOME = Path(os.environ.get("KAFKAISH_REFERENCE_KAFKA", "/work/shared/reference-kafka"))
_BESIDE = Path(__file__).resolve().parents[2] / "shared" / "reference-kafka"  # ../shared beside a checkout
if "KAFKAISH_REFERENCE_KAFKA" not in os.environ and (_BESIDE / "start.sh").exists():
    REFERENCE_HOME = _BESIDE


def reference_missing() -> str | None:
    """Why the reference Kafka cannot run here, or None."""
    if not (REFERENCE_HOME / "start.sh").exists():
        return f"no reference Kafka at {REFERENCE_HOME} (set KAFKAISH_REFERENCE_KAFKA)"
    if shutil.which("java") is None:
        return "java is not installed (the reference Kafka needs java 17)"
    return None


def free_ports(count: int, consecutive: int = 2) -> list[int]:
    """``count`` free ports; the first ``consecutive`` of them consecutive (the broker and the
    controller listener, PORT and PORT+1, as start.sh wants)."""
    for _ in range(100):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            first = s.getsockname()[1]
        ports = list(range(first, first + consecutive))
        try:
            for p in ports[1:]:
                with socket.socket() as s2:
                    s2.bind(("127.0.0.1", p))
        except OSError:
            continue
        while len(ports) < count:
            with socket.socket() as s3:
                s3.bind(("127.0.0.1", 0))
                p = s3.getsockname()[1]
            if p not in ports:
                ports.append(p)
        return ports
    raise RuntimeError("no free ports")


class _PortTaken(Exception):
    """java could not bind a port picked as free."""


@dataclass
class ReferenceKafka:
    """One ``start.sh`` process group (java), its temp data dir and its log."""

    name: str
    log_path: Path
    overrides: tuple[str, ...] = ()
    sasl: bool = False  # add a SASL_PLAINTEXT listener with the compat user
    proc: subprocess.Popen | None = None
    port: int = 0
    sasl_port: int = 0
    data_dir: str = ""
    _log: object = field(default=None, repr=False)

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def sasl_bootstrap(self) -> str:
        return f"127.0.0.1:{self.sasl_port}" if self.sasl_port else self.bootstrap

    def start(self, timeout: float = 90.0, attempts: int = 3) -> "ReferenceKafka":
        """Start and wait for ApiVersions; ports are picked free but may be taken before java
        binds them (another broker starting at the same time), so a bind failure retries."""
        for attempt in range(attempts):
            try:
                return self._start_once(timeout)
            except _PortTaken:
                if attempt == attempts - 1:
                    raise RuntimeError(f"reference Kafka {self.name}: ports taken {attempts} times "
                                       f"(see {self.log_path})") from None
        raise AssertionError("unreachable")

    def _start_once(self, timeout: float) -> "ReferenceKafka":
        self.port, _, self.sasl_port = free_ports(3)
        if not self.sasl:
            self.sasl_port = 0
        self.data_dir = tempfile.mkdtemp(prefix="kafkaish-reference-")
        cmd = [str(REFERENCE_HOME / "start.sh"), str(self.port), self.data_dir]
        for item in self.overrides + (self._sasl_overrides() if self.sasl else ()):
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
                code = self.proc.returncode
                self.stop()
                if "Address already in use" in self.log_path.read_text(errors="replace"):
                    raise _PortTaken()
                raise RuntimeError(f"reference Kafka {self.name} exited with {code} (see {self.log_path})")
            if _answers_api_versions(self.port):
                if self.sasl:
                    _add_scram_user(self.bootstrap)
                return self
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"reference Kafka {self.name} did not start within {timeout:.0f}s (see {self.log_path})")

    def _sasl_overrides(self) -> tuple[str, ...]:
        from servers import SASL_PASSWORD, SASL_USER
        scram = "org.apache.kafka.common.security.scram.ScramLoginModule required;"
        plain = (f'org.apache.kafka.common.security.plain.PlainLoginModule required '
                 f'user_{SASL_USER}="{SASL_PASSWORD}";')
        return (
            f"listeners=PLAINTEXT://127.0.0.1:{self.port},CONTROLLER://127.0.0.1:{self.port + 1},"
            f"SASL_PLAINTEXT://127.0.0.1:{self.sasl_port}",
            f"advertised.listeners=PLAINTEXT://127.0.0.1:{self.port},SASL_PLAINTEXT://127.0.0.1:{self.sasl_port}",
            "listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT,SASL_PLAINTEXT:SASL_PLAINTEXT",
            "sasl.enabled.mechanisms=PLAIN,SCRAM-SHA-256,SCRAM-SHA-512",
            f"listener.name.sasl_plaintext.plain.sasl.jaas.config={plain}",
            f"listener.name.sasl_plaintext.scram-sha-256.sasl.jaas.config={scram}",
            f"listener.name.sasl_plaintext.scram-sha-512.sasl.jaas.config={scram}",
        )

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
            return len(s.recv(4)) == 4
    except OSError:
        return False


def _add_scram_user(bootstrap: str) -> None:
    """AlterUserScramCredentials for the compat user, both SCRAM mechanisms (KIP-554): the
    request carries the salted password, PBKDF2 of the password (RFC 5802 Hi)."""
    from servers import SASL_PASSWORD, SASL_USER

    from kafkaish.wire.codec import ClientCodec
    from kafkaish.wire.messages import request_class
    cls = request_class(51)
    codec = ClientCodec("compat-reference-setup")
    host, port = bootstrap.rsplit(":", 1)
    for mechanism, digest in ((1, "sha256"), (2, "sha512")):  # one request each: a user once per request
        salt = os.urandom(16)
        salted = hashlib.pbkdf2_hmac(digest, SASL_PASSWORD.encode(), salt, 4096)
        upsert = cls._FIELDS[1].struct(name=SASL_USER, mechanism=mechanism, iterations=4096, salt=salt,
                                       salted_password=salted)
        deadline = time.monotonic() + 30
        while True:
            _, data = codec.encode_request(cls(deletions=[], upsertions=[upsert]), 0)
            with socket.create_connection((host, int(port)), timeout=10) as sock:
                sock.sendall(data)
                while (answer := codec.next_response()) is None:
                    chunk = sock.recv(65536)
                    if not chunk:
                        raise RuntimeError("reference Kafka closed the connection during AlterUserScramCredentials")
                    codec.receive_data(chunk)
            errors = [r.error_code for r in answer[1].results]
            if not any(errors):
                break
            if time.monotonic() > deadline:
                raise RuntimeError(f"AlterUserScramCredentials failed: {errors}")
            time.sleep(0.5)


def start_reference_pair(log_dir: Path, prefix: str = "reference") -> tuple[ReferenceKafka, ReferenceKafka]:
    """The ``main`` and ``strict`` reference brokers of a client run (see the module doc)."""
    from servers import STRICT_MESSAGE_MAX_BYTES
    main = ReferenceKafka(f"{prefix}-main", log_dir / f"{prefix}.server-main.log")
    strict = ReferenceKafka(f"{prefix}-strict", log_dir / f"{prefix}.server-strict.log",
                            ("auto.create.topics.enable=false", f"message.max.bytes={STRICT_MESSAGE_MAX_BYTES}"),
                            sasl=True)
    from concurrent.futures import ThreadPoolExecutor
    with ThreadPoolExecutor(2) as pool:
        futures = [pool.submit(b.start) for b in (main, strict)]
        errors = [f.exception() for f in futures]
    if any(errors):
        main.stop()
        strict.stop()
        raise next(e for e in errors if e)
    return main, strict
