"""``kafkaish export``, ``import`` and ``copy``: move a topic, or a range of it, to a JSON-lines
file, back into a topic, or straight to another topic or cluster.

The file holds one header line (``{"kafkaish-export": 1, "topic": ..., "partitions": N}``)
and one record per line in the form of ``kafkaish.cli.records`` (binary-safe, with
partition, offset, timestamp, key, value and headers), so an export then an import gives
byte-identical records. Writes go through the idempotent ``Producer``: a record batch is
stored whole or not at all, so an interrupted import never leaves half a record.

Resuming: ``export --resume`` continues after the last complete line of the file.
``import`` notes the target's end offsets in ``FILE.import-state`` before writing; with
``--resume`` it asks the target how many records each partition has gained since and skips
exactly those (records reach a partition in file order, one request in flight at a time).
"""

from __future__ import annotations

import itertools
import json
import os
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import IO, Any

import click

from kafkaish.cli.client import CliError, Cluster, TopicInfo, error_text
from kafkaish.cli.consume import with_range_options
from kafkaish.cli.options import (
    cluster_from,
    connection_options,
    json_option,
    print_json,
    security_from,
    security_options,
    warn,
)
from kafkaish.cli.produce import lines_of, with_producer_options
from kafkaish.cli.reader import LATEST, Position, Reader, isolation_level, list_offsets, pick_partitions, resolve_range
from kafkaish.cli.records import (
    EXPORT_HEADER_KEY,
    LineError,
    OutRecord,
    export_header,
    parse_json_record,
    record_to_json,
)
from kafkaish.cli.writer import ACKS, COMPRESSION, Producer
from kafkaish.wire.errors import ErrorCode
from kafkaish.wire.messages.create_topics import CreateTopicsRequest

progress_option = click.option("--progress/--no-progress", default=None,
                                help="Show a progress bar (default: when stderr is a terminal).")


def writing_options(fn: Any) -> Any:
    """The options import and copy share: rate limit, producer, progress, --json, connection."""
    for option in (connection_options, json_option, progress_option, with_producer_options,
                   click.option("--rate-limit", metavar="N|N KB|N MB",
                                help="At most N records/s (or bytes/s with KB/MB).")):
        fn = option(fn)
    return fn


class Progress:
    """A rich progress bar on stderr, or nothing."""

    def __init__(self, enabled: bool | None, description: str, total: float | None, unit: str) -> None:
        self.bar: Any = None
        if enabled is None:
            enabled = sys.stderr.isatty()
        if not enabled:
            return
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress as Bar, TimeRemainingColumn, \
            TransferSpeedColumn

        columns: list[Any] = ["{task.description}", BarColumn(), MofNCompleteColumn() if unit == "records"
                              else TransferSpeedColumn(), TimeRemainingColumn()]
        self.bar = Bar(*columns, console=Console(stderr=True), transient=False)
        self.task = self.bar.add_task(description, total=total)
        self.bar.start()

    def advance(self, n: float) -> None:
        if self.bar is not None:
            self.bar.advance(self.task, n)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.stop()


class RateLimit:
    """``--rate-limit``: ``N`` records/s, or ``N KB|MB`` per second of record bytes."""

    def __init__(self, text: str | None) -> None:
        self.per_second = 0.0
        self.bytes = False
        if text:
            t = text.strip().upper().removesuffix("/S")
            scale = {"KB": 1024, "MB": 1024 * 1024, "B": 1}
            unit = next((u for u in scale if t.endswith(u)), None)
            try:
                self.per_second = float(t[: -len(unit)] if unit else t) * (scale[unit] if unit else 1)
            except ValueError:
                raise CliError(f"bad --rate-limit {text!r}: expected N (records/s) or N KB / N MB (per second)")
            self.bytes = unit is not None
            if self.per_second <= 0:
                raise CliError("--rate-limit must be positive")
        self.start = time.monotonic()
        self.used = 0.0

    def take(self, records: int, size: int, before_sleep: Callable[[], None]) -> None:
        """Count what was sent; when ahead of the rate by 50 ms, send what is queued and wait."""
        if not self.per_second:
            return
        self.used += size if self.bytes else records
        ahead = self.used / self.per_second - (time.monotonic() - self.start)
        if ahead > 0.05:
            before_sleep()
            time.sleep(max(0.0, self.used / self.per_second - (time.monotonic() - self.start)))


def ensure_topic(cluster: Cluster, name: str, partitions: int, *, create: bool) -> TopicInfo:
    """The target topic; created with ``partitions`` if missing (and allowed)."""
    try:
        return cluster.topic(name)
    except CliError:
        if not create:
            raise
    request = CreateTopicsRequest(topics=[CreateTopicsRequest.CreatableTopic(
        name=name, num_partitions=partitions, replication_factor=-1, assignments=[], configs=[])],
        timeout_ms=30000, validate_only=False)
    (result,) = cluster.boot.call(request).topics
    if result.error_code not in (0, ErrorCode.TOPIC_ALREADY_EXISTS):
        raise CliError(f"create topic {name!r}: " + error_text(result.error_code, getattr(result, "error_message", None)))
    return cluster.topic(name, created=True)


def _total(ranges: dict[int, tuple[int, int | None]]) -> int:
    return sum(max((end or start) - start, 0) for start, end in ranges.values())


# --------------------------------------------------------------------------- export


def _resume_points(path: Path, topic: str) -> dict[int, int]:
    """Next offset per partition after the last complete line of an export; drop a torn line."""
    nexts: dict[int, int] = {}
    with path.open("rb+") as f:
        good = 0
        for lineno, line in enumerate(f, 1):
            if not line.endswith(b"\n"):
                break  # a torn last line: written again below
            obj = json.loads(line)
            if EXPORT_HEADER_KEY in obj:
                if obj.get("topic") != topic:
                    raise CliError(f"{path} is an export of topic {obj.get('topic')!r}, not {topic!r}")
            else:
                nexts[obj["partition"]] = obj["offset"] + 1
            good += len(line)
        f.truncate(good)
    return nexts


@click.command()
@click.argument("topic")
@click.argument("file", type=click.Path(dir_okay=False, allow_dash=True))
@with_range_options
@click.option("--isolation", type=click.Choice(["read_uncommitted", "read_committed"]), default="read_uncommitted",
              show_default=True, help="read_committed exports only committed transactional records.")
@click.option("--resume", is_flag=True, help="Continue an interrupted export into FILE.")
@click.option("--force", is_flag=True, help="Overwrite FILE if it exists.")
@progress_option
@json_option
@connection_options
def export(topic: str, file: str, partitions: tuple[int, ...], offset: str, from_timestamp: str | None,
           to_offset: int | None, to_timestamp: str | None, isolation: str, resume: bool, force: bool,
           progress: bool | None, as_json: bool, **conn: Any) -> None:
    """Save TOPIC (or a range of it) to FILE as JSON lines ("-": stdout).

    \b
    Keys, values, headers, timestamps, partitions and offsets are kept; bytes that are not
    UTF-8 are base64. Example:
      kafkaish export orders orders.jsonl --from-timestamp 2024-05-01T00:00:00Z
      kafkaish import orders.jsonl orders-replay
    """
    path = None if file == "-" else Path(file)
    if path is not None and path.exists() and not (resume or force):
        raise CliError(f"{file} exists: add --resume to continue that export or --force to overwrite it")
    if resume and path is None:
        raise CliError("--resume needs a FILE, not stdout")
    level = isolation_level(isolation)
    started = time.monotonic()
    with cluster_from(conn) as cluster:
        info = cluster.topic(topic)
        chosen = pick_partitions(info, partitions)
        ranges = resolve_range(cluster, info, chosen, start=Position.parse(offset), from_timestamp=from_timestamp,
                               to_offset=to_offset, to_timestamp=to_timestamp, isolation=level)
        fresh = True
        if resume and path is not None and path.exists():
            fresh = False
            for p, nxt in _resume_points(path, topic).items():
                if p in ranges:
                    ranges[p] = (max(ranges[p][0], nxt), ranges[p][1])
        out: IO[bytes] = sys.stdout.buffer if path is None else path.open("wb" if fresh else "ab",
                                                                           buffering=1 << 20)
        bar = Progress(progress, f"export {topic}", _total(ranges), "records")
        count = size = 0
        try:
            if fresh:
                out.write(export_header(topic, len(info.leaders)).encode() + b"\n")
            reader = Reader(cluster, info, ranges, isolation=level)
            pending = 0
            for partition, record in reader:
                line = record_to_json(partition, record).encode() + b"\n"
                out.write(line)
                size += len(line)
                count += 1
                pending += 1
                if pending >= 2000:
                    bar.advance(pending)
                    pending = 0
            bar.advance(pending)
        finally:
            bar.close()
            if path is not None:
                out.close()
            else:
                out.flush()
    _summary(as_json, "exported", topic, count, size, time.monotonic() - started, file)


def _summary(as_json: bool, verb: str, topic: str, count: int, size: int, seconds: float, where: str) -> None:
    if as_json:
        summary = {verb: count, "topic": topic, "bytes": size, "seconds": round(seconds, 3), "file": where}
        if where == "-" and verb == "exported":  # stdout carries the records
            warn(json.dumps(summary, sort_keys=True))
        else:
            print_json(summary)
    else:
        rate = count / seconds if seconds > 0 else 0.0
        warn(f"{verb.capitalize()} {count} record{'s' if count != 1 else ''} of {topic} "
             f"({size / 1e6:.1f} MB, {rate:,.0f} records/s).")


# --------------------------------------------------------------------------- import


def _read_header(stream: IO[bytes]) -> tuple[dict[str, Any] | None, Iterator[bytes]]:
    """The export header line if the input starts with one, and the lines to read after it."""
    first = stream.readline()
    try:
        obj = json.loads(first) if first.strip() else None
    except ValueError:
        obj = None
    header = obj if isinstance(obj, dict) and EXPORT_HEADER_KEY in obj else None
    return header, itertools.chain([first] if first else [], stream)


def _records(lines: Iterable[bytes]) -> Iterator[tuple[int, int, OutRecord]]:
    """(line number, line bytes, record) of each record line."""
    for lineno, line in lines_of(lines):
        if not line.strip():
            continue
        record = parse_json_record(line, lineno)
        if record is not None:
            yield lineno, len(line) + 1, record


@click.command("import")
@click.argument("file", type=click.Path(dir_okay=False, allow_dash=True))
@click.argument("topic")
@click.option("--repartition", is_flag=True,
              help="Choose partitions by key hash (as Kafka's producer) instead of keeping the exported ones.")
@click.option("--partitions", "new_partitions", type=click.IntRange(min=1),
              help="Partition count if TOPIC must be created (default: the exported topic's).")
@click.option("--create/--no-create", default=True, show_default=True, help="Create TOPIC if it does not exist.")
@click.option("--resume", is_flag=True, help="Continue an interrupted import of FILE into TOPIC.")
@writing_options
def import_(file: str, topic: str, repartition: bool, new_partitions: int | None, create: bool, resume: bool,
            rate_limit: str | None, acks: str, compression: str, idempotence: bool, progress: bool | None,
            as_json: bool, **conn: Any) -> None:
    """Write the records of an exported FILE ("-": stdin) into TOPIC.

    \b
    Keys, values, headers, timestamps and partitions are kept (--repartition: by key).
    A malformed line stops the import with its line number; what came before it is written
    whole and --resume continues after it is fixed. Example:
      kafkaish import orders.jsonl orders-copy --bootstrap-server other:9092
    """
    path = None if file == "-" else Path(file)
    if path is not None and not path.is_file():
        raise CliError(f"{file} does not exist")
    if resume and path is None:
        raise CliError("--resume needs a FILE, not stdin")
    state_path = None if path is None else path.with_name(path.name + ".import-state")
    limit = RateLimit(rate_limit)
    started = time.monotonic()
    stream: IO[bytes] = sys.stdin.buffer if path is None else path.open("rb", buffering=1 << 20)
    try:
        header, lines = _read_header(stream)
        with cluster_from(conn) as cluster:
            count = new_partitions or (header or {}).get("partitions") or 1
            info = ensure_topic(cluster, topic, count, create=create)
            targets = len(info.leaders)
            skip = _resume_skip(cluster, info, state_path, topic, resume)
            done: dict[int, int] = {}
            producer = Producer(cluster, info, acks=ACKS[acks], compression=COMPRESSION[compression],
                                idempotent=idempotence)
            bar = Progress(progress, f"import {topic}", path.stat().st_size if path else None, "bytes")
            imported = size = index = 0
            try:
                for lineno, nbytes, record in _records(lines):
                    bar.advance(nbytes)
                    size += nbytes
                    if repartition:
                        record.partition = None if record.key is not None else index % targets
                    elif record.partition is None:
                        record.partition = index % targets if record.key is None else None
                    elif record.partition >= targets:
                        raise LineError(lineno, f"partition {record.partition} but {topic!r} has {targets}")
                    index += 1
                    partition = producer.partition_of(record)
                    seen = done.get(partition, 0)
                    done[partition] = seen + 1
                    if seen < skip.get(partition, 0):
                        continue  # already imported before the interruption
                    record.partition = partition
                    producer.send(record)
                    imported += 1
                    limit.take(1, nbytes, lambda: producer.flush(wait=False))
                producer.flush()
            except LineError as e:
                producer.flush()
                raise CliError(f"{e}; the records before it are in {topic!r}: fix the line and run again with "
                               "--resume to continue") from None
            finally:
                bar.close()
    finally:
        if path is not None:
            stream.close()
    if state_path is not None:
        state_path.unlink(missing_ok=True)
    _summary(as_json, "imported", topic, imported, size, time.monotonic() - started, file)


def _resume_skip(cluster: Cluster, info: TopicInfo, state_path: Path | None, topic: str, resume: bool
                 ) -> dict[int, int]:
    """Records per target partition already imported (``--resume``); notes the start otherwise."""
    ends = list_offsets(cluster, info, info.partitions, LATEST)
    if resume:
        if state_path is None or not state_path.is_file():
            raise CliError(f"nothing to resume: no {state_path} (it is written when an import starts)")
        state = json.loads(state_path.read_text())
        if state.get("topic") != topic:
            raise CliError(f"{state_path} is for topic {state.get('topic')!r}, not {topic!r}")
        starts = {int(p): o for p, o in state["starts"].items()}
        return {p: ends[p] - starts.get(p, 0) for p in ends}
    if state_path is not None:
        tmp = state_path.with_name(state_path.name + ".tmp")
        tmp.write_text(json.dumps({"topic": topic, "starts": {str(p): o for p, o in ends.items()}}))
        os.replace(tmp, state_path)
    return {}


# --------------------------------------------------------------------------- copy


@click.command()
@click.argument("source_topic")
@click.argument("target_topic", required=False)
@click.option("--to-bootstrap-server", "-B", metavar="HOST:PORT[,...]",
              help="The target cluster (default: the source cluster).")
@security_options("to-", "KAFKAISH_TO_", "Target cluster: ")
@with_range_options
@click.option("--isolation", type=click.Choice(["read_uncommitted", "read_committed"]), default="read_uncommitted",
              show_default=True, help="read_committed copies only committed transactional records.")
@click.option("--repartition", is_flag=True, help="Choose target partitions by key hash instead of keeping them.")
@writing_options
def copy(source_topic: str, target_topic: str | None, to_bootstrap_server: str | None,
         partitions: tuple[int, ...], offset: str, from_timestamp: str | None, to_offset: int | None,
         to_timestamp: str | None, isolation: str, repartition: bool, rate_limit: str | None, acks: str,
         compression: str, idempotence: bool, progress: bool | None, as_json: bool, **conn: Any) -> None:
    """Copy SOURCE_TOPIC (or a range) to TARGET_TOPIC, on this cluster or another.

    \b
    Keys, headers, timestamps and partitions are kept; the target topic is created with the
    source's partition count if missing. The --to-* options say how to reach the target
    cluster (-B); without -B the target is the source cluster, reached as it is. Examples:
      kafkaish copy orders -b localhost:9092 -B kafka.prod:9092 --from-timestamp 2024-05-01T00:00:00Z
      KAFKAISH_TO_SASL_PASSWORD=... kafkaish copy orders -B kafka.prod:9093 \\
        --to-security-protocol SASL_SSL --to-sasl-mechanism SCRAM-SHA-512 --to-sasl-username copier \\
        --to-ssl-ca prod-ca.pem
    """
    target_name = target_topic or source_topic
    level = isolation_level(isolation)
    limit = RateLimit(rate_limit)
    started = time.monotonic()
    to_security = {name: conn.pop(name) for name in list(conn) if name.startswith("to_")}
    with cluster_from(conn) as source:
        if to_bootstrap_server is None and target_name == source_topic:
            raise CliError("copying a topic onto itself: name a TARGET_TOPIC or --to-bootstrap-server")
        if to_bootstrap_server is None:
            ctx = click.get_current_context()
            given = [n for n in to_security if ctx.get_parameter_source(n) == click.core.ParameterSource.COMMANDLINE]
            if given:  # (their KAFKAISH_TO_* environment defaults are fine: they wait for a -B)
                raise CliError(f"--{given[0].replace('_', '-')} is for another cluster: give --to-bootstrap-server")
            target_cluster = Cluster(source.bootstrap, source.sasl, source.timeout, source.tls)
        else:
            to = security_from(to_security, "to_")
            target_cluster = Cluster(to_bootstrap_server, to.sasl, source.timeout, to.tls)
        with target_cluster as target:
            info = source.topic(source_topic)
            chosen = pick_partitions(info, partitions)
            ranges = resolve_range(source, info, chosen, start=Position.parse(offset), from_timestamp=from_timestamp,
                                   to_offset=to_offset, to_timestamp=to_timestamp, isolation=level)
            target_info = ensure_topic(target, target_name, len(info.leaders), create=True)
            if not repartition and max(chosen) >= len(target_info.leaders):
                raise CliError(f"target topic {target_name!r} has {len(target_info.leaders)} partitions, fewer than "
                               f"the source's; add --repartition")
            producer = Producer(target, target_info, acks=ACKS[acks], compression=COMPRESSION[compression],
                                idempotent=idempotence)
            bar = Progress(progress, f"copy {source_topic}", _total(ranges), "records")
            count = size = 0
            try:
                for partition, record in Reader(source, info, ranges, isolation=level):
                    nbytes = len(record.key or b"") + len(record.value or b"")
                    producer.send(OutRecord(record.key, record.value, record.headers,
                                            None if repartition else partition, record.timestamp))
                    count += 1
                    size += nbytes
                    limit.take(1, nbytes, lambda: producer.flush(wait=False))
                    if count % 2000 == 0:
                        bar.advance(2000)
                producer.flush()
                bar.advance(count % 2000)
            finally:
                bar.close()
    _summary(as_json, "copied", source_topic, count, size, time.monotonic() - started, target_name)
