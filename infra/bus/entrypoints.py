"""The kernel's nameko entrypoints: ``rpc``, ``timer`` and ``subscribe`` (``subscriber``).

Each commits the worker's unit of work before it answers (see ``dependencies``), and turns a
lost race on the event store into ``Conflict`` (HTTP 409 at the gateway, never 500).
"""

from __future__ import annotations

import sys

from nameko.rpc import Rpc
from nameko.timer import Timer

from infra.bus.dependencies import commit_worker
from infra.bus.subscriber import IncomingEvent, dlq_name, subscribe
from infra.errors import Conflict, DomainError
from infra.eventstore import ConcurrencyError

# Services take all three entrypoints, and the ``IncomingEvent`` a subscriber receives, from
# here; ``dlq_name`` stays importable here for the bus benchmark.
__all__ = ["IncomingEvent", "KernelRpc", "KernelTimer", "dlq_name", "rpc", "subscribe", "timer"]


def _finish(container, worker_ctx, result, exc_info):
    """Commit before answering; map store races to ``Conflict``."""
    if exc_info is None:
        try:
            commit_worker(container, worker_ctx)
        except Exception:
            exc_info = sys.exc_info()
            result = None
    if exc_info is not None and isinstance(exc_info[1], ConcurrencyError):
        err = Conflict(f"the object was changed concurrently: {exc_info[1]}")
        exc_info = (Conflict, err, exc_info[2])
    return result, exc_info


class KernelRpc(Rpc):
    """nameko's ``Rpc`` that commits first. Refusals (``DomainError``: 404, 409, 422...) are
    answers, not failures: expected by default, so they are not logged as errors."""

    def __init__(self, expected_exceptions=(DomainError,), **kwargs):
        super().__init__(expected_exceptions=expected_exceptions, **kwargs)

    def handle_result(self, message, worker_ctx, result, exc_info):
        result, exc_info = _finish(self.container, worker_ctx, result, exc_info)
        return super().handle_result(message, worker_ctx, result, exc_info)


class KernelTimer(Timer):
    def handle_result(self, worker_ctx, result, exc_info):
        result, exc_info = _finish(self.container, worker_ctx, result, exc_info)
        return super().handle_result(worker_ctx, result, exc_info)


rpc = KernelRpc.decorator
timer = KernelTimer.decorator
