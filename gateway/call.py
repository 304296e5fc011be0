"""The ``Call`` a route method gets: one authorised, validated request, with the checks only
the method can make, against the object it reaches (scope: 403 or 404; version: 412)."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from werkzeug.wrappers import Request

from gateway.auth import Principal
from infra.errors import Forbidden, NotFound, PreconditionFailed

VERSION_TAG = re.compile(r"[0-9]{1,18}")

ANONYMOUS = {"id": "anonymous", "role": "public"}


@dataclass
class Call:
    """One authorised, validated request, as a route method sees it."""

    request: Request
    principal: Principal | None
    request_id: str
    path: dict[str, str] = field(default_factory=dict)
    query: dict[str, Any] = field(default_factory=dict)
    body: Any = None
    # Codes of the USCC exception list the request names (passed on to the services).
    uscc_exceptions: frozenset[str] = frozenset()
    # A site form's fields as sent (None for a JSON route): its page shows them again.
    form: dict[str, str] | None = None
    # The Idempotency-Key the request gave (a site form gives it as a hidden field).
    idempotency_key: str | None = None

    @property
    def caller(self) -> Principal:
        """The authenticated principal: every route that is not public has one."""
        if self.principal is None:
            raise RuntimeError("a public route has no caller")
        return self.principal

    @property
    def command_id(self) -> str | None:
        """The command this request gives, which a service applies once: from the caller's
        ``Idempotency-Key`` (its retries give the same command), else this HTTP request (a
        redelivered RPC of it is still one command). Reads give none."""
        if self.request.method in ("GET", "HEAD", "OPTIONS"):
            return None
        key = self.idempotency_key or self.request.headers.get("Idempotency-Key")
        if key:
            caller = self.principal.id if self.principal else f"anon:{self.request.remote_addr}"
            return "key:" + hashlib.sha256(f"{caller}\n{key}".encode()).hexdigest()[:48]
        return "req:" + self.request_id

    @property
    def actor(self) -> dict[str, Any]:
        return self.principal.actor() if self.principal else dict(ANONYMOUS)

    def require(self, *, bureau: str | None = None, uscc: str | Iterable[str] | None = None):
        """403 unless the object (its bureau and/or USCCs) is in the caller's scope."""
        if self.principal is None or not self.principal.covers(bureau=bureau, uscc=uscc):
            raise Forbidden("outside the scope of this token")

    def visible(self, *, bureau: str | None = None, uscc: str | Iterable[str] | None = None):
        """404 unless in scope: single-object reads do not reveal what exists elsewhere (the
        route answers it with the same body as a missing object)."""
        if self.principal is None or not self.principal.covers(bureau=bureau, uscc=uscc):
            raise NotFound("no such object")

    @property
    def if_match(self) -> int | None:
        """The version named by ``If-Match: "<version>"`` (None without the header).

        A value that is not a version can match nothing: it answers 412 at once.
        """
        raw = self.request.headers.get("If-Match")
        if raw is None:
            return None
        tag = raw.strip()
        if tag.startswith("W/"):
            tag = tag[2:]
        tag = tag.strip('"')
        # ASCII digits only: str.isdigit() also takes "²" or "١", which int() refuses.
        if not VERSION_TAG.fullmatch(tag):
            raise PreconditionFailed(f"If-Match {raw!r} names no version")
        return int(tag)

    def check_version(self, current: int) -> None:
        """412 when ``If-Match`` was sent and names another version than ``current``.

        Prefer passing ``call.if_match`` to the service as the expected version, so that the
        check and the change happen in one transaction; this helper is for reads-then-acts.
        """
        expected = self.if_match
        if expected is not None and expected != current:
            raise PreconditionFailed(f"the current version is {current}, not {expected}")
