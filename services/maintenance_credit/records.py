"""Facts recorded over the API: a unit's maintenance records (a batch of up to 5,000) and
the quality events officers record.

- A maintenance record is applied once per ``record_id`` of its unit: its event id derives
  from the two, so a record sent again is counted as a duplicate and stores nothing. Each
  record is checked on its own: a bad one, or one for an elevator the unit did not maintain
  on ``performed_on``, is rejected with its index and errors; the rest are kept.
- A quality event is applied once per ``event_id``: the same event sent again is a duplicate
  (200); the same ``event_id`` with other content is refused (409).
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from typing import Any

from sqlalchemy import select

from infra import domain, errors
from infra.eventstore import ConcurrencyError, NewEvent
from infra.eventstore.schema import events
from infra.repository import Repository
from infra.schemas import load
from services.maintenance_credit import schemas, standings
from services.maintenance_credit.complaint import officer_district
from services.maintenance_credit.domain import CITY_BUREAU, Elevator, RecordMaintenance
from services.maintenance_credit.projections import (
    QUALITY_EVENT,
    QUALITY_PREFIX,
    READ_MODELS,
    credit_elevators,
    credit_units,
)

ID_CHUNK = 500  # event ids asked about per query


def record_id_event(uscc: str, record_id: str) -> str:
    return domain.derived_id("maintenance-record", uscc, record_id)


def record_maintenance(repo: Repository, now: datetime, uscc: str, body: Any) -> dict:
    """``{"accepted", "duplicates", "rejected": [{"index", "record_id", "errors"}]}``."""
    raw = load(schemas.MaintenanceBatchIn, body, "maintenance records")["records"]
    rejected: list[dict] = []
    loaded: list[tuple[int, dict]] = []
    record = schemas.MaintenanceRecordIn()  # one instance for the batch: building one costs more
    for index, item in enumerate(raw):
        try:
            loaded.append((index, load(record, item, "record")))
        except errors.Invalid as exc:
            record_id = item.get("record_id") if isinstance(item, dict) else None
            rejected.append({"index": index, "record_id": record_id, "errors": exc.errors})
    ids = {rec["record_id"]: record_id_event(uscc, rec["record_id"]) for _, rec in loaded}
    stored = _stored_ids(repo, list(ids.values()))
    duplicates, seen = 0, set()
    fresh: list[tuple[int, dict]] = []
    for index, rec in loaded:
        event_id = ids[rec["record_id"]]
        if event_id in stored or event_id in seen:
            duplicates += 1
            continue
        seen.add(event_id)
        fresh.append((index, rec))
    by_code: dict[str, list[tuple[int, dict]]] = defaultdict(list)
    for index, rec in fresh:
        by_code[rec["equipment_code"]].append((index, rec))
    elevators = repo.load_many(Elevator, list(by_code))
    changes, event_ids, indexes = [], [], []
    for code, recs in by_code.items():
        elevator, decided, decided_ids, kept = elevators[code], [], [], []
        for index, rec in recs:
            command = RecordMaintenance(actor=repo.actor, unit_uscc=uscc, **_fields(rec))
            try:
                decided += elevator.decide(command, now)
            except domain.Invalid as exc:
                errs = {f"{exc.field}": [exc.message]}
                rejected.append({"index": index, "record_id": rec["record_id"], "errors": errs})
                continue
            decided_ids.append(ids[rec["record_id"]])
            kept.append(index)
        if decided:
            changes.append((code, elevator, decided))
            event_ids.append(decided_ids)
            indexes.append(kept)
    accepted = 0
    written = repo.save_many(changes, event_ids=event_ids) if changes else []
    for (code, _, _), got, kept in zip(changes, written, indexes, strict=True):
        if isinstance(got, ConcurrencyError):
            for index in kept:  # another writer moved this elevator on: send these again
                rejected.append(
                    {
                        "index": index,
                        "record_id": raw[index].get("record_id"),
                        "errors": {"equipment_code": [f"{code} changed concurrently; send again"]},
                    }
                )
            continue
        accepted += len(kept)
    rejected.sort(key=lambda r: r["index"])
    return {"accepted": accepted, "duplicates": duplicates, "rejected": rejected}


def _fields(rec: dict) -> dict:
    return {
        "record_id": rec["record_id"],
        "performed_on": rec["performed_on"],
        "record_type": rec["type"],
    }


def _stored_ids(repo: Repository, ids: list[str]) -> set[str]:
    found: set[str] = set()
    for i in range(0, len(ids), ID_CHUNK):
        chunk = ids[i : i + ID_CHUNK]
        found.update(
            repo.conn.execute(
                select(events.c.event_id).where(events.c.event_id.in_(chunk))
            ).scalars()
        )
    return found


# --- quality events -------------------------------------------------------------------------


def _require_jurisdiction(repo: Repository, bureau: str, uscc: str, code: str | None) -> None:
    """A district's officer records facts on the units of its district and on the elevators
    in it (DOMAIN.md: the elevator's or the unit's district), and on the units its bureau
    licensed (the FTZ branch's). A unit licensing has not reported yet is accepted: its
    licence event may still be on its way."""
    unit = repo.conn.execute(
        select(credit_units.c.bureau, credit_units.c.district).where(credit_units.c.uscc == uscc)
    ).first()
    if unit is None or bureau == unit.bureau:
        return
    district = officer_district(bureau)
    if unit.district == district:
        return
    if code is not None:
        where = repo.conn.execute(
            select(credit_elevators.c.district).where(credit_elevators.c.equipment_code == code)
        ).scalar()
        if where == district:
            return
    raise errors.Forbidden(f"unit {uscc} is not in bureau {bureau}'s area")


# What makes two sends of one event the same: everything but who sent it and when.
_CONTENT = ("event_id", "unit_uscc", "equipment_code", "type", "occurred_at", "details")


def record_quality_event(
    repo: Repository, now: datetime, body: Any, bureau: str | None = None
) -> dict[str, Any]:
    """Record an officer's quality event; ``bureau``: the officer's (None: the city)."""
    data = load(schemas.QualityEventIn, body, "quality event")
    if bureau not in (None, CITY_BUREAU):
        _require_jurisdiction(repo, bureau, data["unit_uscc"], data.get("equipment_code"))
    content = {
        **data,
        "occurred_at": data["occurred_at"].isoformat(),
        "recorded_by": repo.actor,
    }
    stream = QUALITY_PREFIX + data["event_id"]
    earlier = repo.uow.read_stream(stream)
    view = {k: content[k] for k in _CONTENT} | {"status": 201}
    if earlier:
        if {k: earlier[0].data.get(k) for k in _CONTENT} != {k: content[k] for k in _CONTENT}:
            raise errors.Conflict(f"event {data['event_id']} was recorded with other content")
        return view | {"status": 200}
    event_id = domain.derived_id("quality-event", data["event_id"])
    stored = repo.uow.append(
        stream,
        0,
        [NewEvent(QUALITY_EVENT, content, event_id=event_id, occurred_at=data["occurred_at"])],
        repo.meta,
    )
    for ev in stored:
        READ_MODELS.project_fact(repo.conn, ev)
    standings.refresh(repo, now, [data["unit_uscc"]])
    return view
