"""How a player in play moves to another server: the steps of a :class:`ServerSwitch`."""

from __future__ import annotations

from twisted.python.failure import Failure

from mcproxy.proxy.events import Denied, PreConnectEvent, Redirected, ServerConnectedEvent, SwitchCause
from mcproxy.proxy.relay import PAUSE, Half, Phase as RelayPhase, joined, relay_chunk
from mcproxy.proxy.routing import NoServerAvailable
from mcproxy.proxy.session.hold import PlayerHold
from mcproxy.proxy.session.switch import ServerSwitch, SwitchState
from mcproxy.wire.respawn import read_join_game, respawn_pair
from mcproxy.wire.text import read_text
from mcproxy.wire.types import WireError

#: What a new backend of an old client may send before its Join Game (plugin messages);
#: more is not a server we can move the player to.
MAX_BEFORE_JOIN = 1024 * 1024
TARGET_LOST = "The server you were moving to went away."


class Kicked:
    """A new backend's kick before its Join Game: why the switch failed."""

    __slots__ = ("reason",)

    def __init__(self, reason: str) -> None:
        self.reason = reason


def release(backend, unregister: bool = False) -> None:
    """Let go of ``backend`` and close it; bytes it still sends go nowhere.

    ``unregister`` also takes the player's transport off it as a producer, when the
    player stays (a switch) and the client transport gets a new one.
    """
    backend.on_lost = None
    backend.sink = None
    if backend.transport is not None:
        if unregister:
            backend.transport.unregisterProducer()
        backend.transport.loseConnection()


def _why(failure: Failure) -> str:
    if failure.check(NoServerAvailable):
        attempt = failure.value.attempts[0][1] if failure.value.attempts else None
        why = attempt.message or attempt.reason if attempt else "unreachable"
        return f"Could not connect you to that server: {why}"
    return "Could not connect you to that server."


class Transition:
    """Runs the play handler's switches: connect, hand the client over, swap.

    A 1.20.2+ client is taken through configuration (Start Configuration, its
    acknowledgement); an older one stays relayed to the old backend until the new one
    sends its Join Game, which the play watchers follow with the Respawn pair and the
    removal of what the old server showed.  The old backend is dropped only once the new
    one has accepted the login; a switch that fails before that leaves the player where
    they were, unless the old backend is gone too (``switch.leaving``), in which case the
    player is told why and disconnected.
    """

    def __init__(self, play) -> None:
        self._play = play
        #: Keeps the player while a switch with nothing to stay on is tried again.
        self.hold = PlayerHold(play, self._retry)
        #: The state the player was in when a server went away under them, until that settles.
        self._lost_in: str | None = None

    @property
    def reconfigures(self) -> bool:
        """Whether this client switches through a configuration phase (1.20.2+)."""
        return self._play.connection.ids.play_start_configuration is not None

    def server_lost(self, state: str) -> None:
        """A server went away with the player in ``state`` (``play``, ``configuration`` or
        ``switch``); how it ends is counted once, by :meth:`settled`."""
        if self._lost_in is None:
            self._lost_in = state

    def settled(self, outcome: str) -> None:
        """``moved`` (on another server, or the same one back), ``stayed`` (on the server
        it never left), ``disconnected`` or ``left`` (the player quit meanwhile)."""
        state, self._lost_in = self._lost_in, None
        if state is not None:
            self._play.connection.proxy.metrics.backend_losses.labels(state, outcome).inc()

    def begin(self, targets, cause, notice: str = "", reconfiguring: bool = False,
              configuring: bool = False) -> ServerSwitch:
        play = self._play
        connection = play.connection
        proxy = connection.proxy
        switch = ServerSwitch(targets, cause, play.server, notice, reconfiguring, configuring)
        play.switch = switch
        if switch.leaving:
            proxy.log.info("moving {player} off {server} to one of {names}", player=connection.profile.name,
                           server=play.server, names=list(targets), correlation_id=connection.correlation_id)
        result = proxy.events.fire(PreConnectEvent(connection.player, targets[0], cause, play.server)).result
        if switch.state is not SwitchState.CONNECTING:
            return switch
        if isinstance(result, Denied):
            self.failed(switch, result.message)
            return switch
        if isinstance(result, Redirected):
            if result.server not in proxy.router.servers or result.server == play.server:
                self.failed(switch, f"There is no server called {result.server}.")
                return switch
            switch.targets = (result.server,)
        d = proxy.router.connect(connection.backend_login(), switch.targets, connection.correlation_id)
        d.addCallbacks(lambda answer: self.ready(switch, *answer), lambda failure: self._router_failed(switch, failure))
        return switch

    def _router_failed(self, switch: ServerSwitch, failure: Failure) -> None:
        connection = self._play.connection
        if not failure.check(NoServerAvailable):
            connection.proxy.log.failure("switch failed", failure, correlation_id=connection.correlation_id)
        elif switch.leaving and self._play.switch is switch and switch.in_flight and self.hold.refused(switch):
            # Nothing to stay on (a fallback, or a switch whose old server went away meanwhile)
            # and every server refused: the player is held while it is tried again.
            return
        self.failed(switch, _why(failure))

    def _retry(self, switch: ServerSwitch) -> None:
        connection = self._play.connection
        d = connection.proxy.router.connect(connection.backend_login(), switch.targets, connection.correlation_id)
        d.addCallbacks(lambda answer: self.ready(switch, *answer), lambda failure: self._router_failed(switch, failure))

    def failed(self, switch: ServerSwitch, message: str) -> None:
        """The switch did not happen: the player stays, or leaves if there is nothing to stay on."""
        play = self._play
        if play.switch is switch:
            play.switch = None
        if not switch.in_flight:
            return
        self.hold.end("gave_up")
        switch.fail(message)
        if not switch.leaving:
            self.settled("stayed")
        elif play.active:
            self.settled("disconnected")
            if switch.cause is SwitchCause.LOST:
                play.connection.leave_reason = "lost"
            play.disconnect_player(switch.notice or message)

    def ready(self, switch: ServerSwitch, name: str, backend) -> None:
        """The target accepted the login: hand the client over to it."""
        play = self._play
        if play.switch is not switch or not play.active:
            backend.transport.loseConnection()
            return
        if not switch.reconfiguring and play.down.phase is not RelayPhase.PLAY:
            backend.transport.loseConnection()
            self.failed(switch, "The switch was interrupted.")
            return
        self.hold.end("reconnected")
        switch.connected(name, backend, self.reconfigures)
        backend.on_lost = lambda reason: self._target_lost(switch, backend)
        if not self.reconfigures:
            self._await_join(switch, backend)
        elif switch.reconfiguring:
            # The client was sent Start Configuration by the switch this one replaces, or is
            # still configuring with the server it lost: the new server carries on from there.
            if switch.acknowledged or (switch.configuring and play.up.phase is RelayPhase.CONFIGURATION):
                self.complete()
        else:
            play.down.enter(RelayPhase.CONFIGURATION)
            play.send_down(play.connection.ids.play_start_configuration, b"")

    # Clients before 1.20.2: the new backend's Join Game ------------------------------

    def _await_join(self, switch: ServerSwitch, backend) -> None:
        """Read the new backend until its Join Game; the old one is relayed meanwhile."""
        connection = self._play.connection
        half = Half("clientbound", backend.threshold, connection.codec.threshold, RelayPhase.PLAY)
        join: list = []

        def join_game(packet_id: int, fields: bytes):
            join.append(fields)
            return PAUSE

        def kick(packet_id: int, fields: bytes):
            join.append(Kicked(read_text(connection.ids.protocol, fields)))
            return PAUSE

        half.on(RelayPhase.PLAY, connection.ids.play_login, join_game)
        half.on(RelayPhase.PLAY, connection.ids.play_kick, kick)
        early: list[bytes] = []
        backend.sink = lambda data: self._before_join(switch, backend, half, join, early, data)
        leftover = backend.acknowledge_login()
        if leftover:
            self._before_join(switch, backend, half, join, early, leftover)

    def _before_join(self, switch: ServerSwitch, backend, half: Half, join: list, early: list,
                     data: bytes) -> None:
        """Frames of the new backend before its Join Game wait (framed for the client);
        the Join Game completes the switch."""
        play = self._play
        if play.switch is not switch or switch.backend is not backend or not play.active:
            return
        try:
            out = joined(relay_chunk(half, data))
        except WireError as error:
            play.connection.proxy.log.info("malformed frame from {server} before its Join Game: {reason}",
                                           server=switch.target, reason=error.reason,
                                           correlation_id=play.connection.correlation_id)
            self._target_lost(switch, backend)
            return
        if out:
            early.append(out)
        if join and isinstance(join[0], Kicked):
            self._target_lost(switch, backend, f"Could not connect you to that server: {join[0].reason}")
        elif join:
            protocol = play.connection.ids.protocol
            try:
                respawns = respawn_pair(protocol, read_join_game(protocol, join[0]))
            except WireError as error:
                play.connection.proxy.log.info("malformed Join Game from {server}: {reason}", server=switch.target,
                                               reason=error.reason, correlation_id=play.connection.correlation_id)
                self._target_lost(switch, backend)
                return
            self.complete(join_game=(join[0], respawns), early=b"".join(early), rest=bytes(half.buffer))
        elif sum(map(len, early)) + len(half.buffer) > MAX_BEFORE_JOIN:
            self._target_lost(switch, backend)

    # The target going away -----------------------------------------------------------

    def _target_lost(self, switch: ServerSwitch, backend, message: str = TARGET_LOST) -> None:
        """The new backend went away (or kicked the player) before the client got there.

        A player whose old server is still there stays on it (the switch fails, and whoever
        asked for it is told why); one already on its way (in configuration for the lost
        target) or whose old server is gone falls back to the next server, with the same
        retries as after a lost backend, and is told why once there.
        """
        play = self._play
        if play.switch is not switch or switch.backend is not backend or not play.active:
            return
        release(backend)
        play.switch = None
        switch.fail(message)
        stays = not switch.old_gone and not self.reconfigures
        connection = play.connection
        connection.proxy.log.info("{server} went away while {player} was moving to it", server=switch.target,
                                  player=connection.profile.name, correlation_id=connection.correlation_id)
        self.server_lost("switch")
        if stays:
            self.settled("stayed")
            return
        names = tuple(name for name in play.fallback_servers() if name != switch.target)
        if self.reconfigures and not switch.old_gone and play.backend is not None:
            # The client left the old server's play state for the lost target: it comes back
            # to the old server by a fresh login, first choice of the fallback.
            release(play.backend)
            play.backend = None
            names = (play.server,) + names
        if not names:
            if play.active:
                self.settled("disconnected")
                play.disconnect_player(switch.notice or message)
            return
        fallback = self.begin(names, SwitchCause.LOST, switch.notice or message, reconfiguring=self.reconfigures)
        fallback.acknowledged = switch.acknowledged

    # The swap ------------------------------------------------------------------------

    def complete(self, join_game: tuple | None = None, early: bytes = b"", rest: bytes = b"") -> None:
        """The new backend becomes the relay's other end: after the client acknowledged
        the configuration (1.20.2+), or at the new backend's Join Game (``join_game``,
        its fields and the Respawn pair's; ``early`` what the backend sent before it, framed for the client;
        ``rest`` what came after it, as the backend framed it)."""
        play = self._play
        connection = play.connection
        proxy = connection.proxy
        switch, play.switch = play.switch, None
        old = play.backend
        pending_up = bytes(play.up.buffer)
        if old is not None:
            release(old, unregister=True)
        previous = play.server
        backend = switch.backend
        play.attach(backend, switch.target, pending_up)
        play.kicked = False
        leftover_backend = rest if join_game is not None else backend.acknowledge_login()
        if switch.notice:
            play.held.append(f"{switch.notice} You are now on {switch.target}.")
        if join_game is not None:
            play.rejoin(*join_game, early)
        self.settled("moved")
        proxy.player_moved(connection, previous, switch.target)
        proxy.events.fire(ServerConnectedEvent(connection.player, switch.target, previous))
        switch.succeed()
        if not play.active:
            return
        if play.up.buffer:
            play.relay_up(b"")
        if leftover_backend:
            play.from_backend(backend, leftover_backend)
