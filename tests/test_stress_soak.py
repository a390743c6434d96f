"""The soak's fault timetable and its growth windows (the run itself is ``python -m stress soak``)."""

from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase

from stress.soak import schedule


class ScheduleTests(SynchronousTestCase):
    def test_thirty_minutes(self):
        """Over 30 minutes: a backend restart every 5 minutes and a messaging cut every 7,
        in time order, none in the last 30 s (the run must see each one recover)."""
        events = schedule(1800, 300, 420)
        self.assertEqual(events, [(300, "restart"), (420, "cut"), (600, "restart"), (840, "cut"),
                                  (900, "restart"), (1200, "restart"), (1260, "cut"), (1500, "restart"),
                                  (1680, "cut")])

    def test_short_run(self):
        """A shortened run keeps the same shape."""
        self.assertEqual(schedule(150, 50, 70), [(50, "restart"), (70, "cut"), (100, "restart")])
