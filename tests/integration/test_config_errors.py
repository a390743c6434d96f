"""A config with two mistakes, given to the real ``twistd`` and ``mcproxyctl``: both mistakes
reported at once, in file order, with no usage text and exit status 1."""

from __future__ import annotations

import os

from twisted.internet import defer
from twisted.internet.utils import getProcessOutputAndValue
from twisted.trial.unittest import TestCase

from tests.integration.deployment import BIN, mcproxyctl
from tests.integration.harness import REPO, temp_dir

TWO_MISTAKES = """\
[proxy]
bind = "tcp:0:interface=127.0.0.1"
forwarding = "velocity"

[servers]
lobby = "127.0.0.1:25566"
try = ["lobby"]

[rate_limits]
handshake_concurrent_max = 0
"""


class TwoMistakesTests(TestCase):
    timeout = 60

    def write(self) -> str:
        path = temp_dir(self) / "proxy.toml"
        path.write_text(TWO_MISTAKES)
        return str(path)

    def expected(self, path: str) -> list[str]:
        return [f"{path}: proxy.forwarding: must be one of none, legacy, bungeeguard, modern, not 'velocity'",
                f"{path}: rate_limits.handshake_concurrent_max: must be between 1 and 65536, not 0"]

    @defer.inlineCallbacks
    def test_twistd_reports_both(self):
        """``twistd -n mcproxy`` exits 1 with both mistakes on stderr, in file order, each
        prefixed by the plugin, and nothing else: no usage block, no traceback."""
        path = self.write()
        out, err, code = yield getProcessOutputAndValue(
            str(BIN / "twistd"), ["-n", "--pidfile=", "mcproxy", "-c", path],
            env=dict(os.environ, PYTHONPATH=str(REPO)), path=str(REPO))
        self.assertEqual(code, 1)
        self.assertEqual(out, b"")
        self.assertEqual(err.decode().splitlines(), [f"twistd mcproxy: {line}" for line in self.expected(path)])

    @defer.inlineCallbacks
    def test_check_config_reports_both(self):
        """``mcproxyctl check-config`` prints the same two lines and exits 1."""
        path = self.write()
        code, out = yield mcproxyctl("check-config", path)
        self.assertEqual(code, 1)
        self.assertEqual(out.splitlines(), self.expected(path))
