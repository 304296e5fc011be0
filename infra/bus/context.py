"""Request context carried across RPC: who acts (actor) and which request (correlation id).

The gateway puts both into nameko's context data; a service reads them with ``RequestContext``
and writes them into the metadata of every event it appends.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from nameko.extensions import DependencyProvider

ACTOR_KEY = "sesp_actor"
REQUEST_ID_KEY = "sesp_request_id"


def context_data(actor: dict[str, Any] | None, request_id: str | None) -> dict[str, str]:
    """Context data for ``ClusterRpcProxy(context_data=...)``: JSON strings travel as headers."""
    return {
        ACTOR_KEY: json.dumps(actor or {"id": "system", "role": "system"}),
        REQUEST_ID_KEY: request_id or str(uuid.uuid4()),
    }


class Context:
    def __init__(self, actor: dict[str, Any], request_id: str, call_id: str | None):
        self.actor = actor
        self.request_id = request_id
        self.call_id = call_id

    def meta(self, causation_id: str | None = None) -> dict[str, Any]:
        from infra.eventstore import make_meta

        return make_meta(self.actor, self.request_id, causation_id or self.call_id)


class RequestContext(DependencyProvider):
    """Injects a ``Context`` built from the calling worker's context data."""

    def get_dependency(self, worker_ctx) -> Context:
        data = worker_ctx.context_data
        raw = data.get(ACTOR_KEY)
        try:
            actor = json.loads(raw) if raw else {"id": "system", "role": "system"}
        except (TypeError, ValueError):
            actor = {"id": "unknown", "role": "unknown"}
        return Context(actor, data.get(REQUEST_ID_KEY) or worker_ctx.call_id, worker_ctx.call_id)
