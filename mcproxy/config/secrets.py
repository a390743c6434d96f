"""Secrets from a value or a file, refused when they are placeholders or too weak."""

from __future__ import annotations

import math
import re

from mcproxy.config.reader import _Table
from mcproxy.config.schema import MAX_SECRET_FILE_BYTES, MIN_SECRET_BYTES, Secret


_PLACEHOLDERS = (
    "changeme",
    "changethis",
    "replaceme",
    "secret",
    "password",
    "example",
    "proxysecret",
    "default",
    "test",
)


def _generate_hint(path: str = "") -> str:
    """Tell the operator how to make a good secret rather than just refusing."""
    target = f" > {path}" if path else ""
    return (
        "generate one with: "
        f"python3 -c 'import secrets; print(secrets.token_hex(32))'{target}"
    )


def _is_placeholder(value: bytes) -> bool:
    """Catch the values people paste from examples instead of generating."""
    text = re.sub(rb"[^a-z0-9]", b"", value.lower()).decode("ascii", "replace")
    for word in _PLACEHOLDERS:
        if text and text == word * (len(text) // len(word)):
            return True
    return False


def _check_strength(table: _Table, key: str, value: bytes) -> None:
    if len(set(value)) <= 1:
        raise table.error(
            key, f"is one character repeated, not a secret; {_generate_hint()}"
        )
    if _is_placeholder(value):
        raise table.error(
            key, f"is a placeholder value, not a secret; {_generate_hint()}"
        )
    if len(value) < MIN_SECRET_BYTES:
        raise table.error(
            key, f"is too short: at least {MIN_SECRET_BYTES} bytes are needed; "
            f"{_generate_hint()}"
        )
    unit = _repeated_unit(value)
    if unit:
        raise table.error(
            key, f"is a {unit}-byte pattern repeated, not a secret; {_generate_hint()}"
        )
    randomness = _randomness_bytes(value)
    if randomness < MIN_SECRET_BYTES:
        raise table.error(
            key, f"holds at most {randomness} bytes of randomness ({_alphabet_note(value)}); "
            f"at least {MIN_SECRET_BYTES} are needed; {_generate_hint()}"
        )


_HEX = frozenset(b"0123456789abcdefABCDEF")


def _repeated_unit(value: bytes) -> int:
    """The length of a unit the whole value repeats (``abcabc...``), or 0."""
    for size in range(2, len(value) // 2 + 1):
        if len(value) % size == 0 and value == value[:size] * (len(value) // size):
            return size
    return 0


def _randomness_bytes(value: bytes) -> int:
    """An upper bound on the randomness of ``value``, in whole bytes.

    Length alone overstates it: 32 hex digits are 32 bytes long but carry 16 bytes of
    randomness. Each character carries at most log2 of the alphabet its character classes
    span (hex: 4 bits; letters, digits and symbols: up to 6.6); non-ASCII data counts 8 bits
    a byte.
    """
    if any(b > 0x7E or b < 0x20 for b in value):
        return len(value)
    if all(b in _HEX for b in value):
        return len(value) * 4 // 8
    alphabet = 0
    text = value.decode("ascii")
    if any(c.isdigit() for c in text):
        alphabet += 10
    if any(c.islower() for c in text):
        alphabet += 26
    if any(c.isupper() for c in text):
        alphabet += 26
    if any(not c.isalnum() for c in text):
        alphabet += 33
    return int(len(value) * math.log2(alphabet) // 8)


def _alphabet_note(value: bytes) -> str:
    if all(b in _HEX for b in value):
        return "hex digits carry 4 bits each"
    return "judged by the characters it uses"


def _secret(table: _Table, key: str) -> tuple[Secret | None, str]:
    """
    Read ``key`` or ``key_file`` into a :class:`Secret`.

    A secret file's surrounding whitespace (the trailing newline of ``echo``)
    is stripped; the rest is used as bytes, exactly as Velocity does with its
    ``forwarding.secret``.
    """
    file_key = f"{key}_file"
    inline = table.string(key, "")
    path = table.path(file_key)
    if inline and path:
        raise table.error(key, f"set either {key} or {file_key}, not both")
    if path:
        value = table.read_file(
            file_key, path, MAX_SECRET_FILE_BYTES, _generate_hint(path)
        ).strip()
        if not value:
            raise table.error(file_key, f"{path} is empty")
        _check_strength(table, file_key, value)
        return Secret(value), path
    if inline:
        value = inline.encode("utf-8")
        _check_strength(table, key, value)
        return Secret(value), ""
    return None, ""


def _rotation(
    table: _Table, current: Secret | None, previous: Secret | None
) -> None:
    if previous is not None and current is None:
        raise table.error(
            "proxy_secret_previous",
            "is set without proxy_secret; the previous secret only verifies "
            "during a rotation",
        )
    if previous is not None and previous == current:
        raise table.error(
            "proxy_secret_previous", "is the same as proxy_secret"
        )


def _require_secret(
    table: _Table, secret: Secret | None, needs: list[str]
) -> None:
    """Name what needs the secret, so the operator knows why it is asked for."""
    if secret is None and needs:
        raise table.error(
            "proxy_secret",
            f"a secret is required because {' and '.join(needs)}; "
            f"set proxy_secret or proxy_secret_file ({_generate_hint()})",
        )
