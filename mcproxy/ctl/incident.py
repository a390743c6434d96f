"""The post-incident snapshot: what each process said and counted during a time window.

One folder per process (named as on the control plane: the proxy's sender id, each
backend's server id; each worker of a proxy with ``[proxy] workers`` its own, ``proxy-w2``,
and its supervisor's log lines in ``proxy-supervisor``) holding ``metrics.txt`` (Prometheus
text) and ``status.json`` as of now, ``history.jsonl`` (the process's own samples of both
taken inside the window, kept across restarts), and ``log.jsonl`` (the structured log lines
whose ``time`` falls in the window, correlation ids intact), plus ``manifest.json`` at the
top naming the window, what was saved and each reject counter's increase inside it.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterator

from mcproxy.config import BackendConfig, ProxyConfig
from mcproxy.ctl.window import window_report
from mcproxy.ctl.workers import Target
from mcproxy.ops.history import read_segments

#: Largest log file read; older lines than this many bytes from the end are left alone.
MAX_LOG_BYTES = 256 * 1024 * 1024


def _iso(when: datetime) -> str:
    return when.astimezone(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def lines_in_window(path: Path, since: datetime, until: datetime, worker: str | None = None) -> Iterator[str]:
    """The JSON log lines of ``path`` whose ``time`` is within ``[since, until]``; with
    ``worker``, only the lines that worker wrote (``"w2"``; ``""``: those of no worker, the
    supervisor's), as the workers of one proxy share its log file."""
    with open(path, "rb") as handle:
        handle.seek(0, 2)
        size = handle.tell()
        handle.seek(max(0, size - MAX_LOG_BYTES))
        for raw in handle:
            try:
                event = json.loads(raw)
                when = datetime.fromisoformat(str(event["time"]).replace("Z", "+00:00"))
            except (ValueError, KeyError, TypeError):
                continue
            if since <= when <= until and (worker is None or event.get("worker", "") == worker):
                yield raw.decode("utf-8", "replace").rstrip("\n")


def _save_history(config: ProxyConfig | BackendConfig, name: str, folder: Path, since: datetime,
                  until: datetime, entry: dict[str, Any], client_factory: Callable[[Any], Any]) -> None:
    """The window's history samples (from the process, or from its files when it is down),
    and each reject counter's increase over them, restarts included."""
    start, end = since.timestamp(), until.timestamp()
    try:
        samples = client_factory(config).get(f"/history?since={start}&until={end}").get("samples", [])
    except Exception:
        if not config.admin.history_dir:
            entry["notes"].append("no history: [admin].history_dir is empty and the process does not answer")
            return
        samples = sorted((s for s in read_segments(config.admin.history_dir, name) if start <= s["t"] <= end),
                         key=lambda s: s["t"])
        entry["notes"].append(f"history read from {config.admin.history_dir} (the process does not answer)")
    (folder / "history.jsonl").write_text("".join(json.dumps(s, sort_keys=True) + "\n" for s in samples))
    entry["files"].append("history.jsonl")
    entry["samples"] = len(samples)
    entry["rejects_in_window"] = window_report(samples, None, start, ())["increases"]


def take_snapshot(processes: list[Target], since: datetime, until: datetime,
                  directory: str, client_factory: Callable[[Any], Any]) -> dict[str, Any]:
    """Write the snapshot; the report lists files, counts, notes and errors per process.

    A process that cannot be reached still gets its log lines saved: during an incident a
    partial record beats none, and the error says what is missing.
    """
    root = Path(directory)
    root.mkdir(parents=True, exist_ok=True)
    entries = []
    for target in processes:
        config, name = target.config, target.name
        folder = root / _folder(name)
        folder.mkdir(exist_ok=True)
        entry: dict[str, Any] = {"process": name, "config": config.path, "files": [], "notes": [],
                                 "errors": [], "log_lines": 0, "correlation_ids": 0}
        try:
            client = client_factory(config)
            (folder / "metrics.txt").write_text(str(client.get("/metrics")))
            entry["files"].append("metrics.txt")
            status = client.get("/status")
            (folder / "status.json").write_text(json.dumps(status, indent=2, sort_keys=True) + "\n")
            entry["files"].append("status.json")
        except Exception as error:
            entry["errors"].append(str(error))
        _save_history(config, config.process_name, folder, since, until, entry, client_factory)
        _save_log(config, folder, since, until, entry, target.label if target.worker else None)
        entries.append(entry)
        if target.worker == len([t for t in processes if t.config.path == config.path and t.worker]):
            # After a proxy's last worker: the lines its supervisor wrote, which no worker did.
            supervisor = {"process": f"{config.process_name}/supervisor", "config": config.path, "files": [],
                          "notes": ["the workers' supervisor: no admin listener, its log lines only"],
                          "errors": [], "log_lines": 0, "correlation_ids": 0}
            folder = root / _folder(supervisor["process"])
            folder.mkdir(exist_ok=True)
            _save_log(config, folder, since, until, supervisor, "")
            entries.append(supervisor)
    report = {"since": _iso(since), "until": _iso(until), "directory": str(root),
              "processes": entries}
    (root / "manifest.json").write_text(json.dumps(report, indent=2) + "\n")
    return report


def _folder(name: str) -> str:
    """A process's folder: ``proxy/w2`` becomes ``proxy-w2``."""
    return name.replace("/", "-")


def _save_log(config: ProxyConfig | BackendConfig, folder: Path, since: datetime, until: datetime,
              entry: dict[str, Any], worker: str | None) -> None:
    log_file = config.logging.file
    if not log_file:
        entry["notes"].append("[logging].file is empty: this process logs to standard output; "
                              "collect those lines from the service manager")
        return
    try:
        lines = list(lines_in_window(Path(log_file), since, until, worker))
    except OSError as error:
        entry["errors"].append(f"cannot read {log_file}: {error.strerror or error}")
        return
    (folder / "log.jsonl").write_text("".join(line + "\n" for line in lines))
    entry["files"].append("log.jsonl")
    entry["log_lines"] = len(lines)
    ids = set()
    for line in lines:
        correlation = json.loads(line).get("correlation_id")
        if correlation:
            ids.add(correlation)
    entry["correlation_ids"] = len(ids)
