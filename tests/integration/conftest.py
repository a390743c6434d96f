"""pytest-timeout's limit for each integration test follows the test's own trial ``timeout``.

setup.cfg's 120 s is the backstop for tests that set none; a class that allows itself longer
(a real peer's join on a loaded machine can take 10 s and more) must not be cut off sooner by
pytest than by trial, whose timeout fails the test with its cleanups run.
"""

from __future__ import annotations

import pytest

#: How long after trial's own timeout pytest-timeout steps in.
MARGIN = 30


def pytest_collection_modifyitems(items):
    for item in items:
        limit = getattr(getattr(item, "cls", None), "timeout", None)
        if isinstance(limit, (int, float)) and item.get_closest_marker("timeout") is None:
            item.add_marker(pytest.mark.timeout(limit + MARGIN))
