"""One module per API or small family; each registers its handlers with ``kafkaish.registry.handler``.

``HANDLERS`` indexes them: api key -> (module, min version, max version). The broker advertises
every API from it in ApiVersions and imports a handler module (with the generated message
modules it uses) when the first request for one of its APIs arrives, so a broker starts without
importing APIs nobody calls. tests/test_handler_index.py checks the index against what the
modules register (it prints the corrected table when they differ).
"""

HANDLERS: dict[int, tuple[str, int, int]] = {
    0: ("produce", 0, 11),  # Produce
    1: ("fetch", 0, 17),  # Fetch
    2: ("list_offsets", 0, 10),  # ListOffsets
    3: ("metadata", 0, 12),  # Metadata
    8: ("offsets", 0, 9),  # OffsetCommit
    9: ("offsets", 0, 9),  # OffsetFetch
    10: ("groups", 0, 6),  # FindCoordinator
    11: ("groups", 0, 9),  # JoinGroup
    12: ("groups", 0, 4),  # Heartbeat
    13: ("groups", 0, 5),  # LeaveGroup
    14: ("groups", 0, 5),  # SyncGroup
    15: ("groups", 0, 5),  # DescribeGroups
    16: ("groups", 0, 5),  # ListGroups
    17: ("sasl", 0, 1),  # SaslHandshake
    18: ("api_versions", 0, 4),  # ApiVersions
    19: ("topics", 0, 7),  # CreateTopics
    20: ("topics", 0, 6),  # DeleteTopics
    21: ("topics", 0, 2),  # DeleteRecords
    22: ("txn", 0, 5),  # InitProducerId
    23: ("offset_for_leader_epoch", 0, 4),  # OffsetForLeaderEpoch
    24: ("txn", 0, 5),  # AddPartitionsToTxn
    25: ("txn", 0, 4),  # AddOffsetsToTxn
    26: ("txn", 0, 4),  # EndTxn
    28: ("txn", 0, 4),  # TxnOffsetCommit
    29: ("acls", 0, 3),  # DescribeAcls
    30: ("acls", 0, 3),  # CreateAcls
    31: ("acls", 0, 3),  # DeleteAcls
    32: ("admin_configs", 0, 4),  # DescribeConfigs
    33: ("admin_configs", 0, 2),  # AlterConfigs
    34: ("replica_log_dirs", 0, 2),  # AlterReplicaLogDirs
    35: ("admin", 0, 4),  # DescribeLogDirs
    36: ("sasl", 0, 2),  # SaslAuthenticate
    37: ("topics", 0, 3),  # CreatePartitions
    42: ("groups", 0, 2),  # DeleteGroups
    43: ("admin", 0, 2),  # ElectLeaders
    44: ("admin_configs", 0, 1),  # IncrementalAlterConfigs
    45: ("admin", 0, 0),  # AlterPartitionReassignments
    46: ("admin", 0, 0),  # ListPartitionReassignments
    47: ("offsets", 0, 0),  # OffsetDelete
    50: ("scram_users", 0, 0),  # DescribeUserScramCredentials
    51: ("scram_users", 0, 0),  # AlterUserScramCredentials
    55: ("describe_quorum", 0, 2),  # DescribeQuorum
    60: ("admin", 0, 1),  # DescribeCluster
    61: ("txn", 0, 0),  # DescribeProducers
    65: ("txn", 0, 0),  # DescribeTransactions
    66: ("txn", 0, 1),  # ListTransactions
    68: ("consumer_group", 0, 1),  # ConsumerGroupHeartbeat
    69: ("consumer_group", 0, 0),  # ConsumerGroupDescribe
    75: ("admin", 0, 0),  # DescribeTopicPartitions
}
