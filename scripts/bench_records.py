"""Time the broker's per-batch hot path on a realistic ~16 KiB RecordBatch v2.

The append path does parse_header + verify_crc + set_base_offset for every produced batch,
so that is what we time, next to the same header parse written with ``construct`` (the
reason records.py uses a precompiled ``struct.Struct``). Prints figures only.

    python scripts/bench_records.py [--number N]
"""

from __future__ import annotations

import argparse
import json
import timeit
from collections.abc import Callable
from functools import partial

import construct as c

from kafkaish.wire.records import (
    Record,
    build_batch,
    compute_crc,
    decode_records,
    parse_header,
    set_base_offset,
    verify_crc,
)

_CONSTRUCT_HEADER = c.Struct(
    "base_offset" / c.Int64sb,
    "batch_length" / c.Int32sb,
    "partition_leader_epoch" / c.Int32sb,
    "magic" / c.Int8sb,
    "crc" / c.Int32ub,
    "attributes" / c.Int16sb,
    "last_offset_delta" / c.Int32sb,
    "base_timestamp" / c.Int64sb,
    "max_timestamp" / c.Int64sb,
    "producer_id" / c.Int64sb,
    "producer_epoch" / c.Int16sb,
    "base_sequence" / c.Int32sb,
    "records_count" / c.Int32sb,
)
_CONSTRUCT_HEADER_COMPILED = _CONSTRUCT_HEADER.compile()


def realistic_batch(target: int = 16 * 1024) -> bytes:
    """Keyed JSON-ish events with one header each, built up to ~``target`` bytes."""
    records: list[Record] = []
    size = 0
    i = 0
    while size < target - 200:
        value = json.dumps(
            {"order_id": 100_000 + i, "customer": f"cust-{i % 97:04d}", "amount_cents": 1999 + 37 * i,
             "currency": "EUR", "items": [{"sku": f"SKU-{j:05d}", "qty": j % 4 + 1} for j in range(3)]}
        ).encode()  # fmt: skip
        key = f"cust-{i % 97:04d}".encode()
        records.append(Record(i, 1_700_000_000_000 + i, key, value, [("trace", b"%016x" % i)]))
        size += len(value) + 40
        i += 1
    return build_batch(records, producer_id=1000, producer_epoch=0, base_sequence=0)


def _time(label: str, fn: Callable[[], object], number: int) -> float:
    best = min(timeit.repeat(fn, number=number, repeat=5)) / number * 1e6
    print(f"  {label:<52} {best:10.2f} us/batch")
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--number", type=int, default=20_000)
    args = parser.parse_args()
    data = realistic_batch()
    buf = bytearray(data)
    header = parse_header(buf)
    print(f"batch: {len(data)} bytes, {header.records_count} records, uncompressed")

    def hot_path() -> None:
        h = parse_header(buf, 0)
        if not verify_crc(buf, 0, h):
            raise AssertionError("crc")
        set_base_offset(buf, 0, 42)

    def hot_path_construct() -> None:
        h = _CONSTRUCT_HEADER.parse(buf)
        if h.magic != 2 or compute_crc(buf, 0, 12 + h.batch_length) != h.crc:
            raise AssertionError("crc")
        set_base_offset(buf, 0, 42)

    n = args.number
    print("header parse only:")
    ours = _time("records.parse_header (struct.Struct)", lambda: parse_header(buf, 0), n)
    slow = _time("construct.Struct.parse", lambda: _CONSTRUCT_HEADER.parse(buf), max(n // 10, 100))
    slow_c = _time("construct.Struct.compile().parse", lambda: _CONSTRUCT_HEADER_COMPILED.parse(buf), max(n // 5, 100))
    print(f"  -> construct is {slow / ours:.0f}x slower ({slow_c / ours:.0f}x compiled)")
    print("append hot path (parse_header + verify_crc + set_base_offset):")
    total = _time("records (struct)", hot_path, n)
    _time("same with construct header parse", hot_path_construct, max(n // 10, 100))
    _time("verify_crc alone (CRC-32C of ~16 KiB)", lambda: verify_crc(buf, 0, header), n)
    print(f"  -> {1e6 / total:,.0f} batches/s, {len(data) * 1e6 / total / 2**20:,.0f} MiB/s")
    print("for reference (not on the append path):")
    _time("decode_records (all records)", lambda: decode_records(buf), max(n // 100, 20))
    for codec, name in [(1, "gzip"), (2, "snappy"), (3, "lz4"), (4, "zstd")]:
        packed = build_batch(decode_records(buf), compression=codec)
        _time(f"decode_records {name} ({len(packed)} bytes)", partial(decode_records, packed), max(n // 100, 20))


if __name__ == "__main__":
    main()
