"""Prometheus metrics of one gateway process (its own registry, so test containers that share a
process do not share counters)."""

from __future__ import annotations

from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

HTTP_METHODS = frozenset(
    ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE", "CONNECT")
)

LATENCY_BUCKETS = (0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


# relay_status key -> (metric name, help)
RELAY_GAUGES = (
    ("position", "sesp_relay_position", "Position up to which the outbox relay has published"),
    ("behind", "sesp_relay_lag_events", "Positions between the newest event and the relay's"),
    (
        "lag_seconds",
        "sesp_relay_lag_seconds",
        "Age of the oldest event the relay has not published yet (0: all out)",
    ),
    (
        "waiting_at_gap",
        "sesp_relay_waiting_at_gap",
        "1 while the relay waits for a position an open transaction may still fill",
    ),
    ("failures", "sesp_relay_failures", "Failed attempts in the relay's current run of errors"),
    ("stuck_event", "sesp_relay_stuck", "1 while the relay is stuck on an event it cannot send"),
    ("parked", "sesp_relay_parked_events", "Events an operator parked (sesp relay skip)"),
    (
        "unroutable",
        "sesp_relay_unroutable_events",
        "Events the broker returned because no queue was bound (the unroutable table)",
    ),
)


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
        self.public_cache = Counter(
            "sesp_public_cache",
            "Public reads answered from the gateway's memory (hit) or by their service (miss)",
            ["outcome"],
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
        # Each service's outbox relay, as its relay_status RPC reports it at scrape time.
        self.relay_gauges = {
            key: Gauge(name, text, ["service"], registry=self.registry)
            for key, name, text in RELAY_GAUGES
        }
        self.relay_up = Gauge(
            "sesp_relay_status_up",
            "1 when the service answered relay_status at this scrape, else 0",
            ["service"],
            registry=self.registry,
        )

    def observe_request(self, method: str, route: str, status: int, seconds: float) -> None:
        # Label values come from a fixed set: an invented method must not add series.
        method = method if method in HTTP_METHODS else "other"
        self.requests.labels(method, route, str(status)).inc()
        self.latency.labels(method, route).observe(seconds)

    def observe_rpc(self, target: str, outcome: str, seconds: float) -> None:
        self.rpc_latency.labels(target, outcome).observe(seconds)

    def observe_relays(self, statuses: dict[str, dict[str, Any] | None]) -> None:
        """Set the relay gauges from each service's ``relay_status`` (``None``: no answer,
        whose series are removed rather than left at stale values)."""
        for service, status in statuses.items():
            self.relay_up.labels(service).set(0 if status is None else 1)
            for key, gauge in self.relay_gauges.items():
                if status is None:
                    try:
                        gauge.remove(service)
                    except KeyError:
                        pass
                    continue
                value = status.get(key)
                if key in ("stuck_event", "waiting_at_gap"):  # an event or a flag: 1 or 0
                    value = 1 if value else 0
                gauge.labels(service).set(float(value or 0))

    def render(self) -> bytes:
        return generate_latest(self.registry)
