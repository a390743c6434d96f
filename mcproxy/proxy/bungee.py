"""The BungeeCord plugin-message channel, answered by the proxy for backend plugins.

Server selectors, player counts and cross-server messages written for BungeeCord send
their requests on the player's backend connection; the answers go back the same way
(as BungeeCord's ``DownstreamBridge`` and Velocity's ``BungeeCordMessageResponder`` do),
and nothing on the channel ever reaches the client.

With ``[cluster]`` a request naming a player held by another proxy is done there, through
the player directory; a player here is still served here, as without it.
"""

from __future__ import annotations

import uuid

from mcproxy.proxy.events import SwitchCause
from mcproxy.wire import bungee, chat
from mcproxy.wire.types import WireError

#: Names joined as BungeeCord's ``Util.csv`` joins them.
_CSV = ", "


def _port(connection) -> int:
    return getattr(connection.transport.getPeer(), "port", 0) or 0


class BungeeResponder:
    """Answers one backend request at a time for the player whose backend sent it."""

    def __init__(self, proxy) -> None:
        self._proxy = proxy

    def handle(self, play, channel: str, payload: bytes) -> None:
        """A request on ``channel`` from ``play``'s backend; malformed ones are counted and dropped."""
        proxy = self._proxy
        try:
            request = bungee.parse_request(payload)
            answer = getattr(self, "_" + request.subchannel)(play, request)
        except WireError as error:
            proxy.metrics.bungee_refusals.labels(error.reason).inc()
            proxy.log.info("dropped a BungeeCord channel message from {server}: {reason}", server=play.server,
                           reason=error.reason, correlation_id=play.connection.correlation_id)
            return
        proxy.metrics.bungee_requests.labels(request.subchannel).inc()
        if answer is not None:
            play.send_plugin_message_up(channel, answer)

    # Lookups ------------------------------------------------------------------------

    def _elsewhere(self, name: str):
        """The directory entry of ``name`` when another proxy of the network holds them."""
        proxy_id = self._proxy.network.proxy_id
        entry = self._proxy.network.locate(name) if proxy_id else None
        return entry if entry is not None and entry.proxy != proxy_id else None

    # Sub-channels, named as BungeeCord names them -----------------------------------

    def _Connect(self, play, request):
        self._move(play.connection, request.args[0])

    def _ConnectOther(self, play, request):
        name, server = request.args
        target = self._proxy.players.find(name)
        if target is not None:
            self._move(target, server)
        elif server in self._proxy.router.servers and self._elsewhere(name) is not None:
            self._proxy.network.transfer(name, server)

    def _move(self, connection, server: str) -> None:
        if server not in self._proxy.router.servers:
            return
        d = connection.switch_to(server, SwitchCause.PLUGIN)
        d.addCallbacks(lambda message: None, lambda failure: connection.send_system_message(str(failure.value)))

    def _IP(self, play, request):
        connection = play.connection
        return bungee.encode_answer("IP", connection.address, _port(connection))

    def _IPOther(self, play, request):
        target = self._proxy.players.find(request.args[0])
        if target is not None:
            return bungee.encode_answer("IPOther", target.profile.name, target.address, _port(target))
        entry = self._elsewhere(request.args[0])
        if entry is not None:
            # The directory keeps the address, not the port: 0, as for a unix socket.
            return bungee.encode_answer("IPOther", entry.name, entry.address, 0)

    def _network_names(self, target: str) -> list[str] | None:
        """The network's players (every proxy's with ``[cluster]``) on ``target``, or all."""
        if target != "ALL" and target not in self._proxy.router.servers:
            return None
        return [e.name for e in self._proxy.network.entries() if target == "ALL" or e.server == target]

    def _PlayerCount(self, play, request):
        target = request.args[0]
        if target == "ALL":
            return bungee.encode_answer("PlayerCount", "ALL", self._proxy.network.online_count())
        names = self._network_names(target)
        if names is not None:
            return bungee.encode_answer("PlayerCount", target, len(names))

    def _PlayerList(self, play, request):
        target = request.args[0]
        names = self._network_names(target)
        if names is not None:
            return bungee.encode_answer("PlayerList", target, _CSV.join(names))

    def _GetServers(self, play, request):
        return bungee.encode_answer("GetServers", _CSV.join(self._proxy.router.servers))

    def _GetServer(self, play, request):
        return bungee.encode_answer("GetServer", play.server)

    def _GetPlayerServer(self, play, request):
        name = request.args[0]
        entry = self._proxy.network.locate(name)
        return bungee.encode_answer("GetPlayerServer", name, (entry.server or "") if entry is not None else "")

    def _UUID(self, play, request):
        return bungee.encode_answer("UUID", play.connection.profile.id.hex)

    def _UUIDOther(self, play, request):
        target = self._proxy.players.find(request.args[0])
        if target is not None:
            return bungee.encode_answer("UUIDOther", target.profile.name, target.profile.id.hex)
        entry = self._elsewhere(request.args[0])
        if entry is not None:
            return bungee.encode_answer("UUIDOther", entry.name, uuid.UUID(entry.uuid).hex)

    def _ServerIP(self, play, request):
        name = request.args[0]
        address = self._proxy.router.servers.get(name)
        if address is not None:
            return (bungee.encode_answer("ServerIP", name, address.host)
                    + bungee.encode_short(address.port))

    def _tell(self, target: str, text: str, raw: bool) -> None:
        """Everyone in the network (``ALL``), or one player wherever they are."""
        if target == "ALL":
            self._proxy.network.alert(text, raw)
        else:
            self._proxy.network.send_message(target, text, raw)

    def _Message(self, play, request):
        target, text = request.args
        self._tell(target, text, False)

    def _MessageRaw(self, play, request):
        target, text = request.args
        # Checked here, so a malformed component is refused (and counted) before it travels.
        chat.json_to_component(text)
        self._tell(target, text, True)

    def _KickPlayer(self, play, request):
        self._kick(request.args[0], request.args[1])

    def _KickPlayerRaw(self, play, request):
        self._kick(request.args[0], chat.plain_text(chat.json_to_component(request.args[1])))

    def _kick(self, name: str, reason: str) -> None:
        target = self._proxy.players.find(name)
        if target is not None:
            self._proxy.log.info("{player} kicked by a plugin on the BungeeCord channel", player=target.profile.name,
                                 correlation_id=target.correlation_id)
            target.disconnect(reason)
        elif self._elsewhere(name) is not None:
            self._proxy.network.kick(name, reason)

    def _Forward(self, play, request):
        target, channel = request.args
        payload = bungee.encode_utf(channel) + bungee.encode_data(request.data)
        if target in ("ALL", "ONLINE"):
            servers = [name for name in self._proxy.router.servers if name != play.server]
        elif target in self._proxy.router.servers:
            servers = [target]
        else:
            return
        # Once per server, through a player on it here or, with [cluster], on another proxy.
        for server in servers:
            self._proxy.network.forward(server, payload)

    def _ForwardToPlayer(self, play, request):
        name, channel = request.args
        self._proxy.network.forward_to_player(name, bungee.encode_utf(channel) + bungee.encode_data(request.data))
