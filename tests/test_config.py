"""
Tests for L{mcproxy.config} and L{mcproxy.options}.
"""

from __future__ import annotations

import contextlib
import copy
import io
import operator
import os
import pickle
import secrets
import shutil
import struct
import sys
import zlib
from dataclasses import FrozenInstanceError, fields
from pathlib import Path

import toml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from twisted.application import app
from twisted.python import usage
from twisted.trial.unittest import SynchronousTestCase

from mcproxy.config import (
    AdminSection,
    BackendConfig,
    BackendMessagingSection,
    BackendSection,
    ClusterSection,
    ConfigError,
    LoggingSection,
    MessagingSection,
    PluginsSection,
    QuerySection,
    ProxyConfig,
    ProxySection,
    RateLimitsSection,
    Secret,
    Server,
    check_config,
    format_config_error,
    load_backend_config,
    load_proxy_config,
)
from mcproxy.ctl import cli as ctl
from mcproxy.options import BackendOptions, ProxyOptions

MARKER = "Qz7" + "5d41402abc4b2a76b9719d911017c592" * 2

SECRET = "mcproxy-test-" + "0123456789abcdef" * 3
OTHER_SECRET = "mcproxy-old-" + "fedcba9876543210" * 3
REPO = Path(__file__).resolve().parent.parent

PROXY_MINIMAL = f"""
[proxy]

[security]
proxy_secret = "{SECRET}"

[servers]
lobby = "127.0.0.1:25566"
try = ["lobby"]
"""

BACKEND_MINIMAL = f"""
[backend]
proxy_secret = "{SECRET}"
"""


def png(width: int, height: int) -> bytes:
    """A small valid PNG of the given size (one grey pixel per row is enough)."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        crc = zlib.crc32(kind + body)
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    rows = b"".join(b"\x00" + b"\x80" * width for _ in range(height))
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


class ConfigFileTestCase(SynchronousTestCase):
    """Write configs into a fresh directory per test and remove it afterwards."""

    def setUp(self) -> None:
        self.dir = self.mktemp()
        os.makedirs(self.dir)
        self.addCleanup(self._removeDir)

    def _removeDir(self) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)
        try:
            os.removedirs(os.path.dirname(self.dir))
        except OSError:
            pass

    def write(self, text: str | bytes, name: str = "proxy.toml") -> str:
        path = os.path.join(self.dir, name)
        data = text.encode("utf-8") if isinstance(text, str) else text
        with open(path, "wb") as handle:
            handle.write(data)
        return path

    def proxyError(self, text: str | bytes) -> ConfigError:
        path = self.write(text)
        error: ConfigError = self.assertRaises(ConfigError, load_proxy_config, path)
        return error

    def backendError(self, text: str | bytes) -> ConfigError:
        path = self.write(text, "backend.toml")
        error: ConfigError = self.assertRaises(ConfigError, load_backend_config, path)
        return error

    def assertProxyError(self, text: str, key: str, reason: str) -> None:
        path = os.path.join(self.dir, "proxy.toml")
        self.assertEqual(
            str(self.proxyError(text)), f"{path}: {key}: {reason}"
        )

    def assertBackendError(self, text: str, key: str, reason: str) -> None:
        path = os.path.join(self.dir, "backend.toml")
        self.assertEqual(
            str(self.backendError(text)), f"{path}: {key}: {reason}"
        )

    def assertProxyErrorStarts(self, text: str, key: str, start: str) -> None:
        path = os.path.join(self.dir, "proxy.toml")
        message = str(self.proxyError(text))
        self.assertTrue(
            message.startswith(f"{path}: {key}: {start}"), message
        )


class SecretTests(SynchronousTestCase):
    """
    L{Secret} holds key material without letting it be printed.
    """

    def test_redacted(self) -> None:
        """repr, str and format all show a fixed placeholder, never the value."""
        secret = Secret(SECRET.encode())
        for shown in (repr(secret), str(secret), f"{secret}", f"{secret!r}"):
            self.assertEqual(shown, "Secret(<redacted>)")

    def test_value(self) -> None:
        """The bytes are available to the code that signs with them."""
        self.assertEqual(Secret(b"abc").value, b"abc")

    def test_equality(self) -> None:
        """Secrets compare by value so a rotation can spot a reused secret."""
        self.assertEqual(Secret(b"abc"), Secret(b"abc"))
        self.assertNotEqual(Secret(b"abc"), Secret(b"abd"))

    def test_bytesOnly(self) -> None:
        """A str is refused, so the encoding used for signing is never guessed."""
        self.assertRaises(TypeError, Secret, "abc")

    def test_copy(self) -> None:
        """Copying a config shares its immutable secrets instead of failing."""
        secret = Secret(b"abc")
        self.assertIs(copy.deepcopy(secret), secret)
        self.assertIs(copy.copy(secret), secret)

    def test_notPickled(self) -> None:
        """A Secret cannot be serialised out of the process by accident."""
        self.assertRaises(TypeError, pickle.dumps, Secret(b"abc"))


class ConfigErrorTests(SynchronousTestCase):
    """
    L{ConfigError} renders the operator-facing one-line message.
    """

    def test_format(self) -> None:
        """str() is C{file: key: reason}, the same as L{format_config_error}."""
        error = ConfigError("proxy.toml", "proxy.bind", "is wrong")
        self.assertEqual(str(error), "proxy.toml: proxy.bind: is wrong")
        self.assertEqual(
            format_config_error("proxy.toml", "proxy.bind", "is wrong"), str(error)
        )
        self.assertEqual(
            (error.file, error.key, error.reason),
            ("proxy.toml", "proxy.bind", "is wrong"),
        )


class ProxyDefaultsTests(ConfigFileTestCase):
    """
    Keys left out of C{proxy.toml} take the design's safe defaults.
    """

    def test_minimal(self) -> None:
        """A config with only a secret and a server gets every default."""
        config = load_proxy_config(self.write(PROXY_MINIMAL))
        self.assertIsInstance(config, ProxyConfig)
        self.assertEqual(config.proxy, ProxySection())
        self.assertEqual(config.messaging, MessagingSection())
        self.assertEqual(config.rate_limits, RateLimitsSection())
        # The history folder resolves against the config's folder, like every path.
        history_dir = Path(config.admin.history_dir)
        self.assertEqual((history_dir.is_absolute(), history_dir.parent), (True, Path(config.path).resolve().parent))
        self.assertEqual(config.admin, AdminSection(history_dir=str(history_dir)))
        self.assertEqual(config.logging, LoggingSection())
        self.assertEqual(dict(config.servers), {"lobby": Server("127.0.0.1", 25566)})
        self.assertEqual(config.try_order, ("lobby",))
        self.assertEqual(dict(config.forced_hosts), {})
        self.assertEqual(dict(config.motd_by_host), {})
        self.assertEqual(config.security.proxy_secret, Secret(SECRET.encode()))
        self.assertIsNone(config.security.proxy_secret_previous)

    def test_contractValues(self) -> None:
        """The defaults are the values DESIGN.md and the runbook fix."""
        proxy = ProxySection()
        self.assertEqual(proxy.bind, "tcp:25565")
        self.assertEqual(proxy.motd, "A mcproxy network")
        self.assertEqual(proxy.max_players, 500)
        self.assertTrue(proxy.online_mode)
        self.assertEqual(proxy.session_server, "https://sessionserver.mojang.com")
        self.assertEqual(proxy.session_server_ca_file, "")
        self.assertEqual(proxy.compression_threshold, 256)
        self.assertEqual(proxy.forwarding, "modern")
        self.assertEqual(proxy.favicon, "")
        self.assertFalse(proxy.accept_transfers)
        self.assertEqual(proxy.status_passthrough, "")
        self.assertEqual(proxy.handshake_timeout, 10.0)
        self.assertEqual(proxy.login_timeout, 30.0)
        self.assertEqual(proxy.connect_timeout, 5.0)
        self.assertEqual(proxy.read_timeout, 30.0)
        self.assertEqual(proxy.max_frame_size_prelogin, 32768)
        messaging = MessagingSection()
        self.assertTrue(messaging.enabled)
        self.assertEqual(messaging.bind, "tcp:25580:interface=127.0.0.1")
        self.assertEqual(messaging.control_sender_id, "proxy")
        self.assertEqual(messaging.control_max_payload, 1048576)
        self.assertEqual(messaging.control_max_clock_skew, 30)
        limits = RateLimitsSection()
        self.assertEqual(limits.handshake_concurrent_max, 256)
        self.assertEqual(limits.routing_concurrent_max, 256)
        self.assertEqual(limits.connections_per_address_rate, 5.0)
        self.assertEqual(limits.connections_per_address_burst, 20)
        self.assertEqual(AdminSection().bind, "tcp:8765:interface=127.0.0.1")

    def test_frozen(self) -> None:
        """A loaded config cannot be changed behind the validator's back."""
        config = load_proxy_config(self.write(PROXY_MINIMAL))
        self.assertRaises(FrozenInstanceError, setattr, config.proxy, "motd", "x")
        self.assertRaises(TypeError, operator.setitem, config.servers, "x", None)

    def test_fullConfig(self) -> None:
        """Every key given explicitly is read into its field."""
        config = load_proxy_config(
            self.write(
                f"""
[proxy]
bind = "haproxy:tcp:25565"
motd = "Hello"
max_players = 10
online_mode = false
session_server = "http://127.0.0.1:8080/"
compression_threshold = -1
forwarding = "legacy"
accept_transfers = true
status_passthrough = "hub"
handshake_timeout = 3
login_timeout = 12.5
connect_timeout = 1
max_frame_size_prelogin = 32768
proxy_protocol_trusted = ["10.0.0.0/8", "2001:db8::/32"]

[security]
proxy_secret = "{SECRET}"
proxy_secret_previous = "{OTHER_SECRET}"

[servers]
hub = "hub.internal:25566"
v6 = "[::1]:25567"
try = ["hub", "v6"]

[forced_hosts]
"Play.Example.com" = ["v6", "hub"]

[motd_by_host]
"play.example.com" = "Welcome"

[messaging]
enabled = false
bind = "unix:/tmp/mcproxy.sock"
control_sender_id = "edge-1"
control_max_payload = 65536
control_max_clock_skew = 5

[rate_limits]
handshake_concurrent_max = 10
routing_concurrent_max = 20
connections_per_address_rate = 0.5
connections_per_address_burst = 2
logins_per_address_rate = 0.1
logins_per_address_burst = 1

[admin]
bind = ""
token = "{OTHER_SECRET}"

[logging]
level = "DEBUG"
file = "logs/proxy.jsonl"
"""
            )
        )
        self.assertEqual(config.proxy.bind, "haproxy:tcp:25565")
        self.assertEqual(config.proxy.proxy_protocol_trusted, ("10.0.0.0/8", "2001:db8::/32"))
        self.assertEqual(config.proxy.session_server, "http://127.0.0.1:8080")
        self.assertEqual(config.proxy.compression_threshold, -1)
        self.assertEqual(config.proxy.handshake_timeout, 3.0)
        self.assertIsInstance(config.proxy.handshake_timeout, float)
        self.assertEqual(config.servers["v6"], Server("::1", 25567))
        self.assertEqual(str(config.servers["v6"]), "[::1]:25567")
        self.assertEqual(config.try_order, ("hub", "v6"))
        self.assertEqual(dict(config.forced_hosts), {"play.example.com": ("v6", "hub")})
        self.assertEqual(dict(config.motd_by_host), {"play.example.com": "Welcome"})
        self.assertEqual(
            config.security.proxy_secret_previous, Secret(OTHER_SECRET.encode())
        )
        self.assertFalse(config.messaging.enabled)
        self.assertEqual(config.messaging.control_sender_id, "edge-1")
        self.assertEqual(config.process_name, "edge-1")
        self.assertEqual(config.rate_limits.logins_per_address_burst, 1)
        self.assertEqual(config.admin.bind, "")
        self.assertEqual(config.admin.token, Secret(OTHER_SECRET.encode()))
        self.assertEqual(config.logging.level, "debug")
        self.assertEqual(
            config.logging.file, str(Path(self.dir).absolute() / "logs/proxy.jsonl")
        )


class BackendDefaultsTests(ConfigFileTestCase):
    """
    Keys left out of C{backend.toml} take the design's safe defaults.
    """

    def test_minimal(self) -> None:
        """A config with only a secret gets every default."""
        config = load_backend_config(self.write(BACKEND_MINIMAL, "backend.toml"))
        self.assertIsInstance(config, BackendConfig)
        expected = BackendSection(proxy_secret=Secret(SECRET.encode()))
        self.assertEqual(config.backend, expected)
        self.assertEqual(config.process_name, "lobby")
        self.assertEqual(config.messaging, BackendMessagingSection())
        self.assertEqual(
            config.admin, AdminSection(bind="tcp:8766:interface=127.0.0.1",
                                       history_dir=str(Path(config.path).resolve().parent / "history"))
        )
        self.assertEqual(config.logging, LoggingSection())

    def test_contractValues(self) -> None:
        """The defaults are the values DESIGN.md and the runbook fix."""
        backend = BackendSection()
        self.assertEqual(backend.bind, "tcp:25566:interface=127.0.0.1")
        self.assertEqual(backend.server_id, "lobby")
        self.assertTrue(backend.enforce_proxy)
        self.assertTrue(backend.require_authenticated_mode)
        self.assertEqual(backend.control_expected_sender_id, "proxy")
        messaging = BackendMessagingSection()
        self.assertTrue(messaging.enabled)
        self.assertEqual(messaging.proxy, "tcp:host=127.0.0.1:port=25580")

    def test_spawn(self) -> None:
        """The spawn point is three numbers, integers allowed."""
        config = load_backend_config(
            self.write(BACKEND_MINIMAL + "spawn = [1, 70, -3]\n", "backend.toml")
        )
        self.assertEqual(config.backend.spawn, (1.0, 70.0, -3.0))
        self.assertIsInstance(config.backend.spawn[0], float)

    def test_badSpawn(self) -> None:
        """A spawn that is not three finite numbers in the world is refused."""
        reason = "must be an array of three numbers [x, y, z]"
        for value in ("[1, 2]", '["a", "b", "c"]', "[true, false, true]", "3"):
            self.assertBackendError(
                BACKEND_MINIMAL + f"spawn = {value}\n", "backend.spawn", reason
            )
        self.assertBackendError(
            BACKEND_MINIMAL + "spawn = [0.0, 64.0, 4e7]\n",
            "backend.spawn",
            "coordinates must be within the world border (±30000000)",
        )

    def test_expectsItself(self) -> None:
        """A backend cannot expect control messages from its own sender id."""
        self.assertBackendError(
            BACKEND_MINIMAL + 'server_id = "proxy"\n',
            "backend.control_expected_sender_id",
            "'proxy' is this backend's own server_id; "
            "it must be the proxy's control_sender_id",
        )

    def test_secretNotRequired(self) -> None:
        """Without enforce_proxy and messaging a backend needs no secret."""
        config = load_backend_config(
            self.write(
                "[backend]\nenforce_proxy = false\n[messaging]\nenabled = false\n",
                "backend.toml",
            )
        )
        self.assertIsNone(config.backend.proxy_secret)


class BackendForwardingConfigTests(ConfigFileTestCase):
    def test_default_is_modern(self) -> None:
        """Without the key an enforcing backend reads modern forwarding."""
        config = load_backend_config(self.write(
            '[backend]\nproxy_secret = "919bb1b7c767a2df5ee0c3ba59255c35ef8f36261c1ca6ce1e7df76feda370de"\n', "backend.toml"))
        self.assertEqual(config.backend.forwarding, "modern")

    def test_unknown_mode(self) -> None:
        """forwarding must be one of the three modes a backend reads."""
        path = self.write('[backend]\nforwarding = "none"\nproxy_secret = "919bb1b7c767a2df5ee0c3ba59255c35ef8f36261c1ca6ce1e7df76feda370de"\n',
                          "backend.toml")
        with self.assertRaises(ConfigError) as caught:
            load_backend_config(path)
        self.assertIn(f"{path}: backend.forwarding: must be one of modern, legacy, bungeeguard, "
                      "not 'none'", str(caught.exception))

    def test_legacy_needs_no_secret(self) -> None:
        """Legacy forwarding has no secret to check, so with messaging off none is needed."""
        config = load_backend_config(self.write(
            '[backend]\nforwarding = "legacy"\n[messaging]\nenabled = false\n', "backend.toml"))
        self.assertEqual(config.backend.forwarding, "legacy")
        self.assertIsNone(config.backend.proxy_secret)

    def test_bungeeguard_needs_a_secret(self) -> None:
        """BungeeGuard's token is the proxy secret: enforcing it without one fails at start."""
        path = self.write('[backend]\nforwarding = "bungeeguard"\n[messaging]\nenabled = false\n',
                          "backend.toml")
        with self.assertRaises(ConfigError) as caught:
            load_backend_config(path)
        self.assertIn("enforce_proxy = true", str(caught.exception))


class ExampleConfigTests(ConfigFileTestCase):
    """
    The shipped C{etc/} examples load, given the secret file they point at.
    """

    def setUp(self) -> None:
        super().setUp()
        for name in ("proxy.toml", "backend.toml"):
            shutil.copy(REPO / "etc" / name, self.dir)
        self.write(SECRET + "\n", "proxy.secret")

    def test_proxy(self) -> None:
        """etc/proxy.toml is a valid proxy config with the documented values."""
        config = check_config(os.path.join(self.dir, "proxy.toml"))
        assert isinstance(config, ProxyConfig)
        self.assertEqual(config.security.proxy_secret, Secret(SECRET.encode()))
        self.assertEqual(config.try_order, ("lobby",))
        self.assertEqual(config.proxy.forwarding, "modern")

    def test_backend(self) -> None:
        """etc/backend.toml is a valid backend config sharing the secret file."""
        config = check_config(os.path.join(self.dir, "backend.toml"))
        assert isinstance(config, BackendConfig)
        self.assertEqual(config.backend.proxy_secret, Secret(SECRET.encode()))

    def test_secretMissing(self) -> None:
        """Without the secret file, the error says how to create it."""
        os.remove(os.path.join(self.dir, "proxy.secret"))
        error = self.assertRaises(
            ConfigError, load_proxy_config, os.path.join(self.dir, "proxy.toml")
        )
        self.assertEqual(error.key, "security.proxy_secret_file")
        self.assertIn("No such file or directory", error.reason)
        self.assertIn("token_hex(32)", error.reason)


class UnknownKeyTests(ConfigFileTestCase):
    """
    Keys and sections the loader does not know are refused, not ignored.
    """

    def test_unknownSection(self) -> None:
        """An unknown table is named, with the closest known one."""
        self.assertProxyError(
            PROXY_MINIMAL + "[messagin]\nenabled = true\n",
            "messagin",
            "unknown section (did you mean [messaging]?)",
        )

    def test_unknownTopLevelKey(self) -> None:
        """A key outside any table is refused."""
        self.assertProxyError(
            "motd = 'x'\n" + PROXY_MINIMAL, "motd", "unknown top-level key"
        )

    def test_unknownKey(self) -> None:
        """A misspelt key is named, with the closest known one."""
        self.assertProxyError(
            PROXY_MINIMAL.replace("[proxy]", "[proxy]\nmax_player = 5"),
            "proxy.max_player",
            "unknown key (did you mean 'max_players'?)",
        )

    def test_backendSectionInProxy(self) -> None:
        """A backend table in a proxy config is an unknown section."""
        self.assertProxyErrorStarts(
            PROXY_MINIMAL + "[backend]\n", "backend", "unknown section"
        )

    def test_backendUnknownKey(self) -> None:
        """The backend refuses unknown keys the same way."""
        self.assertBackendError(
            BACKEND_MINIMAL + "[messaging]\nproxi = 'tcp:host=a:port=1'\n",
            "messaging.proxi",
            "unknown key (did you mean 'proxy'?)",
        )

    def test_sectionNotTable(self) -> None:
        """A section name used as a plain key is refused."""
        self.assertBackendError(
            "admin = 1\n" + BACKEND_MINIMAL,
            "admin",
            "must be a table [admin], not an integer",
        )

    def test_missingTopTable(self) -> None:
        """A proxy config must have [proxy], a backend config [backend]."""
        self.assertProxyError(
            PROXY_MINIMAL.replace("[proxy]", ""),
            "proxy",
            "missing table: a proxy config starts with [proxy]",
        )
        self.assertBackendError(
            "[messaging]\n",
            "backend",
            "missing table: a backend config starts with [backend]",
        )


class TypeTests(ConfigFileTestCase):
    """
    Each key takes exactly its TOML type.
    """

    def proxyWith(self, line: str) -> str:
        return PROXY_MINIMAL.replace("[proxy]", f"[proxy]\n{line}")

    def test_boolIsNotInt(self) -> None:
        """true is not accepted where an integer is wanted."""
        self.assertProxyError(
            self.proxyWith("max_players = true"),
            "proxy.max_players",
            "must be an integer, not a boolean",
        )

    def test_intIsNotBool(self) -> None:
        """1 is not accepted where a boolean is wanted."""
        self.assertProxyError(
            self.proxyWith("online_mode = 1"),
            "proxy.online_mode",
            "must be a boolean (true or false), not an integer",
        )

    def test_bungeeChannelIsABoolean(self) -> None:
        """The BungeeCord channel switch is on by default and takes only true or false."""
        self.assertProxyError(
            self.proxyWith('bungee_plugin_channel = "yes"'),
            "proxy.bungee_plugin_channel",
            "must be a boolean (true or false), not a string",
        )

    def test_floatIsNotInt(self) -> None:
        """A float is not silently truncated into an integer key."""
        self.assertProxyError(
            self.proxyWith("compression_threshold = 256.0"),
            "proxy.compression_threshold",
            "must be an integer, not a float",
        )

    def test_boolIsNotNumber(self) -> None:
        """true is not accepted where a number of seconds is wanted."""
        self.assertProxyError(
            self.proxyWith("login_timeout = true"),
            "proxy.login_timeout",
            "must be a number, not a boolean",
        )

    def test_stringIsNotInt(self) -> None:
        """A quoted number is refused: TOML types are not coerced."""
        self.assertProxyError(
            self.proxyWith('max_players = "5"'),
            "proxy.max_players",
            "must be an integer, not a string",
        )

    def test_notString(self) -> None:
        """A number is refused where a string is wanted."""
        self.assertProxyError(
            self.proxyWith("motd = 5"), "proxy.motd", "must be a string, not an integer"
        )

    def test_secretType(self) -> None:
        """A non-string secret is refused without echoing it."""
        self.assertProxyError(
            PROXY_MINIMAL.replace(f'"{SECRET}"', "123456"),
            "security.proxy_secret",
            "must be a string, not an integer",
        )

    def test_badToml(self) -> None:
        """A syntax error names the line, not a traceback."""
        path = os.path.join(self.dir, "proxy.toml")
        message = str(self.proxyError("[proxy]\nmotd = \n"))
        self.assertTrue(message.startswith(f"{path}: line 2: invalid TOML: "), message)

    def test_parserCrash(self) -> None:
        """Input that crashes the toml parser itself is still one line."""
        path = os.path.join(self.dir, "proxy.toml")
        self.assertEqual(
            str(self.proxyError(".=5\n")), f"{path}: (file): invalid TOML"
        )

    def test_byteOrderMark(self) -> None:
        """A UTF-8 byte order mark, as some editors write, is accepted."""
        bom = b"\xef\xbb\xbf"
        config = load_proxy_config(self.write(bom + PROXY_MINIMAL.encode()))
        self.assertEqual(config.try_order, ("lobby",))

    def test_notUtf8(self) -> None:
        """A file that is not UTF-8 text is refused on one line."""
        path = os.path.join(self.dir, "proxy.toml")
        self.assertEqual(
            str(self.proxyError(b"[proxy]\nmotd = '\xff'\n")),
            f"{path}: (file): is not UTF-8 text",
        )

    def test_unreadableFile(self) -> None:
        """A missing config file is reported on one line."""
        path = os.path.join(self.dir, "absent.toml")
        error = self.assertRaises(ConfigError, load_proxy_config, path)
        self.assertEqual(
            str(error), f"{path}: (file): cannot read: No such file or directory"
        )


class RangeTests(ConfigFileTestCase):
    """
    Limits, sizes and timeouts are refused outside sensible ranges.
    """

    def proxyWith(self, section: str, line: str) -> str:
        return PROXY_MINIMAL + f"[{section}]\n{line}\n"

    def test_compressionThreshold(self) -> None:
        """compression_threshold below -1 is refused; -1 disables."""
        self.assertProxyError(
            PROXY_MINIMAL.replace("[proxy]", "[proxy]\ncompression_threshold = -2"),
            "proxy.compression_threshold",
            "must be between -1 and 2097151, not -2",
        )

    def test_forwarding(self) -> None:
        """forwarding must be one of the four modes."""
        self.assertProxyError(
            PROXY_MINIMAL.replace("[proxy]", '[proxy]\nforwarding = "velocity"'),
            "proxy.forwarding",
            "must be one of none, legacy, bungeeguard, modern, not 'velocity'",
        )

    def test_limits(self) -> None:
        """Concurrency limits and bursts must be positive."""
        for key in (
            "handshake_concurrent_max",
            "routing_concurrent_max",
        ):
            self.assertProxyError(
                self.proxyWith("rate_limits", f"{key} = 0"),
                f"rate_limits.{key}",
                "must be between 1 and 65536, not 0",
            )
        for key in ("connections_per_address_burst", "logins_per_address_burst"):
            self.assertProxyError(
                self.proxyWith("rate_limits", f"{key} = 0"),
                f"rate_limits.{key}",
                "must be between 1 and 100000, not 0",
            )

    def test_rates(self) -> None:
        """Token-bucket rates must be positive and finite."""
        for value in ("0", "-1.0", "inf", "nan"):
            message = str(
                self.proxyError(
                    self.proxyWith(
                        "rate_limits", f"connections_per_address_rate = {value}"
                    )
                )
            )
            self.assertIn(
                "rate_limits.connections_per_address_rate: "
                "must be greater than 0 and at most 10000",
                message,
            )

    def test_hugeInteger(self) -> None:
        """An integer too large for a float is refused, not an overflow."""
        big = "9" * 400
        self.assertProxyErrorStarts(
            PROXY_MINIMAL.replace("[proxy]", f"[proxy]\nlogin_timeout = {big}"),
            "proxy.login_timeout",
            "must be greater than 0 and at most 600, not 999",
        )
        self.assertBackendError(
            BACKEND_MINIMAL + f"spawn = [0, {big}, 0]\n",
            "backend.spawn",
            "coordinates must be within the world border (±30000000)",
        )

    def test_nulInPath(self) -> None:
        """A NUL character in a path is refused rather than crashing open()."""
        self.assertProxyError(
            PROXY_MINIMAL.replace("[proxy]", '[proxy]\nfavicon = "a\\u0000b"'),
            "proxy.favicon",
            "a path cannot contain a NUL character",
        )

    def test_unknownHome(self) -> None:
        """A ~user path naming no user is refused, not a RuntimeError."""
        self.assertProxyError(
            PROXY_MINIMAL + '[logging]\nfile = "~no-such-user-mcproxy/log"\n',
            "logging.file",
            "cannot expand ~ in '~no-such-user-mcproxy/log': no such user",
        )

    def test_timeouts(self) -> None:
        """Timeouts must be positive and bounded."""
        for key, high in (
            ("handshake_timeout", 300),
            ("login_timeout", 600),
            ("connect_timeout", 120),
            ("read_timeout", 600),
            ("fallback_hold", 600),
        ):
            self.assertProxyError(
                PROXY_MINIMAL.replace("[proxy]", f"[proxy]\n{key} = 0"),
                f"proxy.{key}",
                f"must be greater than 0 and at most {high}, not 0",
            )
            self.assertProxyError(
                PROXY_MINIMAL.replace("[proxy]", f"[proxy]\n{key} = {high + 1}"),
                f"proxy.{key}",
                f"must be greater than 0 and at most {high}, not {high + 1}",
            )

    def test_frameSize(self) -> None:
        """The pre-login frame limit cannot exceed the protocol's maximum."""
        self.assertProxyError(
            PROXY_MINIMAL.replace(
                "[proxy]", "[proxy]\nmax_frame_size_prelogin = 2097152"
            ),
            "proxy.max_frame_size_prelogin",
            "must be between 256 and 2097151, not 2097152",
        )

    def test_maxPlayers(self) -> None:
        """max_players must be at least one."""
        self.assertProxyError(
            PROXY_MINIMAL.replace("[proxy]", "[proxy]\nmax_players = 0"),
            "proxy.max_players",
            "must be between 1 and 1000000, not 0",
        )

    def test_controlLimits(self) -> None:
        """The control plane's payload cap and clock skew are bounded."""
        self.assertProxyError(
            self.proxyWith("messaging", "control_max_payload = 1024"),
            "messaging.control_max_payload",
            "must be between 65536 and 67108864, not 1024",
        )
        self.assertBackendError(
            BACKEND_MINIMAL + "[messaging]\ncontrol_max_clock_skew = 0\n",
            "messaging.control_max_clock_skew",
            "must be greater than 0 and at most 3600, not 0",
        )

    def test_reconnectDelay(self) -> None:
        """The backend's reconnect backoff cap must be positive."""
        self.assertBackendError(
            BACKEND_MINIMAL + "[messaging]\nreconnect_max_delay = -1\n",
            "messaging.reconnect_max_delay",
            "must be greater than 0 and at most 3600, not -1",
        )

    def test_logLevel(self) -> None:
        """The log level must be one twisted.logger knows."""
        self.assertProxyError(
            PROXY_MINIMAL + '[logging]\nlevel = "verbose"\n',
            "logging.level",
            "must be one of debug, info, warn, error, critical, not 'verbose'",
        )

    def test_sessionServer(self) -> None:
        """The session server must be an http(s) URL."""
        self.assertProxyError(
            PROXY_MINIMAL.replace("[proxy]", '[proxy]\nsession_server = "ftp://x"'),
            "proxy.session_server",
            "must be an https:// or http:// URL, not 'ftp://x'",
        )

    def test_senderIds(self) -> None:
        """Sender ids are short identifiers, not arbitrary text."""
        self.assertBackendError(
            BACKEND_MINIMAL + 'server_id = "my lobby"\n',
            "backend.server_id",
            "must be 1 to 64 letters, digits, '_', '-' or '.', not 'my lobby'",
        )


class EndpointTests(ConfigFileTestCase):
    """
    Endpoint strings are checked with Twisted's own parsers at load time.
    """

    def test_badServerEndpoint(self) -> None:
        """A bind string Twisted cannot parse is refused with the reason."""
        self.assertProxyError(
            PROXY_MINIMAL.replace("[proxy]", '[proxy]\nbind = "tcp:abc"'),
            "proxy.bind",
            "not a valid Twisted server endpoint 'tcp:abc': "
            "invalid literal for int() with base 10: 'abc'",
        )

    def test_unknownEndpointType(self) -> None:
        """An unknown endpoint type is refused."""
        self.assertProxyError(
            PROXY_MINIMAL + '[messaging]\nbind = "udp:25580"\n',
            "messaging.bind",
            "not a valid Twisted server endpoint 'udp:25580': "
            "Unknown endpoint type: 'udp'",
        )

    def test_emptyBind(self) -> None:
        """The player listener cannot be empty."""
        self.assertProxyError(
            PROXY_MINIMAL.replace("[proxy]", '[proxy]\nbind = ""'),
            "proxy.bind",
            "must be a server endpoint string, not empty",
        )

    def test_haproxyAccepted(self) -> None:
        """The haproxy: wrapper (PROXY protocol) is a valid bind."""
        config = load_proxy_config(
            self.write(
                PROXY_MINIMAL.replace(
                    "[proxy]", '[proxy]\nbind = "haproxy:tcp:25565:interface=0.0.0.0"\n'
                    'proxy_protocol_trusted = ["192.0.2.10"]'
                )
            )
        )
        self.assertEqual(config.proxy.bind, "haproxy:tcp:25565:interface=0.0.0.0")

    def test_bindArray(self) -> None:
        """bind may list several endpoints; ``bind`` is the first, ``binds`` all."""
        config = load_proxy_config(
            self.write(
                PROXY_MINIMAL.replace(
                    "[proxy]", '[proxy]\nbind = ["tcp:25565", "haproxy:tcp:25566"]\n'
                    'proxy_protocol_trusted = ["192.0.2.0/24"]'
                )
            )
        )
        self.assertEqual(config.proxy.bind, "tcp:25565")
        self.assertEqual(config.proxy.binds, ("tcp:25565", "haproxy:tcp:25566"))

    def test_bindString(self) -> None:
        """A single bind string is one listener."""
        config = load_proxy_config(self.write(PROXY_MINIMAL))
        self.assertEqual(config.proxy.binds, ("tcp:25565",))

    def test_bindArrayChecked(self) -> None:
        """Each endpoint of a bind array is parsed, and the array is neither empty,
        of non-strings, nor repeating an endpoint."""
        self.assertProxyErrorStarts(
            PROXY_MINIMAL.replace("[proxy]", '[proxy]\nbind = ["tcp:25565", "tcp:abc"]'),
            "proxy.bind",
            "not a valid Twisted server endpoint 'tcp:abc'",
        )
        for value in ("[]", "[1]", "5"):
            self.assertProxyError(
                PROXY_MINIMAL.replace("[proxy]", f"[proxy]\nbind = {value}"),
                "proxy.bind",
                "must be an endpoint string or an array of them, not "
                + ("an integer" if value == "5" else "an array"),
            )
        self.assertProxyError(
            PROXY_MINIMAL.replace("[proxy]", '[proxy]\nbind = ["tcp:1", "tcp:1"]'),
            "proxy.bind",
            "names an endpoint more than once",
        )

    def test_adminDisabled(self) -> None:
        """An empty admin bind turns the admin listener off."""
        config = load_proxy_config(self.write(PROXY_MINIMAL + '[admin]\nbind = ""\n'))
        self.assertEqual(config.admin.bind, "")

    def test_badAdminBind(self) -> None:
        """A bad admin bind is refused."""
        self.assertBackendError(
            BACKEND_MINIMAL + '[admin]\nbind = "tcp:8766:backlog=many"\n',
            "admin.bind",
            "not a valid Twisted server endpoint 'tcp:8766:backlog=many': "
            "invalid literal for int() with base 10: 'many'",
        )

    def test_badClientEndpoint(self) -> None:
        """The backend's link to the proxy must be a client endpoint string."""
        self.assertBackendError(
            BACKEND_MINIMAL + '[messaging]\nproxy = "tcp:host=127.0.0.1"\n',
            "messaging.proxy",
            "not a valid Twisted client endpoint 'tcp:host=127.0.0.1': "
            "TCP4ClientEndpoint.__init__() missing 1 required positional "
            "argument: 'port'",
        )

    def test_serverStringIsNotClient(self) -> None:
        """A server-style string such as 'tcp:25580' has no host to connect to."""
        error = self.backendError(
            BACKEND_MINIMAL + '[messaging]\nproxy = "tcp:25580"\n'
        )
        self.assertEqual(error.key, "messaging.proxy")


class ServersTests(ConfigFileTestCase):
    """
    [servers], try, [forced_hosts] and references to server names.
    """

    def test_tryUndefined(self) -> None:
        """try may only name servers defined under [servers]."""
        self.assertProxyError(
            PROXY_MINIMAL.replace('try = ["lobby"]', 'try = ["lobby", "games"]'),
            "servers.try",
            "names 'games', which is not defined under [servers]",
        )

    def test_tryMissing(self) -> None:
        """try is required: the proxy must know where players go first."""
        self.assertProxyError(
            PROXY_MINIMAL.replace('try = ["lobby"]', ""),
            "servers.try",
            "is missing: list the servers players join first",
        )

    def test_tryEmpty(self) -> None:
        """An empty try list is refused."""
        self.assertProxyError(
            PROXY_MINIMAL.replace('try = ["lobby"]', "try = []"),
            "servers.try",
            "must name at least one server",
        )

    def test_tryDuplicate(self) -> None:
        """A server listed twice in try is a mistake."""
        self.assertProxyError(
            PROXY_MINIMAL.replace('try = ["lobby"]', 'try = ["lobby", "lobby"]'),
            "servers.try",
            "names a server more than once",
        )

    def test_noServers(self) -> None:
        """A proxy with no backend at all is refused."""
        self.assertProxyError(
            PROXY_MINIMAL.replace('lobby = "127.0.0.1:25566"\ntry = ["lobby"]', ""),
            "servers",
            'define at least one server, e.g. lobby = "127.0.0.1:25566"',
        )

    def test_forcedHostUndefined(self) -> None:
        """A forced host may only name defined servers."""
        self.assertProxyError(
            PROXY_MINIMAL + '[forced_hosts]\n"play.example.com" = ["games"]\n',
            "forced_hosts.play.example.com",
            "names 'games', which is not defined under [servers]",
        )

    def test_forcedHostNotList(self) -> None:
        """A forced host's value is a list of server names."""
        self.assertProxyError(
            PROXY_MINIMAL + '[forced_hosts]\n"play.example.com" = "lobby"\n',
            "forced_hosts.play.example.com",
            "must be an array of server names",
        )

    def test_forcedHostDuplicate(self) -> None:
        """Hostnames differing only in case are the same host."""
        self.assertProxyError(
            PROXY_MINIMAL
            + '[forced_hosts]\n"a.example" = ["lobby"]\n"A.Example" = ["lobby"]\n',
            "forced_hosts.A.Example",
            "duplicates hostname 'a.example'",
        )

    def test_motdByHostType(self) -> None:
        """A per-host MOTD must be a string."""
        self.assertProxyError(
            PROXY_MINIMAL + '[motd_by_host]\n"a.example" = 1\n',
            "motd_by_host.a.example",
            "must be a string, not an integer",
        )

    def test_addressWithoutPort(self) -> None:
        """A server address must be host:port."""
        self.assertProxyError(
            PROXY_MINIMAL.replace("127.0.0.1:25566", "127.0.0.1"),
            "servers.lobby",
            "must be \"host:port\", not '127.0.0.1'",
        )

    def test_addressBadPort(self) -> None:
        """The port must be 1 to 65535."""
        for port in ("0", "65536"):
            self.assertProxyError(
                PROXY_MINIMAL.replace("25566", port),
                "servers.lobby",
                f"port must be between 1 and 65535, not {port}",
            )

    def test_addressNotString(self) -> None:
        """A server address must be a string."""
        self.assertProxyError(
            PROXY_MINIMAL.replace('"127.0.0.1:25566"', "25566"),
            "servers.lobby",
            'must be a "host:port" string, not an integer',
        )

    def test_serverName(self) -> None:
        """Server names are identifiers usable in commands."""
        self.assertProxyError(
            PROXY_MINIMAL.replace("[servers]", '[servers]\n"my lobby" = "a:1"'),
            "servers.my lobby",
            "a server name must be 1 to 64 letters, digits, '_', '-' or '.'",
        )

    def test_statusPassthroughUndefined(self) -> None:
        """status_passthrough must name a defined server."""
        self.assertProxyError(
            PROXY_MINIMAL.replace("[proxy]", '[proxy]\nstatus_passthrough = "hub"'),
            "proxy.status_passthrough",
            "names 'hub', which is not defined under [servers]",
        )

    def test_senderIdCollision(self) -> None:
        """The proxy's sender id cannot also be a backend's name."""
        self.assertProxyError(
            PROXY_MINIMAL + '[messaging]\ncontrol_sender_id = "lobby"\n',
            "messaging.control_sender_id",
            "'lobby' is also a server name under [servers]; "
            "the proxy's sender id must differ from every backend's",
        )


class PermissionsTests(ConfigFileTestCase):
    """
    [permissions] grants proxy-command nodes to players.
    """

    def test_default(self) -> None:
        """Without the table no node is granted: commands keep their defaults."""
        config = load_proxy_config(self.write(PROXY_MINIMAL))
        self.assertEqual(dict(config.permissions), {})

    def test_grants(self) -> None:
        """Each node maps to its player names; "*" stands for everyone."""
        config = load_proxy_config(
            self.write(
                PROXY_MINIMAL
                + '[permissions]\n"mcproxy.command.send" = ["Admin", "ops_2"]\n'
                + '"mcproxy.command.glist" = ["*"]\n'
            )
        )
        self.assertEqual(
            dict(config.permissions),
            {
                "mcproxy.command.send": ("Admin", "ops_2"),
                "mcproxy.command.glist": ("*",),
            },
        )

    def test_notArray(self) -> None:
        """A single name instead of an array is refused."""
        self.assertProxyError(
            PROXY_MINIMAL + '[permissions]\n"mcproxy.command.send" = "Admin"\n',
            "permissions.mcproxy.command.send",
            'must be an array of player names or "*"',
        )

    def test_badPlayerName(self) -> None:
        """A name no player can have (here a stray space) is refused."""
        self.assertProxyError(
            PROXY_MINIMAL + '[permissions]\n"mcproxy.command.send" = ["Ad min"]\n',
            "permissions.mcproxy.command.send",
            "'Ad min' is not a player name (1 to 16 printable ASCII characters, "
            'no spaces) or "*"',
        )

    def test_badNode(self) -> None:
        """A node with spaces cannot match any command's node."""
        self.assertProxyError(
            PROXY_MINIMAL + '[permissions]\n"command send" = ["Admin"]\n',
            "permissions.command send",
            "a permission node is 1 to 128 letters, digits, '_', '-' or '.'",
        )


class PluginsConfigTests(ConfigFileTestCase):
    """
    [plugins] turns third-party proxy plugins on and can name the ones allowed.
    """

    def test_default(self) -> None:
        """Without the table plugins stay off and nothing is allow-listed."""
        config = load_proxy_config(self.write(PROXY_MINIMAL))
        self.assertEqual(config.plugins, PluginsSection(enabled=False, allow=()))

    def test_enabledWithAllowList(self) -> None:
        """enabled and allow are read as a boolean and a tuple of names."""
        config = load_proxy_config(
            self.write(PROXY_MINIMAL + '[plugins]\nenabled = true\nallow = ["hello", "motd-rotator"]\n')
        )
        self.assertEqual(config.plugins, PluginsSection(enabled=True, allow=("hello", "motd-rotator")))

    def test_allowNotArray(self) -> None:
        """A single name instead of an array is refused."""
        self.assertProxyError(
            PROXY_MINIMAL + '[plugins]\nallow = "hello"\n',
            "plugins.allow",
            "must be an array of plugin names",
        )

    def test_allowBadName(self) -> None:
        """A name no plugin can have (a space) is refused rather than matching nothing."""
        self.assertProxyError(
            PROXY_MINIMAL + '[plugins]\nallow = ["hel lo"]\n',
            "plugins.allow",
            "'hel lo' is not a plugin name (1 to 64 letters, digits, '_', '-' or '.')",
        )

    def test_allowDuplicate(self) -> None:
        """Listing a plugin twice is a mistake worth pointing out."""
        self.assertProxyError(
            PROXY_MINIMAL + '[plugins]\nallow = ["hello", "hello"]\n',
            "plugins.allow",
            "lists a plugin twice",
        )

    def test_unknownKey(self) -> None:
        """A typo in [plugins] is refused with a hint."""
        self.assertProxyError(
            PROXY_MINIMAL + '[plugins]\nenable = true\n',
            "plugins.enable",
            "unknown key (did you mean 'enabled'?)",
        )


class SecretConfigTests(ConfigFileTestCase):
    """
    Secrets are required when used, must be strong, and never leak.
    """

    def test_requiredForModern(self) -> None:
        """Modern forwarding needs a secret even with messaging off."""
        error = self.proxyError(
            '[proxy]\nforwarding = "modern"\n[messaging]\nenabled = false\n'
            '[servers]\nlobby = "a:1"\ntry = ["lobby"]\n'
        )
        self.assertEqual(error.key, "security.proxy_secret")
        self.assertTrue(
            error.reason.startswith(
                "a secret is required because forwarding = 'modern'; "
                "set proxy_secret or proxy_secret_file"
            ),
            error.reason,
        )

    def test_requiredForBungeeguard(self) -> None:
        """BungeeGuard forwarding needs a secret."""
        error = self.proxyError(
            '[proxy]\nforwarding = "bungeeguard"\n[messaging]\nenabled = false\n'
            '[servers]\nlobby = "a:1"\ntry = ["lobby"]\n'
        )
        self.assertIn("because forwarding = 'bungeeguard';", error.reason)

    def test_requiredForMessaging(self) -> None:
        """The control plane needs a secret even without forwarding."""
        error = self.proxyError(
            '[proxy]\nforwarding = "none"\n'
            '[servers]\nlobby = "a:1"\ntry = ["lobby"]\n'
        )
        self.assertEqual(error.key, "security.proxy_secret")
        self.assertIn("because messaging is enabled;", error.reason)

    def test_emptyIsMissing(self) -> None:
        """An empty proxy_secret counts as no secret."""
        error = self.proxyError(PROXY_MINIMAL.replace(SECRET, ""))
        self.assertEqual(error.key, "security.proxy_secret")
        self.assertIn(
            "because forwarding = 'modern' and messaging is enabled", error.reason
        )

    def test_notRequired(self) -> None:
        """Legacy forwarding with messaging off runs without a secret."""
        config = load_proxy_config(
            self.write(
                '[proxy]\nforwarding = "legacy"\n[messaging]\nenabled = false\n'
                '[servers]\nlobby = "a:1"\ntry = ["lobby"]\n'
            )
        )
        self.assertIsNone(config.security.proxy_secret)

    def test_backendRequired(self) -> None:
        """A backend enforcing the proxy needs a secret."""
        error = self.backendError("[backend]\n[messaging]\nenabled = false\n")
        self.assertEqual(error.key, "backend.proxy_secret")
        self.assertIn("because enforce_proxy = true;", error.reason)
        error = self.backendError("[backend]\nenforce_proxy = false\n")
        self.assertIn("because messaging is enabled;", error.reason)

    def test_tooShort(self) -> None:
        """A secret under 32 bytes is refused."""
        error = self.proxyError(PROXY_MINIMAL.replace(SECRET, "Xk3v9Qp2"))
        self.assertEqual(error.key, "security.proxy_secret")
        self.assertTrue(
            error.reason.startswith(
                "is too short: at least 32 bytes are needed; generate one with: "
            ),
            error.reason,
        )

    def test_placeholders(self) -> None:
        """Example values are refused even when long enough."""
        for value in ("changeme", "secret", "CHANGEME-changeme-changeme-changeme",
                      "secretsecretsecretsecretsecretsecret"):
            error = self.proxyError(PROXY_MINIMAL.replace(SECRET, value))
            self.assertEqual(error.key, "security.proxy_secret")
            self.assertTrue(
                error.reason.startswith("is a placeholder value, not a secret;"),
                error.reason,
            )

    def test_hexOfSixteenBytes(self) -> None:
        """32 hex digits are 32 bytes long but only 16 bytes of randomness: refused."""
        error = self.proxyError(PROXY_MINIMAL.replace(SECRET, "9f86d081884c7d659a2feaa0c55ad015"))
        self.assertEqual(error.key, "security.proxy_secret")
        self.assertTrue(
            error.reason.startswith(
                "holds at most 16 bytes of randomness (hex digits carry 4 bits each); "
                "at least 32 are needed; generate one with: "
            ),
            error.reason,
        )

    def test_repeatedPattern(self) -> None:
        """A short pattern repeated to length is refused, whatever its length."""
        error = self.proxyError(PROXY_MINIMAL.replace(SECRET, "0123456789abcdef" * 4))
        self.assertTrue(
            error.reason.startswith("is a 16-byte pattern repeated, not a secret;"),
            error.reason,
        )

    def test_generatedSecretsAccepted(self) -> None:
        """What mcproxyctl gen-secret and the documented generators print is accepted."""
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            self.assertEqual(ctl.main(["gen-secret"]), 0)
        for value in (out.getvalue().strip(), secrets.token_urlsafe(32), secrets.token_hex(32)):
            config = load_proxy_config(self.write(PROXY_MINIMAL.replace(SECRET, value)))
            self.assertEqual(config.security.proxy_secret, Secret(value.encode()))

    def test_weakAdminTokenAndSecretFile(self) -> None:
        """The same rule holds for the admin token and for a secret read from a file."""
        error = self.proxyError(PROXY_MINIMAL + '[admin]\ntoken = "9f86d081884c7d659a2feaa0c55ad015"\n')
        self.assertEqual(error.key, "admin.token")
        self.assertIn("bytes of randomness", error.reason)
        self.write("ab" * 32 + "\n", "weak.secret")
        error = self.backendError("[backend]\nproxy_secret_file = \"weak.secret\"\n")
        self.assertEqual(error.key, "backend.proxy_secret_file")
        self.assertIn("pattern repeated", error.reason)

    def test_oneCharacter(self) -> None:
        """A secret of one repeated character is refused."""
        error = self.proxyError(PROXY_MINIMAL.replace(SECRET, "a" * 64))
        self.assertTrue(
            error.reason.startswith("is one character repeated, not a secret;"),
            error.reason,
        )

    def test_bothGiven(self) -> None:
        """proxy_secret and proxy_secret_file together are ambiguous."""
        self.write(SECRET, "proxy.secret")
        self.assertProxyError(
            PROXY_MINIMAL.replace(
                "[security]", '[security]\nproxy_secret_file = "proxy.secret"'
            ),
            "security.proxy_secret",
            "set either proxy_secret or proxy_secret_file, not both",
        )

    def test_file(self) -> None:
        """A secret file is read relative to the config, whitespace stripped."""
        os.makedirs(os.path.join(self.dir, "keys"))
        self.write(f"  {SECRET}\r\n", os.path.join("keys", "proxy.secret"))
        config = load_proxy_config(
            self.write(
                PROXY_MINIMAL.replace(
                    f'proxy_secret = "{SECRET}"',
                    'proxy_secret_file = "keys/proxy.secret"',
                )
            )
        )
        self.assertEqual(config.security.proxy_secret, Secret(SECRET.encode()))
        self.assertEqual(
            config.security.proxy_secret_file,
            str(Path(self.dir).absolute() / "keys" / "proxy.secret"),
        )

    def test_fileUnreadable(self) -> None:
        """A secret file that cannot be read is named in the error."""
        os.mkdir(os.path.join(self.dir, "proxy.secret"))
        path = Path(self.dir).absolute() / "proxy.secret"
        self.assertProxyError(
            PROXY_MINIMAL.replace(
                f'proxy_secret = "{SECRET}"', 'proxy_secret_file = "proxy.secret"'
            ),
            "security.proxy_secret_file",
            f"cannot read {path}: Is a directory",
        )

    def test_fileEmpty(self) -> None:
        """An empty secret file is refused, not treated as no secret."""
        self.write("\n", "proxy.secret")
        path = Path(self.dir).absolute() / "proxy.secret"
        self.assertProxyError(
            PROXY_MINIMAL.replace(
                f'proxy_secret = "{SECRET}"', 'proxy_secret_file = "proxy.secret"'
            ),
            "security.proxy_secret_file",
            f"{path} is empty",
        )

    def test_fileWeak(self) -> None:
        """A weak secret in a file is refused under the file key."""
        self.write("changeme\n", "proxy.secret")
        error = self.proxyError(
            PROXY_MINIMAL.replace(
                f'proxy_secret = "{SECRET}"', 'proxy_secret_file = "proxy.secret"'
            )
        )
        self.assertEqual(error.key, "security.proxy_secret_file")
        self.assertIn("placeholder", error.reason)

    def test_fileTooLarge(self) -> None:
        """A huge file is not a secret; likely the wrong path."""
        self.write(os.urandom(5000).hex(), "proxy.secret")
        error = self.proxyError(
            PROXY_MINIMAL.replace(
                f'proxy_secret = "{SECRET}"', 'proxy_secret_file = "proxy.secret"'
            )
        )
        self.assertEqual(error.key, "security.proxy_secret_file")
        self.assertTrue(error.reason.endswith("is larger than 4096 bytes"))

    def test_previousSame(self) -> None:
        """A rotation's previous secret must differ from the current one."""
        self.assertProxyError(
            PROXY_MINIMAL.replace(
                "[security]", f'[security]\nproxy_secret_previous = "{SECRET}"'
            ),
            "security.proxy_secret_previous",
            "is the same as proxy_secret",
        )

    def test_previousAlone(self) -> None:
        """A previous secret without a current one is refused."""
        error = self.backendError(
            f'[backend]\nenforce_proxy = false\nproxy_secret_previous = "{SECRET}"\n'
            "[messaging]\nenabled = false\n"
        )
        self.assertEqual(error.key, "backend.proxy_secret_previous")
        self.assertTrue(error.reason.startswith("is set without proxy_secret;"))

    def test_adminToken(self) -> None:
        """The admin token follows the same rules and has a file form."""
        self.write(OTHER_SECRET, "admin.token")
        config = load_proxy_config(
            self.write(PROXY_MINIMAL + '[admin]\ntoken_file = "admin.token"\n')
        )
        self.assertEqual(config.admin.token, Secret(OTHER_SECRET.encode()))
        error = self.proxyError(PROXY_MINIMAL + '[admin]\ntoken = "changeme"\n')
        self.assertEqual(error.key, "admin.token")

    def test_neverInErrors(self) -> None:
        """No refusal shows the secret, in its message, args or repr."""
        marker = "Zq7" + SECRET
        cases = [
            f'[security]\nproxy_secret = "{marker}"\nproxy_secret_file = "x"\n',
            f'[security]\nproxy_secret = "{marker}"\n'
            f'proxy_secret_previous = "{marker}"\n',
            f'[security]\nproxy_secret = "{marker}"\nbogus = "{marker}"\n',
            f'[security]\nproxy_secret = "{marker}\n',
            f'[security]\nproxy_secret = "{marker}"\n[proxy]\nmotd = {marker}\n',
            f'[security]\nproxy_secret = "{marker[:20]}"\n',
            f'[security]\nproxy_secret = "{marker}"\n'
            f'[admin]\ntoken = "{marker[:20]}"\n',
            f'[security]\nproxy_secret = "{marker}"\n[security]\n',
            f'[motd_by_host]\nproxy_secret = "{marker}"\n',
            f'[forced_hosts]\nadmin_token = "{marker}"\n',
            f'[security]\nproxy_secret = "\\u{marker[:4]}"\n',
        ]
        for body in cases:
            error = self.proxyError(
                '[proxy]\n[servers]\nlobby = "a:1"\ntry = ["lobby"]\n' + body
            )
            for shown in (str(error), repr(error), repr(error.args)):
                self.assertNotIn(marker[:20], shown)

    def test_secretUnderWrongTable(self) -> None:
        """A secret that lands in [servers] is refused by name, value unshown."""
        self.assertProxyError(
            PROXY_MINIMAL + f'proxy_secret_previous = "{OTHER_SECRET}"\n',
            "servers.proxy_secret_previous",
            "looks like a secret, which belongs under [security]; "
            "check the table headers above it",
        )

    def test_duplicateTable(self) -> None:
        """A table defined twice is named without quoting the parsed document."""
        self.assertProxyError(
            PROXY_MINIMAL + "[security]\n",
            "line 10",
            "invalid TOML: table [security] is defined more than once (column 1)",
        )

    def test_neverInRepr(self) -> None:
        """A loaded config can be printed without showing any secret."""
        self.write(OTHER_SECRET, "admin.token")
        config = load_proxy_config(
            self.write(
                PROXY_MINIMAL.replace(
                    "[security]",
                    f'[security]\nproxy_secret_previous = "{OTHER_SECRET}"',
                )
                + '[admin]\ntoken_file = "admin.token"\n'
            )
        )
        backend = load_backend_config(self.write(BACKEND_MINIMAL, "backend.toml"))
        for shown in (repr(config), str(config), repr(backend), str(backend)):
            self.assertNotIn(SECRET, shown)
            self.assertNotIn(OTHER_SECRET, shown)
            self.assertIn("Secret(<redacted>)", shown)


class FaviconTests(ConfigFileTestCase):
    """
    The favicon is checked at load time and kept in memory.
    """

    def configWith(self, name: str) -> str:
        return PROXY_MINIMAL.replace("[proxy]", f'[proxy]\nfavicon = "{name}"')

    def test_valid(self) -> None:
        """A 64x64 PNG is accepted and its bytes kept."""
        data = png(64, 64)
        self.write(data, "icon.png")
        config = load_proxy_config(self.write(self.configWith("icon.png")))
        self.assertEqual(
            config.proxy.favicon, str(Path(self.dir).absolute() / "icon.png")
        )
        self.assertEqual(config.proxy.favicon_png, data)
        self.assertNotIn("favicon_png", repr(config.proxy))

    def test_wrongSize(self) -> None:
        """Any size other than 64x64 is refused."""
        self.write(png(32, 64), "icon.png")
        path = Path(self.dir).absolute() / "icon.png"
        self.assertProxyError(
            self.configWith("icon.png"),
            "proxy.favicon",
            f"{path} is 32x64; it must be 64x64",
        )

    def test_notPng(self) -> None:
        """A file without the PNG signature is refused."""
        self.write(b"GIF89a" + b"\x00" * 40, "icon.png")
        path = Path(self.dir).absolute() / "icon.png"
        self.assertProxyError(
            self.configWith("icon.png"), "proxy.favicon", f"{path} is not a PNG file"
        )

    def test_noHeader(self) -> None:
        """A PNG signature without an IHDR chunk is refused."""
        self.write(b"\x89PNG\r\n\x1a\n" + b"\x00" * 4 + b"IDAT", "icon.png")
        path = Path(self.dir).absolute() / "icon.png"
        self.assertProxyError(
            self.configWith("icon.png"),
            "proxy.favicon",
            f"{path} has no PNG IHDR header",
        )

    def test_missing(self) -> None:
        """A missing favicon file is refused."""
        path = Path(self.dir).absolute() / "icon.png"
        self.assertProxyError(
            self.configWith("icon.png"),
            "proxy.favicon",
            f"cannot read {path}: No such file or directory",
        )

    def test_caFile(self) -> None:
        """The session server CA file must hold a PEM certificate."""
        self.write("not a certificate", "ca.pem")
        path = Path(self.dir).absolute() / "ca.pem"
        self.assertProxyError(
            PROXY_MINIMAL.replace(
                "[proxy]", '[proxy]\nsession_server_ca_file = "ca.pem"'
            ),
            "proxy.session_server_ca_file",
            f"{path} holds no PEM certificate",
        )


class CheckConfigTests(ConfigFileTestCase):
    """
    L{check_config} tells a proxy config from a backend config.
    """

    def test_proxy(self) -> None:
        """A file with [proxy] is loaded as a proxy config."""
        self.assertIsInstance(check_config(self.write(PROXY_MINIMAL)), ProxyConfig)

    def test_backend(self) -> None:
        """A file with [backend] is loaded as a backend config."""
        self.assertIsInstance(
            check_config(self.write(BACKEND_MINIMAL, "x.toml")), BackendConfig
        )

    def test_neither(self) -> None:
        """A file with neither table is refused."""
        path = self.write("[servers]\n", "x.toml")
        error = self.assertRaises(ConfigError, check_config, path)
        self.assertEqual(
            str(error),
            f"{path}: (file): is neither a proxy config ([proxy]) "
            "nor a backend config ([backend])",
        )

    def test_both(self) -> None:
        """A file with both tables is refused."""
        path = self.write(PROXY_MINIMAL + BACKEND_MINIMAL, "x.toml")
        error = self.assertRaises(ConfigError, check_config, path)
        self.assertEqual(
            str(error),
            f"{path}: (file): has both [proxy] and [backend]; use one file for each",
        )

    def test_validates(self) -> None:
        """check_config applies the full validation of the detected kind."""
        path = self.write(BACKEND_MINIMAL + "max_players = 0\n", "x.toml")
        error = self.assertRaises(ConfigError, check_config, path)
        self.assertEqual(error.key, "backend.max_players")


class ServerOptions(usage.Options):
    """A stand-in for twistd's top-level options, with our two plugins."""

    subCommands = [
        ["mcproxy", None, ProxyOptions, "proxy"],
        ["mcbackend", None, BackendOptions, "backend"],
    ]


class OptionsTests(ConfigFileTestCase):
    """
    The twistd options load the config and fail with the one-line message.
    """

    def test_defaults(self) -> None:
        """-c defaults to proxy.toml and backend.toml."""
        self.assertEqual(ProxyOptions()["config"], "proxy.toml")
        self.assertEqual(BackendOptions()["config"], "backend.toml")

    def test_loadsProxy(self) -> None:
        """A good proxy config ends up validated in the options."""
        options = ProxyOptions()
        options.parseOptions(["-c", self.write(PROXY_MINIMAL)])
        self.assertIsInstance(options["config_obj"], ProxyConfig)
        self.assertIs(options.config, options["config_obj"])

    def test_loadsBackend(self) -> None:
        """A good backend config ends up validated in the options."""
        options = BackendOptions()
        options.parseOptions(["--config", self.write(BACKEND_MINIMAL, "b.toml")])
        self.assertIsInstance(options.config, BackendConfig)

    def test_badConfig(self) -> None:
        """A bad config exits 1 with exactly the one-liner on stderr, no usage text."""
        path = self.write(PROXY_MINIMAL.replace("[proxy]", "[proxy]\nmax_players = 0"))
        err = io.StringIO()
        with contextlib.redirect_stderr(err):
            error = self.assertRaises(SystemExit, ProxyOptions().parseOptions, ["-c", path])
        self.assertEqual(error.code, 1)
        self.assertEqual(
            err.getvalue(),
            f"twistd mcproxy: {path}: proxy.max_players: must be between 1 and 1000000, not 0\n",
        )
        self.assertIsNone(error.__cause__)
        self.assertTrue(error.__suppress_context__)

    def test_twistdExit(self) -> None:
        """twistd's runner prints the reason and exits 1: no traceback, and no usage
        block ahead of the reason."""
        path = self.write("[backend]\n", "b.toml")
        out, err = io.StringIO(), io.StringIO()
        self.patch(sys, "argv", ["twistd", "mcbackend", "-c", path])
        self.patch(sys, "stdout", out)
        self.patch(sys, "stderr", err)
        error = self.assertRaises(
            SystemExit, app.run, lambda config: None, ServerOptions
        )
        self.assertEqual(error.code, 1)
        self.assertEqual(out.getvalue(), "")
        lines = err.getvalue().splitlines()
        self.assertEqual(len(lines), 1, lines)
        self.assertTrue(
            lines[0].startswith(f"twistd mcbackend: {path}: backend.proxy_secret: "), lines
        )
        self.assertNotIn("Usage:", err.getvalue())

    def test_twistdEveryMistake(self) -> None:
        """Each mistake of the file is its own prefixed line, in file order."""
        path = self.write(PROXY_MINIMAL.replace("[proxy]", '[proxy]\nmotd = 5\nmax_players = 0'))
        err = io.StringIO()
        with contextlib.redirect_stderr(err):
            self.assertRaises(SystemExit, ProxyOptions().parseOptions, ["-c", path])
        self.assertEqual(err.getvalue().splitlines(), [
            f"twistd mcproxy: {path}: proxy.motd: must be a string, not an integer",
            f"twistd mcproxy: {path}: proxy.max_players: must be between 1 and 1000000, not 0",
        ])


class TrustedProxySourcesTests(ConfigFileTestCase):
    """``[proxy].proxy_protocol_trusted``: who may send a PROXY header."""

    def bind(self, bind: str, trusted: str | None = None) -> str:
        lines = f'[proxy]\nbind = {bind}'
        if trusted is not None:
            lines += f"\nproxy_protocol_trusted = {trusted}"
        return PROXY_MINIMAL.replace("[proxy]", lines)

    def test_empty_list_refused_on_an_exposed_haproxy_listener(self) -> None:
        """An empty list with a haproxy: listener on every interface would believe
        anyone's header: a config error naming the listener."""
        self.assertProxyError(
            self.bind('"haproxy:tcp:25565"'), "proxy.proxy_protocol_trusted",
            "is empty, but 'haproxy:tcp:25565' takes PROXY headers from beyond loopback: "
            "list the load balancers' addresses (CIDR), or bind it to 127.0.0.1")

    def test_empty_list_allowed_on_loopback(self) -> None:
        """Bound to loopback (IPv4 or IPv6) or a UNIX socket, only this machine can
        reach the listener, so an empty list is allowed."""
        for bind in ('"haproxy:tcp:25565:interface=127.0.0.1"', '"haproxy:tcp6:25565:interface=\\\\:\\\\:1"',
                     '"haproxy:unix:/tmp/mc.sock"', '["tcp:25566", "haproxy:tcp:25565:interface=127.0.0.2"]'):
            config = load_proxy_config(self.write(self.bind(bind)))
            self.assertEqual(config.proxy.proxy_protocol_trusted, ())

    def test_plain_listener_needs_no_list(self) -> None:
        """Without a haproxy: listener the list is irrelevant and may stay empty."""
        self.assertEqual(load_proxy_config(self.write(self.bind('"tcp:25565"'))).proxy.proxy_protocol_trusted, ())

    def test_bad_entries(self) -> None:
        """Entries must be addresses or CIDRs with no host bits set; the value must be an array."""
        self.assertProxyErrorStarts(self.bind('"haproxy:tcp:1"', '["10.0.0.1/8"]'),
                                    "proxy.proxy_protocol_trusted", "'10.0.0.1/8' is not an address or CIDR")
        self.assertProxyErrorStarts(self.bind('"haproxy:tcp:1"', '["lb.example.com"]'),
                                    "proxy.proxy_protocol_trusted", "'lb.example.com' is not")
        self.assertProxyError(self.bind('"haproxy:tcp:1"', '"10.0.0.0/8"'), "proxy.proxy_protocol_trusted",
                              'must be an array of CIDR strings, such as ["10.0.0.0/8"]')


class EveryMistakeTests(ConfigFileTestCase):
    """A file with several mistakes reports all of them at once, in file order."""

    def test_two_mistakes_in_file_order(self) -> None:
        """Two mistakes in different tables come back together, the first one in the
        file first, whatever order the checks run in."""
        text = PROXY_MINIMAL.replace(
            "[servers]", '[rate_limits]\nhandshake_concurrent_max = 0\n\n[servers]'
        ).replace("[proxy]", '[proxy]\nforwarding = "velocity"')
        path = self.write(text)
        error = self.proxyError(text)
        self.assertEqual(str(error).splitlines(), [
            f"{path}: proxy.forwarding: must be one of none, legacy, bungeeguard, modern, not 'velocity'",
            f"{path}: rate_limits.handshake_concurrent_max: must be between 1 and 65536, not 0",
        ])
        self.assertEqual((error.key, len(error.errors)), ("proxy.forwarding", 2))

    def test_order_follows_file_not_checks(self) -> None:
        """[admin] written before [proxy] is reported before it."""
        text = '[admin]\nbind = "nonsense:1"\n' + PROXY_MINIMAL.replace("[proxy]", "[proxy]\nmax_players = -1")
        keys = [e.key for e in self.proxyError(text).errors]
        self.assertEqual(keys, ["admin.bind", "proxy.max_players"])

    def test_unknown_keys_and_sections_all_reported(self) -> None:
        """Every unknown key and section is listed, not only the first."""
        text = PROXY_MINIMAL.replace("[proxy]", "[proxy]\nmotdd = 'x'\nmax_player = 3") + "\n[sever]\n"
        keys = [e.key for e in self.proxyError(text).errors]
        self.assertEqual(keys, ["proxy.motdd", "proxy.max_player", "sever"])

    def test_raising_section_does_not_hide_the_next(self) -> None:
        """A check that cannot go on (a missing favicon file) ends its own section only."""
        text = PROXY_MINIMAL.replace("[proxy]", '[proxy]\nfavicon = "nope.png"').replace(
            "[servers]", "[rate_limits]\nrouting_concurrent_max = 0\n\n[servers]")
        keys = [e.key for e in self.proxyError(text).errors]
        self.assertEqual(keys, ["proxy.favicon", "rate_limits.routing_concurrent_max"])

    def test_no_cascade_from_a_substituted_default(self) -> None:
        """A bad value replaced by its default does not raise a second error of its own:
        with forwarding misspelt and no secret, only the misspelling is reported."""
        text = '[proxy]\nforwarding = "modrn"\n\n[messaging]\nenabled = false\n\n[servers]\nlobby = "127.0.0.1:25566"\ntry = ["lobby"]\n'
        keys = [e.key for e in self.proxyError(text).errors]
        self.assertEqual(keys, ["proxy.forwarding"])

    def test_backend_two_mistakes(self) -> None:
        """The backend config collects the same way."""
        text = BACKEND_MINIMAL + '\nenforce_proxy = "yes"\n\n[admin]\nbind = 7\n'
        path = os.path.join(self.dir, "backend.toml")
        self.assertEqual(str(self.backendError(text)).splitlines(), [
            f"{path}: backend.enforce_proxy: must be a boolean (true or false), not a string",
            f"{path}: admin.bind: must be a string, not an integer",
        ])

    def test_check_config_prints_every_mistake(self) -> None:
        """``mcproxyctl check-config`` prints each mistake on its own line and exits 1."""
        path = self.write(PROXY_MINIMAL.replace("[proxy]", "[proxy]\nmotd = 1\nmax_players = 0"))
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            code = ctl.main(["check-config", path])
        self.assertEqual(code, 1)
        self.assertEqual([line.split(": ")[1] for line in out.getvalue().splitlines()],
                         ["proxy.motd", "proxy.max_players"])


class DataclassTests(SynchronousTestCase):
    """
    The dataclasses carry exactly the documented keys.
    """

    def test_proxyKeys(self) -> None:
        """[proxy] fields are the contract keys plus the documented extras."""
        self.assertEqual(
            [f.name for f in fields(ProxySection)],
            [
                "bind", "binds", "motd", "max_players", "online_mode", "session_server",
                "session_server_ca_file", "compression_threshold", "forwarding",
                "favicon", "favicon_png", "accept_transfers", "status_passthrough",
                "handshake_timeout", "login_timeout", "connect_timeout", "read_timeout", "fallback_hold",
                "max_frame_size_prelogin", "kick_existing_players", "status_player_sample",
                "bungee_plugin_channel",
                "proxy_protocol_trusted", "workers",
            ],
        )


_KEYS = sorted(
    {f.name for cls in (ProxySection, MessagingSection, RateLimitsSection,
                        AdminSection, LoggingSection, PluginsSection, BackendSection,
                        BackendMessagingSection, QuerySection, ClusterSection) for f in fields(cls)}
    | {"try", "lobby", "proxy_secret_file", "token_file", "bogus"}
)
_SECTIONS = [
    "proxy", "security", "servers", "forced_hosts", "motd_by_host", "permissions",
    "messaging",
    "rate_limits", "admin", "logging", "plugins", "query", "cluster", "backend", "bogus",
]
# toml.dumps itself breaks on backslashes and characters repr() escapes.
_TEXT = st.characters(
    categories=("L", "N", "P", "S"), include_characters=" ", exclude_characters="\\"
)
_VALUES = st.one_of(
    st.booleans(),
    st.integers(min_value=-(2**40), max_value=2**40),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(_TEXT, max_size=24),
    st.lists(st.text(_TEXT, max_size=12), max_size=3),
)
_DOCUMENTS = st.dictionaries(
    st.sampled_from(_SECTIONS),
    st.dictionaries(st.sampled_from(_KEYS), _VALUES, max_size=5),
    max_size=6,
)
_FUZZ = settings(
    max_examples=int(os.environ.get("MCPROXY_FUZZ_EXAMPLES", "300")),
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)


class RobustnessTests(ConfigFileTestCase):
    """
    Whatever a file holds, loading ends in a config or a ConfigError.
    """

    @_FUZZ
    @given(st.text(max_size=200))
    def test_anyText(self, text: str) -> None:
        """Arbitrary text never escapes as another exception (a traceback)."""
        path = self.write(text)
        for load in (load_proxy_config, load_backend_config, check_config):
            try:
                load(path)
            except ConfigError:
                pass

    @_FUZZ
    @given(_DOCUMENTS, st.sampled_from(["proxy", "backend"]))
    def test_anyValues(self, document: dict[str, dict[str, object]], kind: str) -> None:
        """Any keys and values give a ConfigError at worst, never naming the secret."""
        document.setdefault(kind, {})
        secret_table = "security" if kind == "proxy" else "backend"
        document.setdefault(secret_table, {})["proxy_secret"] = MARKER
        path = self.write(toml.dumps(document))
        load = load_proxy_config if kind == "proxy" else load_backend_config
        try:
            load(path)
        except ConfigError as error:
            self.assertNotIn(MARKER[:16], str(error))


class ProbeIntervalTests(ConfigFileTestCase):
    """
    ``[admin] probe_interval`` sets how fast the proxy's /health notices a backend.
    """

    def test_default(self) -> None:
        """Without the key the proxy probes every 10 seconds."""
        config = load_proxy_config(self.write(PROXY_MINIMAL))
        self.assertEqual(config.admin.probe_interval, 10.0)

    def test_set(self) -> None:
        """An integer or fractional number of seconds is taken as a float."""
        config = load_proxy_config(self.write(PROXY_MINIMAL + "[admin]\nprobe_interval = 2\n"))
        self.assertEqual(config.admin.probe_interval, 2.0)
        config = load_proxy_config(self.write(PROXY_MINIMAL + "[admin]\nprobe_interval = 0.5\n"))
        self.assertEqual(config.admin.probe_interval, 0.5)

    def test_tooFast(self) -> None:
        """Below half a second, probes would only load the backends."""
        self.assertProxyError(
            PROXY_MINIMAL + "[admin]\nprobe_interval = 0.1\n",
            "admin.probe_interval",
            "must be at least 0.5 seconds, not 0.1",
        )

    def test_outOfRange(self) -> None:
        """Zero, negative and over-an-hour intervals are refused."""
        for value in ("0", "-5", "3601"):
            self.assertProxyError(
                PROXY_MINIMAL + f"[admin]\nprobe_interval = {value}\n",
                "admin.probe_interval",
                f"must be greater than 0 and at most 3600, not {value}",
            )

    def test_notANumber(self) -> None:
        """A string is refused by type, not parsed."""
        self.assertProxyError(
            PROXY_MINIMAL + '[admin]\nprobe_interval = "10"\n',
            "admin.probe_interval",
            "must be a number, not a string",
        )

    def test_backendHasNone(self) -> None:
        """A backend probes nothing, so the key is unknown there."""
        self.assertBackendError(
            BACKEND_MINIMAL + "[admin]\nprobe_interval = 5\n",
            "admin.probe_interval",
            "unknown key",
        )
