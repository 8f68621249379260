"""Plumbing shared by the Python scenario runners (kafka-python, aiokafka, confluent-kafka).

A runner module defines one function per scenario of ``scenarios.txt`` and calls
``run_scenarios(client, version, functions)``. The harness

* finds the servers (``COMPAT_BOOTSTRAP`` / ``COMPAT_STRICT_BOOTSTRAP``, and
  ``COMPAT_CLUSTER_BOOTSTRAP`` / ``COMPAT_CLUSTER_ADMIN`` for ``cluster_failover``, set by
  ``compat/run.py``; when they are absent it starts its own servers, so a runner can
  be run by hand: ``python compat/aiokafka/scenarios.py --only txn_commit``);
* runs each scenario with a time limit (``signal.setitimer`` for blocking
  clients, ``asyncio.wait_for`` for coroutine scenarios), then the clean-ups the
  scenario registered with ``env.defer``;
* prints ``VERSION <client> <version>`` once, then exactly one line per scenario:
  ``PASS name``, ``FAIL name: reason`` or ``SKIP name: reason``.

A scenario passes by returning; it fails by raising (``check``/``Failed`` for a
wrong answer); it skips by raising ``Skip(reason)`` — only where the client has
no way to express the scenario.
"""
from __future__ import annotations

import argparse
import asyncio
import inspect
import logging
import os
import signal
import subprocess
import sys
import threading
import time
import traceback
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

COMPAT_DIR = Path(__file__).resolve().parent
SCENARIO_FILE = COMPAT_DIR / "scenarios.txt"
DEFAULT_TIMEOUT = 30.0
CLUSTER_SKIP = ("kafkaish only: needs the simulated 3-broker cluster and its control plane "
                "(COMPAT_CLUSTER_ADMIN); the reference run is one Kafka node")
CLEANUP_TIMEOUT = 10.0


def load_scenarios() -> list[tuple[str, str]]:
    """(name, description) pairs from scenarios.txt, in table order."""
    out = []
    for line in SCENARIO_FILE.read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, _, desc = line.partition("|")
            out.append((name.strip(), desc.strip()))
    return out


class Skip(Exception):
    """The client cannot express this scenario; the message says why."""


class Failed(AssertionError):
    """The scenario observed a wrong answer."""


class ScenarioTimeout(BaseException):
    """Raised by the alarm; a BaseException so that scenario code catching Exception lets it through."""


def check(condition: Any, message: str) -> None:
    if not condition:
        raise Failed(message)


def check_eq(actual: Any, expected: Any, what: str) -> None:
    if actual != expected:
        raise Failed(f"{what}: expected {expected!r}, got {actual!r}")


def unique(prefix: str) -> str:
    """A topic/group/transactional id no other scenario or run uses."""
    return f"compat-{prefix}-{uuid.uuid4().hex[:10]}"


def wait_until(predicate: Callable[[], Any], timeout: float, what: str, interval: float = 0.1) -> Any:
    """Poll ``predicate`` until it returns something truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise Failed(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(interval)


async def async_wait_until(predicate: Callable[[], Any], timeout: float, what: str,
                           interval: float = 0.1) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if inspect.isawaitable(value):
            value = await value
        if value:
            return value
        if time.monotonic() > deadline:
            raise Failed(f"timed out after {timeout:.0f}s waiting for {what}")
        await asyncio.sleep(interval)


def check_stored_codec(env: "Env", topic: str, codec: str) -> None:
    """The batches kafkaish stored for the topic are compressed with ``codec`` (read by
    wire_probe, not by the client, which could have silently sent them uncompressed)."""
    from wire_probe import stored_codecs
    stored = stored_codecs(env.bootstrap, topic)
    check(stored and set(stored) == {codec}, f"stored batches are {stored}, expected {codec}")


def check_idempotent_batches(env: "Env", topic: str) -> None:
    """The stored batches carry one producer id (>= 0) and gap-free sequence numbers from 0,
    as an idempotent producer must write them (read by wire_probe: no client shows these)."""
    from wire_probe import sequence_problems, stored_batches
    batches = [b for b in stored_batches(env.bootstrap, topic) if not b["control"]]
    check(batches, "no batches stored")
    problems = sequence_problems(batches)
    check(not problems, "; ".join(problems))


class ChildMember:
    """A group member in a child process, killed with SIGKILL so that it never leaves the group.

    The child (``<client>/crash_member.py``) prints ``state <partitions> <consumed>`` lines,
    each after committing what it consumed."""

    def __init__(self, env: "Env", command: list[str]):
        self.partitions: set[int] = set()
        self.consumed = 0
        self.proc = subprocess.Popen(command, stdout=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True)
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        env.defer(self.kill)

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            parts = line.split()
            if len(parts) == 3 and parts[0] == "state":
                self.partitions = {int(p) for p in parts[1].split(",") if p}
                self.consumed = int(parts[2])
            elif len(parts) == 2 and parts[0] == "state":  # no partitions
                self.partitions, self.consumed = set(), int(parts[1])

    def alive(self) -> bool:
        if self.proc.poll() is not None:
            raise Failed(f"the child member exited early with {self.proc.returncode}")
        return True

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


class CapturedLogs(logging.Handler):
    """Collects the client's log messages while installed (``with CapturedLogs() as logs``):
    some clients report a broker error only in their log before a generic exception."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())

    def __enter__(self) -> "CapturedLogs":
        logging.getLogger().addHandler(self)
        return self

    def __exit__(self, *exc: Any) -> None:
        logging.getLogger().removeHandler(self)

    def mention(self, text: str) -> bool:
        return any(text in m for m in self.messages)


@dataclass
class Env:
    """What a scenario gets: where the servers are, and a place to register clean-ups."""

    bootstrap: str
    strict_bootstrap: str
    broker_max_bytes: int
    sasl_user: str = ""  # a SASL user of the strict server
    sasl_password: str = ""
    sasl_bootstrap: str = ""  # where to log in: the strict server (kafkaish), its SASL listener (Kafka)
    cluster_bootstrap: str = ""  # a 3-broker kafkaish (serve --brokers 3) and its control plane; kafkaish only
    cluster_admin: str = ""
    name: str = ""
    notes: list[str] = field(default_factory=list)
    _deferred: list[Callable[[], Any]] = field(default_factory=list)

    def cluster(self) -> Any:
        """The 3-broker cluster's control plane (``cluster_chaos.ControlPlaneHTTP``); Skip where the
        run has none: against the reference Kafka, a single node that no control plane drives."""
        if not self.cluster_admin:
            raise Skip(CLUSTER_SKIP)
        from cluster_chaos import ControlPlaneHTTP
        return ControlPlaneHTTP(self.cluster_admin)

    def note(self, text: str) -> None:
        """A word of explanation printed as ``NOTE name: text`` after the result line."""
        self.notes.append(text)

    def defer(self, fn: Callable[[], Any]) -> None:
        """Run ``fn`` (sync, or returning an awaitable) after the scenario, newest first."""
        self._deferred.append(fn)


def _one_line(exc: BaseException) -> str:
    text = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    if isinstance(exc, (Failed, Skip)):
        text = str(exc)
    return " ".join(text.split())[:400]


def _alarm(seconds: float) -> None:
    signal.setitimer(signal.ITIMER_REAL, max(seconds, 0.0))


def _on_alarm(signum: int, frame: Any) -> None:
    raise ScenarioTimeout()


def _where(exc: BaseException) -> str:
    """``file:line in function`` of the innermost runner frame an exception passed through."""
    runner_frames = [f for f in traceback.extract_tb(exc.__traceback__) if f.filename.endswith("scenarios.py")]
    if not runner_frames:
        return ""
    frame = runner_frames[-1]
    return f" (stuck at {Path(frame.filename).parent.name}/scenarios.py:{frame.lineno} in {frame.name})"


def _run_sync(fn: Callable[[Env], Any], env: Env, timeout: float) -> None:
    _alarm(timeout)
    try:
        fn(env)
    except ScenarioTimeout as exc:
        raise Failed(f"timed out after {timeout:.0f}s{_where(exc)}") from exc
    finally:
        _alarm(0)
        _run_deferred_sync(env)


def _run_deferred_sync(env: Env) -> None:
    while env._deferred:
        cleanup = env._deferred.pop()
        _alarm(CLEANUP_TIMEOUT)
        try:
            cleanup()
        except BaseException as exc:  # a clean-up must never change the verdict
            print(f"[{env.name}] clean-up failed: {_one_line(exc)}", file=sys.stderr)
        finally:
            _alarm(0)


def _run_async(fn: Callable[[Env], Any], env: Env, timeout: float) -> None:
    async def body() -> None:
        try:
            await asyncio.wait_for(fn(env), timeout)
        except asyncio.TimeoutError:
            raise Failed(f"timed out after {timeout:.0f}s") from None
        finally:
            while env._deferred:
                cleanup = env._deferred.pop()
                try:
                    result = cleanup()
                    if inspect.isawaitable(result):
                        await asyncio.wait_for(result, CLEANUP_TIMEOUT)
                except BaseException as exc:
                    print(f"[{env.name}] clean-up failed: {_one_line(exc)}", file=sys.stderr)

    # Backstop: a coroutine stuck in a blocking call is not cancellable.
    _alarm(timeout + CLEANUP_TIMEOUT * 2)
    try:
        asyncio.run(body())
    except ScenarioTimeout:
        raise Failed(f"timed out after {timeout:.0f}s (event loop blocked)") from None
    finally:
        _alarm(0)


def run_one(name: str, fn: Callable[[Env], Any], env: Env, timeout: float) -> str:
    env.name = name
    started = time.monotonic()
    try:
        if inspect.iscoroutinefunction(fn):
            _run_async(fn, env, timeout)
        else:
            _run_sync(fn, env, timeout)
        line = f"PASS {name}"
    except Skip as exc:
        line = f"SKIP {name}: {_one_line(exc)}"
    except BaseException as exc:  # noqa: BLE001 - any exception is this scenario's failure
        if isinstance(exc, KeyboardInterrupt):
            raise
        print(f"[{name}] " + "".join(traceback.format_exception(exc)), file=sys.stderr)
        line = f"FAIL {name}: {_one_line(exc)}"
    print(f"[{name}] {time.monotonic() - started:.1f}s", file=sys.stderr)
    return line


def run_scenarios(client: str, version: str, functions: dict[str, Callable[[Env], Any]]) -> int:
    """Entry point of a Python runner: parse arguments, run, print the result lines."""
    parser = argparse.ArgumentParser(description=f"kafkaish compat scenarios for {client}")
    parser.add_argument("--only", default="", help="comma-separated scenario names")
    parser.add_argument("--timeout", type=float, default=float(os.environ.get("COMPAT_TIMEOUT", DEFAULT_TIMEOUT)))
    args = parser.parse_args()

    signal.signal(signal.SIGALRM, _on_alarm)
    # client libraries' warnings go to stderr, i.e. results/logs/<client>.runner.log
    logging.basicConfig(level=os.environ.get("COMPAT_LOG_LEVEL", "INFO"), stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    names = [name for name, _ in load_scenarios()]
    missing = [n for n in names if n not in functions]
    extra = [n for n in functions if n not in names]
    if extra:
        raise SystemExit(f"{client}: functions for unknown scenarios: {extra}")
    selected = [n for n in args.only.split(",") if n] or names

    servers = []
    if "COMPAT_BOOTSTRAP" not in os.environ:
        sys.path.insert(0, str(COMPAT_DIR))
        from servers import env_for_servers, start_cluster, start_pair
        servers = list(start_pair(COMPAT_DIR / "results" / "logs", f"{client}-manual"))
        servers.append(start_cluster(COMPAT_DIR / "results" / "logs", f"{client}-manual"))
        os.environ.update(env_for_servers(*servers))

    print(f"VERSION {client} {version}", flush=True)
    try:
        for name in selected:
            if name in missing:
                line = f"FAIL {name}: not implemented in the {client} runner"
            else:
                env = Env(os.environ["COMPAT_BOOTSTRAP"], os.environ["COMPAT_STRICT_BOOTSTRAP"],
                          int(os.environ["COMPAT_BROKER_MAX_BYTES"]), os.environ.get("COMPAT_SASL_USER", ""),
                          os.environ.get("COMPAT_SASL_PASSWORD", ""),
                          os.environ.get("COMPAT_SASL_BOOTSTRAP") or os.environ["COMPAT_STRICT_BOOTSTRAP"],
                          os.environ.get("COMPAT_CLUSTER_BOOTSTRAP", ""), os.environ.get("COMPAT_CLUSTER_ADMIN", ""))
                line = run_one(name, functions[name], env, args.timeout)
                line += "".join(f"\nNOTE {name}: {' '.join(n.split())}" for n in env.notes)
            print(line, flush=True)
    finally:
        for server in servers:
            server.stop()
    return 0
