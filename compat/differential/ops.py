"""Request builders and set-up steps shared by the differential scenarios.

``rq(api_key, **fields)`` builds a generated request from plain data (nested dicts become
the generated structs), so a scenario reads like the request it sends. Set-up helpers
(``create_topic``, ``wait_ready``, ``coordinator``) retry what a client retries (a topic
whose leader is not elected yet, a coordinator still loading) and record nothing unless
given a check id.
"""
from __future__ import annotations

import time
from typing import Any

from engine import Ctx, ScenarioError

from kafkaish.wire.messages import request_class
from kafkaish.wire.records import Record, build_batch

# API keys, by name (Kafka's ApiKeys)
PRODUCE, FETCH, LIST_OFFSETS, METADATA = 0, 1, 2, 3
OFFSET_COMMIT, OFFSET_FETCH, FIND_COORDINATOR, JOIN_GROUP, HEARTBEAT, LEAVE_GROUP = 8, 9, 10, 11, 12, 13
SYNC_GROUP, DESCRIBE_GROUPS, LIST_GROUPS, SASL_HANDSHAKE, API_VERSIONS = 14, 15, 16, 17, 18
CREATE_TOPICS, DELETE_TOPICS, DELETE_RECORDS, INIT_PRODUCER_ID, OFFSET_FOR_LEADER_EPOCH = 19, 20, 21, 22, 23
ADD_PARTITIONS_TO_TXN, ADD_OFFSETS_TO_TXN, END_TXN, TXN_OFFSET_COMMIT = 24, 25, 26, 28
DESCRIBE_ACLS, CREATE_ACLS, DELETE_ACLS, DESCRIBE_CONFIGS, ALTER_CONFIGS = 29, 30, 31, 32, 33
ALTER_REPLICA_LOG_DIRS, DESCRIBE_LOG_DIRS, SASL_AUTHENTICATE, CREATE_PARTITIONS = 34, 35, 36, 37
DELETE_GROUPS, ELECT_LEADERS, INCREMENTAL_ALTER_CONFIGS = 42, 43, 44
ALTER_PARTITION_REASSIGNMENTS, LIST_PARTITION_REASSIGNMENTS, OFFSET_DELETE = 45, 46, 47
DESCRIBE_USER_SCRAM_CREDENTIALS, ALTER_USER_SCRAM_CREDENTIALS = 50, 51
DESCRIBE_QUORUM, DESCRIBE_CLUSTER, DESCRIBE_PRODUCERS = 55, 60, 61
DESCRIBE_TRANSACTIONS, LIST_TRANSACTIONS = 65, 66
CONSUMER_GROUP_HEARTBEAT, CONSUMER_GROUP_DESCRIBE, DESCRIBE_TOPIC_PARTITIONS = 68, 69, 75

# ConfigResource types, DescribeConfigs sources
TOPIC, BROKER, BROKER_LOGGER, GROUP = 2, 4, 8, 32

ALL_SCENARIOS: list = []


def scenario(*apis: int):
    """Register a scenario function and the API keys it exercises."""
    def wrap(fn):
        fn.apis = apis
        ALL_SCENARIOS.append(fn)
        return fn
    return wrap


def _build(cls: Any, data: Any) -> Any:
    if not isinstance(data, dict):
        return data
    kwargs = {}
    fields = {f.name: f for f in cls._FIELDS}  # noqa: SLF001 - the generated field table
    for key, value in data.items():
        f = fields.get(key)
        if f is None:
            raise TypeError(f"{cls.__name__} has no field {key}")
        if f.kind == "struct" and f.struct is not None and value is not None:
            value = [_build(f.struct, v) for v in value] if isinstance(value, list) else _build(f.struct, value)
        kwargs[key] = value
    return cls(**kwargs)


def rq(api_key: int, **fields: Any) -> Any:
    """A request of ``api_key`` from plain data."""
    return _build(request_class(api_key), fields)


# ------------------------------------------------------------------ records


def batch(c: Ctx, values: list, *, key_prefix: str | None = "k", ts: list[int] | None = None,
          headers: list | None = None, **kwargs: Any) -> bytes:
    """One RecordBatch v2 of ``values`` (str/bytes/None), timestamps ``T0+ts[i]`` (default 0)."""
    records = []
    for i, value in enumerate(values):
        raw = value.encode() if isinstance(value, str) else value
        key = None if key_prefix is None else f"{key_prefix}{i}".encode()
        stamp = c.ts(ts[i]) if ts is not None else c.ts(0)
        records.append(Record(i, stamp, key, raw, headers or []))
    return build_batch(records, **kwargs)


def produce(c: Ctx, check: str | None, topic: str, records: bytes, *, partition: int = 0, acks: int = -1,
            version: int | None = None, transactional_id: str | None = None, **kw: Any) -> Any:
    return c.call(check, rq(PRODUCE, transactional_id=transactional_id, acks=acks, timeout_ms=10000,
                            topic_data=[{"name": topic, "partition_data": [{"index": partition, "records": records}]}]),
                  version, **kw)


def fetch(c: Ctx, check: str | None, topic: str, *, partition: int = 0, offset: int = 0, isolation: int = 0,
          max_bytes: int = 50 << 20, partition_max_bytes: int = 1 << 20, max_wait_ms: int = 0,
          version: int | None = None, **kw: Any) -> Any:
    version = c.v(FETCH) if version is None else version
    part = {"partition": partition, "fetch_offset": offset, "partition_max_bytes": partition_max_bytes}
    top: dict = {"partitions": [part]}
    if version >= 13:
        top["topic_id"] = topic_id(c, topic)
    else:
        top["topic"] = topic
    return c.call(check, rq(FETCH, max_wait_ms=max_wait_ms, min_bytes=1, max_bytes=max_bytes,
                            isolation_level=isolation, session_id=0, session_epoch=-1, topics=[top]),
                  version, **kw)


def list_offsets(c: Ctx, check: str | None, topic: str, timestamp: int, *, partition: int = 0,
                 isolation: int = 0, version: int | None = None, **kw: Any) -> Any:
    return c.call(check, rq(LIST_OFFSETS, replica_id=-1, isolation_level=isolation, topics=[
        {"name": topic, "partitions": [{"partition_index": partition, "timestamp": timestamp}]}]), version, **kw)


def offsets_of(c: Ctx, check: str, topic: str, partition: int = 0, isolation: int = 0, finding: str = "") -> None:
    """One observation: (earliest, latest) offsets of a partition, as a consumer sees them."""
    lo = list_offsets(c, None, topic, -2, partition=partition, isolation=isolation)
    hi = list_offsets(c, None, topic, -1, partition=partition, isolation=isolation)
    c.observe(check, {"earliest": _offset(lo), "latest": _offset(hi)}, finding)


def _offset(resp: Any) -> Any:
    if resp is None:
        return "closed"
    p = resp.topics[0].partitions[0]
    return p.offset if p.error_code == 0 else f"error {p.error_code}"


def consume(c: Ctx, check: str, topic: str, *, partition: int = 0, offset: int = 0, isolation: int = 0,
            finding: str = "") -> None:
    """One observation: the (offset, key, value) of every data record a consumer reads from ``offset``."""
    resp = fetch(c, None, topic, partition=partition, offset=offset, isolation=isolation)
    if resp is None:
        c.observe(check, "closed", finding)
        return
    p = resp.responses[0].partitions[0]
    seen = []
    aborted = {(a.producer_id, a.first_offset) for a in (p.aborted_transactions or [])}
    for b in c.batches(bytes(p.records or b"")):
        if b["control"]:
            continue
        if isolation and b["transactional"] and aborted:
            continue  # a read_committed consumer drops aborted batches (simplified: any listed)
        for r in b["records"]:
            seen.append([r["offset"], bytes.fromhex(r["key"]).decode() if r["key"] else None,
                         bytes.fromhex(r["value"]).decode(errors="replace") if r["value"] else None])
    c.observe(check, {"error_code": p.error_code, "high_watermark": p.high_watermark,
                      "last_stable_offset": p.last_stable_offset, "records": seen}, finding)


# ------------------------------------------------------------------ topics


def create_topic(c: Ctx, topic: str, partitions: int = 1, configs: dict[str, str] | None = None,
                 check: str | None = None, **kw: Any) -> Any:
    resp = c.call(check, rq(CREATE_TOPICS, timeout_ms=30000, topics=[{
        "name": topic, "num_partitions": partitions, "replication_factor": 1,
        "configs": [{"name": k, "value": v} for k, v in (configs or {}).items()]}]), **kw)
    if resp is None or resp.topics[0].error_code not in (0, 36):
        raise ScenarioError(f"could not create {topic}: {resp and resp.topics[0].error_code}")
    wait_ready(c, topic, partitions)
    return resp


def wait_ready(c: Ctx, topic: str, partitions: int = 1, timeout: float = 20.0) -> Any:
    """Poll Metadata until every partition of ``topic`` has a leader (Kafka elects it
    asynchronously after CreateTopics); remembers the topic id."""
    deadline = time.monotonic() + timeout
    while True:
        resp = c.call(None, rq(METADATA, topics=[{"name": topic}], allow_auto_topic_creation=False), 12)
        if resp is not None:
            t = resp.topics[0]
            if t.error_code == 0 and len(t.partitions) >= partitions and all(
                    p.error_code == 0 and p.leader_id >= 0 for p in t.partitions):
                c.topic_ids[topic] = t.topic_id
                c.label("uuid", t.topic_id, f"id:{topic}")
                c.node_id = resp.brokers[0].node_id
                return resp
        if time.monotonic() > deadline:
            raise ScenarioError(f"topic {topic} not ready after {timeout:.0f}s")
        time.sleep(0.1)


def wait_metadata(c: Ctx, topic: str, ready: Any, timeout: float = 10.0) -> None:
    """Poll Metadata of ``topic`` until ``ready(topic_answer)`` holds (bounded; no check recorded):
    Kafka answers CreatePartitions / DeleteTopics once its controller committed the change, and
    the broker's metadata cache applies it a moment later. On a timeout the next check shows it."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        resp = c.call(None, rq(METADATA, topics=[{"name": topic}], allow_auto_topic_creation=False), 12)
        if resp is None or ready(resp.topics[0]):
            return
        time.sleep(0.05)


def topic_id(c: Ctx, topic: str) -> Any:
    if topic not in c.topic_ids:
        wait_ready(c, topic)
    return c.topic_ids[topic]


def node_id(c: Ctx) -> int:
    if c.node_id is None:
        resp = c.call(None, rq(METADATA, topics=[], allow_auto_topic_creation=False), 12)
        c.node_id = resp.brokers[0].node_id
    return c.node_id


def coordinator(c: Ctx, key: str, key_type: int = 0, check: str | None = None, timeout: float = 30.0) -> Any:
    """FindCoordinator, retried while the coordinator is loading or not available yet
    (Kafka creates __consumer_offsets / __transaction_state on the first lookup)."""
    deadline = time.monotonic() + timeout
    while True:
        resp = c.call(None, rq(FIND_COORDINATOR, key_type=key_type, coordinator_keys=[key]), 4)
        err = resp.coordinators[0].error_code if resp is not None else -99
        if err not in (14, 15) or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    if check is not None:
        c.observe(check, resp if resp is not None else {"closed": True})
    return resp


def init_producer(c: Ctx, check: str | None, transactional_id: str | None = None, timeout_ms: int = 60000,
                  retry: bool = True, **kw: Any) -> Any:
    """InitProducerId, retried on COORDINATOR_LOAD_IN_PROGRESS / NOT_COORDINATOR /
    CONCURRENT_TRANSACTIONS as a producer does; the final answer is the check."""
    deadline = time.monotonic() + 30
    while True:
        resp = c.call(None, rq(INIT_PRODUCER_ID, transactional_id=transactional_id,
                               transaction_timeout_ms=timeout_ms, producer_id=-1, producer_epoch=-1), **kw)
        if not retry or resp is None or resp.error_code not in (14, 15, 16, 51) or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    if check is not None:
        c.observe(check, resp if resp is not None else {"closed": True})
    return resp


def until(c: Ctx, fn, what: str, timeout: float = 20.0, interval: float = 0.1) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = fn()
        if value:
            return value
        if time.monotonic() > deadline:
            raise ScenarioError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(interval)


def error_codes(value: Any) -> Any:
    """Keep only the error codes (and names that locate them) of a normalised response."""
    if isinstance(value, dict):
        out = {k: error_codes(v) for k, v in value.items()
               if k.endswith("error_code") or k in ("name", "topic", "partition_index", "partition", "index",
                                                    "group_id", "resource_name", "transactional_id")
               or isinstance(v, (list, dict))}
        return {k: v for k, v in out.items() if v not in ({}, [])}
    if isinstance(value, list):
        return [error_codes(v) for v in value]
    return value
