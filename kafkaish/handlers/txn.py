"""Transactions and idempotence: InitProducerId, AddPartitionsToTxn, AddOffsetsToTxn, EndTxn,
TxnOffsetCommit, DescribeTransactions, ListTransactions, DescribeProducers.

InitProducerId: v0-5. AddPartitionsToTxn: v0-5. AddOffsetsToTxn: v0-4. EndTxn: v0-4 (v5 is
``latestVersionUnstable``, transaction version 2). TxnOffsetCommit: v0-4.
DescribeTransactions: v0. ListTransactions: v0-1. DescribeProducers: v0.

Behavior:
- The ``TransactionCoordinator`` (``ctx.broker.txns``) decides; this module validates requests
  and builds responses; ``ctx.broker.markers`` (``kafkaish.markers``, Kafka's
  TransactionMarkerChannelManager) executes the coordinator's ``MarkerWrite`` plans without
  awaiting. The broker runs the coordinator's timers (timeouts, retried plans).
- InitProducerId without a transactional id: a fresh producer id at epoch 0 (idempotence).
  With one while a transaction is open: the open transaction is aborted with a bumped epoch
  (fencing the old producer) and CONCURRENT_TRANSACTIONS tells the new one to retry.
- EndTxn answers after the markers are written, so a read_committed consumer that sees the
  response can already read the records.
- AddPartitionsToTxn v0-3: an unknown topic/partition is answered UNKNOWN_TOPIC_OR_PARTITION
  and every other partition OPERATION_NOT_ATTEMPTED, without touching the transaction
  (KafkaApis.handleAddPartitionsToTxnRequest). v4+ (the broker-to-broker batched form) is
  answered per transaction; ``verify_only`` checks membership without adding.
- TxnOffsetCommit is checked against the transaction (producer id/epoch, group added by
  AddOffsetsToTxn) and then handed to the group coordinator, which keeps the offsets pending
  until the marker plan commits or drops them.
Version notes: PRODUCER_FENCED is answered as INVALID_PRODUCER_EPOCH to InitProducerId < 4,
AddPartitionsToTxn < 2, AddOffsetsToTxn < 2 and EndTxn < 2 (KafkaApis), which covers aiokafka
(all v0), kafkajs (v1) and librdkafka (AddPartitions/AddOffsets v0, EndTxn v1).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from kafkaish.authorizer import CLUSTER_NAME, Op, ResourceType, authorized
from kafkaish.coordinator.group_results import OffsetCommitInput
from kafkaish.coordinator.txn import TopicPartition
from kafkaish.registry import RequestContext, handler
from kafkaish.wire.errors import ErrorCode, KafkaError
from kafkaish.wire.messages import ApiKey
from kafkaish.wire.messages.add_offsets_to_txn import AddOffsetsToTxnRequest, AddOffsetsToTxnResponse
from kafkaish.wire.messages.add_partitions_to_txn import AddPartitionsToTxnRequest, AddPartitionsToTxnResponse
from kafkaish.wire.messages.describe_producers import DescribeProducersRequest, DescribeProducersResponse
from kafkaish.wire.messages.describe_transactions import (
    DescribeTransactionsRequest,
    DescribeTransactionsResponse,
)
from kafkaish.wire.messages.end_txn import EndTxnRequest, EndTxnResponse
from kafkaish.wire.messages.init_producer_id import InitProducerIdRequest, InitProducerIdResponse
from kafkaish.wire.messages.list_transactions import ListTransactionsRequest, ListTransactionsResponse
from kafkaish.wire.messages.txn_offset_commit import TxnOffsetCommitRequest, TxnOffsetCommitResponse

# ------------------------------------------------------------------------ errors by version

# API key -> first version that may carry PRODUCER_FENCED (KafkaApis: older versions get
# INVALID_PRODUCER_EPOCH, which aiokafka v0, kafkajs v1 and librdkafka v0/v1 understand).
_FENCED_SINCE = {ApiKey.INIT_PRODUCER_ID: 4, ApiKey.ADD_PARTITIONS_TO_TXN: 2, ApiKey.ADD_OFFSETS_TO_TXN: 2,
                 ApiKey.END_TXN: 2}


def fenced_error(api_key: int, version: int) -> ErrorCode:
    """PRODUCER_FENCED, or INVALID_PRODUCER_EPOCH for request versions that predate it."""
    if version < _FENCED_SINCE.get(api_key, 0):
        return ErrorCode.INVALID_PRODUCER_EPOCH
    return ErrorCode.PRODUCER_FENCED


def client_error(error: ErrorCode, api_key: int, version: int) -> ErrorCode:
    """Map a coordinator error (Kafka's current codes) to what ``api_key`` at ``version`` knows."""
    return fenced_error(api_key, version) if error == ErrorCode.PRODUCER_FENCED else error


# ------------------------------------------------------------------------ InitProducerId


def _init_denied(ctx: RequestContext, transactional_id: str | None) -> ErrorCode | None:
    """KafkaApis.handleInitProducerIdRequest: WRITE on the transactional id, or for an idempotent
    producer IDEMPOTENT_WRITE on the cluster or WRITE on some topic (KIP-679)."""
    authorizer = ctx.broker.authorizer
    if authorizer is None:
        return None
    if transactional_id is not None:
        ok = authorized(ctx, Op.WRITE, ResourceType.TRANSACTIONAL_ID, transactional_id)
        return None if ok else ErrorCode.TRANSACTIONAL_ID_AUTHORIZATION_FAILED
    if authorized(ctx, Op.IDEMPOTENT_WRITE, ResourceType.CLUSTER, CLUSTER_NAME) or authorizer.authorize_any(
            ctx.session.principal, ctx.client_host, Op.WRITE, ResourceType.TOPIC):
        return None
    return ErrorCode.CLUSTER_AUTHORIZATION_FAILED


@handler(InitProducerIdRequest, min_version=0, max_version=5)
async def init_producer_id(ctx: RequestContext, req: InitProducerIdRequest) -> InitProducerIdResponse:
    denied = _init_denied(ctx, req.transactional_id)
    if denied is not None:
        return InitProducerIdResponse(error_code=denied, producer_id=-1, producer_epoch=-1)
    now = ctx.broker.now_ms()
    result = ctx.broker.txns.init_producer_id(
        req.transactional_id,
        req.transaction_timeout_ms,
        now,
        # v3+ (KIP-360): the producer's current id/epoch, so a bump is told from a new producer
        producer_id=req.producer_id if ctx.version >= 3 else -1,
        producer_epoch=req.producer_epoch if ctx.version >= 3 else -1,
    )
    for plan in result.markers:
        ctx.broker.markers.write(plan, now)
    return InitProducerIdResponse(
        error_code=client_error(result.error, ApiKey.INIT_PRODUCER_ID, ctx.version),
        producer_id=result.producer_id,
        producer_epoch=result.producer_epoch,
    )


# -------------------------------------------------------------------- AddPartitionsToTxn


def _unknown_partitions(ctx: RequestContext, wanted: Iterable[TopicPartition]) -> set[TopicPartition]:
    return {(topic, p) for topic, p in wanted if not ctx.broker.storage.has_partition(topic, p)}


def _topic_results(topics: Iterable[Any], error_of: Any) -> list[Any]:
    R = AddPartitionsToTxnResponse
    return [
        R.AddPartitionsToTxnTopicResult(
            name=t.name,
            results_by_partition=[
                R.AddPartitionsToTxnPartitionResult(partition_index=p, partition_error_code=error_of((t.name, p)))
                for p in t.partitions
            ],
        )
        for t in topics
    ]


def _add_partitions(
    ctx: RequestContext, txn_id: str, pid: int, epoch: int, topics: list[Any], verify_only: bool
) -> list[Any]:
    wanted = [(t.name, p) for t in topics for p in t.partitions]
    if not authorized(ctx, Op.WRITE, ResourceType.TRANSACTIONAL_ID, txn_id):  # KafkaApis: the whole request
        return _topic_results(topics, lambda tp: ErrorCode.TRANSACTIONAL_ID_AUTHORIZATION_FAILED)
    denied = {t.name for t in topics if not authorized(ctx, Op.WRITE, ResourceType.TOPIC, t.name)}
    if denied:
        return _topic_results(topics, lambda tp: ErrorCode.TOPIC_AUTHORIZATION_FAILED if tp[0] in denied
                              else ErrorCode.OPERATION_NOT_ATTEMPTED)
    unknown = _unknown_partitions(ctx, wanted)
    if unknown:
        return _topic_results(
            topics,
            lambda tp: ErrorCode.UNKNOWN_TOPIC_OR_PARTITION if tp in unknown else ErrorCode.OPERATION_NOT_ATTEMPTED,
        )
    txns = ctx.broker.txns
    if verify_only:
        verdicts = txns.verify_partitions(txn_id, pid, epoch, wanted)
        return _topic_results(topics, lambda tp: client_error(verdicts[tp], ApiKey.ADD_PARTITIONS_TO_TXN, ctx.version))
    error = client_error(txns.add_partitions(txn_id, pid, epoch, wanted, ctx.broker.now_ms()), ApiKey.ADD_PARTITIONS_TO_TXN, ctx.version)
    return _topic_results(topics, lambda tp: error)


@handler(AddPartitionsToTxnRequest, min_version=0, max_version=5)
async def add_partitions_to_txn(ctx: RequestContext, req: AddPartitionsToTxnRequest) -> AddPartitionsToTxnResponse:
    if ctx.version <= 3:
        results = _add_partitions(
            ctx,
            req.v3_and_below_transactional_id,
            req.v3_and_below_producer_id,
            req.v3_and_below_producer_epoch,
            req.v3_and_below_topics,
            verify_only=False,
        )
        return AddPartitionsToTxnResponse(results_by_topic_v3_and_below=results)
    R = AddPartitionsToTxnResponse
    return R(
        error_code=ErrorCode.NONE,
        results_by_transaction=[
            R.AddPartitionsToTxnResult(
                transactional_id=txn.transactional_id,
                topic_results=_add_partitions(
                    ctx, txn.transactional_id, txn.producer_id, txn.producer_epoch, txn.topics, txn.verify_only
                ),
            )
            for txn in req.transactions
        ],
    )


# ------------------------------------------------------------------ AddOffsets / EndTxn


@handler(AddOffsetsToTxnRequest, min_version=0, max_version=4)
async def add_offsets_to_txn(ctx: RequestContext, req: AddOffsetsToTxnRequest) -> AddOffsetsToTxnResponse:
    if not authorized(ctx, Op.WRITE, ResourceType.TRANSACTIONAL_ID, req.transactional_id):
        return AddOffsetsToTxnResponse(error_code=ErrorCode.TRANSACTIONAL_ID_AUTHORIZATION_FAILED)
    if not authorized(ctx, Op.READ, ResourceType.GROUP, req.group_id):
        return AddOffsetsToTxnResponse(error_code=ErrorCode.GROUP_AUTHORIZATION_FAILED)
    error = ctx.broker.txns.add_offsets(
        req.transactional_id, req.producer_id, req.producer_epoch, req.group_id, ctx.broker.now_ms()
    )
    return AddOffsetsToTxnResponse(error_code=client_error(error, ApiKey.ADD_OFFSETS_TO_TXN, ctx.version))


@handler(EndTxnRequest, min_version=0, max_version=4)
async def end_txn(ctx: RequestContext, req: EndTxnRequest) -> EndTxnResponse:
    if not authorized(ctx, Op.WRITE, ResourceType.TRANSACTIONAL_ID, req.transactional_id):
        return EndTxnResponse(error_code=ErrorCode.TRANSACTIONAL_ID_AUTHORIZATION_FAILED)
    now = ctx.broker.now_ms()
    result = ctx.broker.txns.end_txn(req.transactional_id, req.producer_id, req.producer_epoch, req.committed, now)
    if result.markers is not None:
        # The decision is durable (Prepare*): a failed marker write is retried by tick, and the
        # client is told NONE as Kafka does once PrepareCommit/PrepareAbort is logged.
        ctx.broker.markers.write(result.markers, now)
    return EndTxnResponse(error_code=client_error(result.error, ApiKey.END_TXN, ctx.version))


# --------------------------------------------------------------------- TxnOffsetCommit


def _txn_offset_errors(ctx: RequestContext, req: TxnOffsetCommitRequest) -> dict[TopicPartition, ErrorCode]:
    """Per-partition errors: the transaction check first, then the group coordinator's."""
    wanted = [(t.name, p.partition_index) for t in req.topics for p in t.partitions]
    if not authorized(ctx, Op.WRITE, ResourceType.TRANSACTIONAL_ID, req.transactional_id):
        return {tp: ErrorCode.TRANSACTIONAL_ID_AUTHORIZATION_FAILED for tp in wanted}
    if not authorized(ctx, Op.READ, ResourceType.GROUP, req.group_id):
        return {tp: ErrorCode.GROUP_AUTHORIZATION_FAILED for tp in wanted}
    denied = {t.name for t in req.topics if not authorized(ctx, Op.READ, ResourceType.TOPIC, t.name)}
    if denied:
        return {tp: ErrorCode.TOPIC_AUTHORIZATION_FAILED for tp in wanted if tp[0] in denied} | {
            tp: ErrorCode.OPERATION_NOT_ATTEMPTED for tp in wanted if tp[0] not in denied}
    error = ctx.broker.txns.check_offset_commit(req.transactional_id, req.producer_id, req.producer_epoch, req.group_id)
    if error != ErrorCode.NONE:
        return {tp: error for tp in wanted}
    unknown = _unknown_partitions(ctx, wanted)
    offsets = [
        OffsetCommitInput(t.name, p.partition_index, p.committed_offset, p.committed_leader_epoch,
                          p.committed_metadata or "")  # OffsetAndMetadata.fromRequest: null -> ""
        for t in req.topics
        for p in t.partitions
        if (t.name, p.partition_index) not in unknown
    ]
    result = ctx.broker.groups.txn_offset_commit(
        req.group_id,
        req.producer_id,
        req.producer_epoch,
        req.member_id,
        req.generation_id,
        req.group_instance_id,
        offsets,
        ctx.broker.now_ms(),
    )
    errors = {tp: ErrorCode.UNKNOWN_TOPIC_OR_PARTITION for tp in unknown}
    for tp in wanted:
        if tp not in errors:
            errors[tp] = result.error if result.error != ErrorCode.NONE else result.partitions.get(tp, ErrorCode.NONE)
    return errors


@handler(TxnOffsetCommitRequest, min_version=0, max_version=4)
async def txn_offset_commit(ctx: RequestContext, req: TxnOffsetCommitRequest) -> TxnOffsetCommitResponse:
    errors = _txn_offset_errors(ctx, req)
    R = TxnOffsetCommitResponse
    return R(
        topics=[
            R.TxnOffsetCommitResponseTopic(
                name=t.name,
                partitions=[
                    R.TxnOffsetCommitResponsePartition(
                        partition_index=p.partition_index, error_code=errors[(t.name, p.partition_index)]
                    )
                    for p in t.partitions
                ],
            )
            for t in req.topics
        ]
    )


# ------------------------------------------------------------------------------- admin


@handler(DescribeTransactionsRequest, min_version=0, max_version=0)
async def describe_transactions(
    ctx: RequestContext, req: DescribeTransactionsRequest
) -> DescribeTransactionsResponse:
    R = DescribeTransactionsResponse
    # KafkaApis.handleDescribeTransactionsRequest: DESCRIBE on each transactional id, and only the
    # topics the principal may describe
    allowed = [t for t in req.transactional_ids if authorized(ctx, Op.DESCRIBE, ResourceType.TRANSACTIONAL_ID, t)]
    described = {d.transactional_id: d for d in ctx.broker.txns.describe(allowed)}
    states = []
    for txn_id in req.transactional_ids:
        d = described.get(txn_id)
        if d is None:
            states.append(R.TransactionState(error_code=ErrorCode.TRANSACTIONAL_ID_AUTHORIZATION_FAILED,
                                             transactional_id=txn_id))
            continue
        if d.error:  # Kafka leaves the other fields at their defaults (0, ""): compat/FINDINGS.md D20
            states.append(R.TransactionState(error_code=d.error, transactional_id=d.transactional_id))
            continue
        by_topic: dict[str, list[int]] = {}
        for topic, partition in d.partitions:
            if authorized(ctx, Op.DESCRIBE, ResourceType.TOPIC, topic):
                by_topic.setdefault(topic, []).append(partition)
        states.append(
            R.TransactionState(
                error_code=d.error,
                transactional_id=d.transactional_id,
                transaction_state=d.state,
                transaction_timeout_ms=d.timeout_ms,
                transaction_start_time_ms=d.start_ms,
                producer_id=d.producer_id,
                producer_epoch=d.producer_epoch,
                topics=[R.TopicData(topic=t, partitions=ps) for t, ps in by_topic.items()],
            )
        )
    return R(transaction_states=states)


@handler(ListTransactionsRequest, min_version=0, max_version=1)
async def list_transactions(ctx: RequestContext, req: ListTransactionsRequest) -> ListTransactionsResponse:
    result = ctx.broker.txns.list_transactions(
        req.state_filters,
        req.producer_id_filters,
        req.duration_filter if ctx.version >= 1 else -1,
        now_ms=ctx.broker.now_ms(),
    )
    R = ListTransactionsResponse
    return R(
        error_code=ErrorCode.NONE,
        unknown_state_filters=list(result.unknown_state_filters),
        transaction_states=[
            R.TransactionState(transactional_id=t.transactional_id, producer_id=t.producer_id, transaction_state=t.state)
            for t in result.transactions  # KafkaApis.handleListTransactionsRequest: the describable ones
            if authorized(ctx, Op.DESCRIBE, ResourceType.TRANSACTIONAL_ID, t.transactional_id)
        ],
    )


@handler(DescribeProducersRequest, min_version=0, max_version=0)
async def describe_producers(ctx: RequestContext, req: DescribeProducersRequest) -> DescribeProducersResponse:
    R = DescribeProducersResponse
    topics = []
    for t in req.topics:
        partitions = []
        # KafkaApis.handleDescribeProducersRequest: READ on the topic
        if not authorized(ctx, Op.READ, ResourceType.TOPIC, t.name):
            topics.append(R.TopicResponse(name=t.name, partitions=[R.PartitionResponse(
                partition_index=i, error_code=ErrorCode.TOPIC_AUTHORIZATION_FAILED,
                error_message="Topic authorization failed.") for i in t.partition_indexes]))
            continue
        for index in t.partition_indexes:
            try:
                producers = ctx.broker.storage.log(t.name, index).active_producers()
            except KafkaError as e:
                partitions.append(R.PartitionResponse(partition_index=index, error_code=e.code, error_message=e.message))
                continue
            partitions.append(
                R.PartitionResponse(
                    partition_index=index,
                    error_code=ErrorCode.NONE,
                    active_producers=[
                        R.ProducerState(
                            producer_id=p.producer_id,
                            producer_epoch=p.producer_epoch,
                            last_sequence=p.last_sequence,
                            last_timestamp=p.last_timestamp,
                            coordinator_epoch=p.coordinator_epoch,
                            current_txn_start_offset=p.current_txn_start_offset,
                        )
                        for p in producers
                    ],
                )
            )
        topics.append(R.TopicResponse(name=t.name, partitions=partitions))
    return R(topics=topics)
