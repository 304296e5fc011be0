"""What every route module's methods can use."""

from __future__ import annotations

from nameko.extensions import DependencyProvider

from gateway.core import GatewayCore
from gateway.rpc import Rpc


class GatewayAccess(DependencyProvider):
    """The process-wide gateway state (token store, idempotency store, metrics, routes)."""

    core = GatewayCore()

    def get_dependency(self, worker_ctx) -> GatewayCore:
        return self.core


class RouteBase:
    rpc = Rpc()
    gateway = GatewayAccess()
