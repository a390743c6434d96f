"""``mcproxyctl``: the operators' command line, talking to a process's admin listener.

Every command reads the process's own config (``-c``) to find its admin address and
token, so an operator types what the runbook says and nothing else.
"""

from __future__ import annotations

import argparse
import json
import secrets
import sys
import urllib.error
import urllib.request
from typing import Any, Sequence

from mcproxy.config import BackendConfig, ConfigError, ProxyConfig, check_config

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
        except (urllib.error.URLError, OSError) as error:
            reason = getattr(error, "reason", error)
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


def _backend(path: str) -> BackendConfig:
    config = _load(path)
    if not isinstance(config, BackendConfig):
        raise CtlError(f"{path}: this command needs a backend config ([backend])")
    return config


# Commands -----------------------------------------------------------------------------


def cmd_check_config(args) -> int:
    """Validate each file; print one line per file."""
    status = OK
    for path in args.files or ([args.config] if args.config else []):
        try:
            config = check_config(path)
        except ConfigError as error:
            print(error)
            status = FAILED
            continue
        kind = "proxy" if isinstance(config, ProxyConfig) else "backend"
        print(f"{path}: OK ({kind} config)")
    if not (args.files or args.config):
        raise CtlError("check-config needs a file (or -c FILE)")
    return status


def cmd_gen_secret(args) -> int:
    """A new shared secret: 32 random bytes as 64 hex characters."""
    print(secrets.token_hex(32))
    return OK


def cmd_health(args) -> int:
    client = AdminClient(_load(args.config))
    code, body = client.request("GET", "/health")
    _print(args, body, lambda b: _health_text(b))
    return OK if code == 200 else FAILED


def _health_text(body: Any) -> str:
    if not isinstance(body, dict):
        return str(body)
    lines = [f"status: {body.get('status')}"]
    for name, check in sorted(body.get("checks", {}).items()):
        lines.append(f"  {name}: {check.get('state')} {check.get('detail', '')}".rstrip())
    return "\n".join(lines)


def cmd_status(args) -> int:
    body = AdminClient(_load(args.config)).get("/status")
    _print(args, body, lambda b: json.dumps(b, indent=2, sort_keys=True))
    return OK


def cmd_sync_state(args) -> int:
    """The backend's registry sync state (runbook: startup step 3)."""
    body = AdminClient(_backend(args.config)).get("/status")
    link = body.get("link") if isinstance(body, dict) else None
    if not link:
        raise CtlError("this backend has no control link (is [messaging] enabled?)")
    _print(args, link, _link_text)
    return OK if link.get("synchronized") else FAILED


def _link_text(link: dict) -> str:
    keys = ("server_id", "link_up", "synchronized", "serial", "digest", "bridge_enabled", "bridge_active")
    return "\n".join(f"{key}: {_plain(link.get(key))}" for key in keys if key in link)


def _plain(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    return "-" if value is None else str(value)


def cmd_request_snapshot(args) -> int:
    """Ask the proxy for a fresh registry snapshot and report the state reached."""
    answer = AdminClient(_backend(args.config)).action("request_snapshot")
    _print(args, answer, _link_text if isinstance(answer, dict) and "synchronized" in answer else str)
    if isinstance(answer, dict) and answer.get("done") is False:
        return FAILED
    return OK if isinstance(answer, dict) and answer.get("synchronized") else FAILED


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
        body = client.get("/status").get("link") or {}
    else:
        body = client.action("bridge_enable" if args.state == "enable" else "bridge_disable")
    _print(args, body, _link_text)
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
    sub = top.add_subparsers(dest="command", required=True)
    check = sub.add_parser("check-config", help="validate config files")
    check.add_argument("files", nargs="*")
    check.set_defaults(run=cmd_check_config)
    sub.add_parser("gen-secret", help="print a new strong shared secret").set_defaults(run=cmd_gen_secret)
    sub.add_parser("health", help="the process's /health").set_defaults(run=cmd_health, needs_config=True)
    sub.add_parser("status", help="the process's /status").set_defaults(run=cmd_status, needs_config=True)
    sub.add_parser("sync-state", help="a backend's registry sync state").set_defaults(
        run=cmd_sync_state, needs_config=True)
    sub.add_parser("request-snapshot", help="make a backend resync its registry").set_defaults(
        run=cmd_request_snapshot, needs_config=True)
    transfer = sub.add_parser("transfer", help="ask the proxy, via a backend, to move a player")
    transfer.add_argument("player")
    transfer.add_argument("server")
    transfer.set_defaults(run=cmd_transfer, needs_config=True)
    bridge = sub.add_parser("bridge", help="the backend's command bridge")
    bridge.add_argument("state", choices=("status", "enable", "disable"))
    bridge.set_defaults(run=cmd_bridge, needs_config=True)
    return top


def main(argv: Sequence[str] | None = None) -> int:
    arguments = parser().parse_args(argv)
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
