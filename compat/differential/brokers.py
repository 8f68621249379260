"""The two brokers a differential run compares: kafkaish (compat/servers.py) and the
reference Apache Kafka with its defaults (compat/reference.py). Both on 127.0.0.1 only."""
from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from reference import ReferenceKafka, reference_missing  # noqa: E402,F401  (compat/reference.py)
from servers import Server  # noqa: E402  (compat/servers.py)


def start_kafkaish(log_dir: Path, flags: tuple[str, ...] = ()) -> Server:
    return Server("differential-kafkaish", flags, log_dir / "differential.kafkaish.log").start()


def start_reference(log_dir: Path, overrides: tuple[str, ...] = ()) -> ReferenceKafka:
    return ReferenceKafka("differential-reference", log_dir / "differential.reference.log", overrides).start()
