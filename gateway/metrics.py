"""Prometheus metrics of one gateway process (its own registry, so test containers that share a
process do not share counters)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

HTTP_METHODS = frozenset(
    ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE", "CONNECT")
)

LATENCY_BUCKETS = (0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class Metrics:
    content_type = CONTENT_TYPE_LATEST

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "sesp_http_requests",
            "HTTP requests by method, route template and status",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "sesp_http_request_duration_seconds",
            "HTTP request latency by method and route template",
            ["method", "route"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.rpc_latency = Histogram(
            "sesp_rpc_duration_seconds",
            "RPC latency seen by the gateway, by service.method and outcome",
            ["target", "outcome"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.rate_limited = Counter(
            "sesp_http_rate_limited",
            "Requests refused by the public rate limit",
            registry=self.registry,
        )
        self.idempotent_replays = Counter(
            "sesp_idempotent_replays",
            "POST requests answered from a stored Idempotency-Key response",
            registry=self.registry,
        )

    def observe_request(self, method: str, route: str, status: int, seconds: float) -> None:
        # Label values come from a fixed set: an invented method must not add series.
        method = method if method in HTTP_METHODS else "other"
        self.requests.labels(method, route, str(status)).inc()
        self.latency.labels(method, route).observe(seconds)

    def observe_rpc(self, target: str, outcome: str, seconds: float) -> None:
        self.rpc_latency.labels(target, outcome).observe(seconds)

    def render(self) -> bytes:
        return generate_latest(self.registry)
