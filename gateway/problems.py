"""Errors as ``application/problem+json`` (RFC 9457), and the one table that maps them.

Every error the gateway answers goes through ``problem_response``. Domain errors raised by the
services arrive as ``infra.errors`` classes (nameko's remote-error registry rebuilds them) and
are mapped by ``ERROR_TABLE``; anything else from a service becomes a 502 whose body says only
that the upstream failed (the details go to the log, with the request id).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any

from nameko.exceptions import (
    IncorrectSignature,
    MalformedRequest,
    MethodNotFound,
    RemoteError,
    UnknownService,
)
from werkzeug.wrappers import Response

from infra.errors import (
    Conflict,
    DomainError,
    Forbidden,
    Invalid,
    NotFound,
    PreconditionFailed,
    Stale,
)

log = logging.getLogger("sesp.gateway")

PROBLEM_JSON = "application/problem+json"


@dataclass(frozen=True)
class ProblemType:
    slug: str
    status: int
    title: str
    description: str

    @property
    def uri(self) -> str:
        # A relative reference into the API page, which lists every problem type.
        return f"/docs#problem-{self.slug}"


PROBLEM_TYPES: dict[str, ProblemType] = {
    p.slug: p
    for p in [
        ProblemType("bad-request", 400, "Bad request", "The request is malformed."),
        ProblemType("malformed-json", 400, "Malformed JSON", "The body is not valid JSON."),
        ProblemType(
            "unauthorized", 401, "Unauthorized", "No token, or an unknown or revoked token."
        ),
        ProblemType(
            "forbidden", 403, "Forbidden", "The token's role or scope does not allow this."
        ),
        ProblemType("not-found", 404, "Not found", "No such object (or not visible to you)."),
        ProblemType("no-route", 404, "Not found", "No endpoint at this path."),
        ProblemType(
            "method-not-allowed", 405, "Method not allowed", "The path exists; the method not."
        ),
        ProblemType(
            "conflict", 409, "Conflict", "Not allowed in the object's state, or a lost race."
        ),
        ProblemType("stale", 409, "Stale revision", "The revision is older than the stored one."),
        ProblemType(
            "in-progress",
            409,
            "Request in progress",
            "A request with this Idempotency-Key is still being processed.",
        ),
        ProblemType(
            "shown-once",
            409,
            "Secret shown once",
            "The request with this Idempotency-Key was applied, and its response held a secret "
            "that is shown only once (a new token): `applied` has the rest of it. Lost the "
            "secret? Revoke the token and create another.",
        ),
        ProblemType(
            "response-erased",
            410,
            "Response erased",
            "The request with this Idempotency-Key was applied, and its stored response named a "
            "person whose data has since been erased; read the object again (see Location).",
        ),
        ProblemType(
            "request-timeout",
            408,
            "Request timeout",
            "The request did not arrive in time (SESP_HTTP_IDLE_TIMEOUT between bytes, "
            "SESP_HTTP_REQUEST_TIMEOUT in all): send it again, whole.",
        ),
        ProblemType(
            "precondition-failed", 412, "Precondition failed", "If-Match names another version."
        ),
        ProblemType("payload-too-large", 413, "Payload too large", "The body is over the limit."),
        ProblemType(
            "unsupported-media-type", 415, "Unsupported media type", "Send application/json."
        ),
        ProblemType(
            "validation", 422, "Unprocessable entity", "Schema or rule violation; see errors."
        ),
        ProblemType(
            "idempotency-key-reused",
            422,
            "Idempotency key reused",
            "The Idempotency-Key was used with another request.",
        ),
        ProblemType("rate-limited", 429, "Too many requests", "Slow down; see Retry-After."),
        ProblemType("internal", 500, "Internal error", "An unexpected error; see the logs."),
        ProblemType("upstream-error", 502, "Bad gateway", "A service failed unexpectedly."),
        ProblemType("service-unavailable", 503, "Service unavailable", "A service is not running."),
        ProblemType("upstream-timeout", 504, "Gateway timeout", "A service did not answer."),
    ]
}

# Domain error class -> problem type; most specific first (Stale is a Conflict).
ERROR_TABLE: list[tuple[type[DomainError], str]] = [
    (Stale, "stale"),
    (Conflict, "conflict"),
    (NotFound, "not-found"),
    (Invalid, "validation"),
    (PreconditionFailed, "precondition-failed"),
    (Forbidden, "forbidden"),
    (DomainError, "bad-request"),
]


class Problem(Exception):
    """An HTTP error raised at the edge; becomes a problem+json response."""

    def __init__(
        self,
        slug: str,
        detail: str = "",
        errors: dict[str, list[str]] | None = None,
        headers: dict[str, str] | None = None,
        extra: dict[str, Any] | None = None,
    ):
        self.type = PROBLEM_TYPES[slug]
        self.extra = extra or {}
        self.detail = detail or self.type.description
        self.errors = errors
        self.headers = headers or {}
        super().__init__(f"{slug}: {self.detail}")

    @property
    def status(self) -> int:
        return self.type.status


class RpcTimeout(Exception):
    """A service did not answer an RPC within the gateway's timeout."""


def problem_response(problem: Problem, request_id: str | None = None) -> Response:
    body: dict[str, Any] = {
        "type": problem.type.uri,
        "title": problem.type.title,
        "status": problem.status,
        "detail": problem.detail,
    }
    if problem.errors is not None:
        body["errors"] = problem.errors
    body.update({k: v for k, v in problem.extra.items() if k not in body})
    if request_id:
        body["request_id"] = request_id
    return Response(
        json.dumps(body, ensure_ascii=False),
        status=problem.status,
        headers=problem.headers,
        content_type=PROBLEM_JSON,
    )


def to_problem(exc: BaseException, request_id: str | None = None) -> Problem:
    """Map any exception from a route (edge, domain, RPC) to a problem; never leak internals."""
    if isinstance(exc, Problem):
        return exc
    if isinstance(exc, DomainError):
        for cls, slug in ERROR_TABLE:
            if isinstance(exc, cls):
                errors = exc.errors if (exc.errors or slug == "validation") else None
                return Problem(slug, exc.detail, errors)
    if isinstance(exc, UnknownService):
        return Problem("service-unavailable", f"service {exc.args[0]} is not running")
    if isinstance(exc, RpcTimeout):
        return Problem("upstream-timeout", str(exc))
    if isinstance(exc, RemoteError | MethodNotFound | IncorrectSignature | MalformedRequest):
        log.error(
            "upstream error %s: %s",
            getattr(exc, "exc_type", type(exc).__name__),
            getattr(exc, "value", str(exc)),
            extra={"request_id": request_id},
        )
        return Problem("upstream-error", "a service failed; quote the request id when reporting")
    log.error("unexpected error", exc_info=exc, extra={"request_id": request_id})
    return Problem("internal", "unexpected error; quote the request id when reporting")
