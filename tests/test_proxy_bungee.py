"""The proxy's answers on the BungeeCord channel, on a fake clock with controlled backends."""

from __future__ import annotations

import uuid

from twisted.trial.unittest import SynchronousTestCase

from mcproxy.proxy.auth import offline_profile
from mcproxy.proxy.core import ProxySettings
from mcproxy.proxy.routing import ServerAddress
from mcproxy.wire import bungee
from mcproxy.wire.types import Reader, encode_string
from mcproxy.testing import InMemoryRedis
from mcproxy.wire import chat
from tests.session_rig import IDS, Rig, frames, packet, texts
from tests.test_cluster_directory import Proxy, join_network

utf = bungee.encode_utf


def request(*fields, data: bytes | None = None) -> bytes:
    payload = b"".join(utf(f) for f in fields)
    if data is not None:
        payload += bungee.encode_data(data)
    return packet(IDS.play_custom_payload, encode_string(bungee.CHANNEL) + payload)


def plugin_messages(raw: bytes, wanted: int = IDS.play_custom_payload_serverbound) -> list[tuple[str, bytes]]:
    out = []
    for packet_id, fields in frames(raw):
        if packet_id == wanted:
            reader = Reader(fields)
            out.append((reader.string(), reader.rest()))
    return out


class BungeeChannelTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.rig = Rig()
        self.addCleanup(self.rig.core.stop)
        self.rig.router.servers["survival"] = ServerAddress("10.0.0.5", 25566)
        self.steve = self.rig.join("Steve")
        self.alex = self.rig.join("Alex")

    def ask(self, *fields, data: bytes | None = None, session=None) -> list[bytes]:
        """The answers ``session``'s backend gets; the channel's own message never reaches the client."""
        session = session or self.steve
        session.backend.dataReceived(request(*fields, data=data))
        self.assertEqual(plugin_messages(session.transport.value(), IDS.play_custom_payload), [])
        answers = plugin_messages(session.backend.transport.value())
        session.backend.transport.clear()
        self.assertTrue(all(channel == bungee.CHANNEL for channel, _ in answers))
        return [payload for _, payload in answers]

    def counted(self, name: str, **labels) -> float:
        return self.rig.registry.get_sample_value(name, labels) or 0.0

    def test_armed_smoke_bot_not_listed(self) -> None:
        """PlayerCount, PlayerList and GetPlayerServer leave an armed smoke bot out."""
        self.rig.core.probe_names.arm(["smk1a2b_0"], 60)
        self.rig.join("smk1a2b_0")
        self.assertEqual(self.ask("PlayerCount", "ALL"), [utf("PlayerCount") + utf("ALL") + bungee.encode_int(2)])
        self.assertEqual(self.ask("PlayerList", "lobby"), [utf("PlayerList") + utf("lobby") + utf("Alex, Steve")])
        self.assertEqual(self.ask("GetPlayerServer", "smk1a2b_0"),
                         [utf("GetPlayerServer") + utf("smk1a2b_0") + utf("")])

    def test_lookups(self) -> None:
        steve_id = offline_profile("Steve").id.hex
        alex_id = offline_profile("Alex").id.hex
        self.assertEqual(self.ask("IP"), [utf("IP") + utf("192.168.1.1") + bungee.encode_int(54321)])
        self.assertEqual(self.ask("IPOther", "alex"),
                         [utf("IPOther") + utf("Alex") + utf("192.168.1.1") + bungee.encode_int(54321)])
        self.assertEqual(self.ask("IPOther", "nobody"), [])
        self.assertEqual(self.ask("PlayerCount", "ALL"), [utf("PlayerCount") + utf("ALL") + bungee.encode_int(2)])
        self.assertEqual(self.ask("PlayerCount", "lobby"), [utf("PlayerCount") + utf("lobby") + bungee.encode_int(2)])
        self.assertEqual(self.ask("PlayerCount", "survival"),
                         [utf("PlayerCount") + utf("survival") + bungee.encode_int(0)])
        self.assertEqual(self.ask("PlayerCount", "mars"), [])
        self.assertEqual(self.ask("PlayerList", "ALL"), [utf("PlayerList") + utf("ALL") + utf("Alex, Steve")])
        self.assertEqual(self.ask("PlayerList", "creative"), [utf("PlayerList") + utf("creative") + utf("")])
        self.assertEqual(self.ask("GetServers"), [utf("GetServers") + utf("lobby, survival, creative")])
        self.assertEqual(self.ask("GetServer"), [utf("GetServer") + utf("lobby")])
        self.assertEqual(self.ask("GetPlayerServer", "alex"), [utf("GetPlayerServer") + utf("alex") + utf("lobby")])
        self.assertEqual(self.ask("GetPlayerServer", "ghost"), [utf("GetPlayerServer") + utf("ghost") + utf("")])
        self.assertEqual(self.ask("UUID"), [utf("UUID") + utf(steve_id)])
        self.assertEqual(self.ask("UUIDOther", "Alex"), [utf("UUIDOther") + utf("Alex") + utf(alex_id)])
        self.assertEqual(uuid.UUID(alex_id), offline_profile("Alex").id)
        self.assertEqual(self.ask("ServerIP", "survival"),
                         [utf("ServerIP") + utf("survival") + utf("10.0.0.5") + b"\x63\xde"])
        self.assertEqual(self.counted("mcproxy_bungee_requests_total", subchannel="PlayerCount"), 4.0)

    def test_messages_and_kicks(self) -> None:
        self.assertEqual(self.ask("Message", "ALL", "Hello all"), [])
        self.assertEqual(texts(self.alex.sent(), IDS.play_system_chat), ["Hello all"])
        self.assertEqual(texts(self.steve.sent(), IDS.play_system_chat), ["Hello all"])
        self.assertEqual(self.ask("MessageRaw", "Alex", '{"text":"raw","color":"red"}'), [])
        self.assertEqual(texts(self.alex.sent(), IDS.play_system_chat), ["raw"])
        self.assertEqual(self.ask("KickPlayerRaw", "Alex", '{"text":"bye"}'), [])
        self.assertEqual(texts(self.alex.sent(), IDS.play_kick), ["bye"])
        self.assertTrue(self.alex.transport.disconnecting)
        self.assertEqual(self.ask("KickPlayer", "Steve", "You too"), [])
        self.assertEqual(texts(self.steve.transport.value(), IDS.play_kick), ["You too"])

    def test_forward(self) -> None:
        """Forward reaches one player on each other server; ForwardToPlayer that player's server."""
        self.steve.connection.switch_to("survival")
        survival = self.rig.finish_switch(self.steve)
        survival.dataReceived(packet(IDS.config_finish))
        self.steve.connection.dataReceived(packet(IDS.config_finish_ack))
        self.assertEqual(self.steve.connection.server, "survival")
        survival.transport.clear()
        self.alex.backend.transport.clear()
        forwarded = [(bungee.CHANNEL, utf("Chan") + b"\x00\x02hi")]
        self.assertEqual(self.ask("Forward", "ALL", "Chan", data=b"hi", session=self.alex), [])
        self.assertEqual(plugin_messages(survival.transport.value()), forwarded)
        survival.transport.clear()
        self.assertEqual(self.ask("Forward", "lobby", "Chan", data=b"hi", session=self.alex), [forwarded[0][1]])
        self.assertEqual(self.ask("ForwardToPlayer", "steve", "Chan", data=b"hi", session=self.alex), [])
        self.assertEqual(plugin_messages(survival.transport.value()), forwarded)

    def test_connect(self) -> None:
        """Connect and ConnectOther move players like /server; an unknown server is ignored."""
        self.ask("Connect", "mars")
        self.assertEqual(len(self.rig.router.requests), 2)
        self.ask("ConnectOther", "Alex", "survival")
        self.assertEqual(self.rig.router.requests[-1][0], ("survival",))
        self.assertEqual(self.counted("mcproxy_bungee_requests_total", subchannel="ConnectOther"), 1.0)

    def test_malformed_counted_and_dropped(self) -> None:
        for payload, reason in ((utf("Connect"), "TRUNCATED"), (utf("Teleport"), "UNKNOWN_SUBCHANNEL"),
                                (utf("UUIDOther") + b"\x00\x01\x80", "BAD_UTF")):
            self.steve.backend.dataReceived(packet(IDS.play_custom_payload, encode_string("BungeeCord") + payload))
            self.assertEqual(self.counted("mcproxy_bungee_refusals_total", reason=reason), 1.0)
        self.steve.backend.dataReceived(request("MessageRaw", "ALL", "{not json"))
        self.assertEqual(self.counted("mcproxy_bungee_refusals_total", reason="BAD_CHAT"), 1.0)
        self.assertEqual(self.steve.sent(), b"")
        self.assertFalse(self.steve.transport.disconnecting)

    def test_client_may_not_speak_on_the_channel(self) -> None:
        self.steve.connection.dataReceived(
            packet(IDS.play_custom_payload_serverbound, encode_string(bungee.CHANNEL) + utf("IP")))
        self.assertEqual(self.steve.backend.transport.value(), b"")


class AcrossProxiesTests(SynchronousTestCase):
    """With [cluster], requests naming a player on another proxy are done on that proxy."""

    def setUp(self) -> None:
        self.rig = Rig()
        self.addCleanup(self.rig.core.stop)
        self.rig.router.servers["survival"] = ServerAddress("10.0.0.5", 25566)
        self.redis = InMemoryRedis(self.rig.reactor)
        join_network(self.rig.core, self.redis, "p1")
        self.steve = self.rig.join("Steve")
        self.other = Proxy(self.redis, "p2")
        self.zed = self.other.join("Zed", "survival")

    def ask(self, *fields, data: bytes | None = None) -> list[bytes]:
        self.steve.backend.dataReceived(request(*fields, data=data))
        answers = plugin_messages(self.steve.backend.transport.value())
        self.steve.backend.transport.clear()
        return [payload for _, payload in answers]

    def test_lookups_of_a_player_on_another_proxy(self) -> None:
        """IPOther and UUIDOther answer from the directory entry (the port is not in it: 0)."""
        self.assertEqual(self.ask("IPOther", "zed"),
                         [utf("IPOther") + utf("Zed") + utf("203.0.113.7") + bungee.encode_int(0)])
        self.assertEqual(self.ask("UUIDOther", "Zed"), [utf("UUIDOther") + utf("Zed") + utf(self.zed.profile.id.hex)])
        self.assertEqual(self.ask("UUIDOther", "nobody"), [])

    def test_counts_and_lists_span_the_network(self) -> None:
        """PlayerCount, PlayerList and GetPlayerServer count and name the other proxy's players too."""
        self.assertEqual(self.ask("PlayerCount", "ALL"), [utf("PlayerCount") + utf("ALL") + bungee.encode_int(2)])
        self.assertEqual(self.ask("PlayerCount", "survival"),
                         [utf("PlayerCount") + utf("survival") + bungee.encode_int(1)])
        self.assertEqual(self.ask("PlayerList", "ALL"), [utf("PlayerList") + utf("ALL") + utf("Steve, Zed")])
        self.assertEqual(self.ask("PlayerList", "survival"), [utf("PlayerList") + utf("survival") + utf("Zed")])
        self.assertEqual(self.ask("GetPlayerServer", "zed"), [utf("GetPlayerServer") + utf("zed") + utf("survival")])
        self.other.leave(self.zed)
        self.assertEqual(self.ask("PlayerCount", "ALL"), [utf("PlayerCount") + utf("ALL") + bungee.encode_int(1)])
        self.assertEqual(self.ask("PlayerList", "survival"), [utf("PlayerList") + utf("survival") + utf("")])

    def test_messages_and_kick_reach_the_other_proxy(self) -> None:
        """Message, MessageRaw (to one player and to ALL) and KickPlayer run on Zed's proxy."""
        self.ask("Message", "Zed", "psst")
        self.ask("MessageRaw", "ALL", '{"text":"everyone"}')
        self.assertEqual(self.zed.messages, ["psst"])
        self.assertEqual([chat.plain_text(c) for c in self.zed.handler.components], ["everyone"])
        self.assertEqual(texts(self.steve.sent(), IDS.play_system_chat), ["everyone"])
        self.ask("KickPlayer", "Zed", "bye")
        self.assertEqual(self.zed.disconnected, ["bye"])

    def test_connect_other_moves_a_player_on_another_proxy(self) -> None:
        """ConnectOther for Zed switches Zed on p2; an unknown server is still ignored."""
        self.ask("ConnectOther", "Zed", "mars")
        self.ask("ConnectOther", "Zed", "lobby")
        self.assertEqual(self.zed.switches, ["lobby"])

    def test_forward_through_another_proxy(self) -> None:
        """Forward to a server only the other proxy has players on goes through one of them, once."""
        forwarded = utf("Chan") + b"\x00\x02hi"
        self.ask("Forward", "ALL", "Chan", data=b"hi")
        self.assertEqual(self.zed.handler.plugin_messages, [(bungee.CHANNEL, forwarded)])
        self.ask("Forward", "survival", "Chan", data=b"hi")
        self.ask("ForwardToPlayer", "zed", "Chan", data=b"hi")
        self.assertEqual(self.zed.handler.plugin_messages, [(bungee.CHANNEL, forwarded)] * 3)
        self.assertEqual(self.other.metric("mcproxy_cluster_rpc_total", operation="forward", outcome="served"), 2)


class ChannelOffTests(SynchronousTestCase):
    def test_relayed_untouched_when_off(self) -> None:
        rig = Rig(ProxySettings(online_mode=False, compression_threshold=-1, bungee_plugin_channel=False))
        self.addCleanup(rig.core.stop)
        session = rig.join()
        message = request("IP")
        session.backend.dataReceived(message)
        self.assertEqual(session.sent(), message)
        self.assertEqual(session.backend.transport.value(), b"")
