"""``kafkaish consume TOPIC``: read records from any offset or timestamp."""

from __future__ import annotations

import sys
import time
from typing import Any

import click

from kafkaish.cli.client import CliError
from kafkaish.cli.options import cluster_from, connection_options
from kafkaish.cli.reader import Position, Reader, isolation_level, pick_partitions, resolve_range
from kafkaish.cli.records import compile_format, record_to_json

range_options = [
    click.option("--partition", "-p", "partitions", type=click.IntRange(min=0), multiple=True,
                 help="Read only this partition (repeatable; default all)."),
    click.option("--offset", "-o", default="beginning", show_default=True, metavar="N|beginning|end|-N",
                 help="Start at offset N, the beginning, the end, or N records before the end of each partition."),
    click.option("--from-timestamp", metavar="TIME",
                 help="Start at the first record at or after TIME (ISO-8601 or epoch ms); overrides --offset."),
    click.option("--to-offset", type=click.IntRange(min=0), metavar="N", help="Stop before offset N (exclusive)."),
    click.option("--to-timestamp", metavar="TIME", help="Stop before the first record at or after TIME."),
]


def with_range_options(fn: Any) -> Any:
    for option in reversed(range_options):
        fn = option(fn)
    return fn


@click.command()
@click.argument("topic")
@with_range_options
@click.option("--count", "-c", type=click.IntRange(min=1), help="Stop after N records.")
@click.option("--follow", is_flag=True, help="Keep waiting for new records (Ctrl-C stops).")
@click.option("--group", "-g", metavar="GROUP",
              help="Start where GROUP's committed offsets are (else at --offset) and commit as records are "
                   "printed; the group must have no active members.")
@click.option("--isolation", type=click.Choice(["read_uncommitted", "read_committed"]), default="read_uncommitted",
              show_default=True, help="read_committed skips aborted transactions and stops at the last stable offset.")
@click.option("--json", "as_json", is_flag=True,
              help='One JSON object per record: topic, partition, offset, timestamp, key, value, headers '
                   '(bytes that are not UTF-8 as {"base64": ...}).')
@click.option("--format", "-f", "fmt", metavar="FORMAT",
              help="Format each record like kcat -f: %t topic, %p partition, %o offset, %T timestamp, %k key, "
                   "%K key length, %s value, %S value length, %h headers, %H header count, \\n \\t.")
@connection_options
def consume(topic: str, partitions: tuple[int, ...], offset: str, from_timestamp: str | None, to_offset: int | None,
            to_timestamp: str | None, count: int | None, follow: bool, group: str | None, isolation: str,
            as_json: bool, fmt: str | None, **conn: Any) -> None:
    """Print records of TOPIC from any offset or timestamp, then exit at the end (or --follow).

    \b
    Default output: each value on its own line.
    Examples:
      kafkaish consume orders -o -10                           # the last 10 of each partition
      kafkaish consume orders --from-timestamp 2024-05-01T12:00:00Z --to-timestamp 2024-05-01T13:00:00Z
      kafkaish consume orders --json -p 0 -o 42 -c 1
    """
    if as_json and fmt:
        raise CliError("give --json or --format, not both")
    start = Position.parse(offset)
    level = isolation_level(isolation)
    out = sys.stdout.buffer
    render = compile_format(fmt, topic) if fmt else None
    with cluster_from(conn) as cluster:
        info = cluster.topic(topic)
        chosen = pick_partitions(info, partitions)
        ranges = resolve_range(cluster, info, chosen, start=start, from_timestamp=from_timestamp,
                               to_offset=to_offset, to_timestamp=to_timestamp, follow=follow, isolation=level)
        if group is not None:
            from kafkaish.cli.groups import committed_offsets, commit_offsets

            committed = committed_offsets(cluster, group, [topic])
            if from_timestamp is None:
                ranges = {p: (committed.get((topic, p), s), e) for p, (s, e) in ranges.items()}
        reader = Reader(cluster, info, ranges, isolation=level)
        printed = 0
        flushed = time.monotonic()
        last_commit: dict[int, int] = {}

        def commit() -> None:
            if group is None:
                return
            positions = {p: pos for p, pos in reader.positions.items() if last_commit.get(p) != pos}
            commit_offsets(cluster, group, {(topic, p): pos for p, pos in positions.items()})
            last_commit.update(positions)

        try:
            for partition, record in reader:
                if as_json:
                    out.write(record_to_json(partition, record, topic).encode() + b"\n")
                elif render is not None:
                    out.write(render(partition, record))
                else:
                    out.write((record.value or b"") + b"\n")
                printed += 1
                if count is not None and printed >= count:
                    reader.positions[partition] = record.offset + 1
                    break
                if follow and time.monotonic() - flushed > 0.2:
                    out.flush()
                    commit()
                    flushed = time.monotonic()
            out.flush()
        except KeyboardInterrupt:
            out.flush()
        commit()
