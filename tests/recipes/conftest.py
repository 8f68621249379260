"""Run the recipes of docs/recipes/ against an embedded kafkaish, with faults.

Recipe code lives in docs/recipes/kafka_recipes/ (the pages include it); tests import it
in-process or start it as a real subprocess (``run_recipe``) that a test can have SIGKILL
itself at a named crash point (``RECIPE_CRASH_AT``, see kafka_recipes/crash.py).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from kafkaish.testing import EmbeddedBroker, run_broker
from tests.recipes import helpers  # noqa: F401 - puts docs/recipes on sys.path


@pytest.fixture
def kb() -> Iterator[EmbeddedBroker]:
    with run_broker(in_memory=True) as broker:
        yield broker


@pytest.fixture
def name() -> str:
    """A fresh name for topics and groups."""
    return f"r-{uuid.uuid4().hex[:8]}"


