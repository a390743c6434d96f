"""Proxy commands, completions, the command tree and the proxy's messages, per version family.

Each family runs the same tests on the session rig with a player of that version; the
expected bytes are written out here from the version's layout, not produced by the code
under test.
"""

from __future__ import annotations

import json

from twisted.trial.unittest import SynchronousTestCase

from mcproxy.proxy.events import PlayerChatEvent, PlayerCommandEvent
from mcproxy.wire import bungee
from mcproxy.wire.nbt import encode_network_nbt
from mcproxy.wire.packets import packet_ids
from mcproxy.wire.types import encode_bool, encode_string, encode_varint
from tests.session_rig import Rig, frames, packet

#: One protocol per family of chat, command and tree layouts.
FAMILIES = {
    47: "1.8.8",
    340: "1.12.2",
    404: "1.13.2",
    754: "1.16.5",
    759: "1.19",
    760: "1.19.2",
    763: "1.20.1",
    765: "1.20.4",
    775: "26.1",
}
JSON_TEXT = {47, 340, 404, 754, 759, 760, 763}


def text_field(protocol: int, text: str) -> bytes:
    """A play text field as the version's client reads it."""
    if protocol in JSON_TEXT:
        return encode_string(json.dumps({"text": text}, separators=(",", ":")))
    return encode_network_nbt({"text": text})


def expected_message(protocol: int, text: str) -> tuple[int, bytes]:
    """The system message packet each family's client expects (from its layout)."""
    ids = packet_ids(protocol)
    if protocol in (47, 340, 404):
        return ids.play_chat_legacy, text_field(protocol, text) + b"\x01"            # position: system
    if protocol == 754:
        return ids.play_chat_legacy, text_field(protocol, text) + b"\x01" + bytes(16)  # + sender UUID 0
    if protocol == 759:
        return ids.play_system_chat, text_field(protocol, text) + encode_varint(1)  # chat type: system
    return ids.play_system_chat, text_field(protocol, text) + encode_bool(False)     # overlay: no


def command_packet(protocol: int, line: str, signatures: int = 0, seen: int = 0) -> bytes:
    """What a client of ``protocol`` sends when its player types ``/line``."""
    ids = packet_ids(protocol)
    if ids.play_chat_legacy_serverbound is not None:
        return packet(ids.play_chat_legacy_serverbound, encode_string("/" + line))
    if ids.play_chat_command_signed is not None and not signatures and not seen:
        return packet(ids.play_chat_command, encode_string(line))
    packet_id = ids.play_chat_command_signed if ids.play_chat_command_signed is not None else ids.play_chat_command
    fields = encode_string(line) + (1234).to_bytes(8, "big") + (99).to_bytes(8, "big")
    fields += encode_varint(signatures)
    for n in range(signatures):
        fields += encode_string(f"arg{n}")
        fields += bytes([7]) * 256 if protocol >= 761 else encode_varint(3) + b"sig"
    if protocol in (759, 760):
        fields += encode_bool(False)                          # signed preview
    if protocol == 760:
        fields += encode_varint(seen)                          # last seen: (sender, signature)…
        fields += b"".join(bytes(16) + encode_varint(2) + b"ok" for _ in range(seen))
        fields += encode_bool(False)                          # no last rejected message
    if protocol >= 761:
        fields += encode_varint(seen) + b"\x00\x00\x00"        # acknowledged count and bitset
    if protocol >= 770:
        fields += b"\x00"                                     # checksum of the seen messages
    return packet(packet_id, fields)


class FamilyTests:
    """The tests every family runs; a subclass per family sets ``protocol``."""

    protocol: int

    def setUp(self) -> None:
        self.rig = Rig(try_order=("lobby",))
        self.ids = packet_ids(self.protocol)
        self.session = self.rig.join(protocol=self.protocol)

    def received(self) -> list[tuple[int, bytes]]:
        return frames(self.session.sent())

    def upstream(self) -> bytes:
        data = self.session.backend.transport.value()
        self.session.backend.transport.clear()
        return data

    # Commands in, messages out ------------------------------------------------------------

    def test_glist_answered_in_the_versions_chat_packet(self) -> None:
        """/glist typed by the player is answered by the proxy in the version's own system
        message packet, and the backend never sees it."""
        self.session.connection.dataReceived(command_packet(self.protocol, "glist"))
        self.assertEqual(self.received(), [expected_message(self.protocol, "[lobby] (1): Steve\nTotal players online: 1")])
        self.assertEqual(self.upstream(), b"")

    def test_other_commands_relayed_untouched(self) -> None:
        """A command that is not the proxy's reaches the backend byte for byte."""
        sent = command_packet(self.protocol, "tp Steve 0 64 0")
        self.session.connection.dataReceived(sent)
        self.assertEqual(self.upstream(), sent)
        self.assertEqual(self.received(), [])

    def test_plugin_message_to_player(self) -> None:
        """A plugin's player.send_message arrives in the version's chat packet."""
        self.session.connection.player.send_message("Welcome")
        self.assertEqual(self.received(), [expected_message(self.protocol, "Welcome")])

    def test_bungeecord_message_to_player(self) -> None:
        """A backend's BungeeCord Message and MessageRaw (on the version's channel name)
        reach the player in the version's chat packet."""
        channel = bungee.channel_for(self.protocol)
        for fields in ((bungee.encode_utf("Message"), bungee.encode_utf("Steve"), bungee.encode_utf("Hi all")),
                       (bungee.encode_utf("MessageRaw"), bungee.encode_utf("ALL"), bungee.encode_utf('{"text":"Hi all"}'))):
            self.session.backend.dataReceived(packet(self.ids.play_custom_payload,
                                                     encode_string(channel) + b"".join(fields)))
        self.assertEqual(self.received(), [expected_message(self.protocol, "Hi all")] * 2)

    def test_transfer_only_where_the_version_has_it(self) -> None:
        """A plugin transferring a player whose version has no Transfer packet (before
        1.20.5) gets a ValueError saying so, and nothing is sent."""
        player = self.session.connection.player
        if self.ids.play_transfer is None:
            with self.assertRaises(ValueError) as raised:
                player.transfer("play.example.net")
            self.assertIn("Transfer packet", str(raised.exception))
            self.assertEqual(self.received(), [])
        else:
            player.transfer("play.example.net")
            self.assertEqual(self.received(), [(self.ids.play_transfer,
                                                encode_string("play.example.net") + encode_varint(25565))])

    def test_kick_in_play(self) -> None:
        """A player the proxy disconnects in play gets the version's kick packet (JSON before 1.20.3)."""
        self.session.connection.disconnect("Bye now")
        self.assertEqual(self.received(), [(self.ids.play_kick, text_field(self.protocol, "Bye now"))])

    def test_backend_kick_reason_read(self) -> None:
        """A backend's kick reason is read in the version's text format (for the log and plugins)."""
        self.session.backend.dataReceived(packet(self.ids.play_kick, text_field(self.protocol, "Banned")))
        reasons = [e.get("reason") for e in self.rig.log_events if "kicked" in e.get("log_format", "")]
        self.assertEqual(reasons, ["Banned"])
        self.assertEqual(self.received(), [(self.ids.play_kick, text_field(self.protocol, "Banned"))])

    def test_cancelled_command_relays_nothing(self) -> None:
        """A plugin cancelling an unsigned backend command keeps it from the backend."""
        self.rig.core.events.subscribe(PlayerCommandEvent, lambda event: event.cancel())
        self.session.connection.dataReceived(command_packet(self.protocol, "tp Steve 0 64 0"))
        self.assertEqual(self.upstream(), b"")

    def test_rewritten_command(self) -> None:
        """A plugin's rewrite of an unsigned command reaches the backend in the version's packet."""
        self.rig.core.events.subscribe(PlayerCommandEvent, lambda event: event.rewrite("spawn"))
        self.session.connection.dataReceived(command_packet(self.protocol, "tp Steve 0 64 0"))
        self.assertEqual(self.upstream(), command_packet(self.protocol, "spawn"))


class LegacyChatTests:
    """Before 1.19 chat and commands share one packet."""

    def test_rewrite_within_the_versions_limit(self) -> None:
        """A rewrite longer than the backend accepts (100 characters before 1.11, 256 after)
        is refused and the line sent as typed."""
        self.rig.core.events.subscribe(PlayerChatEvent, lambda event: event.rewrite("x" * 150))
        chat = self.ids.play_chat_legacy_serverbound
        self.session.connection.dataReceived(packet(chat, encode_string("hello")))
        expected = "hello" if self.protocol < 315 else "x" * 150
        self.assertEqual(self.upstream(), packet(chat, encode_string(expected)))

    def test_plain_chat_relayed_untouched(self) -> None:
        """A chat line that does not start with "/" goes to the backend as sent."""
        sent = packet(self.ids.play_chat_legacy_serverbound, encode_string("glist please"))
        self.session.connection.dataReceived(sent)
        self.assertEqual(self.upstream(), sent)

    def test_chat_event_rewrites_a_line(self) -> None:
        """A plugin may rewrite an (unsigned) chat line of an old client."""
        self.rig.core.events.subscribe(PlayerChatEvent, lambda event: event.rewrite("hello there"))
        chat = self.ids.play_chat_legacy_serverbound
        self.session.connection.dataReceived(packet(chat, encode_string("hello")))
        self.assertEqual(self.upstream(), packet(chat, encode_string("hello there")))


class SignedCommandTests:
    """1.19 on: commands carry the signing fields (in chat_command_signed from 1.20.5)."""

    def test_signed_proxy_command_keeps_the_chain(self) -> None:
        """A proxy command with argument signatures and seen messages is run by the proxy; the
        backend gets the acknowledgement of the seen messages instead (from 1.19.1), as the
        command would have carried it."""
        self.session.connection.dataReceived(command_packet(self.protocol, "glist", signatures=1, seen=2))
        self.assertEqual(len(self.received()), 1)
        sent = frames(self.upstream())
        ack = self.ids.play_message_acknowledgement
        if self.protocol == 759:
            self.assertEqual(sent, [])
        elif self.protocol == 760:
            seen = encode_varint(2) + (bytes(16) + encode_varint(2) + b"ok") * 2 + encode_bool(False)
            self.assertEqual(sent, [(ack, seen)])
        else:
            self.assertEqual(sent, [(ack, encode_varint(2))])

    def test_nothing_seen_nothing_acknowledged(self) -> None:
        """A proxy command that acknowledges nothing is simply not relayed."""
        self.session.connection.dataReceived(command_packet(self.protocol, "glist", signatures=1))
        self.assertEqual(self.upstream(), b"")

    def test_signed_command_not_rewritten(self) -> None:
        """A plugin cannot rewrite a command with argument signatures: it goes on as sent."""
        self.rig.core.events.subscribe(PlayerCommandEvent, lambda event: event.rewrite("spawn"))
        sent = command_packet(self.protocol, "msg Alex hi", signatures=1)
        self.session.connection.dataReceived(sent)
        self.assertEqual(self.upstream(), sent)

    def test_malformed_command_left_to_the_backend(self) -> None:
        """A chat_command cut short is not the proxy's to run: it passes on for the backend to refuse."""
        sent = packet(self.ids.play_chat_command, encode_string("glist") + b"\x00\x01")
        self.session.connection.dataReceived(sent)
        self.assertEqual(self.upstream(), sent)
        self.assertEqual(self.received(), [])


def old_completion_request(protocol: int, text: str) -> bytes:
    ids = packet_ids(protocol)
    fields = encode_string(text)
    if protocol > 47:
        fields += encode_bool(False)                           # assume command
    return packet(ids.play_tab_complete_request, fields + encode_bool(False))  # no looked-at block


def old_matches(matches: list[str]) -> bytes:
    return encode_varint(len(matches)) + b"".join(encode_string(m) for m in matches)


class OldCompletionTests:
    """1.8 – 1.12.2: words in, a list of matches out, no transaction id."""

    def test_command_names_merged(self) -> None:
        """"/se" goes to the backend; its answer reaches the player with the proxy's
        commands that match and that the player may run (not the admin's /send) added."""
        request = old_completion_request(self.protocol, "/se")
        self.session.connection.dataReceived(request)
        self.assertEqual(self.upstream(), request)
        self.session.backend.dataReceived(packet(self.ids.play_tab_complete_response, old_matches(["/seed"])))
        self.assertEqual(self.received(),
                         [(self.ids.play_tab_complete_response, old_matches(["/seed", "/server"]))])

    def test_proxy_arguments_answered_here(self) -> None:
        """"/server l" is completed by the proxy; the backend is not asked."""
        self.session.connection.dataReceived(old_completion_request(self.protocol, "/server l"))
        self.assertEqual(self.upstream(), b"")
        self.assertEqual(self.received(), [(self.ids.play_tab_complete_response, old_matches(["lobby"]))])

    def test_other_lines_untouched(self) -> None:
        """Completing a player name in chat is the backend's, answer and all."""
        self.session.connection.dataReceived(old_completion_request(self.protocol, "hello Ste"))
        answer = packet(self.ids.play_tab_complete_response, old_matches(["Steve"]))
        self.session.backend.dataReceived(answer)
        self.assertEqual(self.session.sent(), answer)

    def test_answers_matched_in_order(self) -> None:
        """Two requests in flight: each answer is merged (or not) as its own request asked."""
        self.session.connection.dataReceived(old_completion_request(self.protocol, "hi Ste")
                                             + old_completion_request(self.protocol, "/gl"))
        response = self.ids.play_tab_complete_response
        self.session.backend.dataReceived(packet(response, old_matches(["Steve"]))
                                          + packet(response, old_matches([])))
        self.assertEqual(self.received(), [(response, old_matches(["Steve"])), (response, old_matches(["/glist"]))])

    def test_pending_requests_bounded(self) -> None:
        """A client cannot make the proxy remember unanswered requests without end."""
        for _ in range(50):
            self.session.connection.dataReceived(old_completion_request(self.protocol, "/x"))
        self.assertEqual(len(frames(self.upstream())), 8)


class NewCompletionTests:
    """1.13 on: Brigadier suggestions with a transaction id."""

    def test_proxy_arguments_answered_here(self) -> None:
        """"/server l" is completed by the proxy with the request's transaction id."""
        self.session.connection.dataReceived(packet(self.ids.play_tab_complete_request,
                                                    encode_varint(5) + encode_string("/server l")))
        self.assertEqual(self.upstream(), b"")
        expected = encode_varint(5) + encode_varint(8) + encode_varint(1) + encode_varint(1) + encode_string("lobby")
        self.assertEqual(self.received(), [(self.ids.play_tab_complete_response, expected + b"\x00")])


def literal(name: str, children=(), executable=False) -> bytes:
    return bytes([1 | (4 if executable else 0)]) + encode_varint(len(children)) + b"".join(
        encode_varint(c) for c in children) + encode_string(name)


def argument(protocol: int, name: str, parser: str, properties: bytes, executable=True, suggestions=None) -> bytes:
    """An argument node as the version writes it: parser by name before 1.19, by id after."""
    flags = 2 | (4 if executable else 0) | (0x10 if suggestions else 0)
    if protocol < 759:
        parser_bytes = encode_string(parser)
    else:
        table = json.loads(open("mcproxy/wire/command_parsers.json").read())["protocols"][str(protocol)]
        parser_bytes = encode_varint([n for n, _ in table].index(parser))
    out = bytes([flags]) + encode_varint(0) + encode_string(name) + parser_bytes + properties
    return out + (encode_string(suggestions) if suggestions else b"")


class TreeTests:
    """1.13 on: the proxy's commands are added to the backend's Declare Commands."""

    def test_tree_merged_byte_exact(self) -> None:
        """A backend tree (root, /tp with an integer range argument, /server of its own) comes
        out with the backend's /server unlinked and the proxy's commands appended."""
        p = self.protocol
        backend_nodes = [
            bytes([0]) + encode_varint(2) + encode_varint(1) + encode_varint(3),
            literal("tp", [2]),
            argument(p, "count", "brigadier:integer", b"\x03" + (1).to_bytes(4, "big") + (9).to_bytes(4, "big")),
            literal("server", executable=True),
        ]
        tree = encode_varint(4) + b"".join(backend_nodes) + encode_varint(0)
        self.session.backend.dataReceived(packet(self.ids.play_declare_commands, tree))
        ours = ["find", "glist", "server"]  # what Steve may run, sorted; /send and /transfer are admin-only
        nodes = list(backend_nodes)
        children = [1]
        for name in ours:
            children.append(len(nodes))
            if name == "glist":
                nodes.append(literal(name, executable=True))
            else:
                nodes.append(literal(name, [len(nodes) + 1], executable=True))
                nodes.append(argument(p, "args", "brigadier:string", encode_varint(2),
                                      suggestions="minecraft:ask_server"))
        nodes[0] = bytes([0]) + encode_varint(len(children)) + b"".join(encode_varint(c) for c in children)
        expected = encode_varint(len(nodes)) + b"".join(nodes) + encode_varint(0)
        self.assertEqual(self.received(), [(self.ids.play_declare_commands, expected)])


def _family(protocol: int, *mixins):
    name = f"Protocol{protocol}Tests"
    cls = type(name, (*mixins, FamilyTests, SynchronousTestCase),
               {"protocol": protocol, "__doc__": f"{FAMILIES[protocol]} ({protocol})."})
    globals()[name] = cls


for _protocol in FAMILIES:
    _mixins = []
    if packet_ids(_protocol).play_chat_legacy_serverbound is not None:
        _mixins.append(LegacyChatTests)
    if _protocol >= 759:
        _mixins.append(SignedCommandTests)
    if packet_ids(_protocol).play_declare_commands is None:
        _mixins.append(OldCompletionTests)
    else:
        _mixins.extend((NewCompletionTests, TreeTests))
    _family(_protocol, *_mixins)
del _protocol, _mixins


class CoverageTests(SynchronousTestCase):
    def test_families_cover_every_command_layout(self) -> None:
        """Every generation of chat_command and chat layouts in the data has a family above."""
        from mcproxy.wire.packets import Direction, State
        from mcproxy.wire.protocols import known_protocols, protocol_info

        def shape(protocol: int) -> str:
            info = protocol_info(protocol)
            return json.dumps([info.layout(State.PLAY, Direction.SERVERBOUND, name)
                               for name in ("chat", "chat_command", "tab_complete")])

        every = {shape(p) for p in known_protocols() if protocol_info(p).source == "minecraft-data"}
        self.assertEqual(every - {shape(p) for p in FAMILIES}, set())
