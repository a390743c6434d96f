"""Actions on a player held by another proxy: asked of that proxy, and served for the others."""

from __future__ import annotations

import base64
import binascii

from typing import Callable

from twisted.internet import defer
from twisted.logger import Logger

from mcproxy.cluster.entry import PlayerEntry
from mcproxy.cluster.rpc import ProxyRPC
from mcproxy.control.results import CommandResult, TransferResult


class RemoteActions:
    """Transfers and commands over pub/sub; this proxy's side runs them on the in-process directory.

    A failed or unanswered request becomes a refusal with the reason, never an error.
    """

    def __init__(self, clock, publish: Callable, proxy_id: str, local, kick: Callable[[dict], dict], metrics,
                 log: Logger, signer, timeout: float = 5.0) -> None:
        self._local = local
        self.rpc = ProxyRPC(clock, publish, proxy_id, {
            "transfer": self._serve_transfer, "execute": self._serve_execute, "kick": kick,
            "kick_player": self._serve_kick_player, "alert": self._serve_alert,
            "message": self._serve_message, "forward": self._serve_forward,
            "forward_to_player": self._serve_forward_to_player, "transfer_out": self._serve_transfer_out,
        }, metrics, log, signer, timeout=timeout)

    def transfer(self, entry: PlayerEntry, server: str, notify: bool) -> defer.Deferred:
        return _transfer_result(self.rpc.request(entry.proxy, "transfer",
                                                 {"player": entry.uuid, "server": server, "notify": notify}))

    def execute(self, entry: PlayerEntry, command_line: str) -> defer.Deferred:
        d = self.rpc.request(entry.proxy, "execute", {"player": entry.uuid, "line": command_line})
        d.addCallback(lambda r: CommandResult(bool(r.get("ok")), str(r.get("text", ""))))
        d.addErrback(lambda f: CommandResult(False, str(f.value)))
        return d

    def kick(self, entry: PlayerEntry) -> defer.Deferred:
        """End ``entry``'s session on its proxy (a newer login took over, kick_existing_players)."""
        return self.rpc.request(entry.proxy, "kick", {"player": entry.uuid, "session": entry.session})

    def kick_player(self, entry: PlayerEntry, reason: str) -> defer.Deferred:
        """/kick for a player on another proxy: fires True once that proxy disconnected them."""
        return _done(self.rpc.request(entry.proxy, "kick_player", {"player": entry.uuid, "reason": reason}))

    def alert(self, proxy: str, text: str, raw: bool = False) -> defer.Deferred:
        """/alert on another proxy: fires with how many of its players got it (0 if it did not answer)."""
        d = self.rpc.request(proxy, "alert", {"text": text, "raw": raw})
        d.addCallbacks(lambda r: r.get("count") if isinstance(r.get("count"), int) else 0, lambda f: 0)
        return d

    def send_message(self, entry: PlayerEntry, text: str, raw: bool) -> defer.Deferred:
        """Chat to a player on another proxy: fires True once that proxy showed it."""
        return _done(self.rpc.request(entry.proxy, "message", {"player": entry.uuid, "text": text, "raw": raw}))

    def forward(self, proxy: str, server: str, payload: bytes) -> defer.Deferred:
        """A BungeeCord ``Forward`` to ``server`` through a player ``proxy`` holds there."""
        return _done(self.rpc.request(proxy, "forward", {"server": server, "data": _b64(payload)}))

    def forward_to_player(self, entry: PlayerEntry, payload: bytes) -> defer.Deferred:
        return _done(self.rpc.request(entry.proxy, "forward_to_player",
                                      {"player": entry.uuid, "data": _b64(payload)}))

    def transfer_out(self, entry: PlayerEntry, host: str, port: int, server: str | None) -> defer.Deferred:
        """The Transfer packet, sent by the player's own proxy."""
        args = {"player": entry.uuid, "host": host, "port": port, "server": server}
        return _transfer_result(self.rpc.request(entry.proxy, "transfer_out", args))

    def _serve_kick_player(self, args: dict) -> defer.Deferred:
        return _ok(self._local.kick(str(args.get("player")), str(args.get("reason"))))

    def _serve_alert(self, args: dict) -> defer.Deferred:
        d = self._local.alert(str(args.get("text")), bool(args.get("raw")))
        d.addCallback(lambda count: {"ok": True, "count": count})
        return d

    def _serve_transfer(self, args: dict) -> defer.Deferred:
        return _transfer_answer(self._local.transfer(str(args.get("player")), str(args.get("server")),
                                                     bool(args.get("notify"))))

    def _serve_execute(self, args: dict) -> defer.Deferred:
        d = self._local.execute(str(args.get("player")), str(args.get("line")))
        d.addCallback(lambda r: {"ok": r.ok, "text": r.output})
        return d

    def _serve_message(self, args: dict) -> defer.Deferred:
        return _ok(self._local.send_message(str(args.get("player")), str(args.get("text")), bool(args.get("raw"))))

    def _serve_forward(self, args: dict) -> defer.Deferred:
        payload = _unb64(args.get("data"))
        if payload is None:
            return defer.succeed({"ok": False})
        return _ok(self._local.forward(str(args.get("server")), payload))

    def _serve_forward_to_player(self, args: dict) -> defer.Deferred:
        payload = _unb64(args.get("data"))
        if payload is None:
            return defer.succeed({"ok": False})
        return _ok(self._local.forward_to_player(str(args.get("player")), payload))

    def _serve_transfer_out(self, args: dict) -> defer.Deferred:
        port, server = args.get("port"), args.get("server")
        if not isinstance(port, int) or not (server is None or isinstance(server, str)):
            return defer.succeed({"ok": False, "text": "malformed transfer request"})
        return _transfer_answer(self._local.transfer_out(str(args.get("player")), str(args.get("host")),
                                                         port, server))


def _done(d: defer.Deferred) -> defer.Deferred:
    """An action's answer as whether the other proxy did it (False when it did not answer)."""
    d.addCallbacks(lambda r: bool(r.get("ok")), lambda f: False)
    return d


def _transfer_result(d: defer.Deferred) -> defer.Deferred:
    d.addCallback(lambda r: TransferResult(bool(r.get("ok")), str(r.get("text", ""))))
    d.addErrback(lambda f: TransferResult(False, str(f.value)))
    return d


def _ok(d: defer.Deferred) -> defer.Deferred:
    """The answer to an action done (or not) here."""
    d.addCallback(lambda done: {"ok": done})
    return d


def _transfer_answer(d: defer.Deferred) -> defer.Deferred:
    d.addCallback(lambda r: {"ok": r.done, "text": r.reason})
    return d


def _b64(payload: bytes) -> str:
    return base64.b64encode(payload).decode("ascii")


def _unb64(text) -> bytes | None:
    """A payload from another proxy, or None when it is not base64 (nothing is forwarded)."""
    if not isinstance(text, str):
        return None
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return None
