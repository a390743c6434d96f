"""The proxy and the reference backend read the protocol's first bytes the same way.

Each fact (the legacy-ping decision, the handshake, the username rule) has one function in
``mcproxy.wire``; these tests feed the same bytes to both sides and check that they agree
with that function and with each other, on the cases where their old copies did not.
"""

from __future__ import annotations

import json
import uuid

from hypothesis import given, strategies as st
from twisted.trial.unittest import SynchronousTestCase

from mcproxy.proxy.auth import AuthenticationError, parse_profile
from mcproxy.wire import legacy
from mcproxy.wire.framing import encode_frame
from mcproxy.wire.chat import json_to_component, plain_text
from mcproxy.wire.packets import (
    LOGIN_DISCONNECT_ANY_VERSION, supported_range, unsupported_version_name,
)
from mcproxy.wire.types import WireError, encode_string, encode_uuid, encode_varint
from tests.backend_support import World
from tests.fuzzing import fuzz
from tests.test_proxy_frontdoor import FrontDoor, frames, handshake, packet

PING_16 = legacy.encode_legacy_ping(legacy.LegacyPingKind.V1_6, 78, "play.example.com", 25565)
LONG_HOST_PING_16 = legacy.encode_legacy_ping(legacy.LegacyPingKind.V1_6, 78, "a" * 255, 25565)
BAD_CHANNEL = b"\xfe\x01\xfa\x00\x02\x00A\x00B\x00\x00"


class Sides:
    """One proxy front door and one limbo, each fed one connection's bytes."""

    def __init__(self, test: SynchronousTestCase) -> None:
        self.door = FrontDoor()
        test.addCleanup(self.door.core.stop)
        self.world = World()

    def proxy(self, *reads: bytes):
        conn, transport = self.door.connect()
        for data in reads:
            conn.dataReceived(data)
        return transport

    def backend(self, *reads: bytes):
        client = self.world.connect()
        for data in reads:
            client.send_raw(data)
        return client.transport

    def proxy_refusals(self, reason: str) -> float:
        return self.door.refusals(reason)

    def backend_refusals(self, reason: str) -> float:
        return self.world.metric("mcproxy_limbo_protocol_errors_total", reason=reason)


class AgreementTestCase(SynchronousTestCase):
    def assertStatusAnswered(self, transport) -> None:
        """The connection was read as frames: a status response (packet 0) came back."""
        [(packet_id, _)] = frames(transport.value())
        self.assertEqual(packet_id, 0x00)
        self.assertFalse(transport.disconnecting)


class LegacyPingAgreementTests(AgreementTestCase):
    def assertAnswered(self, transport, first_read: bytes, served: str = "1.8-26.3") -> None:
        """A kick-packet reply in the form the ping asked for, naming the versions that
        side serves (the limbo lacks the proxy's 26.2 and 26.3)."""
        reply = legacy.decode_legacy_reply(transport.value())
        kind = legacy.sniff_legacy_ping(first_read).kind
        self.assertEqual(reply.protocol is None, kind is legacy.LegacyPingKind.BETA)
        if reply.protocol is not None:
            self.assertEqual((reply.protocol, reply.version), (127, f"mcproxy {served}"))
        self.assertTrue(transport.disconnecting)

    def test_first_reads_answered_alike(self) -> None:
        """Every first read the shared sniffer calls a ping gets a kick-packet reply and a
        close from both sides at once, including a 1.6 ping whose tail is cut after its
        first bytes (the backend used to wait for it, the proxy did not)."""
        for first_read in (b"\xfe", b"\xfe\x01", b"\xfe\x01\xfa", PING_16[:5], PING_16[:30],
                           PING_16, LONG_HOST_PING_16):
            self.assertIsNotNone(legacy.sniff_legacy_ping(first_read), first_read)
            sides = Sides(self)
            self.assertAnswered(sides.proxy(first_read), first_read)
            self.assertAnswered(sides.backend(first_read), first_read, "1.8-26.1")

    def test_malformed_tail_refused_alike(self) -> None:
        """A 1.6 ping naming another channel is refused as BAD_LEGACY_PING by both."""
        with self.assertRaises(WireError) as raised:
            legacy.sniff_legacy_ping(BAD_CHANNEL)
        self.assertEqual(raised.exception.reason, "BAD_LEGACY_PING")
        sides = Sides(self)
        self.assertTrue(sides.proxy(BAD_CHANNEL).disconnecting)
        self.assertTrue(sides.backend(BAD_CHANNEL).disconnecting)
        self.assertEqual(sides.proxy_refusals("BAD_LEGACY_PING"), 1)
        self.assertEqual(sides.backend_refusals("BAD_LEGACY_PING"), 1)

    @fuzz(100)
    @given(st.one_of(st.binary(max_size=64).map(lambda tail: b"\xfe" + tail),
                     st.binary(max_size=64).map(lambda tail: b"\xfe\x01\xfa" + tail),
                     st.sampled_from([PING_16[:n] for n in range(1, len(PING_16) + 1)])))
    def test_any_first_read_decided_alike(self, first_read: bytes) -> None:
        """For any first read starting FE, the proxy answers a legacy ping exactly when the
        backend does, exactly when the shared sniffer calls it one."""
        try:
            expected = legacy.sniff_legacy_ping(first_read) is not None
        except WireError:
            expected = False
        sides = Sides(self)
        answered = []
        for transport in (sides.proxy(first_read), sides.backend(first_read)):
            answered.append(transport.value()[:1] == b"\xff" and transport.disconnecting)
        self.assertEqual(answered, [expected, expected])

    def test_long_handshake_is_a_frame_for_both(self) -> None:
        """A 254-byte handshake starts FE 01 00: both read it as a frame and answer status."""
        frame = handshake(769, "a" * 246)
        self.assertEqual(frame[:3], b"\xfe\x01\x00")
        self.assertIsNone(legacy.sniff_legacy_ping(frame))
        sides = Sides(self)
        for transport in (sides.proxy(frame + packet(0x00)), sides.backend(frame + packet(0x00))):
            self.assertStatusAnswered(transport)


class HandshakeAgreementTests(AgreementTestCase):
    def test_refusal_reasons_alike(self) -> None:
        """A bad intent, a first packet that is not a handshake and an over-long host are
        refused under the shared parser's reason on both sides."""
        cases = {
            "BAD_INTENT": handshake(769, intent=9),
            "NOT_A_HANDSHAKE": packet(0x05, b"hello"),
            "HOST_TOO_LONG": handshake(769, "a" * 300),
        }
        for reason, data in cases.items():
            sides = Sides(self)
            self.assertTrue(sides.proxy(data).disconnecting, reason)
            self.assertTrue(sides.backend(data).disconnecting, reason)
            self.assertEqual(sides.proxy_refusals(reason), 1, reason)
            self.assertEqual(sides.backend_refusals(reason), 1, reason)

    def test_forge_markers_accepted_alike(self) -> None:
        """A host carrying Forge's markers past 255 characters is read by both sides."""
        data = handshake(769, "a" * 250 + "\x00FML3\x00") + packet(0x00)
        sides = Sides(self)
        for transport in (sides.proxy(data), sides.backend(data)):
            self.assertStatusAnswered(transport)


class UnsupportedVersionAgreementTests(AgreementTestCase):
    def test_login_disconnect_any_version(self) -> None:
        """A login from a version neither side serves (1.7) is told, by both sides, in a
        packet 0x00 JSON disconnect every client since 1.7 reads, which versions that side
        serves: the proxy 1.8-26.3, the limbo (no registry data for 26.2 and 26.3) 1.8-26.1."""
        sides = Sides(self)
        for transport, served in ((sides.proxy(handshake(5, intent=2)), "1.8-26.3"),
                                  (sides.backend(handshake(5, intent=2)), "1.8-26.1")):
            [(packet_id, reader)] = frames(transport.value())
            self.assertEqual(packet_id, LOGIN_DISCONNECT_ANY_VERSION)
            self.assertIn(served, plain_text(json_to_component(reader.string(262144))))
            self.assertTrue(transport.disconnecting)
        self.assertEqual(supported_range(), "1.8-26.3")


    def test_status_names_the_same_versions(self) -> None:
        """A status ping from a version without tables shows the same kind of server
        version on both sides, naming the versions that can join there."""
        sides = Sides(self)
        data = handshake(5) + packet(0x00)
        for transport, served in ((sides.proxy(data), "1.8-26.3"), (sides.backend(data), "1.8-26.1")):
            [(packet_id, reader)] = frames(transport.value())
            self.assertEqual(packet_id, 0x00)
            version = json.loads(reader.string(32767))["version"]
            self.assertEqual(version["name"], f"mcproxy {served}")
        self.assertEqual(unsupported_version_name(), "mcproxy 1.8-26.3")

    def test_26_2_served_by_the_proxy_only(self) -> None:
        """A 26.2 status ping is compatible at the proxy and names the limbo's range there."""
        sides = Sides(self)
        data = handshake(776) + packet(0x00)
        answers = []
        for transport in (sides.proxy(data), sides.backend(data)):
            [(packet_id, reader)] = frames(transport.value())
            answers.append(json.loads(reader.string(32767))["version"])
        self.assertEqual(answers, [{"name": "26.2", "protocol": 776},
                                   {"name": "mcproxy 1.8-26.1", "protocol": 775}])


def login_start(name: str) -> bytes:
    return encode_frame(encode_varint(0x00) + encode_string(name, 16) + encode_uuid(uuid.uuid4()))


class UsernameAgreementTests(SynchronousTestCase):
    def test_trailing_newline_refused_everywhere(self) -> None:
        """``Steve\\n`` passes a ``^…$`` pattern; the shared rule refuses it at the
        proxy's Login Start, in a session-server answer, and at the backend."""
        sides = Sides(self)
        self.assertTrue(sides.proxy(handshake(769, intent=2), login_start("Steve\n")).disconnecting)
        self.assertEqual(sides.proxy_refusals("BAD_USERNAME"), 1)
        sides.backend(handshake(769, intent=2), login_start("Steve\n"))
        self.assertEqual(sides.world.metric("mcproxy_logins_total", result="INVALID_NAME"), 1)
        profile = ('{"id": "%s", "name": "Steve\\n"}' % uuid.uuid4().hex).encode()
        with self.assertRaises(AuthenticationError):
            parse_profile(profile)

    def test_valid_name_accepted_everywhere(self) -> None:
        """A 16-character name of letters, digits and underscores passes on every side."""
        name = "Steve_0123456789"
        sides = Sides(self)
        self.assertFalse(sides.proxy(handshake(769, intent=2), login_start(name)).disconnecting)
        sides.backend(handshake(769, intent=2), login_start(name))
        self.assertEqual(sides.world.metric("mcproxy_logins_total", result="ok"), 1)
        profile = ('{"id": "%s", "name": "%s"}' % (uuid.uuid4().hex, name)).encode()
        self.assertEqual(parse_profile(profile).name, name)

