"""How a player in play moves to another server: the steps of a :class:`ServerSwitch`."""

from __future__ import annotations

from twisted.python.failure import Failure

from mcproxy.proxy.events import Denied, PreConnectEvent, Redirected, ServerConnectedEvent
from mcproxy.proxy.relay import Phase as RelayPhase
from mcproxy.proxy.routing import NoServerAvailable
from mcproxy.proxy.session.hold import PlayerHold
from mcproxy.proxy.session.switch import ServerSwitch, SwitchState


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
    """Runs the play handler's switches: connect, Start Configuration, acknowledgement, swap.

    The old backend is dropped only once the new one has accepted the login; a switch that
    fails before that leaves the player where they were, unless the old backend is gone
    too (``switch.leaving``), in which case the player is told why and disconnected.
    """

    def __init__(self, play) -> None:
        self._play = play
        #: Keeps the player while a switch with nothing to stay on is tried again.
        self.hold = PlayerHold(play, self._retry)

    def begin(self, targets, cause, notice: str = "") -> ServerSwitch:
        play = self._play
        connection = play.connection
        proxy = connection.proxy
        switch = ServerSwitch(targets, cause, play.server, notice)
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
        if switch.leaving and play.active:
            play.disconnect_player(switch.notice or message)

    def ready(self, switch: ServerSwitch, name: str, backend) -> None:
        """The target accepted the login: take the client into configuration for it."""
        play = self._play
        if play.switch is not switch or not play.active:
            backend.transport.loseConnection()
            return
        if play.down.phase is not RelayPhase.PLAY:
            backend.transport.loseConnection()
            self.failed(switch, "The switch was interrupted.")
            return
        self.hold.end("reconnected")
        switch.connected(name, backend)
        backend.on_lost = lambda reason: self._target_lost(switch, backend)
        play.down.enter(RelayPhase.CONFIGURATION)
        play.send_down(play.connection.ids.play_start_configuration, b"")

    def _target_lost(self, switch: ServerSwitch, backend) -> None:
        """The new backend went away before the client got there: it cannot go back."""
        play = self._play
        if play.switch is switch and switch.backend is backend and play.active:
            play.switch = None
            message = "The server you were moving to went away."
            switch.fail(message)
            play.disconnect_player(message)

    def complete(self) -> None:
        """The client acknowledged: the new backend becomes the relay's other end."""
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
        leftover_backend = backend.acknowledge_login()
        if switch.notice:
            play.held.append(f"{switch.notice} You are now on {switch.target}.")
        proxy.player_moved(connection, previous, switch.target)
        proxy.events.fire(ServerConnectedEvent(connection.player, switch.target, previous))
        switch.succeed()
        if not play.active:
            return
        if play.up.buffer:
            play.relay_up(b"")
        if leftover_backend:
            play.from_backend(backend, leftover_backend)
