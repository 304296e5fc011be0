"""``Idempotency-Key`` on POST: the first response, stored durably for 24 hours.

A key belongs to a caller (token id). The first request with a key claims it (a row in state
``pending``, inserted under the primary key, so two racing requests cannot both claim it), runs,
and stores its status, headers and body. A retry with the same key and the same request (hash
of method, path, body and caller) gets that response back without reaching any service; another
request under the same key is refused (422). A retry that arrives while the first is still
running waits for it, and gets 409 if it takes too long. A claim left behind by a gateway that
died mid-request expires after ``lock_for`` and can then be taken over. 5xx answers are not
stored: the claim is released so that a retry runs again.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import timedelta

import eventlet
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from gateway.db import idempotency_records as records
from gateway.db import utcnow

STORED_HEADERS = ("Content-Type", "Location", "ETag")


def request_hash(method: str, path: str, caller: str, body: object) -> str:
    """What makes two requests "the same": method, path with query, caller, JSON body."""
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    text = "\n".join([method.upper(), path, caller, canonical])
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class StoredResponse:
    status: int
    headers: list[tuple[str, str]]
    body: bytes


@dataclass(frozen=True)
class Claim:
    outcome: str  # "new" | "replay" | "mismatch" | "busy"
    stored: StoredResponse | None = None


class IdempotencyStore:
    def __init__(
        self,
        engine: Engine,
        ttl: timedelta = timedelta(hours=24),
        lock_for: timedelta = timedelta(seconds=90),
    ):
        self.engine = engine
        self.ttl = ttl
        self.lock_for = lock_for

    def claim(self, caller: str, key: str, digest: str) -> Claim:
        where = sa.and_(records.c.caller == caller, records.c.key == key)
        for _ in range(5):
            now = utcnow()
            try:
                with self.engine.begin() as conn:
                    conn.execute(
                        sa.insert(records).values(
                            caller=caller,
                            key=key,
                            request_hash=digest,
                            state="pending",
                            locked_until=now + self.lock_for,
                            expires_at=now + self.ttl,
                        )
                    )
                return Claim("new")
            except IntegrityError:
                pass
            with self.engine.begin() as conn:
                row = conn.execute(sa.select(records).where(where)).first()
                if row is None:
                    continue  # released meanwhile: try to claim again
                if row.expires_at <= now:
                    conn.execute(sa.delete(records).where(where, records.c.expires_at <= now))
                    continue
                if row.request_hash != digest:
                    return Claim("mismatch")
                if row.state == "done":
                    headers = [tuple(h) for h in json.loads(row.headers or "[]")]
                    return Claim("replay", StoredResponse(row.status, headers, row.body or b""))
                if row.locked_until > now:
                    return Claim("busy")
                # The owner died mid-request: take the claim over, unless another retry did.
                taken = conn.execute(
                    sa.update(records)
                    .where(
                        where,
                        records.c.state == "pending",
                        records.c.locked_until == row.locked_until,
                    )
                    .values(locked_until=now + self.lock_for)
                ).rowcount
                if taken == 1:
                    return Claim("new")
        return Claim("busy")

    def wait(self, caller: str, key: str, digest: str, timeout: float) -> Claim:
        """Claim, waiting up to ``timeout`` seconds while another request holds the key."""
        deadline = eventlet.hubs.get_hub().clock() + timeout
        delay = 0.02
        while True:
            claim = self.claim(caller, key, digest)
            if claim.outcome != "busy" or eventlet.hubs.get_hub().clock() >= deadline:
                return claim
            eventlet.sleep(delay)
            delay = min(delay * 2, 0.25)

    def complete(self, caller: str, key: str, response: StoredResponse) -> None:
        kept = [[k, v] for k, v in response.headers if k in STORED_HEADERS]
        with self.engine.begin() as conn:
            conn.execute(
                sa.update(records)
                .where(records.c.caller == caller, records.c.key == key)
                .values(
                    state="done",
                    status=response.status,
                    headers=json.dumps(kept),
                    body=response.body,
                )
            )

    def release(self, caller: str, key: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                sa.delete(records).where(
                    records.c.caller == caller,
                    records.c.key == key,
                    records.c.state == "pending",
                )
            )

    def purge_expired(self) -> int:
        with self.engine.begin() as conn:
            return conn.execute(sa.delete(records).where(records.c.expires_at <= utcnow())).rowcount
