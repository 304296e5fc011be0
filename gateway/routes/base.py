"""What every route module's methods can use."""

from __future__ import annotations

from nameko.extensions import DependencyProvider

from gateway.core import GatewayCore
from gateway.rpc import Rpc
from infra.bus.context import RequestContext


class GatewayAccess(DependencyProvider):
    """The process-wide gateway state (token store, idempotency store, metrics, routes)."""

    core = GatewayCore()

    def get_dependency(self, worker_ctx) -> GatewayCore:
        return self.core


class RouteBase:
    rpc = Rpc()
    gateway = GatewayAccess()
    # Admits the request's USCC exception-list codes in the worker too (a route method that
    # validates a code itself applies the same list as the edge did).
    request_context = RequestContext()
