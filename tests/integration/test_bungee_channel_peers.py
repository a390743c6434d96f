"""The BungeeCord channel against a real minecraft-protocol backend and real clients:
each sub-channel sent by the backend, each answer checked byte by byte."""

from __future__ import annotations

import struct

from twisted.internet import defer
from twisted.trial.unittest import SkipTest, TestCase

from mcproxy.proxy.auth import offline_profile
from mcproxy.wire import bungee
from tests.integration.harness import (
    NodePeer, free_port, listening_peer, node_missing, temp_dir, write_proxy_config,
)
from tests.integration.proxy_harness import game_port, run_proxy

VERSION = "1.21.4"
utf = bungee.encode_utf


def request(*fields: str, data: bytes | None = None) -> str:
    """A BungeeCord-channel request for bungee_backend.js to send, as hex."""
    payload = b"".join(utf(f) for f in fields)
    if data is not None:
        payload += bungee.encode_data(data)
    return payload.hex()


class BungeeChannelPeerTests(TestCase):
    timeout = 120

    @defer.inlineCallbacks
    def test_every_subchannel(self):
        reason = node_missing()
        if reason:
            raise SkipTest(reason)
        survival_port = free_port()
        requests = [
            request("IP"), request("IPOther", "Other"), request("PlayerCount", "ALL"),
            request("PlayerCount", "lobby"), request("PlayerCount", "nowhere"), request("PlayerList", "ALL"),
            request("GetServers"), request("GetServer"), request("GetPlayerServer", "Other"), request("UUID"),
            request("UUIDOther", "other"), request("ServerIP", "survival"), utf("Connect").hex(),
            request("Message", "ALL", "Hello from a plugin"),
            request("MessageRaw", "Other", '{"text":"Raw ","extra":[{"text":"hello"}]}'),
            request("ForwardToPlayer", "Other", "Chan", data=b"\x01\x02\x03"),
            request("Forward", "lobby", "Chan2", data=b"\xff"),
            request("KickPlayer", "Steve", "Bye from a plugin"),
        ]
        backend, backend_port = yield listening_peer(self, "bungee_backend.js", VERSION, "Steve", bungee.CHANNEL,
                                                     *requests)
        path = write_proxy_config(temp_dir(self), 0, {"lobby": backend_port, "survival": survival_port},
                                  try_order=["lobby"])
        proxy = yield run_proxy(self, path)
        port = game_port(proxy)

        def client(name):
            peer = NodePeer("chat_client.js", "127.0.0.1", port, VERSION, name,
                            env={"LINGER_MS": "60000", "CLIENT_TIMEOUT_MS": "90000"})
            self.addCleanup(peer.stop)
            return peer

        other = client("Other")
        yield backend.wait_for("join", 40, username="Other")
        yield other.wait_for("done", 40)
        steve = client("Steve")
        kicked = yield steve.wait_for("kicked", 60)
        self.assertEqual(kicked["reason"], "Bye from a plugin")
        # Each process reports through its own pipe, and the backend reads each player's
        # connection on its own: wait for the last thing each connection carries (Steve's
        # leave after his answers, Other's second forward, Other's raw message) before reading.
        yield backend.wait_for("leave", 30, username="Steve")
        yield backend.wait_for("plugin_message", 30, username="Other", data=(utf("Chan2") + b"\x00\x01\xff").hex())
        yield other.wait_for("system_chat", 30, text="Raw hello")

        answers = [bytes.fromhex(e["data"]) for e in backend.events
                   if e["event"] == "plugin_message" and e["username"] == "Steve"]
        self.assertTrue(all(e["channel"] == bungee.CHANNEL for e in backend.events if e["event"] == "plugin_message"))
        ip, ip_other, *rest = answers
        for answer, prefix in ((ip, utf("IP")), (ip_other, utf("IPOther") + utf("Other"))):
            self.assertEqual(answer[:-4], prefix + utf("127.0.0.1"))
            self.assertTrue(1 <= struct.unpack(">i", answer[-4:])[0] <= 65535)
        self.assertEqual(rest, [
            utf("PlayerCount") + utf("ALL") + bungee.encode_int(2),
            utf("PlayerCount") + utf("lobby") + bungee.encode_int(2),
            utf("PlayerList") + utf("ALL") + utf("Other, Steve"),
            utf("GetServers") + utf("lobby, survival"),
            utf("GetServer") + utf("lobby"),
            utf("GetPlayerServer") + utf("Other") + utf("lobby"),
            utf("UUID") + utf(offline_profile("Steve").id.hex),
            utf("UUIDOther") + utf("Other") + utf(offline_profile("Other").id.hex),
            utf("ServerIP") + utf("survival") + utf("127.0.0.1") + struct.pack(">H", survival_port),
        ])
        forwarded = [bytes.fromhex(e["data"]) for e in backend.events
                     if e["event"] == "plugin_message" and e["username"] == "Other"]
        self.assertEqual(forwarded, [utf("Chan") + b"\x00\x03\x01\x02\x03", utf("Chan2") + b"\x00\x01\xff"])
        texts = [e["text"] for e in other.events if e["event"] == "system_chat"]
        self.assertEqual(texts, ["Hello from a plugin", "Raw hello"])
        for peer in (other, steve):
            self.assertNotIn(bungee.CHANNEL, [e.get("channel") for e in peer.events if e["event"] == "plugin_message"])
        malformed = proxy.registry.get_sample_value("mcproxy_bungee_refusals_total", {"reason": "TRUNCATED"})
        self.assertEqual(malformed, 1.0)
        self.assertEqual(proxy.registry.get_sample_value("mcproxy_bungee_requests_total",
                                                         {"subchannel": "PlayerCount"}), 3.0)
