"""The control link over real sockets on 127.0.0.1, plain TCP and TLS."""

from __future__ import annotations

import datetime
import os
import shutil
import tempfile
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from prometheus_client import CollectorRegistry
from twisted.internet import defer, reactor
from twisted.internet.endpoints import clientFromString, serverFromString
from twisted.internet.task import deferLater
from twisted.logger import Logger
from twisted.python.filepath import FilePath
from twisted.trial.unittest import TestCase

from mcproxy.control.backend_side import BackendControlLink
from mcproxy.control.proxy_side import ControlServerFactory
from mcproxy.control.registry import CommandRegistry, CommandSpec
from mcproxy.control.results import TransferResult
from mcproxy.testing import InMemoryPlayerDirectory

SECRET = os.urandom(32)


def write_tls_material(directory: FilePath, name: str) -> tuple[FilePath, FilePath, FilePath]:
    """A throwaway CA and a server certificate for C{name} signed by it."""
    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "mcproxy test CA")])
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True, content_commitment=False, key_encipherment=False,
                data_encipherment=False, key_agreement=False, key_cert_sign=True,
                crl_sign=True, encipher_only=False, decipher_only=False,
            ),
            critical=True,
        )
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    directory.makedirs(ignoreExistingDirectory=True)
    trust = directory.child("trust")
    trust.makedirs(ignoreExistingDirectory=True)
    trust.child("ca.pem").setContent(ca_cert.public_bytes(serialization.Encoding.PEM))
    cert_file = directory.child("proxy.pem")
    cert_file.setContent(cert.public_bytes(serialization.Encoding.PEM))
    key_file = directory.child("proxy.key")
    key_file.setContent(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return trust, cert_file, key_file


class RealLinkTestCase(TestCase):
    timeout = 30

    def setUp(self) -> None:
        self.log = Logger()
        self.registry = CommandRegistry.seeded_from(
            reactor.seconds(), [CommandSpec("hub", "Back to the hub")]
        )
        self.directory = InMemoryPlayerDirectory({"alice": "lobby"}, servers=["lobby", "games"])
        self.proxy_metrics = CollectorRegistry()
        self.factory = ControlServerFactory(
            "proxy",
            SECRET,
            ["lobby"],
            self.registry,
            self.directory,
            reactor,
            self.proxy_metrics,
            self.log,
        )

    @defer.inlineCallbacks
    def listen(self, description: str) -> Any:
        port = yield serverFromString(reactor, description).listen(self.factory)
        self.addCleanup(port.stopListening)
        return port.getHost().port

    def link(self, client_description: str) -> BackendControlLink:
        link = BackendControlLink(
            "lobby",
            SECRET,
            clientFromString(reactor, client_description),
            reactor,
            CollectorRegistry(),
            self.log,
            heartbeat_interval=0.2,
            retry_initial_delay=0.05,
            retry_max_delay=0.2,
        )
        link.startService()
        self.addCleanup(link.stopService)
        return link

    @defer.inlineCallbacks
    def until(self, condition: Any, limit: float = 10.0) -> Any:
        waited = 0.0
        while not condition():
            if waited > limit:
                self.fail("condition not reached in time")
            yield deferLater(reactor, 0.02, lambda: None)
            waited += 0.02

    @defer.inlineCallbacks
    def exercise(self, link: BackendControlLink) -> Any:
        yield link.when_synchronized()
        self.assertEqual(link.digest, self.registry.digest)
        moved = yield link.request_transfer("alice", "games")
        self.assertEqual(moved, TransferResult(True))
        ran = yield link.execute_command("alice", "/hub")
        self.assertTrue(ran.ok)
        self.registry.register(CommandSpec("spawn"))
        yield self.until(lambda: link.serial == self.registry.serial)
        self.assertTrue(link.synchronized)
        yield self.until(lambda: self.factory.links["lobby"].last_heartbeat is not None)
        self.assertTrue(self.factory.links["lobby"].synchronized)


class TCPLinkTests(RealLinkTestCase):
    @defer.inlineCallbacks
    def test_sync_and_bridge_over_tcp(self) -> Any:
        """Over real TCP the backend links, syncs, bridges, follows a change and heartbeats."""
        port = yield self.listen("tcp:0:interface=127.0.0.1")
        link = self.link(f"tcp:host=127.0.0.1:port={port}")
        yield self.exercise(link)


class TLSLinkTests(RealLinkTestCase):
    def tls(self) -> tuple[FilePath, FilePath, FilePath]:
        directory = tempfile.mkdtemp(prefix="mcproxy-tls-")
        self.addCleanup(shutil.rmtree, directory, True)
        return write_tls_material(FilePath(directory), "proxy.test")

    @defer.inlineCallbacks
    def test_sync_and_bridge_over_tls(self) -> Any:
        """With ssl: endpoints the backend verifies the proxy's certificate name and links."""
        trust, cert, key = self.tls()
        port = yield self.listen(
            f"ssl:0:interface=127.0.0.1:privateKey={key.path}:certKey={cert.path}"
        )
        link = self.link(
            f"ssl:host=127.0.0.1:port={port}:caCertsDir={trust.path}:hostname=proxy.test"
        )
        yield self.exercise(link)

    @defer.inlineCallbacks
    def test_wrong_name_never_links(self) -> Any:
        """A certificate for another name fails verification, so no control message flows."""
        trust, cert, key = self.tls()
        port = yield self.listen(
            f"ssl:0:interface=127.0.0.1:privateKey={key.path}:certKey={cert.path}"
        )
        link = self.link(
            f"ssl:host=127.0.0.1:port={port}:caCertsDir={trust.path}:hostname=other.test"
        )
        yield deferLater(reactor, 0.5, lambda: None)
        self.assertFalse(link.link_up)
        self.assertFalse(self.factory.links["lobby"].link_up)
        self.assertEqual(self.factory.peer.secret_usage(), {})
