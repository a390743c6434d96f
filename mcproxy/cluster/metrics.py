"""What ``/metrics`` says about the cluster, on the process's own registry."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge


class ClusterMetrics:

    def __init__(self, registry: CollectorRegistry) -> None:
        self.redis_up = Gauge("mcproxy_cluster_redis_up", "1 while the Redis link is connected.",
                              registry=registry)
        self.network_players = Gauge("mcproxy_cluster_network_players",
                                     "Players online in the whole network, as this proxy sees it.",
                                     registry=registry)
        self.local_fallbacks = Counter(
            "mcproxy_cluster_local_fallbacks", "Directory operations done locally because Redis was down.",
            ["operation"], registry=registry)
        self.duplicates = Counter(
            "mcproxy_cluster_duplicate_logins", "Logins whose UUID was already online, by what was done.",
            ["action"], registry=registry)
        self.republished = Counter("mcproxy_cluster_republished",
                                   "Times this proxy rewrote its players into Redis.", registry=registry)
        self.reaped = Counter("mcproxy_cluster_reaped_proxies",
                              "Dead proxies whose players this proxy removed.", registry=registry)
        self.rpc = Counter("mcproxy_cluster_rpc", "Requests between proxies, by operation and outcome.",
                           ["operation", "outcome"], registry=registry)
        self.bad_messages = Counter("mcproxy_cluster_bad_messages",
                                    "Pub/sub messages refused as malformed, by reason.", ["reason"],
                                    registry=registry)
