"""Tests for mcproxy.ops.redaction."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st
from twisted.trial import unittest

from mcproxy.ops.redaction import REDACTED, Redactor


class RedactorTests(unittest.SynchronousTestCase):
    def test_text(self) -> None:
        """Every occurrence is replaced; the longest secret wins over one it contains."""
        r = Redactor(["abc", "abcdef"])
        self.assertEqual(r.redact_text("x abcdef y abc"), f"x {REDACTED} y {REDACTED}")
        self.assertTrue(r.contains_secret("..abc.."))
        self.assertFalse(r.contains_secret("ab"))

    def test_nothing_registered(self) -> None:
        """With no secret, values come back as they are; empty secrets are ignored."""
        r = Redactor(["", b""])
        self.assertEqual(len(r), 0)
        value = {"a": ["b", 1]}
        self.assertIs(r.redact_json(value), value)

    def test_json(self) -> None:
        """Keys, values, list items and numbers equal to a secret are all scrubbed."""
        r = Redactor(["hunter2", b"424242"])
        self.assertEqual(
            r.redact_json({"hunter2": ["hunter2", "x-hunter2-y", 424242, 7, True, None]}),
            {REDACTED: [REDACTED, f"x-{REDACTED}-y", REDACTED, 7, True, None]})

    def test_binary_secret(self) -> None:
        """A secret file that is not UTF-8 is registered without error, in the forms it would
        be printed in."""
        r = Redactor([b"\xff\xfekey"])
        self.assertEqual(r.redact_text("repr b'\\xff\\xfekey'"), f"repr b'{REDACTED}'")
        self.assertEqual(r.redact_text("hex fffe6b6579"), f"hex {REDACTED}")

    def test_regex_characters(self) -> None:
        """Secrets are matched literally, whatever characters they hold."""
        r = Redactor(["a.b*c(d"])
        self.assertEqual(r.redact_text("aXbbc(d a.b*c(d"), f"aXbbc(d {REDACTED}")

    @given(st.text(min_size=1), st.text(), st.text())
    def test_never_left(self, secret: str, before: str, after: str) -> None:
        """Whatever surrounds it, a secret never survives redaction."""
        r = Redactor([secret])
        pieces = r.redact_text(before + secret + after).split(REDACTED)
        self.assertFalse(any(secret in piece for piece in pieces))
