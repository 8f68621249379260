"""``kafkaish produce TOPIC``: write records from stdin or a file, one per line."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import IO, Any

import click

from kafkaish.cli.client import CliError
from kafkaish.cli.options import cluster_from, connection_options, warn
from kafkaish.cli.records import LineError, OutRecord, parse_json_record, parse_timestamp
from kafkaish.cli.writer import ACKS, COMPRESSION, Producer

producer_options = [
    click.option("--acks", type=click.Choice(list(ACKS)), default="all", show_default=True,
                 help="How many replicas must have a batch before it counts (idempotence needs all)."),
    click.option("--compression", type=click.Choice(list(COMPRESSION)), default="none", show_default=True,
                 help="Batch compression codec."),
    click.option("--idempotence/--no-idempotence", default=True, show_default=True,
                 help="Idempotent producer: a retried batch is stored once."),
]


def with_producer_options(fn: Any) -> Any:
    for option in reversed(producer_options):
        fn = option(fn)
    return fn


def lines_of(stream: Iterable[bytes]) -> Iterator[tuple[int, bytes]]:
    """(line number, line without its newline) for each line of ``stream``."""
    for lineno, line in enumerate(stream, 1):
        if line.endswith(b"\n"):
            line = line[:-1]
            if line.endswith(b"\r"):
                line = line[:-1]
        yield lineno, line


def parse_line(line: bytes, lineno: int, *, as_json: bool, separator: bytes | None,
               headers: list[tuple[str, bytes | None]], partition: int | None, timestamp: int | None,
               ) -> OutRecord | None:
    if as_json:
        if not line.strip():
            return None
        record = parse_json_record(line, lineno)
        if record is None:
            return None
    elif separator is not None:
        key, sep, value = line.partition(separator)
        if not sep:
            raise LineError(lineno, f"no key separator {separator.decode(errors='replace')!r} in the line")
        record = OutRecord(key, value)
    else:
        record = OutRecord(None, line)
    if headers:
        record.headers = headers + record.headers
    if record.partition is None:
        record.partition = partition
    if record.timestamp is None:
        record.timestamp = timestamp
    return record


def _header(text: str) -> tuple[str, bytes]:
    name, sep, value = text.partition("=")
    if not sep or not name:
        raise CliError(f"bad header {text!r}: expected NAME=VALUE")
    return name, value.encode()


@click.command()
@click.argument("topic")
@click.option("--file", "-i", "file", type=click.File("rb"), default="-", show_default="stdin",
              help="Read records from this file.")
@click.option("--key-separator", "-K", metavar="SEP",
              help="Each line is KEY<SEP>VALUE (a line without SEP is an error).")
@click.option("--json", "json_input", is_flag=True,
              help='Each line is a JSON record: {"key", "value", "headers", "partition", "timestamp"}; '
                   'bytes as strings or {"base64": ...} (the form consume --json and export write).')
@click.option("--partition", "-p", type=click.IntRange(min=0),
              help="Write every record to this partition (default: by key hash, as Kafka's producer).")
@click.option("--header", "-H", "headers", multiple=True, metavar="NAME=VALUE",
              help="Add a header to every record (repeatable).")
@click.option("--timestamp", metavar="TIME", help="Timestamp of every record: ISO-8601 or epoch ms (default: now).")
@with_producer_options
@connection_options
def produce(topic: str, file: IO[bytes], key_separator: str | None, json_input: bool, partition: int | None,
            headers: tuple[str, ...], timestamp: str | None, acks: str, compression: str, idempotence: bool,
            **conn: Any) -> None:
    """Write records to TOPIC, one per line of stdin or --file.

    \b
    Lines are raw values, KEY<SEP>VALUE with --key-separator, or JSON records with --json.
    A malformed line stops the command with its line number; the lines before it are written.

    \b
    Example:
      printf 'user1:hello\\nuser2:world\\n' | kafkaish produce greetings -K :
    """
    separator = key_separator.encode() if key_separator is not None else None
    header_pairs = [_header(h) for h in headers]
    ts = parse_timestamp(timestamp) if timestamp is not None else None
    per_partition: dict[int, int] = {}

    def acked(p: int, n: int) -> None:
        per_partition[p] = per_partition.get(p, 0) + n

    with cluster_from(conn) as cluster:
        info = cluster.topic(topic)
        producer = Producer(cluster, info, acks=ACKS[acks], compression=COMPRESSION[compression],
                            idempotent=idempotence, on_acked=acked)
        try:
            for lineno, line in lines_of(file):
                record = parse_line(line, lineno, as_json=json_input, separator=separator, headers=header_pairs,
                                    partition=partition, timestamp=ts)
                if record is not None:
                    producer.send(record)
        except LineError:
            producer.flush()
            raise
        producer.flush()
    total = sum(per_partition.values())
    spread = ", ".join(f"{p}: {n}" for p, n in sorted(per_partition.items()))
    warn(f"Produced {total} record{'s' if total != 1 else ''} to {topic}" + (f" (partition {spread})." if spread else "."))
