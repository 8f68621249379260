"""Kafka protocol vocabulary: the numbers the message schemas leave as bare ints.

The generated schemas (``kafkaish.wire.messages``) say a field is an ``int8`` or an ``int32``; what
its values mean lives in Kafka's Java classes. This module names them once, with Kafka's names,
so nothing above ``wire`` writes a protocol number bare. API keys are generated
(``kafkaish.wire.messages.ApiKey``); error codes are ``kafkaish.wire.errors.ErrorCode``;
compression ids are ``Codec`` (re-exported by ``kafkaish.wire.compression``).

Pure data: no imports beyond the standard library, so any layer may use it cheaply.
"""

from __future__ import annotations

import uuid
from enum import IntEnum

__all__ = [
    "AUTHORIZED_OPERATIONS_OMITTED",
    "CLUSTER_OPERATIONS",
    "GROUP_OPERATIONS",
    "LOG_OVERHEAD",
    "TOPIC_OPERATIONS",
    "ZERO_UUID",
    "AclOperation",
    "AlterConfigOpType",
    "Codec",
    "ConfigResourceType",
    "ConfigSource",
    "CoordinatorType",
    "ElectionType",
    "EndpointType",
    "IsolationLevel",
    "OffsetSpec",
    "TimestampType",
    "operations_bitset",
]

# Uuid.ZERO_UUID: "no topic id" in Metadata, Fetch v13+, CreateTopics and DeleteTopics v6+.
ZERO_UUID = uuid.UUID(int=0)

# Integer.MIN_VALUE in the *AuthorizedOperations fields: "not requested" (KIP-430).
AUTHORIZED_OPERATIONS_OMITTED = -(2**31)

# Records.LOG_OVERHEAD: baseOffset (int64) + batchLength (int32) in front of every batch;
# DefaultRecordBatch.sizeInBytes = LOG_OVERHEAD + batchLength.
LOG_OVERHEAD = 12


class Codec(IntEnum):
    """Kafka's ``CompressionType`` ids (RecordBatch attributes & 7)."""

    NONE = 0
    GZIP = 1
    SNAPPY = 2
    LZ4 = 3
    ZSTD = 4


class TimestampType(IntEnum):
    """RecordBatch attribute bit 3 (``org.apache.kafka.common.record.TimestampType``)."""

    NO_TIMESTAMP_TYPE = -1
    CREATE_TIME = 0
    LOG_APPEND_TIME = 1


class AclOperation(IntEnum):
    """``org.apache.kafka.common.acl.AclOperation`` codes: bit positions of the
    ``*AuthorizedOperations`` bitsets (KIP-430)."""

    UNKNOWN = 0
    ANY = 1
    ALL = 2
    READ = 3
    WRITE = 4
    CREATE = 5
    DELETE = 6
    ALTER = 7
    DESCRIBE = 8
    CLUSTER_ACTION = 9
    DESCRIBE_CONFIGS = 10
    ALTER_CONFIGS = 11
    IDEMPOTENT_WRITE = 12
    CREATE_TOKENS = 13
    DESCRIBE_TOKENS = 14
    TWO_PHASE_COMMIT = 15


def operations_bitset(*ops: AclOperation) -> int:
    """The int32 ``*AuthorizedOperations`` value with one bit per operation."""
    return sum(1 << op for op in set(ops))


_O = AclOperation
# Every operation that applies to the resource type (Kafka's AclEntry.supportedOperations):
# with no authorizer a client is allowed all of them.
TOPIC_OPERATIONS = operations_bitset(_O.READ, _O.WRITE, _O.CREATE, _O.DELETE, _O.ALTER, _O.DESCRIBE,
                                     _O.DESCRIBE_CONFIGS, _O.ALTER_CONFIGS)
CLUSTER_OPERATIONS = operations_bitset(_O.CREATE, _O.ALTER, _O.DESCRIBE, _O.CLUSTER_ACTION, _O.DESCRIBE_CONFIGS,
                                       _O.ALTER_CONFIGS, _O.IDEMPOTENT_WRITE)
GROUP_OPERATIONS = operations_bitset(_O.READ, _O.DELETE, _O.DESCRIBE)
del _O


class IsolationLevel(IntEnum):
    """Fetch v4+ / ListOffsets v2+ ``IsolationLevel`` (``org.apache.kafka.common.IsolationLevel``)."""

    READ_UNCOMMITTED = 0
    READ_COMMITTED = 1


class OffsetSpec(IntEnum):
    """ListOffsets sentinel timestamps (``ListOffsetsRequest.*_TIMESTAMP``)."""

    LATEST = -1
    EARLIEST = -2
    MAX_TIMESTAMP = -3  # v7+, KIP-734
    EARLIEST_LOCAL = -4  # v8+, KIP-405
    LATEST_TIERED = -5  # v9+, KIP-1005


class CoordinatorType(IntEnum):
    """FindCoordinator v1+ ``KeyType`` (``FindCoordinatorRequest.CoordinatorType``)."""

    GROUP = 0
    TRANSACTION = 1
    SHARE = 2


class ConfigResourceType(IntEnum):
    """DescribeConfigs / AlterConfigs ``ResourceType`` (``ConfigResource.Type``)."""

    UNKNOWN = 0
    TOPIC = 2
    BROKER = 4
    BROKER_LOGGER = 8
    CLIENT_METRICS = 16
    GROUP = 32


class AlterConfigOpType(IntEnum):
    """IncrementalAlterConfigs ``ConfigOperation`` (``AlterConfigOp.OpType``, KIP-339)."""

    SET = 0
    DELETE = 1
    APPEND = 2
    SUBTRACT = 3


class ConfigSource(IntEnum):
    """DescribeConfigs v1+ ``ConfigSource`` (KIP-226, ``DescribeConfigsResponse.ConfigSource``)."""

    UNKNOWN = 0
    DYNAMIC_TOPIC_CONFIG = 1
    DYNAMIC_BROKER_CONFIG = 2
    DYNAMIC_DEFAULT_BROKER_CONFIG = 3
    STATIC_BROKER_CONFIG = 4
    DEFAULT_CONFIG = 5
    DYNAMIC_BROKER_LOGGER_CONFIG = 6
    CLIENT_METRICS_CONFIG = 7
    GROUP_CONFIG = 8
    TOPIC_CONFIG = 1  # Kafka's wire-level name for DYNAMIC_TOPIC_CONFIG


class ElectionType(IntEnum):
    """ElectLeaders v1+ ``ElectionType`` (KIP-460)."""

    PREFERRED = 0
    UNCLEAN = 1


class EndpointType(IntEnum):
    """DescribeCluster v1+ ``EndpointType`` (KIP-919)."""

    UNKNOWN = 0
    BROKERS = 1
    CONTROLLERS = 2
