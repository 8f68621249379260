"""Every differential scenario, in report order (each module registers its own with @scenario)."""
from __future__ import annotations

import scenarios_data  # noqa: F401  (each import registers its scenarios)
import scenarios_admin  # noqa: F401
import scenarios_groups  # noqa: F401
import scenarios_txn  # noqa: F401
from ops import ALL_SCENARIOS

__all__ = ["ALL_SCENARIOS"]
