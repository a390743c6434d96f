"""The version matrix: a minecraft-protocol client of each version joins through the proxy to a
minecraft-protocol server of the same version, and plays through a list of steps.

One backend process serves every version (one port each), one proxy routes each version by
forced host, and the clients run at once, so the whole matrix costs about one join.  Each
step is a line the client sends, what the backend must see and what the client must read
back; a later step (moving to a second backend) is one more entry in :func:`steps`.
"""

from __future__ import annotations

from dataclasses import dataclass

from twisted.internet import defer, reactor, ssl
from twisted.trial.unittest import SkipTest, TestCase
from twisted.web import server

from mcproxy.wire.forwarding import offline_uuid
from tests.integration.harness import (
    TEST_SECRET, NodePeer, free_port, make_ca_and_server_cert, node_missing, temp_dir, write_proxy_config,
)
from tests.integration.proxy_harness import game_port, run_proxy
from tests.integration.test_online_mode import PROFILE_ID, SessionServer

#: Every version the matrix runs, oldest first (1.20.5+ run in test_sessions_peers).
MATRIX = ("1.8.8", "1.9.4", "1.12.2", "1.13.2", "1.16.5", "1.17.1", "1.18.2", "1.19.2", "1.19.4", "1.20.1",
          "1.20.2", "1.20.4")


#: Every player of the matrix logs in from 127.0.0.1 at once.
RATE_LIMITS = "\n[rate_limits]\nlogins_per_address_burst = 50\nconnections_per_address_burst = 100\n"


@dataclass(frozen=True)
class Step:
    """One thing a player does: the line sent, what its backend (the first or, after the
    move, the second) reports (once), what it must never see, and what the player reads back
    (a chat line, or "completions: ...")."""

    name: str
    line: str
    backend_event: dict | None
    answer: str
    unseen: dict | None = None
    second: bool = False


#: Versions whose client completes command names from the server's command tree (1.13 on).
TREE_VERSIONS = {"1.13.2", "1.16.5", "1.17.1", "1.18.2", "1.19.2", "1.19.4", "1.20.1", "1.20.2", "1.20.4"}


def steps(version: str, second: str) -> tuple[Step, ...]:
    """What each player of ``version`` does through the proxy, in order; ``second`` is the
    server it moves to."""
    chat = f"hello from {version}"
    there = f"hello from {version} on {second}"
    # Before 1.13 the backend is asked and the proxy adds its /server to the answer; from
    # 1.13 the client completes from the backend's tree with the proxy's commands merged in.
    asked = None if version in TREE_VERSIONS else {"event": "tab_complete", "text": "/ser"}
    return (
        Step("chat", chat, {"event": "chat", "message": chat}, f"backend heard: {chat}"),
        Step("backend command", "/ping", {"event": "command", "command": "ping"}, "backend ran /ping"),
        Step("proxy command /glist answered", "/glist", None, "Total players online:",
             unseen={"event": "command", "command": "glist"}),
        Step("tab complete of /ser offers /server", "tab:/ser", asked, "completions: /server /serverinfo"),
        Step("move", f"/server {second}", {"event": "join"}, f"You are now connected to {second}.", second=True),
        Step("chat there", there, {"event": "chat", "message": there}, f"backend heard: {there}", second=True),
    )


def moved(client_events: list) -> tuple[int, int]:
    """How many Join Games, and Respawns after the second one, a client read."""
    plays = [i for i, e in enumerate(client_events) if e["event"] == "play"]
    respawns = [e for e in client_events[plays[1]:] if e["event"] == "respawn"] if len(plays) > 1 else []
    return len(plays), len(respawns)


def player(version: str) -> str:
    return "P" + version.replace(".", "_")


def host(version: str) -> str:
    return f"v{version.replace('.', '-')}.matrix.test"


class VersionMatrixTests(TestCase):
    timeout = 240

    def setUp(self):
        reason = node_missing()
        if reason:
            raise SkipTest(reason)

    @defer.inlineCallbacks
    def backends(self, versions, env=None) -> defer.Deferred:
        """One node process serving each version on a port of its own: ``(peer, {version: port})``.
        The ports were only probed free: when one was taken in between, it starts again on others."""
        for attempt in range(3):
            ports = {version: free_port() for version in versions}
            peer = NodePeer("version_backend.js", *(f"{port}:{version}" for version, port in ports.items()),
                            env=env)
            self.addCleanup(peer.stop)
            try:
                for version in versions:
                    yield peer.wait_for("listening", timeout=60, version=version)
            except RuntimeError:
                if attempt < 2 and b"EADDRINUSE" in peer.protocol.stderr:
                    continue
                raise
            return peer, ports

    @defer.inlineCallbacks
    def proxy(self, servers: dict[str, dict], forced: dict[str, list[str]], forwarding: str = "legacy",
              extra: str = "", directory=None, online_mode: bool = False):
        """An in-process proxy; ``servers`` are table-form entries (address, forwarding)."""
        directory = directory or temp_dir(self)
        tables = "".join(f'\n[servers.{name}]\naddress = "127.0.0.1:{entry["port"]}"\n'
                         + (f'forwarding = "{entry["forwarding"]}"\n' if entry.get("forwarding") else "")
                         for name, entry in servers.items())
        forced_lines = "".join(f'"{name}" = {list(names)!r}\n'.replace("'", '"') for name, names in forced.items())
        path = write_proxy_config(directory, 0, {}, forwarding=forwarding, online_mode=online_mode,
                                  try_order=[next(iter(servers))],
                                  extra=extra + f"\n[forced_hosts]\n{forced_lines}{tables}{RATE_LIMITS}")
        self.proxy_process = yield run_proxy(self, path)
        self.port = game_port(self.proxy_process)

    def client(self, version: str, name: str, forced_host: str, *lines: str, env=None) -> NodePeer:
        # Generous: a dozen clients load minecraft-data at once on a busy two-core machine.
        peer = NodePeer("version_client.js", "127.0.0.1", self.port, version, name, *lines,
                        env={"FAKE_HOST": forced_host, "CLIENT_TIMEOUT_MS": "100000", **(env or {})})
        self.addCleanup(peer.stop)
        return peer

    def refusals(self) -> dict[str, float]:
        return {sample.labels["reason"]: sample.value
                for family in self.proxy_process.registry.collect() if family.name == "mcproxy_refusals"
                for sample in family.samples if sample.name.endswith("_total")}

    @defer.inlineCallbacks
    def test_every_version_joins_chats_runs_a_backend_command_and_moves(self):
        """Each version from 1.8.8 to 1.20.4 joins through the proxy (legacy forwarding: the
        backend sees the address and the offline UUID in the handshake host), and each step's
        line reaches its backend, whose answer reaches the client; the proxy's /glist is
        answered by the proxy alone, and completing "/ser" offers the proxy's /server beside
        the backend's /serverinfo; ``/server`` moves it to a second backend (a second Join
        Game; before 1.20.2 followed by the Respawn pair) where its chat arrives; then the
        player leaves both."""
        backend, ports = yield self.backends(MATRIX)
        other, other_ports = yield self.backends(MATRIX)
        servers = {f"s{port}": {"port": port} for port in ports.values()}
        servers.update({f"t{port}": {"port": port} for port in other_ports.values()})
        yield self.proxy(servers, {host(version): [f"s{ports[version]}"] for version in MATRIX})
        plan = {version: steps(version, f"t{other_ports[version]}") for version in MATRIX}
        clients = {version: self.client(version, player(version), host(version),
                                         *(step.line for step in plan[version]))
                   for version in MATRIX}
        codes = yield defer.gatherResults([client.finished(150) for client in clients.values()])
        # The backends report through their own pipes: each player's "leave" is the last line
        # of its connection there, so once both are in, all the backends saw of it is read.
        for version, code in zip(MATRIX, codes):
            if code == 0:
                yield backend.wait_for("leave", timeout=20, port=ports[version])
                yield other.wait_for("leave", timeout=20, port=other_ports[version])
        for (version, client), code in zip(clients.items(), codes):
            self.assertEqual(code, 0, (version, client.events))
            name = player(version)
            events = {False: [e for e in backend.events if e.get("port") == ports[version]],
                      True: [e for e in other.events if e.get("port") == other_ports[version]]}
            for where in events.values():
                [join] = [e for e in where if e["event"] == "join"]
                self.assertEqual(join["username"], name, version)
                self.assertEqual(join["host"].split("\x00")[:3],
                                 [host(version), "127.0.0.1", offline_uuid(name).hex], version)
            heard = [e["text"] for e in client.events if e["event"] == "chat"]
            heard += ["completions: " + " ".join(e["matches"]) for e in client.events if e["event"] == "completions"]
            for step in plan[version]:
                where = events[step.second]
                for wanted, count in ((step.backend_event, 1), (step.unseen, 0)):
                    if wanted is not None:
                        seen = [e for e in where if all(e.get(k) == v for k, v in wanted.items())]
                        self.assertEqual(len(seen), count, (version, step.name, where))
                self.assertTrue(any(step.answer in text for text in heard), (version, step.name, client.events))
            plays, respawns = moved(client.events)
            self.assertEqual(plays, 2, (version, client.events))
            reconfigures = version in ("1.20.2", "1.20.4")
            self.assertEqual(respawns, 0 if reconfigures else 2, (version, client.events))
            self.assertIn({"event": "leave", "username": name, "port": ports[version]}, events[False], version)
            self.assertIn({"event": "leave", "username": name, "port": other_ports[version]}, events[True], version)
        self.assertEqual(self.refusals(), {})

    @defer.inlineCallbacks
    def test_kick_falls_back_on_old_versions(self):
        """A 1.8.8 and a 1.12.2 player kicked by their backend land on the next server of the
        forced host's list (a second Join Game and the Respawn pair), are told why there in
        their version's chat packet, and chat on."""
        versions = ("1.8.8", "1.12.2")
        backend, ports = yield self.backends(versions)
        other, other_ports = yield self.backends(versions)
        servers = {f"s{port}": {"port": port} for port in ports.values()}
        servers.update({f"t{port}": {"port": port} for port in other_ports.values()})
        yield self.proxy(servers, {host(v): [f"s{ports[v]}", f"t{other_ports[v]}"] for v in versions})
        clients = {v: self.client(v, player(v), host(v), "/kickme", f"still here on {v}") for v in versions}
        codes = yield defer.gatherResults([client.finished(90) for client in clients.values()])
        for version, code in zip(versions, codes):
            if code == 0:
                yield other.wait_for("leave", timeout=20, port=other_ports[version])
        for (version, client), code in zip(clients.items(), codes):
            self.assertEqual(code, 0, (version, client.events))
            heard = [e["text"] for e in client.events if e["event"] == "chat"]
            self.assertIn(f"You were kicked from s{ports[version]}: Kicked by the matrix backend "
                          f"You are now on t{other_ports[version]}.", heard, version)
            self.assertIn(f"backend heard: still here on {version}", heard, version)
            self.assertEqual(moved(client.events), (2, 2), (version, client.events))
            self.assertFalse([e for e in client.events if e["event"] in ("kicked", "disconnected")], version)
            self.assertIn({"port": other_ports[version], "event": "chat", "username": player(version),
                           "message": f"still here on {version}"}, other.events)

    @defer.inlineCallbacks
    def test_backend_kick_reaches_the_player(self):
        """A backend's kick (JSON text before 1.20.3, NBT from it) reaches a player of each
        generation with its reason, and the proxy lets them go."""
        versions = ("1.8.8", "1.12.2", "1.16.5", "1.20.2", "1.20.4")
        backend, ports = yield self.backends(versions)
        yield self.proxy({f"s{port}": {"port": port} for port in ports.values()},
                         {host(version): [f"s{ports[version]}"] for version in versions})
        clients = {version: self.client(version, player(version), host(version), "/kickme") for version in versions}
        yield defer.gatherResults([client.finished(110) for client in clients.values()])
        for version, client in clients.items():
            reasons = [e["reason"] for e in client.events if e["event"] == "kicked"]
            self.assertEqual(reasons, ["Kicked by the matrix backend"], (version, client.events))
        self.assertEqual(len(self.proxy_process.core.players), 0)

    @defer.inlineCallbacks
    def test_mineflayer_spawns(self):
        """mineflayer bots of 1.8.8, 1.12.2, 1.16.5 and 1.20.4 spawn through the proxy."""
        versions = ("1.8.8", "1.12.2", "1.16.5", "1.20.4")
        backend, ports = yield self.backends(versions)
        yield self.proxy({f"s{port}": {"port": port} for port in ports.values()},
                         {host(version): [f"s{ports[version]}"] for version in versions})
        bots = {}
        for version in versions:
            bot = bots[version] = NodePeer("bot.js", "127.0.0.1", self.port, version, "B" + player(version)[1:],
                                           env={"FAKE_HOST": host(version), "CLIENT_TIMEOUT_MS": "60000"})
            self.addCleanup(bot.stop)
        codes = yield defer.gatherResults([bot.finished(110) for bot in bots.values()])
        for (version, bot), code in zip(bots.items(), codes):
            self.assertEqual(code, 0, (version, bot.events))
            self.assertIn("spawn", [e["event"] for e in bot.events], version)

    @defer.inlineCallbacks
    def test_mineflayer_moves_with_server(self):
        """mineflayer bots of 1.8.8, 1.12.2, 1.16.5 and 1.20.1 move to a second backend with
        /server: each reads the new Join Game and the two Respawns, spawns again as the new
        server's entity, and its chat reaches the second backend."""
        versions = ("1.8.8", "1.12.2", "1.16.5", "1.20.1")
        backend, ports = yield self.backends(versions)
        other, other_ports = yield self.backends(versions)
        servers = {f"s{port}": {"port": port} for port in ports.values()}
        servers.update({f"t{port}": {"port": port} for port in other_ports.values()})
        yield self.proxy(servers, {host(version): [f"s{ports[version]}"] for version in versions})
        bots = {}
        for version in versions:
            name = "M" + player(version)[1:]
            bot = bots[version] = NodePeer("switch_bot.js", "127.0.0.1", self.port, version, name,
                                           f"t{other_ports[version]}", f"moved on {version}",
                                           env={"FAKE_HOST": host(version)})
            self.addCleanup(bot.stop)
        codes = yield defer.gatherResults([bot.finished(90) for bot in bots.values()])
        for version, code in zip(versions, codes):
            if code == 0:
                yield other.wait_for("leave", timeout=20, port=other_ports[version])
        for (version, bot), code in zip(bots.items(), codes):
            self.assertEqual(code, 0, (version, bot.events))
            kinds = [e["event"] for e in bot.events]
            second_login = [i for i, kind in enumerate(kinds) if kind == "login"][1]
            self.assertEqual(kinds[second_login:].count("respawn"), 2, (version, bot.events))
            spawns = [e for e in bot.events if e["event"] == "spawn"]
            self.assertGreaterEqual(len(spawns), 2, (version, bot.events))
            logins = [e["entityId"] for e in bot.events if e["event"] == "login"]
            self.assertEqual(spawns[-1]["entityId"], logins[-1], version)
            self.assertIn({"port": other_ports[version], "event": "chat", "username": "M" + player(version)[1:],
                           "message": f"moved on {version}"}, other.events)
        self.assertEqual(self.refusals(), {})

    @defer.inlineCallbacks
    def test_modern_forwarding_from_1_13_and_its_refusal_before(self):
        """A 1.13.2 backend asking for velocity:player_info gets an answer its Velocity-style
        verifier accepts (HMAC-SHA256 with the shared secret, forwarding version 1, address,
        UUID, name); a 1.12.2 player sent only to a modern server is told to update and the
        refusal counted as FORWARDING_UNSUPPORTED, with no connection to that server; with a
        legacy server next in the list the 1.12.2 player lands there instead."""
        modern, modern_ports = yield self.backends(("1.13.2", "1.12.2"), env={"MODERN_SECRET": TEST_SECRET})
        legacy, legacy_ports = yield self.backends(("1.12.2",))
        yield self.proxy(
            {"modern13": {"port": modern_ports["1.13.2"], "forwarding": "modern"},
             "modern12": {"port": modern_ports["1.12.2"], "forwarding": "modern"},
             "legacy12": {"port": legacy_ports["1.12.2"], "forwarding": "legacy"}},
            {"new.test": ["modern13"], "old.test": ["modern12"], "either.test": ["modern12", "legacy12"]})
        new = self.client("1.13.2", "Modern", "new.test", "hello modern")
        old = self.client("1.12.2", "Oldie", "old.test", "hello")
        either = self.client("1.12.2", "Faller", "either.test", "hello legacy")
        new_code, old_code, either_code = yield defer.gatherResults([c.finished(110) for c in (new, old, either)])
        self.assertEqual(new_code, 0, (new.events, modern.events))
        yield modern.wait_for("leave", timeout=20, port=modern_ports["1.13.2"])
        [forwarded] = [e for e in modern.events if e["event"] == "modern_forwarding"]
        self.assertEqual(forwarded, {"port": modern_ports["1.13.2"], "event": "modern_forwarding", "valid": True,
                                     "version": 1, "address": "127.0.0.1", "uuid": str(offline_uuid("Modern")),
                                     "name": "Modern"})
        self.assertIn("backend heard: hello modern", [e["text"] for e in new.events if e["event"] == "chat"])
        self.assertNotEqual(old_code, 0)
        reasons = [e["reason"] for e in old.events if e["event"] in ("disconnected", "kicked")]
        self.assertEqual(reasons, ["This server requires Minecraft 1.13 or newer."], old.events)
        self.assertFalse([e for e in modern.events if e.get("port") == modern_ports["1.12.2"] and e["event"] == "join"])
        self.assertEqual(either_code, 0, either.events)
        self.assertIn("backend heard: hello legacy", [e["text"] for e in either.events if e["event"] == "chat"])
        self.assertEqual(self.refusals(), {"FORWARDING_UNSUPPORTED": 1.0})
        attempts = {(s.labels["server"], s.labels["result"]): s.value
                    for f in self.proxy_process.registry.collect() if f.name == "mcproxy_routing_attempts"
                    for s in f.samples if s.name.endswith("_total")}
        self.assertEqual(attempts, {("modern13", "ok"): 1.0, ("modern12", "FORWARDING_UNSUPPORTED"): 2.0,
                                    ("legacy12", "ok"): 1.0})

    @defer.inlineCallbacks
    def test_online_mode_per_login_generation(self):
        """Clients of 1.8.8, 1.12.2, 1.19.2 and 1.20.2 log in encrypted, one after the other,
        against a local session server (each Encryption Request and Response in its version's
        layout: no shouldAuthenticate before 1.20.5, the verify-token flag of 1.19 - 1.19.2)
        and join as the session server's profile, its UUID as text in 1.8.8's and 1.12.2's
        Login Success and forwarded to the backend."""
        versions = ("1.8.8", "1.12.2", "1.19.2", "1.20.2")
        directory = temp_dir(self)
        ca_path, cert_pem, key_pem = make_ca_and_server_cert(directory)
        session = SessionServer(True)
        cert = ssl.PrivateCertificate.loadPEM(cert_pem + key_pem)
        listening = reactor.listenSSL(0, server.Site(session), cert.options(), interface="127.0.0.1")
        self.addCleanup(listening.stopListening)
        url = f"https://localhost:{listening.getHost().port}"
        backend, ports = yield self.backends(versions)
        yield self.proxy({f"s{port}": {"port": port} for port in ports.values()},
                         {host(version): [f"s{ports[version]}"] for version in versions}, directory=directory,
                         online_mode=True, extra=f'session_server = "{url}"\nsession_server_ca_file = "{ca_path}"\n')
        for count, version in enumerate(versions, 1):
            client = self.client(version, "Notch", host(version), f"hello online {version}",
                                 env={"SESSION_SERVER": url, "PROFILE_ID": str(PROFILE_ID),
                                      "NODE_EXTRA_CA_CERTS": str(ca_path)})
            code = yield client.finished(110)
            self.assertEqual(code, 0, (version, client.events))
            self.assertEqual(len(session.has_joined_queries), count, version)
            [success] = [e for e in client.events if e["event"] == "login_success"]
            self.assertEqual(success["uuid"], str(PROFILE_ID), version)
            yield backend.wait_for("leave", timeout=20, port=ports[version])
            [join] = [e for e in backend.events if e["event"] == "join" and e["port"] == ports[version]]
            self.assertEqual(join["host"].split("\x00")[2], PROFILE_ID.hex, version)
            self.assertIn(f"backend heard: hello online {version}",
                          [e["text"] for e in client.events if e["event"] == "chat"], version)
