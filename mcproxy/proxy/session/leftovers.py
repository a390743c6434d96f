"""What a client without a configuration state keeps across servers, and its removal.

Watched on the way down (boss bars, objectives, teams, tab list entries) and up (the
plugin channels the client registered) only for clients before 1.20.2, which the proxy
moves with a Join Game instead of a configuration phase; newer clients reset all of it
themselves when they reconfigure.  Such a client is also still answering the old server's
keep-alives when the new one takes over, and a server from 1.12.2 on disconnects a player
whose answer it did not ask for: only answers to the current server's own keep-alives
reach it (as in Velocity).
"""

from __future__ import annotations

from mcproxy.proxy.relay import DROP, FORWARD, Half, Phase as RelayPhase
from mcproxy.wire import leftovers
from mcproxy.wire.protocols import protocol_info
from mcproxy.wire.types import WireError, encode_string

#: The most of each kind remembered; a server that makes more is not followed further.
MAX_TRACKED = 4096
#: Keep-alives of the current server not answered yet that are remembered.
MAX_PENDING_KEEP_ALIVES = 16
#: The plugin channel names (before and since 1.13's namespaces) that register channels.
_REGISTER = ("REGISTER", "minecraft:register")
_UNREGISTER = ("UNREGISTER", "minecraft:unregister")


class ClientLeftovers:
    """The boss bars, objectives, teams, tab list entries and plugin channels of one client."""

    def __init__(self, ids) -> None:
        self._ids = ids
        info = protocol_info(ids.protocol)
        facts = info.facts if info is not None else {}
        self._namespaced = bool(facts.get("declare_commands"))
        self._signed_keys = "player_chat" in facts.get("chat_packets", {}).get("clientbound", ())
        self.boss_bars: set = set()
        self.objectives: set[str] = set()
        self.teams: set[str] = set()
        self.players: set = set()
        self.channels: set[str] = set()
        self._keep_alives: list[bytes] = []

    def install(self, up: Half, down: Half) -> None:
        """Watch the halves of a relay to a (new) backend: its keep-alives are its own."""
        ids = self._ids
        self._keep_alives = []
        down.on(RelayPhase.PLAY, ids.play_keep_alive, self._keep_alive)
        up.on(RelayPhase.PLAY, ids.play_keep_alive_response, self._keep_alive_response)
        down.on(RelayPhase.PLAY, ids.play_boss_bar, self._boss_bar)
        down.on(RelayPhase.PLAY, ids.play_scoreboard_objective, self._objective)
        down.on(RelayPhase.PLAY, ids.play_teams, self._team)
        down.on(RelayPhase.PLAY, ids.play_player_info, self._player_info)
        down.on(RelayPhase.PLAY, ids.play_player_remove, self._player_remove)

    # Keep-alives ------------------------------------------------------------------------

    def _keep_alive(self, packet_id: int, fields: bytes):
        pending = self._keep_alives
        if len(pending) >= MAX_PENDING_KEEP_ALIVES:
            del pending[0]
        pending.append(fields)
        return FORWARD

    def _keep_alive_response(self, packet_id: int, fields: bytes):
        """An answer to a keep-alive the current server sent goes on; another (the old
        server's, in flight over a switch) is dropped."""
        try:
            self._keep_alives.remove(fields)
        except ValueError:
            return DROP
        return FORWARD

    # Seen on the way down -------------------------------------------------------------

    @staticmethod
    def _track(tracked: set, item, add: bool) -> None:
        if add:
            if len(tracked) < MAX_TRACKED:
                tracked.add(item)
        else:
            tracked.discard(item)

    def _boss_bar(self, packet_id: int, fields: bytes):
        try:
            bar, action = leftovers.read_boss_bar(fields)
        except WireError:
            return FORWARD
        if action in (leftovers.BOSS_BAR_ADD, leftovers.BOSS_BAR_REMOVE):
            self._track(self.boss_bars, bar, action == leftovers.BOSS_BAR_ADD)
        return FORWARD

    def _named(self, tracked: set, fields: bytes):
        try:
            name, mode = leftovers.read_named(fields)
        except WireError:
            return FORWARD
        if mode in (leftovers.OBJECTIVE_CREATE, leftovers.OBJECTIVE_REMOVE):
            self._track(tracked, name, mode == leftovers.OBJECTIVE_CREATE)
        return FORWARD

    def _objective(self, packet_id: int, fields: bytes):
        return self._named(self.objectives, fields)

    def _team(self, packet_id: int, fields: bytes):
        return self._named(self.teams, fields)

    def _player_info(self, packet_id: int, fields: bytes):
        try:
            if self._ids.play_player_remove is None:
                added, removed = leftovers.read_player_info(fields, self._signed_keys)
            else:
                added, removed = leftovers.read_player_info_update(fields), []
        except WireError:
            return FORWARD
        for entry in added:
            self._track(self.players, entry, True)
        for entry in removed:
            self.players.discard(entry)
        return FORWARD

    def _player_remove(self, packet_id: int, fields: bytes):
        try:
            removed = leftovers.read_player_remove(fields)
        except WireError:
            return FORWARD
        for entry in removed:
            self.players.discard(entry)
        return FORWARD

    # Seen on the way up ---------------------------------------------------------------

    def note_plugin_message(self, channel: str, data: bytes) -> None:
        """The client registering (or unregistering) plugin channels with its server."""
        if channel in _REGISTER or channel in _UNREGISTER:
            for name in data.split(b"\0"):
                if name:
                    self._track(self.channels, name.decode("utf-8", "replace"), channel in _REGISTER)

    # At a switch ----------------------------------------------------------------------

    def removals(self) -> list[tuple[int, bytes]]:
        """The packets (id, fields) that take away what the old server showed, in the order
        Velocity and BungeeCord send them; what was tracked is forgotten."""
        ids = self._ids
        out = [(ids.play_boss_bar, leftovers.remove_boss_bar(bar)) for bar in sorted(self.boss_bars)]
        out += [(ids.play_scoreboard_objective, leftovers.remove_named(name)) for name in sorted(self.objectives)]
        out += [(ids.play_teams, leftovers.remove_named(name)) for name in sorted(self.teams)]
        if self.players:
            separate = ids.play_player_remove is not None
            packet_id = ids.play_player_remove if separate else ids.play_player_info
            out.append((packet_id, leftovers.remove_players(sorted(self.players), separate)))
        if ids.play_playerlist_header is not None:
            out.append((ids.play_playerlist_header, leftovers.empty_header_footer()))
        if ids.play_clear_titles is not None:
            out.append((ids.play_clear_titles, leftovers.clear_titles()))
        elif ids.play_title is not None:
            out.append((ids.play_title, leftovers.reset_title(ids.protocol)))
        self.boss_bars.clear()
        self.objectives.clear()
        self.teams.clear()
        self.players.clear()
        return out

    def register_channels(self) -> tuple[int, bytes] | None:
        """The plugin message that registers the client's channels with a new server."""
        if not self.channels:
            return None
        channel = _REGISTER[1] if self._namespaced else _REGISTER[0]
        data = b"\0".join(name.encode("utf-8") for name in sorted(self.channels))
        return self._ids.play_custom_payload_serverbound, encode_string(channel) + data
