"""Token buckets per client address, in memory, for the public endpoints.

``SESP_PUBLIC_RATE`` sets the rate as ``N/s``, ``N/m`` or ``N/h`` (default ``20/s``), optionally
followed by a burst size: ``20/s,burst=40`` (default burst: N). Limits are per gateway process;
behind a load balancer with R replicas a client gets up to R times the rate.
"""

from __future__ import annotations

import math
import re
import time
from collections import OrderedDict
from dataclasses import dataclass

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
