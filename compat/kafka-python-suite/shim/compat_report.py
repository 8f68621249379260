"""pytest plugin for the compat run: one JSON line per test outcome in $COMPAT_SUITE_REPORT."""
from __future__ import annotations

import json
import os


def pytest_runtest_logreport(report) -> None:
    path = os.environ.get("COMPAT_SUITE_REPORT")
    if not path:
        return
    if report.when == "call" or report.outcome != "passed":
        if report.skipped:
            reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        elif report.failed:
            crash = getattr(report.longrepr, "reprcrash", None)
            reason = f"{report.when}: {crash.message if crash else report.longreprtext}"
        else:
            reason = ""
        with open(path, "a", encoding="utf-8") as out:
            out.write(json.dumps({"test": report.nodeid, "outcome": report.outcome, "when": report.when,
                                  "reason": " ".join(str(reason).split())[:300],
                                  "duration": round(report.duration, 2)}) + "\n")
