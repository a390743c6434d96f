"""Hostile bytes at every phase of the limbo end in a clean close, never a traceback."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from twisted.trial.unittest import SynchronousTestCase

from mcproxy.backend.server import Phase
from mcproxy.wire.packets import State

from tests.backend_support import World


def client_at(phase: str):
    world = World()
    client = world.connect(775)
    if phase == "handshake":
        return client
    if phase == "status":
        client.handshake(1)
        return client
    client.handshake()
    if phase == "login":
        return client
    client.login_start()
    client.read()
    client.send("login_acknowledged")
    client.state = State.CONFIGURATION
    client.read()
    if phase == "configuration":
        return client
    client.send("select_known_packs", b"\x00")
    client.read()
    client.send("finish_configuration", state=State.CONFIGURATION)
    client.read()
    return client


PHASES = ["handshake", "status", "login", "configuration", "play"]


class FuzzTests(SynchronousTestCase):
    @settings(max_examples=300, deadline=None)
    @given(phase=st.sampled_from(PHASES), packet_id=st.integers(0, 0x7F),
           body=st.binary(max_size=64), raw=st.booleans())
    def test_any_packet_in_any_phase(self, phase: str, packet_id: int, body: bytes,
                                     raw: bool) -> None:
        """A random packet (or raw bytes) never raises out of dataReceived."""
        client = client_at(phase)
        if raw:
            client.send_raw(body)
        else:
            client.send_packet(bytes([packet_id]) + body)
        if client.server.phase is Phase.CLOSED:
            self.assertTrue(client.closed)


def old_client_at(protocol: int, phase: str, forwarding: bool):
    """A client of a version before 1.20.5 in login or play; ``forwarding`` sends a
    legacy-forwarded host field to a limbo reading it."""
    world = World(enforce_proxy=forwarding, forwarding="legacy")
    client = world.connect(protocol)
    client.handshake(host="h\x00198.51.100.7\x00" + "ab" * 16 if forwarding else "localhost")
    if phase == "play":
        client.login_start()
        client.read()
    return client


class OldVersionFuzzTests(SynchronousTestCase):
    @settings(max_examples=300, deadline=None)
    @given(protocol=st.sampled_from([47, 107, 340, 404, 578, 754, 759, 761, 764, 765]),
           phase=st.sampled_from(["login", "play"]), forwarding=st.booleans(),
           packet_id=st.integers(0, 0x7F), body=st.binary(max_size=64))
    def test_any_packet_before_1_20_5(self, protocol: int, phase: str, forwarding: bool,
                                      packet_id: int, body: bytes) -> None:
        """Random packets from 1.8 - 1.20.4 clients, with or without a forwarded host
        field, never raise out of dataReceived."""
        client = old_client_at(protocol, phase, forwarding)
        client.send_packet(bytes([packet_id]) + body)
        if client.server.phase is Phase.CLOSED:
            self.assertTrue(client.closed)
