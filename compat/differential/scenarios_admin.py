"""Differential scenarios: topics, configs, cluster, log dirs, leaders, reassignments, ACLs, quorum, SASL."""
from __future__ import annotations

import time

from engine import Ctx
from ops import (ALTER_CONFIGS, ALTER_PARTITION_REASSIGNMENTS, ALTER_REPLICA_LOG_DIRS, BROKER, BROKER_LOGGER,
                 CREATE_ACLS, CREATE_PARTITIONS, CREATE_TOPICS, DELETE_ACLS, DELETE_TOPICS, DESCRIBE_ACLS,
                 DESCRIBE_CLUSTER, DESCRIBE_CONFIGS, DESCRIBE_LOG_DIRS, DESCRIBE_QUORUM, ELECT_LEADERS, GROUP,
                 INCREMENTAL_ALTER_CONFIGS, LIST_PARTITION_REASSIGNMENTS, METADATA, SASL_AUTHENTICATE,
                 SASL_HANDSHAKE, TOPIC, batch, DESCRIBE_USER_SCRAM_CREDENTIALS, ALTER_USER_SCRAM_CREDENTIALS, create_topic, node_id, produce, rq, scenario, topic_id, wait_metadata,
                 wait_ready)


def create(c: Ctx, check: str, name: str, partitions: int = 1, rf: int = 1, configs: dict | None = None,
           validate_only: bool = False, assignments: list | None = None, version: int | None = None, **kw) -> object:
    return c.call(check, rq(CREATE_TOPICS, timeout_ms=30000, validate_only=validate_only, topics=[{
        "name": name, "num_partitions": partitions, "replication_factor": rf, "assignments": assignments or [],
        "configs": [{"name": k, "value": v} for k, v in (configs or {}).items()]}]), version, **kw)


def _no_configs(v):
    """A CreateTopics answer without its (long) list of configs, which has a check of its own."""
    return {"topics": [{k: x for k, x in t.items() if k != "configs"} for t in v["topics"]]}


@scenario(CREATE_TOPICS, DELETE_TOPICS, METADATA)
def topics_create_delete(c: Ctx) -> None:
    t = c.name("t")
    r = create(c, "create", t, 3, keep=_no_configs)
    c.observe("create_configs", {x.name: [x.value, x.read_only, x.config_source, x.is_sensitive]
                                 for x in (r.topics[0].configs or [])} if r is not None else "closed")
    wait_ready(c, t, 3)
    create(c, "create_existing", t, 3)
    create(c, "create_v0", c.name("v0"), 1, version=0)
    create(c, "invalid_name_space", "bad name")
    create(c, "invalid_name_dot", ".")
    create(c, "invalid_name_too_long", "x" * 250)
    create(c, "invalid_name_collides_with_dot", c.name("a.b"))
    wait_ready(c, c.name("a.b"))
    create(c, "name_collides_underscore", c.name("a_b"))
    create(c, "zero_partitions", c.name("zero"), 0)
    create(c, "default_partitions_rf", c.name("defaults"), -1, -1, keep=_no_configs)
    create(c, "rf_2_one_broker", c.name("rf2"), 1, 2)
    create(c, "rf_0", c.name("rf0"), 1, 0)
    create(c, "invalid_config_value", c.name("badcfg"), 1, configs={"retention.ms": "abc"})
    create(c, "unknown_config", c.name("unknowncfg"), 1, configs={"no.such.config": "1"})
    create(c, "null_config_value", c.name("nullcfg"), 1, configs={"retention.ms": None}, keep=_no_configs)
    create(c, "validate_only", c.name("dry"), 2, validate_only=True, keep=_no_configs, finding="D12")
    c.call("validate_only_not_created", rq(METADATA, topics=[{"name": c.name("dry")}],
                                           allow_auto_topic_creation=False))
    create(c, "internal_name", "__cluster_metadata", 1, finding="#18.2")
    create(c, "manual_assignment", c.name("manual"), -1, -1, assignments=[
        {"partition_index": 0, "broker_ids": [node_id(c)]}, {"partition_index": 1, "broker_ids": [node_id(c)]}],
        keep=_no_configs)
    create(c, "assignment_unknown_broker", c.name("manual2"), -1, -1, assignments=[
        {"partition_index": 0, "broker_ids": [99]}], keep=_no_configs)
    create(c, "two_in_one_request_same_name", c.name("dup"), 1, keep=_no_configs)
    tid = topic_id(c, t)
    c.call("delete_by_name", rq(DELETE_TOPICS, topics=[{"name": t, "topic_id": None}], timeout_ms=30000)
           if False else rq(DELETE_TOPICS, topics=[{"name": t}], timeout_ms=30000))
    c.call("delete_again", rq(DELETE_TOPICS, topics=[{"name": t}], timeout_ms=30000))
    c.call("delete_by_unknown_id", rq(DELETE_TOPICS, topics=[{"name": None, "topic_id": tid}], timeout_ms=30000))
    c.call("delete_v5_names", rq(DELETE_TOPICS, topic_names=[c.name("v0"), c.name("missing")], timeout_ms=30000), 5)
    # not sent: DeleteTopics / CreatePartitions of __consumer_offsets, which Kafka without an
    # authorizer carries out (and so breaks every group of the run)
    wait_metadata(c, t, lambda x: x.error_code != 0)
    c.call("metadata_deleted", rq(METADATA, topics=[{"name": t}], allow_auto_topic_creation=False))


@scenario(CREATE_PARTITIONS)
def topics_create_partitions(c: Ctx) -> None:
    t = c.name("t")
    create_topic(c, t, 1)

    def cp(check, count, topic=t, validate_only=False, assignments=None):
        c.call(check, rq(CREATE_PARTITIONS, timeout_ms=30000, validate_only=validate_only, topics=[
            {"name": topic, "count": count, "assignments": assignments}]))
    cp("grow_to_3", 3)
    wait_ready(c, t, 3)
    cp("same_count", 3)
    cp("shrink", 2)
    cp("validate_only_5", 5, validate_only=True)
    cp("unknown_topic", 2, topic=c.name("missing"))
    cp("with_assignment", 4, assignments=[{"broker_ids": [node_id(c)]}])
    cp("assignment_count_mismatch", 6, assignments=[{"broker_ids": [node_id(c)]}])
    cp("assignment_unknown_broker", 5, assignments=[{"broker_ids": [99]}])
    wait_metadata(c, t, lambda x: len(x.partitions) >= 4)
    c.call("metadata_after", rq(METADATA, topics=[{"name": t}], allow_auto_topic_creation=False),
           keep=lambda v: {"partitions": len(v["topics"][0]["partitions"])})


TOPIC_KEYS = ["retention.ms", "segment.ms", "cleanup.policy", "max.message.bytes", "message.timestamp.type",
              "min.insync.replicas", "compression.type", "retention.bytes", "segment.bytes",
              "unclean.leader.election.enable", "message.timestamp.after.max.ms", "delete.retention.ms",
              "min.compaction.lag.ms", "local.retention.ms", "remote.storage.enable"]


def describe(c: Ctx, check: str, rtype: int, name: str, keys: list[str] | None = None, synonyms: bool = True,
             version: int | None = None, docs: bool = False, **kw) -> object:
    return c.call(check, rq(DESCRIBE_CONFIGS, include_synonyms=synonyms, include_documentation=docs, resources=[
        {"resource_type": rtype, "resource_name": name, "configuration_keys": keys}]), version, **kw)


def by_name(v):
    """A DescribeConfigs answer as {config: [value, source, read_only, sensitive, type, synonyms]}."""
    out = {}
    for r in v["results"]:
        out["error_code"] = r["error_code"]
        for x in r["configs"]:
            out[x["name"]] = [x["value"], x["config_source"], x["read_only"], x["is_sensitive"], x["config_type"],
                              [[s["name"], s["value"], s["source"]] for s in x["synonyms"]]]
    return out


# broker configs whose values name this deployment (its ports, its data directory)
DEPLOYMENT_CONFIGS = {"listeners", "advertised.listeners", "log.dirs", "controller.quorum.voters"}


def broker_all(v):
    """Every broker config as by_name shows it, with the values that name the deployment
    (ports, directories) replaced by ``<deployment>``."""
    out = by_name(v)
    for name in DEPLOYMENT_CONFIGS & set(out):
        value, *rest, synonyms = out[name]
        hide = (lambda x: x if x is None else "<deployment>")
        out[name] = [hide(value), *rest, [[n, hide(x) if src != 5 else x, src] for n, x, src in synonyms]]
    return out


def documented(v):
    """Which configs carry a documentation text (the texts are the broker's own and not compared)."""
    return {x["name"]: bool(x["documentation"]) for r in v["results"] for x in r["configs"]}


@scenario(DESCRIBE_CONFIGS)
def configs_describe(c: Ctx) -> None:
    t = c.name("t")
    create_topic(c, t, 1, {"retention.ms": "3600000", "cleanup.policy": "compact,delete"})
    describe(c, "topic_keys", TOPIC, t, TOPIC_KEYS, keep=by_name, finding="#18.5")
    describe(c, "topic_all_names", TOPIC, t, None, keep=lambda v: {x["name"]: True for x in v["results"][0]["configs"]})
    describe(c, "topic_all", TOPIC, t, None, keep=by_name, finding="#18.5")
    describe(c, "topic_v0", TOPIC, t, ["retention.ms", "segment.ms"], version=0)
    describe(c, "topic_no_synonyms", TOPIC, t, ["retention.ms", "segment.ms"], synonyms=False, keep=by_name)
    describe(c, "topic_unknown", TOPIC, c.name("missing"), ["retention.ms"])
    describe(c, "topic_unknown_key", TOPIC, t, ["no.such.config"])
    broker = str(node_id(c))
    describe(c, "broker_keys", BROKER, broker, [
        "log.retention.hours", "log.retention.ms", "num.partitions", "auto.create.topics.enable", "message.max.bytes",
        "log.retention.check.interval.ms", "log.segment.bytes", "offsets.topic.num.partitions",
        "group.initial.rebalance.delay.ms", "group.min.session.timeout.ms", "group.max.session.timeout.ms",
        "transaction.max.timeout.ms", "default.replication.factor", "min.insync.replicas", "log.cleanup.policy",
        "compression.type", "log.message.timestamp.type", "delete.topic.enable", "log.roll.hours",
        "group.consumer.heartbeat.interval.ms", "group.consumer.session.timeout.ms",
        "transactional.id.expiration.ms", "offsets.retention.minutes"], keep=by_name)
    describe(c, "broker_all", BROKER, broker, None, keep=broker_all)
    describe(c, "broker_all_documented", BROKER, broker, None, docs=True, keep=documented)
    describe(c, "broker_other_id", BROKER, "99", ["num.partitions"])
    describe(c, "broker_default_resource", BROKER, "", ["num.partitions"])
    describe(c, "broker_logger", BROKER_LOGGER, broker, ["root"],
             keep=lambda v: {"error_code": v["results"][0]["error_code"],
                             "configs": [[x["name"], x["config_source"]] for x in v["results"][0]["configs"]]})
    describe(c, "group_resource", GROUP, c.name("g"), ["consumer.session.timeout.ms",
                                                       "consumer.heartbeat.interval.ms"], keep=by_name)
    describe(c, "group_all", GROUP, c.name("g"), None, keep=by_name)
    describe(c, "group_all_documented", GROUP, c.name("g"), None, docs=True, keep=documented)
    describe(c, "group_empty_name", GROUP, "", None)
    describe(c, "unknown_resource_type", 99, "x", None)
    c.call("two_resources", rq(DESCRIBE_CONFIGS, include_synonyms=False, resources=[
        {"resource_type": TOPIC, "resource_name": t, "configuration_keys": ["cleanup.policy"]},
        {"resource_type": TOPIC, "resource_name": c.name("missing"), "configuration_keys": ["cleanup.policy"]}]),
        keep=lambda v: [[r["resource_name"], r["error_code"], len(r["configs"])] for r in v["results"]])


def settle(c: Ctx, rtype: int, name: str, expect: dict[str, str | None], timeout: float = 10.0) -> None:
    """Kafka (KRaft) answers an alter once the controller committed it; the broker applies it
    a moment later, so a DescribeConfigs right after may show the old value: wait (bounded)
    until the described values are ``expect``. On a timeout the next check shows the difference."""
    def current() -> dict:
        r = c.call(None, rq(DESCRIBE_CONFIGS, include_synonyms=False, include_documentation=False, resources=[
            {"resource_type": rtype, "resource_name": name, "configuration_keys": list(expect)}]))
        return {} if r is None else {x.name: x.value for x in r.results[0].configs}
    deadline = time.monotonic() + timeout
    while current() != expect and time.monotonic() < deadline:
        time.sleep(0.05)


@scenario(ALTER_CONFIGS, INCREMENTAL_ALTER_CONFIGS, DESCRIBE_CONFIGS)
def configs_alter(c: Ctx) -> None:
    t = c.name("t")
    create_topic(c, t, 1, {"cleanup.policy": "delete"})

    def alter(check, configs, name=t, rtype=TOPIC, validate_only=False, **kw):
        c.call(check, rq(ALTER_CONFIGS, validate_only=validate_only, resources=[
            {"resource_type": rtype, "resource_name": name,
             "configs": [{"name": k, "value": v} for k, v in configs.items()]}]), **kw)

    def incr(check, ops, name=t, rtype=TOPIC, validate_only=False, **kw):
        c.call(check, rq(INCREMENTAL_ALTER_CONFIGS, validate_only=validate_only, resources=[
            {"resource_type": rtype, "resource_name": name,
             "configs": [{"name": k, "config_operation": op, "value": v} for k, op, v in ops]}]), **kw)
    keys = ["retention.ms", "cleanup.policy", "max.message.bytes", "segment.ms"]
    alter("alter_set", {"retention.ms": "1000", "max.message.bytes": "2000"})
    settle(c, TOPIC, t, {"retention.ms": "1000", "max.message.bytes": "2000"})
    describe(c, "after_alter", TOPIC, t, keys, keep=by_name, finding="#18.5")
    alter("alter_replaces_all", {"segment.ms": "100000"})
    settle(c, TOPIC, t, {"segment.ms": "100000", "retention.ms": "604800000"})
    describe(c, "after_alter_replace", TOPIC, t, keys, keep=by_name, finding="#18.5")
    alter("alter_invalid_value", {"retention.ms": "abc"})
    alter("alter_unknown_key", {"no.such.config": "1"})
    alter("alter_validate_only", {"retention.ms": "5000"}, validate_only=True)
    alter("alter_unknown_topic", {"retention.ms": "5000"}, name=c.name("missing"))
    incr("incr_set", [("retention.ms", 0, "7000")])
    incr("incr_append_list", [("cleanup.policy", 2, "compact")])
    settle(c, TOPIC, t, {"cleanup.policy": "delete,compact", "retention.ms": "7000"})
    describe(c, "after_append", TOPIC, t, ["cleanup.policy", "retention.ms"], keep=by_name, finding="#18.5")
    incr("incr_subtract_list", [("cleanup.policy", 3, "delete")])
    incr("incr_delete", [("retention.ms", 1, None)])
    settle(c, TOPIC, t, {"cleanup.policy": "compact", "retention.ms": "604800000"})
    describe(c, "after_delete", TOPIC, t, ["cleanup.policy", "retention.ms"], keep=by_name, finding="#18.5")
    incr("incr_append_non_list", [("retention.ms", 2, "5")])
    # not sent: an unknown config_operation (9), which makes this Kafka's controller fail with a
    # NullPointerException (ConfigurationControlManager.incrementalAlterConfigResource) and renounce
    incr("incr_invalid_value", [("retention.ms", 0, "abc")])
    incr("incr_duplicate_key", [("retention.ms", 0, "1"), ("retention.ms", 0, "2")])
    incr("incr_unknown_topic", [("retention.ms", 0, "1")], name=c.name("missing"))
    broker = str(node_id(c))
    incr("broker_dynamic_set", [("log.cleaner.threads", 0, "2")], rtype=4, name=broker, finding="#18.13")
    incr("broker_read_only", [("log.dirs", 0, "/tmp/x")], rtype=4, name=broker, finding="#18.13")
    incr("broker_unknown_to_kafkaish", [("sasl.kerberos.min.time.before.relogin", 0, "60000")], rtype=4,
         name=broker, finding="#18.13")
    alter("alter_broker_unknown_to_kafkaish", {"sasl.kerberos.min.time.before.relogin": "60000"}, rtype=4,
          name=broker, finding="#18.13")
    incr("broker_not_a_config", [("no.such.broker.config", 0, "1")], rtype=4, name=broker)
    # values Kafka's ConfigDef refuses: the type, a minimum, a topic default's own validator
    for check, (config, value) in {"broker_invalid_number": ("log.cleaner.threads", "abc"),
                                   "broker_below_minimum": ("background.threads", "0"),
                                   "broker_invalid_topic_default": ("compression.type", "bogus"),
                                   "broker_ratio_above_1": ("log.cleaner.min.cleanable.ratio", "2.0"),
                                   "broker_retention_hours_not_a_number": ("log.retention.ms", "x"),
                                   "broker_io_threads_more_than_double": ("num.io.threads", "100"),
                                   "broker_io_threads_less_than_half": ("num.io.threads", "3"),
                                   "broker_io_threads_double": ("num.io.threads", "16"),
                                   "broker_cleaner_threads_more_than_double": ("log.cleaner.threads", "100")}.items():
        incr(check, [(config, 0, value)], rtype=4, name=broker, validate_only=True)
    # security configs: per broker only, key and trust stores only per listener (DynamicBrokerConfig)
    incr("broker_ssl_protocol_at_cluster_level", [("ssl.protocol", 0, "TLSv1.3")], rtype=4, name="",
         validate_only=True)
    incr("broker_sasl_config_at_cluster_level", [("sasl.kerberos.ticket.renew.jitter", 0, "0.05")], rtype=4,
         name="", validate_only=True)
    incr("broker_keystore_without_listener_prefix", [("ssl.keystore.location", 0, "/tmp/ks.jks")], rtype=4,
         name=broker, validate_only=True)
    incr("broker_default_resource", [("log.cleaner.threads", 0, "1")], rtype=4, name="")
    incr("broker_logger_set", [("kafka.server.KafkaApis", 0, "DEBUG")], rtype=8, name=broker)
    g = c.name("g")
    incr("group_config", [("consumer.session.timeout.ms", 0, "50000")], rtype=GROUP, name=g)
    settle(c, GROUP, g, {"consumer.session.timeout.ms": "50000"})
    describe(c, "group_after_set", GROUP, g, ["consumer.session.timeout.ms"], keep=by_name)
    # KIP-848 group configs are validated against the broker's group.consumer/share.min/max bounds
    incr("group_session_above_max", [("consumer.session.timeout.ms", 0, "70000")], rtype=GROUP, name=g)
    incr("group_session_below_min", [("consumer.session.timeout.ms", 0, "1000")], rtype=GROUP, name=g)
    incr("group_heartbeat_above_max", [("consumer.heartbeat.interval.ms", 0, "20000")], rtype=GROUP, name=g)
    incr("group_lock_duration_below_1000", [("share.record.lock.duration.ms", 0, "500")], rtype=GROUP, name=g)
    incr("group_share_session_set", [("share.session.timeout.ms", 0, "50000")], rtype=GROUP, name=g)
    incr("group_not_a_number", [("consumer.session.timeout.ms", 0, "abc")], rtype=GROUP, name=g)
    incr("group_unknown_config", [("no.such.group.config", 0, "1")], rtype=GROUP, name=g)
    incr("group_append", [("consumer.session.timeout.ms", 2, "1")], rtype=GROUP, name=g)
    incr("group_default_resource", [("consumer.session.timeout.ms", 0, "50000")], rtype=GROUP, name="")
    alter("group_alter_configs", {"consumer.session.timeout.ms": "55000"}, rtype=GROUP, name=g)
    incr("group_delete", [("consumer.session.timeout.ms", 1, None)], rtype=GROUP, name=g)
    settle(c, GROUP, g, {"consumer.session.timeout.ms": "45000", "share.session.timeout.ms": "50000"})
    describe(c, "group_after_delete", GROUP, g, None, keep=by_name)


@scenario(DESCRIBE_CLUSTER, METADATA)
def cluster(c: Ctx) -> None:
    c.call("describe_cluster", rq(DESCRIBE_CLUSTER, include_cluster_authorized_operations=False))
    c.call("describe_cluster_ops", rq(DESCRIBE_CLUSTER, include_cluster_authorized_operations=True),
           keep=lambda v: {"ops": v["cluster_authorized_operations"]})
    c.call("describe_cluster_v0", rq(DESCRIBE_CLUSTER), 0)
    c.call("describe_cluster_controller_endpoints", rq(DESCRIBE_CLUSTER, endpoint_type=2), finding="D16")
    c.call("describe_cluster_bad_endpoint_type", rq(DESCRIBE_CLUSTER, endpoint_type=7), finding="D16")


@scenario(DESCRIBE_LOG_DIRS, ALTER_REPLICA_LOG_DIRS)
def log_dirs(c: Ctx) -> None:
    t = c.name("t")
    create_topic(c, t, 2)
    produce(c, "produce", t, batch(c, ["a" * 100, "b" * 100]))
    c.call("describe_topic", rq(DESCRIBE_LOG_DIRS, topics=[{"topic": t, "partitions": [0, 1]}]),
           keep=lambda v: {"error_code": v["error_code"], "dirs": len(v["results"]),
                           "topics": [r["topics"] for r in v["results"]],
                           "space_known": [r["total_bytes"] > 0 for r in v["results"]]})
    c.call("describe_unknown_topic", rq(DESCRIBE_LOG_DIRS, topics=[{"topic": c.name("missing"), "partitions": [0]}]),
           keep=lambda v: {"error_code": v["error_code"], "topics": [r["topics"] for r in v["results"]]})
    c.call("describe_all", rq(DESCRIBE_LOG_DIRS, topics=None),
           keep=lambda v: {"error_code": v["error_code"], "ours": [
               p for r in v["results"] for x in r["topics"] if x["name"] == t for p in x["partitions"]]})
    r = c.call(None, rq(DESCRIBE_LOG_DIRS, topics=[{"topic": t, "partitions": [0]}]))
    log_dir = r.results[0].log_dir if r is not None and r.results else "/nowhere"
    # #18.8: on a single-directory broker, a move to the current directory is NONE, any other LOG_DIR_NOT_FOUND
    c.call("alter_replica_log_dirs_same_dir", rq(ALTER_REPLICA_LOG_DIRS, dirs=[
        {"path": log_dir, "topics": [{"name": t, "partitions": [0]}]}]), conn="ard1", finding="#18.8")
    c.call("alter_replica_log_dirs_other_dir", rq(ALTER_REPLICA_LOG_DIRS, dirs=[
        {"path": "/no/such/dir", "topics": [{"name": t, "partitions": [0]}]}]), conn="ard2", finding="#18.8")


@scenario(ELECT_LEADERS, ALTER_PARTITION_REASSIGNMENTS, LIST_PARTITION_REASSIGNMENTS)
def leaders_and_reassignments(c: Ctx) -> None:
    t = c.name("t")
    create_topic(c, t, 2)

    def elect(check, etype, parts, version=None):
        c.call(check, rq(ELECT_LEADERS, election_type=etype, timeout_ms=10000, topic_partitions=parts), version)
    elect("preferred", 0, [{"topic": t, "partitions": [0, 1]}])
    elect("unclean", 1, [{"topic": t, "partitions": [0]}])
    elect("unknown_topic", 0, [{"topic": c.name("missing"), "partitions": [0]}])
    elect("unknown_partition", 0, [{"topic": t, "partitions": [5]}])
    c.call("all_partitions", rq(ELECT_LEADERS, election_type=0, timeout_ms=10000, topic_partitions=None),
           keep=lambda v: {"error_code": v["error_code"], "ours": [
               r for r in v["replica_election_results"] if r["topic"] == t]}, finding="D17")
    elect("v0", 0, [{"topic": t, "partitions": [0]}], version=0)
    n = node_id(c)

    def reassign(check, parts, topic=t):
        c.call(check, rq(ALTER_PARTITION_REASSIGNMENTS, timeout_ms=10000, topics=[{"name": topic, "partitions": parts}]))
    reassign("same_replicas", [{"partition_index": 0, "replicas": [n]}])
    reassign("cancel_none_in_progress", [{"partition_index": 0, "replicas": None}])
    reassign("unknown_broker", [{"partition_index": 0, "replicas": [99]}])
    reassign("empty_replicas", [{"partition_index": 0, "replicas": []}])
    reassign("reassign_unknown_topic", [{"partition_index": 0, "replicas": [n]}], topic=c.name("missing"))
    reassign("reassign_unknown_partition", [{"partition_index": 7, "replicas": [n]}])
    c.call("list_topic", rq(LIST_PARTITION_REASSIGNMENTS, timeout_ms=10000, topics=[
        {"name": t, "partition_indexes": [0, 1]}]))
    c.call("list_all", rq(LIST_PARTITION_REASSIGNMENTS, timeout_ms=10000, topics=None))
    c.call("list_unknown_topic", rq(LIST_PARTITION_REASSIGNMENTS, timeout_ms=10000, topics=[
        {"name": c.name("missing"), "partition_indexes": [0]}]))


@scenario(DESCRIBE_ACLS, CREATE_ACLS, DELETE_ACLS)
def acls_without_authorizer(c: Ctx) -> None:
    """#18.6: without an authorizer Kafka advertises the ACL APIs and answers SECURITY_DISABLED."""
    c.call("describe_acls", rq(DESCRIBE_ACLS, resource_type_filter=1, resource_name_filter=None,
                               pattern_type_filter=1, principal_filter=None, host_filter=None, operation=1,
                               permission_type=1), conn="a", finding="#18.6")
    c.call("create_acls", rq(CREATE_ACLS, creations=[
        {"resource_type": 2, "resource_name": "t", "resource_pattern_type": 3, "principal": "User:alice",
         "host": "*", "operation": 3, "permission_type": 3}]), conn="b", finding="#18.6")
    c.call("delete_acls", rq(DELETE_ACLS, filters=[
        {"resource_type_filter": 1, "resource_name_filter": None, "pattern_type_filter": 1, "principal_filter": None,
         "host_filter": None, "operation": 1, "permission_type": 1}]), conn="c", finding="#18.6")


@scenario(DESCRIBE_USER_SCRAM_CREDENTIALS, ALTER_USER_SCRAM_CREDENTIALS)
def scram_credentials(c: Ctx) -> None:
    """KIP-554 on a single broker: unknown users, bad iterations, upsert, describe, delete."""
    user = c.name("u")
    c.call("describe_unknown", rq(DESCRIBE_USER_SCRAM_CREDENTIALS, users=[{"name": user}]))
    c.call("delete_unknown", rq(ALTER_USER_SCRAM_CREDENTIALS, deletions=[{"name": user, "mechanism": 1}],
                                upsertions=[]))
    c.call("too_few_iterations", rq(ALTER_USER_SCRAM_CREDENTIALS, deletions=[], upsertions=[
        {"name": user, "mechanism": 2, "iterations": 100, "salt": b"salt", "salted_password": b"x" * 64}]))
    c.call("upsert", rq(ALTER_USER_SCRAM_CREDENTIALS, deletions=[], upsertions=[
        {"name": user, "mechanism": 1, "iterations": 8192, "salt": b"salt", "salted_password": b"x" * 32}]))
    # Kafka applies it through the metadata log: wait (bounded) until the user is described
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and (r := c.call(None, rq(DESCRIBE_USER_SCRAM_CREDENTIALS, users=[
            {"name": user}]))) is not None and r.results[0].error_code != 0:
        time.sleep(0.05)
    c.call("describe", rq(DESCRIBE_USER_SCRAM_CREDENTIALS, users=[{"name": user}]))
    c.call("delete", rq(ALTER_USER_SCRAM_CREDENTIALS, deletions=[{"name": user, "mechanism": 1}], upsertions=[]))


@scenario(DESCRIBE_QUORUM)
def describe_quorum(c: Ctx) -> None:
    """#18.9: a single KRaft node answers with itself as leader and only voter."""
    c.call("describe_quorum", rq(DESCRIBE_QUORUM, topics=[{"topic_name": "__cluster_metadata", "partitions": [
        {"partition_index": 0}]}]), conn="q", finding="#18.9",
        keep=lambda v: {"error_code": v["error_code"], "topics": [
            {"name": x["topic_name"], "partitions": [
                {"error_code": p["error_code"], "leader": p["leader_id"], "voters": len(p["current_voters"]),
                 "observers": len(p["observers"])} for p in x["partitions"]]} for x in v["topics"]]})


@scenario(SASL_HANDSHAKE, SASL_AUTHENTICATE)
def sasl_on_plaintext(c: Ctx) -> None:
    c.call("handshake_plain", rq(SASL_HANDSHAKE, mechanism="PLAIN"), conn="a")
    c.call("handshake_v0", rq(SASL_HANDSHAKE, mechanism="PLAIN"), 0, conn="b")
    c.call("handshake_unknown_mechanism", rq(SASL_HANDSHAKE, mechanism="NOPE"), conn="c")
    c.call("authenticate_without_handshake", rq(SASL_AUTHENTICATE, auth_bytes=b"\x00u\x00p"), conn="d")
