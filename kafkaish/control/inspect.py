"""Read-only views of broker state as JSON-ready dicts (the control plane's GET routes).

Every function runs on the broker's event loop (the HTTP app runs there; the Python API
goes through ``EmbeddedBroker.call``). Bytes are given as UTF-8 text when they decode, else
base64, and each value says which (``key_encoding``: ``"utf8"`` or ``"base64"``).
"""

from __future__ import annotations

import base64
from typing import TYPE_CHECKING, Any

from kafkaish.storage.log import iter_log_batches
from kafkaish.wire.constants import TimestampType
from kafkaish.wire.errors import ErrorCode, KafkaError
from kafkaish.wire.records import decode_records

if TYPE_CHECKING:
    from kafkaish.broker import Broker

MAX_RECORDS = 10_000


class NotFound(LookupError):
    """The named topic, partition or group does not exist (HTTP 404)."""


def encode_bytes(value: bytes | None, force_base64: bool = False) -> tuple[str | None, str | None]:
    """(text, encoding): UTF-8 text when the bytes decode, else base64; (None, None) for null."""
    if value is None:
        return None, None
    if not force_base64:
        try:
            return bytes(value).decode("utf-8"), "utf8"
        except UnicodeDecodeError:
            pass
    return base64.b64encode(bytes(value)).decode("ascii"), "base64"


def _meta(broker: Broker, topic: str) -> Any:
    meta = broker.storage.topics().get(topic)
    if meta is None:
        raise NotFound(f"topic {topic!r} not found")
    return meta


def _partition(broker: Broker, topic: str, p: int) -> dict[str, Any]:
    log_ = broker.storage.log(topic, p)
    st = broker.cluster.partition(topic, p)
    leader, epoch, replicas, isr = ((broker.node_id, 0, [broker.node_id], [broker.node_id]) if st is None
                                    else (st.leader, st.epoch, list(st.replicas), list(st.isr)))
    return {"partition": p, "leader": leader, "leader_epoch": epoch, "replicas": replicas, "isr": isr,
            "log_start_offset": log_.log_start_offset,
            "high_watermark": log_.high_watermark, "last_stable_offset": log_.last_stable_offset,
            "log_end_offset": log_.log_end_offset, "size_bytes": log_.size_bytes()}


def topics(broker: Broker) -> list[dict[str, Any]]:
    return [{"name": m.name, "topic_id": str(m.topic_id), "partitions": m.num_partitions,
             "internal": m.name.startswith("__")} for m in sorted(broker.storage.topics().values(), key=lambda m: m.name)]


def topic(broker: Broker, name: str) -> dict[str, Any]:
    meta = _meta(broker, name)
    return {"name": name, "topic_id": str(meta.topic_id), "configs": dict(meta.configs),
            "partitions": [_partition(broker, name, p) for p in range(meta.num_partitions)]}


def records(broker: Broker, topic_: str, p: int, offset: int | None = None, limit: int = 100,
            force_base64: bool = False) -> dict[str, Any]:
    """Decoded records of one partition from ``offset`` (default: the log start), at most ``limit``."""
    meta = _meta(broker, topic_)
    if not 0 <= p < meta.num_partitions:
        raise NotFound(f"partition {p} of {topic_!r} not found")
    log_ = broker.storage.log(topic_, p)
    start = log_.log_start_offset if offset is None else max(offset, log_.log_start_offset)
    out: list[dict[str, Any]] = []
    for header, data in iter_log_batches(log_.segments(), 0):
        if header.last_offset < start:
            continue
        for r in decode_records(data):
            if r.offset < start:
                continue
            out.append(_record(r, header, force_base64))
            if len(out) >= limit:
                break
        if len(out) >= limit:
            break
    return {"topic": topic_, "partition": p, "log_start_offset": log_.log_start_offset,
            "high_watermark": log_.high_watermark, "records": out}


def _record(r: Any, header: Any, force_base64: bool) -> dict[str, Any]:
    key, key_enc = encode_bytes(r.key, force_base64)
    value, value_enc = encode_bytes(r.value, force_base64)
    headers = []
    for hk, hv in r.headers:
        text, enc = encode_bytes(hv, force_base64)
        headers.append({"key": hk, "value": text, "value_encoding": enc})
    return {"offset": r.offset, "timestamp": r.timestamp,
            "timestamp_type": "LogAppendTime" if header.timestamp_type == TimestampType.LOG_APPEND_TIME else "CreateTime",
            "key": key, "key_encoding": key_enc, "value": value, "value_encoding": value_enc, "headers": headers,
            "producer_id": header.producer_id, "transactional": header.is_transactional,
            "control": header.is_control}


# ----------------------------------------------------------------------------------- groups
def groups(broker: Broker) -> list[dict[str, Any]]:
    return [{"group_id": g.group_id, "state": g.state, "protocol_type": g.protocol_type, "type": g.group_type}
            for g in sorted(broker.groups.list_groups(broker.now_ms()), key=lambda g: g.group_id)]


def group(broker: Broker, group_id: str) -> dict[str, Any]:
    now = broker.now_ms()
    listed = {g.group_id: g for g in broker.groups.list_groups(now)}
    if group_id not in listed:
        raise NotFound(f"group {group_id!r} not found")
    # the node coordinating it, as FindCoordinator answers (kafka-consumer-groups --describe's COORDINATOR)
    out: dict[str, Any] = {"group_id": group_id, "type": listed[group_id].group_type,
                           "coordinator": broker.cluster.coordinator(group_id, 0)}
    if listed[group_id].group_type == "consumer":
        out.update(_consumer_group(broker, group_id, now))
    else:
        out.update(_classic_group(broker, group_id, now))
    out["offsets"] = committed(broker, group_id, now)
    out["lag"] = sum(o["lag"] for o in out["offsets"] if o["lag"] is not None)
    return out


def _classic_group(broker: Broker, group_id: str, now: int) -> dict[str, Any]:
    from kafkaish.wire.messages.consumer_protocol_assignment import ConsumerProtocolAssignment

    d = broker.groups.describe_groups([group_id], now)[0]
    members = []
    for m in d.members:
        assignment: Any = None
        if d.protocol_type == "consumer" and m.assignment:
            try:
                version = min(int.from_bytes(m.assignment[:2], "big"), ConsumerProtocolAssignment.MAX_VERSION)
                a = ConsumerProtocolAssignment.decode(bytes(m.assignment)[2:], version, exact=False)
                assignment = {t.topic: sorted(t.partitions) for t in a.assigned_partitions}
            except Exception:  # a client's own protocol: show the bytes
                assignment = encode_bytes(bytes(m.assignment), True)[0]
        members.append({"member_id": m.member_id, "group_instance_id": m.group_instance_id,
                        "client_id": m.client_id, "client_host": m.client_host, "assignment": assignment})
    return {"state": d.state, "protocol_type": d.protocol_type, "protocol": d.protocol_data, "members": members}


def _consumer_group(broker: Broker, group_id: str, now: int) -> dict[str, Any]:
    d = broker.groups.consumer_group_describe([group_id], now)[0]
    members = [{"member_id": m.member_id, "group_instance_id": m.instance_id, "client_id": m.client_id,
                "client_host": m.client_host, "member_epoch": m.member_epoch,
                "assignment": {name: sorted(parts) for _, name, parts in m.assignment}} for m in d.members]
    return {"state": d.state, "protocol_type": "consumer", "protocol": d.assignor_name,
            "group_epoch": d.group_epoch, "members": members}


def committed(broker: Broker, group_id: str, now: int) -> list[dict[str, Any]]:
    """Committed offsets with the lag to each partition's high watermark (kafka-consumer-groups)."""
    result = broker.groups.fetch_offsets(group_id, None, now)
    out = []
    for o in sorted(result.partitions, key=lambda o: (o.topic, o.partition)):
        try:
            hw: int | None = broker.storage.log(o.topic, o.partition).high_watermark
        except KafkaError:
            hw = None
        lag = None if hw is None or o.offset < 0 else max(0, hw - o.offset)
        out.append({"topic": o.topic, "partition": o.partition, "offset": o.offset, "metadata": o.metadata,
                    "leader_epoch": o.leader_epoch, "high_watermark": hw, "lag": lag})
    return out


# ----------------------------------------------------------------------- producers, txns
def producers(broker: Broker) -> list[dict[str, Any]]:
    out = []
    for name, meta in sorted(broker.storage.topics().items()):
        for p in range(meta.num_partitions):
            for info in broker.storage.log(name, p).active_producers():
                out.append({"topic": name, "partition": p, "producer_id": info.producer_id,
                            "producer_epoch": info.producer_epoch, "last_sequence": info.last_sequence,
                            "last_timestamp": info.last_timestamp,
                            "current_txn_start_offset": info.current_txn_start_offset})
    return out


def transactions(broker: Broker) -> list[dict[str, Any]]:
    listed = broker.txns.list_transactions(now_ms=broker.now_ms()).transactions
    out = []
    for d in broker.txns.describe([t.transactional_id for t in listed]):
        if d.error != ErrorCode.NONE:
            continue
        out.append({"transactional_id": d.transactional_id, "state": d.state, "producer_id": d.producer_id,
                    "producer_epoch": d.producer_epoch, "timeout_ms": d.timeout_ms, "start_ms": d.start_ms,
                    "partitions": [{"topic": t, "partition": p} for t, p in sorted(d.partitions)]})
    return sorted(out, key=lambda t: t["transactional_id"])
