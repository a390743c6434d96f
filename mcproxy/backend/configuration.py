"""The limbo's configuration phase (1.20.2 on): brand, feature flags, registries, finish.

1.20.2 – 1.20.4 get every registry in one codec; from 1.20.5 the client first says
which data packs it knows, and registries it shares with us go by reference.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mcproxy.wire.types import Reader, encode_string

if TYPE_CHECKING:
    from mcproxy.backend.server import LimboProtocol

#: The most known packs a client may list.
MAX_KNOWN_PACKS = 64


class LimboConfiguration:
    """One connection's way through configuration."""

    def __init__(self, player: LimboProtocol) -> None:
        self.player = player

    def on_login_acknowledged(self, reader: Reader) -> None:
        reader.expect_end()
        player = self.player
        packets = player.packets
        greeting = [packets.configuration_custom_payload("minecraft:brand", encode_string("mcproxy")),
                    packets.feature_flags(["minecraft:vanilla"])]
        if packets.ids.config_select_known_packs is None:
            codec = player.factory.registries.world(player.protocol_version).codec_nbt(named=False)
            player.finishing_configuration()
            player.send_many([*greeting, packets.registry_codec(codec), packets.finish_configuration()])
            return
        player.choosing_packs()
        registries = player.factory.registries.for_protocol(player.protocol_version)
        player.send_many([*greeting, packets.select_known_packs(
            [("minecraft", "core", release) for release in registries.releases])])

    def on_known_packs(self, reader: Reader) -> None:
        player = self.player
        count = reader.varint()
        if not 0 <= count <= MAX_KNOWN_PACKS:
            player.fail("ILLEGAL_PACKET", "Too many known packs")
            return
        packs = {(reader.string(), reader.string(), reader.string()) for _ in range(count)}
        reader.expect_end()
        factory = player.factory
        registries = factory.registries.for_protocol(player.protocol_version)
        shared = any(("minecraft", "core", release) in packs for release in registries.releases)
        player.finishing_configuration()
        player.transport.write(factory.registry_frames(player.protocol_version, player.compression, shared))
        player.send_packet(player.packets.finish_configuration())

    def on_finish_configuration(self, reader: Reader) -> None:
        reader.expect_end()
        self.player.start_play()
