"""Rate limits per client address for the public endpoints.

``SESP_PUBLIC_RATE`` sets the rate as ``N/s``, ``N/m`` or ``N/h`` (default ``20/s``), optionally
followed by a burst size: ``20/s,burst=40`` (default burst: N).

Where the limit is counted:
- one gateway process (``SESP_RATE_LIMIT_STORAGE`` unset): a token bucket in memory;
- several replicas: ``SESP_RATE_LIMIT_STORAGE=redis://host:6379/0`` (any storage URI of the
  ``limits`` library) counts every replica's requests together, as a moving window of
  ``burst`` requests per ``burst / rate`` seconds; without it, R replicas behind a load
  balancer would allow R times the rate. ``SESP_RATE_LIMIT_NAMESPACE`` (default ``sesp``)
  keeps two platforms on one store apart. When the store cannot be reached the request is let
  through (a public read is not refused because the limiter's store is down) and the
  failure is logged, once per minute.
"""

from __future__ import annotations

import logging
import math
import re
import time
from collections import OrderedDict
from dataclasses import dataclass

log = logging.getLogger("sesp.gateway")

UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0}
_SPEC = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*/\s*([smh])\s*(?:,\s*burst\s*=\s*(\d+)\s*)?$")


@dataclass(frozen=True)
class Rate:
    per_second: float
    burst: float

    @classmethod
    def parse(cls, spec: str) -> Rate:
        match = _SPEC.match(spec or "")
        if not match:
            raise ValueError(f"rate must look like '20/s' or '600/m,burst=50', got {spec!r}")
        count, unit, burst = match.groups()
        per_second = float(count) / UNITS[unit]
        if per_second <= 0:
            raise ValueError("rate must be positive")
        return cls(per_second, float(burst) if burst else max(1.0, float(count)))


class RateLimiter:
    """``allow(key)`` returns 0 when a request may pass, else the seconds to wait."""

    def __init__(self, rate: Rate, max_clients: int = 10_000, clock=time.monotonic):
        self.rate = rate
        self.max_clients = max_clients
        self.clock = clock
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()

    def allow(self, key: str) -> int:
        now = self.clock()
        tokens, last = self._buckets.pop(key, (self.rate.burst, now))
        tokens = min(self.rate.burst, tokens + (now - last) * self.rate.per_second)
        if tokens >= 1.0:
            self._buckets[key] = (tokens - 1.0, now)
            wait = 0
        else:
            self._buckets[key] = (tokens, now)
            wait = max(1, math.ceil((1.0 - tokens) / self.rate.per_second))
        # Forget the least recently seen clients rather than grow without bound.
        while len(self._buckets) > self.max_clients:
            self._buckets.popitem(last=False)
        return wait


class SharedRateLimiter:
    """``allow(key)`` like ``RateLimiter``, counted in a store every gateway replica shares."""

    def __init__(self, rate: Rate, storage_uri: str, namespace: str = "sesp", clock=time.time):
        from limits import RateLimitItemPerSecond, storage, strategies

        self.rate, self.clock = rate, clock
        window = max(1, round(rate.burst / rate.per_second))
        amount = max(1, round(rate.per_second * window))
        self.item = RateLimitItemPerSecond(amount, window, namespace=namespace)
        self.store = storage.storage_from_string(storage_uri)
        self.limiter = strategies.MovingWindowRateLimiter(self.store)
        self._last_failure = 0.0

    def allow(self, key: str) -> int:
        try:
            if self.limiter.hit(self.item, "public", key):
                return 0
            reset = self.limiter.get_window_stats(self.item, "public", key).reset_time
        except Exception as exc:  # the store is down: let the request through
            now = time.monotonic()
            if now - self._last_failure > 60:
                self._last_failure = now
                log.warning("rate-limit store unreachable, not limiting: %s", exc)
            return 0
        return max(1, math.ceil(reset - self.clock()))
