"""Consumer-group rebalance latency against a kafkaish server subprocess.

Measures, for 3 confluent-kafka members of one group on a 6-partition topic:
  join   - from the members' subscribe() until together they hold every partition, disjointly
  leave  - from one member's close() until the other two hold every partition
with `heartbeat.interval.ms=500` (session 6000) and with the client defaults (3000 / 45000),
for each `group.initial.rebalance.delay.ms` given.

    python scripts/bench_groups.py [--delays 0,100,300] [--runs 3] [--protocol classic|consumer]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import time
import uuid
from typing import Any

from kafkaish.testing import ServerProcess

PARTITIONS = 6
MEMBERS = 3
PROFILES: dict[str, dict[str, Any]] = {
    "heartbeat 500 ms": {"heartbeat.interval.ms": 500, "session.timeout.ms": 6000},
    "client defaults": {},
}


def start_server(delay_ms: int) -> tuple[subprocess.Popen[str], str]:
    server = ServerProcess("--in-memory", "--group-initial-rebalance-delay-ms", str(delay_ms)).start()
    assert server.proc is not None
    return server.proc, server.bootstrap


def create_topic(bootstrap: str, topic: str) -> None:
    from confluent_kafka.admin import AdminClient, NewTopic

    admin = AdminClient({"bootstrap.servers": bootstrap})  # must outlive the futures
    for f in admin.create_topics([NewTopic(topic, PARTITIONS, 1)]).values():
        f.result(30)


def covered(consumers: list[Any]) -> bool:
    owned = [frozenset(tp.partition for tp in c.assignment()) for c in consumers]
    return all(owned) and sum(map(len, owned)) == PARTITIONS and len(frozenset().union(*owned)) == PARTITIONS


def poll_until_covered(consumers: list[Any], timeout_s: float = 60) -> float:
    start = time.perf_counter()
    while not covered(consumers):
        if time.perf_counter() - start > timeout_s:
            raise TimeoutError("partitions never covered")
        for c in consumers:
            c.poll(0.005)
    return time.perf_counter() - start


def one_run(bootstrap: str, profile: dict[str, Any], protocol: str) -> tuple[float, float]:
    from confluent_kafka import Consumer

    topic, group = f"bench-{uuid.uuid4().hex[:8]}", f"g-{uuid.uuid4().hex[:8]}"
    create_topic(bootstrap, topic)
    conf = {"bootstrap.servers": bootstrap, "group.id": group, "log_level": 3}
    if protocol == "consumer":
        conf["group.protocol"] = "consumer"
    else:
        conf.update(profile)
    consumers = [Consumer({**conf, "client.id": f"m{i}"}) for i in range(MEMBERS)]
    t0 = time.perf_counter()
    for c in consumers:
        c.subscribe([topic])
    poll_until_covered(consumers)
    join_s = time.perf_counter() - t0
    leaving = consumers.pop()
    t1 = time.perf_counter()
    leaving.close()
    poll_until_covered(consumers)
    leave_s = time.perf_counter() - t1
    for c in consumers:
        c.close()
    return join_s, leave_s


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--delays", default="0,100,300", help="initial rebalance delays (ms) to compare")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--protocol", choices=("classic", "consumer"), default="classic")
    args = parser.parse_args()
    print(f"{'delay':>6}  {'profile':<18} {'join median (runs)':<34} {'leave median (runs)'}")
    for delay in (int(d) for d in args.delays.split(",")):
        proc, bootstrap = start_server(delay)
        try:
            for name, profile in PROFILES.items():
                if args.protocol == "consumer" and profile:
                    continue  # KIP-848: the broker decides the heartbeat interval
                runs = [one_run(bootstrap, profile, args.protocol) for _ in range(args.runs)]
                joins = [j for j, _ in runs]
                leaves = [le for _, le in runs]
                fmt = lambda xs: f"{statistics.median(xs):.3f}s ({', '.join(f'{x:.2f}' for x in xs)})"  # noqa: E731
                print(f"{delay:>4}ms  {name:<18} {fmt(joins):<34} {fmt(leaves)}", flush=True)
        finally:
            proc.terminate()
            proc.wait(10)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
