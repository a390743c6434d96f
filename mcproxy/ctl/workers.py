"""``mcproxyctl`` and ``[proxy] workers = N``: one config, N processes, each with its own admin listener.

Commands that read state ask every worker and mark each row with the worker it came from
(``proxy/w2``); actions go to one worker (worker 1, or ``--worker K``).  How many workers run
is what worker 1's ``/status`` says in its ``worker`` block, so a file edited since the start
does not send the tool to ports nobody listens on; the file's ``workers`` is used only when
worker 1 does not answer.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from mcproxy.config import BackendConfig, ProxyConfig
from mcproxy.config.proxy import MAX_WORKERS
from mcproxy.proxy.worker import WorkerSlot

Config = ProxyConfig | BackendConfig

#: /health's overall states, best first: a merged answer is its workers' worst.
_RANK = {"READY": 0, "DEGRADED": 1, "NOT_READY": 2}


@dataclass(frozen=True)
class Target:
    """One process a config stands for: ``config`` as that process runs it (its admin port)."""

    name: str
    config: Config
    #: The worker's index, or None for a process that is not a worker.
    worker: int | None = None

    @property
    def label(self) -> str:
        """The worker's field in log lines (``w2``), "" for a process that is not a worker."""
        return f"w{self.worker}" if self.worker else ""


def running_workers(config: ProxyConfig, client_factory: Callable[[Any], Any]) -> int:
    """How many workers the proxy of ``config`` runs, by worker 1's own account."""
    try:
        status = client_factory(config).get("/status")
    except Exception:  # CtlError: down or silent; the file is the best guess left
        return config.proxy.workers
    block = status.get("worker") if isinstance(status, dict) else None
    if block is None:
        return 1  # a single proxy answers: the file changed since it started
    count = block.get("of") if isinstance(block, dict) else None
    return count if isinstance(count, int) and 1 <= count <= MAX_WORKERS else config.proxy.workers


def targets(config: Config, client_factory: Callable[[Any], Any]) -> list[Target]:
    """Every process behind ``config``: itself, or each worker of a proxy with workers."""
    if not isinstance(config, ProxyConfig) or config.proxy.workers <= 1:
        return [Target(config.process_name, config)]
    count = running_workers(config, client_factory)
    if count <= 1:
        return [Target(config.process_name, config)]
    return [Target(f"{config.process_name}/w{k}", WorkerSlot(k, count).shape(config), k)
            for k in range(1, count + 1)]


def merged_health(answers: list[tuple[Target, tuple[int, Any] | Exception]]) -> tuple[int, dict]:
    """One ``/health`` for every worker: the worst status, each check named with its worker.

    A worker that does not answer is a FAILED ``admin`` check of its own and makes the whole
    at least DEGRADED: the other workers serve, the kernel stops handing it connections.
    """
    status, checks = "READY", {}
    for target, answer in answers:
        if isinstance(answer, Exception):
            checks[f"{target.label} admin"] = {"state": "FAILED", "detail": str(answer)}
            status = _worst(status, "DEGRADED")
            continue
        _, body = answer
        if not isinstance(body, dict):
            checks[f"{target.label} admin"] = {"state": "FAILED", "detail": f"not a /health answer: {body}"}
            status = _worst(status, "DEGRADED")
            continue
        status = _worst(status, str(body.get("status")))
        for name, check in body.get("checks", {}).items():
            checks[f"{target.label} {name}"] = check
    return (503 if status == "NOT_READY" else 200), {"status": status, "checks": checks}


def _worst(one: str, other: str) -> str:
    return max(one, other, key=lambda s: _RANK.get(s, 2))


def merged_status(answers: list[tuple[Target, dict | Exception]]) -> dict:
    """One ``/status`` for every worker: worker 1's sections (the control plane, the cluster and
    the backends are the same from any worker), the ``players`` and ``rejects`` of all of them
    added up, and a ``workers`` row each (``online`` its own players, or ``error``)."""
    bodies = [(t, b) for t, b in answers if isinstance(b, dict)]
    merged: dict = dict(bodies[0][1]) if bodies else {}
    merged.pop("worker", None)
    rows = []
    for target, body in answers:
        if not isinstance(body, dict):
            rows.append({"worker": target.label, "error": str(body)})
            continue
        block = body.get("worker", {})
        rows.append({"worker": target.label, "pid": block.get("pid"), "restarts": block.get("restarts"),
                     "online": body.get("players", {}).get("online")})
    players = [b["players"] for _, b in bodies if isinstance(b.get("players"), dict)]
    if players:
        total = dict(players[0])
        for key in ("online", "connections"):
            total[key] = sum(p.get(key) or 0 for p in players)
        for key in ("by_server", "by_protocol"):
            total[key] = _add([p.get(key) or {} for p in players])
        total["by_worker"] = {t.label: b["players"].get("online") for t, b in bodies
                              if isinstance(b.get("players"), dict)}
        merged["players"] = total
    rejects = [b["rejects"] for _, b in bodies if isinstance(b.get("rejects"), dict)]
    if rejects:
        merged["rejects"] = {name: _add([r.get(name) or {} for r in rejects])
                             for name in sorted({n for r in rejects for n in r})}
    merged["workers"] = rows
    return merged


def _add(counts: list[dict]) -> dict:
    out: dict = {}
    for count in counts:
        for key, value in count.items():
            out[key] = out.get(key, 0) + value
    return out
