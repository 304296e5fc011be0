"""Named domain errors shared by every service, mapped to HTTP once, in the gateway.

Services raise these from RPC methods; nameko carries them to the caller by class name, and
``infra.errors.registered`` registers them with nameko's ``remote_error`` registry so that a
``ClusterRpcProxy`` caller gets the same class back (with ``detail`` and ``errors``).
"""

from __future__ import annotations

import json
from typing import Any

from nameko.exceptions import get_module_path, registry


class DomainError(Exception):
    """Base of every error a service reports to its callers."""

    status = 400
    title = "Bad request"

    def __init__(self, detail: str = "", errors: dict[str, list[str]] | None = None):
        self.detail = detail
        self.errors = errors or {}
        # nameko serialises exceptions as their args: keep everything in one JSON string.
        super().__init__(json.dumps({"detail": detail, "errors": self.errors}))

    @classmethod
    def from_remote(cls, value: str) -> DomainError:
        try:
            payload = json.loads(value)
            return cls(payload.get("detail", ""), payload.get("errors") or None)
        except (TypeError, ValueError):
            return cls(str(value))

    def as_dict(self) -> dict[str, Any]:
        return {"type": type(self).__name__, "detail": self.detail, "errors": self.errors}


class NotFound(DomainError):
    status, title = 404, "Not found"


class Invalid(DomainError):
    """Input breaks a schema or a rule; ``errors`` is keyed by field path."""

    status, title = 422, "Unprocessable entity"


class Conflict(DomainError):
    """The command is not allowed in the object's current state, or lost a race."""

    status, title = 409, "Conflict"


class Stale(Conflict):
    """A revision older than the stored one, or the same one with other content (insurer
    sync): ``infra.domain.Stale`` translated."""


class PreconditionFailed(DomainError):
    """``If-Match`` named a version that is not the current one."""

    status, title = 412, "Precondition failed"


class Forbidden(DomainError):
    status, title = 403, "Forbidden"


ALL_ERRORS = [DomainError, NotFound, Invalid, Conflict, Stale, PreconditionFailed, Forbidden]


def register_remote_errors() -> None:
    """Let RPC callers receive these classes instead of a generic ``RemoteError``."""
    for cls in ALL_ERRORS:
        registry[get_module_path(cls)] = cls.from_remote


def deserialize_remote(exc_type: str, value: str) -> DomainError | None:
    for cls in ALL_ERRORS:
        if cls.__name__ == exc_type:
            return cls.from_remote(value)
    return None
