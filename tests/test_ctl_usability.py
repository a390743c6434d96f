"""mcproxyctl's help for a mistyped command, and its waiting for a state a moment away."""

from __future__ import annotations

import contextlib
import io

from twisted.trial.unittest import SynchronousTestCase

from mcproxy.ctl import cli
from mcproxy.ctl.typo import unknown_command
from mcproxy.ctl.wait import poll


class UnknownCommandTests(SynchronousTestCase):
    def test_nearest_subcommand_suggested(self):
        """A typo names the nearest subcommand; options and their values before it are
        skipped; a word like none of them gets no guess."""
        top = cli.parser()
        self.assertEqual(unknown_command(["helth"], top),
                         "unknown command 'helth' (did you mean 'health'?); 'mcproxyctl --help' lists them")
        self.assertIn("did you mean 'sync-state'", unknown_command(["-c", "x.toml", "--json", "sync-stat"], top))
        self.assertIn("did you mean 'check-config'", unknown_command(["check-confg", "a.toml"], top))
        self.assertEqual(unknown_command(["zzz"], top), "unknown command 'zzz'; 'mcproxyctl --help' lists them")
        self.assertIsNone(unknown_command(["-c", "helth", "health"], top))
        self.assertIsNone(unknown_command(["--help"], top))

    def test_main_exits_2_with_the_hint_only(self):
        """``main`` prints the one hint line on stderr and exits 2 (usage)."""
        err = io.StringIO()
        with contextlib.redirect_stderr(err):
            code = cli.main(["stauts"])
        self.assertEqual(code, cli.USAGE)
        self.assertEqual(err.getvalue(),
                         "mcproxyctl: unknown command 'stauts' (did you mean 'status'?); "
                         "'mcproxyctl --help' lists them\n")


class FakeTime:
    def __init__(self) -> None:
        self.now = 0.0
        self.slept: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


class PollTests(SynchronousTestCase):
    def test_until_done(self):
        """Asked every interval until the answer says done; that answer is returned."""
        time = FakeTime()
        answers = iter([(False, 1), (False, 2), (True, 3), (True, 4)])
        self.assertEqual(poll(lambda: next(answers), 30, clock=time.clock, sleep=time.sleep), 3)
        self.assertEqual(time.slept, [0.5, 0.5])

    def test_gives_up_with_last_answer(self):
        """When time is up the last answer comes back, not done."""
        time = FakeTime()
        self.assertEqual(poll(lambda: (False, time.now), 2, clock=time.clock, sleep=time.sleep), 2.0)

    def test_errors_retried_until_deadline(self):
        """A listener not up yet is retried; still failing at the deadline, it is raised."""
        time = FakeTime()
        calls = []

        def refused():
            calls.append(time.now)
            raise cli.CtlError("cannot reach")
        self.assertRaises(cli.CtlError, poll, refused, 1.0, retry_on=(cli.CtlError,),
                          clock=time.clock, sleep=time.sleep)
        self.assertEqual(calls, [0.0, 0.5, 1.0])

    def test_zero_asks_once(self):
        """Without ``--wait`` the state is asked once, errors raised at once."""
        time = FakeTime()
        self.assertEqual(poll(lambda: (False, "x"), 0, clock=time.clock, sleep=time.sleep), "x")
        self.assertEqual(time.slept, [])

        def refused():
            raise cli.CtlError("cannot reach")
        self.assertRaises(cli.CtlError, poll, refused, 0, retry_on=(cli.CtlError,),
                          clock=time.clock, sleep=time.sleep)
