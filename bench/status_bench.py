"""Status pings per second through the proxy against a direct status server, same run.

Run from the repository root (nothing else needs to be running; every port is picked by
the kernel)::

    .venv/bin/python bench/status_bench.py                 # 5 rounds of 3 s each
    .venv/bin/python bench/status_bench.py --rounds 7 --seconds 5 --clients 16

Each side is its own process on one Twisted reactor: the baseline is a minimal direct
status server (handshake, a status response prepared once, pong, close), and the proxy is
a full :class:`~mcproxy.proxy.service.ProxyProcess` started from a generated
``proxy.toml`` (admin listener off, as it plays no part in a ping).  A load generator in
this process keeps ``--clients`` concurrent clients doing what a server list does: connect,
handshake (next state 1, protocol 775), status request, read the status, ping, read the
pong, wait for the server to close.  Rounds alternate between the two servers so drift on
the machine hits both alike; the figure is the median of each side's rounds and the ratio
proxy / direct (the design's target is >= 0.8).  The load generator shares the machine's
cores with the server under test, identically for both; where it, not the server, is the
limit, the rate ratio flatters the slower server, so the server's CPU time per ping (read
from ``/proc``) is printed too, with the same ratio taken over it.
"""

from __future__ import annotations

import argparse
import os
import platform
import selectors
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from mcproxy.wire.framing import FrameDecoder, encode_frame  # noqa: E402
from mcproxy.wire.types import encode_long, encode_string, encode_ushort, encode_varint  # noqa: E402

PROTOCOL = 775
MOTD = "A mcproxy network"
MAX_PLAYERS = 500

PROXY_TOML = f"""\
[proxy]
bind = "tcp:0:interface=127.0.0.1"
motd = "{MOTD}"
max_players = {MAX_PLAYERS}
online_mode = false
forwarding = "none"

[servers]
lobby = "127.0.0.1:{{backend_port}}"
try = ["lobby"]

[messaging]
enabled = false

[rate_limits]
handshake_concurrent_max = 256
handshake_per_address_max = 65536
connections_per_address_rate = 10000
connections_per_address_burst = 100000

[admin]
bind = ""
"""


# Servers (run as child processes) -------------------------------------------------------

def serve_direct() -> None:
    """The baseline: a status server with nothing between the client and its answer."""
    import json

    from twisted.internet import reactor
    from twisted.internet.endpoints import TCP4ServerEndpoint
    from twisted.internet.protocol import Factory, Protocol

    from mcproxy.wire.types import Reader, WireError

    status = json.dumps({
        "version": {"name": "26.1", "protocol": PROTOCOL},
        "players": {"max": MAX_PLAYERS, "online": 0, "sample": []},
        "description": {"text": MOTD},
        "enforcesSecureChat": False,
    }, separators=(",", ":"))
    response = encode_frame(encode_varint(0x00) + encode_string(status))

    class DirectStatus(Protocol):
        def connectionMade(self) -> None:
            self.decoder = FrameDecoder(32768)
            self.state = 0

        def dataReceived(self, data: bytes) -> None:
            try:
                for body in self.decoder.frames(data):
                    reader = Reader(body)
                    packet_id = reader.varint()
                    if self.state == 0 and packet_id == 0x00:
                        self.state = 1
                    elif self.state == 1 and packet_id == 0x00:
                        self.transport.write(response)
                        self.state = 2
                    elif packet_id == 0x01:
                        self.transport.write(encode_frame(encode_varint(0x01) + encode_long(reader.long())))
                        self.transport.loseConnection()
                        return
                    else:
                        self.transport.loseConnection()
                        return
            except WireError:
                self.transport.loseConnection()

    def listening(port) -> None:
        print(port.getHost().port, flush=True)

    TCP4ServerEndpoint(reactor, 0, interface="127.0.0.1").listen(
        Factory.forProtocol(DirectStatus)).addCallback(listening)
    reactor.run()


def serve_proxy(config: str) -> None:
    """The proxy process as ``twistd mcproxy`` builds it, logging nowhere."""
    from twisted.internet import reactor
    from twisted.logger import Logger

    from mcproxy.config import load_proxy_config
    from mcproxy.proxy.service import ProxyProcess

    process = ProxyProcess(load_proxy_config(config), reactor, log=Logger(observer=lambda event: None))
    process.privilegedStartService()
    process.startService()

    def listening(port):
        print(port.getHost().port, flush=True)
        return port

    process.game._waitingForPort.addCallback(listening)
    reactor.run()


# Load generator -------------------------------------------------------------------------

def status_exchange() -> tuple[bytes, bytes]:
    """What a server-list client writes: handshake with status request, then a ping."""
    handshake = encode_varint(0x00) + encode_varint(PROTOCOL) + encode_string("127.0.0.1") \
        + encode_ushort(25565) + encode_varint(1)
    return encode_frame(handshake) + encode_frame(encode_varint(0x00)), \
        encode_frame(encode_varint(0x01) + encode_long(1234))


def frame_end(buffer: bytearray) -> int:
    """Where the first whole frame in ``buffer`` ends, or -1 while it is incomplete."""
    size = shift = offset = 0
    while offset < len(buffer) and offset < 3:
        byte = buffer[offset]
        size |= (byte & 0x7F) << shift
        offset += 1
        if not byte & 0x80:
            end = offset + size
            return end if len(buffer) >= end else -1
        shift += 7
    return -1


class Client:
    """One connection of the load: sending, awaiting the status, the pong, then the close."""

    __slots__ = ("sock", "state", "buffer")

    def __init__(self, port: int) -> None:
        self.sock = socket.socket()
        self.sock.setblocking(False)
        self.sock.connect_ex(("127.0.0.1", port))
        self.state = 0
        self.buffer = bytearray()


def load(port: int, clients: int, seconds: float) -> tuple[float, int]:
    """Pings per second completed by ``clients`` concurrent connections, and the errors.

    Plain non-blocking sockets on a selector: asyncio streams cost the load generator about
    twice the CPU per ping, which on a small machine would measure the generator instead of
    the server.
    """
    request, ping = status_exchange()
    selector = selectors.DefaultSelector()
    done = errors = 0
    deadline = time.monotonic() + seconds

    def start() -> None:
        client = Client(port)
        selector.register(client.sock, selectors.EVENT_WRITE, client)

    def finish(client: Client) -> None:
        selector.unregister(client.sock)
        client.sock.close()
        if time.monotonic() < deadline:
            start()

    for _ in range(clients):
        start()
    started = time.monotonic()
    while selector.get_map():
        for key, _ in selector.select(5.0):
            client: Client = key.data
            try:
                if client.state == 0:
                    client.sock.send(request)
                    client.state = 1
                    selector.modify(client.sock, selectors.EVENT_READ, client)
                    continue
                data = client.sock.recv(65536)
                if not data:
                    if client.state == 3:
                        done += 1
                    else:
                        errors += 1
                    finish(client)
                    continue
                client.buffer += data
                if client.state == 1 and (end := frame_end(client.buffer)) > 0:
                    if MOTD.encode() not in client.buffer[:end]:
                        raise ValueError("not our status response")
                    del client.buffer[:end]
                    client.sock.send(ping)
                    client.state = 2
                if client.state == 2 and (end := frame_end(client.buffer)) > 0:
                    del client.buffer[:end]
                    client.state = 3
            except (OSError, ValueError):
                errors += 1
                finish(client)
    selector.close()
    return done / (time.monotonic() - started), errors


def cpu_seconds(pid: int) -> float:
    """User and system CPU time a process has used so far (Linux ``/proc``), or NaN."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# Driver ---------------------------------------------------------------------------------

def machine() -> str:
    model = "unknown"
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return f"{platform.platform()}; {os.cpu_count()} CPUs; {model}; Python {platform.python_version()}"


def start_server(args: list[str]) -> tuple[subprocess.Popen, int]:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])))
    child = subprocess.Popen([sys.executable, __file__, *args], stdout=subprocess.PIPE, env=env, text=True)
    line = child.stdout.readline()
    if not line.strip().isdigit():
        child.kill()
        raise SystemExit(f"server {args} did not start")
    return child, int(line)


def unused_port() -> int:
    """A port for the never-contacted backend the proxy config must name."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--serve", choices=("direct", "proxy"), help=argparse.SUPPRESS)
    parser.add_argument("--config", help=argparse.SUPPRESS)
    options = parser.parse_args()
    if options.serve == "direct":
        return serve_direct()
    if options.serve == "proxy":
        return serve_proxy(options.config)

    print(f"machine: {machine()}")
    print(f"{options.clients} concurrent clients, {options.rounds} rounds of {options.seconds:g} s per server")
    with tempfile.TemporaryDirectory(prefix="mcproxy-bench-") as folder:
        config = Path(folder) / "proxy.toml"
        config.write_text(PROXY_TOML.format(backend_port=unused_port()))
        direct, direct_port = start_server(["--serve", "direct"])
        proxy, proxy_port = start_server(["--serve", "proxy", "--config", str(config)])
        rates: dict[str, list[float]] = {"direct": [], "proxy": []}
        costs: dict[str, list[float]] = {"direct": [], "proxy": []}
        servers = {"direct": (direct, direct_port), "proxy": (proxy, proxy_port)}
        try:
            for side, (child, port) in servers.items():
                load(port, options.clients, 0.5)
            for number in range(1, options.rounds + 1):
                for side, (child, port) in servers.items():
                    before = cpu_seconds(child.pid)
                    rate, errors = load(port, options.clients, options.seconds)
                    cost = (cpu_seconds(child.pid) - before) / max(rate * options.seconds, 1) * 1e6
                    rates[side].append(rate)
                    costs[side].append(cost)
                    print(f"round {number} {side:6}: {rate:8.0f} pings/s, server CPU {cost:6.1f} us/ping"
                          f" ({errors} errors)", flush=True)
        finally:
            for child, _ in servers.values():
                child.terminate()
                child.wait(10)
    direct_rate, proxy_rate = statistics.median(rates["direct"]), statistics.median(rates["proxy"])
    direct_cost, proxy_cost = statistics.median(costs["direct"]), statistics.median(costs["proxy"])
    print(f"median direct: {direct_rate:8.0f} pings/s, {direct_cost:6.1f} us CPU/ping")
    print(f"median proxy : {proxy_rate:8.0f} pings/s, {proxy_cost:6.1f} us CPU/ping")
    print(f"ratio proxy / direct: {proxy_rate / direct_rate:.2f} pings/s (target >= 0.8); "
          f"{direct_cost / proxy_cost:.2f} by server CPU per ping")


if __name__ == "__main__":
    main()
