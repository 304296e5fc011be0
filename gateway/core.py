"""What the whole gateway process shares: its database, token and idempotency stores, the USCC
exception list, the public rate limiter, the metrics and the list of routes (one instance per
nameko container).

Settings are read from the nameko config first (tests run several gateways in one process),
then from the environment:
``SESP_GATEWAY_DATABASE_URL``, ``SESP_ADMIN_TOKEN``, ``SESP_PUBLIC_RATE`` (``20/s``),
``SESP_RPC_TIMEOUT`` (seconds, ``30``), ``SESP_READY_TIMEOUT`` (seconds, ``2``),
``SESP_IDEMPOTENCY_WAIT`` (seconds a duplicate waits for the first, ``10``).
"""

from __future__ import annotations

import os
from datetime import timedelta
from typing import TYPE_CHECKING, Any, overload

from nameko.extensions import SharedExtension

from gateway.auth import TokenStore
from gateway.db import open_database
from gateway.idempotency import IdempotencyStore
from gateway.metrics import Metrics
from gateway.publiccache import PublicCache
from gateway.ratelimit import Rate, RateLimiter, SharedRateLimiter
from gateway.uscc_exceptions import UsccExceptionList

if TYPE_CHECKING:
    from gateway.routing import ApiRoute


@overload
def setting(config: dict[str, Any], name: str) -> str | None: ...
@overload
def setting(config: dict[str, Any], name: str, default: str) -> str: ...
def setting(config: dict[str, Any], name: str, default: str | None = None) -> str | None:
    value = config.get(name)
    if value is None or value == "":
        value = os.environ.get(name)
    return value if value not in (None, "") else default


class GatewayCore(SharedExtension):
    def __init__(self) -> None:
        super().__init__()
        # Routes register during setup, concurrently with this extension's own setup.
        self.routes: list[ApiRoute] = []
        self._openapi: dict | None = None

    def setup(self) -> None:
        cfg = self.container.config
        self.engine = open_database(setting(cfg, "SESP_GATEWAY_DATABASE_URL"))
        self.tokens = TokenStore(self.engine, setting(cfg, "SESP_ADMIN_TOKEN"))
        # How long a claimed key stays "in progress" before a retry may take it over (a request
        # that timed out keeps its claim: the command may still be running).
        lock_for = timedelta(seconds=float(setting(cfg, "SESP_IDEMPOTENCY_LOCK", "90")))
        self.idempotency = IdempotencyStore(self.engine, lock_for=lock_for)
        self.uscc_exceptions = UsccExceptionList(self.engine)
        rate = Rate.parse(setting(cfg, "SESP_PUBLIC_RATE", "20/s"))
        shared = setting(cfg, "SESP_RATE_LIMIT_STORAGE")
        self.limiter: RateLimiter | SharedRateLimiter = (
            SharedRateLimiter(rate, shared, setting(cfg, "SESP_RATE_LIMIT_NAMESPACE", "sesp"))
            if shared
            else RateLimiter(rate)
        )
        self.metrics = Metrics()
        self.rpc_timeout = float(setting(cfg, "SESP_RPC_TIMEOUT", "30"))
        self.ready_timeout = float(setting(cfg, "SESP_READY_TIMEOUT", "2"))
        self.idempotency_wait = float(setting(cfg, "SESP_IDEMPOTENCY_WAIT", "10"))
        self.amqp_uri = cfg.get("AMQP_URI")
        entries = int(setting(cfg, "SESP_PUBLIC_CACHE_ENTRIES", "10000"))
        max_age = float(setting(cfg, "SESP_PUBLIC_CACHE_SECONDS", "1"))
        self.public_cache = PublicCache(self.amqp_uri, entries, max_age)

    def start(self) -> None:
        # Routes registered during setup: listen to the events their kept answers depend on.
        self.public_cache.start(route.cache_events for route in self.routes)
        super().start()

    def register_route(self, route: ApiRoute) -> None:
        self.routes.append(route)
        self._openapi = None

    def openapi(self) -> dict:
        """The OpenAPI document of the routes this container serves (built once)."""
        if self._openapi is None:
            from gateway.openapi import build_spec

            self._openapi = build_spec(self.routes)
        return self._openapi

    def stop(self) -> None:
        self.public_cache.stop()
        self.engine.dispose()
        super().stop()

    def kill(self) -> None:
        self.public_cache.stop()
        super().kill()
