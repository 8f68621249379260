"""Export/import throughput of the kafkaish CLI, side by side with kcat on the same data.

Starts ``kafkaish serve --in-memory`` (a subprocess), then for 100 B and 1 KiB values:
  import   - ``kafkaish import FILE TOPIC`` of a JSON-lines file (idempotent producer, acks=all)
  kcat -P  - ``kcat -P -K : -l`` of the same keys and values as text lines
             (acks=all, enable.idempotence=true, as kafkaish import)
  export   - ``kafkaish export TOPIC FILE`` of the whole topic to JSON lines
  kcat -C  - ``kcat -C -e -f '%k:%s\\n'`` of the same topic to a file
  produce / consume - ``kafkaish produce -K :`` and ``kafkaish consume -f '%k:%s\\n'`` of the text lines
Also the start-up of a client command: ``kafkaish topics list`` against the same broker
(--startup-runs times; min and median wall time of the whole process).
Records/s count records; MB/s counts key + value bytes (1 MB = 10^6 B). Each figure is the
best of --runs, wall time of the whole command including its start.

    python scripts/bench_cli.py [--records 200000] [--runs 3] [--sizes 100,1024] [--partitions 3]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import re
import shutil
import string
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def start_server() -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen([sys.executable, "-m", "kafkaish", "serve", "--port", "0", "--in-memory",
                             "--log-level", "WARNING"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert proc.stdout is not None
    for line in proc.stdout:
        m = re.match(r"kafkaish ready on (\S+):(\d+)", line)
        if m:
            return proc, f"{m.group(1)}:{m.group(2)}"
    raise RuntimeError("server exited before it was ready")


def kafkaish(*args: str, stdin: Path | None = None, stdout: Path | None = None) -> None:
    with open(stdin or os.devnull, "rb") as i, open(stdout or os.devnull, "wb") as o:
        subprocess.run([sys.executable, "-m", "kafkaish", *args], stdin=i, stdout=o, stderr=subprocess.PIPE,
                       check=True)


def timed(fn, runs: int) -> float:
    best = float("inf")
    for run in range(runs):
        start = time.perf_counter()
        fn(run)
        best = min(best, time.perf_counter() - start)
    return best


def make_data(directory: Path, count: int, size: int) -> tuple[Path, Path, int]:
    rnd = random.Random(size)
    alphabet = (string.ascii_letters + string.digits).encode()
    payload = 0
    now_ms = int(time.time() * 1000)  # recent: the broker's 7-day retention must not delete them
    jsonl, text = directory / f"in-{size}.jsonl", directory / f"in-{size}.txt"
    with jsonl.open("w") as j, text.open("wb") as t:
        for i in range(count):
            key = b"key-%08d" % i
            value = bytes(rnd.choices(alphabet, k=size))
            payload += len(key) + len(value)
            j.write(json.dumps({"key": key.decode(), "value": value.decode(), "timestamp": now_ms + i}))
            j.write("\n")
            t.write(key + b":" + value + b"\n")
    return jsonl, text, payload


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--records", type=int, default=200_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--sizes", default="100,1024")
    parser.add_argument("--partitions", type=int, default=3)
    parser.add_argument("--startup-runs", type=int, default=20)
    parser.add_argument("--startup-only", action="store_true", help="measure only the start-up")
    args = parser.parse_args()
    kcat = shutil.which("kcat") or shutil.which("kafkacat")
    proc, boot = start_server()
    rows: list[tuple[str, int, float, int]] = []
    exe = shutil.which("kafkaish", path=str(Path(sys.executable).parent)) or shutil.which("kafkaish")
    startup = []
    try:
        kafkaish("topics", "create", "startup", "-b", boot)
        for _ in range(args.startup_runs):
            start = time.perf_counter()
            subprocess.run([exe or sys.executable, *([] if exe else ["-m", "kafkaish"]), "topics", "list", "-b", boot],
                           stdout=subprocess.DEVNULL, check=True)
            startup.append(time.perf_counter() - start)
        startup.sort()
        print(f"kafkaish topics list: min {startup[0] * 1000:.0f} ms, median {startup[len(startup) // 2] * 1000:.0f} ms "
              f"({args.startup_runs} runs)")
        if args.startup_only:
            return
        with tempfile.TemporaryDirectory() as tmp:
            work = Path(tmp)
            for size in (int(s) for s in args.sizes.split(",")):
                jsonl, text, payload = make_data(work, args.records, size)
                n = args.records

                def topic(kind: str, run: int) -> str:
                    name = f"{kind}-{size}-{run}"
                    kafkaish("topics", "create", name, "--partitions", str(args.partitions), "-b", boot)
                    return name

                imported = []
                rows.append(("kafkaish import", size, timed(lambda r: imported.append(
                    (kafkaish("import", str(jsonl), t := topic("imp", r), "-b", boot, "--no-progress"), t)[1]),
                    args.runs), payload))
                src = imported[-1]
                out = work / "out.jsonl"
                rows.append(("kafkaish export", size, timed(lambda r: kafkaish(
                    "export", src, str(out), "--force", "-b", boot, "--no-progress"), args.runs), payload))
                with out.open("rb") as f:
                    assert sum(1 for _ in f) == n + 1, "the export is short"  # + its header line
                rows.append(("kafkaish produce -K :", size, timed(lambda r: kafkaish(
                    "produce", topic("prod", r), "-K", ":", "-b", boot, stdin=text), args.runs), payload))
                rows.append(("kafkaish consume -f", size, timed(lambda r: kafkaish(
                    "consume", src, "-f", "%k:%s\\n", "-b", boot, stdout=work / "out.txt"), args.runs), payload))
                if kcat:
                    def kcat_produce(r: int) -> None:
                        subprocess.run([kcat, "-P", "-b", boot, "-t", topic("kcat", r), "-K", ":", "-l",
                                        "-X", "enable.idempotence=true", "-X", "acks=all", str(text)], check=True)

                    def kcat_consume(r: int) -> None:
                        with (work / "kcat.txt").open("wb") as o:
                            subprocess.run([kcat, "-C", "-b", boot, "-t", src, "-o", "beginning", "-e", "-q",
                                            "-f", "%k:%s\n"], stdout=o, check=True)

                    rows.append(("kcat -P", size, timed(kcat_produce, args.runs), payload))
                    rows.append(("kcat -C", size, timed(kcat_consume, args.runs), payload))
    finally:
        proc.terminate()
        proc.wait(30)
    print(f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}, "
          f"{args.records} records, {args.partitions} partitions, best of {args.runs}"
          + ("" if kcat else "; kcat not installed"))
    print("| command | value size | seconds | records/s | MB/s |")
    print("|---|---|---|---|---|")
    for name, size, seconds, payload in rows:
        print(f"| {name} | {size} B | {seconds:.2f} | {args.records / seconds:,.0f} | {payload / seconds / 1e6:.1f} |")


if __name__ == "__main__":
    main()
