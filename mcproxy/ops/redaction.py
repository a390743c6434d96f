"""Scrubbing of registered secret values from anything the process emits.

Secrets must never reach a log line, ``/status`` or ``/metrics``.  Code is written so they
never get there; this module is the second line of defence: one :class:`Redactor` per process,
told every secret at config load, and consulted by the log observer and the admin site just
before bytes leave the process.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

#: What a secret is replaced with.
REDACTED = "<redacted>"


class Redactor:
    """The process's set of secret values and the means to scrub them out of text and JSON."""

    def __init__(self, secrets: Iterable[str | bytes] = ()) -> None:
        self._secrets: set[str] = set()
        self._pattern: re.Pattern[str] | None = None
        for secret in secrets:
            self.add(secret)

    def add(self, secret: str | bytes) -> None:
        """Register ``secret``; empty values are ignored because they would match everywhere.

        ``bytes`` (a secret read from a file) are registered as the text they would print as:
        their UTF-8 decoding, or, when they are not UTF-8, their ``repr`` body and hex form.
        """
        if isinstance(secret, bytes):
            try:
                forms = [secret.decode("utf-8")]
            except UnicodeDecodeError:
                forms = [repr(secret)[2:-1], secret.hex()]
        else:
            forms = [secret]
        for form in forms:
            self._add_text(form)

    def _add_text(self, secret: str) -> None:
        if not secret or secret in self._secrets:
            return
        self._secrets.add(secret)
        # Longest first, so a secret that contains another is replaced whole.
        ordered = sorted(self._secrets, key=len, reverse=True)
        self._pattern = re.compile("|".join(re.escape(s) for s in ordered))

    def __len__(self) -> int:
        return len(self._secrets)

    def contains_secret(self, text: str) -> bool:
        """Whether ``text`` holds any registered secret."""
        return self._pattern is not None and self._pattern.search(text) is not None

    def redact_text(self, text: str) -> str:
        """``text`` with every occurrence of a secret replaced by :data:`REDACTED`."""
        if self._pattern is None:
            return text
        return self._pattern.sub(REDACTED, text)

    def redact_json(self, value: Any) -> Any:
        """A copy of the JSON-able ``value`` in which no string (key or value) holds a secret.

        Numbers are compared by their text too, in case a secret is made of digits.
        """
        if self._pattern is None:
            return value
        if isinstance(value, str):
            return self.redact_text(value)
        if isinstance(value, dict):
            return {self.redact_json(k): self.redact_json(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [self.redact_json(v) for v in value]
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            if self.contains_secret(str(value)):
                return REDACTED
        return value
