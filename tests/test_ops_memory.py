"""The memory_snapshot admin action: tracing on request, growth between snapshots named by line."""

from __future__ import annotations

import tracemalloc

from twisted.trial.unittest import SynchronousTestCase

from mcproxy.ops.admin import ActionError
from mcproxy.ops.memory import MemorySnapshots


class MemorySnapshotsTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.assertFalse(tracemalloc.is_tracing())
        self.action = MemorySnapshots()
        self.addCleanup(tracemalloc.stop)

    def test_growth_named_by_line(self) -> None:
        """Memory kept between two snapshots is reported against the line that allocated it."""
        started = self.action({"start": True, "frames": 2})
        self.assertEqual((started["tracing"], started["frames"]), (True, 2))
        kept = [bytearray(1000) for _ in range(200)]
        answer = self.action({})
        top = answer["since_previous"][0]
        self.assertTrue(top["where"].endswith(f"test_ops_memory.py:{kept_line()}"), top)
        self.assertGreaterEqual(top["size_diff"], 200_000)
        self.assertGreaterEqual(top["count_diff"], 200)
        self.assertEqual(len(kept), 200)

    def test_stop_turns_tracing_off(self) -> None:
        """Stopping ends tracing; a snapshot asked for then is refused, not answered empty."""
        self.action({"start": True})
        self.assertEqual(self.action({"stop": True}), {"tracing": False})
        self.assertFalse(tracemalloc.is_tracing())
        with self.assertRaises(ActionError) as raised:
            self.action({})
        self.assertEqual(raised.exception.code, 409)

    def test_bad_frames_refused(self) -> None:
        """A frame count that is not an integer from 1 to 64 is refused with why."""
        for frames in (0, 65, "4", True, 2.5):
            with self.assertRaises(ActionError):
                self.action({"start": True, "frames": frames})
        self.assertFalse(tracemalloc.is_tracing())


def kept_line() -> int:
    """The line of ``kept = ...`` in test_growth_named_by_line."""
    import inspect
    source, first = inspect.getsourcelines(MemorySnapshotsTests.test_growth_named_by_line)
    return first + next(i for i, text in enumerate(source) if "kept = [" in text)
