"""RPC from route methods to the services: ``self.rpc.licensing.get_application(app_id)``.

Built on nameko's in-container RPC machinery (one reply queue per gateway process, one reply
event per call), which is safe for many concurrent workers, unlike a shared
``ClusterRpcProxy``. Each call carries the worker's context data (actor, request and command
ids), times out (``SESP_RPC_TIMEOUT``) instead of waiting forever (and its request expires on
the broker then), and is timed in the metrics by ``service.method``. Domain errors come back
as ``infra.errors`` classes.
"""

from __future__ import annotations

import time
from typing import Any

import eventlet
from nameko.extensions import DependencyProvider
from nameko.rpc import MethodProxy, ReplyListener

from gateway.core import GatewayCore
from gateway.problems import RpcTimeout
from infra.bus.entrypoints import DEADLINE_HEADER
from infra.errors import DomainError, register_remote_errors

register_remote_errors()


class Rpc(DependencyProvider):
    reply_listener = ReplyListener()
    core = GatewayCore()

    def get_dependency(self, worker_ctx) -> Services:
        return Services(worker_ctx, self.reply_listener, self.core, self.core.rpc_timeout)


class Services:
    """``services.<name>.<method>(*args, **kwargs)``; ``services.with_timeout(s)`` for probes."""

    def __init__(self, worker_ctx, reply_listener, core: GatewayCore, timeout: float):
        self._worker_ctx = worker_ctx
        self._listener = reply_listener
        self._core = core
        self._timeout = timeout

    def with_timeout(self, seconds: float) -> Services:
        return Services(self._worker_ctx, self._listener, self._core, seconds)

    def __getattr__(self, service: str) -> _Service:
        if service.startswith("_"):
            raise AttributeError(service)
        return _Service(self, service)

    def __getitem__(self, service: str) -> _Service:
        return _Service(self, service)

    def call(self, service: str, method: str, *args, **kwargs) -> Any:
        target = f"{service}.{method}"
        started = time.perf_counter()
        outcome = "ok"
        # The request expires on the broker when this caller stops waiting: a service that
        # was busy or down must not run it later, after the client was told 504 (and may retry).
        proxy = MethodProxy(
            self._worker_ctx,
            service,
            method,
            self._listener,
            expiration=self._timeout,
            headers={DEADLINE_HEADER: f"{time.time() + self._timeout:.3f}"},
        )
        try:
            reply = proxy.call_async(*args, **kwargs)
            timer = eventlet.Timeout(self._timeout)
            try:
                return reply.result()
            except eventlet.Timeout as fired:
                if fired is not timer:
                    raise
                self._forget(reply.reply_event)
                outcome = "timeout"
                raise RpcTimeout(f"{target} did not answer within {self._timeout:g} s") from None
            finally:
                timer.cancel()
        except DomainError:
            outcome = "refused"
            raise
        except RpcTimeout:
            raise
        except Exception:
            outcome = "error"
            raise
        finally:
            self._core.metrics.observe_rpc(target, outcome, time.perf_counter() - started)

    def _forget(self, reply_event) -> None:
        # A reply that never comes must not keep its event in the listener forever.
        events = self._listener._reply_events
        for correlation_id, event in list(events.items()):
            if event is reply_event:
                events.pop(correlation_id, None)
                break


class _Service:
    def __init__(self, services: Services, name: str):
        self._services = services
        self._name = name

    def __getattr__(self, method: str):
        if method.startswith("_"):
            raise AttributeError(method)

        def invoke(*args, **kwargs):
            return self._services.call(self._name, method, *args, **kwargs)

        invoke.__name__ = f"{self._name}.{method}"
        return invoke
