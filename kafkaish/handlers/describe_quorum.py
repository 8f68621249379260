"""DescribeQuorum: v0-2.

Behavior (KafkaRaftClient.handleDescribeQuorumRequest on a single combined KRaft node):
- The request must name exactly ``__cluster_metadata`` partition 0; otherwise every partition
  named answers UNKNOWN_TOPIC_OR_PARTITION ("This server does not host this topic-partition.").
- The answer: this node is the leader and the only voter, with no observers; v1+ carries the
  voter's fetch and caught-up times (now: the leader is always caught up), v2 the node's
  CONTROLLER listener (kafkaish has one listener: the advertised address).
Deliberate simplification: there is no metadata log, so leader epoch, high watermark and the
voter's log end offset are 1 (Kafka's are those of its metadata log).
"""

from __future__ import annotations

from kafkaish.registry import RequestContext, handler
from kafkaish.wire.errors import ErrorCode
from kafkaish.wire.messages.describe_quorum import DescribeQuorumRequest, DescribeQuorumResponse

METADATA_TOPIC = "__cluster_metadata"
R = DescribeQuorumResponse


@handler(DescribeQuorumRequest, min_version=0, max_version=2)
async def describe_quorum(ctx: RequestContext, req: DescribeQuorumRequest) -> DescribeQuorumResponse:
    b = ctx.broker
    valid = (len(req.topics) == 1 and req.topics[0].topic_name == METADATA_TOPIC
             and [p.partition_index for p in req.topics[0].partitions] == [0])
    if not valid:  # DescribeQuorumRequest.getPartitionLevelErrorResponse
        code = ErrorCode.UNKNOWN_TOPIC_OR_PARTITION
        return R(error_code=0, error_message="", nodes=[], topics=[
            R.TopicData(topic_name=t.topic_name, partitions=[
                R.PartitionData(partition_index=p.partition_index, error_code=code,
                                error_message="This server does not host this topic-partition.",
                                leader_id=0, leader_epoch=0, high_watermark=0, current_voters=[], observers=[])
                for p in t.partitions])
            for t in req.topics])
    now = b.now_ms()
    voter = R.ReplicaState(replica_id=b.node_id, log_end_offset=1, last_fetch_timestamp=now,
                           last_caught_up_timestamp=now)
    partition = R.PartitionData(partition_index=0, error_code=0, error_message="", leader_id=b.node_id,
                                leader_epoch=1, high_watermark=1, current_voters=[voter], observers=[])
    node = R.Node(node_id=b.node_id, listeners=[
        R.Listener(name="CONTROLLER", host=b.advertised_host, port=b.advertised_port)])
    return R(error_code=0, error_message="", nodes=[node],
             topics=[R.TopicData(topic_name=METADATA_TOPIC, partitions=[partition])])
