"""pytest-only setup; trial ignores this file."""

from __future__ import annotations

import os
import shutil
import tempfile

from twisted.trial._synctest import SynchronousTestCase

_BASE = tempfile.mkdtemp(prefix="mcproxy-pytest-")


def _mktemp(self) -> str:
    """Trial's mktemp, but under a temporary folder instead of the working directory.

    Trial runs tests inside ``_trial_temp``; pytest runs them from the checkout, where
    trial's relative paths would leave folders behind.
    """
    return os.path.join(tempfile.mkdtemp(prefix=f"{type(self).__name__}.", dir=_BASE), "temp")


SynchronousTestCase.mktemp = _mktemp


def pytest_unconfigure(config) -> None:
    shutil.rmtree(_BASE, ignore_errors=True)
