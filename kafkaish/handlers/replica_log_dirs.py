"""AlterReplicaLogDirs: v0-2.

Behavior (ReplicaManager.alterReplicaLogDirs on a broker with one log directory):
- A move to the directory DescribeLogDirs reports (the exact path) answers NONE for every
  partition that exists (it is already there) and UNKNOWN_TOPIC_OR_PARTITION for one that
  does not.
- Any other path answers LOG_DIR_NOT_FOUND for every partition named, existing or not.
"""

from __future__ import annotations

from kafkaish.authorizer import CLUSTER_NAME, Op, ResourceType, authorized
from kafkaish.registry import RequestContext, handler
from kafkaish.wire.errors import ErrorCode
from kafkaish.wire.messages.alter_replica_log_dirs import AlterReplicaLogDirsRequest, AlterReplicaLogDirsResponse

Result = AlterReplicaLogDirsResponse.AlterReplicaLogDirPartitionResult


@handler(AlterReplicaLogDirsRequest, min_version=0, max_version=2)
async def alter_replica_log_dirs(ctx: RequestContext, req: AlterReplicaLogDirsRequest) -> AlterReplicaLogDirsResponse:
    here = ctx.broker.storage.log_dir
    topics = ctx.broker.storage.topics()
    allowed = authorized(ctx, Op.ALTER, ResourceType.CLUSTER, CLUSTER_NAME)  # KafkaApis.handleAlterReplicaLogDirsRequest
    results = []
    for d in req.dirs:
        for t in d.topics:
            meta = topics.get(t.name)

            def code(p: int) -> ErrorCode:
                if not allowed:
                    return ErrorCode.CLUSTER_AUTHORIZATION_FAILED
                if d.path != here:
                    return ErrorCode.LOG_DIR_NOT_FOUND
                exists = meta is not None and 0 <= p < meta.num_partitions
                return ErrorCode.NONE if exists else ErrorCode.UNKNOWN_TOPIC_OR_PARTITION

            results.append(AlterReplicaLogDirsResponse.AlterReplicaLogDirTopicResult(
                topic_name=t.name, partitions=[Result(partition_index=p, error_code=code(p)) for p in t.partitions]))
    return AlterReplicaLogDirsResponse(throttle_time_ms=0, results=results)
