"""The player-name rule: what vanilla accepts as a username, in one place.

The proxy applies it to Login Start and to the session server's answer, the reference
backend to a direct (unforwarded) login; one rule means a name one side takes the other
never refuses.
"""

from __future__ import annotations

import re

#: Longest username, in characters; also the wire limit of a name field.
USERNAME_MAX_CHARS = 16

_USERNAME = re.compile(r"[A-Za-z0-9_]{1,%d}" % USERNAME_MAX_CHARS)


def is_valid_username(name: object) -> bool:
    """True for 1 to 16 ASCII letters, digits or underscores, and nothing else.

    ``fullmatch`` rather than ``^…$``: ``$`` also matches before a trailing newline.
    """
    return isinstance(name, str) and _USERNAME.fullmatch(name) is not None
