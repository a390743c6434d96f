"""Interfaces between mcproxy's parts; each section belongs to one part."""

from __future__ import annotations

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
    """Who is connected and where, and the two actions backends may request."""

    def has_player(player):
        """Whether C{player} (name or UUID string) is connected to the proxy."""

    def has_server(server):
        """Whether C{server} is a backend the proxy may route to."""

    def transfer(player, server):
        """Move C{player} to C{server}: Deferred[TransferResult]."""

    def execute(player, command_line):
        """Run a proxy command for C{player}: Deferred[CommandResult]."""
