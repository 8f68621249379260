"""Fetch: v0-17.

Behavior:
- Whole batches are returned as stored; a fetch inside a batch returns the whole batch.
- Size limits (KIP-74): the response carries at most min(max_bytes, the broker's
  fetch.max.bytes), except that the first partition with data returns at least one batch
  even if it exceeds max_bytes/partition_max_bytes; later partitions share what is left and
  get nothing when their first batch does not fit (Kafka's firstEntryIncomplete: empty
  records). Deliberate difference: Kafka may end a partition's data with a partial batch cut
  at the limit; kafkaish sends whole batches only.
- A partition named twice in one request is answered once, at its first position, for its
  last fetch position (Kafka reads the request into a map keyed by partition).
- Long poll: if fewer than min_bytes are ready, the request parks until data arrives on
  one of its partitions (woken at once by Produce) or max_wait_ms passes on the broker's
  clock (a frozen clock ends it only when advanced past the deadline).
- read_committed (isolation_level 1) returns data up to the last stable offset and the
  aborted transactions overlapping it; read_uncommitted answers a null aborted list.
- No fetch sessions (KIP-227): session id 0 is always answered, which every client
  accepts as "sessions unsupported"; a request naming a session gets
  FETCH_SESSION_ID_NOT_FOUND.
- Error partitions carry empty (never null) records, as Kafka's MemoryRecords.EMPTY:
  librdkafka drops a whole response with a null MessageSet.
- Errors per partition: UNKNOWN_TOPIC_OR_PARTITION (UNKNOWN_TOPIC_ID for v13+ ids),
  UNSUPPORTED_COMPRESSION_TYPE below v10 for a topic with compression.type=zstd,
  OFFSET_OUT_OF_RANGE outside [log start, log end], UNKNOWN_LEADER_EPOCH for a future epoch,
  FENCED_LEADER_EPOCH for a past one, NOT_LEADER_OR_FOLLOWER off the leader (``--brokers N``)
  with the current leader on v12+ and its endpoint on v16+ (KIP-951).
"""

from __future__ import annotations

import dataclasses
import uuid
from dataclasses import dataclass
from typing import Any

from kafkaish.registry import RequestContext, handler
from kafkaish.wire.constants import ZERO_UUID, Codec, IsolationLevel
from kafkaish.authorizer import Op, ResourceType, authorized
from kafkaish.wire.errors import ErrorCode, KafkaError
from kafkaish.wire.messages.fetch import FetchRequest, FetchResponse

PartitionData = FetchResponse.PartitionData


@dataclass(slots=True)
class _Wanted:
    topic: str | None
    topic_id: uuid.UUID
    req: Any  # FetchRequest.FetchPartition
    denied: bool = False  # no READ on the topic (TOPIC_AUTHORIZATION_FAILED)


def _wanted(ctx: RequestContext, req: FetchRequest) -> list[_Wanted]:
    out: dict[tuple[Any, int], _Wanted] = {}  # FetchRequest.fetchData: a LinkedHashMap, last value wins
    for t in req.topics:
        name = t.topic if ctx.version < 13 else ctx.broker.topic_name(t.topic_id)
        denied = name is not None and not authorized(ctx, Op.READ, ResourceType.TOPIC, name)
        for p in t.partitions:
            out[(t.topic if ctx.version < 13 else t.topic_id, p.partition)] = _Wanted(name, t.topic_id, p, denied)
    return list(out.values())


def _read_one(ctx: RequestContext, w: _Wanted, budget: int, min_one: bool, committed: bool) -> PartitionData:
    p = w.req
    base = dict(partition_index=p.partition, high_watermark=-1, last_stable_offset=-1, log_start_offset=-1)
    if w.topic is None:
        return PartitionData(error_code=ErrorCode.UNKNOWN_TOPIC_ID, records=b"", **base)
    if w.denied:
        return PartitionData(error_code=ErrorCode.TOPIC_AUTHORIZATION_FAILED, records=b"", **base)
    try:
        ctx.broker.cluster.check_leader(w.topic, p.partition, ctx.broker.node_id, p.current_leader_epoch)
        log = ctx.broker.storage.log(w.topic, p.partition)
        if ctx.version < 10 and log.config.compression == Codec.ZSTD:
            # KafkaApis.handleFetchRequest: a zstd topic (compression.type=zstd) for a pre-KIP-110 fetcher
            return PartitionData(error_code=ErrorCode.UNSUPPORTED_COMPRESSION_TYPE, records=b"",
                                 aborted_transactions=[], **base)
        limit = min(p.partition_max_bytes, budget) if budget > 0 else 0
        if limit <= 0 and not min_one:
            return PartitionData(error_code=0, high_watermark=log.high_watermark,
                                 last_stable_offset=log.last_stable_offset,
                                 log_start_offset=log.log_start_offset, partition_index=p.partition,
                                 aborted_transactions=[] if committed else None, records=b"")
        result = log.read(p.fetch_offset, max(limit, 1), read_committed=committed)
        if not min_one and len(result.records) > limit:  # its first batch does not fit: nothing
            result = dataclasses.replace(result, records=b"")
    except KafkaError as e:
        # Kafka answers a partition it does not know from KafkaApis with the field's default, an
        # empty list, and a failed log read (ReplicaManager) with null (compat/FINDINGS.md D10)
        unknown = e.code in (ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, ErrorCode.UNKNOWN_TOPIC_ID)
        answer = PartitionData(error_code=e.code, records=b"", aborted_transactions=[] if unknown else None, **base)
        if e.code == ErrorCode.NOT_LEADER_OR_FOLLOWER or e.code == ErrorCode.FENCED_LEADER_EPOCH:
            leader, epoch = ctx.broker.cluster.leader_and_epoch(w.topic, p.partition)
            answer.current_leader = FetchResponse.LeaderIdAndEpoch(leader_id=leader, leader_epoch=epoch)
        return answer
    return PartitionData(
        partition_index=p.partition, error_code=0, high_watermark=result.high_watermark,
        last_stable_offset=result.last_stable_offset, log_start_offset=result.log_start_offset,
        aborted_transactions=_aborted(result.aborted_transactions) if committed else None,
        preferred_read_replica=-1, records=result.records)


def _aborted(entries: list[tuple[int, int]] | None) -> list[Any]:
    return [FetchResponse.AbortedTransaction(producer_id=pid, first_offset=first)
            for pid, first in (entries or [])]


def _read_all(ctx: RequestContext, req: FetchRequest, wanted: list[_Wanted]) -> tuple[list[PartitionData], int, bool]:
    budget = min(req.max_bytes, ctx.broker.settings.fetch_max_bytes)  # ReplicaManager.fetchMessages
    committed = req.isolation_level == IsolationLevel.READ_COMMITTED and ctx.version >= 4
    first_with_data = True
    total = 0
    errors = False
    out = []
    for w in wanted:
        pd = _read_one(ctx, w, budget, first_with_data, committed)
        size = len(pd.records) if pd.records is not None else 0
        if size:
            first_with_data = False
            budget -= size
            total += size
        errors = errors or pd.error_code != 0
        out.append(pd)
    return out, total, errors


def _response(ctx: RequestContext, wanted: list[_Wanted], parts: list[PartitionData]) -> FetchResponse:
    topics: list[Any] = []
    for w, pd in zip(wanted, parts):
        key = w.topic_id if ctx.version >= 13 else w.topic
        if topics and topics[-1][0] == key:
            topics[-1][1].append(pd)
        else:
            topics.append((key, [pd]))
    responses = [
        FetchResponse.FetchableTopicResponse(
            topic=key if ctx.version < 13 else "", topic_id=key if ctx.version >= 13 else ZERO_UUID,
            partitions=ps)
        for key, ps in topics
    ]
    answer = FetchResponse(throttle_time_ms=0, error_code=0, session_id=0, responses=responses)
    if ctx.version >= 16 and not ctx.broker.cluster.single:
        cluster = ctx.broker.cluster
        leaders = {pd.current_leader.leader_id for pd in parts if pd.current_leader.leader_id >= 0}
        answer.node_endpoints = [FetchResponse.NodeEndpoint(node_id=n, host=h, port=port, rack=None)
                                 for n in sorted(leaders) if n in cluster.endpoints
                                 for h, port in [cluster.endpoint(n, ctx.session.listener)]]
    return answer


def _count_out(stats: Any, wanted: list[_Wanted], parts: list[PartitionData]) -> None:
    for w, pd in zip(wanted, parts):
        if w.topic is not None and pd.records:
            stats.fetched(w.topic, len(pd.records))


@handler(FetchRequest, min_version=0, max_version=17)
async def fetch(ctx: RequestContext, req: FetchRequest) -> FetchResponse:
    if ctx.version >= 7 and req.session_id != 0:
        return FetchResponse(error_code=ErrorCode.FETCH_SESSION_ID_NOT_FOUND, session_id=0, responses=[])
    if ctx.version < 3:
        req.max_bytes = 0x7FFFFFFF
    wanted = _wanted(ctx, req)
    deadline_ms = ctx.broker.now_ms() + max(req.max_wait_ms, 0)
    while True:
        parts, total, errors = _read_all(ctx, req, wanted)
        if total >= max(req.min_bytes, 1) or errors or ctx.broker.now_ms() >= deadline_ms:
            if total and ctx.broker.stats is not None:
                _count_out(ctx.broker.stats, wanted, parts)
            return _response(ctx, wanted, parts)
        keys = [(w.topic, w.req.partition) for w in wanted if w.topic is not None]
        await ctx.broker.wait_for_data(keys, deadline_ms)
