"""Complaints from the public (API.md "Public equipment lookup and complaints"): received
from the elevator's page, followed by their reference, queued for the officers of the
elevator's district, verified or dismissed once with a reason.

- The reference is random (128 bits, base32): nobody finds another's complaint by counting.
  A command with an id (the gateway's Idempotency-Key or request) derives it from that id
  under the service's secret key, so a retried submission names the same complaint.
- A verified complaint is a ``complaint_verified`` quality fact (``records``) against the
  unit that maintained the elevator on the complaint's day (licensing's register, as the
  ``Elevator`` aggregate keeps it); its event id derives from the reference, so deciding
  again (refused: 409) or retrying the same decision never counts it twice.
- Contact details live only in the complaint's events, encrypted for their data subject (the
  complaint); the read model records whether there are any, and the queue reads them from the
  events for the officers. Public answers never carry them.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import and_, or_, select
from sqlalchemy.engine import Connection

from infra import errors
from infra.clock import CHINA_STANDARD_TIME
from infra.eventstore.records import to_db
from infra.repository import Repository
from infra.schemas import load
from services.maintenance_credit import complaint_schemas, records
from services.maintenance_credit.complaint import (
    Complaint,
    DecideComplaint,
    ReceiveComplaint,
    officer_district,
)
from services.maintenance_credit.domain import Elevator
from services.maintenance_credit.projections import credit_complaints

FACT_PREFIX = "complaint-"


def new_reference(repo: Repository, command_id: str | None) -> str:
    """``C-`` and 26 base32 letters: random, or keyed from the command id (a retry)."""
    if command_id and repo.subject_key:
        raw = hmac.new(repo.subject_key, f"complaint:{command_id}".encode(), hashlib.sha256)
        token = raw.digest()[:16]
    else:
        token = secrets.token_bytes(16)
    return "C-" + base64.b32encode(token).decode("ascii").rstrip("=")


def _valid_reference(reference: Any) -> bool:
    try:
        complaint_schemas.REFERENCE(reference)
    except Exception:
        return False
    return True


def _not_found() -> errors.NotFound:
    # One wording whether it is missing or another district's: no prober learns which.
    return errors.NotFound("complaint not found")


def submit(repo: Repository, now: datetime, body: Any, command_id: str | None = None) -> dict:
    """``{"reference", "status": "received"}``; 404 for an elevator the register lacks."""
    data = load(complaint_schemas.ComplaintIn, body, "complaint")
    code = data["equipment_code"]
    elevator = repo.load(Elevator, code)
    if not elevator.exists:
        raise errors.NotFound(f"equipment {code} not found")
    reference = new_reference(repo, command_id)
    complaint = repo.load(Complaint, reference)
    command = ReceiveComplaint(
        actor=repo.actor,
        reference=reference,
        equipment_code=code,
        district=elevator.district,
        what=data["what"],
        occurred_at=data["occurred_at"],
        contact=data.get("contact"),
    )
    repo.decide_and_save(reference, complaint, command, now, command_id=command_id)
    return {"reference": reference, "status": "received"}


def public_status(conn: Connection, reference: str) -> dict:
    """What the passenger sees: the status and the day it was decided. Nothing else."""
    if not _valid_reference(reference):
        raise _not_found()
    row = conn.execute(
        select(credit_complaints.c.status, credit_complaints.c.decided_on).where(
            credit_complaints.c.reference == reference
        )
    ).first()
    if row is None:
        raise _not_found()
    out: dict[str, Any] = {"reference": reference, "status": row.status}
    if row.decided_on is not None:
        out["decided_on"] = row.decided_on.isoformat()
    return out


def decide(
    repo: Repository,
    now: datetime,
    reference: str,
    body: Any,
    bureau: str | None = None,
    command_id: str | None = None,
) -> dict:
    """Verify or dismiss (once); ``bureau``: the deciding officer's (None: the city). A
    complaint of another district answers 404, as a missing one."""
    data = load(complaint_schemas.ComplaintDecisionIn, body, "decision")
    if not _valid_reference(reference):
        raise _not_found()
    complaint = repo.load(Complaint, reference)
    district = officer_district(bureau)
    if not complaint.exists or district not in (None, complaint.district):
        raise _not_found()
    unit = None
    if data["outcome"] == "verified" and complaint.occurred_on is not None:
        unit = repo.load(Elevator, complaint.equipment_code).maintainer_on(complaint.occurred_on)
    command = DecideComplaint(
        actor=repo.actor,
        outcome=data["outcome"],
        reason=data["reason"],
        district=district,
        unit_uscc=unit,
    )
    repo.decide_and_save(reference, complaint, command, now, command_id=command_id)
    if complaint.status == "verified" and complaint.unit_uscc:
        record_fact(repo, now, complaint)
    return complaint_view(complaint)


def record_fact(repo: Repository, now: datetime, complaint: Complaint) -> dict:
    """The ``complaint_verified`` quality fact of a verified complaint (a duplicate stores
    nothing: its event id is the complaint's)."""
    assert complaint.occurred_at is not None
    body = {
        "event_id": FACT_PREFIX + complaint.reference,
        "unit_uscc": complaint.unit_uscc,
        "equipment_code": complaint.equipment_code,
        "type": "complaint_verified",
        "occurred_at": complaint.occurred_at.isoformat(),
        "details": {"note": f"complaint {complaint.reference}"},
    }
    return records.record_quality_event(repo, now, body)


def _iso(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    if moment.tzinfo is None:  # read model rows: naive UTC
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(CHINA_STANDARD_TIME).isoformat()


def complaint_view(c: Complaint, contact: str | None = None) -> dict:
    """An officer's view (with the contact details)."""
    return {
        "id": c.reference,
        "reference": c.reference,
        "equipment_code": c.equipment_code,
        "district": c.district,
        "what": c.what,
        "occurred_at": _iso(c.occurred_at),
        "received_at": _iso(c.received_at),
        "contact": contact if contact is not None else c.contact,
        "status": c.status,
        "reason": c.reason,
        "decided_on": c.decided_on.isoformat() if c.decided_on else None,
        "unit_uscc": c.unit_uscc,
        "version": c.version,
    }


def queue(
    repo: Repository,
    bureau: str | None,
    filters: dict | None = None,
    limit: int = 51,
    after: list | None = None,
) -> list[dict]:
    """The complaints an officer of ``bureau`` decides (None: every district), oldest first;
    ``after``: the last page's ``[received_at, reference]``. Contact details come from the
    complaints' events (one query for the page), never from the read model."""
    t = credit_complaints
    query = select(t).order_by(t.c.received_at, t.c.reference).limit(limit)
    district = officer_district(bureau)
    if district is not None:
        query = query.where(t.c.district == district)
    status = (filters or {}).get("status")
    if status:
        query = query.where(t.c.status == status)
    if after is not None:
        try:
            at, ref = datetime.fromisoformat(str(after[0])), str(after[1])
        except (ValueError, IndexError):
            raise errors.Invalid(
                "invalid cursor", {"cursor": ["not a cursor of this list"]}
            ) from None
        at = to_db(at)
        query = query.where(
            or_(t.c.received_at > at, and_(t.c.received_at == at, t.c.reference > ref))
        )
    rows = list(repo.conn.execute(query))
    with_contact = [r.reference for r in rows if r.has_contact]
    loaded = repo.load_many(Complaint, with_contact) if with_contact else {}
    items = []
    for r in rows:
        c = loaded.get(r.reference)
        items.append(
            {
                "id": r.reference,
                "reference": r.reference,
                "equipment_code": r.equipment_code,
                "district": r.district,
                "what": r.what,
                "occurred_at": _iso(r.occurred_at),
                "received_at": _iso(r.received_at),
                "contact": c.contact if c is not None else None,
                "status": r.status,
                "reason": r.reason,
                "decided_on": r.decided_on.isoformat() if r.decided_on else None,
                "unit_uscc": r.unit_uscc,
                "version": r.version,
            }
        )
    return items


def cursor_of(item: dict) -> list[str]:
    """The position of a queue item, for the next page's ``after``."""
    return [item["received_at"], item["reference"]]
