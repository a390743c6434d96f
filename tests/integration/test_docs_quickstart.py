"""Following the documentation, as written, on a fresh checkout reaches a healthy network.

The shell block of the README's "Running it yourself" and of docs/runbook.md's "Quickstart"
are run line by line, each line once as an operator pasting it would, in a copy of the
repository's tracked files. Two substitutions keep the
test bounded and parallel-safe, and nothing else is changed: the virtualenv line links the
test's own virtualenv instead of creating one (no network, no minutes of pip), and the example
configs' default ports are replaced by free ones.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path

from twisted.internet import defer, protocol, reactor
from twisted.internet.utils import getProcessOutputAndValue
from twisted.trial.unittest import SkipTest, TestCase

from tests.integration.harness import REPO, free_port, temp_dir

#: The example configs' ports, each replaced by a free one in the copy.
DEFAULT_PORTS = (25565, 25566, 25580, 8765, 8766)


def shell_block(markdown: str, heading: str) -> list[str]:
    """The command lines of the first ```sh block under ``heading`` (continuations joined)."""
    section = markdown.split(heading, 1)
    if len(section) != 2:
        raise AssertionError(f"no {heading!r} section")
    match = re.search(r"```sh\n(.*?)```", section[1], re.S)
    if match is None:
        raise AssertionError(f"no sh block under {heading!r}")
    text = match.group(1).replace("\\\n", " ")
    return [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]


def without_comment(line: str) -> str:
    """The command without its trailing ``# comment`` (the docs' lines have no '#' in commands)."""
    return line.split(" #", 1)[0].rstrip()


def promised_output(line: str) -> str:
    """What the line's comment says the command prints (its first quoted text), or ''."""
    comment = line.split(" #", 1)[1] if " #" in line else ""
    match = re.search(r'"([^"]+)"', comment)
    return match.group(1) if match else ""


def fresh_checkout(target: Path) -> None:
    """The tracked files of the repository, as a fresh clone of this tree would have them."""
    try:
        listed = subprocess.run(["git", "-C", str(REPO), "ls-files", "-z"], check=True,
                                capture_output=True, timeout=30).stdout
    except (OSError, subprocess.SubprocessError) as error:
        raise SkipTest(f"not a git checkout: {error}")
    for name in filter(None, listed.decode().split("\0")):
        source = REPO / name
        if source.is_file() and not source.is_symlink():
            destination = target / name
            destination.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, destination)


def use_free_ports(checkout: Path) -> dict[int, int]:
    ports = {port: free_port() for port in DEFAULT_PORTS}
    for name in ("proxy.toml", "backend.toml"):
        path = checkout / "etc" / name
        text = path.read_text()
        for old, new in ports.items():
            text = re.sub(rf"(?<=[:=]){old}\b", str(new), text)
        path.write_text(text)
    return ports


class _Background(protocol.ProcessProtocol):
    def __init__(self) -> None:
        self.ended: defer.Deferred = defer.Deferred()

    def processEnded(self, reason) -> None:
        self.ended.callback(None)


class QuickstartTests(TestCase):
    timeout = 90

    def run_block(self, lines: list[str]):
        """Run the documented lines in a fresh checkout; the output of each foreground line."""
        checkout = temp_dir(self) / "mcproxy"
        checkout.mkdir()
        fresh_checkout(checkout)
        use_free_ports(checkout)
        venv = Path(sys.prefix)
        env = dict(os.environ, PYTHONPATH=str(checkout))
        return self._follow(lines, checkout, venv, env)

    @defer.inlineCallbacks
    def _follow(self, lines: list[str], checkout: Path, venv: Path, env: dict):
        outputs: dict[str, str] = {}
        for line in lines:
            command = without_comment(line)
            if command.startswith("python3 -m venv .venv"):
                (checkout / ".venv").symlink_to(venv)
                continue
            if command.endswith("&"):
                self.background(command[:-1].strip(), checkout, env)
                continue

            # Each line runs once, as pasted: the block itself must wait for what it checks.
            out, err, code = yield getProcessOutputAndValue(
                "/bin/bash", ["-c", command], env=env, path=str(checkout))
            outputs[command] = (out + err).decode(errors="replace")
            promised = promised_output(line)
            self.assertEqual(code, 0, f"{command!r} failed: {outputs[command]}")
            self.assertIn(promised, outputs[command], f"{command!r} did not print what the docs say")
        return outputs

    def background(self, command: str, checkout: Path, env: dict) -> None:
        process = _Background()
        transport = reactor.spawnProcess(process, "/bin/bash", ["bash", "-c", f"exec {command}"],
                                         env=env, path=str(checkout))

        def stop():
            if not process.ended.called:
                transport.signalProcess(signal.SIGTERM)
                timer = reactor.callLater(10, lambda: process.ended.called or transport.signalProcess("KILL"))
                process.ended.addBoth(lambda _: timer.active() and timer.cancel())
            return process.ended
        self.addCleanup(stop)

    def check(self, outputs: dict[str, str]) -> None:
        health = [out for command, out in outputs.items() if "etc/proxy.toml health" in command]
        sync = [out for command, out in outputs.items() if "etc/backend.toml sync-state" in command]
        self.assertEqual(len(health), 1, outputs)
        self.assertIn("status: READY", health[0])
        self.assertIn("synchronized: yes", sync[0])

    @defer.inlineCallbacks
    def test_readme_running_it_yourself(self):
        """The README's "Running it yourself" commands start a proxy and a backend that report
        READY and a synchronized registry."""
        lines = shell_block((REPO / "README.md").read_text(), "## Running it yourself")
        outputs = yield self.run_block(lines)
        self.check(outputs)

    @defer.inlineCallbacks
    def test_runbook_quickstart(self):
        """docs/runbook.md's quickstart reaches the same healthy network."""
        lines = shell_block((REPO / "docs" / "runbook.md").read_text(), "## Quickstart")
        outputs = yield self.run_block(lines)
        self.check(outputs)
