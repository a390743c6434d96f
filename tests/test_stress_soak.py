"""The soak's fault timetable and its growth windows (the run itself is ``python -m stress soak``)."""

from __future__ import annotations

from twisted.internet import defer
from twisted.trial.unittest import SynchronousTestCase

from stress.soak import Fault, dropped_by_why, fault_begins, lost_by_cause, schedule


class SlowSnapshots:
    """A memory trace whose snapshot holds things still for 8 s of the given clock."""

    def __init__(self, now: list) -> None:
        self.now = now
        self.taken = [{}]

    def take(self):
        self.now[0] += 8.0
        return defer.succeed(None)


class FaultBeginsTests(SynchronousTestCase):
    def test_fault_begins_before_the_snapshot_ahead_of_it(self):
        """With --trace-memory a snapshot precedes each fault and holds the proxy still; the
        fault's window starts before it, so lines said meanwhile are the fault's (a run
        counted 165 of them unexplained when it started after)."""
        now = [100.0]
        began = self.successResultOf(fault_begins(SlowSnapshots(now), clock=lambda: now[0]))
        self.assertEqual((began, now[0]), (100.0, 108.0))

    def test_without_tracing(self):
        """Without tracing a fault begins when it is called."""
        self.assertEqual(self.successResultOf(fault_begins(None, clock=lambda: 5.0)), 5.0)


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


class LostByCauseTests(SynchronousTestCase):
    FAULTS = [Fault("restart", "lobby", 1000.0, 1010.0), Fault("cut", "lobby", 2000.0, 2012.0)]

    def cause(self, **line) -> dict:
        return lost_by_cause([line], self.FAULTS)

    def test_restart_window(self):
        """A line sent to the restarting backend from just before its stop until its players
        were placed again is the restart's; one sent to the other server then is not."""
        self.assertEqual(self.cause(at=999_000, server="lobby")["restart"], 1)
        self.assertEqual(self.cause(at=1_060_000, server="lobby")["restart"], 1)
        self.assertEqual(self.cause(at=1_005_000, server="game")["unexplained"], 1)
        self.assertEqual(self.cause(at=990_000, server="lobby")["unexplained"], 1)

    def test_cut_end_and_unexplained(self):
        """A line lost during a messaging cut, one still out at the end, and one lost for no
        known reason are told apart."""
        self.assertEqual(self.cause(at=2_005_000, server="game")["cut"], 1)
        self.assertEqual(self.cause(at=3_000_000, server="game", atEnd=True)["end"], 1)
        self.assertEqual(lost_by_cause([{"at": 3_000_000, "server": "game"}], self.FAULTS),
                         {"restart": 0, "cut": 0, "end": 0, "unexplained": 1})


class DroppedByWhyTests(SynchronousTestCase):
    def test_grouped_by_state_and_message(self):
        """Dropped players are counted by the state they were in and what they were told."""
        problems = [
            {"event": "ended", "state": "configuration", "kicked": "Lost connection to the server game."},
            {"event": "ended", "state": "configuration", "kicked": "Lost connection to the server game."},
            {"event": "ended", "state": "play", "kicked": None, "reason": "socketClosed"},
            {"event": "player_problem", "name": "Bot1", "ended": True},
        ]
        self.assertEqual(dropped_by_why(problems), {
            "configuration: Lost connection to the server game.": 2, "play: socketClosed": 1})
