"""ACL checks of the cluster, partition, KIP-848 group, transaction admin and authorized-operations
APIs, as KafkaApis (and ControllerApis, for what a broker forwards) makes them: raw requests from an
authenticated principal, before and after the ACL that lets it through."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from confluent_kafka import Producer

from kafkaish.authorizer import AclBinding, Op, PatternType, Permission, ResourceType
from kafkaish.testing import EmbeddedBroker
from kafkaish.wire.constants import AUTHORIZED_OPERATIONS_OMITTED, CLUSTER_OPERATIONS, ZERO_UUID, operations_bitset
from kafkaish.wire.errors import ErrorCode
from kafkaish.wire.messages.alter_partition_reassignments import AlterPartitionReassignmentsRequest as APR
from kafkaish.wire.messages.alter_replica_log_dirs import AlterReplicaLogDirsRequest as ARLD
from kafkaish.wire.messages.create_topics import CreateTopicsRequest
from kafkaish.wire.messages.consumer_group_describe import ConsumerGroupDescribeRequest
from kafkaish.wire.messages.consumer_group_heartbeat import ConsumerGroupHeartbeatRequest
from kafkaish.wire.messages.describe_cluster import DescribeClusterRequest
from kafkaish.wire.messages.describe_log_dirs import DescribeLogDirsRequest
from kafkaish.wire.messages.describe_producers import DescribeProducersRequest
from kafkaish.wire.messages.describe_topic_partitions import DescribeTopicPartitionsRequest
from kafkaish.wire.messages.describe_transactions import DescribeTransactionsRequest
from kafkaish.wire.messages.elect_leaders import ElectLeadersRequest
from kafkaish.wire.messages.list_partition_reassignments import ListPartitionReassignmentsRequest
from kafkaish.wire.messages.list_transactions import ListTransactionsRequest
from kafkaish.wire.messages.metadata import MetadataRequest
from kafkaish.wire.messages.offset_commit import OffsetCommitRequest
from kafkaish.wire.messages.offset_delete import OffsetDeleteRequest
from kafkaish.wire.messages.offset_for_leader_epoch import OffsetForLeaderEpochRequest as OFLE
from kafkaish.wire.messages.sasl_authenticate import SaslAuthenticateRequest
from kafkaish.wire.messages.sasl_handshake import SaslHandshakeRequest
from tests.security.test_sasl_required import Raw

USERS = {"admin": "admin-pw", "alice": "alice-pw", "bob": "bob-pw"}


@pytest.fixture
def kb() -> Iterator[EmbeddedBroker]:
    with EmbeddedBroker(listeners=["SASL_PLAINTEXT://127.0.0.1:0"], sasl_users=USERS, authorizer=True,
                        super_users=["User:admin"], in_memory=True) as broker:
        yield broker


def login(kb: EmbeddedBroker, user: str) -> Raw:
    c = Raw(kb.bootstrap)
    assert c.call(SaslHandshakeRequest(mechanism="PLAIN"), 1).error_code == 0
    assert c.call(SaslAuthenticateRequest(auth_bytes=f"\x00{user}\x00{USERS[user]}".encode()), 1).error_code == 0
    return c


def grant(kb: EmbeddedBroker, op: Op, rtype: ResourceType, name: str, principal: str = "User:alice") -> None:
    acl = AclBinding(int(rtype), name, int(PatternType.LITERAL), principal, "*", int(op), int(Permission.ALLOW))
    kb.call(lambda: kb.broker.authorizer.add(acl))  # type: ignore[union-attr]


def topic(kb: EmbeddedBroker, partitions: int = 1) -> str:
    name = f"t-{uuid.uuid4().hex[:8]}"
    admin = login(kb, "admin")
    resp = admin.call(CreateTopicsRequest(topics=[CreateTopicsRequest.CreatableTopic(
        name=name, num_partitions=partitions, replication_factor=1, assignments=[], configs=[])], timeout_ms=5000), 5)
    assert resp.topics[0].error_code == 0
    admin.close()
    return name


def test_cluster_admin_apis_need_alter_or_describe_on_the_cluster(kb: EmbeddedBroker) -> None:
    name = topic(kb)
    c = login(kb, "alice")
    denied = ErrorCode.CLUSTER_AUTHORIZATION_FAILED

    def calls() -> dict[str, object]:
        elect = c.call(ElectLeadersRequest(election_type=0, topic_partitions=[
            ElectLeadersRequest.TopicPartitions(topic=name, partitions=[0])]), 2)
        alter = c.call(APR(topics=[APR.ReassignableTopic(name=name, partitions=[
            APR.ReassignablePartition(partition_index=0, replicas=[1])])]), 0)
        listed = c.call(ListPartitionReassignmentsRequest(topics=None), 0)
        dirs = c.call(DescribeLogDirsRequest(topics=None), 4)
        moved = c.call(ARLD(dirs=[ARLD.AlterReplicaLogDir(path="/elsewhere", topics=[
            ARLD.AlterReplicaLogDirTopic(name=name, partitions=[0])])]), 2)
        return {"elect": (elect.error_code, [p.error_code for r in elect.replica_election_results
                                             for p in r.partition_result]),
                "alter": (alter.error_code, [p.error_code for r in alter.responses for p in r.partitions]),
                "list": listed.error_code, "dirs": (dirs.error_code, len(dirs.results)),
                "move": [p.error_code for r in moved.results for p in r.partitions]}

    assert calls() == {"elect": (denied, [denied]), "alter": (denied, [denied]), "list": denied,
                       "dirs": (denied, 0), "move": [denied]}
    grant(kb, Op.ALTER, ResourceType.CLUSTER, "kafka-cluster")  # ALTER implies DESCRIBE
    assert calls() == {"elect": (0, [ErrorCode.ELECTION_NOT_NEEDED]), "alter": (0, [0]), "list": 0, "dirs": (0, 1),
                       "move": [ErrorCode.LOG_DIR_NOT_FOUND]}
    c.close()


def test_topic_describing_apis_need_describe_or_read_on_the_topic(kb: EmbeddedBroker) -> None:
    name, hidden = topic(kb), topic(kb)
    c = login(kb, "alice")
    denied = ErrorCode.TOPIC_AUTHORIZATION_FAILED

    def described(*names: str) -> list[tuple[str, int, object, int]]:
        resp = c.call(DescribeTopicPartitionsRequest(topics=[
            DescribeTopicPartitionsRequest.TopicRequest(name=n) for n in names], response_partition_limit=100), 0)
        return [(t.name, t.error_code, t.topic_id, t.topic_authorized_operations) for t in resp.topics]

    def epochs() -> list[int]:
        resp = c.call(OFLE(replica_id=-1, topics=[OFLE.OffsetForLeaderTopic(topic=name, partitions=[
            OFLE.OffsetForLeaderPartition(partition=0, current_leader_epoch=-1, leader_epoch=0)])]), 4)
        return [p.error_code for t in resp.topics for p in t.partitions]

    def producers() -> list[int]:
        resp = c.call(DescribeProducersRequest(topics=[
            DescribeProducersRequest.TopicRequest(name=name, partition_indexes=[0])]), 0)
        return [p.error_code for t in resp.topics for p in t.partitions]

    # DescribeTopicPartitionsRequestHandler: no topic id, no operations for a topic it may not describe
    assert described(name) == [(name, denied, ZERO_UUID, AUTHORIZED_OPERATIONS_OMITTED)]
    assert described() == []  # all topics: only the describable ones
    assert epochs() == [denied]
    assert producers() == [denied]
    grant(kb, Op.DESCRIBE, ResourceType.TOPIC, name)
    [(_, code, topic_id, ops)] = described(name)
    assert (code, ops) == (0, operations_bitset(Op.DESCRIBE)) and topic_id != ZERO_UUID
    assert [t[0] for t in described()] == [name] and hidden not in [t[0] for t in described()]
    assert epochs() == [0]
    assert producers() == [denied]  # DescribeProducers needs READ
    grant(kb, Op.READ, ResourceType.TOPIC, name)
    assert producers() == [0]
    assert described(name)[0][3] == operations_bitset(Op.READ, Op.DESCRIBE)
    c.close()


def test_consumer_group_heartbeat_and_describe_need_the_group_and_its_topics(kb: EmbeddedBroker) -> None:
    name, group, member = topic(kb), f"g-{uuid.uuid4().hex[:6]}", uuid.uuid4().hex
    c = login(kb, "alice")

    def heartbeat() -> object:
        return c.call(ConsumerGroupHeartbeatRequest(
            group_id=group, member_id=member, member_epoch=0, rebalance_timeout_ms=30000,
            subscribed_topic_names=[name], topic_partitions=[]), 1)

    def describe(who: Raw) -> object:
        return who.call(ConsumerGroupDescribeRequest(group_ids=[group], include_authorized_operations=True), 0).groups[0]

    assert heartbeat().error_code == ErrorCode.GROUP_AUTHORIZATION_FAILED  # type: ignore[attr-defined]
    grant(kb, Op.READ, ResourceType.GROUP, group)
    assert heartbeat().error_code == ErrorCode.TOPIC_AUTHORIZATION_FAILED  # type: ignore[attr-defined]
    grant(kb, Op.DESCRIBE, ResourceType.TOPIC, name)
    joined = heartbeat()
    assert joined.error_code == 0 and joined.member_epoch >= 1  # type: ignore[attr-defined]
    mine = describe(c)
    assert (mine.error_code, [m.member_id for m in mine.members]) == (0, [member])  # type: ignore[attr-defined]
    assert mine.authorized_operations == operations_bitset(Op.READ, Op.DESCRIBE)  # type: ignore[attr-defined]
    bob = login(kb, "bob")
    assert describe(bob).error_code == ErrorCode.GROUP_AUTHORIZATION_FAILED  # type: ignore[attr-defined]
    grant(kb, Op.DESCRIBE, ResourceType.GROUP, group, "User:bob")
    hidden = describe(bob)  # the members' assignments name a topic bob may not describe
    assert (hidden.error_code, hidden.members) == (ErrorCode.TOPIC_AUTHORIZATION_FAILED, [])  # type: ignore[attr-defined]
    grant(kb, Op.DESCRIBE, ResourceType.TOPIC, name, "User:bob")
    shown = describe(bob)
    assert (shown.error_code, shown.authorized_operations) == (0, operations_bitset(Op.DESCRIBE))  # type: ignore[attr-defined]
    c.close()
    bob.close()


def test_offset_delete_needs_delete_on_the_group_and_read_on_the_topic(kb: EmbeddedBroker) -> None:
    name, group = topic(kb), f"g-{uuid.uuid4().hex[:6]}"
    admin = login(kb, "admin")
    committed = admin.call(OffsetCommitRequest(group_id=group, generation_id_or_member_epoch=-1, member_id="", topics=[
        OffsetCommitRequest.OffsetCommitRequestTopic(name=name, partitions=[
            OffsetCommitRequest.OffsetCommitRequestPartition(partition_index=0, committed_offset=0)])]), 8)
    assert committed.topics[0].partitions[0].error_code == 0
    c = login(kb, "alice")

    def delete() -> tuple[int, list[int]]:
        resp = c.call(OffsetDeleteRequest(group_id=group, topics=[OffsetDeleteRequest.OffsetDeleteRequestTopic(
            name=name, partitions=[OffsetDeleteRequest.OffsetDeleteRequestPartition(partition_index=0)])]), 0)
        return resp.error_code, [p.error_code for t in resp.topics for p in t.partitions]

    assert delete() == (ErrorCode.GROUP_AUTHORIZATION_FAILED, [])
    grant(kb, Op.DELETE, ResourceType.GROUP, group)
    assert delete() == (0, [ErrorCode.TOPIC_AUTHORIZATION_FAILED])
    grant(kb, Op.READ, ResourceType.TOPIC, name)
    assert delete() == (0, [0])
    c.close()
    admin.close()


def test_transaction_admin_apis_show_only_describable_transactional_ids_and_topics(kb: EmbeddedBroker) -> None:
    name, txn_id = topic(kb), f"tx-{uuid.uuid4().hex[:6]}"
    producer = Producer({"bootstrap.servers": kb.bootstrap, "security.protocol": "SASL_PLAINTEXT",
                         "sasl.mechanism": "PLAIN", "sasl.username": "admin", "sasl.password": USERS["admin"],
                         "transactional.id": txn_id})
    producer.init_transactions(15)
    producer.begin_transaction()
    producer.produce(name, b"open")
    producer.flush(15)  # the transaction stays open: ONGOING, with the topic's partition
    c = login(kb, "alice")

    def listed() -> list[str]:
        return [t.transactional_id for t in c.call(ListTransactionsRequest(), 1).transaction_states]

    def described() -> tuple[int, list[str]]:
        [state] = c.call(DescribeTransactionsRequest(transactional_ids=[txn_id]), 0).transaction_states
        return state.error_code, [t.topic for t in state.topics]

    assert listed() == []
    assert described() == (ErrorCode.TRANSACTIONAL_ID_AUTHORIZATION_FAILED, [])
    grant(kb, Op.DESCRIBE, ResourceType.TRANSACTIONAL_ID, txn_id)
    assert listed() == [txn_id]
    assert described() == (0, [])  # topics the principal may not describe are left out
    grant(kb, Op.DESCRIBE, ResourceType.TOPIC, name)
    assert described() == (0, [name])
    producer.abort_transaction(15)
    c.close()


def test_cluster_authorized_operations_are_the_principals(kb: EmbeddedBroker) -> None:
    c = login(kb, "alice")

    def ops() -> tuple[int, int]:
        cluster = c.call(DescribeClusterRequest(include_cluster_authorized_operations=True), 0)
        meta = c.call(MetadataRequest(topics=[], include_cluster_authorized_operations=True,
                                      include_topic_authorized_operations=False), 10)
        return cluster.cluster_authorized_operations, meta.cluster_authorized_operations

    assert ops() == (0, 0)
    grant(kb, Op.IDEMPOTENT_WRITE, ResourceType.CLUSTER, "kafka-cluster")
    assert ops() == (0, 0)  # AuthHelper: no operations at all without DESCRIBE on the cluster
    grant(kb, Op.ALTER, ResourceType.CLUSTER, "kafka-cluster")
    every = operations_bitset(Op.ALTER, Op.DESCRIBE, Op.IDEMPOTENT_WRITE)
    assert ops() == (every, every)
    admin = login(kb, "admin")
    assert admin.call(DescribeClusterRequest(include_cluster_authorized_operations=True), 0)\
        .cluster_authorized_operations == CLUSTER_OPERATIONS
    c.close()
    admin.close()
