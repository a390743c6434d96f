"""A process's rolling history of its own ``/status`` and ``/metrics``, kept on disk.

An incident is looked at after the fact, often after a restart: counters start again at
zero and ``/status`` shows only now. Every ``interval`` seconds the process appends one
sample (time, status, metrics text) as a JSON line to ``<dir>/<name>.jsonl``; when that
segment spans half the retention it becomes ``<name>.1.jsonl`` (the older one is dropped),
so the disk holds between one half and one and a half retentions. A restarted process
appends to the same files, so what it counted before is still there. A failing disk is
logged once and the samples are kept in memory (bounded the same way) instead.
"""

from __future__ import annotations

import json
import os
from collections import deque
from collections.abc import Callable, Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from twisted.application.service import Service
from twisted.internet.interfaces import IReactorTime
from twisted.internet.task import LoopingCall
from twisted.logger import Logger
from zope.interface import implementer

from mcproxy.interfaces import IHistory

Sample = dict[str, Any]
#: Largest history line read back; anything longer is not ours.
MAX_LINE = 16 * 1048576


def status_and_metrics(status: Any, registry: Any, redactor: Any) -> Callable[[], Sample]:
    """The sampler of one process: its ``/status`` and ``/metrics`` as served (secrets scrubbed)."""
    from prometheus_client.exposition import generate_latest

    def take() -> Sample:
        return {"status": redactor.redact_json(status.snapshot()),
                "metrics": redactor.redact_text(generate_latest(registry).decode("utf-8"))}

    return take


def read_segments(directory: str | Path, name: str) -> Iterator[Sample]:
    """Every sample in a process's segment files, older segment first; unreadable lines
    (one cut short by a crash) and missing files are skipped."""
    for path in (Path(directory) / f"{name}.1.jsonl", Path(directory) / f"{name}.jsonl"):
        try:
            with open(path, encoding="utf-8") as lines:
                for line in lines:
                    if len(line) > MAX_LINE:
                        continue
                    try:
                        sample = json.loads(line)
                    except ValueError:
                        continue
                    if isinstance(sample, dict) and isinstance(sample.get("t"), (int, float)):
                        yield sample
        except OSError:
            continue


def iso(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@implementer(IHistory)
class History(Service):
    """Samples ``take()`` every ``interval`` seconds, keeps ``retention`` seconds of them.

    @param take: returns ``{"status": {...}, "metrics": "<exposition text>"}`` right now.
    @param directory: folder of the segment files; "" keeps samples in memory only.
    """

    def __init__(self, clock: IReactorTime, take: Callable[[], Sample], name: str,
                 directory: str, interval: float, retention: float, log: Logger) -> None:
        self.clock = clock
        self.take = take
        self.name = name
        self.directory = Path(directory) if directory else None
        self.interval = interval
        self.retention = retention
        self.log = log
        self._memory: deque[Sample] = deque()
        self._disk_failed = directory == ""
        self._segment_started: float | None = None
        self._loop = LoopingCall(self.record)
        self._loop.clock = clock

    @property
    def current(self) -> Path | None:
        return None if self.directory is None else self.directory / f"{self.name}.jsonl"

    @property
    def older(self) -> Path | None:
        return None if self.directory is None else self.directory / f"{self.name}.1.jsonl"

    def startService(self) -> None:
        super().startService()
        if not self._disk_failed and self.directory is not None:
            try:
                self.directory.mkdir(parents=True, exist_ok=True)
            except OSError as error:
                self._fail(error)
            self._segment_started = self._first_time(self.current)
        self._loop.start(self.interval, now=True)

    def stopService(self) -> None:
        super().stopService()
        if self._loop.running:
            self._loop.stop()
        self.record()

    def record(self) -> None:
        """Take one sample now and keep it (a failing sample is logged, not raised)."""
        now = self.clock.seconds()
        try:
            sample = dict(self.take(), t=now, time=iso(now))
        except Exception:
            self.log.failure("history sample failed")
            return
        if self._disk_failed:
            self._memory.append(sample)
            while self._memory and self._memory[0]["t"] < now - self.retention:
                self._memory.popleft()
            return
        try:
            self._append(sample, now)
        except OSError as error:
            self._fail(error)
            self._memory.append(sample)

    def samples(self, since: float, until: float) -> list[Sample]:
        """The kept samples with ``since <= t <= until``, oldest first."""
        found = [s for s in self._read() if since <= s.get("t", -1) <= until]
        return sorted(found, key=lambda s: s["t"])

    def _append(self, sample: Sample, now: float) -> None:
        assert self.current is not None and self.older is not None
        if self._segment_started is None:
            self._segment_started = now
        elif now - self._segment_started >= self.retention / 2:
            os.replace(self.current, self.older)
            self._segment_started = now
        with open(self.current, "a", encoding="utf-8") as out:
            out.write(json.dumps(sample, separators=(",", ":"), default=str) + "\n")

    def _read(self) -> Iterator[Sample]:
        yield from self._memory
        if self.directory is not None and not (self._disk_failed and self._segment_started is None):
            yield from read_segments(self.directory, self.name)

    def _first_time(self, path: Path | None) -> float | None:
        if path is None:
            return None
        try:
            with open(path, encoding="utf-8") as lines:
                first = json.loads(lines.readline())
            return float(first["t"])
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def _fail(self, error: OSError) -> None:
        if not self._disk_failed:
            self.log.error("history: cannot write {path}: {error}; keeping samples in memory only",
                           path=str(self.directory), error=error.strerror or str(error))
        self._disk_failed = True
