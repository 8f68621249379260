"""Run differential scenarios against two brokers, normalise what a client observes, compare.

A scenario is a function ``scenario(c: Ctx)`` written once. It talks to the broker through
``c.call(check_id, request, version)`` (one request/response check, recorded normalised) and
``c.observe(check_id, value)`` (a derived observation, e.g. what a consume returned). It runs
once per target, each run with its own ``Ctx``; the two runs' checks are compared by id.

Normalisation replaces what legitimately differs between two brokers — node ids, hosts,
ports, cluster ids, topic ids, member ids, producer ids, wall-clock times — with stable
placeholders (the first id seen in a scenario becomes ``<id1>``, and so on), drops
``throttle_time_ms``, keeps only the presence of an ``error_message`` (the texts are
Kafka's and are not compared), and decodes record batches into their visible fields.
"""
from __future__ import annotations

import fnmatch
import time
import traceback
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from kafkaish.wire.protocol import Struct
from kafkaish.wire.records import iter_batches, iter_records
from wire_client import Closed, Connection

NODE_KEYS = {"node_id", "leader_id", "broker_id", "controller_id", "replica_nodes", "isr_nodes",
             "offline_replicas", "eligible_leader_replicas", "last_known_elr", "coordinator_id",
             "preferred_read_replica", "replica_id", "broker_ids", "replicas", "adding_replicas",
             "removing_replicas"}
# id fields -> the placeholder family they share (a JoinGroup's leader is a member id)
ID_KEYS = {"topic_id": "uuid", "member_id": "member", "leader": "member", "producer_id": "pid",
           "cluster_id": "cluster", "session_id": "session", "log_dir": "logdir"}
DROP_KEYS = {"throttle_time_ms"}
# APIs answered by a group or transaction coordinator (retried on COORDINATOR_LOAD_IN_PROGRESS,
# COORDINATOR_NOT_AVAILABLE, NOT_COORDINATOR, as clients do)
COORDINATOR_APIS = {8, 9, 11, 12, 13, 14, 15, 16, 22, 24, 25, 26, 28, 42, 47, 65, 66, 68, 69}
# APIs answered by a partition leader (retried on LEADER_NOT_AVAILABLE, NOT_LEADER_OR_FOLLOWER:
# Kafka applies a new topic's leadership a moment after Metadata shows it)
DATA_APIS = {0, 1, 2, 21, 23, 61}
HOST_KEYS = {"host", "client_host"}
PORT_KEYS = {"port"}


@dataclass
class Check:
    id: str
    value: Any
    finding: str = ""  # a known finding it shows: "#18.5", "F-D1", ...
    note: str = ""


@dataclass
class Outcome:
    """What one scenario observed on one target."""

    scenario: str
    target: str
    checks: list[Check] = field(default_factory=list)
    error: str = ""  # the scenario itself broke (a helper's wait timed out, a bug)
    seconds: float = 0.0


class ScenarioError(Exception):
    """A scenario could not go on (a set-up step failed); its remaining checks are missing."""


class Ctx:
    """What a scenario gets: the target broker, connections, and the check recorder."""

    def __init__(self, scenario: str, target: str, bootstrap: str, versions: dict[int, int],
                 supported: dict[int, tuple[int, int]], attempt: int = 0) -> None:
        self.scenario = scenario
        self.attempt = attempt  # a second run of the scenario uses fresh names
        self.target = target
        self.bootstrap = bootstrap
        self.versions = versions  # api key -> the version scenarios use by default (both brokers')
        self.supported = supported  # this broker's own ApiVersions answer
        self.outcome = Outcome(scenario, target)
        self._conns: dict[str, Connection] = {}
        self._ids: dict[str, str] = {}
        self.t0 = int(time.time() * 1000) // 1000 * 1000  # the scenario's base timestamp
        self._times: set[int] = set()
        self.topic_ids: dict[str, Any] = {}  # filled by ops.wait_ready
        self.node_id: int | None = None

    # ------------------------------------------------------------ names and times

    def name(self, suffix: str = "") -> str:
        """A topic/group/transactional id unique to this scenario (the same on both targets)."""
        base = "d-" + self.scenario.replace("_", "-") + (f"-r{self.attempt}" if self.attempt else "")
        return f"{base}-{suffix}" if suffix else base

    def ts(self, delta: int) -> int:
        """A record timestamp ``t0 + delta``, shown as ``T0+delta`` in the checks."""
        value = self.t0 + delta
        self._times.add(value)
        return value

    # ------------------------------------------------------------ connections

    def conn(self, name: str = "main") -> Connection:
        if name not in self._conns:
            self._conns[name] = Connection(self.bootstrap, client_id=f"differential-{name}")
        return self._conns[name]

    def close(self) -> None:
        for conn in self._conns.values():
            conn.close()

    def v(self, api_key: int) -> int:
        return self.versions[api_key]

    # ------------------------------------------------------------ checks

    def call(self, check: str | None, body: Any, version: int | None = None, *, conn: str = "main",
             keep: Callable[[Any], Any] | None = None, finding: str = "", timeout: float | None = None) -> Any:
        """Send ``body`` and return the response (None if the broker closed the connection);
        with a ``check`` id, record the normalised response (or ``keep(normalised)``)."""
        version = self.v(body.API_KEY) if version is None else version
        deadline = time.monotonic() + 30
        while True:
            try:
                response = self.conn(conn).call(body, version, timeout)
            except Closed:
                response = None
            # a client retries a coordinator that is loading, moving or not there yet
            retriable = {14, 15, 16} if body.API_KEY in COORDINATOR_APIS else {5, 6} if body.API_KEY in DATA_APIS else set()
            if response is None or time.monotonic() > deadline or not _codes(response) & retriable:
                break
            time.sleep(0.2)
        return self._answer(check, response, keep, finding)

    def send(self, body: Any, version: int | None = None, *, conn: str = "main") -> tuple[str, int]:
        """Send without waiting (for requests that block, such as a JoinGroup)."""
        version = self.v(body.API_KEY) if version is None else version
        return conn, self.conn(conn).send(body, version)

    def receive(self, check: str | None, pending: tuple[str, int], *, keep: Callable[[Any], Any] | None = None,
                finding: str = "", timeout: float | None = None) -> Any:
        conn, corr = pending
        try:
            response = self.conn(conn).receive(corr, timeout)
        except Closed:
            response = None
        return self._answer(check, response, keep, finding)

    def _answer(self, check: str | None, response: Any, keep: Callable[[Any], Any] | None, finding: str) -> Any:
        """With a ``check`` id, record the normalised response (``keep`` of it), or that the
        broker closed the connection; return the response."""
        if check is not None:
            value = {"closed": True} if response is None else self.norm(response)
            if keep is not None and response is not None:
                value = keep(value)
            self.record(check, value, finding)
        return response

    def observe(self, check: str, value: Any, finding: str = "") -> None:
        """Record a derived observation (already plain data; normalised like a response)."""
        self.record(check, self.norm(value), finding)

    def record(self, check: str, value: Any, finding: str = "") -> None:
        cid = f"{self.scenario}.{check}"
        if any(c.id == cid for c in self.outcome.checks):
            raise ScenarioError(f"check id {cid} recorded twice")
        self.outcome.checks.append(Check(cid, value, finding))

    # ------------------------------------------------------------ normalisation

    def label(self, kind: str, raw: Any, name: str) -> None:
        """Name an id explicitly (``<m1>``), so that the order in which answers reveal ids
        does not matter (a JoinGroup answer names the leader before the member itself)."""
        self._ids.setdefault(f"{kind}:{raw}", f"<{name}>")

    def symbol(self, kind: str, raw: Any) -> str:
        key = f"{kind}:{raw}"
        if key not in self._ids:
            self._ids[key] = f"<{kind}{sum(1 for k in self._ids if k.startswith(kind + ':')) + 1}>"
        return self._ids[key]

    def norm(self, value: Any, key: str = "") -> Any:
        if isinstance(value, Struct):
            # a topic id next to its topic's name is named after it, so that the ids of topics
            # one broker created and the other refused do not shift every later placeholder
            tid, tname = getattr(value, "topic_id", None), getattr(value, "name", None) or getattr(value, "topic", None)
            if isinstance(tid, uuid.UUID) and tid.int and isinstance(tname, str) and tname:
                self.label("uuid", tid, f"id:{tname}")
            out = {}
            for f in value._FIELDS:  # noqa: SLF001 - the generated field table
                if f.name in DROP_KEYS:
                    continue
                out[f.name] = self.norm(getattr(value, f.name), f.name)
            return out
        if isinstance(value, dict):
            return {k: self.norm(v, k) for k, v in value.items() if k not in DROP_KEYS}
        if isinstance(value, (list, tuple)):
            items = [self.norm(v, key) for v in value]
            return sort_items(items)
        if key == "records" and isinstance(value, (bytes, bytearray, memoryview)):
            return self.batches(bytes(value))
        if isinstance(value, (bytes, bytearray, memoryview)):
            return bytes(value).hex()
        if isinstance(value, uuid.UUID):
            return "<zero-uuid>" if value.int == 0 else self.symbol("uuid", value)
        if key == "error_message":
            return None if value is None else "<message>"
        if key in HOST_KEYS and isinstance(value, str):
            return "<host>"
        if key in PORT_KEYS and isinstance(value, int):
            return "<port>"
        if key in NODE_KEYS and isinstance(value, int):
            return value if value < 0 else "<node>"
        if key in ID_KEYS and value is not None and value != "" and value != -1 and value != 0:
            return self.symbol(ID_KEYS[key], value)
        if isinstance(value, int) and not isinstance(value, bool) and _is_time_key(key):
            if value <= 0:
                return value
            if value in self._times:
                return f"T0+{value - self.t0}"
            return "<time>"
        return value

    def batches(self, data: bytes) -> list[dict]:
        out = []
        for pos, h in iter_batches(data, allow_partial=True):
            batch = {
                "base_offset": h.base_offset, "last_offset_delta": h.last_offset_delta,
                "count": h.records_count, "codec": h.compression, "timestamp_type": h.timestamp_type,
                "transactional": h.is_transactional, "control": h.is_control,
                "producer_id": self.norm(h.producer_id, "producer_id"), "producer_epoch": h.producer_epoch,
                "base_sequence": h.base_sequence,
                "max_timestamp": self.norm(h.max_timestamp, "max_timestamp"),
            }
            records = []
            for r in iter_records(data[pos:pos + h.size]):
                records.append({"offset": r.offset, "timestamp": self.norm(r.timestamp, "timestamp"),
                                "key": None if r.key is None else r.key.hex(),
                                "value": None if r.value is None else r.value.hex(),
                                "headers": [[k, None if v is None else v.hex()] for k, v in r.headers]})
            batch["records"] = records
            out.append(batch)
        return out


def _codes(value: Any) -> set[int]:
    """Every error code anywhere in a response."""
    out: set[int] = set()
    if isinstance(value, Struct):
        for f in value._FIELDS:  # noqa: SLF001
            v = getattr(value, f.name)
            if f.name.endswith("error_code") and isinstance(v, int):
                out.add(v)
            elif isinstance(v, (Struct, list)):
                out |= _codes(v)
    elif isinstance(value, list):
        for v in value:
            out |= _codes(v)
    return out


def _is_time_key(key: str) -> bool:
    return "timestamp" in key or key.endswith("time_ms") or key.endswith("_time") or key in {
        "last_timestamp", "transaction_start_time_ms", "commit_timestamp"}


_SORT_FIELDS = ("name", "topic", "partition_index", "partition", "api_key", "resource_type", "resource_name",
                "group_id", "transactional_id", "key", "config_name", "index", "producer_id", "member_id",
                "error_code")


def sort_items(items: list) -> list:
    """Lists of structs sorted by their identity fields: Kafka promises no order in most arrays."""
    if len(items) < 2 or not all(isinstance(i, dict) for i in items):
        return items
    fields = [f for f in _SORT_FIELDS if f in items[0]]
    if not fields:
        return items
    return sorted(items, key=lambda i: tuple(str(i.get(f)) for f in fields))


# ---------------------------------------------------------------- running


def run_scenario(fn: Callable[[Ctx], None], target: str, bootstrap: str, versions: dict[int, int],
                 supported: dict[int, tuple[int, int]], attempt: int = 0) -> Outcome:
    name = fn.__name__.removeprefix("scenario_")
    ctx = Ctx(name, target, bootstrap, versions, supported, attempt)
    started = time.monotonic()
    try:
        fn(ctx)
    except Exception as exc:  # noqa: BLE001 - the scenario's own failure is reported, not raised
        ctx.outcome.error = f"{type(exc).__name__}: {exc}"
        tb = traceback.extract_tb(exc.__traceback__)
        frames = [f for f in tb if "scenarios" in f.filename]
        if frames:
            ctx.outcome.error += f" (at {frames[-1].filename.rsplit('/', 1)[-1]}:{frames[-1].lineno})"
    finally:
        ctx.close()
    ctx.outcome.seconds = round(time.monotonic() - started, 2)
    return ctx.outcome


# ---------------------------------------------------------------- comparing


def flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    """Leaf paths of a normalised value: ``topics[0].partitions[1].error_code``."""
    out: dict[str, Any] = {}
    if isinstance(value, dict):
        if not value:
            out[prefix or "."] = {}
        for k, v in value.items():
            out.update(flatten(v, f"{prefix}.{k}" if prefix else k))
    elif isinstance(value, list):
        label = _list_label(value)
        if not value:
            out[prefix or "."] = []
        for i, v in enumerate(value):
            out.update(flatten(v, f"{prefix}[{label(i, v)}]"))
    else:
        out[prefix or "."] = value
    return out


def _list_label(items: list) -> Callable[[int, Any], str]:
    """Name list elements by identity (``configs[retention.ms]``) where they have one, so that
    one extra element does not shift every following path."""
    for f in ("name", "config_name", "key", "topic", "api_key", "partition_index", "partition", "group_id"):
        if items and all(isinstance(i, dict) and isinstance(i.get(f), (str, int)) for i in items):
            names = [i[f] for i in items]
            if len(set(names)) == len(names):
                return lambda i, v, f=f: str(v[f])
    return lambda i, v: str(i)


@dataclass
class Deliberate:
    check: str
    path: str
    reason: str
    kafkaish: Any = None  # optional: the value kafkaish must show for the entry to apply

    def matches(self, check_id: str, path: str, ours: Any) -> bool:
        if not fnmatch.fnmatchcase(check_id, self.check) or not fnmatch.fnmatchcase(path, self.path):
            return False
        return self.kafkaish is None or self.kafkaish == ours


@dataclass
class Verdict:
    check: str
    status: str  # same | deliberate | differ | missing
    diffs: list[tuple[str, Any, Any, str]] = field(default_factory=list)  # path, kafkaish, reference, reason
    finding: str = ""


MISSING = "<absent>"


def compare(ours: Outcome, theirs: Outcome, deliberate: list[Deliberate]) -> list[Verdict]:
    """Verdicts for every check either run recorded, in the reference run's order."""
    a = {c.id: c for c in ours.checks}
    b = {c.id: c for c in theirs.checks}
    order = [c.id for c in theirs.checks] + [c.id for c in ours.checks if c.id not in b]
    verdicts = []
    for cid in order:
        finding = (a.get(cid) or b.get(cid)).finding  # type: ignore[union-attr]
        if cid not in a or cid not in b:
            side = "kafkaish" if cid not in a else "the reference"
            why = (ours.error if cid not in a else theirs.error) or "not recorded"
            verdicts.append(Verdict(cid, "missing", [(".", MISSING if cid not in a else "(recorded)",
                                                      MISSING if cid not in b else "(recorded)",
                                                      f"{side} run did not record it: {why}")], finding))
            continue
        fa, fb = flatten(a[cid].value), flatten(b[cid].value)
        diffs = []
        for path in list(fb) + [p for p in fa if p not in fb]:
            va, vb = fa.get(path, MISSING), fb.get(path, MISSING)
            if va != vb:
                reason = next((d.reason for d in deliberate if d.matches(cid, path, va)), "")
                diffs.append((path, va, vb, reason))
        if not diffs:
            status = "same"
        elif all(d[3] for d in diffs):
            status = "deliberate"
        else:
            status = "differ"
        verdicts.append(Verdict(cid, status, diffs, finding))
    return verdicts
