"""Tests for mcproxy.ops.logging."""

from __future__ import annotations

import io
import json
import os
import re
import tempfile
from typing import Any

from twisted.application.service import Application, IService
from twisted.internet.address import IPv4Address, IPv6Address, UNIXAddress
from twisted.logger import ILogObserver, Logger, LogLevel
from twisted.trial import unittest

from mcproxy.ops.logging import (
    CorrelatedLogger,
    LoggingMultiService,
    RedactingLogObserver,
    correlated,
    format_address,
    format_json_line,
    make_observer,
    new_correlation_id,
    start_logging,
)
from mcproxy.ops.redaction import REDACTED, Redactor

SECRET = "forwarding-secret-9f8e7d6c5b4a"


def _lines(out: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in out.getvalue().splitlines()]


class JSONLineTests(unittest.SynchronousTestCase):
    def test_shape(self) -> None:
        """One JSON object per line: UTC time, level, namespace, formatted text and the
        selected fields, with addresses as host:port; other fields are left out."""
        out = io.StringIO()
        observer = make_observer("info", out, Redactor())
        log = Logger(namespace="mcproxy.proxy.session", observer=observer)
        log.info("{player} routed to {server}", player="Steve", server="lobby",
                 correlation_id="0123456789ab", peer=IPv4Address("TCP", "192.0.2.7", 51000),
                 unrelated=object())
        [line] = _lines(out)
        self.assertRegex(line.pop("time"), r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
        self.assertEqual(line, {
            "level": "info",
            "namespace": "mcproxy.proxy.session",
            "text": "Steve routed to lobby",
            "correlation_id": "0123456789ab",
            "peer": "192.0.2.7:51000",
            "player": "Steve",
            "server": "lobby",
        })

    def test_level_filter(self) -> None:
        """Events below the configured level are dropped."""
        out = io.StringIO()
        log = Logger(namespace="t", observer=make_observer("warn", out, Redactor()))
        log.debug("d")
        log.info("i")
        log.warn("w")
        log.error("e")
        self.assertEqual([line["level"] for line in _lines(out)], ["warn", "error"])

    def test_bad_level(self) -> None:
        """An unknown level name is a ValueError fit for a config message."""
        self.assertRaises(ValueError, make_observer, "loud", io.StringIO(), Redactor())

    def test_failure(self) -> None:
        """A logged failure carries its traceback in the line."""
        out = io.StringIO()
        log = Logger(namespace="t", observer=make_observer(LogLevel.info, out, Redactor()))
        try:
            1 / 0
        except ZeroDivisionError:
            log.failure("math broke")
        [line] = _lines(out)
        self.assertEqual((line["level"], line["text"]), ("critical", "math broke"))
        self.assertIn("ZeroDivisionError", line["traceback"])

    def test_unformattable(self) -> None:
        """A broken format string still yields a line rather than an exception."""
        line = json.loads(format_json_line({"log_format": "{missing}", "log_time": 0.0}))
        self.assertIn("Unable to format event", line["text"])


class RedactionTests(unittest.SynchronousTestCase):
    def setUp(self) -> None:
        self.out = io.StringIO()
        self.log = Logger(namespace="t", observer=make_observer("debug", self.out,
                                                                 Redactor([SECRET])))

    def assertClean(self) -> None:
        self.assertNotIn(SECRET, self.out.getvalue())
        self.assertIn(REDACTED, self.out.getvalue())

    def test_text(self) -> None:
        """A secret formatted into the text is replaced."""
        self.log.info("loaded secret {value}", value=SECRET)
        self.assertClean()
        self.assertEqual(_lines(self.out)[0]["text"], f"loaded secret {REDACTED}")

    def test_selected_field(self) -> None:
        """A secret in a field copied to the line is replaced."""
        self.log.warn("refused", reason=f"bad key {SECRET}")
        self.assertClean()
        self.assertEqual(_lines(self.out)[0]["reason"], f"bad key {REDACTED}")

    def test_object_field(self) -> None:
        """A secret reached through an object's text is replaced too."""
        class Config:
            def __str__(self) -> str:
                return f"Config(secret={SECRET})"

        self.log.info("config {config}", config=Config(), server=Config())
        self.assertClean()

    def test_traceback(self) -> None:
        """A secret in an exception message does not reach the traceback."""
        try:
            raise ValueError(f"secret mismatch: {SECRET}")
        except ValueError:
            self.log.failure("verification failed")
        self.assertClean()
        self.assertIn("ValueError", _lines(self.out)[0]["traceback"])

    def test_braces_survive(self) -> None:
        """Scrubbed text holding braces is printed as is, not re-formatted."""
        self.log.info("{a}", a="{x} " + SECRET)
        self.assertEqual(_lines(self.out)[0]["text"], "{x} " + REDACTED)

    def test_legacy_event(self) -> None:
        """Events from the legacy twisted.python.log API are scrubbed as well."""
        self.log.observer({
            "message": (f"hello {SECRET}",), "isError": 0, "log_time": 0.0,
            "log_text": f"hello {SECRET}", "log_format": "{log_text}",
            "log_level": LogLevel.info, "log_namespace": "log_legacy",
        })
        self.assertClean()

    def test_clean_event_untouched(self) -> None:
        """Events holding no secret reach the next observer as the very same object."""
        seen: list[dict[str, Any]] = []
        observer = RedactingLogObserver(seen.append, Redactor([SECRET]))
        event = {"log_format": "hello", "log_time": 0.0, "player": "Steve"}
        observer(event)
        self.assertIs(seen[0], event)

    def test_later_secrets(self) -> None:
        """A secret registered after the observer was made is scrubbed too."""
        redactor = Redactor()
        out = io.StringIO()
        log = Logger(namespace="t", observer=start_logging("info", out, redactor))
        redactor.add(SECRET)
        log.info("x {v}", v=SECRET)
        self.assertNotIn(SECRET, out.getvalue())


class CorrelationTests(unittest.SynchronousTestCase):
    def test_ids(self) -> None:
        """Correlation ids are 12 hex digits and differ each time."""
        ids = {new_correlation_id() for _ in range(100)}
        self.assertEqual(len(ids), 100)
        self.assertTrue(all(re.fullmatch(r"[0-9a-f]{12}", i) for i in ids))

    def test_correlated_logger(self) -> None:
        """Every event of a correlated logger carries its id and fields, failures included;
        a logger derived from it keeps them; one grep finds the whole path."""
        out = io.StringIO()
        base = Logger(namespace="mcproxy.proxy", observer=make_observer("info", out, Redactor()))
        log = correlated(base, peer="192.0.2.7:51000")
        self.assertIsInstance(log, CorrelatedLogger)
        log.info("handshake")
        routed = correlated(log, server="lobby")
        routed.info("routed")
        try:
            raise OSError("gone")
        except OSError:
            routed.failure("relay broke")
        other = correlated(base)
        other.info("someone else")
        mine = [line for line in out.getvalue().splitlines() if log.correlation_id in line]
        self.assertEqual(len(mine), 3)
        self.assertEqual(json.loads(mine[1])["server"], "lobby")
        self.assertEqual(json.loads(mine[2])["peer"], "192.0.2.7:51000")
        self.assertEqual(routed.namespace, "mcproxy.proxy")

    def test_given_id(self) -> None:
        """An id taken from a control message is kept, so both sides log the same one."""
        seen: list[dict[str, Any]] = []
        correlated(Logger(observer=seen.append), "feedfacecafe").info("snapshot accepted")
        self.assertEqual(seen[0]["correlation_id"], "feedfacecafe")

    def test_as_class_attribute(self) -> None:
        """Used as a class attribute, the logger keeps its fields and gains the instance as
        source, like twisted's Logger."""
        seen: list[dict[str, Any]] = []

        class Session:
            log = CorrelatedLogger("s", observer=seen.append, fields={"correlation_id": "abc"})

        session = Session()
        session.log.info("x")
        self.assertEqual((seen[0]["correlation_id"], seen[0]["log_source"]), ("abc", session))


class StartLoggingTests(unittest.SynchronousTestCase):
    def test_file_path(self) -> None:
        """A path is appended to, one JSON line per event."""
        # Not self.mktemp(): under pytest that directory lands in the checkout.
        directory = tempfile.TemporaryDirectory()
        self.addCleanup(directory.cleanup)
        path = os.path.join(directory.name, "proxy.log")
        with open(path, "w") as f:
            f.write('{"earlier": true}\n')
        observer = start_logging("info", path, [SECRET])
        self.addCleanup(observer.close)
        Logger(namespace="t", observer=observer).info("x {v}", v=SECRET)
        with open(path) as f:
            lines = f.read().splitlines()
        self.assertEqual(len(lines), 2)
        self.assertEqual(json.loads(lines[1])["text"], f"x {REDACTED}")

    def test_twistd_hook(self) -> None:
        """Parented to twistd's Application, the service registers its observer as the
        Application's ILogObserver, which twistd then begins logging to."""
        observer = start_logging("info", io.StringIO(), Redactor())
        top = LoggingMultiService(observer)
        application = Application("mcproxy")
        top.setServiceParent(application)
        self.assertIs(application.getComponent(ILogObserver), observer)
        self.assertIn(top, list(IService(application)))


class FormatAddressTests(unittest.SynchronousTestCase):
    def test_forms(self) -> None:
        """IPv4, IPv6 and UNIX addresses print the way operators grep for them."""
        self.assertEqual(format_address(IPv4Address("TCP", "192.0.2.1", 25565)), "192.0.2.1:25565")
        self.assertEqual(format_address(IPv6Address("TCP", "2001:db8::1", 25565)),
                         "[2001:db8::1]:25565")
        self.assertEqual(format_address(UNIXAddress(b"/run/a.sock")), "/run/a.sock")
        self.assertEqual(format_address("already text"), "already text")
