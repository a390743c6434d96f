"""``mcproxyctl doctor``: the config cross-checks, then the running processes' own view.

For each process it asks ``/health`` and lists what is not OK (a backend's control link
says which address it dials and the last error; the proxy names refusals per backend);
for each backend it also tries the messaging address from here, so "nothing listens
there" is told apart from "something refuses us".  A proxy with ``[proxy] workers`` is
asked worker by worker (``proxy/w1``, ``proxy/w2``): one worker can be sick alone.
"""

from __future__ import annotations

import socket
from collections.abc import Callable
from typing import Any

from mcproxy.config import BackendConfig, ProxyConfig
from mcproxy.config.crosscheck import client_endpoint, cross_check
from mcproxy.ctl.workers import Target

Config = ProxyConfig | BackendConfig


def try_connect(endpoint: str, timeout: float) -> str:
    """"" when a TCP connection to a ``tcp:``/``ssl:`` client endpoint opens, else the error."""
    target = client_endpoint(endpoint)
    if target.kind not in ("tcp", "ssl") or target.port is None:
        return ""
    try:
        with socket.create_connection((target.host, target.port), timeout=timeout):
            return ""
    except OSError as error:
        return error.strerror or str(error) or type(error).__name__


def diagnose(configs: list[tuple[str, Config]], client: Callable[[Config], Any],
             connect: Callable[[str, float], str] = try_connect, timeout: float = 3.0,
             expand: Callable[[Config], list[Target]] | None = None) -> dict[str, Any]:
    """Everything found, as ``{"findings": [...], "ok": bool}``; nothing is raised for a
    process that does not answer: that is a finding too.  ``expand`` names the processes a
    config stands for (each worker of a proxy with ``[proxy] workers``), each asked apart."""
    expand = expand or (lambda config: [Target(config.process_name, config)])
    findings: list[dict[str, Any]] = []

    def note(process: str, what: str, ok: bool) -> None:
        findings.append({"process": process, "what": what, "ok": ok})

    proxies = [(path, c) for path, c in configs if isinstance(c, ProxyConfig)]
    for path, config in configs:
        name = config.process_name
        if isinstance(config, BackendConfig) and len(proxies) == 1:
            problems = cross_check(proxies[0][1], config)
            for problem in problems:
                note(name, f"config: {problem}", False)
            if not problems:
                note(name, f"config: consistent with {proxies[0][0]}", True)
        if isinstance(config, BackendConfig) and config.messaging.enabled:
            error = connect(config.messaging.proxy, timeout)
            if error:
                note(name, f"connect to {config.messaging.proxy} from here failed: {error}", False)
            else:
                note(name, f"connect to {config.messaging.proxy} from here: OK", True)
        for target in expand(config):
            _ask_health(target, client, note)
    return {"findings": findings, "ok": all(f["ok"] for f in findings)}


def _ask_health(target: Target, client: Callable[[Config], Any], note: Callable[[str, str, bool], None]) -> None:
    name = target.name
    try:
        code, health = client(target.config).request("GET", "/health")
    except Exception as error:  # CtlError: unreachable or silent, said by the client
        note(name, f"/health: {error}", False)
        return
    if not isinstance(health, dict):
        note(name, f"/health: HTTP {code}", False)
        return
    note(name, f"/health: {health.get('status')}", health.get("status") == "READY")
    for check, result in sorted(health.get("checks", {}).items()):
        if result.get("state") != "OK":
            note(name, f"  {check}: {result.get('state')} {result.get('detail', '')}".rstrip(), False)


def doctor_text(report: dict[str, Any]) -> str:
    width = max((len(f["process"]) for f in report["findings"]), default=0)
    lines = [f"{'ok  ' if f['ok'] else 'FAIL'}  {f['process']:<{width}}  {f['what']}" for f in report["findings"]]
    lines.append("doctor: " + ("no problem found" if report["ok"] else "PROBLEMS FOUND"))
    return "\n".join(lines)

