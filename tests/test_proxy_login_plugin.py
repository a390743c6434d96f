"""Login plugin requests relayed between a backend and a player on first join."""

from __future__ import annotations

from twisted.internet.testing import StringTransport
from twisted.trial.unittest import SynchronousTestCase

from mcproxy.proxy.backend import BackendConnection
from mcproxy.proxy.client import Phase
from mcproxy.wire.types import encode_bool, encode_string, encode_varint
from tests.session_rig import IDS, Rig, frames, handshake, login_start, packet


def plugin_request(message_id: int, channel: str, data: bytes) -> bytes:
    return packet(IDS.login_plugin_request, encode_varint(message_id) + encode_string(channel) + data)


class LoginPluginRelayTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.rig = Rig()
        self.addCleanup(self.rig.core.stop)
        self.connection, self.client = self.rig.connect()
        self.connection.dataReceived(handshake() + login_start("Steve"))
        self.client.clear()
        self.backend = BackendConnection(self.rig.router.logins[-1], IDS, 2097151)
        self.backend.makeConnection(StringTransport())
        self.backend.transport.clear()

    def test_round_trip_with_ids_mapped(self) -> None:
        """The client sees the request under the proxy's id; the backend gets the answer under its own."""
        self.backend.dataReceived(plugin_request(41, "fml:loginwrapper", b"hello")
                                  + plugin_request(99, "mod:other", b""))
        self.assertEqual(frames(self.client.value()), [
            (IDS.login_plugin_request, encode_varint(0) + encode_string("fml:loginwrapper") + b"hello"),
            (IDS.login_plugin_request, encode_varint(1) + encode_string("mod:other")),
        ])
        self.connection.dataReceived(packet(IDS.login_plugin_response, encode_varint(1) + encode_bool(False))
                                     + packet(IDS.login_plugin_response, encode_varint(0) + encode_bool(True) + b"hi!"))
        self.assertEqual(frames(self.backend.transport.value()), [
            (IDS.login_plugin_response, encode_varint(99) + encode_bool(False)),
            (IDS.login_plugin_response, encode_varint(41) + encode_bool(True) + b"hi!"),
        ])

    def test_forwarding_channel_is_not_relayed(self) -> None:
        """The proxy answers modern forwarding itself; the client never sees it."""
        self.backend.dataReceived(plugin_request(3, "velocity:player_info", b"\x01"))
        self.assertEqual(self.client.value(), b"")
        [(packet_id, fields)] = frames(self.backend.transport.value())
        self.assertEqual((packet_id, fields[:2]), (IDS.login_plugin_response, encode_varint(3) + encode_bool(True)))

    def test_unknown_answer_refused(self) -> None:
        """An answer to nothing the proxy asked is refused, as before."""
        self.backend.dataReceived(plugin_request(5, "mod:x", b""))
        self.connection.dataReceived(packet(IDS.login_plugin_response, encode_varint(9) + encode_bool(False)))
        self.assertIs(self.connection.phase, Phase.CLOSED)
        self.assertEqual(self.rig.refusals("UNEXPECTED_PACKET"), 1.0)

    def test_not_relayed_once_logged_in(self) -> None:
        """After Login Success reached the client, a request is answered "not understood" (a late backend)."""
        self.rig.router.accept()
        self.client.clear()
        self.backend.dataReceived(plugin_request(6, "mod:x", b""))
        self.assertEqual(self.client.value(), b"")
        self.assertEqual(frames(self.backend.transport.value()),
                         [(IDS.login_plugin_response, encode_varint(6) + encode_bool(False))])
