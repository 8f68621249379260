"""Cluster and partition admin: DescribeCluster v0-1, DescribeLogDirs v0-4,
DescribeTopicPartitions v0, ElectLeaders v0-2, ListPartitionReassignments v0,
AlterPartitionReassignments v0.

Behavior (answers of a one-broker KRaft Kafka 4.0):
- DescribeCluster: this node is the only broker and is reported as controller (KIP-590: a
  broker names a live broker there). v1 EndpointType: asking a broker for CONTROLLERS is
  MISMATCHED_ENDPOINT_TYPE; an unknown type UNSUPPORTED_ENDPOINT_TYPE.
- DescribeLogDirs: one log dir (the data directory, "memory://" in memory) with every
  requested partition's size (``PartitionLog.size_bytes``); v4 adds total/usable disk bytes
  (-1 when in memory). Unknown partitions are left out, as Kafka does.
- DescribeTopicPartitions (KIP-966): topics sorted by name, at most ResponsePartitionLimit
  partitions per answer, the rest behind NextCursor; no topics means all topics.
- ElectLeaders: every partition already has its preferred leader, so each named partition is
  ELECTION_NOT_NEEDED; with a null list (all partitions) each topic comes with those results
  omitted, an empty list.
- Partition reassignment: nothing is ever in progress; reassigning to this node alone is a no-op
  success, any other broker is INVALID_REPLICA_ASSIGNMENT, cancelling NO_REASSIGNMENT_IN_PROGRESS.
"""

from __future__ import annotations


from kafkaish.admin.topic_names import is_internal
from kafkaish.authorizer import (
    CLUSTER_NAME,
    Op,
    ResourceType,
    authorized,
    cluster_operations_allowed,
    operations_allowed,
)
from kafkaish.registry import RequestContext, handler
from kafkaish.wire.constants import (
    AUTHORIZED_OPERATIONS_OMITTED,
    CLUSTER_OPERATIONS,
    TOPIC_OPERATIONS,
    ZERO_UUID,
    ElectionType,
    EndpointType,
)
from kafkaish.wire.errors import ErrorCode
from kafkaish.wire.messages.alter_partition_reassignments import (
    AlterPartitionReassignmentsRequest,
    AlterPartitionReassignmentsResponse,
)
from kafkaish.wire.messages.describe_cluster import DescribeClusterRequest, DescribeClusterResponse
from kafkaish.wire.messages.describe_log_dirs import DescribeLogDirsRequest, DescribeLogDirsResponse
from kafkaish.wire.messages.describe_topic_partitions import (
    DescribeTopicPartitionsRequest,
    DescribeTopicPartitionsResponse,
)
from kafkaish.wire.messages.elect_leaders import ElectLeadersRequest, ElectLeadersResponse
from kafkaish.wire.messages.list_partition_reassignments import (
    ListPartitionReassignmentsRequest,
    ListPartitionReassignmentsResponse,
)

MAX_PARTITIONS_PER_RESPONSE = 2000
CLUSTER_DENIED = "Cluster authorization failed."  # Errors.CLUSTER_AUTHORIZATION_FAILED's message


def _cluster_allowed(ctx: RequestContext, op: Op) -> bool:
    return authorized(ctx, op, ResourceType.CLUSTER, CLUSTER_NAME)


@handler(DescribeClusterRequest, min_version=0, max_version=1)
async def describe_cluster(ctx: RequestContext, req: DescribeClusterRequest) -> DescribeClusterResponse:
    b = ctx.broker
    endpoint = req.endpoint_type if ctx.version >= 1 else EndpointType.BROKERS
    if endpoint != EndpointType.BROKERS:
        code, message = (
            (ErrorCode.MISMATCHED_ENDPOINT_TYPE,
             "The request was sent to an endpoint of type BROKER, but we wanted an endpoint of type CONTROLLER")
            if endpoint == EndpointType.CONTROLLERS
            else (ErrorCode.UNSUPPORTED_ENDPOINT_TYPE, f"Unsupported endpoint type {endpoint}")
        )
        # the rest at its defaults, as Kafka's DescribeClusterResponse for a refused request
        # (endpoint_type BROKERS, no cluster id; compat/FINDINGS.md D16)
        return DescribeClusterResponse(throttle_time_ms=0, error_code=code, error_message=message)
    return DescribeClusterResponse(
        throttle_time_ms=0, error_code=0, error_message=None, endpoint_type=EndpointType.BROKERS,
        cluster_id=b.cluster_id, controller_id=b.cluster.controller(),
        brokers=[DescribeClusterResponse.DescribeClusterBroker(broker_id=n, host=h, port=p, rack=None)
                 for n in b.cluster.live_nodes() for h, p in [b.cluster.endpoint(n, ctx.session.listener)]],
        cluster_authorized_operations=(cluster_operations_allowed(ctx, CLUSTER_OPERATIONS)  # AuthHelper
                                       if req.include_cluster_authorized_operations
                                       else AUTHORIZED_OPERATIONS_OMITTED),
    )


def _log_dir_topic(ctx: RequestContext, name: str, partitions: list[int] | None) -> DescribeLogDirsResponse.DescribeLogDirsTopic | None:
    meta = ctx.broker.storage.topics().get(name)
    if meta is None:
        return None
    wanted = range(meta.num_partitions) if partitions is None else [p for p in partitions if 0 <= p < meta.num_partitions]
    parts = [
        DescribeLogDirsResponse.DescribeLogDirsPartition(
            partition_index=p, partition_size=ctx.broker.storage.log(name, p).size_bytes(),
            offset_lag=0, is_future_key=False)
        for p in wanted
    ]
    return DescribeLogDirsResponse.DescribeLogDirsTopic(name=name, partitions=parts) if parts else None


@handler(DescribeLogDirsRequest, min_version=0, max_version=4)
async def describe_log_dirs(ctx: RequestContext, req: DescribeLogDirsRequest) -> DescribeLogDirsResponse:
    if not _cluster_allowed(ctx, Op.DESCRIBE):  # KafkaApis.handleDescribeLogDirsRequest
        return DescribeLogDirsResponse(throttle_time_ms=0, error_code=ErrorCode.CLUSTER_AUTHORIZATION_FAILED,
                                       results=[])
    if req.topics is None:
        wanted = [(name, None) for name in sorted(ctx.broker.storage.topics())]
    else:
        wanted = [(t.topic, list(t.partitions)) for t in req.topics]
    topics = [t for t in (_log_dir_topic(ctx, name, parts) for name, parts in wanted) if t is not None]
    total, usable = ctx.broker.storage.disk_usage() if ctx.version >= 4 else (-1, -1)
    result = DescribeLogDirsResponse.DescribeLogDirsResult(
        error_code=0, log_dir=ctx.broker.storage.log_dir, topics=topics, total_bytes=total, usable_bytes=usable)
    return DescribeLogDirsResponse(throttle_time_ms=0, error_code=0, results=[result])


TopicEntry = DescribeTopicPartitionsResponse.DescribeTopicPartitionsResponseTopic


def _partition_entry(ctx: RequestContext, name: str,
                     index: int) -> DescribeTopicPartitionsResponse.DescribeTopicPartitionsResponsePartition:
    cluster = ctx.broker.cluster
    st = cluster.partition(name, index)
    if cluster.single or st is None:
        node = ctx.broker.node_id
        return DescribeTopicPartitionsResponse.DescribeTopicPartitionsResponsePartition(
            error_code=0, partition_index=index, leader_id=node, leader_epoch=0, replica_nodes=[node],
            isr_nodes=[node], eligible_leader_replicas=[], last_known_elr=[], offline_replicas=[])
    return DescribeTopicPartitionsResponse.DescribeTopicPartitionsResponsePartition(
        error_code=0 if st.leader >= 0 else ErrorCode.LEADER_NOT_AVAILABLE, partition_index=index,
        leader_id=st.leader, leader_epoch=st.epoch, replica_nodes=list(st.replicas), isr_nodes=list(st.isr),
        eligible_leader_replicas=[], last_known_elr=[],
        offline_replicas=[r for r in st.replicas if not cluster.is_live(r)])


@handler(DescribeTopicPartitionsRequest, min_version=0, max_version=0)
async def describe_topic_partitions(ctx: RequestContext,
                                    req: DescribeTopicPartitionsRequest) -> DescribeTopicPartitionsResponse:
    existing = ctx.broker.storage.topics()
    names = sorted({t.name for t in req.topics}) if req.topics else sorted(existing)
    cursor = req.cursor
    if cursor is not None and req.topics and cursor.topic_name not in names:
        return DescribeTopicPartitionsResponse(throttle_time_ms=0, topics=[
            TopicEntry(error_code=ErrorCode.INVALID_REQUEST, name=n, topic_id=ZERO_UUID, partitions=[]) for n in names])
    if cursor is not None:
        names = [n for n in names if n >= cursor.topic_name]
    # DescribeTopicPartitionsRequestHandler: topics the principal may not describe are left out of
    # "all topics"; named ones come last as TOPIC_AUTHORIZATION_FAILED, with no id and no operations
    hidden = [n for n in names if not authorized(ctx, Op.DESCRIBE, ResourceType.TOPIC, n)]
    names = [n for n in names if n not in hidden]
    denied = [TopicEntry(error_code=ErrorCode.TOPIC_AUTHORIZATION_FAILED, name=n, topic_id=ZERO_UUID, partitions=[])
              for n in hidden] if req.topics else []
    # Kafka caps the limit with max.request.partition.size.limit (default 2000).
    budget = max(1, min(req.response_partition_limit, MAX_PARTITIONS_PER_RESPONSE))
    topics: list[TopicEntry] = []
    next_cursor = None

    def ops(name: str) -> int:
        return operations_allowed(ctx, ResourceType.TOPIC, name, TOPIC_OPERATIONS)

    for name in names:
        meta = existing.get(name)
        if meta is None:
            # Kafka fills the (unrequested) operations of an unknown topic too (compat/FINDINGS.md D2)
            topics.append(TopicEntry(error_code=ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, name=name,
                                     topic_id=ZERO_UUID, partitions=[],
                                     topic_authorized_operations=ops(name)))
            continue
        first = cursor.partition_index if cursor is not None and name == cursor.topic_name else 0
        indexes = list(range(max(first, 0), meta.num_partitions))
        if budget <= 0 and indexes:
            next_cursor = DescribeTopicPartitionsResponse.Cursor(topic_name=name, partition_index=indexes[0])
            break
        taken, rest = indexes[:budget], indexes[budget:]
        budget -= len(taken)
        topics.append(TopicEntry(error_code=0, name=name, topic_id=meta.topic_id, is_internal=is_internal(name),
                                 partitions=[_partition_entry(ctx, name, i) for i in taken],
                                 topic_authorized_operations=ops(name)))
        if rest:
            next_cursor = DescribeTopicPartitionsResponse.Cursor(topic_name=name, partition_index=rest[0])
            break
    return DescribeTopicPartitionsResponse(throttle_time_ms=0, topics=topics + denied, next_cursor=next_cursor)


def _elect_one(ctx: RequestContext, topic: str, partition: int, election_type: int) -> ElectLeadersResponse.PartitionResult:
    meta = ctx.broker.storage.topics().get(topic)
    if meta is None:
        return ElectLeadersResponse.PartitionResult(partition_id=partition, error_code=ErrorCode.UNKNOWN_TOPIC_OR_PARTITION,
                                                    error_message=f"No such topic as {topic}")
    if not 0 <= partition < meta.num_partitions:
        return ElectLeadersResponse.PartitionResult(partition_id=partition, error_code=ErrorCode.UNKNOWN_TOPIC_OR_PARTITION,
                                                    error_message=f"No such partition as {topic}-{partition}")
    if election_type == ElectionType.UNCLEAN:
        code = ctx.broker.cluster.elect_unclean(topic, partition)
    else:
        code = ctx.broker.cluster.elect_preferred(topic, partition)
    message = {ErrorCode.NONE: None,
               ErrorCode.ELECTION_NOT_NEEDED: "Leader election not needed for topic partition.",
               ErrorCode.PREFERRED_LEADER_NOT_AVAILABLE: "Failed to elect leader for partition "
                                                         f"{topic}-{partition} under strategy PreferredReplicaPartitionLeaderElectionStrategy",
               ErrorCode.ELIGIBLE_LEADERS_NOT_AVAILABLE: "Failed to elect leader for partition "
                                                         f"{topic}-{partition} under strategy UncleanLeaderElectionStrategy"}[code]
    return ElectLeadersResponse.PartitionResult(partition_id=partition, error_code=code, error_message=message)


@handler(ElectLeadersRequest, min_version=0, max_version=2)
async def elect_leaders(ctx: RequestContext, req: ElectLeadersRequest) -> ElectLeadersResponse:
    if not _cluster_allowed(ctx, Op.ALTER):  # ControllerApis.handleElectLeaders: ElectLeadersRequest.getErrorResponse
        return ElectLeadersResponse(
            throttle_time_ms=0, error_code=ErrorCode.CLUSTER_AUTHORIZATION_FAILED, replica_election_results=[
                ElectLeadersResponse.ReplicaElectionResult(topic=t.topic, partition_result=[
                    ElectLeadersResponse.PartitionResult(partition_id=p, error_code=ErrorCode.CLUSTER_AUTHORIZATION_FAILED,
                                                         error_message=CLUSTER_DENIED) for p in t.partitions])
                for t in req.topic_partitions or []])
    if ctx.version >= 1 and req.election_type not in tuple(ElectionType):
        return ElectLeadersResponse(throttle_time_ms=0, error_code=ErrorCode.INVALID_REQUEST, replica_election_results=[])
    election = req.election_type if ctx.version >= 1 else ElectionType.PREFERRED
    if req.topic_partitions is None:
        # Every partition: Kafka lists each topic with its ELECTION_NOT_NEEDED partitions left
        # out, so with one broker every topic comes with an empty result (compat/FINDINGS.md D17)
        everything = []
        for name, meta in sorted(ctx.broker.storage.topics().items()):
            elected = [_elect_one(ctx, name, p, election) for p in range(meta.num_partitions)]
            everything.append(ElectLeadersResponse.ReplicaElectionResult(topic=name, partition_result=[
                r for r in elected if r.error_code != ErrorCode.ELECTION_NOT_NEEDED]))
        return ElectLeadersResponse(throttle_time_ms=0, error_code=0, replica_election_results=everything)
    results = []
    for t in req.topic_partitions:
        results.append(ElectLeadersResponse.ReplicaElectionResult(
            topic=t.topic, partition_result=[_elect_one(ctx, t.topic, p, election) for p in t.partitions]))
    return ElectLeadersResponse(throttle_time_ms=0, error_code=0, replica_election_results=results)


@handler(ListPartitionReassignmentsRequest, min_version=0, max_version=0)
async def list_partition_reassignments(ctx: RequestContext,
                                       req: ListPartitionReassignmentsRequest) -> ListPartitionReassignmentsResponse:
    if not _cluster_allowed(ctx, Op.DESCRIBE):  # ControllerApis.handleListPartitionReassignments
        R = ListPartitionReassignmentsResponse
        return R(throttle_time_ms=0, error_code=ErrorCode.CLUSTER_AUTHORIZATION_FAILED, error_message=CLUSTER_DENIED,
                 topics=[R.OngoingTopicReassignment(name=t.name, partitions=[
                     R.OngoingPartitionReassignment(partition_index=p) for p in t.partition_indexes])
                     for t in req.topics or []])
    return ListPartitionReassignmentsResponse(throttle_time_ms=0, error_code=0, error_message=None, topics=[])


def _reassign_one(ctx: RequestContext, topic: str, partition: int,
                  replicas: list[int] | None) -> tuple[int, str | None]:
    if not ctx.broker.storage.has_partition(topic, partition):
        return ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, f"Unable to find partition {topic}-{partition}."
    if replicas is None:
        return ErrorCode.NO_REASSIGNMENT_IN_PROGRESS, f"Partition {topic}-{partition} is not being reassigned."
    if not replicas:
        return ErrorCode.INVALID_REPLICA_ASSIGNMENT, "The manual partition assignment includes an empty replica list."
    for node in replicas:
        if node not in ctx.broker.cluster.endpoints:
            return (ErrorCode.INVALID_REPLICA_ASSIGNMENT,
                    f"The manual partition assignment includes broker {node}, but no such broker is registered.")
    if len(set(replicas)) != len(replicas):
        return (ErrorCode.INVALID_REPLICA_ASSIGNMENT,
                f"The manual partition assignment includes the broker {replicas[0]} more than once.")
    ctx.broker.cluster.reassign(topic, partition, replicas)  # every replica shares the log: done at once
    return 0, None


@handler(AlterPartitionReassignmentsRequest, min_version=0, max_version=0)
async def alter_partition_reassignments(ctx: RequestContext,
                                        req: AlterPartitionReassignmentsRequest) -> AlterPartitionReassignmentsResponse:
    # ControllerApis.handleAlterPartitionReassignments: ALTER on the cluster, else every partition refused
    allowed = _cluster_allowed(ctx, Op.ALTER)
    responses = []
    for t in req.topics:
        parts = []
        for p in t.partitions:
            replicas = None if p.replicas is None else list(p.replicas)
            code, message = (_reassign_one(ctx, t.name, p.partition_index, replicas) if allowed
                             else (ErrorCode.CLUSTER_AUTHORIZATION_FAILED, CLUSTER_DENIED))
            parts.append(AlterPartitionReassignmentsResponse.ReassignablePartitionResponse(
                partition_index=p.partition_index, error_code=code, error_message=message))
        responses.append(AlterPartitionReassignmentsResponse.ReassignableTopicResponse(name=t.name, partitions=parts))
    if not allowed:
        return AlterPartitionReassignmentsResponse(throttle_time_ms=0, error_code=ErrorCode.CLUSTER_AUTHORIZATION_FAILED,
                                                   error_message=CLUSTER_DENIED, responses=responses)
    return AlterPartitionReassignmentsResponse(throttle_time_ms=0, error_code=0, error_message=None,
                                               responses=responses)
