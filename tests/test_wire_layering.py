"""mcproxy.wire stays free of Twisted, so its codecs run and fuzz on their own."""

from __future__ import annotations

import pkgutil
import subprocess
import sys
from pathlib import Path

from twisted.trial.unittest import SynchronousTestCase

import mcproxy.wire

REPO = Path(__file__).resolve().parent.parent


class LayeringTests(SynchronousTestCase):
    def test_no_twisted_import(self) -> None:
        """Importing every mcproxy.wire module in a fresh interpreter loads no Twisted."""
        modules = [f"mcproxy.wire.{m.name}" for m in pkgutil.iter_modules(mcproxy.wire.__path__)]
        self.assertIn("mcproxy.wire.compression", modules)
        script = (f"import sys\nfor name in {modules!r}:\n    __import__(name)\n"
                  "print(sorted(m for m in sys.modules if m.split('.')[0] == 'twisted'))")
        done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                              cwd=str(REPO), env={"PYTHONPATH": str(REPO)}, check=True)
        self.assertEqual(done.stdout.strip(), "[]")
