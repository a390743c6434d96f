"""The directory's actions on a player: done here for this proxy's players, on theirs for the others'."""

from __future__ import annotations

from twisted.internet import defer

from mcproxy.cluster.entry import PlayerEntry


class RoutedActions:
    """Mixed into :class:`mcproxy.cluster.directory.ClusterDirectory`, which provides
    ``proxy_id``, ``locate``, ``_view``, ``_local`` (the in-process directory) and
    ``actions`` (:class:`mcproxy.cluster.actions.RemoteActions`)."""

    def _remote(self, player: str) -> PlayerEntry | None:
        entry = self.locate(player)
        if entry is None or entry.proxy == self.proxy_id:
            return None
        return entry

    def transfer(self, player: str, server: str, notify: bool = False) -> defer.Deferred:
        entry = self._remote(player)
        if entry is None:
            return self._local.transfer(player, server, notify)
        return self.actions.transfer(entry, server, notify)

    def execute(self, player: str, command_line: str) -> defer.Deferred:
        entry = self._remote(player)
        if entry is None:
            return self._local.execute(player, command_line)
        return self.actions.execute(entry, command_line)

    def kick(self, player: str, reason: str) -> defer.Deferred:
        entry = self._remote(player)
        if entry is None:
            return self._local.kick(player, reason)
        return self.actions.kick_player(entry, reason)

    def alert(self, text: str, raw: bool = False) -> defer.Deferred:
        """Here, and on every other proxy holding players; the count adds up their answers."""
        proxies = sorted({e.proxy for e in self._view().values()} - {self.proxy_id})
        d = defer.gatherResults([self._local.alert(text, raw)] + [self.actions.alert(p, text, raw) for p in proxies])
        d.addCallback(sum)
        return d

    def send_message(self, player: str, text: str, raw: bool = False) -> defer.Deferred:
        entry = self._remote(player)
        if entry is None:
            return self._local.send_message(player, text, raw)
        return self.actions.send_message(entry, text, raw)

    def forward(self, server: str, payload: bytes) -> defer.Deferred:
        """Through a player here on ``server`` if there is one, else through another proxy's."""
        def elsewhere(sent: bool):
            holders = sorted({e.proxy for e in self._view().values() if e.server == server} - {self.proxy_id})
            return sent or (self.actions.forward(holders[0], server, payload) if holders else False)
        return self._local.forward(server, payload).addCallback(elsewhere)

    def forward_to_player(self, player: str, payload: bytes) -> defer.Deferred:
        entry = self._remote(player)
        if entry is None:
            return self._local.forward_to_player(player, payload)
        return self.actions.forward_to_player(entry, payload)

    def transfer_out(self, player: str, host: str, port: int, server: str | None = None) -> defer.Deferred:
        entry = self._remote(player)
        if entry is None:
            return self._local.transfer_out(player, host, port, server)
        return self.actions.transfer_out(entry, host, port, server)
