"""``mcproxyctl``: the operators' command line, talking to a process's admin listener.

Every command reads the process's own config (``-c``) to find its admin address and
token, so an operator types what the runbook says and nothing else.
"""

from __future__ import annotations

import argparse
import http.client
import json
import secrets
import sys
import time
import urllib.error
import urllib.request
from datetime import datetime, timezone
from typing import Any, Sequence

from mcproxy.config import BackendConfig, ConfigError, ProxyConfig, check_config
from mcproxy.config.crosscheck import cross_check
from mcproxy.config.forwarding_check import forwarding_warnings
from mcproxy.config.unsafe import unsafe_settings
from mcproxy.ctl.typo import unknown_command
from mcproxy.ctl.wait import poll
from mcproxy.ctl.workers import Target, merged_health, merged_status, targets
from mcproxy.proxy.worker import WorkerSlot

#: Exit statuses: scripts and deploy gates rely on them.
OK, FAILED, USAGE = 0, 1, 2


class CtlError(Exception):
    """A command that could not be carried out; the message is for the operator."""


def admin_url(bind: str) -> str:
    """The HTTP base URL of an ``[admin].bind`` endpoint string (``tcp:`` only)."""
    parts = bind.split(":")
    kind = parts[0]
    if kind != "tcp":
        raise CtlError(f"admin bind {bind!r}: mcproxyctl reaches tcp: admin listeners only")
    port = None
    host = "127.0.0.1"
    for part in parts[1:]:
        key, eq, value = part.partition("=")
        if not eq and port is None:
            port = key
        elif key == "port":
            port = value
        elif key == "interface" and value not in ("", "0.0.0.0", "::"):
            host = value
    if port is None:
        raise CtlError(f"admin bind {bind!r} has no port")
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{port}"


class AdminClient:
    """Small synchronous client for one process's admin endpoints."""

    def __init__(self, config: ProxyConfig | BackendConfig, timeout: float = 10.0) -> None:
        if not config.admin.bind:
            raise CtlError(f"{config.path}: admin.bind is empty: this process has no admin listener")
        self.base = admin_url(config.admin.bind)
        self._token = config.admin.token.value.decode("utf-8") if config.admin.token is not None else None
        self.timeout = timeout

    def request(self, method: str, path: str, body: dict | None = None) -> tuple[int, Any]:
        data = json.dumps(body or {}).encode() if method == "POST" else None
        request = urllib.request.Request(self.base + path, data=data, method=method)
        if data is not None:
            request.add_header("Content-Type", "application/json")
        if self._token:
            request.add_header("Authorization", f"Bearer {self._token}")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                return response.status, _decode(response.read(), response.headers.get_content_type())
        except urllib.error.HTTPError as error:
            return error.code, _decode(error.read(), error.headers.get_content_type())
        except http.client.RemoteDisconnected:
            # Something accepted the request and closed without a status line: an admin
            # listener never does that, another program on the configured port does.
            raise CtlError(f"the program listening at {self.base} closed the connection without an HTTP "
                           f"answer ({method} {path}): is it this process's admin listener? (a process "
                           f"whose admin.bind cannot listen stops at start, saying so)") from None
        except (urllib.error.URLError, OSError) as error:
            reason = getattr(error, "reason", error)
            if isinstance(error, TimeoutError) or isinstance(reason, TimeoutError):
                # Connected (or connecting) and waited: the process is there but did not answer.
                raise CtlError(f"no answer from the process at {self.base} within {self.timeout:g} s"
                               f" ({method} {path})") from None
            raise CtlError(f"cannot reach the admin listener at {self.base}: {reason}") from None

    def get(self, path: str) -> Any:
        code, body = self.request("GET", path)
        if code >= 400 and path != "/health":
            raise CtlError(f"GET {path}: HTTP {code}: {_error_text(body)}")
        return body

    def action(self, name: str, body: dict | None = None) -> Any:
        code, answer = self.request("POST", f"/actions/{name}", body)
        if code >= 400:
            raise CtlError(f"{name}: HTTP {code}: {_error_text(answer)}")
        return answer


def _decode(raw: bytes, content_type: str) -> Any:
    if content_type == "application/json":
        try:
            return json.loads(raw)
        except ValueError:
            pass
    return raw.decode("utf-8", "replace")


def _error_text(body: Any) -> str:
    if isinstance(body, dict):
        return str(body.get("error") or body.get("reason") or body)
    return str(body)


def _load(path: str) -> ProxyConfig | BackendConfig:
    try:
        return check_config(path)
    except ConfigError as error:
        raise CtlError(str(error)) from None


def _addressed(args) -> ProxyConfig | BackendConfig:
    """The config of ``-c``, as worker ``--worker K`` of a proxy with ``[proxy] workers`` runs it
    (its admin listener is the configured port + K - 1); without ``--worker``, worker 1's."""
    config = _load(args.config)
    worker = getattr(args, "worker", None)
    if worker is None:
        return config
    count = config.proxy.workers if isinstance(config, ProxyConfig) else 0
    if not 1 <= worker <= count:
        raise CtlError(f"{args.config}: --worker {worker}: "
                       + (f"this proxy runs {count} worker(s)" if count else "only a proxy has workers"))
    return WorkerSlot(worker, count).shape(config) if count > 1 else config


def _every_worker(args) -> list[Target] | None:
    """Without ``--worker``, each worker of a proxy with ``[proxy] workers`` (None otherwise):
    the commands that read state ask them all."""
    if getattr(args, "worker", None) is not None:
        return None
    config = _load(args.config)
    found = targets(config, AdminClient)
    return found if found[0].worker is not None else None


def _ask_each(found: list[Target], ask) -> list[tuple[Target, Any]]:
    """``ask(client)`` of every target; an unreachable one's answer is its CtlError, unless
    none answered at all (then that error is the command's)."""
    answers: list[tuple[Target, Any]] = []
    for target in found:
        try:
            answers.append((target, ask(AdminClient(target.config))))
        except CtlError as error:
            answers.append((target, error))
    if all(isinstance(answer, CtlError) for _, answer in answers):
        raise answers[0][1]
    return answers


def _backend(path: str) -> BackendConfig:
    config = _load(path)
    if not isinstance(config, BackendConfig):
        raise CtlError(f"{path}: this command needs a backend config ([backend])")
    return config


# Commands -----------------------------------------------------------------------------


def cmd_check_config(args) -> int:
    """Validate each file (one line each, then its unsafe settings); then, given a proxy
    config and backend configs, check that they can work together."""
    if not (args.files or args.config):
        raise CtlError("check-config needs a file (or -c FILE)")
    status = OK
    loaded: list[tuple[str, ProxyConfig | BackendConfig]] = []
    for path in args.files or [args.config]:
        try:
            config = check_config(path)
        except ConfigError as error:
            print(error)
            status = FAILED
            continue
        loaded.append((path, config))
        kind = "proxy" if isinstance(config, ProxyConfig) else "backend"
        print(f"{path}: OK ({kind} config)")
        for setting in unsafe_settings(config):
            print(f"  UNSAFE {setting.line()}")
            if args.strict:
                status = FAILED
    proxies = [(path, c) for path, c in loaded if isinstance(c, ProxyConfig)]
    backends = [(path, c) for path, c in loaded if isinstance(c, BackendConfig)]
    if len(proxies) == 1 and backends:
        proxy_path, proxy = proxies[0]
        for path, backend in backends:
            problems = cross_check(proxy, backend)
            verdict = "consistent" if not problems else "INCONSISTENT"
            print(f"{path} with {proxy_path}: {verdict}")
            for problem in problems:
                print(f"  {path}: {problem}")
            if problems:
                status = FAILED
    _print_forwarding_warnings([config for _, config in loaded])
    return status


def _print_forwarding_warnings(loaded: list[ProxyConfig | BackendConfig]) -> None:
    """For each proxy and backend given together: would the backend take the proxy's logins?"""
    for proxy in (c for c in loaded if isinstance(c, ProxyConfig)):
        for backend in (c for c in loaded if isinstance(c, BackendConfig)):
            for warning in forwarding_warnings(proxy, backend):
                print(f"warning: {warning}")


def cmd_gen_secret(args) -> int:
    """A new shared secret: 32 random bytes as 64 hex characters."""
    print(secrets.token_hex(32))
    return OK


def cmd_health(args) -> int:
    """/health; with ``--wait N``, asked again until READY for up to N seconds.  Every worker's,
    merged, for a proxy with workers (unless ``--worker K``)."""
    workers = _every_worker(args)
    if workers is None:
        client = AdminClient(_addressed(args))

        def health() -> tuple[int, Any]:
            return client.request("GET", "/health")
    else:
        def health() -> tuple[int, Any]:
            return merged_health(_ask_each(workers, lambda client: client.request("GET", "/health")))

    def ask() -> tuple[bool, tuple[int, Any]]:
        code, body = health()
        return isinstance(body, dict) and body.get("status") == "READY", (code, body)
    code, body = poll(ask, args.wait, retry_on=(CtlError,))
    _print(args, body, lambda b: _health_text(b))
    if args.wait and not (isinstance(body, dict) and body.get("status") == "READY"):
        return FAILED
    return OK if code == 200 else FAILED


def _health_text(body: Any) -> str:
    if not isinstance(body, dict):
        return str(body)
    lines = [f"status: {body.get('status')}"]
    for name, check in sorted(body.get("checks", {}).items()):
        lines.append(f"  {name}: {check.get('state')} {check.get('detail', '')}".rstrip())
    return "\n".join(lines)


def cmd_status(args) -> int:
    """/status; for a proxy with workers (unless ``--worker K``) every worker's, merged."""
    workers = _every_worker(args)
    if workers is None:
        body = AdminClient(_addressed(args)).get("/status")
    else:
        body = merged_status(_ask_each(workers, lambda client: client.get("/status")))
    _print(args, body, lambda b: json.dumps(b, indent=2, sort_keys=True))
    return OK


def cmd_sync_state(args) -> int:
    """The backend's registry sync state (runbook: startup step 3)."""
    client = AdminClient(_backend(args.config))

    def ask() -> tuple[bool, Any]:
        body = client.get("/status")
        link = body.get("link") if isinstance(body, dict) else None
        return bool(link and link.get("synchronized")), link
    link = poll(ask, args.wait, retry_on=(CtlError,))
    if not link:
        raise CtlError("this backend has no control link (is [messaging] enabled?)")
    _print(args, link, _link_text)
    return OK if link.get("synchronized") else FAILED


def _link_text(link: dict) -> str:
    keys = ("server_id", "link_up", "synchronized", "serial", "digest", "bridge_enabled", "bridge_active")
    lines = [f"{key}: {_plain(link.get(key))}" for key in keys if key in link]
    # Why, when the process knows: shown only while there is something to say.
    lines += [f"{key}: {link[key]}" for key in ("link_error", "sync_error") if link.get(key)]
    return "\n".join(lines)


def _plain(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    return "-" if value is None else str(value)


def cmd_request_snapshot(args) -> int:
    """Ask the proxy for a fresh registry snapshot and report the state reached, or why not."""
    client = AdminClient(_backend(args.config), timeout=args.timeout + 10)
    answer = client.action("request_snapshot", {"timeout": args.timeout})
    if not isinstance(answer, dict):
        raise CtlError(f"request_snapshot: unexpected answer: {answer}")
    _print(args, answer, _snapshot_answer_text)
    return OK if answer.get("done") is not False and answer.get("synchronized") else FAILED


def _snapshot_answer_text(answer: dict) -> str:
    text = _link_text(answer)
    if answer.get("done") is False:
        text = f"snapshot NOT installed: {answer.get('reason', '')}\n{text}"
    return text


def cmd_command(args) -> int:
    """Run a proxy command as the console, like a player with every permission."""
    config = _addressed(args)
    if not isinstance(config, ProxyConfig):
        raise CtlError(f"{args.config}: this command needs the proxy config ([proxy])")
    answer = AdminClient(config).action("command", {"line": args.line})
    _print(args, answer, lambda body: "\n".join(body.get("output", [])) or f"/{body.get('command')}: done")
    return OK


def cmd_transfer(args) -> int:
    """A controlled transfer through the control plane (runbook: startup step 4)."""
    answer = AdminClient(_backend(args.config)).action("transfer", {"player": args.player, "server": args.server})
    done = isinstance(answer, dict) and bool(answer.get("done"))
    _print(args, answer, lambda a: f"transfer {'done' if done else 'refused'}: {a.get('reason', '')}".rstrip(": "))
    return OK if done else FAILED


def cmd_bridge(args) -> int:
    """Show, disable or re-enable the backend's command bridge (messaging-unavailable steps 3-4)."""
    client = AdminClient(_backend(args.config))
    if args.state == "status":
        body = client.get("/status").get("link")
        if not body:
            raise CtlError("this backend has no control link (is [messaging] enabled?)")
    else:
        body = client.action("bridge_enable" if args.state == "enable" else "bridge_disable")
    _print(args, body, lambda link: f"{bridge_headline(link)}\n{_link_text(link)}")
    return OK


def bridge_headline(link: dict) -> str:
    """One line an operator can act on: is the switch on, and are commands routed right now."""
    switch = "enabled" if link.get("bridge_enabled") else "DISABLED by operator"
    if link.get("bridge_active"):
        return f"command bridge: {switch}, routing proxy commands (registry serial {_plain(link.get('serial'))})"
    why = []
    if not link.get("link_up"):
        why.append("control link down")
    elif not link.get("synchronized"):
        why.append("registry not synchronized")
    if not link.get("bridge_enabled"):
        why.append("switched off")
    return f"command bridge: {switch}, NOT routing ({', '.join(why)})"


def cmd_restart(args) -> int:
    """Restart one component in place and report the state it settled in (registry-desync step 4)."""
    config = _load(args.config)
    body = {"timeout": args.timeout}
    if args.component == "bridge":
        if not isinstance(config, BackendConfig):
            raise CtlError(f"{args.config}: the bridge component runs on a backend; give a backend config")
        client = AdminClient(config, timeout=args.timeout + 10)
        answer = client.action("restart_bridge", body)
        _print(args, answer, lambda a: "\n".join([
            "restarted: bridge", bridge_headline(a), _link_text(a), _settled_line(a)]))
    else:
        if not isinstance(config, ProxyConfig):
            raise CtlError(f"{args.config}: the messaging component runs on the proxy; give the proxy config")
        client = AdminClient(config, timeout=args.timeout + 10)
        answer = client.action("restart_messaging", body)
        _print(args, answer, _messaging_text)
    return OK if answer.get("settled") else FAILED


def _messaging_text(answer: dict) -> str:
    registry = answer.get("registry", {})
    lines = [f"restarted: messaging ({answer.get('dropped', 0)} link(s) dropped)",
             f"registry serial: {_plain(registry.get('serial'))}"]
    for name, link in sorted(answer.get("links", {}).items()):
        state = "link up" if link.get("link_up") else "link DOWN"
        sync = "synchronized" if link.get("synchronized") else "NOT synchronized"
        lines.append(f"  {name}: {state}, {sync}, serial {_plain(link.get('serial'))}")
    if not answer.get("settled") and answer.get("problems"):
        answer = dict(answer, reason="; ".join(answer["problems"]))
    lines.append(_settled_line(answer))
    return "\n".join(lines)


def _settled_line(answer: dict) -> str:
    """``settled: yes``, or ``settled: no (why)`` so an operator knows what to fix."""
    if answer.get("settled"):
        return "settled: yes"
    reason = answer.get("reason")
    return f"settled: no ({reason})" if reason else "settled: no"


def cmd_rotation(args) -> int:
    """Which peers still sign with the previous secret, so the overlap can be ended safely."""
    config = _load(args.config)
    status = AdminClient(config).get("/status")
    report = rotation_report(config, status, time.time(), args.window)
    _print(args, report, _rotation_text)
    return OK if report["overlap_can_end"] else FAILED


def rotation_report(config: ProxyConfig | BackendConfig, status: dict, now: float,
                    window: float) -> dict[str, Any]:
    """Per expected peer: which secret verified its messages and how recently.

    A peer signs with whichever secret verified its latest message, if that was within
    ``window`` seconds (peers heartbeat every 10 s); a peer has one signing secret, so the
    latest verification tells what it signs with now, even right after it switched.
    """
    if isinstance(config, ProxyConfig):
        section = status.get("links") or {}
        peers = sorted(section.get("links", {}))
        previous_set = config.security.proxy_secret_previous is not None
    else:
        section = status.get("link") or {}
        peers = [config.backend.control_expected_sender_id]
        previous_set = config.backend.proxy_secret_previous is not None
    usage = section.get("secret_usage", {})
    seen = section.get("secret_last_seen", {})
    links = section.get("links", {})
    rows = []
    for peer in peers:
        counts, last = usage.get(peer, {}), seen.get(peer, {})
        recent = {slot: when for slot, when in last.items() if now - when <= window}
        verdict = max(recent, key=recent.__getitem__) if recent else "not seen"
        refusal = _refused_since(links.get(peer, {}) if links else section, max(last.values(), default=None))
        if refusal:
            # Its latest message was refused: counts verified earlier (say by its previous
            # process) say nothing about what it signs with now.
            verdict = "refused"
        rows.append({"peer": peer, "verdict": verdict, "refused": refusal,
                     "current": counts.get("current", 0), "previous": counts.get("previous", 0),
                     "current_age": _age(last.get("current"), now),
                     "previous_age": _age(last.get("previous"), now)})
    blocking = [row["peer"] for row in rows if row["verdict"] != "current"]
    return {"process": config.process_name, "previous_configured": previous_set,
            "window": window, "peers": rows, "blocking": blocking,
            "overlap_can_end": not blocking}


def _refused_since(link: dict, last_verified: float | None) -> str:
    """The reason a peer's messages are refused now, if that is newer than its last verified one."""
    if "link_up" in link and "hello_refused" not in link:
        # A backend's own view: its link is down because the proxy refused it.
        error = link.get("link_error", "")
        return error if not link.get("link_up") and "refused our Hello" in error else ""
    reason, when = link.get("hello_refused"), link.get("hello_refused_at")
    if not reason or when is None or link.get("link_up"):
        return ""
    return reason if last_verified is None or when > last_verified else ""


def _age(when: float | None, now: float) -> float | None:
    return None if when is None else round(now - when, 1)


def _rotation_text(report: dict) -> str:
    overlap = "open (proxy_secret_previous is set)" if report["previous_configured"] else \
        "none (proxy_secret_previous is not set)"
    lines = [f"{report['process']}: rotation overlap {overlap}",
             f"signatures verified, by peer (latest within {report['window']:g}s decides):"]
    for row in report["peers"]:
        ages = ", ".join(f"{slot} {row[slot]} (last {row[slot + '_age']}s ago)" if row[slot + "_age"] is not None
                         else f"{slot} {row[slot]}" for slot in ("current", "previous"))
        verdict = {"current": "signs with proxy_secret",
                   "previous": "STILL SIGNS WITH proxy_secret_previous",
                   "not seen": "NOT SEEN in the window",
                   "refused": f"ITS MESSAGES ARE REFUSED NOW: {row.get('refused')} (older counts are stale)",
                   }[row["verdict"]]
        lines.append(f"  {row['peer']}: {verdict}  [{ages}]")
    if report["overlap_can_end"]:
        lines.append("overlap can end: yes (every peer signs with proxy_secret)")
    else:
        lines.append(f"overlap can end: no (waiting for: {', '.join(report['blocking'])})")
    return "\n".join(lines)


def _configs(args) -> list[str]:
    paths = ([args.config] if args.config else []) + list(args.configs or [])
    if not paths:
        raise CtlError(f"{args.command} needs at least one -c CONFIG")
    return paths


def _targets(args) -> list[tuple[str, Target]]:
    """Each process the ``-c`` files stand for, with its file: every worker of a proxy with
    workers, or only worker K with ``--worker K``."""
    wanted = getattr(args, "worker", None)
    return [(path, target) for path in _configs(args) for target in targets(_load(path), AdminClient)
            if wanted is None or target.worker in (None, wanted)]


def cmd_versions(args) -> int:
    """Every process's version set; a mixed set is a failure (version-mismatch step 2)."""
    rows = []
    failed = False
    for path, target in _targets(args):
        row: dict[str, Any] = {"process": target.name, "config": path}
        try:
            status = AdminClient(target.config).get("/status")
        except CtlError as error:
            row["error"] = str(error)
            failed = True
        else:
            version = status.get("version", {})
            row["artifact"] = version.get("mcproxy")
            row["control_protocol"] = version.get("control_protocol")
            counters = (status.get("rejects") or {}).get("mcproxy_control_rejects_total", {})
            row["version_mismatch_rejects"] = counters.get("VERSION_MISMATCH", 0)
            refused = {name: link for name, link in (status.get("links") or {}).get("links", {}).items()
                       if link.get("refused")}
            if refused:
                row["refused_hellos"] = {name: {"reason": link["refused"],
                                                "artifact": link.get("artifact_version"),
                                                "control_protocol": link.get("control_version")}
                                         for name, link in sorted(refused.items())}
        rows.append(row)
    sets = sorted({(r["artifact"], r["control_protocol"]) for r in rows if "error" not in r}, key=str)
    report = {"processes": rows, "sets": [{"artifact": a, "control_protocol": c} for a, c in sets],
              "mixed": len(sets) > 1}
    _print(args, report, _versions_text)
    return FAILED if failed or report["mixed"] else OK


def _versions_text(report: dict) -> str:
    rows = report["processes"]
    width = max(len(r["process"]) for r in rows)
    lines = []
    for row in rows:
        if "error" in row:
            lines.append(f"{row['process']:<{width}}  UNREACHABLE  {row['error']}")
            continue
        lines.append(f"{row['process']:<{width}}  {row['artifact']}  control protocol {row['control_protocol']}"
                     f"  VERSION_MISMATCH rejects {row['version_mismatch_rejects']}  ({row['config']})")
        for name, refusal in row.get("refused_hellos", {}).items():
            lines.append(f"{'':<{width}}  refused {name}'s Hello: {refusal['reason']} (it announced "
                         f"{refusal['artifact']}, control protocol {refusal['control_protocol']})")
    sets = report["sets"]
    if report["mixed"]:
        by_set = []
        for entry in sets:
            names = [r["process"] for r in rows if "error" not in r
                     and (r["artifact"], r["control_protocol"]) == (entry["artifact"], entry["control_protocol"])]
            by_set.append(f"{entry['artifact']} (control protocol {entry['control_protocol']}) on {', '.join(names)}")
        lines.append("MIXED version set: " + "; ".join(by_set))
    elif sets:
        lines.append(f"version set: {sets[0]['artifact']} (control protocol {sets[0]['control_protocol']})"
                     " on every process reached")
    return "\n".join(lines)


def cmd_snapshot(args) -> int:
    """/metrics, /status and the window's log lines of every process, one folder each."""
    from mcproxy.ctl.incident import take_snapshot

    since, until = _instant(args.since, "--since"), _instant(args.until, "--until")
    if until < since:
        raise CtlError("--until is before --since")
    report = take_snapshot([target for _, target in _targets(args)], since, until, args.output, AdminClient)
    _print(args, report, _snapshot_text)
    return FAILED if any(p.get("errors") for p in report["processes"]) else OK


def _instant(text: str, option: str) -> datetime:
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise CtlError(f"{option} {text!r} is not an ISO 8601 time (e.g. 2026-01-31T14:05:00Z)") from None
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


def _snapshot_text(report: dict) -> str:
    lines = [f"incident snapshot {report['since']} .. {report['until']} in {report['directory']}"]
    for process in report["processes"]:
        files = ", ".join(process["files"])
        lines.append(f"  {process['process']}/: {files}; {process.get('samples', 0)} sample(s), "
                     f"{process['log_lines']} log line(s), {process['correlation_ids']} correlation id(s)")
        for series, value in sorted(process.get("rejects_in_window", {}).items()):
            lines.append(f"    in the window: {series} +{value:g}")
        for note in process.get("notes", []):
            lines.append(f"    note: {note}")
        for error in process.get("errors", []):
            lines.append(f"    ERROR: {error}")
    return "\n".join(lines)


def cmd_doctor(args) -> int:
    """Cross-check the configs, then ask each running process what it sees (messaging actions 1-2)."""
    from mcproxy.ctl.doctor import diagnose, doctor_text

    configs = [(path, _load(path)) for path in _configs(args)]
    report = diagnose(configs, AdminClient, expand=lambda config: targets(config, AdminClient))
    _print(args, report, doctor_text)
    return OK if report["ok"] else FAILED


def cmd_rejects(args) -> int:
    """Each reject counter's increase over the last N minutes, on every process (version
    mismatch step 4: resume only once the watched reasons stay at zero)."""
    from mcproxy.ctl.window import DEFAULT_WATCHED, window_report

    seconds = _duration(args.last)
    now = time.time()
    since = now - seconds
    watched = args.fail_on or list(DEFAULT_WATCHED)
    rows, failed = [], False
    for path, target in _targets(args):
        row: dict[str, Any] = {"process": target.name, "config": path}
        samples, now_metrics = _history_samples(target, since, now, row)
        if samples is None:
            failed = True
            rows.append(row)
            continue
        baseline = [s for s in samples if s["t"] <= since][-1:]
        inside = baseline + [s for s in samples if s["t"] > since]
        report = window_report(inside, now_metrics, since, watched)
        row.update(report)
        failed = failed or bool(report["moved"])
        rows.append(row)
    out = {"since": _iso(since), "until": _iso(now), "last": args.last, "watched": watched,
           "processes": rows, "moved": sorted({r for row in rows for r in row.get("moved", [])})}
    _print(args, out, _rejects_text)
    return FAILED if failed else OK


def _history_samples(target: Target, since: float, now: float,
                     row: dict) -> tuple[list | None, str | None]:
    """The process's samples from a little before ``since`` to now, and its live /metrics;
    from its history files on disk when it does not answer (the live reading is then None)."""
    from mcproxy.ops.history import read_segments

    config = target.config
    start = since - 1.5 * config.admin.history_period
    try:
        client = AdminClient(config)
        answer = client.get(f"/history?since={start}&until={now}")
        metrics = client.get("/metrics")
        return answer.get("samples", []), str(metrics)
    except CtlError as error:
        row["error"] = str(error)
    if not config.admin.history_dir:
        return None, None
    samples = sorted((s for s in read_segments(config.admin.history_dir, config.process_name)
                      if start <= s["t"] <= now), key=lambda s: s["t"])
    if not samples:
        return None, None
    row["note"] = f"not answering; from its history in {config.admin.history_dir}"
    return samples, None


def _duration(text: str) -> float:
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    try:
        value = float(text[:-1]) * units[text[-1]] if text[-1:] in units else float(text)
    except (ValueError, KeyError):
        raise CtlError(f"--last {text!r}: give a duration such as 90s, 10m, 2h") from None
    if not 0 < value <= 30 * 86400:
        raise CtlError(f"--last {text!r}: between 1 s and 30 days")
    return value


def _iso(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


def _rejects_text(report: dict) -> str:
    lines = [f"reject counters over the last {report['last']} ({report['since']} .. {report['until']}),"
             f" watching {', '.join(report['watched'])}"]
    width = max((len(r["process"]) for r in report["processes"]), default=0)
    for row in report["processes"]:
        name = f"{row['process']:<{width}}"
        if "increases" not in row:
            lines.append(f"{name}  UNREACHABLE and no history: {row.get('error', '')}")
            continue
        if row.get("note"):
            lines.append(f"{name}  note: {row['note']}")
        if row["covered_from"] is None or row["covered_from"] > row["since"]:
            lines.append(f"{name}  note: history does not reach back to the window start"
                         f" ({row['readings']} reading(s))")
        if not row["increases"]:
            lines.append(f"{name}  no reject counter moved")
        for series, value in sorted(row["increases"].items()):
            lines.append(f"{name}  {series} +{value:g}")
    if report["moved"]:
        movers = [f"{reason} on {', '.join(r['process'] for r in report['processes'] if reason in r.get('moved', []))}"
                  for reason in report["moved"]]
        lines.append("MOVED: " + "; ".join(movers))
    else:
        lines.append(f"stable: {', '.join(report['watched'])} did not move on any process reached")
    return "\n".join(lines)


def cmd_smoke(args) -> int:
    """The rollback validation against the running deployment, plus a bounded smoke load.

    The probes run under ``task.react``, which owns the reactor's start, stop and the exit
    status; it does not return.
    """
    from twisted.internet import task

    from mcproxy.ctl.smoke import run_smoke, smoke_text

    proxy = _load(args.config)
    if not isinstance(proxy, ProxyConfig):
        raise CtlError(f"{args.config}: smoke needs the proxy config as -c")
    backends = [_backend(path) for path in args.backends or []]

    def finish(report: dict) -> None:
        _print(args, report, smoke_text)
        if not report["passed"]:
            raise SystemExit(FAILED)

    def smoke(reactor):
        d = run_smoke(reactor, proxy, backends, AdminClient, players=args.players, timeout=args.timeout)
        return d.addCallback(finish)

    task.react(smoke)
    return OK


def _print(args, body: Any, text) -> None:
    if args.json:
        print(json.dumps(body, indent=2, sort_keys=True))
    else:
        print(text(body))


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="mcproxyctl", description=__doc__.splitlines()[0])
    top.add_argument("-c", "--config", help="the process's config file (proxy.toml or backend.toml)")
    top.add_argument("--json", action="store_true", help="print the raw JSON answer")
    top.add_argument("--worker", type=int, metavar="K",
                     help="with [proxy] workers: ask worker K only (its admin port is the configured one"
                          " + K - 1); without it, health and status merge every worker's answer")
    sub = top.add_subparsers(dest="command", required=True)
    check = sub.add_parser("check-config", help="validate config files")
    check.add_argument("files", nargs="*")
    check.add_argument("--strict", action="store_true",
                       help="fail (exit 1) on settings that depart from the runbook's safe defaults")
    check.set_defaults(run=cmd_check_config)
    sub.add_parser("gen-secret", help="print a new strong shared secret").set_defaults(run=cmd_gen_secret)
    health = sub.add_parser("health", help="the process's /health")
    health.add_argument("--wait", type=float, default=0.0, metavar="SECONDS",
                        help="ask again until READY, for up to SECONDS (exit 1 if never)")
    health.set_defaults(run=cmd_health, needs_config=True)
    sub.add_parser("status", help="the process's /status").set_defaults(run=cmd_status, needs_config=True)
    sync_state = sub.add_parser("sync-state", help="a backend's registry sync state")
    sync_state.add_argument("--wait", type=float, default=0.0, metavar="SECONDS",
                            help="ask again until synchronized, for up to SECONDS")
    sync_state.set_defaults(run=cmd_sync_state, needs_config=True)
    snapshot_request = sub.add_parser("request-snapshot", help="make a backend resync its registry")
    snapshot_request.add_argument("--timeout", type=float, default=15.0,
                                  help="seconds to wait for the snapshot to be installed")
    snapshot_request.set_defaults(run=cmd_request_snapshot, needs_config=True)
    command = sub.add_parser("command", help='run a proxy command on the proxy, e.g. "/alert Restart soon"')
    command.add_argument("line")
    command.set_defaults(run=cmd_command, needs_config=True)
    transfer = sub.add_parser("transfer", help="ask the proxy, via a backend, to move a player")
    transfer.add_argument("player")
    transfer.add_argument("server")
    transfer.set_defaults(run=cmd_transfer, needs_config=True)
    bridge = sub.add_parser("bridge", help="the backend's command bridge")
    bridge.add_argument("state", choices=("status", "enable", "disable"))
    bridge.set_defaults(run=cmd_bridge, needs_config=True)
    restart = sub.add_parser("restart", help="restart a component in place: a backend's bridge, the proxy's messaging")
    restart.add_argument("component", choices=("bridge", "messaging"))
    restart.add_argument("--timeout", type=float, default=15.0, help="seconds to wait for the state to settle")
    restart.set_defaults(run=cmd_restart, needs_config=True)
    rotation = sub.add_parser("rotation", help="which peers still sign with the previous secret")
    rotation.add_argument("--window", type=float, default=60.0,
                          help="seconds of signatures to judge by (peers heartbeat every 10 s)")
    rotation.set_defaults(run=cmd_rotation, needs_config=True)
    versions = sub.add_parser("versions", help="every process's version set; fails on a mixed set")
    versions.add_argument("-c", "--config", dest="configs", action="append", metavar="CONFIG")
    versions.set_defaults(run=cmd_versions)
    rejects = sub.add_parser("rejects", help="reject counters' increase over the last minutes, every process")
    rejects.add_argument("-c", "--config", dest="configs", action="append", metavar="CONFIG")
    rejects.add_argument("--last", default="10m", help="the window: 90s, 10m, 2h (default 10m)")
    rejects.add_argument("--fail-on", action="append", metavar="REASON",
                         help="exit 1 when this reason moved (repeatable; default: the startup procedure's list)")
    rejects.set_defaults(run=cmd_rejects)
    doctor = sub.add_parser("doctor", help="cross-check configs and ask every running process what it sees")
    doctor.add_argument("-c", "--config", dest="configs", action="append", metavar="CONFIG")
    doctor.set_defaults(run=cmd_doctor)
    snapshot = sub.add_parser("snapshot", help="save /metrics, /status and logs of an incident window")
    snapshot.add_argument("-c", "--config", dest="configs", action="append", metavar="CONFIG")
    snapshot.add_argument("--since", required=True, help="window start, ISO 8601 (UTC if no offset)")
    snapshot.add_argument("--until", required=True, help="window end, ISO 8601")
    snapshot.add_argument("-o", "--output", required=True, help="folder to write (one subfolder per process)")
    snapshot.set_defaults(run=cmd_snapshot)
    smoke = sub.add_parser("smoke", help="rollback validation and a smoke load against a running deployment")
    smoke.add_argument("-c", "--config", dest="smoke_config", metavar="PROXY_CONFIG")
    smoke.add_argument("--backend", dest="backends", action="append", metavar="BACKEND_CONFIG")
    smoke.add_argument("--players", type=int, default=10, help="players of the smoke load (0 skips it)")
    smoke.add_argument("--timeout", type=float, default=30.0, help="seconds allowed per probe and per player")
    smoke.set_defaults(run=cmd_smoke)
    return top


def main(argv: Sequence[str] | None = None) -> int:
    top = parser()
    argv = sys.argv[1:] if argv is None else list(argv)
    unknown = unknown_command(argv, top)
    if unknown is not None:
        print(f"mcproxyctl: {unknown}", file=sys.stderr)
        return USAGE
    arguments = top.parse_args(argv)
    if getattr(arguments, "smoke_config", None):
        arguments.config = arguments.smoke_config
    if arguments.command == "smoke" and not arguments.config:
        print("mcproxyctl smoke: -c PROXY_CONFIG is required", file=sys.stderr)
        return USAGE
    if getattr(arguments, "needs_config", False) and not arguments.config:
        print(f"mcproxyctl {arguments.command}: -c CONFIG is required", file=sys.stderr)
        return USAGE
    try:
        return arguments.run(arguments)
    except CtlError as error:
        print(f"mcproxyctl: {error}", file=sys.stderr)
        return FAILED


if __name__ == "__main__":
    sys.exit(main())
