"""The command registry: canonical encoding, digest, serial and subscriptions."""

from __future__ import annotations

import hashlib
import json

from hypothesis import given
from hypothesis import strategies as st
from twisted.trial.unittest import SynchronousTestCase

from mcproxy.control.registry import (
    CommandRegistry,
    CommandSpec,
    command_name,
    decode_commands,
    encode_commands,
    specs_from,
    split_chunks,
)

names = st.text(
    alphabet=st.characters(blacklist_categories=("Cs", "Zs", "Zl", "Zp", "Cc")), min_size=1, max_size=12
)
specs = st.builds(
    CommandSpec,
    name=names,
    description=st.text(max_size=40),
    usage=st.text(max_size=20),
    permission=st.text(max_size=20),
    aliases=st.lists(names, max_size=3).map(tuple),
)


class CommandRegistryTests(SynchronousTestCase):
    def test_digest_is_sha256_of_canonical_json(self) -> None:
        """The digest is SHA-256 over sorted, compact JSON, whatever the insertion order."""
        a = CommandRegistry([CommandSpec("b"), CommandSpec("a", "first")])
        b = CommandRegistry([CommandSpec("a", "first"), CommandSpec("b")])
        self.assertEqual(a.digest, b.digest)
        self.assertEqual(a.digest, hashlib.sha256(a.encoded()).hexdigest())
        self.assertEqual(
            json.loads(a.encoded()),
            [
                {"aliases": [], "description": "first", "name": "a", "permission": "", "usage": ""},
                {"aliases": [], "description": "", "name": "b", "permission": "", "usage": ""},
            ],
        )
        self.assertNotIn(b" ", a.encoded())

    def test_serial_bumps_on_each_change_only(self) -> None:
        """Every change bumps the serial once; a no-op change does not."""
        registry = CommandRegistry(initial_serial=7)
        registry.register(CommandSpec("hub"))
        registry.register(CommandSpec("hub"))
        self.assertEqual(registry.serial, 8)
        registry.unregister("hub")
        registry.unregister("hub")
        self.assertEqual(registry.serial, 9)
        registry.replace_all([CommandSpec("x")])
        registry.replace_all([CommandSpec("x")])
        self.assertEqual(registry.serial, 10)

    def test_seeded_serial_grows_across_restarts(self) -> None:
        """A registry seeded from the clock starts above one seeded earlier."""
        before = CommandRegistry.seeded_from(1000.0)
        before.register(CommandSpec("a"))
        after = CommandRegistry.seeded_from(1001.0)
        self.assertGreater(after.serial, before.serial)

    def test_subscribers_called_after_change(self) -> None:
        """Subscribers see the new serial; an unsubscribed callback is not called."""
        registry = CommandRegistry()
        seen: list[int] = []
        unsubscribe = registry.subscribe(lambda: seen.append(registry.serial))
        registry.register(CommandSpec("a"))
        unsubscribe()
        registry.register(CommandSpec("b"))
        self.assertEqual(seen, [1])

    def test_lookup_by_name_or_alias(self) -> None:
        """Commands resolve by name or alias, case-insensitively, with or without a slash."""
        registry = CommandRegistry([CommandSpec("server", aliases=("srv",))])
        self.assertEqual(registry.lookup(command_name("/SRV lobby")).name, "server")
        self.assertIsNone(registry.lookup(command_name("nope")))
        self.assertEqual(command_name("   "), "")

    def test_specs_from_command_objects(self) -> None:
        """Any object with the usual command attributes can feed the registry."""

        class Command:
            def __init__(self, name: str, **kw: str) -> None:
                self.name = name
                self.description = kw.get("description", "")
                self.permission = kw.get("permission", "")
                self.usage = kw.get("usage", "")

        registry = CommandRegistry()
        registry.replace_all(specs_from([Command("glist", description="who is where", permission="mcproxy.glist")]))
        self.assertEqual(
            registry.snapshot(),
            [CommandSpec("glist", "who is where", "", "mcproxy.glist")],
        )

    def test_invalid_names_refused(self) -> None:
        """A command name with spaces could never be invoked, so it is refused."""
        self.assertRaises(ValueError, CommandSpec, "two words")
        self.assertRaises(ValueError, CommandSpec, "")

    def test_decode_refuses_malformed(self) -> None:
        """Anything but a list of command objects is a ValueError."""
        for payload in (b"{}", b"[1]", b'[{"name": 3}]', b"\xff", b'[{"name":"a","aliases":"x"}]'):
            self.assertRaises(ValueError, decode_commands, payload)

    def test_split_chunks(self) -> None:
        """Chunks cover the payload in order, at least one even when empty."""
        self.assertEqual(split_chunks(b"", 4), [b""])
        self.assertEqual(split_chunks(b"abcdefghij", 4), [b"abcd", b"efgh", b"ij"])
        self.assertEqual(split_chunks(b"abcd", 4), [b"abcd"])

    @given(st.lists(specs, max_size=8, unique_by=lambda s: s.name))
    def test_round_trip(self, commands: list[CommandSpec]) -> None:
        """Decoding an encoded snapshot gives back the same commands."""
        decoded = decode_commands(encode_commands(commands))
        self.assertEqual(list(decoded), sorted(commands, key=lambda c: c.name))
