"""``kafkaish topics list|describe|create|delete|alter-config``: a small Kafka admin client.

It speaks the Kafka protocol through ``kafkaish.wire.codec.ClientCodec`` over one blocking
socket, so it works against any Kafka broker, not only kafkaish. ApiVersions comes first; every
later request uses the highest version both sides support (as librdkafka and kafka-python do).
Admin requests go to the bootstrap broker; on a multi-broker Kafka that is enough for these
APIs since Kafka 2.8 forwards them to the controller (KIP-590).

Output is a readable table, or JSON with ``--json``. Errors print "Error: NAME: message" on
stderr and exit with status 1.
"""

from __future__ import annotations

import argparse
import json
import socket
import sys
from collections.abc import Callable, Sequence
from typing import Any

from kafkaish.topic_names import collision_warning
from kafkaish.wire.codec import ClientCodec
from kafkaish.wire.errors import ErrorCode
from kafkaish.wire.messages.alter_configs import AlterConfigsRequest
from kafkaish.wire.messages.api_versions import ApiVersionsRequest
from kafkaish.wire.messages.create_topics import CreateTopicsRequest
from kafkaish.wire.messages.delete_topics import DeleteTopicsRequest
from kafkaish.wire.messages.describe_configs import DescribeConfigsRequest
from kafkaish.wire.messages.incremental_alter_configs import IncrementalAlterConfigsRequest
from kafkaish.wire.messages.metadata import MetadataRequest
from kafkaish.wire.protocol import Message

TOPIC_RESOURCE = 2
SOURCE_NAMES = {1: "DYNAMIC_TOPIC_CONFIG", 2: "DYNAMIC_BROKER_CONFIG", 3: "DYNAMIC_DEFAULT_BROKER_CONFIG",
                4: "STATIC_BROKER_CONFIG", 5: "DEFAULT_CONFIG"}
OP_SET, OP_DELETE = 0, 1


class CliError(Exception):
    """A failure to report to the user (exit status 1)."""


def _error_text(code: int, message: str | None) -> str:
    try:
        name = ErrorCode(code).name
    except ValueError:
        name = f"error {code}"
    return f"{name}: {message}" if message else name


class AdminConnection:
    """One blocking connection to a Kafka broker, with negotiated API versions."""

    def __init__(self, bootstrap: str, timeout: float) -> None:
        host, _, port = bootstrap.rpartition(":")
        if not host or not port.isdigit():
            raise CliError(f"bad --bootstrap-server {bootstrap!r}: expected host:port")
        try:
            self.sock = socket.create_connection((host.strip("[]"), int(port)), timeout=timeout)
        except OSError as e:
            raise CliError(f"cannot connect to {bootstrap}: {e}") from None
        self.codec = ClientCodec(client_id="kafkaish-cli")
        self.versions = self._api_versions()

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> AdminConnection:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def call(self, request: Message, version: int) -> Any:
        correlation_id, data = self.codec.encode_request(request, version)
        try:
            self.sock.sendall(data)
            while True:
                got = self.codec.next_response()
                if got is not None:
                    assert got[0] == correlation_id
                    return got[1]
                chunk = self.sock.recv(65536)
                if not chunk:
                    raise CliError("the broker closed the connection")
                self.codec.receive_data(chunk)
        except OSError as e:
            raise CliError(f"connection failed: {e}") from None

    def _api_versions(self) -> dict[int, tuple[int, int]]:
        # v3 first (flexible); a broker that cannot read it answers error 35 with a v0 body.
        response = self.call(ApiVersionsRequest(client_software_name="kafkaish-cli",
                                                client_software_version="1"), 3)
        if response.error_code == ErrorCode.UNSUPPORTED_VERSION:
            response = self.call(ApiVersionsRequest(), 0)
        if response.error_code:
            raise CliError("ApiVersions failed: " + _error_text(response.error_code, None))
        return {k.api_key: (k.min_version, k.max_version) for k in response.api_keys}

    def version(self, cls: type[Message], lowest: int = 0) -> int:
        """Highest version of ``cls`` both sides speak (at least ``lowest``)."""
        if cls.API_KEY not in self.versions:
            raise CliError(f"the broker does not support {cls.__name__[:-7]}")
        broker_min, broker_max = self.versions[cls.API_KEY]
        chosen = min(broker_max, cls.MAX_VERSION)
        if chosen < max(broker_min, cls.MIN_VERSION, lowest):
            raise CliError(f"no common version of {cls.__name__[:-7]} with the broker")
        return chosen

    def supports(self, cls: type[Message]) -> bool:
        return cls.API_KEY in self.versions


# --------------------------------------------------------------------------- requests


def fetch_metadata(conn: AdminConnection, topics: Sequence[str] | None) -> Any:
    version = conn.version(MetadataRequest, lowest=1)
    wanted = None if topics is None else [MetadataRequest.MetadataRequestTopic(name=t) for t in topics]
    return conn.call(MetadataRequest(topics=wanted, allow_auto_topic_creation=False), version)


def describe_topic_configs(conn: AdminConnection, topics: Sequence[str]) -> dict[str, list[dict[str, Any]]]:
    version = conn.version(DescribeConfigsRequest)
    resources = [DescribeConfigsRequest.DescribeConfigsResource(resource_type=TOPIC_RESOURCE, resource_name=t,
                                                                configuration_keys=None) for t in topics]
    response = conn.call(DescribeConfigsRequest(resources=resources, include_synonyms=False), version)
    out: dict[str, list[dict[str, Any]]] = {}
    for result in response.results:
        if result.error_code:
            raise CliError(f"describe configs of {result.resource_name}: "
                           + _error_text(result.error_code, result.error_message))
        out[result.resource_name] = [
            {"name": c.name, "value": c.value, "source": _source(c, version), "sensitive": c.is_sensitive,
             "read_only": c.read_only}
            for c in result.configs
        ]
    return out


def _source(config: Any, version: int) -> str:
    if version == 0:
        return "DEFAULT_CONFIG" if config.is_default else "DYNAMIC_TOPIC_CONFIG"
    return SOURCE_NAMES.get(config.config_source, str(config.config_source))


def _topic_rows(metadata: Any, include_internal: bool) -> list[dict[str, Any]]:
    rows = []
    for t in metadata.topics:
        if t.error_code:
            raise CliError(f"topic {t.name}: " + _error_text(t.error_code, None))
        if t.is_internal and not include_internal:
            continue
        partitions = sorted(t.partitions, key=lambda p: p.partition_index)
        rows.append({
            "name": t.name,
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


def cmd_list(conn: AdminConnection, args: argparse.Namespace) -> Any:
    rows = _topic_rows(fetch_metadata(conn, None), args.include_internal)
    if args.json:
        return [r["name"] for r in rows]
    return "\n".join(r["name"] for r in rows)


def cmd_describe(conn: AdminConnection, args: argparse.Namespace) -> Any:
    rows = _topic_rows(fetch_metadata(conn, args.topics or None), True)
    configs = describe_topic_configs(conn, [r["name"] for r in rows]) if rows else {}
    for row in rows:
        entries = configs.get(row["name"], [])
        row["configs"] = {c["name"]: c["value"] for c in entries
                          if args.all_configs or c["source"] == "DYNAMIC_TOPIC_CONFIG"}
    if args.json:
        return rows
    lines = []
    for r in rows:
        config_text = ",".join(f"{k}={v}" for k, v in sorted(r["configs"].items()))
        lines.append(f"Topic: {r['name']}\tTopicId: {r['topic_id']}\tPartitionCount: {len(r['partitions'])}\t"
                     f"ReplicationFactor: {r['replication_factor']}\tConfigs: {config_text}")
        for p in r["partitions"]:
            lines.append(f"\tTopic: {r['name']}\tPartition: {p['partition']}\tLeader: {p['leader']}\t"
                         f"Replicas: {','.join(map(str, p['replicas']))}\tIsr: {','.join(map(str, p['isr']))}")
    return "\n".join(lines)


def cmd_create(conn: AdminConnection, args: argparse.Namespace) -> Any:
    configs = _parse_pairs(args.config)
    topic = CreateTopicsRequest.CreatableTopic(
        name=args.topic, num_partitions=args.partitions, replication_factor=args.replication_factor,
        assignments=[], configs=[CreateTopicsRequest.CreatableTopicConfig(name=k, value=v) for k, v in configs.items()])
    version = conn.version(CreateTopicsRequest)
    response = conn.call(CreateTopicsRequest(topics=[topic], timeout_ms=30000, validate_only=args.validate_only), version)
    (result,) = response.topics
    if result.error_code == ErrorCode.TOPIC_ALREADY_EXISTS and args.if_not_exists:
        return {"topic": args.topic, "created": False} if args.json else f"Topic {args.topic} already exists."
    if result.error_code:
        raise CliError(_error_text(result.error_code, getattr(result, "error_message", None)))
    warning = collision_warning(args.topic)
    if warning and not args.json:
        print(warning, file=sys.stderr)
    verb = "validated" if args.validate_only else "created"
    if args.json:
        return {"topic": args.topic, "created": not args.validate_only, "validated": True,
                "num_partitions": getattr(result, "num_partitions", -1)}
    return f"Topic {args.topic} {verb}."


def cmd_delete(conn: AdminConnection, args: argparse.Namespace) -> Any:
    version = conn.version(DeleteTopicsRequest)
    if version >= 6:
        request = DeleteTopicsRequest(topics=[DeleteTopicsRequest.DeleteTopicState(name=t) for t in args.topics],
                                      timeout_ms=30000)
    else:
        request = DeleteTopicsRequest(topic_names=list(args.topics), timeout_ms=30000)
    response = conn.call(request, version)
    failures, deleted, missing = [], [], []
    for r in response.responses:
        if r.error_code == ErrorCode.UNKNOWN_TOPIC_OR_PARTITION and args.if_exists:
            missing.append(r.name)
        elif r.error_code:
            failures.append(f"{r.name}: " + _error_text(r.error_code, getattr(r, "error_message", None)))
        else:
            deleted.append(r.name)
    if failures:
        raise CliError("; ".join(failures))
    if args.json:
        return {"deleted": deleted, "missing": missing}
    return "\n".join([f"Topic {t} deleted." for t in deleted] + [f"Topic {t} does not exist." for t in missing])


def _alter_incremental(conn: AdminConnection, topic: str, sets: dict[str, str], deletes: list[str],
                       validate_only: bool) -> Any:
    configs = [IncrementalAlterConfigsRequest.AlterableConfig(name=k, config_operation=OP_SET, value=v)
               for k, v in sets.items()]
    configs += [IncrementalAlterConfigsRequest.AlterableConfig(name=k, config_operation=OP_DELETE, value=None)
                for k in deletes]
    resource = IncrementalAlterConfigsRequest.AlterConfigsResource(
        resource_type=TOPIC_RESOURCE, resource_name=topic, configs=configs)
    request = IncrementalAlterConfigsRequest(resources=[resource], validate_only=validate_only)
    return conn.call(request, conn.version(IncrementalAlterConfigsRequest))


def _alter_full(conn: AdminConnection, topic: str, sets: dict[str, str], deletes: list[str],
                validate_only: bool) -> Any:
    # Old brokers: read the current overrides, change them, write the full set back.
    current = {c["name"]: c["value"] for c in describe_topic_configs(conn, [topic])[topic]
               if c["source"] == "DYNAMIC_TOPIC_CONFIG"}
    current.update(sets)
    for name in deletes:
        current.pop(name, None)
    resource = AlterConfigsRequest.AlterConfigsResource(
        resource_type=TOPIC_RESOURCE, resource_name=topic,
        configs=[AlterConfigsRequest.AlterableConfig(name=k, value=v) for k, v in current.items()])
    request = AlterConfigsRequest(resources=[resource], validate_only=validate_only)
    return conn.call(request, conn.version(AlterConfigsRequest))


def cmd_alter_config(conn: AdminConnection, args: argparse.Namespace) -> Any:
    sets = _parse_pairs(args.set)
    if not sets and not args.delete:
        raise CliError("nothing to change: give --set name=value and/or --delete name")
    alter = _alter_incremental if conn.supports(IncrementalAlterConfigsRequest) else _alter_full
    response = alter(conn, args.topic, sets, list(args.delete), args.validate_only)
    (result,) = response.responses
    if result.error_code:
        raise CliError(_error_text(result.error_code, result.error_message))
    if args.json:
        return {"topic": args.topic, "set": sets, "deleted": list(args.delete), "validate_only": args.validate_only}
    return f"Configs of topic {args.topic} {'validated' if args.validate_only else 'updated'}."


# --------------------------------------------------------------------------- argparse


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--bootstrap-server", default="localhost:9092", help="host:port of a broker")
    parser.add_argument("--json", action="store_true", help="print JSON instead of text")
    parser.add_argument("--timeout", type=float, default=30.0, help="socket timeout in seconds")


def _with(fn: Callable[[AdminConnection, argparse.Namespace], Any]) -> Callable[[argparse.Namespace], int]:
    def run(args: argparse.Namespace) -> int:
        try:
            with AdminConnection(args.bootstrap_server, args.timeout) as conn:
                out = fn(conn, args)
        except CliError as e:
            print(f"Error: {e}", file=sys.stderr)
            return 1
        text = json.dumps(out, indent=2, sort_keys=True) if args.json else str(out)
        if text:
            print(text)
        return 0

    return run


def add_subparsers(subparsers: Any) -> None:
    """Add ``topics`` and its commands to the ``kafkaish`` argument parser."""
    topics = subparsers.add_parser("topics", help="list, describe, create, delete topics and change their configs")
    commands = topics.add_subparsers(dest="topics_command", required=True)

    p = commands.add_parser("list", help="list topic names")
    p.add_argument("--include-internal", action="store_true", help="also list internal topics")
    p.set_defaults(func=_with(cmd_list))

    p = commands.add_parser("describe", help="partitions and config overrides of topics (all if none named)")
    p.add_argument("topics", nargs="*")
    p.add_argument("--all-configs", action="store_true", help="show every config, not only overrides")
    p.set_defaults(func=_with(cmd_describe))

    p = commands.add_parser("create", help="create a topic")
    p.add_argument("topic")
    p.add_argument("--partitions", type=int, default=-1, help="partition count (default: the broker's)")
    p.add_argument("--replication-factor", type=int, default=-1, help="replicas (default: the broker's)")
    p.add_argument("--config", action="append", default=[], metavar="NAME=VALUE", help="topic config (repeatable)")
    p.add_argument("--validate-only", action="store_true", help="check the request, create nothing")
    p.add_argument("--if-not-exists", action="store_true", help="succeed if the topic already exists")
    p.set_defaults(func=_with(cmd_create))

    p = commands.add_parser("delete", help="delete topics")
    p.add_argument("topics", nargs="+")
    p.add_argument("--if-exists", action="store_true", help="succeed for topics that do not exist")
    p.set_defaults(func=_with(cmd_delete))

    p = commands.add_parser("alter-config", help="set or delete config overrides of a topic")
    p.add_argument("topic")
    p.add_argument("--set", action="append", default=[], metavar="NAME=VALUE", help="set a config (repeatable)")
    p.add_argument("--delete", action="append", default=[], metavar="NAME", help="remove an override (repeatable)")
    p.add_argument("--validate-only", action="store_true", help="check the change, apply nothing")
    p.set_defaults(func=_with(cmd_alter_config))

    for parser in commands.choices.values():
        _common(parser)
