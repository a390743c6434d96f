"""An example mcproxy plugin that uses event results: who may join, where they land,
and where a kicked player goes.

- ``LoginEvent``: players in ``BANNED`` are turned away with a message.
- ``PreConnectEvent``: at join, players in ``VIPS`` go to the ``vip`` server (if there is one).
- ``KickedFromServerEvent``: a player kicked from any server but ``hub`` goes to ``hub``
  (if there is one) instead of the next server of ``try``.

Enable it like the hello example: ``[plugins] enabled = true`` with ``allow = ["gatekeeper"]``.
"""

from __future__ import annotations

from twisted.plugin import IPlugin
from zope.interface import implementer

from mcproxy.interfaces import IProxyPlugin
from mcproxy.proxy.events import KickedFromServerEvent, LoginEvent, PreConnectEvent, SwitchCause


@implementer(IPlugin, IProxyPlugin)
class GatekeeperPlugin:
    name = "gatekeeper"
    BANNED = frozenset({"griefer"})
    VIPS = frozenset({"vip_alice"})
    VIP_SERVER = "vip"
    HUB = "hub"

    def load(self, api) -> None:
        self.api = api
        api.subscribe(LoginEvent, self.login)
        api.subscribe(PreConnectEvent, self.pre_connect)
        api.subscribe(KickedFromServerEvent, self.kicked)

    def login(self, event: LoginEvent) -> None:
        if event.player.name.lower() in self.BANNED:
            event.deny("You are banned from this network.")

    def pre_connect(self, event: PreConnectEvent) -> None:
        if (event.cause is SwitchCause.JOIN and event.player.name.lower() in self.VIPS
                and self.VIP_SERVER in self.api.servers()):
            event.redirect(self.VIP_SERVER)

    def kicked(self, event: KickedFromServerEvent) -> None:
        if event.server != self.HUB and self.HUB in self.api.servers():
            self.api.log.info("{player} was kicked from {server}; sending them to the hub",
                              player=event.player.name, server=event.server)
            event.redirect(self.HUB)


gatekeeper = GatekeeperPlugin()
