"""The kernel's nameko entrypoints: ``rpc``, ``timer`` and ``subscribe`` (``subscriber``).

Each commits the worker's unit of work before it answers (see ``dependencies``), and turns a
lost race on the event store into ``Conflict`` (HTTP 409 at the gateway, never 500).
"""

from __future__ import annotations

import functools
import logging
import os
import signal
import sys
import time
import types
from typing import Any

from nameko.rpc import Rpc
from nameko.timer import Timer
from sqlalchemy.exc import IntegrityError

from infra.bus.dependencies import UnitOfWork, commit_worker
from infra.bus.subscriber import IncomingEvent, dlq_name, subscribe
from infra.errors import Conflict, DomainError
from infra.eventstore import ConcurrencyError
from infra.eventstore.crypto import ERASED

log = logging.getLogger("sesp.kernel")

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

    def handle_message(self, body, message):
        # A request whose caller stopped waiting is not run late (the broker drops it at its
        # expiration; this catches one already handed to this consumer before then).
        deadline = (message.headers or {}).get(DEADLINE_HEADER)
        try:
            expired = deadline is not None and time.time() > float(deadline)
        except (TypeError, ValueError):
            expired = False
        if expired:
            log.info("%s: request expired before it ran (its caller gave up): dropped", self)
            self.rpc_consumer.queue_consumer.ack_message(message)
            return
        super().handle_message(body, message)

    def handle_result(self, message, worker_ctx, result, exc_info):
        result, exc_info = _finish(self.container, worker_ctx, result, exc_info)
        _crash_point(worker_ctx)
        return super().handle_result(message, worker_ctx, result, exc_info)


# The gateway's header on an RPC request: the epoch second its caller stops waiting.
DEADLINE_HEADER = "sesp-deadline"

# Fault tests: ``SESP_FAULT_KILL_AFTER_COMMITS=N`` kills the process (SIGKILL) after the N-th
# command that stored events has committed, before its reply and ack: the request is then
# redelivered to a restarted service although its effect is stored.
_commits_before_kill = int(os.environ.get("SESP_FAULT_KILL_AFTER_COMMITS", "0") or 0)


def _crash_point(worker_ctx) -> None:
    global _commits_before_kill
    if _commits_before_kill <= 0 or not _stored_events(worker_ctx):
        return
    _commits_before_kill -= 1
    if _commits_before_kill == 0:
        os.kill(os.getpid(), signal.SIGKILL)


def _stored_events(worker_ctx) -> bool:
    return any(getattr(value, "committed_events", 0) for value in vars(worker_ctx.service).values())


class KernelTimer(Timer):
    def handle_result(self, worker_ctx, result, exc_info):
        result, exc_info = _finish(self.container, worker_ctx, result, exc_info)
        return super().handle_result(worker_ctx, result, exc_info)


def applied_once(method):
    """Wrap an RPC method so that its command (``UnitOfWork.command_id``) is applied once.

    A repeat, whether nameko redelivered the request (a crash between commit and ack) or the
    client retried with the same Idempotency-Key, is answered with the recorded result of the
    first run, without running again. A twin that runs concurrently loses on the store (the
    record's key, or its events) and is then answered from the winner's record. Methods that
    append no events (reads, refusals) record nothing.
    """

    @functools.wraps(method)
    def run(service, *args, **kwargs):
        uow = _unit_of_work(service)
        command_id = uow.command_id if uow is not None else None
        if uow is None or command_id is None:
            return method(service, *args, **kwargs)
        found, result = uow.recorded_result(command_id)
        if found:
            return _repeat(command_id, method.__name__, result)
        try:
            result = method(service, *args, **kwargs)
            if uow.appended:
                uow.record_result(command_id, method.__name__, result)
            return result
        except (ConcurrencyError, IntegrityError):
            uow.rollback()  # its twin may have won: then this is a repeat
            found, recorded = uow.recorded_result(command_id)
            if found:
                return _repeat(command_id, method.__name__, recorded)
            raise

    return run


def _unit_of_work(service) -> UnitOfWork | None:
    for value in vars(service).values():
        if isinstance(value, UnitOfWork):
            return value
    return None


def _repeat(command_id: str, method: str, result: Any) -> Any:
    log.info(
        "command %s (%s) was applied before: answered with its recorded result", command_id, method
    )
    if result == ERASED:
        raise Conflict("this command was applied; its answer held personal data since erased")
    return result


def rpc(*args, **kwargs):
    """The kernel's ``@rpc`` (``@rpc`` or ``@rpc(expected_exceptions=...)``): commits before it
    answers, and applies each command once (``applied_once``)."""
    if len(args) == 1 and not kwargs and isinstance(args[0], types.FunctionType):
        return KernelRpc.decorator(applied_once(args[0]))
    return lambda method: KernelRpc.decorator(*args, **kwargs)(applied_once(method))


timer = KernelTimer.decorator
