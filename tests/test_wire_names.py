"""The username rule in mcproxy.wire.names, the one every side applies."""

from __future__ import annotations

import string

from hypothesis import given, strategies as st
from twisted.trial.unittest import SynchronousTestCase

from mcproxy.wire.names import USERNAME_MAX_CHARS, is_valid_username
from tests.fuzzing import fuzz

ALLOWED = frozenset(string.ascii_letters + string.digits + "_")


class UsernameTests(SynchronousTestCase):
    def test_known_names(self) -> None:
        """Vanilla's rule: 1 to 16 ASCII letters, digits or underscores, nothing around them."""
        for name in ("a", "Notch", "_", "Steve_0123456789"):
            self.assertTrue(is_valid_username(name), name)
        for name in ("", "Steve\n", "\nSteve", "Ste ve", "Stéve", "Steve_01234567890", "Ｓteve",
                     "Steve\x00", None, b"Steve", 7):
            self.assertFalse(is_valid_username(name), repr(name))

    @fuzz()
    @given(st.text(max_size=24))
    def test_any_text(self, name: str) -> None:
        """Accepted exactly when every character is allowed and the length is 1 to 16."""
        expected = 1 <= len(name) <= USERNAME_MAX_CHARS and set(name) <= ALLOWED
        self.assertEqual(is_valid_username(name), expected)
