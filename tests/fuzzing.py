"""How hard the property-based fuzz tests push: a few hundred examples in CI, more on demand.

``MCPROXY_FUZZ_EXAMPLES=20000 .venv/bin/python -m pytest tests/test_fuzz_*.py`` runs the long
campaign; without it every test runs a fixed, derandomized few hundred so CI stays fast and
repeatable.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

LONG_RUN = "MCPROXY_FUZZ_EXAMPLES" in os.environ
EXAMPLES = int(os.environ.get("MCPROXY_FUZZ_EXAMPLES", "300"))


def fuzz(examples: int = EXAMPLES) -> settings:
    """Settings for one fuzz target; ``examples`` is scaled by the long-run variable."""
    if LONG_RUN:
        examples = EXAMPLES
    return settings(max_examples=examples, deadline=None, derandomize=not LONG_RUN,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
