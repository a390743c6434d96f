"""The processes the bench measures, each started as ``python -m bench.servers ...``.

``backend PORT`` runs the bench backend; ``proxy CONFIG [--stub-session]`` runs the
proxy exactly as ``twistd mcproxy`` builds it, logging to the file its config names,
with the session server replaced by a stub that vouches for every player when asked
(online mode still exchanges keys and encrypts both ways).
"""

from __future__ import annotations

import argparse
import resource
import sys

from twisted.internet import defer


class StubSessionServer:
    """Answers hasJoined for any name, as Mojang would for a genuine client."""

    def has_joined(self, username: str, server_hash: str) -> defer.Deferred:
        from mcproxy.proxy.auth import offline_profile

        return defer.succeed(offline_profile(username))


def _raise_file_limit() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def run_backend(port: int) -> None:
    from twisted.internet import reactor

    from bench.peers import BenchBackendFactory

    reactor.listenTCP(port, BenchBackendFactory(), backlog=1024, interface="127.0.0.1")
    reactor.run()


def run_proxy(config_path: str, stub_session: bool) -> None:
    from twisted.internet import reactor
    from twisted.logger import globalLogBeginner

    from mcproxy.config import load_proxy_config
    from mcproxy.ops.logging import start_logging
    from mcproxy.proxy.service import ProxyProcess

    config = load_proxy_config(config_path)
    process = ProxyProcess(config, reactor)
    if stub_session:
        process.core.session_server = StubSessionServer()
    observer = start_logging(config.logging.level, config.logging.file or None, process.redactor)
    globalLogBeginner.beginLoggingTo([observer], redirectStandardIO=False)
    process.startService()
    reactor.addSystemEventTrigger("before", "shutdown", process.stopService)
    reactor.run()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.servers")
    sub = parser.add_subparsers(dest="what", required=True)
    backend = sub.add_parser("backend")
    backend.add_argument("port", type=int)
    proxy = sub.add_parser("proxy")
    proxy.add_argument("config")
    proxy.add_argument("--stub-session", action="store_true")
    args = parser.parse_args(argv)
    _raise_file_limit()
    if args.what == "backend":
        run_backend(args.port)
    else:
        run_proxy(args.config, args.stub_session)


if __name__ == "__main__":
    main(sys.argv[1:])
