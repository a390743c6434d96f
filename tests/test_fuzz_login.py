"""Hostile login traffic against a real ``PlayerConnection`` on a fake clock.

Whatever a client sends after a login handshake, the proxy either waits for more, goes on
to route an acceptable player, or refuses once with one counted and logged reason; no
exception escapes ``dataReceived``.
"""

from __future__ import annotations

import uuid

from hypothesis import given
from hypothesis import strategies as st
from twisted.trial.unittest import SynchronousTestCase

from mcproxy.proxy.client import Phase
from mcproxy.proxy.core import KeyPair, ProxySettings
from mcproxy.wire.login import LoginLayout, encode_login_start
from mcproxy.wire.packets import packet_ids
from mcproxy.wire.types import WireError, encode_string, encode_uuid, encode_varint
from tests.fuzzing import fuzz
from tests.test_fuzz_wire import cut
from tests.test_proxy_frontdoor import LATEST, FrontDoor, handshake, packet

#: A protocol of each generation of the login packets.
LOGIN_GENERATIONS = (47, 340, 735, 759, 760, 763, 764, LATEST)
KEYPAIR = KeyPair.generate()

#: Bodies that look like the login packets a client may send, and some that do not.
login_packets = st.one_of(
    st.tuples(st.integers(0, 8), st.binary(max_size=64)),
    st.tuples(st.just(0), st.builds(lambda name, raw: encode_string(name, 10**6) + raw,
                                    st.text(max_size=40), st.binary(max_size=20))),
)


def total_refusals(door: FrontDoor) -> float:
    return sum(sample.value for family in door.registry.collect() for sample in family.samples
               if sample.name == "mcproxy_refusals_total")


class LoginFuzzTests(SynchronousTestCase):
    def door(self) -> FrontDoor:
        door = FrontDoor(ProxySettings(online_mode=False))
        self.addCleanup(door.core.stop)
        return door

    def assertOneOutcome(self, door: FrontDoor, protocol, transport) -> None:
        """Closed with exactly one counted and logged refusal, or still in a live phase."""
        refused = total_refusals(door)
        if protocol.phase is Phase.CLOSED:
            self.assertTrue(transport.disconnecting)
            self.assertEqual(refused, 1.0)
            self.assertEqual(len(door.refusal_logs(protocol)), 1)
        else:
            self.assertEqual(refused, 0.0)
            self.assertIn(protocol.phase, (Phase.LOGIN, Phase.CONNECTING))

    @fuzz()
    @given(packets=st.lists(login_packets, min_size=1, max_size=4),
           points=st.lists(st.integers(0, 2048), max_size=6), intent=st.sampled_from([2, 3]),
           version=st.sampled_from(LOGIN_GENERATIONS))
    def test_any_login_traffic_ends_in_one_outcome(self, packets, points, intent, version) -> None:
        """Random login packets of any login generation, split anyhow, end in at most one
        refusal and never raise."""
        door = self.door()
        protocol, transport = door.connect()
        data = handshake(version, intent=intent) + b"".join(packet(pid, body) for pid, body in packets)
        for chunk in cut(data, points):
            protocol.dataReceived(chunk)
        self.assertOneOutcome(door, protocol, transport)

    @fuzz()
    @given(version=st.sampled_from(LOGIN_GENERATIONS), response=st.binary(max_size=600),
           points=st.lists(st.integers(0, 700), max_size=4))
    def test_any_encryption_response_ends_in_one_outcome(self, version, response, points) -> None:
        """In online mode, whatever follows the Encryption Request (a token, a 1.19 salt and
        signature, garbage) is refused once with a reason and never raises."""
        door = FrontDoor(ProxySettings(online_mode=True), keypair=KEYPAIR)
        self.addCleanup(door.core.stop)
        protocol, transport = door.connect()
        ids = packet_ids(version)
        start = encode_login_start(LoginLayout.of(version), "Steve", uuid.uuid4())
        protocol.dataReceived(handshake(version, intent=2) + packet(ids.login_start, start))
        self.assertIs(protocol.phase, Phase.ENCRYPTION)
        for chunk in cut(packet(ids.login_encryption_response, response), points):
            protocol.dataReceived(chunk)
        self.assertIs(protocol.phase, Phase.CLOSED)
        self.assertOneOutcome(door, protocol, transport)

    @fuzz()
    @given(name=st.text(max_size=64))
    def test_any_username_is_routed_only_if_valid(self, name: str) -> None:
        """A login start with any name reaches routing only for 1-16 of [A-Za-z0-9_];
        every other name, over-long ones included, is refused with one reason."""
        door = self.door()
        protocol, transport = door.connect()
        try:
            fields = encode_string(name, 10**6) + encode_uuid(uuid.uuid4())
        except WireError:
            return
        protocol.dataReceived(handshake(LATEST, intent=2) + packet(0x00, fields))
        valid = 1 <= len(name) <= 16 and all(c.isascii() and (c.isalnum() or c == "_") for c in name)
        self.assertEqual(protocol.phase is Phase.CONNECTING, valid, (name, protocol.phase))
        self.assertOneOutcome(door, protocol, transport)

    @fuzz(50)
    @given(declared=st.integers(16 * 3 + 1, 2**31 - 1))
    def test_oversized_name_refused_from_its_length(self, declared: int) -> None:
        """A name declared longer than 16 characters is refused without waiting for it."""
        door = self.door()
        protocol, _ = door.connect()
        protocol.dataReceived(handshake(LATEST, intent=2) + packet(0x00, encode_varint(declared) + b"A" * 16))
        self.assertIs(protocol.phase, Phase.CLOSED)
        self.assertEqual(door.refusals("STRING_TOO_LONG"), 1.0)
