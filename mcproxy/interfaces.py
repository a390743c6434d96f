"""Interfaces between mcproxy's parts; each section belongs to one part."""

from __future__ import annotations

from twisted.plugin import IPlugin
from zope.interface import Attribute, Interface

# ---------------------------------------------------------------------------
# Control plane (mcproxy.control): what the proxy-side control link needs from
# the rest of the proxy. Implemented by mcproxy.control.registry.CommandRegistry
# and, for tests, mcproxy.testing.InMemoryPlayerDirectory; the proxy session
# code provides the real IPlayerDirectory.
# ---------------------------------------------------------------------------


class ICommandRegistry(Interface):
    """The proxy's commands, as backends see them through registry sync."""

    serial = Attribute("int: grows on every change, never goes back")
    digest = Attribute("str: SHA-256 hex of encoded()")

    def snapshot():
        """The commands, as a list of CommandSpec sorted by name."""

    def encoded():
        """The canonical JSON of snapshot(), as bytes."""

    def lookup(name):
        """The CommandSpec called (or aliased) C{name}, or None."""

    def subscribe(callback):
        """Call C{callback()} after each change; return an unsubscribe callable."""


class IPlayerDirectory(Interface):
    """Who is connected to the network and where, and the actions that reach them.

    The in-process one (:class:`mcproxy.proxy.directory.ProxyDirectory`) knows this
    proxy's players; the Redis one (:class:`mcproxy.cluster.directory.ClusterDirectory`)
    every proxy's, and runs an action for a player on another proxy there.  Players are
    named by name or UUID string; entries are :class:`mcproxy.cluster.entry.PlayerEntry`.
    """

    def has_player(player):
        """Whether C{player} (name or UUID string) is connected to the network."""

    def has_server(server):
        """Whether C{server} is a backend the proxy may route to."""

    def transfer(player, server, notify=False):
        """Move C{player} to C{server}: Deferred[TransferResult]; C{notify} tells the player."""

    def execute(player, command_line):
        """Run a proxy command for C{player}: Deferred[CommandResult]."""

    def kick(player, reason):
        """Disconnect C{player} with C{reason}: Deferred[bool], False when nobody was found."""

    proxy_id = Attribute("str: this proxy's id in the network ('' without [cluster])")

    def alert(text, raw=False):
        """Show C{text} to every player in the network: Deferred[int], how many got it.

        With C{raw}, C{text} is a JSON chat component.
        """

    def send_message(player, text, raw=False):
        """Show C{text} (a JSON component with C{raw}) to C{player}: Deferred[bool], whether shown."""

    def forward(server, payload):
        """A BungeeCord channel C{payload} to C{server}'s backend through any player on it, on
        any proxy: Deferred[bool], False when no player is on it anywhere."""

    def forward_to_player(player, payload):
        """A BungeeCord channel C{payload} to C{player}'s backend: Deferred[bool]."""

    def transfer_out(player, host, port, server=None):
        """The Transfer packet to C{player}, sent by their proxy: Deferred[TransferResult]."""

    def online_count():
        """Players in play in the whole network (the status ping's count)."""

    def entries():
        """Every player in play, as PlayerEntry, sorted by name."""

    def locate(player):
        """The PlayerEntry of C{player} (name or UUID string), or None."""

    def claim(connection):
        """Deferred[bool]: whether C{connection}'s UUID may log in, after the duplicate check.

        With C{kick_existing_players} the older session is ended instead and this is True.
        """

    def joined(connection):
        """C{connection} reached play (its entry now has a server)."""

    def moved(connection):
        """C{connection} switched servers."""

    def left(connection):
        """C{connection} closed; forget its claim, wherever it got to."""


# Backend side: the backend-mod and the server that hosts it.


class IBackendLink(Interface):
    """The backend's end of the control plane, as the backend-mod uses it.

    The control package provides the real one; :class:`mcproxy.backend.module.NoLink` stands
    in when messaging is disabled.
    """

    synchronized = Attribute("True once a signed command registry snapshot was accepted.")
    commands = Attribute("The proxy's commands in the accepted snapshot: objects with "
                         "``name`` and ``aliases`` (or plain names).")

    def execute_command(player, line):
        """Ask the proxy to run ``line`` for ``player`` (UUID string).

        A Deferred of a result with ``ok`` and ``output``, failing with a refusal whose
        ``reason`` names why (e.g. ``UNSYNCHRONIZED_REGISTRY``).
        """

    def request_transfer(player, server):
        """Ask the proxy to move ``player`` (UUID string) to ``server``.

        A Deferred of a result with ``done`` and ``reason``.
        """

    def add_observer(callback):
        """Call ``callback(link)`` on every link or sync state change; returns a remover."""


class IBackendModule(Interface):
    """The backend-mod as a Minecraft server hosts it.

    The host calls :meth:`forwarding_request` when a player sends Login Start, sends its
    data (if any) as a Login Plugin Request on ``velocity:player_info``, and passes the
    answer to :meth:`verify_login`.  When :attr:`reads_host_field` is true (legacy or
    BungeeGuard forwarding) it passes the handshake's host field to
    :meth:`verify_host_field` instead.  Chat commands the host does not own go through
    :meth:`is_proxy_command` and :meth:`execute_command`.
    """

    enforce_proxy = Attribute("Whether logins must carry valid proxy forwarding.")
    forwarding = Attribute("The forwarding read when enforced: modern, legacy or bungeeguard.")
    reads_host_field = Attribute("Whether the identity comes in the handshake host field.")

    def verify_host_field(host_field, name):
        """Check legacy or BungeeGuard forwarding in a handshake host field; returns a
        ``ForwardedPlayer`` or a counted ``Refused``."""

    def refuse_modern_for_old_client():
        """Count a pre-1.13 login to a modern-forwarding backend; returns the reason."""

    def forwarding_request():
        """The plugin request data to send, or ``None`` when forwarding is not enforced."""

    def verify_direct_login(name):
        """The identity for a login without forwarding (when ``forwarding_request`` is
        ``None``): the offline UUID for ``name``, or a ``Refused`` when authenticated mode
        is required; counted like :meth:`verify_login`."""

    def verify_login(data):
        """Check a forwarding answer (``None`` = "not understood").

        Returns a ``ForwardedPlayer`` or a ``Refused`` with a reason name, and counts it.
        """

    def record_login(result):
        """Count a login's result (``ok`` or a refusal reason the host decided on)."""

    def refusal_message(reason):
        """The text to show a player refused for ``reason``."""

    def is_proxy_command(name):
        """Whether ``name`` is a command of the proxy's registry (synchronized or not)."""

    def proxy_commands():
        """Names to declare to clients for tab completion."""

    def on_commands_changed(callback):
        """Call ``callback()`` whenever the proxy commands or their availability change
        (so a host can re-declare commands to its players); returns a remover."""

    def execute_command(player, line):
        """Run a proxy command for ``player`` (a UUID).

        A Deferred firing with a ``CommandOutcome``; refused with
        ``UNSYNCHRONIZED_REGISTRY`` while the registry is not synchronized.
        """

    def request_transfer(player, server):
        """Ask the proxy to move ``player`` to ``server``; a Deferred of a ``CommandOutcome``."""


# Proxy front door (mcproxy.proxy): where the server-list answer comes from.


class IStatusSource(Interface):
    """What a player connection asks for the server list's answer.

    :class:`mcproxy.proxy.status.StatusResponder` answers from the config;
    :class:`mcproxy.proxy.passthrough.StatusPassthrough` shows a backend's answer.
    """

    max_players = Attribute("int: the player limit shown in the list")

    def response(protocol, host):
        """The status for a client of C{protocol} that typed C{host}, as a JSON-able dict."""

    def response_json(protocol, host):
        """The status as the JSON text to send: a str, or a Deferred firing with one when
        it must be fetched first."""

    def legacy_fields():
        """(plain-text MOTD, online, max players) for the pre-1.7 ping."""


class IHistory(Interface):
    """A process's rolling history of its own ``/status`` and ``/metrics`` samples.

    :class:`mcproxy.ops.history.History` keeps it on disk; ``/history`` serves it.
    """

    name = Attribute("str: the process's name on the control plane (its files are named so)")
    interval = Attribute("float: seconds between two samples")
    retention = Attribute("float: seconds of samples kept")

    def samples(since, until):
        """The kept samples with ``since <= t <= until`` (epoch seconds), oldest first; each a
        dict with ``t``, ``time``, ``status`` and ``metrics``."""


class ISessionHandler(Interface):
    """One protocol state of a player's connection (:mod:`mcproxy.proxy.session`).

    The connection shell holds one at a time and swaps them with ``set_handler()``.
    """

    connection = Attribute("The PlayerConnection shell this handler drives.")
    phase = Attribute("mcproxy.proxy.session.base.Phase: the state, as logs and metrics name it")
    active = Attribute("bool: whether the shell still holds this handler (late Deferreds check it)")
    reads_packets = Attribute("bool: the shell decodes packets for packet(); False for raw bytes")
    in_login = Attribute("bool: a refusal can still be told to the client as a Login Disconnect")
    timeout_reason = Attribute("str: the refusal reason when the connection's deadline passes")

    def activated():
        """The handler now owns the connection."""

    def deactivated():
        """Another handler took over, or the connection closed: let go of what it holds."""

    def data_received(data):
        """Bytes from the client, decrypted by nobody yet."""

    def packet(packet_id, reader):
        """One whole packet (when ``reads_packets``); raise Refusal for one the state does not allow."""


# ---------------------------------------------------------------------------
# Plugins (mcproxy.proxy.plugins): what a third-party proxy plugin provides and
# the API the proxy hands it.  Plugins are found with twisted.plugin.getPlugins
# in the mcproxy.plugins package; see docs/plugins.md.
# ---------------------------------------------------------------------------


class IProxyPlugin(IPlugin):
    """A proxy plugin: a module-level object in an ``mcproxy/plugins/`` folder."""

    name = Attribute("str: the plugin's name, as [plugins] allow lists it")

    def load(api):
        """Set the plugin up: register commands, subscribe to events (an IProxyAPI).

        Whatever it registers through ``api`` is removed again when the plugin is
        unloaded (a reload), so a plugin keeps no cleanup of its own.
        """


class IProxyAPI(Interface):
    """What the proxy offers one plugin; everything it registers is owned by it."""

    log = Attribute("A twisted.logger.Logger in the plugin's own namespace.")

    def register_command(name, description, permission, handler, usage="", default_allowed=True,
                         suggest=None):
        """Add the proxy command ``/name``.

        ``handler(player, args)`` runs when a player with ``permission`` types it;
        ``suggest(player, args)`` lists tab completions for the last word.  The
        command joins the registry backends mirror.
        """

    def unregister_command(name):
        """Remove a command this plugin registered."""

    def subscribe(event, handler):
        """Call ``handler(event)`` on each ``event``, a class of :mod:`mcproxy.proxy.events`.

        The 0.4 names (``"login"``, ``"server_chosen"``, ``"server_connected"``,
        ``"disconnect"``) still work with a DeprecationWarning.  Returns a callable
        that unsubscribes.
        """

    def players():
        """The players in play, as a list of IPlayer: this proxy's, then (with [cluster]) the
        other proxies' as RemotePlayer."""

    def find_player(name_or_uuid):
        """The IPlayer with that name or UUID string, on any proxy of the network, or None."""

    def servers():
        """The names of the servers the proxy routes to."""

    def send_message(player, text):
        """Show ``text`` in the chat of ``player`` (an IPlayer or a name)."""

    def move_player(player, server):
        """Move ``player`` to ``server`` in place: a Deferred firing with a message."""

    def transfer_player(player, host, port=25565, server=None):
        """Send ``player`` to another proxy or server with the Transfer packet.

        With ``server``, a signed routing cookie asks a proxy sharing our secret to put
        the player on that server.  Raises ValueError when the player cannot be transferred.
        """


class IPlayer(Interface):
    """A player as plugins see them (:class:`mcproxy.proxy.player.Player`), never the protocol object."""

    name = Attribute("str: the player's name")
    uuid = Attribute("uuid.UUID: the player's id")
    profile = Attribute("The GameProfile: name, id, properties")
    server = Attribute("str or None: the server the player is on")
    address = Attribute("str: the address the player connected from")
    protocol = Attribute("int: the player's protocol version")
    proxy = Attribute("str: the id of the proxy holding the player with [cluster], else ''")

    def send_message(text):
        """Show ``text`` in the player's chat; held while they are between servers.

        A player on another proxy (:class:`mcproxy.proxy.remote_player.RemotePlayer`) returns
        a Deferred here and in the other actions, firing once that proxy answered.
        """

    def disconnect(message):
        """Disconnect the player with ``message``."""

    def move_to(server):
        """Move the player to ``server`` in place: a Deferred firing with a message for them."""

    def transfer(host, port=25565, server=None):
        """Send the player elsewhere with the Transfer packet; ValueError when not possible now."""


# ---------------------------------------------------------------------------
# Front door (mcproxy.proxy.admission): what the pre-login gate asks of the
# connections holding its slots. Implemented by mcproxy.proxy.client.PlayerConnection.
# ---------------------------------------------------------------------------


class IPreloginHolder(Interface):
    """A connection holding a pre-login slot, which the gate may take back."""

    def evict() -> None:
        """Close this connection: its slot went to a newcomer (counted ``HANDSHAKE_EVICTED``)."""
