"""The version set a process runs: the release and the control protocol it speaks.

Proxy, backend-mod and shared code ship as one set; a process announces its set in
``/status`` (and a backend in its control-plane Hello) so an operator, and the proxy, can
tell a mixed deployment from a consistent one.
"""

from __future__ import annotations

from dataclasses import dataclass

from mcproxy import __version__
from mcproxy.control.envelope import CONTROL_PROTOCOL_VERSION


@dataclass(frozen=True)
class VersionSet:
    """What one process announces; compare two with ``==``."""

    artifact: str = __version__
    control_protocol: int = CONTROL_PROTOCOL_VERSION

    def as_dict(self) -> dict[str, str | int]:
        return {"artifact": self.artifact, "control_protocol": self.control_protocol}

    def __str__(self) -> str:
        return f"{self.artifact} (control protocol {self.control_protocol})"


#: The set this code is.
SHIPPED = VersionSet()
