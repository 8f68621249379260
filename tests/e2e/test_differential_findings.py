"""Regression tests for differences the differential run against Apache Kafka found
(compat/FINDINGS.md, "Differential findings"), each named after its finding."""
from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from kafkaish.cli.client import AdminConnection
from kafkaish.testing import EmbeddedBroker
from kafkaish.wire.errors import ErrorCode
from kafkaish.wire.messages.api_versions import ApiVersionsRequest
from kafkaish.wire.messages.create_topics import CreateTopicsRequest
from kafkaish.wire.messages.offset_for_leader_epoch import OffsetForLeaderEpochRequest
from kafkaish.wire.messages.produce import ProduceRequest
from kafkaish.wire.records import build_batch

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def conn(broker: EmbeddedBroker) -> Iterator[AdminConnection]:
    with AdminConnection(broker.bootstrap, 30) as c:
        yield c


@pytest.mark.parametrize("name, version", [("bad name!", "1.0"), ("client", "1.0+local"), ("", "1"),
                                           ("-leading-dash", "1")])
def test_d1_api_versions_v3_refuses_an_invalid_client_software_name(conn: AdminConnection, name: str,
                                                                   version: str) -> None:
    # ApiVersionsRequest.isValid: [a-zA-Z0-9](?:[a-zA-Z0-9\-.]*[a-zA-Z0-9])? for both fields
    resp = conn.call(ApiVersionsRequest(client_software_name=name, client_software_version=version), 3)
    assert resp.error_code == ErrorCode.INVALID_REQUEST
    assert [k.api_key for k in resp.api_keys] == [ApiVersionsRequest.API_KEY]


def test_d1_api_versions_valid_names_and_old_versions_still_answer(conn: AdminConnection) -> None:
    ok = conn.call(ApiVersionsRequest(client_software_name="confluent-kafka-python",
                                      client_software_version="2.16.1-rdkafka-2.16.0"), 3)
    assert ok.error_code == 0 and len(ok.api_keys) > 10
    old = conn.call(ApiVersionsRequest(), 2)  # no software fields before v3
    assert old.error_code == 0 and len(old.api_keys) > 10


def _end_offset(conn: AdminConnection, topic: str, epoch: int) -> tuple[int, int, int]:
    req = OffsetForLeaderEpochRequest(replica_id=-1, topics=[OffsetForLeaderEpochRequest.OffsetForLeaderTopic(
        topic=topic, partitions=[OffsetForLeaderEpochRequest.OffsetForLeaderPartition(
            partition=0, current_leader_epoch=-1, leader_epoch=epoch)])])
    p = conn.call(req, 4).topics[0].partitions[0]
    return p.error_code, p.leader_epoch, p.end_offset


def test_d11_offset_for_leader_epoch_newer_than_the_leaders_is_undefined(conn: AdminConnection,
                                                                         topic_name: str) -> None:
    conn.call(CreateTopicsRequest(timeout_ms=5000, topics=[CreateTopicsRequest.CreatableTopic(
        name=topic_name, num_partitions=1, replication_factor=-1)]), 7)
    batch = build_batch([(b"k", b"a"), (b"k", b"b")], timestamp_ms=int(time.time() * 1000))
    conn.call(ProduceRequest(acks=-1, timeout_ms=5000, topic_data=[ProduceRequest.TopicProduceData(
        name=topic_name, partition_data=[ProduceRequest.PartitionProduceData(index=0, records=batch)])]), 9)
    assert _end_offset(conn, topic_name, 0) == (0, 0, 2)
    # LeaderEpochFileCache.endOffsetFor: no epoch at or above the requested one -> (-1, -1)
    assert _end_offset(conn, topic_name, 5) == (0, -1, -1)
    assert _end_offset(conn, topic_name, -1) == (0, -1, -1)
