"""Logging setup for ``kafkaish serve``: text or JSON lines on stderr.

``setup(level, fmt)``: ``text`` is ``time LEVEL logger: message``; ``json`` writes one object per
line with ``ts`` (ISO 8601 UTC), ``level``, ``logger``, ``message`` and the record's structured
fields (the per-request line at DEBUG carries ``api``, ``api_version``, ``client_id``,
``correlation_id``, ``duration_ms``, ``error_code``), plus ``exc`` with a traceback.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import datetime, timezone

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime", "taskName"}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        out = {"ts": datetime.fromtimestamp(record.created, timezone.utc).isoformat(timespec="milliseconds"),
               "level": record.levelname, "logger": record.name, "message": record.getMessage()}
        for k, v in vars(record).items():
            if k not in _STANDARD and k not in out:
                out[k] = v
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return json.dumps(out, default=str, ensure_ascii=False)


def setup(level: str = "INFO", fmt: str = "text") -> None:
    """Route the root logger to stderr in ``fmt`` at ``level`` (replacing earlier handlers)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else logging.Formatter(TEXT_FORMAT))
    root = logging.getLogger()
    for h in list(root.handlers):
        root.removeHandler(h)
    root.addHandler(handler)
    root.setLevel(level)
