"""twistd finds the ``mcbackend`` plugin (and ``mcproxy``) and its options load a config."""

from __future__ import annotations

import contextlib
import io
import shutil
import signal
import tempfile
from pathlib import Path

from twisted.application.service import IServiceMaker
from twisted.plugin import getPlugins
from twisted.trial.unittest import SynchronousTestCase

import twisted.plugins
from mcproxy.backend.service import BackendProcess
from mcproxy.ops.logging import LoggingMultiService
from mcproxy.proxy.service import ProxyProcess

SECRET = "mcproxy-test-" + "0123456789abcdef" * 3


class PluginTests(SynchronousTestCase):
    def makers(self) -> dict[str, IServiceMaker]:
        return {maker.tapname: maker for maker in getPlugins(IServiceMaker, twisted.plugins)}

    def test_both_plugins_found(self) -> None:
        """Plugin discovery sees mcproxy and mcbackend from the dropin."""
        makers = self.makers()
        self.assertIn("mcproxy", makers)
        self.assertIn("mcbackend", makers)

    def test_backend_options_load_config(self) -> None:
        """``mcbackend -c backend.toml`` parses and validates the config; a bad one is a
        one-line error on stderr, not a traceback."""
        directory = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, directory, True)
        good = Path(directory) / "backend.toml"
        good.write_text(f'[backend]\nproxy_secret = "{SECRET}"\n')
        options = self.makers()["mcbackend"].options()
        options.parseOptions(["-c", str(good)])
        self.assertEqual(options.config.backend.server_id, "lobby")
        bad = Path(directory) / "bad.toml"
        bad.write_text('[backend]\nmax_players = "many"\n')
        err = io.StringIO()
        with contextlib.redirect_stderr(err), self.assertRaises(SystemExit) as caught:
            self.makers()["mcbackend"].options().parseOptions(["-c", str(bad)])
        self.assertEqual(caught.exception.code, 1)
        self.assertIn("bad.toml: backend.max_players: must be an integer", err.getvalue())



class MakeServiceTests(SynchronousTestCase):
    """Each plugin's makeService wraps its process in the logging top service, and nothing else."""

    def setUp(self) -> None:
        self.directory = Path(tempfile.mkdtemp())
        self.addCleanup(shutil.rmtree, self.directory, True)
        previous = signal.getsignal(signal.SIGHUP)
        self.addCleanup(signal.signal, signal.SIGHUP, previous)

    def make(self, tapname: str, text: str):
        path = self.directory / f"{tapname}.toml"
        path.write_text(text + f'\n[logging]\nfile = "{self.directory / (tapname + ".log")}"\n')
        maker = {m.tapname: m for m in getPlugins(IServiceMaker, twisted.plugins)}[tapname]
        options = maker.options()
        options.parseOptions(["-c", str(path)])
        top = maker.makeService(options)
        self.addCleanup(top.log_observer.close)
        return top

    def test_backend(self) -> None:
        """``mcbackend`` gives a LoggingMultiService holding one BackendProcess."""
        top = self.make("mcbackend", f'[backend]\nproxy_secret = "{SECRET}"\n[admin]\nbind = ""\n')
        self.assertIsInstance(top, LoggingMultiService)
        [process] = list(top)
        self.assertIsInstance(process, BackendProcess)

    def test_proxy(self) -> None:
        """``mcproxy`` gives a LoggingMultiService holding one ProxyProcess."""
        top = self.make("mcproxy", f'[proxy]\nonline_mode = false\n[security]\nproxy_secret = "{SECRET}"\n'
                                   '[servers]\nlobby = "127.0.0.1:25566"\ntry = ["lobby"]\n'
                                   '[messaging]\nenabled = false\n[admin]\nbind = ""\n')
        self.assertIsInstance(top, LoggingMultiService)
        [process] = list(top)
        self.assertIsInstance(process, ProxyProcess)
