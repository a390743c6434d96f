"""Why the backend's control link is not up, as an operator reads it.

Connect failures and refused Hellos are counted here: the counts feed the link's
reconnect backoff, and the last reason is what ``/health`` and ``/status`` show.
"""

from __future__ import annotations

from twisted.logger import Logger
from twisted.python.failure import Failure

from mcproxy.control.reasons import ControlRejected, RejectReason


class LinkTrouble:
    """The link's last error and the failures since it was last up."""

    def __init__(self, address: str, sender: str, log: Logger, metrics) -> None:
        self.address = address
        self.sender = sender
        self.log = log
        self.metrics = metrics
        #: Why the link is not up ("" while it is).
        self.error = ""
        #: Hellos refused in a row: the reconnect backoff counts these as attempts.
        self.refused_hellos = 0
        #: The reason this side refused the proxy's last answer to Hello, told in the next Hello.
        self.refused_answer = ""
        self._failed_connects = 0

    def connected(self) -> None:
        self._failed_connects = 0

    def welcomed(self) -> None:
        self.refused_hellos = 0
        self.refused_answer = ""
        self.error = ""

    def connect_failed(self, failure: Failure) -> None:
        """A connect attempt failed: the address and the error, at warn from the second one on."""
        self._failed_connects += 1
        self.error = f"cannot connect to {self.address}: {error_text(failure)}"
        level = self.log.warn if self._failed_connects > 1 else self.log.info
        level(
            "control link: connect attempt {attempt} to {address} failed: {error}; retrying with backoff",
            attempt=self._failed_connects,
            address=self.address,
            error=error_text(failure),
        )

    def hello_failed(self, failure: Failure, answer_refused: bool) -> None:
        """Say why the link did not come up: at warn when the reason changes, else at debug.

        A refusal of the proxy's answer (say UNEXPECTED_SENDER) is this side's
        verdict, which the proxy cannot see; it is told in the next Hello.
        """
        self.refused_hellos += 1
        if answer_refused and failure.check(ControlRejected):
            self.refused_answer = failure.value.reason.value
            why = f"this backend refused the proxy's answer: {self.refused_answer}"
            if failure.value.reason is RejectReason.UNEXPECTED_SENDER:
                why += f" (control_expected_sender_id is {self.sender!r})"
        elif failure.check(ControlRejected):
            self.metrics.peer_reject(self.sender, failure.value.reason.value)
            why = f"the proxy refused our Hello: {failure.value}"
        else:
            why = f"Hello not answered: {str(failure.value)[:200]}"
        level = self.log.warn if why != self.error else self.log.debug
        self.error = why
        level("control link to {proxy} not established: {why}", proxy=self.sender, why=why)


def error_text(failure: Failure) -> str:
    """A connect error as an operator reads it, without Twisted's class prefix noise."""
    text = str(failure.value).strip() or type(failure.value).__name__
    return text[:200]
