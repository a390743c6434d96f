"""Per-server settings: each backend's own forwarding mode and PROXY header."""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid

from twisted.internet.testing import MemoryReactorClock, StringTransport
from twisted.trial.unittest import SynchronousTestCase

from mcproxy.config import ConfigError, Server, load_proxy_config
from mcproxy.proxy.auth import GameProfile
from mcproxy.proxy.backend import BackendFactory, BackendLogin, from_player
from mcproxy.wire.packets import packet_ids
from mcproxy.proxy.routing import Router, ServerAddress
from mcproxy.wire.handshake import parse_handshake
from mcproxy.wire.proxy_protocol import V2_SIGNATURE
from mcproxy.wire.types import encode_string, encode_varint
from twisted.internet.address import IPv4Address, UNIXAddress

SECRET = "per-server-test-" + "0123456789abcdef" * 3


def _login(mode: str = "modern") -> BackendLogin:
    return BackendLogin(profile=GameProfile(uuid.UUID(int=7), "Steve", ()), protocol=767, host="play.example.com",
                        port=25565, address="127.0.0.7", mode=mode, secret=b"s" * 32,
                        source=("127.0.0.7", 50000), destination=("127.0.0.1", 25565))


class LoginForServerTests(SynchronousTestCase):
    def test_plain_server_keeps_the_login(self) -> None:
        """A server without its own settings gets the login exactly as the proxy made it."""
        login = _login()
        self.assertIs(ServerAddress("127.0.0.1", 1).login_for(login), login)

    def test_overrides(self) -> None:
        """A server's forwarding replaces the proxy's; its proxy_protocol is added."""
        login = ServerAddress("127.0.0.1", 1, "legacy", "v2").login_for(_login("modern"))
        self.assertEqual((login.mode, login.proxy_protocol), ("legacy", "v2"))
        login = ServerAddress("127.0.0.1", 1, "", "v1").login_for(_login("modern"))
        self.assertEqual((login.mode, login.proxy_protocol), ("modern", "v1"))

    def test_router_dials_with_the_server_settings(self) -> None:
        """The router hands each server's backend connection that server's login."""
        reactor = MemoryReactorClock()
        router = Router(reactor, {"classic": ServerAddress("127.0.0.1", 25567, "legacy", "v2")}, ["classic"], {},
                        concurrent_max=4, connect_timeout=5, login_timeout=5, max_frame_size=2097151)
        router.connect(_login("modern"), ["classic"])
        factory = reactor.tcpClients[0][2]
        protocol = factory.buildProtocol(None)
        login = protocol.login
        self.assertEqual((login.mode, login.proxy_protocol), ("legacy", "v2"))

    def test_secret_stays_out_of_repr(self) -> None:
        """A login in a log line or traceback does not show the shared secret."""
        self.assertNotIn("sss", repr(_login()))


class ProxyHeaderOnTheWireTests(SynchronousTestCase):
    def connect(self, login: BackendLogin) -> bytes:
        protocol = BackendFactory(login, packet_ids(767), 2097151).buildProtocol(None)
        transport = StringTransport()
        protocol.makeConnection(transport)
        return transport.value()

    def test_header_comes_first(self) -> None:
        """With proxy_protocol the very first bytes are the header naming the player's address."""
        login = ServerAddress("127.0.0.1", 1, "", "v2").login_for(_login())
        sent = self.connect(login)
        self.assertTrue(sent.startswith(V2_SIGNATURE + b"\x21\x11\x00\x0c" + bytes([127, 0, 0, 7])))
        self.assertEqual(sent[28:], self.connect(_login()))

    def test_v1(self) -> None:
        login = ServerAddress("127.0.0.1", 1, "", "v1").login_for(_login())
        self.assertTrue(self.connect(login).startswith(b"PROXY TCP4 127.0.0.7 127.0.0.1 50000 25565\r\n"))

    def test_no_header_by_default(self) -> None:
        """Without proxy_protocol the handshake frame comes first, as before."""
        self.assertFalse(self.connect(_login()).startswith(b"PROXY"))
        self.assertNotIn(V2_SIGNATURE, self.connect(_login()))

    def test_from_player(self) -> None:
        """The addresses come from the player's transport; a UNIX socket has none."""
        transport = StringTransport(hostAddress=IPv4Address("TCP", "127.0.0.1", 25565),
                                    peerAddress=IPv4Address("TCP", "127.0.0.7", 50000))
        handshake = parse_handshake(b"\x00" + encode_varint(767) + encode_string("h\x00FML3\x00") + b"\x63\xdd\x02")
        self.assertEqual(from_player(transport, handshake), {"source": ("127.0.0.7", 50000),
                                                             "destination": ("127.0.0.1", 25565),
                                                             "fml_marker": "\x00FML3\x00"})
        transport = StringTransport(hostAddress=UNIXAddress("/s"), peerAddress=UNIXAddress(None))
        self.assertEqual(from_player(transport, handshake)["source"], None)


class ServerTableConfigTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.dir = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, self.dir, True)

    def load(self, servers: str, forwarding: str = "none", secret: bool = True):
        path = os.path.join(self.dir, "proxy.toml")
        security = f'[security]\nproxy_secret = "{SECRET}"\n' if secret else ""
        with open(path, "w") as handle:
            handle.write(f'[proxy]\nforwarding = "{forwarding}"\n[messaging]\nenabled = false\n{security}'
                         f'[servers]\ntry = ["lobby"]\n{servers}')
        return load_proxy_config(path)

    def error(self, servers: str, **kwargs) -> str:
        return str(self.assertRaises(ConfigError, self.load, servers, **kwargs)).split(": ", 1)[1]

    def test_both_forms(self) -> None:
        """The plain "host:port" form and the table form live side by side."""
        config = self.load('lobby = "127.0.0.1:25566"\n[servers.classic]\naddress = "10.0.0.2:25567"\n'
                           'forwarding = "legacy"\nproxy_protocol = "v2"\n')
        self.assertEqual(config.servers["lobby"], Server("127.0.0.1", 25566))
        self.assertEqual(config.servers["classic"], Server("10.0.0.2", 25567, "legacy", "v2"))

    def test_table_defaults(self) -> None:
        """A table with only an address inherits the proxy's forwarding and sends no header."""
        config = self.load('[servers.lobby]\naddress = "127.0.0.1:25566"\n')
        self.assertEqual(config.servers["lobby"], Server("127.0.0.1", 25566, "", ""))

    def test_bad_tables(self) -> None:
        """Each mistake in a server table is named by its full key."""
        self.assertEqual(self.error('[servers.lobby]\nforwarding = "legacy"\n'),
                         'servers.lobby.address: is missing: give the server\'s "host:port"')
        self.assertEqual(self.error('[servers.lobby]\naddress = "nope"\n'),
                         "servers.lobby.address: must be \"host:port\", not 'nope'")
        self.assertEqual(self.error('[servers.lobby]\naddress = "h:1"\nforwarding = "velocity"\n'),
                         "servers.lobby.forwarding: must be one of none, legacy, bungeeguard, modern, "
                         "not 'velocity'")
        self.assertEqual(self.error('[servers.lobby]\naddress = "h:1"\nproxy_protocol = "v3"\n'),
                         "servers.lobby.proxy_protocol: must be one of , v1, v2, not 'v3'")
        self.assertEqual(self.error('[servers.lobby]\naddress = "h:1"\nproxy_protocl = "v2"\n'),
                         "servers.lobby.proxy_protocl: unknown key (did you mean 'proxy_protocol'?)")

    def test_modern_server_needs_the_secret(self) -> None:
        """A server forwarding in modern mode needs the secret even when the proxy's mode does not."""
        message = self.error('[servers.lobby]\naddress = "h:1"\nforwarding = "modern"\n', secret=False)
        self.assertIn("servers.lobby.forwarding = 'modern'", message)


BACKEND = f"""[backend]
bind = "{{bind}}"
server_id = "{{server_id}}"
enforce_proxy = {{enforce}}
forwarding = "{{backend_forwarding}}"
proxy_secret = "{SECRET}"

[messaging]
enabled = false
"""


class CheckConfigPairTests(SynchronousTestCase):
    """``mcproxyctl check-config proxy.toml backend.toml`` warns about pairs that cannot work."""

    def setUp(self) -> None:
        self.dir = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, self.dir, True)

    def write(self, name: str, text: str) -> str:
        path = os.path.join(self.dir, name)
        with open(path, "w") as handle:
            handle.write(text)
        return path

    def check(self, proxy_forwarding: str, server: str, server_id: str = "lobby", enforce: str = "true",
              bind: str = "tcp:25566:interface=127.0.0.1",
              backend_forwarding: str = "modern") -> tuple[int, list[str]]:
        from contextlib import redirect_stdout
        from io import StringIO

        from mcproxy.ctl.cli import main

        proxy = self.write("proxy.toml", f'[proxy]\nforwarding = "{proxy_forwarding}"\n[messaging]\nenabled = false\n'
                                         f'[security]\nproxy_secret = "{SECRET}"\n[servers]\ntry = ["lobby"]\n{server}')
        backend = self.write("backend.toml", BACKEND.format(bind=bind, server_id=server_id, enforce=enforce,
                                                                  backend_forwarding=backend_forwarding))
        out = StringIO()
        with redirect_stdout(out):
            code = main(["check-config", proxy, backend])
        return code, [line for line in out.getvalue().splitlines() if line.startswith("warning:")]

    def test_matching_pair(self) -> None:
        """Modern forwarding to an enforcing backend: no warning."""
        self.assertEqual(self.check("modern", 'lobby = "127.0.0.1:25566"\n'), (0, []))

    def test_proxy_mode_cannot_satisfy_enforce_proxy(self) -> None:
        """Legacy forwarding (the proxy's) to a backend enforcing the proxy is flagged."""
        code, warnings = self.check("legacy", 'lobby = "127.0.0.1:25566"\n')
        self.assertEqual(code, 0)
        self.assertEqual(len(warnings), 1)
        self.assertIn("backend.toml: backend.forwarding: ", warnings[0])
        self.assertIn("'legacy' forwarding (proxy.forwarding)", warnings[0])
        self.assertIn("accepts 'modern' forwarding only", warnings[0])

    def test_backend_reading_the_proxy_mode(self) -> None:
        """A backend set to read the proxy's legacy or BungeeGuard forwarding is not
        flagged; one reading another mode is."""
        for mode in ("legacy", "bungeeguard"):
            self.assertEqual(self.check(mode, 'lobby = "h:1"\n', backend_forwarding=mode), (0, []))
        _, warnings = self.check("legacy", 'lobby = "h:1"\n', backend_forwarding="bungeeguard")
        self.assertIn("accepts 'bungeeguard' forwarding only", warnings[0])

    def test_server_override_is_what_counts(self) -> None:
        """The server's own forwarding decides, whichever way it points."""
        _, warnings = self.check("modern", '[servers.lobby]\naddress = "127.0.0.1:25566"\nforwarding = "none"\n')
        self.assertIn("(servers.lobby.forwarding)", warnings[0])
        self.assertEqual(self.check("none", '[servers.lobby]\naddress = "h:1"\nforwarding = "modern"\n'), (0, []))
        self.assertEqual(self.check("legacy", 'lobby = "h:1"\n', enforce="false"), (0, []))

    def test_missing_haproxy_listener(self) -> None:
        """A PROXY header to a plain listener is flagged; a backend the proxy does not list is not judged."""
        self.assertEqual(self.check("legacy", 'lobby = "h:1"\n', server_id="other")[1], [])
        _, warnings = self.check("modern", '[servers.lobby]\naddress = "h:1"\nproxy_protocol = "v2"\n')
        self.assertIn("backend.bind: ", warnings[0])
        _, warnings = self.check("modern", '[servers.lobby]\naddress = "h:1"\nproxy_protocol = "v2"\n',
                                 bind="haproxy:tcp:25566:interface=127.0.0.1")
        self.assertEqual(warnings, [])


class PerServerReloadTests(SynchronousTestCase):
    def test_settings_apply_on_reload(self) -> None:
        """A server's forwarding and PROXY header change with a reload, for the next logins."""
        from pathlib import Path

        from twisted.logger import Logger

        from mcproxy.proxy.service import ProxyProcess
        from tests.test_proxy_plugins import proxy_config

        folder = Path(tempfile.mkdtemp())
        self.addCleanup(shutil.rmtree, folder, True)
        table = '[servers.game]\naddress = "127.0.0.1:25567"\nforwarding = "{}"\nproxy_protocol = "{}"\n'
        path = proxy_config(folder, table.format("legacy", ""), messaging=False)
        process = ProxyProcess(load_proxy_config(path), MemoryReactorClock(), Logger(observer=lambda e: None))
        self.assertEqual(process.router.servers["game"], ServerAddress("127.0.0.1", 25567, "legacy", ""))
        proxy_config(folder, table.format("modern", "v1"), messaging=False)
        self.assertTrue(process.reload())
        self.assertEqual(process.router.servers["game"], ServerAddress("127.0.0.1", 25567, "modern", "v1"))
        self.assertEqual(process.router.servers["lobby"], ServerAddress("127.0.0.1", 25566))


class StatusPassthroughHeaderTests(SynchronousTestCase):
    def test_status_query_sends_a_local_header(self) -> None:
        """A passed-through status query to a PROXY-aware server starts with a header naming no player."""
        from mcproxy.proxy.passthrough import BackendStatusQuery

        for version, header in (("v2", V2_SIGNATURE + b"\x20\x00\x00\x00"), ("v1", b"PROXY UNKNOWN\r\n"),
                                ("", b"")):
            query = BackendStatusQuery("lobby", 25566, 769, version)
            transport = StringTransport()
            query.makeConnection(transport)
            plain = BackendStatusQuery("lobby", 25566, 769)
            plain_transport = StringTransport()
            plain.makeConnection(plain_transport)
            self.assertEqual(transport.value(), header + plain_transport.value())
