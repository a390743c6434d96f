"""Chat text, system messages and what players type, per version: mcproxy.wire.chat's
per-version half and mcproxy.wire.chat_input, held against minecraft-protocol."""

from __future__ import annotations

import functools
import json
import shutil

from hypothesis import given, strategies as st
from twisted.trial.unittest import SkipTest, SynchronousTestCase

from mcproxy.wire import chat
from mcproxy.wire.chat_input import (
    MAX_MATCHES, InputError, decode_completions, encode_completions, read_completion_request, read_typed,
)
from mcproxy.wire.packets import packet_ids
from mcproxy.wire.protocols import known_protocols, protocol_info
from mcproxy.wire.text import encode_text, read_text
from mcproxy.wire.types import Reader, WireError, encode_string, encode_varint
from tests.fuzzing import fuzz
from tests.test_wire_peers import NODE_MODULES, plain_nbt, run_peer

FAMILIES = {47: "1.8.8", 340: "1.12.2", 404: "1.13.2", 754: "1.16.5", 759: "1.19", 760: "1.19.2",
            763: "1.20.1", 765: "1.20.4", 775: "26.1"}


def needs_peers() -> None:
    if shutil.which("node") is None or not (NODE_MODULES / "minecraft-protocol").is_dir():
        raise SkipTest("node and peers/node_modules are needed")


def parse_all(packets: dict[int, tuple[int, bytes]]) -> dict[int, dict]:
    """minecraft-protocol's reading of one clientbound packet per family, in one node run."""
    requests = [{"op": "parse", "version": FAMILIES[protocol], "state": "play", "direction": "toClient",
                 "hex": (encode_varint(packet_id) + fields).hex()}
                for protocol, (packet_id, fields) in packets.items()]
    return dict(zip(packets, run_peer(requests)))


def text_of(value) -> dict:
    """A parsed text field as a component: JSON before 1.20.3, NBT from it."""
    return json.loads(value) if isinstance(value, str) else plain_nbt(value)


class TextPacketsTests(SynchronousTestCase):
    def test_every_version_has_its_packet(self) -> None:
        """Every version in the tables has a system message packet and a text format."""
        for protocol in known_protocols():
            facts = chat.text_packets(protocol)
            self.assertIsNotNone(facts.message_id, protocol)
            self.assertEqual(facts.json, protocol < 765, protocol)

    def test_json_text_round_trips(self) -> None:
        """A JSON-era text field reads back as the component written."""
        component = {"text": "a", "extra": [{"text": "b", "bold": True}]}
        data = chat.encode_text(760, component)
        self.assertEqual(chat.decode_text(760, data), (component, len(data)))

    def test_too_long_text_is_cut_not_refused(self) -> None:
        """Text longer than the client reads (32767 JSON characters before 1.19, an NBT
        string over 65535 bytes from 1.20.3) is cut to plain text that fits, not an error."""
        data = chat.encode_text(47, chat.text_component("é" * 40000))
        text = Reader(data).string(32767)
        self.assertTrue(json.loads(text)["text"].startswith("ééé"))
        data = chat.encode_text(775, chat.text_component("é" * 70000))
        component, end = chat.decode_text(775, data)
        self.assertEqual(end, len(data))
        self.assertTrue(component["text"].startswith("ééé"))

    def test_bad_json_reason_refused(self) -> None:
        """A reason that is not JSON chat is a WireError, which the kick watcher turns into a placeholder."""
        self.assertEqual(read_text(340, encode_string("{not json")), "(unreadable reason)")
        self.assertEqual(read_text(340, encode_string('"plain"')), "plain")
        self.assertEqual(read_text(765, encode_string('"plain"')), "(unreadable reason)")


class PeerTextTests(SynchronousTestCase):
    def setUp(self) -> None:
        needs_peers()

    def test_system_messages_read_by_minecraft_protocol(self) -> None:
        """minecraft-protocol reads each family's system message as a system message: chat
        position 1 (with a nil sender from 1.16), 1.19's chat type 1, later an overlay flag off."""
        component = {"text": "Total: ", "extra": [{"text": "3", "color": "gold"}]}
        results = parse_all({protocol: chat.system_message(protocol, component) for protocol in FAMILIES})
        for protocol, result in results.items():
            version = FAMILIES[protocol]
            params = result["params"]
            if result["name"] == "chat":
                self.assertEqual(params["position"], 1, version)
                self.assertEqual(text_of(params["message"]), component, version)
                self.assertEqual("sender" in params, protocol >= 735, version)
            else:
                self.assertEqual(result["name"], "system_chat", version)
                self.assertEqual(text_of(params["content"]), component, version)
                self.assertEqual(params.get("type", 1), 1, version)
                self.assertFalse(params.get("isActionBar", False), version)
            self.assertEqual(result["name"] == "chat", protocol < 759, version)

    def test_kicks_read_by_minecraft_protocol(self) -> None:
        """Each family's play kick carries the reason in its text format."""
        results = parse_all({p: (packet_ids(p).play_kick, encode_text(p, "Bye")) for p in FAMILIES})
        for protocol, result in results.items():
            self.assertEqual(result["name"], "kick_disconnect", protocol)
            self.assertEqual(text_of(result["params"]["reason"]), {"text": "Bye"}, protocol)


SEEN = [{"messageSender": "11111111-2222-3333-4444-555555555555", "messageSignature": {"$hex": "cd" * 8}}]
#: What minecraft-protocol clients send, by a key the tests use: (version, packet, params).
CLIENT_PACKETS = {
    "chat 1.8.8": ("1.8.8", "chat", {"message": "/server lobby"}),
    "chat 1.12.2": ("1.12.2", "chat", {"message": "/server lobby"}),
    "chat 1.16.5": ("1.16.5", "chat", {"message": "/server lobby"}),
    "command 1.19": ("1.19", "chat_command", {
        "command": "msg Alex hi", "timestamp": {"$bigint": "1700000000000"}, "salt": {"$bigint": "5"},
        "argumentSignatures": [{"argumentName": "message", "signature": {"$hex": "ab" * 256}}],
        "signedPreview": False}),
    "command 1.19.2": ("1.19.2", "chat_command", {
        "command": "glist", "timestamp": {"$bigint": "1"}, "salt": {"$bigint": "2"}, "argumentSignatures": [],
        "signedPreview": False, "previousMessages": SEEN, "lastRejectedMessage": None}),
    "ack 1.19.2": ("1.19.2", "message_acknowledgement", {"previousMessages": SEEN, "lastRejectedMessage": None}),
    "chat 1.19.2": ("1.19.2", "chat_message", {
        "message": "hi", "timestamp": {"$bigint": "1"}, "salt": {"$bigint": "2"}, "signature": {"$hex": ""},
        "signedPreview": False, "previousMessages": [], "lastRejectedMessage": None}),
    "chat 1.20.4": ("1.20.4", "chat_message", {
        "message": "hi", "timestamp": {"$bigint": "1"}, "salt": {"$bigint": "2"},
        "signature": {"$hex": "00" * 256}, "offset": 1, "acknowledged": {"$hex": "010000"}}),
    "tab 1.8.8": ("1.8.8", "tab_complete", {"text": "/ser", "block": None}),
    "tab 1.12.2": ("1.12.2", "tab_complete", {"text": "say", "assumeCommand": True, "lookedAtBlock": None}),
}
for _version in ("1.20.1", "1.20.4"):
    CLIENT_PACKETS[f"command {_version}"] = (_version, "chat_command", {
        "command": "server lobby", "timestamp": {"$bigint": "1"}, "salt": {"$bigint": "2"},
        "argumentSignatures": [], "messageCount": 4, "acknowledged": {"$hex": "0f0000"}})
    CLIENT_PACKETS[f"ack {_version}"] = (_version, "message_acknowledgement", {"count": 4})


@functools.cache
def client_packets() -> dict[str, bytes]:
    """Every CLIENT_PACKETS entry serialized by minecraft-protocol (fields after the id), in one node run."""
    requests = [{"op": "serialize", "version": version, "state": "play", "direction": "toServer",
                 "name": name, "params": params} for version, name, params in CLIENT_PACKETS.values()]
    out = {}
    for key, result in zip(CLIENT_PACKETS, run_peer(requests)):
        reader = Reader(bytes.fromhex(result["hex"]))
        reader.varint()
        out[key] = reader.rest()
    return out


class PeerInputTests(SynchronousTestCase):
    def setUp(self) -> None:
        needs_peers()
        self.sent = client_packets()

    def test_old_chat_line(self) -> None:
        """Before 1.19 a command is a chat line; its text is read as typed."""
        for version, protocol in (("1.8.8", 47), ("1.12.2", 340), ("1.16.5", 754)):
            typed = read_typed(protocol, "chat", self.sent[f"chat {version}"])
            self.assertEqual((typed.text, typed.signed, typed.acknowledgement), ("/server lobby", False, None))

    def test_1_19_command(self) -> None:
        """1.19: argument signatures make a command signed; nothing to acknowledge."""
        typed = read_typed(759, "chat_command", self.sent["command 1.19"])
        self.assertEqual((typed.text, typed.signed, typed.acknowledgement), ("msg Alex hi", True, None))

    def test_1_19_2_command(self) -> None:
        """1.19.1 – 1.19.2: the last-seen list and last rejected message are what a dropped
        command must still acknowledge, byte for byte as the client's acknowledgement packet."""
        typed = read_typed(760, "chat_command", self.sent["command 1.19.2"])
        self.assertFalse(typed.signed)
        self.assertEqual(typed.acknowledgement, self.sent["ack 1.19.2"])

    def test_1_20_command(self) -> None:
        """1.19.3 – 1.20.4: the acknowledged count is what a dropped command passes on."""
        for version, protocol in (("1.20.1", 763), ("1.20.4", 765)):
            typed = read_typed(protocol, "chat_command", self.sent[f"command {version}"])
            self.assertEqual((typed.text, typed.signed), ("server lobby", False))
            self.assertEqual(typed.acknowledgement, self.sent[f"ack {version}"])

    def test_chat_messages(self) -> None:
        """A chat message's signature decides whether it is signed, in each generation."""
        typed = read_typed(760, "chat_message", self.sent["chat 1.19.2"])
        self.assertEqual((typed.text, typed.signed, typed.acknowledgement), ("hi", False, None))
        typed = read_typed(765, "chat_message", self.sent["chat 1.20.4"])
        self.assertEqual((typed.text, typed.signed, typed.acknowledgement), ("hi", True, encode_varint(1)))

    def test_old_tab_complete(self) -> None:
        """The old completion request: text, then (1.9+) whether a command block sent it."""
        self.assertEqual(read_completion_request(47, self.sent["tab 1.8.8"]), ("/ser", False))
        self.assertEqual(read_completion_request(340, self.sent["tab 1.12.2"]), ("say", True))


class InputRefusalTests(SynchronousTestCase):
    def test_malformed_refused(self) -> None:
        """A command or chat packet that does not match its layout is an InputError, never a crash."""
        for protocol, name, fields in ((765, "chat_command", encode_string("glist") + b"\x01"),
                                       (760, "chat_command", encode_string("glist") + bytes(16) + b"\x7f"),
                                       (47, "chat", b"\xff"),
                                       (775, "chat_command", encode_string("glist") + b"extra")):
            self.assertRaises(InputError, read_typed, protocol, name, fields)
        self.assertRaises(InputError, read_completion_request, 340, encode_string("/x"))

    def test_upstream_only_version(self) -> None:
        """26.2 has ids but no layouts: the text is read and the rest kept as it is, and
        system messages take 26.1's shape (both upstream sources leave system chat unchanged)."""
        self.assertEqual(protocol_info(776).source, "upstream")
        typed = read_typed(776, "chat_command_signed", encode_string("glist") + b"rest")
        self.assertEqual((typed.text, typed.signed, typed.tail), ("glist", True, b"rest"))
        self.assertEqual(packet_ids(776).play_chat_command_signed, packet_ids(775).play_chat_command_signed)
        component = {"text": "Total: 3"}
        self.assertEqual(chat.system_message(776, component),
                         (packet_ids(776).play_system_chat, chat.system_message(775, component)[1]))

    def test_completion_list_bounded(self) -> None:
        """An old-style completion answer round-trips; one claiming too many matches, or
        cut short, is a WireError (and is then passed on unmerged)."""
        self.assertEqual(decode_completions(encode_completions(["/a", "b"])), ["/a", "b"])
        self.assertRaises(WireError, decode_completions, encode_varint(MAX_MATCHES + 1))
        self.assertRaises(WireError, decode_completions, encode_varint(2) + encode_string("/a"))

    @fuzz()
    @given(protocol=st.sampled_from(sorted(FAMILIES)),
           name=st.sampled_from(["chat", "chat_message", "chat_command", "chat_command_signed"]),
           data=st.binary(max_size=600))
    def test_random_bytes_only_refused(self, protocol: int, name: str, data: bytes) -> None:
        """Whatever a client sends as chat or a command is read or refused with InputError,
        never another exception."""
        try:
            read_typed(protocol, name, data)
        except InputError:
            pass
