"""``kafkaish groups list|describe|lag|reset-offsets|delete-offsets|delete``.

As Kafka's ``kafka-consumer-groups``: committed offsets come from OffsetFetch at the group's
coordinator, log ends from ListOffsets at the leaders, lag = log end - committed. Offsets are
reset with OffsetCommit as a "simple" (generation -1) commit, which Kafka accepts only while
the group has no members, so a reset of an active group is refused before it is tried.
"""

from __future__ import annotations

import struct
import time
from collections.abc import Iterable
from typing import Any

import click

from kafkaish.cli.client import RETRIABLE, CliError, Cluster, Connection, error_text
from kafkaish.cli.options import cluster_from, connection_options, json_option, print_json, print_table
from kafkaish.cli.reader import EARLIEST, LATEST, list_offsets
from kafkaish.cli.records import parse_duration_ms, parse_timestamp
from kafkaish.wire.errors import ErrorCode
from kafkaish.wire.messages.consumer_group_describe import ConsumerGroupDescribeRequest
from kafkaish.wire.messages.consumer_protocol_assignment import ConsumerProtocolAssignment
from kafkaish.wire.messages.delete_groups import DeleteGroupsRequest
from kafkaish.wire.messages.describe_groups import DescribeGroupsRequest
from kafkaish.wire.messages.list_groups import ListGroupsRequest
from kafkaish.wire.messages.offset_commit import OffsetCommitRequest
from kafkaish.wire.messages.offset_delete import OffsetDeleteRequest
from kafkaish.wire.messages.offset_fetch import OffsetFetchRequest

OFFSET_FETCH_MAX_VERSION = 7  # v8+ batch several groups; one group per request is all we need
INACTIVE_STATES = ("Empty", "Dead", "")

TopicPartition = tuple[str, int]


# --------------------------------------------------------------------------- protocol helpers


def committed_offsets(cluster: Cluster, group: str, topics: Iterable[str] | None = None) -> dict[TopicPartition, int]:
    """The group's committed offsets (all topics, or those named)."""
    wanted = None
    if topics is not None:
        wanted = []
        for name in topics:
            info = cluster.topic(name)
            wanted.append(OffsetFetchRequest.OffsetFetchRequestTopic(name=name, partition_indexes=info.partitions))
    for attempt in range(30):
        conn = cluster.coordinator(group)
        version = conn.version(OffsetFetchRequest, lowest=2, highest=OFFSET_FETCH_MAX_VERSION)
        response = conn.call(OffsetFetchRequest(group_id=group, topics=wanted, require_stable=False), version)
        if response.error_code not in RETRIABLE:
            break
        time.sleep(min(0.1 * (attempt + 1), 1.0))
    if response.error_code:
        raise CliError(f"offsets of group {group!r}: " + error_text(response.error_code))
    out = {}
    for t in response.topics:
        for p in t.partitions:
            if p.error_code:
                raise CliError(f"offset of {t.name}-{p.partition_index} in group {group!r}: "
                               + error_text(p.error_code))
            if p.committed_offset >= 0:
                out[(t.name, p.partition_index)] = p.committed_offset
    return out


def commit_offsets(cluster: Cluster, group: str, offsets: dict[TopicPartition, int]) -> None:
    """Commit as a simple consumer (generation -1, no member), as kafka-consumer-groups does."""
    if not offsets:
        return
    conn = cluster.coordinator(group)
    by_topic: dict[str, list[Any]] = {}
    for (topic, partition), offset in sorted(offsets.items()):
        by_topic.setdefault(topic, []).append(OffsetCommitRequest.OffsetCommitRequestPartition(
            partition_index=partition, committed_offset=offset, committed_leader_epoch=-1, commit_timestamp=-1,
            committed_metadata=""))
    request = OffsetCommitRequest(
        group_id=group, generation_id_or_member_epoch=-1, member_id="", group_instance_id=None,
        retention_time_ms=-1,
        topics=[OffsetCommitRequest.OffsetCommitRequestTopic(name=t, partitions=ps) for t, ps in by_topic.items()])
    response = conn.call(request, conn.version(OffsetCommitRequest, lowest=2))
    for t in response.topics:
        for p in t.partitions:
            if p.error_code in (ErrorCode.UNKNOWN_MEMBER_ID, ErrorCode.ILLEGAL_GENERATION,
                                ErrorCode.REBALANCE_IN_PROGRESS, ErrorCode.STALE_MEMBER_EPOCH):
                raise CliError(f"group {group!r} has active members; cannot commit for it "
                               f"({error_text(p.error_code)})")
            if p.error_code:
                raise CliError(f"commit {t.name}-{p.partition_index} for group {group!r}: "
                               + error_text(p.error_code))


def describe_group(cluster: Cluster, group: str) -> dict[str, Any]:
    """State, protocol and members (with their assigned partitions) of ``group``."""
    for attempt in range(30):
        conn = cluster.coordinator(group)
        response = conn.call(DescribeGroupsRequest(groups=[group], include_authorized_operations=False))
        (g,) = response.groups
        if g.error_code not in RETRIABLE:
            break
        time.sleep(min(0.1 * (attempt + 1), 1.0))
    if (g.error_code == ErrorCode.GROUP_ID_NOT_FOUND or g.group_state == "Dead") \
            and conn.supports(ConsumerGroupDescribeRequest):
        # Perhaps a KIP-848 group, which DescribeGroups does not describe (GROUP_ID_NOT_FOUND
        # or Dead); ConsumerGroupDescribe does, as kafka-consumer-groups asks it.
        described = _describe_consumer_group(conn, group)
        if described is not None:
            return described
    if g.error_code:
        raise CliError(f"group {group!r}: " + error_text(g.error_code))
    members = []
    for m in g.members:
        assigned = _decode_assignment(m.member_assignment) if g.protocol_type == "consumer" else []
        members.append({"member_id": m.member_id, "instance_id": getattr(m, "group_instance_id", None),
                        "client_id": m.client_id, "host": m.client_host, "assignment": assigned})
    return {"group": group, "state": g.group_state, "protocol_type": g.protocol_type,
            "protocol": g.protocol_data, "members": members}


def _describe_consumer_group(conn: Connection, group: str) -> dict[str, Any] | None:
    response = conn.call(ConsumerGroupDescribeRequest(group_ids=[group], include_authorized_operations=False))
    (g,) = response.groups
    if g.error_code == ErrorCode.GROUP_ID_NOT_FOUND:
        return None
    if g.error_code:
        raise CliError(f"group {group!r}: " + error_text(g.error_code, g.error_message))
    members = [{"member_id": m.member_id, "instance_id": m.instance_id, "client_id": m.client_id,
                "host": m.client_host,
                "assignment": sorted((tp.topic_name, p) for tp in m.assignment.topic_partitions for p in tp.partitions)}
               for m in g.members]
    return {"group": group, "state": g.group_state.capitalize() if g.group_state else g.group_state,
            "protocol_type": "consumer", "protocol": g.assignor_name, "members": members}


def _decode_assignment(data: bytes | None) -> list[TopicPartition]:
    if not data or len(data) < 2:
        return []
    try:
        version = min(struct.unpack_from(">h", data)[0], ConsumerProtocolAssignment.MAX_VERSION)
        assignment = ConsumerProtocolAssignment.decode(bytes(data[2:]), version)
    except Exception:  # noqa: BLE001 - a non-standard assignor's bytes: show no partitions
        return []
    return sorted((tp.topic, p) for tp in assignment.assigned_partitions for p in tp.partitions)


def log_ends(cluster: Cluster, partitions: Iterable[TopicPartition], spec: int = LATEST) -> dict[TopicPartition, int]:
    by_topic: dict[str, list[int]] = {}
    for topic, partition in partitions:
        by_topic.setdefault(topic, []).append(partition)
    out = {}
    for topic, parts in by_topic.items():
        try:
            info = cluster.topic(topic)
        except CliError:
            continue  # a deleted topic still has committed offsets: no log end
        for p, offset in list_offsets(cluster, info, [p for p in parts if p in info.leaders], spec).items():
            out[(topic, p)] = offset
    return out


def lag_rows(cluster: Cluster, group: str, members: list[dict[str, Any]] | None = None) -> list[dict[str, Any]]:
    committed = committed_offsets(cluster, group)
    owner = {tp: m for m in (members or []) for tp in m["assignment"]}
    partitions = set(committed) | set(owner)
    ends = log_ends(cluster, partitions)
    rows = []
    for tp in sorted(partitions):
        current, end = committed.get(tp), ends.get(tp)
        member = owner.get(tp, {})
        rows.append({"topic": tp[0], "partition": tp[1], "committed": current, "log_end": end,
                     "lag": None if current is None or end is None else max(end - current, 0),
                     "member_id": member.get("member_id"), "host": member.get("host"),
                     "client_id": member.get("client_id")})
    return rows


# --------------------------------------------------------------------------- commands


@click.group()
def groups() -> None:
    """Consumer groups: list, describe, lag, reset or delete offsets, delete."""


@groups.command("list")
@json_option
@connection_options
def list_(as_json: bool, **conn: Any) -> None:
    """List the groups of every broker."""
    found: dict[str, dict[str, Any]] = {}
    with cluster_from(conn) as cluster:
        for node in cluster.all_nodes():
            response = node.call(ListGroupsRequest(states_filter=[], types_filter=[]))
            if response.error_code:
                raise CliError(f"list groups at {node.address}: " + error_text(response.error_code))
            for g in response.groups:
                found[g.group_id] = {"group": g.group_id, "protocol_type": g.protocol_type,
                                     "state": g.group_state or None, "type": g.group_type or None}
    rows = [found[k] for k in sorted(found)]
    if as_json:
        print_json(rows)
    else:
        print_table(["GROUP", "STATE", "PROTOCOL-TYPE", "TYPE"],
                    [(r["group"], r["state"], r["protocol_type"] or None, r["type"]) for r in rows])


@groups.command()
@click.argument("group")
@json_option
@connection_options
def describe(group: str, as_json: bool, **conn: Any) -> None:
    """State, members and their partitions, committed offsets and lag of GROUP."""
    with cluster_from(conn) as cluster:
        info = describe_group(cluster, group)
        info["offsets"] = lag_rows(cluster, group, info["members"])
    if as_json:
        for m in info["members"]:
            m["assignment"] = [{"topic": t, "partition": p} for t, p in m["assignment"]]
        print_json(info)
        return
    click.echo(f"Group {group}: state {info['state']}, protocol {info['protocol_type'] or '-'}"
               f"/{info['protocol'] or '-'}, {len(info['members'])} member(s)")
    _print_lag(group, info["offsets"], members=True)


@groups.command()
@click.argument("group")
@json_option
@connection_options
def lag(group: str, as_json: bool, **conn: Any) -> None:
    """Committed offset, log end and lag per partition of GROUP, and in total."""
    with cluster_from(conn) as cluster:
        describe_group(cluster, group)  # a missing group is an error, not an empty table
        rows = lag_rows(cluster, group)
    total = sum(r["lag"] or 0 for r in rows)
    if as_json:
        print_json({"group": group, "partitions": rows, "total_lag": total})
        return
    _print_lag(group, rows, members=False)
    click.echo(f"Total lag: {total}")


def _print_lag(group: str, rows: list[dict[str, Any]], *, members: bool) -> None:
    headers = ["GROUP", "TOPIC", "PARTITION", "CURRENT-OFFSET", "LOG-END-OFFSET", "LAG"]
    if members:
        headers += ["CONSUMER-ID", "HOST", "CLIENT-ID"]
    table = []
    for r in rows:
        row = [group, r["topic"], r["partition"], r["committed"], r["log_end"], r["lag"]]
        if members:
            row += [r["member_id"], r["host"], r["client_id"]]
        table.append(row)
    print_table(headers, table)


def _topic_partitions(cluster: Cluster, specs: tuple[str, ...]) -> list[TopicPartition]:
    """``--topic T`` or ``--topic T:0,2`` (as kafka-consumer-groups) -> partitions."""
    out = []
    for spec in specs:
        name, _, parts = spec.partition(":")
        info = cluster.topic(name)
        if parts:
            try:
                chosen = [int(p) for p in parts.split(",")]
            except ValueError:
                raise CliError(f"bad --topic {spec!r}: expected TOPIC or TOPIC:P,P") from None
            for p in chosen:
                if p not in info.leaders:
                    raise CliError(f"topic {name!r} has no partition {p}")
        else:
            chosen = info.partitions
        out += [(name, p) for p in chosen]
    return out


def _ensure_inactive(cluster: Cluster, group: str) -> None:
    state = describe_group(cluster, group)
    if state["state"] not in INACTIVE_STATES or state["members"]:
        # kafka-consumer-groups: "Assignments can only be reset if the group is inactive"
        raise CliError(f"assignments can only be reset if the group {group!r} is inactive, "
                       f"but the current state is {state['state']} ({len(state['members'])} member(s))")


def _new_offsets(cluster: Cluster, group: str, partitions: list[TopicPartition], how: str, value: Any
                 ) -> dict[TopicPartition, int]:
    earliest = log_ends(cluster, partitions, EARLIEST)
    latest = log_ends(cluster, partitions, LATEST)

    def clamp(tp: TopicPartition, offset: int) -> int:
        return max(earliest[tp], min(latest[tp], offset))

    if how == "earliest":
        return {tp: earliest[tp] for tp in partitions}
    if how == "latest":
        return {tp: latest[tp] for tp in partitions}
    if how == "offset":
        return {tp: clamp(tp, value) for tp in partitions}
    if how == "shift":
        committed = committed_offsets(cluster, group, sorted({t for t, _ in partitions}))
        missing = [tp for tp in partitions if tp not in committed]
        if missing:
            raise CliError(f"group {group!r} has no committed offset for {missing[0][0]}-{missing[0][1]} to shift")
        return {tp: clamp(tp, committed[tp] + value) for tp in partitions}
    # "timestamp": the first offset at or after it; none -> the log end (Kafka does the same)
    by_time = log_ends(cluster, partitions, value)
    return {tp: latest[tp] if by_time[tp] < 0 else by_time[tp] for tp in partitions}


@groups.command("reset-offsets")
@click.argument("group")
@click.option("--topic", "topics", multiple=True, metavar="TOPIC[:P,P]",
              help="Topic (optionally some partitions) to reset; repeatable.")
@click.option("--all-topics", is_flag=True, help="Every topic the group has committed offsets for.")
@click.option("--to-earliest", "how", flag_value="earliest", help="To the log start.")
@click.option("--to-latest", "how", flag_value="latest", help="To the log end.")
@click.option("--to-offset", type=int, help="To this offset (clamped to the log).")
@click.option("--to-datetime", metavar="TIME", help="To the first record at or after TIME (ISO-8601 or epoch ms).")
@click.option("--by-duration", metavar="DURATION", help="To the first record at or after now - DURATION (PT1H, P1D).")
@click.option("--shift-by", type=int, help="Move the committed offsets by N (negative: back), clamped.")
@click.option("--execute", is_flag=True, help="Commit the new offsets (without it: a dry run).")
@json_option
@connection_options
def reset_offsets(group: str, topics: tuple[str, ...], all_topics: bool, how: str | None, to_offset: int | None,
                  to_datetime: str | None, by_duration: str | None, shift_by: int | None, execute: bool,
                  as_json: bool, **conn: Any) -> None:
    """Reset the committed offsets of GROUP (a dry run unless --execute).

    \b
    The group must have no active members (kafka-consumer-groups refuses too).
    Example:
      kafkaish groups reset-offsets billing --topic orders --to-datetime 2024-05-01T00:00:00Z --execute
    """
    chosen = [(k, v) for k, v in (("earliest", how == "earliest" or None), ("latest", how == "latest" or None),
                                  ("offset", to_offset), ("timestamp", to_datetime), ("duration", by_duration),
                                  ("shift", shift_by)) if v is not None]
    if len(chosen) != 1:
        raise CliError("give exactly one of --to-earliest, --to-latest, --to-offset, --to-datetime, "
                       "--by-duration, --shift-by")
    kind, value = chosen[0]
    if kind == "timestamp":
        value = parse_timestamp(value)
    elif kind == "duration":
        kind, value = "timestamp", int(time.time() * 1000) - parse_duration_ms(value)
    if bool(topics) == all_topics:
        raise CliError("give --topic TOPIC (repeatable) or --all-topics")
    with cluster_from(conn) as cluster:
        _ensure_inactive(cluster, group)
        if all_topics:
            partitions = sorted(committed_offsets(cluster, group))
            if not partitions:
                raise CliError(f"group {group!r} has no committed offsets")
        else:
            partitions = _topic_partitions(cluster, topics)
        offsets = _new_offsets(cluster, group, partitions, kind, value)
        if execute:
            commit_offsets(cluster, group, offsets)
    rows = [{"topic": t, "partition": p, "new_offset": o} for (t, p), o in sorted(offsets.items())]
    if as_json:
        print_json({"group": group, "executed": execute, "offsets": rows})
        return
    print_table(["GROUP", "TOPIC", "PARTITION", "NEW-OFFSET"], [(group, r["topic"], r["partition"], r["new_offset"])
                                                               for r in rows])
    if not execute:
        click.echo("Dry run: nothing was changed. Add --execute to commit these offsets.", err=True)


@groups.command("delete-offsets")
@click.argument("group")
@click.option("--topic", "topics", multiple=True, required=True, metavar="TOPIC[:P,P]",
              help="Topic (optionally some partitions) whose offsets to delete; repeatable.")
@json_option
@connection_options
def delete_offsets(group: str, topics: tuple[str, ...], as_json: bool, **conn: Any) -> None:
    """Delete GROUP's committed offsets of some topics (refused while members consume them)."""
    with cluster_from(conn) as cluster:
        partitions = _topic_partitions(cluster, topics)
        by_topic: dict[str, list[int]] = {}
        for t, p in partitions:
            by_topic.setdefault(t, []).append(p)
        coordinator = cluster.coordinator(group)
        response = coordinator.call(OffsetDeleteRequest(group_id=group, topics=[
            OffsetDeleteRequest.OffsetDeleteRequestTopic(name=t, partitions=[
                OffsetDeleteRequest.OffsetDeleteRequestPartition(partition_index=p) for p in ps])
            for t, ps in by_topic.items()]))
    if response.error_code:
        raise CliError(f"delete offsets of group {group!r}: " + error_text(response.error_code))
    failures = [f"{t.name}-{p.partition_index}: {error_text(p.error_code)}"
                for t in response.topics for p in t.partitions if p.error_code]
    if failures:
        raise CliError("; ".join(failures))
    if as_json:
        print_json({"group": group, "deleted": [{"topic": t, "partition": p} for t, p in partitions]})
    else:
        click.echo(f"Deleted the offsets of {len(partitions)} partition(s) for group {group}.")


@groups.command()
@click.argument("names", nargs=-1, required=True, metavar="GROUP...")
@json_option
@connection_options
def delete(names: tuple[str, ...], as_json: bool, **conn: Any) -> None:
    """Delete groups and their offsets (refused for a group with members)."""
    results: dict[str, int] = {}
    with cluster_from(conn) as cluster:
        for group in names:
            response = cluster.coordinator(group).call(DeleteGroupsRequest(groups_names=[group]))
            for r in response.results:
                results[r.group_id] = r.error_code
    failures = [f"{g}: {error_text(code)}" for g, code in results.items() if code]
    if failures:
        raise CliError("; ".join(failures))
    if as_json:
        print_json({"deleted": list(results)})
    else:
        for g in results:
            click.echo(f"Group {g} deleted.")

