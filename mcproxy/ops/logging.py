"""Structured logs: one JSON object per line, secrets scrubbed, correlation ids to follow a
player or a control message across both processes with one grep.

Convention: every event about a connection or a control message carries ``correlation_id``;
the simplest way is a :func:`correlated` logger made once per connection::

    log = correlated(self._log, peer=transport.getPeer())
    log.info("login from {player}", player=name)   # carries correlation_id and peer

Under ``twistd -n``: twistd begins logging *after* the plugin's ``makeService`` returns, with
the observer it finds as the ``ILogObserver`` component of its ``Application`` (or its own
text observer when there is none).  Calling ``globalLogBeginner.beginLoggingTo`` from the
plugin instead does not replace twistd's observer: twistd adds its own after ours with a
"primary log target selected twice" warning, and since our call already redirected
``sys.stdout`` into the log, twistd's text observer feeds its lines back into it without end.
So the plugin returns a :class:`LoggingMultiService` built on :func:`start_logging`'s observer:
when twistd parents it to the Application it registers that observer there.  Outside twistd
(tests, embedding), pass the observer to ``globalLogBeginner.beginLoggingTo`` yourself.
"""

from __future__ import annotations

import enum
import json
import os
import secrets as _random
import sys
from collections.abc import Iterable
from datetime import datetime, timezone
from typing import IO, Any

from constantly import NamedConstant
from twisted.application.service import IService, MultiService
from twisted.internet.address import IPv4Address, IPv6Address, UNIXAddress
from twisted.logger import (
    FileLogObserver,
    FilteringLogObserver,
    ILogObserver,
    LogEvent,
    Logger,
    LogLevel,
    LogLevelFilterPredicate,
    formatEvent,
)
from twisted.python.components import Componentized
from twisted.python.failure import Failure
from zope.interface import implementer

from mcproxy.ops.redaction import Redactor

#: Event fields copied into each JSON line when present, besides time/level/namespace/text.
DEFAULT_FIELDS = (
    "correlation_id", "peer", "player", "uuid", "server", "reason", "sender", "command",
    "serial", "state", "code", "worker",
)


def new_correlation_id() -> str:
    """A fresh id for one connection or control message: 12 random hex digits."""
    return _random.token_hex(6)


class CorrelatedLogger(Logger):
    """A ``Logger`` that adds fixed fields (always a ``correlation_id``) to every event."""

    def __init__(
        self,
        namespace: str | None = None,
        source: object | None = None,
        observer: ILogObserver | None = None,
        fields: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(namespace, source, observer)
        self.fields = dict(fields or {})
        self.fields.setdefault("correlation_id", new_correlation_id())

    @property
    def correlation_id(self) -> str:
        return str(self.fields["correlation_id"])

    def __get__(self, instance: object, owner: type | None = None) -> CorrelatedLogger:
        return self.__class__(self.namespace, instance, self.observer, self.fields)

    def emit(self, level: LogLevel, format: str | None = None, **kwargs: object) -> None:
        super().emit(level, format, **{**self.fields, **kwargs})


def correlated(log: Logger, correlation_id: str | None = None, **fields: Any) -> CorrelatedLogger:
    """``log``'s namespace and observer, with ``correlation_id`` (new unless given, e.g. taken
    from a control message) and ``fields`` added to every event."""
    if isinstance(log, CorrelatedLogger):
        fields = {**log.fields, **fields}
    if correlation_id is not None:
        fields["correlation_id"] = correlation_id
    return CorrelatedLogger(log.namespace, log.source, log.observer, fields)


def format_address(address: object) -> str:
    """``host:port`` (``[v6]:port``) for an IP address, its text for anything else: the form
    peers take in log text and the ``peer`` field."""
    if isinstance(address, (IPv4Address, IPv6Address)):
        host = f"[{address.host}]" if ":" in address.host else address.host
        return f"{host}:{address.port}"
    if isinstance(address, UNIXAddress):
        name = address.name
        return name.decode("utf-8", "replace") if isinstance(name, bytes) else str(name or "unix")
    return str(address)


def _json_value(value: Any) -> Any:
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (IPv4Address, IPv6Address, UNIXAddress)):
        return format_address(value)
    if isinstance(value, enum.Enum):
        return value.name
    return str(value)


def format_json_line(event: LogEvent, fields: Iterable[str] = DEFAULT_FIELDS) -> str:
    """One event as one JSON line: time (UTC), level, namespace, text, and ``fields``."""
    when = event.get("log_time")
    level = event.get("log_level")
    out: dict[str, Any] = {
        "time": (
            datetime.fromtimestamp(when, timezone.utc).isoformat(timespec="milliseconds")
            .replace("+00:00", "Z") if when is not None else None
        ),
        "level": level.name if isinstance(level, NamedConstant) else "info",
        "namespace": event.get("log_namespace", "-"),
        "text": formatEvent(event),
    }
    for name in fields:
        if name in event:
            out[name] = _json_value(event[name])
    failure = event.get("log_failure")
    if isinstance(failure, Failure):
        try:
            out["traceback"] = failure.getTraceback()
        except Exception:
            out["traceback"] = "(traceback unavailable)"
    return json.dumps(out, ensure_ascii=False, default=str) + "\n"


def json_line_observer(out: IO[str], fields: Iterable[str] = DEFAULT_FIELDS) -> FileLogObserver:
    """A ``FileLogObserver`` writing :func:`format_json_line` lines to ``out``.

    ``jsonFileLogObserver`` is the same observer with Twisted's ``eventAsJSON``, made to reload
    events into Twisted: it dumps every key, object reprs included.  Log shippers and grep want a
    fixed, flat schema instead.
    """
    chosen = tuple(fields)
    return FileLogObserver(out, lambda event: format_json_line(event, chosen))


class _RedactedFailure(Failure):
    """Stands in for a failure whose traceback mentioned a secret."""

    def __init__(self, traceback: str) -> None:
        super().__init__(RuntimeError("(traceback redacted)"))
        self._redacted_traceback = traceback

    def getTraceback(self, elideFrameworkCode: int = 0, detail: str = "default") -> str:
        return self._redacted_traceback


@implementer(ILogObserver)
class RedactingLogObserver:
    """Passes events on with every registered secret replaced by ``<redacted>``: in the
    formatted text, in string fields, in other fields' text, and in a failure's traceback.

    Events that hold no secret pass through untouched; a scrubbed event is a copy whose
    ``log_format`` is the already formatted, scrubbed text.
    """

    def __init__(self, observer: ILogObserver, redactor: Redactor) -> None:
        self._observer = observer
        self._redactor = redactor

    def __call__(self, event: LogEvent) -> None:
        if len(self._redactor):
            event = self._scrub(event)
        self._observer(event)

    def _scrub(self, event: LogEvent) -> LogEvent:
        r = self._redactor
        changed: dict[str, Any] = {}
        text = formatEvent(event)
        if r.contains_secret(text):
            changed["log_format"] = r.redact_text(text).replace("{", "{{").replace("}", "}}")
        for key, value in event.items():
            if key in ("log_format", "log_failure"):
                continue
            if isinstance(value, str):
                if r.contains_secret(value):
                    changed[key] = r.redact_text(value)
            elif not key.startswith("log_") and value is not None:
                as_text = str(value)
                if r.contains_secret(as_text):
                    changed[key] = r.redact_text(as_text)
        failure = event.get("log_failure")
        if isinstance(failure, Failure):
            traceback = failure.getTraceback()
            if r.contains_secret(traceback):
                changed["log_failure"] = _RedactedFailure(r.redact_text(traceback))
        if not changed:
            return event
        return {**event, **changed}


def _level(level: str | LogLevel) -> LogLevel:
    if isinstance(level, NamedConstant):
        return level
    try:
        return LogLevel.levelWithName(level.lower())
    except Exception:
        raise ValueError(
            f"unknown log level {level!r} (debug, info, warn, error, critical)") from None


def make_observer(
    level: str | LogLevel, out: IO[str], redactor: Redactor,
    fields: Iterable[str] = DEFAULT_FIELDS,
) -> ILogObserver:
    """Level filter, then secret scrubbing, then one JSON line per event to ``out``."""
    predicate = LogLevelFilterPredicate(defaultLogLevel=_level(level))
    scrubbed = RedactingLogObserver(json_line_observer(out, fields), redactor)
    return FilteringLogObserver(scrubbed, [predicate])


@implementer(ILogObserver)
class ProcessLogObserver:
    """The observer :func:`start_logging` makes; it owns the log file it opened, if any."""

    def __init__(self, observer: ILogObserver, opened: IO[str] | None) -> None:
        self._observer = observer
        self._opened = opened

    def __call__(self, event: LogEvent) -> None:
        self._observer(event)

    def close(self) -> None:
        """Close the log file opened from a path (nothing to do for a stream passed in)."""
        if self._opened is not None:
            self._opened.close()


def start_logging(
    level: str | LogLevel,
    file_or_stdout: str | IO[str] | None,
    secrets: Redactor | Iterable[str],
) -> ProcessLogObserver:
    """The process's log observer, for the twistd plugin to hand to :class:`LoggingMultiService`.

    ``file_or_stdout`` is a path (appended to), an open text file, or ``None``/``"-"`` for the
    process's real standard output (twistd later redirects ``sys.stdout`` into the log system,
    so the original stream is used, not whatever ``sys.stdout`` is then).  Pass the process's
    :class:`Redactor` so secrets registered after this call are scrubbed too.
    """
    redactor = secrets if isinstance(secrets, Redactor) else Redactor(secrets)
    out: IO[str]
    opened: IO[str] | None = None
    if file_or_stdout is None or file_or_stdout == "-":
        out = sys.__stdout__ or sys.stdout
    elif isinstance(file_or_stdout, (str, os.PathLike)):
        out = opened = open(file_or_stdout, "a", encoding="utf-8", buffering=1)
    else:
        out = file_or_stdout
    return ProcessLogObserver(make_observer(level, out, redactor), opened)


class LoggingMultiService(MultiService):
    """The process's top service; it brings the log observer twistd should begin logging to.

    twistd reads ``ILogObserver`` off its ``Application`` after ``makeService`` and before
    logging starts; parenting this service to the Application is the one moment the plugin's
    code runs with that Application in hand.
    """

    def __init__(self, observer: ILogObserver) -> None:
        super().__init__()
        self.log_observer = observer

    def setServiceParent(self, parent: Any) -> None:
        if isinstance(parent, Componentized):
            parent.setComponent(ILogObserver, self.log_observer)
        super().setServiceParent(parent)


class StampingObserver:
    """Adds fixed fields to every event: a worker's lines say which worker wrote them."""

    def __init__(self, observer: ILogObserver, stamp: dict[str, Any]) -> None:
        self._observer = observer
        self._stamp = stamp

    def __call__(self, event: LogEvent) -> None:
        self._observer({**event, **self._stamp})

    def close(self) -> None:
        self._observer.close()


def logged_process(process: IService, level: str, file: str, redactor: Redactor,
                   stamp: dict[str, Any] | None = None) -> LoggingMultiService:
    """The twistd top service: ``process`` under the observer its ``[logging]`` asks for
    (``file`` empty for standard output), each event carrying ``stamp``'s fields.

    Both plugins end with this, so the two processes log the same way.
    """
    observer: ILogObserver = start_logging(level, file or None, redactor)
    if stamp:
        observer = StampingObserver(observer, stamp)
    top = LoggingMultiService(observer)
    process.setServiceParent(top)
    return top
