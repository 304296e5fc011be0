"""Request context carried across RPC: who acts (actor), which request (correlation id) and
the codes of the USCC exception list the request names.

The gateway puts them into nameko's context data; a service reads them with ``RequestContext``,
writes actor and request id into the metadata of every event it appends, and admits the
exception-list codes while its worker validates the request (``infra.identifiers``).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable
from typing import Any

from nameko.extensions import DependencyProvider

from infra.identifiers import admit_uscc_exceptions

ACTOR_KEY = "sesp_actor"
REQUEST_ID_KEY = "sesp_request_id"
# The command a request gives (the caller's Idempotency-Key, else the HTTP request): a service
# applies it once, however often the request reaches it.
COMMAND_ID_KEY = "sesp_command_id"
USCC_EXCEPTIONS_KEY = "sesp_uscc_exceptions"


def context_data(
    actor: dict[str, Any] | None,
    request_id: str | None,
    uscc_exceptions: Iterable[str] = (),
    command_id: str | None = None,
) -> dict[str, str]:
    """Context data for ``ClusterRpcProxy(context_data=...)``: JSON strings travel as headers.
    ``uscc_exceptions``: the exception-list codes the request names (usually none);
    ``command_id``: the command the request gives (absent for reads)."""
    data = {
        ACTOR_KEY: json.dumps(actor or {"id": "system", "role": "system"}),
        REQUEST_ID_KEY: request_id or str(uuid.uuid4()),
    }
    if command_id:
        data[COMMAND_ID_KEY] = command_id
    codes = sorted(uscc_exceptions)
    if codes:
        data[USCC_EXCEPTIONS_KEY] = json.dumps(codes)
    return data


def _codes(raw: str | None) -> list[str]:
    try:
        codes = json.loads(raw) if raw else []
    except (TypeError, ValueError):
        return []
    return [c for c in codes if isinstance(c, str)] if isinstance(codes, list) else []


class Context:
    def __init__(self, actor: dict[str, Any], request_id: str, call_id: str | None):
        self.actor = actor
        self.request_id = request_id
        self.call_id = call_id

    def meta(self, causation_id: str | None = None) -> dict[str, Any]:
        from infra.eventstore import make_meta

        return make_meta(self.actor, self.request_id, causation_id or self.call_id)


class RequestContext(DependencyProvider):
    """Injects a ``Context`` built from the calling worker's context data, and admits the
    request's USCC exception-list codes for the worker (its own greenthread)."""

    def worker_setup(self, worker_ctx) -> None:
        codes = _codes(worker_ctx.context_data.get(USCC_EXCEPTIONS_KEY))
        if codes:
            admit_uscc_exceptions(codes)

    def get_dependency(self, worker_ctx) -> Context:
        data = worker_ctx.context_data
        raw = data.get(ACTOR_KEY)
        try:
            actor = json.loads(raw) if raw else {"id": "system", "role": "system"}
        except (TypeError, ValueError):
            actor = {"id": "unknown", "role": "unknown"}
        return Context(actor, data.get(REQUEST_ID_KEY) or worker_ctx.call_id, worker_ctx.call_id)
