"""``Idempotency-Key`` on POST: the first response, stored durably for 24 hours, readable only
by the caller who sent it.

A key belongs to a caller (token id). The first request with a key claims it (a row in state
``pending``, inserted under the primary key, so two racing requests cannot both claim it), runs,
and stores its status, headers and body. A retry with the same key and the same request (hash
of method, path, body and caller) gets that response back without reaching any service; another
request under the same key is refused (422). A retry that arrives while the first is still
running waits for it, and gets 409 if it takes too long. A claim left behind by a gateway that
died mid-request expires after ``lock_for`` and can then be taken over. 5xx answers are not
stored: the claim is released so that a retry runs again.

Nothing in the table is readable without the request's own secret: a response may hold a
person's name and ID number, and the database file, its WAL and its backups must not. The body
is encrypted (AES-GCM) under a key derived from the caller's bearer token and the
Idempotency-Key, neither of which is stored (the key column holds a hash of the Idempotency-Key,
the token table a hash of the token); the request hash is keyed the same way, so it cannot be
tested against guessed bodies. A response that shows a secret once (a new token) is stored
without it, and a replay answers 409 instead of handing it out again. Records name the persons
their request named only by a keyed hash of the ID number (``subjects``), so ``sesp erase`` can
drop their responses (a replay then answers 410).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import eventlet
import sqlalchemy as sa
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from gateway.db import idempotency_records as records
from gateway.db import utcnow
from infra import keys
from infra.identifiers import InvalidIdentifier, validate_resident_id

STORED_HEADERS = ("Content-Type", "Location", "ETag")


def request_hash(method: str, path: str, caller: str, body: object) -> str:
    """What makes two requests "the same": method, path with query, caller, JSON body."""
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    text = "\n".join([method.upper(), path, caller, canonical])
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def subject_digest(subject_key: bytes, id_number: str) -> str:
    """A person as the idempotency table names them: a keyed hash of the ID number."""
    return hmac.new(subject_key, id_number.strip().upper().encode(), hashlib.sha256).hexdigest()


def persons_in(payload: Any) -> set[str]:
    """The resident ID numbers anywhere in a request body."""
    found: set[str] = set()
    if isinstance(payload, dict):
        for value in payload.values():
            found |= persons_in(value)
    elif isinstance(payload, list):
        for value in payload:
            found |= persons_in(value)
    elif isinstance(payload, str) and len(payload.strip()) == 18:
        try:
            found.add(validate_resident_id(payload.strip()))
        except InvalidIdentifier:
            pass
    return found


@dataclass(frozen=True)
class StoredResponse:
    status: int
    headers: list[tuple[str, str]]
    body: bytes


@dataclass(frozen=True)
class Claim:
    # "new" | "replay" | "mismatch" | "busy" | "shown-once" (the response showed a secret:
    # ``stored`` holds it without) | "erased" (its body held a person since erased)
    outcome: str
    stored: StoredResponse | None = None


class _Sealed:
    """The key one request's record is sealed with: from the caller's secret (its bearer
    token) and the Idempotency-Key, both known to the caller and stored nowhere."""

    def __init__(self, caller: str, key: str, secret: str):
        material = "\n".join([secret, key]).encode("utf-8")
        info = b"sesp-idempotency\n" + caller.encode("utf-8")
        self.key = HKDF(hashes.SHA256(), 32, salt=None, info=info).derive(material)
        self.key_id = hashlib.sha256(key.encode("utf-8")).hexdigest()

    def digest(self, request_digest: str) -> str:
        return hmac.new(self.key, request_digest.encode(), hashlib.sha256).hexdigest()

    def seal(self, plain: bytes) -> bytes:
        nonce = os.urandom(12)
        return nonce + AESGCM(self.key).encrypt(nonce, plain, self.key_id.encode())

    def open(self, blob: bytes) -> bytes:
        return AESGCM(self.key).decrypt(blob[:12], blob[12:], self.key_id.encode())


class IdempotencyStore:
    def __init__(
        self,
        engine: Engine,
        ttl: timedelta = timedelta(hours=24),
        lock_for: timedelta = timedelta(seconds=90),
        subject_key: bytes | None = None,
    ):
        self.engine = engine
        self.ttl = ttl
        self.lock_for = lock_for
        # The gateway's own key: its records name persons only under it.
        self.subject_key = subject_key if subject_key is not None else keys.subject_key("gateway")

    def claim(self, caller: str, key: str, digest: str, secret: str = "") -> Claim:
        sealed = _Sealed(caller, key, secret)
        digest = sealed.digest(digest)
        where = sa.and_(records.c.caller == caller, records.c.key == sealed.key_id)
        for _ in range(5):
            now = utcnow()
            try:
                with self.engine.begin() as conn:
                    conn.execute(
                        sa.insert(records).values(
                            caller=caller,
                            key=sealed.key_id,
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
                if not hmac.compare_digest(row.request_hash, digest):
                    return Claim("mismatch")
                if row.state in ("done", "shown-once", "erased"):
                    return self._stored(row, sealed)
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

    @staticmethod
    def _stored(row: Any, sealed: _Sealed) -> Claim:
        headers = [(str(k), str(v)) for k, v in json.loads(row.headers or "[]")]
        body = b""
        if row.body:
            try:
                body = sealed.open(row.body)
            except InvalidTag:  # the request hash matched, so only tampering lands here
                return Claim("mismatch")
        outcome = "replay" if row.state == "done" else row.state
        return Claim(outcome, StoredResponse(row.status, headers, body))

    def wait(self, caller: str, key: str, digest: str, timeout: float, secret: str = "") -> Claim:
        """Claim, waiting up to ``timeout`` seconds while another request holds the key."""
        deadline = eventlet.hubs.get_hub().clock() + timeout
        delay = 0.02
        while True:
            claim = self.claim(caller, key, digest, secret)
            if claim.outcome != "busy" or eventlet.hubs.get_hub().clock() >= deadline:
                return claim
            eventlet.sleep(delay)
            delay = min(delay * 2, 0.25)

    def complete(
        self,
        caller: str,
        key: str,
        response: StoredResponse,
        secret: str = "",
        *,
        payload: Any = None,
        shown_once: Iterable[str] = (),
    ) -> None:
        """Store the response, sealed. ``payload``: the request body, whose ID numbers name
        the record's subjects; ``shown_once``: top-level fields of a JSON body that hold a
        secret, left out (and a replay is refused)."""
        sealed = _Sealed(caller, key, secret)
        kept = [[k, v] for k, v in response.headers if k in STORED_HEADERS]
        body, state = response.body, "done"
        hidden = set(shown_once)
        if hidden:
            shown = json.loads(body or b"{}")
            body = json.dumps({k: v for k, v in shown.items() if k not in hidden}).encode()
            state = "shown-once"
        digests = sorted(subject_digest(self.subject_key, n) for n in persons_in(payload))
        subjects = " ".join(digests) or None
        with self.engine.begin() as conn:
            conn.execute(
                sa.update(records)
                .where(records.c.caller == caller, records.c.key == sealed.key_id)
                .values(
                    state=state,
                    status=response.status,
                    headers=json.dumps(kept),
                    body=sealed.seal(body) if body else None,
                    subjects=subjects,
                )
            )

    def release(self, caller: str, key: str) -> None:
        key_id = hashlib.sha256(key.encode("utf-8")).hexdigest()
        with self.engine.begin() as conn:
            conn.execute(
                sa.delete(records).where(
                    records.c.caller == caller,
                    records.c.key == key_id,
                    records.c.state == "pending",
                )
            )

    def erase_person(self, id_number: str) -> int:
        """Drop the stored responses of requests that named this person (``sesp erase``):
        the records stay (a replay must not run the request again) and answer 410."""
        digest = subject_digest(self.subject_key, id_number)
        with self.engine.begin() as conn:
            return conn.execute(
                sa.update(records)
                .where(records.c.subjects.contains(digest))
                .values(state="erased", body=None, subjects=None)
            ).rowcount

    def purge_expired(self) -> int:
        with self.engine.begin() as conn:
            return conn.execute(sa.delete(records).where(records.c.expires_at <= utcnow())).rowcount
