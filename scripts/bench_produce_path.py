#!/usr/bin/env python3
"""Where the microseconds of one Produce request go, in process and without sockets.

Builds an in-memory ``Broker``, encodes a Produce request (v9, as librdkafka sends it) with
``--partitions`` partitions of one batch of ``--records`` records each, and times the three stages
the server runs per request: decode (``ServerCodec.decode_frame``), dispatch (handler, validation,
append to the partition logs, response objects) and encode (``ServerCodec.encode_response``).
What the kernel adds (recv, send, page faults of the frame) is not here: compare with the broker
CPU per record of ``bench_throughput.py``.

    python scripts/bench_produce_path.py
    PYTHONPATH=/path/to/older/kafkaish python scripts/bench_produce_path.py   # the same for older code
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import statistics
import time
import uuid

from kafkaish.broker import Broker
from kafkaish.config import Settings
from kafkaish.wire.codec import ClientCodec, ServerCodec
from kafkaish.wire.messages.produce import ProduceRequest
from kafkaish.wire.records import build_batch


def measure(partitions: int, records: int, size: int, iterations: int) -> tuple[float, float, float]:
    """Median µs per request of decode, dispatch and encode."""
    broker = Broker(Settings(in_memory=True))
    broker.storage.create_topic("t", partitions, {}, uuid.uuid4())
    batch = build_batch([(b"k", b"x" * size)] * records, timestamp_ms=int(time.time() * 1000))
    request = ProduceRequest(transactional_id=None, acks=-1, timeout_ms=30000, topic_data=[
        ProduceRequest.TopicProduceData(name="t", partition_data=[
            ProduceRequest.PartitionProduceData(index=i, records=batch) for i in range(partitions)])])
    frame = ClientCodec("rdkafka").encode_request(request, 9)[1][4:]
    server = ServerCodec(broker.supported_versions)

    async def run() -> tuple[float, float, float]:
        decode: list[float] = []
        dispatch: list[float] = []
        encode: list[float] = []
        gc.collect()
        gc.freeze()  # as kafkaish serve does once ready
        for i in range(iterations + 1):
            buf = memoryview(bytearray(frame))  # a fresh frame, as the socket fills one per request
            t0 = time.perf_counter()
            decoded = server.decode_frame(buf)
            t1 = time.perf_counter()
            response = await broker.dispatch(decoded)
            t2 = time.perf_counter()
            ServerCodec.encode_response(decoded, response)
            t3 = time.perf_counter()
            if i:  # the first request loads the handler and compiles the codecs
                decode.append(t1 - t0)
                dispatch.append(t2 - t1)
                encode.append(t3 - t2)
        gc.unfreeze()
        # medians: a shared machine's scheduling and the odd garbage collection do not move them
        return tuple(statistics.median(x) * 1e6 for x in (decode, dispatch, encode))  # type: ignore[return-value]

    try:
        return asyncio.run(run())
    finally:
        broker.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--shapes", default="1x1,3x400,20x1,1000x1",
                    help="comma list of PARTITIONSxRECORDS (records per partition's batch)")
    ap.add_argument("--size", type=int, default=100, help="value bytes per record")
    ap.add_argument("--requests", type=int, default=20000, help="records' worth of requests per shape")
    args = ap.parse_args()
    print(f"# Produce v9, one batch per partition, {args.size} B values; µs per request (median)")
    print("| partitions x records | decode | dispatch (handler, append) | per partition | encode | total per record |")
    print("|---|---|---|---|---|---|")
    for shape in args.shapes.split(","):
        partitions, records = (int(x) for x in shape.split("x"))
        iterations = max(20, args.requests // (partitions * records))
        d, h, e = measure(partitions, records, args.size, iterations)
        print(f"| {partitions} x {records} | {d:.1f} | {h:.1f} | {h / partitions:.2f} | {e:.1f} "
              f"| {(d + h + e) / (partitions * records):.3f} |", flush=True)


if __name__ == "__main__":
    main()
