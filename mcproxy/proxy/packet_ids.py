"""The packet ids the proxy itself reads or writes, resolved once per protocol version."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from mcproxy.wire.packets import Direction, PacketTable, State

_C = Direction.CLIENTBOUND
_S = Direction.SERVERBOUND

_WANTED = {
    "login_disconnect": (State.LOGIN, _C, "disconnect"),
    "login_encryption_request": (State.LOGIN, _C, "encryption_begin"),
    "login_success": (State.LOGIN, _C, "success"),
    "login_compress": (State.LOGIN, _C, "compress"),
    "login_plugin_request": (State.LOGIN, _C, "login_plugin_request"),
    "login_cookie_request": (State.LOGIN, _C, "cookie_request"),
    "login_start": (State.LOGIN, _S, "login_start"),
    "login_encryption_response": (State.LOGIN, _S, "encryption_begin"),
    "login_plugin_response": (State.LOGIN, _S, "login_plugin_response"),
    "login_acknowledged": (State.LOGIN, _S, "login_acknowledged"),
    "login_cookie_response": (State.LOGIN, _S, "cookie_response"),
    "config_disconnect": (State.CONFIGURATION, _C, "disconnect"),
    "config_finish": (State.CONFIGURATION, _C, "finish_configuration"),
    "config_transfer": (State.CONFIGURATION, _C, "transfer"),
    "config_store_cookie": (State.CONFIGURATION, _C, "store_cookie"),
    "config_cookie_request": (State.CONFIGURATION, _C, "cookie_request"),
    "config_keep_alive": (State.CONFIGURATION, _C, "keep_alive"),
    "config_finish_ack": (State.CONFIGURATION, _S, "finish_configuration"),
    "config_cookie_response": (State.CONFIGURATION, _S, "cookie_response"),
    "config_keep_alive_response": (State.CONFIGURATION, _S, "keep_alive"),
    "config_custom_payload": (State.CONFIGURATION, _C, "custom_payload"),
    "config_custom_payload_serverbound": (State.CONFIGURATION, _S, "custom_payload"),
    "play_kick": (State.PLAY, _C, "kick_disconnect"),
    "play_login": (State.PLAY, _C, "login"),
    "play_start_configuration": (State.PLAY, _C, "start_configuration"),
    "play_system_chat": (State.PLAY, _C, "system_chat"),
    "play_transfer": (State.PLAY, _C, "transfer"),
    "play_declare_commands": (State.PLAY, _C, "declare_commands"),
    "play_tab_complete_response": (State.PLAY, _C, "tab_complete"),
    "play_store_cookie": (State.PLAY, _C, "store_cookie"),
    "play_cookie_request": (State.PLAY, _C, "cookie_request"),
    "play_chat_command": (State.PLAY, _S, "chat_command"),
    "play_chat_command_signed": (State.PLAY, _S, "chat_command_signed"),
    "play_configuration_acknowledged": (State.PLAY, _S, "configuration_acknowledged"),
    "play_cookie_response": (State.PLAY, _S, "cookie_response"),
    "play_tab_complete_request": (State.PLAY, _S, "tab_complete"),
    "play_chat_message": (State.PLAY, _S, "chat_message"),
    "play_message_acknowledgement": (State.PLAY, _S, "message_acknowledgement"),
    "play_custom_payload": (State.PLAY, _C, "custom_payload"),
    "play_custom_payload_serverbound": (State.PLAY, _S, "custom_payload"),
}


@dataclass(frozen=True)
class ProxyPacketIds:
    protocol: int
    login_disconnect: int
    login_encryption_request: int
    login_success: int
    login_compress: int
    login_plugin_request: int
    login_cookie_request: int
    login_start: int
    login_encryption_response: int
    login_plugin_response: int
    login_acknowledged: int
    login_cookie_response: int
    config_disconnect: int
    config_finish: int
    config_transfer: int
    config_store_cookie: int
    config_cookie_request: int
    config_keep_alive: int
    config_finish_ack: int
    config_cookie_response: int
    config_keep_alive_response: int
    config_custom_payload: int
    config_custom_payload_serverbound: int
    play_kick: int
    play_login: int
    play_start_configuration: int
    play_system_chat: int
    play_transfer: int
    play_declare_commands: int
    play_tab_complete_response: int
    play_store_cookie: int
    play_cookie_request: int
    play_chat_command: int
    play_chat_command_signed: int
    play_configuration_acknowledged: int
    play_cookie_response: int
    play_tab_complete_request: int
    play_chat_message: int
    play_message_acknowledgement: int
    play_custom_payload: int
    play_custom_payload_serverbound: int

    @property
    def login_success_has_strict_flag(self) -> bool:
        """1.20.5 to 1.21.3 end Login Success with a strict-error-handling flag."""
        return self.protocol <= 768


@lru_cache(maxsize=None)
def packet_ids(protocol: int) -> ProxyPacketIds:
    """Ids for a tier-1 ``protocol``; ``KeyError`` for any other."""
    table = PacketTable.for_protocol(protocol)
    if table is None:
        raise KeyError(protocol)
    return ProxyPacketIds(protocol=protocol, **{
        field: table.id(state, direction, name) for field, (state, direction, name) in _WANTED.items()
    })
