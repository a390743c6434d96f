"""Hostile datagrams against the query codec and listener: a WireError or an answer, nothing else."""

from __future__ import annotations

import struct

from hypothesis import given
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry
from twisted.internet.task import Clock
from twisted.logger import Logger
from twisted.trial.unittest import SynchronousTestCase

from mcproxy.ops.metrics import ProxyMetrics
from mcproxy.proxy.query import QueryProtocol
from mcproxy.wire.query import MAX_ANSWER, parse_request
from mcproxy.wire.types import WireError
from tests.fuzzing import fuzz
from tests.test_proxy_query import INFO

#: Datagrams that look like queries often enough to reach past the magic.
_DATAGRAMS = st.one_of(
    st.binary(max_size=64),
    st.tuples(st.sampled_from([0, 9, 1, 255]), st.integers(-2**31, 2**31 - 1), st.binary(max_size=12)).map(
        lambda t: b"\xfe\xfd" + bytes([t[0]]) + struct.pack(">i", t[1]) + t[2]),
)


class _Sink:
    def __init__(self) -> None:
        self.sent: list[bytes] = []

    def write(self, data: bytes, addr: tuple) -> None:
        self.sent.append(data)


class QueryFuzzTests(SynchronousTestCase):
    @fuzz()
    @given(_DATAGRAMS)
    def test_parse_refuses_with_a_reason(self, data: bytes) -> None:
        """Any datagram parses or is a BAD_QUERY."""
        try:
            parse_request(data)
        except WireError as error:
            self.assertEqual(error.reason, "BAD_QUERY")

    @fuzz()
    @given(st.lists(_DATAGRAMS, max_size=20))
    def test_listener_answers_little_without_a_token(self, datagrams: list[bytes]) -> None:
        """Without a handshake first, nothing but handshake answers (at most 16 bytes) go out."""
        protocol = QueryProtocol(Clock(), lambda: INFO, ProxyMetrics(CollectorRegistry()), Logger())
        protocol.transport = _Sink()
        for data in datagrams:
            protocol.datagramReceived(data, ("192.0.2.1", 1))
        for answer in protocol.transport.sent:
            self.assertLessEqual(len(answer), 16)
            self.assertEqual(answer[:1], b"\x09")
        self.assertTrue(all(len(a) <= MAX_ANSWER for a in protocol.transport.sent))
