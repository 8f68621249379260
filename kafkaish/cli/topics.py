"""``kafkaish topics list|describe|create|delete|alter-config``: a small Kafka admin client.

It speaks the Kafka protocol (``kafkaish.cli.client``), so it works against any Kafka broker.
Admin requests go to the bootstrap broker; on a multi-broker Kafka that is enough for these
APIs since Kafka 2.8 forwards them to the controller (KIP-590).

Output is an aligned table, or JSON with ``--json``. Errors print "Error: NAME: message" on
stderr and exit with status 1.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import click

from kafkaish.cli.client import CliError, Connection, error_text
from kafkaish.cli.options import cluster_from, connection_options, json_option, print_json, print_table, warn
from kafkaish.admin.topic_names import collision_warning
from kafkaish.wire.constants import AlterConfigOpType, ConfigResourceType, ConfigSource
from kafkaish.wire.errors import ErrorCode
from kafkaish.wire.messages.alter_configs import AlterConfigsRequest
from kafkaish.wire.messages.create_topics import CreateTopicsRequest
from kafkaish.wire.messages.delete_topics import DeleteTopicsRequest
from kafkaish.wire.messages.describe_configs import DescribeConfigsRequest
from kafkaish.wire.messages.incremental_alter_configs import IncrementalAlterConfigsRequest

# --------------------------------------------------------------------------- requests


def describe_topic_configs(conn: Connection, topics: Sequence[str]) -> dict[str, list[dict[str, Any]]]:
    version = conn.version(DescribeConfigsRequest)
    resources = [DescribeConfigsRequest.DescribeConfigsResource(resource_type=ConfigResourceType.TOPIC, resource_name=t,
                                                                configuration_keys=None) for t in topics]
    response = conn.call(DescribeConfigsRequest(resources=resources, include_synonyms=False), version)
    out: dict[str, list[dict[str, Any]]] = {}
    for result in response.results:
        if result.error_code:
            raise CliError(f"describe configs of {result.resource_name}: "
                           + error_text(result.error_code, result.error_message))
        out[result.resource_name] = [
            {"name": c.name, "value": c.value, "source": _source(c, version), "sensitive": c.is_sensitive,
             "read_only": c.read_only}
            for c in result.configs
        ]
    return out


def _source(config: Any, version: int) -> str:
    if version == 0:
        return "DEFAULT_CONFIG" if config.is_default else "UNKNOWN"  # Kafka leaves v0's IsDefault false
    try:
        return ConfigSource(config.config_source).name
    except ValueError:
        return str(config.config_source)


def _topic_rows(metadata: Any, include_internal: bool) -> list[dict[str, Any]]:
    rows = []
    for t in metadata.topics:
        if t.error_code:
            raise CliError(f"topic {t.name}: " + error_text(t.error_code))
        if t.is_internal and not include_internal:
            continue
        partitions = sorted(t.partitions, key=lambda p: p.partition_index)
        rows.append({
            "name": t.name,
            "internal": bool(t.is_internal),
            "topic_id": str(getattr(t, "topic_id", "")),
            "partitions": [
                {"partition": p.partition_index, "leader": p.leader_id, "replicas": list(p.replica_nodes),
                 "isr": list(p.isr_nodes)}
                for p in partitions
            ],
            "replication_factor": len(partitions[0].replica_nodes) if partitions else 0,
        })
    return sorted(rows, key=lambda r: r["name"])


def _parse_pairs(pairs: Sequence[str]) -> dict[str, str]:
    out = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            raise CliError(f"bad config {pair!r}: expected name=value")
        out[name.strip()] = value
    return out


# --------------------------------------------------------------------------- commands


@click.group()
def topics() -> None:
    """List, describe, create, delete topics and change their configs."""


@topics.command("list")
@click.option("--include-internal", is_flag=True, help="Also list internal topics (__consumer_offsets, ...).")
@json_option
@connection_options
def list_(include_internal: bool, as_json: bool, **conn: Any) -> None:
    """List topics with their partition counts (--json: the names)."""
    with cluster_from(conn) as cluster:
        rows = _topic_rows(cluster.metadata(None), include_internal)
    if as_json:
        print_json([r["name"] for r in rows])
    else:
        print_table(["TOPIC", "PARTITIONS", "REPLICAS", "INTERNAL"],
                    [(r["name"], len(r["partitions"]), r["replication_factor"], "yes" if r["internal"] else "")
                     for r in rows])


@topics.command()
@click.argument("names", nargs=-1, metavar="[TOPIC]...")
@click.option("--all-configs", is_flag=True, help="Show every config, not only overrides.")
@click.option("--include-internal", is_flag=True, help="Also describe internal topics when none is named.")
@json_option
@connection_options
def describe(names: tuple[str, ...], all_configs: bool, include_internal: bool, as_json: bool, **conn: Any) -> None:
    """Partitions, leaders and config overrides of topics (all if none named)."""
    with cluster_from(conn) as cluster:
        rows = _topic_rows(cluster.metadata(list(names) or None), include_internal or bool(names))
        configs = describe_topic_configs(cluster.boot, [r["name"] for r in rows]) if rows else {}
    for row in rows:
        row["configs"] = {c["name"]: c["value"] for c in configs.get(row["name"], [])
                          if all_configs or c["source"] == "DYNAMIC_TOPIC_CONFIG"}
    if as_json:
        print_json(rows)
        return
    for i, r in enumerate(rows):
        if i:
            click.echo()
        config_text = ",".join(f"{k}={v}" for k, v in sorted(r["configs"].items())) or "-"
        click.echo(f"Topic: {r['name']}  TopicId: {r['topic_id']}  PartitionCount: {len(r['partitions'])}  "
                   f"ReplicationFactor: {r['replication_factor']}  Configs: {config_text}")
        print_table(["PARTITION", "LEADER", "REPLICAS", "ISR"],
                    [(p["partition"], p["leader"], ",".join(map(str, p["replicas"])), ",".join(map(str, p["isr"])))
                     for p in r["partitions"]])


@topics.command()
@click.argument("topic")
@click.option("--partitions", type=int, default=-1, help="Partition count (default: the broker's num.partitions).")
@click.option("--replication-factor", type=int, default=-1, help="Replicas (default: the broker's).")
@click.option("--config", "config", multiple=True, metavar="NAME=VALUE", help="A topic config (repeatable).")
@click.option("--validate-only", is_flag=True, help="Check the request, create nothing.")
@click.option("--if-not-exists", is_flag=True, help="Succeed if the topic already exists.")
@json_option
@connection_options
def create(topic: str, partitions: int, replication_factor: int, config: tuple[str, ...], validate_only: bool,
           if_not_exists: bool, as_json: bool, **conn: Any) -> None:
    """Create a topic."""
    configs = _parse_pairs(config)
    creatable = CreateTopicsRequest.CreatableTopic(
        name=topic, num_partitions=partitions, replication_factor=replication_factor, assignments=[],
        configs=[CreateTopicsRequest.CreatableTopicConfig(name=k, value=v) for k, v in configs.items()])
    with cluster_from(conn) as cluster:
        response = cluster.boot.call(CreateTopicsRequest(topics=[creatable], timeout_ms=30000,
                                                         validate_only=validate_only))
        (result,) = response.topics
        if result.error_code == ErrorCode.NONE and not validate_only:
            # "created" means usable: Kafka answers CreateTopics before its brokers' metadata shows
            # the topic, and a script's next command (produce, import) would find it unknown
            try:
                cluster.topic(topic, created=True)
            except CliError as e:
                warn(f"created, but not visible yet: {e}")
    if result.error_code == ErrorCode.TOPIC_ALREADY_EXISTS and if_not_exists:
        print_json({"topic": topic, "created": False}) if as_json else click.echo(f"Topic {topic} already exists.")
        return
    if result.error_code:
        raise CliError(error_text(result.error_code, getattr(result, "error_message", None)))
    warning = collision_warning(topic)
    if warning and not as_json:
        warn(warning)
    if as_json:
        print_json({"topic": topic, "created": not validate_only, "validated": True,
                    "num_partitions": getattr(result, "num_partitions", -1)})
    else:
        click.echo(f"Topic {topic} {'validated' if validate_only else 'created'}.")


@topics.command()
@click.argument("names", nargs=-1, required=True, metavar="TOPIC...")
@click.option("--if-exists", is_flag=True, help="Succeed for topics that do not exist.")
@json_option
@connection_options
def delete(names: tuple[str, ...], if_exists: bool, as_json: bool, **conn: Any) -> None:
    """Delete topics."""
    with cluster_from(conn) as cluster:
        version = cluster.boot.version(DeleteTopicsRequest)
        if version >= 6:
            request = DeleteTopicsRequest(topics=[DeleteTopicsRequest.DeleteTopicState(name=t) for t in names],
                                          timeout_ms=30000)
        else:
            request = DeleteTopicsRequest(topic_names=list(names), timeout_ms=30000)
        response = cluster.boot.call(request, version)
    failures, deleted, missing = [], [], []
    for r in response.responses:
        if r.error_code == ErrorCode.UNKNOWN_TOPIC_OR_PARTITION and if_exists:
            missing.append(r.name)
        elif r.error_code:
            failures.append(f"{r.name}: " + error_text(r.error_code, getattr(r, "error_message", None)))
        else:
            deleted.append(r.name)
    if failures:
        raise CliError("; ".join(failures))
    if as_json:
        print_json({"deleted": deleted, "missing": missing})
        return
    for t in deleted:
        click.echo(f"Topic {t} deleted.")
    for t in missing:
        click.echo(f"Topic {t} does not exist.")


def _alter_incremental(conn: Connection, topic: str, sets: dict[str, str], deletes: list[str],
                       validate_only: bool) -> Any:
    configs = [IncrementalAlterConfigsRequest.AlterableConfig(name=k, config_operation=AlterConfigOpType.SET, value=v)
               for k, v in sets.items()]
    configs += [IncrementalAlterConfigsRequest.AlterableConfig(name=k, config_operation=AlterConfigOpType.DELETE, value=None)
                for k in deletes]
    resource = IncrementalAlterConfigsRequest.AlterConfigsResource(
        resource_type=ConfigResourceType.TOPIC, resource_name=topic, configs=configs)
    return conn.call(IncrementalAlterConfigsRequest(resources=[resource], validate_only=validate_only))


def _alter_full(conn: Connection, topic: str, sets: dict[str, str], deletes: list[str],
                validate_only: bool) -> Any:
    # Old brokers: read the current overrides, change them, write the full set back.
    current = {c["name"]: c["value"] for c in describe_topic_configs(conn, [topic])[topic]
               if c["source"] == "DYNAMIC_TOPIC_CONFIG"}
    current.update(sets)
    for name in deletes:
        current.pop(name, None)
    resource = AlterConfigsRequest.AlterConfigsResource(
        resource_type=ConfigResourceType.TOPIC, resource_name=topic,
        configs=[AlterConfigsRequest.AlterableConfig(name=k, value=v) for k, v in current.items()])
    return conn.call(AlterConfigsRequest(resources=[resource], validate_only=validate_only))


@topics.command("alter-config")
@click.argument("topic")
@click.option("--set", "sets", multiple=True, metavar="NAME=VALUE", help="Set a config (repeatable).")
@click.option("--delete", "deletes", multiple=True, metavar="NAME", help="Remove an override (repeatable).")
@click.option("--validate-only", is_flag=True, help="Check the change, apply nothing.")
@json_option
@connection_options
def alter_config(topic: str, sets: tuple[str, ...], deletes: tuple[str, ...], validate_only: bool, as_json: bool,
                 **conn: Any) -> None:
    """Set or delete config overrides of a topic."""
    pairs = _parse_pairs(sets)
    if not pairs and not deletes:
        raise CliError("nothing to change: give --set name=value and/or --delete name")
    with cluster_from(conn) as cluster:
        alter = _alter_incremental if cluster.boot.supports(IncrementalAlterConfigsRequest) else _alter_full
        response = alter(cluster.boot, topic, pairs, list(deletes), validate_only)
    (result,) = response.responses
    if result.error_code:
        raise CliError(error_text(result.error_code, result.error_message))
    if as_json:
        print_json({"topic": topic, "set": pairs, "deleted": list(deletes), "validate_only": validate_only})
    else:
        click.echo(f"Configs of topic {topic} {'validated' if validate_only else 'updated'}.")
