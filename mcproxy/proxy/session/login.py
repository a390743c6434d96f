"""The login state: Login Start, encryption and the session server, the routing cookie."""

from __future__ import annotations

import os
import time

from twisted.python.failure import Failure

from mcproxy.proxy.auth import AuthenticationError, GameProfile, offline_profile
from mcproxy.proxy.cookies import MAX_COOKIE_BYTES, ROUTE_COOKIE, CookieRejected, decode_route
from mcproxy.proxy.events import Denied, LoginEvent
from mcproxy.proxy.probes import probe_profile
from mcproxy.proxy.session.base import Phase, Refusal, SessionHandler
from mcproxy.proxy.session.connecting import ConnectingHandler
from mcproxy.proxy.throttle import address_key
from mcproxy.wire.cipher import rsa_decrypt, server_hash
from mcproxy.wire.handshake import Intent
from mcproxy.wire.login import (
    encode_encryption_request, read_encryption_response, read_login_start, salt_signature_valid,
)
from mcproxy.wire.names import is_valid_username
from mcproxy.wire.types import encode_string


class LoginHandler(SessionHandler):
    """From Login Start to an authenticated, admitted player with a list of servers to try.

    Its steps (``phase``) each accept one packet: Login Start, then Encryption Response
    in online mode, then (for a transferred player) the routing cookie.
    """

    phase = Phase.LOGIN
    in_login = True

    def __init__(self, connection) -> None:
        super().__init__(connection)
        self._name = ""
        self._verify_token = b""
        #: A 1.19 – 1.19.2 client's profile key, which may sign instead of returning the token.
        self._public_key: bytes | None = None

    def packet(self, packet_id: int, reader) -> None:
        ids = self.connection.ids
        phase = self.phase
        if phase is Phase.LOGIN and packet_id == ids.login_start:
            self._login_start(reader)
        elif phase is Phase.ENCRYPTION and packet_id == ids.login_encryption_response:
            self._encryption_response(reader)
        elif phase is Phase.ROUTE_COOKIE and packet_id == ids.login_cookie_response:
            self._route_cookie(reader)
        else:
            raise Refusal("UNEXPECTED_PACKET")

    def _login_start(self, reader) -> None:
        start = read_login_start(self.connection.login_layout, reader)
        name = start.name
        if not is_valid_username(name):
            raise Refusal("BAD_USERNAME", "Invalid username.")
        connection = self.connection
        connection.login_started = time.monotonic()
        proxy = connection.proxy
        if not proxy.login_limiter.allow(address_key(connection.address)):
            raise Refusal("LOGIN_RATE", "You are logging in too fast, try again later.")
        if proxy.online_count() >= proxy.settings.max_players:
            raise Refusal("SERVER_FULL", "The server is full.")
        self._name = name
        self._public_key = start.public_key
        if proxy.settings.online_mode:
            self._verify_token = os.urandom(4)
            fields = encode_encryption_request(connection.login_layout, proxy.keypair.public_der, self._verify_token)
            self.phase = Phase.ENCRYPTION
            connection.send(connection.ids.login_encryption_request, fields)
        else:
            self._authenticated(offline_profile(name))

    def _encryption_response(self, reader) -> None:
        connection = self.connection
        response = read_encryption_response(connection.login_layout, reader)
        keypair = connection.proxy.keypair
        try:
            shared_secret = rsa_decrypt(keypair.private_key, response.encrypted_secret)
            if response.encrypted_token is not None:
                proven = rsa_decrypt(keypair.private_key, response.encrypted_token) == self._verify_token
            else:
                # 1.19 – 1.19.2: a client with a profile key signs the token and a salt instead.
                proven = self._public_key is not None and salt_signature_valid(
                    self._public_key, self._verify_token, response.salt, response.signature)
        except ValueError:
            raise Refusal("BAD_ENCRYPTION", "Encryption failed.") from None
        if len(shared_secret) != 16 or not proven:
            raise Refusal("BAD_ENCRYPTION", "Encryption failed.")
        connection.codec.enable_encryption(shared_secret)
        self.phase = Phase.AUTHENTICATING
        digest = server_hash("", shared_secret, keypair.public_der)
        d = connection.proxy.session_server.has_joined(self._name, digest)
        d.addCallbacks(self._authenticated, self._authentication_failed)

    def _authentication_failed(self, failure: Failure) -> None:
        if not self.active:
            return
        connection = self.connection
        error = failure.value
        if isinstance(error, AuthenticationError):
            connection.proxy.log.info("authentication failed: {reason}", reason=error.reason,
                                      correlation_id=connection.correlation_id)
            connection.refuse(Refusal(error.reason, "Failed to verify username!"))
        else:
            connection.proxy.log.failure("authentication error", failure, correlation_id=connection.correlation_id)
            connection.refuse(Refusal("AUTHENTICATION_ERROR", "Failed to verify username!"))

    def _authenticated(self, profile: GameProfile) -> None:
        if not self.active:
            return
        connection = self.connection
        connection.probe = connection.proxy.probe_names.take(profile.name)
        connection.profile = probe_profile(profile, connection.probe)
        d = connection.proxy.network.claim(connection)
        d.addCallbacks(self._claimed, self._authentication_failed)

    def _claimed(self, admitted: bool) -> None:
        """The duplicate-login check answered (at once, or from Redis for a cluster)."""
        if not self.active:
            return
        connection = self.connection
        proxy = connection.proxy
        profile = connection.profile
        if not admitted:
            connection.profile = None
            connection.refuse(Refusal("ALREADY_CONNECTED", "You are already connected to this proxy!"))
            return
        proxy.log.info("player {player} ({uuid}) logging in from {peer}", player=profile.name,
                       uuid=str(profile.id), peer=connection.address, correlation_id=connection.correlation_id)
        # From here on the player is owed exactly one DisconnectEvent.
        connection.announced = True
        result = proxy.events.fire(LoginEvent(connection.player)).result
        if not self.active:
            return
        if isinstance(result, Denied):
            connection.refuse(Refusal("PLUGIN_DENIED", result.message))
            return
        if connection.handshake.intent is Intent.TRANSFER and proxy.settings.secret:
            # A player we (or a proxy sharing our secret) transferred may carry where to go.
            self.phase = Phase.ROUTE_COOKIE
            connection.send(connection.ids.login_cookie_request, encode_string(ROUTE_COOKIE))
            return
        connection.set_handler(ConnectingHandler(connection, proxy.router.candidates(connection.handshake.host)))

    def _route_cookie(self, reader) -> None:
        key = reader.string(32767)
        payload = reader.byte_array(MAX_COOKIE_BYTES) if reader.bool() else b""
        reader.expect_end()
        if key != ROUTE_COOKIE:
            raise Refusal("UNEXPECTED_PACKET")
        connection = self.connection
        proxy = connection.proxy
        names = proxy.router.candidates(connection.handshake.host)
        if payload:
            settings = proxy.settings
            try:
                server = decode_route(payload, (settings.secret, settings.secret_previous), connection.profile.id,
                                      proxy.reactor.seconds())
            except CookieRejected as rejected:
                proxy.log.info("routing cookie refused: {detail}", detail=rejected.detail,
                               correlation_id=connection.correlation_id)
                raise Refusal(rejected.reason, "Your transfer could not be verified.") from None
            if server in proxy.router.servers:
                names = (server, *(name for name in names if name != server))
            else:
                proxy.log.info("routing cookie names unknown server {server}", server=server,
                               correlation_id=connection.correlation_id)
        connection.set_handler(ConnectingHandler(connection, names))
