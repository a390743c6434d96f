"""The timing of a held fallback, on a fake clock."""

from __future__ import annotations

from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from mcproxy.proxy.deadlines import Deadlines
from mcproxy.proxy.session.hold import FallbackHold


class FallbackHoldTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.clock = Clock()
        self.deadlines = Deadlines(self.clock, resolution=0.5)
        self.deadlines.start()
        self.addCleanup(self.deadlines.stop)
        self.tries: list[float] = []
        self.keep_alives: list[tuple[float, int]] = []

    def hold(self, limit: float) -> FallbackHold:
        return FallbackHold(self.clock, self.deadlines, limit, lambda: self.tries.append(self.clock.seconds()),
                            lambda ident: self.keep_alives.append((self.clock.seconds(), ident)))

    def run_for(self, seconds: float, hold: FallbackHold) -> None:
        """Advance in half seconds; each try made is refused at once."""
        for _ in range(int(seconds * 2)):
            made = len(self.tries)
            self.clock.advance(0.5)
            if len(self.tries) > made:
                hold.refused()

    def test_backoff_grows_then_repeats(self) -> None:
        """Tries come 1, 2 and 4 s apart, then every 5 s; none past the limit."""
        hold = self.hold(30.0)
        self.assertTrue(hold.refused())
        self.run_for(40.0, hold)
        self.assertEqual(self.tries, [1.0, 3.0, 7.0, 12.0, 17.0, 22.0, 27.0])
        self.assertFalse(hold.active)
        self.assertEqual(len(self.deadlines), 0)

    def test_keep_alives_every_ten_seconds_while_held(self) -> None:
        """The client hears a keep-alive every 10 s, with a positive 31-bit id (a VarInt for old
        clients holds it), until the hold ends."""
        hold = self.hold(600.0)
        hold.refused()
        self.run_for(35.0, hold)
        self.assertEqual([at for at, _ in self.keep_alives], [10.0, 20.0, 30.0])
        self.assertTrue(all(0 <= ident < 2 ** 31 for _, ident in self.keep_alives))
        hold.end()
        self.clock.advance(20.0)
        self.assertEqual(len(self.keep_alives), 3)
        self.assertEqual(len(self.deadlines), 0)

    def test_limit_below_the_first_pause_means_no_try(self) -> None:
        """A limit shorter than the first pause gives up at the first refusal."""
        hold = self.hold(0.5)
        self.assertFalse(hold.refused())
        self.clock.advance(5.0)
        self.assertEqual(self.tries, [])
        self.assertEqual(self.keep_alives, [])
