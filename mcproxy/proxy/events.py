"""Typed plugin events, their results, and the bus that fires them.

Modelled on Velocity's events: each event is an object handed to every subscriber in turn;
a subscriber that wants something other than the default sets a result through the
event's own methods (``deny``, ``redirect``, ``cancel``...), later subscribers see the
result so far, and the core honours the result once every subscriber has run.  Each
event fires once per occurrence.  A subscriber that raises is logged and skipped.
"""

from __future__ import annotations

import enum
import warnings
from dataclasses import dataclass, field
from typing import Callable

from twisted.logger import Logger


class SwitchCause(enum.Enum):
    """Why a player is being connected to a server."""

    JOIN = "join"
    COMMAND = "command"
    KICKED = "kicked"
    LOST = "lost"
    PLUGIN = "plugin"
    CONTROL = "control"


# Results ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Allowed:
    """The default: go ahead as if no plugin were there."""


@dataclass(frozen=True)
class Denied:
    """Refuse; ``message`` is shown to the player."""

    message: str


@dataclass(frozen=True)
class Redirected:
    """Go to ``server`` instead."""

    server: str


@dataclass(frozen=True)
class FallBack:
    """After a kick: move the player to the next server of the try list (the default)."""


@dataclass(frozen=True)
class Disconnected:
    """After a kick: disconnect the player with ``message``."""

    message: str


@dataclass(frozen=True)
class Cancelled:
    """Drop the packet: the server never sees it."""


@dataclass(frozen=True)
class Rewritten:
    """Replace the text the player sent with ``text``."""

    text: str


ALLOWED = Allowed()


class Event:
    """Base of every event: the result so far, and which results it may take."""

    results: tuple[type, ...] = (Allowed,)
    default = ALLOWED

    def __init__(self) -> None:
        self._result = self.default

    @property
    def result(self):
        return self._result

    @result.setter
    def result(self, value) -> None:
        if not isinstance(value, self.results):
            raise TypeError(f"{type(self).__name__} takes {', '.join(r.__name__ for r in self.results)}, "
                            f"not {type(value).__name__}")
        self._result = value

    def allow(self) -> None:
        """Undo an earlier subscriber's result."""
        self.result = self.default


class LoginEvent(Event):
    """A player is authenticated, before any server is chosen: ``deny(message)`` turns them away."""

    results = (Allowed, Denied)

    def __init__(self, player) -> None:
        super().__init__()
        self.player = player

    def deny(self, message: str) -> None:
        self.result = Denied(str(message))


class PreConnectEvent(Event):
    """The proxy is about to connect ``player`` to ``target`` (at join, on a switch, on a fallback).

    ``deny(message)`` keeps the player where they are (or, at join, turns them away);
    ``redirect(server)`` connects them to that server instead.
    """

    results = (Allowed, Denied, Redirected)

    def __init__(self, player, target: str, cause: SwitchCause, previous: str | None) -> None:
        super().__init__()
        self.player = player
        self.target = target
        self.cause = cause
        self.previous = previous

    def deny(self, message: str) -> None:
        self.result = Denied(str(message))

    def redirect(self, server: str) -> None:
        self.result = Redirected(str(server))


class ServerConnectedEvent(Event):
    """``player`` is now on ``server`` (``previous`` is None at join)."""

    def __init__(self, player, server: str, previous: str | None) -> None:
        super().__init__()
        self.player = player
        self.server = server
        self.previous = previous


class KickedFromServerEvent(Event):
    """``server`` kicked ``player`` in play with ``reason``.

    The default falls back to the next server of the try list (or disconnects with the
    kick's reason when there is none); ``redirect(server)`` moves the player there
    instead; ``disconnect(message)`` ends the session with that message.
    """

    results = (FallBack, Redirected, Disconnected)
    default = FallBack()

    def __init__(self, player, server: str, reason: str, fallbacks: tuple[str, ...]) -> None:
        super().__init__()
        self.player = player
        self.server = server
        self.reason = reason
        self.fallbacks = fallbacks

    def fall_back(self) -> None:
        self.result = FallBack()

    def redirect(self, server: str) -> None:
        self.result = Redirected(str(server))

    def disconnect(self, message: str) -> None:
        self.result = Disconnected(str(message))


class _TextEvent(Event):
    results = (Allowed, Cancelled, Rewritten)

    def __init__(self, player, text: str, signed: bool) -> None:
        super().__init__()
        self.player = player
        self.text = text
        #: A signed message cannot be altered: a cancel or a rewrite is refused (logged) and it goes on as sent.
        self.signed = signed

    def cancel(self) -> None:
        self.result = Cancelled()

    def rewrite(self, text: str) -> None:
        self.result = Rewritten(str(text))


class PlayerChatEvent(_TextEvent):
    """``player`` sent the chat message ``text``: ``cancel()`` or ``rewrite(text)`` unless ``signed``."""


class PlayerCommandEvent(_TextEvent):
    """``player`` typed the command ``text`` (without the slash), before the proxy or the
    server runs it: ``cancel()`` or ``rewrite(line)`` unless ``signed``."""


#: The id the server list's hover entries get when a plugin gives a name alone.
NIL_UUID = "00000000-0000-0000-0000-000000000000"


class StatusPingEvent(Event):
    """A server-list ping: edit ``status`` (the JSON answer as a dict) in place."""

    def __init__(self, address: str, protocol: int, host: str, status: dict) -> None:
        super().__init__()
        self.address = address
        self.protocol = protocol
        self.host = host
        self.status = status

    @property
    def sample(self) -> list[dict]:
        """The hover list's entries (``{"name", "id"}``), as ``status_player_sample`` picked
        them; edit it in place or assign a new list."""
        return self.status.setdefault("players", {}).setdefault("sample", [])

    @sample.setter
    def sample(self, entries) -> None:
        """Entries or bare names: a plugin's own lines (a welcome, a count) need no UUID."""
        self.status.setdefault("players", {})["sample"] = [
            dict(entry) if isinstance(entry, dict) else {"name": str(entry), "id": NIL_UUID} for entry in entries]


class PluginMessageEvent(Event):
    """A plugin message on ``channel`` between ``player`` and their server: ``cancel()`` drops it.

    ``direction`` is ``"serverbound"`` or ``"clientbound"``.
    """

    results = (Allowed, Cancelled)

    def __init__(self, player, channel: str, data: bytes, direction: str) -> None:
        super().__init__()
        self.player = player
        self.channel = channel
        self.data = data
        self.direction = direction

    def cancel(self) -> None:
        self.result = Cancelled()


class DisconnectEvent(Event):
    """``player`` left the proxy (``why``: ``left``, ``kicked``, ``refused``...); once per player."""

    def __init__(self, player, why: str) -> None:
        super().__init__()
        self.player = player
        self.why = why


EVENTS: tuple[type[Event], ...] = (
    LoginEvent, PreConnectEvent, ServerConnectedEvent, KickedFromServerEvent, PlayerChatEvent,
    PlayerCommandEvent, StatusPingEvent, PluginMessageEvent, DisconnectEvent,
)


def _login(handler):
    return lambda event: handler(event.player)


def _chosen(handler):
    return lambda event: handler(event.player, event.target)


def _connected(handler):
    return lambda event: handler(event.player, event.server)


def _disconnect(handler):
    return lambda event: handler(event.player, event.why)


#: The hooks of 0.4, by name: the event each became and how its handler is called.
LEGACY_HOOKS: dict[str, tuple[type[Event], Callable]] = {
    "login": (LoginEvent, _login),
    "server_chosen": (PreConnectEvent, _chosen),
    "server_connected": (ServerConnectedEvent, _connected),
    "disconnect": (DisconnectEvent, _disconnect),
}


@dataclass
class _Subscriber:
    owner: str
    handler: Callable[[Event], object]
    active: bool = field(default=True)


class EventBus:
    """Subscribers by event type, called in subscription order."""

    def __init__(self, log: Logger) -> None:
        self._log = log
        self._subscribers: dict[type[Event], list[_Subscriber]] = {event: [] for event in EVENTS}
        self._first_watchers: dict[type[Event], list[Callable[[], None]]] = {}

    def subscribe(self, event, handler: Callable, owner: str = "") -> Callable[[], None]:
        """Call ``handler(event)`` for each ``event`` (a class); returns the unsubscriber.

        The names of the four 0.4 hooks still work, calling ``handler`` with their old
        arguments, with a DeprecationWarning: they go in the next release.
        """
        if isinstance(event, str):
            if event not in LEGACY_HOOKS:
                names = ", ".join(e.__name__ for e in EVENTS)
                raise ValueError(f"unknown event {event!r}; events are {names}")
            warnings.warn(f"subscribing to {event!r} by name is deprecated; subscribe to "
                          f"{LEGACY_HOOKS[event][0].__name__} instead", DeprecationWarning, stacklevel=3)
            event, adapt = LEGACY_HOOKS[event]
            handler = adapt(handler)
        if event not in self._subscribers:
            raise ValueError(f"unknown event {event!r}")
        entry = _Subscriber(owner, handler)
        subscribers = self._subscribers[event]
        subscribers.append(entry)
        if len(subscribers) == 1:
            for watcher in self._first_watchers.get(event, ()):
                watcher()

        def unsubscribe() -> None:
            entry.active = False
            if entry in subscribers:
                subscribers.remove(entry)

        return unsubscribe

    def on_first_subscriber(self, event: type[Event], callback: Callable[[], None]) -> None:
        """Call ``callback()`` whenever ``event`` goes from no subscriber to one."""
        self._first_watchers.setdefault(event, []).append(callback)

    def wants(self, event: type[Event]) -> bool:
        """Whether anyone listens: the core skips the work of an event nobody wants."""
        return bool(self._subscribers[event])

    def fire(self, event: Event) -> Event:
        """Hand ``event`` to each subscriber; returns it, with the result they agreed on."""
        for entry in list(self._subscribers[type(event)]):
            if not entry.active:
                continue
            try:
                entry.handler(event)
            except Exception:
                self._log.failure("plugin {plugin} failed in {event}", plugin=entry.owner or repr(entry.handler),
                                  event=type(event).__name__)
        return event
