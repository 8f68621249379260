"""Named crash points: a test makes a recipe's process SIGKILL itself at a precise place.

A recipe calls ``crash_point("mid_batch")`` where a crash teaches something, e.g. between
committing offsets and processing. Nothing happens unless the environment variable
``RECIPE_CRASH_AT`` names that point: ``RECIPE_CRASH_AT=mid_batch`` kills the process the first
time it gets there, ``RECIPE_CRASH_AT=mid_batch@3`` the third time. SIGKILL gives the process no
chance to flush, close or leave its group: the same as a power cut or an OOM kill.
"""

from __future__ import annotations

import os
import signal
from collections import Counter

_seen: Counter[str] = Counter()


def crash_point(name: str) -> None:
    target = os.environ.get("RECIPE_CRASH_AT", "")
    point, _, nth = target.partition("@")
    if point != name:
        return
    _seen[name] += 1
    if _seen[name] == int(nth or 1):
        os.kill(os.getpid(), signal.SIGKILL)


def append_line(path: str, line: str) -> None:
    """The side effect the recipes' consumers perform: one line appended to a file.

    O_APPEND writes of a short line are atomic and reach the kernel at once, so a line
    written before a SIGKILL is never lost or torn, and several processes can share a file.
    """
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, (line + "\n").encode())
    finally:
        os.close(fd)
