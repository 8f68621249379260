"""kafkaish.storage: partition logs behind one engine interface (memory and file).

Installed as ``kafkaish.storage``; a top-level ``storage`` import is refused.
"""

if __name__ != "kafkaish.storage":  # pragma: no cover - exercised by tests/test_packaging.py
    raise ImportError(
        f"this package must be imported as kafkaish.storage, not {__name__!r}; "
        "install kafkaish (pip install -e .) instead of putting the repo root on sys.path"
    )

from typing import Any  # noqa: E402 - the guard above must run first

from kafkaish.storage.engine import StorageEngine  # noqa: E402
from kafkaish.storage.file import FileEngine  # noqa: E402
from kafkaish.storage.memory import MemoryEngine  # noqa: E402

__all__ = ["StorageEngine", "open_engine"]


def open_engine(url_or_path: str, **options: Any) -> StorageEngine:
    """``memory://`` -> MemoryEngine; a path or ``file:///path`` -> FileEngine (data directory).

    Options: ``fsync`` ("always" | "interval" | "never", default "interval"),
    ``fsync_interval_ms`` (1000), ``message_max_bytes`` (broker default for max.message.bytes),
    ``cluster_id`` (file engine: used when the directory is new; memory engine: its id),
    ``zero_copy`` (file engine: ``read`` returns ``FileRegion`` objects for sendfile instead of
    bytes; default False).
    """
    if url_or_path.startswith("memory:"):
        options.pop("zero_copy", None)
        return MemoryEngine(**options)
    path = url_or_path[len("file://"):] if url_or_path.startswith("file://") else url_or_path
    return FileEngine(path, **options)
